"""Stores on the host's own connection: the transaction rule (who commits), deferred
SQLite transactions, the statements one event costs, connections of the wrong kind, and
``peek`` (issue 18)."""

from __future__ import annotations

import asyncio
import sqlite3
import sys
import tempfile
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest
from conftest import START
from psycopg import pq
from service_support import pg_dsn, shop_machine

from journeyfsm import AsyncJourneyService, JourneyService, ManualClock, StoreError
from journeyfsm.stores import AsyncPostgresStore, PostgresStore, SQLiteStore


def _fresh_db(tmp_path: Path) -> Path:
    path = tmp_path / "app.db"
    SQLiteStore(path, create_schema=True).close()
    return path


def _stored(path: Path, key: str) -> str | None:
    store = SQLiteStore(path)  # another connection
    try:
        journey = JourneyService(shop_machine(), store).get(key)
        return None if journey is None else journey.stage
    finally:
        store.close()


# -- SQLite: who commits ----------------------------------------------------------------
def test_sqlite_autocommit_connection_without_a_transaction_commits_each_event(
    tmp_path: Path,
) -> None:
    path = _fresh_db(tmp_path)
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        service = JourneyService(shop_machine(), SQLiteStore(connection=conn, create_schema=True))
        assert service.handle("c-1", "add_to_cart", event_id="e-1").moved
        assert not conn.in_transaction  # no write lock held
        assert _stored(path, "c-1") == "cart"  # committed: another connection sees it
    finally:
        conn.close()


def test_sqlite_joins_the_hosts_open_transaction_and_the_host_commits(tmp_path: Path) -> None:
    path = _fresh_db(tmp_path)
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        service = JourneyService(shop_machine(), SQLiteStore(connection=conn))
        conn.execute("BEGIN")  # deferred, as Django's atomic() begins
        assert service.handle("c-1", "add_to_cart", event_id="e-1").moved
        assert conn.in_transaction and _stored(path, "c-1") is None
        conn.execute("ROLLBACK")
        assert _stored(path, "c-1") is None
        conn.execute("BEGIN")
        service.handle("c-1", "add_to_cart", event_id="e-1")
        conn.execute("COMMIT")
        assert _stored(path, "c-1") == "cart"
    finally:
        conn.close()


def test_sqlite_legacy_implicit_transactions_leave_the_commit_to_the_host(
    tmp_path: Path,
) -> None:
    path = _fresh_db(tmp_path)
    conn = sqlite3.connect(path)  # isolation_level "": sqlite3 opens transactions itself
    try:
        service = JourneyService(shop_machine(), SQLiteStore(connection=conn))
        assert service.get("c-1") is None and not conn.in_transaction
        service.handle("c-1", "add_to_cart", event_id="e-1")
        assert conn.in_transaction and _stored(path, "c-1") is None
        conn.commit()
        assert _stored(path, "c-1") == "cart"
    finally:
        conn.close()


@pytest.mark.skipif(sys.version_info < (3, 12), reason="sqlite3's autocommit attribute is 3.12+")
def test_sqlite_python_312_autocommit_attribute_follows_the_same_rule(tmp_path: Path) -> None:
    path = _fresh_db(tmp_path)
    own = sqlite3.connect(path, autocommit=True)  # type: ignore[call-arg, unused-ignore]
    try:
        service = JourneyService(shop_machine(), SQLiteStore(connection=own))
        assert service.handle("c-1", "add_to_cart", event_id="e-1").moved
        assert not own.in_transaction and _stored(path, "c-1") == "cart"  # the store committed
    finally:
        own.close()
    host = sqlite3.connect(path, autocommit=False)  # type: ignore[call-arg, unused-ignore]
    try:
        service = JourneyService(shop_machine(), SQLiteStore(connection=host))
        assert service.handle("c-2", "add_to_cart", event_id="e-2").moved
        assert _stored(path, "c-2") is None  # a transaction is always open: the host commits
        host.commit()
        assert _stored(path, "c-2") == "cart"
    finally:
        host.close()


