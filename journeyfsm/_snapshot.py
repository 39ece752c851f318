"""Snapshots: a journey as a JSON-able dict and back, exactly.

``restore`` checks a snapshot completely and fills nothing in: every key present (only
``history`` may be left out, by ``snapshot(history=False)``), every type exact, every stage
known to the definition, the history a contiguous chain that ends in the journey's stage,
``version`` equal to the number of moves.  The first thing wrong is a ``SnapshotError``
naming the field (``history[3].source``, ``event_ids[1]``) and what to do.

The snapshot names its definition and that definition's version; loading one of another
definition is an error.  A snapshot of another *version* of the same definition loads
only when the caller allows that version (``allow_version=``: a version, several, or
``True`` for any; on the machine or on the call), else ``SnapshotVersionError`` names
both versions and the option: the journey began on rules this machine does not run.
Allowed, it loads when every stage it mentions (its stage, and every ``source`` and
``dest`` in its history) exists in this version; when a stage is gone the error names it
and both versions: migrate the snapshot (rename the stage in ``stage`` and in
``history``) before restoring it.  Triggers in the history are a record of the past and
are not checked against the definition.

Format 2 (this version) also keeps the journey's clock of timeouts: ``started_at`` and
``entered_at`` (ISO times with an offset, or ``None`` when not known), ``entry_seq`` (the
seq of the move that entered the stage, 0 if the journey started there) and
``timeouts_fired`` (how many of this stage entry's timeouts have fired).  Format 1
snapshots (before timeouts) still load: their times are not known (``None``), so no
timeout is due until the journey next enters a stage.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from operator import countOf
from typing import TYPE_CHECKING, Any, Literal

from ._clock import iso, remember_iso
from ._errors import DataError, SnapshotError, SnapshotVersionError
from ._goals import check_goal_state, goals_from_json, goals_to_json
from ._json import check_json, copy_checked, frozen_json
from ._records import (
    NO_DATA,
    NO_HISTORY,
    GoalClock,
    HistoryEntry,
    IdWindow,
    Journey,
    empty_window,
    history_of,
    id_window,
    new_entry,
    new_journey,
)

if TYPE_CHECKING:
    from ._definition import JourneyDefinition

__all__ = [
    "NO_OTHER_VERSION",
    "AllowVersion",
    "Allowed",
    "allowed_versions",
    "restore_journey",
    "snapshot_journey",
]

#: What ``allow_version=`` takes: a version, several, ``True`` (any) or ``False``/``None``.
AllowVersion = bool | int | str | Iterable[int | str] | None
#: ``allowed_versions`` normalized: ``True`` for any version, else the versions allowed.
Allowed = Literal[True] | frozenset[int | str]
NO_OTHER_VERSION: frozenset[int | str] = frozenset()


def allowed_versions(value: AllowVersion, what: str = "allow_version") -> Allowed:
    """``allow_version=`` checked and normalized: ``True`` (any other version loads) or
    the frozenset of versions that load besides the machine's own.

    >>> allowed_versions(1), allowed_versions(["1", 2]) == {"1", 2}, allowed_versions(True)
    (frozenset({1}), True, True)
    """
    if value is None or value is False:
        return NO_OTHER_VERSION
    if value is True:
        return True
    items = (value,) if isinstance(value, (int, str)) else value
    try:
        out = None if isinstance(items, Mapping) else frozenset(items)
    except TypeError:
        out = None
    if out is None or any(type(v) is not int and type(v) is not str for v in out):
        raise TypeError(
            f"{what} takes a definition version (an int or a str), a list of them, or True "
            f"for any version; got {value!r}"
        )
    return out


FORMAT = 2
_REQUIRED_V1 = (
    "format",
    "definition",
    "definition_version",
    "key",
    "stage",
    "data",
    "version",
    "event_ids",
)
_TIMES = ("started_at", "entered_at", "entry_seq", "timeouts_fired")
_REQUIRED = (*_REQUIRED_V1, *_TIMES)
_REQUIRED_SET = frozenset(_REQUIRED)
_N_REQUIRED = len(_REQUIRED)
_REQUIRED_V1_SET = frozenset(_REQUIRED_V1)
_N_REQUIRED_V1 = len(_REQUIRED_V1_SET)
_KEYS = frozenset((*_REQUIRED, "history", "goals"))
_KEYS_V1 = frozenset((*_REQUIRED_V1, "history"))
_ENTRY_REQUIRED = ("seq", "trigger", "source", "dest", "at", "event_id")
_ENTRY_REQUIRED_SET = frozenset(_ENTRY_REQUIRED)
_ENTRY_KEYS = frozenset((*_ENTRY_REQUIRED, "meta"))
UTC = timezone.utc


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
    # the journey's own fields as they are (no property: a snapshot reads, it never
    # gives an idle journey a data dict or its event ids a dict)
    data = journey._data
    if data is NO_DATA:
        data = {}
    elif type(data) is not dict:
        raise DataError(
            f"data (journey {journey.key!r}, stage {journey.stage!r}): journey data must be "
            f"a dict, got {type(data).__name__}",
            path="data",
            key=journey.key,
            stage=journey.stage,
        )
    else:
        data = copy_checked(data, "data", key=journey.key, stage=journey.stage)
    ids: Any = journey._ids
    started, entered = journey.started_at, journey.entered_at
    out: dict[str, Any] = {
        "format": FORMAT,
        "definition": d.name,
        "definition_version": d.version,
        "key": journey.key,
        "stage": journey.stage,
        "data": data,
        "version": journey.version,
        "event_ids": None
        if ids is None
        else list(ids.order)
        if ids.__class__ is IdWindow
        else list(ids),
        "started_at": None if started is None else iso(started),
        "entered_at": None if entered is None else iso(entered),
        "entry_seq": journey.entry_seq,
        "timeouts_fired": journey.timeouts_fired,
    }
    if journey.goals is not None:  # only a journey of a definition with goals has them
        check_goal_state(d.goals, journey)  # what restore would refuse is not written
        out["goals"] = goals_to_json(journey.goals)
    if history:
        # meta was checked when the move was recorded; to_dict gives a plain deep copy
        out["history"] = [h.to_dict() for h in journey.history]
    return out


def restore_journey(
    d: JourneyDefinition,
    snap: Mapping[str, Any],
    *,
    event_id_window: int,
    timeouts: Mapping[str, tuple[Any, ...]] | None = None,
    definition: str | None = None,
    allowed: Allowed = NO_OTHER_VERSION,
) -> Journey:
    """The journey ``snap`` describes, after checking all of it (see the module docstring).

    ``allowed`` (from :func:`allowed_versions`): the other versions of the definition
    whose snapshots load.

    ``event_ids`` longer than ``event_id_window`` keep their newest ``event_id_window``
    ids (the last ones), as the machine's window would have.  ``timeouts`` (each stage's
    timeouts, as the machine keeps them) saves counting them in the definition.

    >>> from journeyfsm import JourneyMachine, templates
    >>> machine = JourneyMachine(templates.aida())
    >>> snap = snapshot_journey(machine.definition, machine.start("c-1"))
    >>> restore_journey(machine.definition, snap, event_id_window=64).stage
    'attention'
    """
    if type(snap) is not dict and not isinstance(snap, Mapping):
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
    # The checks run on every request that loads a journey: test cheaply, explain lazily.
    if "format" not in snap:
        raise _bad_keys(snap, key, FORMAT)
    fmt = snap["format"]
    if type(fmt) is not int or fmt not in (1, FORMAT):
        raise _fail(
            key,
            None,
            f" has format {fmt!r}; this journeyfsm reads formats 1 and {FORMAT}: "
            "upgrade journeyfsm or re-create the snapshot",
        )
    n_keys = len(snap)
    n_required = _N_REQUIRED if fmt == FORMAT else _N_REQUIRED_V1
    has_goals = fmt == FORMAT and "goals" in snap
    if has_goals:  # optional, as history is: counted apart
        n_keys -= 1
    # A plain dict with the right number of keys has exactly the keys it must have when
    # each required one is there: reading them all is the test.  Anything else (a dict
    # subclass may fill in a missing key when read) takes the set test first.
    if not (
        (n_keys == n_required or (n_keys == n_required + 1 and "history" in snap))
        and (
            type(snap) is dict
            or snap.keys() >= (_REQUIRED_SET if fmt == FORMAT else _REQUIRED_V1_SET)
        )
    ):
        raise _bad_keys(snap, key, fmt)
    try:
        name = snap["definition"]
        made_with = snap["definition_version"]
        stage = snap["stage"]
        data = snap["data"]
        version = snap["version"]
        raw_ids = snap["event_ids"]
        if fmt == FORMAT:
            raw_started, raw_entered = snap["started_at"], snap["entered_at"]
            entry_seq, fired = snap["entry_seq"], snap["timeouts_fired"]
    except KeyError:
        raise _bad_keys(snap, key, fmt) from None
    if name != d.name or type(name) is not str:
        raise _fail(
            key,
            None,
            f" belongs to definition {name!r}, not {d.name!r}; "
            f"restore it with a machine for {name!r}",
        )
    if type(made_with) is not int and type(made_with) is not str:
        raise _fail(
            key,
            None,
            ": 'definition_version' must be an int or a str (the definition's version), "
            f"got {type(made_with).__name__} {made_with!r}",
        )
    if made_with != d.version and allowed is not True and made_with not in allowed:
        raise _other_version(d, key, made_with)
    if type(stage) is not str or not d.has_stage(stage):
        raise _unknown_stage(d, f"{_who(key)} is in stage {stage!r}", key, stage, made_with)
    if type(data) is not dict:
        raise _fail(key, stage, f": 'data' must be a dict, got {type(data).__name__}")
    try:
        data = copy_checked(data, "data")
    except DataError as err:
        raise _fail(key, stage, f": {err}") from err
    if type(version) is not int or version < 0:
        raise _fail(
            key,
            stage,
            ": 'version' must be an int >= 0 (the number of moves), got "
            f"{type(version).__name__} {version!r}",
        )
    if raw_ids is None:
        ids = None
    elif type(raw_ids) is list and not raw_ids:
        ids = empty_window()
    else:
        ids = _event_ids(raw_ids, key, stage, event_id_window)
    if n_keys == n_required:  # (without "goals")
        history = NO_HISTORY
    else:
        history = _history(d, snap["history"], key, stage, made_with)
        if version != len(history):
            raise _fail(
                key,
                stage,
                f": 'version' is {version} but 'history' holds {len(history)} moves; "
                "version counts moves, so they must agree (to keep history apart, "
                "snapshot with history=False)",
            )
    if has_goals or d.goals:  # (no call on the usual path: a definition without goals)
        goals = _goals(d, snap["goals"] if has_goals else None, key, stage, made_with != d.version)
    else:
        goals = None
    if fmt == 1:  # before timeouts: when the journey entered its stage is not known
        return new_journey(key, stage, data, history, version, ids, definition, goals=goals)
    # started_at never changes: its text is remembered for the next snapshot; entered_at
    # is remembered only when it is the same text (else a move usually replaces it)
    started_at = _time(raw_started, "started_at", key, stage, remember=True)
    if raw_entered == raw_started and type(raw_entered) is str:
        entered_at = started_at  # the same text: the same (immutable) time, parsed once
    else:
        entered_at = _time(raw_entered, "entered_at", key, stage)
    if type(entry_seq) is not int or not 0 <= entry_seq <= version:
        raise _fail(
            key,
            stage,
            f": 'entry_seq' must be an int from 0 to the version ({version}): the seq of "
            f"the move that entered the stage, got {entry_seq!r}",
        )
    if type(fired) is not int or fired:  # 0, the usual, is valid in every stage
        _check_fired(d, fired, key, stage, timeouts)
    # the clock must be one a journey can have: a journey starts in its stage entry 0 at
    # started_at, and every later entry is the move with seq entry_seq, at entered_at
    if entry_seq == 0 and started_at is not None and entered_at != started_at:
        raise _fail(
            key,
            stage,
            f": 'entry_seq' is 0 (the journey is still in the stage it started in) but "
            f"'entered_at' ({_iso(entered_at)}) is not 'started_at' ({_iso(started_at)})",
        )
    if entry_seq and entered_at is None:
        raise _fail(
            key,
            stage,
            f": 'entered_at' is null but 'entry_seq' is {entry_seq}: a move entered the "
            "stage, so the time it did is known",
        )
    if history and entry_seq and entered_at != history[entry_seq - 1].at:
        raise _fail(
            key,
            stage,
            f": 'entered_at' ({_iso(entered_at)}) is not the time of history[{entry_seq - 1}] "
            f"({iso(history[entry_seq - 1].at)}), the move that entered the stage",
        )
    if history:
        for entry in history[entry_seq:]:
            if entry.dest != stage:
                raise _fail(
                    key,
                    stage,
                    f": 'entry_seq' is {entry_seq} but history[{entry.seq - 1}] moved to "
                    f"{entry.dest!r}; entry_seq is the seq of the last move into {stage!r}",
                )
        if entry_seq and history[entry_seq - 1].dest != stage:
            raise _fail(
                key,
                stage,
                f": 'entry_seq' is {entry_seq} but that move went to "
                f"{history[entry_seq - 1].dest!r}, not {stage!r}",
            )
    return new_journey(
        key,
        stage,
        data,
        history,
        version,
        ids,
        definition,
        started_at,
        entered_at,
        entry_seq,
        fired,
        goals,
    )


def _goals(
    d: JourneyDefinition, raw: Any, key: str, stage: str, other_version: bool
) -> dict[str, GoalClock] | None:
    """The journey's goal state: checked against the definition's goals (a clock of a goal
    it does not have is an error, unless the snapshot is of another, allowed version: then
    the clocks of goals this version dropped end with it).  A snapshot without ``goals``
    of a definition with goals has no clock running (one starts when the journey next
    enters a goal's ``since`` stage, or restarts)."""
    if raw is None:
        return {} if d.goals else None
    if other_version and type(raw) is dict:
        known = {g.name for g in d.goals}
        raw = {name: clock for name, clock in raw.items() if name in known}
    state = goals_from_json(d.goals, raw)
    if isinstance(state, str):
        raise _fail(key, stage, f": {state}")
    return state if d.goals else None


def _check_fired(
    d: JourneyDefinition,
    fired: Any,
    key: str,
    stage: str,
    timeouts: Mapping[str, tuple[Any, ...]] | None,
) -> None:
    n_timeouts = (
        sum(1 for t in d.timeouts if t.stage == stage)
        if timeouts is None
        else len(timeouts.get(stage, ()))
    )
    if type(fired) is not int or not 0 <= fired <= n_timeouts:
        raise _fail(
            key,
            stage,
            f": 'timeouts_fired' must be an int from 0 to {n_timeouts} (the timeouts of "
            f"stage {stage!r}), got {fired!r}",
        )


def _time(raw: Any, field: str, key: str, stage: str, *, remember: bool = False) -> datetime | None:
    if raw is None:
        return None
    if type(raw) is not str or not raw:
        raise _fail(
            key,
            stage,
            f": {field!r} must be an ISO 8601 time with an offset or None, got "
            f"{type(raw).__name__} {raw!r}",
        )
    text = raw[:-1] + "+00:00" if raw[-1] in "Zz" else raw
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise _fail(key, stage, f": {field!r} is {raw!r}, not an ISO 8601 time") from None
    if at.tzinfo is UTC:
        if remember:
            remember_iso(at, text)  # the next snapshot writes this text without formatting
        return at
    if at.utcoffset() is None:
        raise _fail(
            key,
            stage,
            f": {field!r} is a naive time ({raw!r}); write it with a UTC offset",
        )
    return at.astimezone(timezone.utc)


def _who(key: str) -> str:
    return f"snapshot of journey {key!r}"


def _fail(key: str, stage: str | None, message: str) -> SnapshotError:
    return SnapshotError(f"{_who(key)}{message}", key=key, stage=stage)


def _bad_keys(snap: Mapping[str, Any], key: str, fmt: int) -> SnapshotError:
    required, allowed = (_REQUIRED, _KEYS) if fmt == FORMAT else (_REQUIRED_V1, _KEYS_V1)
    missing = [k for k in required if k not in snap]
    if missing:
        return _fail(
            key,
            None,
            f" is missing {', '.join(repr(k) for k in missing)}; restore fills nothing in: "
            "re-create the snapshot with JourneyMachine.snapshot() or add the keys",
        )
    unknown = sorted(set(snap) - allowed, key=repr)
    return _fail(
        key,
        None,
        f" has unknown keys {unknown}; a format {fmt} snapshot has exactly "
        f"{', '.join(sorted(allowed))}: remove the others",
    )


def _event_ids(raw: Any, key: str, stage: str, window: int) -> IdWindow:
    """The window of ``raw``, checked whole: a list of distinct, non-empty, exactly-str ids.

    One hash pass (the set, which the window keeps for the duplicate test) and one type
    pass; the order is a copy of the list, so the snapshot shares nothing with the journey.
    """
    if type(raw) is not list:
        raise _fail(
            key, stage, f": 'event_ids' must be a list of str or None, got {type(raw).__name__}"
        )
    try:
        ids = IdWindow(raw)
    except TypeError:  # an unhashable id
        raise _bad_event_id(raw, key, stage) from None
    n = len(raw)
    if len(ids) != n or "" in ids or countOf(map(type, raw), str) != n:
        raise _bad_event_id(raw, key, stage)
    if n > window:  # keep the newest, as the machine's window does
        return id_window(raw[-window:])
    ids.order = raw.copy()
    ids.as_dict = None
    return ids


def _bad_event_id(raw: list[Any], key: str, stage: str) -> SnapshotError:
    """The error for the first id of ``raw`` that is not a non-empty str or repeats one."""
    seen: dict[str, int] = {}
    for i, event_id in enumerate(raw):
        if type(event_id) is not str or not event_id:
            return _fail(key, stage, f": event_ids[{i}] must be a non-empty str, got {event_id!r}")
        first = seen.setdefault(event_id, i)
        if first != i:
            return _fail(
                key,
                stage,
                f": event_ids[{i}] repeats event_ids[{first}] ({event_id!r}); each event id "
                "is remembered once: remove the repeat",
            )
    return _fail(key, stage, ": 'event_ids' must be a list of distinct non-empty str")


def _history(
    d: JourneyDefinition, raw: Any, key: str, stage: str, made_with: object
) -> list[HistoryEntry]:
    if type(raw) is not list:
        raise _fail(
            key,
            stage,
            f": 'history' must be a list of moves, got {type(raw).__name__}; "
            "leave the key out for a snapshot without history",
        )
    if not raw:
        return NO_HISTORY
    has_stage = d.has_stage
    history: list[HistoryEntry] = []
    previous: str | None = None
    for i, item in enumerate(raw):
        # one test per rule; _bad_entry says which rule failed, and why
        if (
            type(item) is not dict
            or not item.keys() >= _ENTRY_REQUIRED_SET
            or (len(item) != 6 and not (len(item) == 7 and "meta" in item))
        ):
            raise _bad_entry(d, item, i, key, made_with)
        seq, trigger, source, dest = item["seq"], item["trigger"], item["source"], item["dest"]
        event_id, at = item["event_id"], item["at"]
        meta = item.get("meta")
        if (
            type(seq) is not int
            or seq != i + 1
            or type(trigger) is not str
            or not trigger
            or type(source) is not str
            or not has_stage(source)
            or type(dest) is not str
            or not has_stage(dest)
            or type(at) is not str
            or not (event_id is None or (type(event_id) is str and event_id))
            or not (meta is None or type(meta) is dict)
        ):
            raise _bad_entry(d, item, i, key, made_with)
        if previous is not None and source != previous:
            raise _fail(
                key,
                stage,
                f": history[{i}].source is {source!r} but history[{i - 1}].dest is "
                f"{previous!r}; each move starts where the previous one ended",
            )
        if meta is not None:
            try:
                check_json(meta, f"history[{i}].meta")
            except DataError as err:
                raise _fail(key, stage, f": {err}") from err
            meta = frozen_json(meta)  # the entry's own read-only deep copy
        # every field checked above, meta frozen: no converter to run
        history.append(new_entry(seq, trigger, source, dest, _at(at, i, key), event_id, meta))
        previous = dest
    if previous != stage:
        raise _fail(
            key,
            stage,
            f": history[{len(raw) - 1}].dest is {previous!r} but 'stage' is {stage!r}; "
            "the journey is in the stage its last move took it to",
        )
    return history_of(history)


_ENTRY_SHAPE = "a history entry has seq, trigger, source, dest, at, event_id and optionally meta"


def _bad_entry(
    d: JourneyDefinition, item: Any, i: int, key: str, made_with: object
) -> SnapshotError:
    """The error for the first rule ``item`` (``history[i]``) breaks."""
    field = f"history[{i}]"
    if type(item) is not dict:
        return _fail(key, None, f": {field} must be a dict, got {type(item).__name__}")
    missing = [k for k in _ENTRY_REQUIRED if k not in item]
    if missing:
        return _fail(
            key, None, f": {field} is missing {', '.join(repr(k) for k in missing)}; {_ENTRY_SHAPE}"
        )
    unknown = sorted(set(item) - _ENTRY_KEYS, key=repr)
    if unknown:
        return _fail(key, None, f": {field} has unknown keys {unknown}; {_ENTRY_SHAPE}")
    seq = item["seq"]
    if type(seq) is not int or seq != i + 1:
        return _fail(
            key,
            None,
            f": {field}.seq is {seq!r}, expected {i + 1}; moves are numbered 1, 2, ... "
            "without gaps, in order",
        )
    trigger = item["trigger"]
    if type(trigger) is not str or not trigger:
        return _fail(key, None, f": {field}.trigger must be a non-empty str, got {trigger!r}")
    for end in ("source", "dest"):
        stage = item[end]
        if type(stage) is not str or not d.has_stage(stage):
            return _unknown_stage(
                d, f"{_who(key)}: {field}.{end} is stage {stage!r}", key, None, made_with
            )
    if type(item["at"]) is not str:
        return _fail(
            key,
            None,
            f": {field}.at must be an ISO 8601 str with a UTC offset, got "
            f"{type(item['at']).__name__}",
        )
    event_id = item["event_id"]
    if not (event_id is None or (type(event_id) is str and event_id)):
        return _fail(
            key, None, f": {field}.event_id must be a non-empty str or None, got {event_id!r}"
        )
    return _fail(
        key, None, f": {field}.meta must be a dict or None, got {type(item['meta']).__name__}"
    )


def _at(raw: str, i: int, key: str) -> datetime:
    text = raw[:-1] + "+00:00" if raw[-1:] in ("Z", "z") else raw  # Python 3.10 reads no Z
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise _fail(
            key,
            None,
            f": history[{i}].at is {raw!r}, not an ISO 8601 time; write it as "
            "datetime.isoformat() does ('2026-01-01T09:00:00+00:00')",
        ) from None
    if at.tzinfo is UTC:
        remember_iso(at, text)
        return at
    if at.utcoffset() is None:
        raise _fail(
            key,
            None,
            f": history[{i}].at is a naive datetime ({raw!r}); write times with a UTC "
            "offset ('2026-01-01T09:00:00+00:00')",
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


def _other_version(d: JourneyDefinition, key: str, made_with: int | str) -> SnapshotVersionError:
    return SnapshotVersionError(
        f"{_who(key)} was made with version {made_with!r} of definition {d.name!r}, and "
        f"this machine runs version {d.version!r}: a snapshot of another version loads "
        f"only when asked for, as restore(snapshot, allow_version={made_with!r}) or "
        f"JourneyMachine(definition, allow_version={made_with!r}) (it loads if every stage "
        f"it mentions exists in version {d.version!r}; else migrate it first)",
        key=key,
        definition=d.name,
        snapshot_version=made_with,
        machine_version=d.version,
    )


def _iso(value: datetime | None) -> str:
    return "null" if value is None else iso(value)
