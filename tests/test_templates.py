"""The stage-model templates: each builds, validates, round-trips, walks, and extends cleanly."""

from __future__ import annotations

import inspect
import json
import re
from collections import deque
from collections.abc import Callable, Iterable
from pathlib import Path

import pytest

from journeyfsm import (
    Context,
    DefinitionError,
    Exit,
    JourneyDefinition,
    JourneyMachine,
    guard,
    templates,
)
from journeyfsm._template_data import UNSUBSCRIBE
from journeyfsm.templates import TEMPLATES

MakeMachine = Callable[..., JourneyMachine]
NAMES = sorted(TEMPLATES)
DOCS = Path(__file__).resolve().parent.parent / "docs" / "templates.md"

# The forward path of each template, written out independently of the data module.
FORWARD: dict[str, list[str]] = {
    "aida": ["engage", "want", "buy"],
    "eight-phases": [
        "research",
        "shortlist",
        "order_paid",
        "follow_up",
        "use_product",
        "review",
        "recommend",
    ],
    "six-stages": ["research", "shortlist", "order_paid", "follow_up", "recommend"],
    "five-stages": ["research", "order_paid", "follow_up", "recommend"],
    "five-stages-conversion": ["research", "purchase", "follow_up", "recommend"],
    "four-steps": ["shortlist", "checkout", "deliver"],
}

FACTORIES = {
    "aida": "aida",
    "eight-phases": "eight_phases",
    "six-stages": "six_stages",
    "five-stages": "five_stages",
    "five-stages-conversion": "five_stages_conversion",
    "four-steps": "four_steps",
}


@guard
def approved(ctx: Context) -> bool:
    """the move was approved"""
    return ctx.journey.data.get("approved") is True


def forward_stages(d: JourneyDefinition, triggers: Iterable[str]) -> list[str]:
    """The stages visited by following ``triggers`` from the initial stage."""
    stages = [d.initial_stage]
    for trigger in triggers:
        (cand,) = d.candidates(stages[-1], trigger)
        assert cand.dest is not None
        stages.append(cand.dest)
    return stages


def reachable(d: JourneyDefinition, start: str) -> set[str]:
    seen = {start}
    todo = deque([start])
    while todo:
        cur = todo.popleft()
        for edge in d.edges():
            if edge.source == cur and edge.dest is not None and edge.dest not in seen:
                seen.add(edge.dest)
                todo.append(edge.dest)
    return seen


# -- every template ------------------------------------------------------------------------
def test_templates_mapping_lists_every_template_under_its_definition_name() -> None:
    assert set(TEMPLATES) == set(FORWARD) == set(FACTORIES)
    for name, factory in TEMPLATES.items():
        assert factory is getattr(templates, FACTORIES[name])
        assert factory().name == name


def test_templates_mapping_is_read_only() -> None:
    with pytest.raises(TypeError):
        TEMPLATES["mine"] = templates.aida  # type: ignore[index]


def test_all_lists_every_public_name() -> None:
    functions = {
        n
        for n, v in vars(templates).items()
        if inspect.isfunction(v) and v.__module__ == templates.__name__ and not n.startswith("_")
    }
    assert functions == set(FACTORIES.values())
    assert sorted(templates.__all__) == sorted({"TEMPLATES", *functions})


@pytest.mark.parametrize("name", NAMES)
def test_template_builds_a_fresh_valid_definition(name: str) -> None:
    first, second = TEMPLATES[name](), TEMPLATES[name]()
    assert isinstance(first, JourneyDefinition)
    assert first is not second
    assert first == second
    # constructing again from its own parts runs the validator again
    again = JourneyDefinition(
        name=first.name,
        stages=first.stages,
        transitions=first.transitions,
        timeouts=first.timeouts,
        version=first.version,
        description=first.description,
        policy=first.policy,
        metadata=first.metadata,
        funnel=first.funnel,
        exits=first.exits,
    )
    assert again == first
    assert first.description


