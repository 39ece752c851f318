"""The ``journeyfsm`` command: demo, validate, show, templates, diagram, db, worker, serve,
outbox.

Exit codes scripts can trust, one rule for every command (``_fail.py``): 0 success, 1 a
file was read and what it holds is wrong (not JSON, a definition with problems, a
malformed mapping or funnel file), no such journey, a run that stopped; 2 the command line
is wrong (unknown command, option or template, bad option value, a missing or unreadable
file, a name that is not there, an unreachable store).  ``--json`` prints one JSON object
(or list) on stdout instead of text; a failure prints
``{"ok": false, "command", "exit", "error"}`` there, and its message on stderr as text.

    $ journeyfsm templates --json
    $ journeyfsm show eight-phases
    $ journeyfsm validate my_journey.json --json
    $ journeyfsm diagram eight-phases --format svg --output journey.svg
    $ journeyfsm demo --seed 3 --customers 60
    $ journeyfsm db init --db journeys.db
    $ journeyfsm worker --db journeys.db --machine myshop.journeys:machine
    $ journeyfsm show customer-42 --db journeys.db --definition shop
    $ journeyfsm serve --db journeys.db --mask email
    $ journeyfsm outbox list --db journeys.db --status dead
    $ journeyfsm db prune-deliveries --db journeys.db --caps myshop.journeys:caps
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TextIO

from .. import templates
from .._definition import JourneyDefinition
from .._errors import DefinitionError
from ._analysis import add_funnel_command
from ._diagram import EPILOGS, DiagramUsageError, add_diagram_command
from ._fail import InputProblems, definition_problems, fail, json_failure
from ._goals import definition_goal_lines
from ._load import UsageError as _UsageError  # the name main() has always caught
from ._load import load_definition, template
from ._migrate import add_migrate_command
from ._outbox import add_outbox_command, add_prune_command
from ._replay import add_replay_commands, load_target
from ._serve import add_serve_command
from ._show import show_journey
from ._store import CliUsageError, add_store_commands

__all__ = ["main"]

OK, PROBLEMS, USAGE = 0, 1, 2


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``journeyfsm`` command with ``argv`` (default: ``sys.argv[1:]``).

    >>> main(["show", "aida"])  # doctest: +ELLIPSIS
    aida (version 1, policy ignore)
    ...
    0
    """
    parser = _parser()
    words = list(argv) if argv is not None else sys.argv[1:]
    if "--json" in words:
        return _parse_for_json(parser, words)
    try:
        args = parser.parse_args(words)
    except SystemExit as exit_:
        return exit_.code if isinstance(exit_.code, int) else USAGE
    return _run(parser, args)


def _parse_for_json(parser: argparse.ArgumentParser, words: list[str]) -> int:
    """Parse for a ``--json`` run: a usage mistake is a JSON error on stdout as well."""
    usage = io.StringIO()
    try:
        with contextlib.redirect_stderr(usage):
            args = parser.parse_args(words)
    except SystemExit as exit_:
        text = usage.getvalue()
        sys.stderr.write(text)
        code = exit_.code if isinstance(exit_.code, int) else USAGE
        if code != OK:
            lines = [line for line in text.splitlines() if ": error: " in line]
            message = lines[-1].split(": error: ", 1)[1] if lines else text.strip()
            command = next((w for w in words if not w.startswith("-")), "journeyfsm")
            _print_json(json_failure(command, code, message), sys.stdout)
        return code
    return _run(parser, args)


