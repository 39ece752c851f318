"""``_Transaction``: the ``AsyncStoreTransaction`` of the async stores, each method one
call of the sync transaction's, made by the store's ``call`` (inline, or on a thread)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import ParamSpec, Protocol, TypeVar

from .._errors import StoreError
from .._records import HistoryEntry
from ..service._core import Decision, JourneyRow
from ..service._records import JourneyImport
from ..service._store import OutboxItem, OutboxStatus, StoreTransaction

__all__: list[str] = []

P = ParamSpec("P")
T = TypeVar("T")


class _Call(Protocol):
    """Where a store makes a call of its sync transaction: ``await call(fn, *args)``."""

    async def __call__(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T: ...


class _Transaction:
    """``AsyncStoreTransaction``: each method ``await call(tx.method, *args)``."""

    __slots__ = ("_call", "_tx")

    def __init__(self, call: _Call, tx: StoreTransaction) -> None:
        self._call = call
        self._tx = tx

    async def load(self, definition: str, key: str) -> JourneyRow | None:
        return await self._call(self._tx.load, definition, key)

    async def definitions_of(self, key: str) -> list[str]:
        return await self._call(self._tx.definitions_of, key)

    async def event_seq(self, definition: str, key: str, event_id: str) -> int | None:
        return await self._call(self._tx.event_seq, definition, key, event_id)

    async def write(self, decision: Decision) -> None:
        await self._call(self._tx.write, decision)

    async def load_many(self, definition: str, keys: Sequence[str]) -> dict[str, JourneyRow]:
        return await self._call(self._tx.load_many, definition, keys)

    async def event_seqs(
        self, definition: str, pairs: Sequence[tuple[str, str]]
    ) -> dict[tuple[str, str], int]:
        return await self._call(self._tx.event_seqs, definition, pairs)

    async def write_many(self, decisions: Sequence[Decision]) -> None:
        await self._call(self._tx.write_many, decisions)

    async def history(
        self, definition: str, key: str, *, after: int = 0, limit: int = 100
    ) -> list[HistoryEntry]:
        return await self._call(self._tx.history, definition, key, after=after, limit=limit)

    async def due(self, definition: str, *, now: datetime, limit: int) -> list[str]:
        return await self._call(self._tx.due, definition, now=now, limit=limit)

    async def claim_due(self, definition: str, key: str, *, now: datetime) -> JourneyRow | None:
        return await self._call(self._tx.claim_due, definition, key, now=now)

    async def claim_due_batch(
        self, definition: str, *, now: datetime, limit: int, skip: Sequence[str] = ()
    ) -> list[JourneyRow | StoreError]:
        return await self._call(
            self._tx.claim_due_batch, definition, now=now, limit=limit, skip=skip
        )

    async def import_rows(
        self, definition: str, items: Sequence[JourneyImport], *, replace: bool
    ) -> None:
        await self._call(self._tx.import_rows, definition, items, replace=replace)

    async def journeys_page(
        self, definition: str | None, *, after: tuple[str, str] | None, limit: int
    ) -> list[JourneyRow]:
        return await self._call(self._tx.journeys_page, definition, after=after, limit=limit)

    async def histories(
        self, definition: str, keys: Sequence[str]
    ) -> dict[str, list[HistoryEntry]]:
        return await self._call(self._tx.histories, definition, keys)

    async def purge_event_ids(self, older_than: datetime) -> int:
        return await self._call(self._tx.purge_event_ids, older_than)

    async def claim(
        self, definition: str, *, worker: str, now: datetime, lease: timedelta, limit: int
    ) -> list[OutboxItem]:
        return await self._call(
            self._tx.claim, definition, worker=worker, now=now, lease=lease, limit=limit
        )

    async def mark_done(self, item_id: int, *, now: datetime) -> None:
        await self._call(self._tx.mark_done, item_id, now=now)

    async def mark_failed(
        self, item_id: int, *, error: str, retry_at: datetime | None, now: datetime
    ) -> None:
        await self._call(self._tx.mark_failed, item_id, error=error, retry_at=retry_at, now=now)

    async def requeue_dead(
        self, definition: str, *, now: datetime, ids: Sequence[int] | None = None
    ) -> int:
        return await self._call(self._tx.requeue_dead, definition, now=now, ids=ids)

    async def outbox(
        self, definition: str, *, key: str | None = None, status: OutboxStatus | None = None
    ) -> list[OutboxItem]:
        return await self._call(self._tx.outbox, definition, key=key, status=status)

    async def outbox_counts(self, definition: str) -> dict[str, int]:
        return await self._call(self._tx.outbox_counts, definition)

    async def cap_deliveries(
        self, customer: str, channel: str, *, since: datetime
    ) -> list[tuple[int, datetime]]:
        return await self._call(self._tx.cap_deliveries, customer, channel, since=since)

    async def cap_record(
        self, outbox_id: int, customer: str, channel: str, *, at: datetime
    ) -> None:
        await self._call(self._tx.cap_record, outbox_id, customer, channel, at=at)

    async def cap_release(self, outbox_id: int) -> None:
        await self._call(self._tx.cap_release, outbox_id)

    async def cap_prune(self, before: datetime) -> int:
        pruned: int = await self._call(self._tx.cap_prune, before)
        return pruned

    async def mark_capped(self, item_id: int, *, until: datetime | None, reason: str) -> None:
        await self._call(self._tx.mark_capped, item_id, until=until, reason=reason)
