"""SQLiteStore: the embedded default.  Standard-library ``sqlite3``, one file, WAL.

Every statement is parameterised; the only text put into SQL is the table prefix, which
must be a plain identifier and is quoted.  Data, history meta and outbox calls are JSON
text (never pickle); times are fixed-width UTC ISO text, so text order is time order.

Transactions.  Each thread gets its own connection to the file (``sqlite3`` connections
must not be shared between threads).  ``transaction()`` is ``BEGIN IMMEDIATE`` (or a
deferred ``BEGIN`` with ``write=False``): SQLite has one writer at a time, and taking the
write lock up front means a writer waits (``busy_timeout``) instead of failing halfway.
A transaction opened inside another on the same thread is a ``SAVEPOINT``.

The host's own transaction.  ``SQLiteStore(connection=conn)`` uses the host's connection
and follows the transaction rule (_sqlite_host.py, docs/service.md): when the host has a
transaction open (or its connection opens them implicitly) the store joins it, as one
savepoint per write, and the host commits; on an autocommit connection with no
transaction open the store runs its own and commits it, so a move it reports is never
left uncommitted.  The schema is checked once per database file and prefix in a process
(``create_schema()`` records it again), not once per store: a store made per request costs
nothing to make.
"""

from __future__ import annotations

import sqlite3
import threading
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from .._errors import StoreError
from ._base import (
    CAPS_SCHEMA,
    GOALS_SCHEMA,
    SCHEMA_VERSION,
    StoreMethods,
    check_prefix,
    schema_cache,
)
from ._sqlite_codec import write_statements
from ._sqlite_host import host_state, host_transaction
from ._sqlite_rows import SQLiteTransaction

__all__ = ["SQLiteStore"]

_TABLES = ("journeys", "history", "event_ids", "outbox", "deliveries")


def _schema(p: str) -> list[str]:

    def q(name: str) -> str:  # the prefix is a checked identifier
        return f'"{p}{name}"'

    return [
        f"CREATE TABLE IF NOT EXISTS {q('schema_version')} (version INTEGER NOT NULL)",
        f"""CREATE TABLE IF NOT EXISTS {q("journeys")} (
            definition TEXT NOT NULL, key TEXT NOT NULL, definition_version TEXT NOT NULL,
            stage TEXT NOT NULL, data TEXT NOT NULL, version INTEGER NOT NULL,
            entered_at TEXT NOT NULL, updated_at TEXT NOT NULL, started_at TEXT NOT NULL,
            entry_seq INTEGER NOT NULL, timeouts_fired INTEGER NOT NULL, next_due TEXT,
            goals TEXT, PRIMARY KEY (definition, key))""",
        # what a tick claims: only journeys with an armed timeout are in the index
        f"CREATE INDEX IF NOT EXISTS {q('journeys_due')} ON {q('journeys')} "
        "(definition, next_due) WHERE next_due IS NOT NULL",
        f"""CREATE TABLE IF NOT EXISTS {q("history")} (
            definition TEXT NOT NULL, key TEXT NOT NULL, seq INTEGER NOT NULL,
            trigger TEXT NOT NULL, source TEXT NOT NULL, dest TEXT NOT NULL, at TEXT NOT NULL,
            event_id TEXT, meta TEXT, definition_version TEXT,
            PRIMARY KEY (definition, key, seq))""",
        f"""CREATE TABLE IF NOT EXISTS {q("event_ids")} (
            definition TEXT NOT NULL, key TEXT NOT NULL, event_id TEXT NOT NULL,
            seq INTEGER NOT NULL, committed_at TEXT NOT NULL,
            PRIMARY KEY (definition, key, event_id))""",
        f"CREATE INDEX IF NOT EXISTS {q('event_ids_committed')} ON {q('event_ids')} (committed_at)",
        f"""CREATE TABLE IF NOT EXISTS {q("outbox")} (
            id INTEGER PRIMARY KEY AUTOINCREMENT, definition TEXT NOT NULL,
            key TEXT NOT NULL, seq INTEGER NOT NULL, effect TEXT NOT NULL,
            idempotency_key TEXT NOT NULL UNIQUE, call TEXT NOT NULL,
            status TEXT NOT NULL, attempts INTEGER NOT NULL, available_at TEXT NOT NULL,
            lease_owner TEXT, lease_until TEXT, last_error TEXT, created_at TEXT NOT NULL)""",
        f"CREATE INDEX IF NOT EXISTS {q('outbox_due')} "
        f"ON {q('outbox')} (definition, status, available_at)",
        # schema 4: the frequency caps' ledger (one row per counted delivery)
        *_ledger_schema(q),
    ]


