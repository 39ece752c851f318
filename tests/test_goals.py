"""Conversion goals with windows (issue 20, "Goals"): the rule, the machine, the durable
service on every store and driver, replay, funnels, and the schema 4 -> 5 upgrade."""

from __future__ import annotations

import asyncio
import copy
import pickle
import sqlite3
from contextlib import closing
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import structlog
from conftest import START, quiet_logger
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from service_support import ServiceFactory, make_service, open_store, store, store_factory

from journeyfsm import (
    AsyncJourneyMachine,
    DefinitionError,
    Goal,
    GoalClock,
    HookError,
    JourneyBuilder,
    JourneyDefinition,
    JourneyMachine,
    JourneyService,
    ManualClock,
    SnapshotError,
    StoreError,
)
from journeyfsm.analytics import goal_conversion, replay
from journeyfsm.stores import SCHEMA_VERSION, MemoryStore, SQLiteStore, Store

__all__ = ["make_service", "open_store", "store"]  # fixtures, used by name

GOAL = "journeyfsm.goal"
REENTER = "journeyfsm.reenter"
H, D = timedelta(hours=1), timedelta(days=1)


def definition(*, exit: bool = False, entry: Any = "once") -> JourneyDefinition:
    b = (
        JourneyBuilder("shop", entry=entry)
        .stage("browsing", initial=True)
        .stage("cart")
        .stage("purchased", final=True)
        .stage("lost", final=True)
        .transition("view", ["browsing", "cart"], None)  # internal
        .transition("add_to_cart", ["browsing", "cart"], "cart")
        .transition("back", "cart", "browsing")
        .transition("pay", "cart", "purchased")
        .transition("leave", ["browsing", "cart"], "lost")
        .timeout("cart", 3 * D, "leave")
        .goal(Goal("bought", stage="purchased", within=14 * D, since="cart"))
        .goal(Goal("carted", stage="cart", within=D))
        .goal(Goal("looked", trigger="view", within=2 * H))
    )
    if exit:
        b = b.stage("converted", final=True).goal(
            Goal("quick", stage="cart", within=H, exit="converted")
        )
    return b.build()


def machine(d: JourneyDefinition | None = None, clock: ManualClock | None = None) -> JourneyMachine:
    return JourneyMachine(
        d or definition(), clock=clock or ManualClock(START), logger=quiet_logger()
    )


def goal_entries(history: Any) -> list[tuple[str, str, datetime]]:
    return [(e.meta["goal"], e.meta["status"], e.at) for e in history if e.trigger == GOAL]


def chain_ok(history: Any) -> None:
    for i, e in enumerate(history):
        assert e.seq == i + 1
        if i:
            assert e.source == history[i - 1].dest
            assert e.at >= history[i - 1].at


def triples(history: Any) -> list[tuple[int, str, str, str]]:
    return [(e.seq, e.trigger, e.source, e.dest) for e in history]


# -- the rule ----------------------------------------------------------------------------
def test_a_goal_is_met_within_its_window_and_recorded_as_an_internal_entry() -> None:
    clock = ManualClock(START)
    m = machine(clock=clock)
    j = m.start("c-1")
    clock.advance(2 * H)
    out = m.fire(j, "add_to_cart")
    assert out.goals_met == ("carted",) and out.goals_missed == ()
    assert out.status == "moved" and out.entry is not None and out.entry.seq == 1
    (met,) = out.goals
    assert (met.seq, met.trigger, met.source, met.dest) == (2, GOAL, "cart", "cart")
    assert dict(met.meta or {}) == {
        "goal": "carted",
        "status": "met",
        "since": "2026-01-01T09:00:00+00:00",
    }
    assert j.goals is not None and j.goals["carted"] == GoalClock(
        "met", START, START + D, START + 2 * H
    )
    # the clock of "bought" starts on entering cart: since + 14 days
    assert j.goals["bought"] == GoalClock("pending", START + 2 * H, START + 2 * H + 14 * D)
    assert m.pending_goals(j) == {"bought": START + 2 * H + 14 * D, "looked": START + 2 * H}
    assert j.version == 2 and j.stage == "cart"
    chain_ok(j.history)


def test_a_missed_deadline_is_recorded_at_the_deadline_before_the_event() -> None:
    clock = ManualClock(START)
    m = machine(clock=clock)
    j = m.start("c-1")
    clock.advance(D + timedelta(microseconds=1))  # one microsecond past "carted"'s deadline
    out = m.fire(j, "add_to_cart")
    assert out.goals_missed == ("carted", "looked") or out.goals_missed == ("looked", "carted")
    assert out.goals_met == ()
    # in deadline order: "looked" (2 h) before "carted" (1 day), then the event
    assert [(e.trigger, e.at) for e in j.history] == [
        (GOAL, START + 2 * H),
        (GOAL, START + D),
        ("add_to_cart", START + D + timedelta(microseconds=1)),
    ]
    assert goal_entries(j.history)[:2] == [
        ("looked", "missed", START + 2 * H),
        ("carted", "missed", START + D),
    ]
    chain_ok(j.history)


