"""A machine with goals and a capped e-mail effect, for the admin's and ``manage.py
journeyfsm``'s goal and caps tests (declared only by the tests that override
``JOURNEYFSM``): its clock starts on 2026-03-01, so a pending goal's deadline has passed
in real time; ``caps``: one e-mail per customer per 24 hours."""

from datetime import datetime, timedelta, timezone

from journeyfsm import EffectCall, FrequencyCap, Goal, JourneyBuilder, JourneyMachine, ManualClock

clock = ManualClock(datetime(2026, 3, 1, 9, 0, tzinfo=timezone.utc))
shop = (
    JourneyBuilder("goalshop")
    .stage("browsing", initial=True)
    .stage("cart")
    .stage("purchased", final=True)
    .transition("add_to_cart", ["browsing", "cart"], "cart")
    .transition("pay", "cart", "purchased")
    .goal(Goal("<b>bought</b>", stage="purchased", within=timedelta(days=14), since="cart"))
    .goal(Goal("carted", stage="cart", within=timedelta(days=1)))
    .build()
)
machine = JourneyMachine(shop, clock=clock)
caps = [FrequencyCap("email", 1, timedelta(hours=24))]
sent: list[str] = []


@machine.effect(on_enter="cart", channel="email")
def cart_reminder(call: EffectCall) -> None:
    sent.append(call.idempotency_key)
