"""GoalMoves: JourneyMachine's ``fire`` for a definition with goals, and the goal steps
of ``tick``.  The rules are _goals.py's theory of operation; this is how a move keeps them
atomic.

``JourneyMachine.__init__`` puts :meth:`GoalMoves._fire_goals` in place of ``fire`` on a
machine whose definition has goals (an instance attribute, so a machine without goals
keeps the plain method and pays nothing).  It records the misses due before the event,
hands the event to the machine's own ``fire`` (with effects deferred), then records what
the move met.  Everything it did is undone if anything is raised, the event's move too
(stage, data in place, history, version, event ids, stage clock, goal state).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from logging import INFO
from typing import TYPE_CHECKING, Any

import attrs

from ._goals import (
    GOAL,
    Goal,
    GoalMiss,
    check_goal_state,
    goal_meta,
    goals_after_move,
    next_goal_due,
    record_goal,
)
from ._json import copy_json
from ._logging import JourneyLog
from ._outcome import EffectReport, Outcome
from ._packed import settle
from ._records import Context, HistoryEntry, IdWindow, Journey, truncate_history
from ._rules import REENTER
from ._timeouts import DueTimeout, due_timeout

if TYPE_CHECKING:
    from ._definition import JourneyDefinition
    from ._outcome import EffectCall

__all__ = ["GoalMoves"]


class GoalMoves:
    """The goal side of JourneyMachine (a base class; ``__init__`` sets what it reads)."""

    definition: JourneyDefinition
    _goals: tuple[Goal, ...]
    _core_fire: Callable[..., Outcome]
    _name: str
    _events: Mapping[str, Any]
    _timeouts: Mapping[str, tuple[Any, ...]]
    _engine: Any
    _hooks: Any
    _now: Callable[[datetime | None, str], datetime]
    _effect_calls: Callable[[Context, HistoryEntry], tuple[EffectCall, ...]]
    run_effects: Callable[..., tuple[EffectReport, ...]]
    _check_journey: Callable[[Any, str], None]
    _reentrant: Callable[..., Exception]
    _run_step: Callable[..., HistoryEntry]
    _log: JourneyLog

    def _fire_goals(
        self,
        journey: Journey,
        trigger: str,
        payload: Any = None,
        *,
        at: datetime | None = None,
        event_id: str | None = None,
        meta: Mapping[str, Any] | None = None,
        policy: Any = None,
        defer_effects: bool = False,
    ) -> Outcome:
        """``fire`` with the definition's goals (docs/rules.md, "Goals")."""
        core = self._core_fire
        plain = journey.__class__ is Journey or settle(journey)  # a lazy one: materialized
        ids: Any = journey._ids if plain else None
        if (
            not isinstance(trigger, str)  # (an unhashable one is not looked up)
            or trigger not in self._events
            or not plain
            or journey._move is not None
            or journey.definition not in (None, self._name)
            or (event_id.__class__ is str and ids is not None and event_id in ids)
        ):  # an error or a duplicate: fire answers it, nothing is recorded
            return core(
                journey,
                trigger,
                payload,
                at=at,
                event_id=event_id,
                meta=meta,
                policy=policy,
                defer_effects=defer_effects,
            )
        check_goal_state(self._goals, journey)
        now = self._now(at, "fire(at=...)")
        saved = _Saved(journey)
        written: list[HistoryEntry] = []
        pending: tuple[EffectCall, ...] = ()
        try:
            written.extend(self._record_misses(journey, before=now))
            n = len(journey._history)
            outcome = core(
                journey,
                trigger,
                payload,
                at=now,
                event_id=event_id,
                meta=meta,
                policy=policy,
                defer_effects=True,
            )
            pending = outcome.pending_effects
            if outcome.moved:
                met = goals_after_move(self._goals, journey, journey._history[n:], REENTER)
                i = 0
                while i < len(met):  # (grows when a goal's exit meets a goal on its stage)
                    goal = met[i]
                    i += 1
                    if goal.exit is not None and not self._is_final(journey.stage):
                        entry, calls = self._exit_for(journey, goal, now)
                        pending += calls
                        # the exit entered its stage: a goal on that stage is met by it
                        more = goals_after_move(self._goals, journey, [entry], REENTER)
                        met.extend(g for g in more if g not in met)
                    else:
                        entry = record_goal(journey, goal, "met", now)
                    written.append(entry)
        except BaseException:
            saved.restore(journey)
            raise
        if outcome.status == "moved":  # fire left the move's log to this call (see _move_log)
            self._log_move(outcome, event_id)
        if written:
            outcome = attrs.evolve(outcome, goals=tuple(written))
            self._log_goals(journey, written)
        effects: tuple[EffectReport, ...] = ()
        if pending and not defer_effects:
            effects, pending = self.run_effects(pending), ()
        if effects or pending is not outcome.pending_effects:
            outcome = attrs.evolve(outcome, effects=effects, pending_effects=pending)
        return outcome

    def _log_move(self, outcome: Outcome, event_id: str | None) -> None:
        """The log lines fire writes for a move, written once the whole call has held:
        ``journey.moved``, then ``journey.reentered`` for a restart (fire's order)."""
        log = self._log
        if log.enabled(INFO):
            entry = outcome.entry
            assert entry is not None
            log.info(
                "journey.moved",
                key=outcome.key,
                trigger=outcome.trigger,
                source=outcome.source,
                dest=entry.dest,
                event_id=event_id,
            )
            if outcome.reentry is not None:
                log.info(
                    "journey.reentered",
                    key=outcome.key,
                    trigger=outcome.trigger,
                    source=outcome.reentry.source,
                    event_id=event_id,
                )

    def _log_goals(self, journey: Journey, entries: list[HistoryEntry]) -> None:
        log = self._log
        if log.enabled(INFO):
            for e in entries:
                meta = e.meta or {}
                log.info(
                    "journey.goal",
                    key=journey.key,
                    goal=meta.get("goal"),
                    status=meta.get("status"),
                    stage=e.dest,
                    at=e.at.isoformat(),
                )

    def _is_final(self, stage: str) -> bool:
        return self.definition.stage(stage).final

    def _record_misses(self, journey: Journey, *, before: datetime) -> list[HistoryEntry]:
        """Record every pending goal whose deadline lies before ``before`` as missed."""
        out: list[HistoryEntry] = []
        while True:
            miss = next_goal_due(self._goals, journey)
            if miss is None or not miss.deadline < before:
                return out
            out.append(record_goal(journey, miss.goal, "missed", miss.deadline))

    def _exit_for(
        self, journey: Journey, goal: Goal, now: datetime
    ) -> tuple[HistoryEntry, tuple[EffectCall, ...]]:
        """Goal ``goal`` is met and has an exit: its met entry is the move to the exit
        stage, run as any move is (DESIGN semantics 3): the machine-wide before hooks, the
        source's exit hooks, the stage set and recorded, the exit stage's enter hooks, the
        machine-wide after hooks.  A failing hook is logged as ``journey.hook_failed``
        (trigger ``journeyfsm.goal``); the caller undoes the whole call if raised."""
        assert goal.exit is not None
        source, dest = journey.stage, goal.exit
        state = dict(journey.goals or {})
        clock = state[goal.name]
        state[goal.name] = attrs.evolve(clock, status="met", at=now)
        journey.goals = state
        meta = goal_meta(goal.name, "met", clock.since)
        step = Context(journey, GOAL, None, now, source, dest, None, meta)
        entry = self._run_step(journey, step, source, dest, goal=goal.name)
        calls = self._effect_calls(step, entry) if self._hooks.any_effects else ()
        return entry, calls

    # -- tick -------------------------------------------------------------------------
    def _due_step(self, journey: Journey, until: datetime) -> DueTimeout | GoalMiss | None:
        """What is due first at ``until``: the next stage timeout, or a goal miss (one
        whose deadline lies before ``until`` and before the timeout's due time)."""
        due = due_timeout(self._name, self._timeouts, journey)
        if self._goals:
            miss = next_goal_due(self._goals, journey)
            if (
                miss is not None
                and miss.deadline < until
                and (due is None or miss.deadline < due.at)
            ):
                return miss
        if due is None or due.at > until:
            return None
        return due

    def _record_miss(self, journey: Journey, miss: GoalMiss) -> Outcome:
        """One goal-miss step of a tick: the missed entry and its outcome (an internal
        move of the reserved trigger)."""
        saved = _Saved(journey)
        try:
            entry = record_goal(journey, miss.goal, "missed", miss.deadline)
        except BaseException:
            saved.restore(journey)
            raise
        self._log_goals(journey, [entry])
        return Outcome("moved", journey.key, GOAL, entry.source, entry.dest, entry, goals=(entry,))

    def pending_goals(self, journey: Journey) -> dict[str, datetime]:
        """The goals whose clocks run for ``journey``, each with its deadline.

        >>> from datetime import datetime, timedelta, timezone
        >>> from journeyfsm import Goal, JourneyBuilder, JourneyMachine
        >>> d = (JourneyBuilder("trial").stage("trial", initial=True).stage("paid", final=True)
        ...      .transition("pay", "trial", "paid")
        ...      .goal(Goal("converted", stage="paid", within=timedelta(days=7))).build())
        >>> machine = JourneyMachine(d)
        >>> j = machine.start("c-1", at=datetime(2026, 1, 1, tzinfo=timezone.utc))
        >>> machine.pending_goals(j)
        {'converted': datetime.datetime(2026, 1, 8, 0, 0, tzinfo=datetime.timezone.utc)}
        """
        self._check_journey(journey, "pending_goals")
        check_goal_state(self._goals, journey)
        state = journey.goals or {}
        return {
            g.name: state[g.name].deadline
            for g in self._goals
            if g.name in state and state[g.name].status == "pending"
        }


