"""The columnar replay engine gives exactly what the Python paths give: the same
journeys (stage, history with times, ids and meta, version, event-id window, stage
entry, timeouts fired), in the same order, and the same summary counts, for random
definitions whose guards are expressions (several candidates per cell, internal moves,
timeouts) and random logs (duplicates, ties, timeouts due exactly at an event, unsorted
rows, unmapped events, empty cells), as CSV, Parquet and in-memory tables; plus the
shipped example log."""

from __future__ import annotations

import csv
import json
import sys
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import attrs
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import quiet_logger
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from journeyfsm import JourneyBuilder, JourneyDefinition, JourneyMachine, Timeout, col, guard
from journeyfsm._guards import Guard
from journeyfsm._packed import LazyJourney
from journeyfsm.analytics import LogMapping, ReplayError, breakdown, funnel, replay
from journeyfsm.testing import definitions

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
KEYS = ["a", "b", "c", "d"]
IDS = ["e1", "e2", "e3", "e4"]
MAPPING = LogMapping(
    key="k", event="e", time="t", event_id="id", payload=("n", "s"), meta=("s",), segments=("g",)
)
FUZZ = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
EXAMPLES = Path(__file__).parent.parent / "examples" / "data"


def leaves() -> st.SearchStrategy[Guard]:
    n = st.integers(0, 4)
    return st.one_of(
        n.map(lambda v: col("n") > v),
        n.map(lambda v: col("n") <= v),
        n.map(lambda v: col("n") == v),
        st.just(col("n").is_null()),
        st.sampled_from(["x", "y"]).map(lambda v: col("s") == v),
        st.just(col("s").is_in(["x", "z"])),
        st.just(col("s").is_null()),
        st.just(col("s") != "y"),
    )


def expressions() -> st.SearchStrategy[Guard]:
    return st.recursive(
        leaves(),
        lambda inner: st.one_of(
            st.tuples(inner, inner).map(lambda ab: ab[0] & ab[1]),
            st.tuples(inner, inner).map(lambda ab: ab[0] | ab[1]),
            inner.map(lambda a: ~a),
        ),
        max_leaves=3,
    )


@st.composite
def expression_definitions(draw: st.DrawFn) -> JourneyDefinition:
    """A random definition with expression guards on some transitions, and timeouts."""
    d = draw(definitions(max_stages=5, max_triggers=3, guards=False))
    transitions = []
    for t in d.transitions:
        guards = draw(st.lists(expressions(), max_size=2))
        transitions.append(attrs.evolve(t, guards=tuple(guards)))
        if guards and draw(st.integers(0, 2)) == 0:  # a second candidate for the same cell
            transitions.append(attrs.evolve(t, guards=(draw(expressions()),)))
    timeouts = []
    for stage in d.stage_names:
        triggers = d.triggers_from(stage)
        for _ in range(draw(st.integers(0, 2)) if triggers else 0):
            hours = draw(st.integers(1, 30))
            timeouts.append(Timeout(stage, timedelta(hours=hours), draw(st.sampled_from(triggers))))
    return JourneyDefinition(
        name=d.name,
        stages=d.stages,
        transitions=transitions,
        timeouts=timeouts,
        version=d.version,
    )


@st.composite
def logs(draw: st.DrawFn, d: JourneyDefinition) -> list[dict[str, str]]:
    names = [*d.triggers, "unmapped"]
    rows = []
    hour = 0
    ordered = draw(st.booleans())
    for _ in range(draw(st.integers(0, 30))):
        # whole hours: timeouts of whole hours fall due exactly at events
        hour = hour + draw(st.integers(0, 12)) if ordered else draw(st.integers(0, 80))
        rows.append(
            {
                "k": draw(st.sampled_from(KEYS)),
                "e": draw(st.sampled_from(names)),
                "t": (T0 + timedelta(hours=hour)).isoformat(),
                "id": draw(st.one_of(st.just(""), st.sampled_from(IDS))),
                "n": draw(st.sampled_from(["", "0", "1", "2", "3", "2.5", "4"])),
                "s": draw(st.sampled_from(["", "x", "y", "z"])),
                "g": draw(st.sampled_from(["", "web", "ads"])),
            }
        )
    for row in rows:  # now and then a bad row: no key, or a time that is none
        broken = draw(st.sampled_from(["", "", "", "", "", "", "", "", "k", "t"]))
        if broken:
            row[broken] = "" if broken == "k" else "soon"
    return rows


