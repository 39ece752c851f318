"""Guards: naming, descriptions, composition, short-circuit evaluation, payload_type, faults."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Protocol, TypedDict, runtime_checkable

import pytest

from journeyfsm import Context, GuardError, GuardResult, Journey, guard
from journeyfsm._guards import evaluate_guards


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


def test_evaluate_short_circuits_exactly_as_check() -> None:
    calls: list[str] = []
    f = recording("f", False, calls)
    t = recording("t", True, calls)

    for g, order in [(f & t, ["f"]), (t | f, ["t"]), (t & f, ["t", "f"]), (f | t, ["f", "t"])]:
        calls.clear()
        checked = g.check(ctx())
        check_calls = list(calls)
        calls.clear()
        result = g.evaluate(ctx())
        assert (result.passed, calls) == (checked, check_calls), g.name
        assert calls == order, g.name


def test_evaluate_reports_unreached_parts_as_not_evaluated() -> None:
    calls: list[str] = []
    f = recording("f", False, calls, "F")
    t = recording("t", True, calls, "T")

    result = (f & (t | f)).evaluate(ctx())

    assert calls == ["f"]
    assert result == GuardResult(
        "(f & (t | f))",
        "F and T or F",
        False,
        (
            GuardResult("f", "F", False),
            GuardResult(
                "(t | f)",
                "T or F",
                None,
                (GuardResult("t", "T", None), GuardResult("f", "F", None)),
            ),
        ),
    )
    assert [r.passed for r in (t | f).evaluate(ctx()).children] == [True, None]
    assert not result.children[1].evaluated and result.children[0].evaluated


def test_evaluate_never_runs_a_raising_guard_it_does_not_reach() -> None:
    @guard
    def has_total(c: Context) -> bool:
        return "total" in c.payload

    @guard
    def total_over_50(c: Context) -> bool:
        return c.payload["total"] > 50  # type: ignore[no-any-return]

    both = has_total & total_over_50
    assert both.check(ctx(payload={})) is False
    result = both.evaluate(ctx(payload={}))
    assert [(r.name, r.passed) for r in result.children] == [
        ("has_total", False),
        ("total_over_50", None),
    ]
    # reached, the same guard is a GuardError in evaluate as in check
    for run in (both.check, both.evaluate):
        with pytest.raises(GuardError, match="total_over_50"):
            run(ctx(payload={"total": "many"}))


def test_not_evaluated_tree_keeps_the_structure() -> None:
    a = guard(lambda c: True, name="a", description="A")
    b = guard(lambda c: True, name="b")
    tree = (a & ~b).not_evaluated()
    assert tree == GuardResult(
        "(a & ~b)",
        "A and not (b)",
        None,
        (
            GuardResult("a", "A", None),
            GuardResult("~b", "not (b)", None, (GuardResult("b", "", None),)),
        ),
    )


def test_evaluate_guards_stops_the_candidate_at_the_first_failure() -> None:
    calls: list[str] = []
    t = recording("t", True, calls)
    f = recording("f", False, calls)
    later = recording("later", True, calls)

    passed, results = evaluate_guards([t, f, later & t], ctx())

    assert passed is False
    assert calls == ["t", "f"]
    assert [(r.name, r.passed) for r in results] == [
        ("t", True),
        ("f", False),
        ("(later & t)", None),
    ]
    assert [c.passed for c in results[2].children] == [None, None]
    assert evaluate_guards([], ctx()) == (True, ())
    calls.clear()
    assert evaluate_guards([t, t], ctx())[0] is True and calls == ["t", "t"]


def test_guard_result_failing_lists_failing_leaves() -> None:
    calls: list[str] = []
    a = recording("a", False, calls)
    b = recording("b", False, calls)
    c = recording("c", True, calls)

    # b was not reached: it does not count as failing
    assert [r.name for r in (a & b & c).evaluate(ctx()).failing()] == ["a"]
    assert (c | a).evaluate(ctx()).failing() == []
    # a failing negation reports itself: nothing below it failed
    assert [r.name for r in (~c).evaluate(ctx()).failing()] == ["~c"]
    assert [r.name for r in (a | b).evaluate(ctx()).failing()] == ["a", "b"]
    leaf = a.evaluate(ctx())
    assert leaf.failing() == [leaf]
    assert (a & b).not_evaluated().failing() == []


def test_lines_mark_not_evaluated_parts() -> None:
    calls: list[str] = []
    f = recording("f", False, calls, "F")
    t = recording("t", True, calls, "T")
    result = (f & ~t).evaluate(ctx())

    assert result.lines() == [
        "FAIL (f & ~t): F and not (T)",
        "  FAIL f: F",
        "  -    ~t: not (T) (not evaluated)",
    ]
    assert result.lines(2, all_parts=True) == [
        "  FAIL (f & ~t): F and not (T)",
        "    FAIL f: F",
        "    -    ~t: not (T) (not evaluated)",
        "      -    t: T (not evaluated)",
    ]
    # a composite that was not evaluated shows its parts only with all_parts
    assert (t | f).not_evaluated().lines() == ["-    (t | f): T or F (not evaluated)"]


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


# -- payload_type, checked at construction ---------------------------------------------------
class Order(TypedDict):
    total: int


class HasTotal(Protocol):
    total: int


@runtime_checkable
class Sized(Protocol):
    def __len__(self) -> int: ...


def test_payload_type_typed_dict_is_checked_as_a_dict() -> None:
    calls: list[str] = []

    @guard(payload_type=Order)
    def big(c: Context) -> bool:
        calls.append("big")
        return c.payload["total"] > 50  # type: ignore[no-any-return]

    assert big.check(ctx(payload={"total": 60})) is True
    with pytest.raises(GuardError) as info:
        big.check(ctx(payload=[("total", 60)]))
    assert "expects a payload of type Order (a dict), got list" in str(info.value)
    assert info.value.reason == "payload_type"
    assert calls == ["big"]


@pytest.mark.parametrize(
    ("payload_type", "expected"),
    [
        (
            dict[str, int],
            r"guard 'g': payload_type=dict\[str, int\] is a parameterised generic.*"
            r"pass the plain class \(payload_type=dict\)",
        ),
        (list[int], r"payload_type=list\[int\] is a parameterised generic.*payload_type=list"),
        ("dict", r"names the type 'dict' as a string.*pass the class itself"),
        (HasTotal, r"is a Protocol \(HasTotal\).*@typing.runtime_checkable"),
        ((dict, "list"), r"names the type 'list' as a string"),
        ((), r"accepts no payload at all"),
        (42, r"contains 42, which is not a class"),
        (Any, r"payload_type=typing.Any"),
    ],
)
def test_payload_type_that_isinstance_cannot_check_is_refused_at_construction(
    payload_type: Any, expected: str
) -> None:
    with pytest.raises(TypeError, match=expected):
        guard(lambda c: True, name="g", payload_type=payload_type)


def test_payload_type_accepts_classes_unions_and_runtime_protocols() -> None:
    assert guard(lambda c: True, name="u", payload_type=dict | list).check(ctx(payload=[1]))
    with pytest.raises(GuardError, match="expects a payload of type dict or list, got int"):
        guard(lambda c: True, name="u", payload_type=dict | list).check(ctx(payload=1))
    sized = guard(lambda c: True, name="s", payload_type=Sized)
    assert sized.check(ctx(payload="abc")) is True
    with pytest.raises(GuardError, match="payload of type Sized, got int"):
        sized.check(ctx(payload=3))
    mixed = guard(lambda c: True, name="m", payload_type=(Order, int))
    assert mixed.check(ctx(payload=3)) is True
    with pytest.raises(GuardError, match=r"Order \(a dict\) or int, got str"):
        mixed.check(ctx(payload="x"))
