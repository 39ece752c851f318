"""Each contender built from :mod:`benchmarks.workload`, with the same guard and after-hook.

- journeyfsm: ``JourneyMachine`` with ``journeyfsm.guard`` and ``machine.after``;
- raw transitions, used well: one shared ``Machine(model=None, send_event=True,
  auto_transitions=False)``, a condition callable and an ``after`` callback, fired with
  ``machine.events[trigger].trigger(model)``; and the common way, ``add_model`` per request;
- python-statemachine: a ``StateMachine`` subclass made from the same data, ``cond=`` and
  ``after=`` callables, bound to a model object;
- a hand-written dict table: ``TABLE[stage][trigger] -> ((dest, guarded), ...)``, the floor.

The peers' journeys are snapshotted as ``{"key", "stage", "data", "version", "event_ids"}``,
the same shape as ``JourneyMachine.snapshot(journey, history=False)`` minus its format keys.

Logging, as production runs it (:func:`configure_host_logging`): the host configures
structlog once to render JSON (level, ISO time) into a sink, and every contender that
logs writes the same ``journey.moved`` line through it (journeyfsm through its default
logger, the raw peers through a logger the host bound for them).  The flattering
configuration injects :func:`filtered_logger` (level WARNING: the move is not rendered).
"""

from __future__ import annotations

import atexit
import itertools
import logging
import os
from datetime import datetime, timezone
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
    "FILTERED",
    "HOST",
    "TABLE",
    "WINDOW",
    "Customer",
    "NoLogger",
    "configure_host_logging",
    "dict_fire",
    "filtered_logger",
    "fresh_event_ids",
    "host_logger",
    "journeyfsm_definition",
    "journeyfsm_machine",
    "peer_entry",
    "peer_remember",
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
    """structlog filtered at WARNING, as a lazy proxy (what ``structlog.wrap_logger`` and
    ``get_logger`` return): the ``info`` of a move is not rendered, and journeyfsm still
    checks at every event whether the configuration changed (the cost that is measured)."""
    return structlog.wrap_logger(
        structlog.PrintLogger(_devnull()),
        wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING),
        processors=[structlog.processors.JSONRenderer()],
    )


def configure_host_logging() -> None:
    """Configure structlog as a production host does: level INFO, JSON with level and ISO
    time, into a sink (/dev/null).  Global, like any host's configuration."""
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.INFO),
        logger_factory=structlog.PrintLoggerFactory(_devnull()),
        cache_logger_on_first_use=True,
    )


def host_logger() -> Any:
    """The logger a host binds for its own state machine code (the raw peers log through
    it the same line journeyfsm logs for a move)."""
    return structlog.get_logger("journeyfsm").bind(definition="bench", definition_version=1)


_IDS = itertools.count()


def fresh_event_ids(n: int) -> list[str]:
    """``n`` event ids never used before in this process (as a queue delivers them)."""
    start = next(_IDS)
    for _ in range(n):
        next(_IDS)
    return [f"evt-{start + i:012d}" for i in range(n)]


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


FILTERED: Any = object()  # journeyfsm_machine(): inject filtered_logger()
HOST: Any = None  # journeyfsm_machine(HOST): no logger injected, the host's configuration


def journeyfsm_machine(logger: Any = FILTERED) -> JourneyMachine:
    """The workload on a JourneyMachine (system clock); ``logger`` defaults to
    :func:`filtered_logger`; ``HOST`` leaves it to the host's logging configuration."""
    machine = JourneyMachine(
        journeyfsm_definition(), logger=filtered_logger() if logger is FILTERED else logger
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


WINDOW = 64  # event ids a journey remembers (JourneyMachine's default event_id_window)


def peer_snapshot(
    key: str, stage: str, data: dict[str, Any], version: int, event_ids: list[str] | None = None
) -> dict[str, Any]:
    """The peers' snapshot dict of a journey."""
    return {
        "key": key,
        "stage": stage,
        "data": copy_data(data),
        "version": version,
        "event_ids": event_ids,
    }


def peer_remember(event_ids: list[str], event_id: str) -> list[str]:
    """The peers' event-id window after a move: the new id last, at most WINDOW ids."""
    ids = [*event_ids, event_id]
    return ids[-WINDOW:]


def peer_entry(
    seq: int, trigger: str, source: str, dest: str, event_id: str | None
) -> dict[str, Any]:
    """The history entry a peer's host writes for a move (as ``HistoryEntry.to_dict()``)."""
    return {
        "seq": seq,
        "trigger": trigger,
        "source": source,
        "dest": dest,
        "at": datetime.now(timezone.utc).isoformat(),
        "event_id": event_id,
    }
