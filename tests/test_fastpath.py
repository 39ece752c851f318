"""The fast path of replay gives what the engine gives: the same journeys (stage, history
with times, ids and meta, version, event-id window, stage entry, timeouts fired) and the
same summary counts, for random definitions (guards, internal moves, timeouts) and random
logs (gaps, ties, duplicate ids, unmapped events, unsorted rows), as JSON Lines and as
CSV (which the fast path reads in a loop of its own)."""

from __future__ import annotations

import csv
import io
import json
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import attrs
import pytest
from conftest import quiet_logger
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from journeyfsm import JourneyBuilder, JourneyDefinition, JourneyMachine, Timeout, guard
from journeyfsm._packed import LazyJourney
from journeyfsm.analytics import ReplayError, breakdown, funnel, replay
from journeyfsm.testing import definitions

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
KEYS = ["a", "b", "c"]
IDS = ["e1", "e2", "e3", "e4", "e5"]
MAPPING = {"key": "k", "event": "e", "time": "t", "event_id": "id", "payload": ["p"]}
OUTCOMES = ("moved", "blocked", "ignored", "duplicate", "timeouts")
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def with_timeouts(draw: st.DrawFn) -> JourneyDefinition:
    """A random definition, and stage timeouts on some of its stages."""
    d = draw(definitions(max_stages=5, max_triggers=3))
    timeouts = []
    for stage in d.stage_names:
        triggers = d.triggers_from(stage)
        if not triggers:
            continue
        for _ in range(draw(st.integers(0, 2))):
            hours = draw(st.integers(1, 30))
            timeouts.append(Timeout(stage, timedelta(hours=hours), draw(st.sampled_from(triggers))))
    return JourneyDefinition(
        name=d.name,
        stages=d.stages,
        transitions=d.transitions,
        timeouts=timeouts,
        version=d.version,
    )


@st.composite
def logs(draw: st.DrawFn, d: JourneyDefinition) -> list[dict[str, Any]]:
    """Rows with gaps (0 h: ties), duplicate and missing ids, unmapped events, payloads."""
    names = [*d.triggers, "unmapped"]
    rows = []
    hour = 0
    ordered = draw(st.booleans())
    for _ in range(draw(st.integers(0, 25))):
        hour = hour + draw(st.integers(0, 20)) if ordered else draw(st.integers(0, 100))
        row: dict[str, Any] = {
            "k": draw(st.sampled_from(KEYS)),
            "e": draw(st.sampled_from(names)),
            "t": (T0 + timedelta(hours=hour)).isoformat(),
            "p": {f"g{i}": draw(st.booleans()) for i in range(4)},
        }
        event_id = draw(st.one_of(st.none(), st.sampled_from(IDS)))
        if event_id is not None:
            row["id"] = event_id
        rows.append(row)
    return rows


def _write(rows: list[dict[str, Any]], directory: str) -> Path:
    path = Path(directory) / "log.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _counts(result: Any) -> dict[str, Any]:
    out = result.summary.to_dict()
    del out["seconds"], out["fast_path"], out["engine"], out["engine_note"]
    return out


@FUZZ
@given(data=st.data(), d=with_timeouts(), window=st.integers(1, 4), end_hours=st.integers(0, 200))
def test_fast_path_gives_the_journeys_and_counts_of_the_engine(
    data: st.DataObject, d: JourneyDefinition, window: int, end_hours: int
) -> None:
    rows = data.draw(logs(d))
    end = data.draw(st.one_of(st.none(), st.just(T0 + timedelta(hours=end_hours))))
    machine = JourneyMachine(d, event_id_window=window, logger=quiet_logger())
    with tempfile.TemporaryDirectory() as tmp:
        path = _write(rows, tmp)
        fast = replay(machine, path, MAPPING, end=end)
        slow = replay(machine, path, MAPPING, end=end, fast=False)
    assert fast.summary.fast_path and not slow.summary.fast_path
    # funnels read the packed moves of a replay's journeys without building entries
    assert all(type(j) is LazyJourney for j in fast.journeys.values())
    assert funnel(fast.journeys.values(), d) == funnel(slow.journeys.values(), d)
    assert all(type(j) is LazyJourney for j in fast.journeys.values())
    assert fast.journeys == slow.journeys
    assert list(fast.journeys) == list(slow.journeys)
    for key, journey in fast.journeys.items():
        assert machine.snapshot(journey) == machine.snapshot(slow.journeys[key])
    assert _counts(fast) == _counts(slow)
    totals = [sum(getattr(t, k) for t in fast.summary.triggers) for k in OUTCOMES]
    for name, n in zip(OUTCOMES, totals, strict=True):
        event(f"{name}: {'some' if n else 'none'}")


