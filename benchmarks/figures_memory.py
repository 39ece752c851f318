"""Memory figures: bytes per journey kept alive (tracemalloc), per contender."""

from __future__ import annotations

from collections.abc import Callable

from journeyfsm import Journey

from .contenders import Customer, journeyfsm_machine, statemachine_class, transitions_machine
from .harness import Settings, bytes_per_object, keys, measured
from .workload import HISTORY_WALK, INITIAL

__all__: list[str] = []  # figures register themselves


# ======================================================================================
# memory: bytes per journey kept alive (tracemalloc); key strings made before, not counted
# ======================================================================================
def _repeat(settings: Settings, one: Callable[[list[str]], float]) -> list[float]:
    return [one(keys(settings.memory_n)) for _ in range(settings.memory_repeats)]


@measured(
    "memory",
    "journeyfsm_idle",
    unit="bytes/journey",
    description="machine.start(key): a new journey, no data, no history (key not counted)",
)
def memory_journeyfsm_idle(settings: Settings) -> list[float]:
    machine = journeyfsm_machine()
    return _repeat(
        settings, lambda keys: bytes_per_object(lambda i: machine.start(keys[i]), settings.memory_n)
    )


@measured(
    "memory",
    "journeyfsm_history10",
    unit="bytes/journey",
    description="a journey after 10 moves (10 history entries, system-clock times)",
)
def memory_journeyfsm_history10(settings: Settings) -> list[float]:
    machine = journeyfsm_machine()

    def one(i: int, keys: list[str]) -> Journey:
        journey = machine.start(keys[i])
        for trigger in HISTORY_WALK:
            machine.fire(journey, trigger)
        return journey

    return _repeat(
        settings, lambda keys: bytes_per_object(lambda i: one(i, keys), settings.memory_n)
    )


@measured(
    "memory",
    "transitions_add_model",
    unit="bytes/journey",
    description="a model object (key, state, empty data) after machine.add_model(model)",
)
def memory_transitions_add_model(settings: Settings) -> list[float]:
    def one(keys: list[str]) -> float:
        machine = transitions_machine()

        def add(i: int) -> Customer:
            model = Customer(keys[i], INITIAL, {})
            machine.add_model(model)
            return model

        return bytes_per_object(add, settings.memory_n)

    return _repeat(settings, one)


@measured(
    "memory",
    "statemachine",
    unit="bytes/journey",
    description="a StateMachine instance bound to a model object (key, state, empty data)",
)
def memory_statemachine(settings: Settings) -> list[float]:
    cls = statemachine_class()
    return _repeat(
        settings,
        lambda keys: bytes_per_object(
            lambda i: cls(model=Customer(keys[i], INITIAL, {})), settings.memory_n
        ),
    )


@measured(
    "memory",
    "dict",
    unit="bytes/journey",
    description="a dict record {key, stage, data, version} (the floor)",
)
def memory_dict(settings: Settings) -> list[float]:
    return _repeat(
        settings,
        lambda keys: bytes_per_object(
            lambda i: {"key": keys[i], "stage": INITIAL, "data": {}, "version": 0},
            settings.memory_n,
        ),
    )
