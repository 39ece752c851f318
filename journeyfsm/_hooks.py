"""Registering hooks and effects on a JourneyMachine, separately from the definition.

Every registration comes in a decorator form and a call form::

    @machine.on_enter("purchase")
    def tag_customer(ctx): ...

    machine.on_enter("purchase", tag_customer)

Hooks run inside the move (a raising hook vetoes it and the journey is rolled back);
effects run after the move and never undo it.  The order inside a move is fixed in
_runtime.py.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar, overload

import attrs

from ._errors import HookError
from ._records import Context

if TYPE_CHECKING:
    from ._outcome import EffectCall, Outcome

__all__ = ["Effect", "EffectFn", "HookFn", "HookRegistry", "OutcomeHookFn"]

HookFn = Callable[[Context], Any]
OutcomeHookFn = Callable[[Context, "Outcome"], Any]
EffectFn = Callable[["EffectCall"], Any]
F = TypeVar("F", bound=Callable[..., Any])


@attrs.frozen
class Effect:
    """A registered effect: run ``fn`` after a move into ``on_enter`` or by ``on_transition``."""

    name: str
    fn: EffectFn
    on_enter: str | None = None
    on_transition: str | None = None


def hook_name(fn: Callable[..., Any]) -> str:
    return getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or repr(fn)


def hook_failed(
    where: str, hook: Callable[..., Any], err: Exception, ctx: Context, *, inside_move: bool
) -> HookError:
    """The HookError for ``hook`` (registered as ``where``) raising ``err`` on ``ctx``'s event.

    A hook inside a move had its move rolled back; a hook on a blocked or ignored outcome
    ran when nothing moved.  Either way the journey is unchanged.
    """
    name = hook_name(hook)
    if not inside_move:
        what = f"for journey {ctx.journey.key!r} in stage {ctx.source!r} with {ctx.trigger!r}"
        after = "the journey is unchanged"
    else:
        what = f"while moving journey {ctx.journey.key!r} from {ctx.source!r} with {ctx.trigger!r}"
        after = "the move was rolled back and the journey is unchanged"
    return HookError(
        f"{where} hook {name!r} raised {type(err).__name__}: {err} {what}; {after}",
        hook=name,
        key=ctx.journey.key,
        stage=ctx.source,
        trigger=ctx.trigger,
    )


class HookRegistry:
    """The hooks and effects of one machine; lists are appended in registration order."""

    def __init__(self, stages: tuple[str, ...], triggers: tuple[str, ...]) -> None:
        self.before: list[HookFn] = []
        self.after: list[HookFn] = []
        self.enter: dict[str, list[HookFn]] = {s: [] for s in stages}
        self.exit: dict[str, list[HookFn]] = {s: [] for s in stages}
        self.transition: dict[str, list[HookFn]] = {t: [] for t in triggers}
        self.blocked: list[OutcomeHookFn] = []
        self.ignored: list[OutcomeHookFn] = []
        self.effects_enter: dict[str, list[Effect]] = {s: [] for s in stages}
        self.effects_transition: dict[str, list[Effect]] = {t: [] for t in triggers}
        self.any_move_hooks = False  # True once a hook that runs inside a move exists
        self.any_effects = False


class HookRegistration:
    """Mixin giving JourneyMachine its registration methods (see the module docstring)."""

    _hooks: HookRegistry

    def _check_stage(self, stage: str, what: str) -> None:
        raise NotImplementedError  # pragma: no cover - provided by JourneyMachine

    def _check_trigger(self, trigger: str, what: str) -> None:
        raise NotImplementedError  # pragma: no cover - provided by JourneyMachine

    def _attach(self, kind: str, name: str | None) -> None:
        raise NotImplementedError  # pragma: no cover - provided by JourneyMachine

    def _register(self, kind: str, name: str | None, target: list[Any], fn: F | None) -> Any:
        def add(f: F) -> F:
            if not callable(f):
                raise TypeError(f"{kind} hook must be callable, got {f!r}")
            target.append(f)
            if kind not in ("on_blocked", "on_ignored"):
                self._hooks.any_move_hooks = True
                self._attach(kind, name)
            return f

        return add if fn is None else add(fn)

    @overload
    def on_enter(self, stage: str) -> Callable[[F], F]: ...
    @overload
    def on_enter(self, stage: str, fn: F) -> F: ...
    def on_enter(self, stage: str, fn: F | None = None) -> Any:
        """Run ``fn(ctx)`` when a journey enters ``stage`` (after its history entry)."""
        self._check_stage(stage, "on_enter")
        return self._register("on_enter", stage, self._hooks.enter[stage], fn)

    @overload
    def on_exit(self, stage: str) -> Callable[[F], F]: ...
    @overload
    def on_exit(self, stage: str, fn: F) -> F: ...
    def on_exit(self, stage: str, fn: F | None = None) -> Any:
        """Run ``fn(ctx)`` when a journey leaves ``stage`` (before the stage changes)."""
        self._check_stage(stage, "on_exit")
        return self._register("on_exit", stage, self._hooks.exit[stage], fn)

    @overload
    def on_transition(self, trigger: str) -> Callable[[F], F]: ...
    @overload
    def on_transition(self, trigger: str, fn: F) -> F: ...
    def on_transition(self, trigger: str, fn: F | None = None) -> Any:
        """Run ``fn(ctx)`` after every move made by ``trigger`` (after enter hooks)."""
        self._check_trigger(trigger, "on_transition")
        return self._register("on_transition", trigger, self._hooks.transition[trigger], fn)

    @overload
    def before(self, fn: F) -> F: ...
    @overload
    def before(self) -> Callable[[F], F]: ...
    def before(self, fn: F | None = None) -> Any:
        """Run ``fn(ctx)`` before any move (first of all hooks)."""
        return self._register("before", None, self._hooks.before, fn)

    @overload
    def after(self, fn: F) -> F: ...
    @overload
    def after(self) -> Callable[[F], F]: ...
    def after(self, fn: F | None = None) -> Any:
        """Run ``fn(ctx)`` after any move (last of all hooks)."""
        return self._register("after", None, self._hooks.after, fn)

    @overload
    def on_blocked(self, fn: F) -> F: ...
    @overload
    def on_blocked(self) -> Callable[[F], F]: ...
    def on_blocked(self, fn: F | None = None) -> Any:
        """Run ``fn(ctx, outcome)`` when guards block a move (nothing to roll back)."""
        return self._register("on_blocked", None, self._hooks.blocked, fn)

    @overload
    def on_ignored(self, fn: F) -> F: ...
    @overload
    def on_ignored(self) -> Callable[[F], F]: ...
    def on_ignored(self, fn: F | None = None) -> Any:
        """Run ``fn(ctx, outcome)`` when a trigger is not valid from the stage (policy ignore)."""
        return self._register("on_ignored", None, self._hooks.ignored, fn)

    @overload
    def effect(
        self,
        fn: F,
        *,
        on_enter: str | None = ...,
        on_transition: str | None = ...,
        name: str | None = ...,
    ) -> F: ...
    @overload
    def effect(
        self,
        fn: None = None,
        *,
        on_enter: str | None = ...,
        on_transition: str | None = ...,
        name: str | None = ...,
    ) -> Callable[[F], F]: ...
    def effect(
        self,
        fn: F | None = None,
        *,
        on_enter: str | None = None,
        on_transition: str | None = None,
        name: str | None = None,
    ) -> Any:
        """Run ``fn(call: EffectCall)`` after a move into ``on_enter`` or by ``on_transition``.

        Effects run after the move (never inside it); one that raises is logged and
        reported on ``Outcome.effects`` and does not undo the move.

        >>> from journeyfsm import JourneyMachine, templates
        >>> machine = JourneyMachine(templates.aida())
        >>> @machine.effect(on_enter="action")
        ... def send_thank_you(call):
        ...     print("thank you,", call.key)
        >>> j = machine.start("c-7")
        >>> for t in ("engage", "want", "buy"):
        ...     _ = machine.fire(j, t)
        thank you, c-7
        """
        if (on_enter is None) == (on_transition is None):
            raise ValueError(
                "effect() takes exactly one of on_enter=STAGE or on_transition=TRIGGER"
            )
        if on_enter is not None:
            self._check_stage(on_enter, "effect(on_enter=...)")
        if on_transition is not None:
            self._check_trigger(on_transition, "effect(on_transition=...)")

        def add(f: F) -> F:
            if not callable(f):
                raise TypeError(f"effect must be callable, got {f!r}")
            # __name__, not __qualname__: the name goes into idempotency keys, keep it stable
            eff = Effect(
                name or getattr(f, "__name__", None) or hook_name(f), f, on_enter, on_transition
            )
            if on_enter is not None:
                self._hooks.effects_enter[on_enter].append(eff)
            else:
                assert on_transition is not None
                self._hooks.effects_transition[on_transition].append(eff)
            self._hooks.any_effects = True
            return f

        return add if fn is None else add(fn)
