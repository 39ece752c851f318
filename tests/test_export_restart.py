"""Diagrams and the explorer draw the re-entry edge: each final stage an entry rule lets
start again -> the initial stage, labelled with the rule."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import START, quiet_logger
from explorer_support import client_of
from test_reentry import definition

from journeyfsm import JourneyMachine, JourneyService, ManualClock
from journeyfsm.analytics import funnel
from journeyfsm.explorer import create_app
from journeyfsm.export import build_diagram, to_dot, to_mermaid, to_svg
from journeyfsm.stores import SQLiteStore

RULES = [
    ("once_at_a_time", "re-entry (once_at_a_time)"),
    (timedelta(days=30), "re-entry (cooldown 30d)"),
]


def restarts(d: Any) -> list[tuple[str, str, str]]:
    g = build_diagram(d)
    names = {n.id: n.stage for n in g.nodes}
    return [(names[e.source], names[e.dest], e.label) for e in g.edges if e.kind == "restart"]


@pytest.mark.parametrize(("entry", "label"), RULES)
def test_each_final_stage_that_can_restart_has_one_edge_to_the_initial_stage(
    entry: Any, label: str
) -> None:
    assert restarts(definition(entry)) == [("won", "new", label), ("lost", "new", label)]


def test_the_default_once_draws_no_restart() -> None:
    d = definition("once")
    assert restarts(d) == []
    assert "re-entry (" not in to_mermaid(d) + to_dot(d) + to_svg(d)


@pytest.mark.parametrize(("entry", "label"), RULES)
def test_every_format_draws_it(entry: Any, label: str) -> None:
    d = definition(entry)
    mermaid = to_mermaid(d)
    assert f"s2 --> s0 : {label}" in mermaid and f"s3 --> s0 : {label}" in mermaid
    dot = to_dot(d)
    assert re.search(rf'"s2" -> "s0" \[label="{re.escape(label)}", style=dotted', dot)
    svg = to_svg(d)
    assert svg.count('data-kind="restart"') == 2 and svg.count(label) == 2


def test_a_funnel_counts_the_restarts_on_the_edge(tmp_path: Path) -> None:
    clock = ManualClock(START)
    m = JourneyMachine(definition("once_at_a_time"), clock=clock, logger=quiet_logger())
    service = JourneyService(m, SQLiteStore(tmp_path / "j.db", create_schema=True))
    for key in ("a", "b"):
        service.handle(key, "open")
        service.handle(key, "buy")
    service.handle("a", "open")
    f = funnel(list(service.journeys()), m.definition)
    edge = next(e for e in build_diagram(m.definition, funnel=f).edges if e.kind == "restart")
    assert edge.count == 1


def test_the_explorer_overview_draws_the_restart_edge(tmp_path: Path) -> None:
    clock = ManualClock(START)
    m = JourneyMachine(definition(timedelta(days=30)), clock=clock, logger=quiet_logger())
    store = SQLiteStore(tmp_path / "j.db", create_schema=True)
    service = JourneyService(m, store)
    service.handle("a", "open")
    service.handle("a", "buy")
    app = create_app(store, definitions=[m], clock=clock, refresh=0)
    with client_of(app) as client:
        page = client.get("/overview", definition="promo")
    assert page.status_code == 200
    assert page.text.count('data-kind="restart"') == 2
    assert "re-entry (cooldown 30d)" in page.text
