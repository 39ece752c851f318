"""Bad input: each error has the right type, names the problem and the fix, and leaves the
journey unchanged."""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import datetime

import pytest
from conftest import checkout_builder

from journeyfsm import (
    ConcurrencyConflict,
    Context,
    DefinitionError,
    GuardError,
    HookError,
    InvalidTransition,
    Journey,
    JourneyBuilder,
    JourneyError,
    JourneyMachine,
    Outcome,
    SnapshotError,
    StoreError,
    UnknownTrigger,
    guard,
    templates,
)

MakeMachine = Callable[..., JourneyMachine]


@pytest.fixture
def journey(machine: JourneyMachine) -> Journey:
    j = machine.start("c-42", {"cart": ["sku"]})
    machine.fire(j, "add_to_cart", event_id="e-1")
    return j


def test_error_hierarchy_and_builtin_meanings() -> None:
    for cls in (
        DefinitionError,
        UnknownTrigger,
        InvalidTransition,
        GuardError,
        HookError,
        SnapshotError,
        ConcurrencyConflict,
        StoreError,
    ):
        assert issubclass(cls, JourneyError)
    assert issubclass(DefinitionError, ValueError)
    assert issubclass(SnapshotError, ValueError)
    assert issubclass(UnknownTrigger, LookupError)


def test_unknown_trigger_suggests_close_match(machine: JourneyMachine, journey: Journey) -> None:
    before = copy.deepcopy(journey)
    with pytest.raises(UnknownTrigger) as info:
        machine.fire(journey, "add_to_kart")
    err = info.value
    message = str(err)
    assert message.startswith("unknown trigger 'add_to_kart' for journey 'c-42'")
    assert "definition 'checkout' has no such trigger" in message
    assert message.endswith("did you mean 'add_to_cart'?")
    assert (err.key, err.stage, err.trigger) == ("c-42", "cart", "add_to_kart")
    assert journey == before


def test_unknown_trigger_without_close_match_lists_known(
    machine: JourneyMachine, journey: Journey
) -> None:
    with pytest.raises(UnknownTrigger) as info:
        machine.fire(journey, "zzz")
    assert info.value.suggestions == ()
    assert "known triggers: abandon, add_to_cart, checkout, come_back, note, pay" in str(info.value)


def test_invalid_trigger_under_strict_lists_allowed(
    machine: JourneyMachine, journey: Journey
) -> None:
    before = copy.deepcopy(journey)
    with pytest.raises(InvalidTransition) as info:
        machine.fire(journey, "come_back", policy="strict")
    message = str(info.value)
    assert "cannot fire 'come_back' for journey 'c-42' in stage 'cart'" in message
    assert "allowed here: add_to_cart, checkout, note, abandon" in message
    assert "use policy='ignore'" in message
    assert info.value.allowed == ("add_to_cart", "checkout", "note", "abandon")
    assert journey == before


def test_payload_of_wrong_type_for_a_guard(machine: JourneyMachine, journey: Journey) -> None:
    machine.fire(journey, "checkout")
    before = copy.deepcopy(journey)
    with pytest.raises(GuardError) as info:
        machine.fire(journey, "pay", "paid", event_id="e-2")
    err = info.value
    assert err.guard == "payment_ok"
    assert "expects a payload of type dict, got str" in str(err)
    assert "pass a matching payload= to fire()" in str(err)
    assert "journey 'c-42'" in str(err) and "trigger 'pay'" in str(err)
    assert journey == before


def test_naive_datetime(machine: JourneyMachine, journey: Journey) -> None:
    before = copy.deepcopy(journey)
    with pytest.raises(ValueError) as info:
        machine.fire(journey, "note", at=datetime(2026, 5, 1, 8, 30))
    message = str(info.value)
    assert "fire(at=...) is a naive datetime (2026-05-01T08:30:00)" in message
    assert "tzinfo=timezone.utc" in message
    assert journey == before


def test_snapshot_of_another_definition(machine: JourneyMachine) -> None:
    aida = JourneyMachine(templates.aida())
    with pytest.raises(SnapshotError, match="restore it with a machine for 'aida'"):
        machine.restore(aida.snapshot(aida.start("c-1")))


def test_snapshot_with_unknown_stage(machine: JourneyMachine, journey: Journey) -> None:
    snap = machine.snapshot(journey)
    snap["stage"] = "wishlist"
    with pytest.raises(SnapshotError) as info:
        machine.restore(snap)
    assert "is in stage 'wishlist', which definition 'checkout' (version 3) does not have" in str(
        info.value
    )
    assert "stages: browsing," in str(info.value)


def test_duplicate_stage_names() -> None:
    b = checkout_builder().stage("cart")
    with pytest.raises(DefinitionError) as info:
        b.build()
    assert str(info.value) == (
        "journey definition 'checkout' is invalid (1 problem(s)):\n"
        "  - duplicate stage 'cart' (defined 2 times); stage names must be unique"
    )


def test_guard_returning_non_bool_is_an_error_not_false(
    make_machine: MakeMachine,
) -> None:
    @guard
    def cart_size(ctx: Context) -> bool:
        return len(ctx.journey.data["cart"])  # type: ignore[return-value]

    machine = make_machine(checkout_builder().replace_guards("abandon", [cart_size]).build())
    j = machine.start("c-42", {"cart": ["sku"]})
    machine.fire(j, "add_to_cart")
    before = copy.deepcopy(j)
    with pytest.raises(GuardError) as info:
        machine.fire(j, "abandon")
    assert "guard 'cart_size' returned 1 (int), not a bool" in str(info.value)
    assert "return True or False" in str(info.value)
    assert j == before


