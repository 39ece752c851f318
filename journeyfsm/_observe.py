"""Observing every JourneyMachine of the process, for tools such as transition coverage.

Theory of operation
-------------------
An observer is told about every machine created and every outcome fired while it is
registered.  The runtime knows nothing about observers: while at least one is registered,
``JourneyMachine.__init__`` and ``JourneyMachine.fire`` are wrapped on the class; when the
last one leaves, the original functions are put back.  So a process that observes nothing
(every pytest run without ``--journey-coverage``, every production process) runs the
untouched runtime and pays nothing.

Observers see outcomes only: a fire that raises (``GuardError``, ``HookError``,
``UnknownTrigger``, ``InvalidTransition``) moved nothing and is not reported.
"""

from __future__ import annotations

import functools
from typing import Any, Protocol

from ._outcome import Outcome
from ._runtime import JourneyMachine

__all__ = ["MachineObserver", "add_observer", "observers", "remove_observer"]


class MachineObserver(Protocol):
    """What an observer implements."""

    def machine_created(self, machine: JourneyMachine) -> None: ...

    def fired(self, machine: JourneyMachine, outcome: Outcome) -> None: ...


_OBSERVERS: list[MachineObserver] = []
_ORIGINALS: dict[str, Any] = {}


def observers() -> tuple[MachineObserver, ...]:
    """The registered observers, in registration order."""
    return tuple(_OBSERVERS)


def add_observer(observer: MachineObserver) -> None:
    """Tell ``observer`` about every machine created and every outcome from now on."""
    if not _OBSERVERS:
        _install()
    _OBSERVERS.append(observer)


def remove_observer(observer: MachineObserver) -> None:
    """Stop telling ``observer``; the runtime is unwrapped when nobody observes."""
    if observer in _OBSERVERS:
        _OBSERVERS.remove(observer)
    if not _OBSERVERS:
        _uninstall()


def _install() -> None:
    if _ORIGINALS:
        return
    init = JourneyMachine.__init__
    fire = JourneyMachine.fire

    @functools.wraps(init)
    def observed_init(self: JourneyMachine, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        for observer in tuple(_OBSERVERS):
            observer.machine_created(self)

    @functools.wraps(fire)
    def observed_fire(self: JourneyMachine, *args: Any, **kwargs: Any) -> Outcome:
        outcome = fire(self, *args, **kwargs)
        for observer in tuple(_OBSERVERS):
            observer.fired(self, outcome)
        return outcome

    _ORIGINALS["__init__"] = init
    _ORIGINALS["fire"] = fire
    # setattr: mypy refuses assignment to a method, and this is exactly that.
    setattr(JourneyMachine, "__init__", observed_init)  # noqa: B010
    setattr(JourneyMachine, "fire", observed_fire)  # noqa: B010


def _uninstall() -> None:
    for name, original in _ORIGINALS.items():
        setattr(JourneyMachine, name, original)
    _ORIGINALS.clear()