@pytest.mark.parametrize("name", NAMES)
def test_dict_round_trip_is_exact(name: str) -> None:
    d = TEMPLATES[name]()
    data = d.to_dict()
    back = JourneyDefinition.from_dict(data)
    assert back == d
    assert back.to_dict() == data
    # and through real JSON text
    assert JourneyDefinition.from_dict(json.loads(json.dumps(data))) == d


@pytest.mark.parametrize("name", NAMES)
def test_every_stage_is_reachable_from_the_initial_stage(name: str) -> None:
    d = TEMPLATES[name]()
    assert reachable(d, d.initial_stage) == set(d.stage_names)


@pytest.mark.parametrize("name", NAMES)
def test_every_non_final_stage_can_be_left(name: str) -> None:
    d = TEMPLATES[name]()
    for stage in d.stage_names:
        if stage in d.final_stages:
            assert d.triggers_from(stage) == ()
        else:
            assert any(e.source == stage and e.dest not in (None, stage) for e in d.edges())


SHARED_EXITS = {"drop_out", "unsubscribe"}


@pytest.mark.parametrize("name", NAMES)
def test_no_template_fakes_a_final_stage_with_a_dummy_exit(name: str) -> None:
    """A non-final stage leads somewhere of its own, not only out through the shared
    drop-out design: a stage that should end the journey is final (and may keep
    internal transitions), not kept open by an exit nobody takes."""
    d = TEMPLATES[name]()
    for stage in d.stage_names:
        if stage in d.final_stages:
            continue
        own = [
            e
            for e in d.edges()
            if e.source == stage and e.dest not in (None, stage) and e.trigger not in SHARED_EXITS
        ]
        assert own, f"{name}: non-final {stage!r} is left only by {sorted(SHARED_EXITS)}"


@pytest.mark.parametrize("name", NAMES)
def test_final_stages_of_a_template_can_keep_internal_transitions(name: str) -> None:
    d = TEMPLATES[name]()
    extended = d.builder()
    for stage in d.final_stages:
        extended.transition("note", stage, None)
    bigger = extended.build(name=f"{name}-notes")
    for stage in d.final_stages:
        assert bigger.candidates(stage, "note")[0].dest is None


def test_docs_code_runs() -> None:
    blocks = re.findall(r"^```python\n(.*?)^```\n", DOCS.read_text(encoding="utf-8"), re.S | re.M)
    assert len(blocks) >= 5
    for code in blocks:
        exec(compile(code, str(DOCS), "exec"), {"__name__": "docs_templates"})


@pytest.mark.parametrize("name", NAMES)
def test_templates_have_no_guards(name: str) -> None:
    d = TEMPLATES[name]()
    assert d.guards() == {}
    assert all(t.guards == () for t in d.transitions)


@pytest.mark.parametrize("name", NAMES)
def test_has_drop_out_and_re_engagement_path(name: str) -> None:
    d = TEMPLATES[name]()
    forward = set(forward_stages(d, FORWARD[name]))
    drop_outs = {
        e.dest
        for e in d.edges()
        if e.source in forward
        and e.dest is not None
        and e.dest not in forward
        and e.dest not in d.final_stages
    }
    assert drop_outs, "no drop-out stage off the forward path"
    assert any(reachable(d, x) & forward for x in drop_outs), "no way back to the forward path"


@pytest.mark.parametrize("name", NAMES)
def test_every_stage_has_a_description(name: str) -> None:
    d = TEMPLATES[name]()
    assert all(s.description for s in d.stages)


@pytest.mark.parametrize("name", [n for n in NAMES if n != "aida"])
def test_stage_metadata_has_goals_channels_and_kpis(name: str) -> None:
    for stage in TEMPLATES[name]().stages:
        for key in ("goals", "channels", "kpis"):
            value = stage.metadata[key]
            assert isinstance(value, tuple)  # frozen list
            assert all(isinstance(item, str) and item for item in value)
        assert stage.metadata["kpis"], stage.name
        if not stage.final:
            assert stage.metadata["goals"] and stage.metadata["channels"], stage.name


