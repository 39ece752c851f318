"""The records a running journey is made of: Journey, HistoryEntry and the Context
that guards, hooks and effects receive.  Plain data; the rules live in _runtime.py.

Two details protect a move's atomicity (DESIGN Semantics 4) without costing an idle
journey anything:

- a journey's history is a list that refuses edits (``_History``); only the engine
  appends to it, so a hook cannot delete or rewrite what happened;
- while a move runs, the first read of ``journey.data`` (or its replacement) saves a
  copy for rollback.  A move whose hooks never touch the data copies nothing, however
  large the data is (issue 7, point 6).

Two more keep an idle or just-restored journey cheap (issue 16), each invisible from the
outside:

- a journey started without data holds the shared, read-only :data:`NO_DATA` until its
  ``data`` is first read; the read gives it a dict of its own (one per journey, the same
  object on every later read, whichever thread reads first);
- a restored journey keeps its event-id window as the snapshot listed it
  (:class:`IdWindow`: a set for the duplicate test, the list for the order), which
  ``restore`` builds while checking the ids anyway.  ``journey.event_ids`` reads it as
  the dict it always was, built on first read and kept from then on; ``fire`` and
  ``snapshot`` use the window as it is.  Equality, copies and pickles see the same ids
  whichever form a journey holds.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import attrs

from ._clock import UTC as _UTC
from ._clock import iso
from ._json import FrozenDict, copy_checked, copy_json, frozen_json, save_json, thaw

__all__ = [
    "NO_DATA",
    "NO_HISTORY",
    "Context",
    "GoalClock",
    "HistoryEntry",
    "IdWindow",
    "JSONDict",
    "Journey",
    "append_entry",
    "empty_window",
    "history_of",
    "new_entry",
    "new_journey",
    "truncate_history",
]

JSONDict = dict[str, Any]

_new = object.__new__


def _frozen_meta(value: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    if value is None or type(value) is FrozenDict:  # fire checked and froze it already
        return value
    if not isinstance(value, Mapping):
        raise TypeError(f"history meta must be a dict, got {type(value).__name__}")
    return frozen_json(copy_checked(dict(value), "meta"))  # type: ignore[no-any-return]


@attrs.frozen
class HistoryEntry:
    """One recorded move: ``seq`` counts from 1, ``source`` is the previous entry's ``dest``.

    ``dest`` equals ``source`` for an internal transition (``dest=None`` in the definition),
    which is recorded but does not change the stage.  ``meta`` is read-only.

    >>> from datetime import datetime, timezone
    >>> e = HistoryEntry(1, "engage", "attention", "interest",
    ...                  datetime(2026, 1, 1, tzinfo=timezone.utc), meta={"channel": "email"})
    >>> e.to_dict()["meta"]
    {'channel': 'email'}
    """

    seq: int
    trigger: str
    source: str
    dest: str
    at: datetime
    event_id: str | None = None
    meta: Mapping[str, Any] | None = attrs.field(default=None, converter=_frozen_meta)

    def to_dict(self) -> JSONDict:
        """A JSON-able dict; a snapshot's history holds these."""
        out: JSONDict = {
            "seq": self.seq,
            "trigger": self.trigger,
            "source": self.source,
            "dest": self.dest,
            "at": iso(self.at),
            "event_id": self.event_id,
        }
        if self.meta is not None:
            out["meta"] = thaw(self.meta)
        return out


# The slots of the frozen HistoryEntry, written directly (what its attrs __init__ does
# through object.__setattr__, one name lookup per field).
_set_seq = vars(HistoryEntry)["seq"].__set__
_set_trigger = vars(HistoryEntry)["trigger"].__set__
_set_source = vars(HistoryEntry)["source"].__set__
_set_dest = vars(HistoryEntry)["dest"].__set__
_set_at = vars(HistoryEntry)["at"].__set__
_set_event_id = vars(HistoryEntry)["event_id"].__set__
_set_meta = vars(HistoryEntry)["meta"].__set__
# every field, by name (a field added to HistoryEntry must be set here too)
assert [a.name for a in attrs.fields(HistoryEntry)] == [
    "seq",
    "trigger",
    "source",
    "dest",
    "at",
    "event_id",
    "meta",
]


