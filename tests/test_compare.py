"""What-if comparison, CSV/JSON exports and the text tables of analytics results.

One event list is applied to two designs of the AIDA journey, as a replay of one log
through two definitions would; the comparison is checked against the two funnels, and
the funnels against counts taken from the event list.
"""

from __future__ import annotations

import csv
import io
import json
import random
import re
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from conftest import quiet_logger

from journeyfsm import JourneyDefinition, JourneyMachine, ManualClock, templates
from journeyfsm.analytics import (
    ALL_GROUP,
    BREAKDOWN_COLUMNS,
    COMPARISON_COLUMNS,
    FUNNEL_COLUMNS,
    Funnel,
    breakdown,
    compare,
    funnel,
    human_duration,
    render_breakdown,
    render_comparison,
    render_funnel,
    to_csv,
    to_json,
    write,
)

T0 = datetime(2026, 3, 2, tzinfo=timezone.utc)
DOCS = Path(__file__).resolve().parent.parent / "docs"


def shortcut() -> JourneyDefinition:
    """AIDA where a customer may go from attention straight to desire, with a 'vip' stage."""
    return (
        templates.aida()
        .builder()
        .transition("want", "attention", "desire")
        .stage("vip", final=True)
        .transition("upgrade", "desire", "vip")
        .funnel("attention", "interest", "desire", "vip", "action")
        .build(name="aida-shortcut", version=2)
    )


def event_log(rng: random.Random, n: int) -> list[tuple[str, datetime, str]]:
    triggers = ["engage", "want", "buy", "lose_interest", "re_engage", "upgrade"]
    log = []
    for i in range(n):
        at = T0
        for _ in range(rng.randrange(0, 6)):
            at += timedelta(hours=rng.randrange(0, 50))
            log.append((f"c-{i}", at, rng.choice(triggers)))
    return log


def replay(log: list[tuple[str, datetime, str]], d: JourneyDefinition) -> tuple[list[Any], int]:
    """Apply the log to ``d`` (unknown triggers skipped); the journeys and the moves."""
    machine = JourneyMachine(d, clock=ManualClock(T0), logger=quiet_logger())
    journeys: dict[str, Any] = {}
    moved = 0
    for key, at, trigger in log:
        journey = journeys.get(key) or journeys.setdefault(key, machine.start(key, at=T0))
        if trigger in d.triggers:
            moved += machine.fire(journey, trigger, at=at).moved
    return list(journeys.values()), moved


@pytest.fixture
def both() -> tuple[Funnel, Funnel, list[tuple[str, datetime, str]]]:
    log = event_log(random.Random(5), 300)
    a_journeys, _ = replay(log, templates.aida())
    b_journeys, _ = replay(log, shortcut())
    return funnel(a_journeys, templates.aida()), funnel(b_journeys, shortcut()), log


def test_comparison_lists_a_stages_then_b_only_stages_with_both_figures(both: Any) -> None:
    a, b, log = both
    result = compare(a, b)
    assert [d.stage for d in result.stages] == [*(s.stage for s in a.stages), "vip"]
    for d in result.stages:
        sa = a.stage(d.stage) if d.stage != "vip" else None
        sb = b.stage(d.stage)
        assert d.reached_a == (None if sa is None else sa.reached)
        assert d.reached_b == sb.reached
        assert d.current_b == sb.current and d.conversion_b == sb.conversion
        assert d.reached_change == (None if sa is None else sb.reached - sa.reached)
    # the shortcut lets customers reach desire without interest: more reach desire
    keys_wanting = {k for k, _, t in log if t == "want"}
    assert result.stages[2].stage == "desire"
    assert result.stages[2].reached_change is not None and result.stages[2].reached_change > 0
    assert result.stages[2].reached_b <= len(keys_wanting)


def test_comparison_figures_count_what_the_log_did(both: Any) -> None:
    a, b, log = both
    keys = {k for k, _, _ in log}  # a journey starts with its first event
    assert a.journeys == b.journeys == len(keys)
    a_journeys, a_moves = replay(log, templates.aida())
    counted = Counter(e.trigger for j in a_journeys for e in j.history)
    assert sum(counted.values()) == a_moves
    assert dict((t, n) for t, n in a.trigger_moves.items() if n) == dict(counted)


def test_comparison_keeps_the_summaries_and_checks_its_arguments(both: Any) -> None:
    a, b, _ = both
    assert compare(a, b).summary_a is None
    with pytest.raises(TypeError, match=r"compare\(b=...\) takes a Funnel, got dict"):
        compare(a, b.to_dict())  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"summary_a=...\) takes a ReplaySummary"):
        compare(a, b, summary_a="x")  # type: ignore[arg-type]


