"""The database: the app's async engine and sessions, and the store the workers use.

SQLite: WAL (readers never wait for the writer), a 30 s busy timeout, and every
transaction ``BEGIN IMMEDIATE`` (``sqlite_begin_immediate``): a request that reads then
writes waits for SQLite's one write lock up front instead of failing at the upgrade.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

from journeyfsm.contrib.sqlalchemy import sqlite_begin_immediate
from journeyfsm.stores import AsyncSQLiteStore, AsyncStore


def make_engine(url: str) -> AsyncEngine:
    if make_url(url).get_backend_name() == "sqlite":
        engine = create_async_engine(url, connect_args={"timeout": 30}, pool_size=10)

        @event.listens_for(engine.sync_engine, "connect")
        def wal(dbapi_connection: Any, record: object) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=FULL")
            cursor.close()

        sqlite_begin_immediate(engine)
        return engine
    return create_async_engine(url, pool_size=10, max_overflow=20)


def make_sessions(engine: AsyncEngine) -> async_sessionmaker[Any]:
    return async_sessionmaker(engine, expire_on_commit=False)


async def worker_store(url: str) -> AsyncStore:
    """A store that commits its own transactions (the workers run outside any request):
    the same database as the app's engine, through journeyfsm's own async stores."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        assert parsed.database, "a SQLite file, not :memory: (the workers share it)"
        return AsyncSQLiteStore(parsed.database)
    from journeyfsm.stores import AsyncPostgresStore

    dsn = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
    return await AsyncPostgresStore(dsn, max_size=4).open()
