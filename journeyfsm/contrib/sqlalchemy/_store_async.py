"""AsyncSessionStore: the journeyfsm async store inside an ``AsyncSession``'s transaction.

As ``SessionStore`` (see its module): each ``transaction()`` flushes the session, asks it
for the connection of its current transaction and runs a journey transaction on the
DB-API connection under it, as a savepoint the session commits or rolls back.  What runs
there depends on the driver:

- **PostgreSQL (psycopg 3)**: ``AsyncPostgresStore(connection=...)`` on psycopg's own
  ``AsyncConnection`` (``driver_connection``): every statement is awaited on the loop,
  as SQLAlchemy's are.
- **SQLite (aiosqlite)**: aiosqlite keeps its ``sqlite3`` connection on a thread of its
  own and runs every call there, in order, from one queue.  The store's work goes
  through that same queue: the calls of a journey transaction (its begin with its first
  read, the move's writes with its ``RELEASE``: two hand-offs a ``handle``) are functions
  queued to aiosqlite's thread, where the sync ``SQLiteStore(connection=...)`` runs them
  on the real ``sqlite3`` connection.  So
  the connection is only ever used by aiosqlite's thread, one call at a time,
  SQLAlchemy's calls and the store's in the order they were awaited; the event loop
  waits for none of them (a busy database waits on that thread).  The alternative,
  ``AsyncConnection.run_sync``, would run the store's ``sqlite3`` calls on the loop's
  thread (blocking the loop on every statement and on the busy timeout) while the
  connection belongs to aiosqlite's.  A call already queued is never withdrawn: a task
  cancelled while it waits leaves the call to finish, and the rollback queued after it
  (the semantics of ``AsyncSQLiteStore``).  aiosqlite gives no public way to queue a
  function, so its ``Connection._execute`` is used (aiosqlite 0.17 to 0.22 have it; a
  release without it is a clear error).
"""

from __future__ import annotations

import asyncio
import functools
import sqlite3
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractContextManager, asynccontextmanager
from datetime import datetime
from typing import Any, ParamSpec, TypeVar, cast

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from ..._errors import StoreError
from ...service._core import JourneyRow
from ...stores import AsyncStore, AsyncStoreTransaction, SQLiteStore, StoreTransaction
from ...stores._async import _InlineStore
from ...stores._async_rows import _Transaction
from ...stores._base import check_prefix
from ...stores._sqlite_rows import SQLiteTransaction
from ._bind import begin_immediate, check_dialect, needs_begin, schema_missing
from ._tables import create_tables

__all__ = ["AsyncSessionStore"]

P = ParamSpec("P")
T = TypeVar("T")


