"""A definition's goals on its diagrams (Mermaid notes, DOT dashed note nodes, SVG dashed
notes, so the HTML report and the explorer too) and in ``journeyfsm show``: one note per
goal, attached to the stage that meets it, any goal name escaped; a definition without
goals draws exactly what it drew before."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_cli_outbox import _open as open_db
from test_cli_outbox import db
from test_export import SVG, mermaid_decode, parse_dot, parse_mermaid

from journeyfsm import (
    Goal,
    JourneyBuilder,
    JourneyDefinition,
    JourneyMachine,
    JourneyService,
    ManualClock,
    templates,
)
from journeyfsm.cli import main
from journeyfsm.export import to_dot, to_mermaid, to_svg
from journeyfsm.export._graph import build_diagram, goal_text
from journeyfsm.stores import SQLiteStore

Capture = pytest.CaptureFixture[str]
__all__ = ["db"]  # the fixture: a fresh SQLite file or PostgreSQL database


def shop(*goals: Goal) -> JourneyDefinition:
    b = (
        JourneyBuilder("shop")
        .stage("browsing", initial=True)
        .stage("cart")
        .stage("purchased", final=True)
        .stage("converted", final=True)
        .transition("add_to_cart", ["browsing", "cart"], "cart")
        .transition("pay", "cart", "purchased")
        .transition("convert", "cart", "converted")
    )
    for g in goals:
        b = b.goal(g)
    return b.build()


BOUGHT = Goal("bought", stage="purchased", within=timedelta(days=14), since="cart")
CARTED = Goal("carted", stage="cart", within=timedelta(days=1))
PAID = Goal("paid", trigger="pay", within=timedelta(hours=36), since="cart", exit="converted")
GOALS = shop(BOUGHT, CARTED, PAID)
NOTES = {
    "bought": ("purchased", "goal bought: purchased within 14d of cart"),
    "carted": ("cart", "goal carted: cart within 1d of start"),
    "paid": ("cart", "goal paid: trigger 'pay' within 1d 12h of cart, then exit to converted"),
}


def _mermaid_notes(text: str) -> dict[str, tuple[str, str]]:
    names = parse_mermaid("\n".join(line for line in text.splitlines() if "note " not in line))[
        "names"
    ]
    assert isinstance(names, dict)
    found = {}
    for m in re.finditer(r"^    note right of (\w+) : (.*)$", text, re.M):
        label = mermaid_decode(m.group(2))
        found[label.split(":")[0].removeprefix("goal ")] = (names[m.group(1)], label)
    return found


def test_mermaid_writes_one_note_per_goal_beside_the_stage_that_meets_it() -> None:
    text = to_mermaid(GOALS)
    assert _mermaid_notes(text) == NOTES
    assert "    note right of s2 : goal bought#58; purchased within 14d of cart\n" in text


def test_dot_draws_each_goal_as_a_dashed_note_tied_to_its_stage() -> None:
    text = to_dot(GOALS)
    parsed = parse_dot(text)
    nodes, edges = parsed["nodes"], parsed["edges"]
    assert isinstance(nodes, dict) and isinstance(edges, list)
    notes = {i: (label, rest) for i, (label, rest) in nodes.items() if i.startswith("__goal")}
    assert len(notes) == 3 and all("shape=note" in r and "dashed" in r for _, r in notes.values())
    tied = {a: nodes[b][0] for a, b, _, rest in edges if a in notes and "dashed" in rest}
    found = {
        label.split("\n")[0].removeprefix("goal "): (tied[i], label.replace("\n", ": "))
        for i, (label, _) in notes.items()
    }
    assert found == NOTES


def test_svg_draws_each_goal_as_a_dashed_note_under_the_stages() -> None:
    root = ET.fromstring(to_svg(GOALS))
    notes = [g for g in root.iter(f"{SVG}g") if g.get("class") == "goal"]
    found = {g.get("data-goal"): (g.get("data-goal-stage"), "".join(g.itertext())) for g in notes}
    assert found == NOTES
    lowest_stage = max(
        float(r.get("y", 0))
        for g in root.iter(f"{SVG}g")
        if "stage" in (g.get("class") or "").split()
        for r in g.iter(f"{SVG}rect")
    )
    note_tops = [float(g.find(f"{SVG}rect").get("y", 0)) for g in notes]  # type: ignore[union-attr]
    assert min(note_tops) > lowest_stage + 46  # below the last stage box
    width = float(root.get("width", 0))
    assert all(float(g.find(f"{SVG}rect").get("width", 0)) < width for g in notes)  # type: ignore[union-attr]
    assert float(root.get("height", 0)) > max(note_tops) + 24


def test_a_definition_without_goals_draws_no_note() -> None:
    plain = shop()
    assert "note " not in to_mermaid(plain) and "__goal" not in to_dot(plain)
    assert 'class="goal"' not in to_svg(plain)
    assert build_diagram(templates.aida()).goals == ()


goal_names = st.text(min_size=1, max_size=10).filter(lambda s: s.strip() == s and s)


@settings(max_examples=40, deadline=None)
@given(st.lists(goal_names, min_size=1, max_size=3, unique=True))
def test_any_goal_name_is_only_ever_a_label(names: list[str]) -> None:
    d = shop(*(Goal(n, stage="purchased", within=timedelta(days=1), since="cart") for n in names))
    mermaid = [
        mermaid_decode(m.group(1))
        for m in re.finditer(r"^    note right of s2 : (.*)$", to_mermaid(d), re.M)
    ]
    assert mermaid == [f"goal {n}: purchased within 1d of cart" for n in names]
    dot = parse_dot(to_dot(d))["nodes"]
    assert isinstance(dot, dict)
    labels = [dot[f"__goal_{i}"][0] for i in range(len(names))]
    assert labels == [
        f"goal {n.replace(chr(13) + chr(10), chr(10)).replace(chr(13), chr(10))}\n"
        "purchased within 1d of cart"
        for n in names
    ]
    root = ET.fromstring(to_svg(d))  # well-formed whatever the names
    drawn = [g.get("data-goal") for g in root.iter(f"{SVG}g") if g.get("class") == "goal"]
    assert len(drawn) == len(names)


def test_goal_text_names_the_window_the_clock_and_the_exit() -> None:
    assert goal_text(BOUGHT) == "purchased within 14d of cart"
    assert goal_text(Goal("x", stage="cart", within=timedelta(minutes=90))) == (
        "cart within 1h 30m of start"
    )
    assert goal_text(PAID).endswith(", then exit to converted")


def test_the_html_report_carries_the_goal_notes() -> None:
    from journeyfsm.analytics import funnel
    from journeyfsm.export import html_report

    page = html_report(GOALS, funnel=funnel([], GOALS))
    assert page.count('class="goal"') == 3
    assert "goal bought: purchased within 14d of cart" in page


# -- journeyfsm show ---------------------------------------------------------------------
def run(capsys: Capture, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_show_definition_lists_its_goals(capsys: Capture, tmp_path: Path) -> None:
    path = tmp_path / "shop.json"
    path.write_text(json.dumps(GOALS.to_dict()), encoding="utf-8")
    code, out, _ = run(capsys, "show", str(path))
    assert code == 0
    tail = out.splitlines()[-4:]
    assert tail == [
        "goals:",
        "  bought  purchased within 14d of cart",
        "  carted  cart within 1d of start",
        "  paid    trigger 'pay' within 1d 12h of cart, then exit to converted",
    ]
    _, out, _ = run(capsys, "show", "aida")
    assert "goals:" not in out


def test_show_key_prints_the_goal_clocks_met_missed_and_pending(capsys: Capture, db: str) -> None:
    clock = ManualClock(datetime(2026, 3, 1, 9, 0, tzinfo=timezone.utc))
    store = open_db(db)
    service = JourneyService(JourneyMachine(GOALS, clock=clock), store)
    service.handle("ann", "add_to_cart")
    service.handle("bob", "add_to_cart")
    clock.advance(timedelta(days=2))
    service.handle("ann", "pay")  # paid was missed at 1d 12h, bought met
    store.close()
    code, out, _ = run(capsys, "show", "ann", "--db", db)
    assert code == 0
    lines = out.splitlines()
    assert lines[2:6] == [  # by goal name, whatever order the store keeps
        "goals:",
        "  bought  met      at 2026-03-03T09:00:00+00:00 (deadline 2026-03-15T09:00:00+00:00)",
        "  carted  met      at 2026-03-01T09:00:00+00:00 (deadline 2026-03-02T09:00:00+00:00)",
        "  paid    missed   at 2026-03-02T21:00:00+00:00",
    ]
    assert lines[-1].endswith("journeyfsm.goal: purchased -> purchased  goal bought met")
    assert "journeyfsm.goal: cart -> cart  goal paid missed" in out
    _, out, _ = run(capsys, "show", "bob", "--db", db)
    pending = [line for line in out.splitlines() if line.startswith("  bought")]
    assert pending == [
        "  bought  pending  until 2026-03-15T09:00:00+00:00 (clock since "
        "2026-03-01T09:00:00+00:00) (deadline passed: the next tick records the miss)"
    ]
    _, out, _ = run(capsys, "show", "bob", "--db", db, "--json")
    (shown,) = json.loads(out)
    assert shown["goals"]["bought"] == {
        "status": "pending",
        "since": "2026-03-01T09:00:00+00:00",
        "deadline": "2026-03-15T09:00:00+00:00",
        "at": None,
    }


def test_show_key_of_a_definition_without_goals_prints_no_goals(
    capsys: Capture, tmp_path: Path
) -> None:
    db = str(tmp_path / "a.db")
    store = SQLiteStore(db, create_schema=True)
    JourneyService(JourneyMachine(templates.aida()), store).handle("c-1", "engage")
    store.close()
    _, out, _ = run(capsys, "show", "c-1", "--db", db)
    assert "goals:" not in out
    _, out, _ = run(capsys, "show", "c-1", "--db", db, "--json")
    assert json.loads(out)[0]["goals"] is None


def test_the_explorer_overview_draws_the_goal_notes(tmp_path: Path) -> None:
    from explorer_support import client_of

    from journeyfsm.explorer import create_app

    store = SQLiteStore(tmp_path / "g.db", create_schema=True)
    try:
        JourneyService(JourneyMachine(GOALS), store).handle("ann", "add_to_cart")
        with client_of(create_app(store, definitions=[GOALS])) as client:
            page = client.get("/overview", definition="shop")
        assert page.status_code == 200
        assert page.text.count('class="goal"') == 3
        assert 'data-goal="paid" data-goal-stage="cart"' in page.text
        assert "goal paid: trigger &#x27;pay&#x27; within 1d 12h of cart" in page.text
    finally:
        store.close()


def test_the_explorer_journey_page_lists_the_goal_clocks(tmp_path: Path) -> None:
    from explorer_support import client_of

    from journeyfsm.explorer import create_app

    store = SQLiteStore(tmp_path / "g.db", create_schema=True)
    clock = ManualClock(datetime(2026, 3, 1, 9, 0, tzinfo=timezone.utc))
    try:
        service = JourneyService(JourneyMachine(GOALS, clock=clock), store)
        service.handle("ann", "add_to_cart")
        with client_of(create_app(store, definitions=[GOALS])) as client:
            page = client.get("/journey", definition="shop", key="ann").text
            plain = client.get("/journey", definition="shop", key="nobody").text
        rows = re.findall(r'<tr data-goal="(\w+)"><td>\w+</td><td>(\w+)( <span)?', page)
        assert rows == [
            ("bought", "pending", " <span"),
            ("carted", "met", ""),
            ("paid", "pending", " <span"),
        ]
        assert "deadline passed: the next tick records the miss" in page
        assert "2026-03-15 09:00:00 UTC" in page
        assert 'id="goals"' not in plain
    finally:
        store.close()


def test_journeyfsm_diagram_draws_the_goals_in_every_format(
    capsys: Capture, tmp_path: Path
) -> None:
    path = tmp_path / "shop.json"
    path.write_text(json.dumps(GOALS.to_dict()), encoding="utf-8")
    _, mermaid, _ = run(capsys, "diagram", str(path))
    assert mermaid == to_mermaid(GOALS) and mermaid.count("note right of") == 3
    _, dot, _ = run(capsys, "diagram", str(path), "--format", "dot")
    assert dot == to_dot(GOALS) and dot.count("shape=note") == 3
    _, svg, _ = run(capsys, "diagram", str(path), "--format", "svg")
    assert svg.count('class="goal"') == 3
