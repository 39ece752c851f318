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

The host's own transaction: ``PostgresStore(connection=conn)`` runs every transaction as
``conn.transaction()`` on the host's psycopg connection: a savepoint inside the host's
open transaction, committed or rolled back by the host.  On a non-autocommit connection a
write begins that transaction if none is open (as the host's first statement would); on
an autocommit connection, open it yourself with ``with conn.transaction():``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from typing import Any, cast

from .._errors import ConcurrencyConflict, StoreError
from .._records import HistoryEntry
from .._service_core import Decision, JourneyRow
from ._base import SCHEMA_VERSION, OutboxItem, OutboxStatus, check_prefix, check_version

try:
    import psycopg
    from psycopg import sql
    from psycopg.types.json import Jsonb
    from psycopg_pool import ConnectionPool
except ImportError as err:  # pragma: no cover - depends on the install
    raise ImportError(
        "PostgresStore needs psycopg 3 and psycopg_pool: pip install 'journeyfsm[postgres]' "
        "(and libpq, or 'psycopg[binary]')"
    ) from err

__all__ = ["PostgresStore"]

_TABLES = ("schema_version", "journeys", "history", "event_ids", "outbox")


def _redact(text: str, dsn: str | None) -> str:
    """``text`` without the DSN's password (errors and logs never show it)."""
    if not dsn:
        return text
    try:
        password = psycopg.conninfo.conninfo_to_dict(dsn).get("password")
    except psycopg.Error:
        return text.replace(dsn, "<dsn>")
    return text.replace(str(password), "***") if password else text


class PostgresStore:
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
        self.prefix = check_prefix(prefix)
        check_prefix(schema)
        if not schema:
            raise ValueError("schema must be a non-empty identifier")
        self.schema = schema
        self._dsn = dsn
        self._host = connection
        self._local = threading.local()
        self._t = {name: sql.Identifier(schema, f"{prefix}{name}") for name in _TABLES}
        self._pool: ConnectionPool[Any] | None = None
        if dsn is not None:
            try:
                # one direct connection first: a wrong DSN fails now, with libpq's reason,
                # instead of the pool retrying in the background until its timeout
                psycopg.connect(dsn, connect_timeout=connect_timeout).close()
                self._pool = ConnectionPool(
                    dsn, min_size=min_size, max_size=max_size, open=True, timeout=30
                )
                self._pool.wait(timeout=30)
            except (psycopg.Error, psycopg_pool_errors()) as err:
                if self._pool is not None:
                    self._pool.close()
                reason = " ".join(str(err).split())  # one line
                raise StoreError("cannot connect to PostgreSQL: " + _redact(reason, dsn)) from None
        try:
            if create_schema:
                self.create_schema()
            self._check_schema()
        except BaseException:
            self.close()  # no pool left behind by a store that could not open
            raise

    def close(self) -> None:
        """Close the pool (the host's connection is left open)."""
        if self._pool is not None:
            self._pool.close()

    @contextmanager
    def transaction(self, *, write: bool = True) -> Iterator[_PostgresTransaction]:
        """One transaction (a savepoint when nested or on the host's connection)."""
        current = getattr(self._local, "conn", None)
        if self._host is not None or current is not None:
            conn: psycopg.Connection[Any] = cast(Any, self._host or current)
            if (
                write
                and conn is self._host
                and not conn.autocommit
                and conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
            ):
                # begin the host's transaction as its own first statement would, so the
                # block below is a savepoint in it and the host commits
                conn.execute("SELECT 1")
            with self._errors(), conn.transaction():
                yield _PostgresTransaction(self, conn)
            return
        assert self._pool is not None
        with self._errors(), self._pool.connection() as conn:
            self._local.conn = conn
            try:
                with conn.transaction():
                    yield _PostgresTransaction(self, conn)
            finally:
                self._local.conn = None

    @contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except psycopg.OperationalError as err:
            raise StoreError(
                "PostgreSQL connection failed: " + _redact(str(err), self._dsn)
            ) from None

    # -- schema --------------------------------------------------------------------
    def create_schema(self) -> None:
        """Create the schema's tables if missing and record the schema version."""
        t = self._t
        statements = [
            sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(self.schema)),
            sql.SQL("CREATE TABLE IF NOT EXISTS {} (version integer NOT NULL)").format(
                t["schema_version"]
            ),
            sql.SQL(
                "CREATE TABLE IF NOT EXISTS {} (definition text NOT NULL, key text NOT NULL, "
                "definition_version jsonb NOT NULL, stage text NOT NULL, data jsonb NOT NULL, "
                "version integer NOT NULL, entered_at timestamptz NOT NULL, "
                "updated_at timestamptz NOT NULL, PRIMARY KEY (definition, key))"
            ).format(t["journeys"]),
            sql.SQL(
                "CREATE TABLE IF NOT EXISTS {} (definition text NOT NULL, key text NOT NULL, "
                "seq integer NOT NULL, trigger text NOT NULL, source text NOT NULL, "
                "dest text NOT NULL, at timestamptz NOT NULL, event_id text, meta jsonb, "
                "PRIMARY KEY (definition, key, seq))"
            ).format(t["history"]),
            sql.SQL(
                "CREATE TABLE IF NOT EXISTS {} (definition text NOT NULL, key text NOT NULL, "
                "event_id text NOT NULL, seq integer NOT NULL, "
                "committed_at timestamptz NOT NULL, PRIMARY KEY (definition, key, event_id))"
            ).format(t["event_ids"]),
            sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {} (committed_at)").format(
                sql.Identifier(f"{self.prefix}event_ids_committed"), t["event_ids"]
            ),
            sql.SQL(
                "CREATE TABLE IF NOT EXISTS {} (id bigserial PRIMARY KEY, "
                "definition text NOT NULL, key text NOT NULL, seq integer NOT NULL, "
                "effect text NOT NULL, idempotency_key text NOT NULL UNIQUE, "
                "call jsonb NOT NULL, status text NOT NULL, attempts integer NOT NULL, "
                "available_at timestamptz NOT NULL, lease_owner text, "
                "lease_until timestamptz, last_error text, created_at timestamptz NOT NULL)"
            ).format(t["outbox"]),
            sql.SQL(
                "CREATE INDEX IF NOT EXISTS {} ON {} (definition, status, available_at)"
            ).format(sql.Identifier(f"{self.prefix}outbox_due"), t["outbox"]),
        ]
        with self.transaction() as tx:
            # one schema creator at a time (CREATE ... IF NOT EXISTS races otherwise)
            tx.conn.execute(
                "SELECT pg_advisory_xact_lock(hashtext(%s))", (str(self._t["journeys"]),)
            )
            for statement in statements:
                tx.conn.execute(statement)
            found = tx.conn.execute(
                sql.SQL("SELECT version FROM {}").format(t["schema_version"])
            ).fetchall()
            if not found:
                tx.conn.execute(
                    sql.SQL("INSERT INTO {} (version) VALUES (%s)").format(t["schema_version"]),
                    (SCHEMA_VERSION,),
                )
            elif found[0][0] > SCHEMA_VERSION:
                raise self._newer(found[0][0])

    def _check_schema(self) -> None:
        name = f"{self.schema}.{self.prefix}schema_version"
        fix = "run PostgresStore(dsn, create_schema=True) (or store.create_schema()) once"
        try:
            with self.transaction(write=False) as tx:
                found = tx.conn.execute(
                    sql.SQL("SELECT version FROM {}").format(self._t["schema_version"])
                ).fetchall()
        except psycopg.errors.UndefinedTable:
            raise StoreError(
                f"the PostgreSQL database has no journeyfsm schema (table {name} is missing); "
                f"{fix}",
                table="schema_version",
            ) from None
        version = found[0][0] if found else None
        if version is None or version < SCHEMA_VERSION:
            raise StoreError(
                f"the PostgreSQL database has journeyfsm schema version {version}, this "
                f"journeyfsm needs {SCHEMA_VERSION}; {fix}",
                table="schema_version",
            )
        if version > SCHEMA_VERSION:
            raise self._newer(version)

    def _newer(self, version: int) -> StoreError:
        return StoreError(
            f"the PostgreSQL database has journeyfsm schema version {version}, newer than "
            f"this journeyfsm's ({SCHEMA_VERSION}); upgrade journeyfsm",
            table="schema_version",
        )


