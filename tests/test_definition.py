"""Stage, Transition, Timeout, JourneyDefinition, the builder and the dict form."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import attrs
import pytest
from conftest import cart_not_empty, checkout_builder, is_vip, payment_ok

from journeyfsm import (
    DefinitionError,
    Guard,
    JourneyBuilder,
    JourneyDefinition,
    JourneyError,
    Problem,
    Stage,
    Timeout,
    Transition,
    guard,
    templates,
)


# -- immutability ---------------------------------------------------------------------
def test_stage_is_frozen_and_metadata_is_a_read_only_copy() -> None:
    meta: dict[str, Any] = {"kpis": ["conversion"], "owner": {"team": "growth"}}
    stage = Stage("purchase", final=True, description="order paid", metadata=meta)
    meta["kpis"].append("changed")
    meta["owner"]["team"] = "changed"

    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        stage.name = "other"  # type: ignore[misc]
    with pytest.raises(TypeError):
        stage.metadata["new"] = 1  # type: ignore[index]
    assert stage.metadata["kpis"] == ("conversion",)
    assert stage.metadata["owner"]["team"] == "growth"


def test_stage_rejects_wrong_types_and_non_json_metadata() -> None:
    with pytest.raises(TypeError):
        Stage(42)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Stage("a", initial="yes")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="JSON-able"):
        Stage("a", metadata={"when": object()})


def test_transition_is_frozen_and_normalises_sources_and_guards() -> None:
    t = Transition("pay", ["checkout", "express"], "paid", guards=payment_ok)
    assert t.source == ("checkout", "express")
    assert t.guards == (payment_ok,)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        t.dest = "elsewhere"  # type: ignore[misc]
    with pytest.raises(TypeError, match=r"journeyfsm\.guard"):
        Transition("pay", "a", "b", guards=[lambda ctx: True])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="stage names"):
        Transition("pay", ["a", 3], "b")  # type: ignore[list-item]


def test_definition_is_frozen(checkout_definition: JourneyDefinition) -> None:
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        checkout_definition.name = "x"  # type: ignore[misc]
    assert isinstance(checkout_definition.stages, tuple)
    assert isinstance(checkout_definition.transitions, tuple)
    assert isinstance(checkout_definition.timeouts, tuple)


def test_definition_table_cannot_be_mutated(checkout_definition: JourneyDefinition) -> None:
    table = checkout_definition.table
    with pytest.raises(TypeError):
        table["cart"]["teleport"] = ()  # type: ignore[index]
    with pytest.raises(TypeError):
        table["new_stage"] = {}  # type: ignore[index]
    assert "teleport" not in checkout_definition.triggers_from("cart")


def test_timeout_takes_timedelta_or_seconds() -> None:
    assert Timeout("cart", 90, "abandon").after == timedelta(seconds=90)
    assert Timeout("cart", timedelta(hours=1), "abandon").after == timedelta(hours=1)
    with pytest.raises(TypeError, match="timedelta or seconds"):
        Timeout("cart", "1h", "abandon")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Timeout("cart", True, "abandon")


# -- reading a definition ----------------------------------------------------------------
def test_definition_accessors(checkout_definition: JourneyDefinition) -> None:
    d = checkout_definition
    assert d.initial_stage == "browsing"
    assert d.final_stages == ("paid",)
    assert d.stage_names == ("browsing", "cart", "express", "checkout", "paid", "abandoned")
    assert d.triggers == ("add_to_cart", "checkout", "pay", "note", "abandon", "come_back")
    assert [t.dest for t in d.candidates("cart", "checkout")] == ["express", "checkout"]
    assert d.candidates("paid", "pay") == ()
    assert d.triggers_from("browsing") == ("add_to_cart", "note")
    assert d.stage("paid").metadata == {"kpi": "conversion"}
    assert d.has_stage("cart") and not d.has_stage("kart")
    assert set(d.guards()) == {"cart_not_empty", "is_vip", "payment_ok"}
    edges = d.edges()
    assert ("cart", "checkout", "express", 0) in [
        (e.source, e.trigger, e.dest, e.index) for e in edges
    ]
    assert ("cart", "checkout", "checkout", 1) in [
        (e.source, e.trigger, e.dest, e.index) for e in edges
    ]


def test_stage_lookup_suggests_close_names(checkout_definition: JourneyDefinition) -> None:
    with pytest.raises(KeyError, match="did you mean 'cart'"):
        checkout_definition.stage("kart")


def test_wildcard_source_means_every_non_final_stage(
    checkout_definition: JourneyDefinition,
) -> None:
    d = checkout_definition
    with_note = [s for s in d.stage_names if "note" in d.triggers_from(s)]
    assert with_note == ["browsing", "cart", "express", "checkout", "abandoned"]
    assert "paid" not in with_note
    (t,) = d.candidates("cart", "note")
    assert t.sources(["x", "y"]) == ("x", "y")


def test_source_list_is_one_candidate_per_source_in_order(
    checkout_definition: JourneyDefinition,
) -> None:
    d = checkout_definition
    pay = [t for t in d.transitions if t.trigger == "pay"]
    assert len(pay) == 1
    assert d.candidates("checkout", "pay") == (pay[0],)
    assert d.candidates("express", "pay") == (pay[0],)
    assert pay[0].sources(d.stage_names) == ("checkout", "express")


# -- builder ------------------------------------------------------------------------------
def test_builder_extension_does_not_mutate_the_original() -> None:
    base = templates.aida()
    base_dict = base.to_dict()

    bigger = (
        base.builder()
        .stage("loyal", final=True)
        .transition("join_club", "action", "loyal")
        .replace_stage("action", final=False)
        .build(name="aida-plus", version=2)
    )

    assert bigger.name == "aida-plus" and bigger.version == 2
    assert "loyal" in bigger.stage_names and "loyal" not in base.stage_names
    assert base.to_dict() == base_dict
    assert base == templates.aida()


def test_builder_remove_stage_and_transitions() -> None:
    b = checkout_builder().remove_stage("express")
    d = b.build()
    assert "express" not in d.stage_names
    assert [t.dest for t in d.candidates("cart", "checkout")] == ["checkout"]
    assert d.candidates("checkout", "pay")[0].source == ("checkout",)

    d2 = checkout_builder().remove_transitions("note").build()
    assert "note" not in d2.triggers
    with pytest.raises(KeyError, match="no transition 'nope'"):
        checkout_builder().remove_transitions("nope")
    with pytest.raises(KeyError, match="no stage 'nope'"):
        checkout_builder().remove_stage("nope")


def test_builder_replace_guards_only_for_the_given_source() -> None:
    always = guard(lambda ctx: True, name="always")
    d = checkout_builder().replace_guards("abandon", [always], source="cart").build()
    (t,) = d.candidates("cart", "abandon")
    assert t.guards == (always,)
    for other in ("checkout", "express"):
        (kept,) = d.candidates(other, "abandon")
        assert kept.guards == ()
    assert [t.dest for t in d.candidates("cart", "abandon")] == ["abandoned"]


def test_builder_builds_equal_definitions_twice() -> None:
    b = checkout_builder()
    assert b.build() == b.build()


# -- dict form ------------------------------------------------------------------------------
def test_dict_round_trip_is_exact_through_json(
    checkout_definition: JourneyDefinition, checkout_guards: dict[str, Guard]
) -> None:
    d = (
        checkout_definition.builder()
        .timeout("cart", timedelta(hours=1), "abandon")
        .timeout("checkout", 1.5, "abandon")
        .build()
    )
    as_dict = d.to_dict()
    text = json.dumps(as_dict)

    again = JourneyDefinition.from_dict(json.loads(text), guards=checkout_guards)

    assert again == d
    assert again.to_dict() == as_dict
    assert as_dict["timeouts"] == [
        {"stage": "cart", "after_seconds": 3600, "trigger": "abandon"},
        {"stage": "checkout", "after_seconds": 1.5, "trigger": "abandon"},
    ]
    # a list of named guards works as the registry too
    assert JourneyDefinition.from_dict(as_dict, guards=list(checkout_guards.values())) == d


def test_dict_form_references_guards_by_name_and_composites() -> None:
    a = guard(lambda ctx: True, name="a")
    b = guard(lambda ctx: False, name="b")
    c = guard(lambda ctx: True, name="c")
    d = (
        JourneyBuilder("composites")
        .stage("s", initial=True)
        .stage("t", final=True)
        .transition("x", "s", "t", guards=[a & ~b])
        .transition("y", "s", "t", guards=[(a | b) & c, ~(a & c)])
        .transition("z", "s", "t", guards=[a, c])
        .build()
    )
    refs = [t["guards"] for t in d.to_dict()["transitions"]]
    assert refs == [
        [{"all": ["a", {"not": "b"}]}],
        [{"all": [{"any": ["a", "b"]}, "c"]}, {"not": {"all": ["a", "c"]}}],
        ["a", "c"],
    ]
    again = JourneyDefinition.from_dict(d.to_dict(), guards=[a, b, c])
    assert again == d
    assert again.transitions[1].guards[0].name == "((a | b) & c)"


def test_from_dict_reports_unknown_keys_and_unknown_guards_together(
    checkout_definition: JourneyDefinition, checkout_guards: dict[str, Guard]
) -> None:
    raw = checkout_definition.to_dict()
    raw["colour"] = "blue"
    raw["stages"][0]["icon"] = "cart"
    raw["transitions"][2]["guards"] = [{"all": ["cart_not_empty", "is_vipp"]}]
    raw["transitions"][3]["weight"] = 2
    raw["transitions"][4]["guards"] = ["paymnet_ok"]
    del raw["transitions"][0]["dest"]

    with pytest.raises(DefinitionError) as info:
        JourneyDefinition.from_dict(raw, guards=checkout_guards)

    messages = [p.message for p in info.value.problems]
    for fragment in (
        "unknown key 'colour' in definition",
        "unknown key 'icon' in stages[0]",
        "unknown key 'weight' in transitions[3]",
        "transitions[0] is missing the required key 'dest'",
        "guard 'is_vipp', which is not registered",
        "guard 'paymnet_ok', which is not registered",
    ):
        assert any(fragment in m for m in messages), (fragment, messages)
    assert all("known keys" in m for m in messages if m.startswith("unknown key"))
    assert all("pass guards=[...]" in m for m in messages if "not registered" in m)


def test_from_dict_reports_an_empty_guard_name_as_unregistered() -> None:
    # found by hypothesis (test_definition_fuzz): guard('') refused the stand-in's name
    raw = {
        "name": "m",
        "stages": [{"name": "a", "initial": True}, {"name": "b", "final": True}],
        "transitions": [{"trigger": "go", "source": "a", "dest": "b", "guards": [""]}],
    }
    with pytest.raises(DefinitionError) as info:
        JourneyDefinition.from_dict(raw)
    (problem,) = info.value.problems
    assert "uses guard '', which is not registered" in problem.message


def test_from_dict_reports_malformed_guard_references() -> None:
    raw = {
        "name": "m",
        "stages": [{"name": "a", "initial": True}, {"name": "b", "final": True}],
        "transitions": [
            {"trigger": "go", "source": "a", "dest": "b", "guards": [{"xor": ["p", "q"]}]}
        ],
    }
    with pytest.raises(DefinitionError, match=r"malformed guard reference") as info:
        JourneyDefinition.from_dict(raw)
    assert info.value.problems[0].trigger == "go"


def test_from_dict_requires_name_stages_transitions() -> None:
    with pytest.raises(DefinitionError) as info:
        JourneyDefinition.from_dict({"name": "x"})
    text = str(info.value)
    assert "missing the required key 'stages'" in text
    assert "missing the required key 'transitions'" in text


def _small_dict(**extra: Any) -> dict[str, Any]:
    """a -> b (final); extra top-level keys and stages/transitions/timeouts as given."""
    raw: dict[str, Any] = {
        "name": "small",
        "stages": [{"name": "a", "initial": True}, {"name": "b", "final": True}],
        "transitions": [{"trigger": "go", "source": "a", "dest": "b"}],
    }
    raw.update(extra)
    return raw


def test_from_dict_reports_an_unknown_key_and_rule_problems_together() -> None:
    raw = _small_dict(colour="blue")
    raw["stages"].append({"name": "c", "icon": "star"})

    with pytest.raises(DefinitionError) as info:
        JourneyDefinition.from_dict(raw)

    messages = [p.message for p in info.value.problems]
    assert messages[:2] == [
        "unknown key 'colour' in definition; known keys: description, entry, exits, funnel, goals, "
        "metadata, name, policy, stages, timeouts, transitions, version",
        "unknown key 'icon' in stages[2]; known keys: description, final, initial, metadata, name",
    ]
    assert any("stage 'c' is unreachable from the initial stage 'a'" in m for m in messages)
    assert any("stage 'c' is a dead end" in m for m in messages)
    assert info.value.problems[2].stage == "c"


def test_from_dict_runs_the_rules_past_unregistered_guards() -> None:
    raw = _small_dict()
    raw["stages"].append({"name": "c", "final": True})
    # the unregistered guard keeps its transition guarded, so the rules see no shadowing
    raw["transitions"] = [
        {"trigger": "go", "source": "a", "dest": "b", "guards": ["paid"]},
        {"trigger": "go", "source": "a", "dest": "b"},
        {"trigger": "skip", "source": "a", "dest": "b"},
        {"trigger": "skip", "source": "a", "dest": "c", "guards": [{"not": "vip"}]},
    ]
    with pytest.raises(DefinitionError) as info:
        JourneyDefinition.from_dict(raw)
    messages = [p.message for p in info.value.problems]
    assert len(messages) == 3, messages
    assert "guard 'paid', which is not registered" in messages[0]
    assert "guard 'vip', which is not registered" in messages[1]
    assert "trigger 'skip' has 1 transition(s) after an unguarded one to 'b'" in messages[2]


def test_from_dict_skips_rule_echoes_when_a_rule_input_cannot_be_read() -> None:
    raw = _small_dict()
    raw["stages"][0]["initial"] = "yes"  # no initial stage would only echo this problem
    raw["transitions"].append({"trigger": "back", "source": 3, "dest": "a"})
    with pytest.raises(DefinitionError) as info:
        JourneyDefinition.from_dict(raw)
    assert [p.message for p in info.value.problems] == [
        "stages[0] ('a'): 'initial' must be true or false, got 'yes'",
        "transitions[1] ('back'): 'source' must be a stage name, a list of stage names or '*', "
        "got 3",
    ]


def test_from_dict_leaves_out_bad_descriptions_and_metadata_and_still_runs_the_rules() -> None:
    raw = _small_dict(metadata={"owner": {1, 2}}, description=5)
    raw["stages"][1]["metadata"] = {"kpis": object()}
    raw["transitions"][0]["description"] = ["paid"]
    raw["stages"].append({"name": "c"})
    with pytest.raises(DefinitionError) as info:
        JourneyDefinition.from_dict(raw)
    messages = [p.message for p in info.value.problems]
    assert "stages[1] ('b'): metadata['kpis'] must be JSON-able" in messages[0]
    assert messages[1] == "transitions[0] ('go'): 'description' must be a str, got list"
    assert "definition: metadata['owner'] must be JSON-able" in messages[2]
    assert "description must be a str, got int" in messages[3]
    assert any("stage 'c' is unreachable" in m for m in messages[4:])


BAD_SECONDS = {
    "1e300": 1e300,
    "10**30": 10**30,
    "10**400": 10**400,
    "nan": float("nan"),
    "inf": float("inf"),
    "-inf": float("-inf"),
    # just past timedelta.min (-999999999 days): the range is not symmetric
    "below_min": -86_399_999_913_601,
    "below_min_float": -86_399_999_913_600.5,
    "-1e14": -1e14,
    "bool": True,
    "str": "10",
    "null": None,
    "list": [60],
}


@pytest.mark.parametrize("seconds", list(BAD_SECONDS.values()), ids=list(BAD_SECONDS))
def test_from_dict_refuses_bad_timeout_seconds_with_a_definition_error(seconds: Any) -> None:
    raw = _small_dict(timeouts=[{"stage": "a", "after_seconds": seconds, "trigger": "go"}])
    with pytest.raises(DefinitionError) as info:
        JourneyDefinition.from_dict(raw)
    (problem,) = info.value.problems
    assert problem.message.startswith("timeouts[0]: Timeout.after ")
    assert (problem.stage, problem.trigger) == ("a", "go")


def test_timeout_seconds_out_of_range_is_a_value_error_naming_the_limit() -> None:
    with pytest.raises(
        ValueError, match=r"out of range; .* up to 86399999999999 \(timedelta.max\)"
    ):
        Timeout("a", 1e300, "go")
    with pytest.raises(ValueError, match=r"more than 10\*\*30 seconds is out of range"):
        Timeout("a", 10**5000, "go")  # too long even to print
    assert Timeout("a", 86399999999999, "go").after == timedelta.max - timedelta(
        microseconds=999999
    )
    with pytest.raises(TypeError, match=r"Timeout: stage must be a str"):
        Timeout(["a"], 60, "go")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        ([1, 2], "definition must be a dict, got list"),
        ({1: "x", "name": "n", "stages": [], "transitions": []}, "unknown key 1 in definition"),
        (_small_dict(stages={"a": {}}), "'stages' must be a list, got dict"),
        (_small_dict(name=7), "'name' must be a str, got int"),
        (_small_dict(version=[1]), "version must be an int or a str, got [1]"),
        (_small_dict(version=True), "version must be an int or a str, got True"),
        (_small_dict(policy=None), "policy must be 'ignore' or 'strict', got None"),
        (_small_dict(timeouts="soon"), "'timeouts' must be a list, got str"),
        (_small_dict(transitions=[{"trigger": 1, "source": "a", "dest": "b"}]), "'trigger' must"),
        (_small_dict(transitions=[{"trigger": "go", "source": "a", "dest": 2}]), "'dest' must"),
        (
            _small_dict(transitions=[{"trigger": "go", "source": "a", "dest": "b", "guards": 1}]),
            "'guards' must be a list",
        ),
        (_small_dict(stages=[{"name": None, "initial": True}]), "'name' must be a str"),
    ],
)
def test_from_dict_raises_only_definition_errors_for_wrong_types(raw: Any, fragment: str) -> None:
    with pytest.raises(DefinitionError) as info:
        JourneyDefinition.from_dict(raw)
    assert any(fragment in p.message for p in info.value.problems), info.value.problems


def test_from_dict_refuses_a_guards_argument_that_holds_no_guards() -> None:
    with pytest.raises(TypeError, match=r"takes guards made with journeyfsm.guard"):
        JourneyDefinition.from_dict(_small_dict(), guards={"paid": lambda ctx: True})  # type: ignore[dict-item]
    with pytest.raises(TypeError, match=r"got 'paid'"):
        JourneyDefinition.from_dict(_small_dict(), guards=["paid"])  # type: ignore[list-item]


# -- names ------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["=", "stage", "state", "trigger", "0", "a b", "é", "->", "[*]"])
def test_any_other_non_empty_unpadded_stage_name_validates(name: str) -> None:
    d = _base().stage(name).transition("go", "a", name).transition("end", name, "z").build()
    assert d.candidates("a", "go")[0].dest == name


def test_a_stage_named_star_is_refused_because_star_is_the_wildcard_source() -> None:
    with pytest.raises(DefinitionError) as info:
        _base().stage("*").transition("go", "a", "*").transition("end", "a", "z").build()
    problem = info.value.problems[0]
    assert problem.stage == "*"
    assert problem.message.startswith("a stage cannot be named '*': source='*' means every")


@pytest.mark.parametrize("name", [" a2", "a2 ", "a2\n", "\ta2"])
def test_a_stage_name_with_surrounding_whitespace_is_refused(name: str) -> None:
    with pytest.raises(DefinitionError, match="starts or ends with whitespace") as info:
        _base().stage(name).transition("go", "a", name).transition("end", name, "z").build()
    assert info.value.problems[0].stage == name


# -- final stages -----------------------------------------------------------------------------
def _loyalty() -> JourneyBuilder:
    return (
        JourneyBuilder("loyalty")
        .stage("new", initial=True)
        .stage("loyal", final=True)
        .stage("gone", final=True)
        .transition("buy", "new", "loyal")
        .transition("leave", "*", "gone")
    )


def test_a_final_stage_keeps_internal_transitions() -> None:
    from conftest import quiet_logger

    from journeyfsm import JourneyMachine

    d = _loyalty().transition("buy", "loyal", None).build()
    assert d.candidates("loyal", "buy")[0].dest is None
    assert d.triggers_from("loyal") == ("buy",)
    assert d.triggers_from("gone") == ()  # "*" still means the non-final stages only
    machine = JourneyMachine(d, logger=quiet_logger())
    journey = machine.start("c-1")
    for _ in range(3):
        assert machine.fire(journey, "buy").moved
    assert journey.stage == "loyal"
    assert [(e.source, e.dest) for e in journey.history] == [
        ("new", "loyal"),
        ("loyal", "loyal"),
        ("loyal", "loyal"),
    ]


def test_a_transition_that_leaves_a_final_stage_is_refused() -> None:
    with pytest.raises(DefinitionError) as info:
        _loyalty().transition("churn", "loyal", "gone").build()
    (problem,) = info.value.problems
    assert (problem.stage, problem.trigger) == ("loyal", "churn")
    assert problem.message == (
        "final stage 'loyal' has an outgoing transition 'churn' to 'gone'; a final stage is "
        "never left: make it internal (dest=None), remove it, or make the stage non-final"
    )


def test_re_entering_a_final_stage_is_refused_in_favour_of_an_internal_transition() -> None:
    with pytest.raises(DefinitionError) as info:
        _loyalty().transition("repurchase", "loyal", "loyal").build()
    (problem,) = info.value.problems
    assert (problem.stage, problem.trigger) == ("loyal", "repurchase")
    assert "that re-enters it (dest == source runs its exit and enter hooks)" in problem.message
    assert "use dest=None" in problem.message


# -- validation: every kind of problem -------------------------------------------------------
def _base() -> JourneyBuilder:
    return JourneyBuilder("v").stage("a", initial=True).stage("z", final=True)


KINDS: list[tuple[str, Any, str]] = [
    (
        "unknown_dest",
        lambda: _base().transition("go", "a", "zz"),
        "trigger 'go' goes to unknown stage 'zz' (did you mean 'z'?)",
    ),
    (
        "unknown_source",
        lambda: _base().transition("go", "a", "z").transition("back", "q", "a"),
        "trigger 'back' starts from unknown stage 'q'",
    ),
    (
        "duplicate_stage",
        lambda: _base().stage("a").transition("go", "a", "z"),
        "duplicate stage 'a' (defined 2 times); stage names must be unique",
    ),
    (
        "no_initial",
        lambda: JourneyBuilder("v").stage("a").stage("z", final=True).transition("go", "a", "z"),
        "no initial stage; mark exactly one stage with Stage(..., initial=True)",
    ),
    (
        "several_initial",
        lambda: _base().stage("b", initial=True).transition("go", ["a", "b"], "z"),
        "several initial stages (a, b); mark exactly one as initial",
    ),
    (
        "initial_and_final",
        lambda: JourneyBuilder("v").stage("a", initial=True, final=True),
        "stage 'a' is both initial and final",
    ),
    (
        "unreachable",
        lambda: _base().stage("b").transition("go", "a", "z").transition("go", "b", "z"),
        "stage 'b' is unreachable from the initial stage 'a'",
    ),
    (
        "dead_end",
        lambda: _base().stage("b").transition("go", "a", "z").transition("step", "a", "b"),
        "stage 'b' is a dead end: it is not final and no transition leaves it",
    ),
    (
        "final_outgoing",
        lambda: _base().transition("go", "a", "z").transition("undo", "z", "a"),
        "final stage 'z' has an outgoing transition 'undo'",
    ),
    (
        "final_reentry",
        lambda: _base().transition("go", "a", "z").transition("again", "z", "z"),
        "final stage 'z' has an outgoing transition 'again' that re-enters it",
    ),
    (
        "star_stage",
        lambda: _base().stage("*", final=True).transition("go", "a", "z"),
        "a stage cannot be named '*'",
    ),
    (
        "padded_stage",
        lambda: _base().stage("b ", final=True).transition("go", "a", "z"),
        "stage name 'b ' starts or ends with whitespace",
    ),
    (
        "bad_version",
        lambda: (
            JourneyBuilder("v", version=1.5)  # type: ignore[arg-type]
            .stage("a", initial=True)
            .stage("z", final=True)
            .transition("go", "a", "z")
        ),
        "version must be an int or a str, got 1.5",
    ),
    (
        "non_identifier_trigger",
        lambda: _base().transition("add-to-cart", "a", "z"),
        "trigger 'add-to-cart' is not a valid identifier",
    ),
    (
        "keyword_trigger",
        lambda: _base().transition("class", "a", "z"),
        "trigger 'class' is not a valid identifier",
    ),
    (
        "timeout_unknown_stage",
        lambda: _base().transition("go", "a", "z").timeout("b", 60, "go"),
        "timeout on unknown stage 'b'",
    ),
    (
        "timeout_trigger_not_from_stage",
        lambda: (
            _base()
            .stage("b")
            .transition("go", "a", "b")
            .transition("end", "b", "z")
            .timeout("a", 60, "end")
        ),
        "timeout on stage 'a' fires 'end', which has no transition from 'a'",
    ),
    (
        "timeout_not_positive",
        lambda: _base().transition("go", "a", "z").timeout("a", 0, "go"),
        "must have a positive duration",
    ),
    (
        "shadowed_candidate",
        lambda: (
            _base().stage("b", final=True).transition("go", "a", "z").transition("go", "a", "b")
        ),
        "after an unguarded one to 'z'; they can never be chosen",
    ),
    (
        "wildcard_in_list",
        lambda: _base().transition("go", ["a", "*"], "z"),
        "'*' must stand alone as source='*'",
    ),
    (
        "empty_source_list",
        lambda: _base().transition("go", "a", "z").transition("nothing", [], "z"),
        "trigger 'nothing' has an empty source list",
    ),
    (
        "two_guards_one_name",
        lambda: (
            _base()
            .stage("b", final=True)
            .transition("go", "a", "z", guards=[guard(lambda ctx: True, name="ok")])
            .transition("go", "a", "b", guards=[guard(lambda ctx: False, name="ok")])
        ),
        "two different guards are named 'ok'",
    ),
    (
        "bad_policy",
        lambda: (
            JourneyBuilder("v", policy="loose")  # type: ignore[arg-type]
            .stage("a", initial=True)
            .stage("z", final=True)
            .transition("go", "a", "z")
        ),
        "policy must be 'ignore' or 'strict', got 'loose'",
    ),
    (
        "empty_name",
        lambda: (
            JourneyBuilder("")
            .stage("a", initial=True)
            .stage("z", final=True)
            .transition("go", "a", "z")
        ),
        "the definition needs a non-empty name",
    ),
]


@pytest.mark.parametrize(("kind", "make", "message"), KINDS, ids=[k[0] for k in KINDS])
def test_every_validation_problem_kind_is_reported(kind: str, make: Any, message: str) -> None:
    with pytest.raises(DefinitionError) as info:
        make().build()
    err = info.value
    assert any(message in p.message for p in err.problems), [p.message for p in err.problems]
    assert message in str(err)
    assert isinstance(err, ValueError) and isinstance(err, JourneyError)
    assert all(isinstance(p, Problem) for p in err.problems)


def test_problems_carry_stage_and_trigger() -> None:
    with pytest.raises(DefinitionError) as info:
        _base().transition("go", "a", "z").transition("undo", "z", "a").build()
    (problem,) = info.value.problems
    assert (problem.stage, problem.trigger) == ("z", "undo")
    assert str(problem) == problem.message


def test_valid_definitions_from_templates_build(checkout_definition: JourneyDefinition) -> None:
    for factory in templates.TEMPLATES.values():
        d = factory()
        assert isinstance(d, JourneyDefinition)
        assert d == factory()


def test_unrelated_guard_objects_in_definitions_compare_by_identity() -> None:
    def fn(ctx: Any) -> bool:
        return True

    assert guard(fn, name="g") == guard(fn, name="g")
    assert guard(fn, name="g") != guard(lambda ctx: True, name="g")
    assert cart_not_empty != is_vip


def test_a_definition_pickles_and_copies_and_rebuilds_its_tables() -> None:
    import copy
    import pickle

    from journeyfsm import templates

    for factory in templates.TEMPLATES.values():
        d = factory()
        again = pickle.loads(pickle.dumps(d))
        assert again == d
        assert (again.funnel, again.funnel_declared) == (d.funnel, d.funnel_declared)
        assert again.edges() == d.edges()
        assert again.candidates(d.initial_stage, d.triggers[0]) == d.candidates(
            d.initial_stage, d.triggers[0]
        )
        assert copy.deepcopy(d) is d and copy.copy(d) is d
        assert pickle.loads(pickle.dumps(d.stages[0])) == d.stages[0]
    undeclared = templates.aida().builder().funnel().build()
    assert not pickle.loads(pickle.dumps(undeclared)).funnel_declared


def test_stage_metadata_stays_read_only_after_a_copy() -> None:
    import copy

    from journeyfsm import Stage

    stage = copy.deepcopy(Stage("s", metadata={"kpi": ["rate"]}))
    with pytest.raises(TypeError, match="read-only"):
        stage.metadata["kpi"] = "x"  # type: ignore[index]
