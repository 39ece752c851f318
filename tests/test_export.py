"""Diagrams: Mermaid, DOT and SVG, read back by small parsers written here.

Every expectation is computed from the definition's declared transitions (or, for
counts, from the journeys' histories by a plain group-by), never from the exporter.
"""

from __future__ import annotations

import itertools
import random
import re
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Iterable
from datetime import timedelta

import pytest
from conftest import checkout_builder, quiet_logger
from hypothesis import given, settings
from hypothesis import strategies as st

from journeyfsm import Journey, JourneyBuilder, JourneyDefinition, JourneyMachine, templates
from journeyfsm.analytics import DurationStats, Funnel, StageStats, TransitionCount
from journeyfsm.export import funnel_svg, to_dot, to_mermaid, to_svg
from journeyfsm.export._graph import format_duration

ANY = "(any)"  # what the parsers below call the wildcard pseudo node
HOSTILE = ['<script>alert("x")</script>', "a & b", 'it\'s "quoted"', "50% #1; done:{x}|[y]"]


def hostile_definition() -> JourneyDefinition:
    """Stage names no identifier rule would allow, a wildcard, internals, a timeout."""
    s0, s1, s2, s3 = HOSTILE[0], "Café 東京 \\N", HOSTILE[1] + " " + HOSTILE[3], HOSTILE[2]
    return (
        JourneyBuilder('hostile "<b>" & co')
        .stage(s0, initial=True)
        .stage(s1)
        .stage(s2)
        .stage(s3, final=True)
        .transition("go", s0, s1)
        .transition("go", s1, s2)
        .transition("again", s2, s2)
        .transition("finish", [s1, s2], s3)
        .transition("note", "*", None)
        .transition("log", s3, None)
        .timeout(s2, timedelta(hours=2), "finish")
        .build()
    )


DEFINITIONS = {
    **{name: factory for name, factory in templates.TEMPLATES.items()},
    "checkout": lambda: checkout_builder().build(),
    "hostile": hostile_definition,
}


# -- expectations, from the declared transitions ------------------------------------------
def expected_edges(d: JourneyDefinition) -> Counter[tuple[str, str, str]]:
    """(source, trigger, dest) per drawn edge: wildcards once from ANY, candidates merged."""
    edges: dict[tuple[str, str, str], None] = {}
    for t in d.transitions:
        sources = (
            [ANY] if t.source == "*" else [t.source] if isinstance(t.source, str) else t.source
        )
        for s in sources:
            edges.setdefault((s, t.trigger, t.dest if t.dest is not None else s), None)
    for x in d.exits:  # an exit criterion is drawn once, from ANY, as a wildcard is
        edges.setdefault((ANY, x.trigger, x.stage), None)
    return Counter(list(edges))


def expected_timeouts(d: JourneyDefinition) -> Counter[tuple[str, str, str]]:
    out: dict[tuple[str, str, str], None] = {}
    for to in d.timeouts:
        for t in d.transitions:
            listed = [t.source] if isinstance(t.source, str) else list(t.source)
            from_stage = to.stage in listed or (t.source == "*" and not d.stage(to.stage).final)
            if t.trigger == to.trigger and from_stage:
                out.setdefault((to.stage, to.trigger, t.dest or to.stage), None)
    return Counter(list(out))


def guard_text(d: JourneyDefinition, source: str, trigger: str, dest: str) -> list[str]:
    texts = []
    for t in d.transitions:
        listed = [t.source] if isinstance(t.source, str) else list(t.source)
        from_source = source in listed or (source == ANY and t.source == "*")
        if t.trigger == trigger and from_source and (t.dest or source) == dest and t.guards:
            texts.append(" & ".join(g.name for g in t.guards))
    return texts


# -- a Mermaid reader ----------------------------------------------------------------------
def mermaid_decode(text: str) -> str:
    return re.sub(r"#(\d+);", lambda m: chr(int(m.group(1))), text)


