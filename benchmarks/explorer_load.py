"""The explorer's overview under load: 50 concurrent clients for 20 s over a PostgreSQL
store of 100,000 journeys (issue 21; the goal: p99 under 1 s).

    .venv/bin/python benchmarks/explorer_load.py                  # about 2 minutes
    .venv/bin/python benchmarks/explorer_load.py --refresh 5 0    # also without the cache
    .venv/bin/python benchmarks/explorer_load.py --journeys 2000 --clients 5 --seconds 2

What it does: creates a database of its own on the server ``JOURNEYFSM_PG_DSN`` names
(else a throw-away one, as ``benchmarks/run.py``'s figures), imports ``--journeys``
journeys of the demo's definition into it (random walks of 1 to 12 moves; no outbox
rows), starts ``journeyfsm serve`` on 127.0.0.1 as a separate process, and for each
``--refresh`` value runs ``--clients`` clients that each GET the overview, one request
after another, until ``--seconds`` have passed (every client stops at the deadline: the
run is bounded).  It prints, per run, the requests answered, their status codes and
the latency percentiles (nearest rank), and the time of one cold overview (the database
counting everything once, with nothing kept).  The database is dropped at the end.

The server, the database and the clients share this machine's cores: on a machine
shared with other work the figures are noisy; compare runs of one invocation.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psycopg
from psycopg.conninfo import make_conninfo

from benchmarks.figures_service import pg_dsn
from journeyfsm import JourneyMachine, JourneyService
from journeyfsm.cli._demo import WEIGHTS, demo_definition
from journeyfsm.stores import PostgresStore

ROOT = Path(__file__).resolve().parents[1]
T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
CHUNK = 5000


def fill(dsn: str, journeys: int, seed: int = 21) -> float:
    """Import ``journeys`` random walks through the demo's definition; seconds taken."""
    started = time.perf_counter()
    machine = JourneyMachine(demo_definition())
    d = machine.definition
    rng = random.Random(seed)
    store = PostgresStore(dsn, create_schema=True)
    service = JourneyService(machine, store)
    finals = set(d.final_stages)
    try:
        for first in range(0, journeys, CHUNK):
            batch = []
            for n in range(first, min(first + CHUNK, journeys)):
                at = T0 + timedelta(minutes=rng.randint(0, 60 * 24 * 60))
                data = {"email": f"c{n}@example.com", "plan": rng.choice(["free", "pro"])}
                journey = machine.start(f"c{n:06d}", data, at=at)
                for _ in range(rng.randint(1, 12)):
                    if journey.stage in finals:
                        break
                    allowed = d.triggers_from(journey.stage)
                    trigger = rng.choices(allowed, [WEIGHTS.get(t, 1.0) for t in allowed])[0]
                    at += timedelta(hours=rng.randint(1, 72))
                    machine.fire(journey, trigger, {"payment": "captured"}, at=at)
                batch.append(journey)
            service.import_journeys(batch)
    finally:
        store.close()
    return time.perf_counter() - started


def start_server(dsn: str, refresh: float) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "journeyfsm",
            "serve",
            "--db",
            dsn,
            "--port",
            "0",
            "--refresh",
            str(refresh),
        ],
        stdout=subprocess.PIPE,
        # uvicorn logs the requests it cancels at shutdown (those still running at the
        # end of an overloaded run): not this benchmark's output
        stderr=subprocess.DEVNULL,
        text=True,
        cwd=ROOT,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("journeyfsm explorer on http://127.0.0.1:"):
        proc.kill()
        raise RuntimeError(f"journeyfsm serve did not start (run it by hand to see why): {line!r}")
    return proc, line.split()[3]


