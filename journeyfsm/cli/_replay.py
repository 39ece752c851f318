"""``journeyfsm replay``: run an event log through a journey and print what happened.

Exit codes (the rule of ``_fail.py``): 0 the replay ran (warnings may have been printed);
1 it stopped (a bad row with ``--strict``, a guard failing on a timeout, a hook error) or a
file it read holds problems (a definition or mapping that is not JSON or is malformed);
2 bad usage (a missing or unreadable log, mapping or definition, an unknown column or
trigger, a bad option).

    $ journeyfsm replay events.csv --definition eight-phases --key customer --event event \\
          --time ts --trigger page_view=research --trigger order_paid=order_paid
    $ journeyfsm replay events.jsonl --definition myshop.journeys:machine --map mapping.json \\
          --end 2026-06-30T00:00:00Z --json
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from .._definition import JourneyDefinition
from .._errors import DefinitionError, JourneyError
from .._logging import STDLIB_NAME
from .._runtime import JourneyMachine
from ..analytics import (
    BadRowError,
    LogMapping,
    MappingError,
    ReplayError,
    ReplayResult,
    ReplaySummary,
    replay,
)
from ..analytics._colstream import MAX_PARTITIONS
from ..analytics._mapping import parse_time
from ._analysis import AnalysisStopped, AnalysisUsageError, add_analysis_options, analyse
from ._fail import InputProblems, fail
from ._load import UsageError, import_target, load_definition, load_mapping

__all__ = ["add_replay_commands", "run_replay"]

OK, STOPPED, USAGE = 0, 1, 2

EXAMPLES = """\
examples:
  journeyfsm replay events.csv --definition eight-phases \\
      --key customer --event event --time ts \\
      --trigger page_view=research --trigger add_to_cart=shortlist
  journeyfsm replay events.jsonl --definition myshop.journeys:machine --map mapping.json
  journeyfsm replay events.csv --definition shop.json --map mapping.json \\
      --timezone Europe/Berlin --end 2026-06-30T00:00:00 --json > summary.json
  journeyfsm replay big.parquet --definition shop.json --map mapping.json --partitions 16

mapping.json holds the same as the flags:
  {"key": "customer", "event": "event", "time": "ts", "event_id": "id",
   "payload": ["total"], "meta": ["channel"], "segments": ["channel"],
   "triggers": {"page_view": "research", "order_paid": "order_paid"},
   "timezone": "UTC"}
