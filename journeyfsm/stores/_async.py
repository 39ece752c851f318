"""The async stores' base: the ``AsyncStore`` protocol over the data and transactions of a
sync store whose calls are made inline, on the loop: ``AsyncMemoryStore``.
(``AsyncSQLiteStore`` is in ``_async_sqlite.py``: its reads run inline, its writes and
commits on a thread of its own.  ``AsyncPostgresStore`` awaits psycopg's async
connections itself, in ``_postgres_async.py``, the source ``PostgresStore`` is generated
from.)

Theory of operation.  An async store runs the transactions of a sync store: the same
tables, the same statements.  ``AsyncMemoryStore`` calls its ``MemoryStore`` inline:
nothing in memory waits, and an ``asyncio.Lock`` (not the ``MemoryStore``'s thread lock)
serialises the tasks' transactions.  An inline call has no await, so a cancel never
interrupts one: a task cancelled while it waits for the lock, or inside its block, has
its transaction rolled back whole.

A transaction opened by the task that holds the store's transaction joins it (the outer
undo log in memory), as in the sync stores.  Use a store from one event loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractContextManager, asynccontextmanager
from typing import Any, ParamSpec, TypeVar

from ..service._store import Store, StoreTransaction
from ..service._store_async import AsyncStoreTransaction
from ._async_rows import _Transaction
from ._memory import MemoryStore

__all__ = ["AsyncMemoryStore"]

P = ParamSpec("P")
T = TypeVar("T")


class _InlineStore:
    """An ``AsyncStore`` over a sync store whose calls are made inline, on the loop:
    right for a store that never waits (memory)."""

    #: what ``transaction()`` yields around the sync store's transaction
    _transaction_class: type[_Transaction] = _Transaction

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
                yield self._transaction_class(self._call, tx)
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
