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
one loop, :func:`~._fastcsv.replay_csv`) and :class:`~._engine_replay.EngineReplay`
(``fire`` and ``tick`` of the machine, hooks and logging included).  They give the same
journeys and counts; tests/test_fastpath.py holds them to it.  The columnar engine, when
the definition allows it, runs before either (:mod:`._replay_columnar`).

The result type is :class:`~._replay_result.ReplayResult`; the summary and its warnings
come from :mod:`._replay_summary`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from .._definition import JourneyDefinition
from .._logging import JourneyLog
from .._runtime import JourneyMachine
from ._colguards import columnar_refusal
from ._colread import Fallback, table_of
from ._colstream import MAX_PARTITIONS
from ._engine_replay import EngineReplay, event_id_window, hooks_of
from ._fastcsv import replay_csv
from ._fastpath import FastReplay
from ._logs import LogReader, TableReader
from ._mapping import LogMapping, MappingError, ReplayError, parse_time
from ._ordering import ExternalSort
from ._replay_columnar import replay_columnar
from ._replay_result import ReplayResult
from ._replay_summary import first_event, more_warnings, summarize
from ._tally import Tally, Unsorted

__all__ = ["ENGINES", "Engine", "replay"]

Progress = Callable[[float], None]
#: the replay engines, fastest first (see :func:`replay`)
Engine = Literal["columnar", "fast", "engine"]
ENGINES: tuple[str, ...] = ("columnar", "fast", "engine")


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
    in batches and spilled by journey key into that many temporary files (at most 512),
    replayed part by part and merged (the same result; peak memory follows one part's
    rows and the journeys).  ``None`` (the default) picks it from the file's size: in
    memory below 64 MB (that pass holds about 8 bytes per byte of the file, ~0.5 GB),
    else one part per 8 MB, up to 512 parts; ``1`` always replays in memory.  Tables and
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
    if partitions is not None and partitions > MAX_PARTITIONS:
        raise ValueError(
            f"replay(partitions={partitions}) is too many parts: at most {MAX_PARTITIONS} "
            "(one open file each while the log is split); fewer, bigger parts replay the same"
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
                return replay_columnar(
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
            applier = FastReplay(definition, event_id_window(machine), tally)
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
    summary = more_warnings(
        summary, first_event(journeys), applier.last_event(), end_at, mapping, path, log
    )
    segments = {k: reader.segments.get(k, {}) for k in journeys} if mapping.segments else {}
    return ReplayResult(journeys, segments, summary, definition)


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


def _log_of(definition: JourneyDefinition) -> JourneyLog:
    return JourneyLog(None, definition=definition.name, definition_version=definition.version)