def new_entry(
    seq: int,
    trigger: str,
    source: str,
    dest: str,
    at: datetime,
    event_id: str | None,
    meta: Mapping[str, Any] | None,
) -> HistoryEntry:
    """``HistoryEntry(...)`` for the engine's move: ``meta`` is ``None`` or already frozen
    (``fire`` checked and froze it), so the converter has nothing to do."""
    entry: HistoryEntry = _new(HistoryEntry)
    _set_seq(entry, seq)
    _set_trigger(entry, trigger)
    _set_source(entry, source)
    _set_dest(entry, dest)
    _set_at(entry, at)
    _set_event_id(entry, event_id)
    _set_meta(entry, meta)
    return entry


_EDIT_REFUSED = (
    "journey history is recorded by JourneyMachine.fire and cannot be edited; "
    "to load a journey with a history, JourneyMachine.restore(snapshot)"
)


class _History(list):  # type: ignore[type-arg]
    """A journey's history: a list that only the engine appends to (``list.append``)."""

    __slots__ = ()

    def _refuse(self, *args: object, **kwargs: object) -> Any:
        raise TypeError(_EDIT_REFUSED)

    append = extend = insert = remove = pop = clear = sort = reverse = _refuse
    __setitem__ = __delitem__ = __iadd__ = __imul__ = _refuse

    def __reduce__(self) -> Any:
        # list subclasses pickle their items through append(): rebuild from a plain list
        if self is NO_HISTORY:
            return "NO_HISTORY"  # the shared empty history stays shared across copies
        return (_History, (list(self),))

    def __copy__(self) -> Any:
        return self if self is NO_HISTORY else _History(self)

    def __deepcopy__(self, memo: dict[int, Any]) -> Any:
        # entries are frozen and hold only immutable values: sharing them is a deep copy
        return self.__copy__()


#: The one shared, empty history of journeys that have not moved yet (saves a list per
#: idle journey; the engine swaps in a real one at the first move).
NO_HISTORY: list[HistoryEntry] = _History()

_list_append = list.append
_list_truncate = list.__delitem__


def append_entry(journey: Journey, entry: HistoryEntry) -> None:
    """The engine's one way to add to a history."""
    history = journey._history
    if history is NO_HISTORY:
        history = journey._history = _History()
    _list_append(history, entry)


def truncate_history(journey: Journey, history: list[HistoryEntry], n: int) -> None:
    """Roll a history back to its first ``n`` entries (the list object is kept)."""
    if len(history) > n:
        _list_truncate(history, slice(n, None))
    journey._history = history


def _to_history(value: Iterable[HistoryEntry]) -> list[HistoryEntry]:
    if type(value) is _History:
        return value
    items = list(value)
    for i, item in enumerate(items):
        if not isinstance(item, HistoryEntry):
            raise TypeError(f"journey history[{i}] must be a HistoryEntry, got {item!r}")
    return _History(items) if items else NO_HISTORY


class _NoData(FrozenDict):
    """The type of :data:`NO_DATA` (pickles by name, so copies stay the shared one)."""

    __slots__ = ()

    def __reduce__(self) -> Any:
        return "NO_DATA"


#: The data of a journey started without any: empty and read-only, shared by every such
#: journey until its ``data`` is first read (which gives it a dict of its own).
NO_DATA: dict[str, Any] = _NoData()


class IdWindow(set):  # type: ignore[type-arg]
    """A restored journey's event-id window: the ids as a set (the duplicate test) and
    ``order``, the same ids oldest first.  Only ``fire`` changes it, keeping both alike;
    ``journey.event_ids`` turns it into the dict once someone reads it."""

    __slots__ = ("as_dict", "order")
    order: list[str]
    as_dict: dict[str, None] | None

    def __reduce__(self) -> Any:
        # on its own (outside a journey) it is what journey.event_ids reads: the dict
        return (dict.fromkeys, (list(self.order),))

    def __copy__(self) -> IdWindow:
        return id_window(list(self.order))

    def __deepcopy__(self, memo: dict[int, Any]) -> IdWindow:
        return self.__copy__()

    def __repr__(self) -> str:
        return f"IdWindow({self.order!r})"


