"""Funnels and breakdowns from journeys: counts, conversion, time to and in each stage.

Theory of operation
-------------------
One pass over any iterable of :class:`~journeyfsm.Journey` (a replay's result, a store's
journeys, a list in memory).  Each journey is read once, its history replayed in
order, and folded into a :class:`Tally`; the journey is not kept.  A tally holds counts
per stage, per (source, dest, trigger) and per trigger, so its size is bounded by the
definition, plus the observed durations (8 bytes each, one per stage entered and one
per completed stay), which exact medians and percentiles need.

Reading a history::

    start stage   = history[0].source, or the journey's stage when it never moved
    entered       = {start stage} | {e.dest for e in history}
    stay boundary = every entry whose dest differs from its source, and every re-entry

A history entry with ``dest == source`` is either a re-entry (``dest == source`` in the
definition: a new stay) or an internal transition (``dest=None``: the stay goes on).
The history alone cannot tell them apart, so the definition's candidates for (stage,
trigger) decide; where they cannot (a stage has both kinds for one trigger, or none
because the history was recorded under another version), the journey's ``entry_seq``
decides for its current stay, and an earlier one counts as a re-entry.

Everything in :class:`~journeyfsm.analytics.StageStats` follows from the tally; the
figures are defined in its docstring and in docs/analytics.md.
"""

from __future__ import annotations

from array import array
from collections import Counter
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from .._errors import did_you_mean
from .._goals import GOAL
from .._packed import LazyJourney, history_moves
from ._results import DurationStats, Funnel, StageStats, TransitionCount

if TYPE_CHECKING:
    from .._definition import JourneyDefinition
    from .._records import Journey

__all__ = ["funnel"]

_MICRO = timedelta(microseconds=1)


def check_journeys(journeys: object, who: str) -> None:
    """``journeys`` is an iterable of journeys (read once, not here): one journey, a
    mapping of them, a str or a non-iterable is a TypeError saying what to pass."""
    from collections.abc import Mapping

    from .._records import Journey

    if isinstance(journeys, Journey):
        raise TypeError(
            f"{who} takes an iterable of journeys, got one Journey: pass [journey] for one"
        )
    if isinstance(journeys, Mapping):
        raise TypeError(
            f"{who} takes an iterable of journeys, got a {type(journeys).__name__} (its "
            "keys are not journeys): pass its .values() (a replay's result.journeys.values())"
        )
    if isinstance(journeys, (str, bytes)) or not isinstance(journeys, Iterable):
        raise TypeError(
            f"{who} takes an iterable of Journey objects (a replay's "
            "result.journeys.values(), service.journeys(), [machine.start(...)]), got "
            f"{type(journeys).__name__}"
        )


def resolve_order(definition: JourneyDefinition, order: Iterable[str] | None) -> tuple[str, ...]:
    from .._definition import JourneyDefinition

    if not isinstance(definition, JourneyDefinition):
        raise TypeError(
            f"definition must be a JourneyDefinition (machine.definition, a template), got "
            f"{type(definition).__name__}"
        )
    if order is None:
        return definition.funnel
    if isinstance(order, str):
        raise TypeError(f"order takes a list of stage names, got the str {order!r}")
    if not isinstance(order, Iterable):
        raise TypeError(
            f"order takes a list of stage names (or None: the definition's funnel), got "
            f"{order!r} ({type(order).__name__})"
        )
    out = tuple(order)
    if not out:
        raise ValueError("order names no stage; give the funnel stages in order, or order=None")
    seen: set[str] = set()
    for name in out:
        if not isinstance(name, str) or not definition.has_stage(name):
            raise ValueError(
                f"order names {name!r}, which is not a stage of definition "
                f"{definition.name!r}{did_you_mean(str(name), definition.stage_names)}; "
                f"stages: {', '.join(definition.stage_names)}"
            )
        if name in seen:
            raise ValueError(f"order lists stage {name!r} twice; list each stage once")
        seen.add(name)
    return out


def _self_moves(definition: JourneyDefinition) -> dict[tuple[str, str], str]:
    """(stage, trigger) -> "reenter", "internal" or "both": what a recorded
    ``dest == source`` move of that trigger can have been."""
    out: dict[tuple[str, str], str] = {}
    for stage, row in definition.table.items():
        for trigger, cands in row.items():
            kinds = {
                "internal" if c.dest is None else "reenter"
                for c in cands
                if c.dest in (None, stage)
            }
            if kinds:
                out[stage, trigger] = kinds.pop() if len(kinds) == 1 else "both"
    for stage in definition.stage_names:  # a goal's met or missed entry: internal
        out[stage, GOAL] = "internal"
    return out


