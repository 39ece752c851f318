"""DESIGN.md "Semantics" 1-10, one group of tests per rule (the number is in each name)."""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
import structlog
from async_engine import ENGINES
from conftest import START, checkout_builder, quiet_logger

from journeyfsm import (
    Context,
    DefinitionError,
    GuardError,
    HookError,
    InvalidTransition,
    Journey,
    JourneyBuilder,
    JourneyDefinition,
    JourneyMachine,
    ManualClock,
    Stage,
    Timeout,
    Transition,
    UnknownTrigger,
    guard,
)

MakeMachine = Callable[..., JourneyMachine]


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest) -> str:
    """Every machine test here runs on each engine (tests/async_engine.py)."""
    return str(request.param)


def in_cart(machine: JourneyMachine, key: str = "c-1", **data: Any) -> Journey:
    journey = machine.start(key, {"cart": ["sku-1"], **data})
    assert machine.fire(journey, "add_to_cart").moved
    return journey


def counting(name: str, result: bool, calls: list[str]) -> Any:
    def fn(ctx: Context) -> bool:
        calls.append(name)
        return result

    return guard(fn, name=name)


# -- 1. choice ------------------------------------------------------------------------
def test_semantics_1_choice_first_passing_candidate_in_declaration_order(
    machine: JourneyMachine,
) -> None:
    vip = in_cart(machine, "vip", vip=True)
    regular = in_cart(machine, "regular")

    assert machine.fire(vip, "checkout").dest == "express"
    assert machine.fire(regular, "checkout").dest == "checkout"


def test_semantics_1_choice_takes_the_first_of_several_passing_candidates(
    make_machine: MakeMachine,
) -> None:
    yes = guard(lambda ctx: True, name="yes")
    d = (
        JourneyBuilder("order")
        .stage("a", initial=True)
        .stage("b", final=True)
        .stage("c", final=True)
        .transition("go", "a", "c", guards=[yes])
        .transition("go", "a", "b", guards=[yes])
        .build()
    )
    machine = make_machine(d)
    assert machine.fire(machine.start("k"), "go").dest == "c"


def test_semantics_1_blocked_lists_every_candidate_with_guard_results(
    machine: JourneyMachine,
) -> None:
    journey = machine.start("c-1")
    machine.fire(journey, "add_to_cart")  # empty cart: both candidates fail
    before = copy.deepcopy(journey)

    outcome = machine.fire(journey, "checkout")

    assert outcome.blocked
    assert journey == before
    assert [c.dest for c in outcome.candidates] == ["express", "checkout"]
    assert [c.passed for c in outcome.candidates] == [False, False]
    express, plain = outcome.candidates
    (composite,) = express.guards
    assert composite.name == "(cart_not_empty & is_vip)"
    # every candidate is evaluated, each as fire evaluates it: is_vip is not reached
    assert [(r.name, r.passed) for r in composite.children] == [
        ("cart_not_empty", False),
        ("is_vip", None),
    ]
    assert [(r.name, r.passed) for r in plain.guards] == [("cart_not_empty", False)]
    assert outcome.failed_guards == ("cart_not_empty",)


# -- 2. guards ------------------------------------------------------------------------
def _two_guard_definition(first: Any, second: Any, third: Any) -> JourneyDefinition:
    return (
        JourneyBuilder("g")
        .stage("a", initial=True)
        .stage("b", final=True)
        .stage("c", final=True)
        .transition("go", "a", "b", guards=[first & second])
        .transition("go", "a", "c", guards=[third])
        .build()
    )


def test_semantics_2_explain_evaluates_every_candidate_short_circuiting_inside_it(
    make_machine: MakeMachine,
) -> None:
    calls: list[str] = []
    d = _two_guard_definition(
        counting("first", False, calls),
        counting("second", True, calls),
        counting("third", True, calls),
    )
    machine = make_machine(d)
    journey = machine.start("k")

    explanation = machine.explain(journey, "go")

    assert calls == ["first", "third"]  # `first & second` stopped at `first`
    (composite,) = explanation.candidates[0].guards
    assert [r.passed for r in composite.children] == [False, None]
    assert explanation.status == "would_move"
    assert explanation.chosen is not None and explanation.chosen.dest == "c"
    assert journey.stage == "a" and journey.history == []