def write_csv(rows: list[dict[str, str]], path: Path) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=["k", "e", "t", "id", "n", "s", "g"])
        w.writeheader()
        w.writerows(rows)
    return path


#: lines the Python path passes over (blank) or counts as bad rows (not a JSON object)
ODD_LINES = ["", "   ", "not json", "[1, 2]", '"text"', "{", "3"]


def write_jsonl(rows: list[dict[str, str]], path: Path, odd: list[tuple[int, str]]) -> Path:
    """The rows as JSON Lines, typed: ``n`` a number (left out when empty, now and then
    null), ``id`` a number when it is one; ``odd`` lines inserted before the rows at
    their positions."""
    lines = []
    for i, r in enumerate(rows):
        lines += [text for at, text in odd if at == i]
        obj: dict[str, Any] = dict(r)
        if r["n"] == "":
            del obj["n"]
            if i % 3 == 0:
                obj["n"] = None
        else:
            obj["n"] = float(r["n"]) if "." in r["n"] else int(r["n"])
        lines.append(json.dumps(obj))
    lines += [text for at, text in odd if at >= len(rows)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def arrow_table(rows: list[dict[str, str]]) -> pa.Table:
    """The rows with typed columns: n as numbers (null when empty), the rest as text."""
    columns: dict[str, Any] = {c: [r[c] for r in rows] for c in ("k", "e", "t", "id", "s", "g")}
    columns["n"] = pa.array([None if r["n"] == "" else float(r["n"]) for r in rows], pa.float64())
    return (
        pa.table(columns)
        if rows
        else pa.table({c: pa.array([], pa.float64() if c == "n" else pa.string()) for c in columns})
    )


def counts(result: Any) -> dict[str, Any]:
    out = result.summary.to_dict()
    for k in ("seconds", "fast_path", "engine", "engine_note", "source", "partitions"):
        del out[k]
    return out


#: the groupings a breakdown counts from a columnar replay's columns
COLUMNAR_BY = ("log.g", "cohort.week", "cohort.month")


def broken_down(result: Any, d: JourneyDefinition, by: str) -> Any:
    """``breakdown(...)`` of a replay's journeys, or the error it raises."""
    try:
        return breakdown(result.journeys.values(), d, by=by, segments=result.segments)
    except ValueError as err:
        return str(err)


def same(columnar: Any, python: Any, d: JourneyDefinition, machine: JourneyMachine) -> None:
    assert columnar.engine == "columnar", columnar.summary.engine_note
    assert python.engine in ("fast", "engine")
    assert columnar.stage_counts() == python.stage_counts()
    assert funnel(columnar.journeys.values(), d) == funnel(python.journeys.values(), d)
    assert list(columnar.journeys) == list(python.journeys)
    assert dict(columnar.journeys) == dict(python.journeys)
    for key, journey in columnar.journeys.items():
        assert machine.snapshot(journey) == machine.snapshot(python.journeys[key])
    assert counts(columnar) == counts(python)
    assert columnar.segments == python.segments


@FUZZ
@given(
    data=st.data(),
    d=expression_definitions(),
    window=st.integers(1, 4),
    end_hours=st.one_of(st.none(), st.integers(0, 120)),
)
def test_columnar_equals_the_python_paths_on_csv(
    data: st.DataObject, d: JourneyDefinition, window: int, end_hours: int | None
) -> None:
    rows = data.draw(logs(d))
    end = None if end_hours is None else T0 + timedelta(hours=end_hours)
    machine = JourneyMachine(d, event_id_window=window, logger=quiet_logger())
    with tempfile.TemporaryDirectory() as tmp:
        path = write_csv(rows, Path(tmp) / "log.csv")
        columnar = replay(machine, path, MAPPING, end=end)
        fast = replay(machine, path, MAPPING, end=end, engine="fast")
        slow = replay(machine, path, MAPPING, end=end, fast=False)
    for by in COLUMNAR_BY:
        assert broken_down(columnar, d, by) == broken_down(slow, d, by), by
    assert not columnar.journeys.built  # the breakdowns built no journey
    assert all(type(j) is LazyJourney for j in columnar.journeys.values())
    assert funnel(columnar.journeys.values(), d) == funnel(slow.journeys.values(), d)
    assert all(type(j) is LazyJourney for j in columnar.journeys.values())  # funnel built none
    same(columnar, fast, d, machine)
    same(columnar, slow, d, machine)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=st.data(),
    d=expression_definitions(),
    window=st.integers(1, 3),
    end_hours=st.one_of(st.none(), st.integers(0, 120)),
)
def test_columnar_equals_the_fast_path_on_parquet_and_tables(
    data: st.DataObject, d: JourneyDefinition, window: int, end_hours: int | None
) -> None:
    rows = data.draw(logs(d))
    end = None if end_hours is None else T0 + timedelta(hours=end_hours)
    machine = JourneyMachine(d, event_id_window=window, logger=quiet_logger())
    table = arrow_table(rows)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "log.parquet"
        pq.write_table(table, path)
        columnar = replay(machine, path, MAPPING, end=end)
        fast = replay(machine, path, MAPPING, end=end, engine="fast")
    same(columnar, fast, d, machine)
    in_memory = replay(machine, table, MAPPING, end=end)
    row_wise = replay(machine, table, MAPPING, end=end, engine="fast")
    same(in_memory, row_wise, d, machine)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=st.data(),
    d=expression_definitions(),
    window=st.integers(1, 3),
    end_hours=st.one_of(st.none(), st.integers(0, 120)),
    odd=st.lists(st.tuples(st.integers(0, 31), st.sampled_from(ODD_LINES)), max_size=4),
)
def test_columnar_equals_the_python_paths_on_json_lines(
    data: st.DataObject,
    d: JourneyDefinition,
    window: int,
    end_hours: int | None,
    odd: list[tuple[int, str]],
) -> None:
    rows = data.draw(logs(d))
    if not rows:
        return  # no object: the Python path has nothing to check the columns of
    odd = [(max(at, 1), text) for at, text in odd]  # the first line is an object
    end = None if end_hours is None else T0 + timedelta(hours=end_hours)
    machine = JourneyMachine(d, event_id_window=window, logger=quiet_logger())
    with tempfile.TemporaryDirectory() as tmp:
        path = write_jsonl(rows, Path(tmp) / "log.jsonl", odd)
        columnar = replay(machine, path, MAPPING, end=end)
        fast = replay(machine, path, MAPPING, end=end, engine="fast")
        slow = replay(machine, path, MAPPING, end=end, fast=False)
        parted = replay(machine, path, MAPPING, end=end, partitions=3)
    assert columnar.summary.bad_rows == fast.summary.bad_rows  # the same lines and reasons
    same(columnar, fast, d, machine)
    same(columnar, slow, d, machine)
    same(parted, fast, d, machine)
    assert parted.summary.partitions == 3 and columnar.summary.partitions == 1


