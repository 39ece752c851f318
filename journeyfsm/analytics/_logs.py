"""Event logs: which columns mean what (:class:`LogMapping`), and reading rows as events.

Theory of operation
-------------------
A log is read once, as a stream, by a :class:`LogReader`: CSV (header line first), JSON
Lines (one object per line) or Parquet (when ``pyarrow`` is installed).  Each data row is
turned into an *event*, a plain tuple the replay loops read without attribute lookups::

    (at, line, key, trigger, event_id, payload, meta)

or counted and dropped: a row whose event name maps to no trigger is *skipped* (counted
per name, never an error, and its time is not read); a row that cannot be used (missing
key, event or time, a time that is not ISO-8601 (or epoch numbers, by the mapping's
``time_format``), a line that
is not a JSON object, ...) is a *bad row*, kept with its 1-based line number.  Segment
columns are collected from every usable row, skipped ones included (the first non-empty
value per journey key wins), since the acquisition channel often rides on an event the
journey does not model.

Times become timezone-aware UTC: a naive time is read in the mapping's ``timezone``
(``zoneinfo``; default UTC; an ambiguous wall time in a DST fold takes the first
occurrence), an aware one is converted.  CSV values are strings, JSON values keep their
JSON types; empty cells and JSON nulls are left out of ``payload`` and ``meta``.
CSV is read by :func:`csv_events` over :mod:`._csvlog`, which the fast path's own loop
(:mod:`._fastcsv`) shares.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from .._errors import DataError
from .._json import copy_checked
from ._csvlog import CsvLog
from ._mapping import (
    BadRowError,
    LogFormat,
    LogMapping,
    MappingError,
    ReplayError,
    TimeReader,
    missing,
    segments_of,
)

__all__ = ["MAX_BAD_ROWS", "Event", "LogReader", "TableReader", "log_format"]

#: (at, line, key, trigger, event_id, payload, meta): one usable, mapped row; meta is
#: JSON-shaped (checked), read-only already when it came from CSV cells
Event = tuple[
    datetime, int, str, str, "str | None", "dict[str, Any] | None", "dict[str, Any] | None"
]

_SUFFIXES: dict[str, LogFormat] = {
    ".csv": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".parquet": "parquet",
    ".pq": "parquet",
}
MAX_BAD_ROWS = 100  # kept with their reasons; all of them are counted


# -- reading ---------------------------------------------------------------------------
def log_format(path: Path, mapping: LogMapping) -> LogFormat:
    """The format of ``path``: the mapping's ``format``, else the file suffix."""
    if mapping.format is not None:
        return mapping.format
    fmt = _SUFFIXES.get(path.suffix.lower())
    if fmt is None:
        raise MappingError(
            f"cannot tell the format of {str(path)!r} from its suffix; name it .csv, .jsonl "
            "or .parquet, or set the mapping's format ('csv', 'jsonl', 'parquet')"
        )
    return fmt


