"""The tables behind :mod:`journeyfsm.templates`: each stage model as plain data.

Every model is one :class:`ModelData` (stages and transitions in declaration order);
``templates.py`` turns a table into a validated ``JourneyDefinition``.  Stage metadata
uses the same keys everywhere: ``goals``, ``channels`` and ``kpis`` (lists of str), and
``aida`` on the eight phases.  Stages and transitions are frozen, so sharing them
between the definitions built from a table is safe.

Timeouts: a journey that sits in a pre-purchase stage drops out after a while (30 days to
research, 7 days to decide: "a few minutes or even a few weeks", as the stage models say
of consideration), and a customer who does nothing for months after buying lapses into
``dormant`` (180 days; 365 in the loyalty/advocacy stages).  Hosts change them with
``definition.builder()``.

Funnel order: the numbered stages of each source model, in its order (the forward
path); ``dormant`` and ``churned`` are exits, counted outside the funnel.

The shared drop-out design: ``drop_out`` moves a journey from the forward path to
``dormant`` (non-final), ``re_engage`` brings it back onto the forward path, and
``unsubscribe`` (an exit criterion, :data:`UNSUBSCRIBE`: every non-final stage) ends it in
``churned`` (final).
"""

from __future__ import annotations

from datetime import timedelta

import attrs

from ._definition import Stage, Timeout, Transition
from ._rules import Exit

__all__ = [
    "AIDA_MAPPING",
    "EIGHT_PHASES",
    "FIVE_STAGES",
    "FIVE_STAGES_CONVERSION",
    "FOUR_STEPS",
    "SIX_STAGES",
    "UNSUBSCRIBE",
    "ModelData",
]


@attrs.frozen
class ModelData:
    """One stage model: what ``templates.py`` needs to build its definition."""

    name: str
    description: str
    stages: tuple[Stage, ...]
    transitions: tuple[Transition, ...]
    timeouts: tuple[Timeout, ...] = ()
    funnel: tuple[str, ...] = ()


def _meta(
    goals: list[str], channels: list[str], kpis: list[str], **extra: str | list[str]
) -> dict[str, object]:
    return {"goals": goals, "channels": channels, "kpis": kpis, **extra}


def _dormant(channels: list[str]) -> Stage:
    return Stage(
        "dormant",
        description="the customer dropped out; a win-back campaign may re-engage them",
        metadata=_meta(["win the customer back"], channels, ["win-back rate", "time to re-engage"]),
    )


# Final, and contacted through no channel: the customer opted out of all contact.
CHURNED = Stage(
    "churned",
    final=True,
    description="the customer unsubscribed from all contact; the journey ends",
    metadata=_meta([], [], ["churn rate"]),
)

#: an exit criterion (docs/rules.md): from every non-final stage to ``churned``
UNSUBSCRIBE = Exit("unsubscribe", "churned", description="the customer opts out of all contact")


def _drop_out(sources: list[str]) -> Transition:
    return Transition(
        "drop_out", sources, "dormant", description="the customer stops engaging (no response)"
    )


def _lapse(**stages: int) -> tuple[Timeout, ...]:
    """``drop_out`` after ``days`` in each stage (the template's inactivity timeouts)."""
    return tuple(Timeout(stage, timedelta(days=days), "drop_out") for stage, days in stages.items())


def _re_engage(dest: str) -> Transition:
    return Transition(
        "re_engage", "dormant", dest, description="a win-back contact brings the customer back"
    )


# -- eight phases ------------------------------------------------------------------------
# AIDA stops at the first purchase.  The four post-purchase phases run the AIDA cycle a
# second time, with the repeat purchase as its action: retention holds the customer's
# attention again, usage builds interest in more, a good evaluation is desire, and
# repeat purchase / advocacy is the action (repeated).
AIDA_MAPPING: dict[str, str] = {
    "awareness": "attention",
    "consideration": "interest",
    "decision": "desire",
    "purchase": "action",
    "retention": "attention (repeat)",
    "usage": "interest (repeat)",
    "evaluation": "desire (repeat)",
    "advocacy": "action (repeat)",
}

