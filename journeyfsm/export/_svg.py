"""An SVG drawing of a :class:`~._graph.Diagram`: plain SVG, no script, no fonts to fetch.

Layout
------
The stages stand in one column, one layer each, in the diagram's node order (the
funnel order when the definition declares one), so the happy path reads top to
bottom.  Every edge between two stages is an arc: forward edges (down the column)
bulge to the right, backward edges (up) to the left, each further out the more layers
it spans, so arcs nest instead of crossing boxes; several edges between the same pair
take separate lanes.  Self-loops (internal transitions, re-entries) sit on the box's
right shoulder.  Labels are written at an arc's outermost point, on a white halo.
A timeout whose move is also drawn as an event edge is written on that edge's label
("(timeout after 7d)") instead of a second arc over the same path; any other timeout edge is
dashed.  Internal edges are grey.  The goals are dashed notes under the column, one a
line ("goal bought: purchased within 14d of cart").  Sizes are estimated from character
counts (no font metrics are available without a browser), generously.

Every element a test or a stylesheet needs has a class: ``stage`` (with ``initial``,
``final``, ``wildcard``), ``edge`` (with its kind), ``edge-label``, ``goal``; each stage
group has ``data-stage`` holding its name (escaped), each goal note ``data-goal`` its
goal's name and ``data-goal-stage`` the stage it is attached to, so a browser test can find
them.
"""

from __future__ import annotations

import re
from html import escape

import attrs

from ._graph import ANY, Diagram, DiagramEdge, Node, format_duration

__all__ = ["render_svg", "text_width", "xml_text"]

_BOX_H = 46
_GAP = 34
_STEP = 26  # how far an arc bulges per layer it spans
_LANE = 10  # extra bulge per parallel edge between the same two layers
_CHAR = 7.2  # estimated width of one character at 12px
_NOTE_H = 24  # a goal note's height
_NOTE_GAP = 8


def text_width(text: str, char: float = _CHAR) -> float:
    """A generous width estimate for ``text`` (wide characters count double).

    >>> text_width("abc"), text_width("東京")
    (21.6, 28.8)
    """
    return sum(char * (2 if ord(ch) > 0x2E7F else 1) for ch in text)


# characters XML 1.0 forbids even as references (control characters, lone surrogates,
# U+FFFE/U+FFFF): a name holding one is drawn with U+FFFD in its place
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def xml_text(text: str) -> str:
    """``text`` escaped for XML/HTML text and attributes, characters XML forbids replaced.

    Line breaks and tabs are written as character references.

    >>> xml_text('<b a="1">\x01&')
    '&lt;b a=&quot;1&quot;&gt;\ufffd&amp;'
    """
    escaped = escape(_NOT_XML.sub("\ufffd", text), quote=True)
    # as references, line breaks and tabs survive attribute-value normalisation, so a
    # data-stage attribute holds the name exactly
    return escaped.replace("\r", "&#13;").replace("\n", "&#10;").replace("\t", "&#9;")


_x = xml_text


