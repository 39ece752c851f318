"""A move is atomic, whatever is raised (DESIGN Semantics 4; issue 7, point 1 and 6).

Each test breaks a move in one way and checks the journey is exactly as before:
stage, version, history, data (in place), event ids.
"""

from __future__ import annotations

import asyncio
import copy
import pickle
import threading
from collections.abc import Callable
from typing import Any

import pytest
from async_engine import ENGINES
from conftest import START, quiet_logger

import journeyfsm._runtime as runtime_module
from journeyfsm import (
    Context,
    DataError,
    GuardError,
    HookError,
    Journey,
    JourneyError,
    JourneyMachine,
    ManualClock,
    guard,
)


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest) -> str:
    """Every machine test here runs on each engine (tests/async_engine.py)."""
    return str(request.param)


POSITIONS = ("before", "on_exit", "on_enter", "on_transition", "after")


def register(machine: JourneyMachine, position: str, fn: Callable[[Context], Any]) -> None:
    """Register ``fn`` at ``position`` for the browsing -> cart move of the checkout."""
    if position == "before":
        machine.before(fn)
    elif position == "after":
        machine.after(fn)
    elif position == "on_exit":
        machine.on_exit("browsing", fn)
    elif position == "on_enter":
        machine.on_enter("cart", fn)
    else:
        machine.on_transition("add_to_cart", fn)


def moved_once(machine: JourneyMachine) -> Journey:
    """A journey with history, data and a full-ish event-id window."""
    journey = machine.start("c-1", {"cart": ["mug"], "profile": {"tier": "gold"}})
    machine.fire(journey, "note", event_id="e-0", meta={"channel": "web"})
    return journey


@pytest.mark.parametrize("position", POSITIONS)
@pytest.mark.parametrize(
    "exc_type",
    [RuntimeError, KeyboardInterrupt, SystemExit, asyncio.CancelledError, GeneratorExit],
)
def test_any_exception_mid_move_restores_the_journey_exactly(
    machine: JourneyMachine, position: str, exc_type: type[BaseException]
) -> None:
    journey = moved_once(machine)
    data_ref = journey.data
    cart_ref = journey.data["cart"]
    before = copy.deepcopy(journey)

    def vandal(ctx: Context) -> None:
        ctx.journey.data["cart"].append("spoon")
        ctx.journey.data["new"] = {"x": 1}
        del ctx.journey.data["profile"]
        raise exc_type("boom")

    register(machine, position, vandal)
    expected: type[BaseException] = HookError if issubclass(exc_type, Exception) else exc_type
    with pytest.raises(expected) as info:
        machine.fire(journey, "add_to_cart", event_id="e-1")

    if expected is HookError:
        assert isinstance(info.value.__cause__, exc_type)
    else:
        assert type(info.value) is exc_type  # re-raised as it was, not wrapped
    assert journey == before
    assert journey.data is data_ref  # restored in place: the host's reference sees it
    assert data_ref == {"cart": ["mug"], "profile": {"tier": "gold"}}
    assert cart_ref == ["mug"] or journey.data["cart"] == ["mug"]
    assert journey.event_ids == {"e-0": None}
    assert journey.version == 1 and [e.seq for e in journey.history] == [1]


def test_a_bug_inside_journeyfsm_after_the_stage_is_set_rolls_back(
    machine: JourneyMachine, monkeypatch: pytest.MonkeyPatch
) -> None:
    journey = moved_once(machine)
    before = copy.deepcopy(journey)
    machine.on_enter("cart", lambda ctx: ctx.journey.data.update(seen=True))

    def broken(*args: Any, **kwargs: Any) -> None:
        raise ZeroDivisionError("a bug in the library")

    monkeypatch.setattr(runtime_module, "check_json", broken)
    with pytest.raises(ZeroDivisionError):
        machine.fire(journey, "add_to_cart", event_id="e-1")
    assert journey == before


