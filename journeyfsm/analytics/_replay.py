"""Replay: run an event log through a journey definition and count what happened.

Theory of operation
-------------------
:func:`replay` reads the log once as a stream (:mod:`._logs`) and applies each mapped
event to its journey: a journey starts (``machine.start(key, at=...)``) at its first
mapped event; before each event at time ``T`` its stage timeouts due by ``T`` fire
(``machine.tick(journey, T)``: the log's own clock); then the event fires with the
definition's policy forced to "ignore" (an event invalid in the stage is counted, never
raised).  After the last row, ``end`` (the end of observation) fires what is due by
then; without ``end`` nothing more fires, and the summary says so.

Order: events apply per journey in time order, ties in file order.  Logs are usually
written in time order, so the fast path streams optimistically and notices the first
event that goes back in time for its journey; it then starts over on an external merge
sort (:mod:`._ordering`): correct results by default, memory bounded either way, one
extra read only for unsorted logs.  The engine path runs host hooks, which must not run
twice, so it checks the order in a first read (key and time only) before applying.

Two appliers share one :class:`~._tally.Tally`: :class:`~._fastpath.FastReplay` (no
hooks or effects: the table as a direct loop; a CSV log in order is read and applied in
one loop, :func:`~._fastcsv.replay_csv`) and :class:`EngineReplay` (``fire`` and
``tick`` of the machine, hooks and logging included).  They give the same journeys and
counts; tests/test_fastpath.py holds them to it.
"""

from __future__ import annotations

import inspect
import os
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import attrs

from .._clock import UTC
from .._definition import JourneyDefinition
from .._errors import GuardError, HookError
from .._goals import GOAL
from .._logging import JourneyLog
from .._records import Journey
from .._runtime import JourneyMachine
from ._colguards import columnar_refusal
from ._coljson import JsonBlock, read_jsonl
from ._colread import Columns, Fallback, load_table, read_columns, table_of
from ._colstream import auto_partitions, replay_partitioned
from ._columnar import ColumnarReplay
from ._fastcsv import replay_csv
from ._fastpath import FastReplay
from ._logs import MAX_BAD_ROWS, Event, LogReader, TableReader, log_format
from ._mapping import (
    BadRowError,
    LogMapping,
    MappingError,
    ReplayError,
    implausible,
    parse_time,
)
from ._merge import merge_parts
from ._ordering import ExternalSort
from ._replay_summary import RowCounts, summarize
from ._results import ReplaySummary
from ._tally import STATUS, TIMEOUTS, Tally, Unsorted, guard_failure

__all__ = ["ENGINES", "Engine", "EngineReplay", "ReplayResult", "hooks_of", "replay"]

Progress = Callable[[float], None]
#: the replay engines, fastest first (see :func:`replay`)
Engine = Literal["columnar", "fast", "engine"]
ENGINES: tuple[str, ...] = ("columnar", "fast", "engine")


@attrs.frozen
class ReplayResult:
    """What :func:`replay` gives back: the final ``journeys`` by key, each journey's
    ``segments`` (segment column -> first non-empty value) and the run ``summary``."""

    journeys: Mapping[str, Journey]
    segments: Mapping[str, Mapping[str, str]]
    summary: ReplaySummary
    definition: JourneyDefinition | None = None

    @classmethod
    def merge(cls, results: Iterable[ReplayResult]) -> ReplayResult:
        """One result from the replays of disjoint parts of a log, split by journey key
        (what :func:`replay_dask` does with its parts): journeys and segments united,
        every count summed (see docs/replay.md for what does not add up).

        >>> import tempfile, pathlib
        >>> from journeyfsm import templates
        >>> tmp = pathlib.Path(tempfile.mkdtemp())
        >>> _ = (tmp / "a.csv").write_text("k,e,t\\nc1,engage,2026-01-01T10:00:00Z\\n")
        >>> _ = (tmp / "b.csv").write_text("k,e,t\\nc2,engage,2026-01-01T11:00:00Z\\n")
        >>> m = {"key": "k", "event": "e", "time": "t"}
        >>> parts = [replay(templates.aida(), tmp / name, m) for name in ("a.csv", "b.csv")]
        >>> whole = ReplayResult.merge(parts)
        >>> sorted(whole.journeys), whole.summary.events_applied, whole.stage_counts()["interest"]
        (['c1', 'c2'], 2, 2)
        """
        parts = list(results)
        for part in parts:
            if not isinstance(part, ReplayResult):
                raise TypeError(
                    f"ReplayResult.merge() takes ReplayResults, got {type(part).__name__}"
                )
        journeys, segments, summary = merge_parts(
            [(p.journeys, p.segments, p.summary) for p in parts]
        )
        return cls(journeys, segments, summary, parts[0].definition)

    @property
    def engine(self) -> str:
        """Which engine ran: ``"columnar"``, ``"fast"`` or ``"engine"`` (see :func:`replay`)."""
        return self.summary.engine

    def stage_counts(self) -> dict[str, int]:
        """Journeys per stage at the end: every stage of the definition, in its order."""
        counted = getattr(self.journeys, "stage_counts", None)
        if counted is not None:
            return counted()  # type: ignore[no-any-return]
        stages = self.definition.stage_names if self.definition is not None else ()
        counts = dict.fromkeys(stages, 0)
        for journey in self.journeys.values():
            counts[journey.stage] = counts.get(journey.stage, 0) + 1
        return counts


