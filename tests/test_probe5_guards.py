"""Semantics 2 on both machines and in coverage: random guard trees (sync and ``async
def`` leaves) on random candidate lists decide, call and report the same in the sync
``JourneyMachine`` and the ``AsyncJourneyMachine``: ``fire`` (moved and blocked),
``explain``, ``enabled_triggers`` and the coverage they record.  A faulty leaf (raising,
or returning a non-bool) is a ``GuardError`` naming it, from both, with the journey
untouched, and only when it is reached."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from conftest import quiet_logger
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from journeyfsm import (
    AsyncJourneyMachine,
    Context,
    GuardError,
    JourneyBuilder,
    JourneyMachine,
    ManualClock,
    guard,
)
from journeyfsm._guards import AllOf, AnyOf, Guard, Not
from journeyfsm.testing import shortest_paths, simple_paths, unreachable_stages
from journeyfsm.testing._coverage import CoverageCollector
from journeyfsm.testing._paths import Explorer

Tree = tuple[Any, ...]
behaviours = st.sampled_from([True, False, True, False, "raise", "not_bool"])
trees: st.SearchStrategy[Tree] = st.recursive(
    st.tuples(st.just("leaf"), behaviours, st.booleans()),  # (leaf, behaviour, async?)
    lambda inner: st.one_of(
        st.tuples(st.sampled_from(["&", "|"]), st.lists(inner, min_size=2, max_size=3)),
        st.tuples(st.just("~"), inner),
    ),
    max_leaves=6,
)
candidate_lists = st.lists(st.lists(trees, min_size=0, max_size=3), min_size=1, max_size=3).map(
    lambda cands: [c or [("leaf", True, False)] for c in cands[:-1]] + [cands[-1]]
)


def _build(tree: Tree, calls: list[str], counter: list[int], sync_only: bool) -> Guard:
    kind = tree[0]
    if kind == "leaf":
        _, behaviour, is_async = tree
        name = f"g{counter[0]}"
        counter[0] += 1

        def result() -> Any:
            calls.append(name)
            if behaviour == "raise":
                raise LookupError(name)
            return 1 if behaviour == "not_bool" else behaviour

        if is_async and not sync_only:

            async def afn(ctx: Context) -> Any:
                await asyncio.sleep(0)
                return result()

            return guard(afn, name=name)
        return guard(lambda ctx: result(), name=name)
    if kind == "~":
        return Not(_build(tree[1], calls, counter, sync_only))
    parts = tuple(_build(t, calls, counter, sync_only) for t in tree[1])
    return (AllOf if kind == "&" else AnyOf)(parts)


def _definition(cands: list[list[Tree]], calls: list[str], sync_only: bool) -> Any:
    counter = [0]
    builder = JourneyBuilder("random").stage("a", initial=True)
    for i in range(len(cands)):
        builder.stage(f"d{i}", final=True)
    for i, c in enumerate(cands):
        guards = [_build(t, calls, counter, sync_only) for t in c]
        builder.transition("go", "a", f"d{i}", guards=guards)
    return builder.build()


def _shape(outcome: Any) -> Any:
    return (
        outcome.status,
        outcome.dest,
        [(c.transition.dest, c.passed, c.guards) for c in outcome.candidates],
    )


def _run(call: Any) -> tuple[str, Any]:
    try:
        return "ok", call()
    except GuardError as err:
        return "GuardError", (err.guard if hasattr(err, "guard") else str(err))


def _observe_sync(cands: list[list[Tree]]) -> dict[str, Any]:
    calls: list[str] = []
    m = JourneyMachine(_definition(cands, calls, True), clock=ManualClock(), logger=quiet_logger())
    seen: dict[str, Any] = {}
    cov = CoverageCollector()
    for what, call in [
        ("explain", lambda: _explained(m.explain(m.start("k"), "go"))),
        ("enabled", lambda: m.enabled_triggers(m.start("k"))),
        ("fire", lambda: _fired(m, cov)),
    ]:
        calls.clear()
        seen[what] = (_run(call), list(calls))
    calls.clear()
    explorer = Explorer(m)
    seen["explorer"] = (_run(lambda: _dest(explorer.chosen("a", "go", None))), list(calls))
    seen["coverage"] = sorted(map(repr, cov.results()[0].hit)) if cov.results() else []
    return seen


def _dest(t: Any) -> Any:
    return None if t is None else t.dest


def _observe_async(cands: list[list[Tree]], sync_only: bool) -> dict[str, Any]:
    calls: list[str] = []
    d = _definition(cands, calls, sync_only)
    m = AsyncJourneyMachine(d, clock=ManualClock(), logger=quiet_logger())
    seen: dict[str, Any] = {}
    cov = CoverageCollector()

    async def fired() -> Any:
        journey = m.start("k")
        try:
            outcome = await m.fire(journey, "go")
        finally:
            # untouched when a guard fails: stage, version, history
            if journey.version == 0:
                assert journey.stage == "a" and len(journey.history) == 0
        cov.fired(m, outcome)  # type: ignore[arg-type]
        return _shape(outcome)

    async def explained() -> Any:
        return _explained(await m.explain(m.start("k"), "go"))

    for what, make in [
        ("explain", explained),
        ("enabled", lambda: m.enabled_triggers(m.start("k"))),
        ("fire", fired),
    ]:
        calls.clear()
        seen[what] = (_run(lambda make=make: asyncio.run(make())), list(calls))
    calls.clear()
    # the explorer of an async machine (and of a definition with async guards)
    explorer = Explorer(m)
    seen["explorer"] = (_run(lambda: _dest(explorer.chosen("a", "go", None))), list(calls))
    if not sync_only:
        calls.clear()
        again = Explorer(d)
        assert (_run(lambda: _dest(again.chosen("a", "go", None))), list(calls)) == seen["explorer"]
    seen["coverage"] = sorted(map(repr, cov.results()[0].hit)) if cov.results() else []
    return seen


def _explained(e: Any) -> Any:
    chosen = e.chosen.dest if e.chosen else None
    return (e.status, chosen, [(c.transition.dest, c.passed, c.guards) for c in e.candidates])


def _fired(m: JourneyMachine, cov: CoverageCollector) -> Any:
    journey = m.start("k")
    try:
        outcome = m.fire(journey, "go")
    except GuardError:
        assert journey.stage == "a" and journey.version == 0 and len(journey.history) == 0
        raise
    cov.fired(m, outcome)
    return _shape(outcome)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(candidate_lists)
def test_sync_and_async_machines_agree_on_every_guard_decision(cands: list[list[Tree]]) -> None:
    sync = _observe_sync(cands)
    # the same sync guards on the async machine, then with async leaves where drawn
    assert _observe_async(cands, sync_only=True) == sync
    assert _observe_async(cands, sync_only=False) == sync


@guard
async def paid(ctx: Context) -> bool:
    """the payment went through"""
    await asyncio.sleep(0)
    return bool(ctx.payload and ctx.payload.get("paid"))


ASYNC_SHOP = (
    JourneyBuilder("async-shop")
    .stage("cart", initial=True)
    .stage("paid")
    .stage("done", final=True)
    .transition("pay", "cart", "paid", guards=[paid])
    .transition("ship", "paid", "done")
    .build()
)


def test_the_path_explorer_explores_async_machines_and_async_guards() -> None:
    payloads = {"pay": [{"paid": False}, {"paid": True}]}
    machine = AsyncJourneyMachine(ASYNC_SHOP, logger=quiet_logger())
    for target in (machine, ASYNC_SHOP):
        paths = shortest_paths(target, payloads)
        assert paths["done"].triggers == ("pay", "ship")
        assert paths["done"].steps[0].payload == {"paid": True}
        assert unreachable_stages(target) == ("paid", "done")  # no payload pays
        assert [p.stage for p in simple_paths(target, 2, payloads)] == ["paid", "done"]
    journey = paths["done"].replay(machine)
    assert journey.stage == "done" and journey.version == 2


def test_the_path_explorer_in_a_running_loop_says_what_to_do() -> None:
    async def inside() -> None:
        shortest_paths(ASYNC_SHOP, {"pay": [{"paid": True}]})

    with pytest.raises(RuntimeError, match=r"running event loop.*to_thread"):
        asyncio.run(inside())
