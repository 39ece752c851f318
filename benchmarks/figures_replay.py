"""Replay figures: replaying a shop's event log against merely reading it, and memory.

    .venv/bin/python benchmarks/figures_replay.py                # 1,000,000 events, ~2 min
    .venv/bin/python benchmarks/figures_replay.py --events 100000
    .venv/bin/python benchmarks/figures_replay.py --columnar-only --no-rss --dask 2

The columnar engine (issue 19), in the same run and on the same file: (f) ``replay`` of
the same definition with its guard written as an expression (``~col("total").is_null()``,
which the columnar engine runs), (g) the same then ``funnel`` (and then
``breakdown(by="cohort.week")``), (h) the log as Parquet
against ``pyarrow.parquet.read_table`` of it, (h'') the log as JSON Lines on the columnar
engine and the fast path against ``json.loads`` of every line, (i) a CDNOW-shaped purchase log (70k rows,
~23k customers, compact ``YYYYMMDD`` dates 1997-1998, a 180-day lapse timeout on each
buying stage) on the columnar engine and the fast path against ``csv.reader``, and with
``--dask N``, (j) ``replay_dask`` on N local worker processes against one process.

Times, in the same run and on the same file: (a) reading the CSV log with ``csv.reader``
(every row, nothing else), (b) ``replay`` on the fast path (also with the cyclic GC
disabled, as ``journeyfsm replay`` runs it), (c) ``replay`` through the engine with one
no-op hook; the ratios (b)/(a) (target <= 4, moonshot 2) and (c)/(a).  Beside them, what
comes after a replay: (d) replay then ``funnel`` over every journey (what ``replay
--report`` does; funnels read the packed moves), (e) replay then reading every journey's
``history`` (which builds all the HistoryEntry objects the fast path defers).
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
import atexit
import csv
import gc
import json
import os
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

from benchmarks.harness import Settings, measured, ratio
from journeyfsm import (
    Context,
    JourneyBuilder,
    JourneyDefinition,
    JourneyMachine,
    Transition,
    col,
    guard,
)
from journeyfsm.analytics import LogMapping, breakdown, funnel, replay

__all__ = [
    "CDNOW_MAPPING",
    "MAPPING",
    "cdnow",
    "measure",
    "measure_columnar",
    "peak_rss",
    "read_jsonl",
    "shop",
    "shop_columnar",
    "write_cdnow",
    "write_jsonl",
    "write_log",
]

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


def shop_columnar() -> JourneyDefinition:
    """:func:`shop` with its guard as an expression: the columnar engine replays it."""
    d = shop()
    transitions = [
        Transition(t.trigger, t.source, t.dest, guards=[~col("total").is_null()]) if t.guards else t
        for t in d.transitions
    ]
    return JourneyDefinition(
        name=d.name,
        stages=d.stages,
        transitions=transitions,
        timeouts=d.timeouts,
        version=d.version,
    )


def cdnow() -> JourneyDefinition:
    """A CDNOW-shaped purchase journey: first purchase, repeat buyer, lapsed after 180 days
    without a purchase in either buying stage."""
    return (
        JourneyBuilder("cdnow")
        .stage("prospect", initial=True)
        .stage("first_purchase")
        .stage("repeat_buyer")
        .stage("lapsed", final=True)
        .transition("purchase", "prospect", "first_purchase")
        .transition("purchase", "first_purchase", "repeat_buyer")
        .transition("purchase", "repeat_buyer", "repeat_buyer")
        .transition("lapse", ["first_purchase", "repeat_buyer"], "lapsed")
        .timeout("first_purchase", timedelta(days=180), "lapse")
        .timeout("repeat_buyer", timedelta(days=180), "lapse")
        .build()
    )


CDNOW_MAPPING = LogMapping(
    key="customer", event="event", time="date", payload=("amount",), triggers={"buy": "purchase"}
)


def write_cdnow(path: Path, rows: int = 70_000, customers: int = 23_000, seed: int = 19) -> Path:
    """A CDNOW-shaped log: each customer's first purchase in 1997-01..03, then purchases
    days to months apart, until 1998-06-30; compact ``YYYYMMDD`` dates, time order."""
    rng = random.Random(seed)
    first_day = datetime(1997, 1, 1)
    last_day = datetime(1998, 6, 30)
    out: list[tuple[datetime, str, str]] = []
    for c in range(customers):
        day = first_day + timedelta(days=rng.randrange(90))
        out.append((day, f"{c:05d}", f"{rng.randrange(10, 200)}.{rng.randrange(100):02d}"))
    while len(out) < rows:
        day, who, _ = out[rng.randrange(customers)]
        later = day + timedelta(days=int(rng.expovariate(1 / 120)) + 1)
        if later <= last_day:
            out.append((later, who, f"{rng.randrange(10, 200)}.{rng.randrange(100):02d}"))
    out.sort()
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["customer", "event", "date", "amount"])
        for day, who, amount in out[:rows]:
            writer.writerow([who, "buy", day.strftime("%Y%m%d"), amount])
    return path


def write_log(path: Path, events: int, journeys: int, seed: int = 10) -> Path:
    """A CSV log of ``events`` rows from about ``journeys`` customers, in time order.

    A pool of customers is active at a time (a twentieth of them); each row is the next
    step of one of them, picked at random, and a customer who has made its share of the
    rows leaves the pool for a new one.  The log spans 60 days, so a customer's steps are
    hours apart: some carts are abandoned (24 h) during the replay, others at ``end``.
    """
    rng = random.Random(seed)
    channels = ["ads", "email", "search", "direct"]
    per_journey = max(1, events // max(1, journeys))
    pool = max(1, journeys // 20)
    # customer, rows left, steps made, its last event id
    active: list[list[Any]] = [[c, per_journey, 0, ""] for c in range(pool)]
    next_customer = pool
    step_seconds = 60 * 86400 / max(1, events)
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["customer", "event", "ts", "event_id", "total", "channel"])
        for n in range(events):
            slot = rng.randrange(pool)
            who, left, step, last_id = active[slot]
            roll = rng.random()
            total = ""
            if step == 0 or roll < 0.35:
                name = "page_view" if roll < 0.25 or step == 0 else "search"
            elif roll < 0.5:
                name = "scroll"  # not mapped: skipped
            elif roll < 0.75:
                name = "add_to_cart"
            elif roll < 0.85:
                name = "order_paid"
                if roll < 0.84:  # a few payments without a total: blocked by the guard
                    total = f"{rng.randrange(5, 300)}.00"
            else:
                name = "return_visit"
            ts = (T0 + timedelta(seconds=n * step_seconds)).isoformat(timespec="seconds")
            # 2% are a webhook delivered twice: the customer's previous event id again
            event_id = last_id if last_id and rng.random() < 0.02 else f"e{n}"
            writer.writerow([f"c{who}", name, ts, event_id, total, channels[who % 4]])
            if left <= 1:
                active[slot] = [next_customer, per_journey, 0, ""]
                next_customer += 1
            else:
                active[slot] = [who, left - 1, step + 1, event_id]
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


def then_funnel(path: Path) -> None:
    """(d): replay, then the funnel of every journey."""
    result = replay(shop(), path, MAPPING, end=T0 + timedelta(days=400))
    funnel(result.journeys.values(), shop())


def then_histories(path: Path) -> None:
    """(e): replay, then read every journey's history entries."""
    result = replay(shop(), path, MAPPING, end=T0 + timedelta(days=400))
    assert sum(len(j.history) for j in result.journeys.values()) > 0


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

    def fast_gc_off() -> None:
        gc.disable()
        try:
            replay(shop(), path, MAPPING, end=end)
        finally:
            gc.enable()

    out = {
        "read_csv": _best(lambda: read_csv(path), repeats),
        "replay_fast": _best(lambda: replay(shop(), path, MAPPING, end=end), repeats),
        "replay_fast_gc_off": _best(fast_gc_off, repeats),
        "replay_then_funnel": _best(lambda: then_funnel(path), repeats),
        "replay_then_histories": _best(lambda: then_histories(path), max(1, repeats - 1)),
    }
    if slow:
        out["replay_engine_hook"] = _best(
            lambda: replay(slow_machine(), path, MAPPING, end=end), max(1, repeats - 2)
        )
    return out


