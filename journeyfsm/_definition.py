"""Journey definitions: Stage, Transition, Timeout and the validated JourneyDefinition.

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

import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import timedelta
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal

import attrs

from ._errors import DefinitionError, did_you_mean
from ._guards import Guard, Predicate
from ._json import freeze_mapping

if TYPE_CHECKING:
    from ._builder import JourneyBuilder

__all__ = ["Edge", "JourneyDefinition", "Policy", "Stage", "Timeout", "Transition"]

Policy = Literal["ignore", "strict"]
WILDCARD = "*"
# the whole seconds timedelta can hold, either way (its range is not symmetric)
_MAX_SECONDS = timedelta.max // timedelta(seconds=1)
_MIN_SECONDS = -(-timedelta.min // timedelta(seconds=1))


@attrs.frozen
class Stage:
    """A named step of a journey.

    >>> Stage("purchase", description="order paid", metadata={"kpi": "conversion rate"})
    Stage(name='purchase', initial=False, final=False, description='order paid', metadata={'kpi': 'conversion rate'})
    """

    name: str = attrs.field(validator=attrs.validators.instance_of(str))
    initial: bool = attrs.field(default=False, validator=attrs.validators.instance_of(bool))
    final: bool = attrs.field(default=False, validator=attrs.validators.instance_of(bool))
    description: str = attrs.field(default="", validator=attrs.validators.instance_of(str))
    metadata: Mapping[str, Any] = attrs.field(factory=dict, converter=freeze_mapping, hash=False)


def _to_source(value: str | Iterable[str]) -> str | tuple[str, ...]:
    if isinstance(value, str):
        return value
    out = tuple(value)
    for item in out:
        if not isinstance(item, str):
            raise TypeError(f"transition source must be stage names (str), got {item!r}")
    return out


def _to_guards(value: Guard | Iterable[Guard] | None) -> tuple[Guard, ...]:
    if value is None:
        return ()
    items = (value,) if isinstance(value, Guard) else tuple(value)
    for item in items:
        if not isinstance(item, Guard):
            raise TypeError(
                f"guards must be Guard objects made with journeyfsm.guard(...), got {item!r}"
            )
    return items


@attrs.frozen
class Transition:
    """``trigger`` moves a journey from ``source`` (a stage, a list, or ``"*"``) to ``dest``.

    ``dest=None`` makes an internal transition; ``guards`` must all pass.

    >>> Transition("checkout", "consideration", "purchase").sources(["consideration"])
    ('consideration',)
    """

    trigger: str = attrs.field(validator=attrs.validators.instance_of(str))
    source: str | tuple[str, ...] = attrs.field(converter=_to_source)
    dest: str | None = attrs.field(
        validator=attrs.validators.optional(attrs.validators.instance_of(str))
    )
    guards: tuple[Guard, ...] = attrs.field(default=(), converter=_to_guards)
    description: str = attrs.field(default="", validator=attrs.validators.instance_of(str))
    metadata: Mapping[str, Any] = attrs.field(factory=dict, converter=freeze_mapping, hash=False)

    def sources(self, non_final_stages: Sequence[str]) -> tuple[str, ...]:
        """The source stages, with ``"*"`` expanded to ``non_final_stages``."""
        if self.source == WILDCARD:
            return tuple(non_final_stages)
        if isinstance(self.source, str):
            return (self.source,)
        return self.source


def _show_seconds(value: float) -> str:
    # repr() of a huge int is long, and raises ValueError past 4300 digits (Python 3.11+)
    if isinstance(value, int) and abs(value) > 10**30:
        return "more than 10**30" if value > 0 else "less than -10**30"
    return repr(value)


def _to_timedelta(value: timedelta | float) -> timedelta:
    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"Timeout.after takes a timedelta or seconds, got {value!r}")
    # timedelta() raises OverflowError for huge or infinite seconds and a bare ValueError
    # for NaN; both are a bad value here, said in one message
    finite = isinstance(value, int) or math.isfinite(value)  # isfinite(10**400) overflows
    out_of_range = ValueError(
        f"Timeout.after of {_show_seconds(value)} seconds is out of range; give a finite "
        f"number of seconds up to {_MAX_SECONDS} (timedelta.max)"
    )
    if not finite or not _MIN_SECONDS <= value <= _MAX_SECONDS:
        raise out_of_range
    try:
        return timedelta(seconds=value)
    except OverflowError:  # a float that rounds past the edge
        raise out_of_range from None


@attrs.frozen
class Timeout:
    """If a journey sits in ``stage`` longer than ``after``, fire ``trigger``.

    Declared and validated with the definition (the stage must exist and ``trigger`` must
    have a transition from it).  Due at the time the journey entered ``stage`` plus
    ``after``; ``JourneyMachine.tick(journey, now)`` fires what is due (see
    ``journeyfsm/_timeouts.py`` and docs/semantics.md, "Timeouts").

    >>> from datetime import timedelta
    >>> Timeout("cart", timedelta(hours=1), "abandon_cart").after.total_seconds()
    3600.0
    """

    stage: str = attrs.field(validator=attrs.validators.instance_of(str))
    after: timedelta = attrs.field(converter=_to_timedelta)
    trigger: str = attrs.field(validator=attrs.validators.instance_of(str))


@attrs.frozen
class Edge:
    """One compiled (source, trigger) -> dest edge; ``dest`` is None for internal ones."""

    source: str
    trigger: str
    dest: str | None
    transition: Transition
    index: int  # position among the candidates for (source, trigger)


# One converter per field type: the attrs mypy plugin does not solve a generic converter.
def _stage_tuple(items: Iterable[Stage]) -> tuple[Stage, ...]:
    return tuple(items)


def _transition_tuple(items: Iterable[Transition]) -> tuple[Transition, ...]:
    return tuple(items)


def _timeout_tuple(items: Iterable[Timeout]) -> tuple[Timeout, ...]:
    return tuple(items)


def _funnel_tuple(items: Iterable[str]) -> tuple[str, ...]:
    if isinstance(items, str):  # tuple("awareness") would be one stage per letter
        raise TypeError(
            f"funnel takes a list of stage names, got the str {items!r}; "
            f"write funnel=[{items!r}, ...]"
        )
    return tuple(items)


@attrs.frozen
class JourneyDefinition:
    """The immutable, validated set of stages, transitions and timeouts of a journey.

    ``funnel`` names the stages that form the funnel, in order (the analytics count
    "reached this stage or a later one" along it); left out, it is every stage in
    declaration order, and ``funnel_declared`` is ``False``.

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

    name: str = attrs.field(validator=attrs.validators.instance_of(str))
    stages: tuple[Stage, ...] = attrs.field(converter=_stage_tuple)
    transitions: tuple[Transition, ...] = attrs.field(converter=_transition_tuple)
    timeouts: tuple[Timeout, ...] = attrs.field(default=(), converter=_timeout_tuple)
    version: int | str = 1
    description: str = ""
    policy: Policy = "ignore"
    metadata: Mapping[str, Any] = attrs.field(factory=dict, converter=freeze_mapping, hash=False)
    #: the stages that form the funnel, in order (``()``: not declared, see ``funnel_declared``)
    funnel: tuple[str, ...] = attrs.field(default=(), converter=_funnel_tuple)

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
        }

    def __attrs_post_init__(self) -> None:
        from ._validation import compile_and_validate

        problems, stage_map, table, triggers = compile_and_validate(self)
        if problems:
            raise DefinitionError(problems, name=self.name)
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
            object.__setattr__(self, "funnel", tuple(stage_map))

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
        for t in self.transitions:
            for g in t.guards:
                for leaf in g.leaves():
                    out.setdefault(leaf.name, leaf)
        return out

    # -- conversions ---------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict; ``from_dict(d.to_dict(), guards=...) == d``."""
        from ._dictform import definition_to_dict

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
        from ._dictform import definition_from_dict

        return definition_from_dict(data, guards=guards)

    def builder(self) -> JourneyBuilder:
        """A builder prefilled with this definition, to extend it without mutating it.

        >>> from journeyfsm import templates
        >>> base = templates.aida()
        >>> bigger = base.builder().stage("loyal", final=True).transition(
        ...     "join_club", "desire", "loyal").build(name="aida-plus")
        >>> "loyal" in bigger.stage_names, "loyal" in base.stage_names
        (True, False)
        """
        from ._builder import JourneyBuilder

        return JourneyBuilder.from_definition(self)


def _rebuild(
    name: str,
    stages: tuple[Stage, ...],
    transitions: tuple[Transition, ...],
    fields: dict[str, Any],
) -> JourneyDefinition:
    """Unpickle a :class:`JourneyDefinition` (validated and compiled again)."""
    return JourneyDefinition(name, stages, transitions, **fields)