def test_fast_path_journeys_keep_moving_with_fire_like_started_ones(tmp_path: Path) -> None:
    d = _cart()
    rows = [
        {"k": "a", "e": "add", "t": T0.isoformat(), "id": "x1"},
        {"k": "a", "e": "abandon", "t": (T0 + timedelta(hours=1)).isoformat()},
    ]
    path = _write(rows, str(tmp_path))
    result = replay(d, path, MAPPING)
    machine = JourneyMachine(d)
    journey = result.journeys["a"]
    assert machine.fire(journey, "add", event_id="x1").status == "duplicate"
    assert machine.restore(machine.snapshot(journey)) == journey
    assert [e.trigger for e in journey.history] == ["add", "abandon"]


def _cart() -> JourneyDefinition:
    return (
        JourneyBuilder("cart")
        .stage("browsing", initial=True)
        .stage("cart")
        .stage("abandoned", final=True)
        .transition("add", "browsing", "cart")
        .transition("abandon", "cart", "abandoned")
        .timeout("cart", timedelta(hours=24), "abandon")
        .build()
    )


def test_fast_true_on_a_machine_with_hooks_says_which_hooks(tmp_path: Path) -> None:
    machine = JourneyMachine(_cart(), logger=quiet_logger())

    @machine.on_enter("cart")
    def note(ctx: Any) -> None:
        pass

    path = _write([{"k": "a", "e": "add", "t": T0.isoformat()}], str(tmp_path))
    with pytest.raises(ReplayError, match=r"on_enter\('cart'\)") as err:
        replay(machine, path, MAPPING, fast=True)
    assert "fast=None" in str(err.value)


def test_machine_with_hooks_replays_through_the_engine_and_runs_them(tmp_path: Path) -> None:
    machine = JourneyMachine(_cart(), logger=quiet_logger())
    entered: list[str] = []

    @machine.on_enter("cart")
    def note(ctx: Any) -> None:
        entered.append(ctx.journey.key)

    rows = [{"k": k, "e": "add", "t": T0.isoformat()} for k in ("b", "a")]
    result = replay(machine, _write(rows, str(tmp_path)), MAPPING)
    assert not result.summary.fast_path
    assert entered == ["b", "a"]


def test_guards_see_the_context_fire_gives_them(tmp_path: Path) -> None:
    seen: list[tuple[Any, ...]] = []

    def look(ctx: Any) -> bool:
        seen.append(
            (ctx.journey.key, ctx.trigger, ctx.payload, ctx.now, ctx.source, ctx.dest, ctx.event_id)
        )
        seen.append(dict(ctx.meta) if ctx.meta is not None else None)
        return bool(ctx.payload.get("p") == "yes")

    d = (
        JourneyBuilder("g")
        .stage("s", initial=True)
        .stage("t", final=True)
        .transition("go", "s", "t", guards=[guard(look, name="look")])
        .build()
    )
    path = Path(tmp_path) / "log.csv"
    path.write_text(
        f"k,e,t,id,p,m\na,go,{T0.isoformat()},i1,no,web\na,go,{T0.isoformat()},i2,yes,\n"
    )
    mapping = {**MAPPING, "meta": ["m"]}
    result = replay(d, path, mapping)
    assert result.journeys["a"].stage == "t"
    fast_seen = list(seen)
    seen.clear()
    replay(JourneyMachine(d, logger=quiet_logger()), path, mapping, fast=False)
    # both paths run each guard once, a blocked event's too
    assert fast_seen == seen
    assert fast_seen == [
        ("a", "go", {"p": "no"}, T0, "s", "t", "i1"),
        {"m": "web"},
        ("a", "go", {"p": "yes"}, T0, "s", "t", "i2"),
        None,  # an empty meta cell: no meta
    ]


