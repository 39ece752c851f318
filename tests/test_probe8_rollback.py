"""Rollback restores data in place all the way down: nested dicts and lists the host
holds are the journey's again, with their old contents."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from journeyfsm import AsyncJourneyMachine, HookError, JourneyBuilder, JourneyMachine, ManualClock

RAISED: list[type[BaseException]] = [
    ValueError,
    KeyboardInterrupt,
    SystemExit,
    GeneratorExit,
    asyncio.CancelledError,
]


def _definition() -> Any:
    return (
        JourneyBuilder("nested")
        .stage("a", initial=True)
        .stage("b")
        .stage("c", final=True)
        .transition("go", "a", "b")
        .transition("again", "b", "b")
        .transition("note", "b", None)
        .transition("fin", "b", "c")
        .build()
    )


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize("raised", RAISED, ids=lambda e: e.__name__)
@pytest.mark.parametrize(
    ("kind", "trigger"),
    [("before", "note"), ("on_exit", "again"), ("on_enter", "again"), ("after", "fin")],
)
def test_nested_containers_keep_their_identity_and_contents(
    is_async: bool, raised: type[BaseException], kind: str, trigger: str
) -> None:
    machine: Any = (AsyncJourneyMachine if is_async else JourneyMachine)(
        _definition(), clock=ManualClock()
    )
    journey = machine.start("k", data={"cart": {"items": [{"sku": "mug"}]}, "tags": ["x"]})
    moved = machine.fire(journey, "go", event_id="e0")
    if is_async:
        asyncio.run(moved)
    data, cart, items, item, tags = (
        journey.data,
        journey.data["cart"],
        journey.data["cart"]["items"],
        journey.data["cart"]["items"][0],
        journey.data["tags"],
    )

    def hook(ctx: Any) -> None:
        d = ctx.journey.data
        d["cart"]["items"][0]["sku"] = "cup"
        d["cart"]["items"].append({"sku": "pot"})
        d["cart"]["total"] = 3
        d["tags"].clear()
        d["cart"] = {}  # replaced: the old dict is only the host's now
        raise raised()

    register = getattr(machine, kind)
    (register("b") if kind in ("on_exit", "on_enter") else register)(hook)
    before = machine.snapshot(journey)
    expected = HookError if raised is ValueError else raised
    with pytest.raises(expected):
        fired = machine.fire(journey, trigger, event_id="e1")
        if is_async:
            asyncio.run(fired)

    assert machine.snapshot(journey) == before
    assert journey.data is data
    assert journey.data["cart"] is cart
    assert cart["items"] is items and items[0] is item and journey.data["tags"] is tags
    assert cart == {"items": [{"sku": "mug"}]} and tags == ["x"]
