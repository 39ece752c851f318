"""Bad values given to the definition layer's constructors get the library's own error,
and validation reports every problem at once (DESIGN semantics 9)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from journeyfsm import (
    DefinitionError,
    Exit,
    JourneyBuilder,
    JourneyDefinition,
    Stage,
    Timeout,
    Transition,
    guard,
)

OK = guard(lambda ctx: True, name="ok")
STAGES = [Stage("a", initial=True), Stage("b", final=True)]
GO = [Transition("go", "a", "b")]

BAD: dict[str, tuple[Callable[[], Any], str]] = {
    "Exit trigger": (lambda: Exit(5, "x"), r"^Exit: trigger must be a str .*got 5 \(int\)"),
    "Exit stage": (lambda: Exit("t", 5), r"^Exit: stage must be a str"),
    "Exit description": (lambda: Exit("t", "x", description=5), r"^Exit: description must"),
    "Exit guards": (lambda: Exit("t", "x", guards=5), r"guards must be a Guard or a list"),
    "Stage name": (lambda: Stage(5), r"^Stage: name must be a str"),
    "Stage initial": (lambda: Stage("a", initial=1), r"^Stage: initial must be True or False"),
    "Stage description": (lambda: Stage("a", description=None), r"^Stage: description must"),
    "Transition trigger": (lambda: Transition(5, "a", "b"), r"^Transition: trigger must be"),
    "Transition source": (lambda: Transition("t", 5, "b"), r"^Transition: source must be"),
    "Transition dest": (lambda: Transition("t", "a", 5), r"^Transition: dest must be .* None"),
    "Transition guards": (lambda: Transition("t", "a", "b", guards=5), r"list of Guards"),
    "Timeout stage": (lambda: Timeout(5, 60, "t"), r"^Timeout: stage must be a str"),
    "Timeout trigger": (lambda: Timeout("a", 60, 5), r"^Timeout: trigger must be a str"),
    "stages": (lambda: JourneyDefinition("x", 5, GO), r"stages takes a list of Stage objects"),
    "transitions": (
        lambda: JourneyDefinition("x", STAGES, None),
        r"transitions takes a list of Transition objects",
    ),
    "timeouts": (
        lambda: JourneyDefinition("x", STAGES, GO, timeouts=5),
        r"timeouts takes a list of Timeout objects",
    ),
    "funnel": (lambda: JourneyDefinition("x", STAGES, GO, funnel=5), r"funnel takes a list"),
    "guard name": (lambda: guard(lambda ctx: True, name=5), r"guard\(\) name must be a str"),
    "guard description": (
        lambda: guard(lambda ctx: True, name="g", description=5),
        r"guard\(\) description must be a str",
    ),
    "guard & int": (lambda: OK & 5, r"guards combine with guards: <guard ok> & 5"),
    "guard | None": (lambda: OK | None, r"guards combine with guards: <guard ok> \| None"),
    "int & guard": (lambda: 5 & OK, r"guards combine with guards: 5 & <guard ok>"),
    "function | guard": (lambda: print | OK, r"guards combine with guards"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_constructor_values_get_the_librarys_own_type_error(case: str) -> None:
    make, message = BAD[case]
    with pytest.raises(TypeError, match=message) as info:
        make()
    assert "<class" not in str(info.value) and "Attribute(" not in str(info.value)


def test_an_exit_alone_is_an_exits_list_of_one() -> None:
    d = JourneyDefinition("x", [*STAGES, Stage("gone", final=True)], GO, exits=Exit("quit", "gone"))
    assert d.exits == (Exit("quit", "gone"),)


def test_a_definition_name_that_is_not_a_str_is_one_problem_among_the_others() -> None:
    with pytest.raises(DefinitionError) as info:
        JourneyDefinition(5, [Stage("a", initial=True), Stage("a")], [])  # type: ignore[arg-type]
    messages = [p.message for p in info.value.problems]
    assert any(m.startswith("name must be a str, got 5") for m in messages), messages
    assert any("duplicate stage 'a'" in m for m in messages), messages


def test_a_builder_name_that_is_not_a_str_is_a_problem() -> None:
    b = JourneyBuilder(5).stage("a", initial=True).stage("b", final=True)  # type: ignore[arg-type]
    with pytest.raises(DefinitionError, match="name must be a str"):
        b.transition("go", "a", "b").build()


def test_several_initial_stages_still_report_the_unreachable_ones() -> None:
    stages = [Stage("a", initial=True), Stage("i", initial=True), Stage("b", final=True)]
    stages.append(Stage("c", final=True))
    with pytest.raises(DefinitionError) as info:
        JourneyDefinition("x", stages, [Transition("go", ["a", "i"], "b")])
    messages = [p.message for p in info.value.problems]
    assert any("several initial stages" in m for m in messages)
    assert any("stage 'c' is unreachable from any of the initial stages 'a', 'i'" in m
               for m in messages), messages  # fmt: skip
    assert not any("'b' is unreachable" in m for m in messages)


def test_an_initial_stage_with_an_empty_name_is_not_also_no_initial_stage() -> None:
    with pytest.raises(DefinitionError) as info:
        JourneyDefinition("x", [Stage("", initial=True), Stage("b", final=True)], [])
    messages = [p.message for p in info.value.problems]
    assert any("empty name" in m for m in messages)
    assert not any("no initial stage" in m for m in messages), messages


def test_timeout_seconds_and_timedelta_agree() -> None:
    assert Timeout("a", 90, "go") == Timeout("a", timedelta(seconds=90), "go")


def test_builder_replace_stage_names_the_fields_it_changes() -> None:
    from journeyfsm import templates

    b = templates.aida().builder()
    with pytest.raises(TypeError, match=r"cannot change 'colour'; it changes description"):
        b.replace_stage("lost", colour="red")
    assert b.replace_stage("lost", description="gone").build().stage("lost").description == "gone"


def test_builder_from_definition_of_something_else_is_a_clear_type_error() -> None:
    with pytest.raises(TypeError, match=r"from_definition\(\) takes a JourneyDefinition"):
        JourneyBuilder.from_definition(None)  # type: ignore[arg-type]


@pytest.mark.parametrize("engine", ["sync", "async"])
def test_a_misspelt_fire_policy_is_refused_even_when_the_move_is_valid(engine: str) -> None:
    import asyncio

    from journeyfsm import AsyncJourneyMachine, JourneyMachine, templates

    d = templates.aida()
    with pytest.raises(ValueError, match=r"policy=.*'ignore' or 'strict', got 'strickt'"):
        if engine == "sync":
            m = JourneyMachine(d)
            m.fire(m.start("k"), "engage", policy="strickt")  # type: ignore[arg-type]
        else:
            am = AsyncJourneyMachine(d)
            asyncio.run(am.fire(am.start("k"), "engage", policy="strickt"))  # type: ignore[arg-type]
