"""JourneyMachine: the semantics of a move.  Rule 1: everything that decides how a
journey moves lives in this file.

Theory of operation
-------------------
A definition is compiled ONCE onto one shared ``transitions.Machine`` (``model=None``,
``auto_transitions=False``, ``send_event=True``, ``model_attribute="stage"``).  Journeys
are plain slotted records; nothing is attached to them (no ``add_model``).  ``fire`` hands
the journey and a per-call :class:`Context` to ``machine.events[trigger].trigger``; the
engine tries the candidates for (stage, trigger) in declaration order and runs the first
whose guards all pass (DESIGN Semantics 1).  Guards are wrapped so they return real
bools, raise ``GuardError`` when faulty, and log their results on the Context.

Order inside a move (Semantics 3), as wired onto the engine's callback lists:

    before hooks          machine.before_state_change
    exit hooks (source)   State.on_exit                  (not for internal transitions)
    stage set, history    State.on_enter[0] / Transition.before[0] for internal ones
    enter hooks (dest)    State.on_enter                 (not for internal transitions)
    on_transition hooks   Transition.after
    after hooks           machine.after_state_change
    -- then effects, outside the move --

Hook dispatchers are attached to the engine only once a hook of that kind exists, so an
unhooked machine pays for none.  The engine has no rollback: ``fire`` remembers stage,
version, history length and (when hooks exist) a copy of ``data``, and restores them
exactly when a hook raises (Semantics 4).  Event ids are remembered only for moves;
a blocked or ignored event leaves the journey untouched, so its redelivery is judged
again (Semantics 6).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, Literal

from ._clock import Clock, SystemClock, ensure_utc
from ._definition import JourneyDefinition, Policy, Transition
from ._engine import attach_hooks, compile_engine
from ._errors import GuardError, HookError, InvalidTransition, UnknownTrigger, close_matches
from ._hooks import HookRegistration, HookRegistry, hook_failed
from ._json import copy_json
from ._logging import JourneyLog
from ._outcome import CandidateResult, EffectCall, EffectReport, Explanation, Outcome
from ._records import NO_HISTORY, Context, HistoryEntry, Journey
from ._snapshot import restore_journey, snapshot_journey

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

    ``clock`` (default: the system clock) supplies ``now``; ``logger`` is a structlog
    logger to log through (default ``structlog.get_logger("journeyfsm")``, bound on
    first use); ``event_id_window`` bounds how many recent event ids each journey keeps
    for idempotency.
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
        if event_id_window < 1:
            raise ValueError(f"event_id_window must be at least 1, got {event_id_window}")
        self.definition = definition
        self.clock: Clock = clock if clock is not None else SystemClock()
        self.event_id_window = event_id_window
        self._logger_source = logger
        self._log: Any = None
        self._hooks = HookRegistry(definition.stage_names, definition.triggers)
        self._table = {s: dict(row) for s, row in definition.table.items()}  # hot path: plain dicts
        self._attached: set[tuple[str, str | None]] = set()
        self._engine = compile_engine(definition)
        self._events = self._engine.events

    def _attach(self, kind: str, name: str | None) -> None:
        """Wire a dispatcher for this hook kind onto the engine, once."""
        key = (kind, name)
        if key not in self._attached:
            self._attached.add(key)
            attach_hooks(self._engine, self._hooks, kind, name)

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
        if trigger not in self._events:
            raise self._unknown(trigger, None)

    def _unknown(self, trigger: str, journey: Journey | None) -> UnknownTrigger:
        known = self.definition.triggers
        return UnknownTrigger(
            str(trigger),
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
        log: JourneyLog | None = self._log
        if log is None:
            log = self._log = _default_logger(self._logger_source, self.definition)
        return log

    # -- journeys ------------------------------------------------------------------
    def start(self, key: str, data: Mapping[str, Any] | None = None) -> Journey:
        """A new journey in the initial stage, with a copy of ``data`` (JSON-able dict)."""
        if not isinstance(key, str) or not key:
            raise ValueError(f"journey key must be a non-empty str, got {key!r}")
        if data is None:
            return Journey(key, self.definition.initial_stage)
        if not isinstance(data, Mapping):
            raise TypeError(
                f"journey data must be a JSON-able dict, got {type(data).__name__} "
                f"(journey {key!r})"
            )
        return Journey(key, self.definition.initial_stage, copy_json(dict(data)))

    def snapshot(self, journey: Journey, *, history: bool = True) -> dict[str, Any]:
        """A JSON-able dict of ``journey``; :meth:`restore` reads it back exactly.

        ``history=False`` leaves the history out (stores keep it apart); ``version``
        still numbers the next move correctly.
        """
        return snapshot_journey(self.definition, journey, history=history)

    def restore(self, snapshot: Mapping[str, Any]) -> Journey:
        """The journey a :meth:`snapshot` describes; ``SnapshotError`` names what is wrong."""
        return restore_journey(self.definition, snapshot)

    def allowed_triggers(self, journey: Journey) -> tuple[str, ...]:
        """Triggers that have a transition from the journey's stage (guards not run)."""
        return tuple(self._table.get(journey.stage, ()))

    def enabled_triggers(
        self, journey: Journey, payload: Any = None, *, at: datetime | None = None
    ) -> tuple[str, ...]:
        """Triggers that would move the journey now with ``payload`` (guards run).

        A guard that expects another payload type counts as not passing here.
        """
        now = self._now(at)
        out = []
        for trigger, cands in self._table.get(journey.stage, {}).items():
            for t in cands:
                ctx = Context(journey, trigger, payload, now, journey.stage, t.dest)
                try:
                    if all(g.check(ctx) for g in t.guards):
                        out.append(trigger)
                        break
                except GuardError as err:
                    if err.reason != "payload_type":
                        raise
        return tuple(out)

    def _now(self, at: datetime | None) -> datetime:
        if at is None:
            return self.clock.now()
        return ensure_utc(at, what="at=")

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
        if trigger not in self._events:
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
        out = []
        for t in cands:
            ctx = Context(journey, trigger, payload, now, journey.stage, t.dest)
            results = tuple(g.evaluate(ctx) for g in t.guards)
            out.append(CandidateResult(t, all(r.passed for r in results), results))
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
    ) -> Outcome:
        """Handle one event for one journey and say what happened.

        ``at`` (timezone-aware) overrides the clock; ``event_id`` makes redelivery a
        ``duplicate`` no-op; ``meta`` (small, JSON-able) is stored on the history entry;
        ``policy`` overrides the definition's policy for a trigger that is not valid
        from the current stage (``"ignore"`` -> ignored outcome, ``"strict"`` ->
        ``InvalidTransition``).  A raising guard -> ``GuardError``; a raising hook ->
        ``HookError`` with the journey restored exactly.
        """
        event = self._events.get(trigger)
        if event is None:
            raise self._unknown(trigger, journey)
        if event_id is not None:
            seen = journey.event_ids
            if seen is not None and event_id in seen:
                return self._duplicate(journey, trigger, event_id)
        now = self.clock.now() if at is None else ensure_utc(at, what="fire(at=...)")
        source = journey.stage
        row = self._table.get(source)
        if row is None:
            raise _unknown_stage(self.definition, journey)
        cands = row.get(trigger)
        if not cands:
            return self._invalid(journey, trigger, payload, now, event_id, meta, policy)
        if meta is not None:
            meta = copy_json(dict(meta))  # the history entry keeps its own copy
        ctx = Context(journey, trigger, payload, now, source, None, event_id, meta)
        hooks = self._hooks
        version = journey.version
        n_history = len(journey.history)
        data = journey.data
        saved_data = (copy_json(data) if data else {}) if hooks.any_move_hooks else None
        try:
            moved = event.trigger(journey, ctx)
        except HookError as err:
            journey.stage = source
            journey.version = version
            if n_history:
                del journey.history[n_history:]
            else:
                journey.history = NO_HISTORY
            if saved_data is not None:
                journey.data = saved_data
            self.logger.error(
                "journey.hook_failed",
                key=journey.key,
                trigger=trigger,
                source=source,
                dest=ctx.dest,
                hook=err.hook,
                event_id=event_id,
            )
            raise
        if not moved:
            return self._blocked(ctx, cands)
        entry = journey.history[-1]
        if event_id is not None:
            self._remember(journey, event_id)
        effects = self._run_effects(ctx, entry) if hooks.any_effects else ()
        (self._log or self.logger).info(
            "journey.moved",
            key=journey.key,
            trigger=trigger,
            source=source,
            dest=entry.dest,
            event_id=event_id,
        )
        return Outcome(
            "moved",
            journey.key,
            trigger,
            source,
            entry.dest,
            entry,
            event_id,
            effects,
            cands,
            ctx.guard_log,
        )

    def _remember(self, journey: Journey, event_id: str) -> None:
        ids = journey.event_ids
        if ids is None:
            ids = journey.event_ids = {}
        ids[event_id] = None
        if len(ids) > self.event_id_window:
            del ids[next(iter(ids))]

    def _duplicate(self, journey: Journey, trigger: str, event_id: str) -> Outcome:
        self.logger.info(
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
        self.logger.debug(
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

    def _blocked(self, ctx: Context, cands: tuple[Transition, ...]) -> Outcome:
        journey = ctx.journey
        # Guards are pure, so evaluating all of them again yields the full picture.
        results = self._evaluate_all(journey, ctx.trigger, ctx.payload, ctx.now, cands)
        outcome = Outcome(
            "blocked",
            journey.key,
            ctx.trigger,
            ctx.source,
            None,
            None,
            ctx.event_id,
            (),
            cands,
            results,
        )
        self.logger.info(
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

    def _run_effects(self, ctx: Context, entry: HistoryEntry) -> tuple[EffectReport, ...]:
        hooks = self._hooks
        todo = list(hooks.effects_transition.get(ctx.trigger, ()))
        if ctx.dest is not None:
            todo = hooks.effects_enter.get(entry.dest, []) + todo
        reports = []
        for eff in todo:
            ikey = f"{ctx.journey.key}:{entry.seq}:{eff.name}"
            call = EffectCall(
                eff.name,
                ikey,
                ctx.journey.key,
                ctx.trigger,
                entry.source,
                entry.dest,
                entry.seq,
                entry.at,
                ctx.payload,
                ctx.event_id,
                ctx.meta,
            )
            try:
                eff.fn(call)
            except Exception as err:
                self.logger.error(
                    "outbox.effect_failed",
                    key=ctx.journey.key,
                    effect=eff.name,
                    idempotency_key=ikey,
                    trigger=ctx.trigger,
                    error=f"{type(err).__name__}: {err}",
                )
                reports.append(EffectReport(eff.name, ikey, False, f"{type(err).__name__}: {err}"))
            else:
                reports.append(EffectReport(eff.name, ikey, True))
        return tuple(reports)


def _default_logger(source: Any, definition: JourneyDefinition) -> JourneyLog:
    return JourneyLog(source, definition=definition.name, definition_version=definition.version)


def _unknown_stage(d: JourneyDefinition, journey: Journey) -> Exception:
    from ._errors import SnapshotError

    return SnapshotError(
        f"journey {journey.key!r} is in stage {journey.stage!r}, which definition {d.name!r} "
        f"does not have; stages: {', '.join(d.stage_names)}",
        key=journey.key,
        stage=journey.stage,
    )


def _run_outcome_hooks(kind: str, hooks: list[Any], ctx: Context, outcome: Outcome) -> None:
    for hook in hooks:
        try:
            hook(ctx, outcome)
        except Exception as err:
            raise hook_failed(kind, hook, err, ctx, inside_move=False) from err