def test_semantics_2_fire_short_circuits_guards(make_machine: MakeMachine) -> None:
    calls: list[str] = []
    d = _two_guard_definition(
        counting("first", False, calls),
        counting("second", True, calls),
        counting("third", True, calls),
    )
    machine = make_machine(d)

    assert machine.fire(machine.start("k"), "go").dest == "c"
    assert "second" not in calls  # `first & second` stopped at `first`
    assert calls.count("first") == 1 and calls.count("third") == 1


def test_semantics_2_fire_does_not_try_candidates_after_the_winner(
    make_machine: MakeMachine,
) -> None:
    calls: list[str] = []
    d = _two_guard_definition(
        counting("first", True, calls),
        counting("second", True, calls),
        counting("third", True, calls),
    )
    machine = make_machine(d)
    assert machine.fire(machine.start("k"), "go").dest == "b"
    assert calls == ["first", "second"]


def test_semantics_2_raising_guard_is_guard_error_and_journey_untouched(
    machine: JourneyMachine,
) -> None:
    boom = ValueError("provider down")

    @guard
    def provider_ok(ctx: Context) -> bool:
        raise boom

    d = checkout_builder().replace_guards("pay", [provider_ok]).build()
    machine = JourneyMachine(d, clock=machine.clock, logger=quiet_logger())
    journey = in_cart(machine)
    machine.fire(journey, "checkout", event_id="e-1")
    before = copy.deepcopy(journey)

    with pytest.raises(GuardError) as info:
        machine.fire(journey, "pay", {"paid": True}, event_id="e-2")

    assert info.value.guard == "provider_ok"
    assert "provider_ok" in str(info.value) and "provider down" in str(info.value)
    assert info.value.__cause__ is boom
    assert info.value.key == "c-1" and info.value.stage == "checkout"
    assert info.value.trigger == "pay"
    assert journey == before
    assert journey.event_ids is not None and "e-2" not in journey.event_ids


# -- 3. order inside a move ------------------------------------------------------------
def _record_everything(machine: JourneyMachine, log: list[tuple[Any, ...]]) -> None:
    def snap(kind: str) -> Callable[[Context], None]:
        def hook(ctx: Context) -> None:
            j = ctx.journey
            last = j.history[-1].dest if j.history else None
            log.append((kind, j.stage, len(j.history), last))

        hook.__name__ = hook.__qualname__ = f"record_{kind.replace('(', '_').rstrip(')')}"
        return hook

    machine.before(snap("before"))
    machine.after(snap("after"))
    for stage in machine.definition.stage_names:
        machine.on_exit(stage, snap(f"exit({stage})"))
        machine.on_enter(stage, snap(f"enter({stage})"))
    for trigger in machine.definition.triggers:
        machine.on_transition(trigger, snap(f"on_transition({trigger})"))
    for stage in machine.definition.stage_names:
        machine.effect(
            lambda call: log.append(("effect_enter", call.dest)),
            on_enter=stage,
            name=f"fx_enter_{stage}",
        )
    for trigger in machine.definition.triggers:
        machine.effect(
            lambda call: log.append(("effect_transition", call.trigger)),
            on_transition=trigger,
            name=f"fx_{trigger}",
        )