def id_window(order: list[str]) -> IdWindow:
    """The window of ``order`` (distinct ids, oldest first; the list is kept, not copied)."""
    window = IdWindow(order)
    window.order = order
    window.as_dict = None
    return window


def _ids_key(ids: Any) -> Any:
    # equality of two journeys' windows, whichever form each holds (a dict compares
    # its keys regardless of order, as dict == dict does)
    if ids is None or ids.__class__ is IdWindow:
        return ids
    return ids.keys() if isinstance(ids, dict) else ids


# first reads that give a journey its own data dict or event-id dict: one at a time, so
# two threads reading the same idle journey get the same object
_FIRST_READ = threading.Lock()

_UNSAVED: Any = object()


def _no_move() -> None:
    return None


_STATUSES = ("pending", "met", "missed")


@attrs.frozen
class GoalClock:
    """A journey's clock for one goal in its current run (docs/rules.md, "Goals").

    ``status`` is ``"pending"`` (the clock runs), ``"met"`` or ``"missed"``; ``since``
    is when the clock started (the journey entered the goal's ``since`` stage, or
    started), ``deadline`` is ``since + within``, and ``at`` is when the goal was met or
    missed (``None`` while pending; a miss is recorded at the deadline).

    >>> from datetime import datetime, timedelta, timezone
    >>> t0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
    >>> GoalClock("pending", t0, t0 + timedelta(days=14)).to_dict()["deadline"]
    '2026-01-15T00:00:00+00:00'
    """

    status: str
    since: datetime
    deadline: datetime
    at: datetime | None = None

    def __attrs_post_init__(self) -> None:
        # checked where it enters: a journey built by hand, or goals set on one, must not
        # carry a clock the machine cannot compare or that restore would refuse
        status, since, deadline, at = self.status, self.since, self.deadline, self.at
        if status.__class__ is not str or status not in _STATUSES:
            raise ValueError(
                f"GoalClock status must be one of {', '.join(_STATUSES)}, got {status!r}"
            )
        for name, value in (("since", since), ("deadline", deadline), ("at", at)):
            if value is None and name == "at":
                continue
            if not isinstance(value, datetime):
                raise TypeError(
                    f"GoalClock {name} must be a timezone-aware datetime, got {value!r}"
                )
            if value.utcoffset() is None:
                raise ValueError(
                    f"GoalClock {name} is a naive datetime ({value.isoformat()}); pass "
                    "datetime(..., tzinfo=timezone.utc)"
                )
            if value.tzinfo is not _UTC:  # other zones: converted to UTC
                object.__setattr__(self, name, value.astimezone(_UTC))
        if deadline < since:
            raise ValueError(f"GoalClock deadline {deadline} is before its since {since}")
        if (at is None) != (status == "pending"):
            raise ValueError(
                "GoalClock at is None exactly while the goal is pending (it is when the goal "
                f"was met or missed), got status={status!r}, at={at!r}"
            )
        if status == "met" and at is not None and not since <= at <= deadline:
            raise ValueError(
                f"GoalClock met at {at}, outside its window {since} .. {deadline}: a goal is "
                "met at or before its deadline"
            )
        if status == "missed" and at != deadline:
            raise ValueError(f"GoalClock missed at {at}: a goal is missed at its deadline")

    def to_dict(self) -> JSONDict:
        """The JSON form a snapshot and the stores' ``goals`` column hold."""
        return {
            "status": self.status,
            "since": iso(self.since),
            "deadline": iso(self.deadline),
            "at": None if self.at is None else iso(self.at),
        }


