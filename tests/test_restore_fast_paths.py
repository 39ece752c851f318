"""restore's fast paths (issue 16, second round) refuse and accept exactly what the
general checks do: a plain dict's keys read in one go, the dict subclasses and other
Mappings through the set test, the shortcut for ``timeouts_fired == 0``, an empty
event-id window, and the journey built without ``Journey.__init__``."""

from __future__ import annotations

import copy
import pickle
from collections import OrderedDict, defaultdict
from collections.abc import Callable
from types import MappingProxyType
from typing import Any

import attrs
import pytest
from test_snapshot import CORRUPTIONS, Snapshot, busy_journey, busy_snapshot

from journeyfsm import Journey, JourneyMachine, ManualClock, SnapshotError
from journeyfsm._records import IdWindow


def _refusal(machine: JourneyMachine, snap: Any) -> str:
    with pytest.raises(SnapshotError) as info:
        machine.restore(snap)
    return str(info.value)


@pytest.mark.parametrize(
    "wrap",
    [OrderedDict, MappingProxyType, lambda d: defaultdict(lambda: None, d)],
    ids=["OrderedDict", "MappingProxyType", "defaultdict"],
)
@pytest.mark.parametrize(
    ("change", "fragment"),
    [pytest.param(change, fragment, id=name) for name, change, fragment in CORRUPTIONS],
)
def test_every_corruption_is_refused_alike_in_a_plain_dict_and_in_other_mappings(
    machine: JourneyMachine,
    clock: ManualClock,
    change: Callable[[Snapshot], None],
    fragment: str,
    wrap: Callable[[Snapshot], Any],
) -> None:
    snap = busy_snapshot(machine, clock)
    change(snap)
    plain = _refusal(machine, snap)
    assert fragment in plain
    assert _refusal(machine, wrap(copy.deepcopy(snap))) == plain


def test_a_defaultdict_missing_a_key_is_refused_and_not_filled_in(
    machine: JourneyMachine, clock: ManualClock
) -> None:
    snap = busy_snapshot(machine, clock)
    del snap["stage"]
    snap["colour"] = "blue"  # the same number of keys as a good snapshot
    filling: defaultdict[str, Any] = defaultdict(lambda: "cart", snap)
    assert "is missing 'stage'" in _refusal(machine, filling)
    assert "stage" not in filling
    assert "is missing 'stage'" in _refusal(machine, snap)


@pytest.mark.parametrize("history", [True, False])
def test_a_key_swapped_for_an_unknown_one_names_the_missing_key(
    machine: JourneyMachine, clock: ManualClock, history: bool
) -> None:
    snap = machine.snapshot(busy_journey(machine, clock), history=history)
    for k in list(snap):
        if k in ("key", "format", "history"):  # history may be left out
            continue
        bad = dict(snap)
        del bad[k]
        bad["colour"] = 1
        assert f"is missing {k!r}; restore fills nothing in" in _refusal(machine, bad)
    with_both = {**snap, "colour": 1}
    assert "has unknown keys ['colour']" in _refusal(machine, with_both)


class _Str(str):
    pass


class _Int(int):
    pass


@pytest.mark.parametrize(
    ("field", "value", "fragment"),
    [
        ("key", _Str("c-1"), "snapshot has no valid 'key'"),
        ("stage", _Str("checkout"), "is in stage 'checkout', which definition"),
        ("definition", _Str("checkout"), "belongs to definition 'checkout'"),
        ("version", _Int(3), "'version' must be an int >= 0"),
        ("entry_seq", _Int(3), "'entry_seq' must be an int from 0"),
        ("timeouts_fired", _Int(0), "'timeouts_fired' must be an int from 0"),
        ("timeouts_fired", False, "'timeouts_fired' must be an int from 0"),
        ("timeouts_fired", 0.0, "'timeouts_fired' must be an int from 0"),
        ("timeouts_fired", -1, "'timeouts_fired' must be an int from 0 to 0"),
        ("timeouts_fired", 1, "'timeouts_fired' must be an int from 0 to 0"),
        ("timeouts_fired", None, "'timeouts_fired' must be an int from 0"),
        ("started_at", _Str("2026-01-01T09:00:00+00:00"), "'started_at' must be an ISO 8601"),
        ("event_ids", ["e-0", _Str("e-1")], "event_ids[1] must be a non-empty str"),
    ],
)
def test_subclasses_of_exact_types_are_refused_as_before(
    machine: JourneyMachine, clock: ManualClock, field: str, value: Any, fragment: str
) -> None:
    snap = busy_snapshot(machine, clock)
    snap[field] = value
    assert fragment in _refusal(machine, snap)


def test_a_restored_journey_has_every_field_journey_init_sets(
    machine: JourneyMachine, clock: ManualClock
) -> None:
    journey = busy_journey(machine, clock)
    for history in (True, False):
        restored = machine.restore(machine.snapshot(journey, history=history))
        built = Journey(
            restored.key,
            restored.stage,
            restored.data,
            restored.history,
            restored.version,
            restored.event_ids,
            definition=restored.definition,
            started_at=restored.started_at,
            entered_at=restored.entered_at,
            entry_seq=restored.entry_seq,
            timeouts_fired=restored.timeouts_fired,
        )
        for a in attrs.fields(Journey):
            assert getattr(restored, a.name) == getattr(built, a.name), a.name
        assert restored == built
        assert restored._move is None
        assert type(restored.history) is type(built.history)
        assert restored.definition == "checkout"
        assert pickle.loads(pickle.dumps(restored)) == restored
        assert copy.copy(restored) == restored
    # the restored history refuses edits, as every journey's does
    with pytest.raises(TypeError, match="cannot be edited"):
        machine.restore(machine.snapshot(journey)).history.append(None)  # type: ignore[arg-type]


def test_an_empty_event_id_window_round_trips_and_takes_ids(
    machine: JourneyMachine, clock: ManualClock
) -> None:
    journey = machine.start("c-2")
    snap = machine.snapshot(journey)
    snap["event_ids"] = []
    restored = machine.restore(snap)
    assert restored._ids.__class__ is IdWindow
    assert machine.snapshot(restored) == snap
    assert restored.event_ids == {}
    again = machine.restore(snap)
    assert machine.fire(again, "add_to_cart", event_id="e-1").moved
    assert machine.fire(again, "add_to_cart", event_id="e-1").duplicate
    assert machine.snapshot(again)["event_ids"] == ["e-1"]
    assert machine.restore(snap)._ids is not restored._ids  # never shared


def test_restored_history_meta_is_a_read_only_copy(
    machine: JourneyMachine, clock: ManualClock
) -> None:
    snap = busy_snapshot(machine, clock)
    restored = machine.restore(snap)
    meta = restored.history[1].meta
    assert meta == {"channel": "phone"}
    snap["history"][1]["meta"]["channel"] = "email"
    assert meta == {"channel": "phone"}
    with pytest.raises(TypeError):
        meta["channel"] = "sms"  # type: ignore[index]
    assert machine.snapshot(restored)["history"][1]["meta"] == {"channel": "phone"}
