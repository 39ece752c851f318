"""Fuzzing the runtime: random definitions, random (also bad) calls, hooks raising anything.

Invariants (issue 7, Evidence):
- a fire that raises leaves the journey exactly as it was (compared with a deep copy and
  with its snapshot), whatever was raised and wherever;
- only JourneyError subclasses, the documented TypeError/ValueError, and the
  BaseExceptions a hook itself raised ever escape;
- after every call the journey is valid: its snapshot restores, its history is a chain.
"""

from __future__ import annotations

import asyncio
import copy
from datetime import datetime, timedelta, timezone
from typing import Any

from conftest import START, quiet_logger
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from journeyfsm import Context, HookError, JourneyError, JourneyMachine
from journeyfsm.testing import definitions, generated_payloads

RAISES: list[type[BaseException] | None] = [
    None,
    None,
    None,
    ValueError,
    KeyboardInterrupt,
    SystemExit,
    asyncio.CancelledError,
]
POSITIONS = ("before", "exit", "enter", "transition", "after")


class Saboteur:
    """One hook at every position; before each fire the test arms one (or none)."""

    def __init__(self) -> None:
        self.position: str | None = None
        self.raises: type[BaseException] | None = None
        self.non_json = False

    def at(self, position: str) -> Any:
        def hook(ctx: Context) -> None:
            data = ctx.journey.data
            data["n"] = data.get("n", 0) + 1
            if self.position == position:
                if self.non_json:
                    data["bad"] = {1, 2}
                if self.raises is not None:
                    raise self.raises(f"sabotage at {position}")

        hook.__qualname__ = f"sabotage_{position}"
        return hook


def build(definition: Any) -> tuple[JourneyMachine, Saboteur]:
    machine = JourneyMachine(definition, logger=quiet_logger(), event_id_window=3)
    s = Saboteur()
    machine.before(s.at("before"))
    machine.after(s.at("after"))
    for stage in definition.stage_names:
        machine.on_exit(stage, s.at("exit"))
        machine.on_enter(stage, s.at("enter"))
    for trigger in definition.triggers:
        machine.on_transition(trigger, s.at("transition"))
    return machine, s


bad_values = st.sampled_from([42, b"x", None, "", [], {"k": {1}}, 1.5])
ats = st.one_of(
    st.none(),
    st.integers(0, 10**6).map(lambda s: START + timedelta(seconds=s)),
    st.just(datetime(2026, 1, 1)),  # naive: refused
    st.just(datetime(2026, 1, 1, tzinfo=timezone(timedelta(hours=-5)))),
)


@st.composite
def calls(draw: st.DrawFn, triggers: tuple[str, ...]) -> dict[str, Any]:
    call: dict[str, Any] = {
        "trigger": draw(
            st.one_of(st.sampled_from(triggers), st.sampled_from(["nope", 7]))
            if draw(st.integers(0, 9)) == 0
            else st.sampled_from(triggers)
        ),
        "payload": draw(st.sampled_from([None, *generated_payloads()[::5]])),
        "event_id": draw(
            st.one_of(st.none(), st.sampled_from(["e1", "e2", "e3", "e4"]), bad_values)
            if draw(st.integers(0, 9)) == 0
            else st.one_of(st.none(), st.sampled_from(["e1", "e2", "e3", "e4", "e5"]))
        ),
        "at": draw(ats),
        "policy": draw(st.sampled_from([None, None, "strict", "ignore"])),
    }
    if draw(st.integers(0, 9)) == 0:
        call["meta"] = draw(st.sampled_from([{"ch": "web"}, {"ch": {1}}, ["web"], {1: "x"}]))
    return call


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data())
def test_random_calls_with_sabotage_keep_every_journey_valid(data: st.DataObject) -> None:
    definition = data.draw(definitions(odd_names=data.draw(st.booleans())))
    machine, saboteur = build(definition)
    journey = machine.start("k", {"n": 0})
    for call in data.draw(st.lists(calls(definition.triggers), max_size=15)):
        saboteur.position = data.draw(st.sampled_from([None, *POSITIONS]))
        saboteur.raises = data.draw(st.sampled_from(RAISES))
        saboteur.non_json = data.draw(st.integers(0, 9)) == 0
        before = copy.deepcopy(journey)
        snap = machine.snapshot(journey)
        data_ref = journey.data
        try:
            outcome = machine.fire(journey, **call)
        except (JourneyError, TypeError, ValueError) as err:
            event(f"raised {type(err).__name__}")
            if isinstance(err, HookError):
                assert err.hook == f"sabotage_{saboteur.position}"
            assert journey == before
            assert machine.snapshot(journey) == snap
            assert journey.data is data_ref
        except BaseException as err:
            event(f"raised {type(err).__name__}")
            # only what a hook raised itself, re-raised as it was
            assert saboteur.raises is not None and type(err) is saboteur.raises
            assert not issubclass(saboteur.raises, Exception)
            assert journey == before and journey.data is data_ref
        else:
            event(outcome.status)
            if not outcome.moved:
                assert journey == before
            else:
                assert journey.version == before.version + 1
                assert journey.history[-1] is outcome.entry
        # always valid: restores exactly, history is a chain
        assert machine.restore(machine.snapshot(journey)) == journey
        previous = definition.initial_stage
        for n, entry in enumerate(journey.history, 1):
            assert entry.seq == n and entry.source == previous
            previous = entry.dest
        assert journey.stage == previous and journey.version == len(journey.history)
