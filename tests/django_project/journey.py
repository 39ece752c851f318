"""The test project's machine: browsing -> cart -> paid (guarded), a thank-you effect
that appends its idempotency key to the file ``JFSM_EFFECT_LOG`` (when set), and a
timeout: a cart left for an hour is abandoned."""

import os
from datetime import timedelta

from journeyfsm import Context, EffectCall, JourneyBuilder, JourneyMachine, guard


@guard(payload_type=dict)
def paid_in_full(ctx: Context) -> bool:
    """the payment covers the order"""
    return ctx.payload.get("paid") is True


shop = (
    JourneyBuilder("shop", version=1)
    .stage("browsing", initial=True)
    .stage("cart")
    .stage("paid", final=True)
    .stage("abandoned")
    .transition("add_to_cart", ["browsing", "cart"], "cart")
    .transition("pay", "cart", "paid", guards=[paid_in_full])
    .transition("abandon", "cart", "abandoned")
    .transition("come_back", "abandoned", "browsing")
    .timeout("cart", timedelta(hours=1), "abandon")
    .build()
)
machine = JourneyMachine(shop)


@machine.on_transition("add_to_cart")
def remember(ctx: Context) -> None:
    ctx.journey.data.setdefault("cart", []).append((ctx.payload or {}).get("sku", "item"))


@machine.effect(on_enter="paid")
def thank_you(call: EffectCall) -> None:
    path = os.environ.get("JFSM_EFFECT_LOG")
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(call.idempotency_key + "\n")
