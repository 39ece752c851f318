"""Invariants over random event sequences, for every template (and the guarded checkout).

- the journey never leaves the definition's stages;
- the history is a chain (seq 1, 2, ...; each source is the previous dest);
- a snapshot restores exactly (also through JSON);
- a hook that raises anything (at a random position, after changing or replacing the
  data) leaves the journey exactly as before, its data restored in place.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import timedelta
from functools import cache
from typing import Any

import pytest
from conftest import START, checkout_builder, quiet_logger
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from journeyfsm import (
    Context,
    GuardError,
    HookError,
    Journey,
    JourneyDefinition,
    JourneyMachine,
)
from journeyfsm.templates import TEMPLATES

FACTORIES: dict[str, Callable[[], JourneyDefinition]] = {
    **TEMPLATES,
    "checkout (test)": lambda: checkout_builder().build(),
}
NAMES = sorted(FACTORIES)
POSITIONS = ("before", "on_exit", "on_enter", "on_transition", "after")
WINDOW = 4

SETTINGS = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

payloads = st.one_of(
    st.none(),
    st.fixed_dictionaries({"paid": st.booleans()}),
    st.text(max_size=3),
)
json_scalars = st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.text(max_size=4))
start_data = st.dictionaries(
    st.sampled_from(["cart", "vip", "tags", "n"]),
    st.one_of(json_scalars, st.lists(json_scalars, max_size=3)),
    max_size=4,
)


@st.composite
def steps(draw: st.DrawFn, name: str) -> list[tuple[str, Any, str | None, int]]:
    triggers = FACTORIES[name]().triggers
    step = st.tuples(
        st.sampled_from(triggers),
        payloads,
        st.one_of(st.none(), st.sampled_from([f"e-{i}" for i in range(6)])),
        st.integers(0, 7200),
    )
    return draw(st.lists(step, max_size=12))


@cache
def plain_machine(name: str) -> JourneyMachine:
    return JourneyMachine(FACTORIES[name](), logger=quiet_logger(), event_id_window=WINDOW)


RAISED: list[type[BaseException]] = [
    RuntimeError,
    KeyError,
    KeyboardInterrupt,
    SystemExit,
    asyncio.CancelledError,
]


class Tripwire:
    """Hooks at every position that mutate data; the armed position also raises ``raises``."""

    def __init__(self) -> None:
        self.armed: str | None = None
        self.raises: type[BaseException] = RuntimeError
        self.replace_data = False

    def hook(self, position: str) -> Callable[[Context], None]:
        def tripwire(ctx: Context) -> None:
            ctx.journey.data.setdefault("touched", []).append(position)
            if self.armed == position:
                ctx.journey.data.pop("cart", None)
                if self.replace_data:
                    ctx.journey.data = {"replaced": [position]}
                raise self.raises(f"tripwire at {position}")

        tripwire.__qualname__ = f"tripwire_{position}"
        return tripwire


@cache
def hooked_machine(name: str) -> tuple[JourneyMachine, Tripwire]:
    machine = JourneyMachine(FACTORIES[name](), logger=quiet_logger(), event_id_window=WINDOW)
    wire = Tripwire()
    machine.before(wire.hook("before"))
    machine.after(wire.hook("after"))
    for stage in machine.definition.stage_names:
        machine.on_exit(stage, wire.hook("on_exit"))
        machine.on_enter(stage, wire.hook("on_enter"))
    for trigger in machine.definition.triggers:
        machine.on_transition(trigger, wire.hook("on_transition"))
    return machine, wire


def run(machine: JourneyMachine, journey: Journey, plan: list[Any]) -> None:
    """Fire ``plan``, checking every outcome against the journey as it was before."""
    at = START
    for trigger, payload, event_id, seconds in plan:
        at += timedelta(seconds=seconds)
        before = machine.snapshot(journey)
        try:
            outcome = machine.fire(journey, trigger, payload, at=at, event_id=event_id)
        except GuardError:  # a payload the guard does not take: nothing may change
            assert machine.snapshot(journey) == before
            continue
        if outcome.moved:
            assert outcome.entry is journey.history[-1]
            assert outcome.source == before["stage"]
            assert outcome.entry.at == at and outcome.entry.event_id == event_id
        else:
            assert machine.snapshot(journey) == before


def assert_invariants(machine: JourneyMachine, journey: Journey) -> None:
    d = machine.definition
    assert journey.stage in d.stage_names
    previous = d.initial_stage
    for n, entry in enumerate(journey.history, 1):
        assert entry.seq == n
        assert entry.source == previous
        assert entry.dest in d.stage_names
        previous = entry.dest
    assert journey.stage == previous
    assert journey.version == len(journey.history)
    ats = [e.at for e in journey.history]
    assert ats == sorted(ats)
    assert journey.event_ids is None or len(journey.event_ids) <= WINDOW


@pytest.mark.parametrize("name", NAMES)
@SETTINGS
@given(data=st.data())
def test_random_events_keep_the_journey_inside_the_definition(
    name: str, data: st.DataObject
) -> None:
    machine = plain_machine(name)
    journey = machine.start("k", data.draw(start_data))
    run(machine, journey, data.draw(steps(name)))
    assert_invariants(machine, journey)


@pytest.mark.parametrize("name", NAMES)
@SETTINGS
@given(data=st.data())
def test_snapshot_round_trip_is_exact(name: str, data: st.DataObject) -> None:
    machine = plain_machine(name)
    journey = machine.start("k", data.draw(start_data))
    run(machine, journey, data.draw(steps(name)))

    snap = machine.snapshot(journey)
    assert machine.restore(snap) == journey
    assert machine.restore(json.loads(json.dumps(snap))) == journey
    assert machine.snapshot(machine.restore(snap)) == snap


@pytest.mark.parametrize("name", NAMES)
@SETTINGS
@given(data=st.data())
def test_raising_hook_leaves_the_journey_as_before(name: str, data: st.DataObject) -> None:
    machine, wire = hooked_machine(name)
    wire.armed = None
    journey = machine.start("k", data.draw(start_data))
    run(machine, journey, data.draw(steps(name)))
    assert_invariants(machine, journey)

    payload = {"paid": True}
    enabled = machine.enabled_triggers(journey, payload)
    if not enabled:  # a final stage: nothing can move
        event("nothing enabled")
        assert machine.allowed_triggers(journey) == () or all(
            machine.explain(journey, t, payload).status == "blocked"
            for t in machine.allowed_triggers(journey)
        )
        return
    trigger = data.draw(st.sampled_from(enabled))
    position = data.draw(st.sampled_from(POSITIONS))
    chosen = machine.explain(journey, trigger, payload).chosen
    assert chosen is not None
    internal = chosen.dest is None
    snapshot_before = machine.snapshot(journey)

    raises = data.draw(st.sampled_from(RAISED))
    event(f"armed {position}{' (internal)' if internal else ''} with {raises.__name__}")
    wire.armed = position
    wire.raises = raises
    wire.replace_data = data.draw(st.booleans())
    data_ref = journey.data
    try:
        if internal and position in ("on_exit", "on_enter"):
            # an internal transition runs no exit/enter hooks, so nothing raises
            assert machine.fire(journey, trigger, payload, event_id="boom").moved
            return
        expected = HookError if issubclass(raises, Exception) else raises
        with pytest.raises(expected) as info:
            machine.fire(journey, trigger, payload, event_id="boom")
    finally:
        wire.armed = None

    if expected is HookError:
        assert isinstance(info.value, HookError)
        assert info.value.hook == f"tripwire_{position}"
        assert type(info.value.__cause__) is raises
    else:
        assert type(info.value) is raises
    assert journey.data is data_ref  # restored in place
    assert journey == machine.restore(snapshot_before)
    assert machine.snapshot(journey) == snapshot_before
