"""JSON-shaped values: check_json refuses anything a JSON round trip would not give back,
naming the path; copy_json copies exactly what check_json accepts."""

from __future__ import annotations

import collections
import enum
import json
import sys
from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest
from hypothesis import given
from hypothesis import strategies as st

from journeyfsm import DataError, JourneyError
from journeyfsm._json import MAX_DEPTH, check_json, copy_checked, copy_json


class Colour(enum.IntEnum):
    RED = 1


class Size(str, enum.Enum):
    LARGE = "large"


class Plain(enum.Enum):
    ONE = object()


class Tags(list):  # type: ignore[type-arg]
    pass


class Name(str):
    pass


CHECKERS = [check_json, copy_checked]


def refusal(
    value: Any, where: str = "data", checker: Callable[..., Any] = check_json, **context: Any
) -> DataError:
    with pytest.raises(DataError) as info:
        checker(value, where, **context)
    return info.value


@pytest.mark.parametrize(
    ("value", "path", "says"),
    [
        ({"cart": ["mug", {"sku"}]}, "data['cart'][1]", "set is not JSON-shaped; use a list"),
        ({"seen": frozenset()}, "data['seen']", "frozenset is not JSON-shaped; use a list"),
        ({"pair": (1, 2)}, "data['pair']", "tuple is not JSON-shaped; use a list"),
        ({"a": {1: "x"}}, "data['a']", "key 1 (int) is not a plain str"),
        ({None: 1}, "data", "key None (NoneType) is not a plain str"),
        ({"score": float("nan")}, "data['score']", "float nan is not JSON"),
        ({"score": [float("inf")]}, "data['score'][0]", "PostgreSQL jsonb rejects them"),
        ({"score": -float("inf")}, "data['score']", "float -inf is not JSON"),
        (
            {"paid_at": datetime(2026, 1, 1, tzinfo=timezone.utc)},
            "data['paid_at']",
            "datetime is not JSON-shaped; store it as an ISO 8601 string",
        ),
        ({"birthday": date(2000, 1, 1)}, "data['birthday']", "as an ISO 8601 string"),
        ({"wait": timedelta(1)}, "data['wait']", "value.total_seconds()"),
        ({"total": Decimal("9.99")}, "data['total']", "store it as a str to keep it exact"),
        ({"raw": b"x"}, "data['raw']", "bytes is not JSON-shaped; decode it to a str"),
        ({"id": UUID(int=1)}, "data['id']", "store str(value)"),
        ({"colour": Colour.RED}, "data['colour']", "turn it into a plain int; store its .value"),
        ({"size": Size.LARGE}, "data['size']", "turn it into a plain str; store its .value"),
        ({"p": Plain.ONE}, "data['p']", "Plain (an enum) is not JSON-shaped"),
        (
            {"o": collections.OrderedDict()},
            "data['o']",
            "OrderedDict (a subclass of dict) is not JSON-shaped: copies and JSON round trips "
            "would turn it into a plain dict; store dict(value)",
        ),
        ({"d": collections.defaultdict(list)}, "data['d']", "defaultdict (a subclass of dict)"),
        ({"t": Tags()}, "data['t']", "Tags (a subclass of list)"),
        ({"n": Name("ada")}, "data['n']", "Name (a subclass of str)"),
        ({"x": [[object()]]}, "data['x'][0][0]", "object is not JSON-shaped; use dict (str keys)"),
    ],
)
@pytest.mark.parametrize("checker", CHECKERS)
def test_check_json_names_the_path_and_what_to_store_instead(
    value: Any, path: str, says: str, checker: Callable[..., Any]
) -> None:
    err = refusal(value, checker=checker)
    assert err.path == path
    assert str(err).startswith(f"{path}: ")
    assert says in str(err)
    assert isinstance(err, JourneyError) and isinstance(err, TypeError)


def test_check_json_names_the_journey_stage_and_trigger() -> None:
    err = refusal({"cart": {"mug"}}, key="c-42", stage="cart", trigger="add_to_cart")
    assert str(err).startswith("data['cart']: set is not JSON-shaped")
    assert str(err).endswith("(journey 'c-42', stage 'cart', trigger 'add_to_cart')")
    assert (err.key, err.stage, err.trigger) == ("c-42", "cart", "add_to_cart")


def test_check_json_refuses_a_non_json_top_level_value() -> None:
    assert refusal((1,), "history[0].meta").path == "history[0].meta"
    assert "float nan" in str(refusal(float("nan"), "meta"))


def test_check_json_accepts_exactly_the_json_types() -> None:
    check_json({"s": "x", "i": 1, "f": -0.5, "b": False, "n": None, "l": [{}], "d": {}}, "data")
    for scalar in ("x", 0, 1.5, True, None):
        check_json(scalar, "data")


def test_check_json_accepts_a_list_shared_twice_which_is_no_cycle() -> None:
    shared = ["mug"]
    check_json({"cart": shared, "wishlist": shared, "again": [shared]}, "data")


