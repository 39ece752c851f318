"""BaseExceptions, copies, threads and re-entrant calls, probed on the newest moves (DESIGN
Semantics 4, issue 17 cancellation, issue 20): a goal's exit, a re-entry that meets a
goal, a migration batch.  Whatever is raised, the journey is exactly as before."""

from __future__ import annotations

import asyncio
import copy
import pickle
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import START, quiet_logger

from journeyfsm import (
    AsyncJourneyMachine,
    AsyncJourneyService,
    Goal,
    JourneyBuilder,
    JourneyDefinition,
    JourneyError,
    JourneyMachine,
    JourneyService,
    ManualClock,
    Migration,
)
from journeyfsm.stores import AsyncSQLiteStore, SQLiteStore

GOAL, REENTER = "journeyfsm.goal", "journeyfsm.reenter"
H, D = timedelta(hours=1), timedelta(days=1)


def shop(version: int = 1, cart: str = "cart") -> JourneyDefinition:
    return (
        JourneyBuilder("shop", version=version, entry="once_at_a_time")
        .stage("browsing", initial=True)
        .stage(cart)
        .stage("purchased", final=True)
        .stage("converted", final=True)
        .transition("add_to_cart", ["browsing", cart], cart)
        .transition("pay", cart, "purchased")
        .goal(Goal("quick", stage=cart, within=H, exit="converted"))
        .goal(Goal("bought", stage="purchased", within=14 * D, since=cart))
        .build()
    )


def state(machine: Any, journey: Any) -> tuple[Any, ...]:
    return (
        machine.snapshot(journey),
        journey.goals,
        journey.entered_at,
        journey.entry_seq,
        journey.timeouts_fired,
        None if journey.event_ids is None else list(journey.event_ids),
    )


# the points of a goal's exit move (cart -> converted, run by the machine after the
# event's own move browsing -> cart met "quick"), and of the event's move itself
POINTS = ["before", "after", "exit cart", "enter converted", "enter cart", "exit browsing"]


def arm(machine: Any, point: str, hook: Any) -> None:
    if point in ("before", "after"):
        getattr(machine, point)(hook)
    else:
        kind, stage = point.split()
        getattr(machine, f"on_{kind}")(stage)(hook)


@pytest.mark.parametrize("point", POINTS)
@pytest.mark.parametrize("error", [KeyboardInterrupt, SystemExit, GeneratorExit])
def test_a_base_exception_anywhere_in_a_goal_exit_leaves_the_journey_as_before(
    point: str, error: type[BaseException]
) -> None:
    m = JourneyMachine(shop(), logger=quiet_logger())
    calls = []
    armed = [True]

    def boom(ctx: Any) -> None:
        calls.append(ctx.trigger)
        if armed[0] and (ctx.trigger == GOAL or point in ("enter cart", "exit browsing")):
            raise error

    arm(m, point, boom)
    data = {"n": 1}
    j = m.start("a", data, at=START)
    held = j.data  # a reference the host holds
    before = state(m, j)
    with pytest.raises(error):
        m.fire(j, "add_to_cart", at=START + 10 * timedelta(minutes=1), event_id="e-1")
    assert calls  # the hook ran, and raised
    assert state(m, j) == before
    assert held is j.data and held == {"n": 1}
    armed[0] = False
    # the same event again is judged afresh (its id was not remembered), and works
    out = m.fire(j, "add_to_cart", at=START + 2 * H, event_id="e-1")
    assert out.moved and out.goals_missed == ("quick",)


@pytest.mark.parametrize("point", POINTS)
def test_a_cancelled_async_hook_in_a_goal_exit_leaves_the_journey_as_before(point: str) -> None:
    m = AsyncJourneyMachine(shop(), logger=quiet_logger())
    started = asyncio.Event()

    async def slow(ctx: Any) -> None:
        if ctx.trigger == GOAL or point in ("enter cart", "exit browsing"):
            started.set()
            await asyncio.sleep(60)

    async def run() -> None:
        arm(m, point, slow)
        j = m.start("a", {"n": 1}, at=START)
        before = state(m, j)
        task = asyncio.create_task(m.fire(j, "add_to_cart", at=START, event_id="e-1"))
        await asyncio.wait_for(started.wait(), 30)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert state(m, j) == before
        assert j._move is None  # nothing left claimed: the journey can move again
        started.clear()

    asyncio.run(run())


