"""Generate examples/data/shop_events.csv, the sample log of docs/measuring.md.

A small online shop's event log, as an analytics export gives it: one row per event,
local (naive) timestamps in the shop's zone, a webhook retry now and then (same event
id twice), a few broken rows, and page views no journey rule cares about.  The
generator is deterministic; tests/test_measuring.py checks the committed file is what
it writes.

    python examples/data/make_shop_events.py > examples/data/shop_events.csv
"""

from __future__ import annotations

import csv
import random
import sys
from datetime import datetime, timedelta
from typing import TextIO

START = datetime(2026, 1, 5, 8, 0)  # local time, Europe/Berlin
DAYS = 150
CHANNELS = ("search", "social", "email", "store")
# how likely a customer from each channel buys after looking around
BUY = {"search": 0.45, "social": 0.25, "email": 0.55, "store": 0.6}


def _customer(rng: random.Random, n: int) -> list[tuple[datetime, str, str, str, str]]:
    """One customer's events: (time, event, channel, amount, key)."""
    key = f"c{n:04d}"
    channel = rng.choice(CHANNELS)
    t = START + timedelta(days=rng.uniform(0, DAYS - 30), minutes=rng.randint(0, 600))
    events: list[tuple[datetime, str, str, str, str]] = []

    def add(event: str, amount: str = "") -> None:
        events.append((t, event, channel, amount, key))

    add("page_view")
    if rng.random() < 0.25:
        return events  # looked once, never came back
    t += timedelta(minutes=rng.randint(1, 90))
    add("product_view")
    for _ in range(rng.randint(0, 3)):
        t += timedelta(hours=rng.uniform(1, 200))
        add(rng.choice(("page_view", "product_view", "compare")))
    if rng.random() > BUY[channel]:
        if rng.random() < 0.3:  # a newsletter brings some of them back after they lapsed
            t += timedelta(days=rng.uniform(35, 60))
            add("newsletter_click")
            if rng.random() < 0.5:
                t += timedelta(days=rng.uniform(0.1, 5))
                add("order_paid", f"{rng.randint(20, 200)}.00")
        elif rng.random() < 0.1:
            t += timedelta(days=rng.uniform(1, 20))
            add("unsubscribe")
        return events
    t += timedelta(hours=rng.uniform(0.5, 72))
    add("order_paid", f"{rng.randint(20, 200)}.00")
    t += timedelta(days=rng.uniform(1, 5))
    add("delivered")
    if rng.random() < 0.35:
        t += timedelta(days=rng.uniform(2, 20))
        add(rng.choice(("review_posted", "referral")))
    if rng.random() < 0.3:
        t += timedelta(days=rng.uniform(10, 60))
        add("reorder", f"{rng.randint(20, 200)}.00")
    return events


def write(out: TextIO, *, customers: int = 400, seed: int = 7) -> None:
    """Write the whole log, sorted by time, to ``out``."""
    rng = random.Random(seed)
    rows = [e for n in range(customers) for e in _customer(rng, n)]
    rows.sort(key=lambda e: (e[0], e[4]))
    w = csv.writer(out, lineterminator="\n")
    w.writerow(["customer", "event", "time", "event_id", "channel", "amount"])
    for i, (t, event, channel, amount, key) in enumerate(rows):
        row = [key, event, t.strftime("%Y-%m-%d %H:%M:%S"), f"e{i:05d}", channel, amount]
        if i % 250 == 17:
            row[2] = "not a time"  # a broken export row
        w.writerow(row)
        if i % 97 == 5:
            w.writerow(row)  # a webhook retry: the same event id again


if __name__ == "__main__":
    write(sys.stdout)
