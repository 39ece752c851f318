"""The columnar engine's partitioned pass (``replay(partitions=...)``): the log spilled by
journey key into temporary files, replayed part by part and merged, gives exactly the
in-memory columnar replay (journeys, order, histories, counts, funnel, segments)."""

from __future__ import annotations

import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from conftest import quiet_logger
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_columnar import (
    COLUMNAR_BY,
    MAPPING,
    T0,
    arrow_table,
    broken_down,
    counts,
    expression_definitions,
    logs,
    write_csv,
)

import journeyfsm.analytics._colstream as colstream
from journeyfsm import JourneyDefinition, JourneyMachine
from journeyfsm.analytics import BadRowError, funnel, replay

FUZZ = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def identical(parted: Any, whole: Any, d: JourneyDefinition, machine: JourneyMachine) -> None:
    assert parted.engine == whole.engine, (parted.summary.engine_note, whole.summary.engine_note)
    assert parted.stage_counts() == whole.stage_counts()
    assert funnel(parted.journeys.values(), d) == funnel(whole.journeys.values(), d)
    for by in COLUMNAR_BY:
        assert broken_down(parted, d, by) == broken_down(whole, d, by), by
    assert list(parted.journeys) == list(whole.journeys)  # the same order
    for key, journey in parted.journeys.items():
        assert machine.snapshot(journey) == machine.snapshot(whole.journeys[key])
    assert counts(parted) == counts(whole)
    assert parted.summary.source == whole.summary.source
    assert parted.segments == whole.segments


def keyed(rows: list[dict[str, str]], spread: int) -> list[dict[str, str]]:
    """The rows with more distinct keys (``a`` -> ``a0``..), so parts get several."""
    return [{**r, "k": f"{r['k']}{i % spread}" if r["k"] else ""} for i, r in enumerate(rows)]


@FUZZ
@given(
    data=st.data(),
    d=expression_definitions(),
    window=st.integers(1, 4),
    end_hours=st.one_of(st.none(), st.integers(0, 120)),
    parts=st.integers(2, 7),
    spread=st.integers(1, 3),
)
def test_partitioned_replay_is_the_in_memory_replay_on_csv_and_parquet(
    data: st.DataObject,
    d: JourneyDefinition,
    window: int,
    end_hours: int | None,
    parts: int,
    spread: int,
) -> None:
    rows = keyed(data.draw(logs(d)), spread)
    end = None if end_hours is None else T0 + timedelta(hours=end_hours)
    machine = JourneyMachine(d, event_id_window=window, logger=quiet_logger())
    with tempfile.TemporaryDirectory() as tmp:
        csv_path = write_csv(rows, Path(tmp) / "log.csv")
        parquet = Path(tmp) / "log.parquet"
        pq.write_table(arrow_table(rows), parquet, row_group_size=7)
        for path in (csv_path, parquet):
            whole = replay(machine, path, MAPPING, end=end, partitions=1)
            parted = replay(machine, path, MAPPING, end=end, partitions=parts)
            identical(parted, whole, d, machine)
            if whole.engine == "columnar":
                fast = replay(machine, path, MAPPING, end=end, engine="fast")
                assert dict(parted.journeys) == dict(fast.journeys)


def _shop_log(tmp: Path, rows: int = 400) -> Path:
    lines = ["k,e,t,id,n,s,g"]
    for i in range(rows):
        at = (T0 + timedelta(minutes=i * 7)).isoformat()
        lines.append(f"c{i % 37},{['browse', 'buy', 'x'][i % 3]},{at},e{i % 50},{i % 5},x,web")
    path = tmp / "shop.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def _shop() -> JourneyDefinition:
    from journeyfsm import JourneyBuilder, col

    return (
        JourneyBuilder("shop")
        .stage("visitor", initial=True)
        .stage("browsing")
        .stage("customer", final=True)
        .transition("browse", "visitor", "browsing")
        .transition("buy", "browsing", "customer", guards=[col("n") > 2])
        .timeout("browsing", timedelta(hours=1), "buy")
        .build()
    )


def test_spill_files_are_removed_after_the_replay_and_when_it_is_interrupted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spills = tmp_path / "spills"
    spills.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(spills))
    log = _shop_log(tmp_path)
    result = replay(_shop(), log, MAPPING, partitions=3)
    assert result.engine == "columnar" and len(result.journeys) == 37
    assert list(spills.iterdir()) == []

    def interrupted(*args: Any, **kwargs: Any) -> Any:
        assert list(spills.iterdir())  # the spill directory exists while parts replay
        raise KeyboardInterrupt

    monkeypatch.setattr(colstream, "read_columns", interrupted)
    with pytest.raises(KeyboardInterrupt):
        replay(_shop(), log, MAPPING, partitions=3)
    assert list(spills.iterdir()) == []


def test_partitions_is_checked_and_the_size_picks_it(tmp_path: Path) -> None:
    log = _shop_log(tmp_path)
    for bad in (0, -2, 1.5, True, "4"):
        with pytest.raises(TypeError, match="partitions"):
            replay(_shop(), log, MAPPING, partitions=bad)  # type: ignore[arg-type]
    assert colstream.auto_partitions(log) == 1  # small: in memory
    assert colstream.auto_partitions(tmp_path / "missing.csv") == 1
    big = tmp_path / "big.csv"
    with big.open("wb") as f:
        f.truncate(colstream.STREAM_BYTES + 1)
    assert colstream.auto_partitions(big) == -(
        -(colstream.STREAM_BYTES + 1) // colstream.PART_BYTES
    )
    # the 1M-row benchmark log (59 MB) replays in one pass: its ~0.5 GB is the cap
    with big.open("wb") as f:
        f.truncate(60 * 2**20)
    assert colstream.auto_partitions(big) == 1
    with big.open("wb") as f:
        f.truncate(64 * 2**20)
    assert colstream.auto_partitions(big) == 8


