"""Guard expressions over payload columns (journeyfsm.col): semantics in the normal
machine, explain, dict round trip, and the errors at construction."""

from __future__ import annotations

import json
import pickle
from typing import Any

import pytest

from journeyfsm import (
    DefinitionError,
    GuardError,
    JourneyBuilder,
    JourneyDefinition,
    JourneyMachine,
    col,
    guard,
)
from journeyfsm._columns import Expr


def shop(*guards: Any) -> JourneyDefinition:
    return (
        JourneyBuilder("shop")
        .stage("cart", initial=True)
        .stage("paid", final=True)
        .transition("pay", "cart", "paid", guards=list(guards))
        .build()
    )


@pytest.mark.parametrize(
    ("expr", "payload", "expected"),
    [
        (col("total") > 0, {"total": 1}, True),
        (col("total") > 0, {"total": 0}, False),
        (col("total") > 0, {"total": "12.5"}, True),  # CSV text read as a number
        (col("total") >= 12.5, {"total": 12.5}, True),
        (col("total") < 3, {"total": 2.5}, True),
        (col("total") <= 3, {"total": 4}, False),
        (col("total") == 3, {"total": "3"}, True),
        (col("total") != 3, {"total": 4}, True),
        (col("total") != 3, {}, False),  # null: every comparison is false
        (col("total") > 0, None, False),  # a timeout's payload
        (col("plan") == "pro", {"plan": "pro"}, True),
        (col("plan") < "q", {"plan": "pro"}, True),
        (col("plan").is_in(["pro", "team"]), {"plan": "team"}, True),
        (col("plan").is_in(["pro", "team"]), {"plan": "free"}, False),
        (col("plan").is_in(["pro"]), {"plan": None}, False),
        (col("n").is_in([1, 2]), {"n": "2"}, True),
        (col("vip") == True, {"vip": True}, True),  # noqa: E712 - the expression form
        (col("coupon").is_null(), {}, True),
        (col("coupon").is_null(), None, True),
        (col("coupon").is_null(), {"coupon": "X"}, False),
        (~col("coupon").is_null(), {"coupon": "X"}, True),
    ],
)
def test_expressions_evaluate_on_the_payload(expr: Any, payload: Any, expected: bool) -> None:
    m = JourneyMachine(shop(expr))
    outcome = m.fire(m.start("c1"), "pay", payload)
    assert outcome.status == ("moved" if expected else "blocked")


@pytest.mark.parametrize(
    ("expr", "payload", "problem"),
    [
        (col("total") > 0, {"total": "abc"}, "not a number"),
        (col("plan") == "pro", {"plan": 3}, "does not compare"),
        (col("vip") == True, {"vip": "yes"}, "does not compare"),  # noqa: E712
        (col("total") > 0, {"total": [1]}, "does not compare"),
        (col("total") > 0, {"total": True}, "does not compare"),
        (col("total") > 0, ["total"], "reads a dict payload"),
    ],
)
def test_bad_types_are_guard_errors_naming_the_guard(expr: Any, payload: Any, problem: str) -> None:
    m = JourneyMachine(shop(expr))
    journey = m.start("c1")
    with pytest.raises(GuardError, match=problem) as info:
        m.fire(journey, "pay", payload)
    assert info.value.guard == expr.name
    assert journey.stage == "cart" and journey.version == 0


def test_composites_short_circuit_and_explain_says_not_evaluated() -> None:
    calls: list[str] = []

    @guard
    def spy(ctx: Any) -> bool:
        calls.append("spy")
        return True

    m = JourneyMachine(shop((col("total") > 0) & spy))
    m.fire(m.start("c1"), "pay", {"total": 0})
    assert calls == []
    text = str(m.explain(m.start("c2"), "pay", {"total": 0}))
    assert "FAIL col('total') > 0: payload 'total' > 0" in text
    assert "spy (not evaluated)" in text
    m.fire(m.start("c3"), "pay", {"total": 1})
    assert calls == ["spy"]


def test_definitions_with_expressions_round_trip_through_dicts_and_json() -> None:
    g = (col("total") > 0) & (col("plan").is_in(["pro", "team"]) | ~col("coupon").is_null())
    d = shop(g)
    data = d.to_dict()
    assert data["transitions"][0]["guards"][0]["all"][0] == {
        "expr": {"col": "total", "op": ">", "value": 0}
    }
    assert JourneyDefinition.from_dict(data) == d
    assert JourneyDefinition.from_dict(json.loads(json.dumps(data))) == d


@pytest.mark.parametrize(
    "body",
    [
        {"col": "total", "op": "~", "value": 1},
        {"col": "total", "op": ">"},
        {"col": "", "op": ">", "value": 1},
        {"op": ">", "value": 1},
        {"col": "plan", "op": "in", "value": "pro"},
        {"col": "plan", "op": "in", "value": []},
        {"col": "x", "op": "is_null", "extra": 1},
        "total > 0",
    ],
)
def test_malformed_expression_refs_are_definition_problems(body: Any) -> None:
    data = shop(col("total") > 0).to_dict()
    data["transitions"][0]["guards"] = [{"expr": body}]
    with pytest.raises(DefinitionError, match="transition 'pay'"):
        JourneyDefinition.from_dict(data)


def test_construction_refuses_what_cannot_be_compared() -> None:
    with pytest.raises(TypeError, match=r"is_null\(\)"):
        col("total") == None  # noqa: B015, E711 - the mistake under test
    with pytest.raises(TypeError, match="numbers, strings or bools"):
        col("total") > [1]  # type: ignore[operator]  # noqa: B015
    with pytest.raises(ValueError, match="NaN"):
        col("total") > float("nan")  # noqa: B015
    with pytest.raises(TypeError, match="list of values"):
        col("plan").is_in("pro")
    with pytest.raises(ValueError, match="at least one"):
        col("plan").is_in([])
    with pytest.raises(TypeError, match="non-empty str"):
        col("")
    with pytest.raises(TypeError, match="not a guard by itself"):
        bool(col("total"))


def test_expressions_compare_by_value_hash_and_pickle() -> None:
    a, b = col("total") > 0, col("total") > 0
    assert a == b and hash(a) == hash(b) and a != (col("total") >= 0)
    assert pickle.loads(pickle.dumps(a)) == a
    assert isinstance(a, Expr) and a.leaves() == [a]
    # the same expression twice in a definition is one guard, not a name clash
    d = (
        JourneyBuilder("x")
        .stage("a", initial=True)
        .stage("b", final=True)
        .transition("go", "a", "b", guards=[col("n") > 1])
        .transition("go", "a", "b", guards=[col("n") > 1])
        .build()
    )
    assert list(d.guards()) == ["col('n') > 1"]


@pytest.mark.parametrize(
    "write",
    [
        lambda: (col("total") > 0) and (col("plan") == "pro"),
        lambda: (col("total") > 0) or (col("plan") == "pro"),
        lambda: not (col("total") > 0),
        lambda: 0 < col("total") < 10,
    ],
    ids=["and", "or", "not", "chained"],
)
def test_an_expression_is_no_truth_value(write: Any) -> None:
    # `and`/`or`/`not` and chained comparisons would keep one half of the rule and drop
    # the other without a word: each is a TypeError naming & | ~
    with pytest.raises(TypeError, match=r"combine guards with & \| ~"):
        write()
    m = JourneyMachine(shop((col("total") > 0) & (col("total") < 10)))  # the range, written
    assert m.fire(m.start("c1"), "pay", {"total": 5}).moved
    assert m.fire(m.start("c2"), "pay", {"total": 10}).blocked
