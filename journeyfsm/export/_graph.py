"""The drawing model every exporter renders: stages as nodes, compiled edges, counts.

Theory of operation
-------------------
A diagram is read from the definition's compiled table (``definition.edges()``), the
same table ``fire`` runs on, so a diagram can never disagree with the rules.  Every
renderer (Mermaid, DOT, SVG) draws one :class:`Diagram`; nothing else reads the
definition.

- **Nodes**: one per stage, in the funnel order when the definition declares one
  (``definition.funnel``), then the other stages in declaration order.  Node ids are
  ``s0``, ``s1``, ... by that position, so any stage name (quotes, spaces, unicode)
  is only ever a label.
- **Edges**: one per (source, trigger, dest).  Candidates that share those (they
  differ only in guards) become one edge listing each candidate's guards.  A
  wildcard transition (``source="*"``) is drawn once, from the pseudo node ``any``
  ("any non-final stage"), instead of once per stage; so is an exit criterion (which
  compiles to one candidate per non-final stage).  ``dest=None`` (internal) is a
  self-loop of kind ``internal``; ``dest == source`` is a ``reentry``.
- **Restarts**: a final stage that an entry rule lets start again (docs/rules.md,
  "Entry and re-entry") gets one edge of kind ``restart`` to the initial stage, trigger
  ``journeyfsm.reenter``, labelled with the rule (``re-entry (once_at_a_time)``,
  ``re-entry (cooldown 30d)``); the default ``entry="once"`` draws none.
- **Timeouts**: one dashed edge per (timeout, destination its trigger can reach from
  the stage), labelled with the trigger and the duration.
- **Goals** (docs/rules.md, "Goals"): one note per goal, attached to the stage that
  meets it (a ``trigger=`` goal: to the stage its clock starts in, or the initial
  stage), reading ``goal bought: purchased within 14d of cart`` (``of start`` when the
  clock starts with the journey; ``, then exit to converted`` with an ``exit``); the
  renderers draw it as a note (Mermaid), a dashed note node (DOT), a dashed box (SVG).
- **Counts** (when a :class:`~journeyfsm.analytics.Funnel` is given): a stage shows
  journeys that entered it and that are in it now; an edge shows the recorded moves
  along it and, for edges that change stage, its share of the moves that left the
  source stage (so the shares out of a stage add up to 100%, however often journeys
  come back).  History records an internal move with ``dest == source``, so
  an internal edge and a re-entry with the same stage and trigger share one count.
  Timeout edges carry no count: the move they cause is counted on the solid edge.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Literal

import attrs

from .._definition import JourneyDefinition
from .._goals import Goal
from .._parts import WILDCARD, Transition
from .._rules import EXIT_MARK, REENTER
from ..analytics import Funnel

__all__ = [
    "ANY",
    "Diagram",
    "DiagramEdge",
    "DiagramGoal",
    "Node",
    "build_diagram",
    "format_duration",
    "goal_text",
]

ANY = "s_any"  # the node id of the wildcard pseudo node
EdgeKind = Literal["move", "reentry", "internal", "timeout", "restart"]


@attrs.frozen
class Node:
    """A stage (or, with ``stage=None``, the wildcard pseudo node ``any``)."""

    id: str
    stage: str | None
    initial: bool = False
    final: bool = False
    entered: int | None = None
    current: int | None = None

    @property
    def label(self) -> str:
        """The stage name, or ``"any non-final stage"`` for the pseudo node."""
        return self.stage if self.stage is not None else "any non-final stage"

    @property
    def counts(self) -> str:
        """``"entered 40 · now 3"``, or ``""`` without a funnel."""
        if self.entered is None:
            return ""
        return f"entered {self.entered} \u00b7 now {self.current}"


@attrs.frozen
class DiagramEdge:
    """One drawn edge; ``guards`` holds one text per merged candidate ("" if unguarded)."""

    source: str
    dest: str
    trigger: str
    kind: EdgeKind
    guards: tuple[str, ...] = ()
    after: timedelta | None = None
    count: int | None = None
    conversion: float | None = None

    @property
    def label(self) -> str:
        """``"checkout [cart_not_empty]"``, ``"note (internal)"``, ``"drop_out after 7d"``."""
        text = self.trigger
        if self.kind == "timeout" and self.after is not None:
            return f"{text} after {format_duration(self.after)}"
        if self.kind == "restart":
            rule = f"cooldown {format_duration(self.after)}" if self.after else "once_at_a_time"
            return f"re-entry ({rule})"
        if any(self.guards):
            text += " " + " or ".join(f"[{g}]" if g else "[always]" for g in self.guards)
        if self.kind == "internal":
            text += " (internal)"
        elif self.kind == "reentry":
            text += " (re-entry)"
        return text

    @property
    def counts(self) -> str:
        """``"42 moves (35.0%)"``, ``"3 moves"``, or ``""`` without a funnel."""
        if self.count is None:
            return ""
        text = f"{self.count} move{'' if self.count == 1 else 's'}"
        if self.conversion is not None:
            text += f" ({self.conversion:.1%})"
        return text


@attrs.frozen
class DiagramGoal:
    """A goal's note: attached to the node ``node``, reading ``label``."""

    name: str
    node: str
    text: str

    @property
    def label(self) -> str:
        """``"goal bought: purchased within 14d of cart"``."""
        return f"goal {self.name}: {self.text}"


