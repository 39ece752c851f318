"""Pruning the frequency caps' ledger: ``service.prune_deliveries(caps)`` deletes only
rows no cap counts any more, so a prune never changes a cap decision."""

from __future__ import annotations

import asyncio
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import START, quiet_logger
from hypothesis import given, settings
from hypothesis import strategies as st
from service_support import open_store, store

from journeyfsm import (
    AsyncJourneyService,
    FrequencyCap,
    JourneyMachine,
    JourneyService,
    ManualClock,
    templates,
)
from journeyfsm.stores import AsyncMemoryStore, MemoryStore, SQLiteStore, Store

CAPS = [
    FrequencyCap("email", 2, timedelta(hours=24)),
    FrequencyCap("email", 5, timedelta(days=7)),
    FrequencyCap("sms", 1, timedelta(hours=6)),
]


def service_on(store: Store) -> JourneyService:
    return JourneyService(JourneyMachine(templates.aida(), logger=quiet_logger()), store)


def counted(store: Store, customer: str, channel: str, now: Any, per: timedelta) -> list[Any]:
    with store.transaction() as tx:
        return tx.cap_deliveries(customer, channel, since=now - per)


sends = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=60 * 24 * 20),  # minutes after START
        st.sampled_from(["email", "sms", "push"]),
        st.sampled_from(["c-1", "c-2"]),
    ),
    min_size=1,
    max_size=40,
)


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
@settings(max_examples=40, deadline=None)
@given(sends=sends)
def test_a_prune_never_changes_what_a_cap_counts(kind: str, sends: list[Any]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        if kind == "memory":
            kept, pruned = MemoryStore(), MemoryStore()
        else:
            kept = SQLiteStore(Path(tmp) / "a.db", create_schema=True)
            pruned = SQLiteStore(Path(tmp) / "b.db", create_schema=True)
        service = service_on(pruned)
        for outbox_id, (minutes, channel, customer) in enumerate(sorted(sends), start=1):
            now = START + timedelta(minutes=minutes)
            for cap in CAPS:
                # what the worker would decide on: the deliveries the cap counts now
                a = counted(kept, customer, cap.channel, now, cap.per)
                b = counted(pruned, customer, cap.channel, now, cap.per)
                assert a == b
            for store in (kept, pruned):
                with store.transaction() as tx:
                    tx.cap_record(outbox_id, customer, channel, at=now)
            service.prune_deliveries(CAPS, now=now)
        if kind == "sqlite":
            kept.close()
            pruned.close()


__all__ = ["open_store", "store"]  # fixtures


def test_prune_deletes_what_is_older_than_the_longest_window_and_says_how_many(
    store: Store,
) -> None:
    with store.transaction() as tx:
        for i, days in enumerate([10, 8, 7, 6, 1], start=1):
            tx.cap_record(i, "c-1", "email", at=START - timedelta(days=days))
    service = service_on(store)
    assert service.prune_deliveries(CAPS, now=START) == 2  # 10 and 8 days old; 7 is kept
    with store.transaction() as tx:
        left = tx.cap_deliveries("c-1", "email", since=START - timedelta(days=30))
    assert [i for i, _ in left] == [3, 4, 5]
    assert service.prune_deliveries(CAPS, now=START) == 0


def test_the_service_clock_is_the_default_now() -> None:
    clock = ManualClock(START)
    store = MemoryStore()
    with store.transaction() as tx:
        tx.cap_record(1, "c-1", "sms", at=START)
    service = JourneyService(JourneyMachine(templates.aida(), clock=clock), store)
    assert service.prune_deliveries(CAPS[2:]) == 0
    clock.advance(timedelta(hours=6, seconds=1))
    assert service.prune_deliveries(CAPS[2:]) == 1


def test_the_async_service_prunes_too() -> None:
    async def run() -> int:
        store = AsyncMemoryStore()
        async with store.transaction() as tx:
            await tx.cap_record(1, "c-1", "email", at=START)
        service = AsyncJourneyService(JourneyMachine(templates.aida()), store)
        return await service.prune_deliveries(CAPS, now=START + timedelta(days=8))

    assert asyncio.run(run()) == 1


@pytest.mark.parametrize(
    ("caps", "error", "words"),
    [
        ([], ValueError, "non-empty list"),
        (CAPS[0], ValueError, "non-empty list"),
        (["email"], TypeError, "FrequencyCap objects"),
    ],
)
def test_bad_caps_are_refused(caps: Any, error: type[Exception], words: str) -> None:
    with pytest.raises(error, match=words):
        service_on(MemoryStore()).prune_deliveries(caps)


def test_a_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match="now"):
        service_on(MemoryStore()).prune_deliveries(CAPS, now=START.replace(tzinfo=None))


def ledger_ids(store: Store) -> list[int]:
    with store.transaction() as tx:
        return [i for i, _ in tx.cap_deliveries("c-1", "email", since=START - timedelta(days=365))]


def test_the_outbox_worker_prunes_the_ledger_every_prune_every() -> None:
    from journeyfsm import OutboxWorker

    clock = ManualClock(START)
    store = MemoryStore()
    with store.transaction() as tx:
        tx.cap_record(1, "c-1", "email", at=START - timedelta(days=8))
        tx.cap_record(2, "c-1", "email", at=START - timedelta(days=6, hours=23, minutes=30))
    machine = JourneyMachine(templates.aida(), clock=clock, logger=quiet_logger())
    worker = OutboxWorker(machine, store, caps=CAPS, prune_every=timedelta(hours=1))
    worker.run_once()
    assert ledger_ids(store) == [2]  # the first round prunes
    clock.advance(timedelta(minutes=40))  # row 2 is now older than 7 days
    worker.run_once()
    assert ledger_ids(store) == [2]  # not yet: once an hour
    clock.advance(timedelta(minutes=20))
    worker.run_once()
    assert ledger_ids(store) == []
    # without caps, or with prune_every=None, a worker never touches the ledger
    with store.transaction() as tx:
        tx.cap_record(3, "c-1", "email", at=START - timedelta(days=30))
    OutboxWorker(machine, store).run_once()
    OutboxWorker(machine, store, caps=CAPS, prune_every=None).run_once()
    assert ledger_ids(store) == [3]


@pytest.mark.parametrize("bad", [timedelta(0), timedelta(seconds=-1), 60])
def test_a_bad_prune_every_is_refused(bad: Any) -> None:
    from journeyfsm import OutboxWorker

    with pytest.raises(ValueError, match="prune_every must be a positive timedelta"):
        OutboxWorker(JourneyMachine(templates.aida()), MemoryStore(), caps=CAPS, prune_every=bad)
