"""Graphviz DOT text of a :class:`~._graph.Diagram`.

Every id and label is a double-quoted DOT string: ``\\`` and ``"`` are escaped, a line
break in a name becomes ``\\n``, so no name can end a string or reach Graphviz's own
escapes (``\\N``, ``\\l``).  Graphviz also decodes HTML entities in labels, so ``&``
is written ``&amp;`` (a stage called ``&#65;`` stays ``&#65;``) and control characters
as ``&#NN;``.  Final stages have a double border, the initial stage an
arrow from a dot, internal edges are grey, timeout edges dashed, the wildcard pseudo
node ``any`` dashed.  A goal is a dashed note node (``goal bought`` over ``purchased
within 14d of cart``) tied by a dashed line to the stage that meets it.
"""

from __future__ import annotations

import unicodedata

from ._graph import ANY, Diagram, DiagramEdge

__all__ = ["dot_string", "render_dot"]


def _entity(ch: str) -> str:
    # Graphviz decodes HTML entities in labels: '&' must be one itself, and characters a
    # line-based reader would split on (or that are invisible) are written as one too
    if ch == "&":
        return "&amp;"
    if ch != "\n" and (unicodedata.category(ch) in ("Cc", "Zl", "Zp")):
        return f"&#{ord(ch)};"
    return ch


def dot_string(text: str) -> str:
    """``text`` as a quoted DOT string (``\\``, ``"``, line breaks and ``&`` escaped).

    >>> print(dot_string('a "b" \\\\N & c'))
    "a \\"b\\" \\\\N &amp; c"
    """
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    escaped = "".join(_entity(ch) for ch in text)
    escaped = escaped.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def _edge_attrs(edge: DiagramEdge) -> str:
    label = edge.label if not edge.counts else f"{edge.label}\n{edge.counts}"
    attrs = [f"label={dot_string(label)}"]
    if edge.kind == "timeout":
        attrs.append("style=dashed")
    elif edge.kind == "restart":
        attrs.append("style=dotted")
        attrs.append('color="#2f6f9f"')
        attrs.append("constraint=false")
    elif edge.kind == "internal":
        attrs.append('color="#777777"')
        attrs.append('fontcolor="#555555"')
    return ", ".join(attrs)


def render_dot(diagram: Diagram) -> str:
    """The DOT text of ``diagram`` (a ``digraph``, ending with a newline)."""
    lines = [
        f"digraph {dot_string(diagram.name)} {{",
        f"    label={dot_string(f'{diagram.name} (version {diagram.version})')};",
        "    labelloc=t;",
        "    rankdir=TB;",
        '    node [shape=box, style=rounded, fontname="Helvetica"];',
        '    edge [fontname="Helvetica", fontsize=10];',
    ]
    for node in diagram.nodes:
        label = node.label if not node.counts else f"{node.label}\n{node.counts}"
        extra = ""
        if node.final:
            extra = ", peripheries=2"
        if node.id == ANY:
            extra = ', style="rounded,dashed"'
        lines.append(f"    {dot_string(node.id)} [label={dot_string(label)}{extra}];")
        if node.initial:
            start = f"__start_{node.id}"
            lines.append(f'    {dot_string(start)} [label="", shape=point];')
            lines.append(f"    {dot_string(start)} -> {dot_string(node.id)};")
    for edge in diagram.edges:
        lines.append(
            f"    {dot_string(edge.source)} -> {dot_string(edge.dest)} [{_edge_attrs(edge)}];"
        )
    for i, goal in enumerate(diagram.goals):
        note = dot_string(f"__goal_{i}")
        label = dot_string(f"goal {goal.name}\n{goal.text}")
        lines.append(
            f'    {note} [label={label}, shape=note, style=dashed, color="#6b4fa0", '
            'fontcolor="#4b3478", fontsize=10];'
        )
        lines.append(
            f"    {note} -> {dot_string(goal.node)} "
            '[label="", style=dashed, arrowhead=none, color="#6b4fa0"];'
        )
    lines.append("}")
    return "\n".join(lines) + "\n"
