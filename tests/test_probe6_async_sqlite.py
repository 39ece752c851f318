"""AsyncSQLiteStore across processes and event loops.

A child of ``os.fork()`` has a copy of the store but not its worker thread: every call
handed to it waited forever (a pre-forking server hung); now each use is a
``StoreError`` saying to make a store in the child."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
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