def test_the_deadline_is_inclusive() -> None:
    m = machine()
    j = m.start("c-1", at=START)
    out = m.fire(j, "add_to_cart", at=START + D)
    assert out.goals_met == ("carted",)
    assert m.tick(j, START + D) == ()  # nothing else due


def test_a_trigger_goal_counts_internal_moves() -> None:
    m = machine()
    j = m.start("c-1", at=START)
    out = m.fire(j, "view", at=START + H)
    assert out.goals_met == ("looked",) and j.stage == "browsing"


def test_a_clock_starts_once_per_run_and_reentering_since_does_not_restart_it() -> None:
    m = machine()
    j = m.start("c-1", at=START)
    m.fire(j, "add_to_cart", at=START + H)
    m.fire(j, "back", at=START + 2 * H)
    m.fire(j, "add_to_cart", at=START + 5 * D)
    assert j.goals is not None and j.goals["bought"].since == START + H
    # the deadline counts from the first entry: 14 days after START + 1 h
    out = m.fire(j, "pay", at=START + H + 14 * D + timedelta(seconds=1))
    assert out.goals_missed == ("bought",) and out.goals_met == ()


def test_tick_records_a_miss_at_its_deadline_in_time_order_with_timeouts() -> None:
    m = machine()
    j = m.start("c-1", at=START)
    m.fire(j, "view", at=START)  # "looked" met
    m.fire(j, "add_to_cart", at=START + H)  # "carted" met; "bought" runs; cart timeout 3 days
    outcomes = m.tick(j, START + 30 * D)
    # the cart timeout (day 3) first, then the miss of "bought" (its deadline day 14)
    assert [o.trigger for o in outcomes] == ["leave", GOAL]
    assert outcomes[1].goals_missed == ("bought",)
    assert j.history[-1].at == START + H + 14 * D and j.stage == "lost"
    assert m.tick(j, START + 60 * D) == ()


def test_a_timeout_at_the_deadline_can_still_meet_the_goal() -> None:
    d = (
        JourneyBuilder("trial")
        .stage("trial", initial=True)
        .stage("paid", final=True)
        .transition("pay", "trial", "paid")
        .timeout("trial", 7 * D, "pay")
        .goal(Goal("converted", stage="paid", within=7 * D))
        .build()
    )
    m = machine(d)
    j = m.start("c-1", at=START)
    (out,) = m.tick(j, START + 8 * D)
    assert out.trigger == "pay" and out.goals_met == ("converted",)


def test_a_goal_with_an_exit_ends_the_journey_with_hooks_and_effects() -> None:
    m = machine(definition(exit=True))
    seen: list[str] = []
    m.on_exit("cart")(lambda ctx: seen.append(f"exit {ctx.source} {ctx.trigger}"))
    m.on_enter("converted")(lambda ctx: seen.append(f"enter {ctx.dest} {ctx.trigger}"))

    @m.effect(on_enter="converted")
    def welcome(call: Any) -> None:
        seen.append(f"effect {call.seq}")

    j = m.start("c-1", at=START)
    out = m.fire(j, "add_to_cart", at=START + 30 * timedelta(minutes=1))
    assert out.dest == "cart" and out.goals_met == ("carted", "quick")
    assert j.stage == "converted" and j.history[-1].trigger == GOAL
    assert (j.history[-1].source, j.history[-1].dest) == ("cart", "converted")
    assert seen == [f"exit cart {GOAL}", f"enter converted {GOAL}", "effect 3"]
    assert j.entry_seq == 3


def test_a_goal_exit_runs_the_machine_wide_hooks_in_move_order() -> None:
    m = machine(definition(exit=True))
    seen: list[str] = []
    m.before(lambda ctx: seen.append(f"before {ctx.trigger} {ctx.source}->{ctx.dest}"))
    m.after(lambda ctx: seen.append(f"after {ctx.trigger}"))
    m.on_exit("cart")(lambda ctx: seen.append(f"exit cart {ctx.trigger}"))
    m.on_enter("converted")(lambda ctx: seen.append(f"enter converted {ctx.trigger}"))
    j = m.start("c-1", at=START)
    assert m.fire(j, "add_to_cart", at=START + 30 * timedelta(minutes=1)).goals_met == (
        "carted",
        "quick",
    )
    assert seen == [
        "before add_to_cart browsing->cart",
        "after add_to_cart",
        f"before {GOAL} cart->converted",
        f"exit cart {GOAL}",
        f"enter converted {GOAL}",
        f"after {GOAL}",
    ]


