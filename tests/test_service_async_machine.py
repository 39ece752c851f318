"""AsyncJourneyService driving an AsyncJourneyMachine: async guards and hooks inside the
service's move (each decide step runs through the machine's ``_drive`` hand-off), with the
sync service's outcomes and rows, nothing written when a hook raises or the caller is
cancelled, and many tasks racing on few journeys.

Async-only: the shared suite (``make_service``) registers sync hooks, which an
AsyncJourneyMachine would run on the loop without its hand-off.  Plain ``asyncio.run``;
every wait is bounded.
"""

from __future__ import annotations

import asyncio
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import START, checkout_builder, quiet_logger
from service_support import assert_consistent, dump_store, shop_machine

from journeyfsm import (
    AsyncJourneyMachine,
    AsyncJourneyService,
    Context,
    EffectCall,
    HookError,
    JourneyBuilder,
    JourneyMachine,
    JourneyService,
    ManualClock,
    guard,
)
from journeyfsm.stores import AsyncMemoryStore, AsyncSQLiteStore, MemoryStore, SQLiteStore

WAIT = 10  # seconds: the bound of every wait below


def async_shop(clock: ManualClock, delivered: list[str] | None = None) -> AsyncJourneyMachine:
    """``shop_machine`` with its hooks ``async def`` (each awaits the loop once)."""
    machine = AsyncJourneyMachine(checkout_builder().build(), clock=clock, logger=quiet_logger())
    sink = delivered if delivered is not None else []

    @machine.after
    async def count(ctx: Context) -> None:
        await asyncio.sleep(0)
        ctx.journey.data["moves"] = ctx.journey.data.get("moves", 0) + 1

    @machine.on_transition("add_to_cart")
    async def put_in_cart(ctx: Context) -> None:
        await asyncio.sleep(0)
        sku = ctx.payload.get("sku", "item") if isinstance(ctx.payload, dict) else "item"
        ctx.journey.data.setdefault("cart", []).append(sku)

    @machine.effect(on_transition="add_to_cart")
    def track(call: EffectCall) -> None:
        sink.append(call.idempotency_key)

    @machine.effect(on_enter="paid")
    def thank_you(call: EffectCall) -> None:
        sink.append(call.idempotency_key)

    return machine


def stores(kind: str, tmp_path: Path) -> tuple[MemoryStore | SQLiteStore, Any]:
    """A sync store to look at and the async store on the same data."""
    if kind == "memory":
        memory = MemoryStore()
        return memory, AsyncMemoryStore(memory)
    path = tmp_path / "journeys.db"
    return SQLiteStore(path, create_schema=True), AsyncSQLiteStore(path)


async def closed(store: Any) -> None:
    if hasattr(store, "close"):
        await store.close()


EVENTS: list[Any] = [
    ("c-1", "add_to_cart", {"sku": "mug"}, "e-1"),
    ("c-1", "add_to_cart", {"sku": "cup"}, "e-2"),
    ("c-1", "add_to_cart", None, "e-1"),  # redelivered: duplicate
    ("c-1", "checkout", None, "e-3"),
    ("c-1", "pay", {"paid": False}, "e-4"),  # blocked by payment_ok
    ("c-1", "pay", {"paid": True}, "e-5"),
    ("c-2", "note", None, None),
    ("c-2", "pay", {"paid": True}, None),  # ignored: no pay from browsing
]


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_the_same_outcomes_and_rows_as_the_sync_service(kind: str, tmp_path: Path) -> None:
    sync_store = MemoryStore()
    sync_service = JourneyService(shop_machine(ManualClock(START)), sync_store)
    expected = [
        sync_service.handle(k, t, p, event_id=e) for k, t, p, e in EVENTS
    ] + sync_service.handle_many([(k, t, p) for k, t, p, _ in EVENTS[:2]] + [("c-3", "note")])

    look, store = stores(kind, tmp_path)
    machine = async_shop(ManualClock(START))
    service = AsyncJourneyService(machine, store)
    assert service.machine is machine

    async def main() -> list[Any]:
        out = [await service.handle(k, t, p, event_id=e) for k, t, p, e in EVENTS]
        out += await service.handle_many(
            [(k, t, p) for k, t, p, _ in EVENTS[:2]] + [("c-3", "note")]
        )
        await closed(store)
        return out

    got = asyncio.run(main())
    assert [o.status for o in got] == [o.status for o in expected]
    assert got == expected
    keys = ["c-1", "c-2", "c-3"]
    assert dump_store(look, "checkout", keys) == dump_store(sync_store, "checkout", keys)


