"""``journey_from_row``'s typed restore (service/_core.py): a stored row restored from its
typed values gives the journey the snapshot path gives, and a row it doubts goes through
that path, so a corrupted row is the same ``StoreError`` either way (DESIGN 11: a stored
row is user input)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import attrs
import pytest
from conftest import START

from journeyfsm import JourneyBuilder, JourneyMachine, StoreError
from journeyfsm.service import _core
from journeyfsm.service._core import JourneyRow, _row, journey_from_row

MACHINE = JourneyMachine(
    JourneyBuilder("cart", version=3)
    .stage("browsing", initial=True)
    .stage("cart")
    .stage("bought", final=True)
    .transition("add", "browsing", "cart")
    .transition("add", "cart", "cart")
    .transition("buy", "cart", "bought")
    .timeout("cart", timedelta(hours=1), "add")
    .build()
)


def _stored() -> JourneyRow:
    journey = MACHINE.start("c-1", {"items": [1, 2], "note": "x"}, at=START)
    MACHINE.fire(journey, "add", at=START + timedelta(minutes=5))
    return _row(MACHINE, journey, START + timedelta(minutes=5))


CET = timezone(timedelta(hours=1))
ROW = _stored()
#: rows the typed restore must not take as they are (each is checked by the snapshot
#: path: refused, or, for another time zone, converted)
DOUBTFUL: dict[str, dict[str, Any]] = {
    "unknown stage": {"stage": "gone"},
    "stage not a str": {"stage": 5},
    "data not a dict": {"data": [1]},
    "data not JSON-shaped": {"data": {"n": {1, 2}}},
    "data with a non-str key": {"data": {1: "a"}},
    "version negative": {"version": -1, "entry_seq": 0},
    "version a bool": {"version": True},
    "version a str": {"version": "1"},
    "entry_seq past the version": {"entry_seq": 2},
    "entry_seq negative": {"entry_seq": -1},
    "timeouts_fired past the stage's timeouts": {"timeouts_fired": 2},
    "timeouts_fired negative": {"timeouts_fired": -1},
    "timeouts_fired a bool": {"timeouts_fired": True},
    "entry 0 entered after the start": {"entry_seq": 0},
    "another definition version": {"definition_version": 2},
    "the version as a str": {"definition_version": "3"},
    "goals on a definition without": {"goals": {}},
    "a naive entered_at": {"entered_at": datetime(2026, 1, 1, 10, 0)},
    "an entered_at of another zone": {"entered_at": ROW.entered_at.astimezone(CET)},
    "a started_at of another zone": {"started_at": ROW.started_at.astimezone(CET)},
    "a time of a datetime subclass": {
        "entered_at": type("Stamp", (datetime,), {})(2026, 1, 1, tzinfo=timezone.utc)
    },
    "an empty key": {"key": ""},
}


#: what the snapshot path takes all the same (converted, or an empty goal state ignored)
ACCEPTED = {
    "an entered_at of another zone",
    "a started_at of another zone",
    "a time of a datetime subclass",
    "goals on a definition without",
}


def _outcome(row: JourneyRow) -> tuple[str, Any]:
    try:
        journey = journey_from_row(MACHINE, row, table="journeys")
    except StoreError as err:
        return "error", (str(err), err.key, err.stage, type(err.__cause__))
    return "journey", MACHINE.snapshot(journey)


def _through_the_snapshot(row: JourneyRow, monkeypatch: pytest.MonkeyPatch) -> tuple[str, Any]:
    with monkeypatch.context() as m:
        m.setattr(_core, "_typed_restore", lambda machine, row: None)
        return _outcome(row)


def test_a_sound_row_is_restored_from_its_typed_values_as_from_its_snapshot(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert _core._typed_restore(MACHINE, ROW) is not None  # the fast path takes it
    fired = attrs.evolve(ROW, timeouts_fired=1)
    for row in (ROW, fired):
        assert _outcome(row) == _through_the_snapshot(row, monkeypatch)
    journey = journey_from_row(MACHINE, ROW, table="journeys")
    assert journey.stage == "cart" and journey.version == 1 and journey.entry_seq == 1
    assert journey.data == {"items": [1, 2], "note": "x"}
    journey.data["items"].append(3)  # a copy: the row is not changed by the journey
    assert ROW.data == {"items": [1, 2], "note": "x"}


@pytest.mark.parametrize("what", sorted(DOUBTFUL))
def test_a_row_the_typed_restore_doubts_gives_the_snapshot_path_s_answer(
    what: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    row = attrs.evolve(ROW, **DOUBTFUL[what])
    assert _core._typed_restore(MACHINE, row) is None
    expected = _through_the_snapshot(row, monkeypatch)
    assert _outcome(row) == expected
    assert expected[0] == ("journey" if what in ACCEPTED else "error"), expected


def test_a_corrupted_stored_row_is_refused_with_the_snapshot_path_s_message() -> None:
    with pytest.raises(StoreError) as err:
        journey_from_row(MACHINE, attrs.evolve(ROW, stage="gone"), table="journeys")
    assert "journeys row for journey 'c-1' (definition 'cart') is corrupted" in str(err.value)
    assert "'gone'" in str(err.value) and err.value.stage == "gone"
