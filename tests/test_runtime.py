"""JourneyMachine: starting journeys, allowed/enabled triggers, explain, Outcome fields,
hook and effect registration."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
from async_engine import ENGINES
from conftest import START, checkout_builder, quiet_logger

from journeyfsm import (
    Context,
    EffectCall,
    GuardError,
    HookError,
    Journey,
    JourneyMachine,
    Outcome,
    SnapshotError,
    UnknownTrigger,
    guard,
    templates,
)

MakeMachine = Callable[..., JourneyMachine]


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest) -> str:
    """Every machine test here runs on each engine (tests/async_engine.py)."""
    return str(request.param)


def in_stage(machine: JourneyMachine, *triggers: str, key: str = "c-1", **data: Any) -> Journey:
    journey = machine.start(key, data)
    for trigger in triggers:
        assert machine.fire(journey, trigger).moved, trigger
    return journey


# -- construction and start ----------------------------------------------------------------
def test_machine_takes_a_definition_only() -> None:
    with pytest.raises(TypeError, match=r"JourneyBuilder\(\.\.\.\)\.build\(\)"):
        JourneyMachine({"name": "x"})  # type: ignore[arg-type]


def test_start_puts_a_journey_in_the_initial_stage_with_a_data_copy(
    machine: JourneyMachine,
) -> None:
    data = {"cart": ["sku"], "profile": {"tier": "gold"}}
    journey = machine.start("c-1", data)
    data["profile"]["tier"] = "changed"  # type: ignore[index]

    assert journey.key == "c-1" and journey.stage == "browsing"
    assert journey.data == {"cart": ["sku"], "profile": {"tier": "gold"}}
    assert journey.history == [] and journey.version == 0 and journey.event_ids is None
    assert machine.start("c-2").data == {}


def test_start_rejects_bad_key_and_data(machine: JourneyMachine) -> None:
    with pytest.raises(ValueError, match="non-empty str"):
        machine.start("")
    with pytest.raises(ValueError, match="non-empty str"):
        machine.start(42)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="JSON-shaped dict, got list"):
        machine.start("k", [1, 2])  # type: ignore[arg-type]


def test_machine_exposes_definition_and_clock(
    machine: JourneyMachine, checkout_definition: Any, clock: Any
) -> None:
    assert machine.definition == checkout_definition
    assert machine.clock is clock
    assert machine.event_id_window == 64


# -- allowed / enabled ----------------------------------------------------------------------
def test_allowed_triggers_do_not_run_guards(machine: JourneyMachine) -> None:
    journey = in_stage(machine, "add_to_cart")  # empty cart
    assert machine.allowed_triggers(journey) == ("add_to_cart", "checkout", "note", "abandon")
    journey.stage = "paid"
    assert machine.allowed_triggers(journey) == ()


def test_enabled_triggers_run_guards(machine: JourneyMachine) -> None:
    empty = in_stage(machine, "add_to_cart")
    full = in_stage(machine, "add_to_cart", key="c-2", cart=["sku"])
    assert machine.enabled_triggers(empty) == ("add_to_cart", "note", "abandon")
    assert machine.enabled_triggers(full) == ("add_to_cart", "checkout", "note", "abandon")


def test_enabled_triggers_treat_payload_mismatch_as_not_passing(
    machine: JourneyMachine,
) -> None:
    journey = in_stage(machine, "add_to_cart", "checkout", cart=["sku"])
    assert machine.enabled_triggers(journey) == ("note", "abandon")
    assert machine.enabled_triggers(journey, {"paid": True}) == ("pay", "note", "abandon")


def test_enabled_triggers_propagate_a_faulty_guard(make_machine: MakeMachine) -> None:
    broken = guard(lambda ctx: 1, name="broken")  # type: ignore[arg-type,return-value]
    machine = make_machine(checkout_builder().replace_guards("abandon", [broken]).build())
    journey = in_stage(machine, "add_to_cart")
    with pytest.raises(GuardError, match="broken"):
        machine.enabled_triggers(journey)


# -- explain --------------------------------------------------------------------------------
def test_explain_would_move_names_the_chosen_transition(machine: JourneyMachine) -> None:
    journey = in_stage(machine, "add_to_cart", cart=["sku"])
    before = copy.deepcopy(journey)

    explanation = machine.explain(journey, "checkout")

    assert explanation.status == "would_move"
    assert explanation.chosen is not None and explanation.chosen.dest == "checkout"
    assert [c.passed for c in explanation.candidates] == [False, True]
    assert explanation.failed_guards == ("is_vip",)
    assert (explanation.key, explanation.stage, explanation.trigger) == ("c-1", "cart", "checkout")
    assert journey == before


def test_explain_text_lists_candidates_and_guards(machine: JourneyMachine) -> None:
    journey = in_stage(machine, "add_to_cart")
    text = str(machine.explain(journey, "checkout"))
    assert text.splitlines() == [
        "'checkout' from 'cart' for journey 'c-1': blocked",
        "  1. -> 'express' [FAIL]",
        "       FAIL (cart_not_empty & is_vip): the cart holds at least one item and the "
        "customer is a VIP",
        "         FAIL cart_not_empty: the cart holds at least one item",
        "         -    is_vip: the customer is a VIP (not evaluated)",
        "  2. -> 'checkout' [FAIL]",
        "       FAIL cart_not_empty: the cart holds at least one item",
    ]


def test_explain_ignored_lists_what_is_allowed(machine: JourneyMachine) -> None:
    explanation = machine.explain(machine.start("c-1"), "pay")
    assert explanation.status == "ignored"
    assert explanation.candidates == () and explanation.chosen is None
    assert explanation.allowed == ("add_to_cart", "note")
    assert "allowed here: add_to_cart, note" in str(explanation)


def test_explain_unknown_trigger(machine: JourneyMachine) -> None:
    with pytest.raises(UnknownTrigger, match="did you mean 'abandon'"):
        machine.explain(machine.start("c-1"), "abandn")


# -- Outcome fields, one status at a time -----------------------------------------------------
def test_outcome_moved_fields(machine: JourneyMachine) -> None:
    journey = in_stage(machine, "add_to_cart", cart=["sku"])
    outcome = machine.fire(journey, "checkout", event_id="e-1", meta={"channel": "web"})

    assert (outcome.moved, outcome.blocked, outcome.ignored, outcome.duplicate) == (
        True,
        False,
        False,
        False,
    )
    assert outcome.status == "moved"
    assert (outcome.key, outcome.trigger, outcome.source, outcome.dest) == (
        "c-1",
        "checkout",
        "cart",
        "checkout",
    )
    assert outcome.entry == journey.history[-1]
    assert outcome.entry.seq == 2 and outcome.entry.event_id == "e-1"
    assert outcome.event_id == "e-1"
    assert outcome.effects == () and outcome.effect_errors == ()
    # candidates tried: the VIP one failed, the plain one won
    assert [(c.dest, c.passed) for c in outcome.candidates] == [
        ("express", False),
        ("checkout", True),
    ]
    assert repr(outcome) == "<Outcome moved 'c-1' 'checkout' 'cart' -> 'checkout'>"


def test_outcome_moved_by_unguarded_transition_reports_the_winner(
    machine: JourneyMachine,
) -> None:
    outcome = machine.fire(machine.start("c-1"), "add_to_cart")
    assert [(c.dest, c.passed, c.guards) for c in outcome.candidates] == [("cart", True, ())]
    assert outcome.failed_guards == ()


def test_outcome_blocked_fields(machine: JourneyMachine) -> None:
    journey = in_stage(machine, "add_to_cart", "checkout", cart=["sku"])
    outcome = machine.fire(journey, "pay", {"paid": False}, event_id="e-2")

    assert outcome.blocked and not outcome.moved and outcome.status == "blocked"
    assert (outcome.source, outcome.dest, outcome.entry) == ("checkout", None, None)
    assert outcome.event_id == "e-2"
    assert outcome.failed_guards == ("payment_ok",)
    (cand,) = outcome.candidates
    assert cand.dest == "paid" and not cand.passed
    assert [g.name for g in cand.failing] == ["payment_ok"]
    assert cand.failing[0].description == "the payment provider confirmed the payment"
    assert (
        repr(outcome) == "<Outcome blocked 'c-1' 'pay' in 'checkout' failed_guards=['payment_ok']>"
    )


def test_outcome_ignored_fields(machine: JourneyMachine) -> None:
    outcome = machine.fire(machine.start("c-1"), "pay", event_id="e-3")
    assert outcome.ignored and outcome.status == "ignored"
    assert (outcome.source, outcome.dest, outcome.entry, outcome.event_id) == (
        "browsing",
        None,
        None,
        "e-3",
    )
    assert outcome.candidates == () and outcome.failed_guards == () and outcome.effects == ()


def test_outcome_duplicate_fields(machine: JourneyMachine) -> None:
    journey = machine.start("c-1")
    machine.fire(journey, "add_to_cart", event_id="e-4")
    outcome = machine.fire(journey, "add_to_cart", event_id="e-4")
    assert outcome.duplicate and outcome.status == "duplicate"
    assert (outcome.source, outcome.dest, outcome.entry, outcome.event_id) == (
        "cart",
        None,
        None,
        "e-4",
    )
    assert outcome.candidates == () and outcome.effects == ()
    assert isinstance(outcome, Outcome)


def test_fire_on_a_journey_in_an_unknown_stage_is_a_snapshot_error(
    machine: JourneyMachine,
) -> None:
    journey = machine.start("c-1")
    journey.stage = "nowhere"
    with pytest.raises(SnapshotError, match="stages: browsing, cart"):
        machine.fire(journey, "note")


# -- registering hooks and effects --------------------------------------------------------------
def test_hook_registration_checks_names(machine: JourneyMachine) -> None:
    with pytest.raises(KeyError, match="did you mean 'cart'"):
        machine.on_enter("kart", print)
    with pytest.raises(KeyError, match="no stage 'kart'"):
        machine.on_exit("kart", print)
    with pytest.raises(UnknownTrigger, match="did you mean 'checkout'"):
        machine.on_transition("chekout", print)
    with pytest.raises(TypeError, match="must be callable"):
        machine.before(3)  # type: ignore[call-overload]
    with pytest.raises(ValueError, match="exactly one of on_enter"):
        machine.effect(print)
    with pytest.raises(ValueError, match="exactly one of on_enter"):
        machine.effect(print, on_enter="cart", on_transition="note")
    with pytest.raises(UnknownTrigger):
        machine.effect(print, on_transition="nope")


def test_hook_decorators_return_the_function(machine: JourneyMachine) -> None:
    def hook(ctx: Context) -> None:
        pass

    assert machine.on_enter("cart")(hook) is hook
    assert machine.on_exit("cart", hook) is hook
    assert machine.before()(hook) is hook
    assert machine.effect(on_enter="cart")(hook) is hook


def test_effect_call_describes_the_move(machine: JourneyMachine) -> None:
    calls: list[EffectCall] = []
    machine.effect(calls.append, on_enter="checkout", name="send_email")
    machine.effect(calls.append, on_transition="note", name="log_note")
    machine.effect(calls.append, on_enter="cart", name="never_for_internal")
    journey = in_stage(machine, "add_to_cart", cart=["sku"])
    calls.clear()

    machine.fire(journey, "checkout", {"via": "web"}, event_id="e-1", meta={"channel": "web"})
    machine.fire(journey, "note", event_id="e-2")

    first, second = calls
    assert first == EffectCall(
        "send_email",
        "checkout:c-1:2:send_email",
        "c-1",
        "checkout",
        "cart",
        "checkout",
        2,
        START,
        {"via": "web"},
        "e-1",
        {"channel": "web"},
        "checkout",
        {"cart": ["sku"]},
    )
    assert (second.effect, second.idempotency_key, second.source, second.dest) == (
        "log_note",
        "checkout:c-1:3:log_note",
        "checkout",
        "checkout",
    )


def test_on_blocked_and_on_ignored_hooks_receive_the_outcome(machine: JourneyMachine) -> None:
    seen: list[tuple[str, str, str]] = []
    machine.on_blocked(lambda ctx, outcome: seen.append(("blocked", ctx.trigger, outcome.status)))
    machine.on_ignored(lambda ctx, outcome: seen.append(("ignored", ctx.trigger, outcome.status)))
    journey = in_stage(machine, "add_to_cart")

    machine.fire(journey, "checkout")
    machine.fire(journey, "come_back")
    machine.fire(journey, "note")

    assert seen == [("blocked", "checkout", "blocked"), ("ignored", "come_back", "ignored")]


def test_on_blocked_hook_failure_is_a_hook_error_and_journey_unchanged(
    machine: JourneyMachine,
) -> None:
    def alert(ctx: Context, outcome: Outcome) -> None:
        raise RuntimeError("pager down")

    machine.on_blocked(alert)
    journey = in_stage(machine, "add_to_cart")
    before = copy.deepcopy(journey)
    with pytest.raises(HookError, match=r"on_blocked hook .*alert.* raised RuntimeError"):
        machine.fire(journey, "checkout")
    assert journey == before


def test_machines_share_nothing_between_journeys() -> None:
    machine = JourneyMachine(templates.aida(), logger=quiet_logger())
    a, b = machine.start("a"), machine.start("b")
    machine.fire(a, "engage")
    assert (a.stage, b.stage) == ("interest", "attention")
    assert b.history == [] and b.version == 0
