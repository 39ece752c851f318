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
from datetime import datetime
from pathlib import Path
from typing import Any

import attrs

from .._definition import JourneyDefinition
from .._errors import GuardError, HookError
from .._logging import JourneyLog
from .._records import Journey
from .._runtime import JourneyMachine
from ._fastcsv import replay_csv
from ._fastpath import FastReplay
from ._logs import Event, LogReader
from ._mapping import LogMapping, MappingError, ReplayError, implausible, parse_time
from ._ordering import ExternalSort
from ._replay_summary import summarize
from ._results import ReplaySummary
from ._tally import STATUS, TIMEOUTS, Tally, Unsorted, guard_failure

__all__ = ["EngineReplay", "ReplayResult", "hooks_of", "replay"]

Progress = Callable[[float], None]


@attrs.frozen
class ReplayResult:
    """What :func:`replay` gives back: the final ``journeys`` by key, each journey's
    ``segments`` (segment column -> first non-empty value) and the run ``summary``."""

    journeys: Mapping[str, Journey]
    segments: Mapping[str, Mapping[str, str]]
    summary: ReplaySummary
    definition: JourneyDefinition | None = None

    def stage_counts(self) -> dict[str, int]:
        """Journeys per stage at the end: every stage of the definition, in its order."""
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
        self.has_timeouts = bool(machine.definition.timeouts)

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
    source: str | os.PathLike[str],
    mapping: LogMapping | Mapping[str, Any],
    *,
    end: datetime | None = None,
    strict: bool = False,
    fast: bool | None = None,
    progress: Progress | None = None,
) -> ReplayResult:
    """Replay the event log ``source`` (CSV, JSON Lines, Parquet) through a journey.

    ``mapping`` (a :class:`LogMapping` or its dict form) says which columns are the
    key, event, time...; ``end`` (naive: read in the mapping's timezone) is the end of
    observation, up to which stage timeouts fire after the last event; ``strict=True``
    stops at the first bad row (:class:`BadRowError`); ``fast`` picks the direct loop
    (``None``: whenever the machine has no hooks or effects); ``progress`` is called
    with the fraction done, now and then.

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
    if progress is not None and not callable(progress):
        raise TypeError(f"replay(progress=...) takes a callable(fraction), got {progress!r}")
    if not isinstance(source, (str, os.PathLike)):
        raise TypeError(f"replay() reads a log file: pass its path, got {type(source).__name__}")
    if end is not None and not isinstance(end, datetime):
        raise TypeError(f"replay(end=...) takes a datetime, got {type(end).__name__}")
    end_at = None if end is None else parse_time(end, mapping.zone())
    hooks = hooks_of(machine) if machine is not None else []
    if fast is None:
        fast = not hooks
    elif fast and hooks:
        raise ReplayError(
            f"fast=True skips the engine, but this machine has hooks or effects that must "
            f"run: {', '.join(hooks)}; pass fast=None (the engine runs them) or replay "
            f"machine.definition to leave them out"
        )
    path = Path(source)
    log = machine.logger if machine is not None else _log_of(definition)

    def attempt(start: float, ordered: bool) -> tuple[LogReader, Tally, Any]:
        """One pass from ``start`` (progress) to 1: streaming, or through a sort."""
        middle = start + (1.0 - start) / 2
        report = _scaled(progress, start, 1.0 if ordered else middle)
        reader = LogReader(path, mapping, triggers, strict=strict, progress=report)
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
        ordered = _in_order(path, mapping, triggers, strict, _scaled(progress, 0.0, 0.3))
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
    )
    late = _after_end(applier.last_event(), end_at)
    odd = implausible(_first_event(journeys), applier.last_event(), mapping.time)
    extra = tuple(w for w in (late, odd) if w is not None)
    if extra:
        summary = attrs.evolve(summary, warnings=(*summary.warnings, *extra))
    for warning in summary.warnings:
        log.warning("replay.warning", source=str(path), warning=warning)
    segments = {k: reader.segments.get(k, {}) for k in journeys} if mapping.segments else {}
    return ReplayResult(journeys, segments, summary, definition)


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


def _in_order(
    path: Path, mapping: LogMapping, triggers: Mapping[str, str], strict: bool, report: Any
) -> bool:
    """Whether every journey's events come in time order (a read that applies nothing)."""
    reader = LogReader(path, mapping, triggers, strict=strict, progress=report)
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