class EngineReplay:
    """Applies events with the machine's own ``fire`` and ``tick`` (hooks, logging, all)."""

    def __init__(self, machine: JourneyMachine, tally: Tally) -> None:
        self.machine = machine
        self.tally = tally
        self.journeys: dict[str, Journey] = {}
        # goal deadlines are found by tick too (a miss is recorded at its deadline)
        self.has_timeouts = bool(machine.definition.timeouts or machine.definition.goals)

    def run(self, events: Iterable[Event]) -> None:
        machine, journeys, tally = self.machine, self.journeys, self.tally
        last, counts = tally.last, tally.counts
        for at, line, key, trigger, event_id, payload, meta in events:
            journey = journeys.get(key)
            if journey is None:
                journey = journeys[key] = machine.start(key, at=at)
            elif at < last[key]:
                raise Unsorted(line, key)
            last[key] = at
            try:
                if self.has_timeouts:
                    self._tick(journey, at)
                outcome = machine.fire(
                    journey,
                    trigger,
                    payload,
                    at=at,
                    event_id=event_id,
                    meta=meta,
                    policy="ignore",
                )
            except GuardError as err:
                guard_failure(tally, err, line)
                continue
            except HookError as err:
                raise ReplayError(f"line {line}: {err}", line=line, key=key) from err
            status = outcome.status
            counts[trigger][STATUS[status]] += 1
            tally.events_applied += 1
            if status == "ignored":
                tally.ignored(outcome.source, trigger)
            elif status == "blocked":
                tally.blocked(outcome.source, trigger)

    def last_event(self) -> datetime | None:
        """The time of the latest event applied (None: none was)."""
        return max(self.tally.last.values(), default=None)

    def finish(self, end: datetime | None) -> None:
        if end is None or not self.has_timeouts:
            return
        for journey in self.journeys.values():
            self._tick(journey, end)

    def _tick(self, journey: Journey, until: datetime) -> None:
        tally = self.tally
        try:
            outcomes = self.machine.tick(journey, until)
        except GuardError as err:
            guard_failure(tally, err, None, timeout=True)
            raise  # pragma: no cover - guard_failure raises for timeouts
        for outcome in outcomes:
            status, trigger = outcome.status, outcome.trigger
            if trigger == GOAL:  # a goal missed: recorded in the history, not a timeout
                continue
            row = tally.counts[trigger]
            row[STATUS[status]] += 1
            row[TIMEOUTS] += 1
            tally.timeouts_fired += 1
            tally.timeout_status[STATUS[status]] += 1
            if status == "ignored":
                tally.ignored(outcome.source, trigger)
            elif status == "blocked":
                tally.blocked(outcome.source, trigger)


def hooks_of(machine: JourneyMachine) -> list[str]:
    """The hooks and effects registered on ``machine``, as readable names."""
    h = machine._hooks
    found = [kind for kind in ("before", "after") if getattr(h, kind)]
    for kind, by_name in (
        ("on_enter", h.enter),
        ("on_exit", h.exit),
        ("on_transition", h.transition),
    ):
        found += [f"{kind}({name!r})" for name, hooks in by_name.items() if hooks]
    if h.blocked:
        found.append("on_blocked")
    if h.ignored:
        found.append("on_ignored")
    found += [f"effect {name!r}" for name in h.effects]
    return found


