"""Snapshots: a journey as a JSON-able dict and back, exactly.

``restore`` checks a snapshot completely and fills nothing in: every key present (only
``history`` may be left out, by ``snapshot(history=False)``), every type exact, every stage
known to the definition, the history a contiguous chain that ends in the journey's stage,
``version`` equal to the number of moves.  The first thing wrong is a ``SnapshotError``
naming the field (``history[3].source``, ``event_ids[1]``) and what to do.

The snapshot names its definition; loading one of another definition is an error.  A
snapshot of another *version* of the same definition loads when every stage it mentions
(its stage, and every ``source`` and ``dest`` in its history) exists in this version:
that is how journeys carry over to a new definition version.  When a stage is gone the
error names it and both versions: migrate the snapshot (rename the stage in ``stage`` and
in ``history``) before restoring it.  Triggers in the history are a record of the past
and are not checked against the definition.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from ._errors import DataError, SnapshotError
from ._json import check_json, copy_json
from ._records import NO_HISTORY, HistoryEntry, Journey

if TYPE_CHECKING:
    from ._definition import JourneyDefinition

__all__ = ["restore_journey", "snapshot_journey"]

FORMAT = 1
_REQUIRED = (
    "format",
    "definition",
    "definition_version",
    "key",
    "stage",
    "data",
    "version",
    "event_ids",
)
_KEYS = frozenset((*_REQUIRED, "history"))
_ENTRY_REQUIRED = ("seq", "trigger", "source", "dest", "at", "event_id")
_ENTRY_KEYS = frozenset((*_ENTRY_REQUIRED, "meta"))


def snapshot_journey(
    d: JourneyDefinition, journey: Journey, *, history: bool = True
) -> dict[str, Any]:
    """A JSON-able dict of ``journey``; raises ``DataError`` if its data is not JSON-shaped.

    >>> from journeyfsm import JourneyMachine, templates
    >>> machine = JourneyMachine(templates.aida())
    >>> snap = snapshot_journey(machine.definition, machine.start("c-1", {"n": 1}))
    >>> snap["stage"], snap["data"], snap["version"], snap["history"]
    ('attention', {'n': 1}, 0, [])
    """
    check_json(journey.data, "data", key=journey.key, stage=journey.stage)
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
        entries = []
        for h in journey.history:
            entry = h.to_dict()
            if "meta" in entry:  # to_dict copies meta shallowly: the snapshot owns its copy
                check_json(entry["meta"], f"history[{h.seq - 1}].meta", key=journey.key)
                entry["meta"] = copy_json(entry["meta"])
            entries.append(entry)
        out["history"] = entries
    return out


def restore_journey(
    d: JourneyDefinition, snap: Mapping[str, Any], *, event_id_window: int
) -> Journey:
    """The journey ``snap`` describes, after checking all of it (see the module docstring).

    ``event_ids`` longer than ``event_id_window`` keep their newest ``event_id_window``
    ids (the last ones), as the machine's window would have.

    >>> from journeyfsm import JourneyMachine, templates
    >>> machine = JourneyMachine(templates.aida())
    >>> snap = snapshot_journey(machine.definition, machine.start("c-1"))
    >>> restore_journey(machine.definition, snap, event_id_window=64).stage
    'attention'
    """
    if not isinstance(snap, Mapping):
        raise SnapshotError(
            f"a snapshot must be a dict, got {type(snap).__name__}; "
            "pass what JourneyMachine.snapshot() returned (after json.loads, if stored as text)"
        )
    key = snap.get("key")
    if type(key) is not str or not key:
        raise SnapshotError(
            f"snapshot has no valid 'key' (got {key!r}); it must be a non-empty str: "
            "was it made by JourneyMachine.snapshot()?"
        )
    who = f"snapshot of journey {key!r}"
    missing = [k for k in _REQUIRED if k not in snap]
    if missing:
        raise SnapshotError(
            f"{who} is missing {', '.join(repr(k) for k in missing)}; restore fills nothing "
            "in: re-create the snapshot with JourneyMachine.snapshot() or add the keys",
            key=key,
        )
    unknown = sorted(set(snap) - _KEYS, key=repr)
    if unknown:
        raise SnapshotError(
            f"{who} has unknown keys {unknown}; a snapshot has exactly "
            f"{', '.join(sorted(_KEYS))}: remove the others",
            key=key,
        )
    fmt = snap["format"]
    if type(fmt) is not int or fmt != FORMAT:
        raise SnapshotError(
            f"{who} has format {fmt!r}; this journeyfsm reads format {FORMAT}: "
            "upgrade journeyfsm or re-create the snapshot",
            key=key,
        )
    name = snap["definition"]
    if name != d.name or type(name) is not str:
        raise SnapshotError(
            f"{who} belongs to definition {name!r}, not {d.name!r}; "
            f"restore it with a machine for {name!r}",
            key=key,
        )
    made_with = snap["definition_version"]
    if type(made_with) not in (int, str):
        raise SnapshotError(
            f"{who}: 'definition_version' must be an int or a str (the definition's "
            f"version), got {type(made_with).__name__} {made_with!r}",
            key=key,
        )
    stage = snap["stage"]
    if type(stage) is not str or not d.has_stage(stage):
        raise _unknown_stage(d, f"{who} is in stage {stage!r}", key, stage, made_with)

    data = snap["data"]
    if type(data) is not dict:
        raise SnapshotError(
            f"{who}: 'data' must be a dict, got {type(data).__name__}",
            key=key,
            stage=stage,
        )
    try:
        check_json(data, "data")
    except DataError as err:
        raise SnapshotError(f"{who}: {err}", key=key, stage=stage) from err
    version = snap["version"]
    if type(version) is not int or version < 0:
        raise SnapshotError(
            f"{who}: 'version' must be an int >= 0 (the number of moves), got "
            f"{type(version).__name__} {version!r}",
            key=key,
            stage=stage,
        )
    ids = _event_ids(snap["event_ids"], who, key, stage, event_id_window)
    if "history" not in snap:
        history = NO_HISTORY
    else:
        history = _history(d, snap["history"], who, key, stage, made_with)
        if version != len(history):
            raise SnapshotError(
                f"{who}: 'version' is {version} but 'history' holds {len(history)} moves; "
                "version counts moves, so they must agree (to keep history apart, "
                "snapshot with history=False)",
                key=key,
                stage=stage,
            )
    return Journey(key, stage, copy_json(data), history, version, ids)


def _event_ids(raw: Any, who: str, key: str, stage: str, window: int) -> dict[str, None] | None:
    if raw is None:
        return None
    if type(raw) is not list:
        raise SnapshotError(
            f"{who}: 'event_ids' must be a list of str or None, got {type(raw).__name__}",
            key=key,
            stage=stage,
        )
    ids: dict[str, None] = {}
    for i, event_id in enumerate(raw):
        if type(event_id) is not str or not event_id:
            raise SnapshotError(
                f"{who}: event_ids[{i}] must be a non-empty str, got {event_id!r}",
                key=key,
                stage=stage,
            )
        if event_id in ids:
            first = raw.index(event_id)
            raise SnapshotError(
                f"{who}: event_ids[{i}] repeats event_ids[{first}] ({event_id!r}); "
                "each event id is remembered once: remove the repeat",
                key=key,
                stage=stage,
            )
        ids[event_id] = None
    if len(ids) > window:  # keep the newest, as the machine's window does
        ids = dict.fromkeys(raw[-window:])
    return ids


def _history(
    d: JourneyDefinition, raw: Any, who: str, key: str, stage: str, made_with: object
) -> list[HistoryEntry]:
    if type(raw) is not list:
        raise SnapshotError(
            f"{who}: 'history' must be a list of moves, got {type(raw).__name__}; "
            "leave the key out for a snapshot without history",
            key=key,
            stage=stage,
        )
    if not raw:
        return NO_HISTORY
    history = []
    previous: str | None = None
    for i, item in enumerate(raw):
        entry = _entry(d, item, f"history[{i}]", i + 1, who, key, made_with)
        if previous is not None and entry.source != previous:
            raise SnapshotError(
                f"{who}: history[{i}].source is {entry.source!r} but history[{i - 1}].dest "
                f"is {previous!r}; each move starts where the previous one ended",
                key=key,
                stage=stage,
            )
        previous = entry.dest
        history.append(entry)
    if previous != stage:
        raise SnapshotError(
            f"{who}: history[{len(raw) - 1}].dest is {previous!r} but 'stage' is {stage!r}; "
            "the journey is in the stage its last move took it to",
            key=key,
            stage=stage,
        )
    return history


def _entry(
    d: JourneyDefinition,
    raw: Any,
    field: str,
    seq: int,
    who: str,
    key: str,
    made_with: object,
) -> HistoryEntry:
    def fail(message: str) -> SnapshotError:
        return SnapshotError(f"{who}: {field}{message}", key=key)

    if type(raw) is not dict:
        raise fail(f" must be a dict, got {type(raw).__name__}")
    missing = [k for k in _ENTRY_REQUIRED if k not in raw]
    if missing:
        raise fail(
            f" is missing {', '.join(repr(k) for k in missing)}; a history entry has "
            "seq, trigger, source, dest, at, event_id and optionally meta"
        )
    unknown = sorted(set(raw) - _ENTRY_KEYS, key=repr)
    if unknown:
        raise fail(
            f" has unknown keys {unknown}; a history entry has seq, trigger, source, dest, "
            "at, event_id and optionally meta"
        )
    if type(raw["seq"]) is not int or raw["seq"] != seq:
        raise fail(
            f".seq is {raw['seq']!r}, expected {seq}; moves are numbered 1, 2, ... "
            "without gaps, in order"
        )
    trigger = raw["trigger"]
    if type(trigger) is not str or not trigger:
        raise fail(f".trigger must be a non-empty str, got {trigger!r}")
    ends = []
    for end in ("source", "dest"):
        value = raw[end]
        if type(value) is not str or not d.has_stage(value):
            raise _unknown_stage(
                d, f"{who}: {field}.{end} is stage {value!r}", key, None, made_with
            )
        ends.append(value)
    at = _at(raw["at"], fail)
    event_id = raw["event_id"]
    if event_id is not None and (type(event_id) is not str or not event_id):
        raise fail(f".event_id must be a non-empty str or None, got {event_id!r}")
    meta = raw.get("meta")
    if meta is not None:
        if type(meta) is not dict:
            raise fail(f".meta must be a dict or None, got {type(meta).__name__}")
        try:
            check_json(meta, f"{field}.meta")
        except DataError as err:
            raise SnapshotError(f"{who}: {err}", key=key) from err
        meta = copy_json(meta)
    return HistoryEntry(seq, trigger, ends[0], ends[1], at, event_id, meta)


def _at(raw: Any, fail: Callable[[str], SnapshotError]) -> datetime:
    if type(raw) is not str:
        raise fail(f".at must be an ISO 8601 str with a UTC offset, got {type(raw).__name__}")
    text = raw[:-1] + "+00:00" if raw.endswith(("Z", "z")) else raw  # 3.10 reads no 'Z'
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise fail(
            f".at is {raw!r}, not an ISO 8601 time; write it as datetime.isoformat() does "
            "('2026-01-01T09:00:00+00:00')"
        ) from None
    if at.utcoffset() is None:
        raise fail(
            f".at is a naive datetime ({raw!r}); write times with a UTC offset "
            "('2026-01-01T09:00:00+00:00')"
        )
    return at.astimezone(timezone.utc)


def _unknown_stage(
    d: JourneyDefinition, what: str, key: str, stage: Any, made_with: object
) -> SnapshotError:
    if made_with != d.version:
        made = f" (the snapshot was made with version {made_with!r})"
        fix = (
            "migrate the snapshot first: rename the stage in 'stage' and 'history' to a "
            f"stage of version {d.version!r}"
        )
    else:
        made = ""
        fix = (
            "the snapshot names this same version, so it was edited or the definition "
            "changed without a new version"
        )
    return SnapshotError(
        f"{what}, which definition {d.name!r} (version {d.version!r}) does not have{made}; "
        f"stages: {', '.join(d.stage_names)}; {fix}",
        key=key,
        stage=stage if isinstance(stage, str) else None,
    )