EIGHT_PHASES = ModelData(
    name="eight-phases",
    description="The eight phases of the customer journey, from awareness to repeat purchase "
    "and advocacy, with drop-out, re-engagement and churn.",
    stages=(
        Stage(
            "awareness",
            initial=True,
            description="the customer learns that the product or brand exists",
            metadata=_meta(
                ["reach the target audience", "be remembered"],
                ["social", "ads", "search", "physical_store"],
                ["reach", "impressions", "brand recall"],
                aida=AIDA_MAPPING["awareness"],
            ),
        ),
        Stage(
            "consideration",
            description="the customer researches the offer and compares it with others",
            metadata=_meta(
                ["inform", "stand out from competitors"],
                ["website", "search", "social", "email"],
                ["site visits", "time on site", "newsletter sign-ups"],
                aida=AIDA_MAPPING["consideration"],
            ),
        ),
        Stage(
            "decision",
            description="the offer is on the shortlist; the customer decides whether to buy",
            metadata=_meta(
                ["remove doubts", "make the offer compelling"],
                ["website", "email", "chat", "physical_store"],
                ["add-to-cart rate", "checkout starts"],
                aida=AIDA_MAPPING["decision"],
            ),
        ),
        Stage(
            "purchase",
            description="the customer has paid for the order",
            metadata=_meta(
                ["make paying easy", "confirm the order"],
                ["website", "app", "physical_store"],
                ["conversion rate", "average order value", "checkout abandonment"],
                aida=AIDA_MAPPING["purchase"],
            ),
        ),
        Stage(
            "retention",
            description="the business keeps in touch after the sale (delivery, onboarding)",
            metadata=_meta(
                ["onboard the customer", "keep the brand top of mind"],
                ["email", "app", "phone"],
                ["onboarding completion", "email engagement"],
                aida=AIDA_MAPPING["retention"],
            ),
        ),
        Stage(
            "usage",
            description="the customer uses the product and gets value from it",
            metadata=_meta(
                ["help the customer succeed", "drive adoption"],
                ["app", "email", "support"],
                ["active use", "feature adoption", "support tickets"],
                aida=AIDA_MAPPING["usage"],
            ),
        ),
        Stage(
            "evaluation",
            description="the customer judges the product against their expectations",
            metadata=_meta(
                ["collect feedback", "fix disappointments"],
                ["email", "website", "social"],
                ["NPS", "review rating", "CSAT"],
                aida=AIDA_MAPPING["evaluation"],
            ),
        ),
        Stage(
            "advocacy",
            description="repeat purchase / advocacy: the customer buys again and recommends "
            "the brand",
            metadata=_meta(
                ["reward loyalty", "turn customers into promoters"],
                ["email", "social", "website"],
                ["repeat purchase rate", "referrals", "customer lifetime value"],
                aida=AIDA_MAPPING["advocacy"],
            ),
        ),
        _dormant(["email", "ads"]),
        CHURNED,
    ),
    transitions=(
        Transition("research", "awareness", "consideration", description="looks into the offer"),
        Transition("shortlist", "consideration", "decision", description="shortlists the offer"),
        Transition("order_paid", "decision", "purchase", description="pays for an order"),
        Transition("follow_up", "purchase", "retention", description="first follow-up contact"),
        Transition("use_product", "retention", "usage", description="starts using the product"),
        Transition("review", "usage", "evaluation", description="rates or reviews the product"),
        Transition("recommend", "evaluation", "advocacy", description="recommends the brand"),
        Transition("repurchase", ["evaluation", "advocacy"], "purchase", description="buys again"),
        _drop_out(
            [
                "awareness",
                "consideration",
                "decision",
                "retention",
                "usage",
                "evaluation",
                "advocacy",
            ]
        ),
        _re_engage("consideration"),
    ),
    timeouts=_lapse(
        consideration=30, decision=7, retention=180, usage=180, evaluation=180, advocacy=365
    ),
    funnel=(
        "awareness",
        "consideration",
        "decision",
        "purchase",
        "retention",
        "usage",
        "evaluation",
        "advocacy",
    ),
)

