"""The figure registry, the interleaved timer, memory and scaling helpers, and the results.

A figure is one small function, registered with a decorator:

- ``@timed(group, contender, unit=..., ops_per_loop=...)``: the function takes the
  :class:`Settings` and returns a *timer* ``timer(loops) -> seconds`` that does its own
  per-sample setup and returns only the time of the measured part.  The harness calibrates
  ``loops`` so a sample lasts about ``sample_seconds``, then takes ``rounds`` samples of
  every timed figure **interleaved** (round 1: every figure once, round 2: again, in a
  rotated order ...), so slow drift of a shared 2-core machine hits every contender alike
  and the ratios of one run stay honest.  Garbage is collected before each sample, GC stays
  enabled inside it (allocation cost is part of what a library costs).
- ``@measured(group, contender, unit=...)``: the function takes the Settings and returns
  the list of values it measured (bytes per journey from tracemalloc, microseconds per
  journey at a scale ...); used for figures that cannot be repeated cheaply.

Logging state, per figure: journeyfsm follows structlog's global configuration at every
call, so a figure that configures structlog (the production figures render JSON) would
otherwise leak that configuration into every figure measured after it.  The harness
therefore builds every figure from structlog's defaults (``reset_defaults()``), records the
configuration the figure's own setup left (:class:`LoggingState`), and puts exactly that
state back before each of its samples (and before a measured figure runs).  A figure that
configures nothing is measured on an unconfigured host, whatever ran before it.

``ratio(...)`` declares a ratio between two figures' medians, optionally with a target.
The results go to a JSON file (machine, versions, every figure's median and spread, every
ratio) and, for the timed figures, to a pyperf suite so ``python -m pyperf compare_to``
can compare two runs.
"""

from __future__ import annotations

import gc
import json
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, Literal

import pyperf  # type: ignore[import-untyped]
import structlog

__all__ = [
    "FIGURES",
    "RATIOS",
    "Figure",
    "LoggingState",
    "Ratio",
    "Settings",
    "bytes_per_object",
    "format_table",
    "keys",
    "measured",
    "ratio",
    "run_figures",
    "timed",
    "write_json",
    "write_pyperf",
]

Timer = Callable[[int], float]


@dataclass(frozen=True)
class Settings:
    """How long and how big: ``full()`` for ``make bench``, ``quick()`` for a smoke run."""

    quick: bool
    rounds: int  # samples per timed figure
    sample_seconds: float  # target duration of one sample
    memory_n: int  # objects per memory sample
    memory_repeats: int
    growth_small: int
    growth_large: int
    growth_repeats_small: int
    growth_repeats_large: int

    @classmethod
    def full(cls) -> Settings:
        return cls(False, 25, 0.08, 10_000, 2, 10_000, 1_000_000, 7, 2)

    @classmethod
    def quick_run(cls) -> Settings:
        return cls(True, 5, 0.02, 2_000, 2, 2_000, 50_000, 3, 1)

    @classmethod
    def tiny(cls) -> Settings:
        """For tests: every figure runs, nothing is worth reading."""
        return cls(True, 2, 0.001, 50, 1, 50, 200, 1, 1)


@dataclass(frozen=True)
class Figure:
    id: str
    group: str
    contender: str
    kind: Literal["timed", "measured"]
    unit: str
    description: str
    make: Callable[[Settings], Any]
    ops_per_loop: int = 1
    full_only: bool = False


@dataclass(frozen=True)
class Ratio:
    """``numerator / denominator`` of two figures' medians (``op="-"``: their difference;
    ``denominator=None``: the numerator's median itself, to put a target on a figure)."""

    id: str
    numerator: str
    denominator: str | None
    description: str
    target: tuple[Literal["<=", ">="], float] | None = None
    op: Literal["/", "-"] = "/"


FIGURES: dict[str, Figure] = {}
RATIOS: dict[str, Ratio] = {}


def _register(fig: Figure) -> None:
    if fig.id in FIGURES:
        raise ValueError(f"figure {fig.id!r} is registered twice")
    FIGURES[fig.id] = fig


