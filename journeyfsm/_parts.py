"""The parts a journey definition is made of: Stage, Transition, Timeout (and the
policy names), and ``DefinitionFields``, what a definition's readers need of it.

Below validation and the dict form, which check and build these parts, and below
``JourneyDefinition`` (_definition.py), which is validated and compiled from them: so
neither validation nor the dict form imports the definition (DESIGN: imports run
downward only).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import timedelta
from typing import Any, Literal, Protocol

import attrs

from ._guards import Guard
from ._json import freeze_mapping

__all__ = [
    "ALL_READ",
    "WILDCARD",
    "DefinitionFields",
    "Move",
    "Policy",
    "Stage",
    "Timeout",
    "Transition",
    "Unread",
]

#: What to do with a known trigger that is not valid from the journey's stage: ``"ignore"``
#: (the outcome is ``ignored``) or ``"strict"`` (raise :class:`InvalidTransition`); set per
#: definition, overridden per call (``fire(..., policy="strict")``).
Policy = Literal["ignore", "strict"]
WILDCARD = "*"
# the whole seconds timedelta can hold, either way (its range is not symmetric)
_MAX_SECONDS = timedelta.max // timedelta(seconds=1)
_MIN_SECONDS = -(-timedelta.min // timedelta(seconds=1))
_MAX_FLOAT_SECONDS = timedelta.max.total_seconds()


def typed(kind: type, what: str) -> Callable[[Any, Any, Any], None]:
    """An attrs validator: ``value`` is a ``kind`` (``what`` says so to a person), else a
    TypeError naming the class, the field and the value (attrs' own message names
    ``<class 'str'>`` and dumps the Attribute)."""

    def check(instance: Any, attribute: Any, value: Any) -> None:
        if not isinstance(value, kind):
            raise TypeError(
                f"{type(instance).__name__}: {attribute.name} must be {what}, got {value!r} "
                f"({type(value).__name__})"
            )

    return check


def named(what: str, example: str) -> Callable[[Any, Any, Any], None]:
    """An attrs validator: a str (:func:`typed`) that is not empty nor only whitespace,
    refused at construction (a ValueError naming the class and the field) so a nameless
    part never travels to the definition."""
    inner = typed(str, what)

    def check(instance: Any, attribute: Any, value: Any) -> None:
        inner(instance, attribute, value)
        if not value.strip():
            raise ValueError(
                f"{type(instance).__name__}: {attribute.name} must be a non-empty name, got "
                f"{value!r}; e.g. {example}"
            )

    return check


def typed_or_none(kind: type, what: str) -> Callable[[Any, Any, Any], None]:
    """:func:`typed`, with ``None`` allowed."""
    inner = typed(kind, what)

    def check(instance: Any, attribute: Any, value: Any) -> None:
        if value is not None:
            inner(instance, attribute, value)

    return check


_NAME = "a str (a stage name)"
_TRIGGER = "a str (a trigger name, e.g. 'add_to_cart')"
_TEXT = "a str"
_FLAG = "True or False"


@attrs.frozen
class Stage:
    """A named step of a journey.

    >>> Stage("purchase", description="order paid", metadata={"kpi": "conversion rate"})
    Stage(name='purchase', initial=False, final=False, description='order paid', metadata={'kpi': 'conversion rate'})
    """

    # an empty name is a Problem of the definition, reported with the others (_validation.py)
    name: str = attrs.field(validator=typed(str, _NAME))
    initial: bool = attrs.field(default=False, validator=typed(bool, _FLAG))
    final: bool = attrs.field(default=False, validator=typed(bool, _FLAG))
    description: str = attrs.field(default="", validator=typed(str, _TEXT))
    metadata: Mapping[str, Any] = attrs.field(factory=dict, converter=freeze_mapping, hash=False)


def _to_source(value: str | Iterable[str]) -> str | tuple[str, ...]:
    if isinstance(value, str):
        return value
    try:
        out = tuple(value)
    except TypeError:
        raise TypeError(
            f"Transition: source must be a stage name, a list of stage names or '*', got "
            f"{value!r} ({type(value).__name__})"
        ) from None
    for item in out:
        if not isinstance(item, str):
            raise TypeError(f"transition source must be stage names (str), got {item!r}")
    return out


def _to_guards(value: Guard | Iterable[Guard] | None) -> tuple[Guard, ...]:
    if value is None:
        return ()
    if isinstance(value, Guard):
        items: tuple[Any, ...] = (value,)
    else:
        try:
            items = tuple(value)
        except TypeError:
            raise TypeError(
                f"guards must be a Guard or a list of Guards made with journeyfsm.guard(...), "
                f"got {value!r} ({type(value).__name__})"
            ) from None
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

    trigger: str = attrs.field(validator=typed(str, _TRIGGER))
    source: str | tuple[str, ...] = attrs.field(converter=_to_source)
    dest: str | None = attrs.field(
        validator=typed_or_none(str, "a str (a stage name) or None (an internal transition)")
    )
    guards: tuple[Guard, ...] = attrs.field(default=(), converter=_to_guards)
    description: str = attrs.field(default="", validator=typed(str, _TEXT))
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
    if value == _MAX_FLOAT_SECONDS:  # what the dict form writes for timedelta.max
        return timedelta.max
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

    stage: str = attrs.field(validator=named(_NAME, "Timeout('cart', 3600, 'abandon')"))
    after: timedelta = attrs.field(converter=_to_timedelta)
    trigger: str = attrs.field(validator=named(_TRIGGER, "'abandon_cart'"))


class DefinitionFields(Protocol):
    """The fields of a ``JourneyDefinition`` that validation and the dict form read.

    Typed structurally so that those modules sit below the definition: they are handed
    one and never import its class.
    """

    @property
    def name(self) -> str: ...
    @property
    def version(self) -> int | str: ...
    @property
    def description(self) -> str: ...
    @property
    def policy(self) -> Policy: ...
    @property
    def metadata(self) -> Mapping[str, Any]: ...
    @property
    def stages(self) -> tuple[Stage, ...]: ...
    @property
    def transitions(self) -> tuple[Transition, ...]: ...
    @property
    def timeouts(self) -> tuple[Timeout, ...]: ...
    @property
    def funnel(self) -> tuple[str, ...]: ...
    @property
    def exits(self) -> tuple[Any, ...]: ...  # Exit (_rules.py, above this module)
    @property
    def goals(self) -> tuple[Any, ...]: ...  # Goal (_goals.py, above this module)
    @property
    def funnel_declared(self) -> bool: ...


@attrs.frozen
class Move:
    """What is known of a transition or exit whose dict form could not be read: its
    trigger, its source stages and its destination, each ``None`` when unknown
    (``sources=None``: it may start from any stage; ``dest_known`` tells an unknown
    destination from an internal transition's ``None``)."""

    trigger: str | None = None
    sources: tuple[str, ...] | None = None
    dest: str | None = None
    dest_known: bool = False

    def covers(self, stage: str) -> bool:
        """Whether it may start from ``stage``."""
        return self.sources is None or stage in self.sources

    def may_leave(self, stage: str) -> bool:
        """Whether it may take a journey out of ``stage``."""
        if not self.covers(stage):
            return False
        return not self.dest_known or (self.dest is not None and self.dest != stage)

    def may_fire(self, trigger: str) -> bool:
        """Whether its trigger may be ``trigger``."""
        return self.trigger is None or self.trigger == trigger


@attrs.frozen
class Unread:
    """What a reading of a definition's dict form could not make out (_dictform.py).

    Validation is handed it with the parts that were read, and skips only the rules
    whose answer would echo a missing part (a transition into a stage whose name could
    not be read is not "to an unknown stage"); the problems of every part that was read
    are reported with the dict's own (DESIGN Semantics 9)."""

    #: a stage whose name could not be read, or no list of stages
    stages: bool = False
    #: stages whose ``initial`` flag could not be read
    initial: frozenset[str] = frozenset()
    #: stages whose ``final`` flag could not be read
    final: frozenset[str] = frozenset()
    #: transitions and exits that could not be read
    moves: tuple[Move, ...] = ()

    def may_leave(self, stage: str) -> bool:
        """Whether an unread move may take a journey out of ``stage``."""
        return any(m.may_leave(stage) for m in self.moves)

    def may_fire(self, trigger: str, stage: str | None = None) -> bool:
        """Whether an unread move may be for ``trigger`` (from ``stage``, when given)."""
        return any(m.may_fire(trigger) and (stage is None or m.covers(stage)) for m in self.moves)


#: Everything was read (a definition built from objects, or a well-formed dict).
ALL_READ = Unread()