def test_a_hook_cannot_delete_or_rewrite_history(machine: JourneyMachine) -> None:
    journey = moved_once(machine)
    before = copy.deepcopy(journey)

    def rewrite(ctx: Context) -> None:
        del ctx.journey.history[0]

    machine.after(rewrite)
    with pytest.raises(HookError) as info:
        machine.fire(journey, "add_to_cart")
    assert isinstance(info.value.__cause__, TypeError)
    assert "cannot be edited" in str(info.value.__cause__)
    assert journey == before
    with pytest.raises(TypeError, match=r"recorded by JourneyMachine\.fire"):
        journey.history.append(journey.history[0])
    with pytest.raises(AttributeError):
        journey.history = []  # type: ignore[misc]


def test_a_hook_that_replaces_data_and_fails_gets_the_original_object_back(
    machine: JourneyMachine,
) -> None:
    journey = moved_once(machine)
    original = journey.data

    def replace(ctx: Context) -> None:
        ctx.journey.data = {"replaced": True}
        raise ValueError("veto")

    machine.on_enter("cart", replace)
    with pytest.raises(HookError):
        machine.fire(journey, "add_to_cart")
    assert journey.data is original
    assert original == {"cart": ["mug"], "profile": {"tier": "gold"}}


def test_a_hook_that_changes_stage_or_version_is_refused_and_rolled_back(
    machine: JourneyMachine,
) -> None:
    journey = moved_once(machine)
    before = copy.deepcopy(journey)

    def teleport(ctx: Context) -> None:
        ctx.journey.stage = "paid"

    machine.after(teleport)
    with pytest.raises(JourneyError, match=r"changed journey .c-1..s stage, version or event"):
        machine.fire(journey, "add_to_cart")
    assert journey == before


def test_a_hook_that_replaces_the_event_ids_is_refused_and_rolled_back(
    machine: JourneyMachine,
) -> None:
    journey = moved_once(machine)
    ids = journey.event_ids
    before = copy.deepcopy(journey)

    def forget(ctx: Context) -> None:
        ctx.journey.event_ids = None

    machine.after(forget)
    with pytest.raises(JourneyError, match="event ids"):
        machine.fire(journey, "add_to_cart", event_id="e-1")
    assert journey == before and journey.event_ids is ids


def test_data_a_hook_makes_non_json_is_refused_and_the_move_rolled_back(
    machine: JourneyMachine,
) -> None:
    journey = moved_once(machine)
    before = copy.deepcopy(journey)

    def tag(ctx: Context) -> None:
        ctx.journey.data["cart"].append({"skus"})

    machine.on_enter("cart", tag)
    with pytest.raises(DataError) as info:
        machine.fire(journey, "add_to_cart")
    assert "data['cart'][1]" in str(info.value)
    assert journey == before


@pytest.mark.parametrize("how", ["deepcopy", "copy", "pickle"])
def test_a_copied_or_pickled_fresh_journey_moves(machine: JourneyMachine, how: str) -> None:
    fresh = machine.start("c-9")
    clone: Journey
    if how == "deepcopy":
        clone = copy.deepcopy(fresh)
    elif how == "copy":
        clone = copy.copy(fresh)
    else:
        clone = pickle.loads(pickle.dumps(fresh))
    assert clone == fresh
    for _ in range(3):
        assert machine.fire(clone, "note").moved
    assert [e.seq for e in clone.history] == [1, 2, 3]
    assert fresh.history == [] and fresh.version == 0  # the original is untouched
    assert machine.fire(fresh, "add_to_cart").moved
    assert len(fresh.history) == 1 and len(clone.history) == 3


def test_a_journey_with_history_round_trips_through_pickle_and_keeps_moving(
    machine: JourneyMachine,
) -> None:
    journey = moved_once(machine)
    clone = pickle.loads(pickle.dumps(journey))
    assert clone == journey
    assert machine.fire(clone, "add_to_cart", event_id="e-1").moved
    assert machine.fire(clone, "add_to_cart", event_id="e-1").duplicate
    assert journey.version == 1 and clone.version == 2