@pytest.mark.parametrize("kind", ["before", "after"])
def test_a_failing_machine_wide_hook_in_a_goal_exit_is_logged_and_rolled_back(kind: str) -> None:
    m = JourneyMachine(definition(exit=True), clock=ManualClock(START))
    j = m.start("c-1", {"n": 1}, at=START)
    before = copy.deepcopy(m.snapshot(j))

    def veto(ctx: Any) -> None:
        if ctx.trigger == GOAL:
            ctx.journey.data["spoiled"] = True
            raise ValueError("not converted today")

    getattr(m, kind)(veto)
    with structlog.testing.capture_logs() as events, pytest.raises(HookError) as info:
        m.fire(j, "add_to_cart", at=START + 30 * timedelta(minutes=1), event_id="e-1")
    assert info.value.hook is not None and "veto" in info.value.hook
    assert m.snapshot(j) == before
    failed = [e for e in events if e["event"] == "journey.hook_failed"]
    assert [(e["trigger"], e["source"], e["dest"], e["goal"]) for e in failed] == [
        (GOAL, "cart", "converted", "quick")
    ]
    assert not [e for e in events if e["event"] == "journey.goal"]
    # the event's own move was undone with the goal exit: it is not logged as made
    assert not [e for e in events if e["event"] == "journey.moved"]


@pytest.mark.parametrize("where", ["exit_hook", "enter_hook"])
def test_a_keyboard_interrupt_leaves_goal_state_and_history_exactly_as_before(where: str) -> None:
    m = machine(definition(exit=True))

    def boom(ctx: Any) -> None:
        raise KeyboardInterrupt

    if where == "exit_hook":
        m.on_enter("converted")(boom)  # the goal's exit move
    else:
        m.on_enter("cart")(boom)  # the event's own move, after the misses were recorded
    j = m.start("c-1", {"n": 1}, at=START)
    before = copy.deepcopy(m.snapshot(j))
    at = START + (30 * timedelta(minutes=1) if where == "exit_hook" else 3 * H)
    with pytest.raises(KeyboardInterrupt):
        m.fire(j, "add_to_cart", at=at, event_id="e-1")
    assert m.snapshot(j) == before
    assert j.event_ids in (None, {})
    assert m.fire(j, "leave", at=at).moved  # the journey still works


def test_a_duplicate_records_nothing() -> None:
    m = machine()
    j = m.start("c-1", at=START)
    m.fire(j, "add_to_cart", at=START + H, event_id="e-1")
    snap = m.snapshot(j)
    assert m.fire(j, "add_to_cart", at=START + 30 * D, event_id="e-1").duplicate
    assert m.snapshot(j) == snap


def test_a_restart_begins_a_new_run_with_fresh_goal_state() -> None:
    m = machine(definition(entry="once_at_a_time"))
    j = m.start("c-1", at=START)
    m.fire(j, "leave", at=START + 3 * H)  # "looked" missed at 2 h, then lost
    assert j.goals is not None and j.goals["looked"].status == "missed"
    t = START + 10 * D
    out = m.fire(j, "add_to_cart", at=t)
    assert out.reentry is not None
    # the old run's "carted" was missed (deadline day 1) before the restart; the new run
    # started "carted" at the re-entry and this move met it
    assert out.goals_missed == ("carted",) and out.goals_met == ("carted",)
    assert j.goals["carted"] == GoalClock("met", t, t + D, t)
    assert j.goals["looked"] == GoalClock("pending", t, t + 2 * H)
    assert j.goals["bought"].since == t
    assert [e.trigger for e in j.history] == [GOAL, "leave", GOAL, REENTER, "add_to_cart", GOAL]
    chain_ok(j.history)


def test_explain_names_the_pending_goals_and_those_a_fire_would_miss() -> None:
    m = machine()
    j = m.start("c-1", at=START)
    e = m.explain(j, "add_to_cart", at=START + 3 * H)
    assert e.goals_missed == ("looked",) and e.goals_pending == {"carted": START + D}
    assert "goal 'carted': pending until 2026-01-02T09:00:00" in str(e)
    assert "goal 'looked': missed" in str(e)
    assert j.version == 0  # explain changes nothing


def test_the_async_machine_behaves_identically() -> None:
    d = definition(exit=True)
    sync, other = (
        machine(d),
        AsyncJourneyMachine(d, clock=ManualClock(START), logger=quiet_logger()),
    )
    a, b = sync.start("k", at=START), other.start("k", at=START)
    steps = [("view", 3 * H), ("add_to_cart", 4 * H), ("back", 5 * H), ("add_to_cart", 6 * H)]

    async def run() -> list[Any]:
        return [await other.fire(b, t, at=START + dt) for t, dt in steps]

    mine = [sync.fire(a, t, at=START + dt) for t, dt in steps]
    theirs = asyncio.run(run())
    assert [o.goals for o in mine] == [o.goals for o in theirs]
    ticked = asyncio.run(other.tick(b, START + 40 * D))
    assert [o.trigger for o in ticked] == [o.trigger for o in sync.tick(a, START + 40 * D)]
    assert sync.snapshot(a) == other.snapshot(b)


