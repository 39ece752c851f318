"""Timed figures: fire, the per-request cycle, explain, a blocked fire, one log call.

Timed figures do their setup (machines, journeys, event ids) outside the measured part.
The headline figures (``fire.journeyfsm``, ``cycle.journeyfsm`` and the peers they are
compared with) run as production does: a unique event id on every event, structlog
configured by the host to render JSON into a sink (the raw peers log the same line through
the host's logger), and the request cycle keeps the new history entry and the event-id
window.  The flattering configuration (no ids, logging filtered out) is measured beside it.
"""

from __future__ import annotations

import time
from typing import Any

from journeyfsm import Journey, JourneyMachine
from journeyfsm._logging import JourneyLog

from .contenders import (
    HOST,
    Customer,
    NoLogger,
    configure_host_logging,
    dict_fire,
    filtered_logger,
    fresh_event_ids,
    host_logger,
    journeyfsm_machine,
    statemachine_class,
    transitions_machine,
)
from .harness import Settings, Timer, timed
from .workload import CART, CYCLE, GUARDED_TRIGGER, INITIAL, copy_data

__all__ = ["TO_INTENT", "intent_journey"]  # figures register themselves; these are shared

EVENTS = len(CYCLE)
TO_INTENT = ("discover", "research", "compare")  # then the guarded checkout


def intent_journey(machine: JourneyMachine, data: dict[str, Any]) -> Journey:
    journey = machine.start("customer-42", data)
    for trigger in TO_INTENT:
        machine.fire(journey, trigger)
    return journey


# ======================================================================================
# fire: one event on a live journey (the CYCLE, so 1 in 6 events runs the guard)
# ======================================================================================
def _jfsm_fire(logger: Any, *, ids: bool) -> Timer:
    machine = journeyfsm_machine(logger)

    def run(loops: int) -> float:
        journey = machine.start("customer-42", CART)
        fire = machine.fire
        if ids:
            event_ids = iter(fresh_event_ids(loops * EVENTS))
            t0 = time.perf_counter()
            for _ in range(loops):
                for trigger in CYCLE:
                    fire(journey, trigger, event_id=next(event_ids))
            return time.perf_counter() - t0
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
    description="fire(journey, trigger, event_id=<unique>); host structlog renders JSON to a sink",
)
def fire_journeyfsm(settings: Settings) -> Timer:
    configure_host_logging()
    return _jfsm_fire(HOST, ids=True)


@timed(
    "fire",
    "journeyfsm_flattering",
    unit="us/event",
    ops_per_loop=EVENTS,
    description="fire(journey, trigger): no event ids, structlog filtered at WARNING",
)
def fire_journeyfsm_flattering(settings: Settings) -> Timer:
    return _jfsm_fire(filtered_logger(), ids=False)


@timed(
    "fire",
    "journeyfsm_no_logger",
    unit="us/event",
    ops_per_loop=EVENTS,
    description="the flattering fire with a do-nothing logger: the baseline for filtering",
)
def fire_journeyfsm_no_logger(settings: Settings) -> Timer:
    return _jfsm_fire(NoLogger(), ids=False)


@timed(
    "fire",
    "transitions",
    unit="us/event",
    ops_per_loop=EVENTS,
    description="shared transitions.Machine + the same JSON line through the host's logger",
)
def fire_transitions(settings: Settings) -> Timer:
    configure_host_logging()
    machine = transitions_machine()
    log = host_logger()

    def run(loops: int) -> float:
        model = Customer("customer-42", INITIAL, copy_data(CART))
        events, info = machine.events, log.info
        event_ids = iter(fresh_event_ids(loops * EVENTS))
        t0 = time.perf_counter()
        for _ in range(loops):
            for trigger in CYCLE:
                event_id = next(event_ids)
                source = model.state
                events[trigger].trigger(model)
                info(
                    "journey.moved",
                    key=model.key,
                    trigger=trigger,
                    source=source,
                    dest=model.state,
                    event_id=event_id,
                )
        return time.perf_counter() - t0

    return run


@timed(
    "fire",
    "transitions_bare",
    unit="us/event",
    ops_per_loop=EVENTS,
    description="shared transitions.Machine: machine.events[trigger].trigger(model), no logging",
)
def fire_transitions_bare(settings: Settings) -> Timer:
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
    description="python-statemachine: sm.send(trigger) on a bound model, no logging",
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
    journey = intent_journey(machine, CART)

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
    journey = intent_journey(machine, {})

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
# one log call exactly as fire makes it for a move, through the machine's JourneyLog
# ======================================================================================
def _log_call(log: JourneyLog) -> Timer:
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
    "filtered",
    unit="us/call",
    description="machine.logger.info('journey.moved', ...) with the level filtered out",
)
def log_call_filtered(settings: Settings) -> Timer:
    return _log_call(JourneyLog(filtered_logger(), definition="bench", definition_version=1))


@timed(
    "log_call",
    "json",
    unit="us/call",
    description="machine.logger.info('journey.moved', ...) rendered by the host's JSON config",
)
def log_call_json(settings: Settings) -> Timer:
    configure_host_logging()
    return _log_call(JourneyLog(None, definition="bench", definition_version=1))
