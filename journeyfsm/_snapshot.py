"""Snapshots: a journey as a JSON-able dict and back, exactly.

The snapshot names its definition; loading one of another definition, or with a stage
the definition does not have, is a ``SnapshotError`` that says so.  A snapshot of an
older *version* of the same definition loads as long as its stage still exists: that
is how journeys carry over to a new definition version.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ._errors import SnapshotError
from ._json import copy_json
from ._records import NO_HISTORY, HistoryEntry, Journey

if TYPE_CHECKING:
    from ._definition import JourneyDefinition

__all__ = ["restore_journey", "snapshot_journey"]

FORMAT = 1
_KEYS = {
    "format",
    "definition",
    "definition_version",
    "key",
    "stage",
    "data",
    "version",
    "history",
    "event_ids",
}


def snapshot_journey(
    d: JourneyDefinition, journey: Journey, *, history: bool = True
) -> dict[str, Any]:
    ids = journey.event_ids
    out: dict[str, Any] = {
        "format": FORMAT,
        "definition": d.name,
        "definition_version": d.version,
        "key": journey.key,
        "stage": journey.stage,
        "data": copy_json(journey.data),
        "version": journey.version,
        "event_ids": list(ids) if ids is not None else None,
    }
    if history:
        out["history"] = [h.to_dict() for h in journey.history]
    return out


def _fail(msg: str, key: Any = None, stage: Any = None) -> SnapshotError:
    return SnapshotError(
        msg,
        key=key if isinstance(key, str) else None,
        stage=stage if isinstance(stage, str) else None,
    )


def _entry(raw: Any, i: int, key: str) -> HistoryEntry:
    if not isinstance(raw, Mapping):
        raise _fail(f"snapshot of journey {key!r}: history[{i}] must be a dict", key)
    try:
        at = datetime.fromisoformat(raw["at"])
        if at.utcoffset() is None:
            raise _fail(
                f"snapshot of journey {key!r}: history[{i}].at is a naive datetime "
                f"({raw['at']!r}); write times with a UTC offset",
                key,
            )
        meta = raw.get("meta")
        return HistoryEntry(
            int(raw["seq"]),
            raw["trigger"],
            raw["source"],
            raw["dest"],
            at,
            raw.get("event_id"),
            dict(meta) if meta is not None else None,
        )
    except SnapshotError:
        raise
    except (KeyError, TypeError, ValueError) as err:
        raise _fail(
            f"snapshot of journey {key!r}: history[{i}] is malformed "
            f"({type(err).__name__}: {err}); expected keys seq, trigger, source, dest, "
            "at, event_id",
            key,
        ) from err


def restore_journey(d: JourneyDefinition, snap: Mapping[str, Any]) -> Journey:
    if not isinstance(snap, Mapping):
        raise _fail(f"a snapshot must be a dict, got {type(snap).__name__}")
    key = snap.get("key")
    if not isinstance(key, str) or not key:
        raise _fail(f"snapshot has no valid 'key' (got {key!r}); was it made by snapshot()?")
    unknown = set(snap) - _KEYS
    if unknown:
        raise _fail(f"snapshot of journey {key!r} has unknown keys {sorted(unknown)}", key)
    fmt = snap.get("format", FORMAT)
    if fmt != FORMAT:
        raise _fail(
            f"snapshot of journey {key!r} has format {fmt!r}; this journeyfsm reads format "
            f"{FORMAT}: upgrade journeyfsm or re-create the snapshot",
            key,
        )
    if snap.get("definition") != d.name:
        raise _fail(
            f"snapshot of journey {key!r} belongs to definition {snap.get('definition')!r}, "
            f"not {d.name!r}; restore it with a machine for {snap.get('definition')!r}",
            key,
        )
    stage = snap.get("stage")
    if not isinstance(stage, str) or not d.has_stage(stage):
        raise _fail(
            f"snapshot of journey {key!r} is in stage {stage!r}, which definition {d.name!r} "
            f"(version {d.version!r}) does not have; stages: {', '.join(d.stage_names)}",
            key,
            stage,
        )
    data = snap.get("data", {})
    if not isinstance(data, dict):
        raise _fail(f"snapshot of journey {key!r}: 'data' must be a dict", key, stage)
    version = snap.get("version", 0)
    if not isinstance(version, int) or isinstance(version, bool) or version < 0:
        raise _fail(
            f"snapshot of journey {key!r}: 'version' must be an int >= 0, got {version!r}",
            key,
            stage,
        )
    raw_history = snap.get("history") or []
    history = [_entry(h, i, key) for i, h in enumerate(raw_history)] if raw_history else NO_HISTORY
    raw_ids = snap.get("event_ids")
    ids = dict.fromkeys(raw_ids) if raw_ids is not None else None
    return Journey(key, stage, copy_json(data), history, version, ids)
