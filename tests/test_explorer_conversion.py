"""The overview's "chance to reach <goal>" column: the absorbing chain of
``journeyfsm.analytics.fit_chain`` over the same store, from move counts the database
aggregates, on SQLite and PostgreSQL; without numpy the column is absent and the page says
how to get it."""

from __future__ import annotations

import random
import re
import sys
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from conftest import START, quiet_logger
from explorer_support import NOW, client_of, fill, postgres_store, sqlite_store, table

from journeyfsm import (
    Context,
    JourneyBuilder,
    JourneyDefinition,
    JourneyMachine,
    JourneyService,
    ManualClock,
    guard,
)
from journeyfsm.analytics import fit_chain
from journeyfsm.analytics._forecast import _reach_counts
from journeyfsm.analytics._funnel import _self_moves
from journeyfsm.explorer import create_app
from journeyfsm.explorer._queries import chain_moves, tables_of


@guard
def quiet(ctx: Context) -> bool:
    """the touch asks to stay in the same stay"""
    return isinstance(ctx.payload, dict) and ctx.payload.get("quiet") is True


def selfish() -> JourneyDefinition:
    """Every kind of same-stage move: ``note`` internal, ``add_to_cart`` a re-entry from
    ``cart``, ``touch`` either (internal when quiet, else a re-entry)."""
    return (
        JourneyBuilder("selfish")
        .funnel("browsing", "cart", "paid")
        .stage("browsing", initial=True)
        .stage("cart")
        .stage("paid", final=True)
        .stage("abandoned")
        .stage("lost", final=True)
        .transition("add_to_cart", "browsing", "cart")
        .transition("add_to_cart", "cart", "cart")
        .transition("touch", "cart", None, guards=[quiet])
        .transition("touch", "cart", "cart")
        .transition("note", "*", None)
        .transition("pay", "cart", "paid")
        .transition("abandon", "cart", "abandoned")
        .transition("come_back", "abandoned", "browsing")
        .transition("give_up", "abandoned", "lost")
        .build()
    )


