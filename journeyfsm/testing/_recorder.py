"""The Recorder: which hooks and effects ran, in which order, with which arguments.

It wraps, in place, the functions in a machine's hook registry (and the ``fn`` of its
effects) with recording wrappers that keep the original's name, so ``HookError``
messages still name the user's hook; ``detach`` puts the originals back.

An AsyncJourneyMachine shares the registry of its inner sync machine: an async hook is
registered as its bridge (a plain callable the sync engine calls from the move's worker
thread), so the wrapper around it is plain too and records in the engine's order, mixed
with the sync hooks.  An async effect stays an ``async def`` (the machine awaits it on the
loop), so its wrapper is one too.  A call is recorded when it starts.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

import attrs

from .._async_machine import AsyncJourneyMachine
from .._records import Context
from .._runtime import JourneyMachine

__all__ = ["RecordedCall", "Recorder"]


def _short_name(fn: Any) -> str:
    return getattr(fn, "__name__", None) or repr(fn)


@attrs.frozen
class RecordedCall:
    """One call of a hook or effect, in the order the Recorder saw them.

    ``kind`` is ``before``, ``on_exit``, ``on_enter``, ``on_transition``, ``after``,
    ``on_blocked``, ``on_ignored`` or ``effect``; ``where`` is the stage or trigger the hook
    was registered for; ``args`` is exactly what the hook received.
    """

    index: int
    kind: str
    name: str
    where: str | None
    key: str
    trigger: str
    source: str
    dest: str | None
    args: tuple[Any, ...] = attrs.field(repr=False)


class Recorder:
    """Records every call of the hooks and effects of the machines it is attached to.

    Attach it after registering the hooks (attaching again picks up later ones);
    ``detach()`` (or leaving a ``with`` block) puts the original functions back.

    >>> from journeyfsm import JourneyMachine, templates
    >>> machine = JourneyMachine(templates.aida())
    >>> @machine.on_enter("interest")
    ... def tag_interested(ctx): ...
    >>> @machine.effect(on_enter="interest")
    ... def send_brochure(call): ...
    >>> with Recorder().attach(machine) as recorder:
    ...     _ = machine.fire(machine.start("c-1"), "engage")
    >>> recorder.names()
    ['tag_interested', 'send_brochure']
    >>> recorder.assert_called_in_order("tag_interested", "send_brochure")
    """

    def __init__(self) -> None:
        self.calls: list[RecordedCall] = []
        self._undo: list[Callable[[], object]] = []

    def __enter__(self) -> Recorder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.detach()

    # -- attaching -----------------------------------------------------------------
    def attach(self, machine: JourneyMachine | AsyncJourneyMachine) -> Recorder:
        """Record ``machine``'s hooks and effects from now on; returns the recorder.

        ``machine`` may be an AsyncJourneyMachine: its async hooks and effects are
        recorded too, in the order they run, mixed with the sync ones.
        """
        if not isinstance(machine, (JourneyMachine, AsyncJourneyMachine)):
            raise TypeError(
                f"Recorder.attach expects a JourneyMachine or an AsyncJourneyMachine, "
                f"got {machine!r}"
            )
        for kind, table in machine._hook_tables():
            for where, fns in table.items():
                for fn in fns:
                    if getattr(fn, "_journey_recorder", None) is not self:
                        new = self._wrap(kind, where, fn, _short_name(fn))
                        self._swap(machine._replace_hook, kind, where, fn, new)
        for eff in list(machine._hooks.effects.values()):
            if getattr(eff.fn, "_journey_recorder", None) is not self:
                where = eff.on_enter if eff.on_enter is not None else eff.on_transition
                fn = self._wrap("effect", where, eff.fn, eff.name)
                new_eff = attrs.evolve(eff, fn=fn)
                if machine._replace_effect(eff, new_eff):
                    self._undo.append(functools.partial(machine._replace_effect, new_eff, eff))
        return self

    def _swap(self, replace: Any, kind: str, where: str | None, old: Any, new: Any) -> None:
        if replace(kind, where, old, new):
            self._undo.append(lambda: replace(kind, where, new, old))

    def _wrap(self, kind: str, where: str | None, fn: Any, name: str) -> Any:
        recorded: Any
        if inspect.iscoroutinefunction(fn):  # an async effect: the machine awaits it

            @functools.wraps(fn)
            async def recorded(*args: Any) -> Any:
                self._record(kind, name, where, args)
                return await fn(*args)
        else:

            @functools.wraps(fn)
            def recorded(*args: Any) -> Any:
                self._record(kind, name, where, args)
                return fn(*args)

        recorded._journey_recorder = self
        return recorded

    def _record(self, kind: str, name: str, where: str | None, args: tuple[Any, ...]) -> None:
        first = args[0]
        if isinstance(first, Context):
            key, trigger, source, dest = first.journey.key, first.trigger, first.source, first.dest
        else:  # an EffectCall
            key, trigger, source, dest = first.key, first.trigger, first.source, first.dest
        self.calls.append(
            RecordedCall(len(self.calls), kind, name, where, key, trigger, source, dest, args)
        )

    def detach(self) -> None:
        """Put back the original hooks and effects of every attached machine."""
        while self._undo:
            self._undo.pop()()

    def clear(self) -> None:
        """Forget the calls recorded so far."""
        self.calls.clear()

    # -- asserting -----------------------------------------------------------------
    def names(self, kind: str | None = None) -> list[str]:
        """Names of the recorded calls in order (only of ``kind`` if given)."""
        return [c.name for c in self.calls if kind is None or c.kind == kind]

    def calls_to(self, name: str) -> list[RecordedCall]:
        """The recorded calls of the hook or effect called ``name``."""
        return [c for c in self.calls if c.name == name]

    def assert_called(self, name: str, times: int | None = None) -> None:
        """Assert ``name`` ran (exactly ``times`` times if given)."""
        count = len(self.calls_to(name))
        if count == 0 or (times is not None and count != times):
            want = f"{times} time(s)" if times is not None else "at least once"
            raise AssertionError(
                f"expected {name!r} to be called {want}, it was called {count} time(s); "
                f"calls: {self.names()}"
            )

    def assert_not_called(self, name: str) -> None:
        """Assert ``name`` did not run."""
        calls = self.calls_to(name)
        if calls:
            raise AssertionError(
                f"expected {name!r} not to be called, it was called {len(calls)} time(s) "
                f"(first for journey {calls[0].key!r}, trigger {calls[0].trigger!r}); "
                f"calls: {self.names()}"
            )

    def assert_called_in_order(self, *names: str) -> None:
        """Assert these hooks/effects ran in this order (others may run in between)."""
        actual = self.names()
        pos = 0
        for name in names:
            try:
                pos = actual.index(name, pos) + 1
            except ValueError:
                raise AssertionError(
                    f"expected calls in order {list(names)}, but {name!r} was not called "
                    f"after the earlier ones; calls: {actual}"
                ) from None
