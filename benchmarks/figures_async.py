"""Async service figures (issue 17): ``AsyncJourneyService`` against ``JourneyService``
on the same workload, store and logging as the ``service.*`` figures (production logging:
structlog JSON to a sink, event ids on, history kept).

``async.handle_sqlite`` is ``await AsyncJourneyService.handle`` one event at a time on an
``AsyncSQLiteStore`` (reads inline on the loop, the write transaction one hand-off to the
store's thread); ``async.handle_many_sqlite`` hands the same events to ``handle_many``
(batches of 100).  Their ratios to ``service.handle_sqlite`` and
``service.handle_many_sqlite`` are the issue's goals.  The PostgreSQL twins use the server
of the ``service.*_pg`` figures; ``async.handle_pg_50_tasks`` runs 50 tasks over a pool of
10 connections.  Each SQLite sample runs in a new event loop (``asyncio.run``), made before
the clock starts; a PostgreSQL figure keeps one loop and one pool for all its samples
(``_Pool``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from itertools import count
from typing import Any

from journeyfsm import AsyncJourneyService, Event
from journeyfsm.stores import AsyncSQLiteStore

from .contenders import HOST, fresh_event_ids, journeyfsm_machine
from .figures_service import _OPEN, FIRST, _db, _keys, _logging, pg_dsn
from .harness import Settings, Timer, timed

__all__: list[str] = []

_PREFIXES = count()


def _timed_in_loop(
    store: Any, body: Callable[[AsyncJourneyService, int], Awaitable[float]]
) -> Timer:
    """A timer whose samples run ``body(service, loops)`` in a fresh loop on ``store``."""
    _logging(True)
    service = AsyncJourneyService(journeyfsm_machine(HOST), store)

    def run(loops: int) -> float:
        _logging(True)
        return asyncio.run(body(service, loops))

    return run


async def _one_at_a_time(service: AsyncJourneyService, loops: int) -> float:
    keys, ids = _keys(loops), fresh_event_ids(loops)
    handle = service.handle
    t0 = time.perf_counter()
    for key, event_id in zip(keys, ids, strict=True):
        await handle(key, FIRST, event_id=event_id)
    return time.perf_counter() - t0


async def _batches(service: AsyncJourneyService, loops: int) -> float:
    events = [
        Event(key, FIRST, event_id=event_id)
        for key, event_id in zip(_keys(loops), fresh_event_ids(loops), strict=True)
    ]
    t0 = time.perf_counter()
    await service.handle_many(events)
    return time.perf_counter() - t0


def _tasks(n: int) -> Callable[[AsyncJourneyService, int], Awaitable[float]]:
    async def body(service: AsyncJourneyService, loops: int) -> float:
        todo = iter(zip(_keys(loops), fresh_event_ids(loops), strict=True))

        async def worker() -> None:
            for key, event_id in todo:  # shared: each event taken by one task
                await service.handle(key, FIRST, event_id=event_id)

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(n)))
        return time.perf_counter() - t0

    return body


def _sqlite() -> AsyncSQLiteStore:
    return AsyncSQLiteStore(_db("async"), create_schema=True)


@timed(
    "async",
    "handle_sqlite",
    unit="us/event",
    description="AsyncJourneyService.handle on AsyncSQLiteStore, one at a time, production logging",
)
def async_handle_sqlite(settings: Settings) -> Timer:
    return _timed_in_loop(_sqlite(), _one_at_a_time)


@timed(
    "async",
    "handle_many_sqlite",
    unit="us/event",
    description="AsyncJourneyService.handle_many on AsyncSQLiteStore (batches of 100)",
)
def async_handle_many_sqlite(settings: Settings) -> Timer:
    return _timed_in_loop(_sqlite(), _batches)


class _Pool:
    """An ``AsyncPostgresStore`` that lives as long as the figure, as a service's pool
    lives as long as its process: the figure keeps one event loop (a pool belongs to one
    loop) and runs every sample in it, so its connections and their backends are warm
    after the calibration, in the one-task figure and the 50-task one alike.  (Until
    issue 17's third round each sample ran in a new loop with a new pool: a 50-task
    sample of ~100 events then also paid ten new backends' first statements, and the
    figure measured that more than concurrency.)"""

    def __init__(self, prefix: str, size: int) -> None:
        from journeyfsm.stores import PostgresStore

        PostgresStore(pg_dsn(), prefix=prefix, create_schema=True).close()
        self.prefix, self.size = prefix, size

    def timer(self, body: Callable[[AsyncJourneyService, int], Awaitable[float]]) -> Timer:
        from journeyfsm.stores import AsyncPostgresStore

        _logging(True)
        machine = journeyfsm_machine(HOST)
        loop = asyncio.new_event_loop()
        store = AsyncPostgresStore(
            pg_dsn(), prefix=self.prefix, min_size=self.size, max_size=self.size
        )
        loop.run_until_complete(store.open())
        service = AsyncJourneyService(machine, store)
        _OPEN.append(_LoopAndStore(loop, store))

        def run(loops: int) -> float:
            _logging(True)
            return loop.run_until_complete(body(service, loops))

        return run


class _LoopAndStore:
    """Closes a figure's store in its loop, then the loop (at exit, as figures_service's
    stores are)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, store: Any) -> None:
        self.loop, self.store = loop, store

    def close(self) -> None:
        self.loop.run_until_complete(self.store.close())
        self.loop.close()


def _pg(size: int) -> _Pool:
    return _Pool(f"abench{next(_PREFIXES)}_", size)


@timed(
    "async",
    "handle_pg",
    unit="us/event",
    description="AsyncJourneyService.handle on AsyncPostgresStore, one at a time, production logging",
)
def async_handle_pg(settings: Settings) -> Timer:
    return _pg(1).timer(_one_at_a_time)


@timed(
    "async",
    "handle_pg_50_tasks",
    unit="us/event",
    description="the same from 50 concurrent tasks over a pool of 10 connections",
)
def async_handle_pg_50_tasks(settings: Settings) -> Timer:
    return _pg(10).timer(_tasks(50))


@timed(
    "async",
    "handle_many_pg",
    unit="us/event",
    description="AsyncJourneyService.handle_many on AsyncPostgresStore (batches of 100)",
)
def async_handle_many_pg(settings: Settings) -> Timer:
    return _pg(1).timer(_batches)