@attrs.define(slots=True, eq=True, repr=False, weakref_slot=False, on_setattr=attrs.setters.NO_OP)
class Journey:
    """One customer's journey: ``key``, current ``stage``, JSON-able ``data``, ``history``.

    Create journeys with ``JourneyMachine.start`` or ``JourneyMachine.restore``; move them
    with ``JourneyMachine.fire``.  ``version`` counts moves (the stores use it for
    optimistic concurrency).  ``event_ids`` is the bounded window of recent event ids
    used for idempotency (``None`` until the first event id arrives).  ``definition``
    names the definition the journey belongs to; a machine refuses journeys of another.
    ``history`` is read-only: only ``fire`` records moves.

    >>> from journeyfsm import JourneyMachine, templates
    >>> machine = JourneyMachine(templates.aida())
    >>> journey = machine.start("c-42")
    >>> journey.stage, journey.version, journey.history
    ('attention', 0, [])
    >>> journey.history.append("x")
    Traceback (most recent call last):
    ...
    TypeError: journey history is recorded by JourneyMachine.fire and cannot be edited; to load a journey with a history, JourneyMachine.restore(snapshot)
    """

    key: str
    stage: str
    _data: JSONDict = attrs.field(default=NO_DATA, alias="data")
    _history: list[HistoryEntry] = attrs.field(
        default=NO_HISTORY, alias="history", converter=_to_history
    )
    version: int = 0
    #: a dict, an IdWindow (restored, not read yet) or None; read it as ``event_ids``
    _ids: dict[str, None] | IdWindow | None = attrs.field(
        default=None, alias="event_ids", eq=_ids_key
    )
    definition: str | None = attrs.field(default=None, kw_only=True)
    #: when the journey started, and when it entered its current stage (a re-entry
    #: counts, an internal transition does not); ``None`` when not known
    started_at: datetime | None = attrs.field(default=None, kw_only=True)
    entered_at: datetime | None = attrs.field(default=None, kw_only=True)
    #: the seq of the move that entered the current stage (0: the journey started there)
    entry_seq: int = attrs.field(default=0, kw_only=True)
    #: how many of this stage entry's timeouts (in due order) have fired
    timeouts_fired: int = attrs.field(default=0, kw_only=True)
    #: the goal clocks of the current run, by goal name (``None``: the definition has no
    #: goals); replaced whole by each change, never edited in place (docs/rules.md)
    goals: dict[str, GoalClock] | None = attrs.field(default=None, kw_only=True)
    # The Context of the move under way (None when idle): re-entrance check and data save.
    _move: Context | None = attrs.field(default=None, init=False, eq=False)

    @property
    def data(self) -> JSONDict:
        """The journey's JSON-shaped data; hooks may change it (rolled back if the move fails)."""
        if self._data is NO_DATA:
            self._own_data()
        move = self._move
        if move is not None and move._armed and move._saved_data is _UNSAVED:
            move._save_data()
        return self._data

    @data.setter
    def data(self, value: JSONDict) -> None:
        if type(value) is not dict:
            raise TypeError(
                f"journey data must be a dict, got {type(value).__name__} (journey {self.key!r})"
            )
        move = self._move
        if move is not None and move._armed and move._saved_data is _UNSAVED:
            move._save_data()
        self._data = value

    def _own_data(self) -> None:
        with _FIRST_READ:
            if self._data is NO_DATA:
                self._data = {}

    @property
    def history(self) -> list[HistoryEntry]:
        """Every recorded move, oldest first (read-only)."""
        return self._history

    @property
    def event_ids(self) -> dict[str, None] | None:
        """The recent event ids, oldest first, as dict keys (``None``: none seen yet)."""
        ids = self._ids
        if ids.__class__ is IdWindow:
            return self._own_ids()
        return ids  # type: ignore[return-value]

    @event_ids.setter
    def event_ids(self, value: dict[str, None] | None) -> None:
        self._ids = value

    def _own_ids(self) -> dict[str, None] | None:
        with _FIRST_READ:
            ids = self._ids
            if ids.__class__ is IdWindow:
                window: Any = ids
                made = window.as_dict = dict.fromkeys(window.order)
                self._ids = made  # fire knows this dict stands for the window
                return made
            return ids  # type: ignore[return-value]

    _STATE = (
        "key",
        "stage",
        "_data",
        "_history",
        "version",
        "event_ids",
        "definition",
        "started_at",
        "entered_at",
        "entry_seq",
        "timeouts_fired",
        "goals",
    )

    def __getstate__(self) -> dict[str, Any]:
        # a journey copied or pickled in the middle of a move is an idle journey; the
        # event ids go as the dict journey.event_ids reads (without making it here)
        state = {name: getattr(self, name) for name in self._STATE if name != "event_ids"}
        ids = self._ids
        state["event_ids"] = dict.fromkeys(ids.order) if ids.__class__ is IdWindow else ids
        return state

    def __copy__(self) -> Journey:
        # an independent journey: moving the copy must never append to the original's
        # history list or change its data (a shallow copy would share both)
        ids = self._ids
        return Journey(
            self.key,
            self.stage,
            copy_json(self._data),  # NO_DATA is not a dict: shared, as it is read-only
            self._history.__copy__(),  # type: ignore[attr-defined]
            self.version,
            None if ids is None else ids.__copy__() if ids.__class__ is IdWindow else dict(ids),
            definition=self.definition,
            started_at=self.started_at,
            entered_at=self.entered_at,
            entry_seq=self.entry_seq,
            timeouts_fired=self.timeouts_fired,
            goals=None if self.goals is None else dict(self.goals),
        )

    def __setstate__(self, state: dict[str, Any]) -> None:
        for name in self._STATE:
            object.__setattr__(self, name, state.get(name))  # "goals": older pickles lack it
        object.__setattr__(self, "_move", None)

    def __repr__(self) -> str:
        return (
            f"Journey(key={self.key!r}, stage={self.stage!r}, version={self.version}, "
            f"data={self._data!r}, history={list(self._history)!r}, "
            f"event_ids={None if self._ids is None else list(_id_order(self._ids))!r}, "
            f"definition={self.definition!r}, entered_at={self.entered_at!r}"
            + ("" if self.goals is None else f", goals={self.goals!r}")
            + ")"
        )