def timed(
    group: str, contender: str, *, unit: str, description: str, ops_per_loop: int = 1
) -> Callable[[Callable[[Settings], Timer]], Callable[[Settings], Timer]]:
    """Register a timed figure; ``unit`` is what one op is, e.g. ``"us/event"``."""

    def add(fn: Callable[[Settings], Timer]) -> Callable[[Settings], Timer]:
        _register(
            Figure(
                f"{group}.{contender}",
                group,
                contender,
                "timed",
                unit,
                description,
                fn,
                ops_per_loop,
            )
        )
        return fn

    return add


def measured(
    group: str, contender: str, *, unit: str, description: str
) -> Callable[[Callable[[Settings], list[float]]], Callable[[Settings], list[float]]]:
    """Register a figure that measures itself and returns its values."""

    def add(fn: Callable[[Settings], list[float]]) -> Callable[[Settings], list[float]]:
        _register(
            Figure(f"{group}.{contender}", group, contender, "measured", unit, description, fn)
        )
        return fn

    return add


def ratio(
    id: str,
    numerator: str,
    denominator: str | None,
    description: str,
    target: tuple[Literal["<=", ">="], float] | None = None,
    *,
    op: Literal["/", "-"] = "/",
) -> None:
    """Declare ``numerator / denominator`` (figure ids, by median), with an optional target.

    ``op="-"`` declares a difference instead; ``denominator=None`` checks a figure itself.
    """
    if id in RATIOS:
        raise ValueError(f"ratio {id!r} is declared twice")
    RATIOS[id] = Ratio(id, numerator, denominator, description, target, op)


# -- logging state ---------------------------------------------------------------------
@dataclass(frozen=True)
class LoggingState:
    """structlog's global configuration as a figure's setup left it (``None``: defaults)."""

    config: dict[str, Any] | None

    @classmethod
    def capture(cls) -> LoggingState:
        return cls(structlog.get_config() if structlog.is_configured() else None)

    def apply(self) -> None:
        """Make structlog's global configuration exactly this state again."""
        structlog.reset_defaults()
        if self.config is not None:
            structlog.configure(**self.config)

    @property
    def configured(self) -> bool:
        return self.config is not None


def _made(fig: Figure, settings: Settings) -> tuple[Any, LoggingState]:
    """``fig.make(settings)`` from structlog's defaults, and the logging state it left."""
    structlog.reset_defaults()
    made = fig.make(settings)
    return made, LoggingState.capture()


# -- measuring -------------------------------------------------------------------------
def _calibrate(timer: Timer, sample_seconds: float, state: LoggingState) -> int:
    """Loops so one sample lasts about ``sample_seconds`` (this also warms the code up)."""
    loops = 1
    while True:
        state.apply()
        gc.collect()
        elapsed = timer(loops)
        if elapsed >= sample_seconds or loops >= 1 << 30:
            return loops
        factor = sample_seconds / max(elapsed, 1e-7) * 1.1
        loops = max(loops + 1, int(loops * min(factor, 10.0)))


def _interleave(
    figs: list[Figure], settings: Settings, log: Callable[[str], None]
) -> dict[str, list[float]]:
    made = {f.id: _made(f, settings) for f in figs}
    timers = {fid: timer for fid, (timer, _) in made.items()}
    states = {fid: state for fid, (_, state) in made.items()}
    loops = {}
    for f in figs:
        loops[f.id] = _calibrate(timers[f.id], settings.sample_seconds, states[f.id])
        log(f"  calibrated {f.id}: {loops[f.id]} loops")
    values: dict[str, list[float]] = {f.id: [] for f in figs}
    for r in range(settings.rounds):
        shift = r % len(figs) if figs else 0
        for f in figs[shift:] + figs[:shift]:
            n = loops[f.id]
            states[f.id].apply()  # this figure's logging, whatever the previous one set
            gc.collect()
            elapsed = timers[f.id](n)
            values[f.id].append(elapsed / (n * f.ops_per_loop) * 1e6)
    return values


def keys(n: int) -> list[str]:
    """``n`` (and a few spare) distinct journey keys of 16 characters."""
    return [f"customer-{i:07d}" for i in range(n + 3)]


