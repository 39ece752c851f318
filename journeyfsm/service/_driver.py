"""What the driver halves in _import.py and _tick.py use of a ``JourneyService``.

Typed structurally, so that they are handed the service and never import _sync.py, which
imports them (DESIGN: imports run downward only).  An async twin of the driver meets the
same Protocol with its own store.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from .._runtime import JourneyMachine
from ._store import Store

__all__ = ["Driver"]


class Driver(Protocol):
    """A service driver: its machine, store, definition name and clock."""

    @property
    def machine(self) -> JourneyMachine: ...

    @property
    def store(self) -> Store: ...

    @property
    def definition(self) -> str: ...

    def _now(self) -> datetime: ...
