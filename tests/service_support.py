"""What the service, store and outbox tests share: the stores they run against, a shop
machine with a move counter and effects, and the invariants every stored journey keeps.

The behavioural suite is parametrized over ``STORES``: each test runs on every store.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import checkout_builder, quiet_logger

from journeyfsm import Context, EffectCall, JourneyMachine, JourneyService, ManualClock
from journeyfsm.stores import MemoryStore, SQLiteStore, Store

STORES = ["memory", "sqlite"]

StoreFactory = Callable[[], Store]


def store_factory(kind: str, tmp_path: Path) -> StoreFactory:
    """A function that opens the store of ``kind``; sqlite: another connection to one file."""
    if kind == "memory":
        shared = MemoryStore()
        return lambda: shared
    path = tmp_path / "journeys.db"
    SQLiteStore(path, create_schema=True)
    return lambda: SQLiteStore(path)


@pytest.fixture(params=STORES)
def open_store(request: pytest.FixtureRequest, tmp_path: Path) -> StoreFactory:
    """Opens the store under test (twice: two handles on one database)."""
    return store_factory(request.param, tmp_path)


@pytest.fixture
def store(open_store: StoreFactory) -> Store:
    """The store under test."""
    return open_store()


def shop_machine(
    clock: ManualClock | None = None, delivered: list[str] | None = None
) -> JourneyMachine:
    """The checkout machine with: a ``moves`` counter bumped by an after hook on every
    move, ``add_to_cart`` putting ``payload['sku']`` in ``data['cart']``, and two
    effects (``track`` on add_to_cart, ``thank_you`` on entering ``paid``) that append
    their idempotency key to ``delivered``."""
    machine = JourneyMachine(checkout_builder().build(), clock=clock, logger=quiet_logger())
    sink = delivered if delivered is not None else []

    @machine.after
    def count(ctx: Context) -> None:
        ctx.journey.data["moves"] = ctx.journey.data.get("moves", 0) + 1

    @machine.on_transition("add_to_cart")
    def put_in_cart(ctx: Context) -> None:
        sku = ctx.payload.get("sku", "item") if isinstance(ctx.payload, dict) else "item"
        ctx.journey.data.setdefault("cart", []).append(sku)

    @machine.effect(on_transition="add_to_cart")
    def track(call: EffectCall) -> None:
        sink.append(call.idempotency_key)

    @machine.effect(on_enter="paid")
    def thank_you(call: EffectCall) -> None:
        sink.append(call.idempotency_key)

    return machine


def assert_consistent(service: JourneyService, keys: list[str]) -> int:
    """Each stored journey: version == history length == data['moves'], the history a
    chain of the definition's edges from the initial stage, no event id twice.  Returns
    the total number of history rows."""
    edges = {
        (e.source, e.trigger, e.source if e.dest is None else e.dest)
        for e in service.machine.definition.edges()
    }
    total = 0
    for key in keys:
        journey = service.get(key)
        history = service.history(key, limit=10_000)
        if journey is None:
            assert history == []
            continue
        assert journey.version == len(history) == journey.data["moves"], key
        stage = service.machine.definition.initial_stage
        for i, entry in enumerate(history, 1):
            assert entry.seq == i and entry.source == stage, (key, entry)
            assert (entry.source, entry.trigger, entry.dest) in edges, (key, entry)
            stage = entry.dest
        assert stage == journey.stage
        ids = [e.event_id for e in history if e.event_id is not None]
        assert len(ids) == len(set(ids)), key
        total += len(history)
    return total


def dump_sqlite(path: Path) -> dict[str, Any]:
    """Every row of every table of a SQLite file (to show nothing else changed)."""
    conn = sqlite3.connect(path)
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return {
            t: sorted(json.dumps(r) for r in conn.execute(f'SELECT * FROM "{t}"')) for t in tables
        }
    finally:
        conn.close()


def dump_store(store: Store, definition: str, keys: list[str]) -> Any:
    """What a store holds for ``keys`` (rows, history, outbox), comparable across calls."""
    with store.transaction(write=False) as tx:
        return [
            (
                tx.load(definition, k),
                tx.history(definition, k, limit=10_000),
                tx.outbox(definition, key=k),
            )
            for k in keys
        ]
