"""AsyncPostgresStore against PostgresStore, and concurrency over its pool (issue 17).

    .venv/bin/python benchmarks/async_postgres.py    # about 20 seconds

Prints, as medians of 5 alternating rounds of 400 events (each the first move of a new
journey: no conflicts): the sync ``handle`` one at a time, the async ``handle`` one at a
time, 50 tasks over a pool of 10 connections, and the same statements as raw psycopg (the
floor the store cannot go under: psycopg's own async cost), one at a time and from 50
tasks over 10 connections (the most concurrency can give on this machine with no library
code at all).  The server is
``JOURNEYFSM_PG_DSN``, else a throw-away one (as ``benchmarks/run.py``'s figures).
Not a figure of the table: a measurement to run by hand.

Beside each wall time per event: the CPU this process spent per event (all its threads;
asyncio runs on one, under the GIL), the CPU the PostgreSQL server's processes spent per
event (read from /proc: the postmaster's children), and the WAL flushes per event
(``pg_stat_wal.wal_sync``: below 1 when commits share a flush, group commit).  What bounds
the 50-task throughput follows from them: one event costs at least ``client`` on the one
core asyncio uses, and ``client + server`` over the machine's cores.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psycopg

from benchmarks.figures_service import pg_dsn
from journeyfsm import AsyncJourneyService, JourneyMachine, JourneyService, templates
from journeyfsm.stores import AsyncPostgresStore, PostgresStore

N, ROUNDS = 400, 5
MACHINE = JourneyMachine(templates.aida())


def _events() -> list[tuple[str, str]]:
    run = uuid.uuid4().hex[:8]
    return [(f"{run}-{i}", f"{run}/{i}") for i in range(N)]


_TICK = os.sysconf("SC_CLK_TCK")


def _server_pids() -> list[int]:
    """The PostgreSQL server's processes: its postmaster and the postmaster's children."""
    with psycopg.connect(pg_dsn(), autocommit=True) as conn:  # its backend's parent
        backend = conn.execute("SELECT pg_backend_pid()").fetchone()[0]  # type: ignore[index]
        stat = Path(f"/proc/{backend}/stat").read_text()
    postmaster = int(stat.rsplit(")", 1)[1].split()[1])
    pids = [postmaster]
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == postmaster:
                pids.append(int(entry.name))
    return pids


def _server_cpu() -> float:
    """CPU seconds the server's processes have used (those alive now)."""
    total = 0
    for pid in _server_pids():
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12]) + int(fields[13]) + int(fields[14])
    return total / _TICK


def _wal_syncs() -> int:
    with psycopg.connect(pg_dsn(), autocommit=True) as conn:
        return int(conn.execute("SELECT wal_sync FROM pg_stat_wal").fetchone()[0])  # type: ignore[index]


def _costs(run: Callable[[], float]) -> tuple[float, float, float, float]:
    """``run()``'s wall time per event, with the client's and the server's CPU per event
    (µs) and the WAL flushes per event."""
    cpu, server, syncs = time.process_time(), _server_cpu(), _wal_syncs()
    wall = run()
    client = (time.process_time() - cpu) / N * 1e6
    return wall, client, (_server_cpu() - server) / N * 1e6, (_wal_syncs() - syncs) / N


def sync_handle(prefix: str) -> float:
    store = PostgresStore(pg_dsn(), prefix=prefix, max_size=10)
    service = JourneyService(MACHINE, store)
    events = _events()
    start = time.perf_counter()
    for key, event_id in events:
        service.handle(key, "engage", event_id=event_id)
    took = time.perf_counter() - start
    store.close()
    return took / N * 1e6


async def async_handle(prefix: str, tasks: int) -> float:
    store = await AsyncPostgresStore(pg_dsn(), prefix=prefix, min_size=10, max_size=10).open()
    service = AsyncJourneyService(MACHINE, store)
    events = iter(_events())

    async def worker() -> None:
        for key, event_id in events:  # shared: each event taken by one task
            await service.handle(key, "engage", event_id=event_id)

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(tasks)))
    took = time.perf_counter() - start
    await store.close()
    return took / N * 1e6


# the statements of one handle as the stores send them: one read (the row, its last seq
# and the event id), then one data-modifying CTE in autocommit (journey, history, event id)
_READ = (
    "SELECT j.v, (SELECT max(seq) FROM {h} WHERE d = %(d)s AND k = %(k)s), (SELECT seq FROM "
    "{e} WHERE d = %(d)s AND k = %(k)s AND e = %(e)s) FROM (SELECT 1) AS one LEFT JOIN {j} j "
    "ON j.d = %(d)s AND j.k = %(k)s"
)
_WRITE = (
    "WITH j AS (INSERT INTO {j} VALUES (%(d)s, %(k)s, 1) ON CONFLICT DO NOTHING RETURNING 1), "
    "h AS (INSERT INTO {h} SELECT %(d)s, %(k)s, 1 FROM j), "
    "e AS (INSERT INTO {e} SELECT %(d)s, %(k)s, %(e)s, 1 FROM j) SELECT count(*) FROM j"
)


