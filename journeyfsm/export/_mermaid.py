"""Mermaid ``stateDiagram-v2`` text of a :class:`~._graph.Diagram`.

Stage names are labels only (``state "name" as s0``); node ids are ``s0``, ``s1``, ...
Every character of a user string that Mermaid's grammar could read as syntax is written
as a Mermaid entity code ``#NNN;`` (its Unicode code point), which Mermaid turns back
into the character when it renders; letters, digits (any script) and plain punctuation
stay as they are, so the text remains readable.  Mermaid's state diagrams have no
dashed edges: timeout edges are marked by their label (``drop_out after 7d``).  A goal
is a note beside the stage that meets it (``note right of s2 : goal bought#58; purchased
within 14d of cart``).
"""

from __future__ import annotations

from ._graph import ANY, Diagram

__all__ = ["mermaid_text", "render_mermaid"]

_PLAIN = frozenset(" _-.,/()'+!?")


def mermaid_text(text: str) -> str:
    """``text`` with every character Mermaid could misread as an entity code ``#NNN;``.

    >>> mermaid_text('say "hi" <b>; 50% #1')
    'say #34;hi#34; #60;b#62;#59; 50#37; #35;1'
    >>> mermaid_text("Café 東京")
    'Café 東京'
    """
    return "".join(ch if ch.isalnum() or ch in _PLAIN else f"#{ord(ch)};" for ch in text)


def _edge_label(label: str, counts: str) -> str:
    text = mermaid_text(label)
    return f"{text} \u00b7 {counts}" if counts else text


def render_mermaid(diagram: Diagram) -> str:
    """The Mermaid text of ``diagram`` (one statement a line, ending with a newline)."""
    lines = [
        f"%% journey {mermaid_text(diagram.name)} version {mermaid_text(str(diagram.version))}",
        "stateDiagram-v2",
    ]
    for node in diagram.nodes:
        lines.append(f'    state "{mermaid_text(node.label)}" as {node.id}')
        if node.counts:
            lines.append(f"    {node.id} : {node.counts}")
    if any(n.id == ANY for n in diagram.nodes):
        lines.append(f"    class {ANY} wildcard")
        lines.append("    classDef wildcard stroke-dasharray: 5 5")
    for node in diagram.nodes:
        if node.initial:
            lines.append(f"    [*] --> {node.id}")
    for edge in diagram.edges:
        lines.append(f"    {edge.source} --> {edge.dest} : {_edge_label(edge.label, edge.counts)}")
    for node in diagram.nodes:
        if node.final:
            lines.append(f"    {node.id} --> [*]")
    for goal in diagram.goals:
        lines.append(f"    note right of {goal.node} : {mermaid_text(goal.label)}")
    return "\n".join(lines) + "\n"