def render_svg(diagram: Diagram) -> str:
    """The SVG document of ``diagram`` (an ``<svg>`` element with ``id="journey-diagram"``)."""
    nodes = list(diagram.nodes)
    row = {n.id: i for i, n in enumerate(nodes)}
    box_w = max(
        160.0, *(max(text_width(n.label, 8.0), text_width(n.counts, 6.6)) + 28 for n in nodes)
    )
    # a timeout whose move is also an event edge is written on that edge's label
    # ("(timeout after 7d)") rather than drawn as a second arc over the same path
    keys = {(e.source, e.dest, e.trigger) for e in diagram.edges if e.kind != "timeout"}
    timed: dict[tuple[str, str, str], list[DiagramEdge]] = {}
    for e in diagram.edges:
        if e.kind == "timeout" and (e.source, e.dest, e.trigger) in keys:
            timed.setdefault((e.source, e.dest, e.trigger), []).append(e)
    edges = [
        _with_timeouts(e, timed.get((e.source, e.dest, e.trigger), []))
        for e in diagram.edges
        if not (e.kind == "timeout" and (e.source, e.dest, e.trigger) in keys)
    ]
    lanes: dict[tuple[int, int, bool], int] = {}
    arcs: list[tuple[_Drawn, int, int, float]] = []  # edge, from row, to row, bulge
    loops: dict[int, int] = {}
    for edge in edges:
        a, b = row[edge.source], row[edge.dest]
        if a == b:
            continue
        key = (min(a, b), max(a, b), b > a)
        lane = lanes[key] = lanes.get(key, -1) + 1
        arcs.append((edge, a, b, 30 + _STEP * (abs(b - a) - 1) + _LANE * lane))
    left_need = max([bulge + 8 + _label_width(e) for e, a, b, bulge in arcs if b < a] + [40.0])
    right_need = max(
        [bulge + 8 + _label_width(e) for e, a, b, bulge in arcs if b > a]
        + [70 + _label_width(e) for e in edges if e.source == e.dest]
        + [40.0]
    )
    x0 = 20 + left_need
    width = x0 + box_w + right_need + 20
    top = 40.0
    height = top + len(nodes) * (_BOX_H + _GAP) + 10
    notes_top = height - 10
    note_w = max([box_w, *(text_width(g.label, 6.8) + 20 for g in diagram.goals)])
    if diagram.goals:
        width = max(width, x0 + note_w + 20)
        height += len(diagram.goals) * (_NOTE_H + _NOTE_GAP)

    def y(i: int) -> float:
        return top + i * (_BOX_H + _GAP)

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" id="journey-diagram" class="journey-diagram" '
        f'width="{width:.0f}" height="{height:.0f}" viewBox="0 0 {width:.0f} {height:.0f}" '
        f'role="img" aria-label="{_x(f"journey {diagram.name}")}">',
        f"<title>{_x(f'{diagram.name} (version {diagram.version})')}</title>",
        "<defs>",
        '<marker id="jd-arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" '
        'fill="#444"/></marker>',
        "</defs>",
        "<style>"
        ".journey-diagram text{font-family:system-ui,-apple-system,'Segoe UI',sans-serif}"
        ".stage rect{fill:#eef4fb;stroke:#3d6a99;stroke-width:1.5}"
        ".stage.final rect.outer{fill:#e9f6ec;stroke:#2f7d46}"
        ".stage.final rect.inner{fill:none;stroke:#2f7d46}"
        ".stage.wildcard rect{fill:#fff;stroke:#888;stroke-dasharray:5 4}"
        ".stage .name{font-size:13px;font-weight:600;fill:#1b2733}"
        ".stage .counts{font-size:11px;fill:#41525f}"
        ".edge{fill:none;stroke:#444;stroke-width:1.3}"
        ".edge.timeout{stroke:#a0522d;stroke-dasharray:6 4}"
        ".edge.internal{stroke:#999}"
        ".edge.restart{stroke:#2f6f9f;stroke-dasharray:2 3}"
        ".edge-label{font-size:11px;fill:#222;paint-order:stroke;stroke:#fff;"
        "stroke-width:4px;stroke-linejoin:round}"
        ".edge-label.timeout{fill:#8a3f1a}.edge-label.internal{fill:#666}"
        ".edge-label .n{fill:#3d6a99;font-weight:600}.edge-label .t{fill:#8a3f1a}"
        ".goal rect{fill:#f6f2fc;stroke:#6b4fa0;stroke-dasharray:5 3}"
        ".goal text{font-size:11px;fill:#4b3478}"
        "</style>",
    ]
    placed = _Labels()
    for i, n in enumerate(nodes):
        out.append(_node(n, x0, y(i), box_w))
    cx_right, cx_left = x0 + box_w, x0
    for edge, a, b, bulge in arcs:
        ya, yb = y(a) + _BOX_H / 2, y(b) + _BOX_H / 2
        side = 1 if b > a else -1
        bx = cx_right if side > 0 else cx_left
        ya += 6 * side  # leave from the lower half going down, the upper half going up
        yb -= 6 * side
        ctrl = bx + side * bulge * 1.33
        path = f"M{bx:.1f},{ya:.1f} C{ctrl:.1f},{ya:.1f} {ctrl:.1f},{yb:.1f} {bx:.1f},{yb:.1f}"
        lx, ly = (
            bx + side * (bulge + 6),
            placed.free(bx + side * (bulge + 6), (ya + yb) / 2, _label_width(edge), side),
        )
        out.append(_edge(edge, path, lx, ly, "start" if side > 0 else "end"))
    for edge in edges:
        if edge.source != edge.dest:
            continue
        i = row[edge.source]
        k = loops[i] = loops.get(i, -1) + 1
        x1 = cx_right - 24 - 30 * k
        y1 = y(i)
        path = (
            f"M{x1:.1f},{y1:.1f} C{x1 + 6:.1f},{y1 - 26:.1f} {x1 + 40:.1f},{y1 - 22:.1f} "
            f"{cx_right:.1f},{y1 + 10:.1f}"
        )
        ly = placed.free(cx_right + 28, y1 - 6 + 12 * k, _label_width(edge), 1)
        out.append(_edge(edge, path, cx_right + 28, ly, "start"))
    stage_of = {n.id: n.label for n in nodes}
    for i, goal in enumerate(diagram.goals):
        gy = notes_top + i * (_NOTE_H + _NOTE_GAP)
        out.append(
            f'<g class="goal" data-goal="{_x(goal.name)}" '
            f'data-goal-stage="{_x(stage_of.get(goal.node, ""))}">'
            f'<rect x="{x0:.1f}" y="{gy:.1f}" width="{note_w:.1f}" height="{_NOTE_H}" rx="4"/>'
            f'<text x="{x0 + 10:.1f}" y="{gy + 16:.1f}">{_x(goal.label)}</text></g>'
        )
    out.append("</svg>")
    return "\n".join(out) + "\n"


