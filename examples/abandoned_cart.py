"""Abandoned carts: a nudge after 1 hour, written off after 24, on a manual clock.

Timeouts are part of the definition; ``machine.tick(journey, now)`` fires whatever is due,
each at its own due time, however late the tick comes.
"""

from datetime import datetime, timedelta, timezone

from journeyfsm import JourneyBuilder, JourneyMachine, ManualClock

hour = timedelta(hours=1)
shop = (
    JourneyBuilder("shop")
    .stage("browsing", initial=True)
    .stage("cart")
    .stage("abandoned")
    .stage("purchased", final=True)
    .transition("add_to_cart", ["browsing", "cart", "abandoned"], "cart")
    .transition("nudge", "cart", None)  # internal: recorded, the cart's clock keeps running
    .transition("abandon", "cart", "abandoned")
    .transition("order_paid", "cart", "purchased")
    .timeout("cart", hour, "nudge")
    .timeout("cart", 24 * hour, "abandon")
    .build()
)
clock = ManualClock(datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc))
machine = JourneyMachine(shop, clock=clock)


@machine.effect(on_transition="nudge")
def send_nudge(call):
    print(f"{call.at:%H:%M} nudge email to {call.key} [{call.idempotency_key}]")


ann, bob = machine.start("ann"), machine.start("bob")
machine.fire(ann, "add_to_cart")
machine.fire(bob, "add_to_cart")

clock.advance(30 * 60)  # 09:30: nothing is due yet
print("09:30 due:", [o.trigger for j in (ann, bob) for o in machine.tick(j)])

clock.advance(3 * hour)  # 12:30: both nudges came due at 10:00
machine.tick(ann)
machine.tick(bob)
machine.fire(bob, "order_paid")  # Bob pays: his cart's timeouts are cancelled

clock.advance(2 * 24 * hour)  # two days later, one late tick
for outcome in machine.tick(ann):
    print(outcome.trigger, "->", outcome.dest, "at", f"{outcome.entry.at:%m-%d %H:%M}")
print(ann.stage, bob.stage, machine.next_due(bob))