HOOK_KINDS = [
    "before",
    "on_exit",
    "on_enter",
    "on_transition",
    "after",
    "on_blocked",
    "on_ignored",
]


@pytest.mark.parametrize("kind", HOOK_KINDS)
def test_hooks_raising_each_kind(machine: JourneyMachine, journey: Journey, kind: str) -> None:
    cause = LookupError("customer not in CRM")

    def crm_sync(ctx: Context, outcome: Outcome | None = None) -> None:
        ctx.journey.data["synced"] = True
        raise cause

    trigger, payload = {
        "on_blocked": ("checkout", None),  # nothing in the cart: blocked
        "on_ignored": ("come_back", None),
    }.get(kind, ("checkout", None))
    if kind == "on_blocked":
        journey.data["cart"] = []
    if kind in ("on_exit",):
        machine.on_exit("cart", crm_sync)
    elif kind == "on_enter":
        machine.on_enter("checkout", crm_sync)
    elif kind == "on_transition":
        machine.on_transition("checkout", crm_sync)
    else:
        getattr(machine, kind)(crm_sync)
    before = copy.deepcopy(journey)

    with pytest.raises(HookError) as info:
        machine.fire(journey, trigger, payload, event_id="e-2")

    err = info.value
    message = str(err)
    assert err.hook.endswith("crm_sync") and "crm_sync" in message
    assert "LookupError: customer not in CRM" in message
    assert "journey 'c-42'" in message and f"{trigger!r}" in message
    assert "unchanged" in message  # says the journey is as before: safe to retry
    assert err.__cause__ is cause
    assert (err.key, err.stage, err.trigger) == ("c-42", "cart", trigger)
    if kind not in ("on_blocked", "on_ignored"):
        assert journey == before


def test_on_ignored_hook_failure_leaves_journey_unchanged(
    machine: JourneyMachine, journey: Journey
) -> None:
    machine.on_ignored(lambda ctx, outcome: 1 / 0)
    before = copy.deepcopy(journey)
    with pytest.raises(HookError, match="ZeroDivisionError"):
        machine.fire(journey, "come_back")
    assert journey == before


def test_definition_error_lists_every_problem_with_fixes() -> None:
    b = (
        JourneyBuilder("broken")
        .stage("a", initial=True)
        .stage("b")
        .stage("z", final=True)
        .transition("go", "a", "z")
    )
    with pytest.raises(DefinitionError) as info:
        b.build()
    assert len(info.value.problems) == 2  # unreachable and dead end, together
    text = str(info.value)
    assert "add a transition into it or remove it" in text
    assert "mark it final=True or add a transition out of it" in text


def test_errors_carry_structured_fields(machine: JourneyMachine, journey: Journey) -> None:
    with pytest.raises(JourneyError) as info:
        machine.fire(journey, "come_back", policy="strict")
    assert (info.value.key, info.value.stage, info.value.trigger) == ("c-42", "cart", "come_back")
    assert info.value.message == str(info.value)


def test_bad_machine_arguments(machine: JourneyMachine) -> None:
    with pytest.raises(TypeError, match="takes a JourneyDefinition"):
        JourneyMachine("checkout")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"event_id_window must be an int >= 1 .*got 0"):
        JourneyMachine(machine.definition, event_id_window=0)


def test_every_error_survives_pickling_with_its_attributes() -> None:
    # errors cross processes (Dask and Spark workers, multiprocessing, task queues); the
    # subclasses take keyword-only arguments, which the default unpickling cannot pass
    import pickle

    from journeyfsm import (
        ConcurrencyConflict,
        DataError,
        DefinitionError,
        GuardError,
        HookError,
        InvalidTransition,
        JourneyError,
        SnapshotVersionError,
        StoreError,
        UnknownTrigger,
    )
    from journeyfsm._errors import Problem

    errors: list[JourneyError] = [
        JourneyError("plain", key="c1", stage="a", trigger="go"),
        DefinitionError([Problem("stage 'a' twice", stage="a")], name="shop"),
        UnknownTrigger("chekout", definition="shop", known=["checkout"], suggestions=["checkout"]),
        InvalidTransition(
            key="c1", stage="paid", trigger="add", allowed=[], reason="re-entry refused"
        ),
        GuardError("guard 'g' raised", guard="g", key="c1"),
        HookError("hook 'h' failed", hook="h", key="c1", stage="a", trigger="go"),
        DataError("data['x'] is not JSON", path="data['x']", key="c1"),
        SnapshotVersionError(
            "version 1, machine 2",
            key="c1",
            definition="shop",
            snapshot_version=1,
            machine_version=2,
        ),
        ConcurrencyConflict("lost the race", key="c1"),
        StoreError("row corrupted", table="journeys", key="c1"),
    ]
    for err in errors:
        back = pickle.loads(pickle.dumps(err))
        assert type(back) is type(err)
        assert str(back) == str(err) and back.args == err.args
        assert vars(back) == vars(err)