def test_semantics_3_hook_order_inside_a_move(machine: JourneyMachine) -> None:
    journey = in_cart(machine)
    log: list[tuple[Any, ...]] = []
    _record_everything(machine, log)

    outcome = machine.fire(journey, "checkout")

    assert outcome.moved
    n = 1  # history length before the move
    assert log == [
        ("before", "cart", n, "cart"),
        ("exit(cart)", "cart", n, "cart"),
        # the stage is set and the history entry appended before the enter hooks run
        ("enter(checkout)", "checkout", n + 1, "checkout"),
        ("on_transition(checkout)", "checkout", n + 1, "checkout"),
        ("after", "checkout", n + 1, "checkout"),
        ("effect_enter", "checkout"),
        ("effect_transition", "checkout"),
    ]


def test_semantics_3_enter_hook_sees_the_new_history_entry(machine: JourneyMachine) -> None:
    seen: list[Any] = []
    machine.on_enter("cart", lambda ctx: seen.append(ctx.journey.history[-1]))
    journey = machine.start("c-1")

    outcome = machine.fire(journey, "add_to_cart", event_id="e-1")

    assert seen == [outcome.entry]
    assert seen[0].seq == 1 and seen[0].dest == "cart" and seen[0].event_id == "e-1"


def test_semantics_3_hooks_of_one_kind_run_in_registration_order(
    machine: JourneyMachine,
) -> None:
    log: list[str] = []
    machine.before(lambda ctx: log.append("b1"))
    machine.before(lambda ctx: log.append("b2"))
    machine.on_enter("cart", lambda ctx: log.append("e1"))
    machine.on_enter("cart", lambda ctx: log.append("e2"))
    machine.fire(machine.start("k"), "add_to_cart")
    assert log == ["b1", "b2", "e1", "e2"]


def test_semantics_3_dest_equal_source_reenters(machine: JourneyMachine) -> None:
    journey = in_cart(machine)
    log: list[tuple[Any, ...]] = []
    _record_everything(machine, log)

    outcome = machine.fire(journey, "add_to_cart")

    assert (outcome.source, outcome.dest) == ("cart", "cart")
    kinds = [entry[0] for entry in log]
    assert kinds == [
        "before",
        "exit(cart)",
        "enter(cart)",
        "on_transition(add_to_cart)",
        "after",
        "effect_enter",
        "effect_transition",
    ]
    assert journey.history[-1].source == journey.history[-1].dest == "cart"
    assert journey.version == 2


def test_semantics_3_internal_transition_runs_neither_exit_nor_enter(
    machine: JourneyMachine,
) -> None:
    journey = in_cart(machine)
    log: list[tuple[Any, ...]] = []
    _record_everything(machine, log)

    outcome = machine.fire(journey, "note", meta={"channel": "support"})

    assert outcome.moved and outcome.source == outcome.dest == "cart"
    kinds = [entry[0] for entry in log]
    assert kinds == ["before", "on_transition(note)", "after", "effect_transition"]
    entry = journey.history[-1]
    assert (entry.seq, entry.trigger, entry.source, entry.dest) == (2, "note", "cart", "cart")
    assert entry.meta == {"channel": "support"}
    assert journey.stage == "cart" and journey.version == 2


def test_semantics_3_every_hook_sees_the_destination_in_ctx_dest(
    machine: JourneyMachine,
) -> None:
    """``Context.dest`` is "the destination of the transition being taken" for every hook,
    whether or not the transition has guards."""
    seen: list[tuple[str, Any]] = []
    machine.before(lambda ctx: seen.append(("before", ctx.dest)))
    machine.on_exit("browsing", lambda ctx: seen.append(("exit", ctx.dest)))
    machine.on_enter("cart", lambda ctx: seen.append(("enter", ctx.dest)))
    machine.after(lambda ctx: seen.append(("after", ctx.dest)))

    machine.fire(machine.start("k"), "add_to_cart")  # an unguarded transition

    assert seen == [("before", "cart"), ("exit", "cart"), ("enter", "cart"), ("after", "cart")]


# -- 4. hook failure rolls back --------------------------------------------------------
POSITIONS = ["before", "on_exit", "on_enter", "on_transition", "after"]


