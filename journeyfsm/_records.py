"""The records a running journey is made of: Journey, HistoryEntry and the Context
that guards, hooks and effects receive.  Plain data; the rules live in _runtime.py."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import attrs

__all__ = ["Context", "HistoryEntry", "JSONDict", "Journey"]

JSONDict = dict[str, Any]


@attrs.frozen
class HistoryEntry:
    """One recorded move: ``seq`` counts from 1, ``source`` is the previous entry's ``dest``.

    ``dest`` equals ``source`` for an internal transition (``dest=None`` in the definition),
    which is recorded but does not change the stage.
    """

    seq: int
    trigger: str
    source: str
    dest: str
    at: datetime
    event_id: str | None = None
    meta: Mapping[str, Any] | None = None

    def to_dict(self) -> JSONDict:
        """A JSON-able dict; ``HistoryEntry.from_dict`` reads it back exactly."""
        out: JSONDict = {
            "seq": self.seq,
            "trigger": self.trigger,
            "source": self.source,
            "dest": self.dest,
            "at": self.at.isoformat(),
            "event_id": self.event_id,
        }
        if self.meta is not None:
            out["meta"] = dict(self.meta)
        return out


class _NoHistory(list):  # type: ignore[type-arg]
    """The one shared, read-only empty history of journeys that have not moved yet.

    Saves a list per idle journey (the runtime swaps in a real list at the first move).
    """

    __slots__ = ()

    def _refuse(self, *args: object, **kwargs: object) -> None:
        raise TypeError(
            "journey history is recorded by JourneyMachine.fire; it cannot be edited directly"
        )

    append = extend = insert = remove = pop = clear = sort = reverse = _refuse
    __setitem__ = __delitem__ = __iadd__ = __imul__ = _refuse  # type: ignore[assignment]


NO_HISTORY: list[HistoryEntry] = _NoHistory()


@attrs.define(slots=True, eq=True, weakref_slot=False)
class Journey:
    """One customer's journey: ``key``, current ``stage``, JSON-able ``data``, ``history``.

    Create journeys with ``JourneyMachine.start`` or ``JourneyMachine.restore``; move them
    with ``JourneyMachine.fire``.  ``version`` counts moves (the stores use it for
    optimistic concurrency).  ``event_ids`` is the bounded window of recent event ids
    used for idempotency (``None`` until the first event id arrives).

    >>> from journeyfsm import JourneyMachine, templates
    >>> machine = JourneyMachine(templates.aida())
    >>> journey = machine.start("c-42")
    >>> journey.stage, journey.version, journey.history
    ('attention', 0, [])
    """

    key: str
    stage: str
    data: JSONDict = attrs.field(factory=dict)
    history: list[HistoryEntry] = NO_HISTORY
    version: int = 0
    event_ids: dict[str, None] | None = None


@attrs.define(slots=True, eq=False, weakref_slot=False)
class Context:
    """What a guard, hook or effect is told about the event being handled.

    Read it, don't change it; a hook may change ``journey.data`` (rolled back if a hook
    fails).  ``source`` is the stage the journey was in; ``dest`` is the destination of
    the transition being tried or taken (``None`` for an internal transition).
    """

    journey: Journey
    trigger: str
    payload: Any
    now: datetime
    source: str
    dest: str | None = None
    event_id: str | None = None
    meta: Mapping[str, Any] | None = None
    guard_log: list[tuple[int, Any, bool]] = attrs.field(factory=list, repr=False)
