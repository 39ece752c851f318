"""Timed figures: fire, the per-request cycle, explain, a blocked fire, one log call.

Timed figures do their setup (machines, journeys) outside the measured part.  The main
journeyfsm figures use a structlog logger filtered at WARNING, injected into the machine
(nothing is configured globally), and the system clock.
"""

from __future__ import annotations

import time
from typing import Any

from journeyfsm import Journey, JourneyMachine

from .contenders import (
    Customer,
    NoLogger,
    dict_fire,
    filtered_logger,
    journeyfsm_machine,
    null_sink_logger,
    peer_snapshot,
    statemachine_class,
    transitions_machine,
)
from .harness import Settings, Timer, timed
from .workload import CART, CYCLE, GUARDED_TRIGGER, INITIAL, copy_data

__all__: list[str] = []  # figures register themselves; nothing to import from here

EVENTS = len(CYCLE)
TO_INTENT = ("discover", "research", "compare")  # then the guarded checkout


def _intent_journey(machine: JourneyMachine, data: dict[str, Any]) -> Journey:
    journey = machine.start("customer-42", data)
    for trigger in TO_INTENT:
        machine.fire(journey, trigger)
    return journey


# ======================================================================================
# fire: one event on a live journey (the CYCLE, so 1 in 6 events runs the guard)
# ======================================================================================
def _jfsm_fire(logger: Any) -> Timer:
    machine = journeyfsm_machine(logger)

    def run(loops: int) -> float:
        journey = machine.start("customer-42", CART)
        fire = machine.fire
        t0 = time.perf_counter()
        for _ in range(loops):
            for trigger in CYCLE:
                fire(journey, trigger)
        return time.perf_counter() - t0

    return run


@timed(
    "fire",
    "journeyfsm",
    unit="us/event",
    ops_per_loop=EVENTS,
    description="machine.fire(journey, trigger); structlog filtered out (the main figure)",
)
def fire_journeyfsm(settings: Settings) -> Timer:
    return _jfsm_fire(filtered_logger())


@timed(
    "fire",
    "journeyfsm_no_logger",
    unit="us/event",
    ops_per_loop=EVENTS,
    description="journeyfsm with a do-nothing logger: the baseline for structlog's cost",
)
def fire_journeyfsm_no_logger(settings: Settings) -> Timer:
    return _jfsm_fire(NoLogger())


@timed(
    "fire",
    "journeyfsm_null_sink",
    unit="us/event",
    ops_per_loop=EVENTS,
    description="journeyfsm with structlog rendering JSON (level, ISO time) to /dev/null",
)
def fire_journeyfsm_null_sink(settings: Settings) -> Timer:
    return _jfsm_fire(null_sink_logger())


@timed(
    "fire",
    "transitions",
    unit="us/event",
    ops_per_loop=EVENTS,
    description="shared transitions.Machine: machine.events[trigger].trigger(model)",
)
def fire_transitions(settings: Settings) -> Timer:
    machine = transitions_machine()

    def run(loops: int) -> float:
        model = Customer("customer-42", INITIAL, copy_data(CART))
        events = machine.events
        t0 = time.perf_counter()
        for _ in range(loops):
            for trigger in CYCLE:
                events[trigger].trigger(model)
        return time.perf_counter() - t0

    return run


@timed(
    "fire",
    "statemachine",
    unit="us/event",
    ops_per_loop=EVENTS,
    description="python-statemachine: sm.send(trigger) on a bound model",
)
def fire_statemachine(settings: Settings) -> Timer:
    cls = statemachine_class()

    def run(loops: int) -> float:
        sm = cls(model=Customer("customer-42", INITIAL, copy_data(CART)))
        send = sm.send
        t0 = time.perf_counter()
        for _ in range(loops):
            for trigger in CYCLE:
                send(trigger)
        return time.perf_counter() - t0

    return run


@timed(
    "fire",
    "dict",
    unit="us/event",
    ops_per_loop=EVENTS,
    description="hand-written TABLE[stage][trigger] lookup, guard, hook (the floor)",
)
def fire_dict(settings: Settings) -> Timer:
    def run(loops: int) -> float:
        record = {"key": "customer-42", "stage": INITIAL, "data": copy_data(CART), "version": 0}
        t0 = time.perf_counter()
        for _ in range(loops):
            for trigger in CYCLE:
                dict_fire(record, trigger)
        return time.perf_counter() - t0

    return run


# ======================================================================================
# cycle: one request = snapshot dict -> journey -> fire the guarded checkout -> snapshot
# ======================================================================================
def _jfsm_cycle(history: bool) -> Timer:
    machine = journeyfsm_machine()
    snap = machine.snapshot(_intent_journey(machine, CART), history=history)

    def run(loops: int) -> float:
        restore, fire, snapshot = machine.restore, machine.fire, machine.snapshot
        t0 = time.perf_counter()
        for _ in range(loops):
            journey = restore(snap)
            fire(journey, GUARDED_TRIGGER)
            snapshot(journey, history=history)
        return time.perf_counter() - t0

    return run


@timed(
    "cycle",
    "journeyfsm",
    unit="us/request",
    description="restore(snapshot) -> fire -> snapshot(history=False) (history kept apart)",
)
def cycle_journeyfsm(settings: Settings) -> Timer:
    return _jfsm_cycle(history=False)


@timed(
    "cycle",
    "journeyfsm_history",
    unit="us/request",
    description="restore -> fire -> snapshot, history in the snapshot (3 entries in, 4 out)",
)
def cycle_journeyfsm_history(settings: Settings) -> Timer:
    return _jfsm_cycle(history=True)


