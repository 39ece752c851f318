"""Guards: naming, descriptions, composition, evaluate vs check, faults."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest

from journeyfsm import Context, GuardError, GuardResult, Journey, guard


def ctx(payload: Any = None, **data: Any) -> Context:
    return Context(
        Journey("k-1", "cart", dict(data)),
        "checkout",
        payload,
        datetime(2026, 1, 1, tzinfo=timezone.utc),
        "cart",
    )


def recording(name: str, result: Any, calls: list[str], description: str = "") -> Any:
    def fn(c: Context) -> Any:
        calls.append(name)
        return result

    return guard(fn, name=name, description=description or f"{name} holds")


# -- making guards ------------------------------------------------------------------------
def test_guard_decorator_names_and_describes_from_the_function() -> None:
    @guard
    def cart_not_empty(c: Context) -> bool:
        """the cart holds at least one item

        More text that is not part of the description.
        """
        return bool(c.journey.data.get("cart"))

    assert cart_not_empty.name == "cart_not_empty"
    assert cart_not_empty.description == "the cart holds at least one item"
    assert repr(cart_not_empty) == "<guard cart_not_empty>"
    assert cart_not_empty.check(ctx(cart=[1])) is True
    assert cart_not_empty.check(ctx()) is False


def test_guard_call_form_with_name_and_description() -> None:
    g = guard(lambda c: True, name="always", description="always passes")
    assert (g.name, g.description) == ("always", "always passes")

    @guard(name="renamed", description="explicit")
    def whatever(c: Context) -> bool:
        """docstring loses to description="""
        return True

    assert (whatever.name, whatever.description) == ("renamed", "explicit")


def test_guard_without_docstring_has_empty_description() -> None:
    @guard
    def bare(c: Context) -> bool:
        return True

    assert bare.description == ""


def test_guard_needs_a_name_for_lambdas_and_a_callable() -> None:
    with pytest.raises(ValueError, match="name="):
        guard(lambda c: True)
    with pytest.raises(TypeError, match="callable"):
        guard(42)  # type: ignore[call-overload]


# -- composition -----------------------------------------------------------------------------
def test_composite_names_read_like_the_expression() -> None:
    a = guard(lambda c: True, name="a")
    b = guard(lambda c: True, name="b")
    c = guard(lambda c: True, name="c")

    assert (a & ~b).name == "(a & ~b)"
    assert (a | b).name == "(a | b)"
    assert (~(a & b)).name == "~(a & b)"
    assert ((a & b) | c).name == "((a & b) | c)"
    assert repr(a & ~b) == "<guard (a & ~b)>"


def test_composite_descriptions_combine_the_parts() -> None:
    a = guard(lambda c: True, name="a", description="cart not empty")
    b = guard(lambda c: True, name="b", description="customer blocked")
    c = guard(lambda c: True, name="c")  # no description: its name stands in

    assert (a & ~b).description == "cart not empty and not (customer blocked)"
    assert (a | c).description == "cart not empty or c"


def test_composite_logic() -> None:
    t = guard(lambda c: True, name="t")
    f = guard(lambda c: False, name="f")
    cases = {
        t & t: True,
        t & f: False,
        f | t: True,
        f | f: False,
        ~f: True,
        ~t: False,
        ~(t & f) & (f | t): True,
    }
    for g, expected in cases.items():
        assert g.check(ctx()) is expected, g.name
        assert g.evaluate(ctx()).passed is expected, g.name


def test_check_short_circuits_evaluate_does_not() -> None:
    calls: list[str] = []
    f = recording("f", False, calls)
    t = recording("t", True, calls)

    assert (f & t).check(ctx()) is False
    assert calls == ["f"]
    calls.clear()
    assert (t | f).check(ctx()) is True
    assert calls == ["t"]
    calls.clear()

    assert (f & t).evaluate(ctx()).passed is False
    assert calls == ["f", "t"]
    calls.clear()
    assert (t | f).evaluate(ctx()).passed is True
    assert calls == ["t", "f"]


def test_evaluate_returns_the_result_tree() -> None:
    calls: list[str] = []
    a = recording("a", True, calls, "A")
    b = recording("b", True, calls, "B")
    result = (a & ~b).evaluate(ctx())

    assert result == GuardResult(
        "(a & ~b)",
        "A and not (B)",
        False,
        (
            GuardResult("a", "A", True),
            GuardResult("~b", "not (B)", False, (GuardResult("b", "B", True),)),
        ),
    )


def test_guard_result_failing_lists_failing_leaves() -> None:
    calls: list[str] = []
    a = recording("a", False, calls)
    b = recording("b", False, calls)
    c = recording("c", True, calls)

    assert [r.name for r in (a & b & c).evaluate(ctx()).failing()] == ["a", "b"]
    assert (c | a).evaluate(ctx()).failing() == []
    # a failing negation reports itself: nothing below it failed
    assert [r.name for r in (~c).evaluate(ctx()).failing()] == ["~c"]
    assert [r.name for r in (a | b).evaluate(ctx()).failing()] == ["a", "b"]
    leaf = a.evaluate(ctx())
    assert leaf.failing() == [leaf]


def test_to_ref_and_leaves() -> None:
    a = guard(lambda c: True, name="a")
    b = guard(lambda c: True, name="b")
    g = ~(a | b) & a
    assert g.to_ref() == {"all": [{"not": {"any": ["a", "b"]}}, "a"]}
    assert [leaf.name for leaf in g.leaves()] == ["a", "b", "a"]


# -- faults ------------------------------------------------------------------------------------
def test_non_bool_result_is_a_guard_error_not_false() -> None:
    @guard
    def cart_items(c: Context) -> bool:
        return c.journey.data.get("cart")  # type: ignore[no-any-return]

    with pytest.raises(GuardError) as info:
        cart_items.check(ctx(cart=["sku"]))
    err = info.value
    assert err.guard == "cart_items"
    assert "returned ['sku'] (list), not a bool" in str(err)
    assert "wrap the expression in bool(...)" in str(err)
    assert (err.key, err.stage, err.trigger) == ("k-1", "cart", "checkout")
    with pytest.raises(GuardError, match=r"returned None \(NoneType\)"):
        cart_items.evaluate(ctx())


def test_raising_guard_is_a_guard_error_chaining_the_cause() -> None:
    cause = ZeroDivisionError("division by zero")

    @guard
    def ratio_ok(c: Context) -> bool:
        raise cause

    with pytest.raises(GuardError) as info:
        (guard(lambda c: True, name="t") & ratio_ok).check(ctx())
    assert info.value.guard == "ratio_ok"
    assert info.value.__cause__ is cause
    assert "guard 'ratio_ok' raised ZeroDivisionError: division by zero" in str(info.value)


def test_payload_type_mismatch_is_a_guard_error_naming_the_fix() -> None:
    calls: list[str] = []

    @guard(payload_type=dict)
    def paid(c: Context) -> bool:
        calls.append("paid")
        return c.payload.get("paid") is True

    with pytest.raises(GuardError) as info:
        paid.check(ctx(payload="yes"))
    message = str(info.value)
    assert "expects a payload of type dict, got str" in message
    assert "pass a matching payload= to fire()" in message
    assert calls == []  # the function never saw the wrong payload
    assert paid.check(ctx(payload={"paid": True})) is True

    either = guard(lambda c: True, name="either", payload_type=(dict, list))
    with pytest.raises(GuardError, match="dict or list, got int"):
        either.check(ctx(payload=3))