def _register_at(machine: JourneyMachine, position: str, fn: Callable[[Context], Any]) -> None:
    if position == "before":
        machine.before(fn)
    elif position == "after":
        machine.after(fn)
    elif position == "on_exit":
        machine.on_exit("cart", fn)
    elif position == "on_enter":
        machine.on_enter("checkout", fn)
    else:
        machine.on_transition("checkout", fn)


@pytest.mark.parametrize("position", POSITIONS)
def test_semantics_4_hook_failure_restores_journey(machine: JourneyMachine, position: str) -> None:
    cause = RuntimeError("CRM said no")

    def mutate(ctx: Context) -> None:
        ctx.journey.data["profile"]["tags"].append(ctx.trigger)
        ctx.journey.data["touched"] = True

    def crm_veto(ctx: Context) -> None:
        mutate(ctx)
        raise cause

    journey = machine.start("c-1", {"cart": ["sku"], "profile": {"tags": ["new"]}})
    machine.fire(journey, "add_to_cart", event_id="e-1")
    machine.fire(journey, "note", event_id="e-2")
    # every position mutates nested data; the chosen one also raises
    for other in POSITIONS:
        _register_at(machine, other, crm_veto if other == position else mutate)
    before = copy.deepcopy(journey)
    before_snapshot = machine.snapshot(journey)

    with pytest.raises(HookError) as info:
        machine.fire(journey, "checkout", event_id="e-3", meta={"channel": "web"})

    err = info.value
    assert err.hook.endswith("crm_veto")
    assert "crm_veto" in str(err) and "CRM said no" in str(err)
    assert "rolled back" in str(err)
    assert err.__cause__ is cause
    assert (err.key, err.stage, err.trigger) == ("c-1", "cart", "checkout")
    assert journey == before
    assert journey.data == before.data  # nested mutation undone too
    assert journey.event_ids == {"e-1": None, "e-2": None}
    assert machine.snapshot(journey) == before_snapshot


@pytest.mark.parametrize("position", ["before", "on_transition", "after"])
def test_semantics_4_hook_failure_in_internal_transition_restores_journey(
    machine: JourneyMachine, position: str
) -> None:
    def veto(ctx: Context) -> None:
        ctx.journey.data.setdefault("notes", []).append(1)
        raise KeyError("nope")

    journey = in_cart(machine)
    if position == "on_transition":
        machine.on_transition("note", veto)
    else:
        getattr(machine, position)(veto)
    before = copy.deepcopy(journey)

    with pytest.raises(HookError):
        machine.fire(journey, "note")

    assert journey == before


def test_semantics_4_after_hook_failure_the_event_can_be_redelivered(
    machine: JourneyMachine,
) -> None:
    fail = [True]

    def flaky(ctx: Context) -> None:
        if fail[0]:
            raise RuntimeError("temporary")

    machine.on_enter("cart", flaky)
    effects: list[str] = []
    machine.effect(lambda call: effects.append(call.idempotency_key), on_enter="cart", name="fx")
    journey = machine.start("c-1")

    with pytest.raises(HookError):
        machine.fire(journey, "add_to_cart", event_id="e-1")
    assert effects == []  # effects never run for a rolled-back move

    fail[0] = False
    outcome = machine.fire(journey, "add_to_cart", event_id="e-1")
    assert outcome.moved and outcome.entry is not None and outcome.entry.seq == 1
    assert effects == ["checkout:c-1:1:fx"]


