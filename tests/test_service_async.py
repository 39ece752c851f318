"""What only the async driver and stores can get wrong: cancellation at every await point
of ``handle``, many tasks racing on a few journeys, an event loop that never waits for
SQLite, and the file an async store shares with the sync one.

The behaviours both drivers share run in test_service.py & co. on both (``make_service``).
Plain ``asyncio.run`` drives these tests: no pytest plugin is needed for a handful of
coroutines.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import START
from service_support import assert_consistent, shop_machine

from journeyfsm import AsyncJourneyService, JourneyService, ManualClock, StoreError
from journeyfsm.stores import AsyncMemoryStore, AsyncSQLiteStore, MemoryStore, SQLiteStore


def sqlite_pair(tmp_path: Path) -> tuple[SQLiteStore, AsyncSQLiteStore]:
    path = tmp_path / "journeys.db"
    return SQLiteStore(path, create_schema=True), AsyncSQLiteStore(path)


class CancelAtSubmit:
    """Cancels the task that hands the store's thread its ``at``-th call, right after the
    call was handed over: the call runs while its waiter is cancelled."""

    def __init__(self, store: AsyncSQLiteStore, at: int) -> None:
        self.at, self.count = at, 0
        self._submit = store._worker.submit
        store._worker.submit = self.submit  # type: ignore[method-assign]

    def submit(self, fn: Callable[..., Any], done: Callable[..., Any]) -> None:
        self._submit(fn, done)
        self.count += 1
        task = asyncio.current_task()
        if self.count == self.at and task is not None:
            task.cancel()


def test_a_cancelled_handle_writes_its_move_whole_or_not_at_all(tmp_path: Path) -> None:
    sync, store = sqlite_pair(tmp_path)
    reader = JourneyService(shop_machine(ManualClock(START)), sync)
    service = AsyncJourneyService(shop_machine(ManualClock(START)), store)

    async def count_calls() -> int:
        probe = CancelAtSubmit(store, at=0)
        await service.handle("probe", "add_to_cart", event_id="p")
        store._worker.submit = probe._submit  # type: ignore[method-assign]
        return probe.count

    calls = asyncio.run(count_calls())
    assert calls == 1  # the reads run inline; BEGIN IMMEDIATE, write, COMMIT: one hand-off
    outcomes = set()
    for at in range(1, calls + 1):
        key = f"c-{at}"
        reader.handle(key, "add_to_cart")  # an existing journey, moved once

        async def cancelled(key: str = key, at: int = at) -> None:
            canceller = CancelAtSubmit(store, at)
            try:
                with pytest.raises(asyncio.CancelledError):
                    await service.handle(key, "add_to_cart", {"sku": "pen"}, event_id="e")
            finally:
                store._worker.submit = canceller._submit  # type: ignore[method-assign]
            # the store is free again: no transaction or lock was left behind
            again = await service.handle(key, "add_to_cart", event_id="e")
            outcomes.add(again.status)

        asyncio.run(cancelled())
        journey = reader.get(key)
        assert journey is not None
        assert assert_consistent(reader, [key]) == 2  # the retry moved it, or was a duplicate
        with sync.transaction(write=False) as tx:
            assert len(tx.outbox(reader.definition, key=key)) == 2, at  # one per move
            assert tx.event_seq(reader.definition, key, "e") == 2, at
    # a cancel while the commit runs keeps the move: the retry is a duplicate
    assert outcomes == {"duplicate"}
    asyncio.run(store.close())


def test_a_handle_cancelled_at_any_await_point_writes_its_move_whole_or_not_at_all(
    tmp_path: Path,
) -> None:
    # cancel after 0, 1, 2 ... turns of the loop, until the handle ends first: every
    # point where it waits (the lock, the worker being idle, the hand-off) is hit.  Turns
    # past the 30th wait 1 ms each: the last attempt gives the commit ~170 ms (~14 s in all
    # if the handle never ends)
    sync, store = sqlite_pair(tmp_path)
    reader = JourneyService(shop_machine(ManualClock(START)), sync)
    service = AsyncJourneyService(shop_machine(ManualClock(START)), store)
    statuses: list[str] = []

    async def cancelled_after(turns: int, key: str) -> bool:
        blocker = asyncio.ensure_future(service.get("other"))  # holds the lock first
        task = asyncio.ensure_future(service.handle(key, "add_to_cart", event_id="e"))
        for turn in range(turns):
            # the first turns step through the await points one by one; later ones also
            # give the worker's commit wall time (it fsyncs: slow on a busy machine)
            await asyncio.sleep(0 if turn < 30 else 0.001)
        finished = task.done()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await blocker
        again = await service.handle(key, "add_to_cart", event_id="e")
        statuses.append(again.status)
        return finished

    for turns in range(200):
        key = f"k-{turns}"
        reader.handle(key, "add_to_cart")
        if asyncio.run(cancelled_after(turns, key)):
            break
        assert assert_consistent(reader, [key]) == 2, turns
        with sync.transaction(write=False) as tx:
            assert len(tx.outbox(reader.definition, key=key)) == 2, turns
    else:
        raise AssertionError("the handle never finished in 200 turns of the loop")
    assert "moved" in statuses  # early cancels wrote nothing: the retry moved
    asyncio.run(store.close())


def test_a_cancel_before_begin_or_inside_the_block_leaves_the_store_usable() -> None:
    store = AsyncMemoryStore()
    service = AsyncJourneyService(shop_machine(ManualClock(START)), store)

    async def main() -> None:
        async with store.transaction() as tx:  # another task waits for the lock ...
            waiter = asyncio.ensure_future(service.handle("c-1", "add_to_cart"))
            await asyncio.sleep(0)
            waiter.cancel()  # ... and is cancelled while it waits
            assert await tx.load(service.definition, "c-1") is None
        with pytest.raises(asyncio.CancelledError):
            await waiter
        assert (await service.handle("c-1", "add_to_cart")).moved

    asyncio.run(main())


def test_many_tasks_racing_on_few_journeys_move_each_event_exactly_once(tmp_path: Path) -> None:
    sync, store = sqlite_pair(tmp_path)
    keys = [f"c-{i}" for i in range(10)]
    service = AsyncJourneyService(
        shop_machine(ManualClock(START)), store, max_attempts=100, backoff=0.0005
    )

    async def main() -> list[Any]:
        events = [(key, n) for n in range(5) for key in keys]  # 50 events, 5 per journey
        return await asyncio.gather(
            *(
                service.handle(key, "add_to_cart", {"sku": f"s{n}"}, event_id=f"{key}/{n}")
                for key, n in events
            )
        )

    outcomes = asyncio.run(main())
    assert [o.status for o in outcomes] == ["moved"] * 50
    reader = JourneyService(shop_machine(ManualClock(START)), sync)
    assert assert_consistent(reader, keys) == 50  # versions contiguous, no id twice
    for key in keys:
        history = reader.history(key)
        assert sorted(e.event_id or "" for e in history) == [f"{key}/{n}" for n in range(5)]
        journey = reader.get(key)
        assert journey is not None and sorted(journey.data["cart"]) == [f"s{n}" for n in range(5)]
    asyncio.run(store.close())


def test_the_event_loop_never_waits_while_sqlite_commits(tmp_path: Path) -> None:
    # Two checks. Exact: every COMMIT runs on the store's thread, never on the loop's
    # (sqlite3's trace callback names the thread of each statement). Measured, against a
    # baseline in the same run rather than a clock: a ticker task keeps ticking while 60
    # durable commits run, at no less than a quarter of the rate it ticks at alone (a loop
    # blocked by each commit would tick about once per commit).
    _, store = sqlite_pair(tmp_path)
    service = AsyncJourneyService(shop_machine(ManualClock(START)), store)
    statements: list[tuple[int, str]] = []

    async def ticker(stop: asyncio.Event, gaps: list[float]) -> None:
        last = time.perf_counter()
        while not stop.is_set():
            await asyncio.sleep(0.001)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    async def ticks_while(work: Callable[[], Awaitable[None]]) -> tuple[int, float]:
        gaps: list[float] = []
        stop = asyncio.Event()
        ticking = asyncio.ensure_future(ticker(stop, gaps))
        started = time.perf_counter()
        await work()
        took = time.perf_counter() - started
        stop.set()
        await ticking
        return len(gaps), took

    async def commits() -> None:
        for i in range(60):  # each a durable commit (synchronous=FULL)
            await service.handle(f"c-{i % 6}", "add_to_cart", event_id=f"e-{i}")

    async def main() -> tuple[int, tuple[int, float], tuple[int, float]]:
        await service.handle("c-warm", "add_to_cart", event_id="warm")  # opens the file
        store._conn.set_trace_callback(
            lambda sql: statements.append((threading.get_ident(), sql.strip().upper()))
        )
        alone = await ticks_while(lambda: asyncio.sleep(0.2))
        return threading.get_ident(), alone, await ticks_while(commits)

    loop_thread, (alone_ticks, alone_took), (busy_ticks, busy_took) = asyncio.run(main())
    asyncio.run(store.close())
    # a read transaction may end on the loop (nothing to flush); one that wrote may not
    wrote, durable_commits = False, []
    for thread, sql in statements:
        if sql.startswith(("INSERT", "UPDATE", "DELETE", "REPLACE", "WITH")):
            wrote = True
        elif sql.startswith("COMMIT"):
            if wrote:
                durable_commits.append(thread)
            wrote = False
    assert len(durable_commits) == 60
    assert loop_thread not in durable_commits, "a COMMIT that wrote ran on the loop's thread"
    alone_rate, busy_rate = alone_ticks / alone_took, busy_ticks / busy_took
    assert busy_rate >= alone_rate / 4, (alone_rate, busy_rate)


def test_a_file_written_by_one_store_is_read_by_the_other(tmp_path: Path) -> None:
    path = tmp_path / "journeys.db"
    sync_service = JourneyService(shop_machine(), SQLiteStore(path, create_schema=True))
    sync_service.handle("c-1", "add_to_cart", {"sku": "mug"}, event_id="s-1")
    store = AsyncSQLiteStore(path)
    service = AsyncJourneyService(shop_machine(), store)

    async def main() -> tuple[Any, ...]:
        duplicate = await service.handle("c-1", "add_to_cart", event_id="s-1")
        moved = await service.handle("c-1", "add_to_cart", {"sku": "pen"}, event_id="a-1")
        return duplicate.status, moved.entry.seq, (await service.get("c-1"))

    status, seq, journey = asyncio.run(main())
    asyncio.run(store.close())
    assert (status, seq) == ("duplicate", 2) and journey.data["cart"] == ["mug", "pen"]
    again = sync_service.get("c-1")
    assert again is not None and again.data == journey.data and again.version == 2
    assert [e.event_id for e in sync_service.history("c-1")] == ["s-1", "a-1"]


def test_async_stores_roll_back_what_the_block_raised_on() -> None:
    memory = MemoryStore()
    for store in (AsyncMemoryStore(memory),):
        service = AsyncJourneyService(shop_machine(), store)

        async def main(store: Any = store, service: Any = service) -> None:
            await service.handle("c-1", "add_to_cart")
            with pytest.raises(RuntimeError):
                async with store.transaction() as tx:
                    await tx.purge_event_ids(START.replace(year=2100))
                    raise RuntimeError("the host's own failure")
            assert (await service.get("c-1")).version == 1

        asyncio.run(main())


def test_an_async_journeys_iterator_reads_in_batches(tmp_path: Path) -> None:
    _, store = sqlite_pair(tmp_path)
    service = AsyncJourneyService(shop_machine(), store)

    async def main() -> list[tuple[str, int]]:
        await service.handle_many([(f"c-{i}", "add_to_cart") for i in range(7)])
        return [(j.key, len(j.history)) async for j in service.journeys(batch=3)]

    assert asyncio.run(main()) == [(f"c-{i}", 1) for i in range(7)]
    asyncio.run(store.close())


def test_async_values_are_checked_where_they_enter(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match=r"async store .* goes with JourneyService"):
        AsyncJourneyService(shop_machine(), MemoryStore())  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="AsyncMemoryStore takes a MemoryStore"):
        AsyncMemoryStore(object())  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="file path"):
        AsyncSQLiteStore(None)  # type: ignore[arg-type]
    with pytest.raises(StoreError, match="no journeyfsm schema"):
        AsyncSQLiteStore(tmp_path / "empty.db")

    async def bad_write() -> None:
        async with AsyncMemoryStore().transaction(write="yes"):  # type: ignore[arg-type]
            pass

    with pytest.raises(TypeError, match="write must be True or False"):
        asyncio.run(bad_write())


def test_sqlite_calls_run_on_the_store_s_own_thread(tmp_path: Path) -> None:
    _, store = sqlite_pair(tmp_path)
    assert store._worker.thread.name == "journeyfsm-sqlite"
    loop_thread: list[str] = []

    async def main() -> str:
        import threading

        loop_thread.append(threading.current_thread().name)
        return await store._call(lambda: threading.current_thread().name)

    assert asyncio.run(main()).startswith("journeyfsm-sqlite")
    assert not loop_thread[0].startswith("journeyfsm-sqlite")
    asyncio.run(store.close())


def test_a_closed_sqlite_store_says_so_and_closing_again_does_nothing(tmp_path: Path) -> None:
    store = AsyncSQLiteStore(tmp_path / "journeys.db", create_schema=True)
    service = AsyncJourneyService(shop_machine(), store)

    async def main() -> None:
        await service.handle("c-1", "add_to_cart", {"sku": "mug"})
        await store.close()
        await store.close()  # a second close is a no-op
        with pytest.raises(StoreError, match=r"AsyncSQLiteStore\(.*\) is closed; make a new"):
            await service.get("c-1")
        with pytest.raises(StoreError, match="is closed"):
            await service.handle("c-1", "add_to_cart", {"sku": "pen"})

    asyncio.run(main())
    reopened = JourneyService(shop_machine(), SQLiteStore(tmp_path / "journeys.db"))
    journey = reopened.get("c-1")
    assert journey is not None and journey.data["cart"] == ["mug"]
