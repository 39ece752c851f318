"""AsyncOutboxWorker and AsyncTimeoutWorker as asyncio tasks: async and sync effects mixed
and delivered once per row, on the loop (no thread); retries and dead letters exactly as
OutboxWorker's; ``run_forever`` / ``run`` stop at once on the stop event and on a cancel;
a cancel mid-effect leaves the claimed rows to their lease (delivered again: at least
once).  The sync workers' behaviour is tests/test_outbox.py and test_service_timeouts.py.

The rows are written by a sync JourneyService on the store under test; the async worker
reads them through the async twin of that store (service_support.async_twin).  Plain
``asyncio.run`` drives the tests; every wait is bounded by ``asyncio.wait_for``.
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import pytest
from conftest import START, checkout_builder, quiet_logger
from service_support import async_twin, open_store, shop_machine, store

from journeyfsm import (
    AsyncJourneyMachine,
    AsyncJourneyService,
    AsyncOutboxWorker,
    AsyncTimeoutWorker,
    EffectCall,
    JourneyBuilder,
    JourneyMachine,
    JourneyService,
    ManualClock,
    OutboxWorker,
)
from journeyfsm.stores import AsyncMemoryStore, MemoryStore, Store

__all__ = ["open_store", "store"]  # fixtures, imported to be found

WAIT = 5.0  # no single wait of a test is longer than this


@asynccontextmanager
async def twin(store: Store) -> AsyncIterator[Any]:
    """The async store on the database of ``store``, opened and closed."""
    opened = async_twin(store)
    if hasattr(opened, "open"):  # AsyncPostgresStore
        await opened.open()
    try:
        yield opened
    finally:
        if hasattr(opened, "close"):
            await opened.close()


def async_shop(clock: ManualClock, delivered: list[str]) -> AsyncJourneyMachine:
    """The checkout machine with ``track`` an async effect and ``thank_you`` a sync one."""
    machine = AsyncJourneyMachine(checkout_builder().build(), clock=clock, logger=quiet_logger())

    @machine.effect(on_transition="add_to_cart")
    async def track(call: EffectCall) -> None:
        await asyncio.sleep(0)
        assert threading.current_thread() is threading.main_thread()  # on the loop
        delivered.append(call.idempotency_key)

    @machine.effect(on_enter="paid")
    def thank_you(call: EffectCall) -> None:
        delivered.append(call.idempotency_key)

    return machine


def paid(service: JourneyService, key: str) -> None:
    service.handle(key, "add_to_cart", {"sku": "mug"}, event_id=f"{key}-1")
    service.handle(key, "checkout", event_id=f"{key}-2")
    service.handle(key, "pay", {"paid": True}, event_id=f"{key}-3")


def test_async_and_sync_effects_are_delivered_once_per_row(store: Store) -> None:
    clock, delivered = ManualClock(START), list[str]()
    service = JourneyService(shop_machine(clock), store)
    for i in range(5):
        paid(service, f"c-{i}")

    async def main() -> None:
        async with twin(store) as astore:
            worker = AsyncOutboxWorker(async_shop(clock, delivered), astore)
            assert await worker.counts() == {"pending": 10, "dead": 0, "done": 0, "dropped": 0}
            assert await asyncio.wait_for(worker.run_once(limit=3), WAIT) == 3
            assert await asyncio.wait_for(worker.run_once(), WAIT) == 7
            assert await worker.run_once() == 0
            assert await worker.counts() == {"pending": 0, "dead": 0, "done": 10, "dropped": 0}

    asyncio.run(main())
    expected = [
        f"checkout:c-{i}:{s}:{e}" for i in range(5) for s, e in ((1, "track"), (3, "thank_you"))
    ]
    assert sorted(delivered) == sorted(expected)  # each exactly once


def test_an_async_effect_awaiting_io_lets_other_tasks_run() -> None:
    clock, memory = ManualClock(START), MemoryStore()
    JourneyService(shop_machine(clock), memory).handle("c-1", "add_to_cart")
    machine = AsyncJourneyMachine(checkout_builder().build(), clock=clock, logger=quiet_logger())
    reply = asyncio.Event()
    order: list[str] = []

    @machine.effect(on_transition="add_to_cart")
    async def track(call: EffectCall) -> None:
        order.append("sent")
        await reply.wait()  # the "I/O": answered by another task of the same loop
        order.append("answered")

    async def server() -> None:
        while not order:
            await asyncio.sleep(0)
        order.append("server ran")
        reply.set()

    async def main() -> None:
        worker = AsyncOutboxWorker(machine, AsyncMemoryStore(memory))
        ran, _ = await asyncio.wait_for(asyncio.gather(worker.run_once(), server()), WAIT)
        assert ran == 1

    asyncio.run(main())
    assert order == ["sent", "server ran", "answered"]


def _failing_run(sync: bool) -> list[tuple[Any, ...]]:
    """The outbox rows after a failing effect's attempts, by the sync or the async worker."""
    clock, memory = ManualClock(START), MemoryStore()
    writer = shop_machine(clock)
    writer.effect(lambda call: None, on_enter="checkout", name="flaky_crm")
    paid(JourneyService(writer, memory), "c-1")
    steps = [0, 0, 10, 9, 11, 86400]
    seen: list[int] = []
    if sync:
        machine = shop_machine(clock)

        @machine.effect(on_enter="checkout")
        def flaky_crm(call: EffectCall) -> None:
            raise ConnectionError(f"crm down ({len(seen) + 1})")

        worker = OutboxWorker(machine, memory, max_attempts=3, backoff=10, rng=random.Random(1))
        for step in steps:
            clock.advance(timedelta(seconds=step))
            seen.append(worker.run_once())
    else:
        amachine = async_shop(clock, [])

        @amachine.effect(on_enter="checkout", name="flaky_crm")
        async def flaky_crm_async(call: EffectCall) -> None:
            await asyncio.sleep(0)
            raise ConnectionError(f"crm down ({len(seen) + 1})")

        async def main() -> None:
            worker = AsyncOutboxWorker(
                amachine, AsyncMemoryStore(memory), max_attempts=3, backoff=10, rng=random.Random(1)
            )
            for step in steps:
                clock.advance(timedelta(seconds=step))
                seen.append(await asyncio.wait_for(worker.run_once(), WAIT))
            [dead] = await worker.dead_letters()
            assert dead.effect == "flaky_crm"

        asyncio.run(main())
    with memory.transaction(write=False) as tx:
        rows = tx.outbox("checkout")
    return [tuple(seen)] + [
        (r.effect, r.status, r.attempts, r.available_at, r.last_error) for r in rows
    ]


