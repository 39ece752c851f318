"""Replay at its edges: an end of observation before the log's last event, keys a store
cannot hold, and what reaches a store from a replay."""

from __future__ import annotations

import io
from datetime import datetime, timezone
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from journeyfsm import JourneyMachine, JourneyService, SnapshotError, templates
from journeyfsm.analytics import replay
from journeyfsm.cli._replay import run_replay
from journeyfsm.stores import MemoryStore

MAPPING = {"key": "k", "event": "e", "time": "t"}
LOG = "k,e,t\nc1,engage,2026-01-01T10:00:00Z\nc2,engage,2026-03-01T10:00:00Z\n"


def test_an_end_before_the_last_event_is_a_loud_warning(tmp_path: Path) -> None:
    path = tmp_path / "log.csv"
    path.write_text(LOG, encoding="utf-8")
    end = datetime(2026, 2, 1, tzinfo=timezone.utc)
    with capture_logs() as logs:
        result = replay(templates.aida(), path, MAPPING, end=end)
    [late] = [w for w in result.summary.warnings if "end of observation" in w]
    assert "2026-02-01T00:00:00+00:00" in late and "2026-03-01T10:00:00+00:00" in late
    assert any(entry.get("warning") == late for entry in logs)
    on_time = replay(templates.aida(), path, MAPPING, end=datetime(2026, 3, 2, tzinfo=timezone.utc))
    assert not any("end of observation" in w for w in on_time.summary.warnings)


def test_a_key_with_a_nul_replays_in_memory_but_a_store_refuses_it_by_name(
    tmp_path: Path,
) -> None:
    # JSON Lines: every CPython reads the escaped NUL (csv refuses NUL before 3.11)
    path = tmp_path / "log.jsonl"
    path.write_text('{"k": "c\\u00001", "e": "engage", "t": "2026-01-01T10:00:00Z"}\n', "utf-8")
    machine = JourneyMachine(templates.aida())
    with capture_logs():
        result = replay(machine, path, MAPPING)
    assert list(result.journeys) == ["c\x001"]
    service = JourneyService(machine, MemoryStore())
    with pytest.raises(SnapshotError, match="without NUL characters"):
        service.import_journeys(result.journeys.values())
    assert service.get("c\x001") is None
    db = tmp_path / "j.db"
    err = io.StringIO()
    code = run_replay(
        [str(path), "--definition", "aida", "--key", "k", "--event", "e", "--time", "t",
         "--db", str(db)],
        io.StringIO(),
        err,
    )  # fmt: skip
    assert code == 1
    assert "NUL" in err.getvalue()
