"""Registering hooks and effects on a JourneyMachine, separately from the definition.

Every registration comes in a decorator form and a call form::

    @machine.on_enter("purchase")
    def tag_customer(ctx): ...

    machine.on_enter("purchase", tag_customer)

Hooks run inside the move (a raising hook vetoes it and the journey is rolled back);
effects run after the move and never undo it.  The order inside a move is fixed in
_runtime.py.  ``async def`` hooks and effects are refused by a sync machine, here, at
registration; an AsyncJourneyMachine accepts them and each async hook is stored as its
bridge (_callables.py), made once, which the engine calls as it calls a sync hook.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal, TypeVar, overload

import attrs

from ._callables import bridge, hook_name, is_async_callable, refuse_async
from ._errors import HookError
from ._records import Context

if TYPE_CHECKING:
    from ._outcome import EffectCall, Outcome

__all__ = [
    "Effect",
    "EffectFn",
    "HookFn",
    "HookRegistry",
    "OutcomeHookFn",
    "effect_name",
]

HookFn = Callable[[Context], Any]
OutcomeHookFn = Callable[[Context, "Outcome"], Any]
EffectFn = Callable[["EffectCall"], Any]
F = TypeVar("F", bound=Callable[..., Any])


OnCap = Literal["defer", "drop"]

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,63}\Z")


def check_channel(channel: object, where: str) -> str:
    """``channel`` if it is an identifier (letters, digits, ``_ . -``), else ValueError."""
    if not isinstance(channel, str) or not _IDENT.match(channel):
        raise ValueError(
            f"{where}: channel must be an identifier such as 'email', 'sms' or 'push' "
            f"(letters, digits, _ . -; at most 64), got {channel!r}"
        )
    return channel


def check_on_cap(on_cap: object, where: str) -> OnCap:
    """``on_cap`` if it is ``"defer"`` or ``"drop"``, else ValueError."""
    if on_cap not in ("defer", "drop"):
        raise ValueError(f"{where}: on_cap must be 'defer' or 'drop', got {on_cap!r}")
    return on_cap  # type: ignore[return-value,unused-ignore]


@attrs.frozen
class Effect:
    """A registered effect: run ``fn`` after a move into ``on_enter`` or by ``on_transition``;
    ``channel`` and ``on_cap`` are what an outbox worker's frequency caps read."""

    name: str
    fn: EffectFn
    on_enter: str | None = None
    on_transition: str | None = None
    #: what a frequency cap counts it as (``"email"``, ``"sms"``...); ``None``: never capped
    channel: str | None = None
    #: ``"defer"`` or ``"drop"`` over its cap; ``None``: the cap's own ``on_cap``
    on_cap: str | None = None


def _utf8(text: str) -> bool:
    """Whether ``text`` encodes as UTF-8 (a lone surrogate does not)."""
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def effect_name(fn: Callable[..., Any]) -> str:
    """The default name of an effect: its ``__name__`` when that names it unambiguously.

    The name goes into idempotency keys, so it must be stable across processes: no
    ``repr`` (it holds a memory address), no ``<lambda>``, nothing without a name.
    """
    fname = getattr(fn, "__name__", None)
    if not isinstance(fname, str) or not fname or fname.startswith("<"):
        raise ValueError(
            f"effect {fn!r} has no stable name (a lambda, a partial or a callable object); "
            "pass name=... (it goes into the effect's idempotency key)"
        )
    return fname


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
    """The hooks and effects of one machine, as tuples in registration order.

    A registration replaces a tuple whole (under a lock), so a fire running in another
    thread sees the registry before or after it, never half of it.
    """

    def __init__(self, stages: tuple[str, ...], triggers: tuple[str, ...]) -> None:
        self.lock = threading.Lock()
        self.before: tuple[HookFn, ...] = ()
        self.after: tuple[HookFn, ...] = ()
        self.enter: dict[str, tuple[HookFn, ...]] = dict.fromkeys(stages, ())
        self.exit: dict[str, tuple[HookFn, ...]] = dict.fromkeys(stages, ())
        self.transition: dict[str, tuple[HookFn, ...]] = dict.fromkeys(triggers, ())
        self.blocked: tuple[OutcomeHookFn, ...] = ()
        self.ignored: tuple[OutcomeHookFn, ...] = ()
        self.effects_enter: dict[str, tuple[Effect, ...]] = dict.fromkeys(stages, ())
        self.effects_transition: dict[str, tuple[Effect, ...]] = dict.fromkeys(triggers, ())
        self.effects: dict[str, Effect] = {}  # by name: names are unique per machine
        self.any_effects = False
        # an async hook is registered (its bridge, in the tables above): moves need a thread
        self.async_hooks = False
        self.async_effects = False  # an async effect is registered


