"""fire's fast paths (issue 16, second round): the history entry and the moved outcome
built slot by slot are the objects their attrs ``__init__`` builds, and the move's log
event costs no fields when its level is off, yet is logged as before when it is on."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

import attrs
import pytest
import structlog

from journeyfsm import HistoryEntry, JourneyMachine, Outcome
from journeyfsm._json import frozen_json
from journeyfsm._logging import JourneyLog
from journeyfsm._outcome import moved_outcome
from journeyfsm._records import new_entry

AT = datetime(2026, 1, 1, 9, tzinfo=timezone.utc)


@pytest.mark.parametrize("meta", [None, frozen_json({"channel": "email", "tags": ["a"]})])
@pytest.mark.parametrize("event_id", [None, "e-1"])
def test_new_entry_is_the_entry_history_entry_init_builds(meta: Any, event_id: Any) -> None:
    fast = new_entry(3, "pay", "cart", "paid", AT, event_id, meta)
    slow = HistoryEntry(3, "pay", "cart", "paid", AT, event_id, meta)
    assert fast == slow
    for a in attrs.fields(HistoryEntry):
        assert getattr(fast, a.name) == getattr(slow, a.name), a.name
    assert fast.to_dict() == slow.to_dict()
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        fast.seq = 4  # type: ignore[misc]


def test_moved_outcome_is_the_outcome_outcome_init_builds(machine: JourneyMachine) -> None:
    journey = machine.start("c-1", {"cart": ["sku"]})
    outcome = machine.fire(journey, "add_to_cart", event_id="e-1")
    entry = outcome.entry
    assert entry is not None
    slow = Outcome(
        "moved",
        "c-1",
        "add_to_cart",
        "browsing",
        entry.dest,
        entry,
        "e-1",
        (),
        (),
        outcome._cands,
        outcome._log,
    )
    assert outcome == slow
    for a in attrs.fields(Outcome):
        assert getattr(outcome, a.name) == getattr(slow, a.name), a.name
    assert outcome.seq is None and outcome.moved and outcome.candidates == slow.candidates
    assert repr(outcome) == repr(slow)
    fast = moved_outcome("k", "t", "s", entry, None, (), (), (), None)
    assert (fast.status, fast.dest, fast.entry, fast.seq) == ("moved", entry.dest, entry, None)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        fast.status = "blocked"  # type: ignore[misc]


def test_a_move_builds_no_log_fields_when_info_is_off(
    make_machine: Callable[..., JourneyMachine], monkeypatch: pytest.MonkeyPatch
) -> None:
    machine = make_machine(logger=None)  # follows the host's structlog configuration
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("info called with the level off")

    monkeypatch.setattr(JourneyLog, "info", refuse)
    journey = machine.start("c-1")
    assert machine.fire(journey, "add_to_cart").moved


def test_a_move_is_logged_when_info_is_on(make_machine: Callable[..., JourneyMachine]) -> None:
    machine = make_machine(logger=None)
    journey = machine.start("c-1")
    with structlog.testing.capture_logs() as events:
        assert machine.fire(journey, "add_to_cart", event_id="e-1").moved
    moved = [e for e in events if e["event"] == "journey.moved"]
    assert moved == [
        {
            "event": "journey.moved",
            "log_level": "info",
            "key": "c-1",
            "trigger": "add_to_cart",
            "source": "browsing",
            "dest": "cart",
            "event_id": "e-1",
            "definition": "checkout",
            "definition_version": 3,
        }
    ]


def test_the_adapter_event_data_has_every_attribute_event_data_init_sets(
    machine: JourneyMachine,
) -> None:
    from transitions.core import EventData

    from journeyfsm._engine import _EventData

    event = machine._events["add_to_cart"]
    journey = machine.start("c-1")
    args, kwargs = (object(),), {"k": 1}
    ours = _EventData(event, event.machine, journey, args, kwargs)
    stock = EventData(None, event, event.machine, journey, args=args, kwargs=kwargs)
    assert isinstance(ours, EventData)
    assert vars(ours) == vars(stock)