def test_an_async_effect_that_raises_is_retried_and_dead_lettered_as_a_sync_one() -> None:
    # the same rows and the same schedule: the attempts, the backoff, the last error
    runs = _failing_run(sync=False)
    assert runs == _failing_run(sync=True)
    assert runs[0] == (3, 0, 1, 0, 1, 0)
    assert runs[2][:3] == ("flaky_crm", "dead", 3)
    assert runs[2][4] == "ConnectionError: crm down (5)"


def test_dead_letters_are_requeued_by_the_async_worker() -> None:
    clock, memory = ManualClock(START), MemoryStore()
    JourneyService(shop_machine(clock), memory).handle("c-1", "add_to_cart")
    machine = AsyncJourneyMachine(checkout_builder().build(), clock=clock, logger=quiet_logger())
    down = [True]

    @machine.effect(on_transition="add_to_cart")
    async def track(call: EffectCall) -> None:
        if down[0]:
            raise RuntimeError("smtp down")

    async def main() -> None:
        worker = AsyncOutboxWorker(machine, AsyncMemoryStore(memory), max_attempts=1)
        assert await worker.run_once() == 1
        [dead] = await worker.dead_letters()
        assert dead.last_error == "RuntimeError: smtp down"
        down[0] = False
        assert await worker.requeue_dead() == 1
        assert await worker.run_once() == 1
        assert await worker.counts() == {"pending": 0, "dead": 0, "done": 1, "dropped": 0}

    asyncio.run(main())


def _stopped_run(stop_by: str) -> None:
    clock, memory, delivered = ManualClock(START), MemoryStore(), list[str]()
    service = JourneyService(shop_machine(clock), memory)
    for i in range(3):
        service.handle(f"c-{i}", "add_to_cart")

    async def main() -> None:
        worker = AsyncOutboxWorker(async_shop(clock, delivered), AsyncMemoryStore(memory))
        stop = asyncio.Event()
        task = asyncio.create_task(worker.run_forever(stop, idle=60))  # a long idle wait
        while len(delivered) < 3:
            await asyncio.wait_for(asyncio.sleep(0.001), WAIT)
        await asyncio.sleep(0.01)  # now in its idle wait
        started = time.monotonic()
        if stop_by == "event":
            stop.set()
            await asyncio.wait_for(task, WAIT)
        else:
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await asyncio.wait_for(task, WAIT)
        assert time.monotonic() - started < 1.0  # at once, not after the 60 s

    asyncio.run(main())
    assert sorted(delivered) == [f"checkout:c-{i}:1:track" for i in range(3)]


@pytest.mark.parametrize("stop_by", ["event", "cancel"])
def test_run_forever_stops_at_once(stop_by: str) -> None:
    _stopped_run(stop_by)


