"""The guide docs/measuring.md runs as written on the sample log in examples/data/, its
numbers agree with a plain count of the CSV, and the report it writes renders in Chromium."""

from __future__ import annotations

import contextlib
import csv
import io
import runpy
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
import structlog
from test_docs import blocks
from test_report_browser import open_report

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "examples" / "data"


@pytest.fixture(autouse=True)
def unconfigured_structlog() -> Iterator[None]:
    structlog.reset_defaults()
    yield
    structlog.reset_defaults()


@pytest.fixture(scope="module")
def guide() -> dict[str, Any]:
    """Run every python block of the guide from the repository root; its namespace."""
    found = blocks("measuring.md")
    namespace: dict[str, Any] = {"__name__": "docs_measuring"}
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(ROOT)
        for i, (lang, code, line) in enumerate(found):
            if lang != "python":
                continue
            out = io.StringIO()
            with contextlib.redirect_stdout(out):
                exec(compile("\n" * (line - 1) + code, "docs/measuring.md", "exec"), namespace)
            if i + 1 < len(found) and found[i + 1][0] == "output":
                assert out.getvalue() == found[i + 1][1], f"measuring.md, block at line {line}"
    return namespace


def test_the_committed_sample_log_is_what_its_generator_writes() -> None:
    make = runpy.run_path(str(DATA / "make_shop_events.py"))
    out = io.StringIO()
    make["write"](out)
    assert (DATA / "shop_events.csv").read_text(encoding="utf-8") == out.getvalue()


def test_the_guide_runs_and_prints_what_it_shows(guide: dict[str, Any]) -> None:
    assert guide["result"].summary.journeys == 298
    assert guide["page"].is_file()


def test_the_guide_numbers_agree_with_a_plain_count_of_the_csv(guide: dict[str, Any]) -> None:
    mapped = set(guide["mapping"].triggers)
    with (DATA / "shop_events.csv").open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    # an unmapped event is skipped before its time is read; a mapped one with a broken
    # time is a bad row
    usable = [r for r in rows if r["time"] != "not a time" and r["event"] in mapped]
    customers = {r["customer"] for r in usable}
    summary = guide["result"].summary
    assert summary.rows_read == len(rows)
    assert summary.skipped_count == sum(r["event"] not in mapped for r in rows)
    assert summary.bad_row_count == sum(
        r["event"] in mapped and r["time"] == "not a time" for r in rows
    )
    assert summary.journeys == len(customers) == guide["today"].journeys
    first_channel: dict[str, str] = {}
    for r in usable:
        if r["channel"]:
            first_channel.setdefault(r["customer"], r["channel"])
    by_channel = guide["by_channel"]
    for channel, f in by_channel.groups.items():
        assert f.journeys == sum(c == channel for c in first_channel.values())
    # a customer reached purchase iff the replay recorded an order_paid move for them
    bought = {
        k
        for k, j in guide["result"].journeys.items()
        if any(e.dest == "purchase" for e in j.history)
    }
    assert guide["today"].stage("purchase").reached == len(bought)


def test_the_guide_report_renders_in_headless_chromium(
    guide: dict[str, Any], tmp_path: Path
) -> None:
    found = open_report(guide["page"], tmp_path / "shop.png")
    assert found["problems"] == [] and found["scripts"] == 0
    assert set(guide["shop"].stage_names) <= set(found["stages"])  # type: ignore[arg-type]
    assert found["bars"] == list(guide["shop"].funnel)


def test_the_cdnow_check_agrees_with_a_plain_count_of_the_file(guide: dict[str, Any]) -> None:
    # the namespace holds the last check: the cut of 1998-02-01, 90 days ahead; counted
    # here from the raw file with no journey: a customer is a repeat buyer at the cut when
    # they bought on two days or more and on one of the 90 days before it
    raw = guide["raw"].read_text(encoding="ascii").split("\n")
    assert raw[0].split() == ["customer_id", "date", "number_of_cds", "dollar_value"]
    purchases: dict[str, set[date]] = {}
    for line in raw[1:]:
        if line.strip():
            customer, day, _cds, _dollars = line.split()
            purchases.setdefault(customer, set()).add(
                date(int(day[:4]), int(day[4:6]), int(day[6:]))
            )
    assert len(purchases) == 23_570 == guide["whole"].summary.journeys
    cut, ahead = date(1998, 2, 1), timedelta(days=90)
    assert guide["cutoff"].date() == cut and guide["horizon"] == ahead
    in_flight, came_back = 0, 0
    for days in purchases.values():
        before = sorted(d for d in days if d < cut)
        if len(before) >= 2 and before[-1] > cut - ahead:
            continue  # a repeat buyer now
        in_flight += 1
        came_back += any(cut <= d < cut + ahead for d in days)
    assert in_flight == len(guide["in_flight"]) == 19_610
    assert came_back == guide["actual"] == 1_924