def _scaled(progress: Progress | None, lo: float, hi: float) -> Progress | None:
    if progress is None:
        return None
    return lambda fraction: progress(lo + (hi - lo) * fraction)


def replay(
    machine_or_definition: JourneyMachine | JourneyDefinition,
    source: str | os.PathLike[str] | Any,
    mapping: LogMapping | Mapping[str, Any],
    *,
    end: datetime | None = None,
    strict: bool = False,
    fast: bool | None = None,
    engine: Engine | None = None,
    progress: Progress | None = None,
    partitions: int | None = None,
) -> ReplayResult:
    """Replay an event log through a journey: ``source`` is a log file (CSV, JSON Lines,
    Parquet), an Arrow table, or a pandas or polars DataFrame.

    ``mapping`` (a :class:`LogMapping` or its dict form) says which columns are the
    key, event, time...; ``end`` (naive: read in the mapping's timezone) is the end of
    observation, up to which stage timeouts fire after the last event; ``strict=True``
    stops at the first bad row (:class:`BadRowError`); ``progress`` is called with the
    fraction done, now and then.

    The engine is picked by itself: ``"columnar"`` (whole columns with Arrow and numpy)
    when the definition's guards are all expressions (:func:`journeyfsm.col`), the
    machine has no hooks, and ``journeyfsm[fast]`` is installed; else ``"fast"`` (the
    direct Python loop) when there are no hooks; else ``"engine"`` (``fire``/``tick``).
    ``engine=`` asks for one (``"columnar"`` falls back to ``"fast"``, saying why in
    ``summary.engine_note``, when the input holds what only the Python path reports:
    bad rows, a guard raising); ``fast=False`` is ``engine="engine"``.  A definition with
    a re-entry rule (``entry`` other than ``"once"``) always replays on ``"engine"``, the
    note saying so.
    ``summary.engine`` says which one ran.

    ``partitions`` bounds the columnar engine's memory on a big log file: the log is read
    in batches and spilled by journey key into that many temporary files, replayed part
    by part and merged (the same result; peak memory follows one part's rows and the
    journeys).  ``None`` (the default) picks it from the file's size: in memory below
    32 MB, else one part per 8 MB; ``1`` always replays in memory.  Tables and
    DataFrames, already in memory, replay in memory; the other engines stream anyway.

    >>> import tempfile, pathlib
    >>> from journeyfsm import templates
    >>> log = pathlib.Path(tempfile.mkdtemp()) / "events.csv"
    >>> _ = log.write_text("customer,event,ts\\n"
    ...     "c1,engage,2026-01-01T10:00:00Z\\nc1,want,2026-01-01T10:05:00Z\\n"
    ...     "c2,engage,2026-01-01T11:00:00Z\\nc2,scroll,2026-01-01T11:01:00Z\\n")
    >>> result = replay(templates.aida(), log, {"key": "customer", "event": "event", "time": "ts"})
    >>> result.journeys["c1"].stage, result.journeys["c2"].stage
    ('desire', 'interest')
    >>> result.summary.events_applied, dict(result.summary.skipped)
    (3, {'scroll': 1})
    """
    started = time.perf_counter()
    machine, definition = _resolve(machine_or_definition)
    mapping = _mapping(mapping)
    triggers = mapping.trigger_map(definition)
    for flag, value in (("strict", strict), ("fast", fast)):
        if value is not None and not isinstance(value, bool):
            raise TypeError(f"replay({flag}=...) takes True or False, got {value!r}")
    if engine is not None and engine not in ENGINES:
        raise TypeError(
            f"replay(engine=...) takes one of {', '.join(map(repr, ENGINES))} or None, "
            f"got {engine!r}"
        )
    if partitions is not None and (
        not isinstance(partitions, int) or isinstance(partitions, bool) or partitions < 1
    ):
        raise TypeError(
            "replay(partitions=...) takes a whole number of parts >= 1 (1: in memory) or "
            f"None (chosen from the file's size), got {partitions!r}"
        )
    if progress is not None and not callable(progress):
        raise TypeError(f"replay(progress=...) takes a callable(fraction), got {progress!r}")
    table: Any = None
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
    else:
        found = table_of(source)
        if found is None:
            raise TypeError(
                "replay() reads a log file (pass its path), an Arrow table, or a pandas or "
                f"polars DataFrame; got {type(source).__name__}"
            )
        table, name = found
        path = Path(name)
    if end is not None and not isinstance(end, datetime):
        raise TypeError(f"replay(end=...) takes a datetime, got {type(end).__name__}")
    end_at = None if end is None else parse_time(end, mapping.zone())
    hooks = hooks_of(machine) if machine is not None else []
    if fast is False:
        if engine not in (None, "engine"):
            raise TypeError(f"replay(fast=False) runs the engine; it contradicts engine={engine!r}")
        engine = "engine"
    elif fast is True and engine is None:
        engine = "fast"
    if engine in ("fast", "columnar") and hooks:
        raise ReplayError(
            f"{'fast=True' if fast else f'engine={engine!r}'} skips the engine, but this "
            f"machine has hooks or effects that must run: {', '.join(hooks)}; pass "
            "fast=None (the engine runs them) or replay machine.definition to leave them out"
        )
    chosen: str = engine if engine is not None else ("engine" if hooks else "auto")
    log = machine.logger if machine is not None else _log_of(definition)
    note = ""
    if chosen != "engine" and definition.goals:
        # the fast loop and the columnar engine do not keep goal clocks
        note = (
            f"the {'fast and columnar engines' if chosen == 'auto' else repr(chosen) + ' engine'} "
            "did not run: the definition has goals, whose clocks only the engine replays"
        )
        log.info("replay.goals_fallback", source=str(path))
        chosen = "engine"
    if chosen != "engine" and definition.entry != "once" and definition.final_stages:
        # the fast loop and the columnar engine do not restart finished journeys
        note = (
            f"the {'fast and columnar engines' if chosen == 'auto' else repr(chosen) + ' engine'} "
            f"did not run: the definition's entry rule (entry={definition.entry!r}) restarts "
            "finished journeys, which only the engine replays"
        )
        log.info("replay.reentry_fallback", source=str(path), entry=str(definition.entry))
        chosen = "engine"
    if chosen in ("auto", "columnar"):
        refusal = columnar_refusal(definition)
        if refusal is not None and chosen == "columnar":
            raise ReplayError(f"engine='columnar' cannot run: {refusal}")
        if refusal is None:
            try:
                return _replay_columnar(
                    definition, machine, table, path, mapping, triggers, end_at, progress,
                    started, log, strict, partitions,
                )  # fmt: skip
            except Fallback as err:
                note = f"the columnar engine did not run: {err.reason}"
                log.info("replay.columnar_fallback", source=str(path), reason=err.reason)
        else:
            note = f"the columnar engine did not run: {refusal}"
        chosen = "fast"
    fast = chosen == "fast"

    def reader_for(report: Progress | None) -> LogReader:
        if table is not None:
            return TableReader(table, str(path), mapping, triggers, strict=strict, progress=report)
        return LogReader(path, mapping, triggers, strict=strict, progress=report)

    def attempt(start: float, ordered: bool) -> tuple[LogReader, Tally, Any]:
        """One pass from ``start`` (progress) to 1: streaming, or through a sort."""
        middle = start + (1.0 - start) / 2
        report = _scaled(progress, start, 1.0 if ordered else middle)
        reader = reader_for(report)
        tally = Tally(definition.triggers, reader.bad)
        applier: FastReplay | EngineReplay
        if fast:
            applier = FastReplay(definition, _window(machine), tally)
        else:
            applier = EngineReplay(machine or JourneyMachine(definition), tally)
        if ordered and isinstance(applier, FastReplay) and reader.format == "csv":
            replay_csv(applier, reader)  # read and apply in one loop
        elif ordered:
            applier.run(reader.events())
        else:
            merged = _scaled(progress, middle, 1.0)
            with ExternalSort(reader.events(), progress=merged) as events:
                applier.run(events)
        applier.finish(end_at)
        return reader, tally, applier

    if fast:
        try:
            reader, tally, applier = attempt(0.0, ordered=True)
        except Unsorted as err:
            log.info("replay.unsorted", source=str(path), line=err.line, key=err.key)
            reader, tally, applier = attempt(0.0, ordered=False)
    else:
        ordered = _in_order(reader_for(_scaled(progress, 0.0, 0.3)))
        if not ordered:
            log.info("replay.unsorted", source=str(path))
        reader, tally, applier = attempt(0.3, ordered)
    journeys = applier.journeys
    summary = summarize(
        definition,
        path,
        reader,
        tally,
        journeys=len(journeys),
        end=end_at,
        fast=fast,
        seconds=time.perf_counter() - started,
        note=note,
    )
    summary = _more_warnings(
        summary, _first_event(journeys), applier.last_event(), end_at, mapping, path, log
    )
    segments = {k: reader.segments.get(k, {}) for k in journeys} if mapping.segments else {}
    return ReplayResult(journeys, segments, summary, definition)