def test_a_stage_only_a_has_is_none_on_bs_side() -> None:
    a = funnel([], shortcut())
    b = funnel([], templates.aida())
    vip = next(d for d in compare(a, b).stages if d.stage == "vip")
    assert (vip.reached_a, vip.reached_b, vip.reached_change) == (0, None, None)


# -- CSV and JSON ----------------------------------------------------------------------


def _csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def _cell(value: Any) -> str:
    return (
        ""
        if value is None
        else ("true" if value is True else "false" if value is False else str(value))
    )


def test_funnel_csv_has_one_row_per_stage_with_the_figures(both: Any) -> None:
    a, _, _ = both
    text = to_csv(a)
    assert text.splitlines()[0] == ",".join(FUNNEL_COLUMNS)
    rows = _csv(text)
    assert [r["stage"] for r in rows] == [s.stage for s in a.stages]
    for row, s in zip(rows, a.stages, strict=True):
        d = s.to_dict()
        assert row["reached"] == str(s.reached) and row["entered"] == str(s.entered)
        assert row["conversion"] == _cell(s.conversion)
        assert row["in_funnel"] == _cell(s.in_funnel)
        for part in ("time_to_stage", "time_in_stage"):
            for figure in ("count", "median_seconds", "p90_seconds"):
                assert row[f"{part}_{figure}"] == _cell(d[part][figure])


def test_breakdown_csv_has_the_total_first_then_each_group() -> None:
    log = event_log(random.Random(9), 120)
    journeys, _ = replay(log, templates.aida())
    result = breakdown(journeys, templates.aida(), by=lambda j: j.key[-1])
    rows = _csv(to_csv(result))
    assert list(rows[0]) == list(BREAKDOWN_COLUMNS)
    stages = len(result.total.stages)
    assert len(rows) == stages * (1 + len(result.groups))
    assert [r["group"] for r in rows[::stages]] == [ALL_GROUP, *result.groups]
    for group, f in [(ALL_GROUP, result.total), *result.groups.items()]:
        mine = [r for r in rows if r["group"] == group]
        assert [int(r["reached"]) for r in mine] == [s.reached for s in f.stages]


def test_comparison_csv_has_one_row_per_stage(both: Any) -> None:
    a, b, _ = both
    result = compare(a, b)
    rows = _csv(to_csv(result))
    assert list(rows[0]) == list(COMPARISON_COLUMNS)
    assert [(r["stage"], r["reached_change"]) for r in rows] == [
        (d.stage, _cell(d.reached_change)) for d in result.stages
    ]


def test_json_export_is_the_records_dict(both: Any) -> None:
    a, b, _ = both
    for result in (a, compare(a, b), breakdown([], templates.aida(), by="data.plan")):
        assert json.loads(to_json(result)) == result.to_dict()


def test_write_chooses_the_format_by_suffix(both: Any, tmp_path: Path) -> None:
    a, _, _ = both
    assert write(a, tmp_path / "f.csv").read_text(encoding="utf-8") == to_csv(a)
    assert json.loads(write(a, tmp_path / "f.JSON").read_text(encoding="utf-8")) == a.to_dict()
    with pytest.raises(ValueError, match=r"suffix '\.txt'; name the file \.csv or \.json"):
        write(a, tmp_path / "f.txt")
    assert not (tmp_path / "f.txt").exists()


def test_exports_refuse_what_they_cannot_write() -> None:
    with pytest.raises(TypeError, match="to_csv takes a Funnel, Breakdown or Comparison, got dict"):
        to_csv({})  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="got list"):
        to_json([])  # type: ignore[arg-type]


def test_analytics_page_documents_the_csv_columns_in_order() -> None:
    text = (DOCS / "analytics.md").read_text(encoding="utf-8")
    for columns in (FUNNEL_COLUMNS, BREAKDOWN_COLUMNS, COMPARISON_COLUMNS):
        assert ", ".join(f"`{c}`" for c in columns) in text


# -- text tables -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, "-"),
        (timedelta(0), "0s"),
        (timedelta(milliseconds=400), "<1s"),
        (timedelta(seconds=59), "59s"),
        (timedelta(seconds=61), "1m 1s"),
        (timedelta(hours=1, seconds=59), "1h"),
        (timedelta(days=3, hours=4, minutes=5), "3d 4h"),
        (timedelta(days=400), "400d"),
        (-timedelta(hours=2), "-2h"),
    ],
)
def test_human_duration_shows_the_two_largest_units(value: timedelta | None, text: str) -> None:
    assert human_duration(value) == text


