"""Snapshots: a journey as a JSON-able dict and back, exactly; clear errors otherwise."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from conftest import checkout_builder

from journeyfsm import Journey, JourneyMachine, ManualClock, SnapshotError, templates

MakeMachine = Callable[..., JourneyMachine]


def busy_journey(machine: JourneyMachine, clock: ManualClock) -> Journey:
    journey = machine.start("c-1", {"cart": ["sku"], "profile": {"tags": ["new"], "score": 1.5}})
    for i, (trigger, meta) in enumerate(
        [("add_to_cart", None), ("note", {"channel": "phone"}), ("checkout", None)]
    ):
        clock.advance(timedelta(minutes=3))
        assert machine.fire(journey, trigger, event_id=f"e-{i}", meta=meta).moved
    return journey


def test_snapshot_is_json_able_and_restores_exactly(
    machine: JourneyMachine, clock: ManualClock
) -> None:
    journey = busy_journey(machine, clock)

    snap = machine.snapshot(journey)
    again = machine.restore(json.loads(json.dumps(snap)))

    assert again == journey
    assert again.history[1].meta == {"channel": "phone"}
    assert again.history[0].at.utcoffset() == timedelta(0)
    assert again.event_ids == {"e-0": None, "e-1": None, "e-2": None}
    assert snap["definition"] == "checkout" and snap["definition_version"] == 3
    assert (snap["key"], snap["stage"], snap["version"]) == ("c-1", "checkout", 3)


def test_restored_journey_keeps_working(machine: JourneyMachine, clock: ManualClock) -> None:
    journey = busy_journey(machine, clock)
    again = machine.restore(machine.snapshot(journey))

    assert machine.fire(again, "note", event_id="e-2").duplicate  # event ids survive
    outcome = machine.fire(again, "pay", {"paid": True}, event_id="e-9")
    assert outcome.moved and outcome.entry is not None and outcome.entry.seq == 4


def test_snapshot_without_history_keeps_version_and_event_ids(
    machine: JourneyMachine, clock: ManualClock
) -> None:
    journey = busy_journey(machine, clock)

    snap = machine.snapshot(journey, history=False)
    again = machine.restore(snap)

    assert "history" not in snap
    assert again.history == []
    assert (again.stage, again.version, again.data) == (
        journey.stage,
        journey.version,
        journey.data,
    )
    assert again.event_ids == journey.event_ids
    outcome = machine.fire(again, "note")
    assert outcome.entry is not None and outcome.entry.seq == 4  # numbering continues


def test_snapshot_and_restore_copy_the_data(machine: JourneyMachine, clock: ManualClock) -> None:
    journey = busy_journey(machine, clock)
    snap = machine.snapshot(journey)
    snap["data"]["profile"]["tags"].append("from snapshot")
    assert journey.data["profile"]["tags"] == ["new"]

    snap = machine.snapshot(journey)
    again = machine.restore(snap)
    snap["data"]["profile"]["tags"].append("after restore")
    assert again.data["profile"]["tags"] == ["new"]


def test_snapshot_of_fresh_journey(machine: JourneyMachine) -> None:
    snap = machine.snapshot(machine.start("c-1"))
    assert snap["event_ids"] is None and snap["history"] == [] and snap["version"] == 0
    assert machine.restore(snap) == machine.start("c-1")


def test_snapshot_of_older_definition_version_restores_when_stage_exists(
    machine: JourneyMachine, make_machine: MakeMachine, clock: ManualClock
) -> None:
    journey = busy_journey(machine, clock)
    newer = make_machine(
        checkout_builder()
        .stage("gift", final=True)
        .transition("gift_wrap", "checkout", "gift")
        .build(version=4)
    )
    again = newer.restore(machine.snapshot(journey))
    assert again == journey
    assert newer.fire(again, "gift_wrap").dest == "gift"


# -- restore errors -------------------------------------------------------------------------
def _snap(machine: JourneyMachine, **changes: Any) -> dict[str, Any]:
    journey = machine.start("c-1")
    machine.fire(journey, "add_to_cart", event_id="e-1")
    snap = machine.snapshot(journey)
    snap.update(changes)
    return snap


def test_restore_snapshot_of_another_definition_names_both_and_the_fix(
    machine: JourneyMachine,
) -> None:
    other = JourneyMachine(templates.aida())
    snap = other.snapshot(other.start("c-7"))

    with pytest.raises(SnapshotError) as info:
        machine.restore(snap)

    message = str(info.value)
    assert "belongs to definition 'aida', not 'checkout'" in message
    assert "restore it with a machine for 'aida'" in message
    assert info.value.key == "c-7"
    assert isinstance(info.value, ValueError)


def test_restore_snapshot_with_unknown_stage_lists_stages(machine: JourneyMachine) -> None:
    with pytest.raises(SnapshotError) as info:
        machine.restore(_snap(machine, stage="wishlist"))
    message = str(info.value)
    assert "stage 'wishlist'" in message
    assert "stages: browsing, cart, express, checkout, paid, abandoned" in message
    assert (info.value.key, info.value.stage) == ("c-1", "wishlist")


@pytest.mark.parametrize(
    ("changes", "fragment"),
    [
        ({"key": ""}, "no valid 'key'"),
        ({"colour": "blue"}, "unknown keys ['colour']"),
        ({"data": [1]}, "'data' must be a dict"),
        ({"version": -1}, "'version' must be an int >= 0"),
        ({"version": True}, "'version' must be an int >= 0"),
        ({"history": ["x"]}, "history[0] must be a dict"),
        ({"history": [{"seq": 1}]}, "history[0] is malformed"),
        (
            {
                "history": [
                    {
                        "seq": 1,
                        "trigger": "add_to_cart",
                        "source": "browsing",
                        "dest": "cart",
                        "at": "2026-01-01T09:00:00",
                        "event_id": None,
                    }
                ]
            },
            "history[0].at is a naive datetime",
        ),
    ],
)
def test_restore_rejects_malformed_snapshots(
    machine: JourneyMachine, changes: dict[str, Any], fragment: str
) -> None:
    snap = _snap(machine, **changes)
    kept = copy.deepcopy(snap)
    with pytest.raises(SnapshotError) as info:
        machine.restore(snap)
    assert fragment in str(info.value)
    assert snap == kept  # restore never edits its input


def test_restore_rejects_non_dict(machine: JourneyMachine) -> None:
    with pytest.raises(SnapshotError, match="must be a dict, got list"):
        machine.restore([])  # type: ignore[arg-type]
