"""The overview of one definition: the database's counts as a ``Funnel``, kept a while.

:func:`funnel_of` turns :class:`~journeyfsm.explorer._queries.StageFigures` into the
:class:`~journeyfsm.analytics.Funnel` that ``journeyfsm.analytics.funnel`` would count
from the same journeys (the export code draws it), except the durations: medians and
percentiles of time in stage are not computed here (``journeyfsm funnel`` computes them),
so every ``DurationStats`` reads 0 journeys.

:class:`FigureCache` keeps each definition's overview for ``refresh`` seconds and counts
it again behind the requests, never in their way: fifty clients on the overview cost one
aggregate per ``refresh`` seconds, no request waits for it once the first is counted,
and a page says how old its figures are.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Generic, TypeVar

import attrs

from .._definition import JourneyDefinition
from ..analytics import DurationStats, Funnel, StageStats, TransitionCount
from ..analytics._forecast import _reach_counts
from ..analytics._forecast_sim import numpy
from ._queries import StageFigures

__all__ = ["Conversion", "FigureCache", "conversion_blocker", "conversion_of", "funnel_of"]

log = logging.getLogger("journeyfsm.explorer")

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


@attrs.frozen
class Conversion:
    """The overview's "chance to reach ``goal``" column: per stage, the completed stays
    that ended by a move (``moves_out``, internal moves left out) and, for the stages
    with one or more and for the goal itself, the absorbing chain's ``probability`` of
    reaching ``goal`` (:meth:`journeyfsm.analytics.JourneyChain.reach`'s, from the same
    counts).  A stage with no move out has no probability: the page shows "-".
    """

    goal: str
    moves_out: dict[str, int]
    probability: dict[str, float]


def conversion_blocker(definition: JourneyDefinition) -> str | None:
    """Why the overview can show no conversion column for ``definition`` (``None``: it
    can), in words for the page."""
    if not definition.funnel:
        return (
            f"definition {definition.name!r} has no funnel stage, so there is no goal to "
            "show the chance of reaching"
        )
    try:
        numpy()
    except ImportError:
        return (
            f"the chance to reach {definition.funnel[-1]} from each stage needs numpy: "
            "pip install 'journeyfsm[forecast]'"
        )
    return None


def conversion_of(
    definition: JourneyDefinition, counts: Mapping[str, Mapping[str, int]]
) -> Conversion:
    """The chance to reach the last funnel stage from each stage, from the move counts
    of :func:`~journeyfsm.explorer._queries.chain_moves` (numpy needed: ask
    :func:`conversion_blocker` first)."""
    goal = definition.funnel[-1]
    reach = _reach_counts(
        definition.stage_names, counts, {goal, *definition.final_stages}, goal, None
    )
    moves_out = {s: sum(counts.get(s, {}).values()) for s in definition.stage_names}
    probability = {
        r.stage: r.probability for r in reach.rows if r.stage == goal or moves_out[r.stage]
    }
    return Conversion(goal, moves_out, probability)


class FigureCache(Generic[T]):
    """Values by name, kept ``refresh`` seconds; stale ones are recomputed in the background.

    The first request for a name computes its value (those that arrive meanwhile wait for
    that one result).  Once a value is older than ``refresh`` seconds, the next request
    starts ONE background thread that computes it again and, like every request until
    that thread is done, gets the value kept so far: no request waits for the database
    to count again.  A background computation that fails is logged and the old value
    stays (the next request tries again).  ``refresh=0`` computes on every request.

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
        self._refreshing: set[str] = set()
        self._guard = threading.Lock()

    def get(self, name: str, compute: Callable[[], T]) -> T:
        """The value of ``name``: the kept one (refreshed behind it when stale), else
        ``compute()``'s."""
        if self.refresh <= 0:
            return compute()
        found = self._values.get(name)
        if found is not None:
            if time.monotonic() - found[0] >= self.refresh:
                self._refresh_behind(name, compute)
            return found[1]
        with self._guard:
            lock = self._locks.setdefault(name, threading.Lock())
        with lock:  # the first one computes; the others wait here and take its value
            found = self._values.get(name)
            if found is not None:
                return found[1]
            value = compute()
            self._values[name] = (time.monotonic(), value)
            return value

    def peek(self, name: str, compute: Callable[[], T]) -> T | None:
        """The kept value of ``name`` (refreshed behind it when stale), or ``None``: never
        waits and never computes in the caller's thread."""
        if self.refresh <= 0:
            return None
        found = self._values.get(name)
        if found is None:
            return None
        if time.monotonic() - found[0] >= self.refresh:
            self._refresh_behind(name, compute)
        return found[1]

    def _refresh_behind(self, name: str, compute: Callable[[], T]) -> None:
        with self._guard:
            if name in self._refreshing:
                return
            self._refreshing.add(name)

        def run() -> None:
            try:
                value = compute()
                self._values[name] = (time.monotonic(), value)
            except Exception:
                log.exception("explorer: counting %r again failed; the old figures stay", name)
            finally:
                with self._guard:
                    self._refreshing.discard(name)

        threading.Thread(target=run, name=f"journeyfsm-explorer-{name}", daemon=True).start()

    def clear(self) -> None:
        """Forget every value (after a write the figures must show)."""
        self._values.clear()