def test_an_async_guard_that_blocks_gives_blocked_with_its_results() -> None:
    @guard
    async def in_stock(ctx: Context) -> bool:
        "the warehouse has the item"
        await asyncio.sleep(0)
        return bool(ctx.payload["sku"] != "sold-out")

    shop = (
        JourneyBuilder("shop")
        .stage("browsing", initial=True)
        .stage("cart", final=True)
        .transition("add_to_cart", "browsing", "cart", guards=[in_stock])
        .build()
    )
    memory = MemoryStore()
    service = AsyncJourneyService(AsyncJourneyMachine(shop), AsyncMemoryStore(memory))

    async def main() -> tuple[Any, Any]:
        blocked = await service.handle("c-1", "add_to_cart", {"sku": "sold-out"}, event_id="e1")
        assert await service.get("c-1") is None  # a blocked event writes nothing
        moved = await service.handle("c-1", "add_to_cart", {"sku": "mug"}, event_id="e1")
        return blocked, moved

    blocked, moved = asyncio.run(main())
    assert blocked.status == "blocked" and blocked.failed_guards == ("in_stock",)
    assert [(g.name, g.passed) for c in blocked.candidates for g in c.guards] == [
        ("in_stock", False)
    ]
    assert (
        moved.status == "moved" and moved.entry is not None and moved.entry.seq == 1
    )  # the blocked event id was not kept


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_an_async_hook_that_raises_is_a_hook_error_and_writes_nothing(
    kind: str, tmp_path: Path
) -> None:
    look, store = stores(kind, tmp_path)
    machine = async_shop(ManualClock(START))

    @machine.on_enter("checkout")
    async def refuse(ctx: Context) -> None:
        await asyncio.sleep(0)
        raise RuntimeError("payment provider down")

    service = AsyncJourneyService(machine, store)

    async def main() -> None:
        await service.handle("c-1", "add_to_cart", {"sku": "mug"}, event_id="e-1")
        before = dump_store(look, "checkout", ["c-1"])
        with pytest.raises(HookError, match="refuse"):
            await service.handle("c-1", "checkout", event_id="e-2")
        with pytest.raises(HookError, match="refuse"):
            await service.handle_many([("c-1", "note"), ("c-1", "checkout")])
        after = dump_store(look, "checkout", ["c-1"])
        assert after[0][0].version == before[0][0].version + 1  # the note before it, only
        assert [e.trigger for e in after[0][1]] == ["add_to_cart", "note"]
        await closed(store)

    asyncio.run(main())


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_a_handle_cancelled_in_an_async_hook_writes_nothing(kind: str, tmp_path: Path) -> None:
    look, store = stores(kind, tmp_path)
    machine = async_shop(ManualClock(START))
    state: dict[str, Any] = {"hold": True}

    @machine.on_enter("checkout")
    async def slow_check(ctx: Context) -> None:
        ctx.journey.data["checked"] = True  # rolled back with the move
        if state["hold"]:
            state["started"].set()
            await asyncio.sleep(WAIT * 10)  # cancelled long before

    service = AsyncJourneyService(machine, store)

    async def main() -> None:
        state["started"] = asyncio.Event()
        await service.handle("c-1", "add_to_cart", {"sku": "mug"}, event_id="e-1")
        before = dump_store(look, "checkout", ["c-1"])
        task = asyncio.create_task(service.handle("c-1", "checkout", event_id="e-2"))
        await asyncio.wait_for(state["started"].wait(), WAIT)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(task, WAIT)
        assert dump_store(look, "checkout", ["c-1"]) == before  # nothing written
        state["hold"] = False
        again = await asyncio.wait_for(service.handle("c-1", "checkout", event_id="e-2"), WAIT)
        assert again.status == "moved" and again.entry is not None and again.entry.seq == 2
        journey = await service.get("c-1")
        assert journey is not None and journey.data["moves"] == 2 and journey.data["checked"]
        await closed(store)

    asyncio.run(main())


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_many_tasks_racing_with_async_hooks_move_each_event_exactly_once(
    kind: str, tmp_path: Path
) -> None:
    look, store = stores(kind, tmp_path)
    keys = [f"c-{i}" for i in range(10)]
    service = AsyncJourneyService(
        async_shop(ManualClock(START)), store, max_attempts=100, backoff=0.0005
    )

    async def main() -> list[Any]:
        events = [(key, n) for n in range(5) for key in keys]  # 50 events, 5 per journey
        out = await asyncio.wait_for(
            asyncio.gather(
                *(
                    service.handle(key, "add_to_cart", {"sku": f"s{n}"}, event_id=f"{key}/{n}")
                    for key, n in events
                )
            ),
            WAIT * 6,
        )
        await closed(store)
        return out

    outcomes = asyncio.run(main())
    assert [o.status for o in outcomes] == ["moved"] * 50
    reader = JourneyService(shop_machine(ManualClock(START)), look)
    assert assert_consistent(reader, keys) == 50  # versions contiguous, no id twice
    for key in keys:
        history = reader.history(key)
        assert sorted(e.event_id or "" for e in history) == [f"{key}/{n}" for n in range(5)]
        journey = reader.get(key)
        assert journey is not None and sorted(journey.data["cart"]) == [f"s{n}" for n in range(5)]


