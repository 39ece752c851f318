"""The funnel order a definition declares: builder, dict/JSON form, validation, default,
describe, and the order each template declares."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from conftest import checkout_builder
from hypothesis import given, settings
from hypothesis import strategies as st

from journeyfsm import DefinitionError, JourneyBuilder, JourneyDefinition, Stage, Transition
from journeyfsm.cli._main import describe
from journeyfsm.templates import TEMPLATES

DOCS = Path(__file__).resolve().parent.parent / "docs"


def test_builder_declares_the_funnel_order() -> None:
    d = checkout_builder().funnel("browsing", "cart", "checkout", "paid").build()
    assert d.funnel == ("browsing", "cart", "checkout", "paid")
    assert d.funnel_declared


def test_without_a_declared_funnel_every_stage_in_declaration_order_is_the_funnel() -> None:
    d = checkout_builder().build()
    assert d.funnel == ("browsing", "cart", "express", "checkout", "paid", "abandoned")
    assert d.funnel == d.stage_names
    assert not d.funnel_declared
    assert "funnel" not in d.to_dict()


def test_a_declared_funnel_round_trips_through_dict_and_json() -> None:
    from conftest import cart_not_empty, is_vip, payment_ok

    d = checkout_builder().funnel("browsing", "cart", "paid").build()
    data = d.to_dict()
    assert data["funnel"] == ["browsing", "cart", "paid"]
    back = JourneyDefinition.from_dict(
        json.loads(json.dumps(data)), guards=[cart_not_empty, is_vip, payment_ok]
    )
    assert back == d
    assert back.funnel == ("browsing", "cart", "paid") and back.funnel_declared


def test_an_old_dict_without_a_funnel_still_reads_and_gets_the_default() -> None:
    raw = {
        "name": "signup",
        "stages": [{"name": "visitor", "initial": True}, {"name": "member", "final": True}],
        "transitions": [{"trigger": "join", "source": "visitor", "dest": "member"}],
    }
    d = JourneyDefinition.from_dict(raw)
    assert d.funnel == ("visitor", "member") and not d.funnel_declared
    assert JourneyDefinition.from_dict(d.to_dict()).to_dict() == d.to_dict()


def _problems(make: Any) -> list[str]:
    with pytest.raises(DefinitionError) as info:
        make()
    return [p.message for p in info.value.problems]


def test_unknown_and_duplicate_funnel_stages_are_reported_with_the_other_problems() -> None:
    messages = _problems(
        lambda: (
            checkout_builder()
            .stage("island")  # unreachable and a dead end: two more problems
            .funnel("browsing", "crat", "cart", "cart")
            .build()
        )
    )
    assert (
        "funnel[1] names unknown stage 'crat' (did you mean 'cart'?); the funnel order lists "
        "stages of this definition" in messages
    )
    assert (
        "funnel[3]: stage 'cart' is listed twice in the funnel order; list each stage once"
        in messages
    )
    assert any("'island' is unreachable" in m for m in messages)
    assert any("'island' is a dead end" in m for m in messages)


def test_a_funnel_problem_carries_the_stage() -> None:
    with pytest.raises(DefinitionError) as info:
        checkout_builder().funnel("nowhere").build()
    (problem,) = info.value.problems
    assert problem.stage == "nowhere"


@pytest.mark.parametrize("bad", ["browsing", 3, ["browsing", 4], {"a": 1}])
def test_a_malformed_funnel_in_a_dict_is_reported_with_the_rules_problems(bad: Any) -> None:
    raw = {
        "name": "signup",
        "stages": [
            {"name": "visitor", "initial": True},
            {"name": "member", "final": True},
            {"name": "island"},
        ],
        "transitions": [{"trigger": "join", "source": "visitor", "dest": "member"}],
        "funnel": bad,
    }
    messages = _problems(lambda: JourneyDefinition.from_dict(raw))
    assert any(m.startswith("'funnel' must be a list of stage names, got") for m in messages)
    assert any("'island' is unreachable" in m for m in messages)  # the rules still ran


def test_a_funnel_given_as_a_string_is_refused_with_the_fix() -> None:
    with pytest.raises(TypeError, match=r"write funnel=\['visitor', \.\.\.\]"):
        JourneyDefinition(
            name="j",
            stages=[Stage("visitor", initial=True), Stage("member", final=True)],
            transitions=[Transition("join", "visitor", "member")],
            funnel="visitor",  # type: ignore[arg-type]
        )


def test_builder_funnel_takes_names_as_separate_arguments() -> None:
    with pytest.raises(TypeError, match=r"argument 0 is \['a', 'b'\]"):
        JourneyBuilder("j").funnel(["a", "b"])  # type: ignore[arg-type]


def test_builder_keeps_a_declared_funnel_and_lets_a_default_one_follow_the_stages() -> None:
    def with_vip(d: JourneyDefinition) -> JourneyDefinition:
        return (
            d.builder()
            .stage("vip")
            .transition("vip_up", "browsing", "vip")
            .transition("leave", "vip", "abandoned")
            .build()
        )

    declared = with_vip(checkout_builder().funnel("browsing", "paid").build())
    assert declared.funnel == ("browsing", "paid") and declared.funnel_declared
    default = checkout_builder().build()
    assert with_vip(default).funnel == (*default.stage_names, "vip")
    assert not with_vip(default).funnel_declared


def test_removing_a_stage_removes_it_from_the_funnel_order() -> None:
    d = checkout_builder().funnel("browsing", "cart", "express", "paid").build()
    smaller = d.builder().remove_stage("express").build()
    assert smaller.funnel == ("browsing", "cart", "paid")


def test_builder_funnel_with_no_stages_goes_back_to_the_default() -> None:
    d = checkout_builder().funnel("browsing", "paid").funnel().build()
    assert not d.funnel_declared and d.funnel == d.stage_names


def test_describe_shows_the_funnel_order_and_whether_it_was_declared() -> None:
    declared = describe(checkout_builder().funnel("browsing", "cart", "paid").build())
    assert "funnel order:\n  browsing -> cart -> paid\n" in declared
    default = describe(checkout_builder().build())
    assert (
        "funnel order (not declared: every stage in declaration order):\n"
        "  browsing -> cart -> express -> checkout -> paid -> abandoned\n"
    ) in default


# -- the templates ---------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(TEMPLATES))
def test_every_template_declares_its_forward_path_as_the_funnel(name: str) -> None:
    d = TEMPLATES[name]()
    assert d.funnel_declared
    assert d.funnel[0] == d.initial_stage
    assert not {"dormant", "churned", "lost"} & set(d.funnel)
    # the funnel is a path: each stage has a transition into the next
    for here, nxt in zip(d.funnel, d.funnel[1:], strict=False):
        assert any(c.dest == nxt for cands in d.table[here].values() for c in cands), (here, nxt)
    # and every stage off the funnel is a drop-out or churn stage
    off = set(d.stage_names) - set(d.funnel)
    assert off == ({"lost"} if name == "aida" else {"dormant", "churned"})


def test_templates_page_lists_each_templates_funnel_order() -> None:
    text = (DOCS / "templates.md").read_text(encoding="utf-8")
    rows = dict(re.findall(r"^\| `\w+\(\)` \| `([\w-]+)` \| ([^|]+) \|", text, re.M))
    assert set(rows) == set(TEMPLATES)
    for name, path in rows.items():
        assert tuple(path.strip().split(" → ")) == TEMPLATES[name]().funnel, name


_names = st.sampled_from(["visitor", "member", "island", "vistor", "", "*", " member"])
_funnels = st.one_of(
    st.lists(_names, max_size=5),
    st.lists(st.one_of(_names, st.integers(), st.none(), st.lists(_names)), max_size=4),
    st.one_of(st.text(max_size=4), st.integers(), st.none(), st.dictionaries(_names, _names)),
)


@settings(max_examples=200, deadline=None)
@given(funnel=_funnels)
def test_any_funnel_value_in_a_dict_reads_or_is_refused_with_problems(funnel: Any) -> None:
    raw = {
        "name": "signup",
        "stages": [{"name": "visitor", "initial": True}, {"name": "member", "final": True}],
        "transitions": [{"trigger": "join", "source": "visitor", "dest": "member"}],
        "funnel": funnel,
    }
    try:
        d = JourneyDefinition.from_dict(raw)
    except DefinitionError as err:
        assert err.problems and all("funnel" in p.message for p in err.problems)
        return
    # it read: a list of distinct known stage names, kept as declared
    assert isinstance(funnel, list) and len(set(funnel)) == len(funnel)
    assert set(funnel) <= {"visitor", "member"}
    assert d.funnel == (tuple(funnel) or d.stage_names)
    assert d.funnel_declared == bool(funnel)