# -- definition, dict form, snapshots ---------------------------------------------------
def test_the_dict_form_round_trips_and_is_left_out_without_goals() -> None:
    d = definition()
    data = d.to_dict()
    assert data["goals"][0] == {
        "name": "bought",
        "stage": "purchased",
        "within": 1209600,
        "since": "cart",
    }
    assert data["goals"][2] == {"name": "looked", "trigger": "view", "within": 7200}
    assert JourneyDefinition.from_dict(data) == d
    with_exit = definition(exit=True)
    assert with_exit.to_dict()["goals"][3]["exit"] == "converted"
    assert JourneyDefinition.from_dict(with_exit.to_dict()) == with_exit
    plain = d.builder()
    plain._goals = []
    assert "goals" not in plain.build().to_dict()
    assert pickle.loads(pickle.dumps(d)) == d


@pytest.mark.parametrize(
    ("goal", "words"),
    [
        (Goal("g", within=D), "exactly one of stage="),
        (Goal("g", stage="cart", trigger="pay", within=D), "exactly one of stage="),
        (Goal("g", stage="kart", within=D), "stage='kart' is not a stage"),
        (Goal("g", trigger="buy", within=D), "trigger='buy' is not a trigger"),
        (Goal("g", stage="cart"), "within must be positive"),
        (Goal("g", stage="cart", within=-D), "within must be positive"),
        (Goal("g", stage="cart", within=3), "within must be a timedelta"),  # type: ignore[arg-type]
        (Goal("g", stage="cart", within=D, since="nowhere"), "since='nowhere' is not a stage"),
        (Goal("g", stage="purchased", within=D, since="purchased"), "since and stage are both"),
        (Goal("g", stage="cart", within=D, since="lost"), "is a final stage"),
        (Goal("g", stage="browsing", within=D), "is the initial stage and since=None"),
        (Goal("g", stage="cart", within=D, exit="browsing"), "exit='browsing' is not final"),
        (Goal("g", stage="cart", within=D, exit="gone"), "exit='gone' is not a stage"),
    ],
)
def test_invalid_goals_are_definition_problems_naming_the_fix(goal: Goal, words: str) -> None:
    with pytest.raises(DefinitionError) as info:
        definition().builder().goal(goal).build()
    assert any(words in p.message for p in info.value.problems), info.value.problems


def test_two_goals_of_one_name_and_bad_dict_goals_are_problems() -> None:
    with pytest.raises(DefinitionError, match="two goals are named 'bought'"):
        definition().builder().goal("bought", stage="cart", within=D).build()
    data = definition().to_dict()
    data["goals"] = [{"name": "g", "stage": "cart", "within": "1 day"}, {"name": "h", "colour": 1}]
    with pytest.raises(DefinitionError) as info:
        JourneyDefinition.from_dict(data)
    messages = [p.message for p in info.value.problems]
    assert any("goals[0].within must be a number of seconds" in m for m in messages)
    assert any("goals[1] has unknown keys ['colour']" in m for m in messages)


def test_copies_pickles_and_snapshots_keep_the_goal_state() -> None:
    m = machine()
    j = m.start("c-1", at=START)
    m.fire(j, "add_to_cart", at=START + H)
    for other in (
        copy.copy(j),
        copy.deepcopy(j),
        pickle.loads(pickle.dumps(j)),
        m.restore(m.snapshot(j)),
    ):
        assert other == j and other.goals == j.goals
    c = copy.copy(j)
    m.fire(c, "pay", at=START + 2 * H)
    assert j.goals is not None and j.goals["bought"].status == "pending"  # the copy is its own


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (lambda g: g.update(nope=g["bought"]), "names no goal of the definition"),
        (lambda g: g["bought"].update(status="won"), "status must be one of pending, met, missed"),
        (lambda g: g["bought"].update(since="yesterday"), "not an ISO 8601 time"),
        (lambda g: g["bought"].update(deadline="2026-01-01T00:00:00+00:00"), "is before since"),
        (
            lambda g: g["bought"].update(at="2026-03-02T00:00:00+00:00"),
            "a pending goal has at=null",
        ),
        (lambda g: g["carted"].update(at="2027-01-01T00:00:00+00:00"), "outside its window"),
        (
            lambda g: g["bought"].update(status="missed", at="2026-03-05T00:00:00+00:00"),
            "missed at its deadline",
        ),
        (lambda g: g["bought"].pop("at"), "exactly status, since, deadline and at"),
        (lambda g: g["bought"].update(since="2026-03-01T09:00:00"), "naive time"),
    ],
)
def test_restore_refuses_an_impossible_goal_state(change: Any, words: str) -> None:
    m = machine()
    j = m.start("c-1", at=START)
    m.fire(j, "add_to_cart", at=START + H)
    snap = copy.deepcopy(m.snapshot(j))
    change(snap["goals"])
    with pytest.raises(SnapshotError, match=words):
        m.restore(snap)
    snap["goals"] = []
    with pytest.raises(SnapshotError, match="'goals' must be a dict"):
        m.restore(snap)