def goal_text(goal: Goal) -> str:
    """What a goal asks, in the words of its note.

    >>> from datetime import timedelta
    >>> from journeyfsm import Goal
    >>> goal_text(Goal("bought", stage="purchased", within=timedelta(days=14), since="cart"))
    'purchased within 14d of cart'
    >>> goal_text(Goal("paid", trigger="pay", within=timedelta(hours=36), exit="won"))
    "trigger 'pay' within 1d 12h of start, then exit to won"
    """
    what = goal.stage if goal.stage is not None else f"trigger {goal.trigger!r}"
    text = f"{what} within {format_duration(goal.within)} of {goal.since or 'start'}"
    return text if goal.exit is None else f"{text}, then exit to {goal.exit}"


@attrs.frozen
class Diagram:
    """Nodes and edges of one definition, optionally annotated with a funnel's counts;
    ``goals`` holds the notes of the definition's goals."""

    name: str
    version: int | str
    nodes: tuple[Node, ...]
    edges: tuple[DiagramEdge, ...]
    annotated: bool
    goals: tuple[DiagramGoal, ...] = ()

    def node(self, node_id: str) -> Node:
        """The node with id ``node_id``."""
        for n in self.nodes:
            if n.id == node_id:
                return n
        raise KeyError(f"no node {node_id!r} in the diagram of {self.name!r}")


def format_duration(value: timedelta) -> str:
    """A short duration: days, hours, minutes, seconds that are not zero.

    >>> format_duration(timedelta(days=1, hours=2, minutes=30))
    '1d 2h 30m'
    >>> format_duration(timedelta(seconds=90.5)), format_duration(timedelta(0))
    ('1m 30.5s', '0s')
    """
    total = value.total_seconds()
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    parts = [f"{int(n)}{unit}" for n, unit in ((days, "d"), (hours, "h"), (minutes, "m")) if n]
    if seconds:
        parts.append(f"{seconds:g}s")
    return " ".join(parts) or "0s"


def stage_order(definition: JourneyDefinition) -> tuple[str, ...]:
    """The funnel order (if the definition declares one), then the other stages."""
    # ``funnel`` is optional on a definition: older ones have no such field
    funnel: tuple[str, ...] = tuple(getattr(definition, "funnel", None) or ())
    rest = tuple(s for s in definition.stage_names if s not in funnel)
    return tuple(s for s in funnel if definition.has_stage(s)) + rest


def _check(definition: object, funnel: object) -> None:
    if not isinstance(definition, JourneyDefinition):
        raise TypeError(
            f"expected a JourneyDefinition, got {type(definition).__name__}; pass "
            "machine.definition or a definition from journeyfsm.templates"
        )
    if funnel is None:
        return
    if not isinstance(funnel, Funnel):
        raise TypeError(
            f"funnel must be a journeyfsm.analytics.Funnel (or None), got {type(funnel).__name__}"
        )
    if funnel.definition != definition.name:
        raise ValueError(
            f"the funnel is of definition {funnel.definition!r}, the diagram of "
            f"{definition.name!r}; pass the funnel computed for {definition.name!r}"
        )
    missing = [s for s in definition.stage_names if s not in {st.stage for st in funnel.stages}]
    if missing:
        raise ValueError(
            f"the funnel of {funnel.definition!r} has no figures for stage(s) "
            f"{', '.join(map(repr, missing))}; was it computed for another version of the "
            "definition? Recompute it with this definition"
        )


