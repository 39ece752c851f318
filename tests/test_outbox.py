"""OutboxWorker on every store: delivery after the commit, retries with backoff, dead
letters that do not block other rows, requeue, reclaiming expired leases, counts."""

from __future__ import annotations

import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from contextlib import closing
from datetime import timedelta
from pathlib import Path

import pytest
from conftest import START
from service_support import StoreFactory, open_store, process_db, shop_machine, store

from journeyfsm import EffectCall, JourneyService, ManualClock, OutboxWorker
from journeyfsm.stores import SQLiteStore, Store

__all__ = ["open_store", "process_db", "store"]  # fixtures, imported to be found


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


def _paid(service: JourneyService, key: str) -> None:
    service.handle(key, "add_to_cart", {"sku": "mug"}, event_id=f"{key}-1")
    service.handle(key, "checkout", event_id=f"{key}-2")
    service.handle(key, "pay", {"paid": True}, event_id=f"{key}-3")


def test_a_worker_delivers_each_effect_of_committed_moves_and_marks_it_done(
    store: Store, clock: ManualClock
) -> None:
    delivered: list[str] = []
    machine = shop_machine(clock, delivered)
    _paid(JourneyService(machine, store), "c-1")
    assert delivered == []  # nothing runs inside handle
    worker = OutboxWorker(machine, store)
    assert worker.counts() == {"pending": 2, "dead": 0, "done": 0, "dropped": 0}
    assert worker.run_once() == 2
    assert delivered == ["checkout:c-1:1:track", "checkout:c-1:3:thank_you"]
    assert worker.counts() == {"pending": 0, "dead": 0, "done": 2, "dropped": 0}
    assert worker.run_once() == 0


def test_the_effect_receives_the_call_the_move_made(store: Store, clock: ManualClock) -> None:
    machine = shop_machine(clock)
    seen: list[EffectCall] = []
    machine.effect(seen.append, on_enter="cart", name="welcome")
    outcome = JourneyService(machine, store).handle(
        "c-1", "add_to_cart", {"sku": "pen"}, event_id="e-1", meta={"channel": "web"}
    )
    OutboxWorker(machine, store).run_once()
    [call] = seen
    assert call == next(c for c in outcome.pending_effects if c.effect == "welcome")
    assert call.data == {"moves": 1, "cart": ["pen"]} and call.meta == {"channel": "web"}


def test_a_failing_effect_is_retried_with_backoff_then_dead_lettered_with_its_error(
    store: Store, clock: ManualClock
) -> None:
    machine = shop_machine(clock)
    calls: list[str] = []

    @machine.effect(on_enter="checkout")
    def flaky_crm(call: EffectCall) -> None:
        calls.append(call.idempotency_key)
        raise ConnectionError(f"crm down ({len(calls)})")

    service = JourneyService(machine, store)
    _paid(service, "c-1")
    worker = OutboxWorker(machine, store, max_attempts=3, backoff=10, rng=random.Random(1))
    assert worker.run_once() == 3  # track, flaky_crm, thank_you
    assert worker.counts() == {
        "pending": 1,
        "dead": 0,
        "done": 2,
        "dropped": 0,
    }  # the others went on
    assert worker.run_once() == 0  # not due yet
    clock.advance(timedelta(seconds=10))  # first retry after 5..10 s
    assert worker.run_once() == 1
    clock.advance(timedelta(seconds=9))
    assert worker.run_once() == 0  # second retry after 10..20 s (doubled)
    clock.advance(timedelta(seconds=11))
    assert worker.run_once() == 1
    assert worker.counts() == {"pending": 0, "dead": 1, "done": 2, "dropped": 0}
    [dead] = worker.dead_letters()
    assert (dead.effect, dead.attempts) == ("flaky_crm", 3)
    assert dead.last_error == "ConnectionError: crm down (3)"
    assert len(set(calls)) == 1 and len(calls) == 3  # the same key on every attempt
    clock.advance(timedelta(days=1))
    assert worker.run_once() == 0


def test_dead_letters_can_be_requeued(store: Store, clock: ManualClock) -> None:
    machine = shop_machine(clock)
    down = [True]

    @machine.effect(on_enter="cart")
    def mailer(call: EffectCall) -> None:
        if down[0]:
            raise RuntimeError("smtp down")

    JourneyService(machine, store).handle("c-1", "add_to_cart")
    worker = OutboxWorker(machine, store, max_attempts=1)
    worker.run_once()
    [dead] = worker.dead_letters()
    down[0] = False
    assert worker.requeue_dead([dead.id + 1000]) == 0
    assert worker.requeue_dead() == 1
    assert worker.run_once() == 1
    assert worker.counts() == {"pending": 0, "dead": 0, "done": 2, "dropped": 0}


def test_an_effect_no_longer_registered_is_retried_not_lost(
    store: Store, clock: ManualClock
) -> None:
    JourneyService(shop_machine(clock), store).handle("c-1", "add_to_cart")
    bare = shop_machine(clock)
    bare._hooks.effects.pop("track")  # a deployment that lost the effect
    worker = OutboxWorker(bare, store, max_attempts=2)
    worker.run_once()
    with store.transaction(write=False) as tx:
        [item] = tx.outbox("checkout")
    assert item.status == "pending" and "no effect named 'track'" in (item.last_error or "")


