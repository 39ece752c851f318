"""The testing kit refuses calls that would check nothing, and names what to pass."""

from __future__ import annotations

import asyncio

import pytest

from journeyfsm import AsyncJourneyMachine, templates
from journeyfsm.testing import (
    FINAL,
    assert_keeps_properties,
    assert_properties,
    check_properties,
    check_table,
    check_table_async,
    every_path,
    no_path,
    no_traps,
    only_from,
    reachable,
    simple_paths,
)

AIDA = templates.aida()


def test_assert_properties_of_nothing_is_an_error_naming_what_to_pass() -> None:
    with pytest.raises(ValueError, match=r"no properties to check.*no_path\(\)"):
        assert_properties(AIDA)


def test_assert_properties_of_a_list_says_to_spread_it() -> None:
    with pytest.raises(TypeError, match=r"separate arguments.*\*properties"):
        assert_properties(AIDA, [no_traps()])  # type: ignore[arg-type]


def test_check_properties_of_one_property_says_to_pass_a_list() -> None:
    with pytest.raises(TypeError, match=r"pass a list"):
        check_properties(AIDA, no_traps())  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"iterable of properties"):
        check_properties(AIDA, 5)  # type: ignore[arg-type]


def test_assert_keeps_properties_of_nothing_is_an_error() -> None:
    with pytest.raises(ValueError, match="no properties to check"):
        assert_keeps_properties(AIDA, AIDA, [])


@pytest.mark.parametrize(
    "make",
    [
        lambda: reachable([]),
        lambda: no_path([]),
        lambda: every_path([]),
        lambda: every_path(FINAL, from_=[]),
        lambda: only_from([], "desire"),
    ],
)
def test_a_property_about_no_stage_is_refused(make: object) -> None:
    with pytest.raises(ValueError, match="no stage in"):
        make()  # type: ignore[operator]


def test_only_from_no_sources_still_means_never_entered() -> None:
    verdict = only_from("action", []).check(AIDA)
    assert not verdict.holds


def test_check_table_of_no_rows_is_an_error() -> None:
    with pytest.raises(ValueError, match="no rows"):
        check_table(AIDA, [])
    with pytest.raises(ValueError, match="no rows"):
        asyncio.run(check_table_async(AsyncJourneyMachine(AIDA), []))


@pytest.mark.parametrize("bad", ["3", 2.5, True, None])
def test_simple_paths_max_length_must_be_a_whole_number(bad: object) -> None:
    with pytest.raises(TypeError, match="max_length is a whole number"):
        simple_paths(AIDA, bad)  # type: ignore[arg-type]


def test_strategy_sizes_must_be_whole_numbers() -> None:
    from journeyfsm.testing import definitions, trigger_sequences

    with pytest.raises(TypeError, match=r"definitions\(max_stages=...\) takes a whole number"):
        definitions(max_stages="3")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"definitions\(max_triggers=...\) takes a whole"):
        definitions(max_triggers=2.0)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"trigger_sequences\(max_length=...\) takes a whole"):
        trigger_sequences(AIDA, max_length="x")  # type: ignore[arg-type]


def test_trigger_sequences_of_an_async_machine_are_drawn() -> None:
    from hypothesis import given, settings

    from journeyfsm.testing import trigger_sequences

    @settings(max_examples=10, deadline=None)
    @given(trigger_sequences(AsyncJourneyMachine(AIDA), max_length=4))
    def check(steps: list) -> None:  # type: ignore[type-arg]
        stage = AIDA.initial_stage
        for step in steps:
            assert step.source == stage
            stage = step.dest

    check()


def _orders() -> object:
    from journeyfsm import Context, JourneyBuilder, guard

    @guard
    def big(ctx: Context) -> bool:
        return bool(ctx.payload.get("total", 0) > 50)

    @guard
    def vip(ctx: Context) -> bool:
        return bool(ctx.payload["vip"])  # KeyError without "vip": fire never reaches it here

    return (
        JourneyBuilder("orders")
        .stage("new", initial=True)
        .stage("big", final=True)
        .stage("vip", final=True)
        .transition("order", "new", "big", guards=[big])
        .transition("order", "new", "vip", guards=[vip])
        .build()
    )


@pytest.mark.parametrize("machine", ["definition", "async"])
def test_assertions_decide_as_fire_does_not_as_explain_does(machine: str) -> None:
    from journeyfsm.testing import assert_moves

    d = _orders()
    target = AsyncJourneyMachine(d) if machine == "async" else d  # type: ignore[arg-type]
    # fire takes the first candidate and never runs vip; explain would run it and raise
    assert assert_moves(target, "new", "order", "big", {"total": 80}).dest == "big"  # type: ignore[arg-type]
    check_table(target, [("new", "order", {"total": 80}, "big")])  # type: ignore[arg-type]
    with pytest.raises(AssertionError, match=r"(?s)to move to 'vip', but it moved to 'big'.*big"):
        assert_moves(target, "new", "order", "vip", {"total": 80})  # type: ignore[arg-type]


def test_async_twins_decide_as_fire_does() -> None:
    from journeyfsm.testing import assert_moves_async

    machine = AsyncJourneyMachine(_orders())  # type: ignore[arg-type]
    outcome = asyncio.run(assert_moves_async(machine, "new", "order", "big", {"total": 80}))
    assert outcome.dest == "big"
