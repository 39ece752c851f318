"""Re-entry across live versions: a finished journey pinned to an older version is no
longer in flight, so the NEWEST live version's entry rule decides its restart and the
new run starts on the newest version (every store, every driver)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from conftest import START, quiet_logger
from service_support import ServiceFactory, make_service, open_store, store
from test_service_live_versions import history_versions, sql_store

from journeyfsm import (
    Event,
    Goal,
    JourneyBuilder,
    JourneyDefinition,
    JourneyMachine,
    ManualClock,
    Migration,
)
from journeyfsm.stores import Store

__all__ = ["make_service", "open_store", "sql_store", "store"]  # fixtures

REENTER = "journeyfsm.reenter"


def promo(version: int, entry: Any, *, won: str = "won") -> JourneyDefinition:
    """Version 1 opens into 'engaged'; version 2 into 'curious' (a stage v1 lacks), so a
    run's stages say which version decided it."""
    mid = "engaged" if version == 1 else "curious"
    return (
        JourneyBuilder("promo", version=version, entry=entry)
        .stage("new", initial=True)
        .stage(mid)
        .stage(won, final=True)
        .transition("open", "new", mid)
        .transition("buy", mid, won)
        .transition("note", won, None)  # an internal transition of the final stage
        .build()
    )


def stored_version(store: Store, key: str) -> object:
    with store.transaction(write=False) as tx:
        row = tx.load("promo", key)
    assert row is not None
    return row.definition_version


def machine(d: JourneyDefinition, clock: ManualClock) -> JourneyMachine:
    return JourneyMachine(d, clock=clock, logger=quiet_logger())


def finish_on_v1(
    store: Store,
    make_service: ServiceFactory,
    clock: ManualClock,
    entry: Any = "once",
    key: str = "a",
    **kw: Any,
) -> None:
    old = make_service(machine(promo(1, entry, **kw), clock), store)
    old.handle(key, "open", event_id=f"{key}-1")
    assert old.handle(key, "buy", event_id=f"{key}-2").dest == kw.get("won", "won")


def triples(history: Any) -> list[tuple[str, str, str]]:
    return [(e.trigger, e.source, e.dest) for e in history]


def test_the_newest_versions_rule_restarts_a_finished_journey_on_the_newest(
    store: Store, make_service: ServiceFactory
) -> None:
    clock = ManualClock(START)
    finish_on_v1(store, make_service, clock)  # v1's rule is "once": it alone never restarts
    service = make_service(
        machine(promo(2, "once_at_a_time"), clock),
        store,
        versions=[machine(promo(1, "once"), clock)],
    )
    out = service.handle("a", "open", event_id="a-3")
    assert out.moved and out.reentry is not None and out.dest == "curious"
    assert stored_version(store, "a") == 2
    assert triples(service.history("a")) == [
        ("open", "new", "engaged"),
        ("buy", "engaged", "won"),
        (REENTER, "won", "new"),
        ("open", "new", "curious"),
    ]
    # the new run carries on by version 2's transitions
    assert service.handle("a", "buy", event_id="a-4").dest == "won"
    assert service.handle("a", "open", event_id="a-1").status == "duplicate"  # run 1's id


def test_the_newest_versions_refusal_names_its_rule_and_writes_nothing(
    store: Store, make_service: ServiceFactory
) -> None:
    clock = ManualClock(START)
    finish_on_v1(store, make_service, clock, "once_at_a_time")  # v1 would restart it
    service = make_service(
        machine(promo(2, "once"), clock),
        store,
        versions=[machine(promo(1, "once_at_a_time"), clock)],
    )
    out = service.handle("a", "open", event_id="a-3")
    assert out.ignored and out.reason == "re-entry refused: entry='once'"
    assert stored_version(store, "a") == 1
    assert len(service.history("a")) == 2


def test_a_cooldown_of_the_newest_version_counts_from_the_old_runs_end(
    store: Store, make_service: ServiceFactory
) -> None:
    clock = ManualClock(START)
    finish_on_v1(store, make_service, clock)
    finished_at = clock.now()
    service = make_service(
        machine(promo(2, timedelta(hours=1)), clock),
        store,
        versions=[machine(promo(1, "once"), clock)],
    )
    clock.advance(timedelta(minutes=59))
    refused = service.handle("a", "open", event_id="a-3")
    assert refused.ignored and refused.reason is not None and "cooldown until" in refused.reason
    assert (finished_at + timedelta(hours=1)).isoformat()[:19] in refused.reason
    clock.advance(timedelta(minutes=1))
    assert service.handle("a", "open", event_id="a-3").moved
    assert stored_version(store, "a") == 2


def test_the_final_stages_own_internal_transition_stays_on_the_old_version(
    store: Store, make_service: ServiceFactory
) -> None:
    clock = ManualClock(START)
    finish_on_v1(store, make_service, clock)
    service = make_service(
        machine(promo(2, "once_at_a_time"), clock),
        store,
        versions=[machine(promo(1, "once"), clock)],
    )
    out = service.handle("a", "note", event_id="a-3")
    assert out.moved and out.dest == "won"
    assert stored_version(store, "a") == 1


