"""Journey definitions: the validated JourneyDefinition, and JourneyBuilder to write one.

Its parts (Stage, Transition, Timeout) are in _parts.py, below validation (_validation.py)
and the dict form (_dictform.py): those are handed a definition or the class to build and
never import this module.

Theory of operation
-------------------
A definition is data.  At construction it is validated (every problem collected and
raised at once as a ``DefinitionError``) and compiled into one table::

    table[stage][trigger] -> (Transition, ...)   # candidates, in declaration order

The runtime, ``explain``, the diagram exporter, the path explorer and the coverage
plugin all read that table; there is no second description of the rules anywhere.
``source="*"`` stands for every non-final stage; a list of sources is one transition per
source, keeping declaration order.  ``dest=None`` is an internal transition (recorded,
no stage change, no exit/enter hooks); it is the only kind a final stage may have, so a
final stage records events without ever being left.

Names: a trigger is a Python identifier that is not a keyword; a stage is any non-empty
string but ``"*"`` (the wildcard source) and names padded with whitespace.  The engine
adapter works on internal names, so every name that validates runs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import timedelta
from types import MappingProxyType
from typing import Any

import attrs

from ._dictform import definition_from_dict, definition_to_dict
from ._errors import DefinitionError, did_you_mean
from ._goals import Goal
from ._guards import Guard, Predicate
from ._json import freeze_mapping
from ._parts import Policy, Stage, Timeout, Transition
from ._rules import EntryRule, Exit, entry_problems, exit_stages
from ._validation import compile_and_validate

__all__ = [
    "Edge",
    "Exit",
    "Goal",
    "JourneyBuilder",
    "JourneyDefinition",
    "Policy",
    "Stage",
    "Timeout",
    "Transition",
]


# what JourneyBuilder.replace_stage() may change (a stage's name is its identity)
_STAGE_CHANGES = frozenset({"initial", "final", "description", "metadata"})


@attrs.frozen
class Edge:
    """One compiled (source, trigger) -> dest edge; ``dest`` is None for internal ones."""

    source: str
    trigger: str
    dest: str | None
    transition: Transition
    index: int  # position among the candidates for (source, trigger)


# One converter per field type: the attrs mypy plugin does not solve a generic converter.
def _listed(items: Any, field: str, kind: str) -> tuple[Any, ...]:
    """``items`` as a tuple; a str or a non-iterable is a TypeError naming the field (each
    item's type is a Problem of validation, reported with the others)."""
    if isinstance(items, str) or not isinstance(items, Iterable):
        raise TypeError(
            f"JourneyDefinition: {field} takes a list of {kind}, got {items!r} "
            f"({type(items).__name__})"
        )
    return tuple(items)


def _stage_tuple(items: Iterable[Stage]) -> tuple[Stage, ...]:
    return _listed(items, "stages", "Stage objects")


def _transition_tuple(items: Iterable[Transition]) -> tuple[Transition, ...]:
    return _listed(items, "transitions", "Transition objects")


def _timeout_tuple(items: Iterable[Timeout]) -> tuple[Timeout, ...]:
    return _listed(items, "timeouts", "Timeout objects")


def _exit_tuple(items: Iterable[Exit]) -> tuple[Exit, ...]:
    if isinstance(items, Exit):
        return (items,)
    return _listed(items, "exits", "Exit objects")


def _goal_tuple(items: Iterable[Goal]) -> tuple[Goal, ...]:
    if isinstance(items, Goal):
        return (items,)
    return _listed(items, "goals", "Goal objects")


def _funnel_tuple(items: Iterable[str]) -> tuple[str, ...]:
    if isinstance(items, str):  # tuple("awareness") would be one stage per letter
        raise TypeError(
            f"funnel takes a list of stage names, got the str {items!r}; "
            f"write funnel=[{items!r}, ...]"
        )
    return _listed(items, "funnel", "stage names")


@attrs.frozen
class JourneyDefinition:
    """The immutable, validated set of stages, transitions and timeouts of a journey.

    ``funnel`` names the stages that form the funnel, in order (the analytics count
    "reached this stage or a later one" along it); left out, it is every stage in
    declaration order but the stages of ``exits``, and ``funnel_declared`` is ``False``.
    ``exits`` are exit criteria (:class:`Exit`): triggers that end the journey from any
    stage (see docs/rules.md).  ``entry`` says whether a finished journey starts again
    on an event of its initial stage: ``"once"`` (the default: never), ``"once_at_a_time"``
    or a ``timedelta`` cooldown counted from when it finished (docs/rules.md, "Entry and
    re-entry").

    >>> from journeyfsm import JourneyDefinition, Stage, Transition
    >>> d = JourneyDefinition(
    ...     name="signup",
    ...     stages=[Stage("visitor", initial=True), Stage("member", final=True)],
    ...     transitions=[Transition("sign_up", "visitor", "member")],
    ... )
    >>> d.candidates("visitor", "sign_up")[0].dest
    'member'
    >>> d.funnel
    ('visitor', 'member')
    >>> JourneyDefinition.from_dict(d.to_dict()) == d
    True
    """

    name: str  # a non-str name is a Problem, reported with the others (_validation.py)
    stages: tuple[Stage, ...] = attrs.field(converter=_stage_tuple)
    transitions: tuple[Transition, ...] = attrs.field(converter=_transition_tuple)
    timeouts: tuple[Timeout, ...] = attrs.field(default=(), converter=_timeout_tuple)
    version: int | str = 1
    description: str = ""
    policy: Policy = "ignore"
    metadata: Mapping[str, Any] = attrs.field(factory=dict, converter=freeze_mapping, hash=False)
    #: the stages that form the funnel, in order (``()``: not declared, see ``funnel_declared``)
    funnel: tuple[str, ...] = attrs.field(default=(), converter=_funnel_tuple)
    #: exit criteria: triggers that end the journey from every non-final stage
    exits: tuple[Exit, ...] = attrs.field(default=(), converter=_exit_tuple)
    #: the entry rule: ``"once"``, ``"once_at_a_time"`` or a cooldown (docs/rules.md)
    entry: EntryRule = "once"
    #: conversion goals with windows (:class:`Goal`, docs/rules.md "Goals")
    goals: tuple[Goal, ...] = attrs.field(default=(), converter=_goal_tuple)

    _funnel_declared: bool = attrs.field(init=False, repr=False, eq=False, hash=False)
    _stage_map: Mapping[str, Stage] = attrs.field(init=False, repr=False, eq=False, hash=False)
    _table: Mapping[str, Mapping[str, tuple[Transition, ...]]] = attrs.field(
        init=False, repr=False, eq=False, hash=False
    )
    _triggers: tuple[str, ...] = attrs.field(init=False, repr=False, eq=False, hash=False)
    _initial: str = attrs.field(init=False, repr=False, eq=False, hash=False)

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        # the compiled tables are derived: a pickle holds the fields and is built again
        return (_rebuild, (self.name, self.stages, self.transitions, self._fields()))

    def __copy__(self) -> JourneyDefinition:
        return self  # immutable

    def __deepcopy__(self, memo: dict[int, Any]) -> JourneyDefinition:
        return self  # immutable (guards are host functions: shared, as with copy)

    def _fields(self) -> dict[str, Any]:
        return {
            "timeouts": self.timeouts,
            "version": self.version,
            "description": self.description,
            "policy": self.policy,
            "metadata": self.metadata,
            "funnel": self.funnel if self._funnel_declared else (),
            "exits": self.exits,
            "entry": self.entry,
            "goals": self.goals,
        }

    def __attrs_post_init__(self) -> None:
        problems, stage_map, table, triggers = compile_and_validate(self)
        problems.extend(entry_problems(self.entry))
        if problems:
            name = self.name if isinstance(self.name, str) else None
            raise DefinitionError(problems, name=name)
        object.__setattr__(self, "_stage_map", stage_map)
        object.__setattr__(
            self,
            "_table",
            MappingProxyType({stage: MappingProxyType(row) for stage, row in table.items()}),
        )
        object.__setattr__(self, "_triggers", triggers)
        object.__setattr__(self, "_initial", next(s.name for s in self.stages if s.initial))
        # Not declared: every stage in declaration order (docs/analytics.md, "Funnel order").
        object.__setattr__(self, "_funnel_declared", bool(self.funnel))
        if not self.funnel:
            leaving = exit_stages(self.exits)  # exiting is not progress along the funnel
            object.__setattr__(self, "funnel", tuple(s for s in stage_map if s not in leaving))

    # -- reading the compiled table ------------------------------------------------
    @property
    def initial_stage(self) -> str:
        """The name of the one initial stage."""
        return self._initial

    @property
    def stage_names(self) -> tuple[str, ...]:
        """Stage names in declaration order."""
        return tuple(self._stage_map)

    @property
    def funnel_declared(self) -> bool:
        """Whether ``funnel`` was declared; if not, it is every stage in declaration order.

        >>> from journeyfsm import templates
        >>> d = templates.aida()
        >>> d.funnel, d.funnel_declared
        (('attention', 'interest', 'desire', 'action'), True)
        """
        return self._funnel_declared

    @property
    def final_stages(self) -> tuple[str, ...]:
        """Names of the final stages."""
        return tuple(s.name for s in self.stages if s.final)

    @property
    def triggers(self) -> tuple[str, ...]:
        """Every trigger the definition knows, in first-declared order."""
        return self._triggers

    @property
    def table(self) -> Mapping[str, Mapping[str, tuple[Transition, ...]]]:
        """The compiled table: ``table[stage][trigger]`` -> candidate transitions."""
        return self._table

    def stage(self, name: str) -> Stage:
        """The Stage called ``name``; KeyError with close matches otherwise."""
        try:
            return self._stage_map[name]
        except KeyError:
            raise KeyError(
                f"definition {self.name!r} has no stage {name!r}{did_you_mean(name, self._stage_map)}"
            ) from None

    def has_stage(self, name: str) -> bool:
        """Whether ``name`` is a stage of this definition."""
        return name in self._stage_map

    def candidates(self, stage: str, trigger: str) -> tuple[Transition, ...]:
        """Candidate transitions for (stage, trigger), in the order they are tried."""
        return self._table.get(stage, {}).get(trigger, ())

    def triggers_from(self, stage: str) -> tuple[str, ...]:
        """Triggers that have at least one transition from ``stage``."""
        return tuple(self._table.get(stage, {}))

    def edges(self) -> tuple[Edge, ...]:
        """Every compiled (source, trigger, dest) edge, in table order."""
        return tuple(
            Edge(stage, trigger, t.dest, t, i)
            for stage, row in self._table.items()
            for trigger, cands in row.items()
            for i, t in enumerate(cands)
        )

    def guards(self) -> dict[str, Predicate]:
        """Every named leaf guard used by the definition, by name."""
        out: dict[str, Predicate] = {}
        parts: list[Transition | Exit] = [*self.transitions, *self.exits]
        for t in parts:
            for g in t.guards:
                for leaf in g.leaves():
                    out.setdefault(leaf.name, leaf)
        return out

    # -- conversions ---------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict; ``from_dict(d.to_dict(), guards=...) == d``."""
        return definition_to_dict(self)

    @classmethod
    def from_dict(
        cls,
        data: Mapping[str, Any],
        *,
        guards: Mapping[str, Guard] | Iterable[Guard] | None = None,
    ) -> JourneyDefinition:
        """Build a definition from a dict; guards are referenced by registered name.

        ``guards`` maps names to guards (or is a list of named guards).  Every problem
        (unknown keys, unknown guard names, invalid rules) is reported at once.
        """
        return definition_from_dict(data, guards=guards, build=cls)

    def builder(self) -> JourneyBuilder:
        """A builder prefilled with this definition, to extend it without mutating it.

        >>> from journeyfsm import templates
        >>> base = templates.aida()
        >>> bigger = base.builder().stage("loyal", final=True).transition(
        ...     "join_club", "desire", "loyal").build(name="aida-plus")
        >>> "loyal" in bigger.stage_names, "loyal" in base.stage_names
        (True, False)
        """
        return JourneyBuilder.from_definition(self)


def _rebuild(
    name: str,
    stages: tuple[Stage, ...],
    transitions: tuple[Transition, ...],
    fields: dict[str, Any],
) -> JourneyDefinition:
    """Unpickle a :class:`JourneyDefinition` (validated and compiled again)."""
    return JourneyDefinition(name, stages, transitions, **fields)


# -- the builder ------------------------------------------------------------------------
# Here, with the definition it builds, because the two need each other: ``build()`` makes a
# JourneyDefinition and ``JourneyDefinition.builder()`` makes a JourneyBuilder.  Apart, one
# module would import the other back.


class JourneyBuilder:
    """Collects stages, transitions and timeouts; ``build()`` validates everything at once.

    >>> from journeyfsm import JourneyBuilder, guard
    >>> @guard
    ... def cart_not_empty(ctx):
    ...     "the cart holds at least one item"
    ...     return bool(ctx.journey.data.get("cart"))
    >>> checkout = (
    ...     JourneyBuilder("checkout", version=1)
    ...     .stage("browsing", initial=True)
    ...     .stage("cart")
    ...     .stage("paid", final=True)
    ...     .transition("add_to_cart", "browsing", "cart")
    ...     .transition("pay", "cart", "paid", guards=[cart_not_empty])
    ...     .build()
    ... )
    >>> checkout.stage_names
    ('browsing', 'cart', 'paid')
    """

    def __init__(
        self,
        name: str,
        *,
        version: int | str = 1,
        description: str = "",
        policy: Policy = "ignore",
        metadata: Mapping[str, Any] | None = None,
        entry: EntryRule = "once",
    ) -> None:
        self.name = name
        self.version = version
        self.description = description
        self.policy: Policy = policy
        self.metadata: Mapping[str, Any] = metadata or {}
        self._stages: list[Stage] = []
        self._transitions: list[Transition] = []
        self._timeouts: list[Timeout] = []
        self._funnel: tuple[str, ...] = ()
        self._exits: list[Exit] = []
        self._entry: EntryRule = entry
        self._goals: list[Goal] = []

    @classmethod
    def from_definition(cls, d: JourneyDefinition) -> JourneyBuilder:
        """A builder holding everything ``d`` holds."""
        if not isinstance(d, JourneyDefinition):
            raise TypeError(
                f"JourneyBuilder.from_definition() takes a JourneyDefinition (a template, "
                f"machine.definition), got {type(d).__name__}"
            )
        b = cls(
            d.name,
            version=d.version,
            description=d.description,
            policy=d.policy,
            metadata=d.metadata,
        )
        b._stages = list(d.stages)
        b._transitions = list(d.transitions)
        b._timeouts = list(d.timeouts)
        b._exits = list(d.exits)
        b._entry = d.entry
        b._goals = list(d.goals)
        # a default funnel is not copied: it follows the stages the builder ends up with
        b._funnel = d.funnel if d.funnel_declared else ()
        return b

    # -- stages --------------------------------------------------------------------
    def stage(
        self,
        name: str,
        *,
        initial: bool = False,
        final: bool = False,
        description: str = "",
        metadata: Mapping[str, Any] | None = None,
    ) -> JourneyBuilder:
        """Add a stage."""
        self._stages.append(Stage(name, initial, final, description, metadata or {}))
        return self

    def replace_stage(self, name: str, **changes: Any) -> JourneyBuilder:
        """Change fields of stage ``name`` (``initial``, ``final``, ``description``, ``metadata``)."""
        i = self._stage_index(name)
        unknown = sorted(set(changes) - _STAGE_CHANGES)
        if unknown:
            raise TypeError(
                f"replace_stage({name!r}) cannot change {', '.join(map(repr, unknown))}; it "
                f"changes {', '.join(sorted(_STAGE_CHANGES))} (to rename a stage, remove it "
                "and add a new one)"
            )
        self._stages[i] = attrs.evolve(self._stages[i], **changes)
        return self

    def remove_stage(self, name: str) -> JourneyBuilder:
        """Remove stage ``name``, the transitions into it, its timeouts, and it from
        sources and the funnel order."""
        self._stages.pop(self._stage_index(name))
        kept: list[Transition] = []
        for t in self._transitions:
            if t.dest == name:
                continue
            if isinstance(t.source, tuple) and name in t.source:
                rest = tuple(s for s in t.source if s != name)
                if not rest:
                    continue
                t = attrs.evolve(t, source=rest)
            elif t.source == name:
                continue
            kept.append(t)
        self._transitions = kept
        self._timeouts = [to for to in self._timeouts if to.stage != name]
        self._funnel = tuple(s for s in self._funnel if s != name)
        return self

    def _stage_index(self, name: str) -> int:
        for i, s in enumerate(self._stages):
            if s.name == name:
                return i
        known = ", ".join(s.name for s in self._stages)
        raise KeyError(f"builder {self.name!r} has no stage {name!r}; stages: {known}")

    # -- transitions ---------------------------------------------------------------
    def transition(
        self,
        trigger: str,
        source: str | Iterable[str],
        dest: str | None,
        *,
        guards: Guard | Iterable[Guard] | None = None,
        description: str = "",
        metadata: Mapping[str, Any] | None = None,
    ) -> JourneyBuilder:
        """Add a transition (``source`` may be a stage, a list of stages, or ``"*"``)."""
        self._transitions.append(
            Transition(trigger, source, dest, guards, description, metadata or {})
        )
        return self

    def _matches(self, t: Transition, trigger: str, source: str | None) -> bool:
        if t.trigger != trigger:
            return False
        if source is None:
            return True
        return t.source == source or (isinstance(t.source, tuple) and source in t.source)

    def _missing(self, trigger: str, source: str | None) -> KeyError:
        where = f" from {source!r}" if source else ""
        if any(e.trigger == trigger for e in self._exits):  # e.g. a template's unsubscribe
            return KeyError(
                f"builder {self.name!r} has no transition {trigger!r}{where}: {trigger!r} is "
                f"an exit criterion here; change it with remove_exit({trigger!r}) and exit(...)"
            )
        return KeyError(f"builder {self.name!r} has no transition {trigger!r}{where}")

    def remove_transitions(self, trigger: str, *, source: str | None = None) -> JourneyBuilder:
        """Remove the transitions of ``trigger`` (only from ``source`` if given: a
        transition with several sources keeps the others)."""
        kept: list[Transition] = []
        hit = False
        for t in self._transitions:
            if not self._matches(t, trigger, source):
                kept.append(t)
                continue
            hit = True
            if source is not None and isinstance(t.source, tuple) and len(t.source) > 1:
                kept.append(attrs.evolve(t, source=tuple(s for s in t.source if s != source)))
        if not hit:
            raise self._missing(trigger, source)
        self._transitions = kept
        return self

    def replace_guards(
        self, trigger: str, guards: Guard | Iterable[Guard] | None, *, source: str | None = None
    ) -> JourneyBuilder:
        """Give the transitions of ``trigger`` new guards (only from ``source`` if given:
        a transition with several sources is split, the others keep their guards)."""
        out: list[Transition] = []
        hit = False
        for t in self._transitions:
            if not self._matches(t, trigger, source):
                out.append(t)
                continue
            hit = True
            if source is not None and isinstance(t.source, tuple) and len(t.source) > 1:
                out.append(attrs.evolve(t, source=source, guards=guards))
                out.append(attrs.evolve(t, source=tuple(s for s in t.source if s != source)))
            else:
                out.append(attrs.evolve(t, guards=guards))
        if not hit:
            raise self._missing(trigger, source)
        self._transitions = out
        return self

    # -- timeouts ------------------------------------------------------------------
    def timeout(self, stage: str, after: timedelta | float, trigger: str) -> JourneyBuilder:
        """If a journey sits in ``stage`` longer than ``after``, fire ``trigger``."""
        self._timeouts.append(Timeout(stage, after, trigger))
        return self

    def remove_timeouts(
        self, *, stage: str | None = None, trigger: str | None = None
    ) -> JourneyBuilder:
        """Remove the timeouts of ``stage`` and/or ``trigger`` (both: those matching both).

        >>> from journeyfsm import templates
        >>> d = templates.eight_phases().builder().remove_timeouts(trigger="drop_out").build()
        >>> d.timeouts
        ()
        """
        if stage is None and trigger is None:
            raise ValueError("remove_timeouts() needs stage=... and/or trigger=...")
        kept = [
            to
            for to in self._timeouts
            if not (
                (stage is None or to.stage == stage) and (trigger is None or to.trigger == trigger)
            )
        ]
        if len(kept) == len(self._timeouts):
            what = " and ".join(
                f"{k} {v!r}" for k, v in (("stage", stage), ("trigger", trigger)) if v is not None
            )
            raise KeyError(f"builder {self.name!r} has no timeout with {what}")
        self._timeouts = kept
        return self

    # -- funnel order --------------------------------------------------------------
    def funnel(self, *stages: str) -> JourneyBuilder:
        """Declare the stages that form the funnel, in order (replacing any earlier one).

        The analytics count, per funnel stage, the journeys that reached it or a later
        one.  Stages left out (drop-out, churn) are still counted, outside the order.
        ``funnel()`` with no stages goes back to the default: every stage in
        declaration order.

        >>> from journeyfsm import templates
        >>> d = templates.aida().builder().funnel("attention", "desire", "action").build()
        >>> d.funnel
        ('attention', 'desire', 'action')
        """
        for i, stage in enumerate(stages):
            if not isinstance(stage, str):
                raise TypeError(
                    f"funnel() takes stage names as separate arguments, like "
                    f".funnel('awareness', 'purchase'); argument {i} is {stage!r}"
                )
        self._funnel = stages
        return self

    # -- rules ---------------------------------------------------------------------
    def exit(
        self,
        trigger: str,
        stage: str,
        *,
        guards: Guard | Iterable[Guard] | None = None,
        description: str = "",
    ) -> JourneyBuilder:
        """Declare an exit criterion: ``trigger`` ends the journey from every non-final
        stage, moving it to the final ``stage`` (see :class:`Exit`).

        >>> from journeyfsm import templates
        >>> d = (templates.aida().builder().stage("unsubscribed", final=True)
        ...      .exit("unsubscribe", "unsubscribed").build())
        >>> sorted({e.source for e in d.edges() if e.trigger == "unsubscribe"})
        ['attention', 'desire', 'interest', 'lost']
        """
        self._exits.append(Exit(trigger, stage, guards, description))
        return self

    def entry(self, rule: EntryRule) -> JourneyBuilder:
        """Set the entry rule: ``"once"`` (the default), ``"once_at_a_time"`` (a finished
        journey starts again on an event of its initial stage) or a ``timedelta`` cooldown
        counted from when it finished (see docs/rules.md, "Entry and re-entry").

        >>> from datetime import timedelta
        >>> from journeyfsm import templates
        >>> templates.aida().builder().entry(timedelta(days=30)).build().entry
        datetime.timedelta(days=30)
        """
        self._entry = rule
        return self

    def goal(
        self,
        goal: Goal | str,
        *,
        stage: str | None = None,
        trigger: str | None = None,
        within: timedelta | None = None,
        since: str | None = None,
        exit: str | None = None,
        description: str = "",
    ) -> JourneyBuilder:
        """Declare a conversion goal: a :class:`Goal`, or its name and fields (see
        docs/rules.md, "Goals").

        >>> from datetime import timedelta
        >>> from journeyfsm import templates
        >>> d = templates.aida().builder().goal(
        ...     "acted", stage="action", within=timedelta(days=7), since="interest").build()
        >>> d.goals[0].within
        datetime.timedelta(days=7)
        """
        if isinstance(goal, Goal):
            given = {
                k: v
                for k, v in (
                    ("stage", stage),
                    ("trigger", trigger),
                    ("within", within),
                    ("since", since),
                    ("exit", exit),
                    ("description", description or None),
                )
                if v is not None
            }
            if given:
                raise TypeError(
                    f"goal() takes a Goal, or a name and its fields, not both: the Goal "
                    f"{goal.name!r} was given with {', '.join(given)}=...; set them on the Goal"
                )
            self._goals.append(goal)
            return self
        self._goals.append(
            Goal(
                goal,
                stage=stage,
                trigger=trigger,
                within=within if within is not None else timedelta(0),
                since=since,
                exit=exit,
                description=description,
            )
        )
        return self

    def remove_exit(self, trigger: str) -> JourneyBuilder:
        """Remove the exit criterion of ``trigger``; KeyError if there is none."""
        kept = [e for e in self._exits if e.trigger != trigger]
        if len(kept) == len(self._exits):
            known = [e.trigger for e in self._exits]
            raise KeyError(
                f"no exit criterion for trigger {trigger!r}{did_you_mean(trigger, known)}; "
                f"exits: {', '.join(known) or 'none'}"
            )
        self._exits = kept
        return self

    def build(
        self, *, name: str | None = None, version: int | str | None = None
    ) -> JourneyDefinition:
        """Validate and return the definition (``DefinitionError`` lists every problem)."""
        return JourneyDefinition(
            name=name if name is not None else self.name,
            stages=self._stages,
            transitions=self._transitions,
            timeouts=self._timeouts,
            version=version if version is not None else self.version,
            description=self.description,
            policy=self.policy,
            metadata=self.metadata,
            funnel=self._funnel,
            exits=self._exits,
            entry=self._entry,
            goals=self._goals,
        )
