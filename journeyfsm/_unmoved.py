"""The events that do not move the journey: duplicate, ignored, blocked.

Each is an :class:`Outcome` (or, for a trigger not valid from the stage under the
``strict`` policy, ``InvalidTransition``), logged once (``journey.duplicate``,
``journey.ignored``, ``journey.blocked``), and leaves the journey untouched, so a
redelivered blocked or ignored event is judged again (DESIGN Semantics 5 and 6).  The
``on_blocked`` and ``on_ignored`` hooks run here, after the decision: nothing moved, so
nothing rolls back, and a hook that raises becomes a ``HookError`` saying the journey is
unchanged.  When ``fire`` reaches each of them is in _runtime.py.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from ._definition import JourneyDefinition, Policy, Transition
from ._errors import InvalidTransition
from ._hooks import HookRegistry, hook_failed
from ._logging import JourneyLog
from ._outcome import CandidateResult, Outcome
from ._records import Context, Journey

__all__ = ["UnmovedOutcomes"]


class UnmovedOutcomes:
    """The outcomes of JourneyMachine.fire that leave the journey as it was."""

    definition: JourneyDefinition
    _log: JourneyLog
    _hooks: HookRegistry
    allowed_triggers: Callable[[Journey], tuple[str, ...]]  # Explaining (_explain.py)

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
        reason: str | None = None,
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
                reason=reason,
            )
        outcome = Outcome(
            "ignored", journey.key, trigger, journey.stage, None, None, event_id, reason=reason
        )
        if reason is None:
            self._log.debug(
                "journey.ignored",
                key=journey.key,
                trigger=trigger,
                source=journey.stage,
                event_id=event_id,
            )
        else:
            self._log.debug(
                "journey.ignored",
                key=journey.key,
                trigger=trigger,
                source=journey.stage,
                event_id=event_id,
                reason=reason,
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


def _run_outcome_hooks(kind: str, hooks: tuple[Any, ...], ctx: Context, outcome: Outcome) -> None:
    for hook in hooks:
        try:
            hook(ctx, outcome)
        except Exception as err:
            raise hook_failed(kind, hook, err, ctx, inside_move=False) from err
