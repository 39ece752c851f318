"""``JourneyService.import_journeys``: whole journeys made elsewhere (a replay, a bare
machine) written into a store, on every store.

The journeys are made by the bare machine of the timeout shop (test_timeouts.py); what
the store must then hold is computed here from those journeys (their snapshots, their
histories' event ids, their next timeout), never by the code under test.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import attrs
import pytest
from conftest import quiet_logger
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from service_support import ServiceFactory, make_service, open_store, store, store_factory
from test_service_timeouts import moves, next_due, timeout_service
from test_timeouts import T0, D, H, shop

from journeyfsm import (
    HistoryEntry,
    Journey,
    JourneyMachine,
    JourneyService,
    ManualClock,
    SnapshotError,
    StoreError,
    templates,
)
from journeyfsm.stores import MemoryStore, Store

__all__ = ["make_service", "open_store", "store"]  # fixtures, imported to be found


def bare() -> JourneyMachine:
    return JourneyMachine(shop(), clock=ManualClock(T0), logger=quiet_logger())


def made(machine: JourneyMachine) -> list[Journey]:
    """Four journeys as a replay leaves them: one still in its first stage, one in the
    cart (timeouts not yet fired), one abandoned by its timeouts, one paid with data."""
    fresh = machine.start("fresh", {"n": 0}, at=T0)
    cart = machine.start("cart", at=T0)
    machine.fire(cart, "add_to_cart", at=T0 + H / 2, event_id="e-cart-1")
    gone = machine.start("gone", at=T0)
    machine.fire(gone, "add_to_cart", at=T0, event_id="e-gone-1", meta={"channel": "web"})
    machine.tick(gone, T0 + 2 * D)  # remind, abandon (timeout ids in its history)
    paid = machine.start("paid", {"vip": True, "orders": [1, 2]}, at=T0)
    machine.fire(paid, "add_to_cart", at=T0, event_id="e-paid-1")
    machine.fire(paid, "checkout", at=T0 + 10 * H / 60, event_id="e-paid-2")
    return [fresh, cart, gone, paid]


def comparable(machine: JourneyMachine, journey: Journey) -> dict[str, Any]:
    snap = machine.snapshot(journey)
    # a store keeps event ids in its table (checked apart), not as the journey's window
    snap.pop("event_ids")
    return snap


def test_imported_journeys_come_back_equal(store: Store, make_service: ServiceFactory) -> None:
    machine = bare()
    journeys = made(machine)
    service = timeout_service(store, make=make_service)
    assert service.import_journeys(journeys) == 4
    got = {j.key: comparable(service.machine, j) for j in service.journeys()}
    assert got == {j.key: comparable(machine, j) for j in journeys}
    for journey in journeys:  # next_due: the journey's next timeout, as the machine says
        due = machine.next_due(journey)
        assert next_due(service, journey.key) == (None if due is None else due.at)


def test_a_later_event_continues_an_imported_journey(
    store: Store, make_service: ServiceFactory
) -> None:
    machine = bare()
    journeys = made(machine)
    service = timeout_service(store, make=make_service)
    service.import_journeys(journeys)
    paid = journeys[3]
    outcome = service.handle("paid", "purchase", at=T0 + 2 * D, event_id="e-paid-3")
    assert outcome.status == "moved" and outcome.entry is not None
    assert outcome.entry.seq == len(paid.history) + 1
    assert moves(service, "paid")[: len(paid.history)] == [
        (e.trigger, e.dest, e.at, e.event_id) for e in paid.history
    ]
    assert service.handle("fresh", "add_to_cart", at=T0 + H).entry.seq == 1  # type: ignore[union-attr]


def test_a_replayed_event_id_of_an_imported_move_is_a_duplicate(
    store: Store, make_service: ServiceFactory
) -> None:
    machine = bare()
    journeys = made(machine)
    service = timeout_service(store, make=make_service)
    service.import_journeys(journeys)
    for journey in journeys:
        for entry in journey.history:
            if entry.event_id is None:
                continue
            outcome = service.handle(journey.key, "add_to_cart", event_id=entry.event_id)
            assert (outcome.status, outcome.seq) == ("duplicate", entry.seq), entry
    assert any(e.event_id.startswith("timeout:") for e in journeys[2].history if e.event_id)


def test_timeouts_of_imported_journeys_fire_on_the_next_tick_and_no_effect_runs(
    store: Store,
    make_service: ServiceFactory,
) -> None:
    machine = bare()
    journeys = made(machine)
    sent: list[str] = []
    service = timeout_service(store, sent=sent, make=make_service)
    service.import_journeys(journeys)
    with store.transaction(write=False) as tx:
        assert tx.outbox("shop") == []  # 'gone' entered abandoned: its nudge is not written
    report = service.tick(T0 + 3 * D)
    # what the bare machine fires from the same journeys, at the same time
    expected = [
        (j.key, o.trigger, o.event_id) for j in journeys for o in machine.tick(j, T0 + 3 * D)
    ]
    assert sorted((o.key, o.trigger, o.event_id) for o in report.outcomes) == sorted(expected)
    assert ("cart", "abandon", "timeout:shop:cart:1:1") in expected  # the cart's, due at 24 h
    with store.transaction(write=False) as tx:
        # the tick's own move into abandoned schedules its effect; the imported one did not
        assert [(o.key, o.effect) for o in tx.outbox("shop")] == [("cart", "nudge")]
    assert sent == []


def test_an_existing_key_is_refused_with_nothing_of_the_batch_written(
    store: Store, make_service: ServiceFactory
) -> None:
    machine = bare()
    journeys = made(machine)
    service = timeout_service(store, make=make_service)
    service.handle("cart", "add_to_cart", at=T0)
    with pytest.raises(StoreError, match=r"'cart'.*already in the store.*replace=True") as info:
        service.import_journeys(journeys)
    assert (info.value.table, info.value.key) == ("journeys", "cart")
    assert [j.key for j in service.journeys()] == ["cart"]
    assert len(service.history("cart")) == 1


def test_replace_swaps_rows_history_event_ids_and_outbox_of_a_stored_key(
    store: Store, make_service: ServiceFactory
) -> None:
    machine = bare()
    journeys = made(machine)
    service = timeout_service(store, make=make_service)
    service.handle("gone", "add_to_cart", at=T0, event_id="old-1")
    service.tick(T0 + 2 * D)  # abandoned: a pending nudge in the outbox
    service.handle("gone", "add_to_cart", at=T0 + 3 * D, event_id="old-2")
    with store.transaction(write=False) as tx:
        assert len(tx.outbox("shop", key="gone")) == 1
    assert service.import_journeys(journeys, replace=True) == 4
    got = {j.key: comparable(service.machine, j) for j in service.journeys()}
    assert got == {j.key: comparable(machine, j) for j in journeys}
    with store.transaction(write=False) as tx:
        assert tx.outbox("shop", key="gone") == []
        assert tx.event_seq("shop", "gone", "old-2") is None
        assert tx.event_seq("shop", "gone", "e-gone-1") == 1
    # the replaced journey moves on from its imported history (a new move 4 and its nudge)
    assert service.handle("gone", "add_to_cart", at=T0 + 3 * D).entry.seq == 4  # type: ignore[union-attr]
    assert service.tick(T0 + 5 * D).outcomes[-1].dest == "abandoned"


def _broken(journey: Journey, **changes: Any) -> Journey:
    fields = {
        "key": journey.key,
        "stage": journey.stage,
        "data": dict(journey.data),
        "history": list(journey.history),
        "version": journey.version,
        "started_at": journey.started_at,
        "entered_at": journey.entered_at,
        "entry_seq": journey.entry_seq,
        "timeouts_fired": journey.timeouts_fired,
    }
    fields.update(changes)
    return Journey(**fields)


def _impossible() -> list[tuple[str, Journey, str]]:
    machine = bare()
    fresh, cart, gone, paid = made(machine)
    first = gone.history[0]
    aida = JourneyMachine(templates.aida())
    return [
        ("another definition", aida.start("other"), "belongs to definition 'aida'"),
        (
            "a broken chain",
            _broken(gone, history=[first, attrs.evolve(gone.history[1], source="paid")]),
            r"history\[1\].source",
        ),
        ("a version that is not the moves", _broken(cart, version=2), "'version' is 2"),
        ("a stage nobody reaches", _broken(fresh, stage="paid"), "initial stage 'browsing'"),
        (
            "a first move that does not leave the initial stage",
            _broken(
                cart,
                history=[HistoryEntry(1, "checkout", "cart", "cart", T0)],
                entered_at=T0,
            ),
            "first move leaves 'cart'",
        ),
        ("an unknown clock", _broken(paid, started_at=None), "timeout clock is unknown"),
        (
            "an event id that moved twice",
            _broken(
                paid,
                history=[paid.history[0], attrs.evolve(paid.history[1], event_id="e-paid-1")],
            ),
            "'e-paid-1' made moves 1 and 2",
        ),
    ]


@pytest.mark.parametrize(
    ("why", "index"), [(why, i) for i, (why, _, _) in enumerate(_impossible())]
)
def test_an_impossible_journey_is_refused_before_anything_is_written(
    store: Store, make_service: ServiceFactory, why: str, index: int
) -> None:
    _, bad, message = _impossible()[index]
    journeys = made(bare())
    service = timeout_service(store, make=make_service)
    with pytest.raises(SnapshotError, match=message) as info:
        service.import_journeys([*journeys[:2], bad, *journeys[2:]])
    assert info.value.key == bad.key and f"journey {bad.key!r} (item 2)" in str(info.value)
    assert list(service.journeys()) == []
    with store.transaction(write=False) as tx:
        assert tx.outbox("shop") == [] and tx.event_seq("shop", "cart", "e-cart-1") is None


def test_batches_before_a_refused_one_stay_committed_and_the_error_says_so(
    store: Store,
    make_service: ServiceFactory,
) -> None:
    journeys = made(bare())
    service = timeout_service(store, make=make_service)
    bad = _broken(journeys[3], key="late", version=7)  # the third batch: 4 are written
    with pytest.raises(SnapshotError, match=r"\(4 journeys were imported before this batch\)"):
        service.import_journeys([*journeys, bad], batch_size=2)
    assert [j.key for j in service.journeys()] == sorted(j.key for j in journeys)
    with pytest.raises(StoreError, match=r"'fresh', 'cart'.*2 of the batch's 2"):
        service.import_journeys(journeys, batch_size=2)


def test_a_key_twice_in_one_import_is_refused() -> None:
    journeys = made(bare())
    service = timeout_service(MemoryStore())
    with pytest.raises(SnapshotError, match=r"'cart' twice \(items 1 and 4\)"):
        service.import_journeys([*journeys, journeys[1]], batch_size=10)
    assert list(service.journeys()) == []


@pytest.mark.parametrize(
    ("args", "kwargs", "error", "message"),
    [
        ((made(bare()),), {"batch_size": 0}, ValueError, "batch_size must be an int >= 1"),
        ((made(bare()),), {"replace": "yes"}, TypeError, "replace must be True or False"),
        ((made(bare())[0],), {}, TypeError, "takes an iterable of Journey objects"),
        (([{"key": "c-1"}],), {}, TypeError, "item 0 is {'key': 'c-1'}"),
    ],
)
def test_import_refuses_bad_arguments(
    args: tuple[Any, ...], kwargs: dict[str, Any], error: type[Exception], message: str
) -> None:
    service = timeout_service(MemoryStore())
    with pytest.raises(error, match=message):
        service.import_journeys(*args, **kwargs)
    assert list(service.journeys()) == []


def test_a_service_of_another_definition_refuses_the_shop_s_journeys() -> None:
    service = JourneyService(JourneyMachine(templates.aida()), MemoryStore())
    with pytest.raises(SnapshotError, match="belongs to definition 'shop', not 'aida'"):
        service.import_journeys(made(bare()))


def test_replace_drops_delivered_outbox_rows_whose_keys_the_new_history_reuses(
    store: Store,
    make_service: ServiceFactory,
) -> None:
    service = timeout_service(store, make=make_service)
    service.handle("k", "add_to_cart", at=T0)
    service.tick(T0 + 2 * D)  # remind (2), abandon (3): the effect 'shop:k:3:nudge'
    with store.transaction() as tx:
        [item] = tx.outbox("shop", key="k")
        tx.mark_done(item.id, now=T0)
    assert item.idempotency_key == "shop:k:3:nudge"
    machine = bare()
    journey = machine.start("k", at=T0 + 3 * D)
    machine.fire(journey, "add_to_cart", at=T0 + 3 * D)
    machine.tick(journey, T0 + 3 * D + 2 * H)  # remind: version 2, still in the cart
    service.import_journeys([journey], replace=True)
    # its abandon is move 3 again: its nudge gets the key of the replaced one
    assert [o.dest for o in service.tick(T0 + 5 * D).outcomes] == ["abandoned"]
    with store.transaction(write=False) as tx:
        assert [(o.idempotency_key, o.status) for o in tx.outbox("shop", key="k")] == [
            ("shop:k:3:nudge", "pending")
        ]


TRIGGERS = ["add_to_cart", "checkout", "purchase", "remind", "abandon", "lose", "lapse"]
gaps = st.sampled_from([0, 60, 3600, 86400, 7 * 86400, 200 * 86400])


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(steps=st.lists(st.tuples(gaps, st.sampled_from(TRIGGERS)), max_size=8), tail=gaps)
def test_any_journey_the_machine_makes_imports_and_then_moves_as_the_machine_does(
    kind: str, tmp_path_factory: pytest.TempPathFactory, steps: Any, tail: int
) -> None:
    factory, close = store_factory(kind, tmp_path_factory.mktemp("import"))
    try:
        machine = bare()
        journey = machine.start("k", at=T0)
        at = T0
        for n, (gap, trigger) in enumerate(steps):
            at += timedelta(seconds=gap)
            machine.tick(journey, at)
            machine.fire(journey, trigger, at=at, event_id=f"e-{n}")
        service = timeout_service(factory())
        assert service.import_journeys([journey]) == 1
        [stored] = service.journeys()
        assert comparable(service.machine, stored) == comparable(machine, journey)
        # both go on from there: a tick at the end, then one more event
        at += timedelta(seconds=tail)
        service.tick(at)
        machine.tick(journey, at)
        service.handle("k", "add_to_cart", at=at, event_id="last")
        machine.fire(journey, "add_to_cart", at=at, event_id="last")
        assert service.history("k", limit=1000) == journey.history
        for entry in journey.history:  # every event id that moved it, timeouts' too
            if entry.event_id is not None:
                again = service.handle("k", "add_to_cart", event_id=entry.event_id)
                assert (again.status, again.seq) == ("duplicate", entry.seq)
    finally:
        close()
