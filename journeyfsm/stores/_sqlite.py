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
and never commits it: every ``transaction()`` is a ``SAVEPOINT`` released into the
transaction the host has open (one is begun if none is, as the host's own first write
would), so ``JourneyService.handle`` called inside the host's ``with conn:`` commits or
rolls back with the host's own writes, when the host commits or rolls back.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import weakref
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from .._errors import ConcurrencyConflict, StoreError
from .._records import HistoryEntry
from .._service_core import Decision, JourneyRow
from ._base import (
    SCHEMA_VERSION,
    OutboxItem,
    OutboxStatus,
    check_prefix,
    check_version,
    from_time,
    to_time,
)

__all__ = ["SQLiteStore"]

_TABLES = ("journeys", "history", "event_ids", "outbox")


def _schema(p: str) -> list[str]:

    def q(name: str) -> str:  # the prefix is a checked identifier
        return f'"{p}{name}"'

    return [
        f"CREATE TABLE IF NOT EXISTS {q('schema_version')} (version INTEGER NOT NULL)",
        f"""CREATE TABLE IF NOT EXISTS {q("journeys")} (
            definition TEXT NOT NULL, key TEXT NOT NULL, definition_version TEXT NOT NULL,
            stage TEXT NOT NULL, data TEXT NOT NULL, version INTEGER NOT NULL,
            entered_at TEXT NOT NULL, updated_at TEXT NOT NULL,
            PRIMARY KEY (definition, key))""",
        f"""CREATE TABLE IF NOT EXISTS {q("history")} (
            definition TEXT NOT NULL, key TEXT NOT NULL, seq INTEGER NOT NULL,
            trigger TEXT NOT NULL, source TEXT NOT NULL, dest TEXT NOT NULL, at TEXT NOT NULL,
            event_id TEXT, meta TEXT, PRIMARY KEY (definition, key, seq))""",
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
    ]


