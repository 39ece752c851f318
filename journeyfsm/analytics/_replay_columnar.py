"""Replay on the columnar engine: the log read as columns, in memory or in key parts.

:func:`replay_columnar` is the columnar branch of :func:`~._replay.replay`: it reads the
input (an in-memory table; a CSV or Parquet file through :mod:`._colread`, a JSON Lines
file through :mod:`._coljson`), replays it on :class:`~._columnar.ColumnarReplay`, or in
key partitions (:mod:`._colstream`) when the file is big or ``partitions`` says so, and
builds the same :class:`~._replay_result.ReplayResult` as the Python path, bad rows with
their lines and reasons included.  Whatever it cannot do exactly raises
:class:`~._colread.Fallback`, and replay runs the Python path instead.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from .._clock import UTC
from .._definition import JourneyDefinition
from .._logging import JourneyLog
from .._runtime import JourneyMachine
from ._coljson import JsonBlock, read_jsonl
from ._colread import Columns, Fallback, load_table, read_columns
from ._colsegments import ColumnarSegments
from ._colstream import auto_partitions, replay_partitioned
from ._columnar import ColumnarReplay
from ._engine_replay import event_id_window
from ._logs import MAX_BAD_ROWS, log_format
from ._mapping import BadRowError, LogMapping
from ._replay_result import ReplayResult
from ._replay_summary import RowCounts, more_warnings, summarize
from ._tally import Tally

__all__ = ["replay_columnar"]

Progress = Callable[[float], None]


def replay_columnar(
    definition: JourneyDefinition,
    machine: JourneyMachine | None,
    table: Any,
    path: Path,
    mapping: LogMapping,
    triggers: Mapping[str, str],
    end_at: datetime | None,
    progress: Progress | None,
    started: float,
    log: JourneyLog,
    strict: bool,
    partitions: int | None,
) -> ReplayResult:
    """The replay on the columnar engine (:class:`~._colread.Fallback` when it cannot)."""
    from_table = table is not None
    end_us = None if end_at is None else (end_at - _EPOCH) // _US
    tally = Tally(definition.triggers, _no_bad_rows)
    first = last = None
    jsonl: JsonBlock | None = None
    if table is None:
        if not path.is_file():
            raise Fallback("no such log file (the Python path says so)")
        parts = auto_partitions(path, mapping) if partitions is None else partitions
        streamed = None
        if parts > 1:
            streamed = replay_partitioned(
                definition, event_id_window(machine), path, mapping, triggers, tally, end_us, parts,
                progress,
            )  # fmt: skip
        if streamed is not None:
            cols = streamed.cols
            bad_rows = _bad_rows(cols, path, log_format(path, mapping) == "csv", strict)
            journeys: Any = streamed.journeys
            unsorted = streamed.unsorted
            if streamed.first_us is not None and streamed.last_us is not None:
                first = _EPOCH + streamed.first_us * _US
                last = _EPOCH + streamed.last_us * _US
        else:
            parts = 1  # no data rows: in memory
            if log_format(path, mapping) == "jsonl":
                jsonl = read_jsonl(path, mapping)
                table = jsonl.table
            else:
                table = load_table(path, mapping)
    else:
        parts = 1
    if table is not None:
        index = {t: i for i, t in enumerate(definition.triggers)}
        cols = read_columns(table, mapping, triggers, index)
        del table  # read into cols: a file's table is not needed any more (memory)
        if jsonl is not None:  # rows -> lines, and the lines that are not objects
            cols.bad_rows = sorted(
                [(int(jsonl.lines[r]) - 1, why) for r, why in cols.bad_rows]
                + [(line - 1, why) for line, why in jsonl.bad]
            )
            cols.rows_read = jsonl.rows
            del jsonl
        is_csv = not from_table and log_format(path, mapping) == "csv"
        bad_rows = _bad_rows(cols, path, is_csv, strict)
        engine = ColumnarReplay(definition, event_id_window(machine), tally)
        if len(cols.at):
            first = _EPOCH + int(cols.at.min()) * _US
            last = _EPOCH + int(cols.at.max()) * _US
        engine.run(cols, end_us)
        journeys = engine.journeys()
        unsorted = engine.unsorted
    if unsorted:
        log.info("replay.unsorted", source=str(path))
    counts = RowCounts(path, mapping, cols.rows_read, cols.skipped)
    counts.bad_rows = bad_rows[:MAX_BAD_ROWS]
    counts.bad_row_count = len(bad_rows)
    summary = summarize(
        definition,
        path,
        counts,
        tally,
        journeys=len(journeys),
        end=end_at,
        fast=True,
        seconds=time.perf_counter() - started,
        engine="columnar",
        partitions=parts,
    )
    summary = more_warnings(summary, first, last, end_at, mapping, path, log)
    segments = ColumnarSegments(journeys, cols.segments) if mapping.segments else {}
    if progress is not None:
        progress(1.0)
    return ReplayResult(journeys, segments, summary, definition)


def _bad_rows(cols: Columns, path: Path, is_csv: bool, strict: bool) -> list[tuple[int, str]]:
    """The bad rows as (line, reason); ``strict``: :class:`BadRowError` for the first,
    as the Python path raises it.  A CSV's lines are its rows plus the header when it has
    no blank lines and no line breaks inside cells; otherwise a :class:`Fallback` (the
    Python path counts its lines)."""
    if not cols.bad_rows:
        return []
    first = 1
    if is_csv:
        if _line_count(path) != cols.rows_read + 1:
            raise Fallback("the CSV has blank lines or line breaks in cells, and bad rows")
        first = 2
    out = [(row + first, reason) for row, reason in cols.bad_rows]
    if strict:
        line, reason = out[0]
        raise BadRowError(
            f"{path.name}, line {line}: {reason} (strict "
            "replay stops at the first bad row; leave strict off to count bad rows and go on)",
            line=line,
        )
    return out


def _line_count(path: Path) -> int:
    """The lines of a file (a last line without a line break counts)."""
    lines, last = 0, b"\n"
    with path.open("rb") as f:
        while chunk := f.read(1 << 22):
            lines += chunk.count(b"\n")
            last = chunk[-1:]
    return lines + (last != b"\n")


def _no_bad_rows(line: int, reason: str) -> None:  # pragma: no cover - never called
    raise AssertionError("the columnar engine falls back on bad rows")


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)