def test_a_cancel_mid_effect_leaves_the_claimed_rows_to_their_lease(store: Store) -> None:
    clock, delivered = ManualClock(START), list[str]()
    service = JourneyService(shop_machine(clock), store)
    for i in range(2):
        service.handle(f"c-{i}", "add_to_cart")
    lease = timedelta(seconds=60)
    machine = AsyncJourneyMachine(checkout_builder().build(), clock=clock, logger=quiet_logger())
    hang = [True]
    running: list[str] = []

    @machine.effect(on_transition="add_to_cart")
    async def track(call: EffectCall) -> None:
        running.append(call.key)
        if hang[0]:
            await asyncio.Event().wait()  # an effect that waits on I/O, forever
        delivered.append(call.idempotency_key)

    async def main() -> None:
        async with twin(store) as astore:
            worker = AsyncOutboxWorker(machine, astore, lease=lease, name="a")
            task = asyncio.create_task(worker.run_once(limit=10))
            while not running:
                await asyncio.wait_for(asyncio.sleep(0.001), WAIT)
            task.cancel()  # mid-effect of the first row; the second is claimed, not run
            with pytest.raises(asyncio.CancelledError):
                await asyncio.wait_for(task, WAIT)
            assert len(running) == 1 and delivered == []
            other = AsyncOutboxWorker(machine, astore, lease=lease, name="b")
            hang[0] = False
            assert await other.run_once() == 0  # both rows still leased to "a"
            assert await other.counts() == {"pending": 2, "dead": 0, "done": 0, "dropped": 0}
            clock.advance(lease)
            assert await asyncio.wait_for(other.run_once(), WAIT) == 2  # delivered again
            assert await other.counts() == {"pending": 0, "dead": 0, "done": 2, "dropped": 0}

    asyncio.run(main())
    assert sorted(delivered) == ["checkout:c-0:1:track", "checkout:c-1:1:track"]


def test_the_async_workers_refuse_the_sync_machine_and_service() -> None:
    machine = JourneyMachine(checkout_builder().build())
    with pytest.raises(TypeError, match="AsyncOutboxWorker takes an AsyncJourneyMachine"):
        AsyncOutboxWorker(machine, AsyncMemoryStore())  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="AsyncTimeoutWorker takes an AsyncJourneyService"):
        AsyncTimeoutWorker(JourneyService(machine, MemoryStore()))  # type: ignore[arg-type]


def cart_service(clock: ManualClock, store: Any) -> AsyncJourneyService:
    d = (
        JourneyBuilder("cart")
        .stage("browsing", initial=True)
        .stage("cart")
        .stage("abandoned", final=True)
        .transition("add_to_cart", "browsing", "cart")
        .transition("abandon", "cart", "abandoned")
        .timeout("cart", timedelta(hours=24), "abandon")
        .build()
    )
    return AsyncJourneyService(JourneyMachine(d, clock=clock, logger=quiet_logger()), store)


def test_the_async_timeout_worker_fires_due_timeouts_on_its_clock() -> None:
    clock = ManualClock(START)

    async def main() -> None:
        service = cart_service(clock, AsyncMemoryStore())
        for i in range(5):
            await service.handle(f"c-{i}", "add_to_cart")
        worker = AsyncTimeoutWorker(service, interval=60, limit=2)  # several full ticks
        assert (await worker.run_once()).fired == 0
        clock.advance(timedelta(hours=24))
        report = await asyncio.wait_for(worker.run_once(), WAIT)
        assert (report.journeys, report.fired) == (5, 5)
        assert {(await service.get(f"c-{i}")).stage for i in range(5)} == {"abandoned"}  # type: ignore[union-attr]
        assert (await worker.run_once()).fired == 0

    asyncio.run(main())


@pytest.mark.parametrize("stop_by", ["event", "cancel"])
def test_the_async_timeout_worker_runs_until_stopped_at_once(stop_by: str) -> None:
    clock = ManualClock(START)

    async def main() -> None:
        service = cart_service(clock, AsyncMemoryStore())
        await service.handle("c-1", "add_to_cart")
        clock.advance(timedelta(days=1))
        stop = asyncio.Event()
        task = asyncio.create_task(AsyncTimeoutWorker(service, interval=60).run(stop))
        while (await service.get("c-1")).stage != "abandoned":  # type: ignore[union-attr]
            await asyncio.wait_for(asyncio.sleep(0.001), WAIT)
        started = time.monotonic()
        if stop_by == "event":
            stop.set()
            await asyncio.wait_for(task, WAIT)
        else:
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await asyncio.wait_for(task, WAIT)
        assert time.monotonic() - started < 1.0  # not after the 60 s interval

    asyncio.run(main())
