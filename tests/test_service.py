"""JourneyService on every store: exactly-once moves, duplicates, refusals before any
write, optimistic conflicts and retries, batches, the host's own transaction."""

from __future__ import annotations

import json
import random
import signal
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import closing, contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from conftest import START
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from service_support import (
    ServiceFactory,
    StoreFactory,
    assert_consistent,
    dump_store,
    make_service,
    open_store,
    process_db,
    shop_machine,
    store,
    two_stores,
)

from journeyfsm import (
    ConcurrencyConflict,
    Context,
    DataError,
    Event,
    HookError,
    JourneyService,
    ManualClock,
    UnknownTrigger,
)
from journeyfsm.stores import MemoryStore, SQLiteStore, Store

__all__ = [
    "make_service",
    "open_store",
    "process_db",
    "store",
    "two_stores",
]  # fixtures, imported to be found


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def service(store: Store, clock: ManualClock, make_service: ServiceFactory) -> JourneyService:
    return make_service(shop_machine(clock), store)


def test_handle_commits_the_move_history_event_id_and_outbox_rows(
    service: JourneyService, store: Store
) -> None:
    outcome = service.handle("c-1", "add_to_cart", {"sku": "mug"}, event_id="e-1")
    assert (outcome.status, outcome.source, outcome.dest) == ("moved", "browsing", "cart")
    journey = service.get("c-1")
    assert journey is not None
    assert (journey.stage, journey.version, journey.data) == (
        "cart",
        1,
        {"moves": 1, "cart": ["mug"]},
    )
    [entry] = service.history("c-1")
    assert (entry.seq, entry.trigger, entry.event_id, entry.at) == (1, "add_to_cart", "e-1", START)
    with store.transaction(write=False) as tx:
        assert tx.event_seq("checkout", "c-1", "e-1") == 1
        [row] = tx.outbox("checkout", key="c-1")
    assert (row.effect, row.idempotency_key, row.status) == (
        "track",
        "checkout:c-1:1:track",
        "pending",
    )
    assert row.call["data"] == {"moves": 1, "cart": ["mug"]}


def test_redelivered_event_id_is_a_duplicate_with_its_seq_and_writes_nothing(
    service: JourneyService, store: Store
) -> None:
    service.handle("c-1", "add_to_cart", event_id="e-1")
    service.handle("c-1", "add_to_cart", event_id="e-2")
    before = dump_store(store, "checkout", ["c-1"])
    again = service.handle("c-1", "add_to_cart", event_id="e-1")
    assert (again.status, again.seq, again.source) == ("duplicate", 1, "cart")
    assert dump_store(store, "checkout", ["c-1"]) == before


def test_event_ids_are_per_journey(service: JourneyService) -> None:
    assert service.handle("c-1", "add_to_cart", event_id="e-1").moved
    assert service.handle("c-2", "add_to_cart", event_id="e-1").moved


def test_blocked_and_ignored_events_write_nothing(service: JourneyService, store: Store) -> None:
    assert service.handle("c-1", "pay", {"paid": True}).status == "ignored"
    assert service.get("c-1") is None
    service.handle("c-1", "add_to_cart")
    before = dump_store(store, "checkout", ["c-1"])
    blocked = service.handle("c-1", "pay", {"paid": True}, event_id="e-9")
    assert blocked.status == "ignored"  # pay is not valid from cart
    service.handle("c-1", "checkout", event_id="e-2")
    before = dump_store(store, "checkout", ["c-1"])
    refused = service.handle("c-1", "pay", {"paid": False}, event_id="e-3")
    assert refused.blocked
    assert dump_store(store, "checkout", ["c-1"]) == before
    # the blocked event id was not remembered: delivered again, it is judged again
    assert service.handle("c-1", "pay", {"paid": True}, event_id="e-3").moved


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"trigger": "add_to_kart"}, UnknownTrigger),
        ({"payload": {"when": datetime(2026, 1, 1)}}, DataError),
        ({"payload": {"tags": {"vip"}}}, DataError),
        ({"payload": float("nan")}, DataError),
        ({"at": datetime(2026, 1, 1, 10, 0)}, ValueError),
        ({"meta": {"n": object()}}, DataError),
        ({"event_id": ""}, TypeError),
    ],
)
def test_bad_input_is_refused_before_anything_is_written(
    service: JourneyService, store: Store, kwargs: dict[str, Any], error: type[Exception]
) -> None:
    service.handle("c-1", "add_to_cart", event_id="e-1")
    before = dump_store(store, "checkout", ["c-1", "c-2"])
    call: dict[str, Any] = {"trigger": "add_to_cart", "event_id": "e-2", **kwargs}
    trigger = call.pop("trigger")
    for key in ("c-1", "c-2"):  # an existing journey and a new one
        with pytest.raises(error):
            service.handle(key, trigger, **call)
    assert dump_store(store, "checkout", ["c-1", "c-2"]) == before


