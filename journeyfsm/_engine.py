"""The adapter between journeyfsm and its engine, ``transitions``.

A definition compiles onto ONE ``transitions.Machine`` (``model=None``,
``auto_transitions=False``, ``send_event=True``), so firing is
``event.trigger(journey, ctx)`` and nothing is ever attached to a journey.

Names: the engine only ever sees internal names (``s0``, ``s1``, ... for stages,
``t0``, ``t1``, ... for triggers), so every name a definition accepts works, even ones
``transitions`` reads specially (a stage called ``*`` or ``=``, a trigger called
``stage`` or ``trigger``).  The journey's ``stage`` attribute always holds the real
stage name: the adapter's own classes read and set it.

The engine is specialised through its own extension points (``event_cls``,
``state_cls``, ``transition_cls``), for what a shared machine driving many records
needs and nothing more:

- ``_Event.trigger`` tries the candidates of (stage, trigger) in declaration order and
  runs the first whose conditions pass, like the engine's, without the machinery a
  shared machine never uses: no event queue (one would be shared by every journey), no
  prepare/finalize/on_exception callback lists, no source check (``fire`` has done it);
- ``_Transition.execute`` keeps the engine's order (conditions, before, exit, set the
  stage, enter, after) but calls conditions and callbacks directly: journeyfsm only ever
  registers callables (guard checks return real bools), so there are no names to
  resolve, and the per-step debug logging is gone.  Once the conditions pass it marks
  the move as begun, which arms the journey's data save for rollback;
- ``_Stage.enter`` records the move (history entry, version) as its first step, so the
  "stage set, history appended" step sits exactly between exit and enter hooks; the
  entry is built from what ``fire`` put in the Context's private fields, never from
  anything a guard or hook can write;
- ``_GuardCheck`` turns faulty guards into ``GuardError`` and logs every result on the
  Context, which is how an outcome knows its guard results.

Hook dispatchers (``_Dispatch``) are attached to the engine only when the first hook of
their kind is registered: a machine without hooks pays nothing for them.  Attaching
replaces callback lists instead of appending to them, and a dispatcher's hooks are a
tuple replaced whole, so a registration racing a fire in another thread is seen
entirely or not at all.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, cast

from transitions import Machine
from transitions.core import Event, EventData, State
from transitions.core import Transition as EngineTransition

from ._definition import JourneyDefinition
from ._guards import Guard, Predicate
from ._hooks import HookFn, hook_failed
from ._records import Context, Journey, append_entry, new_entry

__all__ = ["CompiledEngine", "compile_engine"]


def record_move(event_data: Any) -> None:
    """The 'stage set, history appended' step of a move."""
    ctx: Context = event_data.args[0]
    journey: Journey = event_data.model
    seq = journey.version + 1
    source = ctx._source
    dest = ctx._dest
    append_entry(
        journey,
        new_entry(
            seq,
            ctx._trigger,
            source,
            source if dest is None else dest,
            ctx._now,
            ctx._event_id,
            ctx._meta,  # None, or checked and frozen by fire
        ),
    )
    journey.version = seq
    if dest is not None:  # entering a stage (a re-entry too) restarts its timeouts
        journey.entered_at = ctx._now
        journey.entry_seq = seq
        journey.timeouts_fired = 0


class _Stage(State):
    label: str  # the real stage name

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
    label: str | None  # the real destination stage name (None: internal)
    source_state: _Stage
    dest_state: _Stage | None

    def execute(self, event_data: Any) -> bool:
        callback: Any
        condition: Any
        ctx = event_data.args[0]
        # The candidate being tried: what guards, hooks and the history entry see as dest.
        ctx._dest = self.label
        for condition in self.conditions:
            if not condition.func(event_data):
                return False
        ctx._armed = True  # the move begins: from here on it can be rolled back
        machine = event_data.machine
        for callback in machine.before_state_change:
            callback(event_data)
        for callback in self.before:
            callback(event_data)
        dest = self.dest_state
        if dest is not None:  # None: an internal transition, no exit/enter
            self.source_state.exit(event_data)
            event_data.model.stage = self.label
            event_data.state = dest
            dest.enter(event_data)
        for callback in self.after:
            callback(event_data)
        for callback in machine.after_state_change:
            callback(event_data)
        return True


class _EventData(EventData):
    """The engine's EventData with every attribute its ``__init__`` sets, set without the
    keyword-argument call (a test pins the attributes against EventData's)."""

    def __init__(
        self, event: Any, machine: Any, model: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> None:
        self.state = None  # type: ignore[assignment]  # as EventData.__init__ is given
        self.event = event
        self.machine = machine
        self.model = model
        self.args = args
        self.kwargs = kwargs
        self.transition = None
        self.error = None
        self.result = False


class _Event(Event):
    by_stage: dict[str, list[_Transition]]  # real stage name -> candidates, in order

    def trigger(self, model: Any, *args: Any, **kwargs: Any) -> bool:
        event_data = _EventData(self, self.machine, model, args, kwargs)
        for transition in self.by_stage[model.stage]:
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

    __slots__ = ("composite", "guard", "index")

    def __init__(self, index: int, guard: Guard) -> None:
        self.index = index
        self.guard = guard
        # a composite logs its parts' results, so a blocked outcome reports what explain
        # does without running a guard again; a leaf logs its bool
        self.composite = not isinstance(guard, Predicate)

    def __call__(self, event_data: Any) -> bool:
        ctx: Context = event_data.args[0]
        if self.composite:  # its parts' results, for a result tree built only when read
            trace: list[Any] = []
            ok = self.guard._trace(ctx, trace)
            ctx._guard_log.append((self.index, self.guard, trace))
            return ok
        ok = self.guard.check(ctx)
        ctx._guard_log.append((self.index, self.guard, ok))
        return ok

    def __repr__(self) -> str:
        return f"<condition {self.guard.name}>"


class _Dispatch:
    """Runs the hooks of one kind (and stage/trigger) in order; a failure -> HookError."""

    __slots__ = ("hooks", "kind", "name")

    def __init__(self, kind: str, name: str | None) -> None:
        self.kind = kind
        self.name = name
        self.hooks: tuple[HookFn, ...] = ()

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


class CompiledEngine:
    """One definition on one shared ``transitions.Machine``, with real-name lookups."""

    def __init__(self, d: JourneyDefinition) -> None:
        self.stage_ids = {s.name: f"s{i}" for i, s in enumerate(d.stages)}
        self.trigger_ids = {t: f"t{i}" for i, t in enumerate(d.triggers)}
        machine = _Engine(
            model=None,
            states=[{"name": self.stage_ids[s.name], "final": s.final} for s in d.stages],
            initial=self.stage_ids[d.initial_stage],
            auto_transitions=False,
            send_event=True,
            model_attribute="stage",
            ignore_invalid_triggers=True,
        )
        self.machine = machine
        self.states: dict[str, _Stage] = {}
        for s in d.stages:
            state: Any = machine.get_state(self.stage_ids[s.name])
            state.label = s.name
            self.states[s.name] = state
        for stage, row in d.table.items():
            for trigger, cands in row.items():
                tid = self.trigger_ids[trigger]
                for index, t in enumerate(cands):
                    conditions: list[Any] = [_GuardCheck(index, g) for g in t.guards]
                    dest_id = None if t.dest is None else self.stage_ids[t.dest]
                    machine.add_transition(
                        tid, self.stage_ids[stage], dest_id, conditions=conditions
                    )
                    added: Any = machine.events[tid].transitions[self.stage_ids[stage]][-1]
                    added.label = t.dest
                    added.source_state = self.states[stage]
                    added.dest_state = None if t.dest is None else self.states[t.dest]
                    if t.dest is None:  # internal: no enter step, record before the after hooks
                        added.before.append(record_move)
        #: real trigger name -> engine event, the runtime's fire table
        self.events: dict[str, _Event] = {}
        for trigger, tid in self.trigger_ids.items():
            event: Any = machine.events[tid]
            event.by_stage = {
                stage: event.transitions.get(sid, []) for stage, sid in self.stage_ids.items()
            }
            self.events[trigger] = event
        self._dispatch: dict[tuple[str, str | None], _Dispatch] = {}
        self._lock = threading.Lock()

    def candidates(self, stage: str, trigger: str) -> list[tuple[str | None, tuple[Guard, ...]]]:
        """What the engine will try for (stage, trigger): (dest, guards) per candidate.

        The contract test compares this with the definition's compiled table.
        """
        out = []
        for t in self.events[trigger].by_stage[stage]:
            guards = tuple(cast(_GuardCheck, c.func).guard for c in t.conditions)
            out.append((t.label, guards))
        return out

    def set_hooks(self, kind: str, name: str | None, hooks: tuple[HookFn, ...]) -> None:
        """Make the dispatcher of one hook kind (and stage/trigger) run ``hooks``.

        The dispatcher is wired onto the engine the first time; later calls replace its
        tuple of hooks in one assignment.
        """
        with self._lock:
            key = (kind, name)
            dispatch = self._dispatch.get(key)
            if dispatch is None:
                dispatch = self._dispatch[key] = _Dispatch(kind, name)
                dispatch.hooks = hooks
                self._wire(dispatch)
            else:
                dispatch.hooks = hooks

    def _wire(self, dispatch: _Dispatch) -> None:
        machine = self.machine
        kind, name = dispatch.kind, dispatch.name
        add: Callable[[list[Any]], list[Any]] = lambda callbacks: [*callbacks, dispatch]  # noqa: E731
        if kind == "before":
            machine.before_state_change = add(machine.before_state_change)
        elif kind == "after":
            machine.after_state_change = add(machine.after_state_change)
        elif kind == "on_enter":
            assert name is not None
            state = self.states[name]
            state.on_enter = add(state.on_enter)
        elif kind == "on_exit":
            assert name is not None
            state = self.states[name]
            state.on_exit = add(state.on_exit)
        elif kind == "on_transition":
            assert name is not None
            for transitions in self.events[name].by_stage.values():
                for t in transitions:
                    # on_transition hooks run first among the transition's after callbacks
                    t.after = [dispatch, *t.after]
        else:  # pragma: no cover - the registration methods pass known kinds only
            raise ValueError(f"unknown hook kind {kind!r}")


def compile_engine(d: JourneyDefinition) -> CompiledEngine:
    """One shared engine for definition ``d`` (candidates in declaration order)."""
    return CompiledEngine(d)
