"""The HTML report: one self-contained file, no network, no script.

Theory of operation
-------------------
The report is a single HTML document with inline CSS and inline SVG (the annotated
diagram of :mod:`._svg`, the funnel chart of :mod:`._chart`); it loads nothing (a
Content-Security-Policy forbids every fetch and every script, so a hostile name can
neither run nor call home even if an escape were missed), and runs no JavaScript.
Every string that came from a user (stage, trigger and guard names, breakdown keys,
file names, warnings) goes through :func:`html.escape` on its way in; numbers are
formatted here.  Sections, in order: warnings (prominent, first), replay summary,
diagram, funnel chart, funnel table, triggers, breakdown, what-if comparison; the
last three only when given.  The output is deterministic: no clock is read.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from .._definition import JourneyDefinition
from ..analytics import Breakdown, Comparison, DurationStats, Funnel, ReplaySummary
from ._chart import render_funnel_chart
from ._graph import build_diagram, format_duration
from ._svg import render_svg, xml_text

__all__ = ["render_report"]

_CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;color:#1b2733;margin:0;
background:#f6f8fa;line-height:1.45}
main{max-width:1180px;margin:0 auto;padding:24px 28px 60px}
h1{font-size:26px;margin:8px 0 4px}h2{font-size:19px;margin:34px 0 10px;
border-bottom:1px solid #d5dde5;padding-bottom:4px}
.sub{color:#5b6b78;margin:0 0 18px}
section{background:#fff;border:1px solid #dde3e9;border-radius:8px;padding:4px 20px 18px;
margin:18px 0}
.figure{overflow-x:auto}
table{border-collapse:collapse;font-size:13px;margin:8px 0}
th,td{padding:5px 10px;border-bottom:1px solid #e6ebf0;text-align:right;vertical-align:top}
th{background:#f0f3f6;font-weight:600}
th:first-child,td:first-child{text-align:left}
td.text,th.text{text-align:left}
.warnings{background:#fff4e5;border:2px solid #e08a00}
.warnings h2{color:#8a4b00;border-color:#f0c27a}
.warnings li{margin:4px 0;font-weight:600}
.kv th{text-align:left;width:220px}.kv td{text-align:left}
.neg{color:#b0452b}.pos{color:#2f7d46}
.side{display:flex;flex-wrap:wrap;gap:18px}
code{background:#f0f3f6;padding:1px 4px;border-radius:3px}
"""

_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"


def _x(value: object) -> str:
    return xml_text(str(value))


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def _dur(value: DurationStats) -> str:
    if value.count == 0 or value.median is None or value.p90 is None:
        return "n/a"
    return f"{format_duration(value.median)} / {format_duration(value.p90)}"


def _table(
    headers: Sequence[str], rows: Iterable[Sequence[object]], *, cls: str = "", text_cols: int = 1
) -> str:
    head = "".join(
        f'<th class="text">{_x(h)}</th>' if i < text_cols else f"<th>{_x(h)}</th>"
        for i, h in enumerate(headers)
    )
    body = []
    for row in rows:
        cells = "".join(
            f'<td class="text">{_x(v)}</td>' if i < text_cols else f"<td>{_x(v)}</td>"
            for i, v in enumerate(row)
        )
        body.append(f"<tr>{cells}</tr>")
    klass = f' class="{cls}"' if cls else ""
    return f"<table{klass}><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _warnings(summary: ReplaySummary | None) -> str:
    if summary is None:
        return ""
    items = list(summary.warnings)
    if summary.bad_row_count:
        items.append(f"{summary.bad_row_count} bad row(s) could not be read (see below)")
    if not items:
        return ""
    lis = "".join(f"<li>{_x(w)}</li>" for w in items)
    return f'<section class="warnings" id="warnings"><h2>Warnings</h2><ul>{lis}</ul></section>'


def _summary(summary: ReplaySummary) -> str:
    top = sorted(summary.skipped.items(), key=lambda kv: (-kv[1], kv[0]))[:10]
    skipped = f"{summary.skipped_count}"
    if top:
        skipped += " (top unmapped: " + ", ".join(f"{k} \u00d7{n}" for k, n in top) + ")"
    rows: list[tuple[str, object]] = [
        ("source", summary.source),
        ("definition", f"{summary.definition} (version {summary.version})"),
        ("rows read", summary.rows_read),
        ("events applied", summary.events_applied),
        ("journeys", summary.journeys),
        ("skipped (unmapped events)", skipped),
        ("bad rows", summary.bad_row_count),
        ("timeouts fired", summary.timeouts_fired),
        ("naive timestamps read as", summary.timezone),
        ("observed until", "n/a" if summary.end is None else summary.end.isoformat()),
        ("path", "fast (direct loop)" if summary.fast_path else "engine (hooks/effects)"),
        ("seconds", f"{summary.seconds:.3f}"),
    ]
    body = "".join(f"<tr><th>{_x(k)}</th><td>{_x(v)}</td></tr>" for k, v in rows)
    out = f'<section id="summary"><h2>Replay summary</h2><table class="kv">{body}</table>'
    if summary.bad_rows:
        shown = _table(
            ["line", "reason"], [(b.line, b.reason) for b in summary.bad_rows], text_cols=2
        )
        more = summary.bad_row_count - len(summary.bad_rows)
        note = f"<p>{more} more bad row(s) not listed.</p>" if more > 0 else ""
        out += f"<h3>Bad rows</h3>{shown}{note}"
    return out + "</section>"