def test_the_shipped_example_log_replays_the_same_on_every_engine() -> None:
    from journeyfsm import templates

    mapping = LogMapping.load(EXAMPLES / "shop_events.map.json")
    d = templates.eight_phases()
    machine = JourneyMachine(d, logger=quiet_logger())
    end = datetime(2026, 4, 1, tzinfo=timezone.utc)
    columnar = replay(machine, EXAMPLES / "shop_events.csv", mapping, end=end)
    fast = replay(machine, EXAMPLES / "shop_events.csv", mapping, end=end, engine="fast")
    slow = replay(machine, EXAMPLES / "shop_events.csv", mapping, end=end, fast=False)
    assert columnar.summary.rows_read > 1000 and len(columnar.journeys) > 100
    same(columnar, fast, d, machine)
    same(columnar, slow, d, machine)


# -- when the columnar engine runs, and when it does not --------------------------------
def cart(*guards: Guard) -> JourneyDefinition:
    return (
        JourneyBuilder("cart")
        .stage("browsing", initial=True)
        .stage("cart")
        .stage("paid", final=True)
        .transition("add", "browsing", "cart")
        .transition("pay", "cart", "paid", guards=list(guards))
        .build()
    )


CART = {"key": "k", "event": "e", "time": "t", "payload": ["total"]}


def cart_log(tmp_path: Path, total: str = "5") -> Path:
    path = tmp_path / "log.csv"
    path.write_text(
        "k,e,t,total\n"
        "c1,add,2026-01-01T10:00:00Z,\n"
        f"c1,pay,2026-01-01T11:00:00Z,{total}\n"
        "c2,add,2026-01-01T10:00:00Z,\n"
    )
    return path


