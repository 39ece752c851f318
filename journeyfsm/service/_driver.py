"""What the driver halves in _tick.py use of a service: ``Driver`` (of a
``JourneyService``) and ``AsyncDriver`` (of an ``AsyncJourneyService``).

Typed structurally, so that they are handed the service and never import _sync.py or
_async.py, which import them (DESIGN: imports run downward only).  The two differ only in
their store; _tick.py is generated from _tick_async.py (.ci/async_to_sync.py renames
``AsyncDriver`` to ``Driver``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from .._runtime import JourneyMachine
from ._store import Store
from ._store_async import AsyncStore

__all__ = ["AsyncDriver", "Driver"]


class Driver(Protocol):
    """A sync service driver: its machine, store, definition name and clock."""

    @property
    def machine(self) -> JourneyMachine: ...

    @property
    def store(self) -> Store: ...

    @property
    def definition(self) -> str: ...

    def _now(self) -> datetime: ...


class AsyncDriver(Protocol):
    """An async service driver: its machine, async store, definition name and clock."""

    @property
    def machine(self) -> JourneyMachine: ...

    @property
    def store(self) -> AsyncStore: ...

    @property
    def definition(self) -> str: ...

    def _now(self) -> datetime: ...
