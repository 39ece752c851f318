"""A stored journey of another definition version: the service refuses it with a
StoreError naming both versions and the option, or carries it on when the machine is
given ``allow_version=`` (every store, every driver)."""

from __future__ import annotations

import pytest
from conftest import START, checkout_builder, quiet_logger
from service_support import ServiceFactory, make_service, open_store, shop_machine, store

from journeyfsm import JourneyMachine, ManualClock, StoreError
from journeyfsm.stores import Store

__all__ = ["make_service", "open_store", "store"]  # fixtures, imported to be found


def v4_machine(clock: ManualClock, **options: object) -> JourneyMachine:
    return JourneyMachine(
        checkout_builder().build(version=4), clock=clock, logger=quiet_logger(), **options
    )


def test_a_journey_stored_by_another_version_is_refused_with_both_versions_and_the_fix(
    store: Store, make_service: ServiceFactory
) -> None:
    clock = ManualClock(START)
    v3 = make_service(shop_machine(clock), store)
    assert v3.handle("c-1", "add_to_cart", {"sku": "mug"}, event_id="e-1").moved
    v4 = make_service(v4_machine(clock), store)
    for call in (lambda: v4.get("c-1"), lambda: v4.handle("c-1", "abandon", event_id="e-2")):
        with pytest.raises(StoreError) as info:
            call()
        message = str(info.value)
        assert message.startswith(
            "journeys row for journey 'c-1' was written by version 3 of definition "
            "'checkout', and this service's machine runs version 4"
        ), message
        assert "give the machine allow_version=3" in message
        assert (info.value.table, info.value.key) == ("journeys", "c-1")
    # nothing was written by the refused event: the old version still reads the journey
    journey = v3.get("c-1")
    assert journey is not None and (journey.stage, journey.version) == ("cart", 1)
    # new journeys start on version 4 as ever
    assert v4.handle("c-2", "add_to_cart", event_id="e-3").moved


def test_allow_version_carries_a_stored_journey_on_to_the_new_version(
    store: Store, make_service: ServiceFactory
) -> None:
    clock = ManualClock(START)
    v3 = make_service(shop_machine(clock), store)
    assert v3.handle("c-1", "add_to_cart", {"sku": "mug"}, event_id="e-1").moved
    lenient = make_service(v4_machine(clock, allow_version=3), store)
    journey = lenient.get("c-1")
    assert journey is not None and journey.stage == "cart"
    assert lenient.handle("c-1", "abandon", event_id="e-2").dest == "abandoned"
    # the move wrote the row with version 4: a strict version-4 service reads it now,
    # the version-3 one refuses it
    strict = make_service(v4_machine(clock), store)
    moved = strict.get("c-1")
    assert moved is not None and (moved.stage, moved.version) == ("abandoned", 2)
    assert [e.dest for e in strict.history("c-1")] == ["cart", "abandoned"]
    with pytest.raises(StoreError, match=r"written by version 4 .* runs version 3"):
        v3.get("c-1")
    # a duplicate of the event the old version handled is still recognised
    assert strict.handle("c-1", "abandon", event_id="e-1").status == "duplicate"
