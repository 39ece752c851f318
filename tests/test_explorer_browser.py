"""The explorer in a real browser: headless Chromium (Debian's ``chromium``, driven by
Playwright, which never downloads a browser), with JavaScript switched off, against
``journeyfsm serve`` on 127.0.0.1 over a store the demo filled.

The walk: the definitions page, a click to the overview (its numbers must be the
store's), a click to a journey (its stage, moves and events must be the store's), the
search form, the outbox.  No page may log a console error (a Content-Security-Policy
violation would), fail a request, or hold a script.  Screenshots go to the test's tmp
dir; set ``JOURNEYFSM_EXPLORER_SCREENSHOTS=DIR`` to keep copies.
"""

from __future__ import annotations

import io
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from explorer_support import HOSTILE_KEY, HOSTILE_NOTE, fill, serving
from playwright.sync_api import Page, sync_playwright

from journeyfsm import JourneyMachine, JourneyService
from journeyfsm.analytics import fit_chain, funnel
from journeyfsm.cli._demo import demo_definition, run_demo
from journeyfsm.stores import SQLiteStore

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


class Browser:
    """One page with JavaScript off that records every problem it meets."""

    def __init__(self, page: Page, shots: Path) -> None:
        self.page = page
        self.shots = shots
        self.problems: list[str] = []
        self.taken: list[Path] = []
        page.on("pageerror", lambda err: self.problems.append(f"script error: {err}"))
        page.on(
            "console",
            lambda msg: (
                self.problems.append(f"console {msg.type}: {msg.text}")
                if msg.type in ("error", "warning")
                else None
            ),
        )
        page.on("requestfailed", lambda req: self.problems.append(f"failed: {req.url}"))
        page.on("dialog", lambda d: self.problems.append(f"dialog: {d.message}"))
        page.on(
            "response",
            lambda r: self.problems.append(f"{r.status}: {r.url}") if r.status >= 400 else None,
        )

    def shot(self, name: str) -> None:
        path = self.shots / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        self.taken.append(path)

    def cells(self, selector: str) -> list[list[str]]:
        rows = self.page.locator(f"{selector} tr")
        out = []
        for i in range(rows.count()):
            out.append([c.strip() for c in rows.nth(i).locator("td").all_inner_texts()])
        return [r for r in out if r]


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Browser]:
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            context = chromium.new_context(
                viewport={"width": 1280, "height": 900}, java_script_enabled=False
            )
            yield Browser(context.new_page(), tmp_path)
        finally:
            chromium.close()
    keep = os.environ.get("JOURNEYFSM_EXPLORER_SCREENSHOTS")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        for shot in tmp_path.glob("*.png"):
            shutil.copyfile(shot, Path(keep) / shot.name)


def truth_of(path: Path) -> dict[str, Any]:
    machine = JourneyMachine(demo_definition())
    store = SQLiteStore(path)
    try:
        journeys = {j.key: j for j in JourneyService(machine, store).journeys("demo-shop")}
        with store.transaction(write=False) as tx:
            outbox = tx.outbox_counts("demo-shop")
    finally:
        store.close()
    return {
        "journeys": journeys,
        "funnel": funnel(journeys.values(), machine.definition),
        "chain": fit_chain(journeys.values(), machine.definition),
        "outbox": outbox,
    }


