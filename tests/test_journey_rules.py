"""Journey rules on the definition: exit criteria (code and dict form, validation,
the moves they compile to, history, explain, funnels, the service, path properties)."""

from __future__ import annotations

import json
import pickle
from datetime import timedelta

import pytest
from conftest import START, checkout_builder, quiet_logger
from hypothesis import given, settings
from service_support import ServiceFactory, make_service, open_store, store

from journeyfsm import (
    DefinitionError,
    Exit,
    InvalidTransition,
    Journey,
    JourneyBuilder,
    JourneyDefinition,
    JourneyMachine,
    ManualClock,
    guard,
    templates,
)
from journeyfsm.analytics import funnel
from journeyfsm.stores import Store
from journeyfsm.testing import (
    FINAL,
    assert_every_path,
    check_properties,
    definitions,
    every_path,
    no_traps,
)

__all__ = ["make_service", "open_store", "store"]  # fixtures, imported to be found


@guard
def really_deleted(ctx: object) -> bool:
    """the account deletion was confirmed"""
    payload = getattr(ctx, "payload", None)
    return isinstance(payload, dict) and payload.get("confirmed") is True


def shop_with_exits() -> JourneyDefinition:
    return (
        checkout_builder()
        .stage("unsubscribed", final=True)
        .stage("deleted", final=True)
        .exit("unsubscribe", "unsubscribed")
        .exit("delete_account", "deleted", guards=[really_deleted], description="GDPR delete")
        .build()
    )


def test_an_exit_compiles_to_one_candidate_per_non_final_stage() -> None:
    d = shop_with_exits()
    sources = sorted(e.source for e in d.edges() if e.trigger == "unsubscribe")
    assert sources == sorted(s.name for s in d.stages if not s.final)
    (cand,) = d.candidates("cart", "delete_account")
    assert (cand.dest, cand.guards, cand.description) == (
        "deleted",
        (really_deleted,),
        "GDPR delete",
    )
    assert d.candidates("paid", "unsubscribe") == ()  # a final stage has ended already
    assert "unsubscribe" in d.triggers
    # declared transitions are what the user wrote; exits stay exits
    assert not [t for t in d.transitions if t.trigger in ("unsubscribe", "delete_account")]
    assert [e.trigger for e in d.exits] == ["unsubscribe", "delete_account"]


def test_exiting_moves_records_history_and_ends_the_journey() -> None:
    machine = JourneyMachine(shop_with_exits(), clock=ManualClock(START), logger=quiet_logger())
    journey = machine.start("c-1")
    machine.fire(journey, "add_to_cart")
    outcome = machine.fire(journey, "unsubscribe", event_id="e-9")
    assert (outcome.status, outcome.source, outcome.dest) == ("moved", "cart", "unsubscribed")
    last = journey.history[-1]
    assert (last.trigger, last.source, last.dest, last.event_id) == (
        "unsubscribe",
        "cart",
        "unsubscribed",
        "e-9",
    )
    assert machine.fire(journey, "add_to_cart").ignored  # ended: nothing moves it
    assert machine.fire(journey, "unsubscribe").ignored
    with pytest.raises(InvalidTransition):
        machine.fire(journey, "unsubscribe", policy="strict")


def test_an_exit_with_a_guard_is_blocked_like_any_move_and_explained() -> None:
    machine = JourneyMachine(shop_with_exits(), clock=ManualClock(START), logger=quiet_logger())
    journey = machine.start("c-1")
    blocked = machine.fire(journey, "delete_account", {"confirmed": False})
    assert blocked.blocked and blocked.failed_guards == ("really_deleted",)
    text = str(machine.explain(journey, "unsubscribe"))
    assert "(exit criterion 'unsubscribe': ends the journey from any stage)" in text
    assert machine.fire(journey, "delete_account", {"confirmed": True}).dest == "deleted"


def test_exits_round_trip_through_the_dict_form_and_pickle() -> None:
    d = shop_with_exits()
    data = json.loads(json.dumps(d.to_dict()))
    assert data["exits"][1] == {
        "trigger": "delete_account",
        "stage": "deleted",
        "guards": ["really_deleted"],
        "description": "GDPR delete",
    }
    assert JourneyDefinition.from_dict(data, guards=d.guards()) == d
    assert "really_deleted" in d.guards()
    # guard-free, so pickling needs no importable guard function
    small = templates.aida().builder().stage("gone", final=True).exit("bye", "gone").build()
    assert pickle.loads(pickle.dumps(small)) == small
    assert d.builder().build() == d
    assert "exits" not in templates.aida().to_dict()  # unchanged for definitions without


def test_a_default_funnel_leaves_exit_stages_out_and_funnels_count_exits() -> None:
    d = shop_with_exits()
    assert "unsubscribed" not in d.funnel and "deleted" not in d.funnel
    machine = JourneyMachine(d, clock=ManualClock(START), logger=quiet_logger())
    a, b, c = (machine.start(k) for k in "abc")
    for j in (a, b):
        machine.fire(j, "add_to_cart")
    machine.fire(a, "unsubscribe")
    f = funnel([a, b, c], d)
    stats = f.stage("unsubscribed")
    assert (stats.in_funnel, stats.entered, stats.current) == (False, 1, 1)
    assert f.trigger_moves["unsubscribe"] == 1
    assert f.stage("cart").reached == 2  # exiting from the cart is not progress past it