def test_unknown_trigger_error_names_close_matches(service: JourneyService) -> None:
    with pytest.raises(UnknownTrigger, match="add_to_cart"):
        service.handle("c-1", "add_to_kart")


def test_other_time_zones_are_stored_as_utc(service: JourneyService) -> None:
    at = datetime(2026, 3, 1, 12, 0, tzinfo=timezone(timedelta(hours=2)))
    service.handle("c-1", "add_to_cart", at=at)
    assert service.history("c-1")[0].at == datetime(2026, 3, 1, 10, 0, tzinfo=timezone.utc)


def test_history_pages_in_seq_order(service: JourneyService) -> None:
    for i in range(7):
        service.handle("c-1", "note" if i else "add_to_cart", event_id=f"e-{i}")
    first = service.history("c-1", limit=3)
    rest = service.history("c-1", after=first[-1].seq, limit=100)
    assert [e.seq for e in first] == [1, 2, 3]
    assert [e.seq for e in rest] == [4, 5, 6, 7]


def test_initial_data_makes_a_new_journeys_data(store: Store, clock: ManualClock) -> None:
    service = JourneyService(shop_machine(clock), store, initial_data=lambda key: {"who": key})
    service.handle("c-1", "add_to_cart")
    journey = service.get("c-1")
    assert journey is not None and journey.data["who"] == "c-1"


def test_entered_at_is_kept_across_internal_transitions(
    service: JourneyService, store: Store, clock: ManualClock
) -> None:
    service.handle("c-1", "add_to_cart")
    clock.advance(timedelta(hours=1))
    service.handle("c-1", "note")
    with store.transaction(write=False) as tx:
        row = tx.load("checkout", "c-1")
    assert row is not None
    assert row.entered_at == START and row.updated_at == START + timedelta(hours=1)


def test_a_version_conflict_is_retried_on_the_fresh_journey(
    open_store: StoreFactory, clock: ManualClock, make_service: ServiceFactory
) -> None:
    machine = shop_machine(clock)
    other = JourneyService(shop_machine(clock), open_store())
    service = make_service(machine, open_store())
    service.handle("c-1", "add_to_cart")
    raced = []

    @service.machine.before
    def another_worker_moves_first(ctx: Context) -> None:
        if not raced:  # between this worker's read and its write
            raced.append(other.handle("c-1", "note", event_id="other"))

    outcome = service.handle("c-1", "add_to_cart", {"sku": "pen"}, event_id="mine")
    assert raced[0].moved and outcome.moved
    assert outcome.entry is not None and outcome.entry.seq == 3  # decided again, after 'note'
    journey = service.get("c-1")
    assert journey is not None
    assert journey.version == 3 and journey.data["moves"] == 3  # no lost update
    assert [e.event_id for e in service.history("c-1")] == [None, "other", "mine"]


def test_conflicts_on_every_attempt_raise_and_write_nothing(
    open_store: StoreFactory, clock: ManualClock, make_service: ServiceFactory
) -> None:
    machine = shop_machine(clock)
    other = JourneyService(shop_machine(clock), open_store())
    service = make_service(machine, open_store(), max_attempts=3, backoff=0.0)
    service.handle("c-1", "add_to_cart")

    @service.machine.before
    def always_beaten(ctx: Context) -> None:
        other.handle("c-1", "note")

    with pytest.raises(ConcurrencyConflict, match="3 attempts") as info:
        service.handle("c-1", "add_to_cart", event_id="mine")
    assert info.value.key == "c-1"
    assert "mine" not in [e.event_id for e in service.history("c-1")]
    assert assert_consistent(service, ["c-1"]) == 4  # 1 + three notes by the other worker


def test_the_same_event_racing_on_two_workers_moves_once(
    open_store: StoreFactory, clock: ManualClock, make_service: ServiceFactory
) -> None:
    machine = shop_machine(clock)
    other = JourneyService(shop_machine(clock), open_store())
    service = make_service(machine, open_store())
    raced = []

    @service.machine.before
    def redelivered_to_another_worker(ctx: Context) -> None:
        if not raced:
            raced.append(other.handle("c-1", "add_to_cart", event_id="e-1"))

    outcome = service.handle("c-1", "add_to_cart", event_id="e-1")
    assert raced[0].moved
    assert (outcome.status, outcome.seq) == ("duplicate", 1)
    assert assert_consistent(service, ["c-1"]) == 1