def write_jsonl(csv_path: Path, path: Path) -> Path:
    """The CSV log as JSON Lines, one object per row (``total`` a number, left out when
    empty)."""
    with csv_path.open(newline="", encoding="utf-8") as f, path.open("w", encoding="utf-8") as out:
        for row in csv.DictReader(f):
            obj: dict[str, Any] = dict(row)
            if row["total"]:
                obj["total"] = float(row["total"])
            else:
                del obj["total"]
            out.write(json.dumps(obj) + "\n")
    return path


def read_jsonl(path: Path) -> int:
    """Read every line of a JSON Lines log with ``json.loads`` (nothing else)."""
    n = 0
    loads = json.loads
    with path.open(encoding="utf-8") as f:
        for line in f:
            loads(line)
            n += 1
    return n


def measure_columnar(path: Path, tmp: Path, *, repeats: int = 3) -> dict[str, Any]:
    """The columnar engine's figures (f)-(i), each with what it is compared to, in one run."""
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    end = T0 + timedelta(days=400)
    definition = shop_columnar()
    probe = replay(definition, path, MAPPING, end=end)
    assert probe.engine == "columnar", probe.summary.engine_note

    def columnar_then_funnel() -> None:
        result = replay(definition, path, MAPPING, end=end)
        funnel(result.journeys.values(), definition)

    def columnar_then_breakdown() -> None:
        result = replay(definition, path, MAPPING, end=end)
        breakdown(result.journeys.values(), definition, by="cohort.week")

    parquet = tmp / "shop.parquet"
    pq.write_table(pcsv.read_csv(path), parquet)
    jsonl = write_jsonl(path, tmp / "shop.jsonl")
    probe_jsonl = replay(definition, jsonl, MAPPING, end=end)
    assert probe_jsonl.engine == "columnar", probe_jsonl.summary.engine_note
    assert probe_jsonl.stage_counts() == probe.stage_counts()
    cdnow_log = write_cdnow(tmp / "cdnow.csv")
    cdnow_end = datetime(1998, 12, 31, tzinfo=timezone.utc)
    cd = replay(cdnow(), cdnow_log, CDNOW_MAPPING, end=cdnow_end)
    assert cd.engine == "columnar" and cd.summary.bad_row_count == 0
    cd_fast = replay(cdnow(), cdnow_log, CDNOW_MAPPING, end=cdnow_end, engine="fast")
    assert cd.stage_counts() == cd_fast.stage_counts()
    out: dict[str, Any] = {
        "read_csv": _best(lambda: read_csv(path), repeats),
        "columnar": _best(lambda: replay(definition, path, MAPPING, end=end), repeats),
        "columnar_in_memory": _best(
            lambda: replay(definition, path, MAPPING, end=end, partitions=1), repeats
        ),
        "columnar_then_funnel": _best(columnar_then_funnel, repeats),
        "columnar_then_breakdown": _best(columnar_then_breakdown, repeats),
        "fast": _best(lambda: replay(shop(), path, MAPPING, end=end), repeats),
        "read_parquet": _best(lambda: pq.read_table(parquet), repeats),
        "columnar_parquet": _best(lambda: replay(definition, parquet, MAPPING, end=end), repeats),
        "read_jsonl": _best(lambda: read_jsonl(jsonl), repeats),
        "columnar_jsonl": _best(lambda: replay(definition, jsonl, MAPPING, end=end), repeats),
        "fast_jsonl": _best(lambda: replay(shop(), jsonl, MAPPING, end=end), max(1, repeats - 2)),
        "cdnow_read_csv": _best(lambda: read_csv(cdnow_log), repeats),
        "cdnow_columnar": _best(
            lambda: replay(cdnow(), cdnow_log, CDNOW_MAPPING, end=cdnow_end), repeats
        ),
        "cdnow_fast": _best(
            lambda: replay(cdnow(), cdnow_log, CDNOW_MAPPING, end=cdnow_end, engine="fast"),
            repeats,
        ),
    }
    out["cdnow_shape"] = {
        "rows": cd.summary.rows_read,
        "customers": cd.summary.journeys,
        "timeouts_fired": cd.summary.timeouts_fired,
        "stages": cd.stage_counts(),
    }
    return out