@pytest.mark.parametrize("name", [n for n in NAMES if n != "aida"])
def test_shared_drop_out_design(name: str) -> None:
    d = TEMPLATES[name]()
    assert not d.stage("dormant").final
    assert d.final_stages == ("churned",)
    assert d.candidates("dormant", "re_engage")
    non_final = [s for s in d.stage_names if s not in d.final_stages]
    assert d.exits == (Exit("unsubscribe", "churned", description=UNSUBSCRIBE.description),)
    for stage in non_final:  # an exit criterion: one candidate in every non-final stage
        (cand,) = d.candidates(stage, "unsubscribe")
        assert cand.dest == "churned" and not cand.guards
    assert "unsubscribe" not in {t.trigger for t in d.transitions}


@pytest.mark.parametrize("name", NAMES)
def test_forward_path_can_be_walked_with_fire(name: str, make_machine: MakeMachine) -> None:
    d = TEMPLATES[name]()
    machine = make_machine(d)
    journey = machine.start("c-1")
    expected = forward_stages(d, FORWARD[name])
    for i, trigger in enumerate(FORWARD[name], 1):
        outcome = machine.fire(journey, trigger)
        assert outcome.moved, outcome
        assert journey.stage == expected[i]
    assert [e.trigger for e in journey.history] == FORWARD[name]
    assert journey.version == len(FORWARD[name])


@pytest.mark.parametrize("name", [n for n in NAMES if n != "aida"])
def test_drop_out_re_engage_and_unsubscribe_walk(name: str, make_machine: MakeMachine) -> None:
    d = TEMPLATES[name]()
    machine = make_machine(d)
    journey = machine.start("c-2")
    assert machine.fire(journey, FORWARD[name][0]).moved
    assert machine.fire(journey, "drop_out").dest == "dormant"
    back = machine.fire(journey, "re_engage")
    assert back.moved and back.dest in forward_stages(d, FORWARD[name])
    assert machine.fire(journey, "unsubscribe").dest == "churned"
    assert machine.fire(journey, "re_engage").ignored  # churned is final


# -- aida ----------------------------------------------------------------------------------
def test_aida_keeps_its_names() -> None:
    d = templates.aida()
    assert d.stage_names == ("attention", "interest", "desire", "action", "lost")
    assert d.triggers == ("engage", "want", "buy", "lose_interest", "re_engage")
    assert d.final_stages == ("action",)


# -- eight phases --------------------------------------------------------------------------
EIGHT = (
    "awareness",
    "consideration",
    "decision",
    "purchase",
    "retention",
    "usage",
    "evaluation",
    "advocacy",
)


def test_eight_phases_stages_exactly() -> None:
    d = templates.eight_phases()
    assert d.name == "eight-phases"
    assert d.stage_names == (*EIGHT, "dormant", "churned")
    assert d.initial_stage == "awareness"
    assert d.final_stages == ("churned",)
    assert "repeat purchase / advocacy" in d.stage("advocacy").description


def test_eight_phases_triggers_exactly() -> None:
    d = templates.eight_phases()
    rules = [(t.trigger, t.source, t.dest) for t in d.transitions]
    assert rules == [
        ("research", "awareness", "consideration"),
        ("shortlist", "consideration", "decision"),
        ("order_paid", "decision", "purchase"),
        ("follow_up", "purchase", "retention"),
        ("use_product", "retention", "usage"),
        ("review", "usage", "evaluation"),
        ("recommend", "evaluation", "advocacy"),
        ("repurchase", ("evaluation", "advocacy"), "purchase"),
        (
            "drop_out",
            tuple(s for s in EIGHT if s != "purchase"),
            "dormant",
        ),
        ("re_engage", "dormant", "consideration"),
    ]
    assert [(x.trigger, x.stage) for x in d.exits] == [("unsubscribe", "churned")]