class AsyncSessionStore:
    """A journeyfsm async store bound to a SQLAlchemy ``AsyncSession`` (or
    ``AsyncConnection``): every journey transaction runs inside the session's current
    transaction and commits with it (see the module docstring for how).

    Engines: ``sqlite+aiosqlite://`` and ``postgresql+psycopg://`` (psycopg 3, async); any
    other is a ``TypeError`` naming these.  Make one per session (cheap: the store under
    it is made once per pooled connection).  For a sync ``Session`` use ``SessionStore``.

    >>> import asyncio
    >>> from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine
    >>> from journeyfsm import AsyncJourneyService, JourneyMachine, templates
    >>> from journeyfsm.contrib.sqlalchemy import AsyncSessionStore, create_schema
    >>> async def main():
    ...     engine = create_async_engine("sqlite+aiosqlite://")
    ...     async with engine.begin() as conn:
    ...         await conn.run_sync(create_schema)
    ...     machine = JourneyMachine(templates.aida())
    ...     async with AsyncSession(engine) as session:
    ...         service = AsyncJourneyService(machine, AsyncSessionStore(session))
    ...         moved = await service.handle("c-1", "engage", event_id="e-1")
    ...         await session.commit()
    ...     await engine.dispose()
    ...     return moved.status
    >>> asyncio.run(main())
    'moved'
    """

    def __init__(
        self,
        bind: AsyncSession | AsyncConnection,
        *,
        prefix: str = "journeyfsm_",
        schema: str | None = None,
    ) -> None:
        if isinstance(bind, AsyncSession):
            dialect = bind.sync_session.get_bind().dialect
        elif isinstance(bind, AsyncConnection):
            dialect = bind.dialect
        else:
            raise TypeError(
                "AsyncSessionStore takes a sqlalchemy.ext.asyncio AsyncSession or "
                f"AsyncConnection, got {bind!r}"
                + ("; for a sync Session use SessionStore" if _is_sync_bind(bind) else "")
            )
        self.dialect = check_dialect(dialect, is_async=True, who="AsyncSessionStore")
        self.prefix = check_prefix(prefix)
        if schema is not None:
            check_prefix(schema)
        self.schema = schema
        self.bind = bind

    def joins_host_transaction(self) -> bool:
        """Always ``True``: every journey transaction runs inside the session's, which the
        host commits.  The service then reads, decides and writes an event in ONE journey
        transaction (one savepoint), not a read and then a write."""
        return True

    async def connection(self) -> AsyncConnection:
        """The ``AsyncConnection`` of the session's current transaction (begun if none
        is), after a flush of the session's pending writes."""
        bind = self.bind
        if isinstance(bind, AsyncSession):
            await bind.flush()
            return await bind.connection()
        if not bind.in_transaction():
            await bind.begin()
        return bind

    async def _store(self) -> AsyncStore:
        conn = await self.connection()
        proxied = await conn.get_raw_connection()
        slot = ("journeyfsm.async_store", self.prefix, self.schema)
        store = cast("AsyncStore | None", proxied.info.get(slot))
        if store is None:
            driver: Any = proxied.driver_connection
            try:
                if self.dialect == "sqlite":
                    store = await _AiosqliteStore.bind(driver, self.prefix)
                else:
                    from ...stores import AsyncPostgresStore

                    store = await AsyncPostgresStore(
                        connection=driver, schema=self.schema or "public", prefix=self.prefix
                    ).open()
            except StoreError as err:
                found = schema_missing(err, "AsyncSessionStore", self.prefix)
                if found is err:
                    raise
                raise found from err
            proxied.info[slot] = store
        return store

    @asynccontextmanager
    async def transaction(self, *, write: bool = True) -> AsyncIterator[AsyncStoreTransaction]:
        """One journey transaction: a savepoint in the session's transaction, released
        when the block ends (rolled back to when it raises); the session commits it."""
        store = await self._store()
        async with store.transaction(write=write) as tx:
            yield tx

    async def create_schema(self) -> None:
        """Create the journeyfsm tables that are missing, in the session's transaction,
        and record the schema version (commit the session)."""
        conn = await self.connection()
        await conn.run_sync(self._create)

    def _create(self, conn: Any) -> None:
        create_tables(conn, prefix=self.prefix, schema=self.schema)

    async def purge_event_ids(self, older_than: datetime) -> int:
        """Forget event ids committed before ``older_than`` (retention), in the session's
        transaction; how many."""
        from ..._clock import ensure_utc

        when = ensure_utc(older_than, what="purge_event_ids(older_than=...)")
        async with self.transaction() as tx:
            return await tx.purge_event_ids(when)


def _is_sync_bind(bind: object) -> bool:
    from sqlalchemy import Connection
    from sqlalchemy.orm import Session

    return isinstance(bind, (Session, Connection))


class _EventTransaction(_Transaction):
    """A transaction of ``_AiosqliteStore``: also ``load_event`` (the row and the event
    id's seq in one statement, one hand-off)."""

    __slots__ = ()

    async def load_event(
        self, definition: str, key: str, event_id: str | None
    ) -> tuple[JourneyRow | None, int | None]:
        rows: Any = self._tx  # the store's SQLiteTransaction
        found: tuple[JourneyRow | None, int | None] = await self._call(
            rows.load_event, definition, key, event_id
        )
        return found