def test_sqlite_a_deferred_host_transaction_that_read_first_gets_a_store_error_with_the_fix(
    tmp_path: Path,
) -> None:
    path = _fresh_db(tmp_path)
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        service = JourneyService(shop_machine(), SQLiteStore(connection=conn))
        conn.execute("BEGIN")
        conn.execute("SELECT COUNT(*) FROM journeyfsm_journeys").fetchall()  # a snapshot
        other = JourneyService(shop_machine(), SQLiteStore(path))
        other.handle("c-2", "add_to_cart")  # written after the host's snapshot
        with pytest.raises(StoreError) as caught:
            service.handle("c-1", "add_to_cart", event_id="e-1")
        message = str(caught.value)
        assert "BEGIN IMMEDIATE" in message and "transaction_mode" in message
        assert "retry the whole transaction" in message
        assert isinstance(caught.value.__cause__, sqlite3.OperationalError)
        conn.execute("ROLLBACK")
        assert service.handle("c-1", "add_to_cart", event_id="e-1").moved  # autocommit again
    finally:
        conn.close()


def test_sqlite_deferred_host_transactions_under_concurrency_never_fail(tmp_path: Path) -> None:
    """Threads, each with its own autocommit connection, each request a deferred BEGIN,
    handle, COMMIT (Django's default): the store takes the write lock before it reads,
    so no request ends in "database is locked"."""
    path = _fresh_db(tmp_path)
    errors: list[BaseException] = []
    per_thread, threads = 25, 6

    def client(n: int) -> None:
        conn = sqlite3.connect(path, isolation_level=None, timeout=30, check_same_thread=False)
        try:
            for i in range(per_thread):
                conn.execute("BEGIN")
                try:
                    service = JourneyService(shop_machine(), SQLiteStore(connection=conn))
                    service.handle(f"c-{i % 5}", "note", event_id=f"t{n}-{i}")
                    conn.execute("COMMIT")
                except BaseException as err:
                    conn.execute("ROLLBACK")
                    errors.append(err)
        finally:
            conn.close()

    workers = [threading.Thread(target=client, args=(n,)) for n in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert errors == []
    reader = SQLiteStore(path)
    with reader.transaction(write=False) as tx:
        moves = tx.conn.execute("SELECT COUNT(*) FROM journeyfsm_history").fetchone()[0]
    reader.close()
    assert moves == per_thread * threads


# -- SQLite: statements per event --------------------------------------------------------
@contextmanager
def _sqlite_statements(conn: sqlite3.Connection) -> Iterator[list[str]]:
    seen: list[str] = []
    conn.set_trace_callback(seen.append)
    try:
        yield seen
    finally:
        conn.set_trace_callback(None)


def test_sqlite_one_event_in_the_hosts_transaction_is_one_savepoint_and_one_read(
    tmp_path: Path,
) -> None:
    path = _fresh_db(tmp_path)
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        SQLiteStore(connection=conn)  # the database's schema is checked once ...
        conn.execute("BEGIN")
        with _sqlite_statements(conn) as seen:
            store = SQLiteStore(connection=conn)  # ... so a store per request reads none
            JourneyService(shop_machine(), store).handle("c-1", "add_to_cart", event_id="e-1")
        conn.execute("COMMIT")
        kinds = [s.split()[0] for s in seen]
        assert kinds[0] == "PRAGMA"  # which database: no schema_version read
        assert not any("schema_version" in s and s.startswith("SELECT") for s in seen)
        assert kinds.count("SAVEPOINT") == 1 and kinds.count("RELEASE") == 1
        assert kinds.count("SELECT") == 1  # the row and the event id together
        assert kinds[1:4] == ["SAVEPOINT", "UPDATE", "SELECT"]  # the write lock first
        # the journey, history, event id, the track effect's outbox row
        assert kinds.count("INSERT") == 4 and len(seen) == 9
    finally:
        conn.close()


def test_sqlite_a_schema_dropped_underneath_is_a_store_error_and_checked_again(
    tmp_path: Path,
) -> None:
    path = _fresh_db(tmp_path)
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        service = JourneyService(shop_machine(), SQLiteStore(connection=conn))
        for table in ("journeys", "history", "event_ids", "outbox", "deliveries", "schema_version"):
            conn.execute(f"DROP TABLE journeyfsm_{table}")
        with pytest.raises(StoreError, match="no such table"):
            service.handle("c-1", "add_to_cart")
        with pytest.raises(StoreError, match="no journeyfsm schema"):
            SQLiteStore(connection=conn)  # the cache forgot it: checked again
        SQLiteStore(connection=conn, create_schema=True)
        assert (
            JourneyService(shop_machine(), SQLiteStore(connection=conn))
            .handle("c-1", "add_to_cart")
            .moved
        )
    finally:
        conn.close()


# -- connections of the wrong kind -------------------------------------------------------
def test_each_store_names_the_store_a_wrong_connection_goes_to(tmp_path: Path) -> None:
    with (
        psycopg.connect(pg_dsn()) as pg,
        pytest.raises(TypeError, match=r"PostgresStore\(connection=\.\.\.\)"),
    ):
        SQLiteStore(connection=pg)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"sqlite3\.connect"):
        SQLiteStore(connection=object())  # type: ignore[arg-type]
    lite = sqlite3.connect(tmp_path / "x.db")
    with pytest.raises(TypeError, match=r"SQLiteStore\(connection=\.\.\.\)"):
        PostgresStore(connection=lite)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"SQLiteStore\(connection=\.\.\.\)"):
        AsyncPostgresStore(connection=lite)  # type: ignore[arg-type]
    lite.close()
    with pytest.raises(StoreError, match="closed"):
        SQLiteStore(connection=lite)
    closed = psycopg.connect(pg_dsn())
    closed.close()
    with pytest.raises(StoreError, match="closed"):
        PostgresStore(connection=closed)

    async def async_to_sync() -> None:
        async with await psycopg.AsyncConnection.connect(pg_dsn()) as conn:
            with pytest.raises(TypeError, match=r"AsyncPostgresStore"):
                PostgresStore(connection=conn)  # type: ignore[arg-type]
            with pytest.raises(TypeError, match=r"AsyncPostgresStore\(connection=\.\.\.\)"):
                SQLiteStore(connection=conn)  # type: ignore[arg-type]

    asyncio.run(async_to_sync())


