"""The path explorer: which trigger sequences lead where, read from the compiled table.

Theory of operation
-------------------
A step from stage S is found by asking the machine what ``fire`` would do: for every
trigger of ``definition.table[S]`` and every payload the caller's payload factory offers
for (S, trigger), the candidates are evaluated on a journey in S (with the caller's
``data``) by the machine's own guard evaluation, one at a time in declaration order, up
to the first that passes (:meth:`Explorer.chosen`).  So guards, their short-circuits and
candidate order are honoured exactly as ``fire`` honours them (DESIGN Semantics 2): a
guard ``fire`` would not reach is not run here either.  A payload a guard refuses to read
(``GuardError``) simply does not open that step.

An :class:`~journeyfsm.AsyncJourneyMachine` (or a definition with ``async def`` guards)
is explored the same way: its sync core evaluates the candidates in a worker thread and
awaits the async guards on an event loop of the explorer's own (``asyncio.run``), so the
explorer is called from sync code, as the sync assertion helpers are.

The explorer runs no hooks, so ``data`` is the same at every step: guards that read
``journey.data`` see the ``data`` given.  Internal transitions (``dest=None``) do not
change the stage and are not steps.
"""

from __future__ import annotations

import asyncio
import functools
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime
from typing import Any, TypeVar

import attrs

from .._async_machine import AsyncJourneyMachine
from .._clock import ManualClock, ensure_utc
from .._definition import JourneyDefinition, Transition
from .._errors import GuardError
from .._json import copy_json
from .._records import Journey
from .._runtime import JourneyMachine, async_guards
from ._graph import definition_of

__all__ = [
    "Path",
    "PayloadFactory",
    "Step",
    "shortest_paths",
    "simple_paths",
    "stages_without_exit_to_final",
    "unreachable_stages",
]

#: The payloads the path explorer tries: a function ``(stage, trigger) -> payloads`` or a
#: mapping ``trigger -> payloads``.
PayloadFactory = Callable[[str, str], Iterable[Any]] | Mapping[str, Iterable[Any]]
#: What the explorer explores: a definition, or a sync or async machine.
Explorable = JourneyDefinition | JourneyMachine | AsyncJourneyMachine
T = TypeVar("T")


