"""Guards evaluate the same way everywhere (DESIGN Semantics 2).

``fire``, blocked outcomes, ``explain``, ``enabled_triggers`` and the path explorer agree
on every guard decision: within a candidate, guards (in order) and ``&``/``|``/``~``
short-circuit as in ``fire``; ``explain`` evaluates every candidate on its own; a guard
that is not reached reads "not evaluated" and is never run.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from async_engine import ENGINES
from conftest import quiet_logger
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from journeyfsm import (
    Context,
    GuardError,
    JourneyBuilder,
    JourneyDefinition,
    JourneyMachine,
    ManualClock,
    guard,
)
from journeyfsm._guards import AllOf, AnyOf, Guard, GuardResult, Not
from journeyfsm.testing import shortest_paths
from journeyfsm.testing._paths import Explorer

# -- the example: `has_total & total_over_50` -----------------------------------------


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest) -> str:
    """Every machine test here runs on each engine (tests/async_engine.py)."""
    return str(request.param)


def _order_guards(calls: list[str]) -> tuple[Guard, Guard]:
    @guard
    def has_total(ctx: Context) -> bool:
        "the order has a total"
        calls.append("has_total")
        return "total" in ctx.payload

    @guard
    def total_over_50(ctx: Context) -> bool:
        "the total is over 50"
        calls.append("total_over_50")
        return ctx.payload["total"] > 50  # type: ignore[no-any-return]  # KeyError without one

    return has_total, total_over_50


def _orders(first: list[Guard], fallback: list[Guard]) -> JourneyDefinition:
    return (
        JourneyBuilder("orders")
        .stage("new", initial=True)
        .stage("big", final=True)
        .stage("small", final=True)
        .transition("order", "new", "big", guards=first)
        .transition("order", "new", "small", guards=fallback)
        .build()
    )


def test_composite_that_fire_short_circuits_is_explained_not_raised(
    make_machine: Callable[..., JourneyMachine],
) -> None:
    calls: list[str] = []
    has_total, total_over_50 = _order_guards(calls)
    machine = make_machine(_orders([has_total & total_over_50], []))

    assert machine.fire(machine.start("k-1"), "order", {}).dest == "small"
    assert calls == ["has_total"]
    calls.clear()

    explanation = machine.explain(machine.start("k-2"), "order", {})

    assert calls == ["has_total"]
    assert explanation.status == "would_move"
    assert explanation.chosen is not None and explanation.chosen.dest == "small"
    (composite,) = explanation.candidates[0].guards
    assert [(r.name, r.passed) for r in composite.children] == [
        ("has_total", False),
        ("total_over_50", None),
    ]
    assert explanation.failed_guards == ("has_total",)
    assert "-    total_over_50: the total is over 50 (not evaluated)" in str(explanation)


def test_blocked_outcome_reports_unreached_guards_as_not_evaluated(
    make_machine: Callable[..., JourneyMachine],
) -> None:
    calls: list[str] = []
    has_total, total_over_50 = _order_guards(calls)

    @guard
    def never(ctx: Context) -> bool:
        calls.append("never")
        return False

    machine = make_machine(_orders([has_total & total_over_50], [never]))
    journey = machine.start("k-1")

    outcome = machine.fire(journey, "order", {})

    assert outcome.blocked and journey.stage == "new"
    # fire runs each reached guard once (the blocked outcome is built from what it ran):
    # total_over_50 never runs
    assert calls == ["has_total", "never"]
    big, small = outcome.candidates
    assert (big.passed, small.passed) == (False, False)
    assert [(r.name, r.passed) for r in big.guards[0].children] == [
        ("has_total", False),
        ("total_over_50", None),
    ]
    assert outcome.failed_guards == ("has_total", "never")
    assert outcome.candidates == machine.explain(journey, "order", {}).candidates


def test_guards_after_the_failing_one_are_not_run_and_not_failing(
    make_machine: Callable[..., JourneyMachine],
) -> None:
    calls: list[str] = []
    has_total, total_over_50 = _order_guards(calls)
    machine = make_machine(_orders([has_total, total_over_50], []))  # a list, not a composite

    outcome = machine.fire(machine.start("k"), "order", {})
    explanation = machine.explain(machine.start("k"), "order", {})

    assert "total_over_50" not in calls
    expected = (
        GuardResult("has_total", "the order has a total", False),
        GuardResult("total_over_50", "the total is over 50", None),
    )
    # the moved outcome (built from fire's guard log) and explain show the same results
    assert outcome.candidates[0].guards == expected
    assert explanation.candidates[0].guards == expected
    assert outcome.candidates[0].failing == (expected[0],)


def test_enabled_triggers_agree_with_fire(make_machine: Callable[..., JourneyMachine]) -> None:
    calls: list[str] = []
    has_total, total_over_50 = _order_guards(calls)
    never = guard(lambda ctx: False, name="never")
    moves = make_machine(_orders([has_total & total_over_50], []))
    blocks = make_machine(_orders([has_total & total_over_50], [never]))

    assert moves.enabled_triggers(moves.start("k"), {}) == ("order",)
    assert blocks.enabled_triggers(blocks.start("k"), {}) == ()
    assert blocks.enabled_triggers(blocks.start("k"), {"total": 80}) == ("order",)
    assert "total_over_50" not in calls[:2]
    with pytest.raises(GuardError, match="total_over_50"):  # reached: a fault, as in fire
        blocks.enabled_triggers(blocks.start("k"), {"total": None})


def test_a_payload_type_mismatch_disables_the_trigger_as_fire_refuses_it(
    make_machine: Callable[..., JourneyMachine],
) -> None:
    # fire raises GuardError at the typed guard of the first candidate and never reaches
    # the unguarded fallback: enabled_triggers must not list the trigger through it
    paid = guard(lambda ctx: ctx.payload.get("paid") is True, name="paid", payload_type=dict)
    machine = make_machine(_orders([paid], []))
    journey = machine.start("k")

    with pytest.raises(GuardError, match="paid") as raised:
        machine.fire(journey, "order", None)
    assert raised.value.reason == "payload_type"
    assert journey.stage == "new"
    assert machine.enabled_triggers(journey, None) == ()
    assert machine.enabled_triggers(journey, {"paid": True}) == ("order",)
    assert machine.enabled_triggers(journey, {"paid": False}) == ("order",)  # the fallback
    assert machine.fire(journey, "order", {"paid": False}).dest == "small"


def test_path_explorer_agrees_with_fire(make_machine: Callable[..., JourneyMachine]) -> None:
    calls: list[str] = []
    has_total, total_over_50 = _order_guards(calls)
    d = _orders([has_total & total_over_50], [])

    paths = shortest_paths(d, {"order": [{}, {"total": 80}]})

    assert paths["small"].triggers == paths["big"].triggers == ("order",)
    assert paths["small"].steps[0].payload == {}
    assert paths["big"].steps[0].payload == {"total": 80}


# -- hypothesis: random guard trees on random candidate lists ---------------------------------
# A tree is ("leaf", behaviour) with behaviour True, False, "raise" or "not_bool", or
# ("&" | "|", [trees]) or ("~", tree).
Tree = tuple[Any, ...]

behaviours = st.sampled_from([True, False, "raise", "not_bool"])
trees: st.SearchStrategy[Tree] = st.recursive(
    behaviours.map(lambda b: ("leaf", b)),
    lambda inner: st.one_of(
        st.tuples(st.sampled_from(["&", "|"]), st.lists(inner, min_size=2, max_size=3)),
        st.tuples(st.just("~"), inner),
    ),
    max_leaves=6,
)
# candidates: each a list of top-level guard trees; all but the last need a guard
candidate_lists = st.lists(st.lists(trees, min_size=0, max_size=3), min_size=1, max_size=3).map(
    lambda cands: [c or [("leaf", True)] for c in cands[:-1]] + [cands[-1]]
)


class Raised(Exception):
    """What the model says a faulty leaf does when it is reached."""


def _build(tree: Tree, calls: list[str], counter: list[int]) -> tuple[Guard, Callable[[], Any]]:
    """The guard for ``tree`` and a model of its evaluation (same calls, same order)."""
    kind = tree[0]
    if kind == "leaf":
        behaviour = tree[1]
        name = f"g{counter[0]}"
        counter[0] += 1

        def fn(ctx: Context) -> Any:
            calls.append(name)
            if behaviour == "raise":
                raise LookupError(name)
            return 1 if behaviour == "not_bool" else behaviour

        def leaf_model() -> Any:
            calls.append(name)
            if behaviour in ("raise", "not_bool"):
                raise Raised(name)
            return GuardResult(name, "", behaviour)

        return guard(fn, name=name), leaf_model
    if kind == "~":
        part, part_model = _build(tree[1], calls, counter)
        g: Guard = Not(part)

        def not_model() -> Any:
            child = part_model()
            return GuardResult(g.name, g.description, not child.passed, (child,))

        return g, not_model
    built = [_build(t, calls, counter) for t in tree[1]]
    g = (AllOf if kind == "&" else AnyOf)(tuple(p for p, _ in built))
    decides = kind == "|"

    def combined_model() -> Any:
        children, passed = [], not decides
        for p, model in built:
            if passed is decides:
                children.append(p.not_evaluated())
                continue
            child = model()
            children.append(child)
            passed = decides if child.passed is decides else passed
        return GuardResult(g.name, g.description, passed, tuple(children))

    return g, combined_model


def _model_candidate(guards: list[tuple[Guard, Callable[[], Any]]]) -> tuple[bool, tuple[Any, ...]]:
    results, passed = [], True
    for g, model in guards:
        if passed:
            result = model()
            passed = result.passed is True
        else:
            result = g.not_evaluated()
        results.append(result)
    return passed, tuple(results)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(candidate_lists)
def test_fire_explain_blocked_enabled_and_explorer_agree(cands: list[list[Tree]]) -> None:
    calls: list[str] = []
    counter = [0]
    built = [[_build(t, calls, counter) for t in c] for c in cands]
    builder = JourneyBuilder("random").stage("a", initial=True)
    for i in range(len(built)):
        builder.stage(f"d{i}", final=True)
    for i, c in enumerate(built):
        builder.transition("go", "a", f"d{i}", guards=[g for g, _ in c])
    d = builder.build()
    # sync only: a hypothesis test takes no function-scoped fixture
    machine = JourneyMachine(d, clock=ManualClock(), logger=quiet_logger())

    # the model: fire tries candidates in order up to the first that passes ...
    fire_calls: list[str] = []
    fire_raises = False
    winner: int | None = None
    calls.clear()
    try:
        for i, c in enumerate(built):
            if _model_candidate(c)[0]:
                winner = i
                break
    except Raised:
        fire_raises = True
    fire_calls = list(calls)
    # ... explain evaluates every candidate on its own
    calls.clear()
    explain_results: list[tuple[bool, tuple[Any, ...]]] | None = []
    try:
        explain_results = [_model_candidate(c) for c in built]
    except Raised:
        explain_results = None
    explain_calls = list(calls)

    # fire: its decision, and the guards it ran (a faulty one only matters when reached)
    calls.clear()
    journey = machine.start("k")
    if fire_raises:
        with pytest.raises(GuardError):
            machine.fire(journey, "go")
        assert calls == fire_calls
        assert journey.stage == "a" and journey.version == 0
    else:
        outcome = machine.fire(journey, "go")
        if winner is None:
            assert outcome.blocked
            # the blocked outcome is built from the guards fire ran, once each: every
            # candidate was tried, as explain tries them
            assert calls == fire_calls == explain_calls
            assert explain_results is not None
            assert [(c.passed, c.guards) for c in outcome.candidates] == explain_results
        else:
            assert outcome.moved and outcome.dest == f"d{winner}"
            assert calls == fire_calls
            tried = outcome.candidates
            assert len(tried) == winner + 1 and [c.passed for c in tried][-1] is True
            assert all(not c.passed for c in tried[:-1])
            # top-level guard results from fire's log: the same passed/not-evaluated pattern
            assert [[r.passed for r in c.guards] for c in tried] == [
                [r.passed for r in _model_candidate(built[i])[1]] for i in range(winner + 1)
            ]

    # explain: status and chosen agree with fire; raises only if a faulty guard is reached
    calls.clear()
    if explain_results is None:
        with pytest.raises(GuardError):
            machine.explain(machine.start("k"), "go")
    else:
        assert not fire_raises  # fire's reach is part of explain's
        explanation = machine.explain(machine.start("k"), "go")
        assert [(c.passed, c.guards) for c in explanation.candidates] == explain_results
        assert explanation.status == ("blocked" if winner is None else "would_move")
        chosen = explanation.chosen
        assert (chosen.dest if chosen else None) == (None if winner is None else f"d{winner}")
    assert calls == explain_calls

    # enabled_triggers and the path explorer run what fire runs, and decide as fire does
    calls.clear()
    if fire_raises:
        with pytest.raises(GuardError):
            machine.enabled_triggers(machine.start("k"))
    else:
        assert machine.enabled_triggers(machine.start("k")) == (() if winner is None else ("go",))
    assert calls == fire_calls
    calls.clear()
    explorer = Explorer(machine)
    if fire_raises:
        with pytest.raises(GuardError):
            explorer.chosen("a", "go", None)
    else:
        expected = None if winner is None else d.candidates("a", "go")[winner]
        assert explorer.chosen("a", "go", None) is expected
    assert calls == fire_calls