def test_semantics_4_effect_failure_never_rolls_the_move_back() -> None:
    with structlog.testing.capture_logs() as logs:
        machine = JourneyMachine(checkout_builder().build(), clock=ManualClock(START))
        ran: list[str] = []

        @machine.effect(on_enter="cart", name="send_email")
        def send_email(call: Any) -> None:
            raise ConnectionError("smtp down")

        @machine.effect(on_enter="cart", name="tag_in_crm")
        def tag_in_crm(call: Any) -> None:
            ran.append(call.idempotency_key)

        journey = machine.start("c-1")
        outcome = machine.fire(journey, "add_to_cart", event_id="e-1")

    assert outcome.moved and journey.stage == "cart" and journey.version == 1
    assert [(e.name, e.ok) for e in outcome.effects] == [
        ("send_email", False),
        ("tag_in_crm", True),
    ]
    (failed,) = outcome.effect_errors
    assert failed.error == "ConnectionError: smtp down"
    assert failed.idempotency_key == "checkout:c-1:1:send_email"
    assert ran == ["checkout:c-1:1:tag_in_crm"]  # later effects still run
    assert journey.event_ids == {"e-1": None}
    (logged,) = [e for e in logs if e["event"] == "outbox.effect_failed"]
    assert logged["effect"] == "send_email" and logged["key"] == "c-1"
    assert "smtp down" in logged["error"]


# -- 5. invalid for this stage: policy -------------------------------------------------
def test_semantics_5_default_policy_ignores_invalid_trigger(machine: JourneyMachine) -> None:
    journey = machine.start("c-1")
    before = copy.deepcopy(journey)

    outcome = machine.fire(journey, "pay", {"paid": True})

    assert outcome.ignored and outcome.status == "ignored"
    assert (outcome.source, outcome.dest, outcome.entry) == ("browsing", None, None)
    assert journey == before


def test_semantics_5_strict_policy_per_definition_raises_listing_allowed(
    make_machine: MakeMachine,
) -> None:
    d = checkout_builder()
    d.policy = "strict"
    machine = make_machine(d.build())
    journey = machine.start("c-1")
    before = copy.deepcopy(journey)

    with pytest.raises(InvalidTransition) as info:
        machine.fire(journey, "pay", {"paid": True})

    assert info.value.allowed == ("add_to_cart", "note")
    assert "allowed here: add_to_cart, note" in str(info.value)
    assert "'pay'" in str(info.value) and "'browsing'" in str(info.value)
    assert journey == before
    # per call, ignore overrides the definition's strict
    assert machine.fire(journey, "pay", {"paid": True}, policy="ignore").ignored


def test_semantics_5_strict_policy_per_call(machine: JourneyMachine) -> None:
    journey = machine.start("c-1")
    with pytest.raises(InvalidTransition) as info:
        machine.fire(journey, "pay", policy="strict")
    assert (info.value.key, info.value.stage, info.value.trigger) == ("c-1", "browsing", "pay")
    assert journey.version == 0


def test_semantics_5_strict_from_final_stage_says_nothing_is_allowed(
    machine: JourneyMachine,
) -> None:
    journey = machine.start("c-1")
    journey.stage = "paid"
    with pytest.raises(InvalidTransition, match=r"nothing \(final stage\)"):
        machine.fire(journey, "add_to_cart", policy="strict")


def test_semantics_5_bad_policy_value_is_rejected(machine: JourneyMachine) -> None:
    with pytest.raises(ValueError, match="'ignore' or 'strict'"):
        machine.fire(machine.start("k"), "pay", policy="loose")  # type: ignore[arg-type]


@pytest.mark.parametrize("policy", ["ignore", "strict"])
def test_semantics_5_unknown_trigger_is_always_an_error_with_close_matches(
    machine: JourneyMachine, policy: Any
) -> None:
    journey = machine.start("c-1")
    before = copy.deepcopy(journey)

    with pytest.raises(UnknownTrigger) as info:
        machine.fire(journey, "chekout", policy=policy)

    assert info.value.suggestions == ("checkout",)
    assert "did you mean 'checkout'?" in str(info.value)
    assert isinstance(info.value, LookupError)
    assert journey == before