def test_function_guards_run_on_the_fast_path_and_say_why(tmp_path: Path) -> None:
    @guard
    def positive(ctx: Any) -> bool:
        return float(ctx.payload["total"]) > 0

    result = replay(cart(positive), cart_log(tmp_path), CART)
    assert result.engine == "fast"
    assert "guard 'positive' is a function" in result.summary.engine_note
    with pytest.raises(ReplayError, match="engine='columnar' cannot run: guard 'positive'"):
        replay(cart(positive), cart_log(tmp_path), CART, engine="columnar")
    expr = replay(cart(col("total") > 0), cart_log(tmp_path), CART)
    assert expr.engine == "columnar" and expr.summary.engine_note == ""
    assert {k: j.stage for k, j in expr.journeys.items()} == {
        k: j.stage for k, j in result.journeys.items()
    }


def test_a_machine_with_hooks_runs_the_engine(tmp_path: Path) -> None:
    machine = JourneyMachine(cart(col("total") > 0), logger=quiet_logger())
    seen: list[str] = []
    machine.on_enter("paid", lambda ctx: seen.append(ctx.journey.key))
    assert replay(machine, cart_log(tmp_path), CART).engine == "engine"
    assert seen == ["c1"]
    with pytest.raises(ReplayError, match="engine='columnar' skips the engine"):
        replay(machine, cart_log(tmp_path), CART, engine="columnar")


def test_a_guard_that_raises_falls_back_and_the_python_path_reports_the_row(
    tmp_path: Path,
) -> None:
    result = replay(cart(col("total") > 0), cart_log(tmp_path, total="lots"), CART)
    assert result.engine == "fast"
    assert "raises on some row" in result.summary.engine_note
    (bad,) = result.summary.bad_rows
    assert bad.line == 3 and "not a number" in bad.reason


BAD = (
    "k,e,t,total\n"
    "c1,add,2026-01-01T10:00:00Z,\n"
    ",add,2026-01-01T10:00:00Z,\n"  # line 3: no key
    "c2,add,soon,\n"  # line 4: no time
    "c2,add,1767225600,\n"  # line 5: a number, not ISO
    "c3,add,2026-02-30T10:00:00Z,\n"  # line 6: no such day
    "c3,,2026-01-01T10:00:00Z,\n"  # line 7: no event
    "c3,pay,2026-01-01T11:00:00Z,\n"
)


def test_bad_rows_are_counted_with_their_lines_and_reasons_as_the_python_path_does(
    tmp_path: Path,
) -> None:
    path = tmp_path / "log.csv"
    path.write_text(BAD)
    columnar = replay(cart(), path, CART)
    fast = replay(cart(), path, CART, engine="fast")
    assert columnar.engine == "columnar"
    assert [b.line for b in columnar.summary.bad_rows] == [3, 4, 5, 6, 7]
    assert counts(columnar) == counts(fast) and dict(columnar.journeys) == dict(fast.journeys)
    with pytest.raises(ReplayError) as strict_columnar:
        replay(cart(), path, CART, strict=True)
    with pytest.raises(ReplayError) as strict_fast:
        replay(cart(), path, CART, strict=True, engine="fast")
    assert str(strict_columnar.value) == str(strict_fast.value)
    assert strict_columnar.value.line == 3
    # a blank line shifts the line numbers: the Python path counts them
    path.write_text(BAD.replace("c1,add", "\nc1,add"))
    blank = replay(cart(), path, CART)
    assert blank.engine == "fast" and "blank lines" in blank.summary.engine_note
    assert [b.line for b in blank.summary.bad_rows] == [4, 5, 6, 7, 8]


def test_unusual_times_read_exactly_or_fall_back(tmp_path: Path) -> None:
    path = tmp_path / "log.csv"
    path.write_text(
        "k,e,t,total\n"
        "c1,add,19970101T101500Z,\n"  # compact: read one by one, exactly
        "c2,add,2026-01-01 10:00:00.5+02:00,\n"
        "c3,add,2026-01-01,\n"
    )
    result = replay(cart(), path, CART)
    assert result.engine == "columnar"
    # the columnar engine reads each time as the Python path does, on every CPython
    python_path = replay(cart(), path, CART, engine="fast")
    assert dict(result.journeys) == dict(python_path.journeys)
    assert [b.line for b in result.summary.bad_rows] == [
        b.line for b in python_path.summary.bad_rows
    ]
    if sys.version_info >= (3, 11):  # 3.10's fromisoformat takes 3 or 6 fraction digits only
        assert [j.started_at for j in result.journeys.values()] == [
            datetime(1997, 1, 1, 10, 15, tzinfo=timezone.utc),
            datetime(2026, 1, 1, 8, 0, 0, 500000, tzinfo=timezone.utc),
            datetime(2026, 1, 1, tzinfo=timezone.utc),
        ]
    berlin = replay(cart(), path, {**CART, "timezone": "Europe/Berlin"})
    fast = replay(cart(), path, {**CART, "timezone": "Europe/Berlin"}, engine="fast")
    assert berlin.engine == "columnar" and dict(berlin.journeys) == dict(fast.journeys)
    path.write_text("k,e,t,total\nc1,add,2026-02-30T10:00:00Z,\nc1,add,2026-02-28T10:00:00Z,\n")
    result = replay(cart(), path, CART)
    assert result.engine == "columnar" and [b.line for b in result.summary.bad_rows] == [2]


