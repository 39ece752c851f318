"""The stage graph the path properties are proved on, read from the compiled table.

Theory of operation
-------------------
A *move* is one compiled edge ``source --trigger--> dest`` that ``fire`` could take.
Guards are *free*: at each step every named leaf guard may pass or fail, independently
of every other step and of the data (hooks, data and payloads are not modelled), unless
the caller fixes its outcome with ``guards={"name": True | False}``.  Within one step a
guard has one value for all the candidates, as ``fire`` judges them all on one journey
and payload; candidate order is honoured as ``fire`` honours it (DESIGN Semantics 1).
So candidate *i* for (stage, trigger) is a move when some assignment of the free leaf
guards makes its guards pass and every earlier candidate's fail: the leaves of one
(stage, trigger) are enumerated (``&``, ``|``, ``~`` evaluated as written).  Past
:data:`MAX_LEAVES` distinct free leaves there, three-valued logic decides instead
(Kleene's: a candidate is ruled out only when its guards are surely False or an earlier
candidate's surely True), which keeps more moves, never fewer.

So the graph holds every move a real journey can make, and possibly more: what the
guards read is not modelled, so two guards that always agree (they read the same data),
or a guard whose value is carried from one step to the next (the data did not change),
are taken as independent here.  Properties that say "no path ..." or "every path ..."
are therefore *proved* for every real journey; a property that says a stage *can* be
reached only shows that the table and the free guards allow it.

Internal transitions (``dest=None``) do not change the stage: they are not moves.  A
*dead end* is a stage with no move out (every final stage, and a stage whose moves the
fixed guards all rule out).

A definition with a re-entry rule (``entry`` other than ``"once"``) gets one more move
out of each final stage from which a restart is possible (a trigger of the initial stage
with a possible candidate there and none in the final stage): ``--journeyfsm.reenter-->``
the initial stage.  Such a final stage is then no dead end: a path may go on through a
restart (the cooldown is not modelled: time is free, as guards are).  "Final" keeps its
meaning for the targets (:data:`FINAL`, ``no_traps``: a stage that can reach a final
stage is no trap).

A goal with an ``exit`` (docs/rules.md, "Goals") gives a ``--journeyfsm.goal-->`` move to
its exit stage from where it can be met: its ``stage``, or each stage its ``trigger``
moves the journey to (the window is not modelled: time is free).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping

import attrs

from .._async_machine import AsyncJourneyMachine
from .._definition import JourneyDefinition, Transition
from .._errors import did_you_mean
from .._goals import GOAL
from .._guards import AllOf, AnyOf, Guard, Not, Predicate
from .._rules import REENTER
from .._runtime import JourneyMachine

__all__ = [
    "FINAL",
    "INITIAL",
    "MAX_LEAVES",
    "WITH_TIMEOUT",
    "Graph",
    "Move",
    "StageSet",
    "StageSpec",
    "definition_of",
    "stage_set",
]


def definition_of(target: object) -> JourneyDefinition:
    """The definition of a definition or a (sync or async) machine; TypeError otherwise."""
    if isinstance(target, JourneyDefinition):
        return target
    if isinstance(target, (JourneyMachine, AsyncJourneyMachine)):
        return target.definition
    raise TypeError(
        f"expected a JourneyDefinition, a JourneyMachine or an AsyncJourneyMachine, got {target!r}"
    )


@attrs.frozen(repr=False)
class StageSet:
    """A named set of stages read from a definition: :data:`FINAL`, :data:`INITIAL`,
    :data:`WITH_TIMEOUT`, or stage names; ``|`` joins sets (and names).

    >>> from journeyfsm import templates
    >>> from journeyfsm.testing import FINAL
    >>> sorted((FINAL | "desire").stages(templates.aida()))
    ['action', 'desire']
    """

    label: str
    select: Callable[[JourneyDefinition], Iterable[str]] = attrs.field(eq=False)
    names: tuple[str, ...] = ()  # stage names given literally: checked against the definition

    def stages(self, definition: JourneyDefinition) -> frozenset[str]:
        """The stages of ``definition`` in this set; KeyError (with close matches) for a
        stage name the definition does not have."""
        for name in self.names:
            if not definition.has_stage(name):
                raise KeyError(
                    f"definition {definition.name!r} (version {definition.version}) has no "
                    f"stage {name!r}{did_you_mean(name, definition.stage_names)}"
                )
        return frozenset(self.select(definition))

    def __or__(self, other: StageSpec) -> StageSet:
        right = stage_set(other)
        return StageSet(
            f"{self.label} | {right.label}",
            lambda d: {*self.select(d), *right.select(d)},
            (*self.names, *right.names),
        )

    def __ror__(self, other: StageSpec) -> StageSet:
        return stage_set(other) | self

    def __repr__(self) -> str:
        return self.label


#: The final stages of the definition.
FINAL = StageSet("FINAL", lambda d: d.final_stages)
#: The initial stage of the definition.
INITIAL = StageSet("INITIAL", lambda d: (d.initial_stage,))
#: The stages with a declared timeout (a journey left alone there is moved on by it).
WITH_TIMEOUT = StageSet("WITH_TIMEOUT", lambda d: {t.stage for t in d.timeouts})

#: Where properties take stages: a stage name, several names, or a :class:`StageSet`.
StageSpec = str | Iterable[str] | StageSet


def stage_set(spec: StageSpec) -> StageSet:
    """``spec`` as a StageSet (a name or an iterable of names becomes one)."""
    if isinstance(spec, StageSet):
        return spec
    if isinstance(spec, str):
        names: tuple[str, ...] = (spec,)
    else:
        try:
            names = tuple(spec)
        except TypeError:
            raise TypeError(
                f"expected a stage name, a list of stage names or a StageSet such as FINAL, "
                f"got {spec!r}"
            ) from None
        for name in names:
            if not isinstance(name, str):
                raise TypeError(f"stage names are str, got {name!r} in {spec!r}")
    label = " | ".join(repr(n) for n in names) if names else "no stage"
    return StageSet(label, lambda d: names, names)


@attrs.frozen
class Move:
    """One move of the graph: ``trigger`` takes ``transition`` from ``source`` to ``dest``."""

    source: str
    trigger: str
    dest: str
    transition: Transition

    def __str__(self) -> str:
        guards = ", ".join(g.name for g in self.transition.guards)
        return f"--{self.trigger}{f' [{guards}]' if guards else ''}--> {self.dest!r}"


def _value(g: Guard, fixed: Mapping[str, bool]) -> bool | None:
    """Kleene three-valued outcome of ``g``: True/False when ``fixed`` decides it, else None."""
    if isinstance(g, Predicate):
        return fixed.get(g.name)
    if isinstance(g, Not):
        inner = _value(g.part, fixed)
        return None if inner is None else not inner
    if isinstance(g, (AllOf, AnyOf)):
        decides = isinstance(g, AnyOf)  # the part value that decides the whole
        values = [_value(p, fixed) for p in g.parts]
        if decides in values:
            return decides
        return None if None in values else not decides
    return fixed.get(g.name)  # a guard kind of the host's own: a leaf by its name


def _all(guards: Iterable[Guard], fixed: Mapping[str, bool]) -> bool | None:
    values = [_value(g, fixed) for g in guards]
    if False in values:
        return False
    return None if None in values else True


#: The most free leaf guards of one (stage, trigger) whose assignments are enumerated.
MAX_LEAVES = 12


def _leaves(g: Guard) -> Iterator[str]:
    if isinstance(g, Not):
        yield from _leaves(g.part)
    elif isinstance(g, (AllOf, AnyOf)):
        for p in g.parts:
            yield from _leaves(p)
    else:  # a Predicate, or a guard kind of the host's own: one free value by name
        yield g.name


def _possible(candidates: Iterable[Transition], fixed: Mapping[str, bool]) -> list[Transition]:
    """The candidates ``fire`` can choose for some outcome of the free guards."""
    cands = list(candidates)
    free = list(dict.fromkeys(n for t in cands for g in t.guards for n in _leaves(g)))
    free = [n for n in free if n not in fixed]
    if len(free) > MAX_LEAVES:
        out = []
        for t in cands:
            surely = _all(t.guards, fixed)
            if surely is not False:
                out.append(t)
            if surely is True:
                break  # always chosen: no later candidate is ever tried
        return out
    chosen: set[int] = set()
    for bits in range(2 ** len(free)):
        values = {**fixed, **{n: bool(bits >> i & 1) for i, n in enumerate(free)}}
        for i, t in enumerate(cands):
            if all(_value(g, values) for g in t.guards):
                chosen.add(i)
                break
    return [t for i, t in enumerate(cands) if i in chosen]


class Graph:
    """The moves of a definition with free guards (see the module doc), and the searches
    the properties use.  ``guards`` fixes the outcome of leaf guards by name."""

    def __init__(
        self, definition: JourneyDefinition, guards: Mapping[str, bool] | None = None
    ) -> None:
        if guards is not None and not isinstance(guards, Mapping):
            raise TypeError(f"guards= takes a dict of guard name -> True or False, got {guards!r}")
        fixed = dict(guards or {})
        known = definition.guards()
        for name, value in fixed.items():
            if name not in known:
                raise KeyError(
                    f"guards= fixes {name!r}, which no transition of {definition.name!r} "
                    f"uses{did_you_mean(name, known)}; known guards: {', '.join(known) or 'none'}"
                )
            if not isinstance(value, bool):
                raise TypeError(f"guards= fixes {name!r} to {value!r}: give True or False")
        self.definition = definition
        self.fixed = fixed
        self.order = {s: i for i, s in enumerate(definition.stage_names)}
        self.out: dict[str, list[Move]] = {s: [] for s in definition.stage_names}
        for stage, row in definition.table.items():
            for trigger, candidates in row.items():
                for t in _possible(candidates, fixed):
                    if t.dest is not None:
                        self.out[stage].append(Move(stage, trigger, t.dest, t))
        if definition.entry != "once":  # a finished journey can restart (docs/rules.md)
            initial = definition.initial_stage
            first = {
                trigger: cands
                for trigger, cands in definition.table[initial].items()
                if _possible(cands, fixed) and trigger not in {e.trigger for e in definition.exits}
            }
            for stage in definition.final_stages:
                row = definition.table.get(stage, {})
                if stage != initial and any(trigger not in row for trigger in first):
                    restart = Transition(REENTER, stage, initial)
                    self.out[stage].append(Move(stage, REENTER, initial, restart))
        for goal in definition.goals:  # a goal met with an exit ends the journey there
            if goal.exit is None:
                continue
            if goal.stage is not None:
                sources = {goal.stage}
            else:
                sources = {
                    m.dest
                    for moves in self.out.values()
                    for m in moves
                    if m.trigger == goal.trigger
                } | {
                    stage
                    for stage, row in definition.table.items()
                    if any(t.dest is None for t in _possible(row.get(str(goal.trigger), ()), fixed))
                }
            for stage in self.sorted(sources):
                if not definition.stage(stage).final and stage != goal.exit:
                    met = Transition(GOAL, stage, goal.exit)
                    self.out[stage].append(Move(stage, GOAL, goal.exit, met))
        self.into: dict[str, list[Move]] = {s: [] for s in definition.stage_names}
        for moves in self.out.values():
            for m in moves:
                self.into[m.dest].append(m)

    def sorted(self, stages: Iterable[str]) -> list[str]:
        """``stages`` in declaration order (so every answer is deterministic)."""
        return sorted(stages, key=self.order.__getitem__)

    def moves(self) -> Iterator[Move]:
        """Every move, in table order."""
        for moves in self.out.values():
            yield from moves

    def shortest(
        self,
        starts: Iterable[str],
        goal: Callable[[str], bool],
        *,
        avoiding: frozenset[str] = frozenset(),
        allowed: Callable[[str], bool] | None = None,
        at_least_one: bool = False,
    ) -> tuple[Move, ...] | None:
        """A shortest move sequence from one of ``starts`` to a stage where ``goal`` holds,
        visiting no stage of ``avoiding`` (nor one ``allowed`` refuses), starts and the
        goal included; ``at_least_one``: a start is not a goal before it has moved.
        ``None``: there is none.  Breadth first, so cycles are fine."""

        def ok(s: str) -> bool:
            return s not in avoiding and (allowed is None or allowed(s))

        back: dict[str, Move | None] = {}
        todo: deque[str] = deque()
        for s in self.sorted(set(starts)):
            if not ok(s):
                continue
            if goal(s) and not at_least_one:
                return ()
            back[s] = None
            todo.append(s)
        while todo:
            here = todo.popleft()
            for m in self.out[here]:
                if not ok(m.dest):
                    continue
                if goal(m.dest):
                    return (*self._trace(back, here), m)
                if m.dest not in back:
                    back[m.dest] = m
                    todo.append(m.dest)
        return None

    @staticmethod
    def _trace(back: Mapping[str, Move | None], stage: str) -> tuple[Move, ...]:
        steps: list[Move] = []
        m = back[stage]
        while m is not None:
            steps.append(m)
            m = back[m.source]
        return tuple(reversed(steps))

    def reachable(self, starts: Iterable[str], within: Iterable[str] | None = None) -> set[str]:
        """Every stage reachable from ``starts`` (themselves included), through stages of
        ``within`` only when it is given."""
        inside = None if within is None else set(within)
        seen = {s for s in starts if inside is None or s in inside}
        todo = deque(seen)
        while todo:
            for m in self.out[todo.popleft()]:
                if m.dest not in seen and (inside is None or m.dest in inside):
                    seen.add(m.dest)
                    todo.append(m.dest)
        return seen

    def can_reach(self, targets: Iterable[str]) -> set[str]:
        """Every stage from which one of ``targets`` is reachable (themselves included)."""
        seen = set(targets)
        todo = deque(seen)
        while todo:
            for m in self.into[todo.popleft()]:
                if m.source not in seen:
                    seen.add(m.source)
                    todo.append(m.source)
        return seen

    def inevitable(self, targets: frozenset[str]) -> set[str]:
        """The stages from which every path reaches ``targets``: a target, or a stage with
        at least one move whose moves all lead to such stages (least fixed point)."""
        won = set(targets)
        left = {s: len(ms) for s, ms in self.out.items()}
        todo = deque(won)
        while todo:
            for m in self.into[todo.popleft()]:
                if m.source in won:
                    continue
                left[m.source] -= 1
                if left[m.source] == 0:
                    won.add(m.source)
                    todo.append(m.source)
        return won
