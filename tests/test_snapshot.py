"""Snapshots: a journey as a JSON-able dict and back, exactly; clear errors otherwise."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from conftest import checkout_builder

from journeyfsm import (
    DataError,
    Journey,
    JourneyMachine,
    ManualClock,
    SnapshotError,
    SnapshotVersionError,
    templates,
)

MakeMachine = Callable[..., JourneyMachine]
Snapshot = dict[str, Any]


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
    again = newer.restore(machine.snapshot(journey), allow_version=3)
    assert again == journey
    assert newer.fire(again, "gift_wrap").dest == "gift"


def _newer(make_machine: MakeMachine, **kwargs: Any) -> JourneyMachine:
    return make_machine(checkout_builder().build(version=4), **kwargs)


def test_snapshot_of_another_version_is_refused_naming_both_versions_and_the_option(
    machine: JourneyMachine, make_machine: MakeMachine, clock: ManualClock
) -> None:
    snap = machine.snapshot(busy_journey(machine, clock))
    with pytest.raises(SnapshotVersionError) as info:
        _newer(make_machine).restore(snap)
    assert str(info.value) == (
        "snapshot of journey 'c-1' was made with version 3 of definition 'checkout', and this "
        "machine runs version 4: a snapshot of another version loads only when asked for, as "
        "restore(snapshot, allow_version=3) or JourneyMachine(definition, allow_version=3) "
        "(it loads if every stage it mentions exists in version 4; else migrate it first)"
    )
    err = info.value
    assert (err.key, err.definition, err.snapshot_version, err.machine_version) == (
        "c-1",
        "checkout",
        3,
        4,
    )
    assert isinstance(err, SnapshotError) and isinstance(err, ValueError)
    # also when no history is kept, and also for an older machine reading a newer snapshot
    with pytest.raises(SnapshotVersionError):
        _newer(make_machine).restore({**snap, "history": []} | {"version": 0, "entry_seq": 0})
    newer = _newer(make_machine)
    with pytest.raises(SnapshotVersionError, match=r"made with version 4 .* runs version 3"):
        machine.restore(newer.snapshot(newer.start("c-2")))


@pytest.mark.parametrize(
    ("allow", "loads"),
    [
        (3, True),
        ([2, 3], True),
        ((3,), True),
        (True, True),
        ("3", False),  # the str "3" is another version than the int 3
        ([2], False),
        (False, False),
        (None, False),
    ],
)
def test_allow_version_on_the_call_or_the_machine(
    machine: JourneyMachine,
    make_machine: MakeMachine,
    clock: ManualClock,
    allow: Any,
    loads: bool,
) -> None:
    journey = busy_journey(machine, clock)
    snap = machine.snapshot(journey)
    for restore in (
        lambda: _newer(make_machine).restore(snap, allow_version=allow),
        lambda: _newer(make_machine, allow_version=allow).restore(snap),
    ):
        if loads:
            assert restore() == journey
        else:
            with pytest.raises(SnapshotVersionError):
                restore()


def test_allow_version_on_the_call_replaces_the_machines(
    machine: JourneyMachine, make_machine: MakeMachine, clock: ManualClock
) -> None:
    snap = machine.snapshot(busy_journey(machine, clock))
    lenient = _newer(make_machine, allow_version=3)
    assert lenient.allowed_versions == frozenset({3})
    assert lenient.restore(snap).stage == "checkout"
    with pytest.raises(SnapshotVersionError):
        lenient.restore(snap, allow_version=False)
    assert _newer(make_machine, allow_version=True).allowed_versions is True
    assert _newer(make_machine).allowed_versions == frozenset()


@pytest.mark.parametrize("bad", [3.0, [3, None], [True], object(), {"v": 1.5}])
def test_allow_version_takes_versions_or_true_only(
    machine: JourneyMachine, make_machine: MakeMachine, bad: Any
) -> None:
    snap = machine.snapshot(machine.start("c-1"))
    with pytest.raises(TypeError, match="allow_version takes a definition version"):
        machine.restore(snap, allow_version=bad)
    with pytest.raises(TypeError, match="allow_version takes a definition version"):
        make_machine(allow_version=bad)


def test_the_same_version_loads_whatever_allow_version_says(machine: JourneyMachine) -> None:
    snap = machine.snapshot(machine.start("c-1"))
    assert machine.restore(snap, allow_version=False).key == "c-1"
    assert machine.restore(snap, allow_version=[7]).key == "c-1"


# -- restore errors -------------------------------------------------------------------------
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


def test_restore_snapshot_with_unknown_stage_lists_stages(
    machine: JourneyMachine, clock: ManualClock
) -> None:
    snap = busy_snapshot(machine, clock)
    snap["stage"] = "wishlist"
    with pytest.raises(SnapshotError) as info:
        machine.restore(snap)
    message = str(info.value)
    assert "stage 'wishlist'" in message
    assert "stages: browsing, cart, express, checkout, paid, abandoned" in message
    assert (info.value.key, info.value.stage) == ("c-1", "wishlist")


def busy_snapshot(machine: JourneyMachine, clock: ManualClock) -> Snapshot:
    """The snapshot of ``busy_journey`` as it comes back from JSON text (3 moves)."""
    snap: Snapshot = json.loads(json.dumps(machine.snapshot(busy_journey(machine, clock))))
    return snap


def _set(path: str, value: Any) -> Callable[[Snapshot], None]:
    """Set ``snap[a][b]...`` for ``path`` 'a.b...' (digits index lists)."""
    *parents, last = [int(p) if p.isdigit() else p for p in path.split(".")]

    def change(snap: Snapshot) -> None:
        node: Any = snap
        for step in parents:
            node = node[step]
        node[last] = value

    return change


def _drop(path: str) -> Callable[[Snapshot], None]:
    *parents, last = [int(p) if p.isdigit() else p for p in path.split(".")]

    def change(snap: Snapshot) -> None:
        node: Any = snap
        for step in parents:
            node = node[step]
        del node[last]

    return change


def _gap(snap: Snapshot) -> None:
    for entry in snap["history"][1:]:
        entry["seq"] += 1


def _drop_middle_move(snap: Snapshot) -> None:
    del snap["history"][1]
    snap["history"][1]["seq"] = 2


CORRUPTIONS: list[tuple[str, Callable[[Snapshot], None], str]] = [
    *(
        (f"missing {k}", _drop(k), f"is missing {k!r}; restore fills nothing in")
        for k in (
            "format",
            "definition",
            "definition_version",
            "key",
            "stage",
            "data",
            "version",
            "event_ids",
        )
        if k != "key"
    ),
    ("missing key", _drop("key"), "snapshot has no valid 'key' (got None)"),
    ("empty key", _set("key", ""), "snapshot has no valid 'key' (got '')"),
    ("int key", _set("key", 42), "snapshot has no valid 'key' (got 42)"),
    ("unknown top key", _set("colour", "blue"), "has unknown keys ['colour']"),
    ("format as str", _set("format", "1"), "has format '1'"),
    ("format as bool", _set("format", True), "has format True"),
    ("other format", _set("format", 3), "has format 3; this journeyfsm reads formats 1 and 2"),
    ("bool format", _set("format", True), "has format True; this journeyfsm reads formats 1 and 2"),
    ("naive entered_at", _set("entered_at", "2026-01-01T09:00:00"), "'entered_at' is a naive"),
    ("garbage started_at", _set("started_at", "yesterday"), "'started_at' is 'yesterday'"),
    ("entry_seq beyond version", _set("entry_seq", 99), "'entry_seq' must be an int from 0"),
    ("bool entry_seq", _set("entry_seq", True), "'entry_seq' must be an int from 0"),
    ("timeouts_fired too many", _set("timeouts_fired", 5), "'timeouts_fired' must be an int"),
    (
        "entered_at not the entering move's time",
        _set("entered_at", "2020-01-01T00:00:00+00:00"),
        "'entered_at' (2020-01-01T00:00:00+00:00) is not the time of history[",
    ),
    ("entered_at null after a move", _set("entered_at", None), "'entered_at' is null but"),
    ("other definition", _set("definition", "aida"), "belongs to definition 'aida'"),
    (
        "bool definition_version",
        _set("definition_version", True),
        "'definition_version' must be an int or a str",
    ),
    ("unknown stage", _set("stage", "wishlist"), "is in stage 'wishlist', which definition"),
    ("stage as list", _set("stage", ["cart"]), "is in stage ['cart'], which definition"),
    ("data as list", _set("data", [1]), "'data' must be a dict, got list"),
    ("data as str", _set("data", "{}"), "'data' must be a dict, got str"),
    (
        "non-JSON data",
        _set("data.profile.tags", {"new"}),
        "data['profile']['tags']: set is not JSON-shaped; use a list",
    ),
    ("NaN in data", _set("data.profile.score", float("nan")), "data['profile']['score']: float"),
    ("negative version", _set("version", -1), "'version' must be an int >= 0"),
    ("bool version", _set("version", True), "'version' must be an int >= 0 (the number of"),
    ("float version", _set("version", 3.0), "'version' must be an int >= 0"),
    ("version as str", _set("version", "3"), "got str '3'"),
    (
        "version != len(history)",
        _set("version", 5),
        "'version' is 5 but 'history' holds 3 moves",
    ),
    ("event_ids as str", _set("event_ids", "e-0"), "'event_ids' must be a list of str or None"),
    ("event_ids as dict", _set("event_ids", {"e-0": None}), "'event_ids' must be a list"),
    ("empty event id", _set("event_ids.1", ""), "event_ids[1] must be a non-empty str"),
    ("int event id", _set("event_ids.2", 7), "event_ids[2] must be a non-empty str, got 7"),
    ("list event id", _set("event_ids.0", ["e"]), "event_ids[0] must be a non-empty str"),
    (
        "duplicate event ids",
        _set("event_ids", ["e-0", "e-1", "e-0"]),
        "event_ids[2] repeats event_ids[0] ('e-0')",
    ),
    ("history as dict", _set("history", {}), "'history' must be a list of moves"),
    ("history None", _set("history", None), "'history' must be a list of moves, got NoneType"),
    ("entry as str", _set("history.0", "x"), "history[0] must be a dict, got str"),
    ("entry without at", _drop("history.1.at"), "history[1] is missing 'at'"),
    ("entry without event_id", _drop("history.0.event_id"), "history[0] is missing 'event_id'"),
    ("entry extra key", _set("history.2.colour", 1), "history[2] has unknown keys ['colour']"),
    ("bool seq", _set("history.0.seq", True), "history[0].seq is True, expected 1"),
    ("seq as str", _set("history.0.seq", "1"), "history[0].seq is '1', expected 1"),
    ("gap in seq", _gap, "history[1].seq is 3, expected 2"),
    ("seq from 0", _set("history.0.seq", 0), "history[0].seq is 0, expected 1"),
    ("empty trigger", _set("history.0.trigger", ""), "history[0].trigger must be a non-empty str"),
    (
        "unknown source",
        _set("history.0.source", "wishlist"),
        "history[0].source is stage 'wishlist', which definition 'checkout' (version 3) does "
        "not have",
    ),
    ("unknown dest", _set("history.2.dest", "gift"), "history[2].dest is stage 'gift'"),
    ("int dest", _set("history.2.dest", 3), "history[2].dest is stage 3"),
    (
        "broken chain",
        _set("history.1.source", "browsing"),
        "history[1].source is 'browsing' but history[0].dest is 'cart'; each move starts "
        "where the previous one ended",
    ),
    (
        "a move dropped from history",
        _drop_middle_move,
        "'version' is 3 but 'history' holds 2 moves",
    ),
    (
        "last dest != stage",
        _set("stage", "cart"),
        "history[2].dest is 'checkout' but 'stage' is 'cart'",
    ),
    (
        "naive at",
        _set("history.0.at", "2026-01-01T09:03:00"),
        "history[0].at is a naive datetime ('2026-01-01T09:03:00'); write times with a UTC offset",
    ),
    ("at as number", _set("history.0.at", 1767258180), "history[0].at must be an ISO 8601 str"),
    ("at not a time", _set("history.0.at", "yesterday"), "history[0].at is 'yesterday', not an"),
    ("empty event_id", _set("history.0.event_id", ""), "history[0].event_id must be a non-empty"),
    ("int event_id", _set("history.0.event_id", 1), "history[0].event_id must be a non-empty"),
    ("meta as list", _set("history.1.meta", ["phone"]), "history[1].meta must be a dict or None"),
    (
        "non-JSON meta",
        _set("history.1.meta.tags", ("a",)),
        "history[1].meta['tags']: tuple is not JSON-shaped; use a list",
    ),
]


@pytest.mark.parametrize(
    ("change", "fragment"),
    [pytest.param(change, fragment, id=name) for name, change, fragment in CORRUPTIONS],
)
def test_restore_rejects_every_corrupted_snapshot_naming_the_field(
    machine: JourneyMachine,
    clock: ManualClock,
    change: Callable[[Snapshot], None],
    fragment: str,
) -> None:
    snap = busy_snapshot(machine, clock)
    change(snap)
    kept = copy.deepcopy(snap)

    with pytest.raises(SnapshotError) as info:
        machine.restore(snap)

    assert fragment in str(info.value)
    if isinstance(snap.get("key"), str) and snap["key"]:
        assert str(info.value).startswith("snapshot of journey 'c-1'")
        assert info.value.key == "c-1"
    assert isinstance(info.value, ValueError)
    assert snap == kept  # restore never edits its input


def test_restore_rejects_non_dict(machine: JourneyMachine) -> None:
    with pytest.raises(SnapshotError, match="must be a dict, got list"):
        machine.restore([])  # type: ignore[arg-type]


def test_restore_reports_every_missing_key_at_once(machine: JourneyMachine) -> None:
    with pytest.raises(SnapshotError) as info:
        machine.restore({"definition": "checkout", "key": "c-2", "stage": "cart"})
    assert "is missing 'format', 'definition_version', 'data', 'version', 'event_ids'" in str(
        info.value
    )


def test_restore_accepts_other_offsets_and_z_and_converts_them_to_utc(
    machine: JourneyMachine, clock: ManualClock
) -> None:
    snap = busy_snapshot(machine, clock)
    snap["history"][0]["at"] = "2026-01-01T10:03:00+01:00"
    snap["history"][1]["at"] = "2026-01-01T09:06:00Z"

    again = machine.restore(snap)

    first, second = again.history[0].at, again.history[1].at
    assert first == datetime(2026, 1, 1, 9, 3, tzinfo=timezone.utc)
    assert first.tzinfo is timezone.utc and second.tzinfo is timezone.utc
    assert machine.snapshot(again)["history"][0]["at"] == "2026-01-01T09:03:00+00:00"


def test_restore_accepts_meta_none_and_history_without_meta(
    machine: JourneyMachine, clock: ManualClock
) -> None:
    snap = busy_snapshot(machine, clock)
    snap["history"][0]["meta"] = None
    assert machine.restore(snap).history[0].meta is None


def test_restore_keeps_the_newest_event_ids_of_a_longer_window(
    make_machine: MakeMachine, machine: JourneyMachine, clock: ManualClock
) -> None:
    snap = busy_snapshot(machine, clock)  # event ids e-0, e-1, e-2, oldest first
    narrow = make_machine(machine.definition, event_id_window=2)

    again = narrow.restore(snap)

    assert again.event_ids == {"e-1": None, "e-2": None}
    assert narrow.fire(again, "note", event_id="e-2").duplicate
    assert narrow.fire(again, "note", event_id="e-0").moved  # forgotten, as the window does


def test_history_less_snapshot_checks_types_but_not_the_missing_history(
    machine: JourneyMachine, clock: ManualClock
) -> None:
    snap = machine.snapshot(busy_journey(machine, clock), history=False)
    snap["version"] = 40  # a store may keep 40 moves of history apart
    assert machine.restore(snap).version == 40
    snap["version"] = False
    with pytest.raises(SnapshotError, match="'version' must be an int >= 0"):
        machine.restore(snap)


def test_snapshot_refuses_non_json_data_naming_the_path(machine: JourneyMachine) -> None:
    journey = machine.start("c-1", {"cart": ["mug"]})
    journey.data["cart"].append({"sku": "tea", "added": datetime(2026, 1, 1)})

    with pytest.raises(DataError) as info:
        machine.snapshot(journey)

    assert info.value.path == "data['cart'][1]['added']"
    assert str(info.value) == (
        "data['cart'][1]['added']: datetime is not JSON-shaped; store it as an ISO 8601 "
        "string (value.isoformat()) (journey 'c-1', stage 'browsing')"
    )


def test_snapshot_owns_a_deep_copy_of_history_meta(
    machine: JourneyMachine, clock: ManualClock
) -> None:
    journey = machine.start("c-1")
    machine.fire(journey, "note", meta={"tags": ["phone"]})
    snap = machine.snapshot(journey)
    snap["history"][0]["meta"]["tags"].append("edited")
    assert journey.history[0].meta == {"tags": ["phone"]}


def _without_stage(old: str, new: str) -> Callable[[MakeMachine], JourneyMachine]:
    def make(make_machine: MakeMachine) -> JourneyMachine:
        builder = checkout_builder().remove_stage(old).stage(new)
        builder.transition("abandon", ["cart", "checkout", "express"], new)
        return make_machine(builder.transition("come_back", new, "browsing").build(version=4))

    return make


def test_snapshot_of_older_version_with_a_removed_stage_names_it_and_both_versions(
    machine: JourneyMachine, make_machine: MakeMachine, clock: ManualClock
) -> None:
    journey = busy_journey(machine, clock)
    machine.fire(journey, "abandon")
    newer = _without_stage("abandoned", "lapsed")(make_machine)

    with pytest.raises(SnapshotError) as info:
        newer.restore(machine.snapshot(journey), allow_version=3)

    assert str(info.value) == (
        "snapshot of journey 'c-1' is in stage 'abandoned', which definition 'checkout' "
        "(version 4) does not have (the snapshot was made with version 3); stages: browsing, "
        "cart, express, checkout, paid, lapsed; migrate the snapshot first: rename the stage "
        "in 'stage' and 'history' to a stage of version 4"
    )
    assert (info.value.key, info.value.stage) == ("c-1", "abandoned")


def test_snapshot_of_older_version_with_a_removed_stage_in_history_only_is_refused(
    machine: JourneyMachine, make_machine: MakeMachine, clock: ManualClock
) -> None:
    journey = machine.start("c-1")
    for trigger in ("add_to_cart", "abandon", "come_back"):
        machine.fire(journey, trigger)
    newer = _without_stage("abandoned", "lapsed")(make_machine)

    with pytest.raises(SnapshotError) as info:
        newer.restore(machine.snapshot(journey), allow_version=3)

    message = str(info.value)
    assert message.startswith(
        "snapshot of journey 'c-1': history[1].dest is stage 'abandoned', which definition "
        "'checkout' (version 4) does not have (the snapshot was made with version 3)"
    )
    assert "migrate the snapshot first" in message
    # the same journey without its history carries over: its stage still exists
    assert newer.restore(machine.snapshot(journey, history=False), allow_version=3).stage == (
        "browsing"
    )


def test_snapshot_of_the_same_version_with_an_unknown_stage_says_it_was_edited(
    machine: JourneyMachine,
) -> None:
    snap = machine.snapshot(machine.start("c-1"))
    snap["stage"] = "wishlist"
    with pytest.raises(SnapshotError) as info:
        machine.restore(snap)
    assert str(info.value).endswith(
        "the snapshot names this same version, so it was edited or the definition changed "
        "without a new version"
    )


def test_data_that_is_not_a_dict_is_refused_on_the_journey_and_in_snapshots(
    machine: JourneyMachine,
) -> None:
    journey = machine.start("c-1")
    with pytest.raises(TypeError, match=r"journey data must be a dict, got list"):
        journey.data = [1]  # type: ignore[assignment]
    object.__setattr__(journey, "_data", [1])  # bypassing the setter: snapshot still refuses
    with pytest.raises(DataError, match=r"journey data must be a dict, got list"):
        machine.snapshot(journey)


def test_restore_refuses_a_fresh_journey_that_entered_its_stage_after_it_started(
    machine: JourneyMachine,
) -> None:
    snap = machine.snapshot(machine.start("c-9"))
    snap["entered_at"] = "2031-01-01T00:00:00+00:00"

    with pytest.raises(SnapshotError, match=r"'entry_seq' is 0 .* is not 'started_at'"):
        machine.restore(snap)
