"""Time: an injectable clock, and the one rule that every datetime is timezone-aware UTC.

Also the ISO text of times, remembered: ``datetime.isoformat()`` costs about as much as
the rest of a snapshot, and a request writes the same few times again and again (the
journey's ``entered_at`` is its new history entry's ``at``; ``started_at`` is the time
restore just parsed).  :func:`iso` remembers the text of the last few hundred datetime
objects by identity (a datetime is immutable, and the cache holds it, so an id is never
reused while its entry lives); :func:`remember_iso` lets restore hand in the text it
parsed when that text is exactly what ``isoformat()`` would write.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Protocol, runtime_checkable

__all__ = [
    "Clock",
    "ManualClock",
    "SystemClock",
    "aware_time",
    "ensure_utc",
    "iso",
    "remember_iso",
]

UTC = timezone.utc


@runtime_checkable
class Clock(Protocol):
    """Anything with ``now() -> datetime`` (timezone-aware) can be a clock.

    >>> from journeyfsm import SystemClock
    >>> SystemClock().now().tzinfo is not None
    True
    """

    def now(self) -> datetime:
        """The current time, timezone-aware."""
        ...


class SystemClock:
    """The wall clock, in UTC. The default clock of every machine."""

    __slots__ = ()

    def now(self) -> datetime:
        """The wall-clock time in UTC."""
        return datetime.now(UTC)

    def __repr__(self) -> str:
        return "SystemClock()"


class ManualClock:
    """A clock that only moves when told to; for tests and simulations.

    >>> from datetime import datetime, timedelta, timezone
    >>> clock = ManualClock(datetime(2026, 1, 1, tzinfo=timezone.utc))
    >>> clock.advance(timedelta(hours=2)).isoformat()
    '2026-01-01T02:00:00+00:00'
    """

    __slots__ = ("_now",)

    def __init__(self, start: datetime | None = None) -> None:
        self._now = (
            ensure_utc(start, what="ManualClock(start=...)")
            if start
            else datetime(2026, 1, 1, tzinfo=UTC)
        )

    def now(self) -> datetime:
        """The time this clock was last set or advanced to."""
        return self._now

    def set(self, when: datetime) -> datetime:
        """Jump to ``when`` (timezone-aware); returns the new time."""
        self._now = ensure_utc(when, what="ManualClock.set(when=...)")
        return self._now

    def advance(self, delta: timedelta | float = 0) -> datetime:
        """Move forward by ``delta`` (a timedelta or seconds); returns the new time."""
        step = delta if isinstance(delta, timedelta) else timedelta(seconds=delta)
        if step < timedelta(0):
            raise ValueError(f"ManualClock.advance() takes a non-negative delta, got {step}")
        self._now = self._now + step
        return self._now

    def __repr__(self) -> str:
        return f"ManualClock({self._now.isoformat()})"


def ensure_utc(value: datetime, *, what: str = "datetime") -> datetime:
    """Return ``value`` converted to UTC; reject naive datetimes with a clear error."""
    if not isinstance(value, datetime):
        raise TypeError(f"{what} must be a datetime, got {type(value).__name__}")
    offset = value.utcoffset()
    if offset is None:
        raise ValueError(
            f"{what} is a naive datetime ({value.isoformat()}); journeyfsm needs "
            "timezone-aware times: pass datetime(..., tzinfo=timezone.utc) or "
            "value.replace(tzinfo=timezone.utc) if it is already UTC"
        )
    if value.tzinfo is UTC:
        return value
    try:
        return value.astimezone(UTC)
    except OverflowError:  # 0001-01-01 east of UTC, 9999-12-31 west of it
        raise ValueError(
            f"{what} ({value.isoformat()}) is outside the years 1 to 9999 once converted "
            "to UTC; pass a time within them"
        ) from None


# -- ISO text, remembered ----------------------------------------------------------------
_ISO: dict[int, tuple[datetime, str]] = {}
_ISO_MAX = 512  # entries; emptied when full (a request needs the last few only)


def aware_time(value: object) -> datetime | None:
    """``value`` read as an ISO 8601 time with an offset (as snapshots and the stores'
    ``goals`` column hold times), else ``None``: for pages that show stored text.

    >>> aware_time("2026-03-01T11:00:00+00:00").hour, aware_time("2026-03-01"), aware_time(5)
    (11, None, None)
    """
    if not isinstance(value, str):
        return None
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        return None
    return at if at.tzinfo is not None else None


def iso(value: datetime) -> str:
    """``value.isoformat()``, remembered for the same object.

    >>> t = datetime(2026, 1, 1, 9, 30, tzinfo=UTC)
    >>> iso(t), iso(t) is iso(t)
    ('2026-01-01T09:30:00+00:00', True)
    """
    hit = _ISO.get(id(value))
    if hit is not None and hit[0] is value:
        return hit[1]
    text = value.isoformat()
    if value.__class__ is datetime:  # a subclass may write itself otherwise
        if len(_ISO) >= _ISO_MAX:
            _ISO.clear()
        _ISO[id(value)] = (value, text)
    return text


def remember_iso(value: datetime, text: str) -> None:
    """Remember ``text`` as the ISO text of ``value`` if it is exactly what
    ``value.isoformat()`` writes for a UTC time (``YYYY-MM-DDTHH:MM:SS[.ffffff]+00:00``);
    ``value`` must be what ``datetime.fromisoformat(text)`` returned.

    >>> t = datetime.fromisoformat("2026-01-01T09:30:00+00:00")
    >>> remember_iso(t, "2026-01-01T09:30:00+00:00"); iso(t)
    '2026-01-01T09:30:00+00:00'
    """
    # fromisoformat read the digits (ASCII only) of a time it accepted; the separators
    # at 4, 7, 10, 13, 16 and 19 say it was the extended form isoformat() writes, six
    # fraction digits exactly when there are microseconds, then "+00:00" (fromisoformat
    # gives timezone.utc for a zero offset, as isoformat() writes it)
    if value.__class__ is not datetime or value.tzinfo is not UTC:
        return
    n = len(text)
    if n == 25:
        if value.microsecond or text[4:20:3] != "--T::+" or text[19:] != "+00:00":
            return
    elif n != 32 or not value.microsecond or text[4:20:3] != "--T::." or text[26:] != "+00:00":
        return
    if len(_ISO) >= _ISO_MAX:
        _ISO.clear()
    _ISO[id(value)] = (value, text)


#: ``timedelta.max`` in seconds as a float: it rounds up past the edge, to 8.64e13
_MAX_FLOAT_SECONDS = timedelta.max.total_seconds()


def span_seconds(value: timedelta) -> int | float:
    """A span as the dict form writes it: whole seconds as an exact int, else a float
    (``timedelta.max`` becomes the float nearest it, which :func:`seconds_span` reads
    back as ``timedelta.max``)."""
    if not value.microseconds:
        return value.days * 86400 + value.seconds
    return value.total_seconds()


def seconds_span(value: int | float) -> timedelta:
    """The span of a number of seconds (``OverflowError`` / ``ValueError`` when out of
    range, ``ValueError`` for NaN); the float :func:`span_seconds` writes for
    ``timedelta.max`` reads back as ``timedelta.max``."""
    if type(value) is float and value == _MAX_FLOAT_SECONDS:
        return timedelta.max
    return timedelta(seconds=value)
