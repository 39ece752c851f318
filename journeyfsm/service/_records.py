"""The records of the durable service: the event a driver takes, the rows a store keeps,
and the decisions and reports the sans-IO core (``_core``) returns."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal

import attrs

from .._definition import Policy
from .._outcome import Outcome
from .._records import HistoryEntry, JSONDict

__all__ = [
    "Decision",
    "Event",
    "EventIdRow",
    "JourneyImport",
    "JourneyRow",
    "MigrationReport",
    "OutboxItem",
    "OutboxRow",
    "OutboxStatus",
    "TickDecision",
    "TickReport",
    "as_event",
]


#: The state of an outbox row: ``"pending"`` (to deliver, or retried after a failure),
#: ``"done"`` (delivered) or ``"dead"`` (gave up after the last attempt; requeue it).
OutboxStatus = Literal["pending", "done", "dead", "dropped"]


@attrs.frozen
class OutboxItem:
    """One outbox row as a worker or a monitor reads it.

    ``call`` is the ``EffectCall.to_dict()`` written with the move; ``attempts`` counts
    claims; ``last_error`` keeps the last failure; ``status`` is ``"pending"``,
    ``"done"`` or ``"dead"`` (dead-lettered).
    """

    id: int
    definition: str
    key: str
    seq: int
    effect: str
    idempotency_key: str
    call: Any
    status: OutboxStatus
    attempts: int
    available_at: datetime
    lease_owner: str | None = None
    lease_until: datetime | None = None
    last_error: str | None = None


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
    """A journey as a store keeps it (history apart): the ``journeys`` table's row.

    ``started_at``, ``entered_at``, ``entry_seq`` and ``timeouts_fired`` are the
    journey's timeout clock; ``next_due`` is when its next timeout or goal miss is due
    (``None``: none armed), the indexed column a tick claims by; ``goals`` the journey's
    goal clocks as JSON (``Journey.goals``; ``None`` for a definition without goals).
    """

    definition: str
    key: str
    definition_version: int | str
    stage: str
    data: JSONDict
    version: int
    entered_at: datetime
    updated_at: datetime
    started_at: datetime
    entry_seq: int
    timeouts_fired: int
    next_due: datetime | None
    goals: JSONDict | None = None


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

    With a ``journey`` row, ``expected_version`` and ``expected_fired`` are the
    ``version`` and ``timeouts_fired`` the stored row must still have (``None``: no row
    may exist yet); ``history`` is ``None`` for a timeout that fired without a move (the
    row's clock changes, nothing else).  ``timeouts`` are the decisions of the timeouts
    that fired before the event (see the module docstring), written first.  ``outcome``
    is ``None`` only for a tick's repair of a stale ``next_due``.  ``writes`` is false
    for a blocked, ignored or duplicate event before which no timeout fired.
    """

    outcome: Outcome | None
    now: datetime
    journey: JourneyRow | None = None
    expected_version: int | None = None
    history: HistoryEntry | None = None
    event_id: EventIdRow | None = None
    outbox: tuple[OutboxRow, ...] = ()
    expected_fired: int | None = None
    timeouts: tuple[Decision, ...] = ()

    @property
    def writes(self) -> bool:
        """True when the decision has rows to write (a move, or a timeout that fired)."""
        return self.journey is not None or bool(self.timeouts)

    @property
    def result(self) -> Outcome:
        """The event's outcome (a handled event's decision always has one)."""
        assert self.outcome is not None, "a repair decision has no outcome"
        return self.outcome


@attrs.frozen
class JourneyImport:
    """One whole journey as ``JourneyService.import_journeys`` writes it: its row, its
    history (every move, oldest first) and the event ids of its moves, each with the seq of
    its move; never outbox rows (imported moves run no effects)."""

    row: JourneyRow
    history: tuple[HistoryEntry, ...]
    event_ids: tuple[EventIdRow, ...]


@attrs.frozen
class TickDecision:
    """What ``decide_tick`` concluded for one claimed journey: the timeouts' outcomes and
    the decisions to write, in order (a chain: each expects the row the one before made).
    """

    outcomes: tuple[Outcome, ...]
    decisions: tuple[Decision, ...]


@attrs.frozen
class TickReport:
    """What ``JourneyService.tick`` did: ``journeys`` claimed and advanced, timeouts
    ``fired`` (one outcome each in ``outcomes``: moved, blocked or ignored), ``skipped``
    due journeys another worker held or had advanced (counted by ``batch_size=1`` ticks,
    which read the due keys first; a batched claim passes over held rows without seeing
    them, so it is 0 there), and ``failed``: ``(key, error)``
    for each journey whose timeout raised (a hook's ``HookError``, a corrupted row's
    ``StoreError``); nothing of those was written, and the next tick tries again.

    >>> from journeyfsm import TickReport
    >>> TickReport(0, 0, (), 0, ()).fired
    0
    """

    journeys: int
    fired: int
    outcomes: tuple[Outcome, ...]
    skipped: int
    failed: tuple[tuple[str, str], ...]


_EVENT_FIELDS = frozenset({"key", "trigger", "payload", "event_id", "at", "meta", "policy"})


def as_event(item: object, index: int) -> Event:
    """An ``Event`` from what ``handle_many`` accepts: an Event, a tuple or a dict."""
    if isinstance(item, Event):
        return item
    if isinstance(item, tuple) and len(item) in (2, 3):
        return Event(*item)
    if isinstance(item, Mapping) and "key" in item and "trigger" in item:
        unknown = set(item) - _EVENT_FIELDS
        if not unknown:
            fields = dict(item)
            return Event(
                fields.pop("key"), fields.pop("trigger"), fields.pop("payload", None), **fields
            )
        raise TypeError(
            f"handle_many() event at index {index} has unknown fields {sorted(unknown)}; "
            f"an event dict has key, trigger and optionally payload, event_id, at, meta, policy"
        )
    raise TypeError(
        f"handle_many() takes Event objects, (key, trigger[, payload]) tuples or dicts with "
        f"key and trigger; got {item!r} at index {index}"
    )


@attrs.frozen
class MigrationReport:
    """What ``JourneyService.migrate`` found (``dry_run=True``) or did.

    ``journeys`` rows were on ``from_version``; ``moves`` counts them by
    ``(old stage, new stage)``; ``migrated`` were written (0 in a dry run); ``skipped``
    rows were on another version (already migrated: a re-run after a crash skips them);
    ``failed`` lists ``(key, reason)`` for each journey that cannot move (its data
    function raised or returned what is not JSON-shaped, its row is corrupted, or live
    traffic kept moving it); ``sampled`` rows had the data function run on them in a dry
    run (every row is checked in a real run); ``batches`` transactions committed.

    >>> from journeyfsm import MigrationReport
    >>> MigrationReport(True, 1, 2, 0, 0, {}, 0, (), 0, 0).ok
    True
    """

    dry_run: bool
    from_version: int | str
    to_version: int | str
    journeys: int
    migrated: int
    moves: Mapping[tuple[str, str], int]
    skipped: int
    failed: tuple[tuple[str, str], ...]
    sampled: int
    batches: int

    @property
    def ok(self) -> bool:
        """True when no journey failed."""
        return not self.failed