def test_a_snapshot_without_goals_loads_with_no_clock_running() -> None:
    m = machine()
    snap = m.snapshot(m.start("c-1", at=START))
    del snap["goals"]
    j = m.restore(snap)
    assert j.goals == {} and m.pending_goals(j) == {}
    plain = JourneyMachine(definition().builder().build(name="shop"), logger=quiet_logger())
    assert plain.definition.goals  # (the same definition)
    no_goals = JourneyBuilder("shop").stage("a", initial=True).stage("b", final=True)
    m2 = JourneyMachine(no_goals.transition("go", "a", "b").build(), logger=quiet_logger())
    assert "goals" not in m2.snapshot(m2.start("k"))
    bad = m2.snapshot(m2.start("k"))
    bad["goals"] = {"bought": {"status": "pending", "since": "x", "deadline": "x", "at": None}}
    with pytest.raises(SnapshotError, match="names no goal"):
        m2.restore(bad)


# -- the service: every store, every driver --------------------------------------------
def test_the_service_records_goals_durably_and_tick_finds_a_miss(
    store: Store, make_service: ServiceFactory
) -> None:
    clock = ManualClock(START)
    service = make_service(machine(definition(exit=True), clock), store)
    out = service.handle("a", "view", event_id="a-1")
    assert out.goals_met == ("looked",)
    clock.advance(3 * H)
    out = service.handle("a", "add_to_cart", event_id="a-2")
    assert out.goals_met == ("carted",) and out.goals_missed == ("quick",)
    stored = service.get("a")
    assert stored is not None and stored.goals is not None
    assert stored.goals["bought"] == GoalClock("pending", START + 3 * H, START + 3 * H + 14 * D)
    assert service.handle("a", "add_to_cart", event_id="a-2").duplicate
    # "b" starts (now) and leaves at once: its clocks run on in the final stage, and tick
    # finds each miss at its deadline
    service.handle("b", "leave", event_id="b-1")
    report = service.tick(START + 2 * D)
    assert [o.key for o in report.outcomes if o.trigger == GOAL] == ["b", "b", "b"]
    assert goal_entries(service.history("b")) == [
        ("quick", "missed", START + 3 * H + H),
        ("looked", "missed", START + 3 * H + 2 * H),
        ("carted", "missed", START + 3 * H + D),
    ]
    # "a": the cart timeout (day 3) and the miss of "bought" (day 14), both by tick
    service.tick(START + 30 * D)
    history = service.history("a")
    chain_ok(history)
    assert [e.trigger for e in history][-2:] == ["leave", GOAL]
    assert goal_entries(history)[-1] == ("bought", "missed", START + 3 * H + 14 * D)
    final = service.get("a")
    assert final is not None and final.goals is not None
    assert final.goals["bought"].status == "missed" and final.stage == "lost"
    assert service.tick(START + 90 * D).fired == 0


def test_the_service_writes_a_goal_exit_and_a_batch_chains_it(
    store: Store, make_service: ServiceFactory
) -> None:
    from journeyfsm import Event

    clock = ManualClock(START)
    service = make_service(machine(definition(exit=True), clock), store)
    outs = service.handle_many(
        [
            Event("a", "view", event_id="a-1"),
            Event("a", "add_to_cart", event_id="a-2"),
            Event("b", "view", event_id="b-1", at=START + 3 * H),
        ]
    )
    # "b" starts with its event, at START + 3 h: its clocks count from then
    assert [o.goals_met for o in outs] == [("looked",), ("carted", "quick"), ("looked",)]
    history = service.history("a")
    chain_ok(history)
    assert triples(history) == [
        (1, "view", "browsing", "browsing"),
        (2, GOAL, "browsing", "browsing"),
        (3, "add_to_cart", "browsing", "cart"),
        (4, GOAL, "cart", "cart"),
        (5, GOAL, "cart", "converted"),
    ]
    stored = service.get("a")
    assert stored is not None and stored.stage == "converted" and stored.version == 5


# -- hypothesis: service (memory store) and machine agree --------------------------------
TRIGGERS = ["view", "add_to_cart", "back", "pay", "leave", "tick"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    exits=st.booleans(),
    steps=st.lists(st.tuples(st.sampled_from(TRIGGERS), st.integers(0, 60 * 60)), max_size=20),
)
def test_service_and_machine_agree_on_random_events(exits: bool, steps: list[Any]) -> None:
    d = definition(exit=exits, entry="once_at_a_time")
    clock = ManualClock(START)
    m = machine(d, clock)
    service = JourneyService(machine(d, clock), MemoryStore())
    j = m.start("k")
    service.handle("k", "view", event_id="first")
    m.fire(j, "view", event_id="first")
    for i, (trigger, minutes) in enumerate(steps):
        clock.advance(timedelta(minutes=minutes))
        if trigger == "tick":
            mine_t = m.tick(j)
            theirs_t = service.tick().outcomes
            assert [(o.trigger, o.goals) for o in mine_t] == [
                (o.trigger, o.goals) for o in theirs_t
            ]
            continue
        # the service fires what is due before an event: so does the machine here
        due = m.tick(j)
        mine = m.fire(j, trigger, event_id=f"e-{i}")
        theirs = service.handle("k", trigger, event_id=f"e-{i}")
        assert theirs.status == mine.status
        assert theirs.goals == tuple(e for o in (*due, mine) for e in o.goals)
    chain_ok(j.history)
    assert triples(service.history("k", limit=1000)) == triples(j.history)
    assert goal_entries(service.history("k", limit=1000)) == goal_entries(j.history)
    stored = service.get("k")
    assert stored is not None
    assert (stored.stage, stored.version, stored.goals) == (j.stage, j.version, j.goals)


