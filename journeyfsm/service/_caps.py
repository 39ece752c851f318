"""Frequency caps and quiet hours: what an outbox worker checks before it delivers.

Theory of operation
-------------------
An effect carries a *channel* (``@machine.effect(channel="email")``).  A worker configured
with ``caps=`` and/or ``quiet_hours=`` decides, for every claimed row of a channel it caps,
in ONE write transaction of the store, before it runs the effect:

1. quiet hours: when it is quiet for the customer (in the customer's time zone) the row is
   deferred to the end of the quiet hours (no transaction needed beyond the deferral);
2. the store serializes the customer+channel (PostgreSQL: a transaction advisory lock on
   the pair; SQLite: the write lock; the memory stores: their lock), reads the customer's
   deliveries of the channel inside the longest window (the ``deliveries`` ledger) and
   either records this row's delivery there (it fits every cap) or defers the row to the
   moment the oldest counted delivery leaves the window, or drops it (``on_cap="drop"``).

The customer is the journey key: the same key in several definitions is one customer, so
a cap counts across all journeys on the store (pass ``customer=`` to derive it otherwise,
e.g. from ``call.data``).  Delivery stays at-least-once: the ledger row is written BEFORE
the effect runs, keyed by the outbox row, so a worker killed after sending and before
marking the row done leaves the delivery counted; the retry finds its own ledger row and
runs again without counting twice.  A cap therefore bounds the distinct effects delivered
(never more than ``limit`` in any window); a receiver dedupes retries on the
idempotency key as before.  An effect that fails gives its ledger row back (it did not
reach the customer; its retry is checked again).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import attrs

from .._hooks import OnCap, check_channel, check_on_cap
from .._outcome import EffectCall

__all__ = ["CapDecision", "CapPolicy", "FrequencyCap", "OnCap", "QuietHours", "check_channel"]


#: The longest cap window: the worker counts deliveries back from now by the window and
#: defers forward by it, which a window near ``timedelta.max`` would overflow.
MAX_WINDOW = timedelta(days=36500)


def _span(per: timedelta) -> str:
    seconds = int(per.total_seconds())
    for unit, size in (("h", 3600), ("min", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _z(at: datetime) -> str:
    return at.astimezone(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


@attrs.frozen
class FrequencyCap:
    """At most ``limit`` deliveries of ``channel`` per customer in any ``per`` window.

    ``on_cap``: what happens to an effect over the cap: ``"defer"`` (default: due again
    when the oldest counted delivery leaves the window) or ``"drop"`` (the row is kept
    with status ``dropped`` and the reason).  An effect registered with ``on_cap=``
    overrides it.

    >>> from datetime import timedelta
    >>> cap = FrequencyCap(channel="email", limit=2, per=timedelta(hours=24))
    >>> cap.describe()
    'email 2 per 24h'
    >>> FrequencyCap(channel="email", limit=0, per=timedelta(hours=1))
    Traceback (most recent call last):
    ...
    ValueError: FrequencyCap: limit must be an int >= 1, got 0 (to stop a channel, do not register its effects)
    """

    channel: str
    limit: int
    per: timedelta
    on_cap: OnCap = "defer"

    def __attrs_post_init__(self) -> None:
        check_channel(self.channel, "FrequencyCap")
        if type(self.limit) is not int or self.limit < 1:
            raise ValueError(
                f"FrequencyCap: limit must be an int >= 1, got {self.limit!r} "
                "(to stop a channel, do not register its effects)"
            )
        if not isinstance(self.per, timedelta) or not (
            timedelta(seconds=1) <= self.per <= MAX_WINDOW
        ):
            raise ValueError(
                f"FrequencyCap: per must be a timedelta of at least 1 second and at most "
                f"{MAX_WINDOW.days} days (100 years), got {self.per!r}"
            )
        check_on_cap(self.on_cap, "FrequencyCap")

    def describe(self) -> str:
        """``"email 2 per 24h"``: how the cap is named in reasons and logs."""
        return f"{self.channel} {self.limit} per {_span(self.per)}"


def _zone(name: str, where: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise ValueError(
            f"{where}: unknown time zone {name!r}; use an IANA name such as 'Europe/Paris'"
        ) from None


def _channels(value: Iterable[str] | None) -> frozenset[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        raise ValueError(f"QuietHours: channels must be a list of channels, got {value!r}")
    return frozenset(value)


@attrs.frozen
class QuietHours:
    """No delivery on ``channels`` (all capped channels when ``None``) between ``start``
    and ``end`` local time of the customer; an effect due then is deferred to ``end``.

    ``tz``: an IANA zone name, or a function of the ``EffectCall`` giving one (e.g. from
    ``call.data``); when it gives ``None`` or an unknown zone, ``default_tz`` is used.
    ``start > end`` spans midnight (21:00-08:00).  A local ``end`` that does not exist
    (the clocks jump over it) is read with the offset before the jump (02:30 on Paris's
    spring-forward night ends the quiet hours at 03:30 CEST); one that happens
    twice (the clocks go back) ends the quiet hours at its first pass, or at its second
    for a ``now`` in the repeated hour after the first (never a deferral to the past).

    >>> from datetime import datetime, time, timezone
    >>> quiet = QuietHours(start=time(21), end=time(8), tz="Europe/Paris")
    >>> quiet.until(None, datetime(2026, 12, 7, 22, 0, tzinfo=timezone.utc))
    datetime.datetime(2026, 12, 8, 7, 0, tzinfo=datetime.timezone.utc)
    >>> quiet.until(None, datetime(2026, 12, 7, 12, 0, tzinfo=timezone.utc)) is None
    True
    """

    start: time
    end: time
    tz: str | Callable[[EffectCall], str | None] = "UTC"
    default_tz: str = "UTC"
    channels: frozenset[str] | None = attrs.field(default=None, converter=_channels)

    def __attrs_post_init__(self) -> None:
        for name in ("start", "end"):
            value = getattr(self, name)
            if not isinstance(value, time) or value.tzinfo is not None:
                raise ValueError(
                    f"QuietHours: {name} must be a datetime.time without tzinfo (local "
                    f"wall time; the zone is tz=), got {value!r}"
                )
        if self.start == self.end:
            raise ValueError("QuietHours: start and end are equal; quiet hours need a span")
        if isinstance(self.tz, str):
            _zone(self.tz, "QuietHours(tz=...)")
        elif not callable(self.tz):
            raise ValueError(
                f"QuietHours: tz must be a zone name or a function of the EffectCall, "
                f"got {self.tz!r}"
            )
        _zone(self.default_tz, "QuietHours(default_tz=...)")
        for channel in self.channels or ():
            check_channel(channel, "QuietHours(channels=...)")

    def zone(self, call: EffectCall | None) -> ZoneInfo:
        """The customer's zone for ``call``."""
        name = self.tz if isinstance(self.tz, str) else None
        if name is None and call is not None:
            assert callable(self.tz)
            got = self.tz(call)
            name = got if isinstance(got, str) else None
        if name is not None:
            try:
                return ZoneInfo(name)
            except (ZoneInfoNotFoundError, ValueError, TypeError):
                pass
        return ZoneInfo(self.default_tz)

    def until(self, call: EffectCall | None, now: datetime) -> datetime | None:
        """When the quiet hours around ``now`` end (UTC), or ``None`` if it is not quiet."""
        zone = self.zone(call)
        local = now.astimezone(zone)
        t = local.time().replace(tzinfo=None)
        if self.start < self.end:
            quiet = self.start <= t < self.end
        else:
            quiet = t >= self.start or t < self.end
        if not quiet:
            return None
        day = local.date()
        if t >= self.end:  # past today's end (in an overnight span): tomorrow's
            day += timedelta(days=1)
        end = datetime.combine(day, self.end, tzinfo=zone).astimezone(timezone.utc)
        if end <= now:  # the clocks went back: now is in the repeated hour, after the
            # first pass of the end time; the quiet hours end at its second pass
            second = datetime.combine(day, self.end.replace(fold=1), tzinfo=zone)
            end = second.astimezone(timezone.utc)
        return end

    def describe(self, call: EffectCall | None) -> str:
        """``"quiet hours 21:00-08:00 Europe/Paris"``."""
        return (
            f"quiet hours {self.start.strftime('%H:%M')}-{self.end.strftime('%H:%M')} "
            f"{self.zone(call).key}"
        )


