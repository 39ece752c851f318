"""The webhook endpoint through journeyfsm against the same endpoint doing a bare status
upsert, over HTTP (issue 18): same app, same uvicorn server, same database.

    .venv/bin/python benchmarks/fastapi_shop.py    # about a minute: SQLite, then PostgreSQL

The app (``benchmarks.fastapi_shop:app``, this module, served by uvicorn in a subprocess
on 127.0.0.1) is the shop's setup from examples/fastapi_shop (its engine: SQLite WAL with
``BEGIN IMMEDIATE``, or psycopg; a session per request) with two endpoints taking the
payment provider's ``{"event_id", "customer"}``:

- ``/journey``: one transaction: the customer row read, then ``AsyncJourneyService.handle``
  on ``AsyncSessionStore(session)`` (the event id checked, the journey's row, history entry
  and event id written), committed;
- ``/bare``: one transaction: the customer row read (``session.get``, as ``/journey``),
  then one ``INSERT ... ON CONFLICT DO UPDATE`` of a ``payment_status`` row, committed.

Each round sends ``N`` requests (distinct event ids, ``CUSTOMERS`` customers) from
``CONCURRENCY`` httpx clients, alternating the two endpoints over ``ROUNDS`` rounds; prints
requests/s (median of rounds) with p50/p99 latency and the ratio journeyfsm / bare (the
issue's goal: >= 0.9).  Figures go in docs/performance.md by hand.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

N, ROUNDS, CONCURRENCY, CUSTOMERS = 600, 3, 16, 100

# --- the app (imported by uvicorn in the server process) --------------------------------

if os.environ.get("BENCH_SHOP_SERVER") == "1":
    from contextlib import asynccontextmanager

    from fastapi import FastAPI, HTTPException
    from pydantic import BaseModel
    from sqlalchemy import Column, MetaData, String, Table
    from sqlalchemy.dialects import postgresql, sqlite

    from examples.fastapi_shop.db import make_engine, make_sessions
    from examples.fastapi_shop.journey import make_machine
    from examples.fastapi_shop.models import Base, Customer
    from examples.fastapi_shop.settings import load
    from journeyfsm import AsyncJourneyService
    from journeyfsm.contrib.sqlalchemy import AsyncSessionStore

    settings = load()
    engine = make_engine(settings.database_url)
    sessions = make_sessions(engine)
    machine = make_machine(settings, sessions)
    status = Table(
        "payment_status",
        MetaData(),
        Column("customer", String(64), primary_key=True),
        Column("status", String(32), nullable=False),
        Column("event_id", String(200), nullable=False),
    )
    upsert = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with engine.begin() as conn:
            await conn.run_sync(Base.metadata.create_all)
            await conn.run_sync(status.metadata.create_all)
        yield
        await engine.dispose()

    app = FastAPI(lifespan=lifespan)

    class Hook(BaseModel):
        event_id: str
        customer: str

    @app.post("/customers")
    async def customers(body: dict[str, str]) -> dict[str, str]:
        async with sessions.begin() as session:
            session.add(Customer(id=body["id"], email=f"{body['id']}@example.com"))
        return body

    @app.post("/journey")
    async def journey(body: Hook) -> dict[str, Any]:
        async with sessions() as session, session.begin():
            customer = await session.get(Customer, body.customer)
            if customer is None:
                raise HTTPException(404)
            service = AsyncJourneyService(machine, AsyncSessionStore(session))
            outcome = await service.handle(
                customer.id, "product_viewed", {"sku": "x"}, event_id=body.event_id
            )
        return {"status": outcome.status}

    @app.post("/bare")
    async def bare(body: Hook) -> dict[str, Any]:
        async with sessions() as session, session.begin():
            # the customer read exactly as /journey reads it (an ORM entity by primary
            # key), so the pair differs only in the move against the upsert
            customer = await session.get(Customer, body.customer)
            if customer is None:
                raise HTTPException(404)
            statement = upsert(status).values(
                customer=body.customer, status="viewed", event_id=body.event_id
            )
            await session.execute(
                statement.on_conflict_do_update(
                    index_elements=["customer"],
                    set_={"status": statement.excluded.status, "event_id": body.event_id},
                )
            )
        return {"status": "moved"}


# --- the driver -------------------------------------------------------------------------


def _serve(url: str, folder: Path) -> tuple[Any, str]:
    import socket
    import subprocess

    import httpx

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    root = Path(__file__).resolve().parents[1]
    log = open(folder / f"server-{port}.log", "wb")  # noqa: SIM115 - kept with the process
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "benchmarks.fastapi_shop:app",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        cwd=root,
        env={
            **os.environ,
            "PYTHONPATH": str(root),
            "BENCH_SHOP_SERVER": "1",
            "SHOP_DATABASE_URL": url,
            "SHOP_WORKERS_IN_APP": "0",
        },
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(base + "/docs", timeout=1).status_code == 200:
                return proc, base
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline or proc.poll() is not None:
            proc.kill()
            raise RuntimeError("the benchmark server did not start: see " + str(folder))
        time.sleep(0.1)


async def _round(base: str, path: str, customers: list[str]) -> tuple[float, list[float]]:
    import httpx

    run = uuid.uuid4().hex[:8]
    todo = list(range(N))
    latencies: list[float] = []
    async with httpx.AsyncClient(base_url=base, timeout=60) as client:

        async def client_loop() -> None:
            while todo:
                i = todo.pop()
                body = {"event_id": f"{run}-{i}", "customer": customers[i % len(customers)]}
                t0 = time.perf_counter()
                r = await client.post(path, json=body)
                latencies.append(time.perf_counter() - t0)
                assert r.status_code == 200, r.text

        start = time.perf_counter()
        await asyncio.gather(*(client_loop() for _ in range(CONCURRENCY)))
        took = time.perf_counter() - start
    return N / took, latencies


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def measure(kind: str, url: str, folder: Path) -> dict[str, Any]:
    import httpx

    proc, base = _serve(url, folder)
    try:
        customers = [f"b-{i}" for i in range(CUSTOMERS)]
        with httpx.Client(base_url=base, timeout=30) as client:
            for cid in customers:
                client.post("/customers", json={"id": cid})
        results: dict[str, list[tuple[float, list[float]]]] = {"/journey": [], "/bare": []}
        asyncio.run(_round(base, "/bare", customers))  # warm-up
        asyncio.run(_round(base, "/journey", customers))
        for _ in range(ROUNDS):
            for path in ("/journey", "/bare"):
                results[path].append(asyncio.run(_round(base, path, customers)))
    finally:
        proc.terminate()
        proc.wait(30)
    out: dict[str, Any] = {}
    for path, rounds in results.items():
        lat = [x for _, ls in rounds for x in ls]
        out[path] = (statistics.median(r for r, _ in rounds), _pct(lat, 0.5), _pct(lat, 0.99))
    out["ratio"] = out["/journey"][0] / out["/bare"][0]
    return out


def main() -> None:
    folder = Path(tempfile.mkdtemp(prefix="journeyfsm-bench-shop-"))
    targets = [("sqlite", f"sqlite+aiosqlite:///{folder / 'shop.db'}")]
    import psycopg

    from benchmarks.figures_service import pg_dsn

    name = f"bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg_dsn(), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    from sqlalchemy.engine import make_url

    pg = make_url("postgresql+psycopg://" + pg_dsn().split("://", 1)[1]).set(database=name)
    targets.append(("postgres", pg.render_as_string(hide_password=False)))
    print(f"{N} webhook requests per round, {CONCURRENCY} clients, {ROUNDS} rounds")
    try:
        for kind, url in targets:
            r = measure(kind, url, folder)
            for path in ("/journey", "/bare"):
                rps, p50, p99 = r[path]
                print(f"{kind:8} {path:9} {rps:7.0f} req/s  p50 {p50:6.1f} ms  p99 {p99:6.1f} ms")
            print(f"{kind:8} journeyfsm / bare: {r['ratio']:.2f}x  (goal >= 0.9)")
    finally:
        with psycopg.connect(pg_dsn(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