# -- six stages ----------------------------------------------------------------------------
SIX_STAGES = ModelData(
    name="six-stages",
    description="Six stages: awareness, consideration, decision, purchase, post-purchase and "
    "loyalty/advocacy, with drop-out, re-engagement and churn.",
    stages=(
        Stage(
            "awareness",
            initial=True,
            description="the customer learns that the product or brand exists",
            metadata=_meta(
                ["reach the target audience"], ["social", "ads", "search"], ["reach", "impressions"]
            ),
        ),
        Stage(
            "consideration",
            description="the customer researches the offer and compares it with others",
            metadata=_meta(
                ["inform", "stand out from competitors"],
                ["website", "search", "email"],
                ["site visits", "newsletter sign-ups"],
            ),
        ),
        Stage(
            "decision",
            description="the offer is on the shortlist; the customer decides whether to buy",
            metadata=_meta(
                ["remove doubts"],
                ["website", "email", "chat"],
                ["add-to-cart rate", "checkout starts"],
            ),
        ),
        Stage(
            "purchase",
            description="the customer has paid for the order",
            metadata=_meta(
                ["make paying easy"],
                ["website", "app", "physical_store"],
                ["conversion rate", "average order value"],
            ),
        ),
        Stage(
            "post_purchase",
            description="after the sale: delivery, onboarding, support and feedback",
            metadata=_meta(
                ["deliver on the promise", "collect feedback"],
                ["email", "app", "support"],
                ["delivery on time", "CSAT", "return rate"],
            ),
        ),
        Stage(
            "loyalty",
            description="loyalty/advocacy: the customer buys again and recommends the brand",
            metadata=_meta(
                ["reward loyalty", "turn customers into promoters"],
                ["email", "social", "website"],
                ["repeat purchase rate", "NPS", "referrals"],
            ),
        ),
        _dormant(["email", "ads"]),
        CHURNED,
    ),
    transitions=(
        Transition("research", "awareness", "consideration", description="looks into the offer"),
        Transition("shortlist", "consideration", "decision", description="shortlists the offer"),
        Transition("order_paid", "decision", "purchase", description="pays for an order"),
        Transition("follow_up", "purchase", "post_purchase", description="first follow-up contact"),
        Transition("recommend", "post_purchase", "loyalty", description="recommends the brand"),
        Transition(
            "repurchase", ["post_purchase", "loyalty"], "purchase", description="buys again"
        ),
        _drop_out(["awareness", "consideration", "decision", "post_purchase", "loyalty"]),
        _re_engage("consideration"),
    ),
    timeouts=_lapse(consideration=30, decision=7, post_purchase=180, loyalty=365),
    funnel=("awareness", "consideration", "decision", "purchase", "post_purchase", "loyalty"),
)

# -- five stages ---------------------------------------------------------------------------
# Channels are drawn only from: website, social, email, physical_store.
FIVE_STAGES = ModelData(
    name="five-stages",
    description="Five stages: awareness, consideration, purchase, retention and advocacy, each "
    "with the channels (website, social, email, physical store) that serve it.",
    stages=(
        Stage(
            "awareness",
            initial=True,
            description="the customer learns that the product or brand exists",
            metadata=_meta(
                ["reach the target audience"],
                ["social", "website", "physical_store"],
                ["reach", "impressions"],
            ),
        ),
        Stage(
            "consideration",
            description="the customer researches the offer and compares it with others",
            metadata=_meta(
                ["inform", "stand out from competitors"],
                ["website", "email", "social"],
                ["site visits", "newsletter sign-ups"],
            ),
        ),
        Stage(
            "purchase",
            description="the customer has paid for the order",
            metadata=_meta(
                ["make paying easy"],
                ["website", "physical_store"],
                ["conversion rate", "average order value"],
            ),
        ),
        Stage(
            "retention",
            description="the business keeps the customer satisfied and in touch after the sale",
            metadata=_meta(
                ["keep the customer satisfied"],
                ["email", "website", "physical_store"],
                ["repeat purchase rate", "churn rate"],
            ),
        ),
        Stage(
            "advocacy",
            description="the customer recommends the brand to others",
            metadata=_meta(
                ["turn customers into promoters"], ["social", "email"], ["NPS", "referrals"]
            ),
        ),
        _dormant(["email", "social"]),
        CHURNED,
    ),
    transitions=(
        Transition("research", "awareness", "consideration", description="looks into the offer"),
        Transition("order_paid", "consideration", "purchase", description="pays for an order"),
        Transition("follow_up", "purchase", "retention", description="first follow-up contact"),
        Transition("recommend", "retention", "advocacy", description="recommends the brand"),
        Transition("repurchase", ["retention", "advocacy"], "purchase", description="buys again"),
        _drop_out(["awareness", "consideration", "retention", "advocacy"]),
        _re_engage("consideration"),
    ),
    timeouts=_lapse(consideration=30, retention=180, advocacy=365),
    funnel=("awareness", "consideration", "purchase", "retention", "advocacy"),
)

# -- five stages, conversion by call to action ----------------------------------------------
CALLS_TO_ACTION = ["purchase", "subscribe", "sign_up"]