def test_a_dead_workers_lease_expires_and_another_worker_delivers(
    store: Store, clock: ManualClock
) -> None:
    delivered: list[str] = []
    machine = shop_machine(clock, delivered)
    JourneyService(machine, store).handle("c-1", "add_to_cart")
    lease = timedelta(seconds=60)
    with store.transaction() as tx:  # worker "a" claims, then dies
        tx.claim("checkout", worker="a", now=START, lease=lease, limit=10)
    worker = OutboxWorker(machine, store, lease=lease, name="b")
    assert worker.run_once() == 0
    clock.advance(lease)
    assert worker.run_once() == 1
    assert delivered == ["checkout:c-1:1:track"]


def test_workers_of_another_definition_leave_the_rows_alone(
    store: Store, clock: ManualClock
) -> None:
    from journeyfsm import JourneyMachine, templates

    JourneyService(shop_machine(clock), store).handle("c-1", "add_to_cart")
    assert OutboxWorker(JourneyMachine(templates.aida()), store).run_once() == 0


def test_run_forever_drains_until_stopped(store: Store, clock: ManualClock) -> None:
    delivered: list[str] = []
    machine = shop_machine(clock, delivered)
    service = JourneyService(machine, store)
    for i in range(5):
        service.handle(f"c-{i}", "add_to_cart")
    stop = threading.Event()
    worker = OutboxWorker(machine, store)
    thread = threading.Thread(target=worker.run_forever, args=(stop,), kwargs={"idle": 0.01})
    thread.start()
    for _ in range(500):
        if len(delivered) == 5:
            break
        stop.wait(0.01)
    stop.set()
    thread.join(5)
    assert not thread.is_alive()
    assert sorted(delivered) == sorted(f"checkout:c-{i}:1:track" for i in range(5))


def test_two_workers_share_the_rows_without_delivering_one_twice(
    open_store: StoreFactory, clock: ManualClock
) -> None:
    delivered: list[str] = []
    machine = shop_machine(clock, delivered)
    service = JourneyService(machine, open_store())
    for i in range(40):
        service.handle(f"c-{i}", "add_to_cart")
    workers = [OutboxWorker(machine, open_store(), name=n) for n in "ab"]

    def drain(worker: OutboxWorker) -> None:
        while worker.run_once(limit=3):
            pass

    threads = [threading.Thread(target=drain, args=(w,)) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(delivered) == sorted(f"checkout:c-{i}:1:track" for i in range(40))


def test_a_corrupted_outbox_row_is_dead_lettered_without_blocking_others(
    tmp_path: Path, clock: ManualClock
) -> None:
    path = tmp_path / "j.db"
    delivered: list[str] = []
    machine = shop_machine(clock, delivered)
    service = JourneyService(machine, SQLiteStore(path, create_schema=True))
    service.handle("c-bad", "add_to_cart")
    service.handle("c-bad2", "add_to_cart")
    service.handle("c-ok", "add_to_cart")
    with closing(sqlite3.connect(path)) as conn, conn:
        conn.execute("UPDATE journeyfsm_outbox SET call = '{broken' WHERE key = 'c-bad'")
        conn.execute("UPDATE journeyfsm_outbox SET call = '{\"seq\": 1}' WHERE key = 'c-bad2'")
    worker = OutboxWorker(machine, service.store)
    assert worker.run_once() == 3
    assert delivered == ["checkout:c-ok:1:track"]
    bad, bad2 = worker.dead_letters()
    assert bad.key == "c-bad" and "outbox.call of journey 'c-bad'" in (bad.last_error or "")
    assert "malformed JSON" in (bad.last_error or "") and bad.attempts == 1
    assert "outbox.call of journey 'c-bad2'" in (bad2.last_error or "")


def test_worker_settings_are_checked(store: Store) -> None:
    with pytest.raises(ValueError, match="max_attempts"):
        OutboxWorker(shop_machine(), store, max_attempts=0)
    with pytest.raises(ValueError, match="lease"):
        OutboxWorker(shop_machine(), store, lease=timedelta(0))
    with pytest.raises(ValueError, match="limit"):
        OutboxWorker(shop_machine(), store).run_once(0)


def test_a_worker_killed_after_an_effect_ran_leaves_it_to_be_delivered_again(
    tmp_path: Path, process_db: tuple[str, Store]
) -> None:
    db, store = process_db
    service = JourneyService(shop_machine(), store)
    keys = [f"c-{i}" for i in range(4)]
    for key in keys:
        _paid(service, key)
    receiver = tmp_path / "receiver.log"
    script = Path(__file__).parent / "service_process.py"
    killed = subprocess.run(
        [sys.executable, str(script), "drain", db, str(receiver), "0.5", "3"],
        capture_output=True,
        timeout=60,
    )
    assert killed.returncode == -signal.SIGKILL
    assert len(receiver.read_text().split()) == 3  # the third ran; its row is still leased
    time.sleep(0.6)  # the dead worker's lease expires
    restarted = subprocess.run(
        [sys.executable, str(script), "drain", db, str(receiver), "0.5"],
        capture_output=True,
        timeout=60,
    )
    assert restarted.returncode == 0, restarted.stderr.decode()
    received = receiver.read_text().split()
    expected = {f"checkout:{k}:1:track" for k in keys} | {f"checkout:{k}:3:thank_you" for k in keys}
    assert set(received) == expected  # every effect delivered at least once
    assert len(received) == len(expected) + 1  # the interrupted one twice: same key
    worker = OutboxWorker(shop_machine(), store)
    assert worker.counts() == {"pending": 0, "dead": 0, "done": 8, "dropped": 0}