class LogReader:
    """Reads one log with one mapping, counting as it goes (one pass; make a new reader
    to read again).

    ``events()`` yields the mapped, usable rows as :data:`Event` tuples; afterwards
    ``rows_read``, ``bad_rows`` (the first 100), ``bad_row_count``, ``skipped`` (per
    event name) and ``segments`` (per journey key) describe the pass.  ``progress`` is
    called with the fraction of the file read, now and then.  With ``strict=True`` the
    first bad row raises :class:`BadRowError`.
    """

    def __init__(
        self,
        path: str | Path,
        mapping: LogMapping,
        triggers: Mapping[str, str],
        *,
        strict: bool = False,
        progress: Callable[[float], None] | None = None,
    ) -> None:
        self.path = Path(path)
        self.mapping = mapping
        self.format = log_format(self.path, mapping)
        self.triggers = dict(triggers)
        self.strict = strict
        self.progress = progress
        self.zone = mapping.zone()
        self.times = TimeReader(self.zone, mapping.time_format)
        self.rows_read = 0
        self.bad_rows: list[tuple[int, str]] = []
        self.bad_row_count = 0
        self.skipped: dict[str, int] = {}
        self.segments: dict[str, dict[str, str]] = {}
        if not self.path.is_file():
            raise MappingError(f"no such log file: {str(self.path)!r}")

    def bad(self, line: int, reason: str) -> None:
        """Count a bad row (``strict``: raise :class:`BadRowError` naming the line)."""
        if self.strict:
            raise BadRowError(
                f"{self.path.name}, line {line}: {reason} (strict replay stops at the first "
                "bad row; leave strict off to count bad rows and go on)",
                line=line,
            )
        self.bad_row_count += 1
        if len(self.bad_rows) < MAX_BAD_ROWS:
            self.bad_rows.append((line, reason))

    def _missing_columns(self, present: Sequence[str]) -> None:
        missing = [c for c in self.mapping.columns() if c not in present]
        if missing:
            raise MappingError(
                f"{self.path.name}: no column {', '.join(map(repr, missing))} in the log; "
                f"its columns are: {', '.join(present) or '(none)'}"
            )

    def events(self) -> Iterator[Event]:
        """The mapped, usable rows, in file order."""
        if self.format == "csv":
            return csv_events(self)
        if self.format == "jsonl":
            return self._dict_rows(self._jsonl())
        return self._dict_rows(self._parquet())

    # -- JSON Lines and Parquet: rows as dicts ------------------------------------------
    def _jsonl(self) -> Iterator[tuple[int, Any]]:
        size = max(1, self.path.stat().st_size)
        with self.path.open(encoding="utf-8-sig") as f:
            raw: Any = f.buffer  # the byte position, for progress
            checked = False
            for line, text in enumerate(f, 1):
                if not text.strip():
                    continue
                if self.progress is not None and not line & 0x3FFF:
                    self.progress(raw.tell() / size)
                try:
                    obj = json.loads(text)
                except json.JSONDecodeError as err:
                    yield line, _Unreadable(f"not valid JSON: {err.msg} at column {err.colno}")
                    continue
                if not checked and isinstance(obj, dict):
                    # the first object stands for the header: a column none of the rows
                    # could have is a mapping mistake, reported before anything runs
                    checked = True
                    present = list(obj)
                    m = self.mapping
                    if any(c not in present for c in (m.key, m.event, m.time)):
                        self._missing_columns(present)
                yield line, obj
        if self.progress is not None:
            self.progress(1.0)

    def _parquet(self) -> Iterator[tuple[int, Any]]:
        try:
            import pyarrow.parquet as pq  # type: ignore[import-not-found,unused-ignore]
        except ImportError:
            raise MappingError(
                f"{self.path.name}: reading Parquet needs pyarrow; install the extra: "
                "pip install 'journeyfsm[parquet]' (or convert the log to CSV / JSON Lines)"
            ) from None
        import pyarrow  # type: ignore[import-not-found,unused-ignore]

        try:
            pf = pq.ParquetFile(self.path)
        except pyarrow.ArrowException as err:
            raise MappingError(
                f"{self.path.name}: not a readable Parquet file ({err}); check the file, or "
                "set the mapping's format if it is CSV or JSON Lines"
            ) from None
        self._missing_columns(list(pf.schema_arrow.names))
        total = max(1, pf.metadata.num_rows)
        line = 0
        batches = pf.iter_batches(columns=list(self.mapping.columns()))
        while True:
            try:
                batch = next(batches, None)
            except pyarrow.ArrowException as err:
                raise ReplayError(
                    f"{self.path.name}: the Parquet file is damaged after row {line}: {err}"
                ) from None
            if batch is None:
                break
            for obj in batch.to_pylist():
                line += 1
                yield line, obj
            if self.progress is not None:
                self.progress(line / total)

    def _dict_rows(self, rows: Iterator[tuple[int, Any]]) -> Iterator[Event]:
        m = self.mapping
        triggers, skipped, times = self.triggers, self.skipped, self.times
        for line, obj in rows:
            self.rows_read += 1
            if obj.__class__ is _Unreadable:
                self.bad(line, obj)
                continue
            if not isinstance(obj, dict):
                self.bad(line, f"a {type(obj).__name__}, not a JSON object")
                continue
            key, name, ts = _text(obj.get(m.key)), obj.get(m.event), obj.get(m.time)
            if not key or not isinstance(name, str) or not name or ts is None or ts == "":
                self.bad(line, missing(key, name, ts, m))
                continue
            if m.segments:
                segments_of(self.segments, key, [(c, obj.get(c)) for c in m.segments])
            trigger = triggers.get(name)
            if trigger is None:
                skipped[name] = skipped.get(name, 0) + 1
                continue
            try:
                at = times(ts)
            except (ValueError, OverflowError, OSError, TypeError):
                self.bad(line, times.problem(ts))
                continue
            eid = (_text(obj.get(m.event_id)) or None) if m.event_id is not None else None
            try:
                payload = _fields(obj, m.payload, "payload", key) if m.payload else None
                extra = (_fields(obj, m.meta, "meta", key) or None) if m.meta else None
            except DataError as err:
                self.bad(line, str(err))
                continue
            yield (at, line, key, trigger, eid, payload, extra)


