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
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import attrs

from .._clock import UTC
from .._definition import JourneyDefinition
from .._errors import DataError, JourneyError, close_matches
from .._json import FrozenDict, copy_checked

__all__ = [
    "BadRowError",
    "Event",
    "LogFormat",
    "LogMapping",
    "LogReader",
    "MappingError",
    "ReplayError",
    "parse_time",
]

LogFormat = Literal["csv", "jsonl", "parquet"]
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


class ReplayError(JourneyError, ValueError):
    """A replay could not run, or stopped (``line``: the log line concerned, if any)."""

    def __init__(self, message: str, *, line: int | None = None, **where: Any) -> None:
        super().__init__(message, **where)
        self.line = line


class MappingError(ReplayError):
    """The log mapping does not fit the definition or the file (a usage mistake)."""


class BadRowError(ReplayError):
    """``strict=True`` and a row could not be used; ``line`` says which."""


def _names(value: Any, what: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    items = tuple(value)
    for item in items:
        if not isinstance(item, str) or not item:
            raise MappingError(f"LogMapping {what} must be column names (str), got {item!r}")
    return items


# one converter per field: the attrs mypy plugin does not read lambdas
def _payload_names(value: Any) -> tuple[str, ...]:
    return _names(value, "payload")


def _meta_names(value: Any) -> tuple[str, ...]:
    return _names(value, "meta")


def _segment_names(value: Any) -> tuple[str, ...]:
    return _names(value, "segments")


def _optional_column(value: Any) -> str | None:
    return None if value is None else _column(value)


def _triggers(value: Any) -> Mapping[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise MappingError(
            f"LogMapping triggers must map event names to triggers ({{'page_view': "
            f"'browse'}}), got {type(value).__name__}"
        )
    for k, v in value.items():
        if not isinstance(k, str) or not isinstance(v, str) or not k or not v:
            raise MappingError(
                f"LogMapping triggers must map event names (str) to trigger names (str), "
                f"got {k!r}: {v!r}"
            )
    return dict(value)


def _column(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise MappingError(f"a LogMapping column must be a non-empty str, got {value!r}")
    return value


def _zone(name: str) -> tzinfo:
    if name.upper() == "UTC":
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise MappingError(
            f"unknown timezone {name!r} for naive timestamps; use an IANA name such as "
            "'UTC', 'Europe/Berlin' or 'America/New_York'"
        ) from None


def _check_timezone(instance: Any, attribute: Any, value: Any) -> None:
    if not isinstance(value, str):
        raise MappingError(f"LogMapping timezone must be a str, got {value!r}")
    _zone(value)


def _check_format(instance: Any, attribute: Any, value: Any) -> None:
    if value is not None and value not in ("csv", "jsonl", "parquet"):
        raise MappingError(f"LogMapping format must be 'csv', 'jsonl' or 'parquet', got {value!r}")


@attrs.frozen
class LogMapping:
    """Which columns of an event log mean what, and which event names are which triggers.

    ``key``, ``event`` and ``time`` name the journey key, event name and timestamp
    columns; ``event_id`` an optional id column (a repeated id is a ``duplicate``);
    ``payload`` columns become the payload dict guards read, ``meta`` columns the history
    entry's metadata, ``segments`` columns are kept per journey (first non-empty value).
    ``triggers`` maps event names to triggers (several names may map to one trigger);
    events it does not name are skipped and counted.  Without ``triggers``, an event
    whose name is a trigger of the definition is that trigger.  ``timezone`` says how
    naive timestamps are read; ``format`` overrides the file suffix.

    >>> m = LogMapping(key="customer", event="event", time="ts",
    ...                triggers={"page_view": "browse", "search": "browse"})
    >>> LogMapping.from_dict(m.to_dict()) == m
    True
    >>> m.columns()
    ('customer', 'event', 'ts')
    """

    key: str = attrs.field(converter=_column)
    event: str = attrs.field(converter=_column)
    time: str = attrs.field(converter=_column)
    event_id: str | None = attrs.field(default=None, converter=_optional_column)
    payload: tuple[str, ...] = attrs.field(default=(), converter=_payload_names)
    meta: tuple[str, ...] = attrs.field(default=(), converter=_meta_names)
    segments: tuple[str, ...] = attrs.field(default=(), converter=_segment_names)
    triggers: Mapping[str, str] = attrs.field(factory=dict, converter=_triggers, hash=False)
    timezone: str = attrs.field(default="UTC", validator=_check_timezone)
    format: LogFormat | None = attrs.field(default=None, validator=_check_format)

    _FIELDS = ("key", "event", "time", "event_id", "payload", "meta", "segments", "triggers")

    def columns(self) -> tuple[str, ...]:
        """Every column the mapping reads, each once, in mapping order."""
        cols = [self.key, self.event, self.time]
        if self.event_id is not None:
            cols.append(self.event_id)
        cols += [*self.payload, *self.meta, *self.segments]
        return tuple(dict.fromkeys(cols))

    def to_dict(self) -> dict[str, Any]:
        """The mapping as JSON-able data (what ``--map mapping.json`` holds)."""
        return {
            "key": self.key,
            "event": self.event,
            "time": self.time,
            "event_id": self.event_id,
            "payload": list(self.payload),
            "meta": list(self.meta),
            "segments": list(self.segments),
            "triggers": dict(self.triggers),
            "timezone": self.timezone,
            "format": self.format,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LogMapping:
        """A mapping from a dict such as :meth:`to_dict` writes; unknown keys are refused.

        >>> LogMapping.from_dict({"key": "k", "event": "e", "tim": "t"})
        Traceback (most recent call last):
        ...
        journeyfsm.analytics._logs.MappingError: unknown key 'tim' in the log mapping (did you mean 'time'?); keys: key, event, time, event_id, payload, meta, segments, triggers, timezone, format
        """
        if not isinstance(data, Mapping):
            raise MappingError(f"a log mapping must be a JSON object, got {type(data).__name__}")
        known = (*cls._FIELDS, "timezone", "format")
        for name in data:
            if name not in known:
                close = close_matches(str(name), known)
                hint = f" (did you mean {', '.join(map(repr, close))}?)" if close else ""
                raise MappingError(
                    f"unknown key {name!r} in the log mapping{hint}; keys: {', '.join(known)}"
                )
        missing = [name for name in ("key", "event", "time") if data.get(name) is None]
        if missing:
            raise MappingError(
                f"the log mapping needs the column(s) {', '.join(missing)} (journey key, event "
                "name, timestamp)"
            )
        values = {k: v for k, v in data.items() if v is not None}
        return cls(**values)

    @classmethod
    def load(cls, path: str | Path) -> LogMapping:
        """Read a mapping from a JSON file (the CLI's ``--map``)."""
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as err:
            raise MappingError(f"cannot read the log mapping {str(path)!r}: {err}") from None
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise MappingError(
                f"the log mapping {str(path)!r} is not valid JSON: {err.msg} at line "
                f"{err.lineno}, column {err.colno}"
            ) from None
        return cls.from_dict(data)

    def trigger_map(self, definition: JourneyDefinition) -> dict[str, str]:
        """Event name -> trigger, checked against ``definition`` (unknown trigger: error)."""
        known = definition.triggers
        if not self.triggers:
            return {t: t for t in known}
        for event, trigger in self.triggers.items():
            if trigger not in known:
                close = close_matches(trigger, known)
                hint = f"did you mean {', '.join(map(repr, close))}? " if close else ""
                raise MappingError(
                    f"the log mapping maps event {event!r} to trigger {trigger!r}, which "
                    f"definition {definition.name!r} does not have; {hint}triggers: "
                    f"{', '.join(known)}",
                    trigger=trigger,
                )
        return dict(self.triggers)

    def zone(self) -> tzinfo:
        """The zone naive timestamps are read in."""
        return _zone(self.timezone)


# -- times -----------------------------------------------------------------------------
_fromiso = datetime.fromisoformat
_fromts = datetime.fromtimestamp


def parse_time(value: Any, zone: tzinfo = UTC) -> datetime:
    """An ISO-8601 string, unix epoch seconds (number or numeric string) or a datetime
    as an aware UTC datetime; a naive one is read in ``zone``.  ``ValueError`` otherwise.

    >>> parse_time("2026-03-01T10:00:00+01:00").isoformat()
    '2026-03-01T09:00:00+00:00'
    >>> parse_time("1767225600").isoformat()
    '2026-01-01T00:00:00+00:00'
    >>> parse_time("2026-07-01 12:00", ZoneInfo("Europe/Berlin")).isoformat()
    '2026-07-01T10:00:00+00:00'
    """
    cls = value.__class__
    if cls is str:
        if len(value) > 4 and value[4] == "-":  # ISO-8601: YYYY-...
            text = value[:-1] + "+00:00" if value[-1] in "zZ" else value
            at = _fromiso(text)
        else:
            return _fromts(float(value), UTC)
    elif cls is int or cls is float:
        return _fromts(value, UTC)
    elif isinstance(value, datetime):
        at = value
    else:
        raise ValueError(f"expected an ISO-8601 string or epoch seconds, got {cls.__name__}")
    tz = at.tzinfo
    if tz is UTC:
        return at
    if tz is None:
        return at.replace(tzinfo=UTC) if zone is UTC else at.replace(tzinfo=zone).astimezone(UTC)
    return at.astimezone(UTC)


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
        with self.path.open(newline="", encoding="utf-8") as f:
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
            fromiso = _fromiso
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
                        _frozen_columns(row, meta) if meta else None,
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
        with self.path.open(encoding="utf-8") as f:
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


def _frozen_columns(row: list[str], columns: list[tuple[str, int]]) -> FrozenDict | None:
    """History meta from CSV cells: strings only, so read-only as it is (None if empty)."""
    out = _columns(row, columns, None)
    return None if out is None else FrozenDict(out)


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
