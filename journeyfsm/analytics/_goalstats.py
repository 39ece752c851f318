"""Goal conversion: how many goal clocks started, were met, missed or still run, and the
time to goal, per goal of a definition (docs/rules.md, "Goals").

Read from what every journey carries: each ``journeyfsm.goal`` history entry is a clock
that ended (met or missed; its meta names the goal and when the clock started), and the
journey's ``goals`` hold the clocks of its current run that still run.  A clock started
is one of those three, so ``started == met + missed + pending``; a restarted journey
counts each run's clock.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable
from datetime import datetime, timedelta

import attrs

from .._definition import JourneyDefinition
from .._goals import GOAL
from .._records import Journey
from ._funnel import _durations, check_journeys
from ._results import DurationStats

__all__ = ["GoalStats", "goal_conversion"]

_MICRO = timedelta(microseconds=1)


@attrs.frozen
class GoalStats:
    """One goal's conversion over a set of journeys: clocks ``started``, ``met``,
    ``missed`` and still ``pending``; ``rate`` is met / (met + missed) (``None`` before
    any clock ended); ``time_to_goal`` the median and 90th percentile from a clock's start
    to the goal met."""

    goal: str
    started: int
    met: int
    missed: int
    pending: int
    time_to_goal: DurationStats

    @property
    def rate(self) -> float | None:
        """Met over ended clocks (met + missed); ``None`` when none ended yet."""
        ended = self.met + self.missed
        return None if ended == 0 else self.met / ended


def goal_conversion(
    journeys: Iterable[Journey], definition: JourneyDefinition
) -> dict[str, GoalStats]:
    """Each goal of ``definition``'s conversion over ``journeys`` (with their history:
    a replay's journeys, or a store's ``service.journeys()``), by goal name.

    >>> from datetime import datetime, timedelta, timezone
    >>> from journeyfsm import Goal, JourneyBuilder, JourneyMachine
    >>> d = (JourneyBuilder("trial").stage("trial", initial=True).stage("paid", final=True)
    ...      .transition("pay", "trial", "paid")
    ...      .goal(Goal("converted", stage="paid", within=timedelta(days=7))).build())
    >>> m = JourneyMachine(d)
    >>> t0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
    >>> a, b = m.start("a", at=t0), m.start("b", at=t0)
    >>> _ = m.fire(a, "pay", at=t0 + timedelta(days=2))
    >>> _ = m.tick(b, t0 + timedelta(days=8))
    >>> stats = goal_conversion([a, b], d)["converted"]
    >>> stats.started, stats.met, stats.missed, stats.rate, stats.time_to_goal.median
    (2, 1, 1, 0.5, datetime.timedelta(days=2))
    """
    if not isinstance(definition, JourneyDefinition):
        raise TypeError(
            f"goal_conversion() needs the JourneyDefinition the journeys follow "
            f"(machine.definition, a template), got {type(definition).__name__}"
        )
    check_journeys(journeys, "goal_conversion()")
    names = [g.name for g in definition.goals]
    met = dict.fromkeys(names, 0)
    missed = dict.fromkeys(names, 0)
    pending = dict.fromkeys(names, 0)
    times: dict[str, array[int]] = {n: array("q") for n in names}
    for journey in journeys:
        if not isinstance(journey, Journey):
            raise TypeError(
                f"goal_conversion counts Journey objects (a replay's result.journeys.values(), "
                f"service.journeys()); got {type(journey).__name__}"
            )
        for entry in journey.history:
            if entry.trigger != GOAL or entry.meta is None:
                continue
            name = entry.meta.get("goal")
            if name not in met:
                continue  # a goal the definition no longer has
            if entry.meta.get("status") == "met":
                met[name] += 1
                since = entry.meta.get("since")
                if isinstance(since, str):
                    start = datetime.fromisoformat(since.replace("Z", "+00:00"))
                    times[name].append((entry.at - start) // _MICRO)
            else:
                missed[name] += 1
        for name, clock in (journey.goals or {}).items():
            if clock.status == "pending" and name in pending:
                pending[name] += 1
    return {
        n: GoalStats(
            n, met[n] + missed[n] + pending[n], met[n], missed[n], pending[n], _durations(times[n])
        )
        for n in names
    }
