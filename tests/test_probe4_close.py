"""A closed store refuses to be used again, with the same clear ``StoreError`` on the sync
and async SQLite stores.  ``SQLiteStore`` reopened a connection after ``close()`` (a
closed store kept working, and left a connection nobody closes), where
``AsyncSQLiteStore`` refused."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from journeyfsm import AsyncJourneyService, JourneyMachine, JourneyService, StoreError, templates
from journeyfsm.stores import AsyncSQLiteStore, SQLiteStore

MACHINE = JourneyMachine(templates.aida())


def test_a_closed_sqlite_store_refuses_every_use(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "s.db", create_schema=True)
    service = JourneyService(MACHINE, store)
    assert service.handle("c-1", "engage").moved
    store.close()
    store.close()  # closing again does nothing
    for use in (
        lambda: service.handle("c-2", "engage"),
        lambda: service.get("c-1"),
        lambda: store.create_schema(),
    ):
        with pytest.raises(StoreError, match=r"SQLiteStore\('.*s\.db'\) is closed; make a new"):
            use()
    # a new store on the file sees what the closed one committed
    again = SQLiteStore(tmp_path / "s.db")
    assert JourneyService(MACHINE, again).get("c-1") is not None
    again.close()


def test_a_closed_store_on_a_host_connection_refuses_too(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "h.db", isolation_level=None)
    store = SQLiteStore(connection=conn, create_schema=True)
    store.close()
    with pytest.raises(StoreError, match="is closed"):
        JourneyService(MACHINE, store).handle("c-1", "engage")
    assert conn.execute("SELECT 1").fetchone() == (1,)  # the host's connection stays open
    conn.close()


def test_the_sync_and_async_stores_refuse_alike(tmp_path: Path) -> None:
    async def main() -> str:
        store = AsyncSQLiteStore(tmp_path / "a.db", create_schema=True)
        await store.close()
        with pytest.raises(StoreError) as raised:
            await AsyncJourneyService(MACHINE, store).handle("c-1", "engage")
        return str(raised.value)

    assert "is closed; make a new store" in asyncio.run(main())
    sync = SQLiteStore(tmp_path / "a.db")
    sync.close()
    with pytest.raises(StoreError) as raised:
        JourneyService(MACHINE, sync).handle("c-1", "engage")
    assert "is closed; make a new store" in str(raised.value)