def _funnel_table(funnel: Funnel) -> str:
    rows = [
        (
            s.stage,
            "yes" if s.in_funnel else "",
            s.entered,
            s.reached,
            s.current,
            _pct(s.conversion),
            s.drop_off,
            _dur(s.time_to_stage),
            _dur(s.time_in_stage),
        )
        for s in funnel.stages
    ]
    headers = [
        "stage",
        "in funnel",
        "entered",
        "reached",
        "now",
        "conversion",
        "drop-off",
        "time to stage (median / p90)",
        "time in stage (median / p90)",
    ]
    return (
        f'<section id="funnel-table"><h2>Funnel: {_x(funnel.journeys)} journeys</h2>'
        f"{_table(headers, rows, text_cols=2)}</section>"
    )


def _triggers(funnel: Funnel, summary: ReplaySummary | None) -> str:
    outcomes = {t.trigger: t for t in summary.triggers} if summary is not None else {}
    names = sorted(set(funnel.trigger_moves) | set(outcomes))
    if summary is None:
        rows: list[Sequence[object]] = [(t, funnel.trigger_moves.get(t, 0)) for t in names]
        table = _table(["trigger", "moves recorded"], rows)
    else:
        headers = ["trigger", "moves recorded", "moved", "blocked", "ignored", "duplicate"]
        headers.append("by timeout")
        rows = []
        for t in names:
            o = outcomes.get(t)
            figures = (o.moved, o.blocked, o.ignored, o.duplicate, o.timeouts) if o else ("",) * 5
            rows.append((t, funnel.trigger_moves.get(t, 0), *figures))
        table = _table(headers, rows)
    return f'<section id="triggers"><h2>Triggers</h2>{table}</section>'


def _breakdown(breakdown: Breakdown) -> str:
    ordered = bool(breakdown.total.order)
    stages = [s.stage for s in breakdown.total.stages if s.in_funnel or not ordered]
    what = "reached" if ordered else "entered"
    headers = [breakdown.by, "journeys", *(f"{s} ({what})" for s in stages)]

    def row(label: str, f: Funnel) -> list[object]:
        figures = {s.stage: (s.reached if ordered else s.entered) for s in f.stages}
        return [label, f.journeys, *(figures.get(s, "") for s in stages)]

    rows = [row(k, f) for k, f in breakdown.groups.items()]
    rows.append(row("(all)", breakdown.total))
    return (
        f'<section id="breakdown"><h2>Breakdown by <code>{_x(breakdown.by)}</code></h2>'
        f'<div class="figure">{_table(headers, rows)}</div></section>'
    )


def _change(value: int | None) -> str:
    if value is None:
        return "n/a"
    return f"{value:+d}"


def _comparison(comparison: Comparison) -> str:
    a, b = comparison.a, comparison.b
    name_a, name_b = f"A: {a.definition} v{a.version}", f"B: {b.definition} v{b.version}"

    def n(value: int | None) -> object:
        return "n/a" if value is None else value

    rows = [
        (
            d.stage,
            n(d.reached_a),
            n(d.reached_b),
            _change(d.reached_change),
            _pct(d.conversion_a),
            _pct(d.conversion_b),
            n(d.current_a),
            n(d.current_b),
        )
        for d in comparison.stages
    ]
    headers = ["stage", "reached A", "reached B", "change", "conv. A", "conv. B", "now A", "now B"]
    charts = (
        f'<div class="side"><div class="figure"><h3>{_x(name_a)}</h3>'
        f"{render_funnel_chart(a, chart_id='funnel-chart-a')}</div>"
        f'<div class="figure"><h3>{_x(name_b)}</h3>'
        f"{render_funnel_chart(b, chart_id='funnel-chart-b')}</div></div>"
    )
    return (
        f'<section id="comparison"><h2>What-if: {_x(name_a)} vs {_x(name_b)}</h2>'
        f"{_table(headers, rows)}{charts}</section>"
    )


def render_report(
    definition: JourneyDefinition,
    *,
    funnel: Funnel,
    summary: ReplaySummary | None = None,
    breakdown: Breakdown | None = None,
    comparison: Comparison | None = None,
    title: str | None = None,
) -> str:
    """The report's HTML text (see the module docstring); arguments checked by the caller."""
    heading = title if title is not None else f"Journey report: {definition.name}"
    sub = f"definition {definition.name} (version {definition.version}), {funnel.journeys} journeys"
    if summary is not None:
        sub += f", replayed from {summary.source}"
    diagram = render_svg(build_diagram(definition, funnel))
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_x(heading)}</title><style>{_CSS}</style></head><body><main>",
        f'<h1>{_x(heading)}</h1><p class="sub">{_x(sub)}</p>',
        _warnings(summary),
        _summary(summary) if summary is not None else "",
        '<section id="diagram"><h2>Journey diagram</h2><p class="sub">Counts: journeys that '
        "entered each stage and are in it now; moves along each edge and their share of the "
        "moves that left its source. Dashed: timeouts.</p>"
        f'<div class="figure">{diagram}</div></section>',
        '<section id="funnel"><h2>Funnel chart</h2>'
        f'<div class="figure">{render_funnel_chart(funnel)}</div></section>',
        _funnel_table(funnel),
        _triggers(funnel, summary),
        _breakdown(breakdown) if breakdown is not None else "",
        _comparison(comparison) if comparison is not None else "",
        "</main></body></html>",
    ]
    return "\n".join(p for p in parts if p) + "\n"