Without triggers, an event whose name is a trigger of the definition is that trigger.
exit codes: 0 replayed, 1 stopped (--strict bad row, failing guard or hook, --db refused), 2 bad usage.
"""


_UsageError = UsageError  # how the command was called is wrong: exit 2


def add_replay_commands(sub: Any) -> None:
    """Add ``replay`` to the ``journeyfsm`` command's subparsers."""
    p = sub.add_parser(
        "replay",
        help="replay an event log (CSV, JSON Lines, Parquet) through a journey; print counts",
        description="Replay an event log through a journey definition: events apply per "
        "journey in time order (ties in file order), stage timeouts fire on the log's clock, "
        "and the run summary says what moved, was blocked, ignored, duplicate or skipped.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("log", metavar="LOG", help="the event log: .csv, .jsonl or .parquet")
    p.add_argument(
        "--definition",
        required=True,
        metavar="REF",
        help="a template name, a .json definition (no guards), or MODULE:ATTR naming a "
        "JourneyMachine or JourneyDefinition (or a function returning one)",
    )
    p.add_argument("--map", metavar="FILE", help="a JSON log mapping (flags add to it)")
    p.add_argument("--key", metavar="COL", help="the journey key column")
    p.add_argument("--event", metavar="COL", help="the event name column")
    p.add_argument(
        "--time", metavar="COL", help="the timestamp column (ISO-8601; numbers: --time-format)"
    )
    p.add_argument("--event-id", metavar="COL", help="an event id column (repeats: duplicate)")
    for flag, what in (
        ("--payload", "a column passed to guards in the payload dict"),
        ("--meta", "a column stored on history entries"),
        ("--segment", "a column kept per journey (first non-empty value)"),
    ):
        p.add_argument(flag, action="append", default=[], metavar="COL", help=f"{what}; repeat")
    p.add_argument(
        "--trigger",
        action="append",
        default=[],
        metavar="EVENT=TRIGGER",
        help="map an event name to a trigger; repeat (several names may share a trigger)",
    )
    p.add_argument(
        "--time-format",
        choices=["iso", "epoch", "epoch_s", "epoch_ms"],
        help="how times are written: iso (default), epoch / epoch_s (unix seconds), epoch_ms",
    )
    p.add_argument("--timezone", metavar="ZONE", help="how naive timestamps are read (UTC)")
    p.add_argument("--end", metavar="ISO", help="end of observation: fire timeouts up to it")
    p.add_argument("--strict", action="store_true", help="stop at the first bad row (exit 1)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument("--no-fast", action="store_true", help="always go through the engine")
    p.add_argument(
        "--engine",
        choices=["columnar", "fast", "engine"],
        help="the replay engine (default: the fastest the definition allows)",
    )
    p.add_argument(
        "--partitions",
        type=_partitions,
        metavar="N",
        help="columnar engine: replay a big log file in N parts split by journey key (memory "
        "follows one part; 1: in memory; default: from the file's size, one part per 8 MB "
        "from 64 MB)",
    )
    p.add_argument(
        "--verbose", action="store_true", help="say which engine ran, and why not a faster one"
    )
    add_analysis_options(p)
    p.set_defaults(run=_cmd_replay)


def run_replay(argv: Sequence[str], out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Run ``journeyfsm replay ARGV...`` (what the command does; tests call it directly).

    >>> run_replay(["missing.csv", "--definition", "aida", "--key", "k", "--event", "e",
    ...             "--time", "t"], err=sys.stdout)
    journeyfsm replay: error: no such log file: 'missing.csv'
    2
    """
    parser = argparse.ArgumentParser(prog="journeyfsm")
    add_replay_commands(parser.add_subparsers(dest="command"))
    try:
        args = parser.parse_args(["replay", *argv])
    except SystemExit as exit_:
        return exit_.code if isinstance(exit_.code, int) else USAGE
    return _cmd_replay(args, out or sys.stdout, err)


def _cmd_replay(args: argparse.Namespace, out: TextIO, err: TextIO | None = None) -> int:
    err = err or sys.stderr
    try:
        target = load_target(args.definition)
        mapping = _mapping(args)
        end = _end(args.end, mapping)
        bar = None if args.quiet or not err.isatty() else ProgressBar(err)
        # the command prints the warnings itself: keep logging's last-resort handler
        # from writing them to stderr a second time
        quiet = logging.NullHandler()
        library_log = logging.getLogger(STDLIB_NAME)
        library_log.addHandler(quiet)
        # The command is the host here, and hosts tune the GC (the library never does):
        # replay builds millions of long-lived objects and no reference cycles, and the
        # cyclic collector walking them would cost a third of the run (docs/performance.md)
        collecting = gc.isenabled()
        gc.disable()
        try:
            result = replay(
                target,
                args.log,
                mapping,
                end=end,
                strict=args.strict,
                fast=False if args.no_fast else None,
                engine=args.engine,
                progress=bar,
                partitions=args.partitions,
            )
        finally:
            if collecting:
                gc.enable()
            library_log.removeHandler(quiet)
            if bar is not None:
                bar.close()
    except InputProblems as e:
        return fail("replay", STOPPED, str(e), as_json=args.json, out=out, err=err)
    except (_UsageError, MappingError, TypeError) as e:
        return fail("replay", USAGE, str(e), as_json=args.json, out=out, err=err)
    except (OSError, UnicodeDecodeError) as e:
        message = f"cannot read {args.log}: {e}"
        return fail("replay", USAGE, message, as_json=args.json, out=out, err=err)
    except (BadRowError, ReplayError, JourneyError) as e:
        return fail("replay", STOPPED, str(e), as_json=args.json, out=out, err=err, label="stopped")
    if args.verbose:
        s = result.summary
        print(f"engine: {s.engine}" + (f" ({s.engine_note})" if s.engine_note else ""), file=err)
        if s.partitions > 1:
            print(f"partitions: {s.partitions} (split by journey key)", file=err)
    for warning in result.summary.warnings:
        print(f"warning: {warning}", file=err)
    try:
        analysis = analyse(args, target, mapping, end, result, load_target)
    except InputProblems as e:
        return fail("replay", STOPPED, str(e), as_json=args.json, out=out, err=err)
    except (_UsageError, MappingError, AnalysisUsageError) as e:
        return fail("replay", USAGE, str(e), as_json=args.json, out=out, err=err)
    except (OSError, UnicodeDecodeError) as e:
        message = f"cannot write: {e}"
        return fail("replay", USAGE, message, as_json=args.json, out=out, err=err)
    except (BadRowError, ReplayError, JourneyError, AnalysisStopped) as e:
        return fail("replay", STOPPED, str(e), as_json=args.json, out=out, err=err, label="stopped")
    if args.json:
        data = {"summary": result.summary.to_dict(), "stages": result.stage_counts()}
        data.update(analysis.to_dict())
        print(json.dumps(data, indent=2), file=out)
    else:
        print(describe(result), file=out)
        print("", file=out)
        print(analysis.render(), file=out)
    for line in analysis.written:
        print(line, file=err if args.json else out)
    return OK


def _partitions(text: str) -> int:
    """``--partitions N``: a whole number of parts, at least 1."""
    try:
        n = int(text)
    except ValueError:
        n = 0
    if not 1 <= n <= MAX_PARTITIONS:
        raise argparse.ArgumentTypeError(
            f"takes a whole number of parts >= 1, at most {MAX_PARTITIONS} (1: replay in "
            f"memory; leave it out to pick it from the file's size), got {text!r}"
        )
    return n


def load_target(ref: str) -> JourneyMachine | JourneyDefinition:
    """``--definition``: a template, a .json file, or MODULE:ATTR of a machine/definition."""
    from .. import templates

    if ref.endswith(".json") or Path(ref).is_file():
        try:
            d = load_definition(ref)
        except DefinitionError as e:  # the file was read: what it holds is wrong, exit 1
            raise InputProblems(f"{ref}: {e}") from None
        guards = sorted(d.guards())
        if guards:
            raise _UsageError(
                f"{ref} uses guards ({', '.join(guards)}), which are host code a JSON file "
                "cannot hold; pass --definition MODULE:ATTR naming your JourneyMachine or "
                "JourneyDefinition instead"
            )
        return d
    if ":" in ref:
        kinds = (JourneyMachine, JourneyDefinition)
        target: JourneyMachine | JourneyDefinition = import_target(
            ref, "--definition", kinds, _UsageError
        )
        return target
    factory = templates.TEMPLATES.get(ref)
    if factory is None:
        raise _UsageError(
            f"--definition {ref!r} is not a template ({', '.join(templates.TEMPLATES)}), a "
            ".json file or MODULE:ATTR"
        )
    return factory()


def _mapping(args: argparse.Namespace) -> LogMapping:
    data: dict[str, Any] = load_mapping(args.map).to_dict() if args.map else {}
    for name in ("key", "event", "time", "event_id", "timezone", "time_format"):
        value = getattr(args, name)
        if value is not None:
            data[name] = value
    for flag, name in (("payload", "payload"), ("meta", "meta"), ("segment", "segments")):
        data[name] = [*data.get(name, []), *getattr(args, flag)]
    triggers = dict(data.get("triggers") or {})
    for pair in args.trigger:
        event, sep, trigger = pair.partition("=")
        if not sep or not event or not trigger:
            raise _UsageError(
                f"--trigger takes EVENT=TRIGGER (e.g. page_view=research), got {pair!r}"
            )
        triggers[event] = trigger
    data["triggers"] = triggers
    missing = [f"--{n}" for n in ("key", "event", "time") if not data.get(n)]
    if missing:
        raise _UsageError(f"say which columns to read: {', '.join(missing)} (or --map FILE)")
    return LogMapping.from_dict(data)


def _end(text: str | None, mapping: LogMapping) -> Any:
    if text is None:
        return None
    try:
        return parse_time(text, mapping.zone())
    except (ValueError, OverflowError, OSError):
        raise _UsageError(
            f"--end takes an ISO-8601 time (e.g. 2026-06-30T00:00:00Z), got {text!r}"
        ) from None


class ProgressBar:
    """A one-line progress bar on a terminal, redrawn at most ten times a second."""

    def __init__(self, stream: TextIO, width: int = 30) -> None:
        self.stream = stream
        self.width = width
        self.started = time.monotonic()
        self.drawn = 0.0
        self.shown = False

    def __call__(self, fraction: float) -> None:
        now = time.monotonic()
        if now - self.drawn < 0.1 and fraction < 1.0:
            return
        self.drawn = now
        done = int(self.width * min(max(fraction, 0.0), 1.0))
        bar = "#" * done + "." * (self.width - done)
        elapsed = now - self.started
        self.stream.write(f"\rreplay [{bar}] {fraction:4.0%} {elapsed:5.1f}s")
        self.stream.flush()
        self.shown = True

    def close(self) -> None:
        if self.shown:
            self.stream.write("\r" + " " * (self.width + 24) + "\r")
            self.stream.flush()


def describe(result: ReplayResult) -> str:
    """The run summary as a readable table (what the command prints)."""
    s: ReplaySummary = result.summary
    path = {"columnar": "columnar engine", "fast": "fast path"}.get(s.engine, "engine")
    if s.partitions > 1:
        path += f" in {s.partitions} key-partitioned parts"
    end = s.end.isoformat() if s.end is not None else "none (timeouts pending at the end not fired)"
    skipped = ", ".join(f"{name} {n:,}" for name, n in list(s.skipped.items())[:5])
    lines = [
        f"replay of {s.source} through {s.definition} (version {s.version}): "
        f"{path}, {s.seconds:.2f} s",
        "",
        f"  rows read        {s.rows_read:>12,}",
        f"  events applied   {s.events_applied:>12,}",
        f"  journeys         {s.journeys:>12,}",
        f"  skipped          {s.skipped_count:>12,}" + (f"  ({skipped})" if skipped else ""),
        f"  bad rows         {s.bad_row_count:>12,}",
        f"  timeouts fired   {s.timeouts_fired:>12,}",
        f"  timezone         {s.timezone:>12}",
        f"  end              {end}",
    ]
    for bad in s.bad_rows[:5]:
        lines.append(f"    line {bad.line}: {bad.reason}")
    tw = max([len("trigger"), *(len(t.trigger) for t in s.triggers)])
    lines += ["", f"  {'trigger':<{tw}}  {'moved':>9} {'blocked':>9} {'ignored':>9} "
              f"{'duplicate':>9} {'timeouts':>9}"]  # fmt: skip
    for t in s.triggers:
        lines.append(
            f"  {t.trigger:<{tw}}  {t.moved:>9,} {t.blocked:>9,} {t.ignored:>9,} "
            f"{t.duplicate:>9,} {t.timeouts:>9,}"
        )
    counts = result.stage_counts()
    sw = max([len("stage"), *(len(name) for name in counts)])
    lines += ["", f"  {'stage':<{sw}}  {'journeys':>9}"]
    lines += [f"  {name:<{sw}}  {n:>9,}" for name, n in counts.items()]
    return "\n".join(lines)
