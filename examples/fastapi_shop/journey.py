"""The shop's customer journey: stages, guarded transitions, timeouts, and the e-mails.

browsing -> cart -> ordered -> purchased -> delivered -> reviewed.  Product views and
cart updates are recorded everywhere (internal transitions: history, no stage change);
an order needs a non-empty cart; a payment webhook moves an order to purchased only when
the provider says "captured"; an hour in the cart sends a reminder, three days after
delivery a review request (both timeouts, durations from the settings).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import async_sessionmaker

from journeyfsm import (
    AsyncJourneyMachine,
    Context,
    EffectCall,
    JourneyBuilder,
    JourneyDefinition,
    guard,
)

from .mail import send_once
from .settings import Settings

ANYWHERE = ["browsing", "cart", "ordered", "purchased", "delivered", "reviewed"]


@guard
def cart_not_empty(ctx: Context) -> bool:
    """the cart holds at least one item"""
    return bool(ctx.journey.data.get("cart"))


@guard
def payment_captured(ctx: Context) -> bool:
    """the payment provider captured the money"""
    return isinstance(ctx.payload, dict) and ctx.payload.get("status") == "captured"


@guard
def payment_failed_status(ctx: Context) -> bool:
    """the payment provider reports the payment failed"""
    return isinstance(ctx.payload, dict) and ctx.payload.get("status") == "failed"


def definition(settings: Settings) -> JourneyDefinition:
    return (
        JourneyBuilder("shop", version=1)
        .stage("browsing", initial=True, description="looking around")
        .stage("cart", description="has put something in the cart")
        .stage("ordered", description="placed an order, payment pending")
        .stage("purchased", description="paid")
        .stage("delivered", description="has the goods")
        .stage("reviewed", final=True, description="wrote a review: an advocate")
        .transition("product_viewed", ANYWHERE, None)
        .transition("cart_updated", ["browsing", "cart"], "cart")
        .transition("cart_updated", ["ordered", "purchased", "delivered", "reviewed"], None)
        .transition("order_placed", "cart", "ordered", guards=[cart_not_empty])
        .transition("payment_succeeded", "ordered", "purchased", guards=[payment_captured])
        .transition("payment_failed", "ordered", "cart", guards=[payment_failed_status])
        .transition("delivered", "purchased", "delivered")
        .transition("review_posted", "delivered", "reviewed")
        .transition("remind_cart", "cart", None)
        .transition("request_review", "delivered", None)
        .timeout("cart", timedelta(seconds=settings.cart_reminder_after), "remind_cart")
        .timeout("delivered", timedelta(seconds=settings.review_request_after), "request_review")
        .build()
    )


def make_machine(settings: Settings, sessions: async_sessionmaker[Any]) -> AsyncJourneyMachine:
    """The shop's machine: the hooks that keep the journey's data, the e-mail effects."""
    machine = AsyncJourneyMachine(definition(settings))

    @machine.on_transition("cart_updated")
    def keep_cart(ctx: Context) -> None:
        ctx.journey.data["cart"] = dict(ctx.payload.get("items") or {})

    @machine.on_transition("order_placed")
    def keep_order(ctx: Context) -> None:
        ctx.journey.data["order_id"] = ctx.payload.get("order_id")
        ctx.journey.data["cart"] = {}

    @machine.before
    def keep_email(ctx: Context) -> None:
        if isinstance(ctx.payload, dict) and "email" in ctx.payload:
            ctx.journey.data["email"] = ctx.payload["email"]

    async def mail(call: EffectCall, subject: str, body: str) -> None:
        await send_once(
            sessions,
            settings,
            key=call.idempotency_key,
            to=str(call.data["email"]),
            subject=subject,
            body=body,
        )

    @machine.effect(on_enter="purchased")
    async def thank_you(call: EffectCall) -> None:
        order = call.data.get("order_id")
        await mail(call, f"Thank you for order {order}", f"We got your payment for {order}.")

    @machine.effect(on_transition="remind_cart")
    async def cart_reminder(call: EffectCall) -> None:
        await mail(call, "Your cart is waiting", "You left something in your cart.")

    @machine.effect(on_transition="request_review")
    async def review_request(call: EffectCall) -> None:
        await mail(call, "How was it?", "Tell us what you think of your order.")

    return machine