def build_diagram(definition: JourneyDefinition, funnel: Funnel | None = None) -> Diagram:
    """The :class:`Diagram` of ``definition``, annotated with ``funnel``'s counts if given.

    >>> from journeyfsm import templates
    >>> d = build_diagram(templates.aida())
    >>> [n.label for n in d.nodes][:2], d.edges[0].label
    (['attention', 'interest'], 'engage')
    """
    _check(definition, funnel)
    order = stage_order(definition)
    ids = {stage: f"s{i}" for i, stage in enumerate(order)}
    stats = {s.stage: s for s in funnel.stages} if funnel is not None else {}
    nodes = [
        Node(
            ids[name],
            name,
            initial=definition.stage(name).initial,
            final=definition.stage(name).final,
            entered=stats[name].entered if name in stats else None,
            current=stats[name].current if name in stats else None,
        )
        for name in order
    ]
    # (source id, trigger, dest id, kind) -> guard texts, in table order
    merged: dict[tuple[str, str, str, EdgeKind], list[str]] = {}
    # a wildcard transition is compiled once per stage; draw it once: the n-th time an
    # object appears at a stage is the same declaration as its n-th time anywhere else
    seen: dict[tuple[int, int], None] = {}
    exits: set[str] = set()  # the exit criteria drawn (once each, from any)
    occurrences: dict[tuple[str, int], int] = {}
    for e in definition.edges():
        wildcard = _anywhere(e.transition)
        if wildcard and EXIT_MARK in e.transition.metadata:  # compiled anew per stage
            if e.trigger in exits:  # (an exit is the only rule for its trigger)
                continue
            exits.add(e.trigger)
        elif wildcard:
            nth = occurrences[e.source, id(e.transition)] = (
                occurrences.get((e.source, id(e.transition)), 0) + 1
            )
            if (id(e.transition), nth) in seen:
                continue
            seen[id(e.transition), nth] = None
        source = ANY if wildcard else ids[e.source]
        dest = source if e.dest is None else ids[e.dest]
        kind: EdgeKind = "internal" if e.dest is None else "move"
        if kind == "move" and dest == source:
            kind = "reentry"
        texts = merged.setdefault((source, e.trigger, dest, kind), [])
        texts.append(" & ".join(g.name for g in e.transition.guards))
    moves = _move_counts(funnel)
    edges: list[DiagramEdge] = []
    for (source, trigger, dest, kind), texts in merged.items():
        count = conversion = None
        if funnel is not None:
            count = _edge_count(definition, ids, moves, source, trigger, dest, kind)
            conversion = _share(moves, ids, source, dest, count)
        edges.append(
            DiagramEdge(source, dest, trigger, kind, tuple(texts), None, count, conversion)
        )
    if any(e.source == ANY for e in edges):
        nodes.append(Node(ANY, None))
    edges += _restarts(definition, ids, moves if funnel is not None else None)
    for to in definition.timeouts:
        dests: dict[str, None] = {}
        for t in definition.candidates(to.stage, to.trigger):
            dests.setdefault(ids[to.stage] if t.dest is None else ids[t.dest], None)
        for dest in dests:
            edges.append(DiagramEdge(ids[to.stage], dest, to.trigger, "timeout", after=to.after))
    initial = ids[definition.initial_stage]
    goals = tuple(
        DiagramGoal(
            g.name,
            ids[g.stage] if g.stage is not None else ids[g.since] if g.since else initial,
            goal_text(g),
        )
        for g in definition.goals
    )
    return Diagram(
        definition.name, definition.version, tuple(nodes), tuple(edges), funnel is not None, goals
    )


def _anywhere(t: Transition) -> bool:
    """``t`` stands for one rule of every non-final stage: a wildcard transition, or the
    candidate an exit criterion compiles to in each stage (both drawn once, from ``any``)."""
    return t.source == WILDCARD or EXIT_MARK in t.metadata


def _restarts(
    definition: JourneyDefinition,
    ids: Mapping[str, str],
    moves: Mapping[tuple[str, str, str], int] | None,
) -> list[DiagramEdge]:
    """The re-entry edges: each final stage that can restart -> the initial stage (the
    same rule as the runtime's: a final stage other than the initial one, and an initial
    trigger that is not an exit criterion's)."""
    entry = definition.entry
    if entry == "once":
        return []
    initial = definition.initial_stage
    leaving = {e.trigger for e in definition.exits}
    if not any(t not in leaving for t in definition.table.get(initial, {})):
        return []
    after = entry if isinstance(entry, timedelta) else None
    out = []
    for stage in definition.stage_names:
        if stage == initial or not definition.stage(stage).final:
            continue
        count = None if moves is None else moves.get((stage, REENTER, initial), 0)
        out.append(
            DiagramEdge(ids[stage], ids[initial], REENTER, "restart", after=after, count=count)
        )
    return out


def _move_counts(funnel: Funnel | None) -> Mapping[tuple[str, str, str], int]:
    out: dict[tuple[str, str, str], int] = {}
    for m in funnel.moves if funnel is not None else ():
        key = (m.source, m.trigger, m.dest)
        out[key] = out.get(key, 0) + m.count
    return out


def _edge_count(
    definition: JourneyDefinition,
    ids: Mapping[str, str],
    moves: Mapping[tuple[str, str, str], int],
    source: str,
    trigger: str,
    dest: str,
    kind: EdgeKind,
) -> int:
    names = {v: k for k, v in ids.items()}
    if source != ANY:
        stage = names[source]
        return moves.get((stage, trigger, names[dest] if kind != "internal" else stage), 0)
    # a wildcard edge: the moves from every stage it stands for that no specific
    # transition of the same (stage, trigger, dest) claims
    total = 0
    non_final = [s for s in definition.stage_names if not definition.stage(s).final]
    for stage in non_final:
        target = stage if kind == "internal" else names[dest]
        specific = any(
            not _anywhere(t) and (t.dest or stage) == target
            for t in definition.candidates(stage, trigger)
        )
        if not specific:
            total += moves.get((stage, trigger, target), 0)
    return total


def _share(
    moves: Mapping[tuple[str, str, str], int],
    ids: Mapping[str, str],
    source: str,
    dest: str,
    count: int,
) -> float | None:
    """``count`` over every recorded move that left the source stage (any trigger)."""
    if source in (dest, ANY):
        return None
    stage = next(name for name, node in ids.items() if node == source)
    left = sum(n for (s, _, d), n in moves.items() if s == stage and d != stage)
    return None if not left else count / left
