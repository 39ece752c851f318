"""AsyncPostgresStore: many processes on many machines share one PostgreSQL database.

psycopg 3 with a ``psycopg_pool`` connection pool (the extra ``journeyfsm[postgres]``).
Every statement is parameterised; the schema and the table names (prefix + name) are
validated identifiers quoted by psycopg (``psycopg.sql.Identifier``).  Data, meta and
outbox calls are ``jsonb``; times are ``timestamptz``.

Concurrency is the same optimistic scheme as SQLite's: a move's write updates the journey
row only where the version is still the one read (``READ COMMITTED`` re-checks the
condition on the newest row), and the primary keys and the unique event id turn a lost
race into ``ConcurrencyConflict``.  Outbox workers claim rows with ``FOR UPDATE SKIP
LOCKED``, so workers on several machines share the rows without waiting on each other.

The host's own transaction: ``AsyncPostgresStore(connection=conn)`` follows the
transaction rule of ``_postgres_host_async.py`` (own, fresh or open, read from the
connection each time a transaction begins).  The schema and its migrations are in
``_postgres_schema_async.py``, what psycopg's errors become in ``_postgres_errors_async.py``;
this module holds the connections (a pool, or the host's) and the transactions on them.
The schema is checked once per database (server, database, schema and prefix) in a
process, not per store: a store made per request costs no statement.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from .._errors import StoreError
from ..service._core import Decision
from ._base import check_prefix, schema_cache

if True:  # ASYNC
    import asyncio

    class StoreMethods:
        """The async store's base (the sync stores' ``StoreMethods`` is sync; the async
        service's ``purge_event_ids`` runs in a transaction of the store)."""

else:
    from ._base import StoreMethods

try:
    import psycopg
    from psycopg_pool import AsyncConnectionPool
except ImportError as err:  # pragma: no cover - depends on the install
    raise ImportError(
        "AsyncPostgresStore needs psycopg 3 and psycopg_pool: pip install 'journeyfsm[postgres]' "
        "(and libpq, or 'psycopg[binary]')"
    ) from err

from ._postgres_codec import tables_of
from ._postgres_errors_async import StoreErrors, pool_errors, redact
from ._postgres_host_async import host_state, host_transaction
from ._postgres_rows_async import AsyncPostgresTransaction
from ._postgres_schema_async import check_version, create_tables, read_version

__all__ = ["AsyncPostgresStore"]

_TABLES = ("schema_version", "journeys", "history", "event_ids", "outbox", "deliveries")
_IDLE = psycopg.pq.TransactionStatus.IDLE


def _elsewhere(connection: object) -> str:
    """Where a connection of another driver goes."""
    kind = type(connection).__module__
    if kind.startswith("sqlite3"):
        return "; a sqlite3 connection goes to journeyfsm.stores.SQLiteStore(connection=...)"
    if kind.startswith(("sqlalchemy", "django")):
        return (
            "; hand the store the framework's psycopg connection (SQLAlchemy: "
            "`(await session.connection()).get_raw_connection().driver_connection`)"
        )
    return ""


if True:  # ASYNC

    class _TaskLocal:
        """``threading.local`` for asyncio tasks: ``conn``, the connection of the
        transaction the current task holds (``None``: none)."""

        def __init__(self) -> None:
            self._by_task: dict[asyncio.Task[Any] | None, Any] = {}

        @property
        def conn(self) -> Any:
            return self._by_task.get(asyncio.current_task())

        @conn.setter
        def conn(self, value: Any) -> None:
            if value is None:
                self._by_task.pop(asyncio.current_task(), None)
            else:
                self._by_task[asyncio.current_task()] = value


def _check_pool(min_size: object, max_size: object, connect_timeout: object) -> None:
    """The pool's settings, checked before anything connects."""
    if type(min_size) is not int or min_size < 0:
        raise ValueError(f"min_size must be an int >= 0 (connections kept open), got {min_size!r}")
    if type(max_size) is not int or max_size < max(1, min_size):
        raise ValueError(
            f"max_size must be an int >= 1 and >= min_size ({min_size}), got {max_size!r}"
        )
    if type(connect_timeout) is not int or not 1 <= connect_timeout <= 3600:
        raise ValueError(  # libpq's connect_timeout: whole seconds
            f"connect_timeout must be an int of seconds from 1 to 3600, got {connect_timeout!r}"
        )


