"""An int too large for JSON text is refused as a DataError, like NaN, everywhere."""

from __future__ import annotations

from typing import Any

import pytest

from journeyfsm import DataError, JourneyBuilder, JourneyMachine, ManualClock, SnapshotError
from journeyfsm.service import JourneyService
from journeyfsm.stores import MemoryStore, SQLiteStore

HUGE = 10**4300  # 4301 digits: Python's json refuses to write it (int_max_str_digits)
LARGEST = 10**4300 - 1  # 4300 digits: json writes and reads it back


def _machine() -> JourneyMachine:
    d = (
        JourneyBuilder("big")
        .stage("a", initial=True)
        .stage("b", final=True)
        .transition("go", "a", "b")
        .build()
    )
    return JourneyMachine(d, clock=ManualClock())


@pytest.mark.parametrize(
    "data", [{"n": HUGE}, {"n": -HUGE}, {"l": [1, [HUGE]]}, {"d": {"x": HUGE}}]
)
def test_start_refuses_an_int_json_cannot_write(data: dict[str, Any]) -> None:
    with pytest.raises(DataError, match="digits"):
        _machine().start("k", data=data)


def test_the_largest_int_json_writes_is_accepted_and_restores() -> None:
    m = _machine()
    j = m.start("k", data={"n": LARGEST, "m": [-LARGEST]})
    assert m.restore(m.snapshot(j)).data == {"n": LARGEST, "m": [-LARGEST]}


def test_restore_refuses_a_huge_int() -> None:
    m = _machine()
    snap = m.snapshot(m.start("k"))
    snap["data"] = {"n": HUGE}
    with pytest.raises(SnapshotError, match=r"data\['n'\]"):
        m.restore(snap)


def test_a_hook_writing_a_huge_int_rolls_the_move_back() -> None:
    m = _machine()

    @m.on_enter("b")
    def grow(ctx: Any) -> None:
        ctx.journey.data["n"] = HUGE

    j = m.start("k", data={"n": 1})
    with pytest.raises(DataError, match=r"data\['n'\]"):
        m.fire(j, "go", event_id="e1")
    assert (j.stage, j.data, j.version, len(j.history)) == ("a", {"n": 1}, 0, 0)


@pytest.mark.parametrize("store", ["memory", "sqlite"])
def test_the_service_refuses_a_huge_int_payload_on_every_store(store: str) -> None:
    # before: MemoryStore accepted it, SQLiteStore raised a bare ValueError from json.dumps
    s = MemoryStore() if store == "memory" else SQLiteStore(":memory:", create_schema=True)
    service = JourneyService(_machine(), s)
    with pytest.raises(DataError, match=r"payload\['n'\]"):
        service.handle("k", "go", {"n": HUGE}, event_id="e1")
    assert service.get("k") is None