def _replay_columnar(
    definition: JourneyDefinition,
    machine: JourneyMachine | None,
    table: Any,
    path: Path,
    mapping: LogMapping,
    triggers: Mapping[str, str],
    end_at: datetime | None,
    progress: Progress | None,
    started: float,
    log: JourneyLog,
    strict: bool,
    partitions: int | None,
) -> ReplayResult:
    """The replay on the columnar engine (:class:`~._colread.Fallback` when it cannot)."""
    from_table = table is not None
    end_us = None if end_at is None else (end_at - _EPOCH) // _US
    tally = Tally(definition.triggers, _no_bad_rows)
    first = last = None
    jsonl: JsonBlock | None = None
    if table is None:
        if not path.is_file():
            raise Fallback("no such log file (the Python path says so)")
        parts = auto_partitions(path, mapping) if partitions is None else partitions
        streamed = None
        if parts > 1:
            streamed = replay_partitioned(
                definition, _window(machine), path, mapping, triggers, tally, end_us, parts,
                progress,
            )  # fmt: skip
        if streamed is not None:
            cols = streamed.cols
            bad_rows = _bad_rows(cols, path, log_format(path, mapping) == "csv", strict)
            journeys: Any = streamed.journeys
            unsorted = streamed.unsorted
            if streamed.first_us is not None and streamed.last_us is not None:
                first = _EPOCH + streamed.first_us * _US
                last = _EPOCH + streamed.last_us * _US
        else:
            parts = 1  # no data rows: in memory
            if log_format(path, mapping) == "jsonl":
                jsonl = read_jsonl(path, mapping)
                table = jsonl.table
            else:
                table = load_table(path, mapping)
    else:
        parts = 1
    if table is not None:
        index = {t: i for i, t in enumerate(definition.triggers)}
        cols = read_columns(table, mapping, triggers, index)
        del table  # read into cols: a file's table is not needed any more (memory)
        if jsonl is not None:  # rows -> lines, and the lines that are not objects
            cols.bad_rows = sorted(
                [(int(jsonl.lines[r]) - 1, why) for r, why in cols.bad_rows]
                + [(line - 1, why) for line, why in jsonl.bad]
            )
            cols.rows_read = jsonl.rows
            del jsonl
        is_csv = not from_table and log_format(path, mapping) == "csv"
        bad_rows = _bad_rows(cols, path, is_csv, strict)
        engine = ColumnarReplay(definition, _window(machine), tally)
        if len(cols.at):
            first = _EPOCH + int(cols.at.min()) * _US
            last = _EPOCH + int(cols.at.max()) * _US
        engine.run(cols, end_us)
        journeys = engine.journeys()
        unsorted = engine.unsorted
    if unsorted:
        log.info("replay.unsorted", source=str(path))
    counts = RowCounts(path, mapping, cols.rows_read, cols.skipped)
    counts.bad_rows = bad_rows[:MAX_BAD_ROWS]
    counts.bad_row_count = len(bad_rows)
    summary = summarize(
        definition,
        path,
        counts,
        tally,
        journeys=len(journeys),
        end=end_at,
        fast=True,
        seconds=time.perf_counter() - started,
        engine="columnar",
        partitions=parts,
    )
    summary = _more_warnings(summary, first, last, end_at, mapping, path, log)
    segments = {k: cols.segments.get(k, {}) for k in journeys} if mapping.segments else {}
    if progress is not None:
        progress(1.0)
    return ReplayResult(journeys, segments, summary, definition)