def _table_is_aligned(lines: list[str]) -> None:
    assert len({len(line) for line in lines}) == 1, lines
    rule = lines[1]
    assert set(rule) <= {"-", " "}
    ends = [m.end() for m in re.finditer(r"-+", rule)]
    for line in lines[2:]:  # numbers are right-aligned: each cell ends where its rule ends
        for end in ends[1:]:
            assert line[end - 1] != " ", (line, end)


def test_render_funnel_aligns_every_column(both: Any) -> None:
    a, _, _ = both
    lines = render_funnel(a).splitlines()
    assert lines[0] == f"aida (version 1): {a.journeys} journeys"
    _table_is_aligned(lines[1:])
    interest = next(line for line in lines if line.startswith("interest"))
    s = a.stage("interest")
    assert interest.split()[1:5] == [
        str(s.entered),
        str(s.reached),
        str(s.current),
        f"{s.conversion * 100:.1f}%",
    ]
    assert any(line.startswith("(lost)") for line in lines)


def test_render_comparison_shows_signed_changes_and_missing_stages(both: Any) -> None:
    a, b, _ = both
    lines = render_comparison(compare(a, b)).splitlines()
    _table_is_aligned(lines[1:])
    desire = next(line for line in lines if line.startswith("desire"))
    assert re.search(r"\s\+\d+\s", desire)
    vip = next(line for line in lines if line.startswith("vip"))
    assert vip.split()[1] == "-"


def test_render_breakdown_titles_each_group() -> None:
    journeys, _ = replay(event_log(random.Random(2), 30), templates.aida())
    result = breakdown(
        journeys, templates.aida(), by=lambda j: "even" if int(j.key[2:]) % 2 else "odd"
    )
    text = render_breakdown(result)
    titles = [line for line in text.splitlines() if line.endswith(" journeys")]
    assert titles == [
        f"aida (version 1), all: {len(journeys)} journeys",
        f"<lambda> = even: {result.groups['even'].journeys} journeys",
        f"<lambda> = odd: {result.groups['odd'].journeys} journeys",
    ]


@pytest.mark.parametrize("render", [render_funnel, render_breakdown, render_comparison])
def test_renderers_refuse_the_wrong_record(render: Any) -> None:
    with pytest.raises(TypeError, match="takes a"):
        render({})


def test_two_live_versions_over_one_log_pair_a_renamed_stage_through_the_migration(
    tmp_path: Path,
) -> None:
    from datetime import datetime, timezone

    from test_service_live_versions import migration, v1, v2

    from journeyfsm.analytics import render_comparison, what_if

    log = tmp_path / "events.csv"
    log.write_text(
        "customer,event,time\n"
        "c1,add,2026-03-01T10:00:00Z\nc1,pay,2026-03-01T10:20:00Z\n"
        "c2,add,2026-03-01T11:00:00Z\nc2,go,2026-03-01T11:05:00Z\n"
        "c2,pay,2026-03-01T11:10:00Z\nc3,add,2026-03-01T12:00:00Z\n",
        encoding="utf-8",
    )
    mapping = {"key": "customer", "event": "event", "time": "time"}
    end = datetime(2026, 3, 2, tzinfo=timezone.utc)
    plain, _, _ = what_if(log, mapping, v1(), v2(), end=end)
    assert [s.stage for s in plain.stages] == [
        "browse", "cart", "paid", "abandoned", "basket", "checkout"
    ]  # fmt: skip
    paired, _, _ = what_if(log, mapping, v1(), v2(), end=end, stages=migration())
    rows = {s.stage: s for s in paired.stages}
    assert list(rows) == ["browse", "cart", "paid", "abandoned", "checkout"]
    cart = rows["cart"]
    assert cart.stage_b == "basket" and cart.to_dict()["stage_b"] == "basket"
    basket = next(s for s in plain.stages if s.stage == "basket")
    assert (cart.reached_b, cart.current_b) == (basket.reached_b, basket.current_b)
    assert (cart.reached_a, rows["paid"].stage_b) == (3, None)
    # version 1 pays from cart; version 2 needs 'go' first: c1 is abandoned there
    assert (rows["abandoned"].current_a, rows["abandoned"].current_b) == (1, 2)
    assert "cart -> basket" in render_comparison(paired)
    with pytest.raises(ValueError, match="funnel a has no stage 'nope'"):
        compare(paired.a, paired.b, stages={"nope": "basket"})
    with pytest.raises(TypeError, match="a mapping of a's stages to b's"):
        compare(paired.a, paired.b, stages=["cart"])  # type: ignore[arg-type]
