"""``JourneyDefinition.from_dict`` with shape problems still reports the rule problems of
the parts that could be read, and none that only echo an unreadable part (DESIGN 9)."""

from __future__ import annotations

import copy
import itertools
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from journeyfsm import DefinitionError, JourneyDefinition, guard

PAID = guard(lambda ctx: True, name="paid")

# Valid: every rule input is present, so any rule problem a single break brings is an echo.
BASE: dict[str, Any] = {
    "name": "shop",
    "stages": [
        {"name": "new", "initial": True},
        {"name": "cart"},
        {"name": "paid"},
        {"name": "done", "final": True},
        {"name": "gone", "final": True},
    ],
    "transitions": [
        {"trigger": "add", "source": "new", "dest": "cart"},
        {"trigger": "pay", "source": ["cart"], "dest": "paid", "guards": ["paid"]},
        {"trigger": "pay", "source": "cart", "dest": "cart"},
        {"trigger": "ship", "source": "paid", "dest": "done"},
        {"trigger": "note", "source": "done", "dest": None},
        {"trigger": "browse", "source": "new", "dest": "new", "guards": ["paid"]},
        {"trigger": "browse", "source": "new", "dest": "new"},
    ],
    "timeouts": [{"stage": "cart", "after_seconds": 3600, "trigger": "pay"}],
    "exits": [{"trigger": "unsubscribe", "stage": "gone"}],
    "goals": [{"name": "bought", "stage": "done", "within": 86400, "since": "cart"}],
    "funnel": ["new", "cart", "paid", "done"],
}

_T = len(BASE["transitions"])
# (path to a value the rules read, a value of the wrong shape for it)
BREAKS: list[tuple[tuple[Any, ...], Any]] = [
    *[(("stages", i, "name"), bad) for i in range(5) for bad in (5, None, ["x"])],
    *[(("stages", i, flag), "yes") for i in range(5) for flag in ("initial", "final")],
    *[(("transitions", i, "trigger"), bad) for i in range(_T) for bad in (7, None)],
    *[(("transitions", i, "source"), bad) for i in range(_T) for bad in (3, [1], {"a": 1})],
    *[(("transitions", i, "dest"), bad) for i in range(_T) for bad in (3, ["done"])],
    *[(("transitions", i, "guards"), bad) for i in range(_T) for bad in ("paid", 1)],
    (("exits", 0, "trigger"), 9),
    (("exits", 0, "stage"), None),
    (("exits", 0, "guards"), "x"),
    (("stages",), {"new": {}}),
    (("transitions",), "add"),
    (("exits",), 5),
]


def _broken(*breaks: tuple[tuple[Any, ...], Any]) -> dict[str, Any]:
    raw = copy.deepcopy(BASE)
    for path, value in breaks:
        parent = raw
        for part in path[:-1]:
            parent = parent[part]
        parent[path[-1]] = value
    return raw


def _problems(raw: dict[str, Any]) -> list[str]:
    with pytest.raises(DefinitionError) as info:
        JourneyDefinition.from_dict(raw, guards=[PAID])
    return [p.message for p in info.value.problems]


def test_the_base_is_valid() -> None:
    d = JourneyDefinition.from_dict(copy.deepcopy(BASE), guards=[PAID])
    assert JourneyDefinition.from_dict(json.loads(json.dumps(d.to_dict())), guards=[PAID]) == d


@pytest.mark.parametrize(("path", "value"), BREAKS, ids=lambda v: repr(v))
def test_one_unreadable_part_reports_one_problem_and_no_echo(
    path: tuple[Any, ...], value: Any
) -> None:
    messages = _problems(_broken((path, value)))
    assert len(messages) == 1, messages


# distinct containers: two breaks of the same value would be one problem
_PAIRS = [
    (a, b)
    for a, b in itertools.combinations(BREAKS, 2)
    if a[0][:2] != b[0][:2] and len(a[0]) > 1 and len(b[0]) > 1
]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(_PAIRS))
def test_two_unreadable_parts_report_two_problems_and_no_echo(
    pair: tuple[tuple[tuple[Any, ...], Any], tuple[tuple[Any, ...], Any]],
) -> None:
    messages = _problems(_broken(*pair))
    assert len(messages) == 2, messages


