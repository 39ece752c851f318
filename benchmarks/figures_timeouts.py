"""Timeout figures: how fast ``JourneyService.tick`` fires due timeouts from a store.

Setup (not timed): ``n`` journeys (100,000 in the full run) made in memory by the bare
machine, each entered into ``cart`` at the same time, so each has one timeout (``abandon``
after one hour) armed; they are written with ``import_journeys`` (1,000 per transaction,
rows, history and event ids, no outbox rows), which puts ``next_due`` in the indexed
column.  Timed: ONE ``service.tick(now, ...)`` an hour and a second later:

- ``batch_size=100`` (the default), ``limit=n``: each transaction claims 100 due
  journeys (SQLite ``BEGIN IMMEDIATE``; PostgreSQL one ``SELECT ... FOR UPDATE SKIP
  LOCKED``), fires their timeouts through the sans-IO core and writes the batch's journey
  rows, history rows and event ids with one statement each;
- ``batch_size=1``, ``limit=min(n, 10,000)`` of the ``n`` due: each journey in its own
  transaction (read the due keys, claim the row, fire, write, commit): the behaviour
  before batches, on the first 10,000 only, as its rate does not depend on how many are
  left and 100,000 would take minutes.

The figures are timeouts fired per second.  Logging is filtered; SQLite is one WAL file
with ``synchronous=FULL``; PostgreSQL is the server of ``figures_service``
(``JOURNEYFSM_PG_DSN`` or ``pgserver``).
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from typing import Any

from journeyfsm import JourneyBuilder, JourneyMachine, JourneyService
from journeyfsm.stores import SQLiteStore

from .contenders import filtered_logger
from .figures_service import _db, _kept, _pg_store
from .harness import Settings, measured, ratio

__all__: list[str] = []

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
FULL_N = 100_000
ONE_BY_ONE_N = 10_000  # due journeys a batch_size=1 tick advances (of the FULL_N due)


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


def _due(store: Any, n: int) -> JourneyService:
    """``n`` journeys in ``cart`` since ``T0`` (an abandon due at T0 + 1 h) in ``store``."""
    service = JourneyService(_machine(), store)
    machine = service.machine
    journeys = []
    for i in range(n):
        journey = machine.start(f"customer-{i}", at=T0)
        machine.fire(journey, "add_to_cart", at=T0)
        journeys.append(journey)
    service.import_journeys(journeys, batch_size=1000)
    return service


def _tick_rate(store: Any, n: int, *, batch_size: int, limit: int) -> list[float]:
    service = _due(store, n)
    t0 = time.perf_counter()
    report = service.tick(T0 + timedelta(hours=1, seconds=1), limit=limit, batch_size=batch_size)
    seconds = time.perf_counter() - t0
    if report.fired != limit or report.failed:
        raise RuntimeError(f"tick fired {report.fired} of {limit} timeouts: {report.failed[:3]}")
    return [limit / seconds]


def _sqlite() -> Any:
    return _kept(SQLiteStore(_db("timeouts"), create_schema=True))


@measured(
    "timeouts",
    "tick_sqlite",
    unit="timeouts/s",
    description="JourneyService.tick on SQLite: 100k due journeys, 100 per transaction",
)
def timeouts_tick_sqlite(settings: Settings) -> list[float]:
    n = size(settings)
    return _tick_rate(_sqlite(), n, batch_size=100, limit=n)


@measured(
    "timeouts",
    "tick_sqlite_one",
    unit="timeouts/s",
    description="JourneyService.tick on SQLite, batch_size=1: 10k of 100k due, one per transaction",
)
def timeouts_tick_sqlite_one(settings: Settings) -> list[float]:
    n = size(settings)
    return _tick_rate(_sqlite(), n, batch_size=1, limit=min(n, ONE_BY_ONE_N))


@measured(
    "timeouts",
    "tick_pg",
    unit="timeouts/s",
    description="JourneyService.tick on PostgreSQL: 100k due journeys, 100 per transaction",
)
def timeouts_tick_pg(settings: Settings) -> list[float]:
    n = size(settings)
    return _tick_rate(_pg_store(), n, batch_size=100, limit=n)


@measured(
    "timeouts",
    "tick_pg_one",
    unit="timeouts/s",
    description="JourneyService.tick on PostgreSQL, batch_size=1: 10k of 100k due, one per "
    "transaction",
)
def timeouts_tick_pg_one(settings: Settings) -> list[float]:
    n = size(settings)
    return _tick_rate(_pg_store(), n, batch_size=1, limit=min(n, ONE_BY_ONE_N))


ratio(
    "tick_batched_vs_one_sqlite",
    "timeouts.tick_sqlite",
    "timeouts.tick_sqlite_one",
    "tick timeouts/s on SQLite: 100 journeys per transaction / one per transaction",
    (">=", 5.0),
)
ratio(
    "tick_batched_vs_one_pg",
    "timeouts.tick_pg",
    "timeouts.tick_pg_one",
    "tick timeouts/s on PostgreSQL: 100 journeys per transaction / one per transaction",
    (">=", 5.0),
)