def test_eight_phases_carry_their_aida_mapping() -> None:
    d = templates.eight_phases()
    aida = {s: d.stage(s).metadata["aida"] for s in EIGHT}
    assert aida == {
        "awareness": "attention",
        "consideration": "interest",
        "decision": "desire",
        "purchase": "action",
        "retention": "attention (repeat)",
        "usage": "interest (repeat)",
        "evaluation": "desire (repeat)",
        "advocacy": "action (repeat)",
    }
    aida_steps = set(templates.aida().stage_names) - {"lost"}
    assert all(value.split()[0] in aida_steps for value in aida.values())
    assert "aida" not in d.stage("dormant").metadata


def test_eight_phases_repurchase_loops_back_to_purchase(make_machine: MakeMachine) -> None:
    machine = make_machine(templates.eight_phases())
    journey = machine.start("c-3")
    for trigger in FORWARD["eight-phases"]:
        machine.fire(journey, trigger)
    assert machine.fire(journey, "repurchase").dest == "purchase"
    assert machine.fire(journey, "follow_up").dest == "retention"


# -- six stages, five stages, four steps ------------------------------------------------------
def test_six_stages_names() -> None:
    d = templates.six_stages()
    assert d.stage_names[:6] == (
        "awareness",
        "consideration",
        "decision",
        "purchase",
        "post_purchase",
        "loyalty",
    )
    assert "loyalty/advocacy" in d.stage("loyalty").description


def test_five_stages_channels() -> None:
    d = templates.five_stages()
    assert d.stage_names[:5] == ("awareness", "consideration", "purchase", "retention", "advocacy")
    allowed = {"website", "social", "email", "physical_store"}
    for stage in d.stages:
        channels = stage.metadata["channels"]
        assert set(channels) <= allowed, stage.name
        assert len(set(channels)) == len(channels)
        if not stage.final:
            assert channels, stage.name
    # the JSON form carries them as plain lists
    assert all(isinstance(s["metadata"]["channels"], list) for s in d.to_dict()["stages"])


def test_four_steps_names_and_internal_support_contact(make_machine: MakeMachine) -> None:
    d = templates.four_steps()
    assert d.stage_names[:4] == ("information_search", "choice", "buying", "after_sales_service")
    machine = make_machine(d)
    journey = machine.start("c-4")
    for trigger in FORWARD["four-steps"]:
        machine.fire(journey, trigger)
    outcome = machine.fire(journey, "contact_support")
    assert outcome.moved and journey.stage == "after_sales_service"
    assert journey.history[-1].source == journey.history[-1].dest == "after_sales_service"


# -- five stages, conversion ------------------------------------------------------------------
CONVERSIONS = {"purchase": "purchase", "subscribe": "subscription", "sign_up": "sign_up"}


def test_conversion_stages() -> None:
    d = templates.five_stages_conversion()
    assert d.stage_names[:5] == (
        "awareness",
        "consideration",
        "conversion",
        "retention",
        "advocacy",
    )
    assert set(d.stage("conversion").metadata["calls_to_action"]) == set(CONVERSIONS)


@pytest.mark.parametrize(("trigger", "kind"), sorted(CONVERSIONS.items()))
def test_conversion_triggers_carry_their_kind(
    trigger: str, kind: str, make_machine: MakeMachine
) -> None:
    d = templates.five_stages_conversion()
    (cand,) = d.candidates("consideration", trigger)
    assert cand.dest == "conversion"
    assert dict(cand.metadata) == {"conversion": kind}
    machine = make_machine(d)
    journey = machine.start("c-5")
    machine.fire(journey, "research")
    assert machine.explain(journey, trigger).chosen == cand
    assert machine.fire(journey, trigger).dest == "conversion"


def test_every_transition_into_conversion_is_a_call_to_action() -> None:
    d = templates.five_stages_conversion()
    into = [t for t in d.transitions if t.dest == "conversion"]
    assert {t.trigger for t in into} == set(CONVERSIONS)
    assert all(t.metadata["conversion"] == CONVERSIONS[t.trigger] for t in into)


