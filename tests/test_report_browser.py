"""The HTML report in a real browser: headless Chromium (Debian's ``chromium``).

``make pytest`` installs the package when ``/usr/bin/chromium`` is missing (``make
chromium``); Playwright drives that binary and never downloads a browser.  The page must
load with no script error, no console error and no request beyond the file itself, and
show the diagram with every stage and the funnel chart with a bar per funnel stage.  A
screenshot goes to the test's tmp dir; set ``JOURNEYFSM_REPORT_SCREENSHOT=path.png`` to
keep a copy to look at.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from playwright.sync_api import sync_playwright
from test_export import funnel_by_hand, hostile_definition, run_customers
from test_report import summary_of

from journeyfsm import templates
from journeyfsm.analytics import Breakdown
from journeyfsm.export import write_report

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


def open_report(path: Path, shot: Path) -> dict[str, object]:
    """Load ``path`` in Chromium; what went wrong, what is on the page, and a screenshot."""
    problems: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("pageerror", lambda err: problems.append(f"script error: {err}"))
            page.on(
                "console",
                lambda msg: (
                    problems.append(f"console {msg.type}: {msg.text}")
                    if msg.type in ("error", "warning")
                    else None
                ),
            )
            page.on("requestfailed", lambda req: problems.append(f"failed request: {req.url}"))
            requests: list[str] = []
            page.on("request", lambda req: requests.append(req.url))
            page.goto(path.resolve().as_uri(), wait_until="load")
            found = page.evaluate(
                """() => ({
                    stages: [...document.querySelectorAll('#journey-diagram g.stage')]
                        .map(g => g.dataset.stage),
                    edges: document.querySelectorAll('#journey-diagram g.transition').length,
                    bars: [...document.querySelectorAll('#funnel-chart g.funnel-stage')]
                        .map(g => g.dataset.stage),
                    diagramWidth: document.querySelector('#journey-diagram')
                        .getBoundingClientRect().width,
                    scripts: document.scripts.length,
                    title: document.title,
                })"""
            )
            page.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()
    return {"problems": problems, "requests": requests, **found}


def test_report_renders_in_headless_chromium(tmp_path: Path) -> None:
    d = templates.eight_phases()
    order = d.stage_names[:8]
    journeys = run_customers(d, 80, seed=11)
    funnel = funnel_by_hand(d, journeys, order)
    path = write_report(
        tmp_path / "report.html",
        d,
        funnel=funnel,
        summary=summary_of(d),
        breakdown=Breakdown("data.vip", funnel, {"false": funnel, "true": funnel}),
    )
    shot = tmp_path / "report.png"
    seen = open_report(path, shot)
    assert seen["problems"] == []
    assert seen["requests"] == [path.resolve().as_uri()]
    assert seen["scripts"] == 0
    assert sorted(s for s in seen["stages"] if s != "any non-final stage") == sorted(  # type: ignore[attr-defined]
        d.stage_names
    )
    assert seen["edges"] > len(d.stage_names)  # type: ignore[operator]
    assert seen["bars"] == list(order)
    assert seen["diagramWidth"] > 300  # type: ignore[operator]
    assert shot.stat().st_size > 20_000
    keep = os.environ.get("JOURNEYFSM_REPORT_SCREENSHOT")
    if keep:
        shutil.copyfile(shot, keep)


def test_hostile_names_stay_text_in_the_browser(tmp_path: Path) -> None:
    d = hostile_definition()
    funnel = funnel_by_hand(d, run_customers(d, 10, seed=3), d.stage_names[:3])
    path = write_report(
        tmp_path / "hostile.html", d, funnel=funnel, title="<script>alert(1)</script>"
    )
    seen = open_report(path, tmp_path / "hostile.png")
    assert seen["problems"] == []
    assert seen["scripts"] == 0
    assert seen["title"] == "<script>alert(1)</script>"
    assert sorted(s for s in seen["stages"] if s != "any non-final stage") == sorted(  # type: ignore[attr-defined]
        d.stage_names
    )
