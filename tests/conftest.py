"""Shared fixtures: a manual clock, a small guarded checkout definition, a quiet machine.

The fixtures are generic on purpose: any test module may use them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from typing import Any

import pytest
import structlog
from async_engine import SyncOverAsync, build_machine

from journeyfsm import (
    Context,
    Guard,
    JourneyBuilder,
    JourneyDefinition,
    JourneyMachine,
    ManualClock,
    guard,
)

START = datetime(2026, 1, 1, 9, 0, tzinfo=timezone.utc)


def _drop(logger: Any, method: str, event: Any) -> Any:
    raise structlog.DropEvent


def quiet_logger() -> Any:
    """A structlog logger that drops every event (no output, no global configuration)."""
    return structlog.wrap_logger(structlog.testing.ReturnLogger(), processors=[_drop])


@guard
def cart_not_empty(ctx: Context) -> bool:
    """the cart holds at least one item"""
    return bool(ctx.journey.data.get("cart"))


@guard
def is_vip(ctx: Context) -> bool:
    """the customer is a VIP"""
    return ctx.journey.data.get("vip") is True


@guard(payload_type=dict)
def payment_ok(ctx: Context) -> bool:
    """the payment provider confirmed the payment"""
    return ctx.payload.get("paid") is True


def checkout_builder() -> JourneyBuilder:
    """browsing -> cart -> (vip_checkout | checkout) -> paid, with drop-out and notes.

    - ``add_to_cart``: browsing -> cart (unguarded); cart -> cart (re-entry).
    - ``checkout`` from cart: first candidate to ``express`` needs
      ``cart_not_empty & is_vip``, second to ``checkout`` needs ``cart_not_empty``.
    - ``pay``: checkout/express -> paid, guarded by ``payment_ok`` (payload must be a dict).
    - ``note``: internal (``dest=None``) from any non-final stage.
    - ``abandon``: cart/checkout/express -> abandoned; ``come_back``: abandoned -> browsing.
    """
    return (
        JourneyBuilder("checkout", version=3, description="a small guarded checkout")
        .stage("browsing", initial=True, description="looking around")
        .stage("cart", description="something in the cart")
        .stage("express", description="VIP express checkout")
        .stage("checkout", description="entering payment details")
        .stage("paid", final=True, description="order paid", metadata={"kpi": "conversion"})
        .stage("abandoned", description="left without paying")
        .transition("add_to_cart", "browsing", "cart")
        .transition("add_to_cart", "cart", "cart")
        .transition("checkout", "cart", "express", guards=[cart_not_empty & is_vip])
        .transition("checkout", "cart", "checkout", guards=[cart_not_empty])
        .transition("pay", ["checkout", "express"], "paid", guards=[payment_ok])
        .transition("note", "*", None)
        .transition("abandon", ["cart", "checkout", "express"], "abandoned")
        .transition("come_back", "abandoned", "browsing")
    )


@pytest.fixture
def clock() -> ManualClock:
    """A ManualClock at 2026-01-01 09:00 UTC."""
    return ManualClock(START)


@pytest.fixture
def checkout_definition() -> JourneyDefinition:
    """The checkout definition of :func:`checkout_builder`."""
    return checkout_builder().build()


@pytest.fixture
def checkout_guards() -> dict[str, Guard]:
    """The named leaf guards the checkout definition uses (for ``from_dict``)."""
    return {g.name: g for g in (cart_not_empty, is_vip, payment_ok)}


@pytest.fixture
def engine() -> str:
    """The engine ``make_machine`` builds on: ``"sync"`` here; the machine's behavioural
    modules override it with every engine of tests/async_engine.py."""
    return "sync"


@pytest.fixture
def make_machine(clock: ManualClock, engine: str) -> Iterator[Callable[..., JourneyMachine]]:
    """Factory: ``make_machine(definition=None, **kwargs)`` -> a quiet machine on ``clock``
    (on ``engine``: an AsyncJourneyMachine behind the sync API for the async engines)."""
    opened: list[SyncOverAsync] = []

    def make(definition: JourneyDefinition | None = None, **kwargs: Any) -> JourneyMachine:
        kwargs.setdefault("clock", clock)
        kwargs.setdefault("logger", quiet_logger())
        machine: JourneyMachine = build_machine(
            engine, definition or checkout_builder().build(), opened, **kwargs
        )
        return machine

    yield make
    for machine in opened:
        machine.close()


@pytest.fixture
def machine(make_machine: Callable[..., JourneyMachine]) -> JourneyMachine:
    """A checkout machine on the manual clock, logging nowhere."""
    return make_machine()


@pytest.fixture(autouse=True)
def _structlog_defaults() -> Any:
    """Leave structlog unconfigured after every test.

    ``structlog.testing.capture_logs`` leaves ``structlog.is_configured()`` true, which
    would switch later machines from the stdlib-backed default logger to structlog's
    print-everything default and leak log lines into tests that read stdout.
    """
    yield
    structlog.reset_defaults()


@pytest.fixture(autouse=True)
def _journeyfsm_stdlib_logger() -> Any:
    """Give the stdlib logger ``"journeyfsm"`` back as the test found it (level, handlers,
    propagation), so a test that sets its level leaves no later test hearing info."""
    std = logging.getLogger("journeyfsm")
    saved = (std.level, list(std.handlers), std.propagate, std.disabled)
    yield
    std.setLevel(saved[0])
    std.handlers[:] = saved[1]
    std.propagate, std.disabled = saved[2], saved[3]
