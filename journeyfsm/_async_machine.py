"""AsyncJourneyMachine: the sync machine's moves, awaited.

Theory of operation
-------------------
The semantics of a move exist ONCE, in JourneyMachine (_runtime.py); nothing here decides
anything.  An AsyncJourneyMachine wraps a JourneyMachine of its own (one that accepts
``async def`` guards, hooks and effects) and hands it every call:

- A call that can run no async callback (the definition has no async guard and no async
  hook is registered) calls the sync method directly on the loop: no thread, no hop.
- Otherwise the sync method runs in a worker thread, and each async guard or hook, wrapped
  once by the bridge of _callables.py, runs as a task on the CALLER's loop (captured per
  call in :data:`~journeyfsm._callables.CURRENT`, a contextvar the thread runs under) while
  the thread waits for it.  Guards run in order and short-circuit, hooks keep their order
  and rollback, because the engine calling them is the sync one.
- Cancellation: a cancelled caller cancels the callback task in flight; the worker raises
  ``CancelledError`` inside the move, the sync ``fire`` rolls the journey back exactly as
  for ``KeyboardInterrupt`` (DESIGN Semantics 4), the caller waits (shielded) for that
  rollback to finish, then ``CancelledError`` propagates.  A cancellation that comes after
  the move's last async callback returned finds the move complete: it stands (the journey
  tells which), and ``CancelledError`` still propagates.
- Effects never run inside the move: the sync fire always defers them, and
  :meth:`AsyncJourneyMachine.run_effects` runs them on the loop after it, awaiting async
  ones and calling sync ones (same reports, same idempotency keys, same log events).
- The hand-off itself (the worker pool, nested moves, the shielded wait) is _handoff.py.
- One journey is moved by one task at a time: a second fire of a journey whose move is in
  a worker thread gets the re-entrant error at once (from its own hook, the outer move is
  rolled back too, as in the sync machine; from another task, the other move goes on).
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import threading
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any, TypeVar

import attrs

from ._callables import CURRENT, AsyncCall
from ._clock import Clock
from ._definition import JourneyDefinition, Policy
from ._goals import GoalMiss
from ._handoff import in_worker
from ._hooks import HookFn, HookRegistration
from ._logging import JourneyLog
from ._outcome import EffectCall, EffectReport, Explanation, Outcome
from ._records import Journey
from ._runtime import JourneyMachine, async_guards
from ._snapshot import Allowed, AllowVersion
from ._timeouts import DueTimeout

__all__ = ["AsyncJourneyMachine"]

T = TypeVar("T")


class _Core(JourneyMachine):
    """The JourneyMachine inside an AsyncJourneyMachine: it accepts async callables."""

    _accepts_async = True


class AsyncJourneyMachine(HookRegistration):
    """Drives journeys through one definition from asyncio code; guards, hooks and effects
    may be ``async def`` (awaited) or plain (called), mixed in one definition.

    >>> import asyncio
    >>> from journeyfsm import AsyncJourneyMachine, templates
    >>> machine = AsyncJourneyMachine(templates.aida())
    >>> @machine.on_enter("interest")
    ... async def tag(ctx):
    ...     await asyncio.sleep(0)
    ...     ctx.journey.data["tagged"] = True
    >>> journey = machine.start("customer-42")
    >>> outcome = asyncio.run(machine.fire(journey, "engage"))
    >>> outcome.status, journey.stage, journey.data
    ('moved', 'interest', {'tagged': True})

    Same arguments as :class:`JourneyMachine`; ``fire``, ``explain``,
    ``enabled_triggers``, ``tick`` and ``run_effects`` are awaited and decide, log and
    roll back exactly as the sync machine's; ``start``, ``snapshot``, ``restore``,
    ``allowed_triggers``, ``next_due`` and ``pending_goals`` run no callback and stay plain.  Registration
    (``on_enter``, ``before``, ``effect``, ...) is the sync machine's.  It wraps a
    JourneyMachine rather than subclassing it: an ``await``-ed ``fire`` cannot stand in
    for a sync one, so it is not one.
    """

    _accepts_async = True

    def __init__(
        self,
        definition: JourneyDefinition,
        *,
        clock: Clock | None = None,
        logger: Any = None,
        event_id_window: int = 64,
        allow_version: AllowVersion = None,
    ) -> None:
        machine = _Core(
            definition,
            clock=clock,
            logger=logger,
            event_id_window=event_id_window,
            allow_version=allow_version,
        )
        self._machine = machine
        self._hooks = machine._hooks
        self._async_guards = bool(async_guards(definition))
        # journeys whose move runs in a worker thread now (id -> its call)
        self._moving: dict[int, AsyncCall] = {}
        self._moving_lock = threading.Lock()

    def _check_stage(self, stage: str, what: str) -> None:
        self._machine._check_stage(stage, what)

    def _check_trigger(self, trigger: str, what: str) -> None:
        self._machine._check_trigger(trigger, what)

    def _hooks_changed(self, kind: str, name: str | None, hooks: tuple[HookFn, ...]) -> None:
        self._machine._hooks_changed(kind, name, hooks)

    # -- what it is --------------------------------------------------------------------
    @property
    def definition(self) -> JourneyDefinition:
        """The definition this machine drives."""
        return self._machine.definition

    @property
    def clock(self) -> Clock:
        """The clock that supplies ``now``."""
        return self._machine.clock

    @property
    def event_id_window(self) -> int:
        """How many recent event ids each journey keeps for idempotency."""
        return self._machine.event_id_window

    @property
    def logger(self) -> JourneyLog:
        """The machine's log, as :attr:`JourneyMachine.logger`."""
        return self._machine.logger

    def _in_sync(self) -> bool:
        """Whether a move can run on the loop: no async guard, no async hook."""
        return not (self._async_guards or self._hooks.async_hooks)

    # -- plain: no callback runs ---------------------------------------------------------
    def start(
        self, key: str, data: Mapping[str, Any] | None = None, *, at: datetime | None = None
    ) -> Journey:
        """A new journey in the initial stage, as :meth:`JourneyMachine.start`."""
        return self._machine.start(key, data, at=at)

    def snapshot(self, journey: Journey, *, history: bool = True) -> dict[str, Any]:
        """A JSON-able dict of ``journey``, as :meth:`JourneyMachine.snapshot`."""
        return self._machine.snapshot(journey, history=history)

    def restore(
        self, snapshot: Mapping[str, Any], *, allow_version: AllowVersion = None
    ) -> Journey:
        """The journey a snapshot describes, as :meth:`JourneyMachine.restore` (a snapshot
        of another definition version loads only with ``allow_version``)."""
        return self._machine.restore(snapshot, allow_version=allow_version)

    @property
    def allowed_versions(self) -> Allowed:
        """The other definition versions whose snapshots load, as
        :attr:`JourneyMachine.allowed_versions`."""
        return self._machine.allowed_versions

    def allowed_triggers(self, journey: Journey) -> tuple[str, ...]:
        """Triggers with a transition from the journey's stage (no guard runs)."""
        return self._machine.allowed_triggers(journey)

    def next_due(self, journey: Journey) -> DueTimeout | GoalMiss | None:
        """What the machine will next do by itself for ``journey`` (its next stage
        timeout, or a goal miss that comes first), as :meth:`JourneyMachine.next_due`."""
        return self._machine.next_due(journey)

    def pending_goals(self, journey: Journey) -> dict[str, datetime]:
        """The goals whose clocks run for ``journey``, each with its deadline, as
        :meth:`JourneyMachine.pending_goals`.

        >>> from datetime import datetime, timedelta, timezone
        >>> from journeyfsm import AsyncJourneyMachine, Goal, JourneyBuilder
        >>> d = (JourneyBuilder("trial").stage("trial", initial=True).stage("paid", final=True)
        ...      .transition("pay", "trial", "paid")
        ...      .goal(Goal("converted", stage="paid", within=timedelta(days=7))).build())
        >>> machine = AsyncJourneyMachine(d)
        >>> j = machine.start("c-1", at=datetime(2026, 1, 1, tzinfo=timezone.utc))
        >>> machine.pending_goals(j)
        {'converted': datetime.datetime(2026, 1, 8, 0, 0, tzinfo=datetime.timezone.utc)}
        """
        return self._machine.pending_goals(journey)

    # -- awaited -------------------------------------------------------------------------
    async def fire(
        self,
        journey: Journey,
        trigger: str,
        payload: Any = None,
        *,
        at: datetime | None = None,
        event_id: str | None = None,
        meta: Mapping[str, Any] | None = None,
        policy: Policy | None = None,
        defer_effects: bool = False,
    ) -> Outcome:
        """Handle one event for one journey, as :meth:`JourneyMachine.fire` does.

        Async guards and hooks are awaited in the sync machine's order; a cancelled
        caller (``asyncio.timeout``, a client that went away) while one runs leaves the
        journey exactly as before and gets ``CancelledError``.  Effects then run on the
        loop (async ones awaited), unless ``defer_effects=True``.

        >>> import asyncio
        >>> from journeyfsm import AsyncJourneyMachine, templates
        >>> machine = AsyncJourneyMachine(templates.aida())
        >>> journey = machine.start("c-1")
        >>> asyncio.run(machine.fire(journey, "engage", event_id="evt-1")).status
        'moved'
        >>> asyncio.run(machine.fire(journey, "engage", event_id="evt-1")).status
        'duplicate'
        """
        sync_fire = self._machine.fire
        if self._in_sync():
            outcome = sync_fire(
                journey,
                trigger,
                payload,
                at=at,
                event_id=event_id,
                meta=meta,
                policy=policy,
                defer_effects=True,
            )
        else:
            outcome = await self._in_thread(
                functools.partial(
                    sync_fire,
                    journey,
                    trigger,
                    payload,
                    at=at,
                    event_id=event_id,
                    meta=meta,
                    policy=policy,
                    defer_effects=True,
                ),
                journey,
                trigger,
            )
        if outcome.pending_effects and not defer_effects:
            effects = await self.run_effects(outcome.pending_effects)
            return attrs.evolve(outcome, effects=effects, pending_effects=())
        return outcome

    async def explain(
        self, journey: Journey, trigger: str, payload: Any = None, *, at: datetime | None = None
    ) -> Explanation:
        """Every candidate and guard result for ``trigger`` now, as
        :meth:`JourneyMachine.explain`; async guards are awaited; changes nothing.

        >>> import asyncio
        >>> from journeyfsm import AsyncJourneyMachine, templates
        >>> m = AsyncJourneyMachine(templates.aida())
        >>> asyncio.run(m.explain(m.start("k"), "engage")).status
        'would_move'
        """
        call = functools.partial(self._machine.explain, journey, trigger, payload, at=at)
        return call() if not self._async_guards else await self._in_thread(call)

    async def enabled_triggers(
        self, journey: Journey, payload: Any = None, *, at: datetime | None = None
    ) -> tuple[str, ...]:
        """Triggers that would move the journey now, as
        :meth:`JourneyMachine.enabled_triggers`; async guards are awaited.

        >>> import asyncio
        >>> from journeyfsm import AsyncJourneyMachine, templates
        >>> m = AsyncJourneyMachine(templates.aida())
        >>> asyncio.run(m.enabled_triggers(m.start("c-1")))
        ('engage', 'lose_interest')
        """
        call = functools.partial(self._machine.enabled_triggers, journey, payload, at=at)
        return call() if not self._async_guards else await self._in_thread(call)

    async def tick(self, journey: Journey, now: datetime | None = None) -> tuple[Outcome, ...]:
        """Fire every timeout due at ``now`` (default: the clock), in order, as
        :meth:`JourneyMachine.tick`; then run the moves' effects on the loop.

        >>> import asyncio
        >>> from datetime import datetime, timedelta, timezone
        >>> from journeyfsm import AsyncJourneyMachine, JourneyBuilder
        >>> d = (JourneyBuilder("cart").stage("cart", initial=True).stage("abandoned", final=True)
        ...      .transition("abandon", "cart", "abandoned")
        ...      .timeout("cart", timedelta(hours=24), "abandon").build())
        >>> machine = AsyncJourneyMachine(d)
        >>> t0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
        >>> journey = machine.start("c-1", at=t0)
        >>> [o.dest for o in asyncio.run(machine.tick(journey, t0 + timedelta(days=1)))]
        ['abandoned']
        """
        m = self._machine
        m._check_journey(journey, "tick")
        until = m._now(now, "tick(now=...)")

        def due_outcomes() -> tuple[Outcome, ...]:
            # JourneyMachine.tick's loop, with the effects deferred (run below, on the loop)
            return m._fire_due(journey, until, defer_effects=True)

        if self._in_sync():
            outcomes = due_outcomes()
        else:
            outcomes = await self._in_thread(due_outcomes, journey, "tick")
        if not any(o.pending_effects for o in outcomes):
            return outcomes
        done = []
        for o in outcomes:
            if o.pending_effects:
                o = attrs.evolve(
                    o, effects=await self.run_effects(o.pending_effects), pending_effects=()
                )
            done.append(o)
        return tuple(done)

    async def run_effects(self, calls: Iterable[EffectCall]) -> tuple[EffectReport, ...]:
        """Run effect calls in order, as :meth:`JourneyMachine.run_effects`: async effects
        are awaited on the loop, sync ones called; one that raises is logged and reported.

        >>> import asyncio
        >>> from journeyfsm import AsyncJourneyMachine, templates
        >>> machine = AsyncJourneyMachine(templates.aida())
        >>> @machine.effect(on_enter="interest")
        ... async def welcome(call):
        ...     print("welcome", call.key)
        >>> async def main():
        ...     journey = machine.start("c-1")
        ...     outcome = await machine.fire(journey, "engage", defer_effects=True)
        ...     # ... save the journey, commit, then:
        ...     return [r.ok for r in await machine.run_effects(outcome.pending_effects)]
        >>> asyncio.run(main())
        welcome c-1
        [True]
        """
        m = self._machine
        reports = []
        for call in calls:
            eff = m._effect_for(call)
            try:
                result = eff.fn(call)
                if inspect.isawaitable(result):
                    await result
            except Exception as err:
                reports.append(m._effect_failed(call, err))
            else:
                reports.append(EffectReport(call.effect, call.idempotency_key, True))
        return tuple(reports)

    # -- the hand-off --------------------------------------------------------------------
    async def _drive(self, fn: Callable[[JourneyMachine], T], journey: Journey | None = None) -> T:
        """Run ``fn(sync_machine)`` as :meth:`fire` runs a move: on the loop when nothing
        can await, else in a worker thread with the async callbacks on this loop (and
        ``journey`` claimed).  For the async service, whose sans-IO decide step drives
        the sync machine: the semantics stay in one place."""
        machine = self._machine
        if self._in_sync():
            return fn(machine)
        return await self._in_thread(functools.partial(fn, machine), journey, "decide")

    async def _in_thread(
        self, fn: Callable[[], T], journey: Journey | None = None, trigger: str = ""
    ) -> T:
        """Run the sync ``fn`` in a worker thread, its async callbacks on this loop
        (_handoff.py); with ``journey``, claimed for the call (one move at a time)."""
        if journey is None:
            return await in_worker(fn)
        outer = CURRENT.get()  # set: awaited from inside a move's async callback
        key = id(journey)
        with self._moving_lock:
            holder = self._moving.get(key)
            if holder is not None or journey._move is not None:
                # from the moving call's own callbacks: re-entrant, and the outer move is
                # rolled back as in the sync machine; from another task: refused only
                raise self._machine._reentrant(
                    journey, trigger, inside=holder is not None and holder is not outer
                )
            self._moving[key] = holder = AsyncCall(asyncio.get_running_loop())
        try:
            return await in_worker(fn, holder)
        finally:
            with self._moving_lock:
                del self._moving[key]
