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
  through that same queue: each call of a journey transaction (``BEGIN``, a read, the
  move's writes, ``RELEASE``) is one function queued to aiosqlite's thread, where the
  sync ``SQLiteStore(connection=...)`` runs it on the real ``sqlite3`` connection.  So
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
import sqlite3
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractContextManager, asynccontextmanager
from datetime import datetime
from typing import Any, ParamSpec, TypeVar, cast

from sqlalchemy import MetaData
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from ..._errors import StoreError
from ...stores import AsyncStore, AsyncStoreTransaction, SQLiteStore, StoreTransaction
from ...stores._async import _InlineStore
from ...stores._base import check_prefix
from ._bind import begin_immediate, check_dialect, needs_begin, schema_missing
from ._tables import tables, write_schema_version

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
        metadata = MetaData()
        tables(metadata, prefix=self.prefix, schema=self.schema)
        metadata.create_all(conn)
        write_schema_version(conn, prefix=self.prefix, schema=self.schema)

    async def purge_event_ids(self, older_than: datetime) -> int:
        """Forget event ids committed before ``older_than`` (retention), in the session's
        transaction; how many."""
        from ..._clock import ensure_utc

        when = ensure_utc(older_than, what="older_than")
        async with self.transaction() as tx:
            return await tx.purge_event_ids(when)


def _is_sync_bind(bind: object) -> bool:
    from sqlalchemy import Connection
    from sqlalchemy.orm import Session

    return isinstance(bind, (Session, Connection))


class _AiosqliteStore(_InlineStore):
    """The ``AsyncStore`` of one aiosqlite connection: a ``SQLiteStore`` on the host's
    ``sqlite3`` connection, every call of it queued to aiosqlite's thread."""

    def __init__(self, aio: Any, sync: SQLiteStore) -> None:
        super().__init__(sync)
        self._aio = aio
        self._raw: sqlite3.Connection = sync._host  # type: ignore[assignment]

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
        return await _queued(self._aio, fn, *args, **kwargs)

    async def _begin(self, cm: AbstractContextManager[StoreTransaction]) -> StoreTransaction:
        raw = self._raw
        begun: list[StoreTransaction] = []  # written on aiosqlite's thread only

        def begin() -> StoreTransaction:
            if needs_begin(raw):
                begin_immediate(raw)
            begun.append(cm.__enter__())
            return begun[0]

        def abort(err: BaseException) -> None:
            if begun:  # the BEGIN succeeded: roll it back
                cm.__exit__(type(err), err, err.__traceback__)

        try:
            return await _queued(self._aio, begin)
        except BaseException as err:
            # cancelled while BEGIN ran: end the transaction it opened, after it (the
            # queue keeps the order; this task is scheduled before any other waiter's)
            aborting = asyncio.ensure_future(self._aio._execute(abort, err))
            aborting.add_done_callback(_retrieve)
            _PENDING.add(aborting)
            aborting.add_done_callback(_PENDING.discard)
            raise


def _retrieve(future: asyncio.Future[Any]) -> None:
    # mark the outcome seen: a call whose waiter was cancelled must not warn at exit
    if not future.cancelled():
        future.exception()


#: rollbacks queued by cancelled tasks (a reference keeps each until it ran)
_PENDING: set[asyncio.Future[None]] = set()


async def _queued(aio: Any, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``fn(*args, **kwargs)`` on aiosqlite's thread; a cancelled waiter leaves it to
    finish there (never withdrawn)."""
    done: asyncio.Future[T] = asyncio.ensure_future(aio._execute(fn, *args, **kwargs))
    done.add_done_callback(_retrieve)
    return await asyncio.shield(done)
