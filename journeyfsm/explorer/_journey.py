"""One journey as its page shows it: the stays of its path, what it may do next and why.

The path is read from the history as :mod:`journeyfsm.analytics` reads it: a stay
begins when the journey starts or enters a stage and ends at the next move with a
destination (leaving, or re-entering, which begins a new stay); an internal transition
(recorded with ``dest == source``) does not end it.  Where the definition cannot tell a
re-entry from an internal move of the same trigger, the journey's ``entry_seq`` decides
for its current stay, and an earlier one counts as a re-entry (as the funnel counts).

The goals are the row's clocks (the ``goals`` column's JSON, ``GoalClock.to_dict()``);
a pending clock past its deadline is marked: the miss is written by the next tick.

"What next" runs the machine's own ``allowed_triggers`` and ``explain`` on the journey
restored from its row (guards are pure, so running them writes nothing); a journey
the loaded definition cannot restore (a stage of another version) shows why instead.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

import attrs

from .._clock import aware_time as _when
from .._definition import JourneyDefinition
from .._errors import GuardError, JourneyError
from .._goals import GOAL
from .._outcome import Explanation
from .._records import HistoryEntry, Journey
from .._runtime import JourneyMachine
from ..service._core import JourneyRow, journey_from_row

__all__ = [
    "GoalRow",
    "Next",
    "Stay",
    "explain_trigger",
    "goal_rows",
    "next_steps",
    "restore",
    "stays",
]


@attrs.frozen
class Stay:
    """One stay in a stage: when it began (``None``: before the moves shown), when it
    ended (``None``: it goes on), and how long it lasted (``None``: not known)."""

    stage: str
    entered_at: datetime | None
    left_at: datetime | None
    duration: timedelta | None
    left_by: str | None
    internal_moves: int


def _reenters(definition: JourneyDefinition | None, row: JourneyRow, entry: HistoryEntry) -> bool:
    if entry.trigger == GOAL:  # a goal met or missed where the journey is: internal
        return False
    kinds: set[str] = set()
    if definition is not None and definition.has_stage(entry.source):
        kinds = {
            "internal" if c.dest is None else "reenter"
            for c in definition.candidates(entry.source, entry.trigger)
            if c.dest in (None, entry.source)
        }
    if len(kinds) == 1:
        return kinds == {"reenter"}
    if entry.seq >= row.entry_seq:
        return entry.seq == row.entry_seq
    return True


def stays(
    row: JourneyRow,
    history: Sequence[HistoryEntry],
    definition: JourneyDefinition | None,
    now: datetime,
    *,
    earlier: bool = False,
) -> list[Stay]:
    """The stays of the journey's path, oldest first; the last one is still going on.

    ``earlier``: ``history`` is the newest part of the journey's moves, so the first stay
    shown began before them (when, and how long it lasted, is not known here).
    """
    out: list[Stay] = []
    stage = history[0].source if history else row.stage
    since: datetime | None = None if earlier and history else row.started_at
    internal = 0
    for entry in history:
        if entry.dest == entry.source and not _reenters(definition, row, entry):
            internal += 1
            continue
        took = None if since is None else entry.at - since
        out.append(Stay(stage, since, entry.at, took, entry.trigger, internal))
        stage, since, internal = entry.dest, entry.at, 0
    took = None if since is None else max(now - since, timedelta(0))
    out.append(Stay(stage, since, None, took, None, internal))
    return out


def restore(machine: JourneyMachine, row: JourneyRow) -> Journey | str:
    """The journey of ``row`` on ``machine``, or why it cannot be restored."""
    try:
        return journey_from_row(machine, row, table="journeys")
    except JourneyError as err:
        return str(err)


@attrs.frozen
class Next:
    """One trigger allowed from the journey's stage and what it would do now."""

    trigger: str
    explanation: Explanation | None
    problem: str | None


def explain_trigger(
    machine: JourneyMachine, journey: Journey, trigger: str, payload: object, now: datetime
) -> Explanation | str:
    """``machine.explain`` at ``now``, or the guard error that stopped it, as text."""
    try:
        return machine.explain(journey, trigger, payload, at=now)
    except GuardError as err:
        return str(err)


def next_steps(machine: JourneyMachine, journey: Journey, now: datetime) -> list[Next]:
    """Every trigger allowed from the journey's stage, explained without a payload."""
    out = []
    for trigger in machine.allowed_triggers(journey):
        found = explain_trigger(machine, journey, trigger, None, now)
        if isinstance(found, str):
            out.append(Next(trigger, None, found))
        else:
            out.append(Next(trigger, found, None))
    return out


@attrs.frozen
class GoalRow:
    """One goal clock of the journey's current run, as the page lists it; ``late``: a
    pending clock whose deadline has passed (the next tick records the miss)."""

    name: str
    status: str
    since: datetime | None
    deadline: datetime | None
    at: datetime | None
    late: bool


def goal_rows(goals: Mapping[str, object] | None, now: datetime) -> list[GoalRow]:
    """The journey's goal clocks by goal name (an unreadable one as such)."""
    out = []
    for name, clock in sorted((goals or {}).items()):  # jsonb keeps no key order
        got = clock if isinstance(clock, Mapping) else {}
        status = str(got.get("status", "unreadable"))
        deadline = _when(got.get("deadline"))
        late = status == "pending" and deadline is not None and deadline < now
        out.append(
            GoalRow(
                str(name), status, _when(got.get("since")), deadline, _when(got.get("at")), late
            )
        )
    return out
