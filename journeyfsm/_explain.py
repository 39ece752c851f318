"""What a trigger would do to a journey now, without doing it.

``explain`` reports every candidate of (stage, trigger) with every guard result;
``enabled_triggers`` lists the triggers that would move the journey; ``allowed_triggers``
the ones that have a transition from its stage at all.  Each decides as ``fire`` does
(DESIGN Semantics 1 and 2): candidates in declaration order, guards through the same
``evaluate_guards``, so a guard short-circuits identically and one not reached is "not
evaluated", never run.  Nothing here changes the journey.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any, Literal

from ._checks import MachineChecks
from ._definition import Transition
from ._errors import GuardError
from ._guards import evaluate_guards
from ._outcome import CandidateResult, Explanation
from ._records import Context, Journey
from ._rules import EntryRule, entry_refusal

__all__ = ["Explaining"]


class Explaining(MachineChecks):
    """JourneyMachine's ``explain``, ``enabled_triggers`` and ``allowed_triggers``."""

    _reentry: tuple[EntryRule, frozenset[str], dict[str, Any]] | None  # (_runtime.py)
    _goals: tuple[Any, ...]  # the definition's goals (_runtime.py)
    pending_goals: Callable[[Journey], dict[str, datetime]]  # (_goal_moves.py)

    def allowed_triggers(self, journey: Journey) -> tuple[str, ...]:
        """Triggers that have a transition from the journey's stage (guards not run)."""
        self._check_journey(journey, "allowed_triggers")
        return tuple(self._table.get(journey.stage, ()))

    def enabled_triggers(
        self, journey: Journey, payload: Any = None, *, at: datetime | None = None
    ) -> tuple[str, ...]:
        """Triggers that would move the journey now with ``payload`` (guards run).

        It decides as :meth:`fire` does: candidates in order, up to the first whose guards
        pass (for a finished journey the entry rule lets restart, the initial stage's
        triggers it lacks too).  A guard that expects another payload type makes ``fire`` raise
        ``GuardError``, so its trigger is not listed (no later candidate is tried); any
        other faulty guard raises its ``GuardError`` here too.

        >>> from journeyfsm import JourneyMachine, templates
        >>> m = JourneyMachine(templates.aida())
        >>> m.enabled_triggers(m.start("c-1"))
        ('engage', 'lose_interest')
        """
        self._check_journey(journey, "enabled_triggers")
        now = self._now(at, "enabled_triggers(at=...)")
        out = []
        row = self._table.get(journey.stage, {})
        items = list(row.items())
        reentry = self._reentry
        if (
            reentry is not None
            and journey.stage in reentry[1]
            and entry_refusal(reentry[0], journey, now) is None
        ):
            # a finished journey that may restart: the initial stage's triggers it lacks
            items += [(t, c) for t, c in reentry[2].items() if t not in row]
        for trigger, cands in items:
            for t in cands:  # as fire: in order, up to the first candidate that passes
                ctx = Context(journey, trigger, payload, now, journey.stage, t.dest)
                try:
                    passed, _ = evaluate_guards(t.guards, ctx)
                except GuardError as err:
                    if err.reason != "payload_type":
                        raise
                    break  # fire stops here with this error: the trigger cannot move
                if passed:
                    out.append(trigger)
                    break
        return tuple(out)

    def explain(
        self, journey: Journey, trigger: str, payload: Any = None, *, at: datetime | None = None
    ) -> Explanation:
        """Every candidate and every guard result for ``trigger`` now; changes nothing.

        >>> from journeyfsm import JourneyMachine, templates
        >>> m = JourneyMachine(templates.aida())
        >>> m.explain(m.start("k"), "engage").status
        'would_move'
        """
        self._check_journey(journey, "explain")
        if not isinstance(trigger, str) or trigger not in self._events:
            raise self._unknown(trigger, journey)
        stage = journey.stage
        now = self._now(at, "explain(at=...)")
        cands = self._table.get(stage, {}).get(trigger, ())
        reason: str | None = None
        reentry = self._reentry
        if not cands and reentry is not None and stage in reentry[1] and trigger in reentry[2]:
            # a finished journey: the entry rule decides whether the trigger restarts it
            reason = entry_refusal(reentry[0], journey, now)
            if reason is None:
                cands = reentry[2][trigger]
                reason = f"re-entry: restarts in {self.definition.initial_stage!r}"
        results = self._evaluate_all(journey, trigger, payload, now, cands)
        status: Literal["would_move", "blocked", "ignored"] = (
            "ignored"
            if not cands
            else "would_move"
            if any(c.passed for c in results)
            else "blocked"
        )
        pending: dict[str, datetime] = {}
        missed: tuple[str, ...] = ()
        met: tuple[str, ...] = ()
        goal_exit: str | None = None
        if self._goals:
            pending = self.pending_goals(journey)
            missed = tuple(name for name, deadline in pending.items() if deadline < now)
            pending = {name: d for name, d in pending.items() if name not in missed}
            chosen = next((c.transition for c in results if c.passed), None)
            if chosen is not None and not (reason or "").startswith("re-entry"):
                met, goal_exit = self._would_meet(journey, trigger, chosen.dest, now, pending)
        return Explanation(
            journey.key,
            stage,
            trigger,
            status,
            results,
            self.allowed_triggers(journey),
            reason,
            pending,
            missed,
            met,
            goal_exit,
        )

    def _would_meet(
        self,
        journey: Journey,
        trigger: str,
        dest: str | None,
        now: datetime,
        pending: Mapping[str, datetime],
    ) -> tuple[tuple[str, ...], str | None]:
        """The pending goals a move of ``trigger`` to ``dest`` would meet (as
        ``goals_after_move`` and the goal exits decide), and where an exit would end it."""
        state = journey.goals or {}

        def meets(g: Any, into: str | None, by: str) -> bool:
            clock = state.get(g.name)
            return (
                g.name in pending
                and clock is not None
                and now >= clock.since
                and (
                    (g.stage is not None and into is not None and g.stage == into)
                    or (g.trigger is not None and g.trigger == by)
                )
            )

        met = [g for g in self._goals if meets(g, dest, trigger)]
        stage = dest if dest is not None else journey.stage
        goal_exit: str | None = None
        for g in met:
            if g.exit is not None and not self.definition.stage(stage).final:
                goal_exit = g.exit
                met += [o for o in self._goals if o not in met and meets(o, g.exit, "")]
                break
        return tuple(g.name for g in met), goal_exit

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