def measure_dask(path: Path, workers: int, *, repeats: int = 2) -> dict[str, float]:
    """(j): ``replay_dask`` on ``workers`` local processes against ``replay`` in this one."""
    from distributed import Client, LocalCluster

    from journeyfsm.analytics import replay_dask

    end = T0 + timedelta(days=400)
    definition = shop_columnar()
    one = _best(lambda: replay(definition, path, MAPPING, end=end), repeats)
    with (
        LocalCluster(n_workers=workers, threads_per_worker=1, dashboard_address=None) as cluster,
        Client(cluster) as client,
    ):
        run = lambda: replay_dask(definition, path, MAPPING, client=client, end=end)  # noqa: E731
        run()  # the workers import journeyfsm and pyarrow once
        on_dask = _best(run, repeats)
        memory = [
            w["metrics"]["memory"] / 2**20 for w in client.scheduler_info()["workers"].values()
        ]
    return {"one_process": one, "dask": on_dask, "worker_mb": [round(m, 1) for m in memory]}


_RSS_CHILD = """
import resource, sys


def peak_kb():
    # VmHWM belongs to this program's memory map, which exec made fresh; ru_maxrss keeps
    # the high-water mark of the process forked from the (large) benchmark process
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


from benchmarks.figures_replay import MAPPING, shop, shop_columnar
from journeyfsm.analytics import replay

base = peak_kb()
if sys.argv[2] == "replay":  # else: only the imports
    result = replay(shop(), sys.argv[1], MAPPING)
    assert result.summary.rows_read > 0
elif sys.argv[2] == "columnar":  # the default: streamed by key from 64 MB
    result = replay(shop_columnar(), sys.argv[1], MAPPING)
    assert result.engine == "columnar"
elif sys.argv[2] == "columnar_in_memory":
    result = replay(shop_columnar(), sys.argv[1], MAPPING, partitions=1)
    assert result.engine == "columnar"
print(base, peak_kb())
"""