# -- 6. idempotency ----------------------------------------------------------------------
def test_semantics_6_duplicate_event_id_runs_nothing(machine: JourneyMachine) -> None:
    calls: list[str] = []
    machine.before(lambda ctx: calls.append("before"))
    machine.on_enter("cart", lambda ctx: calls.append("enter"))
    machine.effect(lambda call: calls.append("effect"), on_enter="cart", name="fx")
    journey = machine.start("c-1")
    machine.fire(journey, "add_to_cart", event_id="evt-1")
    calls.clear()
    before = copy.deepcopy(journey)

    outcome = machine.fire(journey, "add_to_cart", event_id="evt-1")
    # a different trigger with a seen id is the same event delivered again
    other = machine.fire(journey, "abandon", event_id="evt-1")

    assert outcome.duplicate and outcome.status == "duplicate"
    assert other.duplicate
    assert (outcome.event_id, outcome.dest, outcome.entry, outcome.effects) == (
        "evt-1",
        None,
        None,
        (),
    )
    assert calls == []
    assert journey == before


def test_semantics_6_event_ids_are_per_journey(machine: JourneyMachine) -> None:
    a, b = machine.start("a"), machine.start("b")
    assert machine.fire(a, "add_to_cart", event_id="same").moved
    assert machine.fire(b, "add_to_cart", event_id="same").moved


def test_semantics_6_blocked_event_is_judged_again_on_redelivery(
    machine: JourneyMachine,
) -> None:
    journey = machine.start("c-1")
    machine.fire(journey, "add_to_cart")
    assert machine.fire(journey, "checkout", event_id="e-9").blocked
    journey.data["cart"] = ["sku"]  # the host fixes the cart, the broker redelivers
    assert machine.fire(journey, "checkout", event_id="e-9").moved
    assert machine.fire(journey, "checkout", event_id="e-9").duplicate


def test_semantics_6_event_id_window_is_bounded_and_evicts_oldest(
    make_machine: MakeMachine,
) -> None:
    machine = make_machine(event_id_window=3)
    journey = in_cart(machine)

    for i in range(1, 5):
        assert machine.fire(journey, "note", event_id=f"e-{i}").moved

    assert journey.event_ids is not None
    assert list(journey.event_ids) == ["e-2", "e-3", "e-4"]
    assert machine.fire(journey, "note", event_id="e-4").duplicate
    assert machine.fire(journey, "note", event_id="e-1").moved  # forgotten: judged again
    assert list(journey.event_ids) == ["e-3", "e-4", "e-1"]


def test_semantics_6_event_id_window_must_be_positive() -> None:
    with pytest.raises(ValueError, match="event_id_window"):
        JourneyMachine(checkout_builder().build(), event_id_window=0)


# -- 7. time -------------------------------------------------------------------------------
@pytest.mark.parametrize("call", ["fire", "explain", "enabled_triggers"])
def test_semantics_7_naive_datetime_is_rejected_with_the_fix(
    machine: JourneyMachine, call: str
) -> None:
    journey = machine.start("c-1")
    before = copy.deepcopy(journey)
    naive = datetime(2026, 1, 1, 12, 0)

    with pytest.raises(ValueError) as info:
        if call == "enabled_triggers":
            machine.enabled_triggers(journey, at=naive)
        else:
            getattr(machine, call)(journey, "add_to_cart", at=naive)

    message = str(info.value)
    assert "naive" in message
    assert "tzinfo=timezone.utc" in message
    assert journey == before


def test_semantics_7_aware_non_utc_time_is_converted_to_utc(machine: JourneyMachine) -> None:
    berlin_noon = datetime(2026, 6, 1, 12, 0, tzinfo=timezone(timedelta(hours=2)))
    outcome = machine.fire(machine.start("c-1"), "add_to_cart", at=berlin_noon)

    assert outcome.entry is not None
    assert outcome.entry.at == berlin_noon
    assert outcome.entry.at.tzinfo is timezone.utc
    assert outcome.entry.at.hour == 10


