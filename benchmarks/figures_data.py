"""Data-size figures: does fire cost grow with what the customer's data holds?

Issue 7 point 6: one move hook anywhere used to make every fire deep-copy
``journey.data`` for rollback (4 us became ~106 us with 200 past orders).  The workload's
after-hook does not touch the data; the same lap of fires runs on a journey whose data
holds 200 orders and on one whose data holds only the cart.  Both use the flattering
configuration (no ids, logging filtered), so the fixed costs are as small as they get and
the ratio is as strict as it gets.
"""

from __future__ import annotations

import time
from typing import Any

from .contenders import journeyfsm_machine
from .harness import Settings, Timer, timed
from .workload import CART, CYCLE

__all__ = ["orders"]

EVENTS = len(CYCLE)


def orders(n: int) -> list[dict[str, Any]]:
    """``n`` past orders as a shop keeps them on a customer (JSON-shaped)."""
    return [
        {
            "id": f"order-{i:06d}",
            "at": f"2025-{1 + i % 12:02d}-{1 + i % 28:02d}T10:00:00+00:00",
            "total": round(19.9 + i * 1.5, 2),
            "currency": "EUR",
            "items": [{"sku": f"sku-{i % 40}", "qty": 1 + i % 3, "price": 9.95}],
            "shipping": {"method": "standard", "country": "DE"},
        }
        for i in range(n)
    ]


def _fire_lap(data: dict[str, Any]) -> Timer:
    machine = journeyfsm_machine()

    def run(loops: int) -> float:
        journey = machine.start("customer-42", data)
        fire = machine.fire
        t0 = time.perf_counter()
        for _ in range(loops):
            for trigger in CYCLE:
                fire(journey, trigger)
        return time.perf_counter() - t0

    return run


@timed(
    "fire_data",
    "empty",
    unit="us/event",
    ops_per_loop=EVENTS,
    description="fire with an after-hook that does not touch data; data: the cart only",
)
def fire_data_empty(settings: Settings) -> Timer:
    return _fire_lap(dict(CART))


@timed(
    "fire_data",
    "orders_200",
    unit="us/event",
    ops_per_loop=EVENTS,
    description="the same with 200 past orders in journey.data",
)
def fire_data_orders_200(settings: Settings) -> Timer:
    return _fire_lap({**CART, "orders": orders(200)})
