"""``create_schema(bind, schema="nosuch")`` and the stores' ``create_schema()`` with a
schema that does not exist: a ``StoreError`` naming the schema and the fix, not
SQLAlchemy's raw error."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import sqlalchemy as sa
from test_contrib_sqlalchemy import Database

from journeyfsm import StoreError
from journeyfsm.contrib.sqlalchemy import create_schema


@pytest.fixture(params=["sqlite", "postgres"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Database:
    return Database(request.param, tmp_path)


def _fix(kind: str) -> str:
    return "CREATE SCHEMA nosuch" if kind == "postgres" else "ATTACH DATABASE"


def test_create_schema_in_a_missing_schema_is_a_store_error(database: Database) -> None:
    engine = sa.create_engine(database.url)
    try:
        with pytest.raises(StoreError) as info:
            create_schema(engine, prefix=database.prefix, schema="nosuch")
        message = str(info.value)
        assert "schema 'nosuch' does not exist" in message, message
        assert _fix(database.kind) in message, message
        with engine.connect() as conn:  # nothing was left half-made
            assert not [t for t in sa.inspect(conn).get_table_names() if "journeyfsm" in t]
    finally:
        engine.dispose()


def test_create_schema_on_an_async_connection_in_a_missing_schema(database: Database) -> None:
    from sqlalchemy.ext.asyncio import create_async_engine

    async def run() -> None:
        engine = create_async_engine(database.async_url)
        try:
            async with engine.begin() as conn:
                await conn.run_sync(create_schema, prefix=database.prefix, schema="nosuch")
        finally:
            await engine.dispose()

    with pytest.raises(StoreError, match="schema 'nosuch' does not exist"):
        asyncio.run(run())


def test_a_session_store_in_a_missing_schema_is_a_store_error(database: Database) -> None:
    from sqlalchemy.orm import Session

    from journeyfsm.contrib.sqlalchemy import SessionStore

    engine = sa.create_engine(database.url)
    try:
        with Session(engine) as session:
            store = SessionStore(session, prefix=database.prefix, schema="nosuch")
            with pytest.raises(StoreError, match="schema 'nosuch' does not exist"):
                store.create_schema()
    finally:
        engine.dispose()
