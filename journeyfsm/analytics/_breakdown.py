"""Breakdowns: one funnel per group of journeys (a data field, a history meta field, a
log column, an entry cohort, or any function of the journey), and the total.

One pass, as for a funnel: each journey is read once (see ``_funnel.py``) and added to the
total's tally and to its group's.  A ``by`` that names nothing any journey has is an
error naming the fields that do exist, since a table of zeroes would hide the typo.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from .._errors import did_you_mean
from .._packed import history_metas
from .._records import Journey
from ._funnel import Plan, Reading, Tally, build_funnel, check_journeys, resolve_order
from ._results import Breakdown

if TYPE_CHECKING:
    from .._definition import JourneyDefinition

#: what a breakdown groups by: "data.FIELD", "meta.FIELD", "log.COLUMN",
#: "cohort.week", "cohort.month", or a callable journey -> group (None: no group)
By = str | Callable[[Journey], str | None]

__all__ = ["NONE_GROUP", "breakdown"]

#: the group of journeys a breakdown finds no value for
NONE_GROUP = "(none)"
_MAX_FIELDS_SHOWN = 20
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
#: groups counted from a columnar replay's columns at most (each is a pass over its
#: moves); with more, the journeys are read one by one
_MAX_COLUMNAR_GROUPS = 64


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
            for meta in history_metas(journey):
                if meta is not None:
                    self._seen(meta)
                    if field in meta:
                        self.found = True
                        return _text(meta[field])
            return NONE_GROUP
        if self.kind == "log":
            return self.group_key(journey.key)
        started = journey.started_at
        if started is None:
            return NONE_GROUP
        self.found = True
        return self.cohort(started)

    def group_key(self, key: str) -> str:
        """The group of the journey ``key`` by a log column (``kind == "log"``)."""
        assert self.segments is not None
        row = self.segments.get(key)
        if row is not None:
            self._seen(row)
            if self.field in row:
                self.found = True
                return _text(row[self.field])
        return NONE_GROUP

    def cohort(self, started: datetime) -> str:
        """The cohort (``kind == "cohort"``) of a journey started at ``started``."""
        field = self.field
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
    check_journeys(journeys, "breakdown()")
    plan = Plan(definition, resolve_order(definition, order))
    total = Tally(plan.stages)
    groups: dict[str, Tally] = {}
    # a columnar replay's journeys (result.journeys.values()) grouped by a log column or
    # a cohort: counted from its packed columns, group by group, without building them
    # (those built already are read one by one below)
    packed: Any = getattr(journeys, "_mapping", journeys)
    if (
        grouper.kind in ("log", "cohort")
        and hasattr(packed, "tally_into")
        and packed.replayed(definition)
    ):
        built = _columnar_groups(packed, grouper, plan, total, groups)
        if built is not None:
            journeys = built
    for journey in journeys:
        plan.check(journey)
        read = Reading(journey, plan)
        total.add(read)
        name = grouper.group(journey)
        tally = groups.get(name)
        if tally is None:
            tally = groups[name] = Tally(plan.stages)
        tally.add(read)
    grouper.check_found(total.journeys)
    label = by if isinstance(by, str) else getattr(by, "__name__", repr(by))
    return Breakdown(
        by=label,
        total=build_funnel(total, plan, None),
        groups={name: build_funnel(groups[name], plan, name) for name in sorted(groups)},
    )


def _columnar_groups(
    packed: Any, grouper: _Grouper, plan: Plan, total: Tally, groups: dict[str, Tally]
) -> list[Journey] | None:
    """Count the journeys of a columnar replay not built yet into ``total`` and their
    groups (``grouper``'s kind is "log" or "cohort"); return the built ones.  None (and
    nothing counted): too many groups, read the journeys one by one."""
    import numpy as np

    keep, built = packed.split()
    names: dict[str, int] = {}
    if grouper.kind == "log":
        keys = packed.keys_
        codes = np.zeros(len(keys), np.int64)
        for j in np.flatnonzero(keep).tolist():
            codes[j] = names.setdefault(grouper.group_key(keys[j]), len(names))
    else:  # a cohort of the start day: each distinct day read once
        days, inverse = np.unique(packed.start_days(), return_inverse=True)
        of_day = []
        for day in days.tolist():
            name = grouper.cohort(_EPOCH + timedelta(days=day))
            of_day.append(names.setdefault(name, len(names)))
        codes = np.asarray(of_day, np.int64)[inverse.reshape(-1)]
        grouper.found = grouper.found or bool(keep.any())
    if len(names) > _MAX_COLUMNAR_GROUPS:
        return None
    packed.tally_into(total, plan, keep)
    for name, code in names.items():
        tally = groups.get(name)
        if tally is None:
            tally = groups[name] = Tally(plan.stages)
        packed.tally_into(tally, plan, keep & (codes == code))
    return built  # type: ignore[no-any-return]