@pytest.mark.parametrize("batch_size", [1, 100])
def test_tick_awaits_the_async_hooks_of_a_timeout(batch_size: int) -> None:
    cart = (
        JourneyBuilder("cart")
        .stage("browsing", initial=True)
        .stage("cart")
        .stage("abandoned", final=True)
        .transition("add_to_cart", "browsing", "cart")
        .transition("abandon", "cart", "abandoned")
        .timeout("cart", timedelta(hours=24), "abandon")
        .build()
    )
    clock = ManualClock(START)
    machine = AsyncJourneyMachine(cart, clock=clock, logger=quiet_logger())

    @machine.on_enter("abandoned")
    async def mark(ctx: Context) -> None:
        await asyncio.sleep(0)
        ctx.journey.data["reminded"] = ctx.journey.key

    @machine.on_enter("abandoned")
    async def fail_one(ctx: Context) -> None:
        if ctx.journey.key == "c-bad":
            raise RuntimeError("no")

    @machine.effect(on_enter="abandoned")
    def remind(call: EffectCall) -> None: ...

    memory = MemoryStore()
    service = AsyncJourneyService(machine, AsyncMemoryStore(memory))

    async def main() -> Any:
        for key in ("c-1", "c-2", "c-bad"):
            await service.handle(key, "add_to_cart", at=START)
        return await service.tick(START + timedelta(days=2), batch_size=batch_size)

    report = asyncio.run(main())
    assert report.journeys == 2 and report.fired == 2
    assert [key for key, _ in report.failed] == ["c-bad"]
    for key in ("c-1", "c-2"):
        journey = asyncio.run(service.get(key))
        assert journey is not None and journey.stage == "abandoned"
        assert journey.data == {"reminded": key}
    bad = asyncio.run(service.get("c-bad"))
    assert bad is not None and bad.stage == "cart"  # still due: the next tick tries again
    with memory.transaction(write=False) as tx:
        assert [r.effect for r in tx.outbox("cart")] == ["remind", "remind"]


def test_the_sync_service_refuses_an_async_machine() -> None:
    machine = AsyncJourneyMachine(checkout_builder().build())
    with pytest.raises(TypeError, match="goes with AsyncJourneyService"):
        JourneyService(machine, MemoryStore())  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="JourneyMachine or an AsyncJourneyMachine"):
        AsyncJourneyService(object(), AsyncMemoryStore())  # type: ignore[arg-type]
    sync = JourneyMachine(checkout_builder().build())
    assert AsyncJourneyService(sync, AsyncMemoryStore()).machine is sync


def test_a_handle_many_cancelled_in_an_async_hook_writes_nothing_of_its_batch() -> None:
    memory = MemoryStore()
    machine = async_shop(ManualClock(START))
    started: list[asyncio.Event] = []

    @machine.on_enter("checkout")
    async def slow_check(ctx: Context) -> None:
        started[0].set()
        await asyncio.sleep(WAIT * 10)  # cancelled long before

    service = AsyncJourneyService(machine, AsyncMemoryStore(memory))

    async def main() -> None:
        started.append(asyncio.Event())
        events = [("c-1", "add_to_cart"), ("c-2", "add_to_cart"), ("c-1", "checkout")]
        task = asyncio.create_task(service.handle_many(events))
        await asyncio.wait_for(started[0].wait(), WAIT)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(task, WAIT)

    asyncio.run(main())
    assert dump_store(memory, "checkout", ["c-1", "c-2"]) == [(None, [], []), (None, [], [])]


def test_an_async_machine_without_async_callbacks_moves_on_the_loop() -> None:
    machine = AsyncJourneyMachine(checkout_builder().build())
    threads: list[threading.Thread] = []

    @machine.after
    def where(ctx: Context) -> None:
        threads.append(threading.current_thread())

    service = AsyncJourneyService(machine, AsyncMemoryStore())
    outcome = asyncio.run(service.handle("c-1", "add_to_cart"))
    assert outcome.moved and threads == [threading.main_thread()]
