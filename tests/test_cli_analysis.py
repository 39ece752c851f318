"""Funnels on the command line: ``replay --by/--compare/--output/--report``, ``funnel --db``,
``demo --report``, and ``analytics.what_if``."""

from __future__ import annotations

import csv
import io
import json
import sys
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from journeyfsm import JourneyBuilder, JourneyMachine, JourneyService, templates
from journeyfsm.analytics import MappingError, what_if
from journeyfsm.cli import main
from journeyfsm.cli._demo import run_demo
from journeyfsm.cli._replay import run_replay
from journeyfsm.stores import SQLiteStore

# c1 buys within a day, c2 after three days, c3 never: a 2-day abandonment timeout
# (the candidate) loses c2 where the 7-day one (today's) keeps it
LOG = """\
customer,event,ts,channel
c1,add,2026-03-01T10:00:00Z,ads
c1,pay,2026-03-01T18:00:00Z,
c2,add,2026-03-01T11:00:00Z,email
c2,pay,2026-03-04T11:00:00Z,
c3,add,2026-03-02T09:00:00Z,ads
c3,scroll,2026-03-02T09:05:00Z,
"""
FLAGS = ["--key", "customer", "--event", "event", "--time", "ts", "--segment", "channel"]
END = ["--end", "2026-04-01T00:00:00Z"]


def cart(days: int) -> Any:
    return (
        JourneyBuilder("cart")
        .stage("browsing", initial=True)
        .stage("cart")
        .stage("lost", final=True)
        .stage("paid", final=True)
        .transition("add", "browsing", "cart")
        .transition("pay", "cart", "paid")
        .transition("give_up", "cart", "lost")
        .timeout("cart", timedelta(days=days), "give_up")
        .funnel("browsing", "cart", "paid")
        .build()
    )


TODAY = cart(7)
CANDIDATE = cart(2)


@pytest.fixture
def log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "shop_defs.py").write_text(
        "from tests.test_cli_analysis import TODAY, CANDIDATE\n", encoding="utf-8"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "shop_defs", raising=False)
    path = tmp_path / "events.csv"
    path.write_text(LOG, encoding="utf-8")
    return path


def call(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = run_replay(list(argv), out, err)
    return code, out.getvalue(), err.getvalue()


def test_replay_prints_the_funnel_after_the_summary(log: Path) -> None:
    code, out, err = call(str(log), "--definition", "shop_defs:TODAY", *FLAGS, *END)
    assert code == 0, err
    rows = {line.split()[0]: line.split()[1:4] for line in out.splitlines() if line.strip()}
    # entered, reached, current: computed by hand from LOG
    assert rows["browsing"] == ["3", "3", "0"]
    assert rows["cart"] == ["3", "3", "0"]
    assert rows["paid"] == ["2", "2", "2"]
    assert rows["(lost)"] == ["1", "1", "1"]


def test_replay_json_writes_funnel_breakdown_csv_and_report(log: Path, tmp_path: Path) -> None:
    out_csv, report = tmp_path / "funnel.csv", tmp_path / "report.html"
    code, out, err = call(
        str(log),
        "--definition",
        "shop_defs:TODAY",
        *FLAGS,
        *END,
        "--by",
        "log.channel",
        "--output",
        str(out_csv),
        "--report",
        str(report),
        "--json",
    )
    assert code == 0, err
    data = json.loads(out)
    funnel = data["funnel"]
    assert funnel["journeys"] == 3
    assert {s["stage"]: s["current"] for s in funnel["stages"]} == {
        "browsing": 0,
        "cart": 0,
        "paid": 2,
        "lost": 1,
    }
    groups = data["breakdown"]["groups"]
    assert sorted(groups) == ["ads", "email"]
    assert groups["ads"]["journeys"] == 2 and groups["email"]["journeys"] == 1
    assert data["files"] == {"output": str(out_csv), "report": str(report)}
    with out_csv.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    # the breakdown's CSV: a total per stage, then one row per stage per group
    assert Counter(r["group"] for r in rows) == Counter({"(all)": 4, "ads": 4, "email": 4})
    page = report.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and "log.channel" in page
    assert f"wrote {out_csv}" in err and f"report: {report}" in err  # stdout stays JSON


def test_replay_compare_counts_both_designs_on_the_same_events(log: Path) -> None:
    code, out, err = call(
        str(log),
        "--definition",
        "shop_defs:TODAY",
        "--compare",
        "shop_defs:CANDIDATE",
        *FLAGS,
        *END,
        "--json",
    )
    assert code == 0, err
    stages = {s["stage"]: s for s in json.loads(out)["comparison"]["stages"]}
    assert (stages["paid"]["current_a"], stages["paid"]["current_b"]) == (2, 1)
    assert (stages["lost"]["current_a"], stages["lost"]["current_b"]) == (1, 2)
    assert stages["paid"]["reached_change"] == -1


def test_replay_compare_with_a_mapping_the_candidate_cannot_read_exits_2(
    log: Path, tmp_path: Path
) -> None:
    renamed = tmp_path / "renamed.json"
    renamed.write_text(
        json.dumps({"key": "customer", "event": "event", "time": "ts", "triggers": {"pay": "x"}}),
        encoding="utf-8",
    )
    code, _, err = call(
        str(log),
        "--definition",
        "shop_defs:TODAY",
        "--compare",
        "shop_defs:CANDIDATE",
        "--compare-map",
        str(renamed),
        *FLAGS,
    )
    assert code == 2
    assert "'x'" in err


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        (["--by", "data.plan"], "data.plan"),
        (["--by", "nonsense"], "nonsense"),
        (["--output", "funnel.xlsx"], "funnel.xlsx"),
    ],
)
def test_replay_analysis_mistakes_exit_2_naming_them(
    log: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, extra: list[str], fragment: str
) -> None:
    monkeypatch.chdir(tmp_path)
    code, _, err = call(str(log), "--definition", "shop_defs:TODAY", *FLAGS, *extra)
    assert code == 2
    assert fragment in err and "Traceback" not in err


