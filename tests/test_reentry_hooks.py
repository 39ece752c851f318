"""The re-entry step's machine-wide hooks (before/after run for ``journeyfsm.reenter``
as for any move, a failing one logged and rolled back) and a cooldown on a journey whose
finish time is unknown."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
import structlog
from conftest import START, quiet_logger
from test_reentry import definition, finished

from journeyfsm import (
    AsyncJourneyMachine,
    HookError,
    Journey,
    JourneyMachine,
    JourneyService,
    ManualClock,
)
from journeyfsm.stores import SQLiteStore

REENTER = "journeyfsm.reenter"


def recording(m: JourneyMachine, seen: list[str]) -> None:
    m.before(lambda ctx: seen.append(f"before {ctx.trigger}"))
    m.after(lambda ctx: seen.append(f"after {ctx.trigger}"))
    m.on_exit("won", lambda ctx: seen.append("exit won"))
    m.on_enter("new", lambda ctx: seen.append("enter new"))


ORDER = [
    f"before {REENTER}",
    "exit won",
    "enter new",
    f"after {REENTER}",
    "before open",
    "after open",
]


def test_machine_wide_hooks_run_for_the_restart_step_in_move_order() -> None:
    m = JourneyMachine(definition(), logger=quiet_logger())
    j = finished(m)
    seen: list[str] = []
    recording(m, seen)
    assert m.fire(j, "open").moved
    assert seen == ORDER


def test_the_async_machine_runs_them_in_the_same_order() -> None:
    m = AsyncJourneyMachine(definition(), logger=quiet_logger())
    seen: list[str] = []

    async def run() -> None:
        j = m.start("c-1")
        await m.fire(j, "open")
        await m.fire(j, "buy")
        recording(m._machine, seen)
        assert (await m.fire(j, "open")).moved

    asyncio.run(run())
    assert seen == ORDER


@pytest.mark.parametrize("kind", ["before", "after"])
def test_a_failing_machine_wide_hook_in_the_restart_step_is_logged_and_rolled_back(
    kind: str,
) -> None:
    m = JourneyMachine(definition())
    j = finished(m)
    snapshot = m.snapshot(j)

    def veto(ctx: Any) -> None:
        if ctx.trigger == REENTER:
            ctx.journey.data["spoiled"] = True
            raise ValueError("no restart today")

    getattr(m, kind)(veto)
    with structlog.testing.capture_logs() as events, pytest.raises(HookError) as info:
        m.fire(j, "open", event_id="e-9")
    assert info.value.hook is not None and "veto" in info.value.hook
    assert m.snapshot(j) == snapshot
    failed = [e for e in events if e["event"] == "journey.hook_failed"]
    assert len(failed) == 1
    assert (failed[0]["trigger"], failed[0]["source"], failed[0]["dest"]) == (REENTER, "won", "new")
    assert failed[0]["event_id"] == "e-9"
    assert not [e for e in events if e["event"] in ("journey.moved", "journey.reentered")]


def test_a_hook_failing_in_the_events_own_move_is_logged_once() -> None:
    m = JourneyMachine(definition())
    j = finished(m)
    m.after(lambda ctx: (_ for _ in ()).throw(ValueError("x")) if ctx.trigger == "open" else None)
    with structlog.testing.capture_logs() as events, pytest.raises(HookError):
        m.fire(j, "open")
    failed = [e for e in events if e["event"] == "journey.hook_failed"]
    assert [e["trigger"] for e in failed] == ["open"]


def test_a_failing_restart_hook_in_the_service_writes_nothing(tmp_path: Any) -> None:
    m = JourneyMachine(definition(), logger=quiet_logger())
    service = JourneyService(m, SQLiteStore(tmp_path / "j.db", create_schema=True))
    service.handle("a", "open")
    service.handle("a", "buy")

    @m.before
    def veto(ctx: Any) -> None:
        if ctx.trigger == REENTER:
            raise ValueError("no")

    with pytest.raises(HookError):
        service.handle("a", "open", event_id="e-3")
    assert [e.trigger for e in service.history("a")] == ["open", "buy"]


# -- a cooldown and an unknown finish time -------------------------------------------
def test_a_cooldown_counts_from_the_last_entry_when_entered_at_is_none() -> None:
    clock = ManualClock(START)
    m = JourneyMachine(definition(timedelta(hours=1)), clock=clock, logger=quiet_logger())
    j = finished(m)
    j.entered_at = None
    refused = m.fire(j, "open")
    assert refused.ignored and refused.reason is not None and "cooldown until" in refused.reason
    clock.advance(timedelta(hours=1))
    assert m.fire(j, "open").moved


def test_a_cooldown_refuses_a_journey_with_no_finish_time_and_names_the_fix() -> None:
    m = JourneyMachine(definition(timedelta(hours=1)), logger=quiet_logger())
    j = Journey("c-1", "won", {}, [], 2, definition="promo")
    out = m.fire(j, "open")
    assert out.ignored and out.reason is not None and "give it entered_at" in out.reason
    assert m.explain(j, "open").reason == out.reason
    # the other rules do not need the time
    free = JourneyMachine(definition("once_at_a_time"), logger=quiet_logger())
    assert free.fire(Journey("c-1", "won", {}, [], 2, definition="promo"), "open").moved