class SQLiteStore:
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
        self.prefix = check_prefix(prefix)
        self.path = None if path is None else str(path)
        self.busy_timeout = busy_timeout
        self._host = connection
        self._local = threading.local()
        # every connection this store opened (one per thread), closed by close() or
        # when the store is garbage-collected
        self._opened: list[sqlite3.Connection] = []
        self._opened_lock = threading.Lock()
        weakref.finalize(self, _close_all, self._opened, self._opened_lock)
        self._t = {name: f'"{prefix}{name}"' for name in (*_TABLES, "schema_version")}
        if create_schema:
            self.create_schema()
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

        Use it from no thread that is inside one of the store's transactions.
        """
        _close_all(self._opened, self._opened_lock)
        self._local = threading.local()

    @contextmanager
    def transaction(self, *, write: bool = True) -> Iterator[_SQLiteTransaction]:
        """One transaction: commits when the block ends, rolls back when it raises.

        On the host's connection: a savepoint; a write begins the host's transaction if
        none is open, and leaves it to the host to commit.
        """
        with self._transaction(write, begin_host=write) as tx:
            yield tx

    @contextmanager
    def _transaction(self, write: bool, *, begin_host: bool) -> Iterator[_SQLiteTransaction]:
        conn = self._conn()
        depth: int = getattr(self._local, "depth", 0)
        nested = self._host is not None or depth > 0
        name = f"journeyfsm_{depth}"
        try:
            if begin_host and self._host is not None and not conn.in_transaction:
                # the host commits: open its transaction as its own first write would
                conn.execute("BEGIN")
            if nested:
                conn.execute(f'SAVEPOINT "{name}"')
            else:
                conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
        except sqlite3.OperationalError as err:
            raise StoreError(f"cannot begin a transaction on {self._where()}: {err}") from err
        self._local.depth = depth + 1
        try:
            yield _SQLiteTransaction(self, conn)
        except BaseException:
            if nested:
                conn.execute(f'ROLLBACK TO "{name}"')
                conn.execute(f'RELEASE "{name}"')
            else:
                conn.execute("ROLLBACK")
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

    def _where(self) -> str:
        return f"SQLite database {self.path!r}" if self.path else "the host's SQLite connection"

    # -- schema --------------------------------------------------------------------
    def create_schema(self) -> None:
        """Create the tables if missing and record the schema version (idempotent)."""
        with self._transaction(True, begin_host=False) as tx:
            for statement in _schema(self.prefix):
                tx.conn.execute(statement)
            t = self._t["schema_version"]
            found = tx.conn.execute(f"SELECT version FROM {t}").fetchall()
            if not found:
                tx.conn.execute(f"INSERT INTO {t} (version) VALUES (?)", (SCHEMA_VERSION,))
            elif found[0][0] > SCHEMA_VERSION:
                raise self._newer(found[0][0])

    def _check_schema(self) -> None:
        t = self._t["schema_version"]
        fix = "run SQLiteStore(path, create_schema=True) (or store.create_schema()) once"
        try:
            with self._transaction(False, begin_host=False) as tx:
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

    def _newer(self, version: int) -> StoreError:
        return StoreError(
            f"{self._where()} has journeyfsm schema version {version}, newer than this "
            f"journeyfsm's ({SCHEMA_VERSION}); upgrade journeyfsm",
            table="schema_version",
        )


def _close_all(conns: list[sqlite3.Connection], lock: threading.Lock) -> None:
    with lock:
        for conn in conns:
            conn.close()
        conns.clear()


def _loads(text: object, table: str, key: str | None, column: str) -> Any:
    try:
        if type(text) is not str:
            raise ValueError(f"not text: {text!r}")
        return json.loads(text)
    except ValueError as err:
        raise StoreError(
            f"{table}.{column} of journey {key!r} is corrupted (malformed JSON: {err}); "
            "repair the row",
            table=table,
            key=key,
        ) from None


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))


class _SQLiteTransaction:
    def __init__(self, store: SQLiteStore, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self._t = store._t

    # -- journeys ------------------------------------------------------------------
    def load(self, definition: str, key: str) -> JourneyRow | None:
        found = self.conn.execute(
            f"SELECT definition_version, stage, data, version, entered_at, updated_at, "
            f"(SELECT MAX(seq) FROM {self._t['history']} WHERE definition = ? AND key = ?) "
            f"FROM {self._t['journeys']} WHERE definition = ? AND key = ?",
            (definition, key, definition, key),
        ).fetchone()
        if found is None:
            return None
        dv, stage, data, version, entered, updated, last_seq = found
        check_version(key, version, last_seq or 0)
        definition_version = _loads(dv, "journeys", key, "definition_version")
        data = _loads(data, "journeys", key, "data")
        return JourneyRow(
            definition,
            key,
            definition_version,
            stage,
            data,
            version,
            from_time(entered, table="journeys", key=key, column="entered_at"),
            from_time(updated, table="journeys", key=key, column="updated_at"),
        )

    def event_seq(self, definition: str, key: str, event_id: str) -> int | None:
        found = self.conn.execute(
            f"SELECT seq FROM {self._t['event_ids']} "
            "WHERE definition = ? AND key = ? AND event_id = ?",
            (definition, key, event_id),
        ).fetchone()
        return None if found is None else int(found[0])

    def write(self, decision: Decision) -> None:
        row, entry = decision.journey, decision.history
        if row is None or entry is None:
            return
        t, ex = self._t, self.conn.execute
        values = (
            _dumps(row.definition_version),
            row.stage,
            _dumps(row.data),
            row.version,
            to_time(row.entered_at),
            to_time(row.updated_at),
        )
        expected = decision.expected_version
        try:
            if expected is None:
                ex(
                    f"INSERT INTO {t['journeys']} (definition_version, stage, data, version, "
                    "entered_at, updated_at, definition, key) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (*values, row.definition, row.key),
                )
            else:
                cur = ex(
                    f"UPDATE {t['journeys']} SET definition_version = ?, stage = ?, data = ?, "
                    "version = ?, entered_at = ?, updated_at = ? "
                    "WHERE definition = ? AND key = ? AND version = ?",
                    (*values, row.definition, row.key, expected),
                )
                if cur.rowcount != 1:
                    raise _conflict(row.key, expected)
            ex(
                f"INSERT INTO {t['history']} (definition, key, seq, trigger, source, dest, at, "
                "event_id, meta) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    row.definition,
                    row.key,
                    entry.seq,
                    entry.trigger,
                    entry.source,
                    entry.dest,
                    to_time(entry.at),
                    entry.event_id,
                    None if entry.meta is None else _dumps(entry.meta),
                ),
            )
            ids = decision.event_id
            if ids is not None:
                ex(
                    f"INSERT INTO {t['event_ids']} (definition, key, event_id, seq, "
                    "committed_at) VALUES (?, ?, ?, ?, ?)",
                    (ids.definition, ids.key, ids.event_id, ids.seq, to_time(ids.committed_at)),
                )
            now = to_time(decision.now)
            for out in decision.outbox:
                ex(
                    f"INSERT INTO {t['outbox']} (definition, key, seq, effect, idempotency_key, "
                    "call, status, attempts, available_at, created_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, 'pending', 0, ?, ?)",
                    (
                        out.definition,
                        out.key,
                        out.seq,
                        out.effect,
                        out.idempotency_key,
                        _dumps(out.call),
                        now,
                        now,
                    ),
                )
        except sqlite3.IntegrityError as err:
            # a primary key or the unique event id / idempotency key: another writer
            # committed this journey's move (or this event) first
            raise _conflict(row.key, expected, str(err)) from err
        except sqlite3.OperationalError as err:
            # "database is locked": only a transaction that began as a read (the host's)
            # can fail to take the write lock here; the whole transaction must be retried
            raise StoreError(
                f"cannot write journey {row.key!r}: {err}; roll back and retry the whole "
                "transaction (in your own connection: begin it with BEGIN IMMEDIATE)",
                table="journeys",
                key=row.key,
            ) from err

    def history(
        self, definition: str, key: str, *, after: int = 0, limit: int = 100
    ) -> list[HistoryEntry]:
        rows = self.conn.execute(
            f"SELECT seq, trigger, source, dest, at, event_id, meta FROM {self._t['history']} "
            "WHERE definition = ? AND key = ? AND seq > ? ORDER BY seq LIMIT ?",
            (definition, key, after, limit),
        ).fetchall()
        out = []
        for seq, trigger, source, dest, at, event_id, meta in rows:
            out.append(
                HistoryEntry(
                    seq,
                    trigger,
                    source,
                    dest,
                    from_time(at, table="history", key=key, column="at"),
                    event_id,
                    None if meta is None else _loads(meta, "history", key, "meta"),
                )
            )
        return out

    def purge_event_ids(self, older_than: datetime) -> int:
        cur = self.conn.execute(
            f"DELETE FROM {self._t['event_ids']} WHERE committed_at < ?", (to_time(older_than),)
        )
        return int(cur.rowcount)

    # -- outbox --------------------------------------------------------------------
    _COLS = (
        "id, definition, key, seq, effect, idempotency_key, call, status, attempts, "
        "available_at, lease_owner, lease_until, last_error"
    )

    def _item(self, r: Sequence[Any]) -> OutboxItem:
        key = r[2]
        try:
            call = json.loads(r[6])
        except ValueError as err:
            # kept as the raw text: the worker dead-letters it with this error
            call = StoreError(
                f"outbox.call of journey {key!r} (row {r[0]}) is corrupted (malformed JSON: "
                f"{err}); repair the row and requeue it",
                table="outbox",
                key=key,
            )
        return OutboxItem(
            r[0],
            r[1],
            key,
            r[3],
            r[4],
            r[5],
            call,
            r[7],
            r[8],
            from_time(r[9], table="outbox", key=key, column="available_at"),
            r[10],
            None
            if r[11] is None
            else from_time(r[11], table="outbox", key=key, column="lease_until"),
            r[12],
        )

    def claim(
        self, definition: str, *, worker: str, now: datetime, lease: timedelta, limit: int
    ) -> list[OutboxItem]:
        t, n = self._t["outbox"], to_time(now)
        ids = [
            r[0]
            for r in self.conn.execute(
                f"SELECT id FROM {t} WHERE definition = ? AND status = 'pending' "
                "AND available_at <= ? AND (lease_until IS NULL OR lease_until <= ?) "
                "ORDER BY id LIMIT ?",
                (definition, n, n, limit),
            )
        ]
        if not ids:
            return []
        marks = ", ".join("?" * len(ids))
        self.conn.execute(
            f"UPDATE {t} SET attempts = attempts + 1, lease_owner = ?, lease_until = ? "
            f"WHERE id IN ({marks})",
            (worker, to_time(now + lease), *ids),
        )
        rows = self.conn.execute(
            f"SELECT {self._COLS} FROM {t} WHERE id IN ({marks}) ORDER BY id", ids
        ).fetchall()
        return [self._item(r) for r in rows]

    def mark_done(self, item_id: int, *, now: datetime) -> None:
        self.conn.execute(
            f"UPDATE {self._t['outbox']} SET status = 'done', lease_owner = NULL, "
            "lease_until = NULL WHERE id = ? AND status = 'pending'",
            (item_id,),
        )

    def mark_failed(
        self, item_id: int, *, error: str, retry_at: datetime | None, now: datetime
    ) -> None:
        if retry_at is None:
            sql = "status = 'dead', last_error = ?"
            params: tuple[Any, ...] = (error, item_id)
        else:
            sql = "available_at = ?, last_error = ?"
            params = (to_time(retry_at), error, item_id)
        self.conn.execute(
            f"UPDATE {self._t['outbox']} SET {sql}, lease_owner = NULL, lease_until = NULL "
            "WHERE id = ? AND status = 'pending'",
            params,
        )

    def requeue_dead(
        self, definition: str, *, now: datetime, ids: Sequence[int] | None = None
    ) -> int:
        sql = (
            f"UPDATE {self._t['outbox']} SET status = 'pending', attempts = 0, "
            "available_at = ? WHERE definition = ? AND status = 'dead'"
        )
        params: list[Any] = [to_time(now), definition]
        if ids is not None:
            if not ids:
                return 0
            sql += f" AND id IN ({', '.join('?' * len(ids))})"
            params.extend(ids)
        return int(self.conn.execute(sql, params).rowcount)

    def outbox(
        self, definition: str, *, key: str | None = None, status: OutboxStatus | None = None
    ) -> list[OutboxItem]:
        sql = f"SELECT {self._COLS} FROM {self._t['outbox']} WHERE definition = ?"
        params: list[Any] = [definition]
        if key is not None:
            sql += " AND key = ?"
            params.append(key)
        if status is not None:
            sql += " AND status = ?"
            params.append(status)
        return [self._item(r) for r in self.conn.execute(sql + " ORDER BY id", params)]

    def outbox_counts(self, definition: str) -> dict[str, int]:
        counts = {"pending": 0, "dead": 0, "done": 0}
        for status, n in self.conn.execute(
            f"SELECT status, COUNT(*) FROM {self._t['outbox']} WHERE definition = ? "
            "GROUP BY status",
            (definition,),
        ):
            counts[status] = n
        return counts


def _conflict(key: str, expected: int | None, detail: str | None = None) -> ConcurrencyConflict:
    why = f" ({detail})" if detail else ""
    return ConcurrencyConflict(
        f"journey {key!r} was moved by another worker first (expected version {expected}){why}; "
        "reload it and decide again",
        key=key,
    )