def _bad_rows(cols: Columns, path: Path, is_csv: bool, strict: bool) -> list[tuple[int, str]]:
    """The bad rows as (line, reason); ``strict``: :class:`BadRowError` for the first,
    as the Python path raises it.  A CSV's lines are its rows plus the header when it has
    no blank lines and no line breaks inside cells; otherwise a :class:`Fallback` (the
    Python path counts its lines)."""
    if not cols.bad_rows:
        return []
    first = 1
    if is_csv:
        if _line_count(path) != cols.rows_read + 1:
            raise Fallback("the CSV has blank lines or line breaks in cells, and bad rows")
        first = 2
    out = [(row + first, reason) for row, reason in cols.bad_rows]
    if strict:
        line, reason = out[0]
        raise BadRowError(
            f"{path.name}, line {line}: {reason} (strict "
            "replay stops at the first bad row; leave strict off to count bad rows and go on)",
            line=line,
        )
    return out


def _line_count(path: Path) -> int:
    """The lines of a file (a last line without a line break counts)."""
    lines, last = 0, b"\n"
    with path.open("rb") as f:
        while chunk := f.read(1 << 22):
            lines += chunk.count(b"\n")
            last = chunk[-1:]
    return lines + (last != b"\n")


def _no_bad_rows(line: int, reason: str) -> None:  # pragma: no cover - never called
    raise AssertionError("the columnar engine falls back on bad rows")


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)


