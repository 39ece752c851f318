"""Journeys whose history is kept packed until someone reads it.

Theory of operation
-------------------
A replay of a million events records hundreds of thousands of moves, and most of them
are only ever counted.  Building a :class:`~._records.HistoryEntry` per move costs an
object each, and the cyclic garbage collector then walks every one of them again and
again while the heap grows.  The replay fast path (:mod:`journeyfsm.analytics`) keeps
its moves in a few flat columns instead and hands out :class:`LazyJourney` objects:
journeys like any other, except that the ``_history`` slot holds the *source* of the
history (an object with an ``entries()`` method) rather than the list.

The first read of the history (``journey.history``, a snapshot, a copy, a pickle,
``==``, ``repr``, a machine's ``fire``) builds the list from the source, stores it in
the slot and turns the object into a plain :class:`~._records.Journey`
(``__class__`` assignment: the subclass adds no slot, so the layout is the same).  From
then on nothing distinguishes it from a journey ``machine.start`` made, and the engine's
hot path never sees a lazy journey: ``fire`` and the read-only methods call
:func:`settle` on anything that is not exactly a ``Journey``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Protocol

from ._records import NO_HISTORY, HistoryEntry, Journey, _History

__all__ = [
    "LazyJourney",
    "Move",
    "PackedHistory",
    "history_metas",
    "history_moves",
    "materialize",
    "set_source",
    "settle",
]

#: what analytics read of a history entry: (seq, trigger, source, dest, at)
Move = tuple[int, str, str, str, datetime]

#: the slot descriptor of ``Journey._history`` (the subclass's property shadows it)
_SLOT: Any = Journey.__dict__["_history"]


class PackedHistory(Protocol):
    """Where a lazy journey's history comes from."""

    def entries(self) -> list[HistoryEntry]:
        """The journey's history entries, oldest first (a new list)."""
        ...

    def moves(self) -> list[Move]:
        """``(seq, trigger, source, dest, at)`` of each entry, oldest first."""
        ...

    def metas(self) -> list[Mapping[str, Any] | None]:
        """The ``meta`` of each entry, oldest first."""
        ...


def materialize(journey: Journey) -> list[HistoryEntry]:
    """Build a lazy journey's history, store it and make the journey a plain ``Journey``."""
    raw = _SLOT.__get__(journey, Journey)
    if isinstance(raw, list):  # built already (another thread), or set since
        history: list[HistoryEntry] = raw
    else:
        entries = raw.entries()
        history = _History(entries) if entries else NO_HISTORY
        _SLOT.__set__(journey, history)
    journey.__class__ = Journey
    return history


def settle(journey: Any) -> bool:
    """Whether ``journey`` is a plain ``Journey`` now (a lazy one is materialized)."""
    if journey.__class__ is LazyJourney:
        materialize(journey)
        return True
    return journey.__class__ is Journey


def _unbuilt(journey: Journey) -> PackedHistory | None:
    """The history source of a lazy journey whose entries are not built yet, else None."""
    if journey.__class__ is LazyJourney:
        raw = _SLOT.__get__(journey, Journey)
        if not isinstance(raw, list):
            return raw  # type: ignore[no-any-return]
    return None


def history_moves(journey: Journey) -> list[Move]:
    """``(seq, trigger, source, dest, at)`` of each history entry, without building the
    entries of a lazy journey (funnels read a replay's million moves this way)."""
    source = _unbuilt(journey)
    if source is not None:
        return source.moves()
    return [(e.seq, e.trigger, e.source, e.dest, e.at) for e in journey.history]


def history_metas(journey: Journey) -> list[Mapping[str, Any] | None]:
    """The ``meta`` of each history entry (oldest first), as :func:`history_moves`."""
    source = _unbuilt(journey)
    if source is not None:
        return source.metas()
    return [e.meta for e in journey.history]


def set_source(journey: LazyJourney, source: PackedHistory) -> None:
    """Make ``source`` the history of ``journey`` (read when first needed)."""
    _SLOT.__set__(journey, source)


class LazyJourney(Journey):
    """A :class:`~._records.Journey` whose history is built on first access (see the
    module docs); it is a plain ``Journey`` from then on."""

    __slots__ = ()

    @property
    def _history(self) -> list[HistoryEntry]:
        return materialize(self)

    @_history.setter
    def _history(self, value: list[HistoryEntry]) -> None:
        _SLOT.__set__(self, value)

    def __eq__(self, other: object) -> bool:
        materialize(self)
        return self == other

    def __ne__(self, other: object) -> bool:
        materialize(self)
        return self != other

    __hash__ = None  # as Journey: mutable, compared by value

    def __reduce_ex__(self, protocol: Any) -> Any:
        # pickle and deepcopy see the plain Journey it becomes
        materialize(self)
        return self.__reduce_ex__(protocol)
