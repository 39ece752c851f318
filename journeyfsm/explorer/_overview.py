"""The overview of one definition: the database's counts as a ``Funnel``, kept a while.

:func:`funnel_of` turns :class:`~journeyfsm.explorer._queries.StageFigures` into the
:class:`~journeyfsm.analytics.Funnel` that ``journeyfsm.analytics.funnel`` would count
from the same journeys (the export code draws it), except the durations: medians and
percentiles of time in stage are not computed here (``journeyfsm funnel`` computes them),
so every ``DurationStats`` reads 0 journeys.

:class:`FigureCache` keeps each definition's figures for ``refresh`` seconds, and lets one
request compute them while the others that arrive meanwhile wait for that result instead
of each running the same aggregate: fifty clients on the overview cost one query per
``refresh`` seconds, and a page says how old its figures are.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Generic, TypeVar

from .._definition import JourneyDefinition
from ..analytics import DurationStats, Funnel, StageStats, TransitionCount
from ._queries import StageFigures

__all__ = ["FigureCache", "funnel_of"]

_NONE = DurationStats(0, None, None)

T = TypeVar("T")


def funnel_of(figures: StageFigures, definition: JourneyDefinition) -> Funnel:
    """The funnel of ``definition`` that the stored journeys' figures describe."""
    order = definition.funnel
    reached_at: list[int] = []
    total = 0
    for j in range(len(order) - 1, -1, -1):
        total += figures.furthest.get(j, 0)
        reached_at.append(total)
    reached_at.reverse()
    position = {s: i for i, s in enumerate(order)}
    stats = []
    for stage in order + tuple(s for s in definition.stage_names if s not in position):
        i = position.get(stage)
        entered = figures.entered.get(stage, 0)
        conversion: float | None = None
        if i is None:
            reached, drop_off = entered, 0
        else:
            reached = reached_at[i]
            after = reached_at[i + 1] if i + 1 < len(order) else None
            conversion = None if after is None or reached == 0 else after / reached
            drop_off = 0 if after is None else reached - after
        stats.append(
            StageStats(
                stage=stage,
                in_funnel=i is not None,
                entered=entered,
                reached=reached,
                current=figures.current.get(stage, 0),
                conversion=conversion,
                drop_off=drop_off,
                time_to_stage=_NONE,
                time_in_stage=_NONE,
            )
        )
    index = {s.stage: i for i, s in enumerate(stats)}
    moves = sorted(
        figures.moves.items(),
        key=lambda kv: (-kv[1], index.get(kv[0][0], -1), index.get(kv[0][1], -1), kv[0][2]),
    )
    triggers: Counter[str] = Counter(dict.fromkeys(definition.triggers, 0))
    for (_, _, trigger), n in figures.moves.items():
        triggers[trigger] += n
    return Funnel(
        definition=definition.name,
        version=definition.version,
        journeys=figures.journeys,
        order=order,
        stages=tuple(stats),
        moves=tuple(TransitionCount(s, d, trig, n) for (s, d, trig), n in moves),
        trigger_moves=dict(triggers),
    )


class FigureCache(Generic[T]):
    """Values by name, each computed at most once per ``refresh`` seconds.

    >>> calls = []
    >>> cache = FigureCache(60.0)
    >>> cache.get("shop", lambda: calls.append(1) or len(calls))
    1
    >>> cache.get("shop", lambda: calls.append(1) or len(calls))  # still fresh
    1
    """

    def __init__(self, refresh: float) -> None:
        self.refresh = refresh
        self._values: dict[str, tuple[float, T]] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def get(self, name: str, compute: Callable[[], T]) -> T:
        """The value of ``name``: the kept one while fresh, else ``compute()`` (once)."""
        found = self._values.get(name)
        if found is not None and time.monotonic() - found[0] < self.refresh:
            return found[1]
        with self._guard:
            lock = self._locks.setdefault(name, threading.Lock())
        with lock:  # one computes; the others wait here and take its value
            found = self._values.get(name)
            if found is not None and time.monotonic() - found[0] < self.refresh:
                return found[1]
            value = compute()
            self._values[name] = (time.monotonic(), value)
            return value

    def clear(self) -> None:
        """Forget every value (after a write the figures must show)."""
        self._values.clear()