def test_threads_racing_on_shared_journeys_lose_no_update(
    open_store: StoreFactory, clock: ManualClock
) -> None:
    keys = [f"c-{i}" for i in range(5)]
    results: list[str] = []
    errors: list[BaseException] = []

    def work(n: int) -> None:
        service = JourneyService(shop_machine(clock), open_store(), max_attempts=50)
        try:
            for i in range(30):
                key = keys[(i + n) % len(keys)]
                trigger = "add_to_cart" if i % 3 else "note"
                # every event delivered by two threads: e-{i} of thread n == of thread n^1
                results.append(service.handle(key, trigger, event_id=f"{key}-{i}-{n // 2}").status)
        except BaseException as err:  # pragma: no cover - reported below
            errors.append(err)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    total = assert_consistent(JourneyService(shop_machine(clock), open_store()), keys)
    assert results.count("moved") == total
    assert results.count("duplicate") + results.count("moved") == len(results) == 120


def test_handle_many_keeps_each_journeys_order_and_skips_duplicates(
    service: JourneyService,
) -> None:
    events = [
        Event("c-1", "add_to_cart", {"sku": "a"}, event_id="1"),
        Event("c-2", "add_to_cart", {"sku": "x"}, event_id="1"),
        Event("c-1", "add_to_cart", {"sku": "b"}, event_id="2"),
        Event("c-1", "add_to_cart", {"sku": "b"}, event_id="2"),  # redelivered in the batch
        Event("c-1", "checkout", event_id="3"),
        Event("c-1", "pay", {"paid": True}, event_id="4"),
    ]
    outcomes = service.handle_many(events, batch_size=4)
    assert [o.status for o in outcomes] == ["moved"] * 3 + ["duplicate"] + ["moved"] * 2
    journey = service.get("c-1")
    assert journey is not None
    assert journey.stage == "paid" and journey.data["cart"] == ["a", "b"]
    again = service.handle_many(events)
    assert {o.status for o in again} == {"duplicate"}


def test_handle_many_refuses_a_bad_event_before_writing_anything(
    service: JourneyService, store: Store
) -> None:
    events = [Event("c-1", "add_to_cart"), Event("c-2", "add_to_cart", {"x": {1, 2}})]
    with pytest.raises(DataError, match=r"payload\['x'\]"):
        service.handle_many(events)
    assert dump_store(store, "checkout", ["c-1", "c-2"]) == [(None, [], []), (None, [], [])]


def test_handle_many_commits_up_to_a_failing_hook_then_raises(
    store: Store, clock: ManualClock
) -> None:
    machine = shop_machine(clock)

    @machine.on_enter("paid")
    def explode(ctx: Context) -> None:
        raise RuntimeError("mailer down")

    service = JourneyService(machine, store)
    events = [
        Event("c-1", "add_to_cart", {"sku": "a"}, event_id="1"),
        Event("c-1", "checkout", event_id="2"),
        Event("c-1", "pay", {"paid": True}, event_id="3"),
        Event("c-2", "add_to_cart", event_id="1"),
    ]
    with pytest.raises(HookError, match="explode"):
        service.handle_many(events)
    journey = service.get("c-1")
    assert journey is not None and journey.stage == "checkout" and journey.version == 2
    assert service.get("c-2") is None
    assert assert_consistent(service, ["c-1", "c-2"]) == 2


EVENTS_MANY = st.lists(
    st.tuples(
        st.sampled_from(["c-1", "c-2", "c-3"]),
        st.sampled_from(["add_to_cart", "checkout", "pay", "note", "abandon", "come_back"]),
        st.sampled_from([None, {"paid": True}, {"paid": False}, {"sku": "pen"}]),
        st.one_of(st.none(), st.integers(0, 8)),  # ids repeat: redeliveries in a batch
    ),
    max_size=20,
)


