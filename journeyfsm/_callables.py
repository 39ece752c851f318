"""Host callables (hooks, guards, effects): the name they are shown by, and the refusal of
``async def`` ones.

Below the guards and the hooks, which both register host code: neither imports the other
for it.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

__all__ = ["hook_name", "refuse_async"]


def hook_name(fn: Callable[..., Any]) -> str:
    """How messages name a host callable: its qualified name, else its name, else its repr."""
    return getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or repr(fn)


def refuse_async(fn: Callable[..., Any], what: str) -> None:
    """A sync machine cannot await: refuse ``async def`` callables at registration."""
    target = getattr(fn, "__call__", None)  # noqa: B004 - callable objects with async __call__
    if (
        inspect.iscoroutinefunction(fn)
        or inspect.isasyncgenfunction(fn)
        or (target is not None and inspect.iscoroutinefunction(target))
    ):
        raise TypeError(
            f"{what} {hook_name(fn)!r} is an async function; JourneyMachine runs hooks, "
            "guards and effects synchronously and would never await it: register a plain "
            "function (call your async code from it with asyncio.run or a task queue)"
        )
