"""The contract with the engine: what journeyfsm's adapter (``journeyfsm/_engine.py``) takes
from ``transitions``, pinned against ``transitions`` itself.

The adapter compiles every definition onto one shared ``transitions.Machine`` and
specialises it through the engine's extension points (``state_cls``, ``transition_cls``,
``event_cls``), overriding ``State.enter/exit``, ``Transition.execute/_change_state`` and
``Event.trigger``.  Those overrides read and write engine attributes directly.  If a new
``transitions`` release renames, retypes or reorders any of them, a test here fails and
names it, instead of journeys quietly misbehaving.  Only stock ``transitions`` classes are
used below; nothing from journeyfsm.

The supported range is declared in ``pyproject.toml`` (``transitions>=LOW,<CEILING``) and
``make test-all`` runs the whole suite on its lowest and highest versions.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from typing import Any

import pytest
from transitions import Machine
from transitions.core import Condition, Event, EventData, State, Transition


class Model:
    """A record as the adapter drives it: one slot for the stage, nothing else to attach."""

    __slots__ = ("stage",)

    def __init__(self, stage: str) -> None:
        self.stage = stage


class Ctx:
    """What the adapter passes as the first positional trigger argument."""

    def __init__(self) -> None:
        self.calls: list[str] = []


def _machine(cls: type[Machine] = Machine, **kwargs: Any) -> Any:
    """A machine configured exactly as the adapter configures its engines."""
    return cls(
        model=None,
        states=[
            {"name": "a", "final": False},
            {"name": "b", "final": False},
            {"name": "c", "final": True},
        ],
        initial="a",
        auto_transitions=False,
        send_event=True,
        model_attribute="stage",
        ignore_invalid_triggers=True,
        **kwargs,
    )


def _param_names(fn: Any) -> list[str]:
    return [p for p in inspect.signature(fn).parameters if p != "self"]


# -- Machine construction ------------------------------------------------------------------
def test_machine_accepts_the_adapter_keyword_arguments_and_keeps_them() -> None:
    machine = _machine()
    assert machine.send_event is True
    assert machine.auto_transitions is False
    assert machine.model_attribute == "stage"
    assert machine.ignore_invalid_triggers is True
    assert machine.initial == "a"


def test_machine_with_model_none_manages_no_model() -> None:
    # the adapter never calls add_model: the machine is shared by every journey
    assert _machine().models == []


def test_auto_transitions_false_creates_no_to_stage_events() -> None:
    machine = _machine()
    machine.add_transition("go", "a", "b")
    assert list(machine.events) == ["go"]


def test_states_are_declared_as_dicts_with_a_final_flag_in_order() -> None:
    machine = _machine()
    assert list(machine.states) == ["a", "b", "c"]
    assert [s.final for s in machine.states.values()] == [False, False, True]
    assert all(isinstance(s, State) for s in machine.states.values())
    assert machine.states["b"].name == "b"


def test_get_state_returns_the_state_object_and_rejects_unknown_names() -> None:
    machine = _machine()
    assert machine.get_state("b") is machine.states["b"]
    with pytest.raises(ValueError):
        machine.get_state("nowhere")


# -- extension points ----------------------------------------------------------------------
class _State(State):
    pass


class _Transition(Transition):
    pass


class _Event(Event):
    pass


class _Machine(Machine):
    state_cls = _State
    transition_cls = _Transition
    event_cls = _Event


def test_state_transition_and_event_classes_are_replaceable_on_a_subclass() -> None:
    machine = _machine(_Machine)
    machine.add_transition("go", "a", "b")
    assert all(type(s) is _State for s in machine.states.values())
    assert type(machine.events["go"]) is _Event
    assert type(machine.events["go"].transitions["a"][0]) is _Transition


def test_constructors_the_engine_calls_keep_their_signatures() -> None:
    assert _param_names(State.__init__)[:1] == ["name"]
    assert {"on_enter", "on_exit", "ignore_invalid_triggers", "final"} <= set(
        _param_names(State.__init__)
    )
    assert _param_names(Transition.__init__)[:2] == ["source", "dest"]
    assert _param_names(Event.__init__) == ["name", "machine"]
    assert _param_names(EventData.__init__) == [
        "state",
        "event",
        "machine",
        "model",
        "args",
        "kwargs",
    ]


def test_overridden_methods_exist_with_the_signatures_the_adapter_overrides() -> None:
    assert _param_names(State.enter) == ["event_data"]
    assert _param_names(State.exit) == ["event_data"]
    assert _param_names(Transition.execute) == ["event_data"]
    assert _param_names(Transition._change_state) == ["event_data"]
    assert _param_names(Event.trigger) == ["model", "args", "kwargs"]


# -- add_transition and what it builds ------------------------------------------------------
def test_add_transition_builds_one_transition_per_source_in_declaration_order() -> None:
    machine = _machine()
    first, second = (lambda ed: True), (lambda ed: False)
    machine.add_transition("go", "a", "b", conditions=[first])
    machine.add_transition("go", "a", "c", conditions=[second])
    machine.add_transition("go", "b", None)
    event = machine.events["go"]
    assert isinstance(event, Event) and event.name == "go" and event.machine is machine
    assert list(event.transitions) == ["a", "b"]
    assert [(t.source, t.dest) for t in event.transitions["a"]] == [("a", "b"), ("a", "c")]
    assert [(t.source, t.dest) for t in event.transitions["b"]] == [("b", None)]


def test_transition_conditions_wrap_the_given_callables_in_order() -> None:
    machine = _machine()
    checks = [lambda ed: True, lambda ed: True]
    machine.add_transition("go", "a", "b", conditions=checks)
    [t] = machine.events["go"].transitions["a"]
    assert isinstance(t.conditions, list)
    assert all(isinstance(c, Condition) for c in t.conditions)
    assert [c.func for c in t.conditions] == checks  # the very objects, not copies or names
    assert [c.target for c in t.conditions] == [True, True]


def test_transition_before_and_after_are_mutable_lists() -> None:
    machine = _machine()
    machine.add_transition("go", "a", "b")
    [t] = machine.events["go"].transitions["a"]
    assert t.before == [] and t.after == []
    t.before.append(print)
    t.after.insert(0, repr)
    assert machine.events["go"].transitions["a"][0].before == [print]
    assert machine.events["go"].transitions["a"][0].after == [repr]


def test_state_on_enter_and_on_exit_are_mutable_lists() -> None:
    state = _machine().get_state("b")
    assert state.on_enter == [] and state.on_exit == []
    state.on_enter.append(print)
    state.on_exit.append(repr)
    assert (state.on_enter, state.on_exit) == ([print], [repr])


def test_machine_state_change_callback_lists_are_mutable_in_place() -> None:
    machine = _machine()
    assert machine.before_state_change == [] and machine.after_state_change == []
    machine.before_state_change.append(print)
    machine.after_state_change.append(repr)
    # the adapter appends to these lists after construction: the property must hand out
    # the list the engine reads, not a copy
    assert machine.before_state_change == [print]
    assert machine.after_state_change == [repr]


def test_callback_lists_can_be_replaced_whole_and_the_engine_keeps_the_new_list() -> None:
    # the adapter wires hooks by assigning a new list (atomic for a racing fire), never by
    # mutating the list a fire in another thread may be iterating
    machine = _machine()
    machine.add_transition("go", "a", "b")
    [t] = machine.events["go"].transitions["a"]
    state = machine.get_state("b")
    new_before, new_after, enter, exit_, after = [print], [repr], [print], [repr], [str]
    machine.before_state_change = new_before
    machine.after_state_change = new_after
    state.on_enter, state.on_exit, t.after = enter, exit_, after
    assert machine.before_state_change is new_before
    assert machine.after_state_change is new_after
    assert (state.on_enter, state.on_exit, t.after) == (enter, exit_, after)


def test_engine_objects_take_the_adapter_own_attributes() -> None:
    # the adapter hangs its lookups (real names, destination states, a per-stage table) on
    # the engine's State, Transition and Event objects: none of them may use __slots__
    machine = _machine()
    machine.add_transition("go", "a", "b")
    event = machine.events["go"]
    [t] = event.transitions["a"]
    state = machine.get_state("a")
    state.label = "real stage"
    t.label, t.source_state, t.dest_state = "b-real", state, None
    event.by_stage = {"real stage": event.transitions.get("a", [])}
    assert (state.label, t.label, event.by_stage["real stage"]) == ("real stage", "b-real", [t])
    assert event.transitions.get("c", []) == []  # a source without transitions: no entry


def test_trigger_named_like_the_model_attribute_is_refused() -> None:
    # why the adapter cannot pass a trigger called "stage" through unchanged
    with pytest.raises(ValueError):
        _machine().add_transition("stage", "a", "b")


def test_wildcards_are_star_for_every_source_and_equals_for_the_same_dest() -> None:
    # stage names "*" and "=" mean something else to the engine: the adapter must not
    # pass such names through as they are
    machine = _machine()
    assert (Machine.wildcard_all, Machine.wildcard_same) == ("*", "=")
    machine.add_transition("stay", "*", "=")
    event = machine.events["stay"]
    assert sorted((t.source, t.dest) for ts in event.transitions.values() for t in ts) == [
        ("a", "a"),
        ("b", "b"),
        ("c", "c"),
    ]


# -- EventData ------------------------------------------------------------------------------
def test_event_data_constructor_and_the_attributes_the_adapter_reads_and_writes() -> None:
    machine = _machine()
    machine.add_transition("go", "a", "b")
    event = machine.events["go"]
    model, ctx = Model("a"), Ctx()
    data = EventData(None, event, machine, model, args=(ctx,), kwargs={})
    assert (data.state, data.event, data.machine, data.model) == (None, event, machine, model)
    assert data.args == (ctx,) and data.kwargs == {}
    assert data.transition is None and data.result is False
    data.state = machine.states["a"]
    data.transition = event.transitions["a"][0]
    data.result = True
    assert (data.state.name, data.transition.dest, data.result) == ("a", "b", True)


# -- the stock engine's behaviour the adapter reproduces ----------------------------------
@pytest.fixture
def traced() -> Iterator[tuple[Any, list[str]]]:
    """A stock machine with one callback at every step, each logging its name."""
    machine = _machine()
    log: list[str] = []

    def step(name: str, result: bool | None = None) -> Any:
        def callback(event_data: EventData) -> bool | None:
            assert isinstance(event_data, EventData)  # send_event=True
            log.append(name)
            return result

        return callback

    machine.add_transition(
        "go",
        "a",
        "b",
        conditions=[step("condition", True)],
        before=[step("before")],
        after=[step("after")],
    )
    machine.before_state_change.append(step("before_state_change"))
    machine.after_state_change.append(step("after_state_change"))
    machine.get_state("a").on_exit.append(step("exit a"))
    machine.get_state("b").on_enter.append(step("enter b"))
    yield machine, log


def test_stock_engine_order_of_a_move_is_the_one_the_adapter_keeps(
    traced: tuple[Any, list[str]],
) -> None:
    machine, log = traced
    model = Model("a")
    assert machine.events["go"].trigger(model, Ctx()) is True
    assert model.stage == "b"
    assert log == [
        "condition",
        "before_state_change",
        "before",
        "exit a",
        "enter b",
        "after",
        "after_state_change",
    ]


def test_stock_engine_moves_a_model_it_does_not_manage_and_attaches_nothing(
    traced: tuple[Any, list[str]],
) -> None:
    machine, _ = traced
    model = Model("a")  # __slots__: any attribute the engine tried to attach would raise
    machine.events["go"].trigger(model, Ctx())
    assert model.stage == "b"
    assert machine.models == []


def test_stock_engine_passes_trigger_arguments_through_event_data() -> None:
    machine = _machine()
    seen: list[tuple[Any, ...]] = []
    machine.add_transition("go", "a", "b", conditions=[lambda ed: seen.append(ed.args) or True])
    ctx = Ctx()
    machine.events["go"].trigger(Model("a"), ctx)
    assert seen == [(ctx,)]


def test_stock_engine_tries_candidates_in_order_and_stops_at_the_first_that_passes() -> None:
    machine = _machine()
    tried: list[str] = []

    def check(name: str, result: bool) -> Any:
        return lambda ed: tried.append(name) or result

    machine.add_transition("go", "a", "b", conditions=[check("first", False)])
    machine.add_transition("go", "a", "c", conditions=[check("second", True)])
    machine.add_transition("go", "a", "b", conditions=[check("third", True)])
    model = Model("a")
    assert machine.events["go"].trigger(model, Ctx()) is True
    assert (model.stage, tried) == ("c", ["first", "second"])


def test_stock_engine_internal_transition_runs_no_exit_or_enter(
    traced: tuple[Any, list[str]],
) -> None:
    machine, log = traced
    machine.add_transition("note", "b", None, after=[lambda ed: log.append("after note")])
    model = Model("b")
    assert machine.events["note"].trigger(model, Ctx()) is True
    assert model.stage == "b"
    assert log == ["before_state_change", "after note", "after_state_change"]


def test_stock_engine_ignores_a_trigger_invalid_from_the_stage_when_told_to() -> None:
    machine = _machine()
    machine.add_transition("go", "a", "b")
    model = Model("c")
    assert machine.events["go"].trigger(model, Ctx()) is False
    assert model.stage == "c"


# -- the adapter against the definition ---------------------------------------------------
def test_engine_candidates_equal_the_compiled_table_for_every_stage_and_trigger() -> None:
    """What the engine tries for (stage, trigger) is exactly the definition's table.

    Checked for every template and for definitions with names the engine would read
    specially (a stage called ``=``, a trigger called ``stage``).
    """
    from journeyfsm import JourneyBuilder, JourneyMachine, guard
    from journeyfsm.templates import TEMPLATES

    yes = guard(lambda ctx: True, name="yes")
    odd = (
        JourneyBuilder("odd")
        .stage("=", initial=True)
        .stage("[*]")
        .stage("stage", final=True)
        .transition("stage", "=", "[*]", guards=[yes])
        .transition("stage", "=", "stage")
        .transition("trigger", "*", None)
        .transition("to_x", "[*]", "stage")
        .build()
    )
    definitions = [factory() for factory in TEMPLATES.values()] + [odd]
    for d in definitions:
        engine = JourneyMachine(d)._engine
        for stage in d.stage_names:
            for trigger in d.triggers:
                expected = [(t.dest, t.guards) for t in d.candidates(stage, trigger)]
                assert engine.candidates(stage, trigger) == expected, (d.name, stage, trigger)