def parse_mermaid(text: str) -> dict[str, object]:
    names: dict[str, str] = {}
    notes: dict[str, str] = {}
    edges: list[tuple[str, str, str]] = []  # ids and the raw label
    starts, ends = [], []
    lines = text.splitlines()
    assert lines[1] == "stateDiagram-v2"
    for line in lines[2:]:
        line = line.strip()
        if m := re.fullmatch(r'state "([^"]*)" as (\w+)', line):
            assert m.group(2) not in names
            names[m.group(2)] = mermaid_decode(m.group(1))
        elif m := re.fullmatch(r"\[\*\] --> (\w+)", line):
            starts.append(m.group(1))
        elif m := re.fullmatch(r"(\w+) --> \[\*\]", line):
            ends.append(m.group(1))
        elif m := re.fullmatch(r"(\w+) --> (\w+) : (.*)", line):
            edges.append((m.group(1), m.group(2), m.group(3)))
        elif m := re.fullmatch(r"(\w+) : (.*)", line):
            notes[m.group(1)] = m.group(2)
        else:
            assert line.startswith(("class ", "classDef ")), line
    return {"names": names, "notes": notes, "edges": edges, "starts": starts, "ends": ends}


def stage_of(names: dict[str, str], node: str) -> str:
    return ANY if names[node] == "any non-final stage" else names[node]


def split_edges(
    names: dict[str, str], edges: Iterable[tuple[str, str, str]], decode: bool = True
) -> tuple[list[tuple[str, str, str]], list[tuple[str, str, str]], dict[tuple[str, str, str], str]]:
    moves, timeouts, labels = [], [], {}
    for a, b, raw in edges:
        label = mermaid_decode(raw) if decode else raw
        trigger = label.split()[0]
        key = (stage_of(names, a), trigger, stage_of(names, b))
        if re.search(rf"^{trigger} after ", label):
            timeouts.append(key)
        else:
            moves.append(key)
            labels[key] = label
    return moves, timeouts, labels


@pytest.mark.parametrize("name", sorted(DEFINITIONS))
def test_mermaid_has_every_stage_and_transition_exactly_once(name: str) -> None:
    d = DEFINITIONS[name]()
    parsed = parse_mermaid(to_mermaid(d))
    names = parsed["names"]
    assert isinstance(names, dict)
    stages = [n for n in names.values() if n != "any non-final stage"]
    assert sorted(stages) == sorted(d.stage_names)
    moves, timeouts, labels = split_edges(names, parsed["edges"])  # type: ignore[arg-type]
    assert Counter(moves) == expected_edges(d)
    assert Counter(timeouts) == expected_timeouts(d)
    assert [names[i] for i in parsed["starts"]] == [d.initial_stage]  # type: ignore[attr-defined]
    assert sorted(names[i] for i in parsed["ends"]) == sorted(d.final_stages)  # type: ignore[attr-defined]
    for key, label in labels.items():
        for text in guard_text(d, *key):
            assert f"[{text}]" in label
        source, _, dest = key
        internal = any(
            t.dest is None and t.trigger == key[1] for t in d.transitions if source == dest
        )
        assert ("(internal)" in label or "(re-entry)" in label) == (source == dest), label
        if "(internal)" in label:
            assert internal


def test_mermaid_marks_guards_internal_and_reentry_edges() -> None:
    parsed = parse_mermaid(to_mermaid(checkout_builder().build()))
    names = parsed["names"]
    _, _, labels = split_edges(names, parsed["edges"])  # type: ignore[arg-type]
    assert labels["cart", "checkout", "express"] == "checkout [(cart_not_empty & is_vip)]"
    assert labels["cart", "add_to_cart", "cart"] == "add_to_cart (re-entry)"
    assert labels[ANY, "note", ANY] == "note (internal)"


def test_candidates_to_one_destination_become_one_edge_listing_each_guard() -> None:
    from conftest import cart_not_empty, is_vip

    d = (
        JourneyBuilder("two-ways")
        .stage("a", initial=True)
        .stage("b", final=True)
        .transition("go", "a", "b", guards=[cart_not_empty])
        .transition("go", "a", "b", guards=[is_vip])
        .build()
    )
    parsed = parse_mermaid(to_mermaid(d))
    labels = [mermaid_decode(e[2]) for e in parsed["edges"]]  # type: ignore[attr-defined]
    assert labels == ["go [cart_not_empty] or [is_vip]"]  # type: ignore[attr-defined]


# -- a DOT reader --------------------------------------------------------------------------
DOT_STRING = r'"((?:[^"\\]|\\.)*)"'


def dot_decode(text: str) -> str:
    """DOT string escapes, then the entities (``&#NN;``, ``&amp;``) Graphviz decodes."""
    raw = re.sub(r"\\(.)", lambda m: "\n" if m.group(1) == "n" else m.group(1), text)
    return re.sub(r"&#(\d+);", lambda m: chr(int(m.group(1))), raw).replace("&amp;", "&")


