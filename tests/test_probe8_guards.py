"""A blocked fire runs each reached guard once, and reports what explain reports."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from journeyfsm import AsyncJourneyMachine, JourneyBuilder, JourneyMachine, ManualClock, guard


def _setup(make: Any) -> tuple[Any, list[str]]:
    calls: list[str] = []

    def named(name: str, value: bool) -> Any:
        @guard(name=name)
        def check(ctx: Any) -> bool:
            calls.append(name)
            return value

        return check

    a, b, c = named("a", False), named("b", True), named("c", True)
    d = (
        JourneyBuilder("once")
        .stage("s", initial=True)
        .stage("t", final=True)
        .stage("u", final=True)
        .transition("go", "s", "t", guards=[a & b, c])
        .transition("go", "s", "u", guards=[(~c) | a, b])
        .build()
    )
    return make(d, clock=ManualClock()), calls


@pytest.mark.parametrize("make", [JourneyMachine, AsyncJourneyMachine])
def test_a_blocked_fire_runs_each_guard_once_and_matches_explain(make: Any) -> None:
    machine, calls = _setup(make)
    journey = machine.start("k")

    def run(result: Any) -> Any:
        return asyncio.run(result) if make is AsyncJourneyMachine else result

    explained = run(machine.explain(journey, "go"))
    assert calls == ["a", "c", "a"]
    calls.clear()
    outcome = run(machine.fire(journey, "go"))
    assert outcome.blocked
    assert calls == ["a", "c", "a"]  # before: ["a", "c", "a", "a", "c", "a"]
    assert outcome.candidates == explained.candidates
    assert list(outcome.failed_guards) == ["a", "~c"]