def test_csv_meta_is_shared_between_rows_and_equal_to_fires(tmp_path: Path) -> None:
    path = tmp_path / "log.csv"
    rows = [("a", "add", 0, "web"), ("b", "add", 1, "web"), ("b", "abandon", 2, "")]
    path.write_text(
        "k,e,t,m\n"
        + "".join(f"{k},{e},{(T0 + timedelta(hours=h)).isoformat()},{m}\n" for k, e, h, m in rows),
        encoding="utf-8",
    )
    mapping = {"key": "k", "event": "e", "time": "t", "meta": ["m"]}
    machine = JourneyMachine(_cart(), logger=quiet_logger())
    fast = replay(machine, path, mapping)
    slow = replay(machine, path, mapping, fast=False)
    assert fast.journeys == slow.journeys
    a, b = fast.journeys["a"].history[0], fast.journeys["b"].history[0]
    assert a.meta == {"m": "web"} and a.meta is b.meta  # one read-only dict for both
    assert fast.journeys["b"].history[1].meta is None  # an empty cell: no meta
    with pytest.raises(TypeError):
        a.meta["m"] = "changed"  # type: ignore[index]


# -- CSV logs: the fast path reads and applies them in one loop of its own ---------------
@guard
def _yes(ctx: Any) -> bool:
    """the payload's y cell says yes"""
    return isinstance(ctx.payload, dict) and ctx.payload.get("y") == "yes"


@guard
def _big(ctx: Any) -> bool:
    """the payload's n cell is over 5"""
    return isinstance(ctx.payload, dict) and int(ctx.payload.get("n") or 0) > 5


CSV_GUARDS = [[_yes], [_big], [_yes & ~_big], [_yes | _big]]
CART_MAPPING = {"key": "k", "event": "e", "time": "t", "event_id": "id"}
CSV_MAPPING = {
    "key": "k",
    "event": "e",
    "time": "t",
    "event_id": "id",
    "payload": ["y", "n"],
    "meta": ["m"],
    "segments": ["m"],
    "timezone": "Europe/Berlin",
    "triggers": None,
}


@st.composite
def csv_definitions(draw: st.DrawFn) -> JourneyDefinition:
    """A random definition whose guards read CSV cells (strings), with timeouts."""
    d = draw(with_timeouts())
    # the generated guards want a JSON True; guarded transitions get guards on cells
    transitions = [
        attrs.evolve(t, guards=draw(st.sampled_from(CSV_GUARDS))) if t.guards else t
        for t in d.transitions
    ]
    return JourneyDefinition(
        name=d.name, stages=d.stages, transitions=transitions, timeouts=d.timeouts
    )


@st.composite
def csv_logs(draw: st.DrawFn, d: JourneyDefinition) -> str:
    """CSV text: in order or not, ties, naive Berlin times across the March DST change,
    aware times, ids, meta, blank lines, bad rows, and now and then a quoted cell with
    a line break (the rows after it go through csv.reader)."""
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator=draw(st.sampled_from(["\n", "\r\n"])))
    writer.writerow(["k", "e", "t", "id", "y", "n", "m"])
    start = datetime(2026, 3, 28, 20, 0)  # Berlin wall time, the night before DST
    minutes = 0
    ordered = draw(st.booleans())
    for _ in range(draw(st.integers(0, 30))):
        minutes = minutes + draw(st.integers(0, 400)) if ordered else draw(st.integers(0, 6000))
        wall = start + timedelta(minutes=minutes)
        ts = draw(
            st.sampled_from(
                [
                    wall.isoformat(sep=" "),
                    wall.replace(tzinfo=ZoneInfo("Europe/Berlin"))
                    .astimezone(timezone.utc)
                    .isoformat(),
                ]
            )
        )
        kind = draw(st.integers(0, 19))
        if kind == 0:
            out.write("\n")  # a blank line
            continue
        cells = [
            draw(st.sampled_from(KEYS)),
            draw(st.sampled_from([*d.triggers, "unmapped"])),
            ts,
            draw(st.sampled_from(["", *IDS])),
            draw(st.sampled_from(["", "yes", "no"])),
            draw(st.sampled_from(["", "3", "9"])),
            draw(st.sampled_from(["", "web", "app"])),
        ]
        if kind == 1:
            cells[2] = "soon"  # a bad time
        elif kind == 2:
            cells = cells[:4]  # too few fields
        elif kind == 3:
            cells[0] = ""  # no key
        elif kind == 4:
            cells[6] = "line\nbreak"  # quoted: csv.reader reads the rest of the file
        writer.writerow(cells)
    return out.getvalue()


