"""The async stores: ``AsyncMemoryStore`` and ``AsyncSQLiteStore``, the ``AsyncStore``
protocol over the data and transactions of the sync stores.  (``AsyncPostgresStore`` is
not one of these: it awaits psycopg's async connections itself, in
``_postgres_async.py``, the source ``PostgresStore`` is generated from.)

Theory of operation.  An async store runs the transactions of a sync store: the same
tables, the same statements, the same file format (a database ``AsyncSQLiteStore`` wrote
is one ``SQLiteStore`` reads, and back).  Each awaited call of a transaction is one call
of the sync transaction, made where it cannot block the event loop:

- ``AsyncMemoryStore`` calls its ``MemoryStore`` inline: nothing in memory waits, and an
  ``asyncio.Lock`` (not the ``MemoryStore``'s thread lock) serialises the tasks'
  transactions;
- ``AsyncSQLiteStore`` owns ONE thread, which holds the store's SQLite connection and runs
  every call, in the order submitted (a queue: ``ThreadPoolExecutor(max_workers=1)``);
  the awaiting task waits on a future, the loop runs on.  An ``asyncio.Lock`` holds one
  transaction at a time (SQLite has one writer; a second connection would be a second
  thread), so a transaction's calls are never interleaved with another's.

Cancellation.  A call already handed to the thread is never withdrawn: a task cancelled
while it waits (``CancelledError``) leaves the call to finish on the thread, and the
``async with`` block then rolls back, on the thread, after it (the queue keeps the
order); the lock is released after the rollback is queued, and the next transaction's
``BEGIN`` is queued behind it.  A task cancelled while its ``BEGIN`` runs queues a
rollback of the transaction the ``BEGIN`` opened.  So a cancelled ``handle`` leaves its
move written whole (the cancel came during or after the commit) or not at all.

A transaction opened by the task that holds the store's transaction joins it (a
savepoint on SQLite, the outer undo log in memory), as in the sync stores.  Use a store
from one event loop.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import weakref
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractContextManager, asynccontextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from .._errors import StoreError
from .._records import HistoryEntry
from ..service._core import Decision, JourneyRow
from ..service._records import JourneyImport
from ..service._store import OutboxItem, OutboxStatus, Store, StoreTransaction
from ..service._store_async import AsyncStoreTransaction
from ._memory import MemoryStore
from ._sqlite import SQLiteStore

__all__ = ["AsyncMemoryStore", "AsyncSQLiteStore"]

P = ParamSpec("P")
T = TypeVar("T")


class _InlineStore:
    """An ``AsyncStore`` over a sync store whose calls are made inline, on the loop.

    Right for a store that never waits (memory); the base of the threaded store.
    """

    def __init__(self, store: Store) -> None:
        self._store = store
        self._lock = asyncio.Lock()
        self._owner: asyncio.Task[Any] | None = None

    async def _call(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        return fn(*args, **kwargs)

    async def _begin(self, cm: AbstractContextManager[StoreTransaction]) -> StoreTransaction:
        return cm.__enter__()

    async def _end(
        self, cm: AbstractContextManager[StoreTransaction], err: BaseException | None
    ) -> None:
        if err is None:
            await self._call(cm.__exit__, None, None, None)
        else:
            await self._call(cm.__exit__, type(err), err, err.__traceback__)

    @asynccontextmanager
    async def transaction(self, *, write: bool = True) -> AsyncIterator[AsyncStoreTransaction]:
        """One transaction: commits when the ``async with`` block ends, rolls back when it
        raises (``CancelledError`` included)."""
        if type(write) is not bool:
            raise TypeError(f"write must be True or False, got {write!r}")
        task = asyncio.current_task()
        nested = task is not None and self._owner is task
        if not nested:
            await self._lock.acquire()
            self._owner = task
        try:
            cm = self._store.transaction(write=write)
            tx = await self._begin(cm)
            try:
                yield _Transaction(self, tx)
            except BaseException as err:
                await self._end(cm, err)
                raise
            else:
                await self._end(cm, None)
        finally:
            if not nested:
                self._owner = None
                self._lock.release()

    async def create_schema(self) -> None:
        """Create the tables if missing (idempotent) and record the schema version."""
        await self._call(self._store.create_schema)


class AsyncMemoryStore(_InlineStore):
    """An async store in memory, for tests: the data structures of a ``MemoryStore``
    (``memory``, a new one by default: share one to look at the data from sync code).

    >>> import asyncio
    >>> from journeyfsm import AsyncJourneyService, JourneyMachine, templates
    >>> from journeyfsm.stores import AsyncMemoryStore
    >>> service = AsyncJourneyService(JourneyMachine(templates.aida()), AsyncMemoryStore())
    >>> asyncio.run(service.handle("c-1", "engage", event_id="e-1")).status
    'moved'
    >>> asyncio.run(service.handle("c-1", "engage", event_id="e-1")).status
    'duplicate'
    """

    def __init__(self, memory: MemoryStore | None = None) -> None:
        if memory is not None and not isinstance(memory, MemoryStore):
            raise TypeError(f"AsyncMemoryStore takes a MemoryStore or None, got {memory!r}")
        self.memory = MemoryStore() if memory is None else memory
        super().__init__(self.memory)


class AsyncSQLiteStore(_InlineStore):
    """An async store in one SQLite file: a ``SQLiteStore`` on a thread of its own, so the
    event loop never waits for SQLite (see the module docstring).

    The file is the one ``SQLiteStore`` reads and writes (same schema, WAL); the
    arguments are ``SQLiteStore``'s (a host's ``connection=`` is for the sync store
    only).  The file is opened and its schema checked when the store is made, on its
    thread, while the caller waits: make the store at start-up (a lifespan), not per
    request.  ``await store.close()`` closes the connection and ends the thread.

    >>> import asyncio, os, tempfile
    >>> from journeyfsm import AsyncJourneyService, JourneyMachine, templates
    >>> path = os.path.join(tempfile.mkdtemp(), "journeys.db")
    >>> store = AsyncSQLiteStore(path, create_schema=True)
    >>> service = AsyncJourneyService(JourneyMachine(templates.aida()), store)
    >>> asyncio.run(service.handle("c-1", "engage")).dest
    'interest'
    >>> asyncio.run(store.close())
    """

    def __init__(
        self,
        path: str | Path,
        *,
        prefix: str = "journeyfsm_",
        create_schema: bool = False,
        busy_timeout: float = 30.0,
    ) -> None:
        if not isinstance(path, (str, Path)):
            raise TypeError(f"AsyncSQLiteStore takes a file path (str or Path), got {path!r}")
        self._thread = concurrent.futures.ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="journeyfsm-sqlite"
        )
        weakref.finalize(self, self._thread.shutdown, wait=False)
        try:
            sync = self._thread.submit(
                SQLiteStore,
                path,
                prefix=prefix,
                create_schema=create_schema,
                busy_timeout=busy_timeout,
            ).result()
        except BaseException:
            self._thread.shutdown(wait=False)
            raise
        super().__init__(sync)
        self._closed = False
        self.sqlite = sync
        self.path, self.prefix = sync.path, sync.prefix

    def _submit(
        self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs
    ) -> concurrent.futures.Future[T]:
        if self._closed:
            raise StoreError(
                f"AsyncSQLiteStore({str(self.path)!r}) is closed; make a new store (at "
                "start-up) to use the file again"
            )
        return self._thread.submit(fn, *args, **kwargs)

    async def _call(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        done = asyncio.wrap_future(self._submit(fn, *args, **kwargs))
        # a cancelled waiter leaves the call to finish on the thread (never withdrawn)
        done.add_done_callback(_retrieve)
        return await asyncio.shield(done)

    async def _begin(self, cm: AbstractContextManager[StoreTransaction]) -> StoreTransaction:
        begun = self._submit(cm.__enter__)
        waited = asyncio.wrap_future(begun)
        waited.add_done_callback(_retrieve)
        try:
            return await asyncio.shield(waited)
        except BaseException as err:
            # cancelled while BEGIN ran: end the transaction it opened, after it (FIFO)
            self._thread.submit(_abort, cm, begun, err)
            raise

    async def close(self) -> None:
        """Close the store's connection and end its thread (after the calls queued);
        closing again does nothing, and any other use afterwards is a ``StoreError``."""
        if self._closed:
            return
        try:
            await self._call(self.sqlite.close)
        finally:
            self._closed = True
            self._thread.shutdown(wait=False)


def _retrieve(future: asyncio.Future[Any]) -> None:
    # mark the outcome seen: a call whose waiter was cancelled must not warn at exit
    if not future.cancelled():
        future.exception()


def _abort(
    cm: AbstractContextManager[StoreTransaction],
    begun: concurrent.futures.Future[StoreTransaction],
    err: BaseException,
) -> None:
    if begun.exception() is None:  # the BEGIN succeeded: roll it back
        cm.__exit__(type(err), err, err.__traceback__)


class _Transaction:
    """``AsyncStoreTransaction``: each method one call of the sync transaction, made by
    the store (inline, or on its thread)."""

    __slots__ = ("_call", "_tx")

    def __init__(self, store: _InlineStore, tx: StoreTransaction) -> None:
        self._call = store._call
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
