"""Funnels and breakdowns from journeys: counts, conversion, time to and in each stage.

Theory of operation
-------------------
One pass over any iterable of :class:`~journeyfsm.Journey` (a replay's result, a store's
journeys, a list in memory).  Each journey is read once, its history replayed in
order, and folded into a :class:`_Tally`; the journey is not kept.  A tally holds counts
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
trigger) decide; where a stage has both kinds for one trigger, the journey's
``entry_seq`` decides for its current stay, and an earlier one counts as a re-entry.

Everything in :class:`~journeyfsm.analytics.StageStats` follows from the tally; the
figures are defined in its docstring and in docs/analytics.md.
"""

from __future__ import annotations

import json
from array import array
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

from .._errors import did_you_mean
from ._results import Breakdown, DurationStats, Funnel, StageStats, TransitionCount

if TYPE_CHECKING:
    from .._definition import JourneyDefinition
    from .._records import HistoryEntry, Journey

    #: what a breakdown groups by: "data.FIELD", "meta.FIELD", "log.COLUMN",
    #: "cohort.week", "cohort.month", or a callable journey -> group (None: no group)
    By = str | Callable[[Journey], str | None]

__all__ = ["NONE_GROUP", "breakdown", "funnel"]

#: the group of journeys a breakdown finds no value for
NONE_GROUP = "(none)"
_MICRO = timedelta(microseconds=1)
_MAX_FIELDS_SHOWN = 20


def _resolve_order(definition: JourneyDefinition, order: Iterable[str] | None) -> tuple[str, ...]:
    if order is None:
        return definition.funnel
    if isinstance(order, str):
        raise TypeError(f"order takes a list of stage names, got the str {order!r}")
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
    return out


class _Tally:
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

    def add(self, read: _Reading) -> None:
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


