"""JourneyMachine: the semantics of a move.  Rule 1: how a journey moves is explained
here, once, and decided by ``fire`` in this file; the pieces it relies on live in small
modules (table below), most of them base classes of JourneyMachine.

Theory of operation
-------------------
A definition is compiled ONCE onto one shared ``transitions.Machine`` (see _engine.py).
Journeys are plain slotted records; nothing is attached to them (no ``add_model``).
``fire`` checks its arguments (_checks.py), hands the journey and a per-call
:class:`Context` to the engine event of the trigger; the engine tries the candidates for
(stage, trigger) in declaration order and runs the first whose guards all pass (DESIGN
Semantics 1).
Guards are wrapped so they return real bools, raise ``GuardError`` when faulty, and log
their results on the Context; they short-circuit (Semantics 2).  ``explain``,
``enabled_triggers`` and ``allowed_triggers`` (_explain.py) try the candidates the same
way and change nothing.

Order inside a move (Semantics 3), as wired onto the engine's callback lists (hooks are
registered in _hooks.py; _engine.py attaches their dispatchers):

    before hooks          machine.before_state_change
    exit hooks (source)   State.on_exit                  (not for internal transitions)
    stage set, history    State.enter step 1 / Transition.before[0] for internal ones
    enter hooks (dest)    State.on_enter                 (not for internal transitions)
    on_transition hooks   Transition.after
    after hooks           machine.after_state_change
    -- then the move is checked (stage and version as recorded; data JSON-shaped if
       anyone touched it), the event id remembered, and effects run or handed back --

Atomicity (Semantics 4).  The engine has no rollback, so ``fire`` keeps what it needs
to undo the move: stage, version, the history list and its length, the event-id window.
The data is saved lazily: once the guards passed, the first read of ``journey.data``
copies it (see _records.py), so a move whose hooks never touch the data copies nothing.
Whatever is raised from the moment the engine starts until the move is checked
(a hook's ``HookError``, ``KeyboardInterrupt``, a bug) restores all of it, the data in
place, and re-raises.  ``journey._move`` holds the Context while the journey is being
moved: a hook or guard that fires the same journey again is refused, and the outer
move is rolled back even if the hook swallowed that error.

Event ids are remembered only for moves; a blocked or ignored event leaves the journey
untouched, so its redelivery is judged again (Semantics 6).  Duplicate, ignored (or
``InvalidTransition`` under the strict policy) and blocked events are answered by
_unmoved.py, which also runs the ``on_blocked`` / ``on_ignored`` hooks.  Effects
(_effects.py) run after the move and never undo it; with ``defer_effects=True`` they are
handed back on the outcome for the host to run after its own commit (Semantics 12).
A stage timeout (_timeouts.py) is an ordinary ``fire`` of its trigger at its due time.

Where each piece lives:

    _runtime.py    JourneyMachine: construction, start, snapshot, restore, fire, rollback
    _checks.py     MachineChecks: argument checks; unknown trigger or stage, foreign
                   journey, re-entrant fire and tampered-move errors
    _explain.py    Explaining: explain, enabled_triggers, allowed_triggers
    _unmoved.py    UnmovedOutcomes: duplicate, ignored / strict, blocked outcomes
    _effects.py    EffectRunning: the effect calls of a move, run_effects
    _timeouts.py   TimeoutTicking: next_due, tick, _fire_timeout; when a timeout is due
    _hooks.py      HookRegistration: on_enter, ..., effect(); the hook registry
    _engine.py     the transitions adapter, with the hook dispatchers

The bases add no call layer to ``fire``: a method found on a base class is looked up as
fast as one defined on JourneyMachine (CPython caches attribute lookups per type), and
nothing in them imports this module; what they read, ``__init__`` sets.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from logging import INFO
from typing import Any

import attrs

from ._callables import refuse_async
from ._checks import check_machine_args, not_a_journey
from ._checks import unknown_stage as _unknown_stage
from ._clock import UTC, Clock, SystemClock, ensure_utc
from ._definition import JourneyDefinition, Policy
from ._effects import EffectRunning
from ._engine import compile_engine
from ._errors import HookError
from ._explain import Explaining
from ._goal_moves import GoalMoves
from ._goals import fresh_goals
from ._guards import Predicate
from ._hooks import HookFn, HookRegistration, HookRegistry
from ._json import check_json, copy_checked, restore_json
from ._logging import JourneyLog
from ._outcome import EffectReport, Outcome, candidates_from_log, moved_outcome
from ._packed import settle
from ._records import (
    _UNSAVED,
    Context,
    HistoryEntry,
    IdWindow,
    Journey,
    JSONDict,
    truncate_history,
)
from ._rules import REENTER, EntryRule, entry_refusal
from ._snapshot import (
    Allowed,
    AllowVersion,
    allowed_versions,
    restore_journey,
    snapshot_journey,
)
from ._timeouts import TimeoutTicking, stage_timeouts
from ._unmoved import UnmovedOutcomes

__all__ = ["JourneyMachine", "async_guards"]


# HookRegistration last: MachineChecks (a base of Explaining) provides the _check_stage and
# _check_trigger that HookRegistration only declares.
class JourneyMachine(
    Explaining, TimeoutTicking, GoalMoves, EffectRunning, UnmovedOutcomes, HookRegistration
):
    """Drives any number of journeys through one definition.

    >>> from journeyfsm import JourneyMachine, templates
    >>> machine = JourneyMachine(templates.aida())
    >>> journey = machine.start("customer-42")
    >>> machine.fire(journey, "engage").moved
    True
    >>> journey.stage
    'interest'
    >>> machine.allowed_triggers(journey)
    ('want', 'lose_interest')

    ``clock`` (default: the system clock) supplies ``now``; ``logger`` (a structlog logger
    or a stdlib ``logging.Logger``) is used as given, and without one the machine follows
    the host's logging configuration (see :attr:`logger`); ``event_id_window`` bounds how
    many recent event ids each journey keeps for idempotency; ``allow_version`` names the
    other versions of the definition whose snapshots :meth:`restore` loads (a version,
    several, or ``True`` for any; by default none: see :meth:`restore`).
    """

    def __init__(
        self,
        definition: JourneyDefinition,
        *,
        clock: Clock | None = None,
        logger: Any = None,
        event_id_window: int = 64,
        allow_version: AllowVersion = None,
    ) -> None:
        check_machine_args(definition, clock, event_id_window)
        self._allowed = allowed_versions(allow_version)
        if not self._accepts_async:
            refuse_async_guards(definition)
        self.definition = definition
        self.clock: Clock = clock if clock is not None else SystemClock()
        self.event_id_window = event_id_window
        self._name = definition.name
        self._log = JourneyLog(
            logger, definition=definition.name, definition_version=definition.version
        )
        self._hooks = HookRegistry(definition.stage_names, definition.triggers)
        self._table = {s: dict(row) for s, row in definition.table.items()}  # hot path: plain dicts
        self._engine = compile_engine(definition)
        self._timeouts = stage_timeouts(definition)
        self._events = self._engine.events
        #: the entry rule, compiled: None when no final stage can restart (fire's
        #: invalid path then pays nothing for it); else (rule, final stages, initial row)
        finals = frozenset(definition.final_stages) - {definition.initial_stage}
        # (an exit criterion's trigger never restarts a journey: it ends journeys)
        leaving = {e.trigger for e in definition.exits}
        starts = {
            t: c for t, c in self._table[definition.initial_stage].items() if t not in leaving
        }
        self._reentry: tuple[EntryRule, frozenset[str], dict[str, Any]] | None = (
            (definition.entry, finals, starts) if finals and starts else None
        )
        #: the definition's goals; with any, fire is GoalMoves._fire_goals around the
        #: plain fire (an instance attribute: a machine without goals keeps the method
        #: itself and pays nothing for them)
        self._goals = definition.goals
        self._core_fire = self.fire
        #: where fire logs a move (journey.moved, journey.reentered): the log itself, or,
        #: on a machine with goals, nothing: _fire_goals logs the move once everything the
        #: goals do after it has held (a failing goal exit undoes the move, unlogged)
        self._move_log: JourneyLog | _Unlogged = self._log
        if self._goals:
            self.fire = self._fire_goals  # type: ignore[method-assign]
            self._move_log = _UNLOGGED

    def _hooks_changed(self, kind: str, name: str | None, hooks: tuple[HookFn, ...]) -> None:
        """A hook was registered: the engine's dispatcher for that kind runs ``hooks`` now."""
        self._engine.set_hooks(kind, name, hooks)

    @property
    def logger(self) -> JourneyLog:
        """The machine's log: ``.debug/.info/.warning/.error(event, **fields)``, each event
        bound with the definition's name and version.

        Where events go is decided again whenever the host reconfigures logging: the
        injected ``logger=`` as given; else structlog's ``get_logger("journeyfsm")`` if
        the host configured structlog; else the stdlib ``logging.getLogger("journeyfsm")``
        at its level (an unconfigured host sees warnings and errors only).

        >>> from journeyfsm import JourneyMachine, templates
        >>> machine = JourneyMachine(templates.aida())
        >>> machine.logger is machine.logger
        True
        """
        return self._log

    # -- journeys ------------------------------------------------------------------
    def start(
        self, key: str, data: Mapping[str, Any] | None = None, *, at: datetime | None = None
    ) -> Journey:
        """A new journey in the initial stage, with a copy of ``data`` (a JSON-shaped dict).

        ``at`` (timezone-aware; default: the clock) is when it started and entered its
        first stage: the stage's timeouts count from then.

        >>> from journeyfsm import JourneyMachine, templates
        >>> machine = JourneyMachine(templates.aida())
        >>> machine.start("c-1", {"cart": []}).data
        {'cart': []}
        >>> machine.start("c-2", {"tags": {"vip"}})
        Traceback (most recent call last):
        ...
        journeyfsm._errors.DataError: data['tags']: set is not JSON-shaped; use a list (journey 'c-2')
        """
        if not isinstance(key, str) or not key:
            raise ValueError(f"journey key must be a non-empty str, got {key!r}")
        now = self._now(at, "start(at=...)")
        goals = fresh_goals(self._goals, now) if self._goals else None
        if data is None:
            return Journey(
                key,
                self.definition.initial_stage,
                definition=self._name,
                started_at=now,
                entered_at=now,
                goals=goals,
            )
        if not isinstance(data, Mapping):
            raise TypeError(
                f"journey data must be a JSON-shaped dict, got {type(data).__name__} "
                f"(journey {key!r})"
            )
        copy: JSONDict = copy_checked(dict(data), "data", key=key)
        return Journey(
            key,
            self.definition.initial_stage,
            copy,
            definition=self._name,
            started_at=now,
            entered_at=now,
            goals=goals,
        )

    def snapshot(self, journey: Journey, *, history: bool = True) -> dict[str, Any]:
        """A JSON-able dict of ``journey``; :meth:`restore` reads it back exactly.

        ``history=False`` leaves the history out (stores keep it apart); ``version``
        still numbers the next move correctly.
        """
        if not isinstance(journey, Journey):
            raise not_a_journey(journey, "snapshot")
        return snapshot_journey(self.definition, journey, history=history)

    def restore(
        self, snapshot: Mapping[str, Any], *, allow_version: AllowVersion = None
    ) -> Journey:
        """The journey a :meth:`snapshot` describes; ``SnapshotError`` names what is wrong.

        A snapshot made with another version of the definition is refused
        (``SnapshotVersionError``) unless that version is allowed: by ``allow_version``
        here (a version, several, or ``True``; it replaces the machine's own
        ``allow_version`` for this call), else by the machine's.  Allowed, it loads when
        every stage it mentions exists in this version.

        >>> from journeyfsm import JourneyMachine, templates
        >>> v1 = JourneyMachine(templates.aida())
        >>> v2 = JourneyMachine(templates.aida().builder().build(version=2))
        >>> snap = v1.snapshot(v1.start("c-1"))
        >>> v2.restore(snap)
        Traceback (most recent call last):
        ...
        journeyfsm._errors.SnapshotVersionError: snapshot of journey 'c-1' was made with version 1 of definition 'aida', and this machine runs version 2: ...
        >>> v2.restore(snap, allow_version=1).stage
        'attention'
        """
        return restore_journey(
            self.definition,
            snapshot,
            event_id_window=self.event_id_window,
            timeouts=self._timeouts,
            definition=self._name,
            allowed=self._allowed if allow_version is None else allowed_versions(allow_version),
        )

    @property
    def allowed_versions(self) -> Allowed:
        """The other definition versions whose snapshots :meth:`restore` loads: ``True``
        for any, else a frozenset (empty by default).

        >>> from journeyfsm import JourneyMachine, templates
        >>> JourneyMachine(templates.aida(), allow_version=[1, 2]).allowed_versions == {1, 2}
        True
        """
        return self._allowed

    # -- firing --------------------------------------------------------------------
    def fire(
        self,
        journey: Journey,
        trigger: str,
        payload: Any = None,
        *,
        at: datetime | None = None,
        event_id: str | None = None,
        meta: Mapping[str, Any] | None = None,
        policy: Policy | None = None,
        defer_effects: bool = False,
    ) -> Outcome:
        """Handle one event for one journey and say what happened.

        ``at`` (timezone-aware) overrides the clock; ``event_id`` makes redelivery a
        ``duplicate`` no-op; ``meta`` (small, JSON-shaped) is stored on the history entry;
        ``policy`` overrides the definition's policy for a trigger that is not valid
        from the current stage (``"ignore"`` -> ignored outcome, ``"strict"`` ->
        ``InvalidTransition``).  A raising guard -> ``GuardError``; a raising hook ->
        ``HookError``; anything raised during the move (``KeyboardInterrupt`` too) leaves
        the journey exactly as before.  ``defer_effects=True`` runs no effect: the
        outcome's ``pending_effects`` carry the calls, for :meth:`run_effects` after the
        host has saved the journey.

        >>> from journeyfsm import JourneyMachine, templates
        >>> machine = JourneyMachine(templates.aida())
        >>> journey = machine.start("c-1")
        >>> machine.fire(journey, "engage", event_id="evt-1").status
        'moved'
        >>> machine.fire(journey, "engage", event_id="evt-1").status
        'duplicate'
        """
        try:
            event = self._events.get(trigger)
        except TypeError:  # an unhashable trigger: refused as every non-str one is
            event = None
        if event is None:
            raise self._unknown(trigger, journey if type(journey) is Journey else None)
        if policy is not None and policy != "ignore" and policy != "strict":
            # refused on every call, not only when a trigger turns out invalid here
            raise ValueError(f"fire(policy=...) must be 'ignore' or 'strict', got {policy!r}")
        if (journey.__class__ is not Journey and not settle(journey)) or (
            journey.definition != self._name and journey.definition is not None
        ):
            raise self._not_mine(journey, "fire")
        if journey._move is not None:
            raise self._reentrant(journey, trigger)
        if event_id is not None:
            if event_id.__class__ is not str or not event_id:
                raise (TypeError if event_id.__class__ is not str else ValueError)(
                    f"event_id must be a non-empty str or None, got {event_id!r}"
                )
            seen = journey._ids  # a dict, or a restored journey's IdWindow (a set)
            if seen is not None and event_id in seen:
                return self._duplicate(journey, trigger, event_id)
        if at is None:
            now = self.clock.now()
            if now.__class__ is not datetime or now.tzinfo is not UTC:
                now = self._clock_time(now)
        else:
            now = ensure_utc(at, what="fire(at=...)")
        source = journey.stage
        row = self._table.get(source)
        if row is None:
            raise _unknown_stage(self.definition, journey)
        if meta is not None:
            meta = self._meta(meta, journey, trigger)
        cands = row.get(trigger)
        if not cands:
            reentry = self._reentry
            if reentry is not None and source in reentry[1] and trigger in reentry[2]:
                return self._reenter(
                    journey, trigger, payload, now, event_id, meta, policy, defer_effects
                )
            return self._invalid(journey, trigger, payload, now, event_id, meta, policy)
        ctx = Context(journey, trigger, payload, now, source, None, event_id, meta)
        version = journey.version
        history = journey._history
        n_history = len(history)
        ids = journey._ids
        stage_entry = (journey.entered_at, journey.entry_seq, journey.timeouts_fired)
        evicted: str | None = None
        try:  # marked inside the guard: an interrupt on any line leaves no mark behind
            journey._move = ctx
            moved = event.trigger(journey, ctx)
            if ctx._reentered:
                raise self._reentrant(journey, trigger, inside=True)
            if moved:
                entry = journey._history[-1]
                now_ids: Any = journey._ids
                if (
                    journey.stage != entry.dest
                    or journey.version != entry.seq
                    or (
                        now_ids is not ids
                        # a hook that read event_ids turned the window into its dict
                        and not (ids.__class__ is IdWindow and now_ids is ids.as_dict)
                    )
                ):
                    raise self._tampered(journey, entry)
                if ctx._saved_data is not _UNSAVED:  # a hook may have changed it
                    check_json(journey._data, "data", key=journey.key, trigger=trigger)
                if event_id is not None:  # remembered last: nothing can fail after it
                    if now_ids is None:
                        journey._ids = {event_id: None}
                    elif now_ids.__class__ is IdWindow:
                        order = now_ids.order
                        if len(order) >= self.event_id_window:
                            evicted = order[0]
                        now_ids.add(event_id)
                        order.append(event_id)
                        if evicted is not None:
                            del order[0]
                            now_ids.discard(evicted)
                    else:
                        if len(now_ids) >= self.event_id_window:
                            evicted = next(iter(now_ids))
                        now_ids[event_id] = None  # type: ignore[index]
                        if evicted is not None:
                            del now_ids[evicted]  # type: ignore[union-attr]
            else:  # every candidate was tried and failed: the log holds every result
                results = candidates_from_log(cands, ctx._guard_log)
        except BaseException as err:
            self._rollback(journey, ctx, source, version, history, n_history, ids, evicted)
            journey.entered_at, journey.entry_seq, journey.timeouts_fired = stage_entry
            if isinstance(err, HookError):
                self._log.info(
                    "journey.hook_failed",
                    key=journey.key,
                    trigger=trigger,
                    source=source,
                    dest=ctx._dest,
                    hook=err.hook,
                    event_id=event_id,
                )
            raise
        finally:
            journey._move = None
        if not moved:
            return self._blocked(ctx, cands, results)
        pending = self._effect_calls(ctx, entry) if self._hooks.any_effects else ()
        log = self._move_log
        if log.enabled(INFO):  # no fields built when the level is off
            log.info(
                "journey.moved",
                key=journey.key,
                trigger=trigger,
                source=source,
                dest=entry.dest,
                event_id=event_id,
            )
        effects: tuple[EffectReport, ...] = ()
        if pending and not defer_effects:
            effects, pending = self.run_effects(pending), ()
        return moved_outcome(
            journey.key, trigger, source, entry, event_id, effects, pending, cands, ctx._guard_log
        )

    def _reenter(
        self,
        journey: Journey,
        trigger: str,
        payload: Any,
        now: datetime,
        event_id: str | None,
        meta: Mapping[str, Any] | None,
        policy: Policy | None,
        defer_effects: bool,
    ) -> Outcome:
        """``trigger`` in a final stage, with candidates from the initial stage: restart
        the journey (a ``journeyfsm.reenter`` move, then the event's own move from the
        initial stage, both or neither) if the entry rule allows it (docs/rules.md)."""
        assert self._reentry is not None
        rule = self._reentry[0]
        final = journey.stage
        reason = entry_refusal(rule, journey, now)
        if reason is not None:
            return self._invalid(journey, trigger, payload, now, event_id, meta, policy, reason)
        initial = self.definition.initial_stage
        cands = self._reentry[2][trigger]
        # the initial stage's guards judge first: blocked, nothing runs and nothing is written
        results = self._evaluate_all(journey, trigger, payload, now, cands)
        if not any(r.passed for r in results):
            ctx = Context(journey, trigger, payload, now, final, None, event_id, meta)
            return self._blocked(ctx, cands, results)
        step = Context(journey, REENTER, None, now, final, initial, None, None)
        version = journey.version
        history = journey._history
        n_history = len(history)
        ids = journey._ids
        stage_entry = (journey.entered_at, journey.entry_seq, journey.timeouts_fired)
        try:
            reentry = self._run_step(journey, step, final, initial, event_id=event_id)
            outcome = self._core_fire(  # the goals see both steps, from the outer fire
                journey,
                trigger,
                payload,
                at=now,
                event_id=event_id,
                meta=meta,
                policy=policy,
                defer_effects=True,
            )
            if not outcome.moved:  # an enter hook of the initial stage changed the data
                raise _Undo(outcome)
        except BaseException as err:
            journey._move = None
            self._rollback(journey, step, final, version, history, n_history, ids, None)
            journey.entered_at, journey.entry_seq, journey.timeouts_fired = stage_entry
            if isinstance(err, _Undo):
                return attrs.evolve(err.outcome, source=final)
            raise
        finally:
            journey._move = None
        self._move_log.info(
            "journey.reentered", key=journey.key, trigger=trigger, source=final, event_id=event_id
        )
        pending = outcome.pending_effects
        if self._hooks.any_effects:
            pending = self._effect_calls(step, reentry) + pending
        effects: tuple[EffectReport, ...] = ()
        if pending and not defer_effects:
            effects, pending = self.run_effects(pending), ()
        return attrs.evolve(outcome, reentry=reentry, effects=effects, pending_effects=pending)

    def _run_step(
        self,
        journey: Journey,
        step: Context,
        source: str,
        dest: str,
        *,
        event_id: str | None = None,
        **why: Any,
    ) -> HistoryEntry:
        """Run a move the machine makes itself (a re-entry's restart, a goal's exit) as
        any move runs (DESIGN semantics 3): the machine-wide before hooks, the source's
        exit hooks, the stage set and recorded, the destination's enter hooks, the
        machine-wide after hooks; then the checks of a move.  Returns its history entry.
        A failing hook is logged as ``journey.hook_failed`` (with ``why``); whatever is
        raised, the caller undoes the journey."""
        trigger = step.trigger
        states = self._engine.states
        engine = self._engine.machine
        data = _StepData(step, journey)
        try:
            journey._move = step
            step._armed = True  # the data is saved before a hook can change it
            for callback in engine.before_state_change:
                callback(data)
            states[source].exit(data)
            journey.stage = dest
            states[dest].enter(data)  # records the step's entry
            for callback in engine.after_state_change:
                callback(data)
            if step._reentered:
                raise self._reentrant(journey, trigger, inside=True)
            entry = journey._history[-1]
            if journey.stage != dest or journey.version != entry.seq:
                raise self._tampered(journey, entry)
            if step._saved_data is not _UNSAVED:
                check_json(journey._data, "data", key=journey.key, trigger=trigger)
        except HookError as err:
            self._log.info(
                "journey.hook_failed",
                key=journey.key,
                trigger=trigger,
                source=source,
                dest=dest,
                hook=err.hook,
                event_id=event_id,
                **why,
            )
            raise
        finally:
            journey._move = None
        return entry

    def _rollback(
        self,
        journey: Journey,
        ctx: Context,
        stage: str,
        version: int,
        history: list[HistoryEntry],
        n_history: int,
        event_ids: dict[str, None] | IdWindow | None,
        evicted: str | None,
    ) -> None:
        """Put the journey back exactly as it was before the move began."""
        journey.stage = stage
        journey.version = version
        truncate_history(journey, history, n_history)
        if ctx._saved_data is not _UNSAVED:
            data = ctx._saved_ref
            assert type(data) is dict  # saved together with the contents
            # in place, all the way down: every dict and list a host holds sees its old
            # contents again, and is the journey's again
            restore_json(ctx._saved_data)
            journey._data = data
        event_id = ctx._event_id
        if event_id is not None and event_ids is not None:
            # the id went into the window fire found, or into the dict a hook's read of
            # event_ids made of it; undo it in both (each step below may or may not have
            # happened: it was not there before, else the event was a duplicate)
            if event_ids.__class__ is IdWindow:
                window: Any = event_ids
                _unremember_window(window, event_id, evicted)
                if window.as_dict is not None:
                    _unremember_dict(window.as_dict, event_id, evicted)
                    window.as_dict = None  # the journey holds the window again
            else:
                _unremember_dict(event_ids, event_id, evicted)  # type: ignore[arg-type]
        journey._ids = event_ids