class Tally:
    """The figures of one group of journeys, accumulated one journey at a time."""

    def __init__(self, stages: tuple[str, ...]) -> None:
        self.journeys = 0
        self.entered: Counter[str] = Counter()
        self.current: Counter[str] = Counter()
        self.furthest: Counter[int] = Counter()  # furthest funnel position -> journeys
        self.moves: Counter[tuple[str, str, str]] = Counter()
        self.trigger_moves: Counter[str] = Counter()
        self.time_to: dict[str, array[int]] = {s: array("q") for s in stages}
        self.time_in: dict[str, array[int]] = {s: array("q") for s in stages}

    def add(self, read: Reading) -> None:
        self.journeys += 1
        self.current[read.stage] += 1
        self.entered.update(read.entered)
        if read.furthest >= 0:
            self.furthest[read.furthest] += 1
        self.moves.update(read.moves)
        self.trigger_moves.update(m[2] for m in read.moves)
        for stage, micros in read.time_to.items():
            self.time_to[stage].append(micros)
        for stage, micros in read.time_in:
            self.time_in[stage].append(micros)


class Reading:
    """What one journey contributes (computed once, added to the total and its group)."""

    __slots__ = ("entered", "furthest", "moves", "stage", "time_in", "time_to")

    def __init__(self, journey: Journey, plan: Plan) -> None:
        # (seq, trigger, source, dest, at): a replay's lazy journeys build no entries
        history = history_moves(journey)
        started = journey.started_at
        self.stage = journey.stage
        start = history[0][2] if history else journey.stage
        plan.check_stage(journey, start, "starts in")
        first_at: dict[str, datetime | None] = {start: started}
        self.moves = [(source, dest, trigger) for _, trigger, source, dest, _ in history]
        self.time_in: list[tuple[str, int]] = []
        stay_start = started
        has_stage, reenters = plan.definition.has_stage, plan.reenters
        for seq, trigger, source, dest, at in history:
            if not has_stage(dest):
                plan.check_stage(journey, dest, f"history[{seq - 1}] moved to")
            if dest == source and not reenters(journey, seq, source, trigger):
                continue  # internal: the stay goes on
            if stay_start is not None:
                self.time_in.append((source, (at - stay_start) // _MICRO))
            stay_start = at
            first_at.setdefault(dest, at)
        self.entered = list(first_at)
        self.time_to = (
            {}
            if started is None
            else {s: (at - started) // _MICRO for s, at in first_at.items() if at is not None}
        )
        positions = [plan.position[s] for s in first_at if s in plan.position]
        self.furthest = max(positions, default=-1)


class Plan:
    """The definition-derived tables a pass reads, and the input checks."""

    def __init__(self, definition: JourneyDefinition, order: tuple[str, ...]) -> None:
        self.definition = definition
        self.order = order
        self.position = {s: i for i, s in enumerate(order)}
        self.stages = order + tuple(s for s in definition.stage_names if s not in self.position)
        self.self_moves = _self_moves(definition)

    def check(self, journey: Journey) -> None:
        from .._records import Journey

        if not isinstance(journey, Journey):
            raise TypeError(
                f"funnels count Journey objects (a replay's result.journeys.values(), "
                f"service.journeys(), machine.start(...)); got {type(journey).__name__}"
            )
        d = self.definition
        if journey.definition is not None and journey.definition != d.name:
            raise ValueError(
                f"journey {journey.key!r} belongs to definition {journey.definition!r}, not "
                f"{d.name!r}; count each definition's journeys with its own definition"
            )
        self.check_stage(journey, journey.stage, "is in")
        # a replay's lazy journey holds every move it made (version counts them)
        if journey.__class__ is not LazyJourney and len(journey.history) != journey.version:
            # a store's journey without its history would count as never having moved
            raise ValueError(
                f"journey {journey.key!r} has made {journey.version} moves but carries "
                f"{len(journey.history)} history entries; funnels read the whole history: "
                "load journeys with their history (JourneyService.get loads none; use the "
                "journeys a replay returns, or restore snapshots taken with history)"
            )

    def check_stage(self, journey: Journey, stage: str, what: str) -> None:
        d = self.definition
        if not d.has_stage(stage):
            raise ValueError(
                f"journey {journey.key!r} {what} stage {stage!r}, which definition {d.name!r} "
                f"(version {d.version}) does not have{did_you_mean(stage, d.stage_names)}; "
                "count it with the definition it was recorded under"
            )

    def reenters(self, journey: Journey, seq: int, source: str, trigger: str) -> bool:
        """Whether the ``dest == source`` move ``seq`` was a re-entry (else internal)."""
        kind = self.self_moves.get((source, trigger), "both")
        if kind != "both":
            return kind == "reenter"
        if seq >= journey.entry_seq:  # in the current stay: entry_seq is its entry
            return seq == journey.entry_seq
        return True


def _durations(values: array[int]) -> DurationStats:
    n = len(values)
    if n == 0:
        return DurationStats(count=0, median=None, p90=None)
    # nearest rank ceil(p * n), in integers: a float 0.9 * 10 is 9.000000000000002
    ranks = ((n + 1) // 2 - 1, (9 * n + 9) // 10 - 1)
    median, p90 = _ranked(values, ranks)
    return DurationStats(count=n, median=median * _MICRO, p90=p90 * _MICRO)


#: from this many durations numpy (when installed) selects the ranks instead of a sort
_NUMPY_FROM = 4096


def _ranked(values: array[int], ranks: tuple[int, int]) -> tuple[int, int]:
    """The values at ``ranks`` (0-based) of ``values`` in ascending order."""
    if len(values) >= _NUMPY_FROM:
        try:
            import numpy as np
        except ImportError:  # the [fast] extra is not installed: sort below
            pass
        else:
            chosen = np.partition(np.frombuffer(values, np.int64), ranks)[list(ranks)]
            return int(chosen[0]), int(chosen[1])
    ordered = sorted(values)
    return ordered[ranks[0]], ordered[ranks[1]]


def build_funnel(tally: Tally, plan: Plan, label: str | None) -> Funnel:
    order, d = plan.order, plan.definition
    reached_at: list[int] = []
    total = 0
    for j in range(len(order) - 1, -1, -1):  # reached = journeys whose furthest is j or later
        total += tally.furthest[j]
        reached_at.append(total)
    reached_at.reverse()
    stats: list[StageStats] = []
    for stage in plan.stages:
        i = plan.position.get(stage)
        entered = tally.entered[stage]
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
                current=tally.current[stage],
                conversion=conversion,
                drop_off=drop_off,
                time_to_stage=_durations(tally.time_to[stage]),
                time_in_stage=_durations(tally.time_in[stage]),
            )
        )
    index = {s: i for i, s in enumerate(plan.stages)}
    moves = sorted(
        tally.moves.items(),
        key=lambda kv: (-kv[1], index.get(kv[0][0], -1), index.get(kv[0][1], -1), kv[0][2]),
    )
    triggers = dict.fromkeys(d.triggers, 0)
    triggers.update(tally.trigger_moves)
    return Funnel(
        definition=d.name,
        version=d.version,
        journeys=tally.journeys,
        order=order,
        stages=tuple(stats),
        moves=tuple(TransitionCount(s, t, trig, n) for (s, t, trig), n in moves),
        trigger_moves=triggers,
        label=label,
    )


def funnel(
    journeys: Iterable[Journey],
    definition: JourneyDefinition,
    *,
    order: Iterable[str] | None = None,
) -> Funnel:
    """Count the funnel of ``journeys`` (any iterable, read once) along ``order``.

    ``order`` defaults to ``definition.funnel``.  A journey of another definition, or in
    a stage the definition does not have, is a ``ValueError`` naming it.

    >>> from datetime import datetime, timedelta, timezone
    >>> from journeyfsm import JourneyMachine, templates
    >>> from journeyfsm.analytics import funnel
    >>> machine = JourneyMachine(templates.aida())
    >>> t0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
    >>> a, b = machine.start("a", at=t0), machine.start("b", at=t0)
    >>> _ = machine.fire(a, "engage", at=t0 + timedelta(hours=2))
    >>> f = funnel([a, b], templates.aida())
    >>> f.stage("interest").reached, f.stage("attention").conversion
    (1, 0.5)
    >>> f.stage("attention").time_in_stage.median
    datetime.timedelta(seconds=7200)
    """
    check_journeys(journeys, "funnel()")
    plan = Plan(definition, resolve_order(definition, order))
    tally = Tally(plan.stages)
    # a columnar replay's journeys (result.journeys.values()): counted from its packed
    # columns, without building them (those built already are read one by one)
    packed: Any = getattr(journeys, "_mapping", journeys)
    if hasattr(packed, "tally_into") and packed.replayed(definition):
        keep, journeys = packed.split()
        packed.tally_into(tally, plan, keep)
    for journey in journeys:
        plan.check(journey)
        tally.add(Reading(journey, plan))
    return build_funnel(tally, plan, None)
