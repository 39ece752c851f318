"""The path explorer: shortest and simple paths, unreachable stages, stages that cannot finish."""

from __future__ import annotations

from typing import Any

import pytest

from journeyfsm import Context, JourneyBuilder, JourneyDefinition, JourneyMachine, guard, templates
from journeyfsm.testing import (
    Path,
    Step,
    shortest_paths,
    simple_paths,
    stages_without_exit_to_final,
    unreachable_stages,
)
from journeyfsm.testing._paths import Explorer

PAID = {"pay": [{"paid": True}]}


@pytest.mark.parametrize("name", sorted(templates.TEMPLATES))
def test_explorer_finds_every_stage_of_every_template_and_paths_replay(name: str) -> None:
    definition = templates.TEMPLATES[name]()
    paths = shortest_paths(definition)
    assert set(paths) == set(definition.stage_names)
    machine = JourneyMachine(definition)
    for stage, path in paths.items():
        assert path.stage == stage
        assert path.replay(machine, key=f"{name}-{stage}").stage == stage


@pytest.mark.parametrize("name", sorted(templates.TEMPLATES))
def test_every_template_stage_can_reach_a_final_stage(name: str) -> None:
    assert stages_without_exit_to_final(templates.TEMPLATES[name]()) == ()


def test_shortest_paths_are_shortest_and_start_at_the_initial_stage() -> None:
    paths = shortest_paths(templates.aida())
    assert paths["attention"] == Path("attention")
    assert paths["action"].triggers == ("engage", "want", "buy")
    assert paths["action"].stages == ("attention", "interest", "desire", "action")
    assert paths["lost"].steps == (Step("lose_interest", None, "attention", "lost"),)
    assert len(paths["action"]) == 3


def test_guards_decide_which_stages_a_path_reaches(checkout_definition: JourneyDefinition) -> None:
    # default payload None and empty data: checkout needs a cart, pay needs {"paid": True}
    assert unreachable_stages(checkout_definition) == ("express", "checkout", "paid")
    assert unreachable_stages(checkout_definition, data={"cart": [1]}) == ("express", "paid")
    assert unreachable_stages(checkout_definition, PAID, data={"cart": [1], "vip": True}) == (
        "checkout",  # a VIP always takes the express candidate first
    )
    paths = shortest_paths(checkout_definition, PAID, data={"cart": [1]})
    assert paths["paid"].steps[-1] == Step("pay", {"paid": True}, "checkout", "paid")


def test_payload_factory_as_a_function_tries_each_payload(
    checkout_definition: JourneyDefinition,
) -> None:
    tried: list[tuple[str, str]] = []

    def payloads(stage: str, trigger: str) -> list[Any]:
        tried.append((stage, trigger))
        return [None, "not a dict", {"paid": False}, {"paid": True}]

    paths = shortest_paths(checkout_definition, payloads, data={"cart": [1]})
    assert paths["paid"].steps[-1].payload == {"paid": True}
    assert ("checkout", "pay") in tried


def test_payload_factory_must_return_a_list_of_payloads(
    checkout_definition: JourneyDefinition,
) -> None:
    with pytest.raises(TypeError, match=r"wrap one payload as \[payload\]"):
        shortest_paths(checkout_definition, lambda stage, trigger: {"paid": True})


def test_paths_replay_through_a_machine_with_hooks(
    make_machine: Any, checkout_definition: JourneyDefinition
) -> None:
    machine = make_machine(checkout_definition)
    entered: list[str] = []
    machine.on_enter("paid", lambda ctx: entered.append(ctx.journey.key))
    path = shortest_paths(machine, PAID, data={"cart": [1]})["paid"]
    journey = path.replay(machine, key="c-9", data={"cart": [1]})
    assert (journey.stage, entered) == ("paid", ["c-9"])


def test_replay_names_the_step_that_did_not_move(make_machine: Any) -> None:
    machine = make_machine()
    path = shortest_paths(machine, PAID, data={"cart": [1]})["paid"]
    with pytest.raises(AssertionError, match=r"step 2 \('checkout' from 'cart'.*blocked"):
        path.replay(machine)  # no cart in the data this time