def _raw_tables(prefix: str) -> dict[str, str]:
    names = {t: f"{prefix}raw_{t}" for t in "jhe"}
    with psycopg.connect(pg_dsn(), autocommit=True) as conn:
        conn.execute(f"CREATE TABLE {names['j']} (d text, k text, v int, PRIMARY KEY (d, k))")
        conn.execute(
            f"CREATE TABLE {names['h']} (d text, k text, seq int, PRIMARY KEY (d, k, seq))"
        )
        conn.execute(
            f"CREATE TABLE {names['e']} (d text, k text, e text, seq int, PRIMARY KEY (d, k, e))"
        )
    return names


def raw_sync(t: dict[str, str]) -> float:
    """The statements of one handle (one read, one write), in autocommit."""
    read, write = _READ.format(**t), _WRITE.format(**t)
    with psycopg.connect(pg_dsn(), autocommit=True) as conn:
        events = _events()
        start = time.perf_counter()
        for key, event_id in events:
            params = {"d": "a", "k": key, "e": event_id}
            conn.execute(read, params).fetchone()
            conn.execute(write, params).fetchone()
        return (time.perf_counter() - start) / N * 1e6


async def raw_async(t: dict[str, str], tasks: int = 1) -> float:
    """The same from ``tasks`` tasks, each on a connection of its own (at most 10, as
    the pool): the floor of the 50-task figure, with no pool and no library at all."""
    read, write = _READ.format(**t), _WRITE.format(**t)
    conns = [
        await psycopg.AsyncConnection.connect(pg_dsn(), autocommit=True)
        for _ in range(min(tasks, 10))
    ]
    free: asyncio.Queue[psycopg.AsyncConnection[Any]] = asyncio.Queue()
    for conn in conns:
        free.put_nowait(conn)
    events = iter(_events())

    async def worker() -> None:
        for key, event_id in events:  # shared: each event taken by one task
            params = {"d": "a", "k": key, "e": event_id}
            conn = await free.get()
            await (await conn.execute(read, params)).fetchone()
            await (await conn.execute(write, params)).fetchone()
            free.put_nowait(conn)

    try:
        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(tasks)))
        return (time.perf_counter() - start) / N * 1e6
    finally:
        for conn in conns:
            await conn.close()


def main() -> None:
    with psycopg.connect(pg_dsn(), autocommit=True) as conn:
        settings = {
            name: conn.execute(f"SHOW {name}").fetchone()[0]  # type: ignore[index]
            for name in ("server_version", "fsync", "synchronous_commit", "wal_sync_method")
        }
    print("server:", ", ".join(f"{k}={v}" for k, v in settings.items()))
    prefix = f"abench{uuid.uuid4().hex[:6]}_"
    PostgresStore(pg_dsn(), prefix=prefix, create_schema=True).close()
    raw = _raw_tables(prefix)
    runs: dict[str, Callable[[], float]] = {
        "sync handle, one at a time": lambda: sync_handle(prefix),
        "async handle, one at a time": lambda: asyncio.run(async_handle(prefix, 1)),
        "async handle, 50 tasks, pool of 10": lambda: asyncio.run(async_handle(prefix, 50)),
        "raw psycopg, sync": lambda: raw_sync(raw),
        "raw psycopg, async": lambda: asyncio.run(raw_async(raw)),
        "raw psycopg, async, 50 tasks": lambda: asyncio.run(raw_async(raw, 50)),
    }
    got: dict[str, list[tuple[float, float, float, float]]] = {name: [] for name in runs}
    for _ in range(ROUNDS):
        for name, run in runs.items():
            got[name].append(_costs(run))
    med: dict[str, Any] = {name: statistics.median(v[0] for v in got[name]) for name in got}
    print(f"{'':36} {'wall':>6}  {'client CPU':>10} {'server CPU':>10} {'WAL flushes':>11}")
    for name, values in got.items():
        client, server, syncs = (statistics.median(v[i] for v in values) for i in (1, 2, 3))
        print(
            f"{name:36} {med[name]:6.0f}  {client:10.0f} {server:10.0f} {syncs:11.2f}"
            f"   us/event; walls {[round(v[0]) for v in values]}"
        )
    one, many = med["async handle, one at a time"], med["async handle, 50 tasks, pool of 10"]
    print(f"async / sync handle, one at a time   {one / med['sync handle, one at a time']:.2f}x")
    print(
        f"raw psycopg async / sync             {med['raw psycopg, async'] / med['raw psycopg, sync']:.2f}x"
    )
    print(f"throughput, 50 tasks / one task      {one / many:.2f}x")
    floor = med["raw psycopg, async"] / med["raw psycopg, async, 50 tasks"]
    print(f"the same, raw psycopg (the floor)    {floor:.2f}x")


if __name__ == "__main__":
    main()