def _run(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    if args.command is None:
        parser.print_help(sys.stderr)
        return USAGE
    command: Callable[[argparse.Namespace, TextIO], int] = args.run
    as_json = bool(getattr(args, "json", False))
    try:
        return command(args, sys.stdout)
    except (_UsageError, CliUsageError, DiagramUsageError) as err:
        return fail(args.command, USAGE, str(err), as_json=as_json, out=sys.stdout, err=sys.stderr)
    except InputProblems as err:
        return fail(
            args.command, PROBLEMS, str(err), as_json=as_json, out=sys.stdout, err=sys.stderr
        )
    except BrokenPipeError:
        # the reader went away (`journeyfsm demo | head`): stop quietly
        _silence_stdout()
        return 1


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush does not fail again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


_FORMAT = argparse.RawDescriptionHelpFormatter


def _json_flag(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument("--json", action="store_true", help=f"print {what} as JSON")


def _print_json(value: object, out: TextIO) -> None:
    print(json.dumps(value, indent=2, ensure_ascii=False), file=out)


def _parser() -> argparse.ArgumentParser:
    from .. import __version__

    parser = argparse.ArgumentParser(
        prog="journeyfsm",
        description="Customer journeys as explicit finite-state machines.",
        epilog=EPILOGS["journeyfsm"],
        formatter_class=_FORMAT,
    )
    parser.add_argument("--version", action="version", version=f"journeyfsm {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    demo = sub.add_parser(
        "demo",
        help="simulate a small shop (seeded, deterministic)",
        description="Simulate a small shop: customers walk the eight-phases journey at random; "
        "thank-you emails, blocked payments, duplicate webhooks and a summary are printed.",
        epilog=EPILOGS["demo"],
        formatter_class=_FORMAT,
    )
    demo.add_argument("--seed", type=int, default=7, help="random seed (default: 7)")
    demo.add_argument(
        "--customers",
        type=_customers,
        default=40,
        help="number of customers (default: 40; a small shop: at most 100000)",
    )
    demo.add_argument("--quiet", action="store_true", help="print the summary only")
    demo.add_argument(
        "--db", metavar="PATH", help="keep the SQLite store in PATH (default: a temporary file)"
    )
    demo.add_argument(
        "--report",
        metavar="PATH",
        help="write an HTML report of the journeys (diagram, funnel, tables) to PATH",
    )
    _json_flag(demo, "only the final summary")
    demo.set_defaults(run=_cmd_demo)

    validate = sub.add_parser(
        "validate",
        help="check a JSON journey definition and print every problem",
        description="Check a JSON journey definition (the form JourneyDefinition.to_dict() "
        "writes). Guards are referenced by name; here they are checked as names only.",
        epilog=EPILOGS["validate"],
        formatter_class=_FORMAT,
    )
    validate.add_argument("path", metavar="PATH", help="a .json definition file ('-' for stdin)")
    _json_flag(validate, "the result")
    validate.set_defaults(run=_cmd_validate)

    show = sub.add_parser(
        "show",
        help="print a template's (or a JSON definition's) stages and transitions, or with "
        "--db a stored journey's stage and history",
        description="Print the stages, transitions and timeouts of a template (see "
        "'journeyfsm templates') or of a JSON definition file. With --db URL --definition "
        "NAME, print the stored journey KEY: its stage, data and history.",
        epilog=EPILOGS["show"],
        formatter_class=_FORMAT,
    )
    show.add_argument(
        "template",
        metavar="TEMPLATE|KEY",
        help="a template name or a .json file; with --db, a journey key",
    )
    show.add_argument("--db", metavar="URL", help="a store: SQLite path or PostgreSQL DSN")
    show.add_argument("--definition", metavar="NAME", help="with --db: the journey's definition")
    _json_flag(show, "the definition (its to_dict() form)")
    show.set_defaults(run=_cmd_show)
    db_actions = add_store_commands(sub)
    add_migrate_command(db_actions)
    add_prune_command(db_actions)
    for name in ("db", "worker"):  # added by _store; examples and exit codes here
        if name in sub.choices:
            sub.choices[name].epilog = EPILOGS[name]
            sub.choices[name].formatter_class = _FORMAT

    listing = sub.add_parser(
        "templates",
        help="list the ready-made journey templates",
        description="List the ready-made journey templates (use a name with show, diagram).",
        epilog=EPILOGS["templates"],
        formatter_class=_FORMAT,
    )
    _json_flag(listing, "the templates")
    listing.set_defaults(run=_cmd_templates)
    add_diagram_command(sub, _FORMAT)
    add_replay_commands(sub)
    add_funnel_command(sub, load_target)
    add_serve_command(sub)
    add_outbox_command(sub)
    return parser


def _customers(text: str) -> int:
    from ._demo import MAX_CUSTOMERS  # imported on use: the demo pulls in the service

    value = _positive_int(text)
    if value > MAX_CUSTOMERS:
        raise argparse.ArgumentTypeError(
            f"at most {MAX_CUSTOMERS} (the demo is a small shop; replay a log for more), "
            f"got {value}"
        )
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


# -- demo -------------------------------------------------------------------------------
def _cmd_demo(args: argparse.Namespace, out: TextIO) -> int:
    from .._errors import StoreError

    for flag, path in (("--report", args.report), ("--db", args.db)):
        # said before the story is printed, not by a traceback at its end
        if path is not None and not Path(path).resolve().parent.is_dir():
            raise _UsageError(f"{flag} {path}: no such directory {str(Path(path).parent)!r}")
    try:
        return _demo(args, out)
    except StoreError as err:
        raise _UsageError(f"--db {args.db}: {err}") from None
    except OSError as err:
        if isinstance(err, BrokenPipeError):
            raise
        raise _UsageError(f"cannot write: {err}") from None


def _demo(args: argparse.Namespace, out: TextIO) -> int:
    from ._demo import run_demo

    if not args.json:
        run_demo(
            seed=args.seed,
            customers=args.customers,
            quiet=args.quiet,
            out=out,
            db=args.db,
            report=args.report,
        )
        return OK
    r = run_demo(
        seed=args.seed,
        customers=args.customers,
        quiet=True,
        out=io.StringIO(),
        db=args.db,
        report=args.report,
    )
    summary = {
        "seed": r.seed,
        "customers": r.customers,
        "stages": r.stages,
        "fired": r.fired,
        "moved": r.moved,
        "blocked": r.blocked,
        "ignored": r.ignored,
        "duplicates": r.duplicates,
        "emails": len(r.emails),
        "purchases": r.purchases,
        "outbox_pending": r.outbox_pending,
        "outbox_dead": r.outbox_dead,
        "report": r.report,
    }
    _print_json(summary, out)
    return OK


# -- validate ---------------------------------------------------------------------------
def _cmd_validate(args: argparse.Namespace, out: TextIO) -> int:
    try:
        d = load_definition(args.path)
    except DefinitionError as err:
        if args.json:
            return definition_problems("validate", args.path, err, out)
        print(f"{args.path}: {len(err.problems)} problem(s)", file=out)
        for p in err.problems:
            print(f"  - {p.message}", file=out)
        return PROBLEMS
    guards = sorted(d.guards())
    if args.json:
        result = {
            "ok": True,
            "path": args.path,
            "definition": d.name,
            "version": d.version,
            "stages": len(d.stages),
            "transitions": len(d.transitions),
            "timeouts": len(d.timeouts),
            "guards": guards,
        }
        _print_json(result, out)
        return OK
    print(
        f"OK: {args.path}: definition {d.name!r} version {d.version!r}: "
        f"{len(d.stages)} stages, {len(d.transitions)} transitions, {len(d.timeouts)} timeouts",
        file=out,
    )
    if guards:
        print(f"  guards (checked by name only): {', '.join(guards)}", file=out)
    return OK


# -- show / templates -------------------------------------------------------------------
def _cmd_show(args: argparse.Namespace, out: TextIO) -> int:
    if args.db is not None:
        return show_journey(args, out)
    if args.definition is not None:
        raise _UsageError("--definition goes with --db (show a stored journey)")
    name: str = args.template
    if name.endswith(".json") or name == "-" or Path(name).is_file():
        try:
            d = load_definition(name)
        except DefinitionError as err:
            if args.json:
                return definition_problems("show", name, err, out)
            print(f"{name}: {len(err.problems)} problem(s); run 'journeyfsm validate'", file=out)
            for p in err.problems:
                print(f"  - {p.message}", file=out)
            return PROBLEMS
    else:
        d = template(name)
    if args.json:
        _print_json(d.to_dict(), out)
        return OK
    print(describe(d), file=out)
    return OK


def describe(d: JourneyDefinition) -> str:
    """A plain-text description of a definition: stages, funnel order, transitions by
    source, timeouts, goals."""
    lines = [f"{d.name} (version {d.version}, policy {d.policy})"]
    if d.description:
        lines.append(f"  {d.description}")
    lines += ["", "stages:"]
    width = max(len(s.name) for s in d.stages)
    for s in d.stages:
        mark = "initial" if s.initial else "final" if s.final else ""
        text = f"  {s.name:<{width}}  {mark:<7}  {s.description}".rstrip()
        lines.append(text)
    how = "" if d.funnel_declared else " (not declared: every stage in declaration order)"
    lines += ["", f"funnel order{how}:", f"  {' -> '.join(d.funnel)}"]
    lines += ["", "transitions (in the order they are tried):"]
    tw = max((len(t) for t in d.triggers), default=0)
    for stage, row in d.table.items():
        for trigger, cands in row.items():
            for t in cands:
                dest = "(internal: recorded, stage unchanged)" if t.dest is None else t.dest
                guards = f"  if {' & '.join(g.name for g in t.guards)}" if t.guards else ""
                lines.append(f"  {stage:<{width}}  {trigger:<{tw}}  -> {dest}{guards}")
    if d.timeouts:
        lines += ["", "timeouts:"]
        for to in d.timeouts:
            lines.append(f"  {to.stage:<{width}}  after {to.after}  fires {to.trigger}")
    lines += definition_goal_lines(d)
    return "\n".join(lines)


def _cmd_templates(args: argparse.Namespace, out: TextIO) -> int:
    factories = templates.TEMPLATES
    if args.json:
        listing = []
        for name, factory in factories.items():
            d = factory()
            listing.append(
                {
                    "name": name,
                    "stages": list(d.stage_names),
                    "triggers": list(d.triggers),
                    "description": d.description,
                }
            )
        _print_json(listing, out)
        return OK
    width = max(len(n) for n in factories)
    for name, factory in factories.items():
        d = factory()
        summary = d.description.split(". ")[0].rstrip(".")
        print(f"{name:<{width}}  {len(d.stages):>2} stages  {summary}", file=out)
    return OK