def test_simple_paths_visit_no_stage_twice_and_respect_the_length() -> None:
    d = templates.TEMPLATES["eight-phases"]()
    paths = simple_paths(d, 4)
    assert paths
    for path in paths:
        assert 1 <= len(path) <= 4
        assert len(set(path.stages)) == len(path.stages)
        assert path.stages[0] == d.initial_stage
    assert len({p.steps for p in paths}) == len(paths)  # no duplicates
    # every shortest path of at most 4 steps is among them
    shortest = [p for p in shortest_paths(d).values() if 1 <= len(p) <= 4]
    assert all(p in paths for p in shortest)


def test_simple_paths_to_a_stage() -> None:
    paths = simple_paths(templates.aida(), 5, to="action")
    assert [p.triggers for p in paths] == [("engage", "want", "buy")]
    with pytest.raises(KeyError, match="did you mean 'action'"):
        simple_paths(templates.aida(), 5, to="acton")
    with pytest.raises(ValueError, match="at least 1"):
        simple_paths(templates.aida(), 0)


def test_stages_without_exit_to_final_finds_closed_loops() -> None:
    d = (
        JourneyBuilder("loops")
        .stage("new", initial=True)
        .stage("trial")
        .stage("limbo")
        .stage("stuck")
        .stage("member", final=True)
        .transition("try_it", "new", "trial")
        .transition("join", "trial", "member")
        .transition("wander", ["new", "trial"], "limbo")
        .transition("sink", "limbo", "stuck")
        .transition("float", "stuck", "limbo")
        .transition("note", "stuck", None)  # internal: not a way out
        .build()
    )
    assert stages_without_exit_to_final(d) == ("limbo", "stuck")
    assert stages_without_exit_to_final(JourneyMachine(d)) == ("limbo", "stuck")


# -- the explorer decides as fire does (DESIGN Semantics 2) ----------------------------------
def test_explorer_takes_the_step_fire_takes_when_a_composite_short_circuits(
    make_machine: Any,
) -> None:
    calls: list[str] = []

    @guard
    def has_total(ctx: Context) -> bool:
        calls.append("has_total")
        return "total" in ctx.payload

    @guard
    def total_over_50(ctx: Context) -> bool:
        calls.append("total_over_50")
        return ctx.payload["total"] > 50  # type: ignore[no-any-return]

    d = (
        JourneyBuilder("orders")
        .stage("new", initial=True)
        .stage("big", final=True)
        .stage("small", final=True)
        .transition("order", "new", "big", guards=[has_total & total_over_50])
        .transition("order", "new", "small")
        .build()
    )
    machine = make_machine(d)
    assert machine.fire(machine.start("k"), "order", {}).dest == "small"
    calls.clear()

    paths = shortest_paths(d, {"order": [{}]})

    assert paths["small"].triggers == ("order",)
    assert "big" not in paths
    assert "total_over_50" not in calls  # never run where fire does not run it


def test_explorer_does_not_evaluate_candidates_after_the_one_fire_takes(
    make_machine: Any,
) -> None:
    calls: list[str] = []

    @guard
    def yes(ctx: Context) -> bool:
        calls.append("yes")
        return True

    @guard
    def total_over_50(ctx: Context) -> bool:
        calls.append("total_over_50")
        return ctx.payload["total"] > 50  # type: ignore[no-any-return]

    d = (
        JourneyBuilder("orders")
        .stage("new", initial=True)
        .stage("plain", final=True)
        .stage("big", final=True)
        .transition("order", "new", "plain", guards=[yes])
        .transition("order", "new", "big", guards=[total_over_50])
        .build()
    )
    machine = make_machine(d)
    assert machine.fire(machine.start("k"), "order", {}).dest == "plain"

    assert shortest_paths(d, {"order": [{}]})["plain"].triggers == ("order",)
    assert "total_over_50" not in calls
    assert Explorer(d).chosen("new", "order", {}) is d.candidates("new", "order")[0]
