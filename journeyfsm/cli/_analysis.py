"""The analysis half of the command line: funnels after ``journeyfsm replay`` and from a store.

``journeyfsm replay ... [--by FIELD] [--compare REF] [--output FILE] [--report FILE]``
counts the replayed journeys' funnel (and a breakdown, a what-if comparison) and writes
them out; ``journeyfsm funnel --db URL --definition REF`` does the same for the journeys
a store holds.

Exit codes: 0 done, 1 no journey found, 2 bad usage (unknown field, unreadable store,
unwritable file).
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
from typing import Any, TextIO

import attrs

from .._definition import JourneyDefinition
from .._errors import JourneyError
from .._runtime import JourneyMachine
from ..analytics import (
    Breakdown,
    Comparison,
    Funnel,
    LogMapping,
    ReplayResult,
    breakdown,
    compare,
    funnel,
    render_breakdown,
    render_comparison,
    render_funnel,
    replay,
    write,
)
from ._fail import fail
from ._load import load_mapping

__all__ = ["Analysis", "AnalysisUsageError", "add_funnel_command", "analyse"]

OK, EMPTY, USAGE = 0, 1, 2

FUNNEL_EXAMPLES = """\
examples:
  journeyfsm funnel --db journeys.db --definition eight-phases
  journeyfsm funnel --db journeys.db --definition myshop.journeys:machine --by data.plan
  journeyfsm funnel --db postgresql://shop@db/shop --definition shop.json \\
      --output funnel.csv --report funnel.html --json

exit codes: 0 counted, 1 the store holds no journey of the definition, 2 bad usage.
"""


class AnalysisUsageError(Exception):
    """A mistake in the analysis options; printed without a traceback, exit 2."""


class AnalysisStopped(Exception):
    """The replayed journeys could not be stored (a key already there, ...); exit 1."""


@attrs.define
class Analysis:
    """What the command counted, and the files it wrote."""

    funnel: Funnel
    breakdown: Breakdown | None = None
    comparison: Comparison | None = None
    written: list[str] = attrs.field(factory=list)
    files: dict[str, str] = attrs.field(factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The figures as JSON-shaped data (the ``--json`` output)."""
        return {
            "funnel": self.funnel.to_dict(),
            "breakdown": None if self.breakdown is None else self.breakdown.to_dict(),
            "comparison": None if self.comparison is None else self.comparison.to_dict(),
            "files": dict(self.files),
        }

    def render(self) -> str:
        """The figures as text tables."""
        parts = [render_funnel(self.funnel)]
        if self.breakdown is not None:
            parts.append(render_breakdown(self.breakdown))
        if self.comparison is not None:
            parts.append(render_comparison(self.comparison))
        return "\n\n".join(parts)


def _definition(target: JourneyMachine | JourneyDefinition) -> JourneyDefinition:
    return target.definition if isinstance(target, JourneyMachine) else target


def _add_outputs(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--by",
        metavar="FIELD",
        help="also break the funnel down by data.FIELD, meta.FIELD, log.COLUMN (a --segment "
        "column of a replay), cohort.week or cohort.month",
    )
    parser.add_argument(
        "--output",
        metavar="FILE",
        help="write the funnel (the breakdown with --by, the comparison with --compare) "
        "to FILE: .csv or .json",
    )
    parser.add_argument(
        "--report",
        metavar="FILE",
        help="write a self-contained HTML report (diagram, funnel, tables, run summary)",
    )


def add_analysis_options(parser: argparse.ArgumentParser) -> None:
    """The options ``journeyfsm replay`` adds for funnels, what-if and files."""
    _add_outputs(parser)
    parser.add_argument(
        "--compare",
        metavar="REF",
        help="what-if: replay the same log through a second definition (REF as for "
        "--definition) and compare the funnels",
    )
    parser.add_argument(
        "--compare-map", metavar="FILE", help="the mapping for --compare (default: the same)"
    )
    parser.add_argument(
        "--db",
        metavar="URL",
        help="store the final journeys (history, event ids, timeout clock; no effects run) in "
        "a SQLite file or PostgreSQL DSN; its tables are created if missing",
    )
    parser.add_argument(
        "--replace",
        action="store_true",
        help="with --db: replace journeys the store already holds (default: stop, store nothing "
        "of that batch)",
    )


def _counted(
    definition: JourneyDefinition, journeys: list[Any], by: str | None, segments: Any
) -> tuple[Funnel, Breakdown | None]:
    try:
        f = funnel(journeys, definition)
        b = None
        if by is not None:
            b = breakdown(journeys, definition, by=by, segments=segments)
    except (ValueError, TypeError) as err:
        raise AnalysisUsageError(str(err)) from None
    return f, b


