"""JourneyMachine: the semantics of a move.  Rule 1: everything that decides how a
journey moves lives in this file.

Theory of operation
-------------------
A definition is compiled ONCE onto one shared ``transitions.Machine`` (see _engine.py).
Journeys are plain slotted records; nothing is attached to them (no ``add_model``).
``fire`` checks its arguments, hands the journey and a per-call :class:`Context` to the
engine event of the trigger; the engine tries the candidates for (stage, trigger) in
declaration order and runs the first whose guards all pass (DESIGN Semantics 1).
Guards are wrapped so they return real bools, raise ``GuardError`` when faulty, and log
their results on the Context; they short-circuit (Semantics 2).

Order inside a move (Semantics 3), as wired onto the engine's callback lists:

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
untouched, so its redelivery is judged again (Semantics 6).  Effects run after the move
and never undo it; with ``defer_effects=True`` they are handed back on the outcome for
the host to run after its own commit (Semantics 12).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, Literal, cast

from ._clock import UTC, Clock, SystemClock, ensure_utc
from ._definition import JourneyDefinition, Policy, Transition
from ._engine import compile_engine
from ._errors import (
    ForeignJourney,
    GuardError,
    HookError,
    InvalidTransition,
    JourneyError,
    SnapshotError,
    UnknownTrigger,
    close_matches,
)
from ._guards import evaluate_guards
from ._hooks import HookFn, HookRegistration, HookRegistry, hook_failed
from ._json import check_json, copy_checked, frozen_json
from ._logging import JourneyLog
from ._outcome import (
    CandidateResult,
    EffectCall,
    EffectReport,
    Explanation,
    Outcome,
    idempotency_key,
)
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
from ._snapshot import restore_journey, snapshot_journey
from ._timeouts import DueTimeout, due_timeout, stage_timeouts

__all__ = ["JourneyMachine"]


class JourneyMachine(HookRegistration):
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
    many recent event ids each journey keeps for idempotency.
    """

    def __init__(
        self,
        definition: JourneyDefinition,
        *,
        clock: Clock | None = None,
        logger: Any = None,
        event_id_window: int = 64,
    ) -> None:
        if not isinstance(definition, JourneyDefinition):
            raise TypeError(
                f"JourneyMachine takes a JourneyDefinition, got {type(definition).__name__}; "
                "build one with JourneyBuilder(...).build() or JourneyDefinition.from_dict(...)"
            )
        if clock is not None and (
            isinstance(clock, type) or not callable(getattr(clock, "now", None))
        ):
            raise TypeError(
                f"clock must have a now() method returning a timezone-aware datetime, got "
                f"{clock!r}; use SystemClock(), ManualClock(...) or your own Clock"
            )
        if type(event_id_window) is not int:  # bool is an int: refuse it too
            raise TypeError(
                f"event_id_window must be an int >= 1 (how many recent event ids each "
                f"journey remembers), got {type(event_id_window).__name__} {event_id_window!r}"
            )
        if event_id_window < 1:
            raise ValueError(
                f"event_id_window must be an int >= 1 (how many recent event ids each "
                f"journey remembers), got {event_id_window!r}"
            )
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

    def _hooks_changed(self, kind: str, name: str | None, hooks: tuple[HookFn, ...]) -> None:
        """A hook was registered: the engine's dispatcher for that kind runs ``hooks`` now."""
        self._engine.set_hooks(kind, name, hooks)

    def _check_stage(self, stage: str, what: str) -> None:
        if not self.definition.has_stage(stage):
            close = close_matches(stage, self.definition.stage_names)
            hint = (
                f"did you mean {', '.join(map(repr, close))}?"
                if close
                else (f"stages: {', '.join(self.definition.stage_names)}")
            )
            raise KeyError(
                f"{what}: definition {self.definition.name!r} has no stage {stage!r}; {hint}"
            )

    def _check_trigger(self, trigger: str, what: str) -> None:
        if not isinstance(trigger, str) or trigger not in self._events:
            raise self._unknown(trigger, None)

    def _unknown(self, trigger: str, journey: Journey | None) -> UnknownTrigger:
        known = self.definition.triggers
        if not isinstance(trigger, str):
            raise TypeError(
                f"trigger must be a str naming one of {', '.join(known)}, got {trigger!r}"
            )
        return UnknownTrigger(
            trigger,
            definition=self.definition.name,
            known=known,
            suggestions=close_matches(trigger, known),
            key=journey.key if journey is not None else None,
            stage=journey.stage if journey is not None else None,
        )

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
        now = self._now(at)
        if data is None:
            return Journey(
                key,
                self.definition.initial_stage,
                definition=self._name,
                started_at=now,
                entered_at=now,
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
        )

    def snapshot(self, journey: Journey, *, history: bool = True) -> dict[str, Any]:
        """A JSON-able dict of ``journey``; :meth:`restore` reads it back exactly.

        ``history=False`` leaves the history out (stores keep it apart); ``version``
        still numbers the next move correctly.
        """
        return snapshot_journey(self.definition, journey, history=history)

    def restore(self, snapshot: Mapping[str, Any]) -> Journey:
        """The journey a :meth:`snapshot` describes; ``SnapshotError`` names what is wrong."""
        journey = restore_journey(
            self.definition,
            snapshot,
            event_id_window=self.event_id_window,
            timeouts=self._timeouts,
        )
        journey.definition = self._name
        return journey

    def allowed_triggers(self, journey: Journey) -> tuple[str, ...]:
        """Triggers that have a transition from the journey's stage (guards not run)."""
        self._check_journey(journey)
        return tuple(self._table.get(journey.stage, ()))

    def enabled_triggers(
        self, journey: Journey, payload: Any = None, *, at: datetime | None = None
    ) -> tuple[str, ...]:
        """Triggers that would move the journey now with ``payload`` (guards run).

        A guard that expects another payload type counts as not passing here.
        """
        self._check_journey(journey)
        now = self._now(at)
        out = []
        for trigger, cands in self._table.get(journey.stage, {}).items():
            for t in cands:  # as fire: in order, up to the first candidate that passes
                ctx = Context(journey, trigger, payload, now, journey.stage, t.dest)
                try:
                    passed, _ = evaluate_guards(t.guards, ctx)
                except GuardError as err:
                    if err.reason != "payload_type":
                        raise
                    continue
                if passed:
                    out.append(trigger)
                    break
        return tuple(out)

    def _now(self, at: datetime | None) -> datetime:
        if at is None:
            now = self.clock.now()
            if now.__class__ is datetime and now.tzinfo is UTC:
                return now
            return self._clock_time(now)
        return ensure_utc(at, what="at=")

    def _clock_time(self, now: Any) -> datetime:
        """The clock's answer checked: aware and UTC (other zones converted)."""
        return ensure_utc(now, what=f"the time from clock {self.clock!r}")

    # -- explaining ----------------------------------------------------------------
    def explain(
        self, journey: Journey, trigger: str, payload: Any = None, *, at: datetime | None = None
    ) -> Explanation:
        """Every candidate and every guard result for ``trigger`` now; changes nothing.

        >>> from journeyfsm import JourneyMachine, templates
        >>> m = JourneyMachine(templates.aida())
        >>> m.explain(m.start("k"), "engage").status
        'would_move'
        """
        self._check_journey(journey)
        if not isinstance(trigger, str) or trigger not in self._events:
            raise self._unknown(trigger, journey)
        stage = journey.stage
        cands = self._table.get(stage, {}).get(trigger, ())
        results = self._evaluate_all(journey, trigger, payload, self._now(at), cands)
        status: Literal["would_move", "blocked", "ignored"] = (
            "ignored"
            if not cands
            else "would_move"
            if any(c.passed for c in results)
            else "blocked"
        )
        return Explanation(
            journey.key,
            stage,
            trigger,
            status,
            results,
            self.allowed_triggers(journey),
        )

    def _evaluate_all(
        self,
        journey: Journey,
        trigger: str,
        payload: Any,
        now: datetime,
        cands: Iterable[Transition],
    ) -> tuple[CandidateResult, ...]:
        # every candidate on its own, each as fire evaluates it (Semantics 2)
        out = []
        for t in cands:
            ctx = Context(journey, trigger, payload, now, journey.stage, t.dest)
            passed, results = evaluate_guards(t.guards, ctx)
            out.append(CandidateResult(t, passed, results))
        return tuple(out)

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
        event = self._events.get(trigger)
        if event is None:
            raise self._unknown(trigger, journey if type(journey) is Journey else None)
        if (journey.__class__ is not Journey and not settle(journey)) or (
            journey.definition != self._name and journey.definition is not None
        ):
            raise self._not_mine(journey)
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
            return self._invalid(journey, trigger, payload, now, event_id, meta, policy)
        ctx = Context(journey, trigger, payload, now, source, None, event_id, meta)
        version = journey.version
        history = journey._history
        n_history = len(history)
        ids = journey._ids
        stage_entry = (journey.entered_at, journey.entry_seq, journey.timeouts_fired)
        evicted: str | None = None
        journey._move = ctx
        try:
            moved = event.trigger(journey, ctx)
            if ctx._reentered:
                raise self._reentrant(journey, trigger, inside=True)
            if moved:
                entry = journey._history[-1]
                now_ids: Any = cast(Any, journey._ids)
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
            else:
                results = self._evaluate_all(journey, trigger, payload, now, cands)
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
        self._log.info(
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
        return Outcome(
            "moved",
            journey.key,
            trigger,
            source,
            entry.dest,
            entry,
            event_id,
            effects,
            pending,
            cands,
            ctx.guard_log,
        )

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
            assert type(data) is dict  # saved together with the copy
            data.clear()  # in place: a reference the host holds sees the old data again
            data.update(ctx._saved_data)
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

    def _meta(self, meta: Any, journey: Journey, trigger: str) -> Any:
        if not isinstance(meta, Mapping):
            raise TypeError(
                f"meta must be a JSON-shaped dict (stored on the history entry), got "
                f"{type(meta).__name__} (journey {journey.key!r}, trigger {trigger!r})"
            )
        return frozen_json(copy_checked(dict(meta), "meta", key=journey.key, trigger=trigger))

    def _check_journey(self, journey: Any) -> None:
        """The read-only methods take the same journeys ``fire`` does."""
        if (journey.__class__ is not Journey and not settle(journey)) or (
            journey.definition != self._name and journey.definition is not None
        ):
            raise self._not_mine(journey)
        if journey.stage not in self._table:
            raise _unknown_stage(self.definition, journey)

    def _not_mine(self, journey: Any) -> Exception:
        if not isinstance(journey, Journey):
            return TypeError(
                f"fire() takes a Journey made by JourneyMachine.start or .restore, got "
                f"{type(journey).__name__}"
            )
        return ForeignJourney(
            f"journey {journey.key!r} belongs to definition {journey.definition!r}, not "
            f"{self._name!r}; fire it with a machine of its own definition (or restore "
            f"its snapshot with this machine to carry it over)",
            key=journey.key,
            stage=journey.stage,
        )

    def _reentrant(self, journey: Journey, trigger: Any, *, inside: bool = False) -> JourneyError:
        ctx = journey._move
        if ctx is not None and not inside:
            ctx._reentered = True
        what = ctx._trigger if ctx is not None else trigger
        return JourneyError(
            f"re-entrant fire: journey {journey.key!r} is in the middle of a move "
            f"({what!r} from {journey.stage!r}) and cannot be fired again ({trigger!r}) from "
            "one of its own guards or hooks, nor by another thread at the same time; the "
            "outer move is rolled back. Fire follow-up events after fire() returns (an "
            "effect, or the caller), or fire other journeys",
            key=journey.key,
            stage=journey.stage,
            trigger=str(trigger),
        )

    def _tampered(self, journey: Journey, entry: HistoryEntry) -> JourneyError:
        return JourneyError(
            f"a hook changed journey {journey.key!r}'s stage, version or event ids during the "
            f"move ({entry.trigger!r} {entry.source!r} -> {entry.dest!r}): fire() records "
            "them; the move was rolled back. Change journey.data only",
            key=journey.key,
            stage=entry.source,
            trigger=entry.trigger,
        )

    def _duplicate(self, journey: Journey, trigger: str, event_id: str) -> Outcome:
        self._log.info(
            "journey.duplicate",
            key=journey.key,
            trigger=trigger,
            source=journey.stage,
            event_id=event_id,
        )
        return Outcome("duplicate", journey.key, trigger, journey.stage, None, None, event_id)

    def _invalid(
        self,
        journey: Journey,
        trigger: str,
        payload: Any,
        now: datetime,
        event_id: str | None,
        meta: Mapping[str, Any] | None,
        policy: Policy | None,
    ) -> Outcome:
        chosen = policy if policy is not None else self.definition.policy
        if chosen not in ("ignore", "strict"):
            raise ValueError(f"policy must be 'ignore' or 'strict', got {chosen!r}")
        if chosen == "strict":
            raise InvalidTransition(
                key=journey.key,
                stage=journey.stage,
                trigger=trigger,
                allowed=self.allowed_triggers(journey),
            )
        outcome = Outcome("ignored", journey.key, trigger, journey.stage, None, None, event_id)
        self._log.debug(
            "journey.ignored",
            key=journey.key,
            trigger=trigger,
            source=journey.stage,
            event_id=event_id,
        )
        if self._hooks.ignored:
            ctx = Context(journey, trigger, payload, now, journey.stage, None, event_id, meta)
            _run_outcome_hooks("on_ignored", self._hooks.ignored, ctx, outcome)
        return outcome

    def _blocked(
        self,
        ctx: Context,
        cands: tuple[Transition, ...],
        results: tuple[CandidateResult, ...],
    ) -> Outcome:
        journey = ctx.journey
        outcome = Outcome(
            "blocked",
            journey.key,
            ctx.trigger,
            ctx.source,
            None,
            None,
            ctx.event_id,
            (),
            (),
            cands,
            results,
        )
        self._log.info(
            "journey.blocked",
            key=journey.key,
            trigger=ctx.trigger,
            source=ctx.source,
            guards=list(outcome.failed_guards),
            event_id=ctx.event_id,
        )
        if self._hooks.blocked:
            _run_outcome_hooks("on_blocked", self._hooks.blocked, ctx, outcome)
        return outcome

    # -- timeouts ------------------------------------------------------------------
    def next_due(self, journey: Journey) -> DueTimeout | None:
        """The journey's next stage timeout (due now or later), or ``None``.

        >>> from datetime import datetime, timedelta, timezone
        >>> from journeyfsm import JourneyBuilder, JourneyMachine, Timeout
        >>> d = (JourneyBuilder("cart").stage("cart", initial=True).stage("abandoned", final=True)
        ...      .transition("abandon", "cart", "abandoned")
        ...      .timeout("cart", timedelta(hours=24), "abandon").build())
        >>> machine = JourneyMachine(d)
        >>> t0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
        >>> due = machine.next_due(machine.start("c-1", at=t0))
        >>> due.at - t0, due.timeout.trigger
        (datetime.timedelta(days=1), 'abandon')
        """
        self._check_journey(journey)
        return due_timeout(self._name, self._timeouts, journey)

    def tick(self, journey: Journey, now: datetime | None = None) -> tuple[Outcome, ...]:
        """Fire every timeout due at ``now`` (default: the clock), in order; the outcomes.

        Each fires as its trigger ``at`` its own due time with a deterministic event id
        (firing it again is a ``duplicate``); a move that enters a stage starts that
        stage's timeouts, so a late tick catches up across stages exactly.  This is also
        "advance this journey to time T": ``tick(journey, T)``.

        >>> from datetime import datetime, timedelta, timezone
        >>> from journeyfsm import JourneyBuilder, JourneyMachine
        >>> d = (JourneyBuilder("cart").stage("cart", initial=True).stage("abandoned", final=True)
        ...      .transition("abandon", "cart", "abandoned")
        ...      .timeout("cart", timedelta(hours=24), "abandon").build())
        >>> machine = JourneyMachine(d)
        >>> t0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
        >>> journey = machine.start("c-1", at=t0)
        >>> machine.tick(journey, t0 + timedelta(hours=23))
        ()
        >>> [o.dest for o in machine.tick(journey, t0 + timedelta(hours=24))]
        ['abandoned']
        >>> journey.history[-1].at - t0
        datetime.timedelta(days=1)
        """
        self._check_journey(journey)
        until = self._now(now)
        outcomes: list[Outcome] = []
        while True:
            due = due_timeout(self._name, self._timeouts, journey)
            if due is None or due.at > until:
                return tuple(outcomes)
            outcomes.append(self._fire_timeout(journey, due))

    def _fire_timeout(
        self, journey: Journey, due: DueTimeout, *, defer_effects: bool = False
    ) -> Outcome:
        """One step of :meth:`tick` (and of the service's tick): fire ``due`` as its trigger,
        at its due time, with its event id; whatever the outcome, it has fired."""
        entry_seq = journey.entry_seq
        outcome = self.fire(
            journey,
            due.timeout.trigger,
            None,
            at=due.at,
            event_id=due.event_id,
            meta={"timeout": due.timeout.after.total_seconds()},
            policy="ignore",
            defer_effects=defer_effects,
        )
        if journey.entry_seq == entry_seq:  # still the same stage entry: next timeout
            journey.timeouts_fired = due.index + 1
        return outcome

    # -- effects -------------------------------------------------------------------
    def _effect_calls(self, ctx: Context, entry: HistoryEntry) -> tuple[EffectCall, ...]:
        """The effects this move schedules, in order: enter effects, then trigger ones."""
        hooks = self._hooks
        todo = hooks.effects_transition.get(ctx._trigger, ())
        if ctx._dest is not None:
            todo = hooks.effects_enter.get(entry.dest, ()) + todo
        if not todo:
            return ()
        journey = ctx._journey
        data = frozen_json(journey._data)  # one read-only copy for all of them
        return tuple(
            EffectCall(
                eff.name,
                idempotency_key(self._name, journey.key, entry.seq, eff.name),
                journey.key,
                entry.trigger,
                entry.source,
                entry.dest,
                entry.seq,
                entry.at,
                ctx._payload,
                entry.event_id,
                entry.meta,
                self._name,
                data,
            )
            for eff in todo
        )

    def run_effects(self, calls: Iterable[EffectCall]) -> tuple[EffectReport, ...]:
        """Run effect calls (``Outcome.pending_effects`` of a deferred fire), in order.

        Each call runs the effect registered under its name on this machine; one that
        raises is logged (with its traceback) and reported, and the others still run.
        Run them after the journey is saved: an effect for a move that was never saved
        would tell the customer something that did not happen.

        >>> from journeyfsm import JourneyMachine, templates
        >>> machine = JourneyMachine(templates.aida())
        >>> @machine.effect(on_enter="interest")
        ... def welcome(call):
        ...     print("welcome", call.key)
        >>> journey = machine.start("c-1")
        >>> outcome = machine.fire(journey, "engage", defer_effects=True)
        >>> # ... save the journey in the host's transaction, commit, then:
        >>> [r.ok for r in machine.run_effects(outcome.pending_effects)]
        welcome c-1
        [True]
        """
        registry = self._hooks.effects
        reports = []
        for call in calls:
            if not isinstance(call, EffectCall):
                raise TypeError(f"run_effects() takes EffectCall objects, got {call!r}")
            eff = registry.get(call.effect)
            if eff is None or (call.definition and call.definition != self._name):
                raise LookupError(
                    f"no effect named {call.effect!r} is registered on this machine for "
                    f"definition {self._name!r} (call for journey {call.key!r}, definition "
                    f"{call.definition!r}); register it with machine.effect(..., "
                    f"name={call.effect!r})"
                )
            try:
                eff.fn(call)
            except Exception as err:
                self._log.error(
                    "outbox.effect_failed",
                    key=call.key,
                    effect=call.effect,
                    idempotency_key=call.idempotency_key,
                    trigger=call.trigger,
                    error=f"{type(err).__name__}: {err}",
                    exc_info=err,
                )
                reports.append(
                    EffectReport(
                        call.effect, call.idempotency_key, False, f"{type(err).__name__}: {err}"
                    )
                )
            else:
                reports.append(EffectReport(call.effect, call.idempotency_key, True))
        return tuple(reports)


def _unknown_stage(d: JourneyDefinition, journey: Journey) -> Exception:
    return SnapshotError(
        f"journey {journey.key!r} is in stage {journey.stage!r}, which definition {d.name!r} "
        f"does not have; stages: {', '.join(d.stage_names)}",
        key=journey.key,
        stage=journey.stage,
    )


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


def _run_outcome_hooks(kind: str, hooks: tuple[Any, ...], ctx: Context, outcome: Outcome) -> None:
    for hook in hooks:
        try:
            hook(ctx, outcome)
        except Exception as err:
            raise hook_failed(kind, hook, err, ctx, inside_move=False) from err
