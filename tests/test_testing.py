"""journeyfsm.testing: rule assertions, the table check, the Recorder, the clock, extras.

The checkout definition (tests/conftest.py) has two guarded candidates for
cart --checkout--> (express needs ``cart_not_empty & is_vip``, checkout needs
``cart_not_empty``), a payload-typed guard on ``pay`` and an internal ``note``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import io
import re
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import pytest
from conftest import quiet_logger

import journeyfsm
from journeyfsm import (
    AsyncJourneyMachine,
    HookError,
    Journey,
    JourneyBuilder,
    JourneyDefinition,
    JourneyMachine,
    ManualClock,
    UnknownTrigger,
    guard,
)
from journeyfsm import testing as jt
from journeyfsm._callables import is_async_callable
from journeyfsm.testing import (
    Recorder,
    Row,
    assert_blocked,
    assert_ignored,
    assert_moves,
    check_table,
)

pytest_plugins = ["pytester"]

DOCS = Path(__file__).resolve().parent.parent / "docs" / "testing.md"


# -- assert_moves / assert_blocked / assert_ignored ---------------------------------
def test_assert_moves_returns_the_outcome(checkout_definition: JourneyDefinition) -> None:
    outcome = assert_moves(checkout_definition, "cart", "checkout", "checkout", data={"cart": [1]})
    assert (outcome.status, outcome.source, outcome.dest) == ("moved", "cart", "checkout")


def test_assert_moves_failure_shows_stage_trigger_guards_and_alternatives(
    checkout_definition: JourneyDefinition,
) -> None:
    with pytest.raises(AssertionError) as info:
        assert_moves(checkout_definition, "cart", "checkout", "express", data={"cart": [1]})
    message = str(info.value)
    assert message.splitlines()[0] == (
        "expected 'checkout' from stage 'cart' to move to 'express', but it moved to 'checkout'"
    )
    assert "journey data: {'cart': [1]}" in message
    assert "1. -> 'express' [FAIL]" in message
    assert "FAIL (cart_not_empty & is_vip)" in message
    assert "ok   cart_not_empty: the cart holds at least one item" in message
    assert "FAIL is_vip: the customer is a VIP" in message
    assert "2. -> 'checkout' [PASS]" in message
    assert (
        "allowed from 'cart': add_to_cart -> 'cart', checkout -> 'express' | 'checkout', "
        "note -> (internal), abandon -> 'abandoned'"
    ) in message


def test_assert_moves_passes_payload_to_guards(checkout_definition: JourneyDefinition) -> None:
    assert_moves(checkout_definition, "checkout", "pay", "paid", {"paid": True})
    with pytest.raises(AssertionError, match="but it was blocked by payment_ok"):
        assert_moves(checkout_definition, "checkout", "pay", "paid", {"paid": False})


def test_assert_moves_on_an_internal_transition_stays(
    checkout_definition: JourneyDefinition,
) -> None:
    outcome = assert_moves(checkout_definition, "cart", "note", "cart")
    assert outcome.entry is not None and outcome.entry.dest == "cart"


def test_assert_moves_with_a_machine_runs_its_hooks(machine: JourneyMachine) -> None:
    entered: list[str] = []
    machine.on_enter("express", lambda ctx: entered.append(ctx.journey.key))
    assert_moves(machine, "cart", "checkout", "express", data={"cart": [1], "vip": True})
    assert entered == ["test-journey"]


def test_assert_moves_reports_a_hook_veto_as_the_hook_error(machine: JourneyMachine) -> None:
    def refuse(ctx: Any) -> None:
        raise RuntimeError("no express today")

    machine.on_enter("express", refuse)
    with pytest.raises(HookError, match="refuse"):
        assert_moves(machine, "cart", "checkout", "express", data={"cart": [1], "vip": True})


def test_unknown_stage_or_trigger_is_a_clear_error(checkout_definition: JourneyDefinition) -> None:
    with pytest.raises(KeyError, match="did you mean 'cart'"):
        assert_moves(checkout_definition, "crt", "checkout", "checkout")
    with pytest.raises(UnknownTrigger, match="checkout"):
        assert_moves(checkout_definition, "cart", "checkuot", "checkout")


def test_assert_blocked_by_leaf_and_composite_names(
    checkout_definition: JourneyDefinition,
) -> None:
    outcome = assert_blocked(checkout_definition, "cart", "checkout", by="cart_not_empty")
    assert outcome.blocked
    assert_blocked(checkout_definition, "cart", "checkout", by="(cart_not_empty & is_vip)")
    assert_blocked(checkout_definition, "cart", "checkout")
    assert_blocked(checkout_definition, "cart", "checkout", by=["cart_not_empty"])


def test_assert_blocked_by_a_guard_that_was_not_evaluated_fails_and_says_so(
    checkout_definition: JourneyDefinition,
) -> None:
    # an empty cart fails `cart_not_empty` first: `is_vip` is never run, so it blocked nothing
    with pytest.raises(AssertionError) as info:
        assert_blocked(checkout_definition, "cart", "checkout", by="is_vip")
    message = str(info.value)
    assert message.splitlines()[0] == (
        "expected 'checkout' from stage 'cart' to be blocked by 'is_vip', "
        "but it was blocked by cart_not_empty"
    )
    assert "           -    is_vip: the customer is a VIP (not evaluated)" in message.splitlines()


def test_assert_blocked_fails_naming_what_really_failed(
    checkout_definition: JourneyDefinition,
) -> None:
    with pytest.raises(AssertionError) as info:
        assert_blocked(checkout_definition, "cart", "checkout", by="payment_ok")
    assert str(info.value).startswith(
        "expected 'checkout' from stage 'cart' to be blocked by 'payment_ok', "
        "but it was blocked by cart_not_empty"
    )
    with pytest.raises(AssertionError, match="but it moved to 'checkout'"):
        assert_blocked(checkout_definition, "cart", "checkout", data={"cart": [1]})


def test_assert_ignored(checkout_definition: JourneyDefinition) -> None:
    assert assert_ignored(checkout_definition, "browsing", "pay").ignored
    with pytest.raises(AssertionError) as info:
        assert_ignored(checkout_definition, "browsing", "add_to_cart")
    assert str(info.value).startswith(
        "expected 'add_to_cart' from stage 'browsing' to be ignored, but it moved to 'cart'"
    )


def test_assertions_ignore_a_strict_policy(checkout_definition: JourneyDefinition) -> None:
    strict = checkout_definition.builder()
    strict.policy = "strict"
    assert assert_ignored(strict.build(), "browsing", "pay").ignored


# -- check_table ----------------------------------------------------------------------
def test_check_table_passes_and_returns_outcomes(checkout_definition: JourneyDefinition) -> None:
    outcomes = check_table(
        checkout_definition,
        [
            ("browsing", "add_to_cart", "cart"),
            ("cart", "checkout", "blocked by cart_not_empty, (cart_not_empty & is_vip)"),
            Row("cart", "checkout", "express", data={"cart": [1], "vip": True}),
            ("checkout", "pay", {"paid": True}, "paid"),
            ("checkout", "pay", {"paid": False}, "blocked"),
            ("paid", "pay", "ignored"),
        ],
    )
    assert [o.status for o in outcomes] == [
        "moved",
        "blocked",
        "moved",
        "moved",
        "blocked",
        "ignored",
    ]


def test_check_table_reports_every_mismatching_row_at_once(
    checkout_definition: JourneyDefinition,
) -> None:
    with pytest.raises(AssertionError) as info:
        check_table(
            checkout_definition,
            [
                ("browsing", "add_to_cart", "cart"),  # fine
                ("cart", "checkout", "express"),  # blocked: empty cart
                ("cart", "checkout", "checkout"),  # fine with the table's data
                ("cart", "abandon", "abandonned"),  # typo in the expectation
                ("cart", "chekout", "checkout"),  # typo in the trigger
                ("cart", "checkout", "blocked by is_vip"),  # moves: not blocked
                ("cart",),  # malformed
            ],
            data={"cart": [1]},
        )
    message = str(info.value)
    assert message.startswith(
        "5 of 7 rows of the transition table for 'checkout' (version 3) do not hold:"
    )
    assert re.findall(r"^row (\d+):", message, re.M) == ["2", "4", "5", "6", "7"]
    assert "but it moved to 'checkout'" in message
    assert "did you mean 'abandoned'" in message
    assert "UnknownTrigger" in message
    assert "a table row is (source, trigger, expected)" in message


# -- Recorder --------------------------------------------------------------------------
def _hooked(machine: JourneyMachine) -> JourneyMachine:
    def before_any(ctx: Any) -> None: ...
    def leave_cart(ctx: Any) -> None: ...
    def enter_checkout(ctx: Any) -> None: ...
    def on_checkout(ctx: Any) -> None: ...
    def after_any(ctx: Any) -> None: ...
    def was_blocked(ctx: Any, outcome: Any) -> None: ...
    def was_ignored(ctx: Any, outcome: Any) -> None: ...
    def remind(call: Any) -> None: ...

    machine.before(before_any)
    machine.on_exit("cart", leave_cart)
    machine.on_enter("checkout", enter_checkout)
    machine.on_transition("checkout", on_checkout)
    machine.after(after_any)
    machine.on_blocked(was_blocked)
    machine.on_ignored(was_ignored)
    machine.effect(remind, on_enter="checkout", name="send_reminder")
    return machine


def test_recorder_records_hooks_and_effects_in_semantic_order(machine: JourneyMachine) -> None:
    recorder = Recorder().attach(_hooked(machine))
    journey = machine.start("c-1", {"cart": [1]})
    machine.fire(journey, "add_to_cart")
    recorder.clear()
    machine.fire(journey, "checkout", meta={"channel": "web"})
    assert recorder.names() == [
        "before_any",
        "leave_cart",
        "enter_checkout",
        "on_checkout",
        "after_any",
        "send_reminder",
    ]
    assert [c.kind for c in recorder.calls] == [
        "before",
        "on_exit",
        "on_enter",
        "on_transition",
        "after",
        "effect",
    ]
    enter = recorder.calls_to("enter_checkout")[0]
    assert (enter.where, enter.key, enter.trigger, enter.source, enter.dest) == (
        "checkout",
        "c-1",
        "checkout",
        "cart",
        "checkout",
    )
    assert enter.args[0].meta == {"channel": "web"}
    effect = recorder.calls_to("send_reminder")[0]
    assert effect.args[0].idempotency_key == "checkout:c-1:2:send_reminder"
    recorder.assert_called_in_order("before_any", "enter_checkout", "send_reminder")


def test_recorder_records_blocked_and_ignored_hooks(machine: JourneyMachine) -> None:
    recorder = Recorder().attach(_hooked(machine))
    journey = Journey("c-2", "cart")
    machine.fire(journey, "checkout")
    machine.fire(journey, "pay")
    assert [(c.kind, c.name) for c in recorder.calls] == [
        ("on_blocked", "was_blocked"),
        ("on_ignored", "was_ignored"),
    ]
    # is_vip, after the failing cart_not_empty, was not evaluated: it is no failed guard
    assert recorder.calls[0].args[1].failed_guards == ("cart_not_empty",)


def test_recorder_assertions_fail_with_the_calls(machine: JourneyMachine) -> None:
    recorder = Recorder().attach(_hooked(machine))
    machine.fire(machine.start("c-3"), "add_to_cart")
    recorder.assert_called("before_any", times=1)
    recorder.assert_not_called("send_reminder")
    with pytest.raises(AssertionError, match=r"'send_reminder' to be called at least once"):
        recorder.assert_called("send_reminder")
    with pytest.raises(AssertionError, match=r"called 1 time\(s\)"):
        recorder.assert_called("before_any", times=2)
    with pytest.raises(AssertionError, match="'before_any' not to be called"):
        recorder.assert_not_called("before_any")
    with pytest.raises(AssertionError, match=r"'before_any' was not called after"):
        recorder.assert_called_in_order("after_any", "before_any")


def test_recorder_detach_restores_the_hooks_and_stops_recording(machine: JourneyMachine) -> None:
    _hooked(machine)
    before = machine._hooks.before
    with Recorder().attach(machine) as recorder:
        recorder.attach(machine)  # attaching twice does not record twice
        machine.fire(machine.start("c-4"), "add_to_cart")
        assert recorder.names() == ["before_any", "after_any"]
    assert machine._hooks.before == before
    machine.fire(machine.start("c-5"), "add_to_cart")
    assert len(recorder.calls) == 2


def test_recorded_hook_failure_still_names_the_hook(machine: JourneyMachine) -> None:
    def refuse_cart(ctx: Any) -> None:
        raise RuntimeError("closed")

    machine.on_enter("cart", refuse_cart)
    recorder = Recorder().attach(machine)
    journey = machine.start("c-6")
    with pytest.raises(HookError, match="refuse_cart"):
        machine.fire(journey, "add_to_cart")
    assert journey.stage == "browsing"
    assert recorder.names() == ["refuse_cart"]


def test_before_and_exit_hooks_see_the_destination(machine: JourneyMachine) -> None:
    recorder = Recorder().attach(_hooked(machine))
    machine.fire(Journey("c", "cart"), "abandon")
    assert [(c.name, c.dest) for c in recorder.calls[:2]] == [
        ("before_any", "abandoned"),
        ("leave_cart", "abandoned"),
    ]


# -- the rest of the public module -----------------------------------------------------
def test_manual_clock_is_the_library_clock() -> None:
    assert jt.ManualClock is journeyfsm.ManualClock


def test_all_names_are_documented_and_exist() -> None:
    guide = DOCS.read_text()
    for name in jt.__all__:
        assert hasattr(jt, name), name
        assert name in guide, f"docs/testing.md does not mention {name}"


def test_testing_imports_without_hypothesis_and_strategies_name_the_extra() -> None:
    code = (
        "import sys; sys.modules['hypothesis'] = None\n"
        "import journeyfsm.testing as t\n"
        "try:\n"
        "    t.definitions()\n"
        "except ImportError as err:\n"
        "    print(err)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert "pip install 'journeyfsm[test]'" in done.stdout


FENCE = re.compile(r"^```(\w*)\n(.*?)^```\n", re.S | re.M)


def _blocks() -> list[tuple[str, str]]:
    return [(m[1], m[2]) for m in FENCE.finditer(DOCS.read_text())]


def _python_blocks(pytest_modules: bool) -> list[str]:
    """The ```python blocks of the guide; those whose first line is ``# test_...`` are
    whole pytest modules (they use the plugin's fixtures), the others run in order."""
    return [
        code
        for lang, code in _blocks()
        if lang == "python" and code.startswith("# test_") == pytest_modules
    ]


def test_docs_guide_code_runs_and_prints_what_it_shows() -> None:
    """The python blocks run in order in one namespace; an ```output block right after
    one is what it must print; then every test function they define is called."""
    namespace: dict[str, Any] = {"__name__": "docs_testing"}
    found = _blocks()
    text = DOCS.read_text()
    checked = 0
    for i, (lang, code) in enumerate(found):
        if lang != "python" or code.startswith("# test_"):
            continue
        # compiled at the block's own lines: hypothesis reads a test's source back, and on
        # Python 3.12+ tokenizing the Markdown at the wrong lines raises
        padding = "\n" * text.count("\n", 0, text.index(code))
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(compile(padding + code, str(DOCS), "exec"), namespace)
        if i + 1 < len(found) and found[i + 1][0] == "output":
            assert out.getvalue() == found[i + 1][1]
            checked += 1
    assert checked >= 1
    tests = [fn for name, fn in namespace.items() if name.startswith("test_") and callable(fn)]
    assert len(tests) > 10
    for fn in tests:
        fn()


def test_docs_guide_pytest_modules_pass(pytester: pytest.Pytester) -> None:
    blocks = _python_blocks(pytest_modules=True)
    assert blocks
    for i, block in enumerate(blocks):
        pytester.makepyfile(**{f"test_guide_{i}": block})
    result = pytester.runpytest("-p", "no:cacheprovider", "-p", "no:hypothesispytest")
    result.assert_outcomes(passed=len(re.findall(r"^def test_", "".join(blocks), re.M)))


def test_recorder_names_callables_without_a_name(machine: JourneyMachine) -> None:
    seen: list[str] = []
    hook = functools.partial(lambda tag, ctx: seen.append(tag), "partial-hook")
    machine.before(hook)
    recorder = Recorder().attach(machine)
    machine.fire(machine.start("c-7"), "add_to_cart")
    assert seen == ["partial-hook"]
    assert recorder.names() == [repr(hook)]


# -- AsyncJourneyMachine targets (issue 17) --------------------------------------------
def _machine_of(kind: str, definition: JourneyDefinition) -> Any:
    cls = AsyncJourneyMachine if kind == "async" else JourneyMachine
    return cls(definition, clock=ManualClock(), logger=quiet_logger())


def _failure(check: Any, *args: Any, **kwargs: Any) -> str:
    with pytest.raises(AssertionError) as info:
        check(*args, **kwargs)
    return str(info.value)


FAILING_CHECKS: list[tuple[Any, tuple[Any, ...], dict[str, Any]]] = [
    (assert_moves, ("cart", "checkout", "express"), {"data": {"cart": [1]}}),
    (assert_blocked, ("cart", "checkout", "is_vip"), {"data": {}}),
    (assert_ignored, ("cart", "checkout"), {"data": {"cart": [1]}}),
    (check_table, ([("cart", "checkout", "express"), ("cart", "chekout", "x")],), {}),
]


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_helpers_pass_on_both_machines(kind: str, checkout_definition: JourneyDefinition) -> None:
    m = _machine_of(kind, checkout_definition)
    assert assert_moves(m, "cart", "checkout", "checkout", data={"cart": [1]}).moved
    assert assert_blocked(m, "cart", "checkout", by="cart_not_empty").blocked
    assert assert_ignored(m, "browsing", "pay").ignored
    outcomes = check_table(m, [("browsing", "add_to_cart", "cart"), ("paid", "pay", "ignored")])
    assert [o.status for o in outcomes] == ["moved", "ignored"]


@pytest.mark.parametrize(("check", "args", "kwargs"), FAILING_CHECKS)
def test_helpers_fail_on_an_async_machine_exactly_as_on_a_sync_one(
    check: Any,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    checkout_definition: JourneyDefinition,
) -> None:
    sync = _failure(check, _machine_of("sync", checkout_definition), *args, **kwargs)
    assert _failure(check, _machine_of("async", checkout_definition), *args, **kwargs) == sync
    twin = getattr(jt, f"{check.__name__}_async")

    async def awaited() -> None:
        await twin(_machine_of("async", checkout_definition), *args, **kwargs)

    assert _failure(asyncio.run, awaited()) == sync


def _async_guarded() -> JourneyDefinition:
    @guard
    async def has_items(ctx: Any) -> bool:
        """the cart holds items"""
        await asyncio.sleep(0)
        return bool(ctx.journey.data.get("items"))

    return (
        JourneyBuilder("tiny-shop")
        .stage("cart", initial=True)
        .stage("paid", final=True)
        .transition("pay", "cart", "paid", guards=[has_items])
        .build()
    )


def test_helpers_await_async_guards_and_hooks_from_a_sync_test() -> None:
    m = _machine_of("async", _async_guarded())
    entered: list[str] = []

    @m.on_enter("paid")
    async def mark_paid(ctx: Any) -> None:
        await asyncio.sleep(0)
        entered.append(ctx.journey.key)

    assert assert_moves(m, "cart", "pay", "paid", data={"items": [1]}).moved
    assert entered == ["test-journey"]
    message = _failure(assert_moves, m, "cart", "pay", "paid", data={})
    assert "but it was blocked by has_items" in message
    assert "FAIL has_items: the cart holds items" in message
    check_table(m, [jt.Row("cart", "pay", "blocked by has_items", data={"items": []})])


@pytest.mark.parametrize(("check", "args", "kwargs"), FAILING_CHECKS)
def test_sync_helpers_in_a_running_loop_name_the_awaitable_twin(
    check: Any,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    checkout_definition: JourneyDefinition,
) -> None:
    m = _machine_of("async", checkout_definition)
    journeys_before = dict(vars(m))

    async def inside() -> None:
        check(m, *args, **kwargs)

    name = check.__name__
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "coroutine was never awaited"
        with pytest.raises(RuntimeError, match=rf"use 'await {name}_async\(\.\.\.\)' there"):
            asyncio.run(inside())
    assert vars(m) == journeys_before


def test_awaitable_twins_take_any_target(checkout_definition: JourneyDefinition) -> None:
    async def main() -> list[str]:
        return [
            (
                await jt.assert_moves_async(checkout_definition, "browsing", "add_to_cart", "cart")
            ).status,
            (
                await jt.assert_ignored_async(
                    _machine_of("sync", checkout_definition), "paid", "pay"
                )
            ).status,
            (await jt.assert_blocked_async(checkout_definition, "cart", "checkout")).status,
            *[
                o.status
                for o in await jt.check_table_async(
                    checkout_definition, [("cart", "checkout", "checkout")], data={"cart": [1]}
                )
            ],
        ]

    assert asyncio.run(main()) == ["moved", "ignored", "blocked", "moved"]


def test_recorder_records_async_and_sync_hooks_and_effects_in_order(
    checkout_definition: JourneyDefinition,
) -> None:
    m = _machine_of("async", checkout_definition)

    @m.before
    async def before_any(ctx: Any) -> None:
        await asyncio.sleep(0)

    @m.on_exit("cart")
    def leave_cart(ctx: Any) -> None: ...

    @m.on_enter("checkout")
    async def enter_checkout(ctx: Any) -> None:
        await asyncio.sleep(0)

    @m.after
    def after_any(ctx: Any) -> None: ...

    @m.effect(on_enter="checkout")
    async def remind(call: Any) -> None:
        await asyncio.sleep(0)

    @m.effect(on_enter="checkout")
    def log_it(call: Any) -> None: ...

    before = m._hooks.before
    recorder = Recorder().attach(m)
    effects = dict(m._hooks.effects)
    assert is_async_callable(effects["remind"].fn)  # still awaited by the machine
    journey = Journey("c-1", "cart", {"cart": [1]})
    outcome = asyncio.run(m.fire(journey, "checkout"))
    assert [r.ok for r in outcome.effects] == [True, True]
    assert [(c.kind, c.name) for c in recorder.calls] == [
        ("before", "before_any"),
        ("on_exit", "leave_cart"),
        ("on_enter", "enter_checkout"),
        ("after", "after_any"),
        ("effect", "remind"),
        ("effect", "log_it"),
    ]
    assert recorder.calls_to("remind")[0].args[0].idempotency_key == "checkout:c-1:1:remind"
    recorder.detach()
    assert m._hooks.before == before
    asyncio.run(m.fire(Journey("c-2", "cart", {"cart": [1]}), "checkout"))
    assert len(recorder.calls) == 6


def test_recorder_attach_refuses_what_is_no_machine(checkout_definition: JourneyDefinition) -> None:
    with pytest.raises(TypeError, match="expects a JourneyMachine or an AsyncJourneyMachine"):
        Recorder().attach(checkout_definition)  # type: ignore[arg-type]
