"""Quickstart: a thank-you email after purchase (the same code as the README quickstart)."""

from journeyfsm import JourneyBuilder, JourneyMachine, ManualClock, guard


@guard(payload_type=dict)
def payment_captured(ctx):
    "the payment provider captured the money"
    return ctx.payload.get("status") == "captured"


shop = (
    JourneyBuilder("shop")
    .stage("browsing", initial=True)
    .stage("cart")
    .stage("purchased", final=True)
    .transition("add_to_cart", ["browsing", "cart"], "cart")
    .transition("order_paid", "cart", "purchased", guards=[payment_captured])
    .build()
)
machine = JourneyMachine(shop, clock=ManualClock())


@machine.on_enter("cart")  # a hook: runs inside the move; raising vetoes it
def remember_item(ctx):
    ctx.journey.data.setdefault("cart", []).append(ctx.payload["sku"])


@machine.effect(on_enter="purchased")  # an effect: runs after the move, with an idempotency key
def send_thank_you(call):
    print(f"email to {call.key}: thank you! (idempotency key {call.idempotency_key})")


journey = machine.start("customer-42")
machine.fire(journey, "add_to_cart", {"sku": "mug"}, event_id="evt-1")
# the webhook is redelivered with the same event id: nothing runs twice
print(machine.fire(journey, "add_to_cart", {"sku": "mug"}, event_id="evt-1").status)
print(machine.fire(journey, "order_paid", {"status": "declined"}))  # a guard blocks the move
print(machine.explain(journey, "order_paid", {"status": "declined"}))
print(machine.fire(journey, "order_paid", {"status": "captured"}))
print(journey.stage, journey.data, [h.trigger for h in journey.history])
