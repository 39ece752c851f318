"""AsyncSQLiteStore's hand-offs: reads inline on the loop, a write transaction (BEGIN
IMMEDIATE, its writes, COMMIT) in ONE hand-off to the store's thread, and a loop that
keeps running while another connection holds SQLite's write lock."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from pathlib import Path

import pytest
from conftest import START
from service_support import shop_machine

from journeyfsm import AsyncJourneyService, JourneyService, ManualClock, StoreError
from journeyfsm.stores import AsyncSQLiteStore, SQLiteStore, _async_sqlite


def _service(tmp_path: Path) -> tuple[SQLiteStore, AsyncSQLiteStore, AsyncJourneyService]:
    path = tmp_path / "journeys.db"
    sync = SQLiteStore(path, create_schema=True)
    store = AsyncSQLiteStore(path)
    return sync, store, AsyncJourneyService(shop_machine(ManualClock(START)), store)


def _count_hand_offs(store: AsyncSQLiteStore) -> list[int]:
    count = [0]
    submit = store._worker.submit

    def counted(fn, done):  # type: ignore[no-untyped-def]
        count[0] += 1
        submit(fn, done)

    store._worker.submit = counted  # type: ignore[method-assign]
    return count


def test_a_handle_is_one_hand_off_and_a_duplicate_none(tmp_path: Path) -> None:
    _, store, service = _service(tmp_path)
    count = _count_hand_offs(store)

    async def main() -> list[int]:
        seen = []
        await service.handle("c-1", "add_to_cart", event_id="e-1")
        seen.append(count[0])
        assert (await service.handle("c-1", "add_to_cart", event_id="e-1")).status == "duplicate"
        seen.append(count[0])
        await service.handle_many([("c-2", "add_to_cart"), ("c-3", "add_to_cart")])
        seen.append(count[0])
        return seen

    assert asyncio.run(main()) == [1, 1, 2]
    asyncio.run(store.close())


def test_the_loop_keeps_ticking_while_another_connection_holds_the_write_lock(
    tmp_path: Path,
) -> None:
    sync, store, service = _service(tmp_path)
    path = tmp_path / "journeys.db"
    held = threading.Event()
    release = threading.Event()

    def hold_write_lock() -> None:
        conn = sqlite3.connect(path, isolation_level=None)
        conn.execute("BEGIN IMMEDIATE")
        held.set()
        release.wait(10)
        conn.execute("COMMIT")
        conn.close()

    gaps: list[float] = []

    async def ticker(stop: asyncio.Event) -> None:
        last = time.perf_counter()
        while not stop.is_set():
            await asyncio.sleep(0.001)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    async def main() -> str:
        await service.handle("c-0", "add_to_cart", event_id="warm")
        holder = threading.Thread(target=hold_write_lock)
        holder.start()
        held.wait(10)
        stop = asyncio.Event()
        ticking = asyncio.ensure_future(ticker(stop))
        handling = asyncio.ensure_future(service.handle("c-1", "add_to_cart", event_id="e"))
        # reads run while the lock is held elsewhere (WAL): get() answers at once
        assert (await service.get("c-0")) is not None
        await asyncio.sleep(0.3)  # the handle waits for the lock, on the store's thread
        assert not handling.done()
        release.set()
        outcome = await handling
        stop.set()
        await ticking
        holder.join()
        return outcome.status

    assert asyncio.run(main()) == "moved"
    asyncio.run(store.close())
    # the ticker ran all along (about one tick per ms; a loaded 2-core machine stretches
    # them to ~10 ms), and no tick waited anywhere near the 0.3 s the handle waited for the
    # lock: a blocked loop shows one or two ticks and a gap of >= 0.3 s
    assert len(gaps) > 5, gaps
    assert max(gaps) < 0.25, sorted(gaps)[-5:]
    journey = JourneyService(shop_machine(), sync).get("c-1")
    assert journey is not None and journey.version == 1


def test_a_busy_inline_read_runs_again_on_the_store_s_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # SQLITE_BUSY for a WAL reader is rare (another connection recovering the WAL, or
    # one that took the file out of WAL mode) and cannot be staged reliably: the first
    # inline statement is told so here, as SQLite would tell it
    _, store, service = _service(tmp_path)
    asyncio.run(service.handle("c-1", "add_to_cart"))
    told = []
    inline = _async_sqlite._Tx._inline

    def busy_once(self, fn, args, kw):  # type: ignore[no-untyped-def]
        if not told:
            told.append(fn.__name__)
            self.store._conn.execute("BEGIN")  # as a real first statement had begun
            raise sqlite3.OperationalError("database is locked")
        return inline(self, fn, args, kw)

    monkeypatch.setattr(_async_sqlite._Tx, "_inline", busy_once)
    count = _count_hand_offs(store)
    journey = asyncio.run(service.get("c-1"))
    assert journey is not None and journey.stage == "cart"
    assert told == ["load"] and count[0] == 2  # the read, and its end, on the thread
    monkeypatch.undo()
    assert asyncio.run(service.handle("c-1", "add_to_cart")).moved  # usable again
    asyncio.run(store.close())


def test_a_read_transaction_cannot_write_once_it_has_read(tmp_path: Path) -> None:
    _, store, service = _service(tmp_path)

    async def main() -> None:
        async with store.transaction(write=False) as tx:
            await tx.load(service.definition, "c-1")
            with pytest.raises(StoreError, match="open it with write=True"):
                await tx.purge_event_ids(START)
        with pytest.raises(StoreError, match="inside a read transaction"):
            async with store.transaction(write=False), store.transaction():
                pass
        # a nested read joins a write transaction: a savepoint, rolled back alone
        async with store.transaction() as tx:
            with pytest.raises(RuntimeError):
                async with store.transaction(write=False) as inner:
                    await inner.load(service.definition, "c-1")
                    raise RuntimeError("inner")
            assert await tx.load(service.definition, "c-1") is None
        assert (await service.handle("c-1", "add_to_cart")).moved

    asyncio.run(main())
    asyncio.run(store.close())


def test_a_loop_that_ends_while_its_commit_runs_leaves_the_store_usable(tmp_path: Path) -> None:
    # the worker counts its calls itself: a call whose loop closed does not keep the
    # next loop waiting for the worker to be idle
    _, store, service = _service(tmp_path)

    async def leave_mid_commit() -> None:
        task = asyncio.ensure_future(service.handle("c-1", "add_to_cart", event_id="e"))
        while not store._pending:
            await asyncio.sleep(0)
        task.cancel()  # asyncio.run ends with the commit still on the worker

    asyncio.run(leave_mid_commit())

    async def again() -> str:
        outcome = await asyncio.wait_for(
            service.handle("c-1", "add_to_cart", event_id="e"), timeout=10
        )
        return outcome.status

    assert asyncio.run(again()) == "duplicate"  # the commit was under way: kept whole
    asyncio.run(store.close())


def test_a_handle_reads_the_row_and_the_event_id_in_one_statement(tmp_path: Path) -> None:
    _, store, service = _service(tmp_path)
    seen: list[str] = []

    async def main() -> tuple[str, str]:
        await service.handle("c-1", "add_to_cart", event_id="e-1")
        store._conn.set_trace_callback(seen.append)  # the worker is idle between calls
        moved = await service.handle("c-1", "note", event_id="e-2")
        again = await service.handle("c-1", "note", event_id="e-2")
        store._conn.set_trace_callback(None)
        return moved.status, again.status

    assert asyncio.run(main()) == ("moved", "duplicate")
    reads = [s for s in seen if s.lstrip().upper().startswith("SELECT")]
    assert len(reads) == 2  # one per handle: the row and the event id's seq together
    assert all("event_ids" in s and "journeys" in s for s in reads)
    # the write lock was free: BEGIN IMMEDIATE at once, no busy_timeout set and reset
    assert not [s for s in seen if "PRAGMA" in s.upper()], seen
    # the reads are single statements in autocommit: the only transaction statements
    # are the move's write transaction on the worker (the duplicate writes nothing)
    ends = [s.strip().upper() for s in seen if s.strip().upper().startswith(("BEGIN", "COMMIT"))]
    assert ends == ["BEGIN IMMEDIATE", "COMMIT"], seen
    asyncio.run(store.close())


def test_load_event_now_reads_inline_or_says_it_cannot_now(tmp_path: Path) -> None:
    # what handle reads with when the store is free: the read transaction's answer, no
    # hand-off; None (read in a transaction instead) while the store is in use or closed
    _, store, service = _service(tmp_path)
    name = service.definition
    count = _count_hand_offs(store)

    async def main() -> None:
        assert store.load_event_now(name, "c-1", "e-1") == (None, None)
        await service.handle("c-1", "add_to_cart", event_id="e-1")
        before = count[0]
        row, seen = store.load_event_now(name, "c-1", "e-1") or (None, None)
        async with store.transaction(write=False) as tx:
            assert await tx.load_event(name, "c-1", "e-1") == (row, seen)
            assert store.load_event_now(name, "c-1", "e-1") is None  # a transaction is open
        assert row is not None and row.stage == "cart" and seen == 1
        assert count[0] == before  # read on the loop
        assert not store._conn.in_transaction
        task = asyncio.ensure_future(service.handle("c-1", "add_to_cart", event_id="e-2"))
        while not store._pending:
            await asyncio.sleep(0)
        assert store.load_event_now(name, "c-1", "e-2") is None  # the worker commits
        assert (await task).moved
        await store.close()
        assert store.load_event_now(name, "c-1", "e-2") is None

    asyncio.run(main())


def test_a_busy_read_of_handle_is_read_again_in_a_transaction(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # SQLITE_BUSY cannot be staged reliably for a WAL reader (see above): told once here
    _, store, service = _service(tmp_path)
    asyncio.run(service.handle("c-1", "add_to_cart", event_id="e-1"))
    rows = store._rows
    told: list[str] = []
    load_event = type(rows).load_event

    def busy_once(self, *args):  # type: ignore[no-untyped-def]
        if not told:
            told.append("busy")
            raise sqlite3.OperationalError("database is locked")
        return load_event(self, *args)

    monkeypatch.setattr(type(rows), "load_event", busy_once)
    outcome = asyncio.run(service.handle("c-1", "note", event_id="e-2"))
    assert told == ["busy"] and outcome.moved and outcome.entry is not None
    assert outcome.entry.seq == 2
    assert not store._conn.in_transaction  # rolled back, then read again
    monkeypatch.undo()
    assert asyncio.run(service.handle("c-1", "note", event_id="e-2")).status == "duplicate"
    asyncio.run(store.close())


def test_a_corrupted_row_read_now_is_the_store_error_of_the_sync_service(tmp_path: Path) -> None:
    sync, store, service = _service(tmp_path)
    asyncio.run(service.handle("c-1", "add_to_cart", event_id="e-1"))
    conn = sqlite3.connect(tmp_path / "journeys.db", isolation_level=None)
    conn.execute("UPDATE journeyfsm_journeys SET stage = 'gone' WHERE key = 'c-1'")
    conn.close()
    with pytest.raises(StoreError) as sync_err:
        JourneyService(shop_machine(ManualClock(START)), sync).handle("c-1", "note")
    with pytest.raises(StoreError) as async_err:
        asyncio.run(service.handle("c-1", "note"))
    assert "corrupted" in str(async_err.value) and "'gone'" in str(async_err.value)
    assert str(async_err.value) == str(sync_err.value)
    assert not store._conn.in_transaction
    asyncio.run(store.close())


def test_commit_move_inside_a_transaction_of_the_task_joins_it(tmp_path: Path) -> None:
    _, store, service = _service(tmp_path)

    async def main() -> None:
        await service.handle("c-1", "add_to_cart", event_id="e-1")
        with pytest.raises(RuntimeError):
            async with store.transaction():  # the task's own: its service's moves join it
                assert (await service.handle("c-1", "note", event_id="e-2")).moved
                raise RuntimeError("the host's block fails")
        journey = await service.get("c-1")
        assert journey is not None and journey.version == 1  # rolled back with it
        assert (await service.handle("c-1", "note", event_id="e-2")).moved

    asyncio.run(main())
    asyncio.run(store.close())
