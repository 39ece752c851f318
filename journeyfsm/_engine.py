"""The adapter between journeyfsm and its engine, ``transitions``.

A definition compiles onto ONE ``transitions.Machine`` (``model=None``,
``auto_transitions=False``, ``send_event=True``, ``model_attribute="stage"``), so firing
is ``engine.events[trigger].trigger(journey, ctx)`` and nothing is ever attached to a
journey.  The engine is specialised through its own extension points (``event_cls``,
``state_cls``, ``transition_cls``), for what a shared machine driving
many records needs and nothing more:

- ``_Event.trigger`` tries the candidates of (stage, trigger) in declaration order and
  runs the first whose conditions pass, like the engine's, without the machinery a
  shared machine never uses: no event queue (one would be shared by every journey), no
  prepare/finalize/on_exception callback lists, no source check (``fire`` has done it);
- ``_Transition.execute`` keeps the engine's order (conditions, before, exit, set the
  stage, enter, after) but calls conditions and callbacks directly: journeyfsm only ever
  registers callables (guard checks return real bools), so there are no names to
  resolve, and the per-step debug logging is gone;
- ``_Stage.enter`` records the move (history entry, version) as its first step, so the
  "stage set, history appended" step sits exactly between exit and enter hooks;
- ``_GuardCheck`` turns faulty guards into ``GuardError`` and logs every result on the
  Context, which is how a blocked outcome knows its guard results.

Hook dispatchers (``_Dispatch``) are attached to the engine only when the first hook of
their kind is registered: a machine without hooks pays nothing for them.
"""

from __future__ import annotations

from typing import Any

from transitions import Machine
from transitions.core import Event, EventData, State
from transitions.core import Transition as EngineTransition

from ._definition import JourneyDefinition
from ._guards import Guard
from ._hooks import HookFn, HookRegistry, hook_failed
from ._records import NO_HISTORY, Context, HistoryEntry, Journey

__all__ = ["attach_hooks", "compile_engine"]


def record_move(event_data: Any) -> None:
    """The 'stage set, history appended' step of a move."""
    ctx: Context = event_data.args[0]
    journey: Journey = event_data.model
    seq = journey.version + 1
    dest = ctx.dest
    history = journey.history
    if history is NO_HISTORY:
        history = journey.history = []
    history.append(
        HistoryEntry(
            seq,
            ctx.trigger,
            ctx.source,
            ctx.source if dest is None else dest,
            ctx.now,
            ctx.event_id,
            ctx.meta,
        )
    )
    journey.version = seq


class _Stage(State):
    def enter(self, event_data: Any) -> None:
        callback: Any  # journeyfsm registers callables only, never names
        record_move(event_data)
        for callback in self.on_enter:
            callback(event_data)

    def exit(self, event_data: Any) -> None:
        callback: Any
        for callback in self.on_exit:
            callback(event_data)


class _Transition(EngineTransition):
    def execute(self, event_data: Any) -> bool:
        callback: Any
        condition: Any
        # The candidate being tried: what guards, hooks and the history entry see as dest.
        event_data.args[0].dest = self.dest
        for condition in self.conditions:
            if not condition.func(event_data):
                return False
        machine = event_data.machine
        for callback in machine.before_state_change:
            callback(event_data)
        for callback in self.before:
            callback(event_data)
        if self.dest is not None:  # None: an internal transition, no exit/enter
            self._change_state(event_data)
        for callback in self.after:
            callback(event_data)
        for callback in machine.after_state_change:
            callback(event_data)
        return True

    def _change_state(self, event_data: Any) -> None:
        states = event_data.machine.states
        states[self.source].exit(event_data)
        event_data.model.stage = self.dest
        dest = event_data.state = states[self.dest]
        dest.enter(event_data)


class _Event(Event):
    def trigger(self, model: Any, *args: Any, **kwargs: Any) -> bool:
        machine = self.machine
        event_data = EventData(None, self, machine, model, args=args, kwargs=kwargs)
        state = event_data.state = machine.states[model.stage]
        for transition in self.transitions[state.name]:
            event_data.transition = transition
            if transition.execute(event_data):
                event_data.result = True
                return True
        return False


class _Engine(Machine):
    state_cls = _Stage
    transition_cls = _Transition
    event_cls = _Event


class _GuardCheck:
    """A guard as an engine condition: real bools, faults as GuardError, results logged."""

    __slots__ = ("guard", "index")

    def __init__(self, index: int, guard: Guard) -> None:
        self.index = index
        self.guard = guard

    def __call__(self, event_data: Any) -> bool:
        ctx: Context = event_data.args[0]
        ok = self.guard.check(ctx)
        ctx.guard_log.append((self.index, self.guard, ok))
        return ok

    def __repr__(self) -> str:
        return f"<condition {self.guard.name}>"


class _Dispatch:
    """Runs the hooks of one kind (and stage/trigger) in order; a failure -> HookError."""

    __slots__ = ("hooks", "kind", "name")

    def __init__(self, kind: str, name: str | None, hooks: list[HookFn]) -> None:
        self.kind = kind
        self.name = name
        self.hooks = hooks

    def __call__(self, event_data: Any) -> None:
        ctx: Context = event_data.args[0]
        for hook in self.hooks:
            try:
                hook(ctx)
            except Exception as err:
                where = f"{self.kind}({self.name!r})" if self.name else self.kind
                raise hook_failed(where, hook, err, ctx, inside_move=True) from err

    def __repr__(self) -> str:
        return f"<hooks {self.kind} {self.name or ''}>"


def compile_engine(d: JourneyDefinition) -> Any:
    """One shared engine for definition ``d`` (candidates in declaration order)."""
    engine = _Engine(
        model=None,
        states=[{"name": s.name, "final": s.final} for s in d.stages],
        initial=d.initial_stage,
        auto_transitions=False,
        send_event=True,
        model_attribute="stage",
        ignore_invalid_triggers=True,
    )
    for stage, row in d.table.items():
        for trigger, cands in row.items():
            for index, t in enumerate(cands):
                conditions: list[Any] = [_GuardCheck(index, g) for g in t.guards]
                engine.add_transition(trigger, stage, t.dest, conditions=conditions)
                if t.dest is None:  # internal: no enter step, so record before the after hooks
                    engine.events[trigger].transitions[stage][-1].before.append(record_move)
    return engine


def attach_hooks(engine: Any, hooks: HookRegistry, kind: str, name: str | None) -> None:
    """Wire the dispatcher of one hook kind (and stage/trigger) onto the engine."""
    if kind == "before":
        engine.before_state_change.append(_Dispatch("before", None, hooks.before))
    elif kind == "after":
        engine.after_state_change.append(_Dispatch("after", None, hooks.after))
    elif kind == "on_enter":
        assert name is not None
        engine.get_state(name).on_enter.append(_Dispatch("on_enter", name, hooks.enter[name]))
    elif kind == "on_exit":
        assert name is not None
        engine.get_state(name).on_exit.append(_Dispatch("on_exit", name, hooks.exit[name]))
    elif kind == "on_transition":
        assert name is not None
        dispatch = _Dispatch("on_transition", name, hooks.transition[name])
        for transitions in engine.events[name].transitions.values():
            for t in transitions:
                t.after.insert(0, dispatch)
    else:  # pragma: no cover - the registration methods pass known kinds only
        raise ValueError(f"unknown hook kind {kind!r}")