def test_semantics_7_manual_clock_drives_guards_and_history(make_machine: MakeMachine) -> None:
    clock = ManualClock(START)

    @guard
    def cooled_down(ctx: Context) -> bool:
        """an hour has passed since the last move"""
        return ctx.now - ctx.journey.history[-1].at >= timedelta(hours=1)

    d = (
        JourneyBuilder("cool")
        .stage("a", initial=True)
        .stage("b")
        .stage("c", final=True)
        .transition("go", "a", "b")
        .transition("go", "b", "c", guards=[cooled_down])
        .build()
    )
    machine = make_machine(d, clock=clock)
    journey = machine.start("k")

    assert machine.fire(journey, "go").entry.at == START  # type: ignore[union-attr]
    clock.advance(timedelta(minutes=59))
    assert machine.fire(journey, "go").blocked
    clock.advance(60)
    outcome = machine.fire(journey, "go")
    assert outcome.moved
    assert outcome.entry is not None and outcome.entry.at == START + timedelta(hours=1)
    assert clock.now().tzinfo is timezone.utc


def test_semantics_7_manual_clock_rejects_naive_and_backwards_time() -> None:
    with pytest.raises(ValueError, match="naive"):
        ManualClock(datetime(2026, 1, 1))
    clock = ManualClock(START)
    with pytest.raises(ValueError, match="naive"):
        clock.set(datetime(2026, 1, 2))
    with pytest.raises(ValueError, match="non-negative"):
        clock.advance(-1)
    assert clock.now() == START


# -- 8. history ----------------------------------------------------------------------------
def assert_history_chain(journey: Journey, initial: str) -> None:
    previous = initial
    for n, entry in enumerate(journey.history, 1):
        assert entry.seq == n
        assert entry.source == previous
        previous = entry.dest
    assert journey.stage == previous
    assert journey.version == len(journey.history)


def test_semantics_8_history_seq_and_chain(machine: JourneyMachine, clock: ManualClock) -> None:
    journey = machine.start("c-1", {"cart": ["sku"]})
    steps = [
        ("add_to_cart", None),
        ("add_to_cart", None),
        ("note", {"channel": "phone"}),
        ("abandon", None),
        ("come_back", None),
        ("add_to_cart", None),
        ("checkout", {"channel": "web"}),
    ]
    for i, (trigger, meta) in enumerate(steps):
        clock.advance(timedelta(minutes=5))
        assert machine.fire(journey, trigger, event_id=f"e-{i}", meta=meta).moved
    machine.fire(journey, "pay", {"paid": True})

    assert_history_chain(journey, "browsing")
    assert [e.trigger for e in journey.history] == [t for t, _ in steps] + ["pay"]
    assert [e.event_id for e in journey.history] == [f"e-{i}" for i in range(7)] + [None]
    assert journey.history[2].meta == {"channel": "phone"}
    assert journey.history[0].meta is None
    assert journey.history[0].at == START + timedelta(minutes=5)
    assert journey.history[-1].at == START + timedelta(minutes=35)
    assert journey.stage == "paid"


def test_semantics_8_history_meta_is_copied_from_the_caller(machine: JourneyMachine) -> None:
    meta = {"channel": "web", "tags": ["a"]}
    journey = machine.start("c-1")
    machine.fire(journey, "add_to_cart", meta=meta)

    meta["channel"] = "changed later"
    meta["tags"].append("b")  # type: ignore[attr-defined]

    assert journey.history[0].meta == {"channel": "web", "tags": ["a"]}


