"""Ready journey definitions for the stage models businesses use.

Each function returns a fresh, validated :class:`~journeyfsm.JourneyDefinition` with a
forward path, drop-out and re-engagement transitions.  Extend one without touching the
original through ``definition.builder()``.
"""

from __future__ import annotations

from ._builder import JourneyBuilder
from ._definition import JourneyDefinition

__all__ = ["aida"]


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
        .build()
    )
