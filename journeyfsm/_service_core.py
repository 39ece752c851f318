"""The sans-IO core of the service: one pure step from (stored journey, event) to a decision.

Theory of operation
-------------------
A durable move is "read, decide, write".  Reading and writing are a store's business and
belong to a driver (``JourneyService`` today, an async twin later); deciding is here, once,
and does no I/O, as h11's state machine never touches a socket:

    driver: row = load(definition, key); seen = event_seq(definition, key, event_id)
    core:   decision = decide(machine, row, event, seen_seq=seen, now=now)
    driver: if decision.writes: write(decision)  -- ONE transaction, version-checked

``decide`` refuses bad input before anything could be written (unknown trigger, payload
that is not JSON-shaped, naive ``at``, bad event id), answers ``duplicate`` (with the seq
of the move the event id made) for an event id the store has committed, rebuilds the
journey from its row (a corrupted row is a ``StoreError`` naming the table and key),
fires it with deferred effects, and returns exactly the rows a move must write:

- the journey row, with the version the stored row must still have (``None``: the row
  must not exist yet; a journey is first written by its first move),
- the new history entry,
- the event id with the seq of the move (when the event had one),
- one outbox row per pending effect (``EffectCall.to_dict()``).

A blocked, ignored or duplicate event writes nothing (DESIGN Semantics 6: event ids are
remembered only for moves).  The store's write is what makes the move exactly-once: the
version check (and the unique event id) fail if another worker committed first, and the
driver then reads and decides again.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import attrs

from ._clock import ensure_utc
from ._definition import Policy
from ._errors import DataError, SnapshotError, StoreError
from ._json import check_json
from ._outcome import Outcome
from ._records import HistoryEntry, Journey, JSONDict
from ._runtime import JourneyMachine

__all__ = [
    "Decision",
    "Event",
    "EventIdRow",
    "JourneyRow",
    "OutboxRow",
    "decide",
    "journey_from_row",
]


@attrs.frozen
class Event:
    """One thing that happened to one journey, as ``JourneyService.handle_many`` takes it.

    >>> from journeyfsm import Event
    >>> Event("c-42", "add_to_cart", {"sku": "mug"}, event_id="evt-1").trigger
    'add_to_cart'
    """

    key: str
    trigger: str
    payload: Any = None
    event_id: str | None = attrs.field(default=None, kw_only=True)
    at: datetime | None = attrs.field(default=None, kw_only=True)
    meta: Mapping[str, Any] | None = attrs.field(default=None, kw_only=True)
    policy: Policy | None = attrs.field(default=None, kw_only=True)


@attrs.frozen
class JourneyRow:
    """A journey as a store keeps it (history apart): the ``journeys`` table's row."""

    definition: str
    key: str
    definition_version: int | str
    stage: str
    data: JSONDict
    version: int
    entered_at: datetime
    updated_at: datetime


@attrs.frozen
class EventIdRow:
    """A committed event id and the seq of the move it made (``event_ids`` table)."""

    definition: str
    key: str
    event_id: str
    seq: int
    committed_at: datetime


@attrs.frozen
class OutboxRow:
    """One effect to deliver for one move (``outbox`` table); ``call`` is ``EffectCall.to_dict()``."""

    definition: str
    key: str
    seq: int
    effect: str
    idempotency_key: str
    call: JSONDict


@attrs.frozen
class Decision:
    """What ``decide`` concluded: the outcome and exactly the rows to write.

    ``writes`` is false for a blocked, ignored or duplicate outcome.  With ``writes``,
    ``journey`` is the new row and ``expected_version`` the version the stored row must
    still have (``None``: no row may exist yet).
    """

    outcome: Outcome
    now: datetime
    journey: JourneyRow | None = None
    expected_version: int | None = None
    history: HistoryEntry | None = None
    event_id: EventIdRow | None = None
    outbox: tuple[OutboxRow, ...] = ()

    @property
    def writes(self) -> bool:
        """True when the decision has rows to write (a move)."""
        return self.journey is not None


def journey_from_row(machine: JourneyMachine, row: JourneyRow, *, table: str) -> Journey:
    """The journey a stored row describes; ``StoreError`` naming ``table`` and key if corrupted."""
    name = machine.definition.name
    if row.definition != name:
        raise StoreError(
            f"{table} row for journey {row.key!r} belongs to definition {row.definition!r}, "
            f"not {name!r}; use a service whose machine runs {row.definition!r}",
            table=table,
            key=row.key,
        )
    # Format 1: the stores do not keep the timeout clock (entry seq, timeouts fired) yet, so
    # a loaded journey's timeouts are not armed; firing them from a store comes with the
    # store-side timeouts (issue 9), which adds those columns.
    snapshot = {
        "format": 1,
        "definition": row.definition,
        "definition_version": row.definition_version,
        "key": row.key,
        "stage": row.stage,
        "data": row.data,
        "version": row.version,
        "event_ids": None,
    }
    try:
        return machine.restore(snapshot)
    except (SnapshotError, DataError) as err:
        raise StoreError(
            f"{table} row for journey {row.key!r} (definition {name!r}) is corrupted: {err}; "
            "repair or migrate the row (its stage must exist in this definition version)",
            table=table,
            key=row.key,
            stage=row.stage,
        ) from err


