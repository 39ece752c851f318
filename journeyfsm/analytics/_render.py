"""Plain-text tables of funnels, breakdowns and comparisons, for the command line.

Columns are aligned (names left, numbers right); a missing figure is ``-``; durations are
human-sized ("3d 4h", "2h 5m", "45s": the two largest units, truncated).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from ._results import Breakdown, Comparison, Funnel, StageStats

__all__ = ["human_duration", "render_breakdown", "render_comparison", "render_funnel"]

_UNITS = (("d", 86400), ("h", 3600), ("m", 60), ("s", 1))
_FUNNEL_HEADERS = (
    "stage",
    "entered",
    "reached",
    "current",
    "conversion",
    "drop-off",
    "to stage (median)",
    "to stage (p90)",
    "in stage (median)",
)


def human_duration(value: timedelta | None) -> str:
    """``value`` in its two largest units, truncated; ``-`` for ``None``.

    >>> from datetime import timedelta
    >>> human_duration(timedelta(days=3, hours=4, minutes=5))
    '3d 4h'
    >>> human_duration(timedelta(hours=2)), human_duration(timedelta(seconds=0.4))
    ('2h', '<1s')
    """
    if value is None:
        return "-"
    if not isinstance(value, timedelta):
        raise TypeError(
            f"human_duration() takes a timedelta (or None), got {value!r} ({type(value).__name__})"
        )
    if value < timedelta(0):
        return "-" + human_duration(-value)
    seconds = int(value.total_seconds())
    if seconds == 0:
        return "0s" if not value else "<1s"
    parts: list[str] = []
    for unit, size in _UNITS:
        amount, seconds = divmod(seconds, size)
        if parts:  # the unit after the largest: shown when not 0, then stop
            if amount:
                parts.append(f"{amount}{unit}")
            break
        if amount:
            parts.append(f"{amount}{unit}")
    return " ".join(parts)


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in (headers, *rows)) for i in range(len(headers))]

    def line(cells: Sequence[str]) -> str:
        first = cells[0].ljust(widths[0])
        rest = (c.rjust(w) for c, w in zip(cells[1:], widths[1:], strict=True))
        return "  ".join([first, *rest]).rstrip()

    return [line(headers), line(["-" * w for w in widths]), *(line(r) for r in rows)]


def _stage_row(s: StageStats) -> list[str]:
    return [
        s.stage if s.in_funnel else f"({s.stage})",
        str(s.entered),
        str(s.reached),
        str(s.current),
        _percent(s.conversion),
        str(s.drop_off) if s.in_funnel else "-",
        human_duration(s.time_to_stage.median),
        human_duration(s.time_to_stage.p90),
        human_duration(s.time_in_stage.median),
    ]


def render_funnel(funnel: Funnel, *, title: str | None = None) -> str:
    """An aligned table of ``funnel``: one row per stage, funnel stages first.

    Stages outside the funnel order are in parentheses (their "reached" is "entered").

    >>> from datetime import datetime, timedelta, timezone
    >>> from journeyfsm import JourneyMachine, templates
    >>> from journeyfsm.analytics import funnel, render_funnel
    >>> machine = JourneyMachine(templates.aida())
    >>> t0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
    >>> a, b = machine.start("a", at=t0), machine.start("b", at=t0)
    >>> _ = machine.fire(a, "engage", at=t0 + timedelta(hours=5, minutes=30))
    >>> print(render_funnel(funnel([a, b], templates.aida())))
    aida (version 1): 2 journeys
    stage      entered  reached  current  conversion  drop-off  to stage (median)  to stage (p90)  in stage (median)
    ---------  -------  -------  -------  ----------  --------  -----------------  --------------  -----------------
    attention        2        2        1       50.0%         1                 0s              0s             5h 30m
    interest         1        1        1        0.0%         1             5h 30m          5h 30m                  -
    desire           0        0        0           -         0                  -               -                  -
    action           0        0        0           -         0                  -               -                  -
    (lost)           0        0        0           -         -                  -               -                  -
    """
    if not isinstance(funnel, Funnel):
        raise TypeError(f"render_funnel takes a Funnel, got {type(funnel).__name__}")
    head = title or f"{funnel.definition} (version {funnel.version})"
    lines = [f"{head}: {funnel.journeys} journeys"]
    lines += _table(_FUNNEL_HEADERS, [_stage_row(s) for s in funnel.stages])
    return "\n".join(lines)


def render_breakdown(result: Breakdown) -> str:
    """The total funnel, then one funnel table per group, titled ``by = group``.

    >>> from journeyfsm import JourneyMachine, templates
    >>> from journeyfsm.analytics import breakdown, render_breakdown
    >>> machine = JourneyMachine(templates.aida())
    >>> text = render_breakdown(breakdown([machine.start("a", {"plan": "pro"})],
    ...                                   templates.aida(), by="data.plan"))
    >>> [line for line in text.splitlines() if "journeys" in line]
    ['aida (version 1), all: 1 journeys', 'data.plan = pro: 1 journeys']
    """
    if not isinstance(result, Breakdown):
        raise TypeError(f"render_breakdown takes a Breakdown, got {type(result).__name__}")
    total = result.total
    parts = [render_funnel(total, title=f"{total.definition} (version {total.version}), all")]
    for group, f in result.groups.items():
        parts.append(render_funnel(f, title=f"{result.by} = {group}"))
    return "\n\n".join(parts)


def _count(value: int | None) -> str:
    return "-" if value is None else str(value)


def render_comparison(result: Comparison) -> str:
    """Two funnels side by side: reached, its change, conversion and current per stage.

    >>> from journeyfsm import JourneyMachine, templates
    >>> from journeyfsm.analytics import compare, funnel, render_comparison
    >>> machine = JourneyMachine(templates.aida())
    >>> f = funnel([machine.start("a")], templates.aida())
    >>> print(render_comparison(compare(f, f)).splitlines()[0])
    a: aida (version 1), 1 journeys; b: aida (version 1), 1 journeys
    """
    if not isinstance(result, Comparison):
        raise TypeError(f"render_comparison takes a Comparison, got {type(result).__name__}")
    a, b = result.a, result.b
    head = (
        f"a: {a.definition} (version {a.version}), {a.journeys} journeys; "
        f"b: {b.definition} (version {b.version}), {b.journeys} journeys"
    )
    headers = (
        "stage",
        "reached a",
        "reached b",
        "change",
        "conversion a",
        "conversion b",
        "current a",
        "current b",
    )
    rows = []
    for d in result.stages:
        change = d.reached_change
        rows.append(
            [
                d.stage if d.stage_b is None else f"{d.stage} -> {d.stage_b}",
                _count(d.reached_a),
                _count(d.reached_b),
                "-" if change is None else f"{change:+d}",
                _percent(d.conversion_a),
                _percent(d.conversion_b),
                _count(d.current_a),
                _count(d.current_b),
            ]
        )
    return "\n".join([head, *_table(headers, rows)])
