"""Event logs: which columns mean what (:class:`LogMapping`), and reading rows as events.

Theory of operation
-------------------
A log is read once, as a stream, by a :class:`LogReader`: CSV (header line first), JSON
Lines (one object per line) or Parquet (when ``pyarrow`` is installed).  Each data row is
turned into an *event*, a plain tuple the replay loops read without attribute lookups::

    (at, line, key, trigger, event_id, payload, meta)

or counted and dropped: a row whose event name maps to no trigger is *skipped* (counted
per name, never an error, and its time is not read); a row that cannot be used (missing
key, event or time, a time that is neither ISO-8601 nor unix epoch seconds, a line that
is not a JSON object, ...) is a *bad row*, kept with its 1-based line number.  Segment
columns are collected from every usable row, skipped ones included (the first non-empty
value per journey key wins), since the acquisition channel often rides on an event the
journey does not model.

Times become timezone-aware UTC: a naive time is read in the mapping's ``timezone``
(``zoneinfo``; default UTC; an ambiguous wall time in a DST fold takes the first
occurrence), an aware one is converted.  CSV values are strings, JSON values keep their
JSON types; empty cells and JSON nulls are left out of ``payload`` and ``meta``.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from .._clock import UTC
from .._errors import DataError
from .._json import FrozenDict, copy_checked
from ._mapping import (
    BadRowError,
    LogFormat,
    LogMapping,
    MappingError,
    parse_time,
)

__all__ = ["MAX_BAD_ROWS", "Event", "LogReader", "log_format"]

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
            return self._csv()
        if self.format == "jsonl":
            return self._dict_rows(self._jsonl())
        return self._dict_rows(self._parquet())

    # -- CSV: a tight loop over csv.reader, strings only --------------------------------
    def _csv(self) -> Iterator[Event]:
        m = self.mapping
        with self.path.open(newline="", encoding="utf-8-sig") as f:  # -sig: a BOM is no column
            reader = csv.reader(f)
            try:
                header = next(reader)
            except StopIteration:
                raise MappingError(
                    f"{self.path.name} is empty: a CSV log starts with a header line"
                ) from None
            except (csv.Error, UnicodeDecodeError) as err:
                raise MappingError(f"{self.path.name}: cannot read the header: {err}") from None
            self._missing_columns(header)
            col = {name: header.index(name) for name in m.columns()}
            ki, ei, ti = col[m.key], col[m.event], col[m.time]
            ii = col[m.event_id] if m.event_id is not None else -1
            pay = [(name, col[name]) for name in m.payload]
            meta = [(name, col[name]) for name in m.meta]
            seg = [(name, col[name]) for name in m.segments]
            width = len(header)
            triggers, skipped, segments, zone = (
                self.triggers,
                self.skipped,
                self.segments,
                self.zone,
            )
            bad = self.bad
            progress, size = self.progress, max(1, self.path.stat().st_size)
            raw: Any = f.buffer  # the byte position, for progress
            last = reader.line_num
            rows = 0
            n_seg = len(seg)
            fromiso = datetime.fromisoformat
            frozen_meta = _MetaCache(meta)
            try:
                for row in reader:
                    line = last + 1
                    last = reader.line_num
                    if not row:
                        continue  # a blank line
                    rows += 1
                    if progress is not None and not rows & 0x3FFF:
                        progress(raw.tell() / size)
                    if len(row) != width:
                        self.rows_read = rows
                        bad(line, f"{len(row)} fields, the header has {width}")
                        continue
                    key, name, ts = row[ki], row[ei], row[ti]
                    if not key or not name or not ts:
                        self.rows_read = rows
                        bad(line, _missing(key, name, ts, m))
                        continue
                    if n_seg:
                        have = segments.get(key)
                        if have is None or len(have) < n_seg:
                            _segments(segments, key, [(c, row[i]) for c, i in seg])
                    trigger = triggers.get(name)
                    if trigger is None:
                        skipped[name] = skipped.get(name, 0) + 1
                        continue
                    # the common case inline: ISO-8601 with a zero offset (parse_time's
                    # first branch); anything else goes through parse_time
                    at = None
                    if len(ts) > 4 and ts[4] == "-":
                        try:  # noqa: SIM105 - contextlib.suppress costs more per row
                            at = fromiso(ts)
                        except ValueError:
                            pass
                    if at is None or at.tzinfo is not UTC:
                        try:
                            at = parse_time(ts, zone)
                        except (ValueError, OverflowError, OSError):
                            self.rows_read = rows
                            bad(line, f"time {ts!r} is neither ISO-8601 nor epoch seconds")
                            continue
                    yield (
                        at,
                        line,
                        key,
                        trigger,
                        (row[ii] or None) if ii >= 0 else None,
                        _columns(row, pay, {}) if pay else None,
                        frozen_meta(row) if meta else None,
                    )
            except csv.Error as err:
                raise MappingError(
                    f"{self.path.name}, line {reader.line_num}: not readable as CSV: {err}"
                ) from None
            finally:
                self.rows_read = rows
        if progress is not None:
            progress(1.0)

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
                    yield line, f"not valid JSON: {err.msg} at column {err.colno}"
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
        pf = pq.ParquetFile(self.path)
        self._missing_columns(list(pf.schema_arrow.names))
        total = max(1, pf.metadata.num_rows)
        line = 0
        for batch in pf.iter_batches(columns=list(self.mapping.columns())):
            for obj in batch.to_pylist():
                line += 1
                yield line, obj
            if self.progress is not None:
                self.progress(line / total)

    def _dict_rows(self, rows: Iterator[tuple[int, Any]]) -> Iterator[Event]:
        m = self.mapping
        triggers, skipped, zone = self.triggers, self.skipped, self.zone
        for line, obj in rows:
            self.rows_read += 1
            if isinstance(obj, str):
                self.bad(line, obj)
                continue
            if not isinstance(obj, dict):
                self.bad(line, f"a {type(obj).__name__}, not a JSON object")
                continue
            key, name, ts = _text(obj.get(m.key)), obj.get(m.event), obj.get(m.time)
            if not key or not isinstance(name, str) or not name or ts is None or ts == "":
                self.bad(line, _missing(key, name, ts, m))
                continue
            if m.segments:
                _segments(self.segments, key, [(c, obj.get(c)) for c in m.segments])
            trigger = triggers.get(name)
            if trigger is None:
                skipped[name] = skipped.get(name, 0) + 1
                continue
            try:
                at = parse_time(ts, zone)
            except (ValueError, OverflowError, OSError, TypeError):
                self.bad(line, f"time {ts!r} is neither ISO-8601 nor epoch seconds")
                continue
            eid = (_text(obj.get(m.event_id)) or None) if m.event_id is not None else None
            try:
                payload = _fields(obj, m.payload, "payload", key) if m.payload else None
                extra = (_fields(obj, m.meta, "meta", key) or None) if m.meta else None
            except DataError as err:
                self.bad(line, str(err))
                continue
            yield (at, line, key, trigger, eid, payload, extra)


def _columns(
    row: list[str], columns: list[tuple[str, int]], empty: dict[str, str] | None
) -> dict[str, str] | None:
    """The non-empty cells of ``columns`` as a dict (``empty`` when there are none)."""
    if len(columns) == 1:  # the common case, without building a comprehension
        ((name, i),) = columns
        value = row[i]
        return {name: value} if value else empty
    out = {name: row[i] for name, i in columns if row[i]}
    return out if out else empty


class _MetaCache:
    """History meta from CSV cells, shared between rows with the same values.

    The cells are strings, so the meta dict is read-only as it is (a ``FrozenDict``, what
    ``fire`` stores) and rows with the same values can share one: a channel column gives
    a handful of dicts for a million history entries.  At most ``MAX_SHARED`` distinct
    values are kept; later ones get a dict of their own.
    """

    MAX_SHARED = 4096

    def __init__(self, columns: list[tuple[str, int]]) -> None:
        self.columns = columns
        self.names = tuple(name for name, _ in columns)
        self.shared: dict[tuple[str, ...], FrozenDict | None] = {}

    def __call__(self, row: list[str]) -> FrozenDict | None:
        values = tuple([row[i] for _, i in self.columns])
        if values in self.shared:
            return self.shared[values]
        cells = {name: v for name, v in zip(self.names, values, strict=True) if v}
        meta = FrozenDict(cells) if cells else None
        if len(self.shared) < self.MAX_SHARED:
            self.shared[values] = meta
        return meta


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


def _missing(key: Any, name: Any, ts: Any, m: LogMapping) -> str:
    what = []
    if not key:
        what.append(f"journey key ({m.key!r})")
    if not isinstance(name, str) or not name:
        what.append(f"event name ({m.event!r})")
    if ts is None or ts == "":
        what.append(f"time ({m.time!r})")
    return "no " + ", no ".join(what) if what else "unreadable row"


def _segments(segments: dict[str, dict[str, str]], key: str, values: list[tuple[str, Any]]) -> None:
    have = segments.get(key)
    if have is None:
        have = segments[key] = {}
    for column, value in values:
        if column not in have and value is not None and value != "":
            have[column] = value if isinstance(value, str) else str(value)