def parse_dot(text: str) -> dict[str, object]:
    lines = text.splitlines()
    assert re.fullmatch(rf"digraph {DOT_STRING} {{", lines[0])
    assert lines[-1] == "}"
    nodes: dict[str, tuple[str, str]] = {}
    edges: list[tuple[str, str, str, str]] = []
    for line in lines[1:-1]:
        line = line.strip()
        if m := re.fullmatch(
            rf"{DOT_STRING} -> {DOT_STRING}(?: \[label={DOT_STRING}(.*)\])?;", line
        ):
            a, b, label, rest = m.groups()
            edges.append((a, b, dot_decode(label or ""), rest or ""))
        elif m := re.fullmatch(rf"{DOT_STRING} \[label={DOT_STRING}(.*)\];", line):
            assert m.group(1) not in nodes
            nodes[m.group(1)] = (dot_decode(m.group(2)), m.group(3))
        else:
            assert re.fullmatch(r"\w+(=| \[).*;", line), line
    return {"nodes": nodes, "edges": edges}


@pytest.mark.parametrize("name", sorted(DEFINITIONS))
def test_dot_has_every_stage_and_transition_exactly_once(name: str) -> None:
    d = DEFINITIONS[name]()
    parsed = parse_dot(to_dot(d))
    nodes = parsed["nodes"]
    assert isinstance(nodes, dict)
    stages = {i: label for i, (label, _) in nodes.items() if not i.startswith("__start")}
    names = {i: label.split("\n")[0] for i, label in stages.items()}
    assert sorted(n for n in names.values() if n != "any non-final stage") == sorted(d.stage_names)
    moves, timeouts = [], []
    starts = []
    for a, b, label, rest in parsed["edges"]:  # type: ignore[attr-defined]
        if a.startswith("__start"):
            starts.append(names[b])
            continue
        key = (stage_of(names, a), label.split()[0], stage_of(names, b))
        (timeouts if "style=dashed" in rest else moves).append(key)
    assert Counter(moves) == expected_edges(d)
    assert Counter(timeouts) == expected_timeouts(d)
    assert starts == [d.initial_stage]
    finals = sorted(names[i] for i, (_, rest) in nodes.items() if "peripheries=2" in rest)
    assert finals == sorted(d.final_stages)


# -- escaping round trips ------------------------------------------------------------------
stage_names = st.text(min_size=1, max_size=12).filter(
    # a NUL is a validation problem (no store can hold it: tests/test_probe6_text.py)
    lambda s: s != "*" and s == s.strip() and "\x00" not in s
)


@settings(max_examples=60, deadline=None)
@given(st.lists(stage_names, min_size=2, max_size=4, unique=True))
def test_any_stage_name_round_trips_through_mermaid_and_dot(names: list[str]) -> None:
    b = JourneyBuilder("any-names").stage(names[0], initial=True)
    for n in names[1:-1]:
        b = b.stage(n)
    b = b.stage(names[-1], final=True)
    for a, z in itertools.pairwise(names):
        b = b.transition("go", a, z)
    d = b.build()
    mermaid = parse_mermaid(to_mermaid(d))["names"]
    assert sorted(mermaid.values()) == sorted(names)  # type: ignore[attr-defined]
    dot = parse_dot(to_dot(d))["nodes"]
    assert sorted(label for i, (label, _) in dot.items() if not i.startswith("__")) == sorted(  # type: ignore[attr-defined]
        n.replace("\r\n", "\n").replace("\r", "\n") for n in names
    )
    root = ET.fromstring(to_svg(d))  # well-formed whatever the names
    drawn = [g.get("data-stage") for g in root.iter(f"{SVG}g") if g.get("data-stage")]
    xml_safe = [
        re.sub("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]", "\ufffd", n) for n in names
    ]
    assert sorted(drawn) == sorted(xml_safe)


def test_same_definition_same_text() -> None:
    for factory in DEFINITIONS.values():
        d = factory()
        rebuilt = JourneyDefinition.from_dict(d.to_dict(), guards=d.guards())
        for export in (to_mermaid, to_dot, to_svg):
            assert export(d) == export(rebuilt) == export(d)


