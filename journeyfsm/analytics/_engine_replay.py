"""The engine applier of replay: events through the machine's own ``fire`` and ``tick``.

:func:`~._replay.replay` runs this applier when the machine has hooks or effects (they
must run), when the definition has goals or a re-entry rule (only the machine keeps goal
clocks and restarts finished journeys), or when asked (``engine="engine"``).  It gives
the journeys and counts the fast path (:mod:`._fastpath`) gives where both run
(tests/test_fastpath.py), counting into the same :class:`~._tally.Tally`.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable
from datetime import datetime

from .._errors import GuardError, HookError
from .._goals import GOAL
from .._records import Journey
from .._runtime import JourneyMachine
from ._logs import Event
from ._mapping import ReplayError
from ._tally import STATUS, TIMEOUTS, Tally, Unsorted, guard_failure

__all__ = ["EngineReplay", "event_id_window", "hooks_of"]


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


def event_id_window(machine: JourneyMachine | None) -> int:
    """The event-id window a replay of ``machine`` (None: of a bare definition) keeps."""
    # a definition replays as JourneyMachine(definition) would: its default window
    return _DEFAULT_WINDOW if machine is None else machine.event_id_window


_DEFAULT_WINDOW: int = inspect.signature(JourneyMachine).parameters["event_id_window"].default