def test_engine_argument_is_checked(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match=r"engine=...\) takes one of"):
        replay(cart(), cart_log(tmp_path), CART, engine="turbo")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="contradicts"):
        replay(cart(), cart_log(tmp_path), CART, fast=False, engine="columnar")
    with pytest.raises(TypeError, match="Arrow table, or a pandas or polars DataFrame"):
        replay(cart(), [{"k": "c1"}], CART)  # type: ignore[arg-type]


def test_histories_are_built_when_read_and_journeys_when_looked_up(tmp_path: Path) -> None:
    result = replay(cart(), cart_log(tmp_path), CART)
    journeys = result.journeys
    assert len(journeys) == 2 and "c1" in journeys and "zz" not in journeys
    assert result.stage_counts() == {"browsing": 0, "cart": 1, "paid": 1}
    assert not journeys.built  # type: ignore[attr-defined]
    c1 = journeys["c1"]
    assert c1 is journeys["c1"] and type(c1) is LazyJourney
    assert [(e.seq, e.trigger, e.dest) for e in c1.history] == [
        (1, "add", "cart"),
        (2, "pay", "paid"),
    ]
    assert json.loads(json.dumps(result.summary.to_dict()))["engine"] == "columnar"


def test_the_command_says_which_engine_ran_with_verbose(tmp_path: Path) -> None:
    import io

    from journeyfsm.cli._replay import run_replay

    log = cart_log(tmp_path)
    args = [str(log), "--definition", "aida", "--key", "k", "--event", "e", "--time", "t"]
    err = io.StringIO()
    assert run_replay([*args, "--verbose", "--quiet"], out=io.StringIO(), err=err) == 0
    assert "engine: columnar" in err.getvalue()
    err = io.StringIO()
    out = io.StringIO()
    assert run_replay([*args, "--verbose", "--engine", "fast"], out=out, err=err) == 0
    assert "engine: fast" in err.getvalue() and "fast path" in out.getvalue()
    err = io.StringIO()
    assert run_replay([*args, "--no-fast", "--engine", "columnar"], out=io.StringIO(), err=err) == 2
    assert "contradicts" in err.getvalue()


def test_compact_dates_read_in_columns_exactly_and_impossible_ones_are_bad_rows(
    tmp_path: Path,
) -> None:
    path = tmp_path / "log.csv"
    path.write_text(
        "k,e,t,total\n"
        "c1,add,19970101,\n"
        "c2,add,19970230,\n"  # no such day: Python refuses it, strptime would roll it over
        "c3,add,19971231T235959,\n"
        "c4,add,19971231T235959Z,\n"
        "c5,add,19971301,\n"
    )
    columnar = replay(cart(), path, CART)
    fast = replay(cart(), path, CART, engine="fast")
    assert columnar.engine == "columnar"
    assert [b.line for b in columnar.summary.bad_rows] == [3, 6]
    assert counts(columnar) == counts(fast) and dict(columnar.journeys) == dict(fast.journeys)
    assert columnar.journeys["c3"].started_at == datetime(
        1997, 12, 31, 23, 59, 59, tzinfo=timezone.utc
    )