# -- PostgreSQL --------------------------------------------------------------------------
@pytest.fixture
def prefix() -> Iterator[str]:
    name = f"h{uuid.uuid4().hex[:8]}_"
    PostgresStore(pg_dsn(), prefix=name, create_schema=True).close()
    yield name
    with psycopg.connect(pg_dsn(), autocommit=True) as conn:
        for table in ("journeys", "history", "event_ids", "outbox", "schema_version", "orders"):
            conn.execute(f'DROP TABLE IF EXISTS "{name}{table}"')


def _pg_stored(prefix: str, key: str) -> str | None:
    store = PostgresStore(pg_dsn(), prefix=prefix)
    try:
        journey = JourneyService(shop_machine(), store).get(key)
        return None if journey is None else journey.stage
    finally:
        store.close()


@contextmanager
def _pg_statements(conn: Any) -> Iterator[list[str]]:
    """Every statement sent on ``conn`` in the block (libpq's trace): its first word."""
    seen: list[str] = []
    with tempfile.TemporaryFile() as trace:
        conn.pgconn.trace(trace.fileno())
        conn.pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS | pq.Trace.REGRESS_MODE)
        try:
            yield seen
        finally:
            conn.pgconn.untrace()
            trace.seek(0)
            text = trace.read().decode(errors="replace")
    parsed = ""
    for line in text.splitlines():
        field = line.split("\t")
        if line.startswith("F\t") and field[2] == "Query":
            seen.append(field[3].strip(' "').split()[0].upper())
        elif line.startswith("F\t") and field[2] == "Parse":
            parsed = field[3].split('"')[3].split()[0].upper()
        elif line.startswith("F\t") and field[2] == "Execute":
            seen.append(parsed)