def psycopg_pool_errors() -> type[Exception]:
    """The pool's own errors (a timeout when the server cannot be reached)."""
    from psycopg_pool import PoolTimeout

    return PoolTimeout


def _utc(value: datetime) -> datetime:
    return value.astimezone(timezone.utc)


class _PostgresTransaction:
    def __init__(self, store: PostgresStore, conn: psycopg.Connection[Any]) -> None:
        self.conn = conn
        self._t = store._t

    def _q(self, text: str, **tables: str) -> sql.Composed:
        return sql.SQL(text).format(**{k: self._t[v] for k, v in tables.items()})

    # -- journeys ------------------------------------------------------------------
    def load(self, definition: str, key: str) -> JourneyRow | None:
        found = self.conn.execute(
            self._q(
                "SELECT definition_version, stage, data, version, entered_at, updated_at, "
                "(SELECT MAX(seq) FROM {h} WHERE definition = %s AND key = %s) "
                "FROM {j} WHERE definition = %s AND key = %s",
                h="history",
                j="journeys",
            ),
            (definition, key, definition, key),
        ).fetchone()
        if found is None:
            return None
        dv, stage, data, version, entered, updated, last_seq = found
        check_version(key, version, last_seq or 0)
        return JourneyRow(definition, key, dv, stage, data, version, _utc(entered), _utc(updated))

    def event_seq(self, definition: str, key: str, event_id: str) -> int | None:
        found = self.conn.execute(
            self._q(
                "SELECT seq FROM {e} WHERE definition = %s AND key = %s AND event_id = %s",
                e="event_ids",
            ),
            (definition, key, event_id),
        ).fetchone()
        return None if found is None else int(found[0])

    def write(self, decision: Decision) -> None:
        row, entry = decision.journey, decision.history
        if row is None or entry is None:
            return
        ex = self.conn.execute
        values = (
            Jsonb(row.definition_version),
            row.stage,
            Jsonb(row.data),
            row.version,
            row.entered_at,
            row.updated_at,
        )
        expected = decision.expected_version
        try:
            with self.conn.transaction():  # a savepoint: a unique violation aborts only it
                if expected is None:
                    ex(
                        self._q(
                            "INSERT INTO {j} (definition_version, stage, data, version, "
                            "entered_at, updated_at, definition, key) "
                            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                            j="journeys",
                        ),
                        (*values, row.definition, row.key),
                    )
                else:
                    cur = ex(
                        self._q(
                            "UPDATE {j} SET definition_version = %s, stage = %s, data = %s, "
                            "version = %s, entered_at = %s, updated_at = %s "
                            "WHERE definition = %s AND key = %s AND version = %s",
                            j="journeys",
                        ),
                        (*values, row.definition, row.key, expected),
                    )
                    if cur.rowcount != 1:
                        raise _conflict(row.key, expected)
                ex(
                    self._q(
                        "INSERT INTO {h} (definition, key, seq, trigger, source, dest, at, "
                        "event_id, meta) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
                        h="history",
                    ),
                    (
                        row.definition,
                        row.key,
                        entry.seq,
                        entry.trigger,
                        entry.source,
                        entry.dest,
                        entry.at,
                        entry.event_id,
                        None if entry.meta is None else Jsonb(dict(entry.meta)),
                    ),
                )
                ids = decision.event_id
                if ids is not None:
                    ex(
                        self._q(
                            "INSERT INTO {e} (definition, key, event_id, seq, committed_at) "
                            "VALUES (%s, %s, %s, %s, %s)",
                            e="event_ids",
                        ),
                        (ids.definition, ids.key, ids.event_id, ids.seq, ids.committed_at),
                    )
                for out in decision.outbox:
                    ex(
                        self._q(
                            "INSERT INTO {o} (definition, key, seq, effect, idempotency_key, "
                            "call, status, attempts, available_at, created_at) "
                            "VALUES (%s, %s, %s, %s, %s, %s, 'pending', 0, %s, %s)",
                            o="outbox",
                        ),
                        (
                            out.definition,
                            out.key,
                            out.seq,
                            out.effect,
                            out.idempotency_key,
                            Jsonb(out.call),
                            decision.now,
                            decision.now,
                        ),
                    )
        except psycopg.errors.UniqueViolation as err:
            raise _conflict(row.key, expected, str(err).splitlines()[0]) from err
        except psycopg.DataError as err:
            # e.g. a NUL character in a string of the data or payload: jsonb refuses it
            raise StoreError(
                f"PostgreSQL refused the move of journey {row.key!r} ({row.stage!r}): "
                f"{str(err).splitlines()[0]}; nothing was written: change the value",
                table="journeys",
                key=row.key,
            ) from err

    def history(
        self, definition: str, key: str, *, after: int = 0, limit: int = 100
    ) -> list[HistoryEntry]:
        rows = self.conn.execute(
            self._q(
                "SELECT seq, trigger, source, dest, at, event_id, meta FROM {h} "
                "WHERE definition = %s AND key = %s AND seq > %s ORDER BY seq LIMIT %s",
                h="history",
            ),
            (definition, key, after, limit),
        ).fetchall()
        out = []
        for seq, trigger, source, dest, at, event_id, meta in rows:
            if meta is not None and not isinstance(meta, dict):
                raise StoreError(
                    f"history.meta of journey {key!r} (seq {seq}) is corrupted: not a JSON "
                    "object; repair the row",
                    table="history",
                    key=key,
                )
            out.append(HistoryEntry(seq, trigger, source, dest, _utc(at), event_id, meta))
        return out

    def purge_event_ids(self, older_than: datetime) -> int:
        cur = self.conn.execute(
            self._q("DELETE FROM {e} WHERE committed_at < %s", e="event_ids"), (older_than,)
        )
        return int(cur.rowcount)

    # -- outbox --------------------------------------------------------------------
    _COLS = (
        "id, definition, key, seq, effect, idempotency_key, call, status, attempts, "
        "available_at, lease_owner, lease_until, last_error"
    )

    @staticmethod
    def _item(r: Sequence[Any]) -> OutboxItem:
        return OutboxItem(
            r[0],
            r[1],
            r[2],
            r[3],
            r[4],
            r[5],
            r[6],
            r[7],
            r[8],
            _utc(r[9]),
            r[10],
            None if r[11] is None else _utc(r[11]),
            r[12],
        )

    def claim(
        self, definition: str, *, worker: str, now: datetime, lease: timedelta, limit: int
    ) -> list[OutboxItem]:
        rows = self.conn.execute(
            self._q(
                "UPDATE {o} SET attempts = attempts + 1, lease_owner = %s, lease_until = %s "
                "WHERE id IN (SELECT id FROM {o} WHERE definition = %s AND status = 'pending' "
                "AND available_at <= %s AND (lease_until IS NULL OR lease_until <= %s) "
                "ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED) RETURNING " + self._COLS,
                o="outbox",
            ),
            (worker, now + lease, definition, now, now, limit),
        ).fetchall()
        return sorted((self._item(r) for r in rows), key=lambda item: item.id)

    def mark_done(self, item_id: int, *, now: datetime) -> None:
        self.conn.execute(
            self._q(
                "UPDATE {o} SET status = 'done', lease_owner = NULL, lease_until = NULL "
                "WHERE id = %s AND status = 'pending'",
                o="outbox",
            ),
            (item_id,),
        )

    def mark_failed(
        self, item_id: int, *, error: str, retry_at: datetime | None, now: datetime
    ) -> None:
        params: list[Any]
        if retry_at is None:
            change, params = "status = 'dead', last_error = %s", [error]
        else:
            change, params = "available_at = %s, last_error = %s", [retry_at, error]
        self.conn.execute(
            self._q(
                "UPDATE {o} SET " + change + ", lease_owner = NULL, lease_until = NULL "
                "WHERE id = %s AND status = 'pending'",
                o="outbox",
            ),
            (*params, item_id),
        )

    def requeue_dead(
        self, definition: str, *, now: datetime, ids: Sequence[int] | None = None
    ) -> int:
        text = (
            "UPDATE {o} SET status = 'pending', attempts = 0, available_at = %s "
            "WHERE definition = %s AND status = 'dead'"
        )
        params: list[Any] = [now, definition]
        if ids is not None:
            text += " AND id = ANY(%s)"
            params.append(list(ids))
        return int(self.conn.execute(self._q(text, o="outbox"), params).rowcount)

    def outbox(
        self, definition: str, *, key: str | None = None, status: OutboxStatus | None = None
    ) -> list[OutboxItem]:
        text = "SELECT " + self._COLS + " FROM {o} WHERE definition = %s"
        params: list[Any] = [definition]
        if key is not None:
            text += " AND key = %s"
            params.append(key)
        if status is not None:
            text += " AND status = %s"
            params.append(status)
        rows = self.conn.execute(self._q(text + " ORDER BY id", o="outbox"), params)
        return [self._item(r) for r in rows.fetchall()]

    def outbox_counts(self, definition: str) -> dict[str, int]:
        counts = {"pending": 0, "dead": 0, "done": 0}
        rows = self.conn.execute(
            self._q(
                "SELECT status, COUNT(*) FROM {o} WHERE definition = %s GROUP BY status",
                o="outbox",
            ),
            (definition,),
        ).fetchall()
        for status, n in rows:
            counts[status] = int(n)
        return counts


def _conflict(key: str, expected: int | None, detail: str | None = None) -> ConcurrencyConflict:
    why = f" ({detail})" if detail else ""
    return ConcurrencyConflict(
        f"journey {key!r} was moved by another worker first (expected version {expected}){why}; "
        "reload it and decide again",
        key=key,
    )
