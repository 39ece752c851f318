"""Replay of event logs, checked against a small reference model written here (plain
loops over the generated rows: sort per journey, fire what is due, dedupe ids, look the
move up in a hand-written table), never against the code under test."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import logging
import re
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import attrs
import pytest
from conftest import quiet_logger
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from journeyfsm import Context, JourneyBuilder, JourneyDefinition, JourneyMachine, guard
from journeyfsm.analytics import (
    BadRowError,
    LogMapping,
    MappingError,
    ReplayError,
    ReplaySummary,
    _csvlog,
    _mapping,
    _ordering,
    replay,
)

UTC = timezone.utc
T0 = datetime(2026, 3, 1, tzinfo=UTC)
BERLIN = ZoneInfo("Europe/Berlin")


@guard
def has_total(ctx: Context) -> bool:
    """the payment names a total"""
    return "total" in ctx.payload


def shop() -> JourneyDefinition:
    return (
        JourneyBuilder("shop")
        .stage("visitor", initial=True)
        .stage("browsing")
        .stage("cart")
        .stage("abandoned")
        .stage("paid", final=True)
        .transition("visit", "visitor", "browsing")
        .transition("add_to_cart", "browsing", "cart")
        .transition("add_to_cart", "cart", None)
        .transition("checkout", "cart", "paid", guards=[has_total])
        .transition("abandon", "cart", "abandoned")
        .transition("come_back", "abandoned", "cart")
        .transition("leave", "browsing", "visitor")
        .timeout("cart", timedelta(hours=24), "abandon")
        .timeout("browsing", timedelta(hours=48), "leave")
        .build()
    )


EVENTS = {
    "page_view": "visit",
    "add": "add_to_cart",
    "basket_add": "add_to_cart",
    "pay": "checkout",
    "return": "come_back",
}
MAPPING = LogMapping(
    key="customer",
    event="event",
    time="ts",
    event_id="id",
    payload=("total",),
    segments=("channel",),
    triggers=EVENTS,
)


# -- the reference model ---------------------------------------------------------------
# (stage, trigger) -> [(dest or None for internal, needs a total)], in declaration order
TABLE: dict[tuple[str, str], list[tuple[str | None, bool]]] = {
    ("visitor", "visit"): [("browsing", False)],
    ("browsing", "add_to_cart"): [("cart", False)],
    ("cart", "add_to_cart"): [(None, False)],
    ("cart", "checkout"): [("paid", True)],
    ("cart", "abandon"): [("abandoned", False)],
    ("abandoned", "come_back"): [("cart", False)],
    ("browsing", "leave"): [("visitor", False)],
}
TIMEOUTS = {
    "cart": [(timedelta(hours=24), "abandon")],
    "browsing": [(timedelta(hours=48), "leave")],
}
WINDOW = 64


def reference(
    rows: list[dict[str, str]], zone: Any, end: datetime | None, first_line: int = 2
) -> dict[str, Any]:
    """What replay must find, computed with plain loops (CSV rows start at line 2)."""
    skipped: Counter[str] = Counter()
    bad: list[int] = []
    events: list[tuple[datetime, int, str, str, str | None, bool]] = []
    for line, row in enumerate(rows, first_line):
        key, name, ts = row["customer"], row["event"], row["ts"]
        if not key or not name or not ts:
            bad.append(line)
            continue
        if name not in EVENTS:
            skipped[name] += 1
            continue
        try:
            at = datetime.fromisoformat(ts)
        except ValueError:
            bad.append(line)
            continue
        at = (at.replace(tzinfo=zone) if at.tzinfo is None else at).astimezone(UTC)
        events.append((at, line, key, EVENTS[name], row["id"] or None, bool(row["total"])))
    counts: dict[str, list[int]] = {}
    journeys: dict[str, dict[str, Any]] = {}
    for at, _line, key, trigger, event_id, total in sorted(events, key=lambda e: (e[0], e[1])):
        j = journeys.get(key)
        if j is None:
            j = journeys[key] = {
                "stage": "visitor", "entered": at, "entry": 0, "fired": 0,
                "ids": [], "moves": [],
            }  # fmt: skip
        _ref_tick(key, j, at, counts)
        _ref_fire(j, trigger, at, event_id, total, counts)
    if end is not None:
        for key, j in journeys.items():
            _ref_tick(key, j, end, counts)
    return {"journeys": journeys, "counts": counts, "skipped": dict(skipped), "bad": bad}


def _ref_fire(
    j: dict[str, Any], trigger: str, at: datetime, event_id: str | None, total: bool,
    counts: dict[str, list[int]],
) -> str:  # fmt: skip
    row = counts.setdefault(trigger, [0, 0, 0, 0, 0])  # moved blocked ignored duplicate timeouts
    if event_id is not None and event_id in j["ids"]:
        row[3] += 1
        return "duplicate"
    cands = TABLE.get((j["stage"], trigger))
    if not cands:
        row[2] += 1
        return "ignored"
    for dest, needs_total in cands:
        if needs_total and not total:
            continue
        j["moves"].append((trigger, j["stage"], dest or j["stage"], at))
        if dest is not None:
            j["stage"], j["entered"], j["entry"], j["fired"] = dest, at, len(j["moves"]), 0
        if event_id is not None:
            j["ids"] = [*j["ids"], event_id][-WINDOW:]
        row[0] += 1
        return "moved"
    row[1] += 1
    return "blocked"


def _ref_tick(key: str, j: dict[str, Any], until: datetime, counts: dict[str, list[int]]) -> None:
    while True:
        pending = TIMEOUTS.get(j["stage"], [])
        if j["fired"] >= len(pending):
            return
        after, trigger = pending[j["fired"]]
        due = j["entered"] + after
        if due > until:
            return
        entry, index = j["entry"], j["fired"]
        _ref_fire(j, trigger, due, f"timeout:shop:{key}:{entry}:{index}", False, counts)
        counts[trigger][4] += 1
        if j["entry"] == entry:
            j["fired"] = index + 1


# -- logs ------------------------------------------------------------------------------
COLUMNS = ["customer", "event", "ts", "id", "total", "channel"]


def write_csv(path: Path, rows: list[dict[str, str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    return path


def write_jsonl(path: Path, rows: list[dict[str, str]]) -> Path:
    # the first line stands for the header; afterwards empty values are left out
    lines = [json.dumps(rows[0])] if rows else []
    lines += [json.dumps({k: v for k, v in r.items() if v != ""}) for r in rows[1:]]
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def row(key: str, event: str, hours: float, **extra: str) -> dict[str, str]:
    ts = (T0 + timedelta(hours=hours)).isoformat()
    base = {"customer": key, "event": event, "ts": ts, "id": "", "total": "", "channel": ""}
    return {**base, **extra}


@st.composite
def shop_logs(draw: st.DrawFn) -> list[dict[str, str]]:
    names = [*EVENTS, "noise", "scroll"]
    out = []
    hour = 0.0
    for _ in range(draw(st.integers(0, 40))):
        hour = draw(st.sampled_from([hour, hour + 1, hour + 30, hour + 60, hour / 2]))
        r = row(draw(st.sampled_from("abcd")), draw(st.sampled_from(names)), hour)
        naive = draw(st.booleans())
        if naive:
            r["ts"] = (T0 + timedelta(hours=hour)).replace(tzinfo=None).isoformat()
        r["id"] = draw(st.sampled_from(["", "", "x1", "x2", "x3"]))
        r["total"] = draw(st.sampled_from(["", "12.50"]))
        r["channel"] = draw(st.sampled_from(["", "email", "ads"]))
        broken = draw(st.sampled_from([None] * 8 + ["customer", "ts", "time"]))
        if broken == "time":
            r["ts"] = "yesterday"
        elif broken is not None:
            r[broken] = ""
        out.append(r)
    return out


def check_against_reference(result: Any, expected: dict[str, Any]) -> None:
    s: ReplaySummary = result.summary
    assert set(result.journeys) == set(expected["journeys"])
    for key, ref in expected["journeys"].items():
        journey = result.journeys[key]
        assert journey.stage == ref["stage"], key
        got = [(e.trigger, e.source, e.dest, e.at) for e in journey.history]
        assert got == ref["moves"], key
    counts = {
        t.trigger: [t.moved, t.blocked, t.ignored, t.duplicate, t.timeouts] for t in s.triggers
    }
    for trigger, row_ in counts.items():
        assert row_ == expected["counts"].get(trigger, [0, 0, 0, 0, 0]), trigger
    assert dict(s.skipped) == expected["skipped"]
    assert [b.line for b in s.bad_rows] == expected["bad"]
    assert s.bad_row_count == len(expected["bad"])
    assert s.timeouts_fired == sum(r[4] for r in expected["counts"].values())
    applied = sum(sum(r[:4]) - r[4] for r in expected["counts"].values())
    assert s.events_applied == applied
    assert s.journeys == len(expected["journeys"])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=shop_logs(),
    fmt=st.sampled_from(["csv", "jsonl"]),
    end_hours=st.sampled_from([None, 0, 50, 500]),
)
def test_replay_matches_the_reference_model(
    rows: list[dict[str, str]], fmt: str, end_hours: int | None, tmp_path_factory: Any
) -> None:
    path = tmp_path_factory.mktemp("log") / f"log.{fmt}"
    (write_csv if fmt == "csv" else write_jsonl)(path, rows)
    end = None if end_hours is None else T0 + timedelta(hours=end_hours)
    mapping = LogMapping.from_dict({**MAPPING.to_dict(), "timezone": "Europe/Berlin"})
    result = replay(shop(), path, mapping, end=end)
    check_against_reference(result, reference(rows, BERLIN, end, 2 if fmt == "csv" else 1))
    assert result.summary.timezone == "Europe/Berlin" and result.summary.end == end


# -- one behaviour at a time -----------------------------------------------------------
def run(tmp_path: Path, rows: list[dict[str, str]], **kwargs: Any) -> Any:
    path = write_csv(tmp_path / "log.csv", rows)
    mapping = kwargs.pop("mapping", MAPPING)
    return replay(kwargs.pop("definition", shop()), path, mapping, **kwargs)


def test_replay_applies_ties_in_file_order(tmp_path: Path) -> None:
    first = [row("a", "page_view", 0), row("a", "add", 1), row("a", "pay", 1, total="5")]
    assert run(tmp_path, first).journeys["a"].stage == "paid"
    second = [row("a", "page_view", 0), row("a", "pay", 1, total="5"), row("a", "add", 1)]
    result = run(tmp_path, second)
    assert result.journeys["a"].stage == "cart"
    assert result.summary.triggers[1].trigger == "add_to_cart"
    checkout = next(t for t in result.summary.triggers if t.trigger == "checkout")
    assert checkout.ignored == 1 and checkout.moved == 0


@pytest.mark.parametrize("chunk", [None, 2])
def test_replay_sorts_unsorted_input_per_journey(
    tmp_path: Path, chunk: int | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    if chunk is not None:  # several sorted runs on disk, merged back
        monkeypatch.setattr(_ordering, "CHUNK", chunk)
    rows = [
        row("b", "add", 5),
        row("a", "page_view", 0),
        row("a", "pay", 3, total="9"),
        row("b", "page_view", 1),
        row("a", "add", 2),
        row("b", "noise", 0),
    ]
    result = run(tmp_path, rows)
    expected = reference(rows, UTC, None)
    check_against_reference(result, expected)
    assert result.journeys["a"].stage == "paid" and result.journeys["b"].stage == "cart"
    assert [e.trigger for e in result.journeys["a"].history] == ["visit", "add_to_cart", "checkout"]


def test_replay_counts_unmapped_events_as_skipped(tmp_path: Path) -> None:
    rows = [row("a", "page_view", 0), row("a", "scroll", 1), row("b", "scroll", 2)]
    rows.append(row("b", "hover", 3))
    s = run(tmp_path, rows).summary
    assert dict(s.skipped) == {"scroll": 2, "hover": 1}
    assert s.skipped_count == 3 and s.events_applied == 1 and s.bad_row_count == 0
    assert s.journeys == 1  # b had no mapped event: no journey


def test_replay_reads_naive_timestamps_in_the_given_zone(tmp_path: Path) -> None:
    rows = [row("a", "page_view", 0), row("a", "add", 1)]
    rows[0]["ts"] = "2026-07-01 12:00:00"  # Berlin summer time: UTC+2
    rows[1]["ts"] = "2026-07-01T13:00:00+00:00"  # aware: taken as it is
    mapping = LogMapping.from_dict({**MAPPING.to_dict(), "timezone": "Europe/Berlin"})
    result = run(tmp_path, rows, mapping=mapping)
    history = result.journeys["a"].history
    assert history[0].at == datetime(2026, 7, 1, 10, tzinfo=UTC)
    assert history[1].at == datetime(2026, 7, 1, 13, tzinfo=UTC)
    assert result.summary.timezone == "Europe/Berlin"
    assert run(tmp_path, rows).journeys["a"].history[0].at.hour == 12  # default: UTC


def test_replay_reads_epoch_seconds_with_time_format_epoch(tmp_path: Path) -> None:
    rows = [row("a", "page_view", 0), row("a", "add", 0)]
    rows[0]["ts"] = str(int(T0.timestamp()))
    rows[1]["ts"] = str(T0.timestamp() + 90.5)
    epoch = attrs.evolve(MAPPING, time_format="epoch")
    history = run(tmp_path, rows, mapping=epoch).journeys["a"].history
    assert [e.at for e in history] == [T0, T0 + timedelta(seconds=90.5)]


def test_replay_counts_bad_rows_with_line_numbers(tmp_path: Path) -> None:
    path = tmp_path / "log.csv"
    path.write_text(
        "customer,event,ts,id,total,channel\n"
        "a,page_view,2026-03-01T00:00:00Z,,,\n"
        ",add,2026-03-01T01:00:00Z,,,\n"  # line 3: no key
        "a,add,soon,,,\n"  # line 4: a time that is no time
        "a,add,2026-03-01T02:00:00Z\n"  # line 5: too few fields
        "\n"  # a blank line: not a row
        "a,,2026-03-01T03:00:00Z,,,\n"  # line 7: no event
        "a,add,2026-03-01T04:00:00Z,,,\n",
        encoding="utf-8",
    )
    result = replay(shop(), path, MAPPING)
    s = result.summary
    assert [(b.line, b.reason) for b in s.bad_rows] == [
        (3, "no journey key ('customer')"),
        (4, "time 'soon' is not an ISO-8601 time (2026-01-05T09:00:00Z, 20260105)"),
        (5, "3 fields, the header has 6"),
        (7, "no event name ('event')"),
    ]
    assert s.rows_read == 6 and s.bad_row_count == 4 and s.events_applied == 2
    assert result.journeys["a"].stage == "cart"


def test_replay_counts_bad_json_lines_with_line_numbers(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    first = {"customer": "a", "event": "page_view", "ts": "2026-03-01T00:00:00Z"}
    path.write_text(
        json.dumps(first)
        + "\n{not json\n[1, 2]\n"
        + json.dumps({**first, "customer": 7, "event": "add"})
        + "\n",
        encoding="utf-8",
    )
    result = replay(shop(), path, {"key": "customer", "event": "event", "time": "ts",
                                   "triggers": EVENTS})  # fmt: skip
    lines = [(b.line, b.reason.split(":")[0]) for b in result.summary.bad_rows]
    assert lines == [(2, "not valid JSON"), (3, "a list, not a JSON object")]
    assert set(result.journeys) == {"a", "7"}  # whole-number keys are written out


def test_strict_replay_stops_at_the_first_bad_row_naming_its_line(tmp_path: Path) -> None:
    rows = [row("a", "page_view", 0), row("a", "add", 1), row("", "add", 2)]
    with pytest.raises(BadRowError, match=r"log\.csv, line 4: no journey key") as err:
        run(tmp_path, rows, strict=True)
    assert err.value.line == 4
    assert run(tmp_path, rows[:2], strict=True).summary.bad_row_count == 0


def test_replay_counts_duplicate_event_ids(tmp_path: Path) -> None:
    rows = [
        row("a", "page_view", 0, id="e1"),
        row("a", "page_view", 1, id="e1"),  # the same delivery again
        row("a", "add", 2, id="e2"),
        row("b", "page_view", 2, id="e1"),  # ids are per journey
    ]
    s = run(tmp_path, rows).summary
    visit = next(t for t in s.triggers if t.trigger == "visit")
    assert (visit.moved, visit.duplicate) == (2, 1)


def test_replay_fires_timeouts_on_the_logs_clock_and_at_end(tmp_path: Path) -> None:
    rows = [
        row("a", "page_view", 0),
        row("a", "add", 1),  # cart at 1 h: abandoned at 25 h
        row("a", "return", 30),  # back in the cart at 30 h
        row("b", "page_view", 0),
        row("b", "add", 1),
    ]
    result = run(tmp_path, rows)
    a = result.journeys["a"]
    assert [(e.trigger, e.at) for e in a.history][2:] == [
        ("abandon", T0 + timedelta(hours=25)),
        ("come_back", T0 + timedelta(hours=30)),
    ]
    assert a.history[2].meta == {"timeout": 86400.0}
    assert result.journeys["b"].stage == "cart"  # no end: its timeout is still pending
    assert result.summary.timeouts_fired == 1
    assert any("no end of observation" in w for w in result.summary.warnings)
    ended = run(tmp_path, rows, end=T0 + timedelta(hours=60))
    assert ended.journeys["b"].stage == "abandoned"
    assert ended.journeys["a"].stage == "abandoned"  # 30 h + 24 h <= 60 h
    assert ended.summary.timeouts_fired == 3
    assert not any("no end of observation" in w for w in ended.summary.warnings)


def test_naive_end_is_read_in_the_mappings_zone(tmp_path: Path) -> None:
    rows = [row("a", "page_view", 0), row("a", "add", 0)]
    mapping = LogMapping.from_dict({**MAPPING.to_dict(), "timezone": "Europe/Berlin"})
    end = datetime(2026, 3, 2, 1, 0)  # 00:00 UTC: exactly 24 h after the cart
    result = run(tmp_path, rows, mapping=mapping, end=end)
    assert result.summary.end == T0 + timedelta(hours=24)
    assert result.journeys["a"].stage == "abandoned"


def test_replay_warns_loudly_when_most_events_move_nothing(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    rows = [row(k, "scroll", 0) for k in "abc"] + [row("a", "hover", 1), row("a", "page_view", 2)]
    rows += [row("a", "return", 3), row("a", "return", 4)]
    with caplog.at_level(logging.WARNING, logger="journeyfsm"):
        s = run(tmp_path, rows).summary
    (warning,) = [w for w in s.warnings if "most events" in w]
    assert "6 of 7 usable rows did not" in warning
    assert "unmapped event 'scroll' (3 rows)" in warning
    assert "'come_back' ignored in stage 'browsing' (2)" in warning
    assert any("most events moved no journey" in r.getMessage() for r in caplog.records)


def test_replay_without_trouble_has_no_warning(tmp_path: Path) -> None:
    rows = [row("a", "page_view", 0), row("a", "add", 1), row("a", "pay", 2, total="1")]
    assert run(tmp_path, rows, end=T0 + timedelta(days=9)).summary.warnings == ()


def test_replay_keeps_the_first_segment_value_per_journey(tmp_path: Path) -> None:
    rows = [
        row("a", "scroll", 0, channel="ads"),  # skipped rows still say where a came from
        row("a", "page_view", 1, channel="email"),
        row("b", "page_view", 1),
        row("c", "scroll", 1, channel="ads"),  # no journey: not reported
    ]
    result = run(tmp_path, rows)
    assert result.segments == {"a": {"channel": "ads"}, "b": {}}


def test_a_guard_that_raises_makes_the_row_bad(tmp_path: Path) -> None:
    @guard
    def total_over_10(ctx: Context) -> bool:
        return float(ctx.payload["total"]) > 10

    d = (
        JourneyBuilder("g").stage("cart", initial=True).stage("paid", final=True)
        .transition("checkout", "cart", "paid", guards=[total_over_10]).build()
    )  # fmt: skip
    rows = [row("a", "pay", 0), row("a", "pay", 1, total="20")]
    mapping = attrs.evolve(MAPPING, triggers={"pay": "checkout"})
    for fast in (True, False):
        result = run(tmp_path, rows, definition=d, fast=fast, mapping=mapping)
        (bad,) = result.summary.bad_rows
        assert bad.line == 2 and "total_over_10" in bad.reason and "KeyError" in bad.reason
        assert result.journeys["a"].stage == "paid"


def test_mapping_to_an_unknown_trigger_is_an_error_with_close_matches(tmp_path: Path) -> None:
    mapping = LogMapping("customer", "event", "ts", triggers={"pay": "chekout"})
    with pytest.raises(MappingError, match=r"trigger 'chekout'.*did you mean 'checkout'"):
        run(tmp_path, [row("a", "pay", 0)], mapping=mapping)


def test_a_column_missing_from_the_log_is_named_with_the_columns_there(tmp_path: Path) -> None:
    mapping = LogMapping("customer", "event", "time", triggers=EVENTS)
    with pytest.raises(MappingError, match=r"no column 'time'.*customer, event, ts, id"):
        run(tmp_path, [row("a", "pay", 0)], mapping=mapping)


def test_parquet_without_pyarrow_names_the_extra(tmp_path: Path) -> None:
    path = tmp_path / "log.parquet"
    path.write_bytes(b"PAR1")
    try:
        import pyarrow  # type: ignore[import-not-found,unused-ignore]  # noqa: F401
    except ImportError:
        with pytest.raises(MappingError, match=r"journeyfsm\[parquet\]"):
            replay(shop(), path, MAPPING)
    else:  # pragma: no cover - with pyarrow installed, a broken file is reported by it
        with pytest.raises(Exception):  # noqa: B017
            replay(shop(), path, MAPPING)


def test_mapping_round_trips_through_json(tmp_path: Path) -> None:
    path = tmp_path / "map.json"
    path.write_text(json.dumps(MAPPING.to_dict()), encoding="utf-8")
    assert LogMapping.load(path) == MAPPING
    with pytest.raises(MappingError, match="unknown timezone 'Mars/Base'"):
        LogMapping("k", "e", "t", timezone="Mars/Base")
    with pytest.raises(MappingError, match="needs the column"):
        LogMapping.from_dict({"key": "k", "event": "e"})


def test_replay_checks_its_arguments(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "log.csv", [row("a", "page_view", 0)])
    with pytest.raises(TypeError, match="JourneyMachine or a JourneyDefinition"):
        replay("shop", path, MAPPING)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"end=\.\.\."):
        replay(shop(), path, MAPPING, end="2026-01-01")  # type: ignore[arg-type]
    with pytest.raises(MappingError, match="no such log file"):
        replay(shop(), tmp_path / "nope.csv", MAPPING)
    with pytest.raises(ReplayError, match="cannot tell the format"):
        replay(shop(), tmp_path / "log.txt", MAPPING)


def test_replay_reports_progress_up_to_done(tmp_path: Path) -> None:
    seen: list[float] = []
    run(tmp_path, [row("a", "page_view", 0)], progress=seen.append)
    assert seen and seen[-1] == 1.0 and all(0 <= f <= 1 for f in seen)


def test_machine_journeys_are_the_engine_path_ones(tmp_path: Path) -> None:
    rows = [row("a", "page_view", 0), row("a", "add", 1)]
    machine = JourneyMachine(shop(), logger=quiet_logger())
    result = run(tmp_path, rows, definition=machine)
    assert result.summary.fast_path
    assert result.stage_counts() == {
        "visitor": 0, "browsing": 0, "cart": 1, "abandoned": 0, "paid": 0,
    }  # fmt: skip


def test_docs_replay_page_runs_and_prints_what_it_shows() -> None:
    # tests/test_docs.py executes the core pages; this page is executed here the same way
    page = Path(__file__).resolve().parent.parent / "docs" / "replay.md"
    text = page.read_text(encoding="utf-8")
    fence = re.compile(r"^```(\w*)\n(.*?)^```\n", re.S | re.M)
    found = [(m[1], m[2], text.count("\n", 0, m.start()) + 2) for m in fence.finditer(text)]
    assert sum(lang == "python" for lang, _, _ in found) >= 3
    namespace: dict[str, object] = {"__name__": "docs_replay"}
    for i, (lang, code, line) in enumerate(found):
        if lang != "python":
            continue
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(compile("\n" * (line - 1) + code, str(page), "exec"), namespace)
        if i + 1 < len(found) and found[i + 1][0] == "output":
            assert out.getvalue() == found[i + 1][1], f"docs/replay.md, block at line {line}"


def test_engine_path_sorts_unsorted_input_without_running_hooks_twice(tmp_path: Path) -> None:
    machine = JourneyMachine(shop(), logger=quiet_logger())
    moves: list[tuple[str, str]] = []
    machine.after(lambda ctx: moves.append((ctx.journey.key, ctx.trigger)))
    rows = [row("a", "add", 2), row("a", "page_view", 0), row("b", "page_view", 1)]
    result = run(tmp_path, rows, definition=machine)
    assert not result.summary.fast_path
    assert moves == [("a", "visit"), ("b", "visit"), ("a", "add_to_cart")]
    check_against_reference(result, reference(rows, UTC, None))


def test_csv_with_a_byte_order_mark_reads_its_first_column(tmp_path: Path) -> None:
    path = tmp_path / "excel.csv"
    path.write_bytes("customer,event,ts\na,page_view,2026-03-01T00:00:00Z\n".encode("utf-8-sig"))
    mapping = LogMapping("customer", "event", "ts", triggers=EVENTS)
    assert replay(shop(), path, mapping).journeys["a"].stage == "browsing"


def test_a_strict_definition_policy_is_counted_not_raised_during_replay(tmp_path: Path) -> None:
    strict = attrs.evolve(shop(), policy="strict")
    rows = [row("a", "pay", 0, total="5"), row("a", "page_view", 1)]
    for fast in (True, False):
        s = run(tmp_path, rows, definition=strict, fast=fast).summary
        checkout = next(t for t in s.triggers if t.trigger == "checkout")
        assert checkout.ignored == 1 and s.events_applied == 2


# -- reading CSV rows and times fast, exactly as csv.reader and parse_time do ----------
CSV_PIECES = ["a", "bb", "", ",", ",", "\n", "\n", "\r\n", "\r", '"', '""', " ", "\0", "é"]


@settings(max_examples=300, deadline=None)
@given(
    lines=st.lists(
        st.one_of(
            st.lists(st.sampled_from(["a", "", "bb", "c c"]), min_size=1, max_size=4).map(
                lambda cells: ",".join(cells) + "\n"
            ),
            st.lists(st.sampled_from(CSV_PIECES), max_size=8).map("".join),
        ),
        max_size=30,
    ),
    crlf=st.booleans(),
    block=st.sampled_from([1, 3, 16, 1 << 20]),
    width=st.sampled_from([1, 3]),
)
def test_csv_rows_are_the_rows_and_lines_of_csv_reader(
    lines: list[str], crlf: bool, block: int, width: int
) -> None:
    text = "k,e,t\n" + "".join(lines)
    if crlf:
        text = text.replace("\n", "\r\n")

    def read(rows_of: Any) -> list[Any]:
        out: list[Any] = []
        with io.StringIO(text, newline="") as f:
            header = csv.reader(f)
            next(header)
            rows = rows_of(f, header.line_num)
            try:
                for index, row in enumerate(rows):
                    out.append((row, rows.line(row, index)))
            except csv.Error:
                out.append(("error", rows.line_num))
        return out

    class Reference:  # csv.reader, each row's line counted the plain way
        def __init__(self, f: Any, header_lines: int) -> None:
            self.reader = csv.reader(f)
            self.before = header_lines
            self.last = 0

        def __iter__(self) -> Any:
            for row in self.reader:
                self.start = self.before + self.last + 1
                self.last = self.reader.line_num
                yield row

        def line(self, row: Any, index: int) -> int:
            return self.start

        @property
        def line_num(self) -> int:
            return self.before + self.reader.line_num

    fast = read(lambda f, n: _csvlog.CsvRows(f, n, width, block))
    assert fast == read(Reference)


@pytest.mark.parametrize(
    ("zone", "day"),
    [("Europe/Berlin", datetime(2026, 3, 29)), ("Europe/Berlin", datetime(2026, 10, 25)),
     ("America/New_York", datetime(2026, 11, 1)), ("Australia/Lord_Howe", datetime(2026, 4, 5)),
     ("Australia/Lord_Howe", datetime(2026, 10, 4))],
)  # fmt: skip
def test_time_reader_converts_naive_times_across_a_dst_change(zone: str, day: datetime) -> None:
    tz = ZoneInfo(zone)
    read = _mapping.TimeReader(tz)
    walls = [day + timedelta(minutes=m) for m in range(0, 24 * 60, 7)]
    for _ in range(2):  # the second round reads every hour from the cache
        for wall in walls:
            # the zone's own rule for a naive wall time: fold=0 (first occurrence, and
            # the offset before the change inside a gap)
            offset = wall.replace(tzinfo=tz).utcoffset()
            assert offset is not None
            expected = (wall - offset).replace(tzinfo=UTC)
            for text in (wall.isoformat(), wall.isoformat(sep=" ")):
                got = read(text)
                assert got == expected and got.tzinfo is UTC, (zone, text)
    offsets = {wall.replace(tzinfo=tz).utcoffset() for wall in walls}
    assert len(offsets) == 2  # the day does change its offset


def test_time_reader_reads_aware_iso_and_epoch_times_and_refuses_the_rest() -> None:
    read = _mapping.TimeReader(BERLIN)
    assert read("2026-03-01T10:00:00Z") == datetime(2026, 3, 1, 10, tzinfo=UTC)
    assert read("2026-03-01T10:00:00+01:00") == datetime(2026, 3, 1, 9, tzinfo=UTC)
    epoch = _mapping.TimeReader(BERLIN, "epoch")
    assert epoch("1767225600.5") == datetime(2026, 1, 1, 0, 0, 0, 500000, tzinfo=UTC)
    for bad in ("soon", "2026-13-01", "", "1767225600.5"):
        with pytest.raises(ValueError):
            read(bad)
