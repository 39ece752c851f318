"""Hypothesis strategies: trigger sequences follow the rules, generated definitions are valid."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import Phase, find, given, settings
from hypothesis import strategies as st

from journeyfsm import JourneyDefinition, JourneyMachine, ManualClock, templates
from journeyfsm.testing import (
    Step,
    definitions,
    generated_payloads,
    shortest_paths,
    trigger_sequences,
    unreachable_stages,
)
from journeyfsm.testing._strategies import (
    definitions as odd_definitions,
)  # odd_names: not yet in testing

FAST = settings(max_examples=60, deadline=None)
PAID = {"pay": [None, {"paid": True}, {"paid": False}]}


def _quiet_machine(d: JourneyDefinition) -> JourneyMachine:
    import structlog

    return JourneyMachine(
        d, clock=ManualClock(), logger=structlog.wrap_logger(structlog.testing.ReturnLogger())
    )


@FAST
@given(st.data())
def test_trigger_sequences_predict_what_the_machine_does(data: st.DataObject) -> None:
    from conftest import checkout_builder

    d = checkout_builder().build()
    carts: list[dict[str, Any]] = [{}, {"cart": [1]}, {"cart": [1], "vip": True}]
    cart = data.draw(st.sampled_from(carts))
    steps = data.draw(trigger_sequences(d, max_length=12, payload_factory=PAID, data=cart))
    machine = _quiet_machine(d)
    journey = machine.start("seq", cart)
    stage = d.initial_stage
    for step in steps:
        assert isinstance(step, Step)
        assert step.source == stage
        assert step.trigger in d.triggers_from(stage)
        machine.fire(journey, step.trigger, step.payload)
        assert journey.stage == step.dest
        stage = step.dest
    assert len(steps) <= 12


@FAST
@given(trigger_sequences(templates.aida(), max_length=30))
def test_trigger_sequences_stop_in_a_final_stage(steps: list[Step]) -> None:
    d = templates.aida()
    assert len(steps) <= 30
    for step in steps[:-1]:
        assert step.dest not in d.final_stages


@FAST
@given(definitions())
def test_generated_definitions_are_valid_and_round_trip(d: JourneyDefinition) -> None:
    assert d.name == "generated"
    assert d.stage_names[0] == d.initial_stage == "s0"
    assert d.final_stages
    guards = {g.name: g for g in d.guards().values()}
    assert JourneyDefinition.from_dict(d.to_dict(), guards=guards) == d


@FAST
@given(definitions(guards=False))
def test_without_guards_every_generated_stage_is_reachable(d: JourneyDefinition) -> None:
    assert not any(e.transition.guards for e in d.edges())
    assert unreachable_stages(d) == ()


@FAST
@given(definitions())
def test_paths_found_in_generated_definitions_replay(d: JourneyDefinition) -> None:
    machine = _quiet_machine(d)
    payloads = generated_payloads()
    for stage, path in shortest_paths(d, lambda s, t: payloads).items():
        assert path.replay(machine).stage == stage


def test_generated_definitions_include_internal_transitions_on_final_stages() -> None:
    d = find(
        definitions(),
        lambda d: any(e.source in d.final_stages and e.dest is None for e in d.edges()),
        settings=settings(max_examples=300, deadline=None, database=None, phases=[Phase.generate]),
    )
    assert set(d.final_stages) & {e.source for e in d.edges()}


@FAST
@given(definitions(internal=False))
def test_without_internal_generated_final_stages_have_no_transitions(
    d: JourneyDefinition,
) -> None:
    assert all(e.dest is not None and e.source not in d.final_stages for e in d.edges())


@FAST
@given(odd_definitions(odd_names=True))
def test_odd_named_generated_definitions_round_trip_and_replay(d: JourneyDefinition) -> None:
    assert d.stage_names[0] == d.initial_stage
    guards = {g.name: g for g in d.guards().values()}
    assert JourneyDefinition.from_dict(json.loads(json.dumps(d.to_dict())), guards=guards) == d
    machine = _quiet_machine(d)
    payloads = generated_payloads()
    for stage, path in shortest_paths(d, lambda s, t: payloads).items():
        assert path.replay(machine).stage == stage


def test_odd_names_reach_the_strategy() -> None:
    from journeyfsm.testing._strategies import ODD_STAGE_NAMES, ODD_TRIGGERS

    d = find(
        odd_definitions(odd_names=True),
        lambda d: (
            bool(set(d.stage_names) & set(ODD_STAGE_NAMES))
            and bool(set(d.triggers) & set(ODD_TRIGGERS))
        ),
        # the first match is enough: shrinking it would take most of the time
        settings=settings(max_examples=500, deadline=None, database=None, phases=[Phase.generate]),
    )
    assert d.stage_names[0] == d.initial_stage


def test_generated_payloads_satisfy_every_generated_guard() -> None:
    payloads = generated_payloads()
    assert len(payloads) == 16
    assert {"g0": True, "g1": True, "g2": True, "g3": True} in payloads


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: definitions(max_stages=1), "max_stages must be at least 2"),
        (lambda: definitions(max_triggers=0), "max_triggers must be at least 1"),
        (lambda: trigger_sequences(templates.aida(), max_length=-1), "max_length must be >= 0"),
    ],
)
def test_strategy_arguments_are_checked(call: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()


@settings(max_examples=300, deadline=None)
@given(definitions(odd_names=True, max_stages=8))
def test_odd_names_are_only_names_validation_accepts(definition: JourneyDefinition) -> None:
    # a NUL is a problem since definitions must be storable (hypothesis draws "\x00" often)
    assert all("\x00" not in name for name in definition.stage_names)