def _more_warnings(
    summary: ReplaySummary,
    first: datetime | None,
    last: datetime | None,
    end_at: datetime | None,
    mapping: LogMapping,
    path: Path,
    log: JourneyLog,
) -> ReplaySummary:
    """The summary with the end and time-range warnings added, every warning logged."""
    extra = tuple(
        w for w in (_after_end(last, end_at), implausible(first, last, mapping.time)) if w
    )
    if extra:
        summary = attrs.evolve(summary, warnings=(*summary.warnings, *extra))
    for warning in summary.warnings:
        log.warning("replay.warning", source=str(path), warning=warning)
    return summary


def _first_event(journeys: Mapping[str, Journey]) -> datetime | None:
    """The time of the earliest event applied (each journey starts at its first)."""
    return min((j.started_at for j in journeys.values() if j.started_at is not None), default=None)


def _after_end(latest: datetime | None, end: datetime | None) -> str | None:
    """A warning when the log's last applied event (``latest``) is after the end of
    observation ``end``."""
    if end is None or latest is None or latest <= end:
        return None
    return (
        f"the end of observation ({end.isoformat()}) is before the log's last event "
        f"({latest.isoformat()}): events after it were applied; pass an end at or after "
        "the last event (or leave the later events out of the log)"
    )


def _in_order(reader: LogReader) -> bool:
    """Whether every journey's events come in time order (a read that applies nothing)."""
    last: dict[str, datetime] = {}
    for at, _, key, *_ in reader.events():
        before = last.get(key)
        if before is not None and at < before:
            return False
        last[key] = at
    return True


def _resolve(
    value: JourneyMachine | JourneyDefinition,
) -> tuple[JourneyMachine | None, JourneyDefinition]:
    if isinstance(value, JourneyMachine):
        return value, value.definition
    if isinstance(value, JourneyDefinition):
        return None, value
    raise TypeError(
        f"replay() takes a JourneyMachine or a JourneyDefinition, got {type(value).__name__}"
    )


def _mapping(value: LogMapping | Mapping[str, Any]) -> LogMapping:
    if isinstance(value, LogMapping):
        return value
    if isinstance(value, Mapping):
        return LogMapping.from_dict(value)
    raise MappingError(
        f"replay() takes a LogMapping (or its dict form) as mapping, got {type(value).__name__}"
    )


def _window(machine: JourneyMachine | None) -> int:
    # a definition replays as JourneyMachine(definition) would: its default window
    return _DEFAULT_WINDOW if machine is None else machine.event_id_window


_DEFAULT_WINDOW: int = inspect.signature(JourneyMachine).parameters["event_id_window"].default


def _log_of(definition: JourneyDefinition) -> JourneyLog:
    return JourneyLog(None, definition=definition.name, definition_version=definition.version)
