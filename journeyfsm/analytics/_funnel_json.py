"""Reading a :class:`Funnel` back from its JSON form (``Funnel.to_dict()``)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from ._results import DurationStats, Funnel, StageStats, TransitionCount

__all__ = ["funnel_from_dict"]


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


def funnel_from_dict(data: Any) -> Funnel:
    """A :class:`Funnel` from its ``to_dict()`` form; ``ValueError`` naming the bad key.

    Used by :meth:`Funnel.from_dict`.
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
