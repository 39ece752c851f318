"""The seam between the service and a database: the ``AsyncStore`` and
``AsyncStoreTransaction`` protocols the drivers run against, and the outbox row a worker
claims.

The service defines what it needs and the stores (journeyfsm.stores) provide it, so the
service never imports a store: a host hands one in.

A store keeps four tables (names prefixed by the store's ``prefix``): ``journeys`` (one
row per (definition, key): stage, data, version, definition version, the timeout clock
``started_at``, ``entered_at``, ``entry_seq``, ``timeouts_fired``, and ``next_due``,
indexed, ``NULL`` when no timeout is armed), ``history`` (append-only, one row per move),
``event_ids`` (every committed event id with the seq of the move it made) and ``outbox``
(one row per effect of a move).  Everything is read and written inside
``async with store.transaction()``; the ``AsyncStoreTransaction`` commits when the
``async with`` block ends normally and rolls back when it raises.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime, timedelta
from typing import Protocol, runtime_checkable

from .._errors import StoreError
from .._records import HistoryEntry
from ._core import Decision, JourneyRow
from ._records import JourneyImport, OutboxItem, OutboxStatus

__all__ = ["AsyncStore", "AsyncStoreTransaction", "OutboxItem", "OutboxStatus"]


@runtime_checkable
class AsyncStoreTransaction(Protocol):
    """What a driver can do inside ``async with store.transaction()``."""

    async def load(self, definition: str, key: str) -> JourneyRow | None:
        """The journey's row, or ``None``."""

    async def definitions_of(self, key: str) -> list[str]:
        """The definitions that have a journey ``key`` (one customer, several journeys)."""

    async def event_seq(self, definition: str, key: str, event_id: str) -> int | None:
        """The seq of the move that committed ``event_id`` for this journey, or ``None``."""

    async def write(self, decision: Decision) -> None:
        """Write a move's rows (after those of the timeouts that fired before it, its
        ``timeouts``); ``ConcurrencyConflict`` if another writer came first."""

    async def load_many(self, definition: str, keys: Sequence[str]) -> dict[str, JourneyRow]:
        """The stored rows of ``keys`` by key (a key without a row is left out)."""

    async def event_seqs(
        self, definition: str, pairs: Sequence[tuple[str, str]]
    ) -> dict[tuple[str, str], int]:
        """For each committed ``(key, event_id)`` of ``pairs``: the seq of its move."""

    async def write_many(self, decisions: Sequence[Decision]) -> None:
        """Write the moves of a batch, in order, with one statement per table where it can.

        A journey moved by several of them is written once: its last row, checked against
        the version it had before the first (see :func:`final_rows`).  Decisions that
        write nothing are skipped.  ``ConcurrencyConflict`` if another writer moved any
        of the journeys first; then nothing of the batch may be kept (roll back).
        """

    async def history(
        self, definition: str, key: str, *, after: int = 0, limit: int = 100
    ) -> list[HistoryEntry]:
        """History entries with ``seq > after``, oldest first, at most ``limit``."""

    async def due(self, definition: str, *, now: datetime, limit: int) -> list[str]:
        """Keys of up to ``limit`` journeys whose ``next_due <= now``, soonest first."""

    async def claim_due(self, definition: str, key: str, *, now: datetime) -> JourneyRow | None:
        """Journey ``key``'s row if it is still due at ``now``, held by this transaction
        until it ends (PostgreSQL: ``FOR UPDATE SKIP LOCKED``); ``None`` if it is no longer
        due or another transaction holds it."""

    async def claim_due_batch(
        self, definition: str, *, now: datetime, limit: int, skip: Sequence[str] = ()
    ) -> list[JourneyRow | StoreError]:
        """Up to ``limit`` rows due at ``now`` (soonest first; the keys in ``skip`` left
        out), held by this transaction until it ends: PostgreSQL locks them with ONE
        ``SELECT ... ORDER BY next_due LIMIT n FOR UPDATE SKIP LOCKED`` (rows another
        transaction holds are passed over); SQLite's write transaction and the memory
        store's lock hold everything.  A row that cannot be read (corrupted) is its
        ``StoreError`` (naming table and key) in its place: it fails, not the batch."""

    async def import_rows(
        self, definition: str, items: Sequence[JourneyImport], *, replace: bool
    ) -> None:
        """Write whole journeys: each one's row, history and event ids (no outbox rows).

        A key stored already is a ``StoreError`` naming it (roll back: nothing of the
        items may be kept), unless ``replace``: then its row, history, event ids and
        outbox rows are deleted first, in this transaction.
        """

    async def journeys_page(
        self, definition: str | None, *, after: tuple[str, str] | None, limit: int
    ) -> list[JourneyRow]:
        """Up to ``limit`` rows in ``(definition, key)`` order after ``after`` (of one
        definition, or of all)."""

    async def histories(
        self, definition: str, keys: Sequence[str]
    ) -> dict[str, list[HistoryEntry]]:
        """The whole history of each of ``keys`` (a key without history is left out)."""

    async def purge_event_ids(self, older_than: datetime) -> int:
        """Forget event ids committed before ``older_than``; returns how many."""

    async def claim(
        self, definition: str, *, worker: str, now: datetime, lease: timedelta, limit: int
    ) -> list[OutboxItem]:
        """Lease up to ``limit`` due pending rows (free, or with an expired lease)."""

    async def mark_done(self, item_id: int, *, now: datetime) -> None:
        """A claimed row was delivered."""

    async def mark_failed(
        self, item_id: int, *, error: str, retry_at: datetime | None, now: datetime
    ) -> None:
        """A claimed row failed: due again at ``retry_at``, or dead-lettered (``None``)."""

    async def requeue_dead(
        self, definition: str, *, now: datetime, ids: Sequence[int] | None = None
    ) -> int:
        """Dead rows (all, or ``ids``) back to pending with fresh attempts; how many."""

    async def outbox(
        self, definition: str, *, key: str | None = None, status: OutboxStatus | None = None
    ) -> list[OutboxItem]:
        """Outbox rows in id order (of one journey, of one status)."""

    async def outbox_counts(self, definition: str) -> dict[str, int]:
        """``{"pending": n, "dead": n, "done": n, "dropped": n}`` for monitoring."""

    async def cap_deliveries(
        self, customer: str, channel: str, *, since: datetime
    ) -> list[tuple[int, datetime]]:
        """The ledger's deliveries (outbox id, when) of ``channel`` to ``customer`` after
        ``since``; the pair stays serialized until this transaction ends (PostgreSQL: an
        advisory transaction lock; SQLite and the memory stores: their write lock)."""

    async def cap_record(
        self, outbox_id: int, customer: str, channel: str, *, at: datetime
    ) -> None:
        """Count outbox row ``outbox_id`` as delivered to ``customer`` on ``channel``."""

    async def cap_release(self, outbox_id: int) -> None:
        """Forget row ``outbox_id``'s ledger entry (its effect failed: nothing reached the
        customer)."""

    async def cap_prune(self, before: datetime) -> int:
        """Delete the ledger's deliveries made before ``before`` (no cap window reaches
        back that far any more); how many."""

    async def mark_capped(self, item_id: int, *, until: datetime | None, reason: str) -> None:
        """A claimed row over a cap or in quiet hours: due again at ``until`` (the claim's
        attempt not counted), or ``dropped`` (``None``); ``reason`` goes to last_error."""


@runtime_checkable
class AsyncStore(Protocol):
    """Persistence for journeys, history, event ids and outbox rows.

    >>> import asyncio
    >>> from journeyfsm.stores import AsyncMemoryStore
    >>> store = AsyncMemoryStore()
    >>> async def empty():
    ...     async with store.transaction() as tx:
    ...         return await tx.load("aida", "c-1") is None
    >>> asyncio.run(empty())
    True
    """

    def transaction(
        self, *, write: bool = True
    ) -> AbstractAsyncContextManager[AsyncStoreTransaction]:
        """One transaction; commits on normal exit, rolls back when the block raises."""

    async def create_schema(self) -> None:
        """Create the tables if missing (idempotent) and record the schema version."""
