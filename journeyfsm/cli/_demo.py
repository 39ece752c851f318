"""``journeyfsm demo``: a small shop simulated on a manual clock, on the durable path.

A few dozen customers walk through the eight-phases journey at random (seeded, so the
same seed prints byte-identical output).  Every event goes through a ``JourneyService``
on a SQLite file (a temporary one unless ``--db PATH``): journey, history, event id and
outbox rows are committed in one transaction per event.  Paying needs a captured payment
(a guard), so some orders are blocked; entering ``purchase`` schedules a thank-you email
(an effect) as an outbox row, which an ``OutboxWorker`` delivers at the end of each day
with its idempotency key; some webhooks are delivered twice with the same event id and
dropped as duplicates; some events are not valid from the customer's stage and are
ignored.  At the end: where the customers ended up, what happened on the way, and what the
outbox delivered.
"""

from __future__ import annotations

import logging
import os
import random
import sys
import tempfile
from collections import Counter
from datetime import datetime, timedelta, timezone
from typing import Any, TextIO

import attrs
import structlog

from .. import templates
from .._clock import ManualClock
from .._definition import JourneyDefinition
from .._guards import guard
from .._outcome import EffectCall
from .._records import Context
from .._runtime import JourneyMachine
from ..service._outbox import OutboxWorker
from ..service._sync import JourneyService

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
    outbox_pending: int = 0  # effects still waiting in the outbox at the end
    outbox_dead: int = 0  # effects dead-lettered
    report: str | None = None  # the HTML report's path, when one was written


#: the demo's largest shop: it keeps every customer in memory and prints their stages
MAX_CUSTOMERS = 100_000


def run_demo(
    *,
    seed: int = 7,
    customers: int = 40,
    quiet: bool = False,
    out: TextIO | None = None,
    db: str | None = None,
    report: str | None = None,
) -> DemoResult:
    """Simulate the shop on a SQLite store and print what happens to ``out`` (default: stdout).

    ``quiet`` prints the summary only; ``db`` keeps the store in that file (default: a
    temporary file, removed at the end); ``report`` writes an HTML report of the stored
    journeys there (diagram with counts, funnel, tables) and prints its path.

    >>> import io
    >>> result = run_demo(seed=1, customers=5, out=io.StringIO())
    >>> sum(result.stages.values()), result.outbox_pending
    (5, 0)
    """
    if not isinstance(customers, int) or isinstance(customers, bool):
        raise TypeError(f"customers takes a whole number, got {customers!r}")
    if not 1 <= customers <= MAX_CUSTOMERS:
        raise ValueError(
            f"customers must be at least 1 and at most {MAX_CUSTOMERS} (the demo is a small "
            f"shop), got {customers}"
        )
    if db is not None:
        return _run(seed, customers, quiet, out, db, report)
    with tempfile.TemporaryDirectory(prefix="journeyfsm-demo-") as folder:
        return _run(seed, customers, quiet, out, os.path.join(folder, "shop.db"), report)


def _run(
    seed: int, customers: int, quiet: bool, out: TextIO | None, db: str, report: str | None
) -> DemoResult:
    from ..stores import SQLiteStore

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

    store = SQLiteStore(db, create_schema=True)
    service = JourneyService(machine, store)
    worker = OutboxWorker(machine, store, name="demo-worker", rng=random.Random(seed))
    width = len(str(customers))
    stage = {f"c{n:0{width}d}": definition.initial_stage for n in range(1, customers + 1)}
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
    say(f"by payment_captured; a manual clock from {START:%Y-%m-%d %H:%M} UTC;")
    say("each event committed to a SQLite store, emails delivered from its outbox")
    say("")
    try:
        for day in range(DAYS):
            clock.set(START + timedelta(days=day))
            for key in stage:
                if stage[key] in finals or rng.random() > ACTIVE_PER_DAY:
                    continue
                clock.advance(timedelta(minutes=rng.randint(1, 30)))
                allowed = definition.triggers_from(stage[key])
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
                    outcome = service.handle(key, trigger, payload, event_id=event_id)
                    status[outcome.status] += 1
                    when = f"{clock.now():%m-%d %H:%M}  {key}"
                    again = " (redelivered, judged again)" if delivery else ""
                    if outcome.moved:
                        stage[key] = outcome.dest or stage[key]
                        if outcome.dest == "purchase":
                            purchases += 1
                    elif outcome.blocked:
                        say(f"{when}  {trigger} blocked: payment declined{again}")
                    elif outcome.duplicate:
                        say(f"{when}  {trigger} {event_id} redelivered: duplicate dropped")
            while worker.run_once() > 0:  # the day's emails, after their moves committed
                pass
        counts = worker.counts()
        written = None if report is None else _write_report(service, report)
    finally:
        store.close()

    tally = Counter(stage.values())
    result = DemoResult(
        seed=seed,
        customers=customers,
        stages={name: tally.get(name, 0) for name in definition.stage_names},
        fired=sum(status.values()),
        moved=status["moved"],
        blocked=status["blocked"],
        ignored=status["ignored"],
        duplicates=status["duplicate"],
        emails=tuple(emails),
        purchases=purchases,
        outbox_pending=counts.get("pending", 0),
        outbox_dead=counts.get("dead", 0),
        report=written,
    )
    say("")
    _summary(result, stream)
    if written is not None:
        print(f"report: {written}", file=stream)
    return result


def _write_report(service: JourneyService, path: str) -> str:
    """The stored journeys' funnel, drawn into a self-contained HTML report at ``path``."""
    from ..analytics import funnel
    from ..export import write_report

    definition = service.machine.definition
    counted = funnel(service.journeys(definition.name), definition)
    title = f"journeyfsm demo: {counted.journeys} customers of a small shop"
    return str(write_report(path, definition, funnel=counted, title=title).resolve())


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
        f"outbox              {len(r.emails):>5} delivered, {r.outbox_pending} pending, "
        f"{r.outbox_dead} dead",
    ]
    print("\n".join(lines), file=stream)