# -- 9. validation ---------------------------------------------------------------------------
def test_semantics_9_validation_reports_every_problem_at_once() -> None:
    with pytest.raises(DefinitionError) as info:
        JourneyDefinition(
            name="broken",
            stages=[
                Stage("start", initial=True),
                Stage("start"),  # duplicate
                Stage("middle"),
                Stage("island"),  # unreachable, dead end
                Stage("done", final=True),
            ],
            transitions=[
                Transition("go", "start", "middle"),
                Transition("go-on", "middle", "done"),  # not an identifier
                Transition("jump", "middle", "nowhere"),  # unknown dest stage
                Transition("walk", "atlantis", "done"),  # unknown source stage
                Transition("reopen", "done", "start"),  # outgoing from a final stage
            ],
            timeouts=[Timeout("limbo", 60, "go")],  # timeout on an unknown stage
        )

    messages = [p.message for p in info.value.problems]
    text = str(info.value)
    expected = [
        "duplicate stage 'start'",
        "stage 'island' is unreachable",
        "stage 'island' is a dead end",
        "trigger 'go-on' is not a valid identifier",
        "trigger 'jump' goes to unknown stage 'nowhere'",
        "trigger 'walk' starts from unknown stage 'atlantis'",
        "final stage 'done' has an outgoing transition 'reopen'",
        "timeout on unknown stage 'limbo'",
    ]
    for fragment in expected:
        assert any(fragment in m for m in messages), (fragment, messages)
        assert fragment in text
    assert f"({len(messages)} problem(s))" in text


def test_semantics_9_several_initial_stages_reported_with_other_problems() -> None:
    with pytest.raises(DefinitionError) as info:
        JourneyDefinition(
            name="broken",
            stages=[Stage("a", initial=True), Stage("b", initial=True), Stage("c", final=True)],
            transitions=[Transition("go", "a", "c"), Transition("class", "b", "c")],
        )
    messages = [p.message for p in info.value.problems]
    assert any("several initial stages (a, b)" in m for m in messages)
    assert any("trigger 'class' is not a valid identifier" in m for m in messages)


def test_semantics_9_zero_initial_stages_is_a_problem() -> None:
    with pytest.raises(DefinitionError, match="no initial stage"):
        JourneyDefinition(
            name="j",
            stages=[Stage("a"), Stage("b", final=True)],
            transitions=[Transition("go", "a", "b")],
        )


# -- 10. thread safety ------------------------------------------------------------------------
def test_semantics_10_one_machine_many_threads_distinct_journeys(
    make_machine: MakeMachine,
) -> None:
    machine = make_machine()
    entered: list[int] = []
    lock = threading.Lock()

    def count_paid(ctx: Context) -> None:
        ctx.journey.data["paid_seen"] = ctx.journey.key
        with lock:
            entered.append(1)

    machine.on_enter("paid", count_paid)
    machine.before(lambda ctx: ctx.journey.data.__setitem__("moves", ctx.journey.version + 1))
    n_threads, per_thread = 8, 200
    barrier = threading.Barrier(n_threads)
    errors: list[BaseException] = []
    results: dict[int, list[Journey]] = {}

    def worker(t: int) -> None:
        try:
            journeys = [
                machine.start(f"t{t}-j{i}", {"cart": ["sku"], "vip": i % 2 == 0})
                for i in range(per_thread)
            ]
            barrier.wait()
            for step in ("add_to_cart", "note", "add_to_cart", "checkout"):
                for i, j in enumerate(journeys):
                    assert machine.fire(j, step, event_id=f"{step}-{i}-{j.version}").moved
            for j in journeys:
                paid = machine.fire(j, "pay", {"paid": j.key.endswith(("0", "2", "4"))})
                assert paid.moved == j.key.endswith(("0", "2", "4"))
            results[t] = journeys
        except BaseException as err:  # surfaced below
            errors.append(err)

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(n_threads)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()

    assert errors == []
    n_paid = 0
    for t, journeys in results.items():
        for i, j in enumerate(journeys):
            assert j.key == f"t{t}-j{i}"
            expected_mid = "express" if i % 2 == 0 else "checkout"
            assert j.history[3].dest == expected_mid
            paid = j.key.endswith(("0", "2", "4"))
            assert j.stage == ("paid" if paid else expected_mid)
            assert_history_chain(j, "browsing")
            assert j.data["moves"] == j.version
            if paid:
                n_paid += 1
                assert j.data["paid_seen"] == j.key
    assert len(results) == n_threads
    assert len(entered) == n_paid > 0