def test_what_if_takes_a_second_mapping_for_a_renamed_trigger(log: Path) -> None:
    renamed = (
        TODAY.builder()
        .remove_transitions("pay", source="cart")
        .transition("checkout", "cart", "paid")
        .build()
    )
    mapping = {"key": "customer", "event": "event", "time": "ts"}
    with pytest.raises(MappingError):
        what_if(log, {**mapping, "triggers": {"pay": "pay"}}, TODAY, renamed)
    comparison, a, b = what_if(
        log,
        {**mapping, "triggers": {"add": "add", "pay": "pay"}},
        TODAY,
        renamed,
        mapping_b={**mapping, "triggers": {"add": "add", "pay": "checkout"}},
        end=datetime(2026, 4, 1, tzinfo=timezone.utc),
    )
    assert {k: j.stage for k, j in a.journeys.items()} == {
        k: j.stage for k, j in b.journeys.items()
    }
    assert all(s.reached_change in (0, None) for s in comparison.stages)
    assert comparison.summary_a is a.summary and comparison.summary_b is b.summary


# -- journeyfsm funnel --db ------------------------------------------------------------------
def stored(tmp_path: Path) -> tuple[Path, Counter[str]]:
    db = tmp_path / "journeys.db"
    store = SQLiteStore(str(db), create_schema=True)
    service = JourneyService(JourneyMachine(templates.aida()), store)
    t0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
    plan = {"c1": ["engage", "want", "buy"], "c2": ["engage", "want"], "c3": ["engage"]}
    try:
        for n, (key, triggers) in enumerate(plan.items()):
            for m, trigger in enumerate(triggers):
                service.handle(key, trigger, at=t0 + timedelta(hours=n, minutes=m))
    finally:
        store.close()
    stages = {"engage": "interest", "want": "desire", "buy": "action"}
    return db, Counter(stages[triggers[-1]] for triggers in plan.values())


def run_main(*argv: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_funnel_from_a_store_counts_every_stored_journey(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db, now = stored(tmp_path)
    code, out, err = run_main(
        "funnel", "--db", str(db), "--definition", "aida", "--json", capsys=capsys
    )
    assert code == 0, err
    funnel = json.loads(out)["funnel"]
    assert funnel["journeys"] == 3
    assert {s["stage"]: s["current"] for s in funnel["stages"] if s["current"]} == dict(now)
    reached = {s["stage"]: s["reached"] for s in funnel["stages"]}
    assert (reached["interest"], reached["desire"], reached["action"]) == (3, 2, 1)


def test_funnel_from_a_store_prints_a_table_and_writes_a_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db, _ = stored(tmp_path)
    report = tmp_path / "aida.html"
    code, out, err = run_main(
        "funnel", "--db", str(db), "--definition", "aida", "--report", str(report), capsys=capsys
    )
    assert code == 0, err
    assert "interest" in out and f"report: {report}" in out
    assert "desire" in report.read_text(encoding="utf-8")


def test_funnel_of_a_store_without_the_definition_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db, _ = stored(tmp_path)
    code, out, _ = run_main(
        "funnel", "--db", str(db), "--definition", "eight-phases", capsys=capsys
    )
    assert code == 1
    assert "no journey of 'eight-phases'" in out


def test_funnel_by_an_unknown_field_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db, _ = stored(tmp_path)
    code, _, err = run_main(
        "funnel", "--db", str(db), "--definition", "aida", "--by", "data.plan", capsys=capsys
    )
    assert code == 2
    assert "data.plan" in err


def test_demo_writes_a_report_of_its_stored_journeys(tmp_path: Path) -> None:
    out = io.StringIO()
    path = tmp_path / "demo.html"
    result = run_demo(seed=3, customers=12, out=out, report=str(path))
    assert result.report == str(path.resolve())
    assert out.getvalue().rstrip().endswith(f"report: {path.resolve()}")
    page = path.read_text(encoding="utf-8")
    assert "12 customers" in page
    for stage, n in result.stages.items():
        assert stage in page
        if n:
            assert f"now {n}" in page


def test_replay_into_a_store_then_funnel_from_it_counts_the_same(
    log: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "replayed.db"
    argv = [str(log), "--definition", "shop_defs:TODAY", *FLAGS, *END, "--db", str(db)]
    code, out, err = call(*argv, "--json")
    assert code == 0, err
    replayed = json.loads(out)
    assert replayed["files"]["db"] == str(db)
    assert f"stored 3 journeys in {db}" in err

    again, _, err = call(*argv)
    assert again == 1
    assert "--replace" in err
    assert call(*argv, "--replace")[0] == 0

    code, out, err = run_main(
        "funnel", "--db", str(db), "--definition", "shop_defs:TODAY", "--json", capsys=capsys
    )
    assert code == 0, err
    assert json.loads(out)["funnel"] == replayed["funnel"]
    store = SQLiteStore(str(db))
    try:
        service = JourneyService(JourneyMachine(TODAY), store)
        assert service.get("c3").stage == "lost"  # the timeout fired on the log's clock
        assert [e.trigger for e in service.history("c3")] == ["add", "give_up"]
        with store.transaction(write=False) as tx:
            assert not any(tx.outbox_counts("cart").values())  # imported moves run no effects
    finally:
        store.close()
