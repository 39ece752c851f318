"""``journeyfsm demo``: a small shop simulated on a manual clock, in well under a second.

A few dozen customers walk through the eight-phases journey at random (seeded, so the
same seed prints byte-identical output).  Paying needs a captured payment (a guard), so
some orders are blocked; entering ``purchase`` sends a thank-you email (an effect, with
its idempotency key); some webhooks are delivered twice with the same event id and
dropped as duplicates; some events are not valid from the customer's stage and are
ignored.  At the end: where the customers ended up, and what happened on the way.
"""

from __future__ import annotations

import logging
import random
import sys
from collections import Counter
from datetime import datetime, timedelta, timezone
from typing import Any, TextIO

import attrs
import structlog

from . import templates
from ._clock import ManualClock
from ._definition import JourneyDefinition
from ._guards import guard
from ._outcome import EffectCall
from ._records import Context
from ._runtime import JourneyMachine

__all__ = ["DemoResult", "demo_definition", "run_demo"]

START = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
DAYS = 30
ACTIVE_PER_DAY = 0.35  # chance that a customer does something on a given day
STRAY_EVENT = 0.10  # chance that an event arrives that the customer's stage does not expect
REDELIVERY = 0.10  # chance that a webhook is delivered a second time (same event id)
DECLINED = 0.15  # chance that a payment is declined

# How likely each trigger is, among those allowed from the customer's stage.
WEIGHTS: dict[str, float] = {
    "research": 5,
    "shortlist": 4,
    "order_paid": 4,
    "follow_up": 6,
    "use_product": 5,
    "review": 4,
    "recommend": 3,
    "repurchase": 2,
    "drop_out": 1.2,
    "re_engage": 1.5,
    "unsubscribe": 0.1,
}
PAYING = ("order_paid", "repurchase")


@guard(payload_type=dict)
def payment_captured(ctx: Context) -> bool:
    """the payment provider captured the money"""
    payment: object = ctx.payload.get("payment")
    return payment == "captured"


def demo_definition() -> JourneyDefinition:
    """The eight-phases template, with paying guarded by ``payment_captured``.

    >>> demo_definition().candidates("decision", "order_paid")[0].guards
    (<guard payment_captured>,)
    """
    builder = templates.eight_phases().builder()
    for trigger in PAYING:
        builder.replace_guards(trigger, [payment_captured])
    return builder.build(name="demo-shop")


def quiet_logger() -> Any:
    """A structlog logger that drops everything below WARNING (no global configuration)."""
    return structlog.wrap_logger(
        structlog.PrintLogger(sys.stderr),
        wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING),
    )


@attrs.frozen
class DemoResult:
    """What the demo counted; ``stages`` maps every stage to how many customers ended there."""

    seed: int
    customers: int
    stages: dict[str, int]
    fired: int
    moved: int
    blocked: int
    ignored: int
    duplicates: int
    emails: tuple[str, ...]  # idempotency keys, in the order the emails were sent
    purchases: int  # moves into the purchase stage


def run_demo(
    *, seed: int = 7, customers: int = 40, quiet: bool = False, out: TextIO | None = None
) -> DemoResult:
    """Simulate the shop and print what happens to ``out`` (default: stdout).

    ``quiet`` prints the summary only.

    >>> import io
    >>> result = run_demo(seed=1, customers=5, out=io.StringIO())
    >>> sum(result.stages.values())
    5
    """
    if customers < 1:
        raise ValueError(f"customers must be at least 1, got {customers}")
    stream = out if out is not None else sys.stdout

    def say(line: str) -> None:
        if not quiet:
            print(line, file=stream)

    rng = random.Random(seed)
    clock = ManualClock(START)
    definition = demo_definition()
    machine = JourneyMachine(definition, clock=clock, logger=quiet_logger())
    emails: list[str] = []

    @machine.effect(on_enter="purchase", name="thank_you_email")
    def send_thank_you(call: EffectCall) -> None:
        emails.append(call.idempotency_key)
        say(f"{call.at:%m-%d %H:%M}  {call.key}  thank-you email  [{call.idempotency_key}]")

    width = len(str(customers))
    journeys = [machine.start(f"c{n:0{width}d}") for n in range(1, customers + 1)]
    finals = set(definition.final_stages)
    triggers = definition.triggers
    status: Counter[str] = Counter()
    purchases = 0
    event_no = 0

    print(
        f"journeyfsm demo: a small shop, {customers} customers, {DAYS} days, seed {seed}",
        file=stream,
    )
    say(f"journey {definition.name!r}: the eight-phases template, paying guarded")
    say(f"by payment_captured; a manual clock from {START:%Y-%m-%d %H:%M} UTC")
    say("")
    for day in range(DAYS):
        clock.set(START + timedelta(days=day))
        for journey in journeys:
            if journey.stage in finals or rng.random() > ACTIVE_PER_DAY:
                continue
            clock.advance(timedelta(minutes=rng.randint(1, 30)))
            allowed = machine.allowed_triggers(journey)
            if rng.random() < STRAY_EVENT:
                trigger = rng.choice([t for t in triggers if t not in allowed])
            else:
                trigger = rng.choices(allowed, [WEIGHTS.get(t, 1.0) for t in allowed])[0]
            payload: dict[str, str] = {}
            if trigger in PAYING:
                payload["payment"] = "declined" if rng.random() < DECLINED else "captured"
            event_no += 1
            event_id = f"evt-{event_no:05d}"
            deliveries = 2 if rng.random() < REDELIVERY else 1
            for delivery in range(deliveries):
                outcome = machine.fire(journey, trigger, payload, event_id=event_id)
                status[outcome.status] += 1
                when = f"{clock.now():%m-%d %H:%M}  {journey.key}"
                again = " (redelivered, judged again)" if delivery else ""
                if outcome.moved and outcome.dest == "purchase":
                    purchases += 1
                elif outcome.blocked:
                    say(f"{when}  {trigger} blocked: payment declined{again}")
                elif outcome.duplicate:
                    say(f"{when}  {trigger} {event_id} redelivered: duplicate dropped")

    counts = Counter(j.stage for j in journeys)
    stages = {name: counts.get(name, 0) for name in definition.stage_names}
    result = DemoResult(
        seed=seed,
        customers=customers,
        stages=stages,
        fired=sum(status.values()),
        moved=status["moved"],
        blocked=status["blocked"],
        ignored=status["ignored"],
        duplicates=status["duplicate"],
        emails=tuple(emails),
        purchases=purchases,
    )
    say("")
    _summary(result, stream)
    return result


def _summary(r: DemoResult, stream: TextIO) -> None:
    lines = [f"where the {r.customers} customers ended up:"]
    scale = min(1.0, 40 / max(max(r.stages.values()), 1))  # bars at most 40 wide
    for stage, n in r.stages.items():
        lines.append(f"  {stage:<14}{n:>4}  {'#' * round(n * scale)}".rstrip())
    lines += [
        f"events handled      {r.fired:>5}",
        f"  moved             {r.moved:>5}",
        f"  blocked           {r.blocked:>5}  (payment declined: a guard said no)",
        f"  ignored           {r.ignored:>5}  (not valid from the customer's stage)",
        f"  duplicates        {r.duplicates:>5}  (redelivered webhooks, dropped by event id)",
        f"thank-you emails    {len(r.emails):>5}  (one per purchase, each with its own key)",
    ]
    print("\n".join(lines), file=stream)
