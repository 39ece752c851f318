"""``journeyfsm diagram``: draw a definition as Mermaid, Graphviz DOT or SVG; and the
examples every command's ``--help`` ends with (:data:`EPILOGS`).

``REF`` names the definition: a template (``journeyfsm templates``), a ``.json`` file
(the form ``JourneyDefinition.to_dict()`` writes), or ``module:attribute`` naming a
``JourneyDefinition``, a ``JourneyMachine`` or a function returning either (the host's
own code, imported as ``uvicorn module:app`` does).  ``--funnel FUNNEL.json`` (a
funnel's ``to_dict()``, as ``--json`` output of the analytics commands writes it)
annotates the diagram with counts.

    $ journeyfsm diagram eight-phases
    $ journeyfsm diagram shop.json --format dot --output shop.dot
    $ journeyfsm diagram myshop.journeys:machine --format svg --funnel funnel.json -o shop.svg
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, TextIO

from .._definition import JourneyDefinition
from ..analytics import Funnel
from ._fail import InputProblems, definition_problems
from ._load import import_target, load_definition, template

__all__ = [
    "DIAGRAM_EPILOG",
    "EPILOGS",
    "EXIT_CODES",
    "add_diagram_command",
    "resolve_reference",
]

OK, PROBLEMS, USAGE = 0, 1, 2

DIAGRAM_EPILOG = """\
examples:
  journeyfsm diagram eight-phases                      Mermaid text on stdout
  journeyfsm diagram shop.json --format dot -o shop.dot
  journeyfsm diagram myshop.journeys:machine --format svg -o shop.svg
  journeyfsm diagram shop.json --funnel funnel.json    annotated with counts
  journeyfsm diagram aida --json                       {"format": ..., "diagram": ...}

exit codes: 0 drawn, 1 the definition or funnel file has problems, 2 bad usage (unknown
template, missing or unreadable file, import error)"""


# the examples and exit codes every command's --help ends with (the parsers are in _main.py
# and _store.py; the texts are kept together so they read alike)
EXIT_CODES = (
    "exit codes: 0 ok, 1 a file read holds problems (or no such journey), 2 bad usage (also\n"
    "for a missing or unreadable file)"
)
EPILOGS = {
    "journeyfsm": """\
examples:
  journeyfsm templates                       the ready-made journeys
  journeyfsm show eight-phases               stages, transitions, timeouts
  journeyfsm validate shop.json --json       every problem of a JSON definition
  journeyfsm diagram shop.json -f svg -o shop.svg
  journeyfsm demo --seed 3 --customers 60    a small shop, simulated
  journeyfsm replay events.csv --definition five-stages --map map.json --report r.html
  journeyfsm funnel --db journeys.db --definition eight-phases --by data.plan
  journeyfsm outbox list --db journeys.db --status dead

Every command takes --help; validate, show, templates, demo, diagram, replay and
funnel take --json
(JSON on stdout instead of text; a failure prints {"ok": false, "error": ...} there).
"""
    + EXIT_CODES,
    "demo": """\
examples:
  journeyfsm demo                            the story and a summary
  journeyfsm demo --quiet --seed 3           the summary only
  journeyfsm demo --json                     only the summary, as one JSON object
  journeyfsm demo --db shop.db               keep the SQLite store afterwards
  journeyfsm demo --report demo.html         also write an HTML report and print its path

"""
    + EXIT_CODES,
    "validate": """\
examples:
  journeyfsm validate shop.json
  journeyfsm validate - < shop.json          read stdin
  journeyfsm validate shop.json --json       {"ok": false, "problems": [...]}

exit codes: 0 valid, 1 problems found (all listed; also for a file that is not JSON),
2 bad usage (no such file)""",
    "show": """\
examples:
  journeyfsm show eight-phases               a template
  journeyfsm show shop.json --json           a definition file, as its JSON form
  journeyfsm show customer-42 --db journeys.db --definition shop

exit codes: 0 ok, 1 problems found (bad definition, no such journey), 2 bad usage""",
    "templates": """\
examples:
  journeyfsm templates
  journeyfsm templates --json                [{"name": ..., "stages": [...], ...}]

"""
    + EXIT_CODES,
    "db": """\
examples:
  journeyfsm db init --db journeys.db
  journeyfsm db init --db postgresql://shop@db.internal/shop
  journeyfsm db migrate --db journeys.db --machine myshop.journeys:machine \
      --migration myshop.journeys:migrations --from 1 --dry-run
  journeyfsm db prune-deliveries --db journeys.db --caps myshop.journeys:caps