# -- counts --------------------------------------------------------------------------------
def run_customers(d: JourneyDefinition, n: int, seed: int) -> list[Journey]:
    """``n`` journeys that fire random triggers (data that lets every checkout guard pass)."""
    from datetime import datetime, timezone

    rng = random.Random(seed)
    machine = JourneyMachine(d, logger=quiet_logger())
    journeys = []
    at = datetime(2026, 3, 1, tzinfo=timezone.utc)
    for i in range(n):
        j = machine.start(f"c{i}", {"cart": ["mug"], "vip": i % 3 == 0}, at=at)
        for step in range(rng.randrange(0, 8)):
            trigger = rng.choice(d.triggers)
            machine.fire(j, trigger, {"paid": rng.random() < 0.8}, at=at + timedelta(hours=step))
        journeys.append(j)
    return journeys


def funnel_by_hand(
    d: JourneyDefinition, journeys: list[Journey], order: tuple[str, ...] = ()
) -> Funnel:
    """A Funnel from a plain group-by over the journeys (durations left empty)."""
    entered: Counter[str] = Counter()
    current = Counter(j.stage for j in journeys)
    moves: Counter[tuple[str, str, str]] = Counter()
    deepest: list[int] = []
    for j in journeys:
        seen = {d.initial_stage} | {h.dest for h in j.history}
        entered.update(seen)
        moves.update((h.source, h.dest, h.trigger) for h in j.history)
        deepest.append(max((order.index(s) for s in seen if s in order), default=-1))
    none = DurationStats(0, None, None)
    reached = {s: sum(1 for k in deepest if k >= i) for i, s in enumerate(order)}
    stats = []
    for s in order + tuple(s for s in d.stage_names if s not in order):
        i = order.index(s) if s in order else -1
        nxt = order[i + 1] if 0 <= i < len(order) - 1 else None
        r = reached.get(s, entered[s])
        conversion = reached[nxt] / r if nxt is not None and r else None
        drop = r - reached[nxt] if nxt is not None else 0
        stats.append(
            StageStats(s, s in order, entered[s], r, current[s], conversion, drop, none, none)
        )
    return Funnel(
        d.name,
        d.version,
        len(journeys),
        order,
        tuple(stats),
        tuple(
            TransitionCount(s, t_dest, trig, c) for (s, t_dest, trig), c in sorted(moves.items())
        ),
        dict(Counter(h.trigger for j in journeys for h in j.history)),
    )


def test_annotated_mermaid_shows_the_counts_of_the_journeys() -> None:
    d = checkout_builder().build()
    journeys = run_customers(d, 60, seed=5)
    parsed = parse_mermaid(to_mermaid(d, funnel=funnel_by_hand(d, journeys)))
    names: dict[str, str] = parsed["names"]  # type: ignore[assignment]
    ids = {v: k for k, v in names.items()}
    for stage in d.stage_names:
        entered = sum(
            1 for j in journeys if stage in {d.initial_stage} | {h.dest for h in j.history}
        )
        now = sum(1 for j in journeys if j.stage == stage)
        assert parsed["notes"][ids[stage]] == f"entered {entered} \u00b7 now {now}"  # type: ignore[index]
    _, _, labels = split_edges(names, parsed["edges"])  # type: ignore[arg-type]
    moved = Counter((h.source, h.trigger, h.dest) for j in journeys for h in j.history)
    for (source, trigger, dest), label in labels.items():
        if source == ANY:  # the wildcard 'note': every internal note move, from any stage
            count = sum(c for (s, t, z), c in moved.items() if t == trigger and s == z)
        else:
            count = moved[source, trigger, dest]
        assert f" \u00b7 {count} move{'' if count == 1 else 's'}" in label, label
        if source not in (dest, ANY):
            left = sum(c for (s, _, z), c in moved.items() if s == source and z != source)
            share = f"({count / left:.1%})" if left else None
            assert share is None or label.endswith(share), label
    assert sum(moved.values()) > 50  # the journeys did move, so the counts were exercised


def test_annotated_dot_and_svg_carry_the_same_counts() -> None:
    d = checkout_builder().build()
    funnel = funnel_by_hand(d, run_customers(d, 30, seed=9))
    dot_labels = [label for _, _, label, _ in parse_dot(to_dot(d, funnel=funnel))["edges"]]  # type: ignore[attr-defined]
    mermaid_labels = [
        mermaid_decode(raw).replace(" \u00b7 ", "\n")
        for _, _, raw in parse_mermaid(to_mermaid(d, funnel=funnel))["edges"]  # type: ignore[attr-defined]
    ]
    assert sorted(dot_labels[1:]) == sorted(mermaid_labels)  # [0] is the start arrow
    svg = ET.fromstring(to_svg(d, funnel=funnel))
    ns = "{http://www.w3.org/2000/svg}"
    stage_counts = {
        g.get("data-stage"): "".join(g.find(f"{ns}text[@class='counts']").itertext())  # type: ignore[union-attr]
        for g in svg.iter(f"{ns}g")
        if (g.get("class") or "").startswith("stage") and g.get("id") != "stage-s_any"
    }
    for s in funnel.stages:
        assert stage_counts[s.stage] == f"entered {s.entered} \u00b7 now {s.current}"