def test_a_journey_copied_inside_a_hook_is_idle(machine: JourneyMachine) -> None:
    copies: list[Journey] = []
    machine.on_enter("cart", lambda ctx: copies.append(copy.deepcopy(ctx.journey)))
    machine.after(lambda ctx: copies.append(pickle.loads(pickle.dumps(ctx.journey))))
    journey = machine.start("c-1")
    machine.fire(journey, "add_to_cart")
    assert len(copies) == 2
    for clone in copies[:2]:  # (each fire below adds a copy: iterate the first two only)
        assert clone.stage == "cart"
        assert machine.fire(clone, "note").moved  # not mistaken for a journey mid-move


def test_reentrant_fire_from_a_hook_is_refused_and_the_outer_move_rolls_back(
    machine: JourneyMachine,
) -> None:
    journey = moved_once(machine)
    before = copy.deepcopy(journey)
    refused: list[JourneyError] = []

    def sneaky(ctx: Context) -> None:
        try:
            machine.fire(ctx.journey, "note")
        except JourneyError as err:  # swallowed: the outer move must still roll back
            refused.append(err)

    machine.on_enter("cart", sneaky)
    with pytest.raises(JourneyError, match="re-entrant fire"):
        machine.fire(journey, "add_to_cart")
    assert refused and "re-entrant fire" in str(refused[0])
    # an enter hook sees the journey in its destination: the message names the move's source
    assert f"('add_to_cart' from {before.stage!r})" in str(refused[0])
    assert refused[0].stage == before.stage
    assert journey == before


def test_reentrant_fire_from_a_guard_is_a_guard_error(make_machine: Any) -> None:
    from journeyfsm import JourneyBuilder

    holder: list[JourneyMachine] = []

    @guard
    def fires_again(ctx: Context) -> bool:
        holder[0].fire(ctx.journey, "go")
        return True

    d = (
        JourneyBuilder("g")
        .stage("a", initial=True)
        .stage("b", final=True)
        .transition("go", "a", "b", guards=[fires_again])
        .build()
    )
    machine = make_machine(d)
    holder.append(machine)
    journey = machine.start("k")
    with pytest.raises(GuardError, match="re-entrant fire"):
        machine.fire(journey, "go")
    assert journey.stage == "a" and journey.version == 0 and journey.history == []


def test_a_hook_may_fire_other_journeys(machine: JourneyMachine) -> None:
    other = machine.start("c-2")
    machine.on_enter("cart", lambda ctx: ctx.journey is other or machine.fire(other, "add_to_cart"))
    journey = machine.start("c-1")
    machine.fire(journey, "add_to_cart")
    assert journey.stage == "cart" and other.stage == "cart"


def test_context_is_read_only_and_history_comes_from_the_engine(
    machine: JourneyMachine,
) -> None:
    attempts: list[str] = []

    def forge(ctx: Context) -> None:
        for name, value in [
            ("dest", "paid"),
            ("trigger", "pay"),
            ("source", "paid"),
            ("event_id", "forged"),
            ("meta", {"forged": True}),
            ("now", START.replace(year=1999)),
            ("journey", None),
        ]:
            try:
                setattr(ctx, name, value)
            except AttributeError:
                attempts.append(name)
        if ctx.meta is not None:
            try:
                ctx.meta["channel"] = "forged"  # type: ignore[index]
            except TypeError:
                attempts.append("meta[channel]")

    machine.before(forge)
    machine.on_enter("cart", forge)
    journey = machine.start("c-1")
    outcome = machine.fire(journey, "add_to_cart", event_id="e-1", meta={"channel": "web"})
    assert attempts.count("dest") == 2 and "meta[channel]" in attempts
    entry = journey.history[-1]
    assert (entry.trigger, entry.source, entry.dest, entry.event_id, entry.at) == (
        "add_to_cart",
        "browsing",
        "cart",
        "e-1",
        START,
    )
    assert entry.meta == {"channel": "web"}
    assert outcome.dest == "cart"