"""
    + EXIT_CODES,
    "worker": """\
examples:
  journeyfsm worker --db journeys.db --machine myshop.journeys:machine
  journeyfsm worker --db journeys.db --machine myshop.journeys:machine --once

"""
    + EXIT_CODES,
}


class DiagramUsageError(Exception):
    """A mistake in how ``diagram`` was called (exit 2, printed without a traceback)."""


def add_diagram_command(sub: Any, formatter: type[argparse.HelpFormatter]) -> None:
    """Add ``diagram`` to the ``journeyfsm`` subcommands ``sub``."""
    p = sub.add_parser(
        "diagram",
        help="draw a definition as Mermaid, Graphviz DOT or SVG, optionally with counts",
        description="Draw a definition: a template name, a .json definition file, or "
        "module:attribute naming a JourneyDefinition or JourneyMachine. Stages are drawn in "
        "the definition's funnel order, with initial/final marks, guards on edges, internal "
        "transitions as self-loops and timeouts as dashed edges.",
        epilog=DIAGRAM_EPILOG,
        formatter_class=formatter,
    )
    p.add_argument("ref", metavar="REF", help="template name, .json file, or module:attribute")
    p.add_argument(
        "--format",
        "-f",
        choices=("mermaid", "dot", "svg"),
        default="mermaid",
        help="output format (default: mermaid)",
    )
    p.add_argument("--output", "-o", metavar="FILE", help="write to FILE instead of stdout")
    p.add_argument(
        "--funnel", metavar="FUNNEL.json", help="annotate with a funnel's counts (its to_dict())"
    )
    p.add_argument(
        "--json", action="store_true", help="print a JSON object (with the diagram text)"
    )
    p.set_defaults(run=_cmd_diagram)


def resolve_reference(ref: str) -> JourneyDefinition:
    """The definition ``ref`` names (template, ``.json`` file, ``module:attribute``).

    ``DefinitionError`` when a file's definition has problems; ``DiagramUsageError`` when
    ``ref`` names nothing usable.
    """
    if ref.endswith(".json") or ref == "-" or Path(ref).is_file():
        return load_definition(ref)
    if ":" in ref:
        return _import_definition(ref)
    return template(ref)


def _import_definition(ref: str) -> JourneyDefinition:
    from .._runtime import JourneyMachine

    value = import_target(ref, "diagram", (JourneyDefinition, JourneyMachine), DiagramUsageError)
    return value.definition if isinstance(value, JourneyMachine) else value


def _read_funnel(path: str) -> Funnel:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DiagramUsageError(f"no such funnel file: {path}") from None
    except (OSError, UnicodeDecodeError) as err:
        raise DiagramUsageError(f"cannot read {path}: {err}") from None
    try:
        return Funnel.from_dict(json.loads(text))
    except json.JSONDecodeError as err:
        raise InputProblems(
            f"{path}: not valid JSON: {err.msg} at line {err.lineno}, column {err.colno}"
        ) from None
    except (ValueError, TypeError, KeyError, AttributeError) as err:
        raise InputProblems(f"{path}: not a funnel: {err}") from None


def _cmd_diagram(args: argparse.Namespace, out: TextIO) -> int:
    from .. import export
    from .._errors import DefinitionError

    try:
        d = resolve_reference(args.ref)
    except DefinitionError as err:
        if args.json:
            return definition_problems("diagram", args.ref, err, out)
        print(f"{args.ref}: {len(err.problems)} problem(s); run 'journeyfsm validate'", file=out)
        for p in err.problems:
            print(f"  - {p.message}", file=out)
        return PROBLEMS
    funnel = _read_funnel(args.funnel) if args.funnel else None
    render = {"mermaid": export.to_mermaid, "dot": export.to_dot, "svg": export.to_svg}
    try:
        text = render[args.format](d, funnel=funnel)
    except ValueError as err:  # a funnel of another definition: what the file holds
        raise InputProblems(f"--funnel {args.funnel}: {err}") from None
    if args.output:
        try:
            Path(args.output).write_text(text, encoding="utf-8")
        except OSError as err:
            raise DiagramUsageError(f"cannot write {args.output}: {err}") from None
    if args.json:
        report = {
            "definition": d.name,
            "version": d.version,
            "format": args.format,
            "annotated": funnel is not None,
            "output": args.output,
            "diagram": None if args.output else text,
        }
        print(json.dumps(report, indent=2, ensure_ascii=False), file=out)
    elif args.output:
        print(f"wrote the {args.format} diagram of {d.name!r} to {args.output}", file=sys.stderr)
    else:
        out.write(text)
    return OK