def new_journey(
    key: str,
    stage: str,
    data: JSONDict,
    history: list[HistoryEntry],
    version: int,
    ids: dict[str, None] | IdWindow | None,
    definition: str | None = None,
    started_at: datetime | None = None,
    entered_at: datetime | None = None,
    entry_seq: int = 0,
    timeouts_fired: int = 0,
    goals: dict[str, GoalClock] | None = None,
) -> Journey:
    """``Journey(...)`` for ``restore``, without the keyword packing and the history
    converter: every value is one restore has checked, ``history`` a ``_History`` (or
    :data:`NO_HISTORY`).  Sets every slot ``Journey.__init__`` sets (a test pins that)."""
    journey: Journey = _new(Journey)
    journey.key = key
    journey.stage = stage
    journey._data = data
    journey._history = history
    journey.version = version
    journey._ids = ids
    journey.definition = definition
    journey.started_at = started_at
    journey.entered_at = entered_at
    journey.entry_seq = entry_seq
    journey.timeouts_fired = timeouts_fired
    journey.goals = goals
    journey._move = None
    return journey


def history_of(entries: list[HistoryEntry]) -> list[HistoryEntry]:
    """The read-only history of ``entries`` (checked HistoryEntry objects, copied)."""
    return _History(entries) if entries else NO_HISTORY


def empty_window() -> IdWindow:
    """An empty event-id window (what ``restore`` makes of ``event_ids: []``)."""
    window = IdWindow()
    window.order = []
    window.as_dict = None
    return window


def _id_order(ids: Any) -> Any:
    return ids.order if ids.__class__ is IdWindow else ids


