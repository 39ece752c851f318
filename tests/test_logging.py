"""structlog events: one per outcome, with the fields that say what happened.

The machine binds its logger on first use, so machines here are created inside
``capture_logs()`` (or get a logger injected)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import structlog
from conftest import START, checkout_builder

from journeyfsm import Context, HookError, JourneyMachine, ManualClock

Events = list[dict[str, Any]]


def new_machine(**kwargs: Any) -> JourneyMachine:
    return JourneyMachine(checkout_builder().build(), clock=ManualClock(START), **kwargs)


def only(events: Events, name: str) -> dict[str, Any]:
    matching = [e for e in events if e["event"] == name]
    assert len(matching) == 1, events
    return matching[0]


def test_moved_event() -> None:
    with structlog.testing.capture_logs() as events:
        machine = new_machine()
        journey = machine.start("c-1")
        machine.fire(journey, "add_to_cart", event_id="e-1")

    assert events == [
        {
            "event": "journey.moved",
            "log_level": "info",
            "definition": "checkout",
            "definition_version": 3,
            "key": "c-1",
            "trigger": "add_to_cart",
            "source": "browsing",
            "dest": "cart",
            "event_id": "e-1",
        }
    ]


def test_blocked_event_names_the_failing_guards() -> None:
    with structlog.testing.capture_logs() as events:
        machine = new_machine()
        journey = machine.start("c-1")
        machine.fire(journey, "add_to_cart")
        events.clear()
        machine.fire(journey, "checkout", event_id="e-2")

    (event,) = events
    assert event["event"] == "journey.blocked"
    assert event["log_level"] == "info"
    assert (event["key"], event["trigger"], event["source"], event["event_id"]) == (
        "c-1",
        "checkout",
        "cart",
        "e-2",
    )
    assert event["guards"] == ["cart_not_empty"]  # is_vip is not evaluated


def test_ignored_event() -> None:
    with structlog.testing.capture_logs() as events:
        machine = new_machine()
        machine.fire(machine.start("c-1"), "pay", event_id="e-3")

    (event,) = events
    assert event["event"] == "journey.ignored"
    assert (event["key"], event["trigger"], event["source"], event["event_id"]) == (
        "c-1",
        "pay",
        "browsing",
        "e-3",
    )


def test_duplicate_event() -> None:
    with structlog.testing.capture_logs() as events:
        machine = new_machine()
        journey = machine.start("c-1")
        machine.fire(journey, "add_to_cart", event_id="e-1")
        events.clear()
        machine.fire(journey, "add_to_cart", event_id="e-1")

    (event,) = events
    assert event["event"] == "journey.duplicate"
    assert (event["key"], event["trigger"], event["source"], event["event_id"]) == (
        "c-1",
        "add_to_cart",
        "cart",
        "e-1",
    )


@pytest.mark.parametrize("position", ["before", "on_exit", "on_enter", "on_transition", "after"])
def test_hook_failed_event(position: str) -> None:
    def crm_veto(ctx: Context) -> None:
        raise RuntimeError("no")

    with structlog.testing.capture_logs() as events:
        machine = new_machine()
        register: dict[str, Callable[[], Any]] = {
            "before": lambda: machine.before(crm_veto),
            "after": lambda: machine.after(crm_veto),
            "on_exit": lambda: machine.on_exit("browsing", crm_veto),
            "on_enter": lambda: machine.on_enter("cart", crm_veto),
            "on_transition": lambda: machine.on_transition("add_to_cart", crm_veto),
        }
        register[position]()
        with pytest.raises(HookError):
            machine.fire(machine.start("c-1"), "add_to_cart", event_id="e-1")

    event = only(events, "journey.hook_failed")
    assert event["log_level"] == "info"  # the caller gets the error: not logged as one
    assert (event["key"], event["trigger"], event["source"], event["event_id"]) == (
        "c-1",
        "add_to_cart",
        "browsing",
        "e-1",
    )
    assert event["dest"] == "cart"
    assert event["hook"].endswith("crm_veto")
    assert [e["event"] for e in events] == ["journey.hook_failed"]  # no journey.moved


def test_effect_failed_event() -> None:
    with structlog.testing.capture_logs() as events:
        machine = new_machine()

        def send_email(call: Any) -> None:
            raise TimeoutError("smtp")

        machine.effect(send_email, on_enter="cart", name="send_email")
        machine.fire(machine.start("c-1"), "add_to_cart", event_id="e-1")

    event = only(events, "outbox.effect_failed")
    assert event["log_level"] == "error"
    assert event["effect"] == "send_email"
    assert event["idempotency_key"].endswith(":c-1:1:send_email")
    assert (event["key"], event["trigger"]) == ("c-1", "add_to_cart")
    assert event["error"] == "TimeoutError: smtp"
    only(events, "journey.moved")
    assert len(events) == 2


def test_one_event_per_outcome() -> None:
    with structlog.testing.capture_logs() as events:
        machine = new_machine()
        journey = machine.start("c-1", {"cart": ["sku"]})
        for trigger, event_id in [
            ("add_to_cart", "e-1"),  # moved
            ("add_to_cart", "e-1"),  # duplicate
            ("come_back", None),  # ignored
            ("checkout", None),  # moved
        ]:
            machine.fire(journey, trigger, event_id=event_id)
        machine.fire(journey, "pay", {"paid": False})  # blocked

    assert [e["event"] for e in events] == [
        "journey.moved",
        "journey.duplicate",
        "journey.ignored",
        "journey.moved",
        "journey.blocked",
    ]


def test_injected_logger_is_used() -> None:
    capture = structlog.testing.LogCapture()
    injected = structlog.wrap_logger(None, processors=[capture])
    with structlog.testing.capture_logs() as global_events:
        machine = new_machine(logger=injected)
        machine.fire(machine.start("c-1"), "add_to_cart")

    assert global_events == []
    (event,) = capture.entries
    assert event["event"] == "journey.moved" and event["key"] == "c-1"
    assert event["definition"] == "checkout"


def test_library_never_configures_structlog(capsys: pytest.CaptureFixture[str]) -> None:
    was_configured = structlog.is_configured()
    config_before = structlog.get_config()
    machine = new_machine()
    journey = machine.start("c-1")
    machine.fire(journey, "add_to_cart", event_id="e-1")
    machine.fire(journey, "add_to_cart", event_id="e-1")
    machine.fire(journey, "come_back")
    assert machine.logger is machine.logger  # bound once
    assert structlog.is_configured() is was_configured
    assert structlog.get_config() == config_before
    capsys.readouterr()  # the default (unconfigured) structlog printed; that is the host's call
