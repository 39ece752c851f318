"""Replay reads Parquet logs (the ``parquet`` extra: pyarrow) exactly as it reads CSV, and
says what to install, or what is wrong with the file, instead of failing obscurely."""

from __future__ import annotations

import csv
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from structlog.testing import capture_logs

from journeyfsm import JourneyMachine, templates
from journeyfsm.analytics import MappingError, replay

MAPPING = {
    "key": "who",
    "event": "what",
    "time": "when",
    "payload": ["total"],
    "segments": ["channel"],
}
T0 = datetime(2026, 1, 1, 9, tzinfo=timezone.utc)
ROWS = [
    ("c1", "engage", T0, 10.0, "ads"),
    ("c1", "want", T0 + timedelta(hours=2), None, None),
    ("c2", "engage", T0 + timedelta(hours=1), 5.0, "email"),
    ("c2", "scroll", T0 + timedelta(hours=3), None, None),
    ("c3", "engage", T0 + timedelta(days=1), None, "ads"),
    ("c1", "buy", T0 + timedelta(days=2), 99.5, None),
]
END = T0 + timedelta(days=90)


def write_both(tmp_path: Path) -> tuple[Path, Path]:
    parquet = tmp_path / "log.parquet"
    columns = list(zip(*ROWS, strict=True))
    table = pa.table(
        {
            "who": list(columns[0]),
            "what": list(columns[1]),
            "when": pa.array(columns[2], type=pa.timestamp("us", tz="UTC")),
            "total": list(columns[3]),
            "channel": list(columns[4]),
        }
    )
    pq.write_table(table, parquet)
    text = tmp_path / "log.csv"
    with text.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["who", "what", "when", "total", "channel"])
        for who, what, when, total, channel in ROWS:
            w.writerow([who, what, when.isoformat(), "" if total is None else total, channel or ""])
    return parquet, text


def test_a_parquet_log_replays_to_the_same_journeys_as_the_same_rows_in_csv(
    tmp_path: Path,
) -> None:
    parquet, text = write_both(tmp_path)
    machine = JourneyMachine(templates.aida())
    with capture_logs():
        from_parquet = replay(machine, parquet, MAPPING, end=END)
        from_csv = replay(machine, text, MAPPING, end=END)
    snap = {k: machine.snapshot(j) for k, j in from_parquet.journeys.items()}
    assert snap == {k: machine.snapshot(j) for k, j in from_csv.journeys.items()}
    assert [j.stage for j in from_parquet.journeys.values()] == ["action", "lost", "lost"]
    assert (
        from_parquet.segments
        == from_csv.segments
        == {
            "c1": {"channel": "ads"},
            "c2": {"channel": "email"},
            "c3": {"channel": "ads"},
        }
    )
    a, b = from_parquet.summary, from_csv.summary
    assert (a.rows_read, a.events_applied, dict(a.skipped), a.timeouts_fired) == (
        b.rows_read,
        b.events_applied,
        dict(b.skipped),
        b.timeouts_fired,
    )


def test_a_broken_parquet_file_is_a_clear_error_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "broken.parquet"
    path.write_bytes(b"PAR1 this is not parquet")
    with pytest.raises(MappingError, match=r"broken\.parquet.*Parquet"):
        replay(templates.aida(), path, MAPPING)


def test_parquet_without_pyarrow_names_the_extra_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    parquet, _ = write_both(tmp_path)
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    with pytest.raises(MappingError, match=r"journeyfsm\[parquet\]"):
        replay(templates.aida(), parquet, MAPPING)