def test_an_in_flight_journey_stays_pinned(store: Store, make_service: ServiceFactory) -> None:
    clock = ManualClock(START)
    old = make_service(machine(promo(1, "once"), clock), store)
    old.handle("a", "open", event_id="a-1")
    service = make_service(
        machine(promo(2, "once_at_a_time"), clock),
        store,
        versions=[machine(promo(1, "once"), clock)],
    )
    assert service.handle("a", "buy", event_id="a-2").dest == "won"
    assert stored_version(store, "a") == 1  # finished on the version it began on


def test_a_final_stage_renamed_by_a_migration_is_migrated_then_restarted(
    store: Store, make_service: ServiceFactory
) -> None:
    clock = ManualClock(START)
    finish_on_v1(store, make_service, clock)
    v1, v2 = promo(1, "once"), promo(2, "once_at_a_time", won="bought")
    step = Migration(v1, v2, stages={"engaged": "curious", "won": "bought"})
    service = make_service(
        machine(v2, clock), store, versions=[machine(v1, clock)], migrations=[step]
    )
    out = service.handle("a", "open", event_id="a-3")
    assert out.moved and out.dest == "curious"
    assert triples(service.history("a")) == [
        ("open", "new", "engaged"),
        ("buy", "engaged", "won"),
        ("journeyfsm.migrate", "won", "bought"),
        (REENTER, "bought", "new"),
        ("open", "new", "curious"),
    ]
    assert stored_version(store, "a") == 2


def test_a_refused_restart_through_a_migration_writes_no_migration(
    store: Store, make_service: ServiceFactory
) -> None:
    clock = ManualClock(START)
    finish_on_v1(store, make_service, clock, "once_at_a_time")
    v1, v2 = promo(1, "once_at_a_time"), promo(2, "once", won="bought")
    step = Migration(v1, v2, stages={"engaged": "curious", "won": "bought"})
    service = make_service(
        machine(v2, clock), store, versions=[machine(v1, clock)], migrations=[step]
    )
    out = service.handle("a", "open", event_id="a-3")
    assert out.ignored and out.reason == "re-entry refused: entry='once'"
    assert len(service.history("a")) == 2 and stored_version(store, "a") == 1


def test_without_a_way_to_the_newest_the_old_version_decides(
    store: Store, make_service: ServiceFactory
) -> None:
    clock = ManualClock(START)
    finish_on_v1(store, make_service, clock, "once_at_a_time")
    # version 2 has no stage 'won' and no migration says where it goes
    service = make_service(
        machine(promo(2, "once", won="bought"), clock),
        store,
        versions=[machine(promo(1, "once_at_a_time"), clock)],
    )
    out = service.handle("a", "open", event_id="a-3")
    assert out.moved and out.dest == "engaged"  # pinned: version 1 restarted it
    assert stored_version(store, "a") == 1


def test_handle_many_restarts_on_the_newest_and_carries_on(
    store: Store, make_service: ServiceFactory
) -> None:
    clock = ManualClock(START)
    finish_on_v1(store, make_service, clock)
    finish_on_v1(store, make_service, clock, key="b")
    service = make_service(
        machine(promo(2, "once_at_a_time"), clock),
        store,
        versions=[machine(promo(1, "once"), clock)],
    )
    outs = service.handle_many(
        [
            Event("a", "open", event_id="a-3"),
            Event("a", "buy", event_id="a-4"),
            Event("b", "note", event_id="b-3"),
        ]
    )
    assert [(o.status, o.dest) for o in outs] == [
        ("moved", "curious"),
        ("moved", "won"),
        ("moved", "won"),
    ]
    assert stored_version(store, "a") == 2 and stored_version(store, "b") == 1


def test_history_keeps_each_runs_version(sql_store: Store, make_service: ServiceFactory) -> None:
    clock = ManualClock(START)
    finish_on_v1(sql_store, make_service, clock)
    service = make_service(
        machine(promo(2, "once_at_a_time"), clock),
        sql_store,
        versions=[machine(promo(1, "once"), clock)],
    )
    service.handle("a", "open", event_id="a-3")
    assert history_versions(sql_store, "a") == [1, 1, 2, 2]


# -- goal clocks across a relabelled restart (the lead) ----------------------------------
def goal_shop(
    version: int, entry: Any, *, done: str = "paid", goal: bool = False
) -> JourneyDefinition:
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


def goal_machine(d: JourneyDefinition, clock: ManualClock) -> JourneyMachine:
    return JourneyMachine(d, clock=clock, logger=quiet_logger())


def goal_finish_on_v1(
    store: Store, make_service: ServiceFactory, clock: ManualClock, **kw: Any
) -> None:
    old = make_service(goal_machine(goal_shop(1, "once", **kw), clock), store)
    old.handle("c", "add", event_id="e-1")
    old.handle("c", "pay", event_id="e-2")
    assert old.handle("c", "add", event_id="e-x").reason is not None  # v1: once ever


def test_goal_clocks_the_newest_version_lacks_are_dropped_on_restart(
    store: Store, make_service: ServiceFactory
) -> None:
    clock = ManualClock(START)
    goal_finish_on_v1(store, make_service, clock, goal=True)
    service = make_service(
        goal_machine(goal_shop(2, "once_at_a_time", goal=True), clock),
        store,
        versions=[goal_machine(goal_shop(1, "once", goal=True), clock)],
    )
    assert service.handle("c", "add", event_id="e-3").moved
    journey = service.get("c")
    assert journey is not None and set(journey.goals) == {"bought_v2"}
