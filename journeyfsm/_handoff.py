"""Running a sync move in a worker thread while its async callbacks run on the caller's
loop: the hand-off AsyncJourneyMachine (_async_machine.py) makes for a move that may
await.

The thread runs in a copy of the caller's context with
:data:`~journeyfsm._callables.CURRENT` set to the call's :class:`AsyncCall`, which is how
the bridged guards and hooks find the loop.  The caller awaits the thread shielded: when
it is cancelled, it cancels the callback in flight (the thread then rolls the move back)
and waits, through further cancellations, until the thread is done, and only then lets
``CancelledError`` through.

Threads come from a pool of this module rather than the loop's default executor: a worker
waiting for a hook that itself calls ``asyncio.to_thread`` would otherwise hold a slot the
hook needs.  A hand-off made from inside a move's async callback (a hook awaiting another
journey's fire) gets a thread of its own, so nested moves never wait for a slot their
callers hold.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from ._callables import CURRENT, AsyncCall

__all__ = ["POOL_SIZE", "in_worker"]

T = TypeVar("T")

#: worker threads for moves with async callbacks, shared by every AsyncJourneyMachine
POOL_SIZE = 32
_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _get_pool() -> ThreadPoolExecutor:
    global _pool
    if _pool is None:
        with _pool_lock:
            if _pool is None:
                _pool = ThreadPoolExecutor(POOL_SIZE, thread_name_prefix="journeyfsm-async")
    return _pool


def _captured(fn: Callable[[], T]) -> tuple[bool, T | BaseException]:
    """Run ``fn`` in the worker thread; hand its result or whatever it raised back."""
    try:
        return True, fn()
    except BaseException as err:
        return False, err


async def in_worker(fn: Callable[[], T], call: AsyncCall | None = None) -> T:
    """``fn()`` run in a worker thread under ``call`` (default: a new one on this loop);
    its result, or what it raised, raised here."""
    loop = asyncio.get_running_loop()
    nested = CURRENT.get() is not None
    if call is None:
        call = AsyncCall(loop)
    context = contextvars.copy_context()
    context.run(CURRENT.set, call)
    work = functools.partial(context.run, _captured, fn)
    future = _own_thread(loop, work) if nested else loop.run_in_executor(_get_pool(), work)
    try:
        ok, result = await asyncio.shield(future)
    except asyncio.CancelledError:
        call.cancel()
        await _wait_through_cancels(future)  # the rollback finishes first
        raise
    if not ok:
        assert isinstance(result, BaseException)
        raise result
    return result  # type: ignore[return-value]


def _own_thread(loop: asyncio.AbstractEventLoop, work: Callable[[], T]) -> asyncio.Future[T]:
    """Run ``work`` in a new thread (for nested moves); its result as a loop future."""
    future: asyncio.Future[T] = loop.create_future()

    def run() -> None:
        result = work()  # _captured: never raises
        loop.call_soon_threadsafe(future.set_result, result)

    threading.Thread(target=run, name="journeyfsm-async-nested", daemon=True).start()
    return future


async def _wait_through_cancels(future: asyncio.Future[Any]) -> None:
    """Wait until the worker is done, whatever cancellations come meanwhile."""
    while not future.done():
        try:
            await asyncio.shield(future)
        except asyncio.CancelledError:
            continue