@FUZZ
@given(data=st.data(), d=csv_definitions(), end_hours=st.integers(0, 200))
def test_fast_csv_loop_gives_the_journeys_and_counts_of_the_engine(
    data: st.DataObject, d: JourneyDefinition, end_hours: int
) -> None:
    text = data.draw(csv_logs(d))
    end = data.draw(st.one_of(st.none(), st.just(T0 + timedelta(days=86, hours=end_hours))))
    machine = JourneyMachine(d, logger=quiet_logger())
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "log.csv"
        path.write_text(text, encoding="utf-8", newline="")
        fast = replay(machine, path, CSV_MAPPING, end=end)
        slow = replay(machine, path, CSV_MAPPING, end=end, fast=False)
    assert fast.summary.fast_path and not slow.summary.fast_path
    # (a log whose moves have no meta is an error naming the fields there are, on both)
    assert _by_meta(fast.journeys.values(), d) == _by_meta(slow.journeys.values(), d)
    assert funnel(fast.journeys.values(), d) == funnel(slow.journeys.values(), d)
    assert all(type(j) is LazyJourney for j in fast.journeys.values())
    assert fast.journeys == slow.journeys
    assert list(fast.journeys) == list(slow.journeys)
    assert fast.segments == slow.segments
    assert _counts(fast) == _counts(slow)
    moved = sum(t.moved for t in fast.summary.triggers)
    event(f"moved: {'some' if moved else 'none'}; bad rows: {fast.summary.bad_row_count > 0}")


def _by_meta(journeys: Any, d: JourneyDefinition) -> Any:
    try:
        return breakdown(journeys, d, by="meta.m")
    except ValueError as err:
        return str(err)


def test_a_journey_that_goes_back_in_time_after_many_others_is_replayed_in_order(
    tmp_path: Path,
) -> None:
    d = _cart()
    at = [T0 + timedelta(minutes=m) for m in range(3000)]
    lines = ["k,e,t,id", f"late,add,{at[2000].isoformat()},x1"]
    lines += [f"c{i},add,{at[i].isoformat()},e{i}" for i in range(1, 1500)]
    lines.append(f"late,add,{at[10].isoformat()},x0")  # older than its first row
    lines.append(f"late,abandon,{at[2500].isoformat()},x2")
    path = tmp_path / "log.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    machine = JourneyMachine(d, logger=quiet_logger())
    fast = replay(machine, path, CART_MAPPING, end=at[-1])
    late = fast.journeys["late"]
    # in time order: add at minute 10 moves, the add at 2000 is ignored in cart, and
    # the cart times out 24 h after minute 10, before the abandon row at 2500
    assert [(e.trigger, e.at, e.event_id) for e in late.history] == [
        ("add", at[10], "x0"),
        ("abandon", at[10] + timedelta(hours=24), late.history[1].event_id),
    ]
    assert late.history[1].event_id.startswith("timeout:")
    assert fast.journeys == replay(machine, path, CART_MAPPING, end=at[-1], fast=False).journeys
    assert fast.summary.fast_path and fast.summary.rows_read == 1502


def test_fast_csv_loop_names_the_line_of_a_bad_row_after_a_multiline_cell(
    tmp_path: Path,
) -> None:
    path = tmp_path / "log.csv"
    path.write_text(
        "k,e,t,m\n"
        f"a,add,{T0.isoformat()},\n"
        "\n"
        f"b,add,{T0.isoformat()},soon\n"
        "c,add,soon,\n"  # line 5
        f'd,add,{T0.isoformat()},"two\nlines"\n'  # lines 6 and 7
        "e,add,later,\n"  # line 8
        "f,add\n",  # line 9
        encoding="utf-8",
    )
    mapping = {"key": "k", "event": "e", "time": "t", "meta": ["m"]}
    for fast in (True, False):
        s = replay(JourneyMachine(_cart(), logger=quiet_logger()), path, mapping, fast=fast).summary
        assert [(b.line, b.reason[:12]) for b in s.bad_rows] == [
            (5, "time 'soon' "),
            (8, "time 'later'"),
            (9, "2 fields, th"),
        ]
        assert s.rows_read == 6 and s.events_applied == 3
