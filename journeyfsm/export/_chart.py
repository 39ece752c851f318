"""The funnel chart: one horizontal bar per funnel stage, conversion between the bars.

A bar's length is the journeys that reached the stage (or a later one), relative to the
largest bar; its label gives the count and its share of the first stage.  Between two
bars, the conversion (reached next / reached here) and the drop-off.  A funnel without
a declared order charts every stage by ``entered`` instead, with no conversions between
(they would suggest an order the definition does not have).  Plain SVG, no script.
"""

from __future__ import annotations

from ..analytics import Funnel
from ._svg import text_width, xml_text

__all__ = ["render_funnel_chart"]

_BAR_H = 30
_GAP = 26


_x = xml_text


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def render_funnel_chart(funnel: Funnel, *, chart_id: str = "funnel-chart") -> str:
    """The SVG funnel chart of ``funnel`` (an ``<svg>`` with ``id=chart_id``).

    >>> from journeyfsm.analytics import DurationStats, Funnel, StageStats
    >>> none = DurationStats(0, None, None)
    >>> f = Funnel("d", 1, 0, (), (StageStats("a", False, 0, 0, 0, None, 0, none, none),), (), {})
    >>> render_funnel_chart(f).count('class="bar"')
    1
    """
    if not isinstance(funnel, Funnel):
        raise TypeError(f"expected a journeyfsm.analytics.Funnel, got {type(funnel).__name__}")
    ordered = bool(funnel.order)
    stages = [s for s in funnel.stages if s.in_funnel] if ordered else list(funnel.stages)
    values = [s.reached if ordered else s.entered for s in stages]
    first = values[0] if values else 0
    top = max(values, default=0)
    name_w = max([text_width(s.stage, 7.6) for s in stages] + [60.0]) + 16
    bar_max = 420.0
    value_w = 230.0
    width = 20 + name_w + bar_max + value_w
    step = _BAR_H + (_GAP if ordered else 10)
    height = 50 + len(stages) * step
    what = "reached (this stage or a later one)" if ordered else "entered"
    title = f"{funnel.label or funnel.definition}: {funnel.journeys} journeys, bars = {what}"
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" id="{_x(chart_id)}" class="funnel-chart" '
        f'width="{width:.0f}" height="{height:.0f}" viewBox="0 0 {width:.0f} {height:.0f}" '
        f'role="img" aria-label="{_x(title)}">',
        f"<title>{_x(title)}</title>",
        "<style>"
        ".funnel-chart text{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;"
        "font-size:12px;fill:#1b2733}"
        ".funnel-chart .bar{fill:#3d6a99}.funnel-chart .track{fill:#edf1f5}"
        ".funnel-chart .conv{fill:#5b6b78;font-size:11px}"
        ".funnel-chart .drop{fill:#b0452b}"
        "</style>",
        f'<text x="20" y="22" font-weight="600">{_x(title)}</text>',
    ]
    x_bar = 20 + name_w
    for i, (s, value) in enumerate(zip(stages, values, strict=True)):
        y = 40 + i * step
        w = 0.0 if not top else bar_max * value / top
        share = f" ({value / first:.1%} of {stages[0].stage})" if first and i else ""
        out.append(
            f'<g class="funnel-stage" data-stage="{_x(s.stage)}" data-value="{value}">'
            f'<text x="{x_bar - 10:.1f}" y="{y + 20}" text-anchor="end">{_x(s.stage)}</text>'
            f'<rect class="track" x="{x_bar:.1f}" y="{y}" width="{bar_max:.0f}" '
            f'height="{_BAR_H}" rx="3"/>'
            f'<rect class="bar" x="{x_bar:.1f}" y="{y}" width="{w:.1f}" height="{_BAR_H}" '
            'rx="3"/>'
            f'<text x="{x_bar + bar_max + 10:.1f}" y="{y + 20}">{value}{_x(share)}</text></g>'
        )
        if ordered and i + 1 < len(stages):
            out.append(
                f'<text class="conv" x="{x_bar + 8:.1f}" y="{y + _BAR_H + 17}">'
                f"\u2193 {_pct(s.conversion)} continue \u00b7 "
                f'<tspan class="drop">{s.drop_off} drop off</tspan></text>'
            )
    out.append("</svg>")
    return "\n".join(out) + "\n"