class _AiosqliteStore(_InlineStore):
    """The ``AsyncStore`` of one aiosqlite connection: a ``SQLiteStore`` on the host's
    ``sqlite3`` connection, its calls queued to aiosqlite's thread.

    Few hand-offs: each one is a wake-up of aiosqlite's thread and of the loop (~50-130 µs
    each here), so work that returns nothing is deferred and rides along with the next
    call that must go there.  A transaction's begin (the savepoint, or ``BEGIN
    IMMEDIATE``) is queued with its first read, and its writes (``write``,
    ``write_many``) with its end (``RELEASE``).  A ``handle`` is then two hand-offs: the
    begin and the one-statement read of the row and the event id; the move's writes and
    the release.  A buffered write's error (``ConcurrencyConflict``) is raised at the end
    of the ``async with`` block, whose work it rolls back; a block that raises drops its
    buffered work unrun.
    """

    def __init__(self, aio: Any, sync: SQLiteStore) -> None:
        super().__init__(sync)
        self._aio = aio
        self._raw: sqlite3.Connection = sync._host  # type: ignore[assignment]
        #: the rows object every transaction's calls run on (SQLiteStore(connection=...)
        #: yields an equal one for each of its transactions)
        self._rows = SQLiteTransaction(self._raw, sync._t, sync._w)
        #: work deferred to the next hand-off, in order, with the store transaction
        #: (context manager) it belongs to
        self._deferred: list[tuple[object, Callable[[], object]]] = []
        #: the store transactions entered on aiosqlite's thread (touched there only)
        self._entered: list[object] = []

    _transaction_class = _EventTransaction

    @classmethod
    async def bind(cls, aio: Any, prefix: str) -> _AiosqliteStore:
        if not callable(getattr(aio, "_execute", None)):
            raise StoreError(
                f"AsyncSessionStore cannot queue work to aiosqlite's thread: this aiosqlite "
                f"({type(aio).__module__}) has no Connection._execute; install aiosqlite "
                ">=0.17,<=0.22 or use postgresql+psycopg"
            )

        def make() -> SQLiteStore:
            return SQLiteStore(connection=aio._conn, prefix=prefix)

        return cls(aio, await _queued(aio, make))

    async def _call(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        if getattr(fn, "__self__", None) is self._rows and fn.__name__ in _BUFFERED:
            owner = self._deferred[-1][0] if self._deferred else self._entered_last()
            self._deferred.append((owner, functools.partial(fn, *args, **kwargs)))
            return None  # type: ignore[return-value]  # write and write_many return None
        work = [step for _, step in self._deferred]
        self._deferred.clear()

        def run() -> T:
            for step in work:
                step()
            return fn(*args, **kwargs)

        return await _queued(self._aio, run)

    def _entered_last(self) -> object:
        # the innermost transaction open (read on the loop between hand-offs, while no
        # call of this store's runs on the thread: the store's lock is held)
        return self._entered[-1] if self._entered else None

    async def _begin(self, cm: AbstractContextManager[StoreTransaction]) -> StoreTransaction:
        raw, entered = self._raw, self._entered

        def begin() -> None:
            if needs_begin(raw):
                begin_immediate(raw)
            cm.__enter__()
            entered.append(cm)

        self._deferred.append((cm, begin))  # runs with the transaction's first call
        return self._rows

    async def _end(
        self, cm: AbstractContextManager[StoreTransaction], err: BaseException | None
    ) -> None:
        deferred, entered = list(self._deferred), self._entered
        self._deferred.clear()
        if err is not None:
            # the block failed: drop its own deferred work (its begin, if it never ran,
            # and its writes); what outer transactions deferred before it still runs
            mine = next((i for i, (owner, _) in enumerate(deferred) if owner is cm), None)
            deferred = deferred if mine is None else deferred[:mine]

        def end() -> None:
            failed: BaseException | None = err
            try:
                for _, step in deferred:
                    step()
            except BaseException as caught:
                failed = caught
            if cm in entered:
                entered.remove(cm)
                if failed is None:
                    cm.__exit__(None, None, None)
                else:
                    cm.__exit__(type(failed), failed, failed.__traceback__)
            if failed is not None and failed is not err:
                raise failed

        await _queued(self._aio, end)


#: the calls of a transaction that return nothing and are deferred to its next hand-off
_BUFFERED = frozenset({"write", "write_many"})


def _retrieve(future: asyncio.Future[Any]) -> None:
    # mark the outcome seen: a call whose waiter was cancelled must not warn at exit
    if not future.cancelled():
        future.exception()


async def _queued(aio: Any, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``fn(*args, **kwargs)`` on aiosqlite's thread; a cancelled waiter leaves it to
    finish there (never withdrawn)."""
    done: asyncio.Future[T] = asyncio.ensure_future(aio._execute(fn, *args, **kwargs))
    done.add_done_callback(_retrieve)
    return await asyncio.shield(done)