@attrs.frozen
class CapDecision:
    """What a worker does with a row: deliver (``until`` and ``drop`` unset), defer it to
    ``until`` or drop it; ``reason`` names the rule ("capped: email 2 per 24h until ...")."""

    until: datetime | None = None
    drop: bool = False
    reason: str = ""


class CapPolicy:
    """The caps and quiet hours of one worker, checked at its construction."""

    def __init__(
        self,
        caps: Sequence[FrequencyCap],
        quiet_hours: QuietHours | None,
        customer: Callable[[EffectCall], str] | None,
    ) -> None:
        if isinstance(caps, FrequencyCap) or not isinstance(caps, (list, tuple)):
            raise ValueError(f"caps must be a list of FrequencyCap, got {caps!r}")
        by: dict[str, list[FrequencyCap]] = {}
        for cap in caps:
            if not isinstance(cap, FrequencyCap):
                raise ValueError(f"caps must be a list of FrequencyCap, got an item {cap!r}")
            same = [c for c in by.get(cap.channel, []) if c.per == cap.per]
            if same:
                raise ValueError(
                    f"two caps on channel {cap.channel!r} with the same window "
                    f"({cap.describe()} and {same[0].describe()}); keep one"
                )
            by.setdefault(cap.channel, []).append(cap)
        if quiet_hours is not None and not isinstance(quiet_hours, QuietHours):
            raise ValueError(f"quiet_hours must be a QuietHours, got {quiet_hours!r}")
        if customer is not None and not callable(customer):
            raise ValueError(f"customer must be a function of the EffectCall, got {customer!r}")
        self.caps: Mapping[str, tuple[FrequencyCap, ...]] = {k: tuple(v) for k, v in by.items()}
        self.window: Mapping[str, timedelta] = {
            k: max(c.per for c in v) for k, v in self.caps.items()
        }
        self.quiet = quiet_hours
        self.customer = customer

    def customer_of(self, call: EffectCall) -> str:
        """Who is counted: the journey key, or ``customer(call)``."""
        if self.customer is None:
            return call.key
        who = self.customer(call)
        if not isinstance(who, str) or not who:
            raise ValueError(f"customer(call) must give a non-empty str, got {who!r}")
        return who

    def quiet_for(self, channel: str) -> QuietHours | None:
        """The quiet hours that apply to ``channel``."""
        q = self.quiet
        if q is None or (q.channels is not None and channel not in q.channels):
            return None
        return q

    def applies(self, channel: str | None) -> bool:
        """Whether a row of ``channel`` is checked at all."""
        return channel is not None and (channel in self.caps or self.quiet_for(channel) is not None)

    def decide(
        self,
        channel: str,
        on_cap: OnCap | None,
        sent: Sequence[datetime],
        now: datetime,
    ) -> CapDecision:
        """Given the customer's deliveries ``sent`` of ``channel`` (inside the longest
        window), whether one more fits every cap."""
        worst: tuple[datetime, FrequencyCap] | None = None
        for cap in self.caps.get(channel, ()):
            inside = sorted(at for at in sent if at > now - cap.per)
            if len(inside) >= cap.limit:
                fits_at = inside[len(inside) - cap.limit] + cap.per
                if worst is None or fits_at > worst[0]:
                    worst = (fits_at, cap)
        if worst is None:
            return CapDecision()
        fits_at, cap = worst
        if (on_cap or cap.on_cap) == "drop":
            return CapDecision(drop=True, reason=f"capped: {cap.describe()}; dropped")
        return CapDecision(until=fits_at, reason=f"capped: {cap.describe()} until {_z(fits_at)}")


def quiet_decision(quiet: QuietHours, call: EffectCall, now: datetime) -> CapDecision | None:
    """A deferral to the end of the quiet hours, or ``None`` when it is not quiet."""
    until = quiet.until(call, now)
    if until is None:
        return None
    return CapDecision(until=until, reason=f"{quiet.describe(call)} until {_z(until)}")
