"""Host callables (hooks, guards, effects): the name they are shown by, whether they are
``async def``, and the bridge that lets the sync engine run an async one.

Below the guards and the hooks, which both register host code: neither imports the other
for it.

The bridge (theory of operation)
--------------------------------
The semantics of a move exist once, in the sync engine.  ``AsyncJourneyMachine`` runs that
sync move in a worker thread and sets :data:`CURRENT` (an :class:`AsyncCall`: the caller's
running loop, the coroutine task in flight, whether the caller was cancelled) in the
context the thread runs in.  Every async guard or hook is wrapped ONCE, when it is made or
registered, by :func:`bridge` into a plain callable: called by the engine in the worker
thread, it starts the coroutine as a task on the caller's loop and blocks the thread until
the task is done, while the loop stays free to run it.  Guards therefore still run one
after the other and short-circuit, and hooks run in their order, because the engine that
calls them is unchanged.  A cancelled caller cancels the task in flight; the thread then
raises ``asyncio.CancelledError`` (a ``BaseException``) inside the move, which the sync
``fire`` rolls back as it does ``KeyboardInterrupt`` (DESIGN Semantics 4).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import inspect
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

__all__ = ["CURRENT", "AsyncCall", "bridge", "hook_name", "is_async_callable", "refuse_async"]


def hook_name(fn: Callable[..., Any]) -> str:
    """How messages name a host callable: its qualified name, else its name, else its repr."""
    return getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or repr(fn)


def is_async_callable(fn: Callable[..., Any]) -> bool:
    """``fn`` is an ``async def`` function (or async generator function, or an object
    whose ``__call__`` is one): calling it gives something to await, not a result."""
    target = getattr(fn, "__call__", None)  # noqa: B004 - callable objects with async __call__
    return (
        inspect.iscoroutinefunction(fn)
        or inspect.isasyncgenfunction(fn)
        or (target is not None and inspect.iscoroutinefunction(target))
    )


def _sync_refusal(fn: Callable[..., Any], what: str, name: str | None = None) -> TypeError:
    shown = hook_name(fn) if name is None else name
    return TypeError(
        f"{what} {shown!r} is an async function; JourneyMachine runs hooks, guards "
        "and effects synchronously and would never await it: use AsyncJourneyMachine "
        "(await machine.fire(...)), or register a plain function"
    )


def refuse_async(fn: Callable[..., Any], what: str, name: str | None = None) -> None:
    """A sync machine cannot await: refuse an ``async def`` callable (``what`` names its
    role, ``name`` its name when it has one of its own, as a guard does)."""
    if is_async_callable(fn):
        raise _sync_refusal(fn, what, name)


class AsyncCall:
    """One ``await`` of an AsyncJourneyMachine method whose move runs in a worker thread.

    ``loop`` is the caller's running loop (captured per call: one machine serves many
    loops); ``task`` the async callback's task running on it now, if any; ``cancelled``
    is set (on the loop's thread) when the caller was cancelled.
    """

    __slots__ = ("cancelled", "loop", "task")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.task: asyncio.Future[Any] | None = None
        self.cancelled = False

    def cancel(self) -> None:
        """The caller was cancelled (call on the loop's thread): cancel the callback in
        flight; the worker thread raises ``CancelledError`` inside the move."""
        self.cancelled = True
        task = self.task
        if task is not None:
            task.cancel()

    def run(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> Any:
        """Await ``fn(*args)`` on the loop from the worker thread; block until it is done.

        Its exception is raised here as it is (the engine turns it into ``GuardError`` or
        ``HookError``); a cancelled task or caller raises ``asyncio.CancelledError``.
        """
        if self.cancelled:
            raise asyncio.CancelledError
        loop = self.loop
        done: concurrent.futures.Future[Any] = concurrent.futures.Future()

        awaitable: Any = None

        def settle(task: asyncio.Future[Any]) -> None:
            self.task = None
            if task.cancelled():
                # cancelled before its first step, the callback's coroutine never ran:
                # close it, or Python warns "coroutine ... was never awaited"
                close = getattr(awaitable, "close", None)
                if close is not None:
                    close()
                done.set_exception(asyncio.CancelledError())
            else:
                err = task.exception()
                if err is not None:
                    done.set_exception(err)
                else:
                    done.set_result(task.result())

        def start() -> None:  # on the loop's thread
            if self.cancelled:
                done.set_exception(asyncio.CancelledError())
                return
            nonlocal awaitable
            try:
                awaitable = fn(*args)
                task = asyncio.ensure_future(_contained(awaitable), loop=loop)
            except BaseException as err:
                done.set_exception(err)
                return
            self.task = task
            task.add_done_callback(settle)

        # the callback (and so the task) runs in this thread's context: the caller's
        # contextvars, copied, as the sync machine's hooks would see them
        loop.call_soon_threadsafe(start)
        result = done.result()
        if self.cancelled:  # cancelled after the callback returned: still roll back
            raise asyncio.CancelledError
        if isinstance(result, _Escaped):
            raise result.error  # inside the move: it rolls back, then reaches the caller
        return result


class _Escaped:
    """A KeyboardInterrupt or SystemExit raised by an async callback, carried as a value."""

    __slots__ = ("error",)

    def __init__(self, error: BaseException) -> None:
        self.error = error


async def _contained(awaitable: Any) -> Any:
    # asyncio re-raises KeyboardInterrupt and SystemExit from a task straight out of the
    # loop, which would leave the move half done in its thread: hand them to the thread
    try:
        return await awaitable
    except (KeyboardInterrupt, SystemExit) as err:
        return _Escaped(err)


#: The AsyncCall of the move running in this context (None: a sync call).
CURRENT: ContextVar[AsyncCall | None] = ContextVar("journeyfsm_async_call", default=None)


def bridge(fn: Callable[..., Any], what: str, name: str | None = None) -> Callable[..., Any]:
    """A plain callable the sync engine can call for the async ``fn`` (``what``: its role).

    It runs ``fn`` on the loop of the AsyncJourneyMachine call in progress; outside one
    (a sync machine, the path explorer, a call from the loop's own thread, where blocking
    would deadlock) it raises a ``TypeError`` naming ``fn``.
    """
    if name is None:
        name = hook_name(fn)

    def run_async(*args: Any) -> Any:
        call = CURRENT.get()
        if call is None:
            raise _sync_refusal(fn, what, name)
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            pass  # a worker thread, as it should be
        else:
            raise TypeError(
                f"{what} {name!r} is an async function called synchronously from a "
                "running event loop, where waiting for it would block the loop forever: "
                "await AsyncJourneyMachine's methods instead of calling a JourneyMachine's"
            )
        return call.run(fn, args)  # outside the except: no "during handling" chain

    functools.update_wrapper(run_async, fn, updated=())
    run_async.__qualname__ = name  # messages name the host's callable, not the bridge
    return run_async
