"""Timed figures: the per-request cycle, as a web request or queue consumer runs it.

The headline ``cycle.journeyfsm`` runs as production does: the stored journey (snapshot
without history, a full event-id window) is restored, the event fires with a unique id,
and what a store writes is made: the snapshot without history and the new history entry
apart.  The peers do the same work by hand (dedupe the id, log the same JSON line through
the host's logger, write the entry and the window).  The flattering cycle (no ids, nothing
kept but the snapshot, logging filtered) is measured beside it.
"""

from __future__ import annotations

import time
from typing import Any

from journeyfsm import JourneyMachine

from .contenders import (
    HOST,
    WINDOW,
    Customer,
    configure_host_logging,
    dict_fire,
    fresh_event_ids,
    host_logger,
    journeyfsm_machine,
    peer_entry,
    peer_remember,
    peer_snapshot,
    statemachine_class,
    transitions_machine,
)
from .figures_speed import TO_INTENT, intent_journey
from .harness import Settings, Timer, timed
from .workload import CART, GUARDED_TRIGGER, copy_data

__all__: list[str] = []  # figures register themselves


# ======================================================================================
# cycle: one request = snapshot dict -> journey -> fire the guarded checkout -> what a
# store writes (the snapshot without history, the new history entry apart)
# ======================================================================================
def _jfsm_snapshot(machine: JourneyMachine) -> dict[str, Any]:
    """The stored journey at ``intent`` with a full event-id window (WINDOW earlier ids)."""
    snap = machine.snapshot(intent_journey(machine, CART), history=False)
    snap["event_ids"] = fresh_event_ids(WINDOW)
    return snap


@timed(
    "cycle",
    "journeyfsm",
    unit="us/request",
    description="restore -> fire(event_id=<unique>) -> snapshot(history=False) + entry.to_dict()",
)
def cycle_journeyfsm(settings: Settings) -> Timer:
    configure_host_logging()
    machine = journeyfsm_machine(HOST)
    snap = _jfsm_snapshot(machine)

    def run(loops: int) -> float:
        restore, fire, snapshot = machine.restore, machine.fire, machine.snapshot
        event_ids = fresh_event_ids(loops)
        t0 = time.perf_counter()
        for event_id in event_ids:
            journey = restore(snap)
            outcome = fire(journey, GUARDED_TRIGGER, event_id=event_id)
            snapshot(journey, history=False)
            outcome.entry.to_dict()  # type: ignore[union-attr]
        return time.perf_counter() - t0

    return run


def _jfsm_cycle_flattering(history: bool) -> Timer:
    machine = journeyfsm_machine()
    snap = machine.snapshot(intent_journey(machine, CART), history=history)

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
    "journeyfsm_flattering",
    unit="us/request",
    description="restore -> fire -> snapshot(history=False): no ids, no entry kept, filtered",
)
def cycle_journeyfsm_flattering(settings: Settings) -> Timer:
    return _jfsm_cycle_flattering(history=False)


@timed(
    "cycle",
    "journeyfsm_history",
    unit="us/request",
    description="the flattering cycle with history in the snapshot (3 entries in, 4 out)",
)
def cycle_journeyfsm_history(settings: Settings) -> Timer:
    return _jfsm_cycle_flattering(history=True)


PEER_SNAP = peer_snapshot("customer-42", "intent", CART, len(TO_INTENT), fresh_event_ids(WINDOW))


def _peer_request(move: Any, log: Any, snap: dict[str, Any], event_id: str) -> None:
    """One request as a peer's host must write it to match journeyfsm's: dedupe the event
    id, move, log the line, keep the new history entry and the event-id window."""
    ids = snap["event_ids"]
    if event_id in ids:
        return
    model = Customer(snap["key"], snap["stage"], copy_data(snap["data"]), snap["version"])
    source = model.state
    if not move(model):
        return
    version = model.version + 1
    log.info(
        "journey.moved",
        key=model.key,
        trigger=GUARDED_TRIGGER,
        source=source,
        dest=model.state,
        event_id=event_id,
    )
    peer_entry(version, GUARDED_TRIGGER, source, model.state, event_id)
    peer_snapshot(model.key, model.state, model.data, version, peer_remember(ids, event_id))


def _peer_cycle(move: Any) -> Timer:
    configure_host_logging()
    log = host_logger()

    def run(loops: int) -> float:
        snap = PEER_SNAP
        event_ids = fresh_event_ids(loops)
        t0 = time.perf_counter()
        for event_id in event_ids:
            _peer_request(move, log, snap, event_id)
        return time.perf_counter() - t0

    return run


def _peer_cycle_bare(move: Any) -> Timer:
    """The peers' flattering request: model from snapshot -> move -> snapshot, nothing else."""

    def run(loops: int) -> float:
        snap = PEER_SNAP
        t0 = time.perf_counter()
        for _ in range(loops):
            model = Customer(snap["key"], snap["stage"], copy_data(snap["data"]), snap["version"])
            moved = move(model)
            peer_snapshot(model.key, model.state, model.data, model.version + moved)
        return time.perf_counter() - t0

    return run


def _add_model_move() -> Any:
    machine = transitions_machine()

    def move(model: Customer) -> bool:
        machine.add_model(model, initial=model.state)
        moved: bool = model.trigger(GUARDED_TRIGGER)  # type: ignore[attr-defined]
        machine.remove_model(model)
        return moved

    return move


def _statemachine_move() -> Any:
    cls = statemachine_class()

    def move(model: Customer) -> bool:
        cls(model=model, start_value=model.state).send(GUARDED_TRIGGER)
        return True

    return move


@timed(
    "cycle",
    "transitions_add_model",
    unit="us/request",
    description="the same request with add_model -> model.trigger -> remove_model per request",
)
def cycle_transitions_add_model(settings: Settings) -> Timer:
    return _peer_cycle(_add_model_move())


@timed(
    "cycle",
    "transitions_add_model_bare",
    unit="us/request",
    description="model from snapshot -> add_model -> trigger -> remove_model -> snapshot only",
)
def cycle_transitions_add_model_bare(settings: Settings) -> Timer:
    return _peer_cycle_bare(_add_model_move())


@timed(
    "cycle",
    "transitions",
    unit="us/request",
    description="the same request on a shared transitions machine: events[t].trigger(model)",
)
def cycle_transitions(settings: Settings) -> Timer:
    event = transitions_machine().events[GUARDED_TRIGGER]

    def move(model: Customer) -> bool:
        moved: bool = event.trigger(model)
        return moved

    return _peer_cycle(move)


@timed(
    "cycle",
    "statemachine",
    unit="us/request",
    description="the same request with StateMachine(model, start_value).send(trigger)",
)
def cycle_statemachine(settings: Settings) -> Timer:
    return _peer_cycle(_statemachine_move())


@timed(
    "cycle",
    "statemachine_bare",
    unit="us/request",
    description="model from snapshot -> StateMachine(model, start_value).send -> snapshot only",
)
def cycle_statemachine_bare(settings: Settings) -> Timer:
    return _peer_cycle_bare(_statemachine_move())


@timed(
    "cycle",
    "dict",
    unit="us/request",
    description="the same request on the dict table (the floor)",
)
def cycle_dict(settings: Settings) -> Timer:
    def move(model: Customer) -> bool:
        record = {"stage": model.state, "data": model.data, "version": model.version}
        moved = dict_fire(record, GUARDED_TRIGGER)
        model.state = record["stage"]  # type: ignore[assignment]
        return moved

    return _peer_cycle(move)