def test_click_from_the_overview_to_a_journey_and_the_numbers_are_the_stores(
    tmp_path: Path, browser: Browser
) -> None:
    db = tmp_path / "shop.db"
    run_demo(seed=7, customers=40, out=io.StringIO(), db=str(db))
    truth = truth_of(db)
    page = browser.page
    with serving("--db", str(db)) as (url, _):
        page.goto(url)
        browser.shot("home")
        assert page.title() == "journeyfsm explorer"
        page.click("#definitions a:text-is('demo-shop')")
        page.wait_for_load_state()
        browser.shot("overview")
        f = truth["funnel"]
        assert page.inner_text("#journey-total") == str(f.journeys) == "40"
        shown = {r[0].replace(" (not in funnel)", ""): r[1:] for r in browser.cells("#stages")}
        assert {stage: cells[:5] for stage, cells in shown.items()} == {
            s.stage: [
                str(s.current),
                str(s.entered),
                str(s.reached),
                "-" if s.conversion is None else f"{s.conversion:.1%}",
                str(s.drop_off),
            ]
            for s in f.stages
        }
        # the chance to reach the funnel's last stage: fit_chain's, with its moves out
        chain, goal = truth["chain"], f.order[-1]
        assert page.inner_text("#stages th:last-child") == f"chance to reach {goal}"
        reach = chain.reach(goal)
        expected = {}
        for row in reach.rows:
            n = sum(t.count for t in chain.transitions[row.stage])
            chance = "goal" if row.stage == goal else "-" if n == 0 else f"{row.probability:.1%}"
            expected[row.stage] = [str(n), chance]
        assert {stage: cells[5:] for stage, cells in shown.items()} == expected
        assert any(c[1] not in ("-", "goal", "0.0%") for c in expected.values())
        drawn = page.locator("#diagram g.stage")
        stages = {drawn.nth(i).get_attribute("data-stage") for i in range(drawn.count())}
        assert set(demo_definition().stage_names) <= stages
        assert page.locator("#funnel g.funnel-stage").count() == len(f.order)
        assert page.locator("#diagram svg").bounding_box()["width"] > 300  # type: ignore[index]

        first = page.locator("#recent a").first
        key = first.inner_text()
        first.click()
        page.wait_for_load_state()
        browser.shot("journey")
        journey = truth["journeys"][key]
        assert page.inner_text("#journey-key") == key
        assert page.inner_text("#journey-stage") == journey.stage
        assert page.inner_text("#journey-version") == str(journey.version)
        events = browser.cells("#history")
        assert [(int(r[0]), r[2], r[4]) for r in events] == [
            (e.seq, e.trigger, e.event_id) for e in journey.history
        ]
        assert browser.cells("#path")[-1][0] == journey.stage

        # explain a trigger through the form (a GET: no script involved)
        page.select_option("#trigger", page.locator("#next a").first.inner_text())
        page.click("#explain ~ form button")
        page.wait_for_load_state()
        assert page.locator("#explanation").count() == 1
        browser.shot("explain")

        # the search form goes straight to an exact key
        other = sorted(truth["journeys"])[-1]
        page.fill("#q", other)
        page.press("#q", "Enter")
        page.wait_for_load_state()
        assert page.inner_text("#journey-key") == other

        page.click("header a:text-is('outbox')")
        page.wait_for_load_state()
        browser.shot("outbox")
        counts = truth["outbox"]
        assert counts["done"] > 0
        assert [page.inner_text(f"#count-{s}") for s in ("pending", "dead", "done")] == [
            str(counts["pending"]),
            str(counts["dead"]),
            str(counts["done"]),
        ]
        assert page.locator("script").count() == 0
    assert browser.problems == []
    assert all(p.stat().st_size > 10_000 for p in browser.taken)


def test_hostile_keys_and_data_stay_text_in_the_browser(tmp_path: Path, browser: Browser) -> None:
    db = tmp_path / "hostile.db"
    store = SQLiteStore(db, create_schema=True)
    fill(store, customers=6)
    store.close()
    page = browser.page
    with serving("--db", str(db)) as (url, _):
        page.goto(url)
        page.fill("#q", HOSTILE_KEY)
        page.press("#q", "Enter")
        page.wait_for_load_state()
        browser.shot("hostile")
        assert page.inner_text("#journey-key") == HOSTILE_KEY
        assert json.dumps(HOSTILE_NOTE) in page.inner_text("#journey-data")
        assert page.locator("script").count() == 0 and page.locator("main img").count() == 0
        assert HOSTILE_KEY in page.title()
    assert browser.problems == []
