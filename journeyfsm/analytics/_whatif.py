"""What-if: one event log replayed through two journey designs, funnels side by side.

A changed design (a shorter abandonment timeout, a new re-engagement path, a guard
dropped) is tried on the events that really happened before it ships: replay the same
log through the current definition (``a``) and the candidate (``b``), count both
funnels along one stage order, and compare them stage by stage.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from .._definition import JourneyDefinition
from .._runtime import JourneyMachine
from .._versions import Migration
from ._compare import compare
from ._funnel import funnel
from ._mapping import LogMapping
from ._replay import replay
from ._replay_result import ReplayResult
from ._results import Comparison

__all__ = ["what_if"]


def _definition(target: JourneyMachine | JourneyDefinition, name: str) -> JourneyDefinition:
    if isinstance(target, JourneyMachine):
        return target.definition
    if isinstance(target, JourneyDefinition):
        return target
    raise TypeError(
        f"what_if({name}=...) takes a JourneyMachine or a JourneyDefinition, got "
        f"{type(target).__name__}"
    )


def what_if(
    source: str | os.PathLike[str],
    mapping: LogMapping | Mapping[str, Any],
    a: JourneyMachine | JourneyDefinition,
    b: JourneyMachine | JourneyDefinition,
    *,
    mapping_b: LogMapping | Mapping[str, Any] | None = None,
    end: datetime | None = None,
    order: Iterable[str] | None = None,
    strict: bool = False,
    stages: Mapping[str, str] | Migration | None = None,
) -> tuple[Comparison, ReplayResult, ReplayResult]:
    """Replay ``source`` through ``a`` (today's design) and ``b`` (the candidate).

    Returns the :class:`Comparison` of their funnels (with both run summaries) and the
    two replay results.  ``mapping`` reads the log for both, unless the candidate
    renames triggers: then ``mapping_b`` reads it for ``b``.  ``order`` is the stage
    order both funnels are counted along (default: each definition's own funnel order).
    Each replay is a plain :func:`replay` (``end``, ``strict`` as there), so the
    candidate's timeouts fire on the log's clock too.  ``stages`` pairs a stage the
    candidate renamed (a mapping, or the ``Migration`` of two versions: see ``compare``).

    >>> import pathlib, tempfile
    >>> from datetime import datetime, timedelta, timezone
    >>> from journeyfsm import JourneyBuilder
    >>> cart = (JourneyBuilder("cart").stage("browsing", initial=True).stage("cart")
    ...         .stage("lost", final=True).stage("paid", final=True)
    ...         .transition("add", "browsing", "cart").transition("pay", "cart", "paid")
    ...         .transition("give_up", "cart", "lost")
    ...         .timeout("cart", timedelta(days=7), "give_up").build())
    >>> hasty = cart.builder().remove_timeouts(stage="cart").timeout(
    ...     "cart", timedelta(days=1), "give_up").build()
    >>> log = pathlib.Path(tempfile.mkdtemp()) / "events.csv"
    >>> _ = log.write_text("who,what,when\\n"
    ...     "c1,add,2026-03-01T10:00:00Z\\nc1,pay,2026-03-03T10:00:00Z\\n"
    ...     "c2,add,2026-03-01T11:00:00Z\\nc2,pay,2026-03-01T12:00:00Z\\n")
    >>> comparison, _, _ = what_if(log, {"key": "who", "event": "what", "time": "when"},
    ...                            cart, hasty, end=datetime(2026, 4, 1, tzinfo=timezone.utc))
    >>> [(s.stage, s.current_a, s.current_b) for s in comparison.stages]
    [('browsing', 0, 0), ('cart', 0, 0), ('lost', 0, 1), ('paid', 2, 1)]
    """
    definition_a, definition_b = _definition(a, "a"), _definition(b, "b")
    stage_order = None if order is None else tuple(order)
    result_a = replay(a, source, mapping, end=end, strict=strict)
    result_b = replay(
        b, source, mapping if mapping_b is None else mapping_b, end=end, strict=strict
    )
    funnel_a = funnel(result_a.journeys.values(), definition_a, order=stage_order)
    funnel_b = funnel(result_b.journeys.values(), definition_b, order=stage_order)
    comparison = compare(
        funnel_a, funnel_b, summary_a=result_a.summary, summary_b=result_b.summary, stages=stages
    )
    return comparison, result_a, result_b