@pytest.mark.parametrize(
    ("build", "problem"),
    [
        (lambda b: b.exit("unsubscribe", "nowhere"), "exit 'unsubscribe' goes to unknown stage"),
        (lambda b: b.exit("unsubscribe", "cart"), "which is not final"),
        (lambda b: b.exit("pay", "gone"), "exit trigger 'pay' is also the trigger of a transition"),
        (lambda b: b.exit("bye", "gone").exit("bye", "gone"), "two exits use the trigger 'bye'"),
        (lambda b: b.exit("not valid", "gone"), "is not a valid identifier"),
        (lambda b: b.exit("bye", "gone").funnel("browsing", "gone"), "the stage of an exit"),
    ],
)
def test_invalid_exits_are_definition_problems(build: object, problem: str) -> None:
    builder = checkout_builder().stage("gone", final=True).transition("vanish", "cart", "gone")
    with pytest.raises(DefinitionError, match=problem):
        build(builder).build()  # type: ignore[operator]


def test_exit_values_are_checked_where_they_enter() -> None:
    with pytest.raises(TypeError):
        Exit(3, "gone")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Exit("bye", "gone", guards=["not a guard"])  # type: ignore[list-item]
    with pytest.raises(DefinitionError, match="exits must be Exit objects"):
        JourneyDefinition(
            "x",
            stages=checkout_builder().build().stages,
            transitions=checkout_builder().build().transitions,
            exits=["bye"],  # type: ignore[list-item]
        )


def test_the_dict_form_reports_bad_exits_with_the_rest() -> None:
    data = shop_with_exits().to_dict()
    data["exits"] = [{"trigger": "bye"}, {"trigger": "x", "stage": "deleted", "guards": ["nope"]}]
    with pytest.raises(DefinitionError) as err:
        JourneyDefinition.from_dict(data, guards=shop_with_exits().guards())
    text = str(err.value)
    assert "exits[0] is missing the required key 'stage'" in text
    data["exits"] = [{"trigger": "x", "stage": "deleted", "guards": ["nope"]}]
    with pytest.raises(DefinitionError, match="uses guard 'nope', which is not registered"):
        JourneyDefinition.from_dict(data, guards=shop_with_exits().guards())


def test_remove_exit() -> None:
    d = shop_with_exits().builder().remove_exit("unsubscribe").remove_stage("unsubscribed")
    assert [e.trigger for e in d.build().exits] == ["delete_account"]
    with pytest.raises(KeyError, match="did you mean 'delete_account'"):
        d.remove_exit("delete_acount")


def test_path_properties_see_exits_as_moves() -> None:
    # without the exit, abandon/come_back and add_to_cart cycle forever
    base = checkout_builder().build()
    assert not check_properties(base, [every_path(FINAL)])[0].holds
    # an exit does not end those cycles (customers may keep cycling), but it is a move
    d = shop_with_exits()
    assert_every_path(d, from_="paid", reaches=FINAL)
    (verdict,) = check_properties(d, [every_path("unsubscribed")])
    assert verdict.counterexample is not None  # other paths end elsewhere or cycle


def test_a_service_records_an_exit_like_any_move(
    store: Store, make_service: ServiceFactory
) -> None:
    machine = JourneyMachine(shop_with_exits(), clock=ManualClock(START), logger=quiet_logger())
    service = make_service(machine, store)
    assert service.handle("c-1", "add_to_cart", event_id="e-1").moved
    outcome = service.handle("c-1", "unsubscribe", event_id="e-2")
    assert (outcome.status, outcome.dest) == ("moved", "unsubscribed")
    assert [e.trigger for e in service.history("c-1")] == ["add_to_cart", "unsubscribe"]
    assert service.handle("c-1", "add_to_cart", event_id="e-3").ignored


def test_the_templates_unsubscribe_is_an_exit_criterion_that_round_trips() -> None:
    for name, make in templates.TEMPLATES.items():
        d = make()
        # every model but aida's ends in churned on an unsubscribe, from any stage
        assert [(x.trigger, x.stage) for x in d.exits] == (
            [] if name == "aida" else [("unsubscribe", "churned")]
        )
        assert JourneyBuilder.from_definition(d).build() == d
        assert JourneyDefinition.from_dict(d.to_dict()) == d


@settings(max_examples=60, deadline=None)
@given(definitions(max_stages=5, max_triggers=3, guards=False))
def test_an_exit_added_to_any_definition_ends_every_journey_from_every_stage(
    d: JourneyDefinition,
) -> None:
    with_exit = d.builder().stage("exited", final=True).exit("leave_now", "exited").build()
    machine = JourneyMachine(with_exit, clock=ManualClock(START), logger=quiet_logger())
    for stage in with_exit.stage_names:
        journey = Journey("k", stage)
        outcome = machine.fire(journey, "leave_now")
        if with_exit.stage(stage).final:
            assert outcome.ignored and journey.stage == stage
        else:
            assert (outcome.status, outcome.source, journey.stage) == ("moved", stage, "exited")
    # nothing else changed: the old table is inside the new one, the old funnel is kept
    for stage, row in d.table.items():
        for trigger, cands in row.items():
            assert with_exit.candidates(stage, trigger) == cands
    assert with_exit.funnel == d.funnel
    assert JourneyDefinition.from_dict(with_exit.to_dict()) == with_exit
    # a final stage is reachable from every stage now: no stage is a trap
    assert check_properties(with_exit, [no_traps()])[0].holds


def test_a_timeout_may_fire_an_exit() -> None:
    d = (
        checkout_builder()
        .stage("lapsed", final=True)
        .exit("lapse", "lapsed")
        .timeout("cart", timedelta(days=30), "lapse")
        .build()
    )
    clock = ManualClock(START)
    machine = JourneyMachine(d, clock=clock, logger=quiet_logger())
    journey = machine.start("c-1")
    machine.fire(journey, "add_to_cart")
    clock.advance(timedelta(days=31))
    (outcome,) = machine.tick(journey)
    assert (outcome.trigger, outcome.source, outcome.dest) == ("lapse", "cart", "lapsed")
