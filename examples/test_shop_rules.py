"""How a shop tests its journey rules with journeyfsm.testing (runs in the journeyfsm suite).

The first half is what a shop keeps in its own code (say ``shop/journey.py``): the
definition, its guards, and a function that wires hooks and effects onto a machine.  The
second half is its test module.  Run it with the transition coverage report::

    pytest examples/test_shop_rules.py --journey-coverage --journey-coverage-definition=shop
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from hypothesis import given, settings

from journeyfsm import (
    Clock,
    Context,
    EffectCall,
    JourneyBuilder,
    JourneyDefinition,
    JourneyMachine,
    ManualClock,
    guard,
)
from journeyfsm.testing import (
    Recorder,
    Row,
    assert_blocked,
    assert_ignored,
    assert_moves,
    check_table,
    shortest_paths,
    simple_paths,
    stages_without_exit_to_final,
    trigger_sequences,
    unreachable_stages,
)

# ---------------------------------------------------------------- the shop's own code --


@guard
def cart_not_empty(ctx: Context) -> bool:
    """the cart holds at least one item"""
    return bool(ctx.journey.data.get("cart"))


@guard(payload_type=dict)
def payment_authorized(ctx: Context) -> bool:
    """the payment provider authorized the payment"""
    return bool(ctx.payload.get("status") == "authorized")


@guard
def review_window_open(ctx: Context) -> bool:
    """the order was paid at most 30 days ago"""
    paid_at = ctx.journey.data.get("paid_at")
    return paid_at is not None and ctx.now - datetime.fromisoformat(paid_at) <= timedelta(days=30)


SHOP: JourneyDefinition = (
    JourneyBuilder("shop", version=1, description="browse, buy, review")
    .stage("browsing", initial=True)
    .stage("cart")
    .stage("checkout")
    .stage("paid")
    .stage("reviewed", final=True)
    .stage("abandoned")
    .transition("add_to_cart", ["browsing", "cart"], "cart")
    .transition("start_checkout", "cart", "checkout", guards=[cart_not_empty])
    .transition("pay", "checkout", "paid", guards=[payment_authorized])
    .transition("review", "paid", "reviewed", guards=[review_window_open])
    .transition("abandon", ["cart", "checkout"], "abandoned")
    .transition("come_back", "abandoned", "cart")
    .transition("close", "paid", "reviewed")
    .build()
)


def send_receipt(call: EffectCall) -> None:
    """Would call the mail service; the idempotency key makes retries safe."""


def build_machine(clock: Clock) -> JourneyMachine:
    machine = JourneyMachine(SHOP, clock=clock)

    @machine.on_enter("paid")
    def remember_payment_time(ctx: Context) -> None:
        ctx.journey.data["paid_at"] = ctx.now.isoformat()

    machine.effect(send_receipt, on_enter="paid")
    return machine


# ---------------------------------------------------------------- the shop's tests -----


def test_an_empty_cart_cannot_check_out() -> None:
    assert_blocked(SHOP, "cart", "start_checkout", by="cart_not_empty", data={"cart": []})


def test_a_full_cart_checks_out() -> None:
    assert_moves(SHOP, "cart", "start_checkout", "checkout", data={"cart": ["sku-1"]})


def test_nothing_happens_to_a_finished_journey() -> None:
    assert_ignored(SHOP, "reviewed", "add_to_cart")


def test_the_rules_as_a_table() -> None:
    authorized = {"status": "authorized"}
    check_table(
        SHOP,
        [
            ("browsing", "add_to_cart", "cart"),
            ("cart", "add_to_cart", "cart"),
            ("cart", "start_checkout", "checkout"),
            Row("cart", "start_checkout", "blocked by cart_not_empty", data={"cart": []}),
            ("checkout", "pay", authorized, "paid"),
            ("checkout", "pay", {"status": "declined"}, "blocked by payment_authorized"),
            ("checkout", "abandon", "abandoned"),
            ("abandoned", "come_back", "cart"),
            ("browsing", "pay", "ignored"),
            ("paid", "review", "blocked by review_window_open"),  # no paid_at in data
            ("paid", "close", "reviewed"),
        ],
        data={"cart": ["sku-1"]},
    )


def test_paying_sends_one_receipt_and_records_the_time(
    journey_clock: ManualClock, journey_recorder: Recorder
) -> None:
    machine = build_machine(journey_clock)
    journey_recorder.attach(machine)
    journey = machine.start("customer-42", {"cart": ["sku-1"]})
    machine.fire(journey, "add_to_cart")
    machine.fire(journey, "start_checkout")
    outcome = machine.fire(journey, "pay", {"status": "authorized"}, event_id="psp-981")

    assert outcome.moved and journey.stage == "paid"
    journey_recorder.assert_called_in_order("remember_payment_time", "send_receipt")
    journey_recorder.assert_called("send_receipt", times=1)
    [receipt] = journey_recorder.calls_to("send_receipt")
    assert receipt.args[0].idempotency_key == "shop:customer-42:3:send_receipt"
    assert journey.data["paid_at"] == journey_clock.now().isoformat()

    # redelivered by the payment provider: a duplicate, nothing runs again
    assert machine.fire(journey, "pay", {"status": "authorized"}, event_id="psp-981").duplicate
    journey_recorder.assert_called("send_receipt", times=1)


def test_reviews_close_after_thirty_days(journey_clock: ManualClock) -> None:
    machine = build_machine(journey_clock)
    paid_at = journey_clock.now().isoformat()
    assert_moves(machine, "paid", "review", "reviewed", data={"paid_at": paid_at})
    journey_clock.advance(timedelta(days=31))
    assert_blocked(machine, "paid", "review", by="review_window_open", data={"paid_at": paid_at})


PAYLOADS: dict[str, list[Any]] = {"pay": [{"status": "authorized"}]}


def test_every_stage_is_reachable_and_can_finish(journey_clock: ManualClock) -> None:
    assert unreachable_stages(SHOP, PAYLOADS, data={"cart": ["sku-1"]}) == ()
    assert stages_without_exit_to_final(SHOP) == ()
    machine = build_machine(journey_clock)
    for stage, path in shortest_paths(machine, PAYLOADS, data={"cart": ["sku-1"]}).items():
        assert path.replay(machine, data={"cart": ["sku-1"]}).stage == stage


def test_every_way_to_pay_goes_through_checkout() -> None:
    paths = simple_paths(SHOP, 6, PAYLOADS, to="paid", data={"cart": ["sku-1"]})
    assert paths
    assert all("checkout" in path.stages for path in paths)


@settings(max_examples=50, deadline=None)
@given(trigger_sequences(SHOP, payload_factory=PAYLOADS, data={"cart": ["sku-1"]}))
def test_history_is_a_chain_whatever_happens(steps: list[Any]) -> None:
    # no hooks here: the predicted step.dest comes from the rules alone
    machine = JourneyMachine(SHOP, clock=ManualClock())
    journey = machine.start("customer-7", {"cart": ["sku-1"]})
    for step in steps:
        machine.fire(journey, step.trigger, step.payload)
        assert journey.stage == step.dest
    previous = SHOP.initial_stage
    for entry in journey.history:
        assert entry.source == previous
        previous = entry.dest
    assert previous == journey.stage