def test_a_hook_registered_after_the_first_fire_runs_and_rolls_back(
    machine: JourneyMachine,
) -> None:
    first = machine.start("c-1")
    machine.fire(first, "add_to_cart")
    machine.on_enter("cart", lambda ctx: ctx.journey.data.update(tagged=True))
    second = machine.start("c-2", {"n": 1})
    machine.fire(second, "add_to_cart")
    assert second.data == {"n": 1, "tagged": True}

    def veto(ctx: Context) -> None:
        raise ValueError("no")

    machine.after(veto)
    third = machine.start("c-3", {"n": 1})
    with pytest.raises(HookError):
        machine.fire(third, "add_to_cart")
    assert third.data == {"n": 1} and third.stage == "browsing"


def test_hooks_registered_while_other_threads_fire_are_never_half_applied(
    make_machine: Any,
) -> None:
    machine = make_machine()
    stop = threading.Event()
    errors: list[BaseException] = []
    counts: list[int] = []

    def worker(n: int) -> None:
        try:
            i = 0
            while not stop.is_set():
                journey = machine.start(f"w{n}-{i}", {"hits": 0})
                outcome = machine.fire(journey, "add_to_cart")
                # every hook that ran counted once; a move is whole or not at all
                assert outcome.moved and journey.version == 1
                assert journey.data["hits"] in range(0, 41)
                i += 1
            counts.append(i)
        except BaseException as err:  # pragma: no cover - reported below
            errors.append(err)

    def count(ctx: Context) -> None:
        ctx.journey.data["hits"] += 1

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(3)]
    for t in threads:
        t.start()
    for _ in range(40):
        machine.on_enter("cart", count)
    stop.set()
    for t in threads:
        t.join()
    assert not errors
    final = machine.start("last", {"hits": 0})
    machine.fire(final, "add_to_cart")
    assert final.data["hits"] == 40


def test_a_move_whose_hooks_do_not_touch_data_copies_nothing(
    make_machine: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import journeyfsm._records as records_module

    copies: list[int] = []
    real = records_module.save_json

    def counting(value: Any) -> Any:
        copies.append(len(value))
        return real(value)

    monkeypatch.setattr(records_module, "save_json", counting)
    machine = make_machine()
    machine.after(lambda ctx: None)
    orders = {"orders": [{"id": i, "sku": "mug"} for i in range(200)]}
    journey = machine.start("c-1", orders)
    machine.fire(journey, "add_to_cart")
    assert copies == []  # 200 orders, a hook, and no copy

    machine.on_enter("cart", lambda ctx: ctx.journey.data.get("orders"))
    machine.fire(journey, "add_to_cart")
    assert copies == [1]  # the hook read the data: saved once for rollback


def test_fire_checks_its_arguments_and_leaves_the_journey_untouched(
    machine: JourneyMachine, make_machine: Any
) -> None:
    from journeyfsm import JourneyBuilder

    journey = moved_once(machine)
    before = copy.deepcopy(journey)
    with pytest.raises(TypeError, match=r"journey must be a Journey made by JourneyMachine\.start"):
        machine.fire(machine.snapshot(journey), "add_to_cart")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="trigger must be a str"):
        machine.fire(journey, 42)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="event_id must be a non-empty str"):
        machine.fire(journey, "add_to_cart", event_id="")
    with pytest.raises(TypeError, match="event_id must be a non-empty str"):
        machine.fire(journey, "add_to_cart", event_id=7)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="meta must be a JSON-shaped dict"):
        machine.fire(journey, "add_to_cart", meta=["web"])  # type: ignore[arg-type]
    with pytest.raises(DataError, match=r"meta\['when'\]"):
        machine.fire(journey, "add_to_cart", meta={"when": START})
    with pytest.raises(ValueError, match="naive"):
        machine.fire(journey, "add_to_cart", at=START.replace(tzinfo=None))
    other = (
        JourneyBuilder("other")
        .stage("browsing", initial=True)
        .stage("cart", final=True)
        .transition("add_to_cart", "browsing", "cart")
        .build()
    )
    foreign = make_machine(other).start("c-1")
    with pytest.raises(JourneyError, match="belongs to definition 'other'") as info:
        machine.fire(foreign, "add_to_cart")
    assert isinstance(info.value, ValueError)
    assert journey == before and foreign.stage == "browsing"