# -- the batch path: one read, decisions in memory, one write_many -------------------------
def _mixed_batch() -> list[Event]:
    """New and stored journeys, several moves of one journey, an event id repeated in the
    batch and one committed before it, events without ids, blocked, ignored, effects."""
    return [
        Event("old-1", "add_to_cart", {"sku": "b"}, event_id="o1-2"),
        Event("new-1", "add_to_cart", {"sku": "x"}, event_id="n1-1"),
        Event("old-1", "note", event_id="o1-3"),  # internal: entered_at kept
        Event("new-1", "add_to_cart", {"sku": "y"}, event_id="n1-1"),  # repeated in the batch
        Event("old-2", "add_to_cart", event_id="o2-1"),  # committed before the batch
        Event("new-1", "checkout", event_id="n1-2"),
        Event("old-1", "checkout"),  # no event id
        Event("new-2", "pay", {"paid": True}, event_id="n2-1"),  # ignored: not from browsing
        Event("new-1", "pay", {"paid": False}, event_id="n1-3"),  # blocked by the guard
        Event("new-1", "pay", {"paid": True}, event_id="n1-4"),  # thank_you in the outbox
        Event("old-2", "note", event_id="o2-2"),
        Event("old-1", "pay", {"paid": True}, event_id="o1-4"),
        Event("new-3", "add_to_cart", event_id="n3-1"),
    ]


def _prepare(store: Store) -> JourneyService:
    service = JourneyService(shop_machine(ManualClock(START)), store)
    service.handle("old-1", "add_to_cart", {"sku": "a"}, event_id="o1-1")
    service.handle("old-2", "add_to_cart", event_id="o2-1")
    service.machine.clock.advance(timedelta(minutes=5))  # type: ignore[attr-defined]
    return service


def _summary(outcomes: list[Any]) -> list[Any]:
    return [
        (
            o.status,
            o.key,
            o.source,
            o.dest,
            o.seq,
            o.entry,
            [c.to_dict() for c in o.pending_effects],
        )
        for o in outcomes
    ]


@pytest.mark.parametrize("batch_size", [3, 100])
def test_handle_many_writes_exactly_what_handle_writes_event_by_event(
    two_stores: tuple[Store, Store], batch_size: int
) -> None:
    by_one, by_batch = _prepare(two_stores[0]), _prepare(two_stores[1])
    events = _mixed_batch()
    expected = [
        by_one.handle(e.key, e.trigger, e.payload, event_id=e.event_id, at=e.at, meta=e.meta)
        for e in events
    ]
    got = by_batch.handle_many(events, batch_size=batch_size)
    assert _summary(got) == _summary(expected)
    assert [o.status for o in got] == [
        "moved",
        "moved",
        "moved",
        "duplicate",
        "duplicate",
        "moved",
        "moved",
        "ignored",
        "blocked",
        "moved",
        "moved",
        "moved",
        "moved",
    ]
    assert (got[3].seq, got[4].seq) == (1, 1)
    keys = ["old-1", "old-2", "new-1", "new-2", "new-3"]
    # journey rows (stage, data, version, times), history and outbox rows: identical
    assert dump_store(two_stores[1], "checkout", keys) == dump_store(
        two_stores[0], "checkout", keys
    )
    assert assert_consistent(by_batch, keys) == 11


def test_handle_many_reads_and_writes_a_batch_at_once(store: Store) -> None:
    service = _prepare(store)
    calls: list[str] = []

    class Counting:
        def __init__(self, inner: Store) -> None:
            self.inner = inner

        def create_schema(self) -> None:  # pragma: no cover - not called
            self.inner.create_schema()

        @contextmanager
        def transaction(self, *, write: bool = True) -> Iterator[Any]:
            with self.inner.transaction(write=write) as tx:
                yield CountingTx(tx)

    class CountingTx:
        def __init__(self, tx: Any) -> None:
            self.tx = tx

        def __getattr__(self, name: str) -> Any:
            calls.append(name)
            return getattr(self.tx, name)

    service.store = Counting(store)
    outcomes = service.handle_many(_mixed_batch())
    assert len(outcomes) == 13
    # one read of the rows, one of the event ids, one write of the 9 moves
    assert sorted(calls) == ["event_seqs", "load_many", "write_many"]


def test_an_event_id_repeated_in_a_batch_is_a_duplicate_with_the_seq_it_got(
    service: JourneyService,
) -> None:
    service.handle("c-1", "add_to_cart", event_id="first")
    outcomes = service.handle_many(
        [
            Event("c-1", "add_to_cart", {"sku": "b"}, event_id="again"),
            Event("c-1", "note", event_id="x"),
            Event("c-1", "add_to_cart", {"sku": "c"}, event_id="again"),
            Event("c-2", "add_to_cart", event_id="again"),  # ids are per journey
            Event("c-1", "note", event_id="first"),
        ]
    )
    assert [(o.status, o.seq) for o in outcomes] == [
        ("moved", None),
        ("moved", None),
        ("duplicate", 2),
        ("moved", None),
        ("duplicate", 1),
    ]
    assert outcomes[2].source == "cart"  # the stage the batch's earlier moves made
    journey = service.get("c-1")
    assert journey is not None and journey.version == 3 and journey.data["cart"] == ["item", "b"]
    assert [e.event_id for e in service.history("c-1")] == ["first", "again", "x"]