def restart_machine(point: str, error: type[BaseException]) -> tuple[JourneyMachine, Any]:
    """A finished journey whose restart's second step meets "quick" and exits."""
    m = JourneyMachine(shop(), logger=quiet_logger())
    j = m.start("a", at=START)
    m.fire(j, "add_to_cart", at=START + 2 * H)  # quick missed, then cart
    m.fire(j, "pay", at=START + 3 * H)  # bought met: purchased (final)

    def boom(ctx: Any) -> None:
        if ctx.trigger == point:
            raise error

    m.before(boom)
    return m, j


@pytest.mark.parametrize("point", [REENTER, "add_to_cart", GOAL])
@pytest.mark.parametrize("error", [KeyboardInterrupt, SystemExit])
def test_a_base_exception_in_any_step_of_a_restart_that_meets_a_goal_undoes_all_of_it(
    point: str, error: type[BaseException]
) -> None:
    m, j = restart_machine(point, error)
    before = state(m, j)
    with pytest.raises(error):
        m.fire(j, "add_to_cart", at=START + 5 * D, event_id="again")
    assert state(m, j) == before
    assert j.stage == "purchased"


def test_without_the_exception_the_restart_writes_all_three_steps() -> None:
    m, j = restart_machine("nothing", KeyboardInterrupt)
    out = m.fire(j, "add_to_cart", at=START + 5 * D)
    assert out.reentry is not None and out.goals_met == ("quick",)
    assert [e.trigger for e in j.history[-3:]] == [REENTER, "add_to_cart", GOAL]
    assert j.stage == "converted"


# -- re-entrant calls from hooks -------------------------------------------------------------
@pytest.mark.parametrize("call", ["fire", "tick", "snapshot"])
def test_a_hook_of_a_goal_exit_that_calls_the_machine_on_its_journey(call: str) -> None:
    m = JourneyMachine(shop(), logger=quiet_logger())
    seen: list[Any] = []

    @m.on_enter("converted")
    def again(ctx: Any) -> None:
        if call == "fire":
            try:
                m.fire(ctx.journey, "pay")
            except JourneyError as err:
                seen.append(err)  # swallowed: the outer move is rolled back anyway
        elif call == "tick":
            try:
                m.tick(ctx.journey, START)
            except JourneyError as err:
                seen.append(err)  # swallowed: the outer move is rolled back anyway
        else:
            seen.append(m.snapshot(ctx.journey)["stage"])

    j = m.start("a", at=START)
    before = state(m, j)
    if call in ("fire", "tick"):  # moving it from its own hook: refused, all rolled back
        with pytest.raises(JourneyError, match="re-entrant fire"):
            m.fire(j, "add_to_cart", at=START)
        assert state(m, j) == before
        assert "re-entrant fire" in str(seen[0])
        assert "('tick')" in str(seen[0]) if call == "tick" else "('pay')" in str(seen[0])
    else:  # reading the journey from its own hook is allowed and changes nothing
        out = m.fire(j, "add_to_cart", at=START)
        assert out.goals_met == ("quick",) and j.stage == "converted"
        assert seen == ["converted"]


def test_a_hook_that_ticks_its_own_journey_past_a_goal_deadline_is_refused() -> None:
    """tick from a hook of the journey's own move: was allowed when a goal miss came
    first, which wrote the miss (dated days later) into the middle of the move, and the
    move's check did not see it."""
    d = (
        JourneyBuilder("shop")
        .stage("browsing", initial=True)
        .stage("cart")
        .stage("lost", final=True)
        .transition("add_to_cart", "browsing", "cart")
        .transition("leave", "cart", "lost")
        .timeout("cart", 3 * D, "leave")
        .goal(Goal("paid", stage="lost", within=2 * D))
        .build()
    )
    m = JourneyMachine(d, logger=quiet_logger())
    inner: list[Exception] = []

    @m.on_enter("cart")
    def advance(ctx: Any) -> None:
        try:
            m.tick(ctx.journey, START + 2 * D + H)  # the miss is due, the timeout not yet
        except JourneyError as err:
            inner.append(err)

    j = m.start("a", at=START)
    before = state(m, j)
    with pytest.raises(JourneyError, match="re-entrant"):
        m.fire(j, "add_to_cart", at=START)
    assert inner and "('tick')" in str(inner[0])
    assert state(m, j) == before


