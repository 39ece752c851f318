"""The records analytics produce: a replay's summary, funnels, comparisons.

Theory of operation
-------------------
Everything the analytics layer hands back is a frozen attrs record with ``to_dict()``
(JSON-shaped: times as ISO-8601 strings, durations as seconds) so the CLI's ``--json``,
the CSV/JSON exports and the HTML report all read one shape.  Counting is exact: every
number is an ``int`` count of journeys or events, and ratios are derived from those
counts (``None`` where the denominator is zero, never a silent ``0.0``).

These records are the contract between replay (which fills :class:`ReplaySummary`),
the funnel computation (:class:`Funnel`, :class:`Breakdown`, :class:`Comparison`) and
the exporters (diagrams annotated with counts, the HTML report).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import attrs

__all__ = [
    "BadRow",
    "Breakdown",
    "Comparison",
    "DurationStats",
    "Funnel",
    "ReplaySummary",
    "StageDifference",
    "StageStats",
    "TransitionCount",
    "TriggerCounts",
]


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _seconds(value: timedelta | None) -> float | None:
    return None if value is None else value.total_seconds()


@attrs.frozen
class TriggerCounts:
    """What the events of one trigger did during a replay.

    ``moved + blocked + ignored + duplicate`` is the number of events of this trigger
    that were applied (timeouts included: ``timeouts`` counts how many of them were
    fired by a stage timeout rather than read from the log).
    """

    trigger: str
    moved: int = 0
    blocked: int = 0
    ignored: int = 0
    duplicate: int = 0
    timeouts: int = 0

    @property
    def applied(self) -> int:
        """All events of this trigger that were fired, whatever their outcome."""
        return self.moved + self.blocked + self.ignored + self.duplicate

    def to_dict(self) -> dict[str, Any]:
        """``{"trigger": ..., "moved": ..., ..., "applied": ...}``."""
        return {
            "trigger": self.trigger,
            "moved": self.moved,
            "blocked": self.blocked,
            "ignored": self.ignored,
            "duplicate": self.duplicate,
            "timeouts": self.timeouts,
            "applied": self.applied,
        }


@attrs.frozen
class BadRow:
    """A log row replay could not use: its 1-based ``line`` in the file and why."""

    line: int
    reason: str

    def to_dict(self) -> dict[str, Any]:
        """``{"line": 12, "reason": "..."}``."""
        return {"line": self.line, "reason": self.reason}


@attrs.frozen
class ReplaySummary:
    """The run summary of a replay: what was read, applied, skipped and refused.

    - ``rows_read``: data rows read from the source (header lines not counted);
    - ``events_applied``: rows whose event mapped to a trigger and were fired;
    - ``skipped``: unmapped event names and how many rows had each (never an error);
    - ``bad_rows``: rows that could not be read (missing key, unparsable time, ...), at
      most the first 100 kept; ``bad_row_count`` counts them all;
    - ``triggers``: per trigger, the outcomes (sorted by trigger name);
    - ``timeouts_fired``: stage timeouts fired on the log's own clock;
    - ``timezone``: how naive timestamps were read (``"UTC"`` by default);
    - ``end``: the end-of-observation time timeouts were fired up to (``None``: none);
    - ``fast_path``: whether the machine's engine was left out (no hooks ran);
    - ``engine``: which engine ran: ``"columnar"`` (Arrow and numpy, whole columns at
      once), ``"fast"`` (the direct Python loop) or ``"engine"`` (``fire``/``tick``);
    - ``engine_note``: why the columnar engine did not run, when it could not (or "");
    - ``partitions``: how many key-partitioned parts the columnar engine replayed the log
      in (``replay(partitions=...)``; 1: in one piece, as the other engines always run;
      a merged result sums its parts');
    - ``warnings``: loud, human-readable lines (e.g. most events were ignored, with the
      top reasons).
    """

    source: str
    definition: str
    version: int | str
    rows_read: int
    events_applied: int
    journeys: int
    triggers: tuple[TriggerCounts, ...]
    skipped: Mapping[str, int]
    bad_rows: tuple[BadRow, ...]
    bad_row_count: int
    timeouts_fired: int
    timezone: str
    end: datetime | None
    fast_path: bool
    seconds: float
    warnings: tuple[str, ...] = ()
    engine: str = "fast"
    engine_note: str = ""
    partitions: int = 1

    @property
    def skipped_count(self) -> int:
        """Rows whose event name mapped to no trigger."""
        return sum(self.skipped.values())

    def to_dict(self) -> dict[str, Any]:
        """The summary as JSON-shaped data (``end`` as ISO-8601)."""
        return {
            "source": self.source,
            "definition": self.definition,
            "version": self.version,
            "rows_read": self.rows_read,
            "events_applied": self.events_applied,
            "journeys": self.journeys,
            "triggers": [t.to_dict() for t in self.triggers],
            "skipped": dict(self.skipped),
            "skipped_count": self.skipped_count,
            "bad_rows": [b.to_dict() for b in self.bad_rows],
            "bad_row_count": self.bad_row_count,
            "timeouts_fired": self.timeouts_fired,
            "timezone": self.timezone,
            "end": _iso(self.end),
            "fast_path": self.fast_path,
            "engine": self.engine,
            "engine_note": self.engine_note,
            "partitions": self.partitions,
            "seconds": self.seconds,
            "warnings": list(self.warnings),
        }


@attrs.frozen
class DurationStats:
    """Median and 90th percentile of some durations, over ``count`` journeys.

    Both are ``None`` when ``count == 0``.  Percentiles use the nearest-rank method
    (the value at rank ``ceil(p * count)`` of the sorted durations), so they are always
    one of the observed durations.
    """

    count: int
    median: timedelta | None
    p90: timedelta | None

    def to_dict(self) -> dict[str, Any]:
        """``{"count": n, "median_seconds": ..., "p90_seconds": ...}``."""
        return {
            "count": self.count,
            "median_seconds": _seconds(self.median),
            "p90_seconds": _seconds(self.p90),
        }


@attrs.frozen
class StageStats:
    """One stage of a funnel.

    - ``entered``: journeys that entered the stage at least once (starting there counts);
    - ``reached``: journeys that reached this stage or a later one in the funnel order
      (for stages outside the funnel order: equal to ``entered``);
    - ``current``: journeys in the stage now;
    - ``conversion``: ``reached`` of the next funnel stage / ``reached`` of this one
      (``None`` for the last funnel stage, stages outside the order, or 0 reached);
    - ``drop_off``: ``reached`` here minus ``reached`` at the next funnel stage (0 for the
      last one);
    - ``time_to_stage``: from the journey's start to its first entry of this stage, over
      the journeys that entered it;
    - ``time_in_stage``: the length of each completed stay, over the stays that ended: a
      stay starts when the journey enters the stage (or starts there) and ends at the
      next move with a destination (leaving, or re-entering, which starts a new stay);
      internal transitions (``dest=None``) do not end it.
    """

    stage: str
    in_funnel: bool
    entered: int
    reached: int
    current: int
    conversion: float | None
    drop_off: int
    time_to_stage: DurationStats
    time_in_stage: DurationStats

    def to_dict(self) -> dict[str, Any]:
        """JSON-shaped; durations in seconds."""
        return {
            "stage": self.stage,
            "in_funnel": self.in_funnel,
            "entered": self.entered,
            "reached": self.reached,
            "current": self.current,
            "conversion": self.conversion,
            "drop_off": self.drop_off,
            "time_to_stage": self.time_to_stage.to_dict(),
            "time_in_stage": self.time_in_stage.to_dict(),
        }


@attrs.frozen
class TransitionCount:
    """How many recorded moves went ``source`` → ``dest`` by ``trigger``."""

    source: str
    dest: str
    trigger: str
    count: int

    def to_dict(self) -> dict[str, Any]:
        """``{"source": ..., "dest": ..., "trigger": ..., "count": ...}``."""
        return {
            "source": self.source,
            "dest": self.dest,
            "trigger": self.trigger,
            "count": self.count,
        }


@attrs.frozen
class Funnel:
    """Funnel, conversion and time figures of a set of journeys of one definition.

    ``stages`` lists the funnel order first, then every other stage in definition
    order.  ``moves`` counts recorded moves per (source, dest, trigger);
    ``trigger_moves`` counts recorded moves per trigger.  ``label`` names the group
    when the funnel is one part of a :class:`Breakdown` (else ``None``).
    """

    definition: str
    version: int | str
    journeys: int
    order: tuple[str, ...]
    stages: tuple[StageStats, ...]
    moves: tuple[TransitionCount, ...]
    trigger_moves: Mapping[str, int]
    label: str | None = None

    def stage(self, name: str) -> StageStats:
        """The figures of stage ``name`` (``KeyError`` naming the stages if unknown)."""
        for s in self.stages:
            if s.stage == name:
                return s
        known = ", ".join(s.stage for s in self.stages)
        raise KeyError(f"no stage {name!r} in this funnel; stages: {known}")

    @classmethod
    def from_dict(cls, data: Any) -> Funnel:
        """A funnel from its :meth:`to_dict` form (a ``--funnel FUNNEL.json`` file).

        Every key is checked; a bad one is a ``ValueError`` naming it.

        >>> none = DurationStats(0, None, None)
        >>> f = Funnel("d", 1, 3, ("a",), (StageStats("a", True, 3, 3, 1, None, 0, none, none),),
        ...            (), {})
        >>> Funnel.from_dict(f.to_dict()) == f
        True
        >>> Funnel.from_dict({"stages": "a"})
        Traceback (most recent call last):
        ...
        ValueError: funnel.stages: expected list, got str
        """
        return _funnel_from_dict(data)

    def to_dict(self) -> dict[str, Any]:
        """JSON-shaped."""
        return {
            "definition": self.definition,
            "version": self.version,
            "label": self.label,
            "journeys": self.journeys,
            "order": list(self.order),
            "stages": [s.to_dict() for s in self.stages],
            "moves": [m.to_dict() for m in self.moves],
            "trigger_moves": dict(self.trigger_moves),
        }


@attrs.frozen
class Breakdown:
    """One funnel per group: ``by`` names what grouped them (``"data.plan"``,
    ``"meta.channel"``, ``"log.channel"``, ``"cohort.week"`` ...); ``groups`` maps each
    group's value (as a string; journeys without one are under ``"(none)"``) to its
    funnel, in sorted order of the values.
    """

    by: str
    total: Funnel
    groups: Mapping[str, Funnel]

    def to_dict(self) -> dict[str, Any]:
        """JSON-shaped."""
        return {
            "by": self.by,
            "total": self.total.to_dict(),
            "groups": {k: f.to_dict() for k, f in self.groups.items()},
        }


@attrs.frozen
class StageDifference:
    """One stage's figures under two definitions (``None`` where a definition lacks it).

    ``stage_b`` is the stage of ``b`` the figures on the ``b`` side are of, when the
    comparison paired ``stage`` with a stage of another name (a version that renamed it:
    ``compare(..., stages=...)``); ``None``: the same name.
    """

    stage: str
    reached_a: int | None
    reached_b: int | None
    current_a: int | None
    current_b: int | None
    conversion_a: float | None
    conversion_b: float | None
    stage_b: str | None = None

    @property
    def reached_change(self) -> int | None:
        """``reached_b - reached_a`` where both exist."""
        if self.reached_a is None or self.reached_b is None:
            return None
        return self.reached_b - self.reached_a

    def to_dict(self) -> dict[str, Any]:
        """JSON-shaped, with ``reached_change``."""
        return {
            "stage": self.stage,
            "stage_b": self.stage_b,
            "reached_a": self.reached_a,
            "reached_b": self.reached_b,
            "reached_change": self.reached_change,
            "current_a": self.current_a,
            "current_b": self.current_b,
            "conversion_a": self.conversion_a,
            "conversion_b": self.conversion_b,
        }


@attrs.frozen
class Comparison:
    """What-if: one log replayed through two definitions, funnels side by side."""

    a: Funnel
    b: Funnel
    summary_a: ReplaySummary | None
    summary_b: ReplaySummary | None
    stages: tuple[StageDifference, ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON-shaped."""
        return {
            "a": self.a.to_dict(),
            "b": self.b.to_dict(),
            "summary_a": None if self.summary_a is None else self.summary_a.to_dict(),
            "summary_b": None if self.summary_b is None else self.summary_b.to_dict(),
            "stages": [s.to_dict() for s in self.stages],
        }


# -- reading a Funnel back from its JSON form (Funnel.to_dict()) ---------------------------
def _need(data: Mapping[str, Any], key: str, kind: type | tuple[type, ...], where: str) -> Any:
    if key not in data:
        raise ValueError(f"{where}: missing the key {key!r}")
    value = data[key]
    if isinstance(value, bool) and kind in (int, float, (int, float), (int, type(None))):
        raise ValueError(f"{where}.{key}: expected a number, got {value!r}")
    if not isinstance(value, kind):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise ValueError(f"{where}.{key}: expected {names}, got {type(value).__name__}")
    return value


def _durations(data: Any, where: str) -> DurationStats:
    if not isinstance(data, dict):
        raise ValueError(f"{where}: expected an object, got {type(data).__name__}")
    count = _need(data, "count", int, where)

    def seconds(key: str) -> timedelta | None:
        value = _need(data, key, (int, float, type(None)), where)
        return None if value is None else timedelta(seconds=value)

    return DurationStats(count, seconds("median_seconds"), seconds("p90_seconds"))


def _funnel_from_dict(data: Any) -> Funnel:
    """A :class:`Funnel` from its ``to_dict()`` form; ``ValueError`` naming the bad key.

    Used by :meth:`Funnel.from_dict`; here, with the records it makes, because the
    classmethod and the reader need each other.
    """
    if not isinstance(data, dict):
        raise ValueError(f"a funnel is a JSON object, got {type(data).__name__}")
    stages = []
    for i, s in enumerate(_need(data, "stages", list, "funnel")):
        where = f"funnel.stages[{i}]"
        if not isinstance(s, dict):
            raise ValueError(f"{where}: expected an object, got {type(s).__name__}")
        conversion = _need(s, "conversion", (int, float, type(None)), where)
        stages.append(
            StageStats(
                _need(s, "stage", str, where),
                _need(s, "in_funnel", bool, where),
                _need(s, "entered", int, where),
                _need(s, "reached", int, where),
                _need(s, "current", int, where),
                None if conversion is None else float(conversion),
                _need(s, "drop_off", int, where),
                _durations(_need(s, "time_to_stage", dict, where), f"{where}.time_to_stage"),
                _durations(_need(s, "time_in_stage", dict, where), f"{where}.time_in_stage"),
            )
        )
    moves = []
    for i, m in enumerate(data.get("moves", [])):
        where = f"funnel.moves[{i}]"
        if not isinstance(m, dict):
            raise ValueError(f"{where}: expected an object, got {type(m).__name__}")
        moves.append(
            TransitionCount(
                _need(m, "source", str, where),
                _need(m, "dest", str, where),
                _need(m, "trigger", str, where),
                _need(m, "count", int, where),
            )
        )
    trigger_moves = _need(data, "trigger_moves", dict, "funnel") if "trigger_moves" in data else {}
    for trigger, n in trigger_moves.items():
        if isinstance(n, bool) or not isinstance(n, int):
            raise ValueError(f"funnel.trigger_moves.{trigger}: expected int, got {n!r}")
    order = _need(data, "order", list, "funnel")
    if not all(isinstance(s, str) for s in order):
        raise ValueError("funnel.order: expected a list of stage names")
    label = data.get("label")
    return Funnel(
        _need(data, "definition", str, "funnel"),
        _need(data, "version", (int, str), "funnel"),
        _need(data, "journeys", int, "funnel"),
        tuple(order),
        tuple(stages),
        tuple(moves),
        dict(trigger_moves),
        label if isinstance(label, str) else None,
    )