def test_a_conflict_in_a_batch_falls_back_one_by_one_and_loses_nothing(
    open_store: StoreFactory, clock: ManualClock, make_service: ServiceFactory
) -> None:
    machine = shop_machine(clock)
    other = JourneyService(shop_machine(clock), open_store())
    service = make_service(machine, open_store())
    service.handle("c-1", "add_to_cart", event_id="c1-0")
    raced = []

    @service.machine.before
    def another_worker_moves_c1_meanwhile(ctx: Context) -> None:
        if not raced:  # after the batch's read, before its write
            raced.append(other.handle("c-1", "note", event_id="other"))

    events = [
        Event("c-2", "add_to_cart", event_id="c2-1"),
        Event("c-1", "add_to_cart", {"sku": "b"}, event_id="c1-1"),
        Event("c-1", "checkout", event_id="c1-2"),
        Event("c-3", "add_to_cart", event_id="c3-1"),
        Event("c-2", "note", event_id="c2-2"),
    ]
    outcomes = service.handle_many(events)
    assert raced[0].moved
    assert [o.status for o in outcomes] == ["moved"] * 5
    c1 = [(e.event_id, e.trigger) for e in service.history("c-1")]
    assert c1 == [
        ("c1-0", "add_to_cart"),
        ("other", "note"),
        ("c1-1", "add_to_cart"),
        ("c1-2", "checkout"),
    ]
    assert assert_consistent(service, ["c-1", "c-2", "c-3"]) == 7  # nothing lost or doubled
    with service.store.transaction(write=False) as tx:
        tracked = [item.seq for item in tx.outbox("checkout", key="c-1")]
    assert tracked == [1, 3]  # one track effect per add_to_cart move, none twice
    again = service.handle_many(events)
    assert {o.status for o in again} == {"duplicate"}