def test_rule_problems_of_readable_parts_are_reported_with_shape_problems() -> None:
    """The reported case: shape problems used to stop every rule."""
    raw = {
        "name": "j",
        "stages": [
            {"name": "a", "initial": True},
            {"name": 5},
            {"name": "b", "final": "yes"},
            {"name": " c "},
            {"name": "d"},
        ],
        "transitions": [
            {"trigger": "go", "source": "a", "dest": "d"},
            {"trigger": "class", "source": "a", "dest": "d"},
            {"trigger": 7, "source": "a", "dest": "b"},
            {"trigger": "x", "source": "nosuch", "dest": "d"},
        ],
        "timeouts": [{"stage": "a", "after_seconds": -1, "trigger": "go"}],
    }
    messages = _problems(raw)
    assert messages[:3] == [
        "stages[1]: 'name' must be a str, got int",
        "stages[2] ('b'): 'final' must be true or false, got 'yes'",
        "transitions[2]: 'trigger' must be a str, got int",
    ]
    rules = messages[3:]
    assert any("stage name ' c ' starts or ends with whitespace" in m for m in rules), rules
    assert any("trigger 'class' is not a valid identifier" in m for m in rules), rules
    # the unreadable transition starts from 'a': it cannot leave 'd', so 'd' is a dead end
    assert any("stage 'd' is a dead end" in m for m in rules), rules
    assert any("timeout on stage 'a' must have a positive duration" in m for m in rules), rules
    # 'nosuch' may be the stage whose name is 5; 'b' may be final
    assert not any("unknown stage" in m or "'b' is a dead end" in m for m in rules), rules
    assert len(rules) == 5, rules


# A rule problem planted in a readable part, with the break of each kind that must not
# hide it (a planted problem the break could echo-suppress is left out of its row).
PLANTED: dict[str, tuple[tuple[tuple[Any, ...], Any], str]] = {
    "shadowed": (
        (("transitions", 5, "guards"), []),
        "trigger 'browse' has 1 transition(s) after an unguarded one",
    ),
    "bad trigger": ((("transitions", 3, "trigger"), "ship-it"), "is not a valid identifier"),
    "padded stage": ((("stages", 4, "name"), "gone "), "starts or ends with whitespace"),
    "zero timeout": ((("timeouts", 0, "after_seconds"), 0), "must have a positive duration"),
    "leaves final": ((("transitions", 4, "dest"), "cart"), "final stage 'done' has an outgoing"),
}


@pytest.mark.parametrize("planted", sorted(PLANTED))
@pytest.mark.parametrize(
    "brk",
    [
        (("stages", 1, "name"), 5),
        (("stages", 2, "final"), "yes"),
        (("stages", 0, "initial"), 1),
        (("transitions", 0, "source"), 3),
        (("transitions", 2, "dest"), 3),
        (("exits", 0, "stage"), None),
    ],
    ids=repr,
)
def test_a_rule_problem_of_a_readable_part_is_not_hidden_by_a_shape_problem(
    planted: str, brk: tuple[tuple[Any, ...], Any]
) -> None:
    change, expected = PLANTED[planted]
    assert change[0][:2] != brk[0][:2]  # a readable part, apart from the broken one
    messages = _problems(_broken(change, brk))
    assert len(messages) >= 2, messages
    assert any(expected in m for m in messages), messages


def test_graph_rules_still_run_when_only_a_guard_reference_is_bad() -> None:
    raw = _broken((("transitions", 0, "guards"), ["nosuch"]))
    raw["stages"].append({"name": "orphan", "final": True})
    messages = _problems(raw)
    assert "guard 'nosuch', which is not registered" in messages[0]
    assert any("stage 'orphan' is unreachable" in m for m in messages), messages


def test_a_readable_stage_no_unread_transition_reaches_is_unreachable() -> None:
    """An unread transition's known destination is taken as reached; one it cannot
    reach is still reported."""
    raw = _broken((("transitions", 3, "trigger"), 5))  # ship: paid -> done, unreadable
    raw["stages"].append({"name": "orphan", "final": True})
    messages = _problems(raw)
    assert messages[0] == "transitions[3]: 'trigger' must be a str, got int"
    assert any("stage 'orphan' is unreachable" in m for m in messages), messages
    assert not any("'done' is unreachable" in m for m in messages), messages


def test_a_goal_and_a_timeout_naming_an_unread_trigger_are_not_echoed() -> None:
    raw = _broken((("transitions", 1, "source"), 1), (("transitions", 2, "source"), 1))
    raw["goals"] = [{"name": "paying", "trigger": "pay", "within": 60}]
    messages = _problems(raw)
    assert len(messages) == 2, messages  # the two sources; 'pay' may be from 'cart'