def stop_server(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(30)
    if proc.stdout is not None:
        proc.stdout.close()


def _rank(ordered: list[float], permille: int) -> float:
    """The nearest-rank percentile of sorted ``ordered`` (rank ceil(n * p), in integers)."""
    return ordered[max(0, -(-len(ordered) * permille // 1000) - 1)]


class Connection:
    """One keep-alive HTTP/1.1 connection: GET, read the status line, headers and the
    ``Content-Length`` body.  A client this small costs the load almost no CPU of its
    own, so the figures are the server's (httpx spends about a millisecond per request)."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def get(self, path: str) -> int:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        request = f"GET {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n\r\n"
        self.writer.write(request.encode())
        await self.writer.drain()
        status = int((await self.reader.readline()).split()[1])
        length = 0
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            if name.lower() == "content-length":
                length = int(value)
        await self.reader.readexactly(length)
        return status

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            await self.writer.wait_closed()


async def load(url: str, clients: int, seconds: float) -> dict[str, Any]:
    """``clients`` clients GET the overview back to back until ``seconds`` have passed."""
    path = "/overview?definition=demo-shop"
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    latencies: list[float] = []
    statuses: Counter[str] = Counter()
    first = Connection(host, port)
    cold_started = time.perf_counter()
    status = await first.get(path)
    cold = time.perf_counter() - cold_started
    await first.close()
    if status != 200:
        raise RuntimeError(f"the overview answered {status}")
    deadline = time.perf_counter() + seconds

    async def one_client() -> None:
        conn = Connection(host, port)
        try:
            while time.perf_counter() < deadline:
                t = time.perf_counter()
                try:
                    statuses[str(await asyncio.wait_for(conn.get(path), 60))] += 1
                except (OSError, ValueError, IndexError, asyncio.TimeoutError) as err:
                    statuses[type(err).__name__] += 1
                    await conn.close()
                    conn = Connection(host, port)
                latencies.append(time.perf_counter() - t)
        finally:
            await conn.close()

    started = time.perf_counter()
    await asyncio.gather(*(one_client() for _ in range(clients)))
    elapsed = time.perf_counter() - started
    ordered = sorted(latencies)
    return {
        "clients": clients,
        "seconds": round(elapsed, 2),
        "requests": len(ordered),
        "per_second": round(len(ordered) / elapsed, 1),
        "statuses": dict(statuses),
        "cold_overview_s": round(cold, 3),
        "p50_s": round(_rank(ordered, 500), 4),
        "p90_s": round(_rank(ordered, 900), 4),
        "p99_s": round(_rank(ordered, 990), 4),
        "max_s": round(ordered[-1], 4),
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--journeys", type=int, default=100_000)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument(
        "--refresh",
        type=float,
        nargs="+",
        default=[5.0],
        help="the server's --refresh for each run (5; 0: count on every request)",
    )
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args(argv)
    if args.journeys < 1 or args.clients < 1 or not 0 < args.seconds <= 600:
        parser.error("--journeys and --clients at least 1, --seconds in (0, 600]")
    server = pg_dsn()
    name = f"explorer_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    dsn = make_conninfo(server, dbname=name)
    results: dict[str, Any] = {"journeys": args.journeys, "runs": []}
    try:
        results["fill_s"] = round(fill(dsn, args.journeys), 1)
        for refresh in args.refresh:
            proc, url = start_server(dsn, refresh)
            try:
                run = asyncio.run(load(url, args.clients, args.seconds))
            finally:
                stop_server(proc)
            results["runs"].append({"refresh": refresh, **run})
    finally:
        with psycopg.connect(server, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    if args.json:
        print(json.dumps(results, indent=2))
        return results
    print(
        f"explorer overview, {args.journeys:,} journeys on PostgreSQL (imported in "
        f"{results['fill_s']} s), {args.clients} clients for {args.seconds:g} s each run:"
    )
    for r in results["runs"]:
        print(
            f"  --refresh {r['refresh']:g}: {r['requests']} requests ({r['per_second']}/s), "
            f"status {r['statuses']}; latency p50 {r['p50_s'] * 1000:.0f} ms, p90 "
            f"{r['p90_s'] * 1000:.0f} ms, p99 {r['p99_s'] * 1000:.0f} ms, max "
            f"{r['max_s'] * 1000:.0f} ms; one cold overview {r['cold_overview_s'] * 1000:.0f} ms"
        )
    return results


if __name__ == "__main__":
    main()
