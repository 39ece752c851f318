"""Replay figures: replaying a shop's event log against merely reading it, and memory.

    .venv/bin/python benchmarks/figures_replay.py                # 1,000,000 events, ~1 min
    .venv/bin/python benchmarks/figures_replay.py --events 100000

Times, in the same run and on the same file: (a) reading the CSV log with ``csv.reader``
(every row, nothing else), (b) ``replay`` on the fast path, (c) ``replay`` through the
engine with one no-op hook; the ratios (b)/(a) (target <= 4, moonshot 2) and (c)/(a).
Peak RSS (``resource.getrusage`` in a fresh subprocess per replay) for 100k and 1M events
with the same number of journeys, and with journeys growing with the log.

The log is a shop funnel from a fixed seed: each customer views pages, may add to the
cart, may pay (with a total), sometimes sends a webhook twice (same event id), scrolls
(an event the journey does not map), and may come back after abandoning the cart.  Rows
are in time order, as logs are written.  The ``replay.*`` figures registered for
``make bench`` run the same measurements at the harness's sizes (``growth_large`` events).
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from journeyfsm import Context, JourneyBuilder, JourneyDefinition, JourneyMachine, guard
from journeyfsm.analytics import LogMapping, replay

__all__ = ["MAPPING", "measure", "peak_rss", "shop", "write_log"]

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
MAPPING = LogMapping(
    key="customer",
    event="event",
    time="ts",
    event_id="event_id",
    payload=("total",),
    meta=("channel",),
    segments=("channel",),
    triggers={
        "page_view": "browse",
        "search": "browse",
        "add_to_cart": "add_to_cart",
        "order_paid": "pay",
        "return_visit": "come_back",
    },
)


@guard
def has_total(ctx: Context) -> bool:
    """the payment names a total"""
    return "total" in ctx.payload


def shop() -> JourneyDefinition:
    """The funnel the log is replayed through (timeouts: abandoned cart, lapsed browser)."""
    return (
        JourneyBuilder("shop")
        .stage("visitor", initial=True)
        .stage("browsing")
        .stage("cart")
        .stage("abandoned")
        .stage("customer", final=True)
        .stage("lapsed", final=True)
        .transition("browse", "visitor", "browsing")
        .transition("browse", "browsing", None)
        .transition("browse", "cart", None)
        .transition("add_to_cart", "browsing", "cart")
        .transition("add_to_cart", "cart", None)
        .transition("pay", "cart", "customer", guards=[has_total])
        .transition("abandon", "cart", "abandoned")
        .transition("come_back", "abandoned", "cart")
        .transition("lapse", "browsing", "lapsed")
        .timeout("cart", timedelta(hours=24), "abandon")
        .timeout("browsing", timedelta(days=14), "lapse")
        .build()
    )


def write_log(path: Path, events: int, journeys: int, seed: int = 10) -> Path:
    """A CSV log of ``events`` rows over ``journeys`` customers, in time order."""
    rng = random.Random(seed)
    channels = ["ads", "email", "search", "direct"]
    # each row: one customer's next step; customers interleave, time only moves forward
    state = [0] * journeys
    seconds = 0.0
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["customer", "event", "ts", "event_id", "total", "channel"])
        for n in range(events):
            who = rng.randrange(journeys)
            step = state[who]
            state[who] = step + 1
            seconds += rng.expovariate(1.0) * 40.0
            roll = rng.random()
            total = ""
            if step == 0 or roll < 0.45:
                name = "page_view" if roll < 0.35 else "search"
            elif roll < 0.6:
                name = "scroll"  # not mapped: skipped
            elif roll < 0.8:
                name = "add_to_cart"
            elif roll < 0.9:
                name = "order_paid"
                total = f"{rng.randrange(5, 300)}.00"
            else:
                name = "return_visit"
            ts = (T0 + timedelta(seconds=seconds)).isoformat(timespec="seconds")
            event_id = f"e{n}" if rng.random() > 0.02 else f"e{max(0, n - 1)}"  # redelivery
            writer.writerow([f"c{who}", name, ts, event_id, total, channels[who % 4]])
    return path


def read_csv(path: Path) -> int:
    """(a): read every row with csv.reader, nothing else."""
    n = 0
    with path.open(newline="", encoding="utf-8") as f:
        for _ in csv.reader(f):
            n += 1
    return n


def _noop(ctx: Context) -> None:
    return None


def slow_machine() -> JourneyMachine:
    """The engine path: the same definition with one no-op hook (logging filtered)."""
    machine = JourneyMachine(shop())
    machine.before(_noop)
    return machine


def _best(fn: Any, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def measure(path: Path, *, repeats: int = 3, slow: bool = True) -> dict[str, float]:
    """Seconds for (a) csv.reader, (b) the fast path, (c) the engine path with a hook."""
    end = T0 + timedelta(days=400)
    out = {
        "read_csv": _best(lambda: read_csv(path), repeats),
        "replay_fast": _best(lambda: replay(shop(), path, MAPPING, end=end), repeats),
    }
    if slow:
        out["replay_engine_hook"] = _best(
            lambda: replay(slow_machine(), path, MAPPING, end=end), max(1, repeats - 2)
        )
    return out


_RSS_CHILD = """
import resource, sys
from benchmarks.figures_replay import MAPPING, shop
from journeyfsm.analytics import replay
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
if sys.argv[2] == "replay":
    result = replay(shop(), sys.argv[1], MAPPING)
    assert result.summary.rows_read > 0
print(base, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def peak_rss(path: Path, what: str = "replay") -> tuple[float, float]:
    """(MB after imports, peak MB) of a fresh interpreter replaying ``path`` (Linux: KB)."""
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run(
        [sys.executable, "-c", _RSS_CHILD, str(path), what],
        check=True,
        capture_output=True,
        text=True,
        cwd=root,
    )
    base, peak = (int(v) / 1024 for v in done.stdout.split())
    return base, peak


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--journeys", type=int, default=None, help="default: events / 10")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-rss", action="store_true", help="skip the memory figures")
    args = parser.parse_args(argv)
    journeys = args.journeys or max(1, args.events // 10)
    results: dict[str, Any] = {"events": args.events, "journeys": journeys}
    with tempfile.TemporaryDirectory() as tmp:
        path = write_log(Path(tmp) / "shop.csv", args.events, journeys)
        results["log_mb"] = round(path.stat().st_size / 2**20, 1)
        times = measure(path, repeats=args.repeats)
        results["seconds"] = {k: round(v, 3) for k, v in times.items()}
        results["fast_vs_csv"] = round(times["replay_fast"] / times["read_csv"], 2)
        results["engine_hook_vs_csv"] = round(times["replay_engine_hook"] / times["read_csv"], 2)
        if not args.no_rss:
            rss: dict[str, Any] = {}
            small = args.events // 10
            for label, n, j in (
                ("same_journeys_small", small, journeys // 10),
                ("same_journeys_large", args.events, journeys // 10),
                ("scaling_small", small, max(1, journeys // 10)),
                ("scaling_large", args.events, journeys),
            ):
                log = write_log(Path(tmp) / f"{label}.csv", n, j)
                base, peak = peak_rss(log)
                rss[label] = {"events": n, "journeys": j, "base_mb": round(base, 1),
                              "peak_mb": round(peak, 1)}  # fmt: skip
            results["peak_rss"] = rss
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