class Context:
    """What a guard, hook or effect is told about the event being handled (read-only).

    ``source`` is the stage the journey was in; ``dest`` is the destination of the
    transition being tried or taken (``None`` for an internal transition).  A hook may
    change ``journey.data`` (rolled back if the move fails), nothing else.

    >>> from datetime import datetime, timezone
    >>> from journeyfsm import Journey
    >>> ctx = Context(Journey("c-1", "cart"), "pay", {"total": 60},
    ...               datetime(2026, 1, 1, tzinfo=timezone.utc), "cart", "paid")
    >>> ctx.payload["total"], ctx.dest
    (60, 'paid')
    >>> ctx.dest = "elsewhere"
    Traceback (most recent call last):
    ...
    AttributeError: Context is read-only: guards and hooks cannot change what the move records
    """

    __slots__ = (
        "_armed",
        "_dest",
        "_event_id",
        "_guard_log",
        "_journey",
        "_meta",
        "_now",
        "_payload",
        "_reentered",
        "_saved_data",
        "_saved_ref",
        "_source",
        "_trigger",
    )
    _journey: Journey
    _trigger: str
    _payload: Any
    _now: datetime
    _source: str
    _dest: str | None
    _event_id: str | None
    _meta: Mapping[str, Any] | None
    _armed: bool
    _saved_data: Any
    _saved_ref: JSONDict | None
    _reentered: bool
    _guard_log: list[tuple[int, Any, Any]]

    def __init__(
        self,
        journey: Journey,
        trigger: str,
        payload: Any,
        now: datetime,
        source: str,
        dest: str | None = None,
        event_id: str | None = None,
        meta: Mapping[str, Any] | None = None,
    ) -> None:
        self._journey = journey
        self._trigger = trigger
        self._payload = payload
        self._now = now
        self._source = source
        self._dest = dest
        self._event_id = event_id
        self._meta = meta
        self._guard_log = []
        self._armed = False  # True once guards passed and the move began
        self._saved_data = _UNSAVED
        self._saved_ref = None
        self._reentered = False

    def __reduce__(self) -> Any:
        raise TypeError("a Context lives for one event; read what you need from it instead")

    @property
    def journey(self) -> Journey:
        """The journey being moved (its ``data`` is the one thing a hook may change)."""
        return self._journey

    @property
    def trigger(self) -> str:
        """The trigger being fired."""
        return self._trigger

    @property
    def payload(self) -> Any:
        """The payload given to ``fire``."""
        return self._payload

    @property
    def now(self) -> datetime:
        """The event's time (UTC): ``at=`` or the machine's clock."""
        return self._now

    @property
    def source(self) -> str:
        """The stage the journey was in when the event arrived."""
        return self._source

    @property
    def dest(self) -> str | None:
        """The destination of the candidate being tried or taken (``None``: internal)."""
        return self._dest

    @property
    def event_id(self) -> str | None:
        """The event id given to ``fire``, if any."""
        return self._event_id

    @property
    def meta(self) -> Mapping[str, Any] | None:
        """The (read-only) metadata the history entry records."""
        return self._meta

    @property
    def guard_log(self) -> list[tuple[int, Any, Any]]:
        """What the engine learned while trying candidates: (candidate index, guard, result)."""
        return self._guard_log

    def _save_data(self) -> None:
        """Keep what rollback needs before anyone can change the journey's data."""
        journey = self._journey
        if journey._data is NO_DATA:  # rollback restores a dict in place: make it one now
            journey._own_data()
        data = journey._data
        self._saved_ref = data
        self._saved_data = save_json(data)

    def __repr__(self) -> str:
        return (
            f"Context(key={self._journey.key!r}, trigger={self._trigger!r}, "
            f"source={self._source!r}, dest={self._dest!r}, event_id={self._event_id!r})"
        )


def _read_only(self: Context, value: object = None) -> None:
    raise AttributeError(
        "Context is read-only: guards and hooks cannot change what the move records"
    )


for _name in ("journey", "trigger", "payload", "now", "source", "dest", "event_id", "meta"):
    _prop = vars(Context)[_name]
    setattr(Context, _name, property(_prop.fget, _read_only, _read_only, _prop.__doc__))
del _name, _prop
