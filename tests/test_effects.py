"""Effects: stable, unique idempotency keys; deferred effects for hosts that commit first;
no async callables on the sync machine (issue 7, point 4; DESIGN Semantics 12)."""

from __future__ import annotations

import functools
import json
import pickle
import subprocess
import sys
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from journeyfsm import (
    Context,
    EffectCall,
    JourneyBuilder,
    JourneyMachine,
    guard,
)
from journeyfsm._outcome import idempotency_key


def test_keys_differ_across_definitions_for_the_same_journey_move_and_effect(
    make_machine: Any,
) -> None:
    keys = []
    for name in ("shop", "newsletter"):
        d = (
            JourneyBuilder(name)
            .stage("a", initial=True)
            .stage("b", final=True)
            .transition("go", "a", "b")
            .build()
        )
        machine = make_machine(d)
        machine.effect(lambda call: None, on_enter="b", name="email")
        outcome = machine.fire(machine.start("c-1"), "go", defer_effects=True)
        keys.append(outcome.pending_effects[0].idempotency_key)
    assert keys == ["shop:c-1:1:email", "newsletter:c-1:1:email"]


@settings(max_examples=300, deadline=None)
@given(
    a=st.tuples(
        st.text(min_size=1), st.text(min_size=1), st.integers(1, 10**6), st.text(min_size=1)
    ),
    b=st.tuples(
        st.text(min_size=1), st.text(min_size=1), st.integers(1, 10**6), st.text(min_size=1)
    ),
)
def test_no_two_distinct_moves_share_a_key(a: Any, b: Any) -> None:
    if a != b:
        assert idempotency_key(*a) != idempotency_key(*b)
    else:
        assert idempotency_key(*a) == idempotency_key(*b)


def test_separators_in_names_are_escaped() -> None:
    # without escaping, these two would both read "d:a:1:2:x"
    assert idempotency_key("d", "a:1", 2, "x") == "d:a%3A1:2:x"
    assert idempotency_key("d", "a", 1, "2:x") == "d:a:1:2%3Ax"
    assert idempotency_key("d%3A", "k", 1, "e") == "d%253A:k:1:e"


def test_keys_are_stable_across_processes() -> None:
    code = (
        "from journeyfsm import JourneyMachine, templates\n"
        "m = JourneyMachine(templates.aida())\n"
        "class Mailer:\n"
        "    def send(self, call): pass\n"
        "m.effect(Mailer().send, on_enter='interest')\n"
        "o = m.fire(m.start('c-1'), 'engage', defer_effects=True)\n"
        "print(o.pending_effects[0].idempotency_key)\n"
    )
    runs = {
        subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        ).stdout
        for _ in range(2)
    }
    assert runs == {"aida:c-1:1:send\n"}


def test_duplicate_effect_names_are_refused(machine: JourneyMachine) -> None:
    class Mailer:
        def send(self, call: Any) -> None: ...

    machine.effect(Mailer().send, on_enter="cart")
    with pytest.raises(ValueError, match="effect named 'send' is already registered"):
        machine.effect(Mailer().send, on_enter="paid")  # another instance, same __name__
    machine.effect(Mailer().send, on_enter="paid", name="send_paid")  # named apart: fine


@pytest.mark.parametrize(
    "fn",
    [
        lambda call: None,
        functools.partial(print, "x"),
    ],
    ids=["lambda", "partial"],
)
def test_effects_without_a_stable_name_need_one(machine: JourneyMachine, fn: Any) -> None:
    with pytest.raises(ValueError, match="has no stable name"):
        machine.effect(fn, on_enter="cart")
    machine.effect(fn, on_enter="cart", name="stable")
    assert "stable" in machine._hooks.effects