def _write(analysis: Analysis, args: argparse.Namespace, definition: JourneyDefinition) -> None:
    from ..export import write_report

    summary_a = None if analysis.comparison is None else analysis.comparison.summary_a
    if args.output:
        result: Funnel | Breakdown | Comparison = analysis.funnel
        if analysis.comparison is not None:
            result = analysis.comparison
        elif analysis.breakdown is not None:
            result = analysis.breakdown
        try:
            path = write(result, args.output)
        except ValueError as err:
            raise AnalysisUsageError(f"--output {args.output}: {err}") from None
        analysis.files["output"] = str(path)
        analysis.written.append(f"wrote {path}")
    if args.report:
        report = write_report(
            args.report,
            definition,
            funnel=analysis.funnel,
            summary=getattr(args, "_summary", None) or summary_a,
            breakdown=analysis.breakdown,
            comparison=analysis.comparison,
        )
        analysis.files["report"] = str(report)
        analysis.written.append(f"report: {report}")


def analyse(
    args: argparse.Namespace,
    target: JourneyMachine | JourneyDefinition,
    mapping: LogMapping,
    end: Any,
    result: ReplayResult,
    load_target: Any,
) -> Analysis:
    """Count what ``journeyfsm replay`` replayed; compare and write files as asked."""
    definition = _definition(target)
    journeys = list(result.journeys.values())
    f, b = _counted(definition, journeys, args.by, result.segments)
    analysis = Analysis(f, b)
    if args.compare:
        other = load_target(args.compare)
        mapping_b = mapping
        if args.compare_map:
            mapping_b = load_mapping(args.compare_map)
        collecting = gc.isenabled()
        gc.disable()  # the command is the host here, as for the first replay
        try:
            result_b = replay(
                other,
                args.log,
                mapping_b,
                end=end,
                strict=args.strict,
                partitions=getattr(args, "partitions", None),
            )
        finally:
            if collecting:
                gc.enable()
        f_b, _ = _counted(_definition(other), list(result_b.journeys.values()), None, None)
        analysis.comparison = compare(f, f_b, summary_a=result.summary, summary_b=result_b.summary)
        for warning in result_b.summary.warnings:
            analysis.written.append(f"warning (--compare): {warning}")
    args._summary = result.summary
    if args.db:
        _store(args, target, result, analysis)
    _write(analysis, args, definition)
    return analysis


def _store(
    args: argparse.Namespace,
    target: JourneyMachine | JourneyDefinition,
    result: ReplayResult,
    analysis: Analysis,
) -> None:
    """``--db``: the replayed journeys into a store, as finished journeys (no effects)."""
    from ..service._sync import JourneyService
    from ._store import CliUsageError, open_store, redact

    machine = target if isinstance(target, JourneyMachine) else JourneyMachine(target)
    try:
        store = open_store(args.db, create_schema=True)
    except CliUsageError as err:
        raise AnalysisUsageError(str(err)) from None
    try:
        service = JourneyService(machine, store)
        stored = service.import_journeys(result.journeys.values(), replace=args.replace)
    except JourneyError as err:
        hint = "" if args.replace else " (--replace overwrites journeys already stored)"
        raise AnalysisStopped(f"storing in {redact(args.db)}: {redact(str(err))}{hint}") from None
    finally:
        store.close()
    analysis.files["db"] = redact(args.db)
    analysis.written.append(f"stored {stored:,} journeys in {redact(args.db)}")


# -- journeyfsm funnel: the journeys of a store -------------------------------------------
def add_funnel_command(sub: Any, load_target: Any) -> None:
    """Add ``funnel`` (from a store) to the command's subparsers."""
    p = sub.add_parser(
        "funnel",
        help="count the funnel of the journeys a store holds",
        description="Count the funnel of every journey of one definition in a store: "
        "entered, reached, in it now, conversion, drop-off, time to and in each stage.",
        epilog=FUNNEL_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--db", required=True, metavar="URL", help="a SQLite file or PostgreSQL DSN")
    p.add_argument(
        "--definition",
        required=True,
        metavar="REF",
        help="a template name, a .json definition, or MODULE:ATTR of a machine or definition",
    )
    _add_outputs(p)
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    p.set_defaults(run=lambda args, out: _cmd_funnel(args, out, load_target))


def _cmd_funnel(args: argparse.Namespace, out: TextIO, load_target: Any) -> int:
    from ..service._sync import JourneyService
    from ._store import CliUsageError, open_store, redact

    target = load_target(args.definition)
    machine = target if isinstance(target, JourneyMachine) else JourneyMachine(target)
    definition = machine.definition
    store = open_store(args.db)
    try:
        service = JourneyService(machine, store)
        journeys = list(service.journeys(definition.name))
    except JourneyError as err:
        raise CliUsageError(redact(str(err))) from None
    finally:
        close = getattr(store, "close", None)
        if close is not None:
            close()
    if not journeys:
        message = f"no journey of {definition.name!r} in {redact(args.db)}"
        if args.json:
            return fail("funnel", EMPTY, message, as_json=True, out=out, err=sys.stderr)
        print(message, file=out)
        return EMPTY
    try:
        f, b = _counted(definition, journeys, args.by, None)
        analysis = Analysis(f, b)
        args._summary = None
        _write(analysis, args, definition)
    except AnalysisUsageError as err:
        raise CliUsageError(str(err)) from None
    except OSError as err:
        raise CliUsageError(f"cannot write: {err}") from None
    if args.json:
        print(json.dumps(analysis.to_dict(), indent=2), file=out)
    else:
        print(analysis.render(), file=out)
        for line in analysis.written:
            print(line, file=out)
    return OK
