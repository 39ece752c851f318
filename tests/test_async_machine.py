"""AsyncJourneyMachine only (issue 17): what the shared suite (tests/async_engine.py) cannot
show through the sync API: async guard order, mixed hooks, cancellation at every await
point, concurrency.  Every test runs its coroutine with ``asyncio.run`` and every wait is
bounded by ``asyncio.wait_for``: nothing here can hang."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import threading
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from conftest import checkout_builder, quiet_logger

from journeyfsm import (
    AsyncJourneyMachine,
    Context,
    GuardError,
    HookError,
    Journey,
    JourneyBuilder,
    JourneyDefinition,
    JourneyError,
    JourneyMachine,
    ManualClock,
    guard,
)

LIMIT = 5.0  # seconds: the longest any wait here may take


def run(coro: Awaitable[Any]) -> Any:
    async def bounded() -> Any:
        return await asyncio.wait_for(coro, LIMIT)

    return asyncio.run(bounded())


def machine_for(definition: JourneyDefinition | None = None) -> AsyncJourneyMachine:
    return AsyncJourneyMachine(
        definition or checkout_builder().build(), clock=ManualClock(), logger=quiet_logger()
    )


def two_way(calls: list[str], first: Any, second: Any) -> JourneyDefinition:
    return (
        JourneyBuilder("orders")
        .stage("new", initial=True)
        .stage("big", final=True)
        .stage("small", final=True)
        .transition("order", "new", "big", guards=[first, second])
        .transition("order", "new", "small")
        .build()
    )


def state(journey: Journey) -> Any:
    """Everything a rollback must restore."""
    return (
        journey.stage,
        copy.deepcopy(journey.data),
        list(journey.history),
        journey.version,
        dict(journey.event_ids or {}),
        journey.entered_at,
        journey.entry_seq,
        journey.timeouts_fired,
    )


# -- guards --------------------------------------------------------------------------------


def test_an_async_guard_that_fails_stops_the_candidate_before_later_guards() -> None:
    calls: list[str] = []

    @guard
    async def slow_no(ctx: Context) -> bool:
        calls.append("slow_no")
        await asyncio.sleep(0.01)
        return False

    @guard
    async def never(ctx: Context) -> bool:
        calls.append("never")
        return True

    machine = machine_for(two_way(calls, slow_no, never))

    async def main() -> None:
        journey = machine.start("k")
        explained = await machine.explain(journey, "order")
        assert calls == ["slow_no"]
        assert [r.passed for r in explained.candidates[0].guards] == [False, None]
        assert "not evaluated" in str(explained)
        calls.clear()
        outcome = await machine.fire(journey, "order")
        assert outcome.dest == "small" and calls == ["slow_no"]

    run(main())


def test_async_and_sync_guards_mix_and_short_circuit_in_composites() -> None:
    calls: list[str] = []

    @guard
    async def a(ctx: Context) -> bool:
        calls.append("a")
        return True

    @guard
    def b(ctx: Context) -> bool:
        calls.append("b")
        return False

    @guard
    async def c(ctx: Context) -> bool:
        calls.append("c")
        return True

    machine = machine_for(two_way(calls, a & b, c))
    outcome = run(machine.fire(machine.start("k"), "order"))
    assert outcome.dest == "small" and calls == ["a", "b"]
    assert run(machine.enabled_triggers(machine.start("k2"))) == ("order",)


def test_a_raising_or_non_bool_async_guard_is_a_guard_error_naming_it() -> None:
    @guard
    async def broken(ctx: Context) -> bool:
        raise ValueError("no stock service")

    @guard
    async def sloppy(ctx: Context) -> bool:
        return 1  # type: ignore[return-value]

    for g, match in ((broken, "raised ValueError: no stock service"), (sloppy, "not a bool")):
        machine = machine_for(two_way([], g, g))
        journey = machine.start("k")
        with pytest.raises(GuardError, match=match) as info:
            run(machine.fire(journey, "order"))
        assert info.value.guard == g.name
        assert journey.stage == "new" and journey.version == 0


def test_the_sync_machine_and_sync_callers_refuse_async_guards_by_name() -> None:
    @guard
    async def remote(ctx: Context) -> bool:
        return True

    d = two_way([], remote, remote)
    with pytest.raises(TypeError, match="guard 'remote' is an async function"):
        JourneyMachine(d)
    # evaluated synchronously outside an AsyncJourneyMachine call (the path explorer,
    # coverage): a GuardError naming it, for the same reason
    journey = machine_for(d).start("k")
    ctx = Context(journey, "order", None, journey.started_at, "new", "big")
    with pytest.raises(GuardError, match="'remote' raised TypeError: guard 'remote' is an async"):
        remote.check(ctx)


# -- hooks ---------------------------------------------------------------------------------


def test_mixed_sync_and_async_hooks_keep_the_sync_order() -> None:
    machine = machine_for()
    order: list[str] = []

    def note(name: str, is_async: bool) -> Callable[[Context], Any]:
        if is_async:

            async def hook(ctx: Context) -> None:
                await asyncio.sleep(0)
                order.append(name)

            return hook
        return lambda ctx: order.append(name)

    machine.before(note("before-1", True))
    machine.before(note("before-2", False))
    machine.on_exit("browsing", note("exit", True))
    machine.on_enter("cart", note("enter-1", False))
    machine.on_enter("cart", note("enter-2", True))
    machine.on_transition("add_to_cart", note("transition", True))
    machine.after(note("after", False))
    run(machine.fire(machine.start("k"), "add_to_cart"))
    assert order == [
        "before-1",
        "before-2",
        "exit",
        "enter-1",
        "enter-2",
        "transition",
        "after",
    ]


def test_an_async_hook_that_raises_rolls_back_and_gives_hook_error() -> None:
    machine = machine_for()

    @machine.on_enter("cart")
    async def reserve(ctx: Context) -> None:
        ctx.journey.data["reserved"] = True
        await asyncio.sleep(0)
        raise RuntimeError("warehouse down")

    journey = machine.start("k", {"cart": []})
    before = state(journey)
    with pytest.raises(HookError, match="reserve' raised RuntimeError: warehouse down") as info:
        run(machine.fire(journey, "add_to_cart", event_id="e-1"))
    assert isinstance(info.value.__cause__, RuntimeError)
    assert (
        info.value.hook
        == "test_an_async_hook_that_raises_rolls_back_and_gives_hook_error.<locals>.reserve"
    )
    assert state(journey) == before


def test_async_on_blocked_and_on_ignored_hooks_run() -> None:
    machine = machine_for()
    seen: list[str] = []

    @machine.on_blocked
    async def blocked(ctx: Context, outcome: Any) -> None:
        seen.append(outcome.status)

    @machine.on_ignored
    async def ignored(ctx: Context, outcome: Any) -> None:
        seen.append(outcome.status)

    async def main() -> None:
        journey = machine.start("k")
        await machine.fire(journey, "pay")  # not valid from browsing
        await machine.fire(journey, "add_to_cart")
        await machine.fire(journey, "checkout")  # empty cart: blocked

    run(main())
    assert seen == ["ignored", "blocked"]


# -- cancellation --------------------------------------------------------------------------

POINTS = ["guard", "before", "on_exit", "on_enter", "on_transition", "after"]


def hanging_machine(point: str, started: asyncio.Event) -> AsyncJourneyMachine:
    """A machine whose ``point`` awaits an Event nobody sets (a hook after writing data);
    for any other ``point`` nothing hangs."""

    async def hang(ctx: Context, *rest: Any) -> bool:
        if point != "guard":  # guards are pure (DESIGN Semantics 2): only hooks write
            ctx.journey.data["touched"] = point
        started.set()
        await asyncio.Event().wait()
        return True  # pragma: no cover - never set

    async def passes(ctx: Context) -> bool:
        return True

    g = guard(hang, name="hang") if point == "guard" else guard(passes, name="passes")
    d = (
        JourneyBuilder("c")
        .stage("a", initial=True)
        .stage("b", final=True)
        .transition("go", "a", "b", guards=[g])
        .build()
    )
    machine = machine_for(d)
    if point in ("before", "after"):
        getattr(machine, point)(hang)
    elif point == "on_exit":
        machine.on_exit("a", hang)
    elif point == "on_enter":
        machine.on_enter("b", hang)
    elif point == "on_transition":
        machine.on_transition("go", hang)
    return machine


@pytest.mark.parametrize("point", POINTS)
@pytest.mark.parametrize("how", ["cancel", "wait_for"])
def test_cancellation_at_every_await_point_leaves_the_journey_exactly_as_before(
    point: str, how: str
) -> None:
    async def main() -> None:
        started = asyncio.Event()
        machine = hanging_machine(point, started)
        journey = machine.start("k", {"cart": ["mug"]})
        before = state(journey)
        fire = machine.fire(journey, "go", event_id="e-1", meta={"channel": "web"})
        if how == "cancel":
            task = asyncio.create_task(fire)
            await asyncio.wait_for(started.wait(), LIMIT)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await asyncio.wait_for(task, LIMIT)
        else:
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(fire, 0.05)
        assert state(journey) == before
        assert journey._move is None
        # the journey is free again: the same event moves it once nothing hangs
        calm = hanging_machine("nowhere", asyncio.Event())  # the same journey, nothing hangs
        assert (await calm.fire(journey, "go", event_id="e-1")).moved

    run(main())


def test_cancellation_during_explain_changes_nothing() -> None:
    async def main() -> None:
        started = asyncio.Event()
        machine = hanging_machine("guard", started)
        journey = machine.start("k")
        before = state(journey)
        task = asyncio.create_task(machine.explain(journey, "go"))
        await asyncio.wait_for(started.wait(), LIMIT)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(task, LIMIT)
        assert state(journey) == before

    run(main())


# -- concurrency ---------------------------------------------------------------------------


def test_a_hundred_concurrent_fires_on_a_hundred_journeys() -> None:
    machine = machine_for()
    active = {"now": 0, "most": 0}

    @machine.on_enter("cart")
    async def slow_crm(ctx: Context) -> None:
        active["now"] += 1
        active["most"] = max(active["most"], active["now"])
        await asyncio.sleep(0.01)
        active["now"] -= 1
        ctx.journey.data["crm"] = ctx.journey.key

    async def main() -> list[Journey]:
        journeys = [machine.start(f"c-{i}") for i in range(100)]
        outcomes = await asyncio.gather(
            *(machine.fire(j, "add_to_cart", event_id=f"e-{j.key}") for j in journeys)
        )
        assert all(o.moved for o in outcomes)
        return journeys

    journeys = run(main())
    assert all(j.stage == "cart" and j.data == {"crm": j.key} for j in journeys)
    assert all(j.version == 1 and list(j.event_ids) == [f"e-{j.key}"] for j in journeys)
    assert active["most"] > 1  # they did overlap on the loop


def test_one_journey_fired_from_two_tasks_refuses_the_second_and_finishes_the_first() -> None:
    machine = machine_for()
    release = asyncio.Event()

    @machine.on_enter("cart")
    async def wait(ctx: Context) -> None:
        await release.wait()

    async def main() -> None:
        journey = machine.start("k")
        first = asyncio.create_task(machine.fire(journey, "add_to_cart"))
        while journey._move is None:  # until the first move is under way
            await asyncio.sleep(0.001)
        with pytest.raises(JourneyError, match="re-entrant fire"):
            await machine.fire(journey, "note")
        release.set()
        assert (await asyncio.wait_for(first, LIMIT)).moved
        assert journey.stage == "cart" and journey.version == 1

    run(main())


def test_an_async_hook_that_fires_its_own_journey_rolls_the_move_back() -> None:
    machine = machine_for()

    @machine.on_enter("cart")
    async def again(ctx: Context) -> None:
        with contextlib.suppress(JourneyError):  # swallowed: the outer move rolls back anyway
            await machine.fire(ctx.journey, "note")

    journey = machine.start("k")
    with pytest.raises(JourneyError, match="re-entrant fire"):
        run(machine.fire(journey, "add_to_cart"))
    assert journey.stage == "browsing" and journey.version == 0


def test_an_async_hook_may_await_moves_of_other_journeys() -> None:
    machine = machine_for()
    other = machine.start("friend")

    @machine.on_enter("checkout")
    async def refer(ctx: Context) -> None:
        if ctx.journey.key != other.key:
            await machine.fire(other, "add_to_cart")

    @machine.on_enter("cart")
    async def fill(ctx: Context) -> None:
        ctx.journey.data["cart"] = ["mug"]

    async def main() -> None:
        journey = machine.start("k")
        await machine.fire(journey, "add_to_cart")
        await machine.fire(journey, "checkout")
        assert journey.stage == "checkout" and other.stage == "cart"

    run(main())


# -- effects -------------------------------------------------------------------------------


def test_an_async_effect_that_raises_is_reported_like_a_sync_one() -> None:
    sync = JourneyMachine(checkout_builder().build(), clock=ManualClock(), logger=quiet_logger())
    machine = machine_for()

    def sync_fails(call: Any) -> None:
        raise ConnectionError("smtp down")

    async def async_fails(call: Any) -> None:
        await asyncio.sleep(0)
        raise ConnectionError("smtp down")

    ran: list[str] = []

    async def after(call: Any) -> None:
        ran.append(call.effect)

    sync.effect(sync_fails, on_enter="cart", name="mail")
    sync.effect(lambda call: None, on_enter="cart", name="after")
    machine.effect(async_fails, on_enter="cart", name="mail")
    machine.effect(after, on_enter="cart", name="after")
    expected = sync.fire(sync.start("k"), "add_to_cart")
    got = run(machine.fire(machine.start("k"), "add_to_cart"))
    assert got.moved and got.effects == expected.effects
    assert got.effect_errors[0].error == "ConnectionError: smtp down"
    assert ran == ["after"]
    deferred = run(machine.fire(machine.start("k2"), "add_to_cart", defer_effects=True))
    assert deferred.effects == () and [c.effect for c in deferred.pending_effects] == [
        "mail",
        "after",
    ]
    reports = run(machine.run_effects(deferred.pending_effects))
    assert [r.ok for r in reports] == [False, True]


def test_a_cancellation_after_the_last_async_callback_finds_the_move_complete() -> None:
    # documented: the move stands (it was complete), CancelledError still propagates
    machine = machine_for()
    in_sync_hook = threading.Event()
    go_on = threading.Event()

    @machine.before
    async def first(ctx: Context) -> None:
        await asyncio.sleep(0)

    @machine.after
    def last(ctx: Context) -> None:  # sync, in the worker thread
        in_sync_hook.set()
        go_on.wait(LIMIT)

    async def main() -> None:
        journey = machine.start("k")
        task = asyncio.create_task(machine.fire(journey, "add_to_cart"))
        assert await asyncio.to_thread(in_sync_hook.wait, LIMIT)
        task.cancel()
        await asyncio.sleep(0.01)
        go_on.set()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(task, LIMIT)
        assert journey.stage == "cart" and journey.version == 1 and journey._move is None

    run(main())


def test_a_cancellation_before_a_later_async_callback_rolls_the_move_back() -> None:
    machine = machine_for()
    in_sync_hook = threading.Event()
    go_on = threading.Event()
    ran: list[str] = []

    @machine.on_exit("browsing")
    def middle(ctx: Context) -> None:  # sync, in the worker thread
        ctx.journey.data["seen"] = True
        in_sync_hook.set()
        go_on.wait(LIMIT)

    @machine.after
    async def later(ctx: Context) -> None:
        ran.append("later")  # pragma: no cover - never started: the caller was cancelled

    async def main() -> None:
        journey = machine.start("k")
        before = state(journey)
        task = asyncio.create_task(machine.fire(journey, "add_to_cart"))
        assert await asyncio.to_thread(in_sync_hook.wait, LIMIT)
        task.cancel()
        await asyncio.sleep(0.01)
        go_on.set()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(task, LIMIT)
        assert state(journey) == before and ran == []

    run(main())


def test_drive_runs_sync_code_against_the_machine_with_async_hooks_awaited() -> None:
    # the seam the async service's sans-IO core uses: its decide step calls the sync fire
    machine = machine_for()
    seen: list[str] = []

    @machine.on_enter("cart")
    async def tag(ctx: Context) -> None:
        seen.append(ctx.journey.key)

    journey = machine.start("k")

    def decide(sync: JourneyMachine) -> Any:
        return sync.fire(journey, "add_to_cart", defer_effects=True)

    assert run(machine._drive(decide, journey)).moved
    assert seen == ["k"] and journey.stage == "cart"
