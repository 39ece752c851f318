"""What the driver halves in _tick.py use of a service: ``Driver`` (of a
``JourneyService``) and ``AsyncDriver`` (of an ``AsyncJourneyService``).

Typed structurally, so that they are handed the service and never import _sync.py or
_async.py, which import them (DESIGN: imports run downward only).  The two differ in their
store, and in the machine: an async driver's may be an ``AsyncJourneyMachine``, whose
decide steps run through ``_drive``; _tick.py is generated from _tick_async.py (.ci/async_to_sync.py renames
``AsyncDriver`` to ``Driver``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Protocol, TypeVar

from .._async_machine import AsyncJourneyMachine
from .._runtime import JourneyMachine
from ._core import JourneyRow, TickDecision
from ._store import Store
from ._store_async import AsyncStore

__all__ = ["AsyncDriver", "Driver"]

T = TypeVar("T")


class Driver(Protocol):
    """A sync service driver: its machine, store, definition name and clock."""

    @property
    def machine(self) -> JourneyMachine: ...

    @property
    def store(self) -> Store: ...

    @property
    def definition(self) -> str: ...

    def _now(self) -> datetime: ...

    def _decide_tick(self, row: JourneyRow, *, until: datetime, now: datetime) -> TickDecision: ...


class AsyncDriver(Protocol):
    """An async service driver: its machine (sync or async), async store, definition name,
    clock, and the hand-off that runs a decide step on the sync machine."""

    @property
    def machine(self) -> JourneyMachine | AsyncJourneyMachine: ...

    @property
    def store(self) -> AsyncStore: ...

    @property
    def definition(self) -> str: ...

    def _now(self) -> datetime: ...

    async def _drive(self, fn: Callable[[JourneyMachine], T]) -> T: ...

    async def _decide_tick(
        self, row: JourneyRow, *, until: datetime, now: datetime
    ) -> TickDecision: ...