def test_batches_racing_on_shared_journeys_lose_no_update(
    open_store: StoreFactory, clock: ManualClock
) -> None:
    keys = [f"c-{i}" for i in range(6)]
    results: list[str] = []
    errors: list[BaseException] = []

    def work(n: int) -> None:
        service = JourneyService(shop_machine(clock), open_store(), max_attempts=50)
        # every event delivered by two threads (n and n ^ 1), in batches of 7
        events = [
            Event(
                keys[(i * (n // 2 + 1)) % len(keys)],
                "add_to_cart" if i % 3 else "note",
                event_id=f"{n // 2}-{i}",
            )
            for i in range(40)
        ]
        try:
            results.extend(o.status for o in service.handle_many(events, batch_size=7))
        except BaseException as err:  # pragma: no cover - reported below
            errors.append(err)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    total = assert_consistent(JourneyService(shop_machine(clock), open_store()), keys)
    assert results.count("moved") == total == 80  # each distinct event moved exactly once
    assert results.count("duplicate") == 80


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events=EVENTS_MANY, batch_size=st.integers(1, 8))
def test_handle_many_is_handle_event_after_event(
    events: list[tuple[str, str, Any, int | None]], batch_size: int
) -> None:
    by_one = JourneyService(shop_machine(ManualClock(START)), MemoryStore())
    by_batch = JourneyService(shop_machine(ManualClock(START)), MemoryStore())
    batch = [Event(k, t, p, event_id=None if n is None else f"e{n}") for k, t, p, n in events]
    expected: list[Any] = []
    failure: Exception | None = None
    for e in batch:
        try:
            expected.append(by_one.handle(e.key, e.trigger, e.payload, event_id=e.event_id))
        except Exception as err:  # a guard refusing the payload's type, say
            failure = err
            break
    if failure is None:
        assert _summary(by_batch.handle_many(batch, batch_size=batch_size)) == _summary(expected)
    else:
        with pytest.raises(type(failure)):
            by_batch.handle_many(batch, batch_size=batch_size)
    keys = ["c-1", "c-2", "c-3"]
    assert dump_store(by_batch.store, "checkout", keys) == dump_store(
        by_one.store, "checkout", keys
    )


def test_get_of_a_journey_that_never_moved_is_none(service: JourneyService) -> None:
    assert service.get("nobody") is None
    assert service.history("nobody") == []


def test_purge_event_ids_forgets_old_ids_only(service: JourneyService, clock: ManualClock) -> None:
    service.handle("c-1", "add_to_cart", event_id="old")
    clock.advance(timedelta(days=40))
    service.handle("c-1", "note", event_id="new")
    assert service.purge_event_ids(START + timedelta(days=30)) == 1
    assert service.handle("c-1", "note", event_id="new").duplicate
    assert service.handle("c-1", "note", event_id="old").moved  # forgotten: handled again


def test_the_store_purges_event_ids_itself(
    service: JourneyService, store: Store, clock: ManualClock
) -> None:
    service.handle("c-1", "add_to_cart", event_id="old")
    clock.advance(timedelta(days=40))
    service.handle("c-1", "note", event_id="new")
    assert store.purge_event_ids(START + timedelta(days=30)) == 1  # type: ignore[attr-defined]
    assert service.handle("c-1", "note", event_id="old").moved
    with pytest.raises(ValueError, match="naive"):
        store.purge_event_ids(START.replace(tzinfo=None))  # type: ignore[attr-defined]


def test_handle_many_takes_tuples_and_dicts_as_a_queue_decodes_them(
    service: JourneyService,
) -> None:
    outcomes = service.handle_many(
        [
            ("c-1", "add_to_cart"),
            ("c-1", "note", None),
            {"key": "c-1", "trigger": "note", "event_id": "e-9", "meta": {"ch": "web"}},
            {"key": "c-1", "trigger": "note", "event_id": "e-9"},
        ]
    )
    assert [o.status for o in outcomes] == ["moved", "moved", "moved", "duplicate"]
    assert service.history("c-1")[2].meta == {"ch": "web"}
    with pytest.raises(TypeError, match="unknown fields \\['when'\\]"):
        service.handle_many([{"key": "c-2", "trigger": "note", "when": 1}])
    with pytest.raises(TypeError, match="at index 1"):
        service.handle_many([("c-2", "note"), "c-2 note"])
    assert service.get("c-2") is None  # refused before anything was written


def test_handle_inside_the_hosts_transaction_commits_and_rolls_back_with_it(
    tmp_path: Path, clock: ManualClock, request: pytest.FixtureRequest
) -> None:
    path = tmp_path / "app.db"
    SQLiteStore(path, create_schema=True)
    conn = sqlite3.connect(path)
    request.addfinalizer(conn.close)
    conn.execute("CREATE TABLE orders (id TEXT PRIMARY KEY)")
    conn.commit()
    service = JourneyService(shop_machine(clock), SQLiteStore(connection=conn))
    with pytest.raises(RuntimeError), conn:
        conn.execute("INSERT INTO orders VALUES ('o-1')")
        assert service.handle("c-1", "add_to_cart", event_id="e-1").moved
        raise RuntimeError("the host's request failed after handle")
    assert service.get("c-1") is None
    assert conn.execute("SELECT COUNT(*) FROM orders").fetchone() == (0,)
    with conn:
        conn.execute("INSERT INTO orders VALUES ('o-1')")
        service.handle("c-1", "add_to_cart", event_id="e-1")
    other = JourneyService(shop_machine(clock), SQLiteStore(path))  # another connection
    journey = other.get("c-1")
    assert journey is not None and journey.stage == "cart"
    assert conn.execute("SELECT COUNT(*) FROM orders").fetchone() == (1,)


def test_handle_on_an_autocommit_connection_without_a_transaction_commits_each_event(
    tmp_path: Path, clock: ManualClock, request: pytest.FixtureRequest
) -> None:
    """Nobody would commit a transaction left open on an autocommit connection: the
    store runs its own and commits it (the transaction rule, tests/test_host_transactions.py)."""
    path = tmp_path / "app.db"
    SQLiteStore(path, create_schema=True)
    conn = sqlite3.connect(path, isolation_level=None)  # autocommit
    request.addfinalizer(conn.close)
    service = JourneyService(shop_machine(clock), SQLiteStore(connection=conn))
    assert not conn.in_transaction  # opening the store and reading leave none open
    assert service.get("c-1") is None and not conn.in_transaction
    assert service.handle("c-1", "add_to_cart").moved
    assert not conn.in_transaction  # committed, the write lock released
    assert JourneyService(shop_machine(clock), SQLiteStore(path)).get("c-1") is not None


def test_service_refuses_what_is_not_a_machine_or_store(store: Store) -> None:
    with pytest.raises(TypeError, match="JourneyMachine"):
        JourneyService(object(), store)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="store"):
        JourneyService(shop_machine(), object())  # type: ignore[arg-type]


# -- processes: two workers on one SQLite file, and workers killed mid-move ----------------
PROCESS = Path(__file__).parent / "service_process.py"
STEPS: list[tuple[str, Any]] = [
    ("add_to_cart", {"sku": "a"}),
    ("note", None),
    ("add_to_cart", {"sku": "b"}),
    ("checkout", None),
    ("pay", {"paid": True}),
]


def _stream(keys: list[str]) -> list[list[Any]]:
    """Every key's steps with event ids, interleaved across keys (each key in order)."""
    return [
        [key, trigger, payload, f"{key}-{i}"]
        for i, (trigger, payload) in enumerate(STEPS)
        for key in keys
    ]


def _run(*args: Any) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, str(PROCESS), *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def _state(service: JourneyService, keys: list[str]) -> list[Any]:
    out = []
    for key in keys:
        journey = service.get(key)
        history = [(e.trigger, e.source, e.dest, e.event_id) for e in service.history(key)]
        out.append(None if journey is None else (journey.stage, journey.data, history))
    return out


def test_worker_processes_on_one_database_move_each_event_once(
    tmp_path: Path, process_db: tuple[str, Store]
) -> None:
    db, store = process_db
    postgres = not isinstance(store, SQLiteStore)
    n_workers, keys = (
        (4, [f"c-{i}" for i in range(500)]) if postgres else (2, [f"c-{i}" for i in range(30)])
    )
    rng = random.Random(8)
    parts: list[list[list[Any]]] = [[] for _ in range(n_workers)]
    stream = _stream(keys)
    rng.shuffle(stream)  # each key's events in any order: invalid ones are ignored
    for event in stream:
        worker = rng.randrange(n_workers)
        parts[worker].append(event)
        if rng.random() < 0.2:  # delivered twice, to another worker
            parts[(worker + 1 + rng.randrange(n_workers - 1)) % n_workers].append(event)
    procs = []
    for n, part in enumerate(parts):
        (tmp_path / f"events{n}.json").write_text(json.dumps(part))
        procs.append(_run("handle", db, tmp_path / f"events{n}.json", tmp_path / f"out{n}.json"))
    for proc in procs:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err.decode()  # no ConcurrencyConflict escaped
    statuses = [
        s for n in range(n_workers) for s in json.loads((tmp_path / f"out{n}.json").read_text())
    ]
    service = JourneyService(shop_machine(), store)
    assert statuses.count("moved") == assert_consistent(service, keys)
    with store.transaction(write=False) as tx:
        outbox = tx.outbox("checkout")
    moves = [(k, e) for k in keys for e in service.history(k, limit=100)]
    expected = sorted(
        f"checkout:{k}:{e.seq}:{'track' if e.trigger == 'add_to_cart' else 'thank_you'}"
        for k, e in moves
        if e.trigger in ("add_to_cart", "pay")
    )
    assert sorted(o.idempotency_key for o in outbox) == expected  # one row per (move, effect)


@pytest.mark.parametrize("point", ["decided", "in_write", "before_commit"])
def test_a_worker_killed_mid_move_leaves_each_move_whole_or_absent(
    tmp_path: Path, process_db: tuple[str, Store], point: str
) -> None:
    db, store = process_db
    keys = [f"c-{i}" for i in range(4)]
    events = _stream(keys)
    (tmp_path / "events.json").write_text(json.dumps(events))
    killed = _run("handle", db, tmp_path / "events.json", tmp_path / "out.json", point, 7)
    killed.communicate(timeout=60)
    assert killed.returncode == -signal.SIGKILL
    service = JourneyService(shop_machine(), store)
    if isinstance(store, SQLiteStore):
        with closing(sqlite3.connect(str(store.path))) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    # PostgreSQL writes a move as ONE statement in autocommit: past it ("before_commit")
    # the 7th move is committed whole; killed anywhere else it is not there at all
    whole = 7 if point == "before_commit" and not isinstance(store, SQLiteStore) else 6
    assert assert_consistent(service, keys) == whole
    with service.store.transaction(write=False) as tx:
        assert len(tx.outbox("checkout")) == 4  # the 4 add_to_cart moves committed
        seen = tx.event_seq("checkout", events[6][0], events[6][3])
        assert seen is None if whole == 6 else seen == 2
    # restarted, the whole stream delivered again: the committed moves are duplicates
    again = _run("handle", db, tmp_path / "events.json", tmp_path / "out.json")
    _, err = again.communicate(timeout=60)
    assert again.returncode == 0, err.decode()
    statuses = json.loads((tmp_path / "out.json").read_text())
    assert statuses[:whole] == ["duplicate"] * whole and statuses[whole] == "moved"
    reference = JourneyService(shop_machine(), MemoryStore())
    for key, trigger, payload, event_id in events:
        reference.handle(key, trigger, payload, event_id=event_id)
    assert _state(service, keys) == _state(reference, keys)
    assert assert_consistent(service, keys) == len(events)


@pytest.mark.parametrize("point", ["in_write", "before_commit"])
def test_a_worker_killed_mid_batch_leaves_nothing_of_the_batch(
    tmp_path: Path, process_db: tuple[str, Store], point: str
) -> None:
    db, store = process_db
    keys = [f"c-{i}" for i in range(4)]
    events = _stream(keys)  # 20 events; batches of 8: the second one's write is killed
    (tmp_path / "events.json").write_text(json.dumps(events))
    killed = _run("handle_many", db, tmp_path / "events.json", tmp_path / "out.json", 8, point, 2)
    killed.communicate(timeout=60)
    assert killed.returncode == -signal.SIGKILL
    service = JourneyService(shop_machine(), store)
    assert assert_consistent(service, keys) == 8  # the first batch, whole; the second: none
    with service.store.transaction(write=False) as tx:
        assert len(tx.outbox("checkout")) == 4  # the first batch's 4 add_to_cart moves
        assert tx.event_seqs("checkout", [(k, e) for k, _, _, e in events[8:]]) == {}
    # restarted, the whole list delivered again: the first batch's events are duplicates
    again = _run("handle_many", db, tmp_path / "events.json", tmp_path / "out.json", 8)
    _, err = again.communicate(timeout=60)
    assert again.returncode == 0, err.decode()
    statuses = json.loads((tmp_path / "out.json").read_text())
    assert statuses == ["duplicate"] * 8 + ["moved"] * 12
    reference = JourneyService(shop_machine(), MemoryStore())
    for key, trigger, payload, event_id in events:
        reference.handle(key, trigger, payload, event_id=event_id)
    assert _state(service, keys) == _state(reference, keys)
    with service.store.transaction(write=False) as tx:
        ours = sorted(o.idempotency_key for o in tx.outbox("checkout"))
    with reference.store.transaction(write=False) as tx:
        assert ours == sorted(o.idempotency_key for o in tx.outbox("checkout"))


# -- the service moves journeys exactly as the machine does ---------------------------------
EVENTS = st.lists(
    st.tuples(
        st.sampled_from(["c-1", "c-2"]),
        st.sampled_from(["add_to_cart", "checkout", "pay", "note", "abandon", "come_back"]),
        st.sampled_from([None, {"paid": True}, {"paid": False}, {"sku": "pen"}]),
        st.integers(0, 12),  # event ids repeat: redeliveries
    ),
    max_size=25,
)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events=EVENTS)
def test_service_moves_journeys_exactly_as_the_machine_does(
    events: list[tuple[str, str, Any, int]],
) -> None:
    clock = ManualClock(START)
    service = JourneyService(shop_machine(clock), MemoryStore())
    machine = shop_machine(clock)
    journeys = {k: machine.start(k) for k in ("c-1", "c-2")}
    for key, trigger, payload, n in events:
        clock.advance(timedelta(minutes=1))
        try:
            expected: Any = machine.fire(journeys[key], trigger, payload, event_id=f"e{n}")
        except Exception as err:  # a guard refusing the payload's type, say
            with pytest.raises(type(err)):
                service.handle(key, trigger, payload, event_id=f"e{n}")
            continue
        got = service.handle(key, trigger, payload, event_id=f"e{n}")
        assert (got.status, got.source, got.dest) == (
            expected.status,
            expected.source,
            expected.dest,
        )
    for key, journey in journeys.items():
        stored = service.get(key)
        if journey.version == 0:
            assert stored is None
            continue
        assert stored is not None
        assert (stored.stage, stored.data, stored.version) == (
            journey.stage,
            journey.data,
            journey.version,
        )
        assert service.history(key, limit=100) == journey.history


def test_the_guides_first_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = (Path(__file__).parent.parent / "docs" / "service.md").read_text(encoding="utf-8")
    code = text.split("```python\n", 1)[1].split("```", 1)[0]
    sent: list[tuple[Any, str]] = []
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, Any] = {"send_email": lambda to, key: sent.append((to, key))}
    exec(compile(code, "docs/service.md", "exec"), namespace)
    assert sent == [(None, "aida:customer-42:1:welcome")]
    assert namespace["outcome"].moved
