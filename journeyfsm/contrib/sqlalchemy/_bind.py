"""What a SQLAlchemy bind must be for the journeyfsm stores, and what SQLite needs.

The stores speak to the DB-API connection under SQLAlchemy's (``sqlite3``, psycopg 3,
aiosqlite's thread): the drivers they are written for.  Any other dialect or driver is
refused when the store is made, naming the ones supported.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from sqlalchemy import Connection, Engine, event
from sqlalchemy.engine.interfaces import Dialect
from sqlalchemy.ext.asyncio import AsyncEngine

from ..._errors import StoreError

__all__ = [
    "SUPPORTED",
    "check_dialect",
    "needs_begin",
    "schema_missing",
    "sqlite_begin_immediate",
]

#: (dialect, driver) pairs each store runs on
SUPPORTED = {
    False: (("sqlite", "pysqlite"), ("postgresql", "psycopg")),
    True: (("sqlite", "aiosqlite"), ("postgresql", "psycopg")),
}


def check_dialect(dialect: Dialect, *, is_async: bool, who: str) -> str:
    """``"sqlite"`` or ``"postgresql"``; a ``TypeError`` naming what is supported."""
    pair = (dialect.name, dialect.driver)
    if pair in SUPPORTED[is_async] and bool(dialect.is_async) == is_async:
        return dialect.name
    urls = " or ".join(f"{name}+{driver}://" for name, driver in SUPPORTED[is_async])
    raise TypeError(
        f"{who} runs on {urls} engines only, got {dialect.name}+{dialect.driver}; "
        + (
            "make the engine with create_async_engine('sqlite+aiosqlite:///shop.db') or "
            "create_async_engine('postgresql+psycopg://user@host/db')"
            if is_async
            else "make the engine with create_engine('sqlite:///shop.db') or "
            "create_engine('postgresql+psycopg://user@host/db') (psycopg 3; psycopg2 is "
            "not supported)"
        )
    )


def schema_missing(err: StoreError, who: str, prefix: str) -> StoreError:
    """A store's "no journeyfsm schema" / "older schema" error, told the SQLAlchemy way:
    the fix is the host's own schema tooling, not the store's ``create_schema=True``.
    Any other ``StoreError`` is returned as it is."""
    text = str(err)
    if err.table != "schema_version" or "create_schema" not in text:
        return err
    found = text.split(";", 1)[0]  # what the store found (no table, an older version)
    return StoreError(
        f"{who}: {found}; create the tables with SQLAlchemy: "
        "journeyfsm.contrib.sqlalchemy.create_schema(engine) once, or "
        f"tables(metadata, prefix={prefix!r}) on your MetaData and then "
        "metadata.create_all(engine), or an Alembic migration of that metadata "
        "(alembic revision --autogenerate, then write_schema_version(op.get_bind()) after "
        "its op.create_table calls)",
        table="schema_version",
    )


_LEGACY = getattr(sqlite3, "LEGACY_TRANSACTION_CONTROL", -1)


def needs_begin(raw: sqlite3.Connection) -> bool:
    """Whether the store must open the host's SQLite transaction itself: ``sqlite3``'s
    legacy transaction control (SQLAlchemy's default) has not begun one yet, and would
    begin it, deferred, only at the first INSERT/UPDATE/DELETE.  On an autocommit
    connection (``isolation_level=None`` outside a transaction, ``autocommit=True``) there
    is no host transaction to join, and none is opened here."""
    return (
        not raw.in_transaction
        and raw.isolation_level is not None
        and getattr(raw, "autocommit", _LEGACY) == _LEGACY
    )


def begin_immediate(raw: sqlite3.Connection) -> None:
    """Begin the host's transaction holding SQLite's write lock (see :func:`needs_begin`):
    the store's read and its write then see one snapshot, and a writer waits for another
    (``timeout=``) instead of failing at the lock upgrade."""
    try:
        raw.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as err:
        raise StoreError(
            f"cannot begin a write transaction on the session's SQLite connection: {err}; "
            "another connection held the write lock longer than the connection's busy "
            "timeout (create_engine(..., connect_args={'timeout': 30}))"
        ) from err


def sqlite_begin_immediate(engine: Engine | AsyncEngine) -> None:
    """Make every transaction of a SQLite ``engine`` begin with ``BEGIN IMMEDIATE``.

    SQLAlchemy's SQLite transactions are deferred by default (``sqlite3``'s legacy
    control: no ``BEGIN`` until the first write).  A transaction that reads before it
    writes then fails with "database is locked" when another connection wrote in between
    (SQLite cannot upgrade a stale read to a write), where an immediate one waits for the
    lock.  This installs SQLAlchemy's documented recipe on ``engine`` (an ``Engine``, or an
    ``AsyncEngine`` over aiosqlite): ``isolation_level = None`` on each new DB-API
    connection (``sqlite3`` emits no ``BEGIN`` of its own) and ``BEGIN IMMEDIATE`` on each
    SQLAlchemy ``begin``.  Call it once, right after ``create_engine``.

    >>> from sqlalchemy import create_engine, text
    >>> from journeyfsm.contrib.sqlalchemy import sqlite_begin_immediate
    >>> engine = create_engine("sqlite://")
    >>> sqlite_begin_immediate(engine)
    >>> with engine.begin() as conn:
    ...     conn.connection.dbapi_connection.in_transaction
    True
    >>> engine.dispose()
    """
    sync = engine.sync_engine if isinstance(engine, AsyncEngine) else engine
    if not isinstance(sync, Engine):
        raise TypeError(f"sqlite_begin_immediate() takes an Engine or AsyncEngine, got {engine!r}")
    if sync.dialect.name != "sqlite":
        raise TypeError(
            f"sqlite_begin_immediate() is for SQLite engines, got a {sync.dialect.name} one"
        )

    def connect(dbapi_connection: Any, record: object) -> None:
        dbapi_connection.isolation_level = None

    def begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    event.listen(sync, "connect", connect)
    event.listen(sync, "begin", begin)
