"""``journeys()`` over a store holding a corrupted row: the contract, the same on every
store and both services.  Every journey before the corrupted row (in (definition, key)
order) is yielded, whatever ``batch``, then the ``StoreError`` naming the row.  A row
that failed to decode lost the journeys before it in its page (none of ``a``, ``b`` with
the default batch of 500, both with ``batch=1``)."""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest
from service_support import drop_tables, pg_dsn

from journeyfsm import (
    AsyncJourneyService,
    JourneyMachine,
    JourneyService,
    StoreError,
    templates,
)
from journeyfsm.stores import (
    AsyncMemoryStore,
    AsyncPostgresStore,
    AsyncSQLiteStore,
    MemoryStore,
    PostgresStore,
    SQLiteStore,
)

MACHINE = JourneyMachine(templates.aida())
KEYS = ["a", "b", "c", "d", "e"]  # "c" is corrupted

#: (table, column, SQL value) on SQLite (typeless columns) and on PostgreSQL
SQLITE = {
    "stage": ("journeys", "stage", "'nope'"),
    "data": ("journeys", "data", "'{bad'"),
    "version": ("journeys", "version", "'x'"),
    "entered_at": ("journeys", "entered_at", "'not a time'"),
    "history meta": ("history", "meta", "'[1]'"),
}
POSTGRES = {
    "stage": ("journeys", "stage", "'nope'"),
    "data": ("journeys", "data", "'[1]'::jsonb"),
    "history meta": ("history", "meta", "'[1]'::jsonb"),
}


def _check(collect: Callable[[int], tuple[list[str], StoreError | None]]) -> None:
    for batch in (1, 2, 500):
        keys, err = collect(batch)
        assert keys == ["a", "b"], batch
        assert err is not None and "'c'" in str(err) and "corrupted" in str(err), batch


def _sync_collect(service: JourneyService) -> Callable[[int], tuple[list[str], Any]]:
    def collect(batch: int) -> tuple[list[str], Any]:
        keys: list[str] = []
        try:
            for journey in service.journeys(batch=batch):
                keys.append(journey.key)
        except StoreError as err:
            return keys, err
        return keys, None

    return collect


def _async_collect(service: AsyncJourneyService) -> Callable[[int], tuple[list[str], Any]]:
    def collect(batch: int) -> tuple[list[str], Any]:
        async def main() -> tuple[list[str], Any]:
            keys: list[str] = []
            try:
                async for journey in service.journeys(batch=batch):
                    keys.append(journey.key)
            except StoreError as err:
                return keys, err
            return keys, None

        return asyncio.run(main())

    return collect


@pytest.mark.parametrize("case", list(SQLITE))
def test_sqlite_journeys_yields_up_to_the_corrupted_row_then_names_it(
    case: str, tmp_path: Path
) -> None:
    path = tmp_path / "j.db"
    store = SQLiteStore(path, create_schema=True)
    service = JourneyService(MACHINE, store)
    for key in KEYS:
        service.handle(key, "engage")
    table, column, value = SQLITE[case]
    with sqlite3.connect(path) as conn:
        conn.execute(f"UPDATE journeyfsm_{table} SET {column} = {value} WHERE key = 'c'")
    conn.close()
    _check(_sync_collect(service))
    store.close()

    async def make() -> AsyncJourneyService:
        return AsyncJourneyService(MACHINE, AsyncSQLiteStore(path))

    _check(_async_collect(asyncio.run(make())))


@pytest.mark.parametrize("case", list(POSTGRES))
def test_postgres_journeys_yields_up_to_the_corrupted_row_then_names_it(case: str) -> None:
    prefix = f"t{uuid.uuid4().hex[:12]}_"
    store = PostgresStore(pg_dsn(), prefix=prefix, create_schema=True, max_size=2)
    try:
        service = JourneyService(MACHINE, store)
        for key in KEYS:
            service.handle(key, "engage")
        table, column, value = POSTGRES[case]
        with psycopg.connect(pg_dsn()) as conn:
            conn.execute(f"UPDATE \"{prefix}{table}\" SET {column} = {value} WHERE key = 'c'")
        _check(_sync_collect(service))

        def collect(batch: int) -> tuple[list[str], Any]:
            async def main() -> tuple[list[str], Any]:
                async with AsyncPostgresStore(pg_dsn(), prefix=prefix, max_size=2) as aio:
                    keys: list[str] = []
                    try:
                        async for journey in AsyncJourneyService(MACHINE, aio).journeys(
                            batch=batch
                        ):
                            keys.append(journey.key)
                    except StoreError as err:
                        return keys, err
                    return keys, None

            return asyncio.run(main())

        _check(collect)
    finally:
        with store.transaction() as tx:
            drop_tables(tx.conn, prefix)
        store.close()


def test_memory_journeys_yields_up_to_the_corrupted_row_then_names_it() -> None:
    import attrs

    store, aio = MemoryStore(), AsyncMemoryStore()
    service = JourneyService(MACHINE, store)
    aservice = AsyncJourneyService(MACHINE, aio)
    for key in KEYS:
        service.handle(key, "engage")
        asyncio.run(aservice.handle(key, "engage"))
    for s in (store, aio):
        rows = (s if isinstance(s, MemoryStore) else s.memory)._journeys
        slot = next(k for k in rows if k[1] == "c")
        rows[slot] = attrs.evolve(rows[slot], stage="nope")
    _check(_sync_collect(service))
    _check(_async_collect(aservice))
