"""A machine with goals for the admin's and ``manage.py journeyfsm show``'s goal tests
(declared only by the tests that override ``JOURNEYFSM``): its clock starts on
2026-03-01, so a pending goal's deadline has passed in real time."""

from datetime import datetime, timedelta, timezone

from journeyfsm import Goal, JourneyBuilder, JourneyMachine, ManualClock

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