class AsyncPostgresStore(StoreMethods):
    """A store in a PostgreSQL database, shared by any number of processes and machines.

    ``dsn`` opens a connection pool (``min_size``/``max_size``; a DSN that cannot connect
    within ``connect_timeout`` seconds is a ``StoreError``); ``connection=`` uses the
    host's psycopg connection instead.  ``schema`` and ``prefix`` place the tables
    (``"public"``, ``"journeyfsm_"``).  ``create_schema=True`` creates them (idempotent);
    without it a database whose schema is missing or older is refused with a
    ``StoreError`` saying what to run.

    Usage::

        store = AsyncPostgresStore("postgresql://app@db/shop", create_schema=True)
        await store.open()  # async only: connects, creates or checks the schema
        service = AsyncJourneyService(machine, store)
    """

    def __init__(
        self,
        dsn: str | None = None,
        *,
        connection: psycopg.AsyncConnection[Any] | None = None,
        schema: str = "public",
        prefix: str = "journeyfsm_",
        create_schema: bool = False,
        min_size: int = 1,
        max_size: int = 10,
        connect_timeout: int = 10,
    ) -> None:
        if (dsn is None) == (connection is None):
            raise TypeError("AsyncPostgresStore takes a DSN or connection=..., exactly one")
        if True:  # ASYNC
            if connection is not None and not isinstance(connection, psycopg.AsyncConnection):
                raise TypeError(
                    "AsyncPostgresStore takes a psycopg.AsyncConnection as connection=, got "
                    f"{type(connection).__module__}.{type(connection).__qualname__}: open one "
                    "with `await psycopg.AsyncConnection.connect(dsn)`, or give a sync "
                    "psycopg.Connection to PostgresStore" + _elsewhere(connection)
                )
        else:
            if connection is not None and not isinstance(connection, psycopg.Connection):
                raise TypeError(
                    "PostgresStore takes a psycopg.Connection as connection=, got "
                    f"{type(connection).__module__}.{type(connection).__qualname__}: open one "
                    "with `psycopg.connect(dsn)`, or give a psycopg.AsyncConnection to "
                    "AsyncPostgresStore (with AsyncJourneyService)" + _elsewhere(connection)
                )
        if connection is not None and connection.closed:
            raise StoreError(
                "AsyncPostgresStore got a closed psycopg connection: hand it an open one"
            )
        if dsn is not None and not isinstance(dsn, str):
            raise TypeError(f"AsyncPostgresStore takes a DSN string, got {dsn!r}")
        _check_pool(min_size, max_size, connect_timeout)
        self.prefix = check_prefix(prefix)
        check_prefix(schema)
        if not schema:
            raise ValueError("schema must be a non-empty identifier")
        self.schema = schema
        self._dsn = dsn
        self._host = connection
        self._error_block = StoreErrors(dsn, self._schema_key)
        if True:  # ASYNC
            self._local = _TaskLocal()
        else:
            self._local = threading.local()
        self._t = tables_of(schema, prefix, _TABLES)
        self._pool: AsyncConnectionPool[Any] | None = None
        if True:  # ASYNC
            self._options = (create_schema, min_size, max_size, connect_timeout)
            self._opened = False
        else:
            self._open(create_schema, min_size, max_size, connect_timeout)

    if True:  # ASYNC

        async def open(self) -> AsyncPostgresStore:
            """Connect (the pool and its ``min_size`` connections, for a DSN), then create
            (``create_schema=True``) or check the schema; the store.  Call it once, at
            start-up (a lifespan); opening an open store does nothing.  ``async with
            AsyncPostgresStore(...) as store:`` opens it and closes it at the end."""
            if not self._opened:
                self._opened = True
                await self._open(*self._options)
            return self

        async def __aenter__(self) -> AsyncPostgresStore:
            return await self.open()

        async def __aexit__(self, *exc: object) -> None:
            await self.close()

    async def _open(
        self, create_schema: bool, min_size: int, max_size: int, connect_timeout: int
    ) -> None:
        """Connect (a pool, for a DSN), then create or check the schema."""
        dsn = self._dsn
        if dsn is not None:
            try:
                # one direct connection first: a wrong DSN fails now, with libpq's reason,
                # instead of the pool retrying in the background until its timeout
                if True:  # ASYNC
                    first = await psycopg.AsyncConnection.connect(
                        dsn, connect_timeout=connect_timeout
                    )
                    await first.close()
                else:
                    psycopg.connect(dsn, connect_timeout=connect_timeout).close()
                # autocommit connections: a read (and a move's one statement) costs no
                # BEGIN or COMMIT and no autocommit toggle; transaction() sends BEGIN
                self._pool = _LastReturnedFirst(
                    dsn,
                    kwargs={"autocommit": True},
                    min_size=min_size,
                    max_size=max_size,
                    open=False,
                    timeout=30,
                )
                await self._pool.open(wait=True, timeout=30)
            except (psycopg.Error, pool_errors()) as err:
                if self._pool is not None:
                    await self._pool.close()
                reason = " ".join(str(err).split())  # one line
                raise StoreError("cannot connect to PostgreSQL: " + redact(reason, dsn)) from None
        try:
            key = self._schema_key()
            if create_schema:
                await self.create_schema()
            elif key is None or key not in schema_cache:
                await self._check_schema()
        except BaseException:
            await self.close()  # no pool left behind by a store that could not open
            raise

    async def close(self) -> None:
        """Close the pool (the host's connection is left open)."""
        if True:  # ASYNC
            self._opened = False
        if self._pool is not None:
            await self._pool.close()

    @asynccontextmanager
    async def transaction(self, *, write: bool = True) -> AsyncIterator[AsyncPostgresTransaction]:
        """One transaction (a savepoint when nested or on the host's connection)."""
        if True:  # ASYNC
            if not self._opened:
                raise StoreError(
                    "AsyncPostgresStore is not open: `await store.open()` (or `async with "
                    "store:`) once at start-up, before the service uses it"
                )
        if self._host is not None:
            async with self._errors(), host_transaction(self._host, write):
                yield AsyncPostgresTransaction(self._host, self._t)
            return
        current = getattr(self._local, "conn", None)
        if current is not None:
            if write or current.info.transaction_status != _IDLE:
                # nested in this task's transaction: a savepoint; on the connection
                # pin_connection() holds, with no transaction open: BEGIN ... COMMIT
                async with self._errors(), current.transaction():
                    yield AsyncPostgresTransaction(current, self._t)
            else:  # a read on the pinned connection: autocommit, as below
                async with self._errors():
                    yield AsyncPostgresTransaction(current, self._t)
            return
        assert self._pool is not None
        async with self._errors(), self._pool.connection() as conn:
            self._local.conn = conn
            try:
                if write:
                    async with conn.transaction():
                        yield AsyncPostgresTransaction(conn, self._t)
                else:
                    # Reads run in autocommit (the pool's connections are): under READ
                    # COMMITTED (PostgreSQL's default) each statement of a transaction sees
                    # its own snapshot anyway, so BEGIN and COMMIT would only add two round
                    # trips to every handle(); the write that follows checks versions and
                    # event ids itself.
                    yield AsyncPostgresTransaction(conn, self._t)
            finally:
                self._local.conn = None

    @asynccontextmanager
    async def pin_connection(self) -> AsyncIterator[None]:
        """Hold one pool connection for the block: every ``transaction()`` and
        ``commit_move`` of this task in it runs on that connection, so a ``handle``
        (read, decide, write) costs ONE acquisition from the pool instead of one per
        statement.  Nothing is opened on it (autocommit): no lock is held while the
        service decides.  On a host's connection, or inside a transaction of this task,
        it does nothing.

        The service pins a connection around each attempt of a ``handle`` whose machine
        has no async callbacks, and returns it before a retry's backoff.  On the event
        loop such a decision never waits, so the connection could serve no other task
        meanwhile anyway; a thread of the sync store keeps its connection while its hooks
        run, so keep hooks quick (slow I/O belongs in effects, run after the commit).
        """
        if self._host is not None or getattr(self._local, "conn", None) is not None:
            yield
            return
        if True:  # ASYNC
            if not self._opened:
                raise StoreError(
                    "AsyncPostgresStore is not open: `await store.open()` (or `async with "
                    "store:`) once at start-up, before the service uses it"
                )
        pool = self._pool
        assert pool is not None
        async with self._errors():
            conn = await pool.getconn()
        # the pool's own connection() would also commit on the way out: nothing to
        # commit here (autocommit); the pool rolls back or discards a connection that is
        # not idle when it is returned
        self._local.conn = conn
        try:
            yield
        finally:
            self._local.conn = None
            await pool.putconn(conn)

    async def commit_move(self, decision: Decision) -> None:
        """Write one move's rows (as ``tx.write`` does) and commit them: what the service's
        ``handle`` does once it has decided, outside a host's transaction.

        A move without fired timeouts is ONE statement (tx.write), atomic on its own: it
        runs in autocommit, on a pool connection (the pinned one, in
        ``pin_connection()``) or on a host's autocommit connection with nothing open (the
        transaction rule's "own"), so the commit costs no BEGIN and COMMIT round trips.
        Anything else runs in ``store.transaction()``.
        """
        if True:  # ASYNC
            if not self._opened:
                raise StoreError(
                    "AsyncPostgresStore is not open: `await store.open()` (or `async with "
                    "store:`) once at start-up, before the service uses it"
                )
        host, current = self._host, getattr(self._local, "conn", None)
        if decision.timeouts:
            conn = None  # several statements: a transaction
        elif host is not None:
            conn = host if host_state(host) == "own" else None
        elif current is None:
            assert self._pool is not None
            async with self._errors(), self._pool.connection() as taken:
                await AsyncPostgresTransaction(taken, self._t).write(decision)
            return
        else:  # pinned with no transaction open; in this task's transaction: a savepoint
            conn = current if current.info.transaction_status == _IDLE else None
        if conn is not None:
            async with self._errors():
                await AsyncPostgresTransaction(conn, self._t).write(decision)
            return
        async with self.transaction() as tx:
            await tx.write(decision)

    def joins_host_transaction(self) -> bool:
        """Whether a transaction begun now runs inside one the host commits (the
        transaction rule: "fresh" or "open"), rather than one the store commits.

        The service then reads, decides and writes an event in ONE store transaction:
        none or one savepoint, and no separate read.
        """
        return self._host is not None and host_state(self._host) != "own"

    def _schema_key(self) -> tuple[object, ...] | None:
        """What identifies this store's tables in the schema cache (host stores only)."""
        if self._host is None:
            return None
        info = self._host.info
        return ("postgresql", info.host, info.port, info.dbname, self.schema, self.prefix)

    def _errors(self) -> StoreErrors:
        """``async with self._errors():`` turns psycopg's errors into ``StoreError``."""
        return self._error_block

    # -- schema (_postgres_schema_async.py) ------------------------------------------
    async def create_schema(self) -> None:
        """Create the schema's tables if missing and record the schema version."""
        async with self._setup() as tx:
            await create_tables(tx.conn, self._t, self.schema, self.prefix)
        self._schema_checked()

    async def _check_schema(self) -> None:
        async with self._setup() as tx:
            version = await read_version(tx.conn, self._t, self.schema, self.prefix)
        check_version(version)
        self._schema_checked()

    def _schema_checked(self) -> None:
        key = self._schema_key()
        if key is not None:
            schema_cache.add(key)

    @asynccontextmanager
    async def _setup(self) -> AsyncIterator[AsyncPostgresTransaction]:
        """The transaction that creates or checks the schema: on the host's connection
        the store's own, committed (a savepoint if the host has a transaction open)."""
        if self._host is None:
            async with self.transaction() as tx:
                yield tx
            return
        async with self._errors(), host_transaction(self._host, True, setup=True):
            yield AsyncPostgresTransaction(self._host, self._t)


class _LastReturnedFirst(AsyncConnectionPool[Any]):
    """A pool that hands out the connection returned last (LIFO) instead of the one
    returned longest ago (psycopg_pool's FIFO).

    One task (or a few) over a pool of ten then keeps reusing one warm connection, whose
    backend process and client state are still in the CPU's caches, instead of visiting
    all ten in turn: measured here, one ``handle`` at a time over a pool of 10 cost
    ~30 % less wall time and client CPU (docs/performance.md).  The connections left
    unused stay at the front of the queue, so the pool's ``max_idle`` shrinking (which
    closes the front one) closes exactly those.

    psycopg_pool has no option for it: this turns its queue (``_pool``, a deque) before
    each take.  Should a psycopg_pool release no longer have that queue, the pool is
    plain FIFO again, and tests/test_postgres_async.py fails to say so.
    """

    async def _get_ready_connection(self, timeout: float | None) -> Any:
        ready = getattr(self, "_pool", None)
        if isinstance(ready, deque) and len(ready) > 1:
            ready.rotate(1)  # the one returned last to the front, where it is taken
        return await super()._get_ready_connection(timeout)
