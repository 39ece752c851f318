"""Timeout figures: how fast ``JourneyService.tick`` fires due timeouts from a store.

Setup (not timed): ``n`` journeys (100,000 in the full run) each enter ``cart`` through
``handle_many``, so each has one timeout (``abandon`` after one hour) armed in the
indexed ``next_due`` column.  Timed: ONE ``service.tick(now)`` an hour and a second
later, with ``limit=n``: it reads the due keys, then for each journey, in its own
transaction, claims the row (SQLite: ``BEGIN IMMEDIATE``; PostgreSQL: ``FOR UPDATE SKIP
LOCKED``), fires the timeout through the sans-IO core, and writes the journey row, the
history row and the event id.  The figure is timeouts fired per second.  Logging is
filtered; SQLite is one WAL file with ``synchronous=FULL``; PostgreSQL is the server of
``figures_service`` (``JOURNEYFSM_PG_DSN`` or ``pgserver``).
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from typing import Any

from journeyfsm import Event, JourneyBuilder, JourneyMachine, JourneyService
from journeyfsm.stores import SQLiteStore

from .contenders import filtered_logger
from .figures_service import _db, _kept, _pg_store
from .harness import Settings, measured

__all__: list[str] = []

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
FULL_N = 100_000


def _machine() -> JourneyMachine:
    definition = (
        JourneyBuilder("bench_cart")
        .stage("browsing", initial=True)
        .stage("cart")
        .stage("abandoned", final=True)
        .transition("add_to_cart", "browsing", "cart")
        .transition("abandon", "cart", "abandoned")
        .timeout("cart", timedelta(hours=1), "abandon")
        .build()
    )
    return JourneyMachine(definition, logger=filtered_logger())


def size(settings: Settings) -> int:
    """100,000 due journeys in the full run; the small growth population otherwise."""
    return settings.growth_small if settings.quick else FULL_N


def _tick_rate(store: Any, n: int) -> list[float]:
    service = JourneyService(_machine(), store)
    service.handle_many(
        (Event(f"customer-{i}", "add_to_cart", at=T0) for i in range(n)), batch_size=500
    )
    t0 = time.perf_counter()
    report = service.tick(T0 + timedelta(hours=1, seconds=1), limit=n)
    seconds = time.perf_counter() - t0
    if report.fired != n or report.failed:
        raise RuntimeError(f"tick fired {report.fired} of {n} timeouts: {report.failed[:3]}")
    return [n / seconds]


@measured(
    "timeouts",
    "tick_sqlite",
    unit="timeouts/s",
    description="JourneyService.tick on SQLite: 100k due journeys, one transaction each",
)
def timeouts_tick_sqlite(settings: Settings) -> list[float]:
    return _tick_rate(_kept(SQLiteStore(_db("timeouts"), create_schema=True)), size(settings))


@measured(
    "timeouts",
    "tick_pg",
    unit="timeouts/s",
    description="JourneyService.tick on PostgreSQL: 100k due journeys, one transaction each",
)
def timeouts_tick_pg(settings: Settings) -> list[float]:
    return _tick_rate(_pg_store(), size(settings))