def walk(store: Any, customers: int = 60, seed: int = 11) -> JourneyMachine:
    clock = ManualClock(START)
    machine = JourneyMachine(selfish(), clock=clock, logger=quiet_logger())
    service = JourneyService(machine, store)
    rng = random.Random(seed)
    finals = set(machine.definition.final_stages)
    stage = dict.fromkeys((f"k{n:03d}" for n in range(customers)), "browsing")
    for _ in range(12):
        for key in stage:
            if stage[key] in finals or rng.random() < 0.3:
                continue
            clock.advance(timedelta(minutes=rng.randint(1, 20)))
            trigger = rng.choice(machine.definition.triggers_from(stage[key]))
            outcome = service.handle(key, trigger, {"quiet": rng.random() < 0.5})
            if outcome.moved and outcome.dest is not None:
                stage[key] = outcome.dest
    return machine


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module")
def stores(
    kind: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[list[tuple[Any, JourneyMachine]]]:
    """The demo shop's store and the same-stage-moves store, of one kind."""
    made = []
    for fill_it in (fill, walk):
        if kind == "sqlite":
            store, close = sqlite_store(tmp_path_factory.mktemp("conversion"))
        else:
            store, close = postgres_store()
        made.append((store, fill_it(store), close))
    yield [(s, m) for s, m, _ in made]
    for _, _, close in made:
        close()


def shown(page: str) -> dict[str, tuple[str, str, float | None]]:
    """stage -> (moves out, the chance cell's text, its exact probability)."""
    rows = table(page, "stages")
    head = rows[0]
    out_at, reach_at = head.index("moves out"), len(head) - 1
    assert head[reach_at].startswith("chance to reach ")
    exact = {
        stage: float(p) if p else None
        for stage, p in re.findall(
            r'<tr data-stage="([^"]+)">.*?<td class="n reach"(?: data-probability="([^"]+)")?>',
            page,
            flags=re.S,
        )
    }
    return {
        r[0].replace(" (not in funnel)", ""): (r[out_at], r[reach_at], exact[r[0].split()[0]])
        for r in rows[1:]
    }


def overview(store: Any, machine: JourneyMachine) -> str:
    app = create_app(store, definitions=[machine], clock=ManualClock(NOW), refresh=0)
    with client_of(app) as client:
        page = client.get("/overview", definition=machine.definition.name)
    assert page.status_code == 200
    return page.text


@pytest.mark.parametrize("which", [0, 1], ids=["demo-shop", "same-stage-moves"])
def test_the_chance_to_reach_the_goal_is_fit_chains(
    stores: list[tuple[Any, JourneyMachine]], which: int
) -> None:
    store, machine = stores[which]
    d = machine.definition
    goal = d.funnel[-1]
    chain = fit_chain(JourneyService(machine, store).journeys(d.name), d)
    truth = chain.reach(goal)
    page = overview(store, machine)
    assert f"chance to reach {goal}" in page
    cells = shown(page)
    assert set(cells) == set(d.stage_names)
    some = 0
    for row in truth.rows:
        n = sum(t.count for t in chain.transitions[row.stage])
        moves_out, text, p = cells[row.stage]
        assert moves_out == str(n), row.stage
        if row.stage == goal:
            assert (text, p) == ("goal", 1.0)
        elif n == 0:
            assert (text, p) == ("-", None), row.stage  # no move seen: no 0%
        else:
            assert p == pytest.approx(row.probability, abs=1e-12), row.stage
            assert text == f"{row.probability:.1%}"
            some += 0 < row.probability < 1
    assert some >= 2  # a chain worth checking: stages that may or may not get there


def test_the_sql_counts_are_the_moves_fit_chain_counts(
    stores: list[tuple[Any, JourneyMachine]],
) -> None:
    store, machine = stores[1]
    d = machine.definition
    journeys = list(JourneyService(machine, store).journeys(d.name))
    chain = fit_chain(journeys, d)
    with store.transaction(write=False) as tx:
        counts = chain_moves(tx, tables_of(store), d.name, _self_moves(d))
    assert counts == {s: {t.dest: t.count for t in ts} for s, ts in chain.transitions.items() if ts}
    # the store holds every kind of same-stage move, and some of them were left out
    recorded = [(h.source, h.trigger) for j in journeys for h in j.history if h.dest == h.source]
    assert {"note", "add_to_cart", "touch"} <= {trig for _, trig in recorded}
    assert counts["cart"]["cart"] < sum(1 for s, t in recorded if t != "note" and s == "cart")


def test_the_algebra_exists_once_reach_and_the_counts_agree() -> None:
    counts = {"a": {"b": 1, "c": 3}, "b": {"a": 1, "d": 1}}
    r = _reach_counts(("a", "b", "c", "d"), counts, {"c", "d"}, "c")
    # from a: 3/4 straight to c, 1/4 to b, from which 1/2 back to a: p = 3/4 + 1/8 p
    assert r.row("a").probability == pytest.approx(6 / 7)
    assert r.row("b").probability == pytest.approx(3 / 7)
    assert r.row("d").probability == 0.0 and r.row("c").probability == 1.0
    assert r.row("a").expected_time is None  # no times given: none computed


def test_without_numpy_the_column_is_absent_and_the_page_says_how_to_get_it(
    stores: list[tuple[Any, JourneyMachine]], monkeypatch: pytest.MonkeyPatch
) -> None:
    store, machine = stores[0]
    monkeypatch.setitem(sys.modules, "numpy", None)  # `import numpy` raises ImportError
    with pytest.raises(ImportError):
        import numpy  # noqa: F401
    page = overview(store, machine)
    head = table(page, "stages")[0]
    assert head == ["stage", "now", "entered", "reached", "conversion to next", "drop-off"]
    assert 'class="n reach"' not in page and 'id="reach-method"' not in page
    note = re.search(r'<div class="box" id="reach-missing"><p>(.*?)</p>', page)
    assert note is not None
    assert "needs numpy: pip install &#39;journeyfsm[forecast]&#39;" in note[1]
    monkeypatch.undo()  # numpy back: the column is back on the next count
    assert 'class="n reach"' in overview(store, machine)