# -- extending -----------------------------------------------------------------------------
@pytest.mark.parametrize("name", NAMES)
def test_extending_through_builder_leaves_the_template_unchanged(
    name: str, make_machine: MakeMachine
) -> None:
    original = TEMPLATES[name]()
    before = original.to_dict()
    start, first = original.initial_stage, FORWARD[name][0]
    extended = (
        original.builder()
        .stage("vip", description="top customers", metadata={"goals": ["keep them"]})
        .transition("promote", start, "vip")
        .transition("demote", "vip", start)
        .replace_stage(start, description="changed")
        .replace_guards(first, approved)
        .build(name=f"{name}-extended")
    )
    assert extended is not original
    assert extended.name == f"{name}-extended"
    assert extended.stage("vip").description == "top customers"
    assert extended.stage(start).description == "changed"
    assert extended.candidates(start, first)[0].guards == (approved,)
    assert extended.candidates(start, "promote")[0].dest == "vip"

    # the original object and a freshly built one are both untouched
    assert original.to_dict() == before
    fresh = TEMPLATES[name]()
    assert original == fresh
    assert not fresh.has_stage("vip")
    assert fresh.stage(start).description != "changed"
    assert fresh.candidates(start, first)[0].guards == ()

    # the guard works, and the extension round-trips with its guard registered
    machine = make_machine(extended)
    journey = machine.start("c-6")
    outcome = machine.fire(journey, first)
    assert outcome.blocked and outcome.failed_guards == ("approved",)
    journey.data["approved"] = True
    assert machine.fire(journey, first).moved
    assert JourneyDefinition.from_dict(extended.to_dict(), guards=[approved]) == extended


def test_builder_source_filter_touches_only_that_source() -> None:
    """Core bug (JourneyBuilder, journeyfsm/_definition.py): with ``source=``, ``remove_transitions`` and
    ``replace_guards`` act on a whole multi-source transition, so narrowing
    ``repurchase`` (from evaluation and advocacy) to one source changes the other too.
    ``remove_stage`` already narrows source lists; these two should do the same."""
    d = templates.eight_phases()
    removed = d.builder().remove_transitions("repurchase", source="evaluation").build()
    assert removed.candidates("evaluation", "repurchase") == ()
    assert removed.candidates("advocacy", "repurchase")[0].dest == "purchase"
    guarded = d.builder().replace_guards("repurchase", approved, source="evaluation").build()
    assert guarded.candidates("evaluation", "repurchase")[0].guards == (approved,)
    assert guarded.candidates("advocacy", "repurchase")[0].guards == ()


# -- docs ----------------------------------------------------------------------------------
def _doc_sections() -> dict[str, str]:
    text = DOCS.read_text(encoding="utf-8")
    parts = re.split(r"^## ", text, flags=re.MULTILINE)
    return {p.splitlines()[0]: p for p in parts[1:]}


@pytest.mark.parametrize("name", NAMES)
def test_docs_describe_every_stage_and_trigger(name: str) -> None:
    sections = _doc_sections()
    heading = [h for h in sections if f"`{FACTORIES[name]}()`" in h]
    assert len(heading) == 1, f"docs/templates.md needs one section for {FACTORIES[name]}()"
    section = sections[heading[0]]
    d = TEMPLATES[name]()
    for word in (*d.stage_names, *d.triggers):
        assert f"`{word}`" in section, f"{word!r} missing from the {name} section"
    assert "```mermaid" in section


def test_docs_have_an_extending_section() -> None:
    assert any("xtending" in h for h in _doc_sections())


def test_changing_a_templates_unsubscribe_names_the_exit_api() -> None:
    with pytest.raises(KeyError, match=r"exit criterion here; change it with remove_exit"):
        templates.six_stages().builder().remove_transitions("unsubscribe")
    with pytest.raises(DefinitionError, match=r"remove_exit\('unsubscribe'\)"):
        templates.six_stages().builder().transition("unsubscribe", "awareness", "churned").build()
    changed = (
        templates.six_stages()
        .builder()
        .remove_exit("unsubscribe")
        .transition("unsubscribe", "awareness", "churned")
        .build()
    )
    assert changed.exits == () and changed.candidates("awareness", "unsubscribe")
    assert not changed.candidates("consideration", "unsubscribe")
