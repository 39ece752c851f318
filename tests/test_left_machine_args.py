"""Every journey-taking method of the sync and async machines refuses what is not a
Journey with a TypeError that names the method, the argument, what it got and where a
journey comes from (it said "fire() takes ..." for every method, and ``snapshot(None)``
was an AttributeError)."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from journeyfsm import (
    AsyncJourneyMachine,
    Goal,
    JourneyBuilder,
    JourneyDefinition,
    JourneyMachine,
    ManualClock,
    templates,
)

# method -> the arguments after the journey
CALLS: dict[str, tuple[Any, ...]] = {
    "fire": ("engage",),
    "explain": ("engage",),
    "enabled_triggers": (),
    "allowed_triggers": (),
    "tick": (),
    "next_due": (),
    "pending_goals": (),
    "snapshot": (),
}


def _goals() -> JourneyDefinition:
    return (
        JourneyBuilder("trial")
        .stage("trial", initial=True)
        .stage("paid", final=True)
        .transition("engage", "trial", "paid")
        .goal(Goal("converted", stage="paid", within=timedelta(days=7)))
        .build()
    )


def _call(machine: Any, method: str, journey: Any) -> Any:
    result = getattr(machine, method)(journey, *CALLS[method])
    if inspect.isawaitable(result):
        return asyncio.run(result)  # type: ignore[arg-type]
    return result


MACHINES: dict[str, Callable[[JourneyDefinition], Any]] = {
    "sync": lambda d: JourneyMachine(d, clock=ManualClock()),
    "async": lambda d: AsyncJourneyMachine(d, clock=ManualClock()),
}


@pytest.mark.parametrize("definition", [templates.aida, _goals], ids=["plain", "goals"])
@pytest.mark.parametrize("kind", sorted(MACHINES))
@pytest.mark.parametrize("method", sorted(CALLS))
def test_none_for_a_journey_names_the_method_and_where_journeys_come_from(
    method: str, kind: str, definition: Callable[[], JourneyDefinition]
) -> None:
    machine = MACHINES[kind](definition())
    with pytest.raises(TypeError) as info:
        _call(machine, method, None)
    message = str(info.value)
    assert message.startswith(f"{method}(): journey must be a Journey"), message
    assert "got None" in message
    assert "JourneyMachine.start(key)" in message and ".restore(snapshot)" in message
    assert "service.peek(key)" in message  # get(key) is None before the first move


@pytest.mark.parametrize("kind", sorted(MACHINES))
@pytest.mark.parametrize("method", sorted(CALLS))
@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("c-42", "got str 'c-42'; pass the journey itself (machine.start('c-42')"),
        ({"key": "c-42"}, "got dict {'key': 'c-42'}; a snapshot dict becomes a journey"),
        (42, "got int 42"),
    ],
    ids=["key", "snapshot", "int"],
)
def test_a_key_or_a_snapshot_for_a_journey_says_what_to_pass(
    method: str, kind: str, value: Any, fragment: str
) -> None:
    machine = MACHINES[kind](templates.aida())
    with pytest.raises(TypeError, match=rf"^{method}\(\): journey must be") as info:
        _call(machine, method, value)
    assert fragment in str(info.value)


@pytest.mark.parametrize("definition", [templates.aida, _goals], ids=["plain", "goals"])
@pytest.mark.parametrize("trigger", [["engage"], {"t": 1}], ids=["list", "dict"])
def test_an_unhashable_trigger_is_the_trigger_type_error(
    definition: Callable[[], JourneyDefinition], trigger: Any
) -> None:
    machine = JourneyMachine(definition(), clock=ManualClock())
    journey = machine.start("c-1")
    with pytest.raises(TypeError, match=r"^trigger must be a str naming one of .*engage"):
        machine.fire(journey, trigger)
    assert journey.version == 0 and not journey.history
