"""The Django shop's payment webhook through journeyfsm against a bare status-row upsert
endpoint of the same project, server and database, in one run (issue 18).

    .venv/bin/python benchmarks/django_shop.py            # SQLite, then PostgreSQL (pgserver)
    .venv/bin/python benchmarks/django_shop.py --sqlite-only
    .venv/bin/python benchmarks/django_shop.py --pg-dsn postgresql://...   # that server

The shop (examples/django_shop/) is served by ``manage.py runserver --noreload`` (threaded)
on 127.0.0.1; no worker runs (the effects wait in the outbox), so both endpoints do only
their request's work.  First, orders are placed for fresh customers (not timed); then
``ROUNDS`` alternating rounds send ``N`` requests each, ``CONCURRENCY`` at a time, from one
httpx client: the webhook (``POST /webhooks/payment``: the order row locked, the journey
moved with its event id, history, outbox row, the order marked paid, one ``atomic()``),
and the baseline (``POST /status-rows/ID``: ``update_or_create`` of one row in
``atomic()``).  Printed per database: requests/s (median of the rounds), p50 and p99
latency over all rounds, and the ratio journeyfsm / bare (the issue's goal: >= 0.9).
A measurement to run by hand, not a gate.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the shop's process helpers

import httpx  # noqa: E402
from django_shop_support import Shop  # noqa: E402

N, ROUNDS, CONCURRENCY = 200, 3, 8


async def _timed(
    client: httpx.AsyncClient, requests: list[tuple[str, dict[str, Any]]]
) -> tuple[float, list[float]]:
    gate = asyncio.Semaphore(CONCURRENCY)
    latencies: list[float] = []

    async def one(url: str, body: dict[str, Any]) -> None:
        async with gate:
            start = time.perf_counter()
            r = await client.post(url, json=body)
            latencies.append(time.perf_counter() - start)
            if r.status_code != 200:
                raise RuntimeError(f"{url}: {r.status_code} {r.text[:200]}")

    start = time.perf_counter()
    await asyncio.gather(*(one(u, b) for u, b in requests))
    return len(requests) / (time.perf_counter() - start), latencies


async def _prepare(client: httpx.AsyncClient, run: str, count: int) -> list[dict[str, Any]]:
    """``count`` customers with a placed order each: the webhooks to send."""
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one(i: int) -> dict[str, Any]:
        cid = f"{run}-{i}"
        async with gate:
            await client.post("/customers", json={"id": cid, "email": f"{cid}@example.com"})
            item = {"sku": "mug", "qty": 1, "price": 1000 + i}
            await client.post(f"/customers/{cid}/cart", json={"items": [item]})
            order = (await client.post(f"/customers/{cid}/orders", json={})).json()
        return {"event_id": f"psp-{cid}", "order": order["order"], "amount": order["total"]}

    return list(await asyncio.gather(*(one(i) for i in range(count))))


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] * 1000


async def _measure(shop: Shop) -> dict[str, Any]:
    run = uuid.uuid4().hex[:6]
    limits = httpx.Limits(max_connections=CONCURRENCY)
    async with httpx.AsyncClient(base_url=shop.url, timeout=60, limits=limits) as client:
        hooks = await _prepare(client, run, N * ROUNDS)
        rates: dict[str, list[float]] = {"journeyfsm": [], "bare": []}
        lat: dict[str, list[float]] = {"journeyfsm": [], "bare": []}
        for r in range(ROUNDS):
            batch = [("/webhooks/payment", h) for h in hooks[r * N : (r + 1) * N]]
            bare = [
                (f"/status-rows/{run}-{r}-{i}", {"event_id": f"e-{i}", "status": "paid"})
                for i in range(N)
            ]
            # alternate which goes first, so neither always runs on a warmer server
            order = [("journeyfsm", batch), ("bare", bare)]
            for name, requests in order if r % 2 == 0 else order[::-1]:
                rate, latencies = await _timed(client, requests)
                rates[name].append(rate)
                lat[name].extend(latencies)
    out: dict[str, Any] = {}
    for name in rates:
        out[name] = {
            "rps": statistics.median(rates[name]),
            "p50_ms": _pct(lat[name], 0.50),
            "p99_ms": _pct(lat[name], 0.99),
        }
    out["ratio"] = out["journeyfsm"]["rps"] / out["bare"]["rps"]
    return out


def _run(label: str, folder: Path, pg_dsn: str | None) -> dict[str, Any]:
    shop = Shop(folder / "bench.db", smtp_port=1, pg_dsn=pg_dsn)  # no worker: no mail sent
    try:
        shop.start_server()
        result = asyncio.run(_measure(shop))
    finally:
        shop.stop()
    j, b = result["journeyfsm"], result["bare"]
    print(
        f"{label:<10} webhook via journeyfsm {j['rps']:7.1f} req/s (p50 {j['p50_ms']:.1f} ms, "
        f"p99 {j['p99_ms']:.1f} ms) | bare upsert {b['rps']:7.1f} req/s (p50 "
        f"{b['p50_ms']:.1f} ms, p99 {b['p99_ms']:.1f} ms) | ratio {result['ratio']:.2f}",
        flush=True,
    )
    return result


def _fresh_pg_database(dsn: str) -> str:
    import psycopg

    name = f"shop_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    info = psycopg.conninfo.conninfo_to_dict(dsn)
    info["dbname"] = name
    return str(psycopg.conninfo.make_conninfo(**info))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sqlite-only", action="store_true")
    parser.add_argument("--pg-dsn", help="a PostgreSQL server (default: one from pgserver)")
    args = parser.parse_args(argv)
    print(
        f"Django shop, runserver on 127.0.0.1, {ROUNDS} rounds x {N} requests, "
        f"{CONCURRENCY} concurrent",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="journeyfsm-django-bench-") as tmp:
        _run("SQLite", Path(tmp), None)
        if args.sqlite_only:
            return 0
        server = None
        dsn = args.pg_dsn
        if dsn is None:
            import pgserver

            server = pgserver.get_server(Path(tmp) / "pg", cleanup_mode="stop")
            dsn = server.get_uri()
        try:
            _run("PostgreSQL", Path(tmp), _fresh_pg_database(dsn))
        finally:
            if server is not None:
                server.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