def peak_rss(path: Path, what: str = "replay") -> tuple[float, float]:
    """(MB after imports, peak MB) of a fresh interpreter replaying ``path``.

    Peak resident memory of the child's own program (``VmHWM`` on Linux; elsewhere
    ``resource.getrusage(RUSAGE_SELF).ru_maxrss``, in KB on Linux).
    """
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


# -- the figures of ``make bench`` (benchmarks/run.py imports this module) ---------------
_LOGS: dict[tuple[int, int], Path] = {}
_TMP: list[tempfile.TemporaryDirectory[str]] = []


def _log(events: int, journeys: int) -> Path:
    """The shop log of this size, written once per process (removed at exit)."""
    path = _LOGS.get((events, journeys))
    if path is None:
        if not _TMP:
            _TMP.append(tempfile.TemporaryDirectory(prefix="journeyfsm-bench-replay-"))
            atexit.register(_TMP[0].cleanup)
        path = write_log(Path(_TMP[0].name) / f"shop-{events}-{journeys}.csv", events, journeys)
        _LOGS[(events, journeys)] = path
    return path


def _sizes(settings: Settings) -> tuple[int, int]:
    """(events, journeys) of the timed log: ``growth_large`` events, 10 per journey."""
    events = settings.growth_large
    return events, max(1, events // 10)


def _per_row(settings: Settings, run: Any, repeats: int) -> list[float]:
    events, journeys = _sizes(settings)
    path = _log(events, journeys)
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        run(path)
        out.append((time.perf_counter() - t0) / events * 1e6)
    return out


def _end() -> datetime:
    return T0 + timedelta(days=400)


@measured(
    "replay", "read_csv", unit="us/row", description="csv.reader over the shop log, nothing else"
)
def replay_read_csv(settings: Settings) -> list[float]:
    return _per_row(settings, read_csv, settings.growth_repeats_small)


@measured(
    "replay",
    "fast",
    unit="us/row",
    description="replay(definition, log, mapping, end=...) on the fast path (no hooks)",
)
def replay_fast(settings: Settings) -> list[float]:
    return _per_row(
        settings,
        lambda path: replay(shop(), path, MAPPING, end=_end()),
        settings.growth_repeats_large + 1,
    )


@measured(
    "replay",
    "fast_gc_off",
    unit="us/row",
    description="the fast path with the cyclic GC disabled, as `journeyfsm replay` runs it",
)
def replay_fast_gc_off(settings: Settings) -> list[float]:
    def run(path: Path) -> None:
        gc.disable()
        try:
            replay(shop(), path, MAPPING, end=_end())
        finally:
            gc.enable()

    return _per_row(settings, run, settings.growth_repeats_large + 1)


@measured(
    "replay",
    "then_funnel",
    unit="us/row",
    description="the fast path, then funnel() over every journey (what replay --report does)",
)
def replay_then_funnel(settings: Settings) -> list[float]:
    return _per_row(settings, then_funnel, settings.growth_repeats_large)


@measured(
    "replay",
    "then_histories",
    unit="us/row",
    description="the fast path, then reading every journey's history (builds every entry)",
)
def replay_then_histories(settings: Settings) -> list[float]:
    return _per_row(settings, then_histories, 1)


@measured(
    "replay",
    "engine_hook",
    unit="us/row",
    description="the same through the engine: a machine with one no-op before hook",
)
def replay_engine_hook(settings: Settings) -> list[float]:
    return _per_row(settings, lambda path: replay(slow_machine(), path, MAPPING, end=_end()), 1)


#: (label, events divisor, journeys divisor, what) of the memory figures: with
#: ``growth_large`` = 1M, 100k events / 10k journeys, 1M / 10k, and 1M / 100k
RSS_SIZES = (
    ("small", 10, 100, "a tenth of the events (100k), 10k journeys"),
    ("same_journeys", 1, 100, "all the events (1M), the same 10k journeys"),
    ("more_journeys", 1, 10, "all the events (1M), 100k journeys"),
)


def rss_size(settings: Settings, events_div: int, journeys_div: int) -> tuple[int, int]:
    large = settings.growth_large
    return max(1, large // events_div), max(1, large // journeys_div)


def _rss_figure(events_div: int, journeys_div: int) -> Any:
    def figure(settings: Settings) -> list[float]:
        events, journeys = rss_size(settings, events_div, journeys_div)
        return [peak_rss(_log(events, journeys))[1]]

    return figure


for _label, _events_div, _journeys_div, _what in RSS_SIZES:
    measured(
        "replay_rss",
        _label,
        unit="MB peak RSS",
        description=f"a fresh process replaying the shop log: {_what}",
    )(_rss_figure(_events_div, _journeys_div))


@measured(
    "replay_rss",
    "imports",
    unit="MB peak RSS",
    description="the same fresh process that only imports journeyfsm (the floor)",
)
def replay_rss_imports(settings: Settings) -> list[float]:
    events, journeys = rss_size(settings, 10, 100)
    return [peak_rss(_log(events, journeys), "imports")[1]]


ratio(
    "replay_fast_vs_csv",
    "replay.fast",
    "replay.read_csv",
    "replay on the fast path / reading the same CSV with csv.reader (issue 10: <= 4, moonshot 2)",
    ("<=", 4.0),
)
ratio(
    "replay_fast_gc_off_vs_csv",
    "replay.fast_gc_off",
    "replay.read_csv",
    "the same with the cyclic GC disabled during the replay (what the command does)",
)
ratio(
    "replay_then_funnel_vs_csv",
    "replay.then_funnel",
    "replay.read_csv",
    "replay then funnel() over every journey / reading the same CSV",
)
ratio(
    "replay_then_histories_vs_csv",
    "replay.then_histories",
    "replay.read_csv",
    "replay then reading every journey's history / reading the same CSV",
)
ratio(
    "replay_engine_hook_vs_csv",
    "replay.engine_hook",
    "replay.read_csv",
    "replay through the engine with one no-op hook / reading the same CSV",
)


def _columnar_rss(tmp: Path, events: int, large: bool = False) -> dict[str, Any]:
    """Peak RSS of the columnar engine, streamed (the default) and in memory
    (``partitions=1``), per (rows, journeys): ``events`` rows from 1% and from 10% as
    many journeys, and with ``large`` three times the rows from 1% (journeys fixed)."""
    out: dict[str, Any] = {}
    sizes = [(events, max(1, events // 100)), (events, max(1, events // 10))]
    if large:
        sizes.append((3 * events, max(1, events // 100)))
    for rows, journeys in sizes:
        log = write_log(tmp / f"rss-{rows}-{journeys}.csv", rows, journeys)
        figures: dict[str, Any] = {"events": rows, "journeys": journeys,
                                   "log_mb": round(log.stat().st_size / 2**20, 1)}  # fmt: skip
        for what in ("columnar", "columnar_in_memory"):
            base, peak = peak_rss(log, what)
            figures["imports_mb"] = round(base, 1)
            figures[f"{what}_peak_mb"] = round(peak, 1)
        out[f"{rows}_rows_{journeys}_journeys"] = figures
        log.unlink()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--journeys", type=int, default=None, help="default: events / 10")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-rss", action="store_true", help="skip the memory figures")
    parser.add_argument(
        "--columnar-only", action="store_true", help="only the columnar engine's figures"
    )
    parser.add_argument("--dask", type=int, default=0, metavar="N", help="also replay_dask on N")
    parser.add_argument(
        "--rss-large", action="store_true", help="also the memory of 3x the events (journeys fixed)"
    )
    args = parser.parse_args(argv)
    journeys = args.journeys or max(1, args.events // 10)
    results: dict[str, Any] = {"events": args.events, "journeys": journeys}
    results["load_before"] = [round(x, 2) for x in os.getloadavg()]
    with tempfile.TemporaryDirectory() as tmp:
        path = write_log(Path(tmp) / "shop.csv", args.events, journeys)
        results["log_mb"] = round(path.stat().st_size / 2**20, 1)
        col = measure_columnar(path, Path(tmp), repeats=args.repeats)
        results["columnar_seconds"] = {
            k: (round(v, 3) if isinstance(v, float) else v) for k, v in col.items()
        }
        results["columnar_vs_csv"] = round(col["columnar"] / col["read_csv"], 2)
        results["columnar_in_memory_vs_csv"] = round(col["columnar_in_memory"] / col["read_csv"], 2)
        results["columnar_then_funnel_vs_csv"] = round(
            col["columnar_then_funnel"] / col["read_csv"], 2
        )
        results["columnar_then_breakdown_vs_csv"] = round(
            col["columnar_then_breakdown"] / col["read_csv"], 2
        )
        results["fast_vs_csv_same_run"] = round(col["fast"] / col["read_csv"], 2)
        results["columnar_parquet_vs_read_table"] = round(
            col["columnar_parquet"] / col["read_parquet"], 2
        )
        results["columnar_parquet_minus_read_table_s_per_1m_rows"] = round(
            (col["columnar_parquet"] - col["read_parquet"]) * 1e6 / args.events, 3
        )
        results["columnar_jsonl_vs_json_loads"] = round(
            col["columnar_jsonl"] / col["read_jsonl"], 2
        )
        results["fast_jsonl_vs_json_loads"] = round(col["fast_jsonl"] / col["read_jsonl"], 2)
        results["cdnow_columnar_vs_csv"] = round(col["cdnow_columnar"] / col["cdnow_read_csv"], 2)
        results["cdnow_fast_vs_csv"] = round(col["cdnow_fast"] / col["cdnow_read_csv"], 2)
        if args.dask:
            dask = measure_dask(path, args.dask, repeats=max(1, args.repeats - 1))
            results["dask"] = {k: (round(v, 3) if isinstance(v, float) else v)
                               for k, v in dask.items()}  # fmt: skip
            results["dask_vs_one_process"] = round(dask["dask"] / dask["one_process"], 2)
        if args.columnar_only:
            if not args.no_rss:
                results["columnar_peak_rss"] = _columnar_rss(Path(tmp), args.events, args.rss_large)
            results["load_after"] = [round(x, 2) for x in os.getloadavg()]
            print(json.dumps(results, indent=2))
            return 0
        times = measure(path, repeats=args.repeats)
        results["seconds"] = {k: round(v, 3) for k, v in times.items()}
        results["fast_vs_csv"] = round(times["replay_fast"] / times["read_csv"], 2)
        results["fast_gc_off_vs_csv"] = round(times["replay_fast_gc_off"] / times["read_csv"], 2)
        results["engine_hook_vs_csv"] = round(times["replay_engine_hook"] / times["read_csv"], 2)
        for name in ("replay_then_funnel", "replay_then_histories"):
            results[f"{name[7:]}_vs_csv"] = round(times[name] / times["read_csv"], 2)
        if not args.no_rss:
            rss: dict[str, Any] = {}
            sizes = Settings.full()
            sizes = Settings(**{**sizes.__dict__, "growth_large": args.events})
            for label, events_div, journeys_div, _ in RSS_SIZES:
                n, j = rss_size(sizes, events_div, journeys_div)
                log = write_log(Path(tmp) / f"{label}.csv", n, j)
                base, peak = peak_rss(log)
                rss[label] = {"events": n, "journeys": j, "imports_mb": round(base, 1),
                              "peak_mb": round(peak, 1)}  # fmt: skip
            results["peak_rss"] = rss
            results["columnar_peak_rss"] = _columnar_rss(Path(tmp), args.events, args.rss_large)
    results["load_after"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
