"""The log mapping (which columns of an event log mean what), its errors, and timestamps.

See :mod:`._logs` for how a log is read with it, and docs/replay.md for the user's view.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import attrs

from .._clock import UTC
from .._definition import JourneyDefinition
from .._errors import JourneyError, close_matches

__all__ = [
    "BadRowError",
    "LogFormat",
    "LogMapping",
    "MappingError",
    "ReplayError",
    "TimeFormat",
    "TimeReader",
    "missing",
    "parse_time",
    "segments_of",
]

LogFormat = Literal["csv", "jsonl", "parquet"]
#: how a log's times are written: ISO-8601 (the default, compact ``19970101`` included),
#: or unix epoch numbers in seconds (``epoch`` / ``epoch_s``) or milliseconds
TimeFormat = Literal["iso", "epoch", "epoch_s", "epoch_ms"]
TIME_FORMATS: tuple[str, ...] = ("iso", "epoch", "epoch_s", "epoch_ms")


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


def _check_time_format(instance: Any, attribute: Any, value: Any) -> None:
    if value not in TIME_FORMATS:
        raise MappingError(
            f"LogMapping time_format must be one of {', '.join(map(repr, TIME_FORMATS))}, "
            f"got {value!r}"
        )


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
    naive timestamps are read; ``format`` overrides the file suffix.  ``time_format``
    says how times are written: ``"iso"`` (the default: ISO-8601, compact dates such as
    ``19970101`` included) or unix epoch numbers, ``"epoch"``/``"epoch_s"`` (seconds)
    or ``"epoch_ms"`` (milliseconds); a number under ``"iso"`` is a bad row that says so.

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
    time_format: TimeFormat = attrs.field(default="iso", validator=_check_time_format)

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
            "time_format": self.time_format,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LogMapping:
        """A mapping from a dict such as :meth:`to_dict` writes; unknown keys are refused.

        >>> LogMapping.from_dict({"key": "k", "event": "e", "tim": "t"})
        Traceback (most recent call last):
        ...
        journeyfsm.analytics._mapping.MappingError: unknown key 'tim' in the log mapping (did you mean 'time'?); keys: key, event, time, event_id, payload, meta, segments, triggers, timezone, format, time_format
        """
        if not isinstance(data, Mapping):
            raise MappingError(f"a log mapping must be a JSON object, got {type(data).__name__}")
        known = (*cls._FIELDS, "timezone", "format", "time_format")
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


# -- rows ------------------------------------------------------------------------------
def missing(key: Any, name: Any, ts: Any, m: LogMapping) -> str:
    """The reason a row without its key, event name or time is bad."""
    what = []
    if not key:
        what.append(f"journey key ({m.key!r})")
    if not isinstance(name, str) or not name:
        what.append(f"event name ({m.event!r})")
    if ts is None or ts == "":
        what.append(f"time ({m.time!r})")
    return "no " + ", no ".join(what) if what else "unreadable row"


def segments_of(
    segments: dict[str, dict[str, str]], key: str, values: list[tuple[str, Any]]
) -> None:
    """Keep the first non-empty value of each segment column for ``key``."""
    have = segments.get(key)
    if have is None:
        have = segments[key] = {}
    for column, value in values:
        if column not in have and value is not None and value != "":
            have[column] = value if isinstance(value, str) else str(value)


# -- times -----------------------------------------------------------------------------
_fromiso = datetime.fromisoformat
_fromts = datetime.fromtimestamp

#: ``YYYYMMDD``, ``YYYYMMDDTHHMM[SS[.ffffff]]`` with an optional ``Z`` or ``+HH[:]MM``:
#: ISO-8601's basic (compact) format, which ``fromisoformat`` reads only from Python 3.11
_COMPACT = re.compile(
    r"(\d{4})(\d{2})(\d{2})"
    r"(?:[T ](\d{2})(\d{2})(\d{2})?(?:[.,](\d{1,6}))?)?"
    r"(Z|z|[+-]\d{2}(?::?\d{2})?)?"
)


def _compact(value: str) -> datetime:
    """A compact ISO-8601 time (``19970101``, ``19970101T101500Z``) as ``fromisoformat``
    reads its extended form; ``ValueError`` otherwise."""
    m = _COMPACT.fullmatch(value)
    if m is None:
        raise ValueError(f"not an ISO-8601 time: {value!r}")
    year, month, day, hour, minute, second, fraction, offset = m.groups()
    text = f"{year}-{month}-{day}"
    if hour is not None:
        text += f"T{hour}:{minute}:{second or '00'}"
        if fraction:
            text += "." + fraction.ljust(6, "0")
    if offset:
        if offset in "zZ":
            offset = "+00:00"
        elif len(offset) == 3:
            offset += ":00"
        elif ":" not in offset:
            offset = f"{offset[:3]}:{offset[3:]}"
        text += ("" if hour is not None else "T00:00:00") + offset
    return _fromiso(text)


def _is_number(value: Any) -> bool:
    if value.__class__ is int or value.__class__ is float:
        return True
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True


def _number(text: str) -> int | float:
    """A numeric string as an int when it is whole (exact milliseconds), else a float."""
    try:
        return int(text)
    except ValueError:
        return float(text)


def time_problem(value: Any, time_format: str = "iso") -> str:
    """Why ``value`` is not a time under ``time_format`` (the reason of its bad row)."""
    if time_format == "iso" and value.__class__ is not bool and _is_number(value):
        return (
            f"time {value!r} is a number, not an ISO-8601 time: for unix epoch times set the "
            "mapping's time_format='epoch' (seconds) or 'epoch_ms' (milliseconds) "
            "(--time-format on the command line)"
        )
    if time_format == "iso":
        return f"time {value!r} is not an ISO-8601 time (2026-01-05T09:00:00Z, 20260105)"
    unit = "milliseconds" if time_format == "epoch_ms" else "seconds"
    return f"time {value!r} is not a number of epoch {unit} (time_format={time_format!r})"


def parse_time(value: Any, zone: tzinfo = UTC, time_format: str = "iso") -> datetime:
    """An ISO-8601 string (compact ``19970101`` and ``19970101T101500Z`` included) or a
    datetime as an aware UTC datetime; a naive one is read in ``zone``.  Under
    ``time_format="epoch"`` (or ``"epoch_s"``) numbers (or numeric strings) are unix
    epoch seconds, under ``"epoch_ms"`` milliseconds; a datetime is read in any format.
    ``ValueError`` otherwise (a number under ``"iso"`` included: it names the option).

    >>> parse_time("2026-03-01T10:00:00+01:00").isoformat()
    '2026-03-01T09:00:00+00:00'
    >>> parse_time("19970101").isoformat()
    '1997-01-01T00:00:00+00:00'
    >>> parse_time("1767225600", time_format="epoch").isoformat()
    '2026-01-01T00:00:00+00:00'
    >>> parse_time("1767225600000", time_format="epoch_ms").isoformat()
    '2026-01-01T00:00:00+00:00'
    >>> parse_time("2026-07-01 12:00", ZoneInfo("Europe/Berlin")).isoformat()
    '2026-07-01T10:00:00+00:00'
    >>> parse_time("1767225600")
    Traceback (most recent call last):
    ...
    ValueError: time '1767225600' is a number, not an ISO-8601 time: for unix epoch times set the mapping's time_format='epoch' (seconds) or 'epoch_ms' (milliseconds) (--time-format on the command line)
    """
    cls = value.__class__
    if isinstance(value, datetime):
        at = value
    elif time_format != "iso":
        if cls is bool or not (cls is int or cls is float or cls is str):
            raise ValueError(time_problem(value, time_format))
        try:
            number = value if cls is not str else _number(value)
        except ValueError:
            raise ValueError(time_problem(value, time_format)) from None
        if time_format == "epoch_ms":
            if number.__class__ is int:
                return _EPOCH + timedelta(milliseconds=number)
            return _fromts(number / 1000, UTC)
        return _fromts(number, UTC)
    elif cls is str:
        if len(value) > 4 and value[4] == "-":  # ISO-8601, extended: YYYY-...
            text = value[:-1] + "+00:00" if value[-1] in "zZ" else value
            at = _fromiso(text)
        else:
            try:
                at = _compact(value)
            except ValueError:
                raise ValueError(time_problem(value, time_format)) from None
    else:
        raise ValueError(time_problem(value, time_format))
    tz = at.tzinfo
    if tz is UTC:
        return at
    if tz is None:
        return at.replace(tzinfo=UTC) if zone is UTC else at.replace(tzinfo=zone).astimezone(UTC)
    return at.astimezone(UTC)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
#: times outside [PLAUSIBLE_FROM, PLAUSIBLE_TO) make replay warn: a misread column
#: (numbers read in the wrong unit, dates read as numbers) lands far outside it
PLAUSIBLE_FROM = datetime(1980, 1, 1, tzinfo=UTC)
PLAUSIBLE_TO = datetime(2100, 1, 1, tzinfo=UTC)


def implausible(first: datetime | None, last: datetime | None, column: str) -> str | None:
    """A warning when the log's event times (``first`` .. ``last``) leave the plausible
    range, else None."""
    if first is None or last is None:
        return None
    if first >= PLAUSIBLE_FROM and last < PLAUSIBLE_TO:
        return None
    return (
        f"the event times run from {first.isoformat()} to {last.isoformat()}, outside "
        f"{PLAUSIBLE_FROM.year}-{PLAUSIBLE_TO.year - 1}: check how the time column "
        f"{column!r} is read (the mapping's time_format: 'iso', 'epoch' seconds or "
        "'epoch_ms'; its timezone)"
    )


_HOUR_LAST = timedelta(hours=1) - timedelta(microseconds=1)


class TimeReader:
    """Reads a log's timestamps exactly as :func:`parse_time` does, faster for the
    shapes logs have: ISO-8601 with a zero offset is ``fromisoformat``'s result as it is,
    and a naive time is read in ``zone`` through a cache of the zone's UTC offset per
    wall-clock hour.  An hour is cached when the offset at its first and its last
    microsecond agree (no zone changes its offset twice within an hour); an hour with a
    change in it (a DST switch at half past, say) converts each time through ``zone``.
    In a DST fold or gap the offset is the one before the change, as with ``fold=0``.

    >>> read = TimeReader(ZoneInfo("Europe/Berlin"))
    >>> [read(t).isoformat() for t in ("2026-03-29 01:30", "2026-03-29 03:30")]
    ['2026-03-29T00:30:00+00:00', '2026-03-29T01:30:00+00:00']
    >>> TimeReader(time_format="epoch")("1767225600").isoformat()
    '2026-01-01T00:00:00+00:00'
    """

    MAX_HOURS = 65_536  # cached hours at most (about 7 years of a log); then start over

    def __init__(self, zone: tzinfo = UTC, time_format: str = "iso") -> None:
        self.zone = zone
        self.time_format = time_format
        #: ISO-8601 times: the fast CSV loop may read them inline
        self.iso = time_format == "iso"
        self._offsets: dict[int, timedelta | None] = {}

    def __call__(self, value: Any) -> datetime:
        """``value`` as an aware UTC datetime; ``ValueError`` when it is not a time."""
        if self.iso and value.__class__ is str and len(value) > 4 and value[4] == "-":
            try:
                at = _fromiso(value)
            except ValueError:
                return parse_time(value, self.zone)  # "...Z" before Python 3.11
            tz = at.tzinfo
            if tz is UTC:
                return at
            if tz is None:
                return self.naive(at)
            return at.astimezone(UTC)
        return parse_time(value, self.zone, self.time_format)

    def problem(self, value: Any) -> str:
        """Why ``value`` is no time (the reason of its bad row)."""
        return time_problem(value, self.time_format)

    def naive(self, at: datetime) -> datetime:
        """A naive wall time in ``zone``, as an aware UTC datetime."""
        zone = self.zone
        if zone is UTC:
            return at.replace(tzinfo=UTC)
        hour = at.toordinal() * 24 + at.hour
        offsets = self._offsets
        offset: timedelta | None = offsets.get(hour, _UNKNOWN)
        if offset is _UNKNOWN:
            if len(offsets) >= self.MAX_HOURS:
                offsets.clear()
            offset = offsets[hour] = self._hour_offset(at)
        if offset is None or at.fold:
            return at.replace(tzinfo=zone).astimezone(UTC)
        return (at - offset).replace(tzinfo=UTC)

    def _hour_offset(self, at: datetime) -> timedelta | None:
        """The zone's offset through the wall-clock hour of ``at`` (None: it changes)."""
        first = at.replace(minute=0, second=0, microsecond=0, fold=0)
        try:
            last = first + _HOUR_LAST
        except OverflowError:
            return None
        offset = first.replace(tzinfo=self.zone).utcoffset()
        return offset if offset == last.replace(tzinfo=self.zone).utcoffset() else None


_UNKNOWN: Any = object()