class NaiveClock:
    def now(self) -> Any:
        return START.replace(tzinfo=None)

    def __repr__(self) -> str:
        return "NaiveClock()"


class BerlinClock:
    def now(self) -> Any:
        from datetime import timedelta, timezone

        return START.astimezone(timezone(timedelta(hours=1)))


def test_the_clock_output_is_checked(make_machine: Any) -> None:
    naive = make_machine(clock=NaiveClock())
    with pytest.raises(ValueError, match=r"clock NaiveClock\(\) .*naive"):
        naive.start("c-1")
    journey = naive.start("c-1", at=START)
    with pytest.raises(ValueError, match=r"clock NaiveClock\(\) .*naive"):
        naive.fire(journey, "add_to_cart")
    assert journey.version == 0
    berlin = make_machine(clock=BerlinClock())
    journey = berlin.start("c-1")
    entry = berlin.fire(journey, "add_to_cart").entry
    assert entry is not None and entry.at == START and entry.at.utcoffset().total_seconds() == 0
    assert entry.at.tzinfo is not None and entry.at.tzname() == "UTC"


@pytest.mark.parametrize(
    ("window", "error"),
    [(0, ValueError), (-1, ValueError), (True, TypeError), (2.5, TypeError), ("64", TypeError)],
)
def test_machine_refuses_a_bad_event_id_window(
    checkout_definition: Any, window: Any, error: type[Exception]
) -> None:
    with pytest.raises(error, match="event_id_window must be an int >= 1"):
        JourneyMachine(checkout_definition, event_id_window=window)


@pytest.mark.parametrize("clock", [object(), "now", ManualClock])
def test_machine_refuses_a_clock_without_now(checkout_definition: Any, clock: Any) -> None:
    with pytest.raises(TypeError, match="clock must have a now"):
        JourneyMachine(checkout_definition, clock=clock, logger=quiet_logger())


def test_read_only_methods_check_the_journey_like_fire(
    machine: JourneyMachine, make_machine: Any
) -> None:
    from journeyfsm import JourneyBuilder

    other = (
        JourneyBuilder("other")
        .stage("browsing", initial=True)
        .stage("cart", final=True)
        .transition("add_to_cart", "browsing", "cart")
        .build()
    )
    foreign = make_machine(other).start("c-1")
    for call in (
        lambda j: machine.explain(j, "add_to_cart"),
        machine.allowed_triggers,
        machine.enabled_triggers,
    ):
        with pytest.raises(JourneyError, match="belongs to definition 'other'"):
            call(foreign)
        with pytest.raises(
            TypeError, match=r"journey must be a Journey made by JourneyMachine\.start"
        ):
            call({"key": "c-1", "stage": "browsing"})
    with pytest.raises(TypeError, match="trigger must be a str"):
        machine.explain(machine.start("c-2"), None)  # type: ignore[arg-type]


@pytest.mark.parametrize("how", [copy.copy, copy.deepcopy])
def test_moving_a_copy_never_changes_the_original(machine: JourneyMachine, how: Any) -> None:
    journey = moved_once(machine)
    before = copy.deepcopy(journey)
    clone = how(journey)
    machine.on_enter("cart", lambda ctx: ctx.journey.data["cart"].append("spoon"))
    machine.fire(clone, "add_to_cart", event_id="e-9")
    assert clone.version == 2 and clone.data["cart"] == ["mug", "spoon"]
    assert journey == before  # history, data and event ids are the original's own


def test_history_meta_built_by_hand_is_checked_and_read_only() -> None:
    from journeyfsm import HistoryEntry

    with pytest.raises(DataError, match=r"meta\['when'\]"):
        HistoryEntry(1, "t", "a", "b", START, meta={"when": START})
    entry = HistoryEntry(1, "t", "a", "b", START, meta={"tags": ["x"]})
    with pytest.raises(TypeError, match="read-only"):
        entry.meta["tags"].append("y")  # type: ignore[index]