def bytes_per_object(make_one: Callable[[int], Any], n: int) -> float:
    """Bytes tracemalloc sees allocated (and still alive) per ``make_one(i)``, over ``n``.

    Whatever ``make_one`` returns is kept alive until the count is taken; inputs made
    before the call (e.g. key strings) are not counted.
    """
    for i in range(3):  # warm caches (bound loggers, method caches) outside the count
        make_one(i)
    keep: list[Any] = [None] * n
    gc.collect()
    tracemalloc.start()
    try:
        start = tracemalloc.get_traced_memory()[0]
        for i in range(n):
            keep[i] = make_one(i)
        gc.collect()
        end = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    del keep
    return (end - start) / n


def _stats(values: list[float]) -> dict[str, Any]:
    ordered = sorted(values)
    n = len(ordered)
    med = statistics.median(ordered)
    if n >= 4:
        q1, _, q3 = statistics.quantiles(ordered, n=4, method="inclusive")
    else:
        q1, q3 = ordered[0], ordered[-1]
    return {
        "median": med,
        "spread": {
            "q1": q1,
            "q3": q3,
            "iqr_pct": (q3 - q1) / med * 100 if med else 0.0,
            "stdev": statistics.stdev(ordered) if n > 1 else 0.0,
            "min": ordered[0],
            "max": ordered[-1],
            "n": n,
        },
        "values": values,
    }


def _versions() -> dict[str, str]:
    out = {"python": sys.version.split()[0]}
    for dist in (
        "journeyfsm",
        "transitions",
        "python-statemachine",
        "structlog",
        "attrs",
        "pyperf",
    ):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = "not installed"
    return out


def _machine() -> dict[str, Any]:
    meta = pyperf.Run([1.0], metadata={"name": "probe"}, collect_metadata=True).get_metadata()
    keep = (
        "platform",
        "cpu_model_name",
        "cpu_count",
        "cpu_freq",
        "cpu_config",
        "hostname",
        "python_implementation",
        "python_version",
        "python_compiler",
        "timer",
        "load_avg_1min",
        "aslr",
        "date",
    )
    return {k: meta[k] for k in keep if k in meta}


def _has_inputs(r: Ratio, figures: dict[str, Any]) -> bool:
    return r.numerator in figures and (r.denominator is None or r.denominator in figures)


def _paired(num: dict[str, Any], den: dict[str, Any], op: str) -> tuple[float, float] | None:
    """q1..q3 of the per-round ratios (differences) of two interleaved timed figures."""
    a, b = num["values"], den["values"]
    if num["kind"] != "timed" or den["kind"] != "timed" or len(a) != len(b) or len(a) < 4:
        return None
    per_round = [x - y if op == "-" else x / y for x, y in zip(a, b, strict=True)]
    q1, _, q3 = statistics.quantiles(per_round, n=4, method="inclusive")
    return q1, q3


def _derive(r: Ratio, figures: dict[str, Any]) -> dict[str, Any]:
    num = figures[r.numerator]
    n_med, n_q1, n_q3 = num["median"], num["spread"]["q1"], num["spread"]["q3"]
    if r.denominator is None:
        value, lo, hi = n_med, n_q1, n_q3
    else:
        den = figures[r.denominator]
        d_med, d_q1, d_q3 = den["median"], den["spread"]["q1"], den["spread"]["q3"]
        if r.op == "-":
            value, lo, hi = n_med - d_med, n_q1 - d_q3, n_q3 - d_q1
        else:
            value = n_med / d_med if d_med else float("inf")
            lo = n_q1 / d_q3 if d_q3 else value
            hi = n_q3 / d_q1 if d_q1 else value
        paired = _paired(num, den, r.op)
        if paired is not None:  # samples of one round were taken side by side: pair them
            lo, hi = paired
    met = None
    if r.target is not None:
        op, bound = r.target
        met = value <= bound if op == "<=" else value >= bound
    return {
        "value": value,
        "range": [lo, hi],
        "op": "value" if r.denominator is None else r.op,
        "numerator": r.numerator,
        "denominator": r.denominator,
        "description": r.description,
        "target": f"{r.target[0]} {r.target[1]:g}" if r.target else None,
        "met": met,
    }


