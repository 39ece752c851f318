"""What-if: two funnels of the same journeys (one log replayed through two definitions)
side by side, stage by stage.

The stages are the union: ``a``'s stages in ``a``'s order, then the stages only ``b``
has, in ``b``'s order.  A stage one definition lacks has ``None`` figures on that side
(never a 0: "no such stage" is not "nobody reached it").  Two versions of one definition
that renamed a stage pair it by ``stages=`` (``{"cart": "basket"}``, or the declared
``Migration``, whose renames and merges are read): one row, ``a``'s stage with the
figures of the ``b`` stage it became.
"""

from __future__ import annotations

from collections.abc import Mapping

from .._versions import Migration
from ._results import Comparison, Funnel, ReplaySummary, StageDifference, StageStats

__all__ = ["compare"]


def _check(value: object, name: str, kind: type) -> None:
    if not isinstance(value, kind):
        raise TypeError(f"compare({name}=...) takes a {kind.__name__}, got {type(value).__name__}")


def compare(
    a: Funnel,
    b: Funnel,
    *,
    summary_a: ReplaySummary | None = None,
    summary_b: ReplaySummary | None = None,
    stages: Mapping[str, str] | Migration | None = None,
) -> Comparison:
    """Funnels ``a`` (the current design, say) and ``b`` (the candidate) side by side.

    ``summary_a`` / ``summary_b`` are the replay summaries that produced them, if any,
    kept on the result for the report.  ``stages`` pairs a stage of ``a`` with the stage
    of another name it became in ``b`` (a mapping, or a ``Migration``: its ``stages=``).

    >>> from journeyfsm import JourneyMachine, templates
    >>> from journeyfsm.analytics import compare, funnel
    >>> current, candidate = templates.aida(), templates.aida().builder().funnel(
    ...     "attention", "desire", "action").build()
    >>> machine = JourneyMachine(current)
    >>> journeys = [machine.start(k) for k in "abc"]
    >>> _ = machine.fire(journeys[0], "engage")
    >>> result = compare(funnel(journeys, current), funnel(journeys, candidate))
    >>> [(s.stage, s.reached_a, s.reached_b, s.reached_change) for s in result.stages][:2]
    [('attention', 3, 3, 0), ('interest', 1, 1, 0)]
    """
    _check(a, "a", Funnel)
    _check(b, "b", Funnel)
    for name, summary in (("summary_a", summary_a), ("summary_b", summary_b)):
        if summary is not None:
            _check(summary, name, ReplaySummary)
    in_a = {s.stage: s for s in a.stages}
    in_b = {s.stage: s for s in b.stages}
    pairs = _pairs(stages, in_a, in_b)
    paired = set(pairs.values())
    names = [s.stage for s in a.stages] + [
        s.stage for s in b.stages if s.stage not in in_a and s.stage not in paired
    ]
    return Comparison(
        a=a,
        b=b,
        summary_a=summary_a,
        summary_b=summary_b,
        stages=tuple(
            _difference(n, in_a.get(n), in_b.get(pairs.get(n, n)), pairs.get(n)) for n in names
        ),
    )


def _pairs(
    stages: Mapping[str, str] | Migration | None,
    in_a: Mapping[str, StageStats],
    in_b: Mapping[str, StageStats],
) -> dict[str, str]:
    """``stages=`` checked: each pair an ``a`` stage and a ``b`` stage of another name."""
    if stages is None:
        return {}
    if isinstance(stages, Migration):
        stages = stages.stages
    if not isinstance(stages, Mapping):
        raise TypeError(
            f"compare(stages=...) takes a mapping of a's stages to b's, or a Migration, got "
            f"{type(stages).__name__}"
        )
    out: dict[str, str] = {}
    for old, new in stages.items():
        if old not in in_a or new not in in_b:
            raise ValueError(
                f"compare(stages=...) pairs {old!r} with {new!r}, but funnel a has no stage "
                f"{old!r} or funnel b no stage {new!r} (a: {', '.join(in_a)}; b: "
                f"{', '.join(in_b)})"
            )
        if old != new:
            out[old] = new
    return out


def _difference(
    stage: str, sa: StageStats | None, sb: StageStats | None, stage_b: str | None = None
) -> StageDifference:
    return StageDifference(
        stage=stage,
        reached_a=None if sa is None else sa.reached,
        reached_b=None if sb is None else sb.reached,
        current_a=None if sa is None else sa.current,
        current_b=None if sb is None else sb.current,
        conversion_a=None if sa is None else sa.conversion,
        conversion_b=None if sb is None else sb.conversion,
        stage_b=stage_b,
    )