class _Reading:
    """What one journey contributes (computed once, added to the total and its group)."""

    __slots__ = ("entered", "furthest", "moves", "stage", "time_in", "time_to")

    def __init__(self, journey: Journey, ctx: _Context) -> None:
        history = journey.history
        started = journey.started_at
        self.stage = journey.stage
        start = history[0].source if history else journey.stage
        ctx.check_stage(journey, start, "starts in")
        first_at: dict[str, datetime | None] = {start: started}
        self.moves = [(e.source, e.dest, e.trigger) for e in history]
        self.time_in: list[tuple[str, int]] = []
        stay_start = started
        for e in history:
            ctx.check_stage(journey, e.dest, f"history[{e.seq - 1}] moved to")
            if e.dest == e.source and not ctx.reenters(journey, e):
                continue  # internal: the stay goes on
            if stay_start is not None:
                self.time_in.append((e.source, (e.at - stay_start) // _MICRO))
            stay_start = e.at
            first_at.setdefault(e.dest, e.at)
        self.entered = list(first_at)
        self.time_to = (
            {}
            if started is None
            else {s: (at - started) // _MICRO for s, at in first_at.items() if at is not None}
        )
        positions = [ctx.position[s] for s in first_at if s in ctx.position]
        self.furthest = max(positions, default=-1)


class _Context:
    """The definition-derived tables a pass reads, and the input checks."""

    def __init__(self, definition: JourneyDefinition, order: tuple[str, ...]) -> None:
        self.definition = definition
        self.order = order
        self.position = {s: i for i, s in enumerate(order)}
        self.stages = order + tuple(s for s in definition.stage_names if s not in self.position)
        self.self_moves = _self_moves(definition)

    def check(self, journey: Journey) -> None:
        d = self.definition
        if journey.definition is not None and journey.definition != d.name:
            raise ValueError(
                f"journey {journey.key!r} belongs to definition {journey.definition!r}, not "
                f"{d.name!r}; count each definition's journeys with its own definition"
            )
        self.check_stage(journey, journey.stage, "is in")

    def check_stage(self, journey: Journey, stage: str, what: str) -> None:
        d = self.definition
        if not d.has_stage(stage):
            raise ValueError(
                f"journey {journey.key!r} {what} stage {stage!r}, which definition {d.name!r} "
                f"(version {d.version}) does not have{did_you_mean(stage, d.stage_names)}; "
                "count it with the definition it was recorded under"
            )

    def reenters(self, journey: Journey, entry: HistoryEntry) -> bool:
        kind = self.self_moves.get((entry.source, entry.trigger), "both")
        if kind != "both":
            return kind == "reenter"
        if entry.seq >= journey.entry_seq:  # in the current stay: entry_seq is its entry
            return entry.seq == journey.entry_seq
        return True


def _durations(values: array[int]) -> DurationStats:
    n = len(values)
    if n == 0:
        return DurationStats(count=0, median=None, p90=None)
    ordered = sorted(values)
    # nearest rank ceil(p * n), in integers: a float 0.9 * 10 is 9.000000000000002
    median, p90 = ordered[(n + 1) // 2 - 1], ordered[(9 * n + 9) // 10 - 1]
    return DurationStats(count=n, median=median * _MICRO, p90=p90 * _MICRO)


def _build(tally: _Tally, ctx: _Context, label: str | None) -> Funnel:
    order, d = ctx.order, ctx.definition
    reached_at: list[int] = []
    total = 0
    for j in range(len(order) - 1, -1, -1):  # reached = journeys whose furthest is j or later
        total += tally.furthest[j]
        reached_at.append(total)
    reached_at.reverse()
    stats: list[StageStats] = []
    for stage in ctx.stages:
        i = ctx.position.get(stage)
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
    index = {s: i for i, s in enumerate(ctx.stages)}
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
    ctx = _Context(definition, _resolve_order(definition, order))
    tally = _Tally(ctx.stages)
    for journey in journeys:
        ctx.check(journey)
        tally.add(_Reading(journey, ctx))
    return _build(tally, ctx, None)


def _text(value: object) -> str:
    if value is None:
        return NONE_GROUP
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


class _Grouper:
    """Turns ``by`` into a journey -> group function, and remembers which fields exist so
    that a ``by`` naming nothing is an error rather than one big "(none)" group."""

    KINDS = ("data", "meta", "log", "cohort")

    def __init__(self, by: By, segments: Mapping[str, Mapping[str, str]] | None) -> None:
        self.by = by
        self.segments = segments
        self.found = False
        self.fields: set[str] = set()
        if callable(by):
            self.kind, self.field = "call", ""
            return
        if not isinstance(by, str):
            raise TypeError(f"by must be a str like 'data.plan' or a callable, got {by!r}")
        kind, dot, field = by.partition(".")
        if not dot or not field or kind not in self.KINDS:
            raise ValueError(
                f"by={by!r} is not a grouping; use 'data.FIELD', 'meta.FIELD', 'log.COLUMN', "
                "'cohort.week', 'cohort.month' or a callable journey -> str | None"
            )
        if kind == "cohort" and field not in ("week", "month"):
            raise ValueError(f"by={by!r}: cohorts are 'cohort.week' or 'cohort.month'")
        if kind == "log" and segments is None:
            raise ValueError(
                f"by={by!r} groups by a log column: pass segments=..., the per-journey "
                "segment values the replay returned"
            )
        self.kind, self.field = kind, field

    def _seen(self, keys: Iterable[str]) -> None:
        if len(self.fields) < 100:  # enough to name them in an error, bounded
            self.fields.update(keys)

    def group(self, journey: Journey) -> str:
        field = self.field
        if self.kind == "call":
            assert callable(self.by)
            value = self.by(journey)
            if value is not None and not isinstance(value, str):
                raise TypeError(
                    f"by={self.by!r} returned {value!r} for journey {journey.key!r}; "
                    "it must return a str or None"
                )
            self.found = True
            return NONE_GROUP if value is None else value
        if self.kind == "data":
            data = journey.data
            self._seen(data)
            if field in data:
                self.found = True
                return _text(data[field])
            return NONE_GROUP
        if self.kind == "meta":
            for e in journey.history:
                if e.meta is not None:
                    self._seen(e.meta)
                    if field in e.meta:
                        self.found = True
                        return _text(e.meta[field])
            return NONE_GROUP
        if self.kind == "log":
            assert self.segments is not None
            row = self.segments.get(journey.key)
            if row is not None:
                self._seen(row)
                if field in row:
                    self.found = True
                    return _text(row[field])
            return NONE_GROUP
        started = journey.started_at
        if started is None:
            return NONE_GROUP
        self.found = True
        started = started.astimezone(timezone.utc)
        if field == "month":
            return f"{started.year:04d}-{started.month:02d}"
        year, week, _ = started.isocalendar()
        return f"{year:04d}-W{week:02d}"

    def check_found(self, journeys: int) -> None:
        if self.found or journeys == 0 or self.kind == "call":
            return
        if self.kind == "cohort":
            raise ValueError(
                f"by={self.by!r}: no journey has a start time (started_at), so there is no "
                "cohort to group by; journeys from JourneyMachine.start and replay have one"
            )
        where = {"data": "journey data", "meta": "history meta", "log": "the log's segments"}
        names = sorted(self.fields)
        shown = ", ".join(names[:_MAX_FIELDS_SHOWN]) + (
            " ..." if len(names) > _MAX_FIELDS_SHOWN else ""
        )
        raise ValueError(
            f"by={self.by!r}: no journey has {self.field!r} in {where[self.kind]}"
            f"{did_you_mean(self.field, names)}; fields that exist: {shown or 'none'}"
        )


def breakdown(
    journeys: Iterable[Journey],
    definition: JourneyDefinition,
    *,
    by: By,
    segments: Mapping[str, Mapping[str, str]] | None = None,
    order: Iterable[str] | None = None,
) -> Breakdown:
    """One funnel per group of ``journeys`` (read once), and the total.

    ``by`` is ``"data.FIELD"`` (the journey's data), ``"meta.FIELD"`` (the first history
    entry's meta that has it), ``"log.COLUMN"`` (``segments[journey.key][COLUMN]``, the
    segment values a replay returns), ``"cohort.week"`` / ``"cohort.month"`` (of
    ``started_at``, as ``"2026-W03"`` / ``"2026-01"``), or a callable journey -> str or
    None.  Journeys without a value are in the group ``"(none)"``; a ``by`` that no
    journey has at all is a ``ValueError`` naming the fields that exist.

    >>> from journeyfsm import JourneyMachine, templates
    >>> from journeyfsm.analytics import breakdown
    >>> machine = JourneyMachine(templates.aida())
    >>> a, b = machine.start("a", {"plan": "pro"}), machine.start("b", {"plan": "free"})
    >>> _ = machine.fire(a, "engage")
    >>> result = breakdown([a, b], templates.aida(), by="data.plan")
    >>> {g: f.stage("interest").reached for g, f in result.groups.items()}
    {'free': 0, 'pro': 1}
    """
    grouper = _Grouper(by, segments)
    ctx = _Context(definition, _resolve_order(definition, order))
    total = _Tally(ctx.stages)
    groups: dict[str, _Tally] = {}
    for journey in journeys:
        ctx.check(journey)
        read = _Reading(journey, ctx)
        total.add(read)
        name = grouper.group(journey)
        tally = groups.get(name)
        if tally is None:
            tally = groups[name] = _Tally(ctx.stages)
        tally.add(read)
    grouper.check_found(total.journeys)
    label = by if isinstance(by, str) else getattr(by, "__name__", repr(by))
    return Breakdown(
        by=label,
        total=_build(total, ctx, None),
        groups={name: _build(groups[name], ctx, name) for name in sorted(groups)},
    )
