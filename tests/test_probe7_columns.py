"""Probe 7 (issue 19): Arrow column types the columnar engine reads as the Python path does.

Dictionary-encoded columns (a pandas ``Categorical``, a polars ``Categorical``, a Parquet
file written from either) and ``string_view`` columns (Arrow >= 16, DuckDB's and newer
polars' strings) hold the same values as plain text columns: the columnar engine must
replay them to the Python path's result, or fall back, never answer differently or crash.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from journeyfsm import JourneyBuilder, JourneyDefinition, col
from journeyfsm.analytics import LogMapping, replay

MAPPING = LogMapping(
    key="k", event="e", time="t", event_id="id", payload=("s",), meta=("s",), segments=("g",)
)
ROWS: dict[str, list[str]] = {
    "k": ["a", "a", "b", "b", "c", "", "a"],
    "e": ["engage", "want", "engage", "zz", "engage", "engage", "want"],
    "t": [
        "2026-01-01T10:00:00Z",
        "2026-01-01T11:00:00Z",
        "2026-01-01T10:00:00Z",
        "2026-01-01T12:00:00Z",
        "",
        "2026-01-01T10:00:00Z",
        "2026-01-01T11:00:00Z",
    ],
    "id": ["", "i1", "i1", "", "", "", "i1"],
    "s": ["", "x", "x", "", "y", "", "x"],
    # the first non-empty value is the journey's: a "" before it is no value
    "g": ["", "web", "", "ads", "", "x", "z"],
}


def _shop() -> JourneyDefinition:
    return (
        JourneyBuilder("shop")
        .stage("visitor", initial=True)
        .stage("browsing")
        .stage("customer", final=True)
        .transition("engage", "visitor", "browsing")
        .transition("want", "browsing", "customer", guards=[col("s") == "x"])
        .build()
    )


def _outcome(result: Any) -> tuple[Any, ...]:
    s = result.summary
    return (
        result.stage_counts(),
        dict(result.segments),
        [(b.line, b.reason) for b in s.bad_rows],
        s.rows_read,
        s.events_applied,
        [t.to_dict() for t in s.triggers],
        {k: dict(j.data) for k, j in result.journeys.items()},
        {
            k: [(e.trigger, e.event_id, e.meta) for e in j.history]
            for k, j in result.journeys.items()
        },
    )


def _table(column: str, kind: str) -> pa.Table:
    columns = {name: pa.array(values, pa.string()) for name, values in ROWS.items()}
    plain = columns[column]
    columns[column] = (
        plain.dictionary_encode() if kind == "dictionary" else plain.cast(pa.string_view())
    )
    return pa.table(columns)


@pytest.mark.parametrize("kind", ["dictionary", "string_view"])
@pytest.mark.parametrize("column", list(ROWS))
def test_dictionary_and_string_view_columns_replay_as_plain_text(column: str, kind: str) -> None:
    d = _shop()
    table = _table(column, kind)
    plain = replay(d, pa.table(ROWS), MAPPING, engine="fast")
    columnar = replay(d, table, MAPPING)
    fast = replay(d, table, MAPPING, engine="fast")
    assert _outcome(fast) == _outcome(plain)
    assert _outcome(columnar) == _outcome(fast)
    assert columnar.engine == "columnar", columnar.summary.engine_note


@pytest.mark.parametrize("partitions", [1, 3])
def test_a_categorical_segment_column_in_parquet_keeps_the_first_non_empty_value(
    tmp_path: Path, partitions: int
) -> None:
    # pandas writes the Categorical as a dictionary column, which pyarrow reads back as one
    frame = pd.DataFrame({**ROWS, "g": pd.Categorical(ROWS["g"])})
    path = tmp_path / "log.parquet"
    frame.to_parquet(path, row_group_size=2)
    assert pa.types.is_dictionary(pq.read_schema(path).field("g").type)
    d = _shop()
    columnar = replay(d, path, MAPPING, partitions=partitions)
    fast = replay(d, path, MAPPING, engine="fast")
    assert columnar.engine == "columnar", columnar.summary.engine_note
    assert (
        dict(columnar.segments)
        == dict(fast.segments)
        == {
            "a": {"g": "web"},
            "b": {"g": "ads"},
        }
    )
    assert _outcome(columnar) == _outcome(fast)


def test_pandas_categorical_and_polars_categorical_frames_replay_on_the_columnar_engine() -> None:
    import polars as pl

    d = _shop()
    frames = [
        pd.DataFrame(ROWS).astype("category"),
        pl.DataFrame(ROWS).with_columns(pl.all().cast(pl.Categorical)),
    ]
    expected = _outcome(replay(d, pa.table(ROWS), MAPPING, engine="fast"))
    for frame in frames:
        columnar = replay(d, frame, MAPPING)
        assert columnar.engine == "columnar", columnar.summary.engine_note
        assert _outcome(columnar) == expected
        assert _outcome(replay(d, frame, MAPPING, engine="fast")) == expected


@pytest.mark.parametrize("writer", ["pandas", "polars"])
def test_a_parquet_log_of_large_strings_with_event_ids_streams_in_parts(
    tmp_path: Path, writer: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # pandas 3 and polars write text as large_string; the parts' event ids were merged as
    # string, and the streamed replay raised ArrowTypeError
    import polars as pl

    import journeyfsm.analytics._colstream as colstream

    path = tmp_path / "log.parquet"
    if writer == "pandas":
        # pandas 3 writes its default str columns as large_string; pandas 2 (all Python
        # 3.10 has) writes object columns as string, so ask it for Arrow's type outright
        frame = pd.DataFrame(ROWS).astype(pd.ArrowDtype(pa.large_string()))
        frame.to_parquet(path, row_group_size=3)
    else:
        pl.DataFrame(ROWS).write_parquet(path, row_group_size=3)
    assert pq.read_schema(path).field("id").type == pa.large_string()
    d = _shop()
    fast = replay(d, path, MAPPING, engine="fast")
    for parts in (2, 3):
        parted = replay(d, path, MAPPING, partitions=parts)
        assert (parted.engine, parted.summary.partitions) == ("columnar", parts)
        assert _outcome(parted) == _outcome(fast)
    # and so does the automatic switch, for a file over STREAM_BYTES
    monkeypatch.setattr(colstream, "STREAM_BYTES", 1)
    monkeypatch.setattr(colstream, "PART_BYTES", 64)
    auto = replay(d, path, MAPPING)
    assert auto.engine == "columnar" and auto.summary.partitions > 1
    assert _outcome(auto) == _outcome(fast)


def test_a_parquet_log_of_categoricals_streams_by_its_key_on_the_columnar_engine(
    tmp_path: Path,
) -> None:
    path = tmp_path / "log.parquet"
    pd.DataFrame(ROWS).astype("category").to_parquet(path, row_group_size=2)
    assert pa.types.is_dictionary(pq.read_schema(path).field("k").type)
    d = _shop()
    fast = replay(d, path, MAPPING, engine="fast")
    for parts in (1, 3):
        columnar = replay(d, path, MAPPING, partitions=parts)
        assert columnar.engine == "columnar", columnar.summary.engine_note
        assert _outcome(columnar) == _outcome(fast)