def test_funnels_count_the_packed_columns_and_the_journeys_read_since(tmp_path: Path) -> None:
    from journeyfsm import templates

    mapping = LogMapping.load(EXAMPLES / "shop_events.map.json")
    d = templates.eight_phases()
    machine = JourneyMachine(d, logger=quiet_logger())
    end = datetime(2026, 4, 1, tzinfo=timezone.utc)
    log = EXAMPLES / "shop_events.csv"
    columnar = replay(machine, log, mapping, end=end)
    fast = replay(machine, log, mapping, end=end, engine="fast")
    assert funnel(columnar.journeys.values(), d) == funnel(fast.journeys.values(), d)
    assert not columnar.journeys.built  # type: ignore[attr-defined]
    order = ("awareness", "consideration", "purchase")
    assert funnel(columnar.journeys.values(), d, order=order) == funnel(
        fast.journeys.values(), d, order=order
    )
    # journeys read (and moved) since the replay count as they are now
    keys = list(columnar.journeys)[:5]
    for key in keys:
        for journey in (columnar.journeys[key], fast.journeys[key]):
            machine.fire(journey, "research", at=end)
    assert funnel(columnar.journeys.values(), d) == funnel(fast.journeys.values(), d)


@pytest.mark.parametrize("by", COLUMNAR_BY)
def test_breakdowns_by_log_column_or_cohort_count_the_packed_columns(by: str) -> None:
    from journeyfsm import templates

    mapping = LogMapping.load(EXAMPLES / "shop_events.map.json")
    mapping = attrs.evolve(mapping, segments=("channel",))
    by = "log.channel" if by == "log.g" else by
    d = templates.eight_phases()
    machine = JourneyMachine(d, logger=quiet_logger())
    end = datetime(2026, 4, 1, tzinfo=timezone.utc)
    log = EXAMPLES / "shop_events.csv"
    columnar = replay(machine, log, mapping, end=end)
    fast = replay(machine, log, mapping, end=end, engine="fast")
    assert columnar.engine == "columnar"
    result = broken_down(columnar, d, by)
    assert not isinstance(result, str) and len(result.groups) > 1
    assert result == broken_down(fast, d, by)
    assert not columnar.journeys.built  # type: ignore[attr-defined]
    # journeys read (and moved) since the replay count as they are now, in their group
    for key in list(columnar.journeys)[:5]:
        for journey in (columnar.journeys[key], fast.journeys[key]):
            machine.fire(journey, "research", at=end)
    assert broken_down(columnar, d, by) == broken_down(fast, d, by)


def test_a_breakdown_into_many_groups_reads_the_journeys_one_by_one(tmp_path: Path) -> None:
    d = (
        JourneyBuilder("visit")
        .stage("new", initial=True)
        .stage("seen", final=True)
        .transition("view", "new", "seen")
        .build()
    )
    log = tmp_path / "many.csv"
    log.write_text(
        "k,e,t,id,n,s,g\n"
        + "".join(f"c{i},view,2026-01-01T00:00:00+00:00,,,,g{i}\n" for i in range(100))
    )
    columnar = replay(d, log, MAPPING)
    fast = replay(d, log, MAPPING, engine="fast")
    assert columnar.engine == "columnar"
    result = broken_down(columnar, d, "log.g")
    assert len(result.groups) == 100 and result == broken_down(fast, d, "log.g")


def test_pandas_and_polars_dataframes_replay_as_their_arrow_tables() -> None:
    import pandas as pd
    import polars as pl

    rows = {
        "k": ["c1", "c2", "c1", "c2", "c3"],
        "e": ["add", "add", "pay", "pay", "add"],
        "t": [
            "2026-01-01T10:00:00Z",
            "2026-01-01T10:00:00Z",
            "2026-01-01T11:00:00Z",
            "2026-01-01T11:30:00Z",
            "2026-01-02T09:00:00Z",
        ],
        "total": [None, None, 12.5, 0.0, None],
    }
    d = cart(col("total") > 0)
    expected = {"c1": "paid", "c2": "cart", "c3": "cart"}
    for frame in (pd.DataFrame(rows), pl.DataFrame(rows), pa.table(rows)):
        columnar = replay(d, frame, CART)
        fast = replay(d, frame, CART, engine="fast")
        assert columnar.engine == "columnar", columnar.summary.engine_note
        assert {k: j.stage for k, j in columnar.journeys.items()} == expected
        assert dict(columnar.journeys) == dict(fast.journeys)
        assert counts(columnar) == counts(fast)
    # pandas datetimes are times; a naive one is read in the mapping's zone
    frame = pd.DataFrame({**rows, "t": pd.to_datetime(rows["t"]).tz_localize(None)})
    berlin = {**CART, "timezone": "Europe/Berlin"}
    assert dict(replay(d, frame, berlin).journeys) == dict(
        replay(d, frame, berlin, engine="fast").journeys
    )
    assert replay(d, frame, CART).journeys["c1"].started_at == datetime(
        2026, 1, 1, 10, tzinfo=timezone.utc
    )
    bad = pd.DataFrame({"k": ["c1", 2], "e": ["add", "add"], "t": rows["t"][:2]})
    with pytest.raises(ReplayError, match="does not convert to an Arrow table"):
        replay(d, bad, CART)