def run_figures(
    settings: Settings,
    *,
    only: Iterable[str] | None = None,
    log: Callable[[str], None] = lambda _: None,
) -> dict[str, Any]:
    """Run the registered figures (``only``: id prefixes) and return the results dict."""
    prefixes = tuple(only) if only else ()
    figs = [f for f in FIGURES.values() if not prefixes or f.id.startswith(prefixes)]
    started = time.perf_counter()
    timed_figs = [f for f in figs if f.kind == "timed"]
    log(f"timing {len(timed_figs)} figures, {settings.rounds} interleaved rounds")
    found = LoggingState.capture()
    try:
        values = _interleave(timed_figs, settings, log)
        for f in figs:
            if f.kind == "measured":
                log(f"measuring {f.id}")
                t0 = time.perf_counter()
                measured, _ = _made(f, settings)  # from structlog's defaults, as timed ones
                values[f.id] = list(measured)
                log(f"  {f.id}: {values[f.id]} {f.unit} ({time.perf_counter() - t0:.1f}s)")
    finally:
        found.apply()  # leave structlog as the caller had it
    figures: dict[str, Any] = {}
    for f in figs:
        figures[f.id] = {
            "group": f.group,
            "contender": f.contender,
            "kind": f.kind,
            "unit": f.unit,
            "description": f.description,
            **_stats(values[f.id]),
        }
    ratios = {r.id: _derive(r, figures) for r in RATIOS.values() if _has_inputs(r, figures)}
    return {
        "schema": 1,
        "machine": _machine(),
        "versions": _versions(),
        "settings": settings.__dict__,
        "duration_seconds": round(time.perf_counter() - started, 1),
        "figures": figures,
        "ratios": ratios,
    }


def write_pyperf(results: dict[str, Any], path: Path) -> None:
    """The timed figures as a pyperf suite (seconds per op), for ``pyperf compare_to``."""
    benches: list[Any] = []
    for fid, fig in results["figures"].items():
        if fig["kind"] != "timed":
            continue
        run = pyperf.Run(
            [v / 1e6 for v in fig["values"]],
            metadata={"name": fid, "unit": "second", "description": fig["description"]},
            collect_metadata=not benches,
        )
        benches.append(pyperf.Benchmark([run]))
    if benches:
        pyperf.BenchmarkSuite(benches).dump(str(path), replace=True)


# -- reporting -------------------------------------------------------------------------
def _fmt(value: float) -> str:
    size = abs(value)
    if size >= 1000:
        return f"{value:,.0f}"
    if size >= 10:
        return f"{value:.1f}"
    return f"{value:.3g}" if size >= 0.01 else f"{value:.2g}"


def format_table(results: dict[str, Any]) -> str:
    """The figures and ratios as a plain-text (and Markdown) table."""
    lines = [
        "| figure | contender | median | unit | spread (IQR %) | n |",
        "|---|---|---:|---|---:|---:|",
    ]
    for fig in results["figures"].values():
        s = fig["spread"]
        lines.append(
            f"| {fig['group']} | {fig['contender']} | {_fmt(fig['median'])} | {fig['unit']} "
            f"| {s['iqr_pct']:.1f} | {s['n']} |"
        )
    lines += [
        "",
        "| ratio | what | value | q1..q3 | target | met |",
        "|---|---|---:|---|---|---|",
    ]
    for rid, r in results["ratios"].items():
        met = {True: "yes", False: "**NO**", None: ""}[r["met"]]
        lo, hi = r["range"]
        what = {"/": "a / b", "-": "a - b", "value": "a"}[r["op"]]
        lines.append(
            f"| {rid} | {what} | {_fmt(r['value'])} | {_fmt(lo)}..{_fmt(hi)} "
            f"| {r['target'] or ''} | {met} |"
        )
    return "\n".join(lines)


def write_json(results: dict[str, Any], path: Path) -> None:
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(results, indent=2, sort_keys=False) + "\n")
    tmp.replace(path)
