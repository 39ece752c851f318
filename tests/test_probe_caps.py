"""Quiet hours and caps at delivery, probed at the edges of local time (issue 20,
"Frequency caps"): a deferral always lies in the future, across every DST change."""

from __future__ import annotations

from datetime import datetime, time, timedelta, timezone
from typing import Any

import pytest
from conftest import quiet_logger
from hypothesis import given, settings
from hypothesis import strategies as st

from journeyfsm import (
    EffectCall,
    JourneyBuilder,
    JourneyMachine,
    JourneyService,
    ManualClock,
    OutboxWorker,
    QuietHours,
)
from journeyfsm.stores import MemoryStore

UTC = timezone.utc
ZONES = ["Europe/Paris", "America/New_York", "Australia/Lord_Howe", "Pacific/Chatham", "UTC"]


@settings(max_examples=400, deadline=None)
@given(
    zone=st.sampled_from(ZONES),
    start=st.times(),
    end=st.times(),
    now=st.datetimes(
        min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(UTC)
    ),
)
def test_a_quiet_hours_deferral_is_always_later_and_ends_the_quiet(
    zone: str, start: time, end: time, now: datetime
) -> None:
    if start == end:
        return
    quiet = QuietHours(start=start, end=end, tz=zone)
    until = quiet.until(None, now)
    if until is None:
        return
    assert until > now  # was: the first pass of an end time in the repeated hour, past
    assert until - now <= timedelta(hours=26)


def test_in_the_repeated_hour_the_quiet_hours_end_at_the_second_pass() -> None:
    # 2026-10-25 in Paris: 03:00 CEST becomes 02:00 CET; 02:15 CET is 01:15 UTC
    quiet = QuietHours(start=time(1), end=time(2, 30), tz="Europe/Paris")
    assert quiet.until(None, datetime(2026, 10, 25, 1, 15, tzinfo=UTC)) == datetime(
        2026, 10, 25, 1, 30, tzinfo=UTC
    )
    # before the clocks go back, the first pass (02:30 CEST) ends them
    assert quiet.until(None, datetime(2026, 10, 24, 23, 30, tzinfo=UTC)) == datetime(
        2026, 10, 25, 0, 30, tzinfo=UTC
    )


def test_a_worker_in_the_repeated_hour_defers_once_and_does_not_spin() -> None:
    clock = ManualClock(datetime(2026, 10, 25, 1, 15, tzinfo=UTC))
    sent: list[str] = []
    d = (
        JourneyBuilder("news")
        .stage("a", initial=True)
        .stage("b", final=True)
        .transition("ping", "a", "a")
        .transition("stop", "a", "b")
        .build()
    )
    machine = JourneyMachine(d, clock=clock, logger=quiet_logger())

    @machine.effect(on_transition="ping", channel="email")
    def mail(call: EffectCall) -> None:
        sent.append(call.idempotency_key)

    store = MemoryStore()
    JourneyService(machine, store).handle("c-1", "ping")
    quiet: Any = QuietHours(start=time(1), end=time(2, 30), tz="Europe/Paris")
    worker = OutboxWorker(machine, store, quiet_hours=quiet)
    assert worker.run_once() == 1 and sent == []  # deferred
    assert worker.run_once() == 0  # was: claimed again at once, deferred to the past, ...
    clock.advance(timedelta(minutes=15))
    assert worker.run_once() == 1 and sent == ["news:c-1:1:mail"]


@pytest.mark.parametrize("zone", ZONES)
def test_quiet_hours_across_midnight_in_every_zone_end_at_the_local_end(zone: str) -> None:
    from zoneinfo import ZoneInfo

    quiet = QuietHours(start=time(21), end=time(8), tz=zone)
    now = datetime(2026, 6, 1, 23, 0, tzinfo=ZoneInfo(zone)).astimezone(UTC)
    until = quiet.until(None, now)
    assert until is not None and until.astimezone(ZoneInfo(zone)).time() == time(8)