def test_what_if_compares_two_columnar_replays_without_building_journeys(tmp_path: Path) -> None:
    from journeyfsm.analytics import what_if

    a, b = cart(col("total") > 0), cart(col("total") > 10)  # the candidate: a stricter rule
    log = cart_log(tmp_path)
    comparison, result_a, result_b = what_if(log, CART, a, b)
    assert (result_a.engine, result_b.engine) == ("columnar", "columnar")
    assert not result_a.journeys.built and not result_b.journeys.built  # type: ignore[attr-defined]
    assert [(s.stage, s.current_a, s.current_b) for s in comparison.stages] == [
        ("browsing", 0, 0),
        ("cart", 1, 2),
        ("paid", 1, 0),
    ]


JSONL_MAP = {"key": "k", "event": "e", "time": "t", "payload": ["total"]}


def _jsonl(tmp_path: Path, text: str | bytes) -> Path:
    path = tmp_path / "log.jsonl"
    if isinstance(text, str):
        text = text.encode("utf-8")
    path.write_bytes(text)
    return path


def _both(path: Path, mapping: Any = JSONL_MAP) -> tuple[Any, Any]:
    return replay(cart(), path, mapping), replay(cart(), path, mapping, engine="fast")


def test_json_lines_in_several_blocks_keep_their_line_numbers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import journeyfsm.analytics._coljson as coljson

    lines = []
    for i in range(300):
        lines.append(
            json.dumps({"k": f"c{i % 7}", "e": "add", "t": f"2026-01-01T{i % 24:02}:00:00Z"})
        )
        if i % 41 == 5:
            lines += ["", "{oops", "\u00a0", "[1]"]  # blank, bad, blank only to Python, bad
    path = _jsonl(tmp_path, "\ufeff" + "\n".join(lines))  # a BOM, no line break at the end
    monkeypatch.setattr(coljson, "BLOCK_BYTES", 700)  # dozens of blocks, lines cut across
    columnar, fast = _both(path)
    assert columnar.engine == "columnar", columnar.summary.engine_note
    assert columnar.summary.bad_row_count == fast.summary.bad_row_count == 16
    assert columnar.summary.bad_rows == fast.summary.bad_rows
    assert counts(columnar) == counts(fast) and dict(columnar.journeys) == dict(fast.journeys)
    parted = replay(cart(), path, JSONL_MAP, partitions=4)
    assert parted.summary.bad_rows == fast.summary.bad_rows
    assert counts(parted) == counts(fast) and dict(parted.journeys) == dict(fast.journeys)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        # Arrow would infer a type, or read a value otherwise than json.loads
        (
            '{"k":"c1","e":"add","t":"2026-01-01T10:00:00Z"}\n{"k":2,"e":"add","t":"2026-01-01T10:00:00Z"}\n',
            "holds int, str values",
        ),
        ('{"k":"c1","e":"add","t":"2026-01-01T10:00:00Z","k":"c2"}\n', "line 1 is a JSON object"),
        ('{"k":"c1","e":"add","t":"2026-01-01T10:00:00Z","total":{"a":1}}\n', "holds dict values"),
        (
            '{"k":"c1","e":"add","t":"2026-01-01T10:00:00Z","c":1.5}\n{"k":"c1","e":"add","t":"2026-01-01T11:00:00Z","c":3}\n',
            "mixes whole numbers and fractions",
        ),
        (
            '{"k":"c1","e":"add","t":"2026-01-01T10:00:00Z","total":1.5}\n{"k":"c1","e":"add","t":"2026-01-01T11:00:00Z","total":9007199254740993}\n',
            "beyond 2**53",
        ),
        (
            '{"k":"c1","e":"add","t":"2026-01-01T10:00:00Z"}\r{"k":"c2","e":"add","t":"2026-01-01T10:00:00Z"}\n',
            "bare carriage return",
        ),
        ('{"k":"c1","e":"add"}\n', "lacks a mapped column"),
    ],
)
def test_json_lines_that_arrow_reads_otherwise_fall_back(
    tmp_path: Path, text: str, reason: str
) -> None:
    mapping = {**JSONL_MAP, "meta": ["c"]} if '"c"' in text else JSONL_MAP
    path = _jsonl(tmp_path, text)
    try:
        fast = replay(cart(), path, mapping, engine="fast")
    except Exception as err:  # the Python path refuses the log: so does the default
        with pytest.raises(type(err)):
            replay(cart(), path, mapping)
        assert "lacks a mapped column" in reason
        return
    columnar = replay(cart(), path, mapping)
    assert columnar.engine == "fast" and reason in columnar.summary.engine_note
    assert counts(columnar) == counts(fast) and dict(columnar.journeys) == dict(fast.journeys)