def test_a_funnel_of_another_definition_is_refused() -> None:
    d = checkout_builder().build()
    other = templates.aida()
    with pytest.raises(ValueError, match=r"the funnel is of definition 'aida'.*'checkout'"):
        to_mermaid(d, funnel=funnel_by_hand(other, []))
    partial = funnel_by_hand(d, [])
    partial = Funnel(d.name, d.version, 0, (), partial.stages[:-1], (), {})
    with pytest.raises(ValueError, match=r"no figures for stage.*'abandoned'.*Recompute"):
        to_dot(d, funnel=partial)
    with pytest.raises(TypeError, match="expected a JourneyDefinition, got dict"):
        to_svg(d.to_dict())  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"funnel must be a journeyfsm\.analytics\.Funnel"):
        to_mermaid(d, funnel={"stages": []})  # type: ignore[arg-type]


# -- SVG -----------------------------------------------------------------------------------
SVG = "{http://www.w3.org/2000/svg}"


@pytest.mark.parametrize("name", sorted(DEFINITIONS))
def test_svg_draws_every_stage_once_and_one_path_per_edge(name: str) -> None:
    d = DEFINITIONS[name]()
    root = ET.fromstring(to_svg(d))
    stages = [
        g.get("data-stage")
        for g in root.iter(f"{SVG}g")
        if "stage" in (g.get("class") or "").split()
    ]
    assert sorted(s for s in stages if s != "any non-final stage") == sorted(d.stage_names)
    drawn = Counter(
        (g.get("data-trigger"), g.get("data-kind"))
        for g in root.iter(f"{SVG}g")
        if g.get("class") == "transition"
    )
    edges = expected_edges(d)
    # a timeout is written on the label of the event edge with the same path, if one is drawn
    timeouts = expected_timeouts(d) - Counter(k for k in expected_timeouts(d) if k in edges)
    assert sum(drawn.values()) == sum(edges.values()) + sum(timeouts.values())
    assert Counter(t for (t, _kind) in drawn.elements()) == Counter(
        [t for _, t, _ in edges.elements()] + [t for _, t, _ in timeouts.elements()]
    )
    assert root.find(f".//{SVG}script") is None


def test_svg_stacks_stages_in_the_declared_funnel_order() -> None:
    d = templates.five_stages()
    order = tuple(getattr(d, "funnel", ()) or d.stage_names)
    root = ET.fromstring(to_svg(d))
    ys = {
        g.get("data-stage"): float(g.find(f"{SVG}rect").get("y"))  # type: ignore[union-attr, arg-type]
        for g in root.iter(f"{SVG}g")
        if "stage" in (g.get("class") or "").split()
    }
    listed = [s for s in order if s in ys]
    assert [ys[s] for s in listed] == sorted(ys[s] for s in listed)


def test_funnel_chart_bars_are_proportional_to_reached() -> None:
    d = checkout_builder().build()
    order = ("browsing", "cart", "checkout", "paid")
    funnel = funnel_by_hand(d, run_customers(d, 50, seed=3), order)
    root = ET.fromstring(funnel_svg(funnel))
    bars = {
        g.get("data-stage"): float(g.find(f"{SVG}rect[@class='bar']").get("width"))  # type: ignore[union-attr, arg-type]
        for g in root.iter(f"{SVG}g")
        if g.get("class") == "funnel-stage"
    }
    assert list(bars) == list(order)
    top = max(s.reached for s in funnel.stages if s.in_funnel)
    for s in funnel.stages:
        if s.in_funnel:
            assert bars[s.stage] == pytest.approx(420 * s.reached / top, abs=0.06)
    text = "".join(root.itertext())
    for s in funnel.stages[:3]:
        assert f"{s.drop_off} drop off" in text


def test_format_duration_names_each_unit() -> None:
    assert format_duration(timedelta(days=365)) == "365d"
    assert format_duration(timedelta(hours=1, seconds=5)) == "1h 5s"
    assert format_duration(timedelta(minutes=90)) == "1h 30m"