class _Labels:
    """Where labels went; a new one moves up or down a line until it overlaps none."""

    def __init__(self) -> None:
        self.boxes: list[tuple[float, float, float, float]] = []

    def free(self, x: float, y: float, width: float, side: int) -> float:
        x0, x1 = (x, x + width) if side > 0 else (x - width, x)
        for shift in (0, 14, -14, 28, -28, 42, -42):
            y0, y1 = y + shift - 9, y + shift + 5
            if not any(x0 < b[1] and b[0] < x1 and y0 < b[3] and b[2] < y1 for b in self.boxes):
                self.boxes.append((x0, x1, y0, y1))
                return y + shift
        self.boxes.append((x0, x1, y - 9, y + 5))
        return y


@attrs.frozen
class _Drawn:
    """An edge as drawn: its label, counts and the timeouts written on it."""

    source: str
    dest: str
    trigger: str
    kind: str
    label: str
    counts: str
    timeouts: str


def _with_timeouts(edge: DiagramEdge, timeouts: list[DiagramEdge]) -> _Drawn:
    after = ", ".join(format_duration(t.after) for t in timeouts if t.after is not None)
    return _Drawn(
        edge.source,
        edge.dest,
        edge.trigger,
        edge.kind,
        edge.label,
        edge.counts,
        f"(timeout after {after})" if after else "",
    )


def _label_width(edge: _Drawn) -> float:
    return sum(text_width(t) + 8 for t in (edge.label, edge.counts, edge.timeouts) if t)


def _node(n: Node, x: float, y: float, w: float) -> str:
    classes = ["stage"]
    if n.initial:
        classes.append("initial")
    if n.final:
        classes.append("final")
    if n.id == ANY:
        classes.append("wildcard")
    parts = [
        f'<g class="{" ".join(classes)}" id="stage-{n.id}" data-stage="{_x(n.label)}">',
        f'<rect class="outer" x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{_BOX_H}" rx="9"/>',
    ]
    if n.final:
        parts.append(
            f'<rect class="inner" x="{x + 3:.1f}" y="{y + 3:.1f}" width="{w - 6:.1f}" '
            f'height="{_BOX_H - 6}" rx="7"/>'
        )
    if n.initial:
        cy = y + _BOX_H / 2
        parts.append(f'<circle cx="{x - 26:.1f}" cy="{cy:.1f}" r="5" fill="#1b2733"/>')
        parts.append(
            f'<path class="edge" d="M{x - 21:.1f},{cy:.1f} L{x - 2:.1f},{cy:.1f}" '
            'marker-end="url(#jd-arrow)"/>'
        )
    name_y = y + (19 if n.counts else 28)
    parts.append(
        f'<text class="name" x="{x + w / 2:.1f}" y="{name_y:.1f}" text-anchor="middle">'
        f"{_x(n.label)}</text>"
    )
    if n.counts:
        parts.append(
            f'<text class="counts" x="{x + w / 2:.1f}" y="{y + 36:.1f}" '
            f'text-anchor="middle">{_x(n.counts)}</text>'
        )
    parts.append("</g>")
    return "".join(parts)


def _edge(edge: _Drawn, path: str, lx: float, ly: float, anchor: str) -> str:
    counts = f' <tspan class="n">{_x(edge.counts)}</tspan>' if edge.counts else ""
    if edge.timeouts:
        counts += f' <tspan class="t">{_x(edge.timeouts)}</tspan>'
    return (
        f'<g class="transition" data-trigger="{_x(edge.trigger)}" data-kind="{edge.kind}">'
        f'<path class="edge {edge.kind}" d="{path}" marker-end="url(#jd-arrow)"/>'
        f'<text class="edge-label {edge.kind}" x="{lx:.1f}" y="{ly + 4:.1f}" '
        f'text-anchor="{anchor}">{_x(edge.label)}{counts}</text></g>'
    )