class _Saved:
    """Everything a goal-tracked call may change on a journey, to put it back."""

    __slots__ = (
        "data",
        "data_copy",
        "entered_at",
        "entry_seq",
        "fired",
        "goals",
        "history",
        "ids",
        "ids_copy",
        "n",
        "stage",
        "version",
    )

    def __init__(self, journey: Journey) -> None:
        self.stage = journey.stage
        self.version = journey.version
        self.history = journey._history
        self.n = len(journey._history)
        self.goals = journey.goals
        self.entered_at = journey.entered_at
        self.entry_seq = journey.entry_seq
        self.fired = journey.timeouts_fired
        self.data = journey._data
        # a copy of the data on every call: the event's move is undone too when what the
        # goals do after it raises (a definition without goals never gets here)
        self.data_copy = copy_json(journey._data) if type(journey._data) is dict else None
        ids: Any = journey._ids
        self.ids = ids
        self.ids_copy = (
            None if ids is None else list(ids.order) if ids.__class__ is IdWindow else list(ids)
        )

    def restore(self, journey: Journey) -> None:
        journey.stage = self.stage
        journey.version = self.version
        truncate_history(journey, self.history, self.n)
        journey.goals = self.goals
        journey.entered_at, journey.entry_seq = self.entered_at, self.entry_seq
        journey.timeouts_fired = self.fired
        data = self.data
        if self.data_copy is not None and type(data) is dict:
            data.clear()  # in place: a reference the host holds sees the old data again
            data.update(self.data_copy)
        journey._data = data
        ids: Any = self.ids
        if ids is not None and self.ids_copy is not None:
            if ids.__class__ is IdWindow:
                ids.clear()
                ids.update(self.ids_copy)
                ids.order[:] = self.ids_copy
                ids.as_dict = None
            else:
                ids.clear()
                ids.update(dict.fromkeys(self.ids_copy))
        journey._ids = ids