def test_deferred_effects_run_only_when_the_host_says(machine: JourneyMachine) -> None:
    sent: list[EffectCall] = []

    @machine.effect(on_enter="cart")
    def remind(call: EffectCall) -> None:
        sent.append(call)

    machine.on_enter("cart", lambda ctx: ctx.journey.data.update(email="ann@example.com"))
    journey = machine.start("c-1")
    outcome = machine.fire(journey, "add_to_cart", defer_effects=True)
    assert outcome.moved and sent == [] and outcome.effects == ()
    (call,) = outcome.pending_effects
    assert call.data == {"email": "ann@example.com"}  # the data right after the move
    # the host saves the journey, commits, then:
    reports = machine.run_effects(outcome.pending_effects)
    assert [r.ok for r in reports] == [True] and sent == [call]


def test_immediate_effects_still_run_inside_fire(machine: JourneyMachine) -> None:
    sent: list[str] = []
    machine.effect(lambda call: sent.append(call.key), on_enter="cart", name="remind")
    outcome = machine.fire(machine.start("c-1"), "add_to_cart")
    assert sent == ["c-1"] and outcome.pending_effects == ()
    assert [(r.name, r.ok) for r in outcome.effects] == [("remind", True)]


def test_effect_data_is_a_read_only_json_copy(machine: JourneyMachine) -> None:
    machine.effect(lambda call: None, on_enter="cart", name="remind")
    journey = machine.start("c-1", {"cart": ["mug"], "profile": {"tier": "gold"}})
    (call,) = machine.fire(journey, "add_to_cart", defer_effects=True).pending_effects
    with pytest.raises(TypeError, match="read-only"):
        call.data["cart"].append("x")  # type: ignore[attr-defined]
    with pytest.raises(TypeError, match="read-only"):
        call.data["profile"]["tier"] = "x"  # type: ignore[index]
    journey.data["cart"].append("spoon")  # later changes do not reach the call
    assert call.data == {"cart": ["mug"], "profile": {"tier": "gold"}}
    assert json.loads(json.dumps(call.to_dict()))["data"] == call.data
    assert pickle.loads(pickle.dumps(call)) == call


def test_run_effects_refuses_a_call_it_has_no_effect_for(
    machine: JourneyMachine, make_machine: Any
) -> None:
    machine.effect(lambda call: None, on_enter="cart", name="remind")
    (call,) = machine.fire(machine.start("c-1"), "add_to_cart", defer_effects=True).pending_effects
    with pytest.raises(LookupError, match="no effect named 'remind'"):
        make_machine().run_effects([call])


async def _async_hook(ctx: Context) -> None: ...


class _AsyncCallable:
    __name__ = "async_callable"

    async def __call__(self, ctx: Context) -> None: ...


@pytest.mark.parametrize("fn", [_async_hook, _AsyncCallable()], ids=["def", "callable"])
def test_async_hooks_and_effects_are_refused_at_registration(
    machine: JourneyMachine, fn: Any
) -> None:
    for register in (
        lambda: machine.before(fn),
        lambda: machine.after(fn),
        lambda: machine.on_enter("cart", fn),
        lambda: machine.on_exit("cart", fn),
        lambda: machine.on_transition("pay", fn),
        lambda: machine.on_blocked(fn),
        lambda: machine.on_ignored(fn),
        lambda: machine.effect(fn, on_enter="cart", name="x"),
    ):
        with pytest.raises(TypeError, match=r"is an async function.*AsyncJourneyMachine"):
            register()
    assert machine._hooks.before == () and machine._hooks.effects == {}


@pytest.mark.parametrize("fn", [_async_hook, _AsyncCallable()], ids=["def", "callable"])
def test_a_definition_with_an_async_guard_is_refused_by_the_sync_machine(
    make_machine: Any, fn: Any
) -> None:
    # issue 17 moved this refusal: guard(async_fn) is a valid guard now (AsyncJourneyMachine
    # awaits it); the sync machine refuses the definition holding it, naming the guard
    g = guard(fn, name="g")
    definition = (
        JourneyBuilder("d")
        .stage("a", initial=True)
        .stage("b", final=True)
        .transition("go", "a", "b", guards=[~g])
        .build()
    )
    with pytest.raises(TypeError, match=r"guard 'g' is an async function.*AsyncJourneyMachine"):
        make_machine(definition)