# -- replay and funnels ------------------------------------------------------------------
def test_replay_runs_goals_on_the_engine_and_equals_the_machine(tmp_path: Path) -> None:
    d = definition()
    rows = [
        ("a", "view", "2026-01-01T09:00:00+00:00"),
        ("a", "add_to_cart", "2026-01-01T09:30:00+00:00"),  # carted; then lost (timeout)
        ("b", "add_to_cart", "2026-01-01T09:00:00+00:00"),
        ("b", "pay", "2026-01-03T09:00:00+00:00"),  # bought within 14 days
        ("c", "add_to_cart", "2026-01-03T09:00:00+00:00"),
        ("c", "back", "2026-01-03T10:00:00+00:00"),
    ]
    log = tmp_path / "events.csv"
    log.write_text("customer,event,ts\n" + "".join(f"{k},{e},{t}\n" for k, e, t in rows))
    end = datetime.fromisoformat("2026-02-01T00:00:00+00:00")
    result = replay(d, log, {"key": "customer", "event": "event", "time": "ts"}, end=end)
    assert result.summary.engine == "engine" and "goals" in result.summary.engine_note
    m = machine(d)
    mine: dict[str, Any] = {}
    for k, e, t in rows:
        at = datetime.fromisoformat(t)
        j = mine.get(k) or mine.setdefault(k, m.start(k, at=at))
        m.tick(j, at)
        m.fire(j, e, at=at)
    for j in mine.values():
        m.tick(j, end)
    for key, j in mine.items():
        got = result.journeys[key]
        assert triples(got.history) == triples(j.history)
        assert goal_entries(got.history) == goal_entries(j.history)
        assert got.goals == j.goals
    assert result.journeys["a"].stage == "lost"
    stats = goal_conversion(result.journeys.values(), d)
    bought = stats["bought"]
    assert (bought.started, bought.met, bought.missed, bought.pending) == (3, 1, 2, 0)
    assert bought.time_to_goal.median == timedelta(days=2)
    # each journey starts with its first event: all three carted within a day
    assert (stats["carted"].met, stats["carted"].missed, stats["carted"].rate) == (3, 0, 1.0)
    assert (stats["looked"].met, stats["looked"].missed) == (1, 2)
    assert stats["looked"].rate == pytest.approx(1 / 3)


def test_goal_conversion_counts_each_run_and_pending_clocks() -> None:
    m = machine(definition(entry="once_at_a_time"))
    j = m.start("c-1", at=START)
    m.fire(j, "add_to_cart", at=START + H)
    m.fire(j, "pay", at=START + 2 * H)
    m.fire(j, "add_to_cart", at=START + 3 * D)  # a second run
    stats = goal_conversion([j], m.definition)
    assert (stats["carted"].started, stats["carted"].met) == (2, 2)
    assert (stats["bought"].started, stats["bought"].met, stats["bought"].pending) == (2, 1, 1)
    assert stats["bought"].time_to_goal.median == H
    with pytest.raises(TypeError, match="counts Journey objects"):
        goal_conversion([m.snapshot(j)], m.definition)  # type: ignore[list-item]


def test_funnels_read_goal_entries_as_internal() -> None:
    from journeyfsm.analytics import funnel

    m = machine()
    j = m.start("c-1", at=START)
    m.fire(j, "add_to_cart", at=START + H)
    m.fire(j, "back", at=START + 2 * H)
    f = funnel([j], m.definition)
    assert f.stage("cart").entered == 1 and f.stage("browsing").entered == 1
    assert f.stage("cart").time_in_stage.median == H


