"""Text no database can hold (a NUL character, a lone surrogate) in what a move would
write: the same ``DataError`` on every store, sync and async, raised before anything is
written.  It was a ``DataError`` on SQLite for a lone surrogate, a ``StoreError`` on
PostgreSQL, and a NUL was stored by the memory and SQLite stores where PostgreSQL
refused it."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from conftest import START
from service_support import STORES, async_machine_of, shop_machine, store_factory

from journeyfsm import AsyncJourneyService, DataError, JourneyService, ManualClock
from journeyfsm.stores import AsyncMemoryStore, AsyncSQLiteStore

NUL, LONE = "a\x00b", "a\udcffb"

#: (payload, meta, initial data) of a first add_to_cart: each holds one unstorable str
CASES = {
    "nul in payload": ({"sku": NUL}, None, None),
    "lone surrogate in payload": ({"sku": LONE}, None, None),
    "nul in a payload key": ({NUL: 1}, None, None),
    "nul in meta": (None, {"channel": NUL}, None),
    "lone surrogate in meta": (None, {"channel": LONE}, None),
    "nul in the data a move writes": (None, None, {"note": ["ok", NUL]}),
    "lone surrogate in the data a move writes": (None, None, {"note": {"x": LONE}}),
    "nul in a data key": (None, None, {NUL: 1}),
}


@pytest.mark.parametrize("kind", STORES)
@pytest.mark.parametrize("case", list(CASES))
def test_unstorable_text_is_the_same_data_error_on_every_store(
    kind: str, case: str, tmp_path: Path
) -> None:
    payload, meta, data = CASES[case]
    factory, close = store_factory(kind, tmp_path)
    try:
        given = [data]
        service = JourneyService(
            shop_machine(ManualClock(START)), factory(), initial_data=lambda key: given[0]
        )
        with pytest.raises(DataError, match=r"NUL|Unicode") as raised:
            service.handle("c-1", "add_to_cart", payload, meta=meta, event_id="e-1")
        assert raised.value.key == "c-1"
        assert service.get("c-1") is None  # nothing was written
        given[0] = None
        assert service.handle("c-1", "add_to_cart", event_id="e-1").status == "moved"
    finally:
        close()


def _async_stores(tmp_path: Path) -> dict[str, Any]:
    return {
        "memory": AsyncMemoryStore(),
        "sqlite": AsyncSQLiteStore(tmp_path / "a.db", create_schema=True),
    }


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
@pytest.mark.parametrize("case", list(CASES))
def test_the_async_service_refuses_unstorable_text_the_same_way(
    kind: str, case: str, tmp_path: Path
) -> None:
    payload, meta, data = CASES[case]

    async def main() -> None:
        store = _async_stores(tmp_path)[kind]
        service = AsyncJourneyService(
            async_machine_of(shop_machine(ManualClock(START))),
            store,
            initial_data=lambda key: data,
        )
        try:
            with pytest.raises(DataError, match=r"NUL|Unicode"):
                await service.handle("c-1", "add_to_cart", payload, meta=meta, event_id="e-1")
            assert await service.get("c-1") is None
        finally:
            if kind == "sqlite":
                await store.close()

    asyncio.run(main())