class TableReader(LogReader):
    """A :class:`LogReader` over an in-memory ``pyarrow.Table`` (an Arrow table, or a
    pandas or polars DataFrame converted to one), read row by row as a Parquet file is;
    ``name`` stands for the file name in messages (``"<pandas DataFrame>"``)."""

    def __init__(
        self,
        table: Any,
        name: str,
        mapping: LogMapping,
        triggers: Mapping[str, str],
        *,
        strict: bool = False,
        progress: Callable[[float], None] | None = None,
    ) -> None:
        self.table = table
        self.path = Path(name)
        self.mapping = mapping
        self.format = "parquet"
        self.triggers = dict(triggers)
        self.strict = strict
        self.progress = progress
        self.zone = mapping.zone()
        self.times = TimeReader(self.zone, mapping.time_format)
        self.rows_read = 0
        self.bad_rows = []
        self.bad_row_count = 0
        self.skipped = {}
        self.segments = {}
        self._missing_columns(list(table.column_names))

    def events(self) -> Iterator[Event]:
        return self._dict_rows(self._rows())

    def _rows(self) -> Iterator[tuple[int, Any]]:
        total = max(1, self.table.num_rows)
        line = 0
        for batch in self.table.select(list(self.mapping.columns())).to_batches(65_536):
            for obj in batch.to_pylist():
                line += 1
                yield line, obj
            if self.progress is not None:
                self.progress(line / total)


class _Unreadable(str):
    """Why a line is not JSON (a line that is a JSON string is a bad row of its own)."""


def _text(value: Any) -> str | None:
    """A key or id as text: strings as they are, whole numbers written out; else None."""
    if isinstance(value, str):
        return value
    if value.__class__ is int:
        return str(value)
    return None


def _fields(obj: Mapping[str, Any], names: tuple[str, ...], what: str, key: str) -> dict[str, Any]:
    out = {name: obj[name] for name in names if obj.get(name) not in (None, "")}
    return copy_checked(out, what, key=key)  # type: ignore[no-any-return]


def csv_events(reader: LogReader) -> Iterator[Event]:
    """The mapped, usable rows of a CSV log as events, in file order."""
    triggers, skipped, times, bad = reader.triggers, reader.skipped, reader.times, reader.bad
    progress = reader.progress
    rows = 0
    with CsvLog(reader) as log:
        ki, ei, ti, ii, width = log.key, log.event, log.time, log.event_id, log.width
        meta_of, segments, line_of = log.meta, log.segments, log.rows.line
        index = -1
        try:
            for row in log.rows:
                index += 1
                if not row:
                    continue  # a blank line
                line = line_of(row, index)  # where the row starts (tie-breaker of the sort)
                rows += 1
                if progress is not None and not rows & 0x3FFF:
                    progress(log.fraction())
                key, name, ts = (row[ki], row[ei], row[ti]) if len(row) == width else ("", "", "")
                if not key or not name or not ts:
                    reader.rows_read = rows
                    bad(line, log.problem(row) or "unreadable row")
                    continue
                if segments:
                    log.add_segments(key, row)
                trigger = triggers.get(name)
                if trigger is None:
                    skipped[name] = skipped.get(name, 0) + 1
                    continue
                try:
                    at = times(ts)
                except (ValueError, OverflowError, OSError):
                    reader.rows_read = rows
                    bad(line, log.bad_time(ts))
                    continue
                yield (
                    at,
                    line,
                    key,
                    trigger,
                    (row[ii] or None) if ii >= 0 else None,
                    log.payload_of(row),
                    meta_of(row) if meta_of is not None else None,
                )
        except csv.Error as err:
            raise log.error(err) from None
        finally:
            reader.rows_read = rows
    if progress is not None:
        progress(1.0)
