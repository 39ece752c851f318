"""Time: an injectable clock, and the one rule that every datetime is timezone-aware UTC."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Protocol, runtime_checkable

__all__ = ["Clock", "ManualClock", "SystemClock", "ensure_utc"]

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
            ensure_utc(start, what="ManualClock start")
            if start
            else datetime(2026, 1, 1, tzinfo=UTC)
        )

    def now(self) -> datetime:
        """The time this clock was last set or advanced to."""
        return self._now

    def set(self, when: datetime) -> datetime:
        """Jump to ``when`` (timezone-aware); returns the new time."""
        self._now = ensure_utc(when, what="ManualClock.set()")
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
    return value.astimezone(UTC)