def _ledger_schema(q: Callable[[str], str]) -> list[str]:
    """Schema 3's ledger of deliveries (created by a v2 -> v3 upgrade too)."""
    return [
        f"""CREATE TABLE IF NOT EXISTS {q("deliveries")} (
            outbox_id INTEGER PRIMARY KEY, customer TEXT NOT NULL, channel TEXT NOT NULL,
            at TEXT NOT NULL)""",
        f"CREATE INDEX IF NOT EXISTS {q('deliveries_window')} "
        f"ON {q('deliveries')} (customer, channel, at)",
    ]


class SQLiteStore(StoreMethods):
    """A store in one SQLite file (WAL mode); safe for threads and processes sharing it.

    ``create_schema=True`` creates the tables first (idempotent); without it, a file whose
    schema is missing or older is refused with a ``StoreError`` saying what to run.
    ``connection=`` runs inside the host's own connection and transactions (see the
    module docstring); ``prefix`` prefixes every table name.

    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "journeys.db")
    >>> store = SQLiteStore(path, create_schema=True)
    >>> with store.transaction() as tx:
    ...     tx.load("aida", "c-1") is None
    True
    """

    def __init__(
        self,
        path: str | Path | None = None,
        *,
        connection: sqlite3.Connection | None = None,
        prefix: str = "journeyfsm_",
        create_schema: bool = False,
        busy_timeout: float = 30.0,
    ) -> None:
        if (path is None) == (connection is None):
            raise TypeError("SQLiteStore takes a file path or connection=..., exactly one")
        if connection is not None:
            _check_connection(connection)
        elif not isinstance(path, (str, Path)):
            raise TypeError(f"SQLiteStore takes a file path (str or Path), got {path!r}")
        if (
            isinstance(busy_timeout, bool)
            or not isinstance(busy_timeout, (int, float))
            or not 0 <= busy_timeout <= 86400
        ):
            raise ValueError(
                f"busy_timeout must be a number of seconds between 0 and 86400 (how long a "
                f"write waits for SQLite's lock), got {busy_timeout!r}"
            )
        self.prefix = check_prefix(prefix)
        self.path = None if path is None else str(path)
        self.busy_timeout = busy_timeout
        self._host = connection
        self._local = threading.local()
        # every connection this store opened (one per thread), closed by close() or
        # when the store is garbage-collected
        self._opened: list[sqlite3.Connection] = []
        self._opened_lock = threading.Lock()
        self._closed = False
        if connection is None:  # a store on a host's connection opens none
            weakref.finalize(self, _close_all, self._opened, self._opened_lock)
        self._t = {name: f'"{prefix}{name}"' for name in (*_TABLES, "schema_version")}
        self._w = write_statements(self._t)
        #: the lock probe of a host's transaction: takes the write lock, writes nothing
        self._lock_sql = f"UPDATE {self._t['schema_version']} SET version = version WHERE 0"
        #: what identifies the schema this store uses in the process-wide cache
        self._schema_key = self._identity()
        if create_schema:
            self.create_schema()
        elif self._schema_key is None or self._schema_key not in schema_cache:
            self._check_schema()

    # -- connections and transactions ------------------------------------------------
    def _conn(self) -> sqlite3.Connection:
        if self._host is not None:
            return self._host
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            assert self.path is not None
            try:
                conn = sqlite3.connect(
                    self.path,
                    timeout=self.busy_timeout,
                    isolation_level=None,
                    check_same_thread=False,
                )
            except sqlite3.Error as err:
                raise StoreError(f"cannot open SQLite database {self.path!r}: {err}") from err
            with self._opened_lock:
                self._opened.append(conn)  # closed with the store, even if set-up fails
            try:
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=FULL")
            except sqlite3.Error as err:
                raise StoreError(f"cannot open SQLite database {self.path!r}: {err}") from err
            self._local.conn = conn
            self._local.depth = 0
        return conn

    def close(self) -> None:
        """Close the connections this store opened (the host's connection is left open).

        Closing again does nothing; any other use afterwards is a ``StoreError`` (make a
        new store to use the database again), as with ``AsyncSQLiteStore``.  Use it from
        no thread that is inside one of the store's transactions.
        """
        self._closed = True
        _close_all(self._opened, self._opened_lock)
        self._local = threading.local()

    def _check_open(self) -> None:
        if self._closed:
            where = repr(self.path) if self.path else "connection=<the host's>"
            raise StoreError(
                f"SQLiteStore({where}) is closed; make a new store (at start-up) to use the "
                "database again"
            )

    @contextmanager
    def transaction(self, *, write: bool = True) -> Iterator[SQLiteTransaction]:
        """One transaction: commits when the block ends, rolls back when it raises.

        On the host's connection: the transaction rule (the module docstring): inside
        the host's transaction a write is one savepoint and the host commits; on an
        autocommit connection with none open, the store's own transaction, committed.
        """
        with self._transaction(write) as tx:
            yield tx

    def joins_host_transaction(self) -> bool:
        """Whether a transaction begun now would run inside one the host commits (its
        connection's transaction, open or implicit) rather than one the store commits.

        The service then reads, decides and writes an event in ONE store transaction (one
        savepoint): the host holds its transaction across the whole request anyway.

        >>> import sqlite3
        >>> conn = sqlite3.connect(":memory:", isolation_level=None)  # autocommit
        >>> store = SQLiteStore(connection=conn, create_schema=True)
        >>> store.joins_host_transaction()
        False
        >>> _ = conn.execute("BEGIN")
        >>> store.joins_host_transaction()
        True
        >>> conn.close()
        """
        return self._host is not None and host_state(self._host) != "own"

    @contextmanager
    def _transaction(self, write: bool, *, setup: bool = False) -> Iterator[SQLiteTransaction]:
        self._check_open()
        if self._host is not None:
            with self._on_host(write, setup=setup):
                yield SQLiteTransaction(self._host, self._t, self._w)
            return
        conn = self._conn()
        depth: int = getattr(self._local, "depth", 0)
        nested = depth > 0
        name = f"journeyfsm_{depth}"
        try:
            if nested:
                conn.execute(f'SAVEPOINT "{name}"')
            else:
                conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
        except sqlite3.OperationalError as err:
            raise StoreError(f"cannot begin a transaction on {self._where()}: {err}") from err
        self._local.depth = depth + 1
        try:
            yield SQLiteTransaction(conn, self._t, self._w)
        except BaseException as exc:
            try:
                if nested:
                    conn.execute(f'ROLLBACK TO "{name}"')
                    conn.execute(f'RELEASE "{name}"')
                elif conn.in_transaction:
                    conn.execute("ROLLBACK")
            except sqlite3.Error:
                # SQLite rolled the transaction back itself (a full disk, an I/O error):
                # the error that did it is the one to raise
                pass
            if isinstance(exc, sqlite3.Error):  # a statement's: the same StoreError as a host's
                raise StoreError(f"SQLite failed on {self._where()}: {exc}") from exc
            raise
        else:
            try:
                conn.execute(f'RELEASE "{name}"' if nested else "COMMIT")
            except sqlite3.OperationalError as err:
                if not nested:
                    conn.execute("ROLLBACK")
                raise StoreError(f"cannot commit on {self._where()}: {err}") from err
        finally:
            self._local.depth = depth

    @contextmanager
    def _on_host(self, write: bool, *, setup: bool) -> Iterator[None]:
        conn = self._host
        assert conn is not None
        try:
            lock = None if setup else self._lock_sql  # the tables may not exist yet
            with host_transaction(conn, write, lock, self._where(), setup=setup):
                yield
        except sqlite3.ProgrammingError as err:  # closed, or used from another thread
            raise StoreError(f"cannot use {self._where()}: {err}") from err
        except sqlite3.OperationalError as err:
            if "no such table" in str(err):
                schema_cache.discard(self._schema_key)  # dropped underneath: check again
            raise StoreError(f"SQLite failed on {self._where()}: {err}") from err

    def _identity(self) -> tuple[str, ...] | None:
        """The database file and prefix (the schema cache's key); ``None`` for a database
        in memory or a temporary one (each connection its own: always checked)."""
        if self._host is None:
            return None
        try:
            rows = self._host.execute("PRAGMA database_list").fetchall()
        except sqlite3.Error as err:
            raise StoreError(f"cannot read {self._where()}: {err}") from err
        file = next((r[2] for r in rows if r[1] == "main"), "")
        return ("sqlite", file, self.prefix) if file else None

    def _where(self) -> str:
        return f"SQLite database {self.path!r}" if self.path else "the host's SQLite connection"

    # -- schema --------------------------------------------------------------------
    def create_schema(self) -> None:
        """Create the tables if missing and record the schema version (idempotent)."""
        with self._transaction(True, setup=True) as tx:
            t = self._t["schema_version"]
            tx.conn.execute(_schema(self.prefix)[0])
            found = tx.conn.execute(f"SELECT version FROM {t}").fetchall()
            if found and found[0][0] == 1:
                self._migrate_1(tx.conn)
            if found and found[0][0] in (1, 2):
                self._migrate_2(tx.conn)
            if found and found[0][0] < CAPS_SCHEMA:  # the ledger table (created below)
                tx.conn.execute(f"UPDATE {t} SET version = ?", (CAPS_SCHEMA,))
            if found and found[0][0] < GOALS_SCHEMA:
                self._migrate_4(tx.conn)
            for statement in _schema(self.prefix):
                tx.conn.execute(statement)
            found = tx.conn.execute(f"SELECT version FROM {t}").fetchall()
            if not found:
                tx.conn.execute(f"INSERT INTO {t} (version) VALUES (?)", (SCHEMA_VERSION,))
            elif found[0][0] > SCHEMA_VERSION:
                raise self._newer(found[0][0])
        if self._schema_key is not None:
            schema_cache.add(self._schema_key)

    def _migrate_1(self, conn: sqlite3.Connection) -> None:
        """Schema 1 -> 2: the timeout clock.  A journey's start is its first move; its
        stage entry the last move (``entered_at`` kept); no timeout is armed
        (``next_due`` NULL) until the journey's next move."""
        j, h = self._t["journeys"], self._t["history"]
        for statement in (
            f"ALTER TABLE {j} ADD COLUMN started_at TEXT NOT NULL DEFAULT ''",
            f"ALTER TABLE {j} ADD COLUMN entry_seq INTEGER NOT NULL DEFAULT 0",
            f"ALTER TABLE {j} ADD COLUMN timeouts_fired INTEGER NOT NULL DEFAULT 0",
            f"ALTER TABLE {j} ADD COLUMN next_due TEXT",
            f"UPDATE {j} SET entry_seq = version, started_at = COALESCE((SELECT MIN(h.at) "
            f"FROM {h} h WHERE h.definition = {j}.definition AND h.key = {j}.key), entered_at)",
            f"UPDATE {self._t['schema_version']} SET version = 2",
        ):
            conn.execute(statement)

    def _migrate_2(self, conn: sqlite3.Connection) -> None:
        """Schema 2 -> 3: the definition version of each history entry (``NULL`` for
        the entries written before: the journey's version then is not known)."""
        for statement in (
            f"ALTER TABLE {self._t['history']} ADD COLUMN definition_version TEXT",
            f"UPDATE {self._t['schema_version']} SET version = 3",
        ):
            conn.execute(statement)

    def _migrate_4(self, conn: sqlite3.Connection) -> None:
        """Schema 4 -> 5: the journeys' goal clocks (``NULL`` in rows written before: no
        goal clock runs until the journey next enters a goal's ``since`` stage)."""
        j = self._t["journeys"]
        columns = {r[1] for r in conn.execute(f"PRAGMA table_info({j})")}
        if "goals" not in columns:  # (SQLite has no ADD COLUMN IF NOT EXISTS)
            conn.execute(f"ALTER TABLE {j} ADD COLUMN goals TEXT")
        conn.execute(f"UPDATE {self._t['schema_version']} SET version = {GOALS_SCHEMA}")

    def _check_schema(self) -> None:
        t = self._t["schema_version"]
        fix = (
            "run SQLiteStore(path, create_schema=True) (or store.create_schema()) once "
            "(it migrates an older schema)"
        )
        if (
            self._host is not None
            and self._schema_key is not None
            and self._host.in_transaction
            and self._side_check(str(self._schema_key[1]))
        ):
            # read through a connection of its own: a read in the host's (deferred)
            # transaction would take the snapshot that keeps it from writing later
            # (read-only and without the store's pragmas: changing the journal mode of a
            # file whose host holds its write lock would wait for that lock).  A schema
            # the host's own transaction created is not visible there: read it in the
            # host's transaction then, which has written already.
            schema_cache.add(self._schema_key)
            return
        with self._transaction(False) as tx:
            try:
                found = tx.conn.execute(f"SELECT version FROM {t}").fetchall()
            except sqlite3.OperationalError as err:
                if "no such table" not in str(err):
                    raise StoreError(f"cannot read {self._where()}: {err}") from err
                raise StoreError(
                    f"{self._where()} has no journeyfsm schema (table {t} is missing); {fix}",
                    table="schema_version",
                ) from None
            except sqlite3.DatabaseError as err:
                raise StoreError(f"cannot read {self._where()}: {err}") from err
        version = found[0][0] if found else None
        if version is None or version < SCHEMA_VERSION:
            raise StoreError(
                f"{self._where()} has journeyfsm schema version {version}, this journeyfsm "
                f"needs {SCHEMA_VERSION}; {fix}",
                table="schema_version",
            )
        if version > SCHEMA_VERSION:
            raise self._newer(version)
        if self._schema_key is not None:
            schema_cache.add(self._schema_key)

    def _side_check(self, path: str) -> bool:
        """The schema version read through a connection of its own: True when current.

        False (check in the host's transaction instead) when that connection cannot see
        the tables; an older or newer version is the ``StoreError`` it always is.
        """
        t = self._t["schema_version"]
        try:
            side = sqlite3.connect(
                Path(path).resolve().as_uri() + "?mode=ro", uri=True, timeout=self.busy_timeout
            )
        except sqlite3.Error:
            return False
        try:
            found = side.execute(f"SELECT version FROM {t}").fetchall()
        except sqlite3.Error:
            return False
        finally:
            side.close()
        version = found[0][0] if found else None
        if version is None:
            return False
        if version > SCHEMA_VERSION:
            raise self._newer(version)
        if version < SCHEMA_VERSION:
            raise StoreError(
                f"{self._where()} has journeyfsm schema version {version}, this journeyfsm "
                f"needs {SCHEMA_VERSION}; run SQLiteStore(path, create_schema=True) (or "
                "store.create_schema()) once (it migrates an older schema)",
                table="schema_version",
            )
        return True

    def _newer(self, version: int) -> StoreError:
        return StoreError(
            f"{self._where()} has journeyfsm schema version {version}, newer than this "
            f"journeyfsm's ({SCHEMA_VERSION}); upgrade journeyfsm",
            table="schema_version",
        )


def _check_connection(conn: object) -> None:
    """``connection=`` must be an open ``sqlite3.Connection``: anything else is named."""
    if not isinstance(conn, sqlite3.Connection):
        kind = f"{type(conn).__module__}.{type(conn).__qualname__}"
        hint = "open one with sqlite3.connect(path)"
        if kind.startswith("psycopg"):
            store = "AsyncPostgresStore" if "Async" in kind else "PostgresStore"
            hint = f"a psycopg connection goes to journeyfsm.stores.{store}(connection=...)"
        raise TypeError(
            f"SQLiteStore takes a sqlite3.Connection as connection=, got {kind}: {hint}"
        )
    try:
        conn.total_changes  # noqa: B018 - raises on a closed connection
    except sqlite3.ProgrammingError as err:
        raise StoreError(
            f"SQLiteStore got a closed sqlite3 connection ({err}): hand it an open one"
        ) from None


def _close_all(conns: list[sqlite3.Connection], lock: threading.Lock) -> None:
    with lock:
        for conn in conns:
            conn.close()
        conns.clear()