FIVE_STAGES_CONVERSION = ModelData(
    name="five-stages-conversion",
    description="Five stages where conversion is the answer to a call to action: a purchase, "
    "a subscription or a sign-up (recorded on the transition's metadata).",
    stages=(
        Stage(
            "awareness",
            initial=True,
            description="the customer learns that the product or brand exists",
            metadata=_meta(
                ["reach the target audience"], ["social", "ads", "search"], ["reach", "impressions"]
            ),
        ),
        Stage(
            "consideration",
            description="the customer weighs the offer; calls to action are shown here",
            metadata=_meta(
                ["make the call to action compelling"],
                ["website", "email", "social"],
                ["call-to-action click rate", "site visits"],
            ),
        ),
        Stage(
            "conversion",
            description="the customer answered a call to action: bought, subscribed or signed up",
            metadata=_meta(
                ["convert visitors into customers"],
                ["website", "app"],
                ["conversion rate by call to action", "cost per acquisition"],
                calls_to_action=CALLS_TO_ACTION,
            ),
        ),
        Stage(
            "retention",
            description="the business keeps the converted customer active and satisfied",
            metadata=_meta(
                ["activate and keep the customer"],
                ["email", "app"],
                ["activation rate", "retention rate", "upgrade rate"],
            ),
        ),
        Stage(
            "advocacy",
            description="the customer recommends the brand to others",
            metadata=_meta(
                ["turn customers into promoters"], ["social", "email"], ["NPS", "referrals"]
            ),
        ),
        _dormant(["email", "ads"]),
        CHURNED,
    ),
    transitions=(
        Transition("research", "awareness", "consideration", description="looks into the offer"),
        # purchase and subscribe also convert again (repeat purchase, free-to-paid upgrade)
        Transition(
            "purchase",
            ["consideration", "retention", "advocacy"],
            "conversion",
            description="call to action: buy",
            metadata={"conversion": "purchase"},
        ),
        Transition(
            "subscribe",
            ["consideration", "retention", "advocacy"],
            "conversion",
            description="call to action: subscribe",
            metadata={"conversion": "subscription"},
        ),
        Transition(
            "sign_up",
            "consideration",
            "conversion",
            description="call to action: sign up",
            metadata={"conversion": "sign_up"},
        ),
        Transition("follow_up", "conversion", "retention", description="onboarding contact"),
        Transition("recommend", "retention", "advocacy", description="recommends the brand"),
        _drop_out(["awareness", "consideration", "retention", "advocacy"]),
        _re_engage("consideration"),
    ),
    timeouts=_lapse(consideration=30, retention=180, advocacy=365),
    funnel=("awareness", "consideration", "conversion", "retention", "advocacy"),
)

# -- four steps ----------------------------------------------------------------------------
FOUR_STEPS = ModelData(
    name="four-steps",
    description="Four steps of buying: information search, choice, buying and after-sales "
    "service, with drop-out, re-engagement and churn.",
    stages=(
        Stage(
            "information_search",
            initial=True,
            description="the customer looks for information about how to meet a need",
            metadata=_meta(
                ["be found when the customer searches"],
                ["search", "social", "website"],
                ["search visibility", "site visits"],
            ),
        ),
        Stage(
            "choice",
            description="the customer compares the alternatives and picks one",
            metadata=_meta(
                ["win the comparison"],
                ["website", "email", "physical_store"],
                ["product page views", "add-to-cart rate"],
            ),
        ),
        Stage(
            "buying",
            description="the customer checks out, pays and waits for delivery",
            metadata=_meta(
                ["make buying easy", "deliver on time"],
                ["website", "physical_store"],
                ["conversion rate", "checkout abandonment", "delivery on time"],
            ),
        ),
        Stage(
            "after_sales_service",
            description="support, returns and warranty after delivery",
            metadata=_meta(
                ["solve problems fast", "earn the next purchase"],
                ["email", "phone", "support"],
                ["first contact resolution", "CSAT", "repeat purchase rate"],
            ),
        ),
        _dormant(["email", "ads"]),
        CHURNED,
    ),
    transitions=(
        Transition("shortlist", "information_search", "choice", description="narrows the options"),
        Transition("checkout", "choice", "buying", description="checks out the chosen product"),
        Transition("deliver", "buying", "after_sales_service", description="order delivered"),
        # internal: recorded in the history, the stage does not change
        Transition("contact_support", "after_sales_service", None, description="asks for support"),
        Transition("repurchase", "after_sales_service", "buying", description="buys again"),
        _drop_out(["information_search", "choice", "buying", "after_sales_service"]),
        _re_engage("choice"),
    ),
    timeouts=_lapse(information_search=30, choice=7, after_sales_service=180),
    funnel=("information_search", "choice", "buying", "after_sales_service"),
)
