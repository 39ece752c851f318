"""Re-entry across live versions: a journey that finished on an older version is no
longer in flight, so the newest version's entry rule decides its restart and the new run
is on the newest version (every store, every driver)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from conftest import START, quiet_logger
from service_support import ServiceFactory, make_service, open_store, store, store_factory
from test_service_live_versions import history_versions, sql_store, stored_version

from journeyfsm import (
    Event,
    Goal,
    JourneyBuilder,
    JourneyDefinition,
    JourneyMachine,
    JourneyService,
    ManualClock,
    Migration,
)
from journeyfsm.stores import Store

__all__ = ["make_service", "open_store", "sql_store", "store", "store_factory"]  # fixtures

REENTER = "journeyfsm.reenter"


def shop(version: int, entry: Any, *, done: str = "paid", goal: bool = False) -> JourneyDefinition:
    b = (
        JourneyBuilder("shop", version=version)
        .stage("browse", initial=True)
        .stage("cart")
        .stage(done, final=True)
        .transition("add", ["browse", "cart"], "cart")
        .transition("pay", "cart", done)
        .entry(entry)
    )
    if goal:
        b = b.goal(Goal(f"bought_v{version}", stage=done, within=timedelta(days=1), since="cart"))
    return b.build()


def machine(d: JourneyDefinition, clock: ManualClock) -> JourneyMachine:
    return JourneyMachine(d, clock=clock, logger=quiet_logger())


def finish_on_v1(store: Store, make_service: ServiceFactory, clock: ManualClock, **kw: Any) -> None:
    old = make_service(machine(shop(1, "once", **kw), clock), store)
    old.handle("c", "add", event_id="e-1")
    old.handle("c", "pay", event_id="e-2")
    assert old.handle("c", "add", event_id="e-x").reason is not None  # v1: once ever


def test_the_newest_versions_rule_restarts_a_journey_that_finished_on_an_older_one(
    store: Store, make_service: ServiceFactory
) -> None:
    clock = ManualClock(START)
    finish_on_v1(store, make_service, clock)
    service = make_service(
        machine(shop(2, "once_at_a_time"), clock), store, versions=[machine(shop(1, "once"), clock)]
    )
    out = service.handle("c", "add", event_id="e-3")
    assert out.moved and out.reentry is not None and out.dest == "cart"
    assert stored_version(store, "c") == 2
    history = service.history("c")
    assert [(e.trigger, e.source, e.dest) for e in history] == [
        ("add", "browse", "cart"),
        ("pay", "cart", "paid"),
        (REENTER, "paid", "browse"),
        ("add", "browse", "cart"),
    ]
    # the new run is decided by version 2 from now on; the first run's ids stay seen
    assert service.handle("c", "pay", event_id="e-4").dest == "paid"
    assert service.handle("c", "pay", event_id="e-2").status == "duplicate"
    journey = service.get("c")
    assert journey is not None and journey.stage == "paid" and journey.version == 5


def test_the_newest_versions_rule_also_refuses_and_the_row_stays_where_it_was(
    store: Store, make_service: ServiceFactory
) -> None:
    clock = ManualClock(START)
    old = make_service(machine(shop(1, "once_at_a_time"), clock), store)
    old.handle("c", "add")
    old.handle("c", "pay")
    service = make_service(
        machine(shop(2, timedelta(days=30)), clock),
        store,
        versions=[machine(shop(1, "once_at_a_time"), clock)],
    )
    refused = service.handle("c", "add", event_id="e-3")
    # version 1 would restart it; version 2's cooldown says not yet
    assert refused.ignored and refused.reason is not None and "cooldown" in refused.reason
    assert stored_version(store, "c") == 1
    assert len(service.history("c")) == 2
    clock.advance(timedelta(days=30))
    assert service.handle("c", "add", event_id="e-3").moved
    assert stored_version(store, "c") == 2


def test_a_finished_stage_the_newest_version_lacks_stays_on_its_version(
    store: Store, make_service: ServiceFactory
) -> None:
    clock = ManualClock(START)
    finish_on_v1(store, make_service, clock)
    service = make_service(
        machine(shop(2, "once_at_a_time", done="purchased"), clock),
        store,
        versions=[machine(shop(1, "once"), clock)],
    )
    # no 'paid' in version 2 and no migration says where it would be: version 1 decides
    refused = service.handle("c", "add", event_id="e-3")
    assert refused.ignored and refused.reason is not None
    assert stored_version(store, "c") == 1


def test_with_a_migration_the_finished_journey_is_migrated_then_restarted(
    store: Store, make_service: ServiceFactory
) -> None:
    clock = ManualClock(START)
    finish_on_v1(store, make_service, clock)
    v1, v2 = shop(1, "once"), shop(2, "once_at_a_time", done="purchased")
    service = make_service(
        machine(v2, clock),
        store,
        versions=[machine(v1, clock)],
        migrations=[Migration(v1, v2, stages={"paid": "purchased"})],
    )
    out = service.handle("c", "add", event_id="e-3")
    assert out.moved and out.dest == "cart"
    assert [(e.trigger, e.source, e.dest) for e in service.history("c")][2:] == [
        ("journeyfsm.migrate", "paid", "purchased"),
        (REENTER, "purchased", "browse"),
        ("add", "browse", "cart"),
    ]
    assert stored_version(store, "c") == 2


def test_a_journey_in_flight_stays_pinned_and_a_batch_restarts_and_carries_on(
    store: Store, make_service: ServiceFactory
) -> None:
    clock = ManualClock(START)
    old = make_service(machine(shop(1, "once"), clock), store)
    old.handle("c", "add")
    old.handle("c", "pay")
    old.handle("f", "add")  # in flight on version 1
    service = make_service(
        machine(shop(2, "once_at_a_time"), clock), store, versions=[machine(shop(1, "once"), clock)]
    )
    outs = service.handle_many(
        [
            Event("c", "add", event_id="b-1", at=clock.now()),
            Event("c", "pay", event_id="b-2", at=clock.now()),
            Event("f", "add", event_id="b-3", at=clock.now()),
        ]
    )
    assert [o.status for o in outs] == ["moved", "moved", "moved"]
    assert stored_version(store, "c") == 2
    assert stored_version(store, "f") == 1


def test_goal_clocks_the_newest_version_lacks_are_dropped_on_restart(
    store: Store, make_service: ServiceFactory
) -> None:
    clock = ManualClock(START)
    finish_on_v1(store, make_service, clock, goal=True)
    service = make_service(
        machine(shop(2, "once_at_a_time", goal=True), clock),
        store,
        versions=[machine(shop(1, "once", goal=True), clock)],
    )
    assert service.handle("c", "add", event_id="e-3").moved
    journey = service.get("c")
    assert journey is not None and set(journey.goals) == {"bought_v2"}


def test_each_run_records_the_version_that_decided_it(
    sql_store: Store, make_service: ServiceFactory
) -> None:
    clock = ManualClock(START)
    finish_on_v1(sql_store, make_service, clock)
    service = make_service(
        machine(shop(2, "once_at_a_time"), clock),
        sql_store,
        versions=[machine(shop(1, "once"), clock)],
    )
    service.handle("c", "add", event_id="e-3")
    assert history_versions(sql_store, "c") == [1, 1, 2, 2]


def test_a_tick_leaves_a_finished_row_on_its_version(tmp_path: Path) -> None:
    clock = ManualClock(START)
    factory, close = store_factory("sqlite", tmp_path)
    try:
        store = factory()

        def v(version: int) -> JourneyDefinition:
            return (
                JourneyBuilder("shop", version=version)
                .stage("browse", initial=True)
                .stage("paid", final=True)
                .transition("pay", "browse", "paid")
                .transition("note", "paid", None)
                .timeout("paid", timedelta(hours=1), "note")
                .entry("once_at_a_time")
                .build()
            )

        JourneyService(machine(v(1), clock), store).handle("c", "pay")
        service = JourneyService(machine(v(2), clock), store, versions=[machine(v(1), clock)])
        report = service.tick(START + timedelta(hours=2))
        assert [(o.key, o.trigger) for o in report.outcomes] == [("c", "note")]
        assert stored_version(store, "c") == 1
    finally:
        close()
