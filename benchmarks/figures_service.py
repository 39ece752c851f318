"""Service figures: a durable move on SQLite against the bare transaction it must beat.

``service.handle_sqlite`` is ``JourneyService.handle`` for an event that moves a journey
(load, idempotency check, decide, and one transaction writing the journey row, the
history row and the event id).  ``service.bare_sqlite`` is the least a host writing its
own persistence could do on the same database: one transaction that upserts one row and
inserts one history row.  ``service.handle_many_sqlite`` hands the same events to
``handle_many`` (batched commits).  Production logging (structlog JSON to a sink) is the
headline; the filtered configuration is beside it.  Every figure uses its own SQLite file
in a temporary folder (WAL), so all of them pay the same fsync policy.
"""

from __future__ import annotations

import json
import os
import sqlite3
import tempfile
import time
from itertools import count

from journeyfsm import Event, JourneyService
from journeyfsm.stores import SQLiteStore

from .contenders import HOST, configure_host_logging, fresh_event_ids, journeyfsm_machine
from .harness import Settings, Timer, timed
from .workload import CYCLE

__all__: list[str] = []

_KEYS = count()
FIRST = CYCLE[0]  # moves a journey out of its initial stage


def _db(name: str) -> str:
    return os.path.join(tempfile.mkdtemp(prefix="journeyfsm-bench-"), f"{name}.db")


def _keys(n: int) -> list[str]:
    start = next(_KEYS) * 10_000_000
    return [f"customer-{start + i}" for i in range(n)]


def _handle(production: bool) -> Timer:
    if production:
        configure_host_logging()
    machine = journeyfsm_machine(HOST) if production else journeyfsm_machine()
    service = JourneyService(machine, SQLiteStore(_db("handle"), create_schema=True))

    def run(loops: int) -> float:
        keys, ids = _keys(loops), fresh_event_ids(loops)
        handle = service.handle
        t0 = time.perf_counter()
        for key, event_id in zip(keys, ids, strict=True):
            handle(key, FIRST, event_id=event_id)
        return time.perf_counter() - t0

    return run


@timed(
    "service",
    "handle_sqlite",
    unit="us/event",
    description="JourneyService.handle on SQLite: a moving event, event id, production logging",
)
def service_handle_sqlite(settings: Settings) -> Timer:
    return _handle(production=True)


@timed(
    "service",
    "handle_sqlite_flattering",
    unit="us/event",
    description="the same with logging filtered",
)
def service_handle_sqlite_flattering(settings: Settings) -> Timer:
    return _handle(production=False)


@timed(
    "service",
    "handle_many_sqlite",
    unit="us/event",
    description="JourneyService.handle_many on SQLite (batches of 100), production logging",
)
def service_handle_many_sqlite(settings: Settings) -> Timer:
    configure_host_logging()
    service = JourneyService(journeyfsm_machine(HOST), SQLiteStore(_db("many"), create_schema=True))

    def run(loops: int) -> float:
        events = [
            Event(key, FIRST, event_id=event_id)
            for key, event_id in zip(_keys(loops), fresh_event_ids(loops), strict=True)
        ]
        t0 = time.perf_counter()
        service.handle_many(events)
        return time.perf_counter() - t0

    return run


@timed(
    "service",
    "bare_sqlite",
    unit="us/event",
    description="one transaction: upsert one journey row + insert one history row (same DB setup)",
)
def service_bare_sqlite(settings: Settings) -> Timer:
    conn = sqlite3.connect(_db("bare"), isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")  # as SQLiteStore: a committed move survives a crash
    conn.execute(
        "CREATE TABLE journeys (definition TEXT, key TEXT, stage TEXT, data TEXT, "
        "version INTEGER, PRIMARY KEY (definition, key))"
    )
    conn.execute(
        "CREATE TABLE history (definition TEXT, key TEXT, seq INTEGER, trigger TEXT, "
        "source TEXT, dest TEXT, at TEXT, PRIMARY KEY (definition, key, seq))"
    )
    data = json.dumps({"cart": []})

    def run(loops: int) -> float:
        keys = _keys(loops)
        execute = conn.execute
        t0 = time.perf_counter()
        for key in keys:
            execute("BEGIN IMMEDIATE")
            execute(
                "INSERT INTO journeys VALUES ('d', ?, 'b', ?, 1) ON CONFLICT (definition, key) "
                "DO UPDATE SET stage = excluded.stage, data = excluded.data, "
                "version = excluded.version",
                (key, data),
            )
            execute(
                "INSERT INTO history VALUES ('d', ?, 1, 't', 'a', 'b', ?)",
                (key, "2026-01-01T00:00:00+00:00"),
            )
            execute("COMMIT")
        return time.perf_counter() - t0

    return run
