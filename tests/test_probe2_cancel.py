"""Cancelling async ``handle`` / ``handle_many`` calls at every await point, on the
AsyncSQLiteStore with an AsyncJourneyMachine whose hooks are async: nothing half-written,
a redelivery applies each event exactly once, and no "coroutine ... was never awaited"
warning (a hook's coroutine created for a task cancelled before its first step)."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import random
import warnings
from pathlib import Path

from conftest import START
from service_support import assert_consistent, async_machine_of, shop_machine

from journeyfsm import AsyncJourneyService, Event, JourneyService, ManualClock
from journeyfsm.stores import AsyncSQLiteStore, SQLiteStore

KEYS = [f"c-{i}" for i in range(4)]


async def _cancel_everywhere(path: Path, many: bool) -> int:
    store = AsyncSQLiteStore(path, create_schema=True)
    service = AsyncJourneyService(async_machine_of(shop_machine(ManualClock(START))), store)
    rnd = random.Random(7)
    events = [
        Event(rnd.choice(KEYS), rnd.choice(["add_to_cart", "note"]), {"sku": "x"}, event_id=f"e{n}")
        for n in range(120)
    ]
    try:
        for start, spins in zip(range(0, len(events), 4), range(40), strict=False):
            chunk = events[start : start + 4]
            if many:
                task = asyncio.ensure_future(service.handle_many(chunk, batch_size=2))
            else:

                async def one_by_one(chunk: list[Event] = chunk) -> None:
                    for e in chunk:
                        await service.handle(e.key, e.trigger, e.payload, event_id=e.event_id)

                task = asyncio.ensure_future(one_by_one())
            for _ in range(spins):  # cancel at a later await point each time
                await asyncio.sleep(0)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        # redelivered whole: what a cancelled call committed is a duplicate now
        outcomes = await service.handle_many(events)
        assert {o.status for o in outcomes} <= {"moved", "duplicate"}
    finally:
        await store.close()
    return len(events)


def test_cancelled_calls_leave_whole_moves_and_no_unawaited_coroutines(tmp_path: Path) -> None:
    for many in (False, True):
        path = tmp_path / f"{many}.db"
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            sent = asyncio.run(_cancel_everywhere(path, many))
            gc.collect()
        assert not [w for w in caught if "never awaited" in str(w.message)], [
            str(w.message) for w in caught
        ]
        service = JourneyService(shop_machine(ManualClock(START)), SQLiteStore(path))
        assert assert_consistent(service, KEYS) == sent
