"""ReplayResult.merge and replay partitioned by journey key on Dask: the merged result
has the counts, funnels and time in stage of one replay of the whole log."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from conftest import quiet_logger
from distributed import Client, LocalCluster

from benchmarks import figures_replay
from journeyfsm import JourneyMachine, templates
from journeyfsm.analytics import (
    LogMapping,
    ReplayError,
    ReplayResult,
    funnel,
    replay,
    replay_dask,
    split_by_key,
)
from journeyfsm.analytics._colread import load_table

EXAMPLES = Path(__file__).parent.parent / "examples" / "data"
END = datetime(2026, 4, 1, tzinfo=timezone.utc)


def figures(result: ReplayResult) -> dict[str, Any]:
    """What a merge must reproduce: every count of the summary, stages, the funnel."""
    s = result.summary.to_dict()
    for k in ("source", "seconds", "warnings", "bad_rows", "engine_note", "partitions"):
        del s[k]
    return {"summary": s, "stages": result.stage_counts()}


@pytest.fixture(scope="module")
def client() -> Iterator[Client]:
    # two workers in this process: threads start in well under a second (processes
    # would pay an interpreter and the imports each); the tests bound every wait
    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
        ) as cluster,
        Client(cluster, timeout="30s") as c,
    ):
        yield c


def test_merge_of_a_log_split_by_key_equals_the_whole_replay(tmp_path: Path) -> None:
    mapping = LogMapping.load(EXAMPLES / "shop_events.map.json")
    d = templates.eight_phases()
    log = EXAMPLES / "shop_events.csv"
    whole = replay(d, log, mapping, end=END)
    table = load_table(log, mapping)
    parts = split_by_key(table, mapping.key, 3)
    assert sum(p.num_rows for p in parts) == table.num_rows
    keys = [set(p.column(mapping.key).to_pylist()) for p in parts]
    assert not (keys[0] & keys[1]) and not (keys[1] & keys[2])
    merged = ReplayResult.merge(replay(d, p, mapping, end=END) for p in parts)
    assert figures(merged) == figures(whole)
    assert funnel(merged.journeys.values(), d) == funnel(whole.journeys.values(), d)
    assert dict(merged.journeys) == dict(whole.journeys)
    assert merged.segments == whole.segments
    assert merged.summary.bad_row_count == whole.summary.bad_row_count == 6


def test_merge_refuses_overlapping_or_mismatched_parts(tmp_path: Path) -> None:
    mapping = {"key": "k", "event": "e", "time": "t"}
    log = tmp_path / "a.csv"
    log.write_text("k,e,t\nc1,engage,2026-01-01T10:00:00Z\n")
    a = replay(templates.aida(), log, mapping)
    with pytest.raises(ReplayError, match="journey 'c1' is in two parts"):
        ReplayResult.merge([a, a])
    other = replay(templates.aida(), log, {**mapping, "timezone": "Europe/Berlin"})
    with pytest.raises(ReplayError, match="different timezones"):
        ReplayResult.merge([a, other])
    with pytest.raises(ValueError, match="at least one"):
        ReplayResult.merge([])
    with pytest.raises(TypeError, match="takes ReplayResults"):
        ReplayResult.merge([a, "b"])  # type: ignore[list-item]


def test_replay_on_dask_with_two_workers_equals_one_process(client: Client, tmp_path: Path) -> None:
    log = figures_replay.write_log(tmp_path / "shop.csv", 3000, 300)
    d = figures_replay.shop()
    end = figures_replay.T0 + timedelta(days=400)
    whole = replay(d, log, figures_replay.MAPPING, end=end)
    on_dask = replay_dask(d, log, figures_replay.MAPPING, client=client, end=end)
    assert figures(on_dask) == figures(whole)
    assert funnel(on_dask.journeys.values(), d) == funnel(whole.journeys.values(), d)
    assert dict(on_dask.journeys) == dict(whole.journeys)
    # parts the workers read themselves: Parquet files split by key beforehand
    table = load_table(log, figures_replay.MAPPING)
    files = []
    for i, part in enumerate(split_by_key(table, "customer", 4)):
        pq.write_table(part, tmp_path / f"part-{i}.parquet")
        files.append(tmp_path / f"part-{i}.parquet")
    from_files = replay_dask(d, files, figures_replay.MAPPING, client=client, end=end)
    assert figures(from_files) == figures(whole)


def test_replay_dask_takes_dataframes_and_machines(client: Client) -> None:
    import pandas as pd

    df = pd.DataFrame(
        {
            "k": ["c1", "c2", "c1", "c3"],
            "e": ["engage", "engage", "want", "engage"],
            "t": pd.to_datetime(
                ["2026-01-01 10:00", "2026-01-01 11:00", "2026-01-02 10:00", "2026-01-03 00:00"],
                utc=True,
            ),
        }
    )
    mapping = {"key": "k", "event": "e", "time": "t"}
    machine = JourneyMachine(templates.aida(), logger=quiet_logger())
    result = replay_dask(machine, df, mapping, client=client, parts=2)
    assert result.stage_counts() == replay(machine, df, mapping).stage_counts()
    assert result.summary.journeys == 3 and result.engine == "columnar"


def test_replay_dask_checks_its_arguments(client: Client, tmp_path: Path) -> None:
    mapping = {"key": "k", "event": "e", "time": "t"}
    with pytest.raises(TypeError, match=r"distributed\.Client"):
        replay_dask(templates.aida(), tmp_path / "x.csv", mapping, client=object())
    with pytest.raises(ReplayError, match="no such log file"):
        replay_dask(templates.aida(), tmp_path / "x.csv", mapping, client=client)
    with pytest.raises(ValueError, match="empty list"):
        replay_dask(templates.aida(), [], mapping, client=client)
    with pytest.raises(TypeError, match="splits a log file"):
        replay_dask(templates.aida(), 42, mapping, client=client)
    with pytest.raises(ValueError, match="positive int"):
        split_by_key(
            load_table(
                EXAMPLES / "shop_events.csv", LogMapping.load(EXAMPLES / "shop_events.map.json")
            ),
            "customer",
            0,
        )


def test_a_machine_with_hooks_does_not_go_to_the_workers(client: Client, tmp_path: Path) -> None:
    machine = JourneyMachine(templates.aida(), logger=quiet_logger())
    machine.before(lambda ctx: None)
    with pytest.raises(ReplayError, match="hooks or effects"):
        replay_dask(
            machine, tmp_path / "x.csv", {"key": "k", "event": "e", "time": "t"}, client=client
        )


def test_a_workers_journeys_travel_packed_and_arrive_whole(tmp_path: Path) -> None:
    import pickle

    mapping = LogMapping.load(EXAMPLES / "shop_events.map.json")
    d = templates.eight_phases()
    result = replay(d, EXAMPLES / "shop_events.csv", mapping, end=END)
    assert result.engine == "columnar"
    first = next(iter(result.journeys))
    moved = result.journeys[first]  # built before it travels: it goes as it is now
    JourneyMachine(d, logger=quiet_logger()).fire(moved, "research", at=END)
    back = pickle.loads(pickle.dumps(result.journeys.packed())).journeys()  # type: ignore[attr-defined]
    assert type(back).__name__ == "ColumnarJourneys" and not set(back.built) - {0}
    assert list(back) == list(result.journeys)
    assert dict(back) == dict(result.journeys)
    assert back.stage_counts() == result.stage_counts()
    fresh = replay(d, EXAMPLES / "shop_events.csv", mapping, end=END)
    packed = pickle.loads(pickle.dumps(fresh.journeys.packed())).journeys()  # type: ignore[attr-defined]
    assert funnel(packed.values(), d) == funnel(fresh.journeys.values(), d)
