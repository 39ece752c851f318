# GENERATED from journeyfsm/stores/_postgres_async.py by .ci/async_to_sync.py: do not edit;
# edit the source and run `make generate`.
"""PostgresStore: many processes on many machines share one PostgreSQL database.

psycopg 3 with a ``psycopg_pool`` connection pool (the extra ``journeyfsm[postgres]``).
Every statement is parameterised; the schema and the table names (prefix + name) are
validated identifiers quoted by psycopg (``psycopg.sql.Identifier``).  Data, meta and
outbox calls are ``jsonb``; times are ``timestamptz``.

Concurrency is the same optimistic scheme as SQLite's: a move's write updates the journey
row only where the version is still the one read (``READ COMMITTED`` re-checks the
condition on the newest row), and the primary keys and the unique event id turn a lost
race into ``ConcurrencyConflict``.  Outbox workers claim rows with ``FOR UPDATE SKIP
LOCKED``, so workers on several machines share the rows without waiting on each other.

The host's own transaction: ``PostgresStore(connection=conn)`` follows the
transaction rule of ``_postgres_host.py`` (own, fresh or open, read from the
connection each time a transaction begins).  The schema and its migrations are in
``_postgres_schema.py``, what psycopg's errors become in ``_postgres_errors.py``;
this module holds the connections (a pool, or the host's) and the transactions on them.
The schema is checked once per database (server, database, schema and prefix) in a
process, not per store: a store made per request costs no statement.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from .._errors import StoreError
from ..service._core import Decision
from ._base import StoreMethods, check_prefix, schema_cache

try:
    import psycopg
    from psycopg_pool import ConnectionPool
except ImportError as err:  # pragma: no cover - depends on the install
    raise ImportError(
        "PostgresStore needs psycopg 3 and psycopg_pool: pip install 'journeyfsm[postgres]' "
        "(and libpq, or 'psycopg[binary]')"
    ) from err

from ._postgres_codec import tables_of
from ._postgres_errors import StoreErrors, pool_errors, redact
from ._postgres_host import host_state, host_transaction
from ._postgres_rows import PostgresTransaction
from ._postgres_schema import check_version, create_tables, read_version

__all__ = ["PostgresStore"]

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


class PostgresStore(StoreMethods):
    """A store in a PostgreSQL database, shared by any number of processes and machines.

    ``dsn`` opens a connection pool (``min_size``/``max_size``; a DSN that cannot connect
    within ``connect_timeout`` seconds is a ``StoreError``); ``connection=`` uses the
    host's psycopg connection instead.  ``schema`` and ``prefix`` place the tables
    (``"public"``, ``"journeyfsm_"``).  ``create_schema=True`` creates them (idempotent);
    without it a database whose schema is missing or older is refused with a
    ``StoreError`` saying what to run.

    Usage::

        store = PostgresStore("postgresql://app@db/shop", create_schema=True)
        service = JourneyService(machine, store)
    """

    def __init__(
        self,
        dsn: str | None = None,
        *,
        connection: psycopg.Connection[Any] | None = None,
        schema: str = "public",
        prefix: str = "journeyfsm_",
        create_schema: bool = False,
        min_size: int = 1,
        max_size: int = 10,
        connect_timeout: int = 10,
    ) -> None:
        if (dsn is None) == (connection is None):
            raise TypeError("PostgresStore takes a DSN or connection=..., exactly one")
        if connection is not None and not isinstance(connection, psycopg.Connection):
            raise TypeError(
                "PostgresStore takes a psycopg.Connection as connection=, got "
                f"{type(connection).__module__}.{type(connection).__qualname__}: open one "
                "with `psycopg.connect(dsn)`, or give a psycopg.AsyncConnection to "
                "AsyncPostgresStore (with AsyncJourneyService)" + _elsewhere(connection)
            )
        if connection is not None and connection.closed:
            raise StoreError("PostgresStore got a closed psycopg connection: hand it an open one")
        if dsn is not None and not isinstance(dsn, str):
            raise TypeError(f"PostgresStore takes a DSN string, got {dsn!r}")
        _check_pool(min_size, max_size, connect_timeout)
        self.prefix = check_prefix(prefix)
        check_prefix(schema)
        if not schema:
            raise ValueError("schema must be a non-empty identifier")
        self.schema = schema
        self._dsn = dsn
        self._host = connection
        self._error_block = StoreErrors(dsn, self._schema_key)
        self._local = threading.local()
        self._t = tables_of(schema, prefix, _TABLES)
        self._pool: ConnectionPool[Any] | None = None
        self._open(create_schema, min_size, max_size, connect_timeout)

    def _open(
        self, create_schema: bool, min_size: int, max_size: int, connect_timeout: int
    ) -> None:
        """Connect (a pool, for a DSN), then create or check the schema."""
        dsn = self._dsn
        if dsn is not None:
            try:
                # one direct connection first: a wrong DSN fails now, with libpq's reason,
                # instead of the pool retrying in the background until its timeout
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
                self._pool.open(wait=True, timeout=30)
            except (psycopg.Error, pool_errors()) as err:
                if self._pool is not None:
                    self._pool.close()
                reason = " ".join(str(err).split())  # one line
                raise StoreError("cannot connect to PostgreSQL: " + redact(reason, dsn)) from None
        try:
            key = self._schema_key()
            if create_schema:
                self.create_schema()
            elif key is None or key not in schema_cache:
                self._check_schema()
        except BaseException:
            self.close()  # no pool left behind by a store that could not open
            raise

    def close(self) -> None:
        """Close the pool (the host's connection is left open)."""
        if self._pool is not None:
            self._pool.close()

    @contextmanager
    def transaction(self, *, write: bool = True) -> Iterator[PostgresTransaction]:
        """One transaction (a savepoint when nested or on the host's connection)."""
        if self._host is not None:
            with self._errors(), host_transaction(self._host, write):
                yield PostgresTransaction(self._host, self._t)
            return
        current = getattr(self._local, "conn", None)
        if current is not None:
            if write or current.info.transaction_status != _IDLE:
                # nested in this task's transaction: a savepoint; on the connection
                # pin_connection() holds, with no transaction open: BEGIN ... COMMIT
                with self._errors(), current.transaction():
                    yield PostgresTransaction(current, self._t)
            else:  # a read on the pinned connection: autocommit, as below
                with self._errors():
                    yield PostgresTransaction(current, self._t)
            return
        assert self._pool is not None
        with self._errors(), self._pool.connection() as conn:
            self._local.conn = conn
            try:
                if write:
                    with conn.transaction():
                        yield PostgresTransaction(conn, self._t)
                else:
                    # Reads run in autocommit (the pool's connections are): under READ
                    # COMMITTED (PostgreSQL's default) each statement of a transaction sees
                    # its own snapshot anyway, so BEGIN and COMMIT would only add two round
                    # trips to every handle(); the write that follows checks versions and
                    # event ids itself.
                    yield PostgresTransaction(conn, self._t)
            finally:
                self._local.conn = None

    @contextmanager
    def pin_connection(self) -> Iterator[None]:
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
        pool = self._pool
        assert pool is not None
        with self._errors():
            conn = pool.getconn()
        # the pool's own connection() would also commit on the way out: nothing to
        # commit here (autocommit); the pool rolls back or discards a connection that is
        # not idle when it is returned
        self._local.conn = conn
        try:
            yield
        finally:
            self._local.conn = None
            pool.putconn(conn)

    def commit_move(self, decision: Decision) -> None:
        """Write one move's rows (as ``tx.write`` does) and commit them: what the service's
        ``handle`` does once it has decided, outside a host's transaction.

        A move without fired timeouts is ONE statement (tx.write), atomic on its own: it
        runs in autocommit, on a pool connection (the pinned one, in
        ``pin_connection()``) or on a host's autocommit connection with nothing open (the
        transaction rule's "own"), so the commit costs no BEGIN and COMMIT round trips.
        Anything else runs in ``store.transaction()``.
        """
        host, current = self._host, getattr(self._local, "conn", None)
        if decision.timeouts:
            conn = None  # several statements: a transaction
        elif host is not None:
            conn = host if host_state(host) == "own" else None
        elif current is None:
            assert self._pool is not None
            with self._errors(), self._pool.connection() as taken:
                PostgresTransaction(taken, self._t).write(decision)
            return
        else:  # pinned with no transaction open; in this task's transaction: a savepoint
            conn = current if current.info.transaction_status == _IDLE else None
        if conn is not None:
            with self._errors():
                PostgresTransaction(conn, self._t).write(decision)
            return
        with self.transaction() as tx:
            tx.write(decision)

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
        """``with self._errors():`` turns psycopg's errors into ``StoreError``."""
        return self._error_block

    # -- schema (_postgres_schema.py) ------------------------------------------
    def create_schema(self) -> None:
        """Create the schema's tables if missing and record the schema version."""
        with self._setup() as tx:
            create_tables(tx.conn, self._t, self.schema, self.prefix)
        self._schema_checked()

    def _check_schema(self) -> None:
        with self._setup() as tx:
            version = read_version(tx.conn, self._t, self.schema, self.prefix)
        check_version(version)
        self._schema_checked()

    def _schema_checked(self) -> None:
        key = self._schema_key()
        if key is not None:
            schema_cache.add(key)

    @contextmanager
    def _setup(self) -> Iterator[PostgresTransaction]:
        """The transaction that creates or checks the schema: on the host's connection
        the store's own, committed (a savepoint if the host has a transaction open)."""
        if self._host is None:
            with self.transaction() as tx:
                yield tx
            return
        with self._errors(), host_transaction(self._host, True, setup=True):
            yield PostgresTransaction(self._host, self._t)


class _LastReturnedFirst(ConnectionPool[Any]):
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

    def _get_ready_connection(self, timeout: float | None) -> Any:
        ready = getattr(self, "_pool", None)
        if isinstance(ready, deque) and len(ready) > 1:
            ready.rotate(1)  # the one returned last to the front, where it is taken
        return super()._get_ready_connection(timeout)
