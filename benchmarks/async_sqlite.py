"""AsyncSQLiteStore against SQLiteStore, one event at a time and in batches (issue 17).

    .venv/bin/python benchmarks/async_sqlite.py    # about 30 seconds

Prints, as medians of 5 alternating rounds of 300 events (each the first move of a new
journey: no conflicts), the µs per event of: the sync ``handle`` one at a time, the async
``handle`` one at a time (its read inline, its write one hand-off to the store's thread), and
``handle_many`` in batches of 100 on both; then the async / sync ratios (the issue's goals:
``handle`` <= 1.3x, ``handle_many`` <= 1.2x).  Each figure is the wall time and, after a
slash, the CPU time of this process (all its threads: ``time.process_time``), which the
disk's fsync does not stretch: on a machine whose disk other jobs keep busy the wall
times measure the disk, the CPU times still the code.  Each round writes a fresh file in
a temporary folder (WAL, ``synchronous=FULL`` as the store sets it).  Not a figure of the
table: a measurement to run by hand.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from journeyfsm import AsyncJourneyService, Event, JourneyMachine, JourneyService, templates
from journeyfsm.stores import AsyncSQLiteStore, SQLiteStore

N, ROUNDS, BATCH = 300, 5, 100
MACHINE = JourneyMachine(templates.aida())


def _events() -> list[Event]:
    run = uuid.uuid4().hex[:8]
    return [Event(f"{run}-{i}", "engage", event_id=f"{run}/{i}") for i in range(N)]


def sync_run(folder: Path, batch: bool) -> tuple[float, float]:
    store = SQLiteStore(folder / f"{uuid.uuid4().hex}.db", create_schema=True)
    service = JourneyService(MACHINE, store)
    events = _events()
    start, cpu = time.perf_counter(), time.process_time()
    if batch:
        service.handle_many(events, batch_size=BATCH)
    else:
        for e in events:
            service.handle(e.key, e.trigger, event_id=e.event_id)
    took, spent = time.perf_counter() - start, time.process_time() - cpu
    store.close()
    return took / N * 1e6, spent / N * 1e6


async def async_run(folder: Path, batch: bool) -> tuple[float, float]:
    store = AsyncSQLiteStore(folder / f"{uuid.uuid4().hex}.db", create_schema=True)
    service = AsyncJourneyService(MACHINE, store)
    events = _events()
    start, cpu = time.perf_counter(), time.process_time()
    if batch:
        await service.handle_many(events, batch_size=BATCH)
    else:
        for e in events:
            await service.handle(e.key, e.trigger, event_id=e.event_id)
    took, spent = time.perf_counter() - start, time.process_time() - cpu
    await store.close()
    return took / N * 1e6, spent / N * 1e6


def main() -> None:
    figures: dict[str, list[tuple[float, float]]] = {
        "sync handle": [],
        "async handle": [],
        "sync handle_many": [],
        "async handle_many": [],
    }
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for _ in range(ROUNDS):
            figures["sync handle"].append(sync_run(folder, batch=False))
            figures["async handle"].append(asyncio.run(async_run(folder, batch=False)))
            figures["sync handle_many"].append(sync_run(folder, batch=True))
            figures["async handle_many"].append(asyncio.run(async_run(folder, batch=True)))
    wall = {name: statistics.median(v[0] for v in values) for name, values in figures.items()}
    cpu = {name: statistics.median(v[1] for v in values) for name, values in figures.items()}
    for name in figures:
        print(f"{name:<20} {wall[name]:9.1f} / {cpu[name]:7.1f} us/event (wall / CPU)")
    for what, goal in (("handle", 1.3), ("handle_many", 1.2)):
        a, s = f"async {what}", f"sync {what}"
        print(
            f"async / sync {what:<12} {wall[a] / wall[s]:.2f}x wall, {cpu[a] / cpu[s]:.2f}x CPU "
            f"(goal <= {goal})"
        )


if __name__ == "__main__":
    main()
