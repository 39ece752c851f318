"""Copying or pickling a machine: refused with a clear error, never a half-shared twin."""

from __future__ import annotations

import copy
import pickle
from collections.abc import Callable
from typing import Any

import pytest

from journeyfsm import AsyncJourneyMachine, JourneyBuilder, JourneyMachine, ManualClock


def _definition() -> Any:
    return (
        JourneyBuilder("copies")
        .stage("a", initial=True)
        .stage("b", final=True)
        .transition("go", "a", "b")
        .build()
    )


COPIES: list[Callable[[Any], Any]] = [
    copy.copy,
    copy.deepcopy,
    lambda machine: pickle.loads(pickle.dumps(machine)),
]


@pytest.mark.parametrize("make", [JourneyMachine, AsyncJourneyMachine])
@pytest.mark.parametrize("copier", COPIES, ids=["copy", "deepcopy", "pickle"])
def test_a_machine_refuses_to_be_copied(make: Any, copier: Callable[[Any], Any]) -> None:
    machine = make(_definition(), clock=ManualClock())
    with pytest.raises(TypeError, match="JourneyMachine") as info:
        copier(machine)
    assert "build another" in str(info.value)


def test_a_shallow_copy_no_longer_registers_hooks_on_the_original() -> None:
    # before: copy.copy(machine) shared the hook and effect registries, so a hook
    # registered on the "copy" ran on every journey the original moved
    machine = JourneyMachine(_definition(), clock=ManualClock())
    ran: list[str] = []
    with pytest.raises(TypeError):
        twin = copy.copy(machine)

        @twin.on_enter("b")
        def hook(ctx: Any) -> None:
            ran.append("twin")  # pragma: no cover - the copy is refused

    journey = machine.start("k")
    assert machine.fire(journey, "go").moved
    assert ran == []