@pytest.mark.parametrize("checker", CHECKERS)
def test_check_json_reports_a_list_that_contains_itself(checker: Callable[..., Any]) -> None:
    loop: list[Any] = ["x"]
    loop.append(loop)
    err = refusal({"cart": loop}, checker=checker)
    assert err.path == "data['cart'][1]"
    assert "this list contains itself (it is ['cart'] level); JSON cannot hold cycles" in str(err)


def test_check_json_reports_a_dict_that_contains_itself_further_down() -> None:
    inner: dict[str, Any] = {"tags": []}
    inner["tags"].append({"up": inner})
    err = refusal({"profile": inner})
    assert err.path == "data['profile']['tags'][0]['up']"
    assert "this dict contains itself" in str(err)


def test_check_json_reports_a_top_level_cycle() -> None:
    loop: list[Any] = []
    loop.append(loop)
    assert "contains itself (it is the top level)" in str(refusal(loop))


def nested(levels: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(levels - 1):
        value = [value]
    return value


@pytest.mark.parametrize("checker", CHECKERS)
def test_check_json_allows_max_depth_and_refuses_one_level_more(
    checker: Callable[..., Any],
) -> None:
    checker(nested(MAX_DEPTH), "data")
    err = refusal({"deep": nested(MAX_DEPTH)}, checker=checker)
    assert err.path == "data['deep']" + "[0]" * (MAX_DEPTH - 1)
    message = str(err)
    assert message.startswith("data['deep'][0][0][0][0][0]...(200 levels): ")
    assert f"nested more than {MAX_DEPTH} levels deep: flatten it" in message


@pytest.fixture
def shallow_stack() -> Iterator[None]:
    limit = sys.getrecursionlimit()
    depth = 0
    frame = sys._getframe()
    while frame.f_back is not None:
        frame, depth = frame.f_back, depth + 1
    sys.setrecursionlimit(depth + 60)
    yield
    sys.setrecursionlimit(limit)


@pytest.mark.parametrize("checker", CHECKERS)
def test_check_json_never_lets_recursion_error_escape(
    shallow_stack: None, checker: Callable[..., Any]
) -> None:
    with pytest.raises(DataError) as info:
        checker({"deep": nested(150)}, "data")
    assert "nested too deeply to check within the remaining Python stack" in str(info.value)


# -- hypothesis -------------------------------------------------------------------------
json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner),
    max_leaves=20,
)
json_containers = st.lists(json_values, max_size=4) | st.dictionaries(
    st.text(max_size=6), json_values, max_size=4
)
not_json = st.sampled_from(
    [
        {"sku"},
        frozenset(),
        (1, 2),
        float("nan"),
        float("inf"),
        datetime(2026, 1, 1),
        Decimal("1.5"),
        Colour.RED,
        Size.LARGE,
        collections.OrderedDict(),
        {1: "x"},
        Tags(),
        object(),
    ]
)


def containers(value: Any) -> Iterator[Any]:
    if type(value) in (dict, list):
        yield value
        for child in value.values() if type(value) is dict else value:
            yield from containers(child)


@given(json_values)
def test_json_shaped_values_pass_and_copy_equal_without_sharing_containers(value: Any) -> None:
    check_json(value, "data")
    assert json.loads(json.dumps(value)) == value
    for copy in (copy_json(value), copy_checked(value, "data")):
        assert copy == value
        assert not {id(c) for c in containers(copy)} & {id(c) for c in containers(value)}


@given(json_containers, not_json, st.data())
def test_one_non_json_leaf_anywhere_is_refused_with_its_path(
    value: Any, bad: Any, data: st.DataObject
) -> None:
    steps: list[str | int] = []
    node = value
    while True:  # walk down to a random container, then put the bad value in it
        children = [
            (k, v)
            for k, v in (node.items() if type(node) is dict else enumerate(node))
            if type(v) in (dict, list)
        ]
        if not children or data.draw(st.booleans(), label="stop here"):
            break
        step, node = data.draw(st.sampled_from(children), label="go down")
        steps.append(step)
    if type(node) is dict:
        slot: str | int = data.draw(st.text(max_size=6), label="key")
    elif node:
        slot = data.draw(st.integers(0, len(node) - 1), label="index")
    else:
        node.append(None)
        slot = 0
    node[slot] = bad
    path = "data" + "".join(f"[{s!r}]" for s in [*steps, slot])

    for checker in CHECKERS:
        err = refusal(value, checker=checker)
        assert err.path == path
        assert str(err).startswith(f"{path}: ")


def test_copy_json_shares_what_is_not_exactly_a_dict_or_list() -> None:
    ordered = collections.OrderedDict(a=[1])
    copy = copy_json({"o": ordered, "l": [ordered]})
    assert copy["o"] is ordered and copy["l"][0] is ordered