SNAP = peer_snapshot("customer-42", "intent", CART, len(TO_INTENT))


@timed(
    "cycle",
    "transitions_add_model",
    unit="us/request",
    description="model from snapshot -> add_model -> model.trigger -> snapshot -> remove_model",
)
def cycle_transitions_add_model(settings: Settings) -> Timer:
    machine = transitions_machine()

    def run(loops: int) -> float:
        snap = SNAP
        t0 = time.perf_counter()
        for _ in range(loops):
            model = Customer(snap["key"], snap["stage"], copy_data(snap["data"]), snap["version"])
            machine.add_model(model, initial=snap["stage"])
            moved = model.trigger(GUARDED_TRIGGER)  # type: ignore[attr-defined]
            peer_snapshot(model.key, model.state, model.data, model.version + moved)
            machine.remove_model(model)
        return time.perf_counter() - t0

    return run


@timed(
    "cycle",
    "transitions",
    unit="us/request",
    description="model from snapshot -> shared machine.events[t].trigger(model) -> snapshot",
)
def cycle_transitions(settings: Settings) -> Timer:
    machine = transitions_machine()

    def run(loops: int) -> float:
        snap, events = SNAP, machine.events
        t0 = time.perf_counter()
        for _ in range(loops):
            model = Customer(snap["key"], snap["stage"], copy_data(snap["data"]), snap["version"])
            moved = events[GUARDED_TRIGGER].trigger(model)
            peer_snapshot(model.key, model.state, model.data, model.version + moved)
        return time.perf_counter() - t0

    return run


@timed(
    "cycle",
    "statemachine",
    unit="us/request",
    description="model from snapshot -> StateMachine(model, start_value) -> send -> snapshot",
)
def cycle_statemachine(settings: Settings) -> Timer:
    cls = statemachine_class()

    def run(loops: int) -> float:
        snap = SNAP
        t0 = time.perf_counter()
        for _ in range(loops):
            model = Customer(snap["key"], snap["stage"], copy_data(snap["data"]), snap["version"])
            cls(model=model, start_value=snap["stage"]).send(GUARDED_TRIGGER)
            peer_snapshot(model.key, model.state, model.data, model.version + 1)
        return time.perf_counter() - t0

    return run


@timed(
    "cycle",
    "dict",
    unit="us/request",
    description="dict record from snapshot -> dict table fire -> snapshot (the floor)",
)
def cycle_dict(settings: Settings) -> Timer:
    def run(loops: int) -> float:
        snap = SNAP
        t0 = time.perf_counter()
        for _ in range(loops):
            record = {**snap, "data": copy_data(snap["data"])}
            dict_fire(record, GUARDED_TRIGGER)
            peer_snapshot(record["key"], record["stage"], record["data"], record["version"])
        return time.perf_counter() - t0

    return run


# ======================================================================================
# explain, and a fire that guards block
# ======================================================================================
@timed(
    "explain",
    "journeyfsm",
    unit="us/call",
    description="machine.explain(journey, 'checkout') from intent, guard passing",
)
def explain_journeyfsm(settings: Settings) -> Timer:
    machine = journeyfsm_machine()
    journey = _intent_journey(machine, CART)

    def run(loops: int) -> float:
        explain = machine.explain
        t0 = time.perf_counter()
        for _ in range(loops):
            explain(journey, GUARDED_TRIGGER)
        return time.perf_counter() - t0

    return run


@timed(
    "blocked",
    "journeyfsm",
    unit="us/event",
    description="machine.fire(journey, 'checkout') with an empty cart: outcome blocked",
)
def blocked_journeyfsm(settings: Settings) -> Timer:
    machine = journeyfsm_machine()
    journey = _intent_journey(machine, {})

    def run(loops: int) -> float:
        fire = machine.fire
        t0 = time.perf_counter()
        for _ in range(loops):
            fire(journey, GUARDED_TRIGGER)
        return time.perf_counter() - t0

    return run


@timed(
    "blocked",
    "transitions",
    unit="us/event",
    description="shared transitions machine, condition false: trigger returns False",
)
def blocked_transitions(settings: Settings) -> Timer:
    machine = transitions_machine()
    model = Customer("customer-42", "intent", {})

    def run(loops: int) -> float:
        event = machine.events[GUARDED_TRIGGER]
        t0 = time.perf_counter()
        for _ in range(loops):
            event.trigger(model)
        return time.perf_counter() - t0

    return run


# ======================================================================================
# structlog: one log call exactly as fire makes it for a move
# ======================================================================================
def _log_call(logger: Any) -> Timer:
    log = logger.bind(definition="bench", definition_version=1)

    def run(loops: int) -> float:
        info = log.info
        t0 = time.perf_counter()
        for _ in range(loops):
            info(
                "journey.moved",
                key="c-42",
                trigger="checkout",
                source="intent",
                dest="purchase",
                event_id=None,
            )
        return time.perf_counter() - t0

    return run


@timed(
    "log_call",
    "structlog_filtered",
    unit="us/call",
    description="log.info('journey.moved', ...) with the level filtered out",
)
def log_call_filtered(settings: Settings) -> Timer:
    return _log_call(filtered_logger())


@timed(
    "log_call",
    "structlog_null_sink",
    unit="us/call",
    description="log.info('journey.moved', ...) rendered to JSON into /dev/null",
)
def log_call_null_sink(settings: Settings) -> Timer:
    return _log_call(null_sink_logger())