def test_json_lines_that_are_not_utf8_are_refused_as_by_the_python_path(tmp_path: Path) -> None:
    path = _jsonl(tmp_path, b'{"k":"c1","e":"add","t":"2026-01-01T10:00:00Z","x":"\xff"}\n')
    with pytest.raises(UnicodeDecodeError):
        replay(cart(), path, JSONL_MAP, engine="fast")
    with pytest.raises(UnicodeDecodeError):
        replay(cart(), path, JSONL_MAP)


def test_a_json_string_line_is_a_bad_row_saying_so(tmp_path: Path) -> None:
    path = _jsonl(tmp_path, '{"k":"c1","e":"add","t":"2026-01-01T10:00:00Z"}\n"add"\n')
    for engine in (None, "fast", "engine"):
        result = replay(cart(), path, JSONL_MAP, engine=engine)  # type: ignore[arg-type]
        assert [(b.line, b.reason) for b in result.summary.bad_rows] == [
            (2, "a str, not a JSON object")
        ], engine
    assert replay(cart(), path, JSONL_MAP).engine == "columnar"


def test_a_json_lines_value_of_another_type_after_the_sample_falls_back_naming_the_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import journeyfsm.analytics._coljson as coljson

    monkeypatch.setattr(coljson, "_SAMPLE", 2)  # the types are fixed from two objects
    rows = [{"k": f"c{i}", "e": "add", "t": "2026-01-01T10:00:00Z"} for i in range(5)]
    rows[3]["k"] = 7  # type: ignore[assignment]
    path = _jsonl(tmp_path, "".join(json.dumps(r) + "\n" for r in rows))
    columnar, fast = _both(path)
    assert columnar.engine == "fast"
    assert (
        "line 4 is a JSON object the Arrow reader reads otherwise" in columnar.summary.engine_note
    )
    assert dict(columnar.journeys) == dict(fast.journeys) and "7" in fast.journeys


def test_a_json_line_longer_than_an_arrow_block_reads_on_the_columnar_engine(
    tmp_path: Path,
) -> None:
    long_line = {"k": "c1", "e": "add", "t": "2026-01-01T10:00:00Z", "note": "x" * 3_000_000}
    text = json.dumps(long_line) + "\n" + '{"k":"c2","e":"add","t":"2026-01-01T11:00:00Z"}\n'
    path = _jsonl(tmp_path, text)
    mapping = {**JSONL_MAP, "meta": ["note"]}
    columnar = replay(cart(), path, mapping)
    fast = replay(cart(), path, mapping, engine="fast")
    assert columnar.engine == "columnar", columnar.summary.engine_note
    assert dict(columnar.journeys) == dict(fast.journeys)
    assert columnar.journeys["c1"].history[0].meta["note"] == "x" * 3_000_000


@pytest.mark.parametrize("high", [1, 3, 2**16, 2**17 + 5, 2**40, 2**62])
def test_the_row_order_is_the_stable_sort_by_journey_time_and_file_order(high: int) -> None:
    import numpy as np

    from journeyfsm.analytics._columnar import _sort, stable_order

    rng = np.random.default_rng(high % 1000)
    values = rng.integers(0, high, 5000, dtype=np.int64)  # ties when high is small
    assert (stable_order(np, values) == np.argsort(values, kind="stable")).all()
    key = rng.integers(0, min(high, 700), 5000, dtype=np.int64)
    for at in (np.sort(rng.integers(0, 50, 5000)), rng.integers(0, 50, 5000)):  # in order, not
        expected = np.lexsort((np.arange(5000), at, key))
        assert (_sort(np, key, at.astype(np.int64)) == expected).all()
