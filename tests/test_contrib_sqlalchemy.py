"""journeyfsm.contrib.sqlalchemy: the tables on a MetaData are the stores' schema, and the
stores bound to a Session / AsyncSession commit and roll back with it, on SQLite and
PostgreSQL, sync and async."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from service_support import pg_dsn, shop_machine
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session

from journeyfsm import AsyncJourneyService, JourneyService, StoreError
from journeyfsm.contrib.sqlalchemy import (
    AsyncSessionStore,
    SessionStore,
    create_schema,
    sqlite_begin_immediate,
    tables,
    write_schema_version,
)
from journeyfsm.stores import SCHEMA_VERSION, PostgresStore, SQLiteStore

DIALECTS = ["sqlite", "postgres"]


def pg_url(driver: str = "psycopg") -> str:
    return f"postgresql+{driver}://" + pg_dsn().split("://", 1)[1]


class Database:
    """One throw-away database of a dialect: a file for SQLite, a prefix (and the orders
    table) for PostgreSQL; ``url`` (sync) and ``async_url``."""

    def __init__(self, kind: str, tmp_path: Path) -> None:
        self.kind = kind
        if kind == "sqlite":
            self.path = tmp_path / "shop.db"
            self.url = f"sqlite:///{self.path}"
            self.async_url = f"sqlite+aiosqlite:///{self.path}"
            self.prefix = "journeyfsm_"
        else:
            self.url = self.async_url = pg_url()
            self.prefix = f"t{uuid.uuid4().hex[:10]}_"
        self.metadata = sa.MetaData()
        self.tables = tables(self.metadata, prefix=self.prefix)
        self.orders = sa.Table(
            f"{self.prefix}orders",
            self.metadata,
            sa.Column("id", sa.Integer, primary_key=True),
            sa.Column("customer", sa.Text, nullable=False),
        )

    def store(self) -> Any:
        if self.kind == "sqlite":
            return SQLiteStore(self.path, prefix=self.prefix)
        return PostgresStore(pg_dsn(), prefix=self.prefix, max_size=2)

    def drop(self) -> None:
        if self.kind == "postgres":
            engine = sa.create_engine(self.url)
            self.metadata.drop_all(engine)
            engine.dispose()


@pytest.fixture(params=DIALECTS)
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    database = Database(request.param, tmp_path)
    yield database
    database.drop()


@pytest.fixture
def engine(db: Database) -> Iterator[sa.Engine]:
    engine = sa.create_engine(db.url)
    db.metadata.create_all(engine)
    yield engine
    engine.dispose()


def count(engine: sa.Engine, table: sa.Table) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


# --- the tables ------------------------------------------------------------------------


def test_create_all_makes_a_database_the_store_accepts_and_uses(db: Database) -> None:
    engine = sa.create_engine(db.url)
    db.metadata.create_all(engine)
    with engine.connect() as conn:
        versions = conn.execute(sa.select(db.tables.schema_version.c.version)).all()
    assert versions == [(SCHEMA_VERSION,)]
    store = db.store()
    try:
        service = JourneyService(shop_machine(), store)
        assert service.handle("c-1", "add_to_cart", {"sku": "a"}, event_id="e-1").status == "moved"
        assert service.handle("c-1", "add_to_cart", event_id="e-1").status == "duplicate"
        assert [e.dest for e in service.history("c-1")] == ["cart"]
    finally:
        store.close()
    assert count(engine, db.tables.history) == 1
    # and create_all again, or create_schema, changes nothing
    db.metadata.create_all(engine)
    create_schema(engine, prefix=db.prefix)
    assert count(engine, db.tables.schema_version) == 1
    engine.dispose()


def test_tables_made_without_create_all_need_the_version_row(db: Database) -> None:
    engine = sa.create_engine(db.url)
    with engine.begin() as conn:
        for table in db.tables.all():
            conn.execute(sa.schema.CreateTable(table))  # as op.create_table does: no event
    with pytest.raises(StoreError, match="schema version None"):
        db.store()
    with engine.begin() as conn:
        write_schema_version(conn, prefix=db.prefix)
        write_schema_version(conn, prefix=db.prefix)  # idempotent
    db.store().close()
    assert count(engine, db.tables.schema_version) == 1
    engine.dispose()


def test_a_missing_schema_names_the_sqlalchemy_ways_to_create_it(db: Database) -> None:
    engine = sa.create_engine(db.url)  # no create_all: the tables are missing
    fixes = r"create_schema\(engine\).*metadata\.create_all\(engine\).*Alembic"
    with Session(engine) as session, pytest.raises(StoreError, match=fixes) as caught:
        JourneyService(shop_machine(), SessionStore(session, prefix=db.prefix)).get("c-1")
    assert "no journeyfsm schema" in str(caught.value)
    assert f"prefix={db.prefix!r}" in str(caught.value)

    async def main() -> None:
        aengine = create_async_engine(db.async_url)
        try:
            async with AsyncSession(aengine) as session:
                store = AsyncSessionStore(session, prefix=db.prefix)
                with pytest.raises(StoreError, match=fixes):
                    await AsyncJourneyService(shop_machine(), store).get("c-1")
        finally:
            await aengine.dispose()

    asyncio.run(main())
    engine.dispose()


def _differences(engine: sa.Engine, metadata: sa.MetaData, prefix: str) -> list[Any]:
    def ours(name: str | None, type_: str, parent: Any) -> bool:
        return type_ != "table" or bool(name and name.startswith(prefix))

    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"include_name": ours, "compare_type": True}
        )
        return list(compare_metadata(context, metadata))


def test_alembic_finds_nothing_to_change_in_a_database_a_store_created(db: Database) -> None:
    if db.kind == "sqlite":
        SQLiteStore(db.path, prefix=db.prefix, create_schema=True).close()
    else:
        PostgresStore(pg_dsn(), prefix=db.prefix, create_schema=True, max_size=1).close()
    metadata = sa.MetaData()
    tables(metadata, prefix=db.prefix)
    engine = sa.create_engine(db.url)
    try:
        assert _differences(engine, metadata, db.prefix) == []
        # the comparison does look: a table missing from the database is found
        sa.Table(f"{db.prefix}extra", metadata, sa.Column("id", sa.Integer, primary_key=True))
        assert [d[0] for d in _differences(engine, metadata, db.prefix)] == ["add_table"]
    finally:
        engine.dispose()


def test_the_tables_refuse_bad_arguments() -> None:
    with pytest.raises(TypeError, match="MetaData"):
        tables("metadata")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="table prefix"):
        tables(sa.MetaData(), prefix="bad prefix;")
    with pytest.raises(TypeError, match="run_sync"):
        create_schema("sqlite://")  # type: ignore[arg-type]


# --- SessionStore ----------------------------------------------------------------------


def test_session_store_commits_the_move_with_the_orm_writes(
    db: Database, engine: sa.Engine
) -> None:
    with Session(engine) as session:
        service = JourneyService(shop_machine(), SessionStore(session, prefix=db.prefix))
        session.execute(db.orders.insert().values(customer="c-1"))
        assert service.handle("c-1", "add_to_cart", event_id="e-1").status == "moved"
        # nothing is committed yet: another connection sees neither
        assert count(engine, db.tables.journeys) == 0
        assert count(engine, db.orders) == 0
        session.commit()
    assert count(engine, db.tables.journeys) == 1
    assert count(engine, db.orders) == 1


def test_session_rollback_undoes_the_move_and_the_orm_writes(
    db: Database, engine: sa.Engine
) -> None:
    with Session(engine) as session:
        service = JourneyService(shop_machine(), SessionStore(session, prefix=db.prefix))
        session.execute(db.orders.insert().values(customer="c-1"))
        assert service.handle("c-1", "add_to_cart", event_id="e-1").status == "moved"
        assert service.get("c-1") is not None  # seen inside the session's transaction
        session.rollback()
        assert service.get("c-1") is None
        # the event id went with the rollback: the redelivery moves
        assert service.handle("c-1", "add_to_cart", event_id="e-1").status == "moved"
        session.commit()
    assert count(engine, db.tables.journeys) == 1
    assert count(engine, db.orders) == 0


def test_the_session_is_flushed_before_the_journey_work(db: Database, engine: sa.Engine) -> None:
    orders = db.orders.name

    class Base(DeclarativeBase):
        pass

    class Order(Base):
        __table__ = db.orders
        id: Mapped[int]
        customer: Mapped[str]

    with Session(engine) as session:
        store = SessionStore(session, prefix=db.prefix)
        session.add(Order(customer="c-1"))
        JourneyService(shop_machine(), store).handle("c-1", "add_to_cart")
        # exec_driver_sql does not autoflush: the order is there because the store
        # flushed the session before its own statements
        conn = session.connection()
        assert conn.exec_driver_sql(f'SELECT count(*) FROM "{orders}"').scalar() == 1
        session.commit()
    assert count(engine, db.orders) == 1


def test_session_store_on_a_connection(db: Database, engine: sa.Engine) -> None:
    with engine.connect() as conn:
        service = JourneyService(shop_machine(), SessionStore(conn, prefix=db.prefix))
        assert service.handle("c-1", "add_to_cart").status == "moved"
        conn.rollback()
        assert service.handle("c-2", "add_to_cart").status == "moved"
        conn.commit()
    with engine.connect() as conn:
        keys = conn.execute(sa.select(db.tables.journeys.c.key)).scalars().all()
    assert keys == ["c-2"]


def test_the_bound_store_is_made_once_per_pooled_connection(
    db: Database, engine: sa.Engine
) -> None:
    stores = set()
    for _ in range(3):
        with Session(engine) as session:
            store = SessionStore(session, prefix=db.prefix)
            JourneyService(shop_machine(), store).handle("c-1", "add_to_cart")
            stores.add(id(store._store()))
            session.commit()
    assert len(stores) == 1


def test_sqlite_sessions_in_threads_never_see_database_is_locked(tmp_path: Path) -> None:
    db = Database("sqlite", tmp_path)
    engine = sa.create_engine(db.url, connect_args={"timeout": 30})
    db.metadata.create_all(engine)
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA journal_mode=WAL")
    machine = shop_machine()
    errors: list[BaseException] = []

    def client(n: int) -> None:
        try:
            for i in range(15):
                with Session(engine) as session:
                    # a read before the journey's (the host's own, deferred)
                    session.execute(sa.select(db.orders.c.id)).all()
                    service = JourneyService(machine, SessionStore(session))
                    service.handle(f"c-{i % 3}", "add_to_cart", event_id=f"e-{n}-{i}")
                    session.execute(db.orders.insert().values(customer=f"c-{i % 3}"))
                    session.commit()
        except BaseException as err:  # pragma: no cover - reported below
            errors.append(err)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == []
    assert count(engine, db.tables.history) == 60
    assert count(engine, db.orders) == 60
    engine.dispose()


def test_sqlite_begin_immediate_makes_every_transaction_immediate(tmp_path: Path) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'a.db'}")
    sqlite_begin_immediate(engine)
    create_schema(engine)
    other = sqlite3.connect(tmp_path / "a.db", timeout=0)
    with Session(engine) as session:
        session.execute(sa.text("SELECT 1"))
        raw = session.connection().connection.dbapi_connection
        assert raw is not None and raw.in_transaction
        # the write lock is held from the start: another writer cannot begin
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            other.execute("BEGIN IMMEDIATE")
        JourneyService(shop_machine(), SessionStore(session)).handle("c-1", "add_to_cart")
        session.commit()
    other.close()
    with pytest.raises(TypeError, match="SQLite engines"):
        sqlite_begin_immediate(sa.create_engine("postgresql+psycopg://u@h/db"))
    engine.dispose()


def test_unsupported_binds_are_refused_naming_what_is_supported() -> None:
    pg8000 = sa.create_engine("postgresql+pg8000://u@h/db", module=sqlite3)
    with pytest.raises(TypeError, match=r"sqlite:// or postgresql\+psycopg://.*pg8000"):
        SessionStore(Session(pg8000))
    with pytest.raises(TypeError, match=r"got mysql\+pymysql"):
        SessionStore(Session(sa.create_engine("mysql+pymysql://u@h/db", module=sqlite3)))
    with pytest.raises(TypeError, match=r"Session or sqlalchemy\.Connection"):
        SessionStore(sa.create_engine("sqlite://"))  # type: ignore[arg-type]
    async_engine = create_async_engine("sqlite+aiosqlite://")
    with pytest.raises(TypeError, match="use AsyncSessionStore"):
        SessionStore(AsyncSession(async_engine))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="use SessionStore"):
        AsyncSessionStore(Session(sa.create_engine("sqlite://")))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"sqlite\+aiosqlite:// or postgresql\+psycopg://"):
        AsyncSessionStore(
            AsyncSession(create_async_engine("postgresql+asyncpg://u@h/db", module=sqlite3))
        )
    with pytest.raises(ValueError, match="table prefix"):
        SessionStore(Session(sa.create_engine("sqlite://")), prefix="no spaces")
    asyncio.run(async_engine.dispose())


# --- AsyncSessionStore -----------------------------------------------------------------


async def _async_count(engine: AsyncEngine, table: sa.Table) -> int:
    async with engine.connect() as conn:
        found = await conn.execute(sa.select(sa.func.count()).select_from(table))
        return int(found.scalar_one())


def test_async_session_store_commits_and_rolls_back_with_the_session(db: Database) -> None:
    async def main() -> None:
        engine = create_async_engine(db.async_url)
        async with engine.begin() as conn:
            await conn.run_sync(db.metadata.create_all)
        machine = shop_machine()
        async with AsyncSession(engine) as session:
            service = AsyncJourneyService(machine, AsyncSessionStore(session, prefix=db.prefix))
            await session.execute(db.orders.insert().values(customer="c-1"))
            assert (await service.handle("c-1", "add_to_cart", event_id="e-1")).status == "moved"
            assert (await service.get("c-1")) is not None
            assert await _async_count(engine, db.tables.journeys) == 0
            await session.rollback()
            assert (await service.get("c-1")) is None
            await session.execute(db.orders.insert().values(customer="c-2"))
            assert (await service.handle("c-2", "add_to_cart", event_id="e-1")).status == "moved"
            assert (await service.handle("c-2", "add_to_cart", event_id="e-1")).status == (
                "duplicate"
            )
            await session.commit()
        assert await _async_count(engine, db.tables.journeys) == 1
        assert await _async_count(engine, db.orders) == 1
        async with engine.connect() as conn:
            keys = (await conn.execute(sa.select(db.orders.c.customer))).scalars().all()
        assert keys == ["c-2"]
        await engine.dispose()

    asyncio.run(main())


def test_async_session_store_on_an_async_connection(db: Database) -> None:
    async def main() -> None:
        engine = create_async_engine(db.async_url)
        async with engine.begin() as conn:
            await conn.run_sync(db.metadata.create_all)
        async with engine.connect() as conn:
            service = AsyncJourneyService(shop_machine(), AsyncSessionStore(conn, prefix=db.prefix))
            await service.handle("c-1", "add_to_cart")
            await conn.rollback()
            await service.handle("c-2", "add_to_cart")
            await conn.commit()
        async with engine.connect() as conn:
            found = await conn.execute(sa.select(db.tables.journeys.c.key))
            assert found.scalars().all() == ["c-2"]
        await engine.dispose()

    asyncio.run(main())


def test_async_sessions_concurrently_on_one_engine(db: Database) -> None:
    """20 tasks, each with its own session, moving 5 journeys: every move kept once."""

    async def main() -> None:
        engine = create_async_engine(db.async_url, pool_size=5)
        if db.kind == "sqlite":
            sqlite_begin_immediate(engine)
        try:
            async with engine.begin() as conn:
                await conn.run_sync(db.metadata.create_all)
            machine = shop_machine()

            async def client(n: int) -> None:
                for i in range(5):
                    async with AsyncSession(engine) as session:
                        # four tasks race for each journey at once: on a loaded machine ten
                        # attempts ran out (ConcurrencyConflict); what is tested is that
                        # every move is kept once, not the retry budget
                        service = AsyncJourneyService(
                            machine, AsyncSessionStore(session, prefix=db.prefix), max_attempts=100
                        )
                        key = f"c-{(n + i) % 5}"
                        await service.handle(key, "add_to_cart", event_id=f"e{n}.{i}")
                        await session.execute(db.orders.insert().values(customer=str(n)))
                        await session.commit()

            await asyncio.wait_for(asyncio.gather(*(client(n) for n in range(20))), 120)
            assert await _async_count(engine, db.tables.history) == 100
            assert await _async_count(engine, db.orders) == 100
        finally:  # a failure must not leave connections for the next test's warnings
            await engine.dispose()

    asyncio.run(main())


def test_a_cancelled_async_handle_leaves_the_session_usable(db: Database) -> None:
    async def main() -> None:
        engine = create_async_engine(db.async_url)
        async with engine.begin() as conn:
            await conn.run_sync(db.metadata.create_all)
        machine = shop_machine()
        async with AsyncSession(engine) as session:
            service = AsyncJourneyService(machine, AsyncSessionStore(session, prefix=db.prefix))
            for _ in range(5):
                task = asyncio.ensure_future(service.handle("c-1", "add_to_cart"))
                await asyncio.sleep(0)
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await session.rollback()
            assert (await service.handle("c-1", "add_to_cart", event_id="last")).status == "moved"
            await session.commit()
        assert await _async_count(engine, db.tables.history) == 1
        await engine.dispose()

    asyncio.run(main())


def test_an_aiosqlite_handle_is_two_hand_offs_to_aiosqlite_s_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from journeyfsm.contrib.sqlalchemy import _store_async

    calls = [0]
    queued = _store_async._queued

    async def counted(aio: Any, fn: Any, *args: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        return await queued(aio, fn, *args, **kwargs)

    monkeypatch.setattr(_store_async, "_queued", counted)
    db = Database("sqlite", tmp_path)

    async def main() -> list[Any]:
        engine = create_async_engine(db.async_url)
        async with engine.begin() as conn:
            await conn.run_sync(db.metadata.create_all)
        seen: list[Any] = []
        async with AsyncSession(engine) as session:
            service = AsyncJourneyService(shop_machine(), AsyncSessionStore(session))
            await service.handle("c-0", "add_to_cart", event_id="e-0")  # binds the store
            for key, event_id in (("c-1", "e-1"), ("c-1", "e-1"), ("c-1", "e-2")):
                before = calls[0]
                outcome = await service.handle(key, "add_to_cart", event_id=event_id)
                seen.append((outcome.status, calls[0] - before))
            await session.commit()
        assert await _async_count(engine, db.tables.history) == 3
        await engine.dispose()
        return seen

    # begin + the one-statement read; the move's writes + the release (a duplicate: none)
    assert asyncio.run(main()) == [("moved", 2), ("duplicate", 2), ("moved", 2)]


def test_an_aiosqlite_transaction_that_fails_drops_only_its_own_deferred_work(
    tmp_path: Path,
) -> None:
    db = Database("sqlite", tmp_path)

    async def main() -> None:
        engine = create_async_engine(db.async_url)
        async with engine.begin() as conn:
            await conn.run_sync(db.metadata.create_all)
        async with AsyncSession(engine) as session:
            store = AsyncSessionStore(session)
            service = AsyncJourneyService(shop_machine(), store)
            async with store.transaction() as outer:  # its begin deferred
                with pytest.raises(ValueError):
                    async with store.transaction():  # nested: fails before any call
                        raise ValueError
                # the outer's begin still ran, and its savepoint holds the nested move
                assert (await service.handle("c-1", "add_to_cart", event_id="e-1")).moved
                assert (await outer.load(service.definition, "c-1")) is not None
                with pytest.raises(ValueError):
                    async with store.transaction() as inner:
                        await inner.write_many([])  # deferred, then dropped unrun
                        raise ValueError
            await session.commit()
        assert await _async_count(engine, db.tables.history) == 1
        await engine.dispose()

    asyncio.run(main())


def test_a_session_store_serves_live_versions_and_migrates_in_the_session(
    db: Database, engine: sa.Engine
) -> None:
    """Live versions and service.migrate through a SessionStore: the same service code,
    on the session's connection (history rows record their version)."""
    from conftest import START
    from test_service_live_versions import machine, migration, v1, v2

    from journeyfsm import ManualClock

    clock = ManualClock(START)
    with Session(engine) as session:
        store = SessionStore(session, prefix=db.prefix)
        JourneyService(machine(v1(), clock), store).handle("a", "add")
        JourneyService(machine(v1(), clock), store).handle("b", "add")
        service = JourneyService(
            machine(v2(), clock), store, versions=[machine(v1(), clock)], migrations=[migration()]
        )
        assert service.handle("a", "pay").dest == "paid"  # pinned on version 1
        assert service.handle("c", "add").dest == "basket"  # new: version 2
        report = service.migrate(1, dry_run=False)
        assert (report.migrated, report.skipped, report.failed) == (2, 1, ())
        assert [e.trigger for e in service.history("b")] == ["add", "journeyfsm.migrate"]
        session.commit()
    with engine.connect() as conn:
        h = db.tables.history
        rows = conn.execute(
            sa.select(h.c.key, h.c.seq, h.c.definition_version).order_by(h.c.key, h.c.seq)
        ).all()
    # SQLite keeps the version as its JSON text, PostgreSQL as jsonb
    assert [(k, s, json.loads(v) if isinstance(v, str) else v) for k, s, v in rows] == [
        ("a", 1, 1),
        ("a", 2, 1),
        ("a", 3, 2),
        ("b", 1, 1),
        ("b", 2, 2),
        ("c", 1, 2),
    ]