def test_postgres_autocommit_connection_without_a_transaction_commits_each_event(
    prefix: str,
) -> None:
    with psycopg.connect(pg_dsn(), autocommit=True) as conn:
        service = JourneyService(shop_machine(), PostgresStore(connection=conn, prefix=prefix))
        assert service.handle("c-1", "add_to_cart", event_id="e-1").moved
        assert conn.info.transaction_status == pq.TransactionStatus.IDLE
        assert _pg_stored(prefix, "c-1") == "cart"
        with conn.transaction():  # inside the host's transaction: it commits
            service.handle("c-2", "add_to_cart", event_id="e-2")
            assert _pg_stored(prefix, "c-2") is None
        assert _pg_stored(prefix, "c-2") == "cart"


def test_postgres_a_fresh_host_transaction_costs_no_savepoint_and_one_read(
    prefix: str,
) -> None:
    with psycopg.connect(pg_dsn()) as conn:  # not autocommit: the host commits
        PostgresStore(connection=conn, prefix=prefix)  # checks the schema, once
        with _pg_statements(conn) as seen:
            service = JourneyService(
                shop_machine(), PostgresStore(connection=conn, prefix=prefix)
            )  # a store per request: no statement
            service.handle("c-1", "add_to_cart", event_id="e-1")
        # the host's BEGIN (psycopg's), one read, and ONE statement writing the journey,
        # its history entry, event id and outbox row (a data-modifying CTE)
        assert seen == ["BEGIN", "SELECT", "WITH"]
        assert _pg_stored(prefix, "c-1") is None
        conn.commit()
        assert _pg_stored(prefix, "c-1") == "cart"
        # a second event in the same transaction: the first one's work is there to keep
        with _pg_statements(conn) as seen:
            service.handle("c-2", "add_to_cart", event_id="e-2")
            service.handle("c-2", "note", event_id="e-3")
        assert seen.count("SAVEPOINT") == 1 and seen.count("RELEASE") == 1
        conn.rollback()
        assert _pg_stored(prefix, "c-2") is None


def test_postgres_open_host_transaction_one_savepoint_and_a_failure_keeps_the_hosts_work(
    prefix: str,
) -> None:
    with psycopg.connect(pg_dsn()) as conn:
        conn.execute(f'CREATE TABLE "{prefix}orders" (id text PRIMARY KEY)')
        service = JourneyService(shop_machine(), PostgresStore(connection=conn, prefix=prefix))
        # a write the database refuses (a NUL, which used to be refused by jsonb, is now
        # refused by the service before any store sees it)
        conn.execute(
            f'ALTER TABLE "{prefix}journeys" ADD CONSTRAINT "{prefix}no_c2" CHECK (key <> \'c-2\')'
        )
        conn.commit()
        conn.execute(f"INSERT INTO \"{prefix}orders\" VALUES ('o-1')")
        with _pg_statements(conn) as seen:
            service.handle("c-1", "add_to_cart", event_id="e-1")
        assert seen == ["SAVEPOINT", "SELECT", "WITH", "RELEASE"]
        with pytest.raises(StoreError, match="no_c2"):
            service.handle("c-2", "add_to_cart", {"sku": "mug"}, event_id="e-2")
        conn.commit()  # the host's order and c-1's move; nothing of c-2
        assert _pg_stored(prefix, "c-1") == "cart" and _pg_stored(prefix, "c-2") is None
        # a failure in a fresh transaction rolls back only the store's own work
        with pytest.raises(StoreError, match="no_c2"):
            service.handle("c-2", "add_to_cart", {"sku": "mug"}, event_id="e-2")
        assert conn.info.transaction_status == pq.TransactionStatus.IDLE
        conn.execute(f"INSERT INTO \"{prefix}orders\" VALUES ('o-2')")
        conn.commit()
        assert conn.execute(f'SELECT count(*) FROM "{prefix}orders"').fetchone() == (2,)