def _run(what: str, coro: Any) -> Any:
    """``asyncio.run(coro)`` from sync code; inside a running loop, an error saying so."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    coro.close()
    raise RuntimeError(
        f"{what} awaits an AsyncJourneyMachine's async guards with asyncio.run(), which "
        "cannot run inside a running event loop: call it from sync code (a plain def "
        "test), or in a thread (await asyncio.to_thread(...))"
    )


@attrs.frozen
class Step:
    """One event of a path: ``trigger`` with ``payload`` moves from ``source`` to ``dest``."""

    trigger: str
    payload: Any
    source: str
    dest: str


@attrs.frozen
class Path:
    """A trigger sequence from the initial stage to ``stage``.

    >>> from journeyfsm import JourneyMachine, templates
    >>> from journeyfsm.testing import shortest_paths
    >>> path = shortest_paths(templates.aida())["action"]
    >>> path.triggers
    ('engage', 'want', 'buy')
    >>> path.replay(JourneyMachine(templates.aida())).stage
    'action'
    """

    stage: str
    steps: tuple[Step, ...] = ()

    @property
    def triggers(self) -> tuple[str, ...]:
        """The triggers to fire, in order, from the initial stage."""
        return tuple(s.trigger for s in self.steps)

    @property
    def stages(self) -> tuple[str, ...]:
        """Every stage visited, the initial one first."""
        if not self.steps:
            return (self.stage,)
        return (self.steps[0].source, *(s.dest for s in self.steps))

    def __len__(self) -> int:
        return len(self.steps)

    def replay(
        self,
        machine: JourneyMachine | AsyncJourneyMachine,
        *,
        key: str = "path-replay",
        data: Mapping[str, Any] | None = None,
        at: datetime | None = None,
    ) -> Journey:
        """Fire the steps through ``machine`` (sync, or async: run with ``asyncio.run``
        from sync code) on a new journey and return it.

        Raises ``AssertionError`` naming the step if the machine does not move as the
        path says (a hook vetoed, a guard read the clock differently, ...).
        """
        if at is not None:
            at = ensure_utc(at, what="Path.replay(at=...)")
        journey = machine.start(key, data)
        for i, step in enumerate(self.steps, 1):
            if isinstance(machine, AsyncJourneyMachine):
                fired = machine.fire(journey, step.trigger, step.payload, at=at)
                outcome = _run("Path.replay()", fired)
            else:
                outcome = machine.fire(journey, step.trigger, step.payload, at=at)
            if not outcome.moved or journey.stage != step.dest:
                raise AssertionError(
                    f"replaying the path to {self.stage!r}: step {i} ({step.trigger!r} from "
                    f"{step.source!r} with payload {step.payload!r}) should move to "
                    f"{step.dest!r}, but it was {outcome.status} and the journey is in "
                    f"{journey.stage!r}"
                )
        return journey


def _at(at: datetime | None, what: str) -> datetime | None:
    """``at`` of the function ``what``, checked (aware, in UTC) where the caller passed it."""
    return None if at is None else ensure_utc(at, what=f"{what}(at=...)")


def _payloads_of(factory: PayloadFactory | None) -> Callable[[str, str], list[Any]]:
    if factory is None:
        return lambda stage, trigger: [None]
    if isinstance(factory, Mapping):
        table = factory
        return lambda stage, trigger: list(table.get(trigger, [None]))
    fn = factory

    def call(stage: str, trigger: str) -> list[Any]:
        result = fn(stage, trigger)
        if result is None or isinstance(result, (Mapping, str, bytes)):
            raise TypeError(
                f"payload_factory({stage!r}, {trigger!r}) must return an iterable of payloads "
                f"to try (a list), got {type(result).__name__}; wrap one payload as [payload]"
            )
        return list(result)

    return call


class Explorer:
    """Finds the steps out of each stage once and remembers them (see the module doc)."""

    def __init__(
        self,
        source: Explorable,
        payload_factory: PayloadFactory | None = None,
        *,
        data: Mapping[str, Any] | None = None,
        at: datetime | None = None,
    ) -> None:
        # a definition alone runs on a ManualClock, so guards that read the time are
        # judged the same way on every run
        definition_of(source)  # a TypeError naming what is accepted
        if isinstance(source, JourneyDefinition) and async_guards(source):
            source = AsyncJourneyMachine(source, clock=ManualClock())
        self._async: AsyncJourneyMachine | None = None
        self.machine: JourneyMachine
        if isinstance(source, AsyncJourneyMachine):
            # its sync core evaluates guards; async ones are awaited on a loop (module doc)
            self._async = source if async_guards(source.definition) else None
            self.machine = source._machine
        elif isinstance(source, JourneyMachine):
            self.machine = source
        else:
            self.machine = JourneyMachine(source, clock=ManualClock())
        self.definition = self.machine.definition
        self.payloads = _payloads_of(payload_factory)
        self.data = dict(data or {})
        self.at = None if at is None else ensure_utc(at, what="Explorer(at=...)")
        self._steps: dict[str, tuple[Step, ...]] = {}

    def chosen(self, stage: str, trigger: str, payload: Any) -> Transition | None:
        """The candidate ``fire`` would take for ``trigger`` with ``payload`` from ``stage``.

        Candidates are evaluated as ``fire`` evaluates them: in order, each with the
        machine's short-circuiting guard evaluation, stopping at the first that passes, so
        no guard runs that ``fire`` would not run.  A faulty guard that is reached raises
        ``GuardError``, as in ``fire``.  ``None``: guards block every candidate (or there is
        no transition).

        >>> from journeyfsm import templates
        >>> Explorer(templates.aida()).chosen("attention", "engage", None).dest
        'interest'
        """
        if self._async is not None:
            call = functools.partial(self._chosen, stage, trigger, payload)
            return _run("the path explorer", self._async._in_thread(call))  # type: ignore[no-any-return]
        return self._chosen(stage, trigger, payload)

    def _chosen(self, stage: str, trigger: str, payload: Any) -> Transition | None:
        machine = self.machine
        journey = Journey("path-explorer", stage, copy_json(self.data))
        # the clock (or at=) exactly as explain and fire read it
        now = machine._now(self.at, "Explorer(at=...)")
        for t in self.definition.candidates(stage, trigger):
            (result,) = machine._evaluate_all(journey, trigger, payload, now, (t,))
            if result.passed:
                return t
        return None

    def steps_from(self, stage: str) -> tuple[Step, ...]:
        """The distinct (trigger, dest) moves out of ``stage``, first working payload each."""
        found = self._steps.get(stage)
        if found is not None:
            return found
        out: list[Step] = []
        for trigger in self.definition.triggers_from(stage):
            dests: set[str] = set()
            for payload in self.payloads(stage, trigger):
                try:
                    chosen = self.chosen(stage, trigger, payload)
                except GuardError:
                    continue
                if chosen is None or chosen.dest is None or chosen.dest in dests:
                    continue
                dests.add(chosen.dest)
                out.append(Step(trigger, payload, stage, chosen.dest))
        self._steps[stage] = result = tuple(out)
        return result


def shortest_paths(
    definition: Explorable,
    payload_factory: PayloadFactory | None = None,
    *,
    data: Mapping[str, Any] | None = None,
    at: datetime | None = None,
) -> dict[str, Path]:
    """A shortest path from the initial stage to every stage it can reach.

    ``payload_factory`` offers payloads to try: ``fn(stage, trigger) -> [payload, ...]`` or
    a dict ``{trigger: [payload, ...]}`` (default: ``None`` only).  ``data`` is the journey
    data guards see.  Stages missing from the result cannot be reached with these payloads.

    >>> from journeyfsm import templates
    >>> from journeyfsm.testing import shortest_paths
    >>> shortest_paths(templates.aida())["lost"].triggers
    ('lose_interest',)
    """
    explorer = Explorer(definition, payload_factory, data=data, at=_at(at, "shortest_paths"))
    start = explorer.definition.initial_stage
    paths = {start: Path(start)}
    todo = deque([start])
    while todo:
        here = paths[todo.popleft()]
        for step in explorer.steps_from(here.stage):
            if step.dest not in paths:
                paths[step.dest] = Path(step.dest, (*here.steps, step))
                todo.append(step.dest)
    return paths


def simple_paths(
    definition: Explorable,
    max_length: int,
    payload_factory: PayloadFactory | None = None,
    *,
    to: str | None = None,
    data: Mapping[str, Any] | None = None,
    at: datetime | None = None,
) -> list[Path]:
    """Every path of 1 to ``max_length`` steps from the initial stage that visits no stage twice.

    ``to`` keeps only the paths ending in that stage; payloads and ``data`` work as in
    :func:`shortest_paths`.

    >>> from journeyfsm import templates
    >>> from journeyfsm.testing import simple_paths
    >>> [p.triggers for p in simple_paths(templates.aida(), 3, to="lost")]
    [('engage', 'want', 'lose_interest'), ('engage', 'lose_interest'), ('lose_interest',)]
    """
    if isinstance(max_length, bool) or not isinstance(max_length, int):
        raise TypeError(f"max_length is a whole number of steps (at least 1), got {max_length!r}")
    if max_length < 1:
        raise ValueError(f"max_length must be at least 1, got {max_length}")
    explorer = Explorer(definition, payload_factory, data=data, at=_at(at, "simple_paths"))
    if to is not None:
        explorer.definition.stage(to)  # KeyError with close matches for a typo
    start = explorer.definition.initial_stage

    def walk(steps: tuple[Step, ...], visited: frozenset[str]) -> Iterator[Path]:
        stage = steps[-1].dest if steps else start
        for step in explorer.steps_from(stage):
            if step.dest in visited:
                continue
            longer = (*steps, step)
            if to is None or step.dest == to:
                yield Path(step.dest, longer)
            if len(longer) < max_length:
                yield from walk(longer, visited | {step.dest})

    return list(walk((), frozenset({start})))


def unreachable_stages(
    definition: Explorable,
    payload_factory: PayloadFactory | None = None,
    *,
    data: Mapping[str, Any] | None = None,
    at: datetime | None = None,
) -> tuple[str, ...]:
    """Stages no path reaches with the payloads offered (guards honoured).

    >>> from journeyfsm import templates
    >>> from journeyfsm.testing import unreachable_stages
    >>> unreachable_stages(templates.aida())
    ()
    """
    reached = shortest_paths(
        definition, payload_factory, data=data, at=_at(at, "unreachable_stages")
    )
    d = definition_of(definition)
    return tuple(s for s in d.stage_names if s not in reached)


def stages_without_exit_to_final(
    definition: Explorable,
) -> tuple[str, ...]:
    """Non-final stages from which no final stage can be reached (read from the table;
    guards ignored): journeys entering them can never finish.

    >>> from journeyfsm import JourneyBuilder
    >>> from journeyfsm.testing import stages_without_exit_to_final
    >>> loop = (
    ...     JourneyBuilder("loop")
    ...     .stage("new", initial=True).stage("ping").stage("pong").stage("done", final=True)
    ...     .transition("finish", "new", "done")
    ...     .transition("start", "new", "ping")
    ...     .transition("hit", "ping", "pong")
    ...     .transition("hit", "pong", "ping")
    ...     .build()
    ... )
    >>> stages_without_exit_to_final(loop)
    ('ping', 'pong')
    """
    d = definition_of(definition)
    into: dict[str, set[str]] = {s: set() for s in d.stage_names}
    for edge in d.edges():
        if edge.dest is not None:
            into[edge.dest].add(edge.source)
    can_finish = set(d.final_stages)
    todo = deque(can_finish)
    while todo:
        for source in into[todo.popleft()]:
            if source not in can_finish:
                can_finish.add(source)
                todo.append(source)
    return tuple(s for s in d.stage_names if s not in can_finish)
