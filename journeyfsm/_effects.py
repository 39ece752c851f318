"""Effects: what a move schedules, and running it.

An effect is host code with outside side effects (an email, a CRM call), registered with
``machine.effect(on_enter=STAGE | on_transition=TRIGGER)`` (_hooks.py keeps the registry).
It never runs inside the move: once ``fire`` has checked the move, ``_effect_calls`` turns
the registered effects into :class:`EffectCall` records, enter effects first, then the
trigger's, each with an idempotency key unique across effects, journeys and definitions
and stable across processes (DESIGN Semantics 12).  ``fire`` runs them at once with
``run_effects``, or hands them back on ``Outcome.pending_effects`` (``defer_effects=True``)
for the host to run after its own commit; the service writes them as outbox rows.  An
effect that raises is logged and reported and never undoes the move.
"""

from __future__ import annotations

from collections.abc import Iterable

from ._hooks import Effect, HookRegistry
from ._json import frozen_json
from ._logging import JourneyLog
from ._outcome import EffectCall, EffectReport, idempotency_key
from ._records import Context, HistoryEntry

__all__ = ["EffectRunning"]


class EffectRunning:
    """JourneyMachine's ``run_effects`` and the effect calls of a move."""

    _name: str  # the definition's, as JourneyMachine.__init__ sets it
    _log: JourneyLog
    _hooks: HookRegistry

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
        reports = []
        for call in calls:
            eff = self._effect_for(call)
            try:
                eff.fn(call)
            except Exception as err:
                reports.append(self._effect_failed(call, err))
            else:
                reports.append(EffectReport(call.effect, call.idempotency_key, True))
        return tuple(reports)

    def _effect_for(self, call: EffectCall) -> Effect:
        """The effect registered for ``call`` on this machine, or the error saying why not."""
        if not isinstance(call, EffectCall):
            raise TypeError(f"run_effects() takes EffectCall objects, got {call!r}")
        eff = self._hooks.effects.get(call.effect)
        if eff is None or (call.definition and call.definition != self._name):
            raise LookupError(
                f"no effect named {call.effect!r} is registered on this machine for "
                f"definition {self._name!r} (call for journey {call.key!r}, definition "
                f"{call.definition!r}); register it with machine.effect(..., "
                f"name={call.effect!r})"
            )
        return eff

    def _effect_failed(self, call: EffectCall, err: Exception) -> EffectReport:
        """Log ``err`` raised by ``call``'s effect (with its traceback) and report it."""
        self._log.error(
            "outbox.effect_failed",
            key=call.key,
            effect=call.effect,
            idempotency_key=call.idempotency_key,
            trigger=call.trigger,
            error=f"{type(err).__name__}: {err}",
            exc_info=err,
        )
        return EffectReport(
            call.effect, call.idempotency_key, False, f"{type(err).__name__}: {err}"
        )