def test_postgres_aborted_or_stale_host_transactions_are_store_errors(prefix: str) -> None:
    with psycopg.connect(pg_dsn()) as conn:
        service = JourneyService(shop_machine(), PostgresStore(connection=conn, prefix=prefix))
        with pytest.raises(psycopg.errors.DivisionByZero):
            conn.execute("SELECT 1 / 0")
        with pytest.raises(StoreError, match=r"aborted.*roll it back"):
            service.handle("c-1", "add_to_cart")
        conn.rollback()
        service.handle("c-1", "add_to_cart", event_id="e-1")
        conn.commit()
        # REPEATABLE READ: a snapshot older than another worker's move cannot write it
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        assert service.get("c-1") is not None  # the snapshot is taken
        JourneyService(shop_machine(), PostgresStore(pg_dsn(), prefix=prefix)).handle(
            "c-1", "note", event_id="other"
        )
        with pytest.raises(StoreError, match="retry the whole transaction"):
            service.handle("c-1", "note", event_id="e-2")
        conn.rollback()


def test_async_postgres_follows_the_same_rule(prefix: str) -> None:
    async def main() -> list[str]:
        async with await psycopg.AsyncConnection.connect(pg_dsn(), autocommit=True) as conn:
            store = await AsyncPostgresStore(connection=conn, prefix=prefix).open()
            service = AsyncJourneyService(shop_machine(), store)
            assert (await service.handle("c-1", "add_to_cart", event_id="e-1")).moved
            assert conn.info.transaction_status == pq.TransactionStatus.IDLE  # committed
            async with conn.transaction():
                await service.handle("c-2", "add_to_cart", event_id="e-2")
                assert _pg_stored(prefix, "c-2") is None
            await conn.set_autocommit(False)
            with _pg_statements(conn) as seen:  # fresh: no savepoint
                await service.handle("c-3", "add_to_cart", event_id="e-3")
            await conn.commit()
            peeked = await service.peek("c-4")
            assert conn.info.transaction_status != pq.TransactionStatus.INERROR
            assert peeked.version == 0 and await service.get("c-4") is None
            return seen

    seen = asyncio.run(main())
    assert seen == ["BEGIN", "SELECT", "WITH"]  # one read, one write (a CTE)
    assert [_pg_stored(prefix, k) for k in ("c-1", "c-2", "c-3")] == ["cart"] * 3


# -- peek ----------------------------------------------------------------------------------
def test_peek_is_the_journey_as_it_would_start_and_writes_nothing(tmp_path: Path) -> None:
    path = _fresh_db(tmp_path)
    machine = shop_machine(ManualClock(START))
    service = JourneyService(
        machine, SQLiteStore(path), initial_data=lambda key: {"cart": [], "who": key}
    )
    journey = service.peek("c-1")
    assert (journey.stage, journey.version, journey.data) == (
        "browsing",
        0,
        {"cart": [], "who": "c-1"},
    )
    assert journey.started_at == START and "add_to_cart" in machine.allowed_triggers(journey)
    assert service.get("c-1") is None and _stored(path, "c-1") is None
    service.handle("c-1", "add_to_cart")
    assert service.peek("c-1").stage == "cart" == service.get("c-1").stage  # type: ignore[union-attr]
    with pytest.raises(ValueError, match="non-empty str"):
        service.peek("")

    async def on_async() -> None:
        from journeyfsm.stores import AsyncSQLiteStore

        store = AsyncSQLiteStore(path)
        a = AsyncJourneyService(machine, store)
        assert (await a.peek("c-9")).stage == "browsing" and await a.get("c-9") is None
        assert (await a.peek("c-1")).stage == "cart"
        await store.close()

    asyncio.run(on_async())
