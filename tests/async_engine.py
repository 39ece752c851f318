"""The machine's behavioural suite on both engines (issue 17), as python-statemachine runs
its suite on its sync and async engines: a test module overrides the ``engine`` fixture
with :func:`engine_param`, and ``make_machine`` (conftest) then builds, per engine:

- ``sync``: a JourneyMachine;
- ``async``: an AsyncJourneyMachine behind :class:`SyncOverAsync` (each awaited method run
  to completion on the adapter's own loop), callbacks as the test registers them: the
  no-thread path;
- ``async-threads``: the same, with every hook the test registers wrapped in an
  ``async def`` that calls it, so each move runs in a worker thread and every hook goes
  through the bridge to the loop (and a hook's exception, ``BaseException``s included,
  comes back through it).

The tests' assertions do not change: the same outcomes, the same errors, the same journey.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import pytest

from journeyfsm import AsyncJourneyMachine, JourneyDefinition, JourneyMachine

ENGINES = ["sync", "async", "async-threads"]
#: the hook registration methods, with how many stage/trigger names each takes
REGISTRATIONS = {"before": 0, "after": 0, "on_blocked": 0, "on_ignored": 0}
REGISTRATIONS |= {"on_enter": 1, "on_exit": 1, "on_transition": 1}
T = TypeVar("T")
#: a test that waits longer than this on one call has hung
CALL_TIMEOUT = 10.0


def asynced(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` as an ``async def`` of the same name that calls it (once awaited)."""

    async def hook(*args: Any) -> Any:
        await asyncio.sleep(0)  # a real suspension: the loop runs other tasks meanwhile
        return fn(*args)

    functools.update_wrapper(hook, fn, updated=())
    return hook


class SyncOverAsync:
    """An AsyncJourneyMachine behind JourneyMachine's sync API, for the shared suite."""

    def __init__(self, machine: AsyncJourneyMachine, *, threads: bool) -> None:
        self.amachine = machine
        self.threads = threads
        self.loop = asyncio.new_event_loop()
        self.thread = threading.current_thread()

    def close(self) -> None:
        self.loop.close()

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        if self.loop.is_running() or threading.current_thread() is not self.thread:
            try:
                asyncio.get_running_loop()
            except RuntimeError:  # another thread of a threaded test: a loop of its own
                return asyncio.run(asyncio.wait_for(coro, CALL_TIMEOUT))
            # called from a hook on the running loop: as the sync call would, block the
            # loop until it is done, in a thread with a loop of its own and this context
            # (a re-entrant fire is then known for one)
            context = contextvars.copy_context()
            done: list[Any] = []

            def run() -> None:
                try:
                    done.append((True, context.run(asyncio.run, coro)))
                except BaseException as err:
                    done.append((False, err))

            thread = threading.Thread(target=run)
            thread.start()
            thread.join(CALL_TIMEOUT)
            ok, result = done[0]
            if not ok:
                raise result
            return result  # type: ignore[no-any-return]
        task = self.loop.create_task(asyncio.wait_for(coro, CALL_TIMEOUT))
        while True:
            try:
                return self.loop.run_until_complete(task)
            except (KeyboardInterrupt, SystemExit):
                # asyncio raises these out of the loop from the task that raised them
                if task.done():
                    # retrieved, or the task's __del__ logs it, formatting a traceback
                    # in whatever thread collects it, while this one may be compiling:
                    # CPython 3.11's AST state is global ("AST constructor recursion
                    # depth mismatch")
                    task.exception()
                    raise

    def fire(self, *args: Any, **kwargs: Any) -> Any:
        return self._run(self.amachine.fire(*args, **kwargs))

    def explain(self, *args: Any, **kwargs: Any) -> Any:
        return self._run(self.amachine.explain(*args, **kwargs))

    def enabled_triggers(self, *args: Any, **kwargs: Any) -> Any:
        return self._run(self.amachine.enabled_triggers(*args, **kwargs))

    def tick(self, *args: Any, **kwargs: Any) -> Any:
        return self._run(self.amachine.tick(*args, **kwargs))

    def run_effects(self, *args: Any, **kwargs: Any) -> Any:
        return self._run(self.amachine.run_effects(*args, **kwargs))

    def _registration(self, register: Callable[..., Any], names: int, *args: Any) -> Any:
        """A registration method in both forms (``names``: how many stage/trigger names it
        takes before the function), hooks made async under ``threads``."""
        if len(args) > names:
            register(*args[:-1], self._wrap(args[-1]))
            return args[-1]

        def add(fn: Any) -> Any:
            register(*args, self._wrap(fn))
            return fn

        return add

    def _wrap(self, fn: Any) -> Any:
        return asynced(fn) if self.threads and callable(fn) else fn

    def effect(self, fn: Any = None, **kwargs: Any) -> Any:
        if fn is None:
            return lambda f: (self.amachine.effect(self._wrap(f), **kwargs), f)[1]
        self.amachine.effect(self._wrap(fn), **kwargs)
        return fn

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.amachine, name)
        names = REGISTRATIONS.get(name)
        if names is not None:
            return functools.partial(self._registration, attr, names)
        return attr


def build_machine(
    engine: str, definition: JourneyDefinition, opened: list[SyncOverAsync], **kwargs: Any
) -> Any:
    """A machine for ``definition`` on ``engine`` (see the module docstring)."""
    if engine == "sync":
        return JourneyMachine(definition, **kwargs)
    machine = SyncOverAsync(
        AsyncJourneyMachine(definition, **kwargs), threads=engine == "async-threads"
    )
    opened.append(machine)
    return machine


def engine_param(request: pytest.FixtureRequest) -> str:
    """The body of a module's ``engine`` fixture: ``@pytest.fixture(params=ENGINES)``."""
    return str(request.param)