# -- the schema 4 -> 5 upgrade ----------------------------------------------------------
def test_a_schema_4_sqlite_file_is_upgraded_to_5_by_create_schema(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    SQLiteStore(path, create_schema=True)
    service = JourneyService(machine(), SQLiteStore(path))
    service.handle("a", "add_to_cart", at=START)
    with closing(sqlite3.connect(path)) as conn, conn:  # back to schema 4
        conn.execute('ALTER TABLE "journeyfsm_journeys" DROP COLUMN goals')
        conn.execute('UPDATE "journeyfsm_schema_version" SET version = 4')
    with pytest.raises(StoreError, match=r"schema version 4, this journeyfsm needs 5.*migrates"):
        SQLiteStore(path)
    upgraded = SQLiteStore(path, create_schema=True)
    service = JourneyService(machine(), upgraded)
    old = service.get("a")
    assert old is not None and old.goals == {}  # NULL: no clock runs
    service.handle("a", "back", at=START + H)
    service.handle("a", "add_to_cart", at=START + 2 * H)
    again = service.get("a")
    assert again is not None and again.goals is not None and "bought" in again.goals
    SQLiteStore(path, create_schema=True)  # idempotent
    with closing(sqlite3.connect(path)) as conn:
        assert conn.execute('SELECT version FROM "journeyfsm_schema_version"').fetchall() == [
            (SCHEMA_VERSION,)
        ]


def test_a_schema_4_postgres_database_is_upgraded_to_5_by_create_schema(tmp_path: Path) -> None:
    from service_support import pg_dsn

    from journeyfsm.stores import PostgresStore

    factory, close = store_factory("postgres", tmp_path)
    store = factory()
    prefix = store.prefix  # type: ignore[attr-defined]
    try:
        JourneyService(machine(), store).handle("a", "add_to_cart", at=START)
        with store.transaction() as tx:
            tx.conn.execute(f'ALTER TABLE "{prefix}journeys" DROP COLUMN goals')  # type: ignore[attr-defined]
            tx.conn.execute(f'UPDATE "{prefix}schema_version" SET version = 4')  # type: ignore[attr-defined]
        with pytest.raises(StoreError, match="version 4, this journeyfsm needs 5"):
            PostgresStore(pg_dsn(), prefix=prefix, max_size=1).close()
        upgraded = PostgresStore(pg_dsn(), prefix=prefix, create_schema=True, max_size=2)
        try:
            service = JourneyService(machine(), upgraded)
            old = service.get("a")
            assert old is not None and old.goals == {}
            service.handle("b", "add_to_cart", at=START)
            fresh = service.get("b")
            assert fresh is not None and fresh.goals is not None and "bought" in fresh.goals
            with upgraded.transaction() as tx:
                found = tx.conn.execute(f'SELECT version FROM "{prefix}schema_version"').fetchall()  # type: ignore[attr-defined]
            assert found == [(SCHEMA_VERSION,)]
        finally:
            upgraded.close()
    finally:
        close()


def test_a_corrupted_goals_column_is_a_store_error_naming_the_journey(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    service = JourneyService(machine(), SQLiteStore(path, create_schema=True))
    service.handle("a", "add_to_cart", at=START)
    with closing(sqlite3.connect(path)) as conn, conn:
        conn.execute("""UPDATE "journeyfsm_journeys" SET goals = '{"nope": 1}'""")
    with pytest.raises(StoreError, match=r"journey 'a'.*names no goal"):
        service.handle("a", "pay", at=START + H)


def test_the_timeout_worker_records_a_miss_when_its_deadline_passes(tmp_path: Path) -> None:
    from journeyfsm import TimeoutWorker

    clock = ManualClock(START)
    service = JourneyService(
        machine(clock=clock), SQLiteStore(tmp_path / "w.db", create_schema=True)
    )
    service.handle("a", "view")
    with closing(sqlite3.connect(tmp_path / "w.db")) as conn:
        (due,) = conn.execute('SELECT next_due FROM "journeyfsm_journeys"').fetchone()
    # "carted" runs out at START + 1 day; its miss is due the instant after
    assert due == "2026-01-02T09:00:00.000001+00:00"
    worker = TimeoutWorker(service, interval=60)
    clock.advance(D)
    assert worker.run_once().fired == 0
    clock.advance(timedelta(microseconds=1))
    report = worker.run_once()
    assert [o.goals_missed for o in report.outcomes] == [("carted",)]
    assert goal_entries(service.history("a"))[-1] == ("carted", "missed", START + D)


def test_a_keyboard_interrupt_in_a_goal_exit_writes_nothing(tmp_path: Path) -> None:
    d = definition(exit=True)
    m = machine(d)

    def boom(ctx: Any) -> None:
        raise KeyboardInterrupt

    m.on_enter("converted")(boom)
    store = SQLiteStore(tmp_path / "k.db", create_schema=True)
    service = JourneyService(m, store)
    service.handle("a", "view", at=START, event_id="a-1")
    before = (service.get("a"), service.history("a"))
    with pytest.raises(KeyboardInterrupt):
        service.handle("a", "add_to_cart", at=START + 10 * timedelta(minutes=1), event_id="a-2")
    assert (service.get("a"), service.history("a")) == before
    assert service.handle(
        "a", "add_to_cart", at=START + 2 * H, event_id="a-2"
    ).moved  # quick missed


def test_imported_journeys_keep_their_goal_clocks(store: Store) -> None:
    m = machine()
    j = m.start("a", at=START)
    m.fire(j, "add_to_cart", at=START + H, event_id="e-1")
    service = JourneyService(machine(), store)
    assert service.import_journeys([j]) == 1
    stored = service.get("a")
    assert stored is not None and stored.goals == j.goals
    out = service.handle("a", "pay", at=START + 2 * H)
    assert out.goals_met == ("bought",)


def test_the_path_graph_has_a_move_to_a_goal_exit() -> None:
    from journeyfsm.testing._graph import Graph

    moves = {(mv.source, mv.trigger, mv.dest) for mv in Graph(definition(exit=True)).moves()}
    assert ("cart", GOAL, "converted") in moves
    assert not any(mv.trigger == GOAL for mv in Graph(definition()).moves())
    d = (
        JourneyBuilder("t")
        .stage("a", initial=True)
        .stage("b")
        .stage("won", final=True)
        .stage("done", final=True)
        .transition("go", "a", "b")
        .transition("finish", "b", "done")
        .goal(Goal("went", trigger="go", within=D, exit="won"))
        .build()
    )
    assert ("b", GOAL, "won") in {(m.source, m.trigger, m.dest) for m in Graph(d).moves()}


def test_a_migration_keeps_the_clocks_of_goals_the_target_keeps() -> None:
    from journeyfsm import Migration

    v1 = definition()
    kept = [g for g in v1.goals if g.name != "looked"]
    v2 = JourneyDefinition(v1.name, v1.stages, v1.transitions, v1.timeouts, version=2, goals=kept)
    clock = ManualClock(START)
    store = MemoryStore()
    old = JourneyService(machine(v1, clock), store)
    old.handle("a", "add_to_cart")
    service = JourneyService(
        machine(v2, clock), store, versions=[machine(v1, clock)], migrations=[Migration(v1, v2)]
    )
    report = service.migrate(1, 2, dry_run=False)
    assert report.ok and report.migrated == 1
    stored = service.get("a")
    assert stored is not None and stored.goals is not None
    assert set(stored.goals) == {"bought", "carted"}
    clock.advance(H)
    assert service.handle("a", "pay").goals_met == ("bought",)


def test_a_snapshot_of_another_allowed_version_drops_the_clocks_of_goals_it_lost() -> None:
    v1 = definition()
    v2 = JourneyDefinition(v1.name, v1.stages, v1.transitions, v1.timeouts, version=2)
    m1 = machine(v1)
    j = m1.start("a", at=START)
    snap = m1.snapshot(j)
    m2 = JourneyMachine(v2, logger=quiet_logger())
    restored = m2.restore(snap, allow_version=1)
    assert restored.goals is None and "goals" not in m2.snapshot(restored)
    bad = copy.deepcopy(snap)
    bad["goals"]["nope"] = bad["goals"]["carted"]
    with pytest.raises(SnapshotError, match="names no goal"):
        m1.restore(bad)  # the same version: an unknown goal is an error


def test_goals_met_and_missed_are_logged() -> None:
    from structlog.testing import capture_logs

    m = JourneyMachine(definition(), clock=ManualClock(START))
    j = m.start("c-1", at=START)
    with capture_logs() as logs:
        m.fire(j, "add_to_cart", at=START + 3 * H)
    goals = [(e["goal"], e["status"]) for e in logs if e["event"] == "journey.goal"]
    assert goals == [("looked", "missed"), ("carted", "met")]
    # the move is logged once, with fire's fields, before the goals it met
    moved = [e for e in logs if e["event"] == "journey.moved"]
    assert [(e["key"], e["trigger"], e["source"], e["dest"], e["event_id"]) for e in moved] == [
        ("c-1", "add_to_cart", "browsing", "cart", None)
    ]
    assert [e["event"] for e in logs].index("journey.moved") < [e["event"] for e in logs].index(
        "journey.goal"
    )
    m.fire(j, "add_to_cart", at=START + 3 * H, event_id="e-9")
    with capture_logs() as logs:
        assert m.fire(j, "add_to_cart", at=START + 3 * H, event_id="e-9").duplicate
    assert not [e for e in logs if e["event"] == "journey.moved"]


def test_a_restart_of_a_journey_with_goals_is_logged_once_as_moved_and_reentered() -> None:
    from structlog.testing import capture_logs

    d = (
        JourneyBuilder("r", entry="once_at_a_time")
        .stage("a", initial=True)
        .stage("b", final=True)
        .transition("go", "a", "b")
        .goal(Goal("went", stage="b", within=timedelta(days=1)))
        .build()
    )
    m = JourneyMachine(d, clock=ManualClock(START))
    j = m.start("c-1", at=START)
    m.fire(j, "go", at=START + H)
    with capture_logs() as logs:
        out = m.fire(j, "go", at=START + 2 * H, event_id="e-2")
    assert out.reentry is not None and out.goals_met == ("went",)
    lines = [(e["event"], e.get("source"), e.get("event_id")) for e in logs]
    assert lines == [
        ("journey.moved", "a", "e-2"),
        ("journey.reentered", "b", "e-2"),
        ("journey.goal", None, None),
    ]


def test_a_machine_without_goals_keeps_the_plain_fire() -> None:
    plain = JourneyMachine(
        JourneyBuilder("p")
        .stage("a", initial=True)
        .stage("b", final=True)
        .transition("go", "a", "b")
        .build()
    )
    assert "fire" not in vars(plain)  # the class's method: no goal wrapper on the hot path
    assert plain.start("k").goals is None
    assert vars(machine())["fire"].__func__ is JourneyMachine._fire_goals
