"""Each contender built from :mod:`benchmarks.workload`, with the same guard and after-hook.

- journeyfsm: ``JourneyMachine`` with ``journeyfsm.guard`` and ``machine.after``;
- raw transitions, used well: one shared ``Machine(model=None, send_event=True,
  auto_transitions=False)``, a condition callable and an ``after`` callback, fired with
  ``machine.events[trigger].trigger(model)``; and the common way, ``add_model`` per request;
- python-statemachine: a ``StateMachine`` subclass made from the same data, ``cond=`` and
  ``after=`` callables, bound to a model object;
- a hand-written dict table: ``TABLE[stage][trigger] -> ((dest, guarded), ...)``, the floor.

The peers' journeys are snapshotted as ``{"key", "stage", "data", "version"}``, the same
shape as ``JourneyMachine.snapshot(journey, history=False)`` minus its bookkeeping keys.
"""

from __future__ import annotations

import atexit
import logging
import os
from typing import Any, TextIO

import structlog
from statemachine import State, StateMachine
from transitions import Machine

import journeyfsm
from journeyfsm import Context, JourneyBuilder, JourneyDefinition, JourneyMachine

from .workload import (
    GUARD_NAME,
    INITIAL,
    STAGES,
    TRANSITIONS,
    cart_not_empty,
    copy_data,
    on_moved,
)

__all__ = [
    "TABLE",
    "Customer",
    "NoLogger",
    "dict_fire",
    "filtered_logger",
    "journeyfsm_definition",
    "journeyfsm_machine",
    "null_sink_logger",
    "peer_snapshot",
    "statemachine_class",
    "transitions_machine",
]


# -- loggers for journeyfsm -----------------------------------------------------------
_DEVNULL: list[TextIO] = []


def _devnull() -> TextIO:
    """One /dev/null text file for every logger of the process, closed at exit."""
    if not _DEVNULL:
        sink = open(os.devnull, "w")  # noqa: SIM115 - lives until exit
        atexit.register(sink.close)
        _DEVNULL.append(sink)
    return _DEVNULL[0]


def filtered_logger() -> Any:
    """structlog with its level filtered out: the ``info`` of a move is a no-op method."""
    wrapper: Any = structlog.make_filtering_bound_logger(logging.WARNING)
    return wrapper(
        structlog.PrintLogger(_devnull()),
        [structlog.processors.JSONRenderer()],
        {},
    )


def null_sink_logger() -> Any:
    """structlog rendering every event (level, ISO time, JSON) into a null file."""
    wrapper: Any = structlog.make_filtering_bound_logger(logging.DEBUG)
    return wrapper(
        structlog.PrintLogger(_devnull()),
        [
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.JSONRenderer(),
        ],
        {},
    )


class NoLogger:
    """No logging at all (not even a method call's worth): the baseline for structlog's cost."""

    def bind(self, **_: Any) -> NoLogger:
        return self

    def _nop(self, *_: Any, **__: Any) -> None:
        return None

    debug = info = warning = error = _nop


# -- journeyfsm -----------------------------------------------------------------------
def _jfsm_guard(ctx: Context) -> bool:
    return cart_not_empty(ctx.journey.data)


_JFSM_GUARD = journeyfsm.guard(_jfsm_guard, name=GUARD_NAME, description="the cart has items")


def journeyfsm_definition() -> JourneyDefinition:
    b = JourneyBuilder("bench", version=1)
    for s in STAGES:
        b.stage(s.name, initial=s.initial, final=s.final)
    for t in TRANSITIONS:
        b.transition(t.trigger, t.source, t.dest, guards=[_JFSM_GUARD] if t.guarded else None)
    return b.build()


def _jfsm_after(ctx: Context) -> None:
    on_moved()


def journeyfsm_machine(logger: Any = None) -> JourneyMachine:
    """The workload on a JourneyMachine (system clock); ``logger`` defaults to filtered."""
    machine = JourneyMachine(
        journeyfsm_definition(), logger=logger if logger is not None else filtered_logger()
    )
    machine.after(_jfsm_after)
    return machine


# -- raw transitions ------------------------------------------------------------------
class Customer:
    """The model object the peers move (transitions needs a ``__dict__`` for add_model)."""

    def __init__(self, key: str, state: str, data: dict[str, Any], version: int = 0) -> None:
        self.key = key
        self.state = state
        self.data = data
        self.version = version


def _tr_condition(event_data: Any) -> bool:
    return cart_not_empty(event_data.model.data)


def _tr_after(event_data: Any) -> None:
    on_moved()


def transitions_machine() -> Machine:
    """One shared machine for any number of models (``model=None``)."""
    machine = Machine(
        model=None,
        states=[s.name for s in STAGES],
        initial=INITIAL,
        auto_transitions=False,
        send_event=True,
    )
    for t in TRANSITIONS:
        machine.add_transition(
            t.trigger,
            t.source,
            t.dest,
            conditions=[_tr_condition] if t.guarded else None,
            after=[_tr_after],
        )
    return machine


# -- python-statemachine --------------------------------------------------------------
def _psm_cond(model: Any) -> bool:
    return cart_not_empty(model.data)


def _psm_after() -> None:
    on_moved()


def statemachine_class() -> type[StateMachine]:
    """A StateMachine subclass with the workload's states and events, bound to a model."""
    ns: dict[str, Any] = {
        s.name: State(s.name, value=s.name, initial=s.initial, final=s.final) for s in STAGES
    }
    for t in TRANSITIONS:
        edge = ns[t.source].to(ns[t.dest], cond=_psm_cond if t.guarded else None, after=_psm_after)
        ns[t.trigger] = ns[t.trigger] | edge if t.trigger in ns else edge
    return type("BenchJourney", (StateMachine,), ns)


# -- hand-written dict table (the floor) ----------------------------------------------
TABLE: dict[str, dict[str, tuple[tuple[str, bool], ...]]] = {s.name: {} for s in STAGES}
for _t in TRANSITIONS:
    TABLE[_t.source][_t.trigger] = (*TABLE[_t.source].get(_t.trigger, ()), (_t.dest, _t.guarded))


def dict_fire(record: dict[str, Any], trigger: str) -> bool:
    """Move ``record`` (a dict with stage and data) by ``trigger``; True if it moved."""
    cands = TABLE[record["stage"]].get(trigger)
    if cands is None:
        return False
    for dest, guarded in cands:
        if guarded and not cart_not_empty(record["data"]):
            continue
        record["stage"] = dest
        record["version"] += 1
        on_moved()
        return True
    return False


def peer_snapshot(key: str, stage: str, data: dict[str, Any], version: int) -> dict[str, Any]:
    """The peers' snapshot dict of a journey."""
    return {"key": key, "stage": stage, "data": copy_data(data), "version": version}