def check_event(machine: JourneyMachine, event: Event) -> None:
    """Refuse an event that must never reach a store: raise before anything is written."""
    key, trigger = event.key, event.trigger
    if not isinstance(key, str) or not key or "\x00" in key:
        raise ValueError(
            f"journey key must be a non-empty str without NUL characters (databases such "
            f"as PostgreSQL cannot store them), got {key!r}"
        )
    if not isinstance(trigger, str) or trigger not in machine._events:
        raise machine._unknown(trigger, None)  # the UnknownTrigger fire raises, before any load
    eid = event.event_id
    if eid is not None and (type(eid) is not str or not eid or "\x00" in eid):
        raise TypeError(
            f"event_id must be a non-empty str without NUL characters, or None, got {eid!r} "
            f"(journey {key!r}, trigger {trigger!r})"
        )
    if event.at is not None:
        ensure_utc(event.at, what=f"at= (journey {key!r}, trigger {trigger!r})")
    check_json(event.payload, "payload", key=key, trigger=trigger)
    if event.meta is not None:
        if not isinstance(event.meta, Mapping):
            raise TypeError(
                f"meta must be a JSON-shaped dict, got {type(event.meta).__name__} "
                f"(journey {key!r}, trigger {trigger!r})"
            )
        check_json(dict(event.meta), "meta", key=key, trigger=trigger)


def decide(
    machine: JourneyMachine,
    row: JourneyRow | None,
    event: Event,
    *,
    seen_seq: int | None,
    now: datetime,
    initial_data: Callable[[str], Mapping[str, Any] | None] | None = None,
    table: str = "journeys",
    checked: bool = False,
) -> Decision:
    """The pure step: what handling ``event`` does to the journey stored as ``row``.

    ``seen_seq`` is the seq the store recorded for ``event.event_id`` (``None``: not
    seen); ``now`` is the driver's clock reading (commit times); ``initial_data`` makes
    the data of a journey that has no row yet; ``checked=True`` skips the input checks
    a driver already made with :func:`check_event`.

    >>> from datetime import datetime, timezone
    >>> from journeyfsm import JourneyMachine, templates
    >>> machine = JourneyMachine(templates.aida())
    >>> now = datetime(2026, 1, 1, tzinfo=timezone.utc)
    >>> d = decide(machine, None, Event("c-1", "engage", event_id="e1"), seen_seq=None, now=now)
    >>> d.outcome.status, d.journey.stage, d.expected_version, d.event_id.seq
    ('moved', 'interest', None, 1)
    """
    if not checked:
        check_event(machine, event)
    key = event.key
    if seen_seq is not None:
        stage = row.stage if row is not None else machine.definition.initial_stage
        return Decision(
            Outcome(
                "duplicate", key, event.trigger, stage, None, None, event.event_id, seq=seen_seq
            ),
            now,
        )
    if row is None:
        data = initial_data(key) if initial_data is not None else None
        journey = machine.start(key, data)
    else:
        if row.key != key:
            raise StoreError(
                f"{table} returned the row of journey {row.key!r} for journey {key!r}",
                table=table,
                key=key,
            )
        journey = journey_from_row(machine, row, table=table)
    outcome = machine.fire(
        journey,
        event.trigger,
        event.payload,
        at=event.at,
        event_id=event.event_id,
        meta=event.meta,
        policy=event.policy,
        defer_effects=True,
    )
    entry = outcome.entry
    if not outcome.moved or entry is None:
        return Decision(outcome, now)
    snap = machine.snapshot(journey, history=False)
    # the time the journey entered its stage: kept across internal transitions
    entered_at = entry.at if entry.dest != entry.source or row is None else row.entered_at
    name = machine.definition.name
    new_row = JourneyRow(
        name,
        key,
        machine.definition.version,
        journey.stage,
        snap["data"],
        journey.version,
        entered_at,
        now,
    )
    ids = (
        EventIdRow(name, key, event.event_id, entry.seq, now)
        if event.event_id is not None
        else None
    )
    outbox = tuple(
        OutboxRow(name, key, call.seq, call.effect, call.idempotency_key, call.to_dict())
        for call in outcome.pending_effects
    )
    return Decision(
        outcome,
        now,
        new_row,
        row.version if row is not None else None,
        entry,
        ids,
        outbox,
    )