# -- copies and threads ----------------------------------------------------------------------
@pytest.mark.parametrize(
    "copier",
    [copy.copy, copy.deepcopy, lambda j: pickle.loads(pickle.dumps(j))],
    ids=["copy", "deepcopy", "pickle"],
)
def test_copies_of_a_journey_with_goals_are_equal_and_independent(copier: Any) -> None:
    m = JourneyMachine(shop(), logger=quiet_logger())
    j = m.start("a", {"n": [1]}, at=START)
    m.fire(j, "add_to_cart", at=START + 2 * H, event_id="e-1")
    c = copier(j)
    assert c == j and m.snapshot(c) == m.snapshot(j) and c.goals == j.goals
    assert m.fire(c, "add_to_cart", at=START + 3 * H, event_id="e-1").duplicate
    m.fire(c, "pay", at=START + 3 * H)
    assert (c.stage, c.goals is not None and c.goals["bought"].status) == ("purchased", "met")
    assert j.stage == "cart" and j.goals is not None and j.goals["bought"].status == "pending"
    assert m.restore(m.snapshot(c)) == c


def test_threads_on_one_machine_with_goals_give_what_one_thread_gives() -> None:
    m = JourneyMachine(shop(), clock=ManualClock(START), logger=quiet_logger())
    journeys = [m.start(f"c-{i}", at=START) for i in range(120)]
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def work(part: list[Any]) -> None:
        try:
            barrier.wait(30)
            for n, j in enumerate(part):
                m.fire(j, "add_to_cart", at=START + (n % 2) * 2 * H)
                m.fire(j, "pay", at=START + 3 * H)
                m.tick(j, START + 30 * D)
        except BaseException as err:  # pragma: no cover - reported below
            errors.append(err)

    threads = [threading.Thread(target=work, args=(journeys[i::4],)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    alone = JourneyMachine(shop(), logger=quiet_logger())
    for i, j in enumerate(journeys):
        k = alone.start(j.key, at=START)
        alone.fire(k, "add_to_cart", at=START + ((i // 4) % 2) * 2 * H)
        alone.fire(k, "pay", at=START + 3 * H)
        alone.tick(k, START + 30 * D)
        assert m.snapshot(j) == alone.snapshot(k)


def test_two_threads_moving_one_journey_never_both_move_it() -> None:
    """As documented (the re-entrant error): a second thread's fire of a journey in the
    middle of a move is refused, and the first move is rolled back as well (a sync
    machine cannot tell another thread from the move's own hook); nothing is half-done."""
    m = JourneyMachine(shop(), logger=quiet_logger())
    gate, go = threading.Event(), threading.Event()

    @m.on_enter("cart")
    def wait(ctx: Any) -> None:
        gate.set()
        go.wait(30)

    j = m.start("a", at=START)
    before = state(m, j)
    results: list[Any] = []

    def first() -> None:
        try:
            results.append(m.fire(j, "add_to_cart", at=START))
        except JourneyError as err:
            results.append(err)

    thread = threading.Thread(target=first)
    thread.start()
    assert gate.wait(30)
    with pytest.raises(JourneyError, match="re-entrant fire"):
        m.fire(j, "add_to_cart", at=START)  # the other thread is moving it
    go.set()
    thread.join(30)
    assert len(results) == 1 and isinstance(results[0], JourneyError)
    assert state(m, j) == before
    gate.clear()
    go.set()
    assert m.fire(j, "add_to_cart", at=START).goals_met == ("quick",)
    assert [e.trigger for e in j.history] == ["add_to_cart", GOAL]


# -- a migration batch -----------------------------------------------------------------------
def _stored(service: Any, keys: list[str]) -> list[tuple[Any, ...]]:
    out = []
    for key in keys:
        j = service.get(key)
        out.append((j.stage, j.version, j.data, j.goals, tuple(service.history(key))))
    return out


@pytest.mark.parametrize("error", [KeyboardInterrupt, SystemExit])
def test_a_base_exception_in_a_migration_batch_writes_none_of_that_batch(
    tmp_path: Path, error: type[BaseException]
) -> None:
    v1, v2 = shop(1), shop(2, cart="basket")
    clock = ManualClock(START)
    store = SQLiteStore(tmp_path / "m.db", create_schema=True)
    old = JourneyService(JourneyMachine(v1, clock=clock, logger=quiet_logger()), store)
    keys = [f"k{i}" for i in range(6)]
    for key in keys:
        old.handle(key, "add_to_cart")  # "quick" met: converted; journeys in cart: none
    clock.advance(2 * H)
    for key in keys:
        old.handle(key, "add_to_cart")  # restarted journeys stay final; fresh ones below
    more = [f"m{i}" for i in range(6)]
    clock.advance(2 * H)
    for key in more:
        old.handle(key, "add_to_cart")
    calls = {"n": 0}

    def data(d: dict[str, Any]) -> dict[str, Any]:
        calls["n"] += 1
        if calls["n"] == 5:  # the second batch of three
            raise error
        return {**d, "v": 2}

    service = JourneyService(
        JourneyMachine(v2, clock=clock, logger=quiet_logger()),
        store,
        versions=[JourneyMachine(v1, clock=clock, logger=quiet_logger())],
        migrations=[Migration(v1, v2, stages={"cart": "basket"}, data=data)],
    )
    everyone = keys + more
    before = _stored(service, everyone)
    with pytest.raises(error):
        service.migrate(1, 2, dry_run=False, batch_size=3)
    after = _stored(service, everyone)
    changed = [k for k, b, a in zip(everyone, before, after, strict=True) if a != b]
    assert len(changed) % 3 == 0 and len(changed) < len(everyone)  # whole batches only
    for key, a in zip(everyone, after, strict=True):
        hist = a[4]
        assert sum(e.trigger == "journeyfsm.migrate" for e in hist) == (key in changed)
    calls["n"] = -1000  # the re-run finishes the job, each journey once
    report = service.migrate(1, 2, dry_run=False, batch_size=3)
    assert report.ok and report.migrated + len(changed) == len(everyone)
    for key in everyone:
        assert sum(e.trigger == "journeyfsm.migrate" for e in service.history(key)) == 1


def test_a_cancelled_async_migration_writes_none_of_its_batch(tmp_path: Path) -> None:
    v1, v2 = shop(1), shop(2, cart="basket")

    async def run() -> None:
        clock = ManualClock(START)
        store = AsyncSQLiteStore(tmp_path / "a.db", create_schema=True)
        old = AsyncJourneyService(JourneyMachine(v1, clock=clock, logger=quiet_logger()), store)
        keys = [f"k{i}" for i in range(4)]
        clock.advance(2 * H)
        for key in keys:
            await old.handle(key, "add_to_cart")

        def data(d: dict[str, Any]) -> dict[str, Any]:
            raise asyncio.CancelledError

        service = AsyncJourneyService(
            JourneyMachine(v2, clock=clock, logger=quiet_logger()),
            store,
            versions=[JourneyMachine(v1, clock=clock, logger=quiet_logger())],
            migrations=[Migration(v1, v2, stages={"cart": "basket"}, data=data)],
        )
        before = [(await service.get(k), await service.history(k)) for k in keys]
        with pytest.raises(asyncio.CancelledError):
            await service.migrate(1, 2, dry_run=False, batch_size=2)
        assert [(await service.get(k), await service.history(k)) for k in keys] == before
        for _, history in before:
            assert "journeyfsm.migrate" not in [e.trigger for e in history]

    asyncio.run(run())
