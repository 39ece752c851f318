"""The shop's customer journey, its guards, hooks and effects (declared in settings:
``JOURNEYFSM = {"MACHINES": ["shop.journey:machine"]}``).

visitor -> browsing -> cart -> ordered -> customer -> delivered -> advocate, and
cart -> abandoned after an hour without an order (a reminder e-mail), back to cart.
"""

from datetime import timedelta

from django.core.mail import EmailMessage
from django.db import IntegrityError, transaction

from journeyfsm import Context, EffectCall, JourneyBuilder, JourneyMachine, guard

LATER = ["browsing", "cart", "ordered", "customer", "delivered", "advocate", "abandoned"]


@guard(payload_type=dict)
def has_items(ctx: Context) -> bool:
    """the cart update holds at least one item"""
    return bool(ctx.payload.get("items"))


@guard
def cart_not_empty(ctx: Context) -> bool:
    """the cart holds at least one item"""
    return bool(ctx.journey.data.get("cart"))


@guard(payload_type=dict)
def amount_matches(ctx: Context) -> bool:
    """the captured amount is the order's total"""
    order = ctx.journey.data.get("order") or {}
    return ctx.payload.get("amount") == order.get("total")


shop = (
    JourneyBuilder("shop", version=1, description="the reference Django shop")
    .stage("visitor", initial=True, description="not seen yet")
    .stage("browsing", description="looking at products")
    .stage("cart", description="something in the cart")
    .stage("ordered", description="order placed, payment pending")
    .stage("customer", description="paid")
    .stage("delivered", description="the parcel arrived")
    .stage("advocate", final=True, description="wrote a review")
    .stage("abandoned", description="left a full cart for an hour")
    .transition("product_viewed", "visitor", "browsing")
    .transition("product_viewed", LATER, None)  # recorded, stage unchanged
    .transition(
        "cart_updated", ["visitor", "browsing", "cart", "abandoned"], "cart", guards=[has_items]
    )
    .transition("order_placed", "cart", "ordered", guards=[cart_not_empty])
    .transition("payment_captured", "ordered", "customer", guards=[amount_matches])
    .transition("delivered", "customer", "delivered")
    .transition("review_posted", "delivered", "advocate")
    .transition("cart_abandoned", "cart", "abandoned")
    .timeout("cart", timedelta(hours=1), "cart_abandoned")
    .build()
)
machine = JourneyMachine(shop)


@machine.on_transition("product_viewed")
def count_view(ctx: Context) -> None:
    ctx.journey.data["views"] = ctx.journey.data.get("views", 0) + 1


@machine.on_transition("cart_updated")
def keep_cart(ctx: Context) -> None:
    ctx.journey.data["cart"] = ctx.payload["items"]


@machine.on_transition("order_placed")
def keep_order(ctx: Context) -> None:
    ctx.journey.data["order"] = {"id": ctx.payload["order"], "total": ctx.payload["total"]}
    ctx.journey.data["cart"] = []


@machine.on_transition("review_posted")
def keep_rating(ctx: Context) -> None:
    ctx.journey.data["rating"] = ctx.payload["rating"]


def send_once(call: EffectCall, subject: str, body: str) -> bool:
    """Send one e-mail for ``call`` unless its idempotency key was sent already.

    The key is claimed in SentEmail and the mail sent inside one transaction: if the
    send fails the claim rolls back and the worker retries; if the worker dies after the
    commit (before the outbox row is marked done), the redelivered effect finds the key
    and sends nothing.  The one window left (killed after the SMTP server took the mail,
    before the commit) sends again, with the same Idempotency-Key header for the mail
    provider to drop.
    """
    from .models import Customer, SentEmail

    to = Customer.objects.get(pk=call.key).email
    with transaction.atomic():
        try:
            with transaction.atomic():
                SentEmail.objects.create(
                    idempotency_key=call.idempotency_key, to=to, subject=subject
                )
        except IntegrityError:
            return False  # sent before: a redelivery
        EmailMessage(
            subject, body, to=[to], headers={"Idempotency-Key": call.idempotency_key}
        ).send()
    return True


@machine.effect(on_enter="customer")
def thank_you(call: EffectCall) -> None:
    order = call.data.get("order") or {}
    send_once(
        call,
        f"Thank you for order {order.get('id')}",
        f"We received {order.get('total', 0) / 100:.2f} EUR. It ships today.",
    )


@machine.effect(on_enter="abandoned")
def cart_reminder(call: EffectCall) -> None:
    send_once(call, "You left something in your cart", "Your cart is waiting for you.")