def test_bad_rows_keep_their_log_lines_and_strict_stops_at_the_first(tmp_path: Path) -> None:
    log = _shop_log(tmp_path, 60)
    lines = log.read_text().splitlines()
    lines[10] = "c3,browse,later,e1,1,x,web"
    lines[40] = ",browse,2026-01-02T00:00:00+00:00,e1,1,x,web"
    log.write_text("\n".join(lines) + "\n")
    whole = replay(_shop(), log, MAPPING, partitions=1)
    parted = replay(_shop(), log, MAPPING, partitions=4)
    assert parted.engine == whole.engine == "columnar"
    assert [b.line for b in parted.summary.bad_rows] == [11, 41]
    assert parted.summary.bad_rows == whole.summary.bad_rows
    with pytest.raises(BadRowError, match="line 11"):
        replay(_shop(), log, MAPPING, partitions=4, strict=True)


def test_a_log_that_the_columnar_reader_refuses_falls_back_as_in_memory(tmp_path: Path) -> None:
    log = tmp_path / "log.csv"
    log.write_text('k,e,t,id,n,s,g\nc1,browse,2026-01-01T00:00:00Z,e1,1,x,web\nc1,"a\n')
    whole = replay(_shop(), log, MAPPING, partitions=1)
    parted = replay(_shop(), log, MAPPING, partitions=3)
    assert parted.engine == whole.engine == "fast"
    assert parted.summary.engine_note.split(" (")[0] == whole.summary.engine_note.split(" (")[0]


def test_a_parquet_log_is_measured_by_its_metadata_not_its_compressed_size(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pyarrow as pa

    monkeypatch.setattr(colstream, "STREAM_BYTES", 64 * 1000)
    monkeypatch.setattr(colstream, "PART_BYTES", 64 * 300)
    rows = 2000
    table = pa.table(
        {
            "k": [f"c{i % 37}" for i in range(rows)],
            "e": ["browse"] * rows,
            "t": [(T0 + timedelta(minutes=i)).isoformat() for i in range(rows)],
            "wide": [f"{i:0200d}" for i in range(rows)],  # unmapped: not counted
        }
    )
    path = tmp_path / "log.parquet"
    pq.write_table(table, path, row_group_size=500)
    mapping = {"key": "k", "event": "e", "time": "t"}
    from journeyfsm.analytics import LogMapping

    m = LogMapping.from_dict(mapping)
    assert path.stat().st_size < colstream.STREAM_BYTES  # compressed: would be in memory
    assert colstream.auto_partitions(path) == 1  # without the mapping: the file's size
    # at least 64 bytes a row: 2000 rows -> 128,000 -> 7 parts of 19,200
    assert colstream.auto_partitions(path, m) == 7
    # a mapped column's uncompressed size counts when it is more
    m_wide = LogMapping.from_dict({**mapping, "payload": ["wide"]})
    wide_parts = colstream.auto_partitions(path, m_wide)
    pf = pq.ParquetFile(path).metadata
    uncompressed = sum(
        pf.row_group(g).column(c).total_uncompressed_size
        for g in range(pf.num_row_groups)
        for c in range(4)
    )
    assert wide_parts == -(-uncompressed // colstream.PART_BYTES) > 7
    result = replay(_shop(), path, mapping)
    assert result.engine == "columnar" and result.summary.partitions == 7
    assert result.stage_counts() == replay(_shop(), path, mapping, partitions=1).stage_counts()
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(b"not parquet" * 10_000)
    assert colstream.auto_partitions(broken, m) == -(-broken.stat().st_size // colstream.PART_BYTES)


def test_the_result_keeps_the_ids_and_meta_of_the_moves_only(tmp_path: Path) -> None:
    from journeyfsm.analytics import LogMapping

    log = _shop_log(tmp_path, 600)  # 37 journeys: most rows ignored once they bought
    mapping = LogMapping.from_dict({**MAPPING.to_dict(), "meta": ["g"]})
    for parts in (1, 3):
        result = replay(_shop(), log, mapping, partitions=parts)
        fast = replay(_shop(), log, mapping, engine="fast")
        assert result.engine == "columnar" and result.summary.partitions == parts
        state = result.journeys.engine  # type: ignore[attr-defined]
        moves = sum(len(j.history) for j in fast.journeys.values())
        timeouts = result.summary.timeouts_fired
        assert result.summary.rows_read == 600 and moves < 300
        # one kept id and meta per move of a log event (timeouts make theirs), not per row
        kept = moves - sum(1 for j in fast.journeys.values() for h in j.history if h.event_id
                           and h.event_id.startswith("timeout:"))  # fmt: skip
        assert len(state.order) == len(state.sids) == len(state.cols.meta["g"]) == kept
        assert timeouts > 0
        for key, journey in fast.journeys.items():  # the histories read the same
            assert result.journeys[key].history == journey.history
            assert result.journeys[key].event_ids == journey.event_ids
