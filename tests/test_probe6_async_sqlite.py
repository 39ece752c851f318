"""AsyncSQLiteStore across processes and event loops.

A child of ``os.fork()`` has a copy of the store but not its worker thread: every call
handed to it waited forever (a pre-forking server hung); now each use is a
``StoreError`` saying to make a store in the child."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import threading
from pathlib import Path

import pytest

from journeyfsm import AsyncJourneyService, JourneyMachine, StoreError, templates
from journeyfsm.stores import AsyncSQLiteStore


@pytest.mark.skipif(sys.platform == "win32", reason="os.fork is POSIX only")
def test_a_store_used_in_a_forked_child_is_a_store_error_not_a_hang(tmp_path: Path) -> None:
    store = AsyncSQLiteStore(tmp_path / "j.db", create_schema=True)
    service = AsyncJourneyService(JourneyMachine(templates.aida()), store)
    assert asyncio.run(service.handle("c-1", "engage")).moved
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report what a use gives, within 5 s
        signal.alarm(5)
        try:
            asyncio.run(service.handle("c-2", "engage"))
            answer = "moved"
        except StoreError as err:
            answer = "StoreError: " + str(err)
        except BaseException as err:  # pragma: no cover - reported to the parent
            answer = f"{type(err).__name__}: {err}"
        os.write(write, answer.encode())
        os._exit(0)
    os.close(write)
    _, status = os.waitpid(pid, 0)
    answer = os.read(read, 4096).decode()
    os.close(read)
    assert os.WIFEXITED(status), "the child hung (killed by its alarm)"
    assert answer.startswith("StoreError: ") and "os.fork()" in answer, answer
    # the parent's store is untouched and goes on
    assert asyncio.run(service.handle("c-3", "engage")).moved
    asyncio.run(store.close())


def test_a_store_serves_one_asyncio_run_after_another(tmp_path: Path) -> None:
    """The lock of the first loop that made a task wait was bound to it: in the next
    ``asyncio.run`` concurrent calls failed with a raw "bound to a different event loop"
    RuntimeError."""
    store = AsyncSQLiteStore(tmp_path / "j.db", create_schema=True)
    service = AsyncJourneyService(JourneyMachine(templates.aida()), store)

    async def many(prefix: str) -> list[str]:
        outcomes = await asyncio.gather(
            *(service.handle(f"{prefix}-{i}", "engage") for i in range(8))
        )
        return [o.status for o in outcomes]

    for run in ("a", "b", "c"):
        assert asyncio.run(many(run)) == ["moved"] * 8
    asyncio.run(store.close())


def test_a_store_busy_on_another_loop_is_a_store_error(tmp_path: Path) -> None:
    store = AsyncSQLiteStore(tmp_path / "j.db", create_schema=True)
    service = AsyncJourneyService(JourneyMachine(templates.aida()), store)
    held = threading.Event()
    release = threading.Event()

    async def hold() -> None:
        async with store.transaction():
            held.set()
            while not release.is_set():
                await asyncio.sleep(0.01)

    other = threading.Thread(target=lambda: asyncio.run(hold()))
    other.start()
    try:
        assert held.wait(10)
        with pytest.raises(StoreError, match="another event loop"):
            asyncio.run(service.handle("c-1", "engage"))
    finally:
        release.set()
        other.join(10)
    assert asyncio.run(service.handle("c-1", "engage")).moved  # idle again: served
    asyncio.run(store.close())


@pytest.mark.parametrize("write", [False, True])
def test_close_waits_for_another_task_s_open_transaction(tmp_path: Path, write: bool) -> None:
    """A read transaction whose connection was closed under it failed with a raw
    ``sqlite3.ProgrammingError`` (and a write one was rolled back by the close)."""
    store = AsyncSQLiteStore(tmp_path / "j.db", create_schema=True)
    service = AsyncJourneyService(JourneyMachine(templates.aida()), store)

    async def main() -> tuple[object, str]:
        await service.handle("c-1", "engage")
        opened = asyncio.Event()

        async def use() -> object:
            async with store.transaction(write=write) as tx:
                await tx.load("aida", "c-1")
                opened.set()
                await asyncio.sleep(0.05)
                row = await tx.load("aida", "c-1")
            return row

        task = asyncio.create_task(use())
        await opened.wait()
        late = asyncio.create_task(service.handle("c-1", "want"))  # waits, then refused
        await store.close()
        with pytest.raises(StoreError, match="is closed"):
            await late
        with pytest.raises(StoreError, match="inside a transaction"):
            other = AsyncSQLiteStore(tmp_path / "k.db", create_schema=True)
            try:
                async with other.transaction():
                    await other.close()
            finally:
                await other.close()
        return await task, "done"

    row, _ = asyncio.run(main())
    assert getattr(row, "stage", None) == "interest"