class HookRegistration:
    """Mixin giving JourneyMachine its registration methods (see the module docstring)."""

    _hooks: HookRegistry
    #: whether ``async def`` hooks and effects may be registered (AsyncJourneyMachine)
    _accepts_async = False

    def _not_copied(self) -> TypeError:
        return TypeError(
            f"{type(self).__name__} objects are not copied or pickled: each shares one compiled "
            "engine, its hooks, effects and locks with every thread using it, and a copy "
            "would share them too (a hook registered on it would run on the original); "
            f"build another {type(self).__name__}(definition, ...) and register its hooks, "
            "or copy the journeys (copy.copy, pickle, snapshot) instead"
        )

    def __copy__(self) -> Any:
        raise self._not_copied()

    def __deepcopy__(self, memo: Any) -> Any:
        raise self._not_copied()

    def __reduce_ex__(self, protocol: Any) -> Any:
        raise self._not_copied()

    def _check_stage(self, stage: str, what: str) -> None:
        raise NotImplementedError  # pragma: no cover - provided by JourneyMachine

    def _check_trigger(self, trigger: str, what: str) -> None:
        raise NotImplementedError  # pragma: no cover - provided by JourneyMachine

    def _hooks_changed(self, kind: str, name: str | None, hooks: tuple[HookFn, ...]) -> None:
        raise NotImplementedError  # pragma: no cover - provided by JourneyMachine

    def _register(self, kind: str, name: str | None, fn: F | None) -> Any:
        def add(f: F) -> F:
            if not callable(f):
                raise TypeError(f"{kind} hook must be callable, got {f!r}")
            run: Any = f
            if is_async_callable(f):
                if not self._accepts_async:
                    refuse_async(f, f"{kind} hook")
                run = bridge(f, f"{kind} hook")  # once, here: the engine calls it as sync
            registry = self._hooks
            with registry.lock:
                if run is not f:
                    registry.async_hooks = True
                if kind in ("before", "after", "on_blocked", "on_ignored"):
                    attr = {"on_blocked": "blocked", "on_ignored": "ignored"}.get(kind, kind)
                    hooks = (*getattr(registry, attr), run)
                    setattr(registry, attr, hooks)
                else:
                    table = {"on_enter": registry.enter, "on_exit": registry.exit}.get(
                        kind, registry.transition
                    )
                    assert name is not None
                    hooks = table[name] = (*table[name], run)
                if kind not in ("on_blocked", "on_ignored"):
                    self._hooks_changed(kind, name, hooks)
            return f

        return add if fn is None else add(fn)

    def _hook_tables(self) -> list[tuple[str, dict[Any, tuple[Any, ...]]]]:
        """Every hook kind with its hooks per stage/trigger (None: machine-wide)."""
        r = self._hooks
        return [
            ("before", {None: r.before}),
            ("after", {None: r.after}),
            ("on_enter", dict(r.enter)),
            ("on_exit", dict(r.exit)),
            ("on_transition", dict(r.transition)),
            ("on_blocked", {None: r.blocked}),
            ("on_ignored", {None: r.ignored}),
        ]

    def _replace_hook(self, kind: str, name: str | None, old: Any, new: Any) -> bool:
        """Swap one registered hook for another in place (the testing Recorder wraps hooks
        this way); False if ``old`` is no longer registered there."""
        registry = self._hooks
        with registry.lock:
            if name is None:
                attr = {"on_blocked": "blocked", "on_ignored": "ignored"}.get(kind, kind)
                hooks: tuple[Any, ...] = getattr(registry, attr)
            else:
                table = {
                    "on_enter": registry.enter,
                    "on_exit": registry.exit,
                    "on_transition": registry.transition,
                }[kind]
                hooks = table[name]
            if old not in hooks:
                return False
            hooks = tuple(new if h is old else h for h in hooks)
            if name is None:
                setattr(registry, attr, hooks)
            else:
                table[name] = hooks
            if kind not in ("on_blocked", "on_ignored"):
                self._hooks_changed(kind, name, hooks)
        return True

    def _replace_effect(self, old: Effect, new: Effect) -> bool:
        """Swap one registered effect for another (same name); False if ``old`` is gone."""
        registry = self._hooks
        with registry.lock:
            if registry.effects.get(old.name) is not old:
                return False
            registry.effects[old.name] = new
            for table in (registry.effects_enter, registry.effects_transition):
                for where, effects in table.items():
                    if old in effects:
                        table[where] = tuple(new if e is old else e for e in effects)
        return True

    @overload
    def on_enter(self, stage: str) -> Callable[[F], F]: ...
    @overload
    def on_enter(self, stage: str, fn: F) -> F: ...
    def on_enter(self, stage: str, fn: F | None = None) -> Any:
        """Run ``fn(ctx)`` when a journey enters ``stage`` (after its history entry)."""
        self._check_stage(stage, "on_enter")
        return self._register("on_enter", stage, fn)

    @overload
    def on_exit(self, stage: str) -> Callable[[F], F]: ...
    @overload
    def on_exit(self, stage: str, fn: F) -> F: ...
    def on_exit(self, stage: str, fn: F | None = None) -> Any:
        """Run ``fn(ctx)`` when a journey leaves ``stage`` (before the stage changes)."""
        self._check_stage(stage, "on_exit")
        return self._register("on_exit", stage, fn)

    @overload
    def on_transition(self, trigger: str) -> Callable[[F], F]: ...
    @overload
    def on_transition(self, trigger: str, fn: F) -> F: ...
    def on_transition(self, trigger: str, fn: F | None = None) -> Any:
        """Run ``fn(ctx)`` after every move made by ``trigger`` (after enter hooks)."""
        self._check_trigger(trigger, "on_transition")
        return self._register("on_transition", trigger, fn)

    @overload
    def before(self, fn: F) -> F: ...
    @overload
    def before(self) -> Callable[[F], F]: ...
    def before(self, fn: F | None = None) -> Any:
        """Run ``fn(ctx)`` before any move (first of all hooks)."""
        return self._register("before", None, fn)

    @overload
    def after(self, fn: F) -> F: ...
    @overload
    def after(self) -> Callable[[F], F]: ...
    def after(self, fn: F | None = None) -> Any:
        """Run ``fn(ctx)`` after any move (last of all hooks)."""
        return self._register("after", None, fn)

    @overload
    def on_blocked(self, fn: F) -> F: ...
    @overload
    def on_blocked(self) -> Callable[[F], F]: ...
    def on_blocked(self, fn: F | None = None) -> Any:
        """Run ``fn(ctx, outcome)`` when guards block a move (nothing to roll back)."""
        return self._register("on_blocked", None, fn)

    @overload
    def on_ignored(self, fn: F) -> F: ...
    @overload
    def on_ignored(self) -> Callable[[F], F]: ...
    def on_ignored(self, fn: F | None = None) -> Any:
        """Run ``fn(ctx, outcome)`` when a trigger is not valid from the stage (policy ignore)."""
        return self._register("on_ignored", None, fn)

    @overload
    def effect(
        self,
        fn: F,
        *,
        on_enter: str | None = ...,
        on_transition: str | None = ...,
        name: str | None = ...,
        channel: str | None = ...,
        on_cap: str | None = ...,
    ) -> F: ...
    @overload
    def effect(
        self,
        fn: None = None,
        *,
        on_enter: str | None = ...,
        on_transition: str | None = ...,
        name: str | None = ...,
        channel: str | None = ...,
        on_cap: str | None = ...,
    ) -> Callable[[F], F]: ...
    def effect(
        self,
        fn: F | None = None,
        *,
        on_enter: str | None = None,
        on_transition: str | None = None,
        name: str | None = None,
        channel: str | None = None,
        on_cap: str | None = None,
    ) -> Any:
        """Run ``fn(call: EffectCall)`` after a move into ``on_enter`` or by ``on_transition``.

        Effects run after the move (never inside it); one that raises is logged and
        reported on ``Outcome.effects`` and does not undo the move.  An ``async def``
        effect is accepted by ``AsyncJourneyMachine`` only (which awaits it).

        ``channel`` (``"email"``, ``"sms"``, ``"push"``, any identifier) is what an outbox
        worker's ``FrequencyCap`` and ``QuietHours`` count and check; ``on_cap``
        (``"defer"`` or ``"drop"``) overrides the cap's choice for this effect.  An
        effect without a channel is never capped (docs/caps.md).

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
        if channel is not None or on_cap is not None:
            if channel is None:
                raise ValueError("effect(on_cap=...) needs channel=...: only a channel is capped")
            check_channel(channel, "effect(channel=...)")
            if on_cap is not None:
                check_on_cap(on_cap, "effect(on_cap=...)")

        def add(f: F) -> F:
            if not callable(f):
                raise TypeError(f"effect must be callable, got {f!r}")
            is_async = is_async_callable(f)
            if is_async and not self._accepts_async:
                refuse_async(f, "effect")
            ename = name if name is not None else effect_name(f)
            if type(ename) is not str or not ename or "\x00" in ename or not _utf8(ename):
                raise ValueError(
                    f"effect name must be a non-empty str without NUL characters or lone "
                    f"surrogates (it is stored in every outbox row and idempotency key), "
                    f"got {ename!r}"
                )
            registry = self._hooks
            with registry.lock:
                if ename in registry.effects:
                    raise ValueError(
                        f"an effect named {ename!r} is already registered on this machine; "
                        "effect names go into idempotency keys and must be unique: pass "
                        "name=... to tell them apart"
                    )
                eff = Effect(ename, f, on_enter, on_transition, channel, on_cap)
                registry.effects[ename] = eff
                if on_enter is not None:
                    registry.effects_enter[on_enter] = (*registry.effects_enter[on_enter], eff)
                else:
                    assert on_transition is not None
                    registry.effects_transition[on_transition] = (
                        *registry.effects_transition[on_transition],
                        eff,
                    )
                registry.any_effects = True
                registry.async_effects = registry.async_effects or is_async
            return f

        return add if fn is None else add(fn)