class _StepData:
    """What the engine's stage exit/enter steps read of an EventData, for the re-entry
    step (which no engine transition makes)."""

    __slots__ = ("args", "model")

    def __init__(self, ctx: Context, journey: Journey) -> None:
        self.args = (ctx,)
        self.model = journey


class _Unlogged:
    """The move log of a machine with goals: logs nothing (see ``_move_log``)."""

    __slots__ = ()

    def enabled(self, level: int) -> bool:
        return False

    def info(self, event: str, **fields: Any) -> None:
        pass


_UNLOGGED = _Unlogged()


class _Undo(Exception):
    def __init__(self, outcome: Outcome) -> None:
        super().__init__()
        self.outcome = outcome


def async_guards(definition: JourneyDefinition) -> list[Predicate]:
    """The ``async def`` guards of ``definition``, each once, in declaration order."""
    out: dict[int, Predicate] = {}
    for row in definition.table.values():
        for cands in row.values():
            for t in cands:
                for g in t.guards:
                    for leaf in g.leaves():
                        if leaf.is_async:
                            out.setdefault(id(leaf), leaf)
    return list(out.values())


def refuse_async_guards(definition: JourneyDefinition) -> None:
    """A sync machine cannot await: refuse a definition with an async guard, naming it."""
    for leaf in async_guards(definition):
        refuse_async(leaf.fn, "guard", leaf.name)


def _unremember_dict(ids: dict[str, None], event_id: str, evicted: str | None) -> None:
    ids.pop(event_id, None)
    if evicted is not None and evicted not in ids:
        restored = {evicted: None, **ids}  # the oldest id goes back in front
        ids.clear()
        ids.update(restored)


def _unremember_window(window: IdWindow, event_id: str, evicted: str | None) -> None:
    order = window.order
    if order and order[-1] == event_id:
        del order[-1]
    window.discard(event_id)
    if evicted is not None and (not order or order[0] != evicted):
        order.insert(0, evicted)  # the oldest id goes back in front
        window.add(evicted)
