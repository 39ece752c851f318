"""Ready journey definitions for the stage models businesses use.

Each function returns a fresh, validated :class:`~journeyfsm.JourneyDefinition` with a
forward path, drop-out and re-engagement transitions, stage descriptions and stage
metadata (``goals``, ``channels``, ``kpis``).  Templates have no guards, so they move on
plain events.  :data:`TEMPLATES` maps each template's name to its function.

- ``aida()``: attention -> interest -> desire -> action.
- ``eight_phases()``: awareness -> consideration -> decision -> purchase -> retention ->
  usage -> evaluation -> advocacy; each phase names its AIDA step in ``metadata["aida"]``.
- ``six_stages()``: awareness -> consideration -> decision -> purchase -> post_purchase
  -> loyalty.
- ``five_stages()``: awareness -> consideration -> purchase -> retention -> advocacy;
  ``metadata["channels"]`` from website, social, email, physical_store.
- ``five_stages_conversion()``: awareness -> consideration -> conversion -> retention ->
  advocacy; ``purchase``, ``subscribe`` and ``sign_up`` convert, each with
  ``{"conversion": ...}`` on the transition's metadata.
- ``four_steps()``: information_search -> choice -> buying -> after_sales_service.

Every template declares its funnel order (``definition.funnel``): the forward path
above, without the drop-out and churn stages, which the analytics count outside it.

Apart from ``aida()``, every template shares one drop-out design: ``drop_out`` moves a
journey to ``dormant``, ``re_engage`` brings it back onto the forward path, and
``unsubscribe`` (an exit criterion: from every non-final stage) ends it in the final
stage ``churned``.

Extending a template
--------------------
A definition is immutable; ``definition.builder()`` returns a
:class:`~journeyfsm.JourneyBuilder` holding a copy of everything, so the template stays
as it was.  The builder can ``stage(...)`` (add), ``replace_stage(name, **changes)``,
``remove_stage(name)``, ``transition(...)``, ``remove_transitions(trigger, source=...)``,
``replace_guards(trigger, guards, source=...)`` and ``timeout(stage, after, trigger)``;
``build(name=..., version=...)`` validates the result:

>>> from datetime import timedelta
>>> from journeyfsm import guard, templates
>>> @guard
... def order_total_positive(ctx):
...     "the order has a positive total"
...     return ctx.payload["total"] > 0
>>> shop = (
...     templates.five_stages()
...     .builder()
...     .stage("vip", description="top customers", metadata={"channels": ["email"]})
...     .transition("promote", "advocacy", "vip")
...     .transition("drop_out", "vip", "dormant")
...     .replace_stage("awareness", description="first visit to the shop")
...     .replace_guards("order_paid", order_total_positive)
...     .timeout("consideration", timedelta(days=30), "drop_out")
...     .build(name="my-shop")
... )
>>> shop.stage("vip").description, shop.candidates("consideration", "order_paid")[0].guards
('top customers', (<guard order_total_positive>,))
>>> "vip" in templates.five_stages().stage_names
False
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import timedelta
from types import MappingProxyType

from ._definition import JourneyBuilder, JourneyDefinition
from ._template_data import (
    EIGHT_PHASES,
    FIVE_STAGES,
    FIVE_STAGES_CONVERSION,
    FOUR_STEPS,
    SIX_STAGES,
    UNSUBSCRIBE,
    ModelData,
)

__all__ = [
    "TEMPLATES",
    "aida",
    "eight_phases",
    "five_stages",
    "five_stages_conversion",
    "four_steps",
    "six_stages",
]


def _build(model: ModelData) -> JourneyDefinition:
    return JourneyDefinition(
        name=model.name,
        stages=model.stages,
        transitions=model.transitions,
        timeouts=model.timeouts,
        description=model.description,
        funnel=model.funnel,
        exits=(UNSUBSCRIBE,),  # every model but aida's ends in churned on an unsubscribe
    )


def aida() -> JourneyDefinition:
    """AIDA: attention -> interest -> desire -> action, with drop-out and re-engagement.

    >>> from journeyfsm import templates
    >>> templates.aida().stage_names
    ('attention', 'interest', 'desire', 'action', 'lost')
    """
    return (
        JourneyBuilder("aida", description="The AIDA model of a buyer's mind.")
        .stage("attention", initial=True, description="the customer notices the offer")
        .stage("interest", description="the customer wants to know more")
        .stage("desire", description="the customer wants the product")
        .stage("action", final=True, description="the customer buys")
        .stage("lost", description="the customer dropped out; may come back")
        .transition("engage", "attention", "interest")
        .transition("want", "interest", "desire")
        .transition("buy", "desire", "action")
        .transition("lose_interest", ["attention", "interest", "desire"], "lost")
        .transition("re_engage", "lost", "attention")
        .timeout("interest", timedelta(days=30), "lose_interest")
        .timeout("desire", timedelta(days=7), "lose_interest")
        .funnel("attention", "interest", "desire", "action")
        .build()
    )


def eight_phases() -> JourneyDefinition:
    """The eight phases: awareness to repeat purchase / advocacy, tagged with AIDA.

    Forward path: ``research``, ``shortlist``, ``order_paid``, ``follow_up``,
    ``use_product``, ``review``, ``recommend``; ``repurchase`` goes from evaluation or
    advocacy back to purchase.  ``metadata["aida"]`` maps each phase to AIDA: the first
    four are attention, interest, desire, action; the post-purchase phases run the cycle
    again towards the repeat purchase ("attention (repeat)" ... "action (repeat)").

    >>> from journeyfsm import templates
    >>> d = templates.eight_phases()
    >>> d.stage_names
    ('awareness', 'consideration', 'decision', 'purchase', 'retention', 'usage', 'evaluation', 'advocacy', 'dormant', 'churned')
    >>> d.stage("decision").metadata["aida"], d.stage("advocacy").metadata["aida"]
    ('desire', 'action (repeat)')
    """
    return _build(EIGHT_PHASES)


def six_stages() -> JourneyDefinition:
    """Six stages: awareness, consideration, decision, purchase, post_purchase, loyalty.

    Forward path: ``research``, ``shortlist``, ``order_paid``, ``follow_up``,
    ``recommend``; ``repurchase`` goes from post_purchase or loyalty back to purchase.

    >>> from journeyfsm import templates
    >>> d = templates.six_stages()
    >>> d.candidates("post_purchase", "recommend")[0].dest
    'loyalty'
    """
    return _build(SIX_STAGES)


def five_stages() -> JourneyDefinition:
    """Five stages: awareness, consideration, purchase, retention, advocacy.

    Every stage lists its channels in ``metadata["channels"]``, drawn from
    ``website``, ``social``, ``email`` and ``physical_store``.

    >>> from journeyfsm import templates
    >>> templates.five_stages().stage("purchase").metadata["channels"]
    ('website', 'physical_store')
    """
    return _build(FIVE_STAGES)


def five_stages_conversion() -> JourneyDefinition:
    """Five stages where conversion is the answer to a call to action.

    ``purchase``, ``subscribe`` and ``sign_up`` each move consideration to conversion
    and carry ``{"conversion": "purchase" | "subscription" | "sign_up"}`` on the
    transition's metadata; ``purchase`` and ``subscribe`` also convert again from
    retention and advocacy.

    >>> from journeyfsm import templates
    >>> d = templates.five_stages_conversion()
    >>> [d.candidates("consideration", t)[0].metadata["conversion"]
    ...  for t in ("purchase", "subscribe", "sign_up")]
    ['purchase', 'subscription', 'sign_up']
    """
    return _build(FIVE_STAGES_CONVERSION)


def four_steps() -> JourneyDefinition:
    """Four steps: information_search, choice, buying, after_sales_service.

    Forward path: ``shortlist``, ``checkout``, ``deliver``; ``contact_support`` is an
    internal transition in after_sales_service (recorded, no stage change) and
    ``repurchase`` goes back to buying.

    >>> from journeyfsm import templates
    >>> d = templates.four_steps()
    >>> d.candidates("after_sales_service", "contact_support")[0].dest is None
    True
    """
    return _build(FOUR_STEPS)


TEMPLATES: Mapping[str, Callable[[], JourneyDefinition]] = MappingProxyType(
    {
        "aida": aida,
        "eight-phases": eight_phases,
        "six-stages": six_stages,
        "five-stages": five_stages,
        "five-stages-conversion": five_stages_conversion,
        "four-steps": four_steps,
    }
)
"""Every template by name (the name its definition carries), read-only.

>>> from journeyfsm import templates
>>> sorted(templates.TEMPLATES)[:3]
['aida', 'eight-phases', 'five-stages']
>>> templates.TEMPLATES["four-steps"]().name
'four-steps'
"""
