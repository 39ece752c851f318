# GENERATED from journeyfsm/service/_store_async.py by .ci/async_to_sync.py: do not edit;
# edit the source and run `make generate`.
"""The seam between the service and a database: the ``Store`` and
``StoreTransaction`` protocols the drivers run against, and the outbox row a worker
claims.

The service defines what it needs and the stores (journeyfsm.stores) provide it, so the
service never imports a store: a host hands one in.

A store keeps four tables (names prefixed by the store's ``prefix``): ``journeys`` (one
row per (definition, key): stage, data, version, definition version, the timeout clock
``started_at``, ``entered_at``, ``entry_seq``, ``timeouts_fired``, and ``next_due``,
indexed, ``NULL`` when no timeout is armed), ``history`` (append-only, one row per move),
``event_ids`` (every committed event id with the seq of the move it made) and ``outbox``
(one row per effect of a move).  Everything is read and written inside
``with store.transaction()``; the ``StoreTransaction`` commits when the
``with`` block ends normally and rolls back when it raises.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from typing import Protocol, runtime_checkable

from .._errors import StoreError
from .._records import HistoryEntry
from ._core import Decision, JourneyRow
from ._records import JourneyImport, OutboxItem, OutboxStatus

__all__ = ["OutboxItem", "OutboxStatus", "Store", "StoreTransaction"]


@runtime_checkable
class StoreTransaction(Protocol):
    """What a driver can do inside ``with store.transaction()``."""

    def load(self, definition: str, key: str) -> JourneyRow | None:
        """The journey's row, or ``None``."""

    def definitions_of(self, key: str) -> list[str]:
        """The definitions that have a journey ``key`` (one customer, several journeys)."""

    def event_seq(self, definition: str, key: str, event_id: str) -> int | None:
        """The seq of the move that committed ``event_id`` for this journey, or ``None``."""

    def write(self, decision: Decision) -> None:
        """Write a move's rows (after those of the timeouts that fired before it, its
        ``timeouts``); ``ConcurrencyConflict`` if another writer came first."""

    def load_many(self, definition: str, keys: Sequence[str]) -> dict[str, JourneyRow]:
        """The stored rows of ``keys`` by key (a key without a row is left out)."""

    def event_seqs(
        self, definition: str, pairs: Sequence[tuple[str, str]]
    ) -> dict[tuple[str, str], int]:
        """For each committed ``(key, event_id)`` of ``pairs``: the seq of its move."""

    def write_many(self, decisions: Sequence[Decision]) -> None:
        """Write the moves of a batch, in order, with one statement per table where it can.

        A journey moved by several of them is written once: its last row, checked against
        the version it had before the first (see :func:`final_rows`).  Decisions that
        write nothing are skipped.  ``ConcurrencyConflict`` if another writer moved any
        of the journeys first; then nothing of the batch may be kept (roll back).
        """

    def history(
        self, definition: str, key: str, *, after: int = 0, limit: int = 100
    ) -> list[HistoryEntry]:
        """History entries with ``seq > after``, oldest first, at most ``limit``."""

    def due(self, definition: str, *, now: datetime, limit: int) -> list[str]:
        """Keys of up to ``limit`` journeys whose ``next_due <= now``, soonest first."""

    def claim_due(self, definition: str, key: str, *, now: datetime) -> JourneyRow | None:
        """Journey ``key``'s row if it is still due at ``now``, held by this transaction
        until it ends (PostgreSQL: ``FOR UPDATE SKIP LOCKED``); ``None`` if it is no longer
        due or another transaction holds it."""

    def claim_due_batch(
        self, definition: str, *, now: datetime, limit: int, skip: Sequence[str] = ()
    ) -> list[JourneyRow | StoreError]:
        """Up to ``limit`` rows due at ``now`` (soonest first; the keys in ``skip`` left
        out), held by this transaction until it ends: PostgreSQL locks them with ONE
        ``SELECT ... ORDER BY next_due LIMIT n FOR UPDATE SKIP LOCKED`` (rows another
        transaction holds are passed over); SQLite's write transaction and the memory
        store's lock hold everything.  A row that cannot be read (corrupted) is its
        ``StoreError`` (naming table and key) in its place: it fails, not the batch."""

    def import_rows(
        self, definition: str, items: Sequence[JourneyImport], *, replace: bool
    ) -> None:
        """Write whole journeys: each one's row, history and event ids (no outbox rows).

        A key stored already is a ``StoreError`` naming it (roll back: nothing of the
        items may be kept), unless ``replace``: then its row, history, event ids and
        outbox rows are deleted first, in this transaction.
        """

    def journeys_page(
        self, definition: str | None, *, after: tuple[str, str] | None, limit: int
    ) -> list[JourneyRow]:
        """Up to ``limit`` rows in ``(definition, key)`` order after ``after`` (of one
        definition, or of all)."""

    def histories(self, definition: str, keys: Sequence[str]) -> dict[str, list[HistoryEntry]]:
        """The whole history of each of ``keys`` (a key without history is left out)."""

    def purge_event_ids(self, older_than: datetime) -> int:
        """Forget event ids committed before ``older_than``; returns how many."""

    def claim(
        self, definition: str, *, worker: str, now: datetime, lease: timedelta, limit: int
    ) -> list[OutboxItem]:
        """Lease up to ``limit`` due pending rows (free, or with an expired lease)."""

    def mark_done(self, item_id: int, *, now: datetime) -> None:
        """A claimed row was delivered."""

    def mark_failed(
        self, item_id: int, *, error: str, retry_at: datetime | None, now: datetime
    ) -> None:
        """A claimed row failed: due again at ``retry_at``, or dead-lettered (``None``)."""

    def requeue_dead(
        self, definition: str, *, now: datetime, ids: Sequence[int] | None = None
    ) -> int:
        """Dead rows (all, or ``ids``) back to pending with fresh attempts; how many."""

    def outbox(
        self, definition: str, *, key: str | None = None, status: OutboxStatus | None = None
    ) -> list[OutboxItem]:
        """Outbox rows in id order (of one journey, of one status)."""

    def outbox_counts(self, definition: str) -> dict[str, int]:
        """``{"pending": n, "dead": n, "done": n, "dropped": n}`` for monitoring."""

    def cap_deliveries(
        self, customer: str, channel: str, *, since: datetime
    ) -> list[tuple[int, datetime]]:
        """The ledger's deliveries (outbox id, when) of ``channel`` to ``customer`` after
        ``since``; the pair stays serialized until this transaction ends (PostgreSQL: an
        advisory transaction lock; SQLite and the memory stores: their write lock)."""

    def cap_record(self, outbox_id: int, customer: str, channel: str, *, at: datetime) -> None:
        """Count outbox row ``outbox_id`` as delivered to ``customer`` on ``channel``."""

    def cap_release(self, outbox_id: int) -> None:
        """Forget row ``outbox_id``'s ledger entry (its effect failed: nothing reached the
        customer)."""

    def cap_prune(self, before: datetime) -> int:
        """Delete the ledger's deliveries made before ``before`` (no cap window reaches
        back that far any more); how many."""

    def mark_capped(self, item_id: int, *, until: datetime | None, reason: str) -> None:
        """A claimed row over a cap or in quiet hours: due again at ``until`` (the claim's
        attempt not counted), or ``dropped`` (``None``); ``reason`` goes to last_error."""


@runtime_checkable
class Store(Protocol):
    """Persistence for journeys, history, event ids and outbox rows.

    >>> from journeyfsm.stores import MemoryStore
    >>> store = MemoryStore()
    >>> def empty():
    ...     with store.transaction() as tx:
    ...         return tx.load("aida", "c-1") is None
    >>> empty()
    True
    """

    def transaction(self, *, write: bool = True) -> AbstractContextManager[StoreTransaction]:
        """One transaction; commits on normal exit, rolls back when the block raises."""

    def create_schema(self) -> None:
        """Create the tables if missing (idempotent) and record the schema version."""
