"""Stage timeouts: when they are due, and the event that fires them.

Theory of operation
-------------------
A journey records when it entered its current stage (``entered_at``), which move entered
it (``entry_seq``: the seq of that move, 0 if the journey started there) and how many of
that stage entry's timeouts have fired (``timeouts_fired``).  Entering a stage, a
re-entry (``dest == source``) included, resets the last two; an internal transition
(``dest=None``) does not touch them.

The timeouts of a stage are taken in due order (``after``, then declaration order).  The
next one due is the ``timeouts_fired``-th: due at ``entered_at + after``, inclusive.  It
fires as an ordinary event of its trigger (guards apply; blocked is a normal outcome),
``at`` its due time, with the deterministic event id
``timeout:{definition}:{journey}:{entry_seq}:{index}``, so firing it twice is a
``duplicate``.  Whatever the outcome, the timeout has fired: if the journey is still in
the same stage entry, ``timeouts_fired`` moves past it; if the move entered a stage, the
new entry's timeouts start from the first.  ``JourneyMachine.tick(journey, now)`` (from
``TimeoutTicking`` below) repeats that while something is due at ``now``, so a late tick
catches up exactly: each timeout once, in order, each at its own due time, across as
many stages as the time allows.
A timeout due after the last datetime there is (a huge ``after``) is due at
:data:`NEVER`, the last UTC datetime: no clock reaches it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

import attrs

from ._checks import MachineChecks
from ._clock import UTC
from ._definition import Timeout
from ._goals import GoalMiss, check_goal_state, next_goal_due

if TYPE_CHECKING:
    from ._definition import JourneyDefinition
    from ._outcome import Outcome
    from ._records import Journey

__all__ = [
    "NEVER",
    "DueTimeout",
    "TimeoutTicking",
    "due_timeout",
    "stage_timeouts",
    "timeout_event_id",
]

NEVER = datetime.max.replace(tzinfo=UTC)


@attrs.frozen
class DueTimeout:
    """The next timeout of a journey: due ``at``, the ``timeout``, its ``event_id``.

    ``index`` is its place among the stage's timeouts in due order.
    """

    at: datetime
    timeout: Timeout
    event_id: str
    index: int


def stage_timeouts(d: JourneyDefinition) -> Mapping[str, tuple[Timeout, ...]]:
    """Each stage's timeouts in due order (``after``; ties in declaration order)."""
    out: dict[str, list[Timeout]] = {}
    for t in d.timeouts:
        out.setdefault(t.stage, []).append(t)
    return {stage: tuple(sorted(ts, key=lambda t: t.after)) for stage, ts in out.items()}


def _escape(part: str) -> str:
    return part.replace("%", "%25").replace(":", "%3A")


def timeout_event_id(definition: str, key: str, entry_seq: int, index: int) -> str:
    """The deterministic event id of a stage entry's ``index``-th timeout.

    >>> timeout_event_id("shop", "c:1", 3, 0)
    'timeout:shop:c%3A1:3:0'
    """
    return f"timeout:{_escape(definition)}:{_escape(key)}:{entry_seq}:{index}"


def due_timeout(
    definition: str, timeouts: Mapping[str, tuple[Timeout, ...]], journey: Journey
) -> DueTimeout | None:
    """The journey's next timeout (due or not yet), or ``None``."""
    entered = journey.entered_at
    if entered is None:
        return None
    pending = timeouts.get(journey.stage, ())
    index = journey.timeouts_fired
    if index >= len(pending):
        return None
    timeout = pending[index]
    try:
        due = entered + timeout.after
    except OverflowError:  # due after the last datetime there is: never due
        due = NEVER
    return DueTimeout(
        due,
        timeout,
        timeout_event_id(definition, journey.key, journey.entry_seq, index),
        index,
    )


class TimeoutTicking(MachineChecks):
    """JourneyMachine's ``next_due`` and ``tick``: a journey's stage timeouts, fired."""

    _timeouts: Mapping[str, tuple[Timeout, ...]]  # stage_timeouts of the definition
    fire: Callable[..., Outcome]  # JourneyMachine.fire (_runtime.py)
    _goals: tuple[Any, ...]  # the definition's goals (_goal_moves.py)
    _due_step: Callable[..., Any]
    _record_miss: Callable[..., Outcome]

    def next_due(self, journey: Journey) -> DueTimeout | GoalMiss | None:
        """What the machine will next do by itself for ``journey`` (due now or later):
        its next stage timeout (a :class:`DueTimeout`), or, for a definition with goals,
        a pending goal's miss when that comes first (a :class:`GoalMiss`: its ``at`` is
        just after the inclusive deadline); ``None`` when nothing is armed.  ``.at`` is
        the earliest ``tick`` that does something, and what a store's ``next_due`` holds.

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
        self._check_journey(journey, "next_due")
        due = due_timeout(self._name, self._timeouts, journey)
        if self._goals:  # (tick takes a miss first when it is due by the timeout's time)
            check_goal_state(self._goals, journey)
            miss = next_goal_due(self._goals, journey)
            if miss is not None and (due is None or miss.deadline < due.at):
                return miss
        return due

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
        self._check_journey(journey, "tick")
        return self._fire_due(journey, self._now(now, "tick(now=...)"))

    def _fire_due(
        self, journey: Journey, until: datetime, *, defer_effects: bool = False
    ) -> tuple[Outcome, ...]:
        """:meth:`tick`'s loop: every timeout due at ``until``, in order (AsyncJourneyMachine
        runs it too, with the effects deferred)."""
        if journey._move is not None:  # from a hook of its own move: refused, rolled back
            raise self._reentrant(journey, "tick")
        outcomes: list[Outcome] = []
        if self._goals:  # goal misses interleave with the timeouts, in time order
            check_goal_state(self._goals, journey)
            while True:
                step = self._due_step(journey, until)
                if step is None:
                    return tuple(outcomes)
                if isinstance(step, DueTimeout):
                    outcomes.append(self._fire_timeout(journey, step, defer_effects=defer_effects))
                else:
                    outcomes.append(self._record_miss(journey, step))
        while True:
            due = due_timeout(self._name, self._timeouts, journey)
            if due is None or due.at > until:
                return tuple(outcomes)
            outcomes.append(self._fire_timeout(journey, due, defer_effects=defer_effects))

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
