"""Odd logs through every replay engine: each gives the same journeys, counts and bad
rows (or the same clear error), whatever the encoding, shape or time format."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from conftest import quiet_logger

from journeyfsm import JourneyMachine, templates
from journeyfsm.analytics import ReplayResult, replay

M = {"key": "k", "event": "e", "time": "t"}
H = "k,e,t\n"
OK = "c2,engage,2026-01-01T10:00:00Z\n"


def outcome(path: Path, mapping: dict[str, Any], engine: str) -> Any:
    machine = JourneyMachine(templates.aida(), logger=quiet_logger())
    try:
        r = replay(machine, path, mapping, engine=engine)  # type: ignore[arg-type]
    except Exception as err:  # the same error from every engine is the contract too
        return (type(err).__name__, str(err))
    s = r.summary
    return (
        sorted((k, j.stage, j.version) for k, j in r.journeys.items()),
        s.events_applied,
        dict(s.skipped),
        [(b.line, b.reason) for b in s.bad_rows],
        s.bad_row_count,
    )


ODD_LOGS = {
    # times a datetime cannot hold, though Arrow reads them (year 0; past the ends at an offset)
    "year_zero_compact": H + "c1,engage,00000101\n" + OK,
    "year_one_at_plus_one": H + "c1,engage,0001-01-01T00:00:00+01:00\n" + OK,
    "year_9999_at_minus_one": H + "c1,engage,9999-12-31T23:59:59-01:00\n" + OK,
    "compact_9999_at_minus_one": H + "c1,engage,99991231T235959-0100\n" + OK,
    "no_such_day": H + "c1,engage,20260230\n" + OK,
    "bom": "\ufeff" + H + OK,
    "unsorted_and_ties": H
    + "c1,want,2026-01-02T10:00:00Z\nc1,engage,2026-01-01T10:00:00Z\n"
    + "c1,act,2026-01-02T10:00:00Z\n"
    + OK,
    "empty_key": H + ",engage,2026-01-01T10:00:00Z\n" + OK,
    "short_and_long_rows": H + "c1,engage\nc3,engage,2026-01-01T10:00:00Z,x\n" + OK,
    "header_only": H,
}


@pytest.mark.parametrize("name", sorted(ODD_LOGS))
def test_every_engine_reads_an_odd_log_alike(name: str, tmp_path: Path) -> None:
    path = tmp_path / "log.csv"
    path.write_text(ODD_LOGS[name], encoding="utf-8")
    results = {e: outcome(path, M, e) for e in ("columnar", "fast", "engine")}
    assert results["columnar"] == results["fast"] == results["engine"], results


def test_a_time_out_of_datetime_range_is_a_bad_row_on_the_columnar_engine(
    tmp_path: Path,
) -> None:
    """The columnar engine raised ``OverflowError: date value out of range`` (no file, no
    row) for a year-0 or edge-of-range time; it is a bad row naming the line, as on the
    Python engines, and the other journeys replay."""
    path = tmp_path / "log.csv"
    path.write_text(H + "c1,engage,0001-01-01T00:00:00+01:00\n" + OK, encoding="utf-8")
    machine = JourneyMachine(templates.aida(), logger=quiet_logger())
    r = replay(machine, path, M, engine="columnar")
    assert r.engine == "columnar"
    assert sorted(r.journeys) == ["c2"]
    assert [b.line for b in r.summary.bad_rows] == [2]


def test_merging_halves_equals_the_whole_and_results_pickle(tmp_path: Path) -> None:
    import pickle

    rows = [f"c{i},{e},2026-01-0{1 + j}T10:00:00Z\n" for i in range(6) for j, e in
            enumerate(("engage", "want", "act")[: 1 + i % 3])]  # fmt: skip
    whole_path, a, b = tmp_path / "w.csv", tmp_path / "a.csv", tmp_path / "b.csv"
    whole_path.write_text(H + "".join(rows))
    a.write_text(H + "".join(r for r in rows if int(r[1]) % 2 == 0))
    b.write_text(H + "".join(r for r in rows if int(r[1]) % 2 == 1))
    for engine in ("columnar", "fast", "engine"):
        machine = JourneyMachine(templates.aida(), logger=quiet_logger())
        whole = replay(machine, whole_path, M, engine=engine)  # type: ignore[arg-type]
        merged = ReplayResult.merge(
            [replay(machine, p, M, engine=engine) for p in (a, b)]  # type: ignore[arg-type]
        )
        assert merged.stage_counts() == whole.stage_counts()
        assert merged.summary.events_applied == whole.summary.events_applied
        back = pickle.loads(pickle.dumps(merged))
        assert {k: j.stage for k, j in back.journeys.items()} == {
            k: j.stage for k, j in whole.journeys.items()
        }


def _table_outcome(table: Any, engine: str) -> Any:
    machine = JourneyMachine(templates.aida(), logger=quiet_logger())
    r = replay(machine, table, M, engine=engine)  # type: ignore[arg-type]
    return (
        sorted((k, j.stage) for k, j in r.journeys.items()),
        r.summary.bad_row_count,
        dict(r.summary.skipped),
    )


def test_a_null_event_name_in_a_table_is_a_bad_row_on_every_engine() -> None:
    """A DataFrame or Arrow table with a missing event name: the columnar engine read the
    null's dictionary index as garbage and raised ``IndexError: index -9223372036854775808``;
    it is a bad row, as on the Python engines."""
    import pandas as pd
    import pyarrow as pa

    t = "2026-01-01T10:00:00Z"
    tables = [
        pd.DataFrame({"k": ["a", "b"], "e": ["engage", None], "t": [t, t]}),
        pa.table({"k": ["a", "b", "c"], "e": pa.array([None, "engage", None]), "t": [t] * 3}),
        pa.table({"k": ["a"], "e": pa.array([None], pa.string()), "t": [t]}),
    ]
    for table in tables:
        seen = {e: _table_outcome(table, e) for e in ("columnar", "fast", "engine")}
        assert seen["columnar"] == seen["fast"] == seen["engine"], seen
        assert seen["columnar"][1] >= 1
