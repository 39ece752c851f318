"""Scaling figures: time per journey for a small and a large live population."""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from typing import Any

from .contenders import dict_fire, journeyfsm_machine
from .harness import Settings, keys, measured
from .workload import INITIAL

__all__: list[str] = []  # figures register themselves


# ======================================================================================
# growth: create N journeys, advance each by 2 events, keep them all alive
# ======================================================================================
# A host-side setting, not the library's: fewer gen0 collections, so fewer full passes
# over a large live heap.  The "gc_tuned" figures show what it buys.
GC_TUNED = (50_000, 20, 100)


def _per_journey(
    n: int,
    repeats: int,
    advance: Callable[[list[str], dict[str, Any]], None],
    gc_threshold: tuple[int, int, int] | None = None,
) -> list[float]:
    out = []
    saved = gc.get_threshold()
    for _ in range(repeats):
        names = keys(n)[:n]
        store: dict[str, Any] = {}
        gc.collect()
        if gc_threshold is not None:
            gc.set_threshold(*gc_threshold)
        try:
            t0 = time.perf_counter()
            advance(names, store)
            elapsed = time.perf_counter() - t0
        finally:
            gc.set_threshold(*saved)
        assert len(store) == n
        del store, names
        gc.collect()
        out.append(elapsed / n * 1e6)
    return out


def _jfsm_advance() -> Callable[[list[str], dict[str, Any]], None]:
    machine = journeyfsm_machine()

    def advance(keys: list[str], store: dict[str, Any]) -> None:
        start, fire = machine.start, machine.fire
        for key in keys:
            journey = start(key)
            fire(journey, "discover")
            fire(journey, "research")
            store[key] = journey

    return advance


def _dict_advance(keys: list[str], store: dict[str, Any]) -> None:
    for key in keys:
        record = {"key": key, "stage": INITIAL, "data": {}, "version": 0}
        dict_fire(record, "discover")
        dict_fire(record, "research")
        store[key] = record


@measured(
    "growth",
    "journeyfsm_small",
    unit="us/journey",
    description="start + 2 fires per journey, all kept alive: the small population",
)
def growth_journeyfsm_small(settings: Settings) -> list[float]:
    return _per_journey(settings.growth_small, settings.growth_repeats_small, _jfsm_advance())


@measured(
    "growth",
    "journeyfsm_large",
    unit="us/journey",
    description="the same for the large population (1M in the full run)",
)
def growth_journeyfsm_large(settings: Settings) -> list[float]:
    return _per_journey(settings.growth_large, settings.growth_repeats_large, _jfsm_advance())


@measured(
    "growth",
    "journeyfsm_small_gc_tuned",
    unit="us/journey",
    description=f"small population, host sets gc.set_threshold{GC_TUNED}",
)
def growth_journeyfsm_small_gc_tuned(settings: Settings) -> list[float]:
    return _per_journey(
        settings.growth_small, settings.growth_repeats_small, _jfsm_advance(), GC_TUNED
    )


@measured(
    "growth",
    "journeyfsm_large_gc_tuned",
    unit="us/journey",
    description=f"large population, host sets gc.set_threshold{GC_TUNED}",
)
def growth_journeyfsm_large_gc_tuned(settings: Settings) -> list[float]:
    return _per_journey(
        settings.growth_large, settings.growth_repeats_large, _jfsm_advance(), GC_TUNED
    )


@measured("growth", "dict_small", unit="us/journey", description="the dict floor, small population")
def growth_dict_small(settings: Settings) -> list[float]:
    return _per_journey(settings.growth_small, settings.growth_repeats_small, _dict_advance)


@measured("growth", "dict_large", unit="us/journey", description="the dict floor, large population")
def growth_dict_large(settings: Settings) -> list[float]:
    return _per_journey(settings.growth_large, settings.growth_repeats_large, _dict_advance)
