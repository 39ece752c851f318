"""JourneyBuilder: the pleasant way to write a definition in code, and to extend one
(templates included) without mutating it."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import timedelta
from typing import Any

import attrs

from ._definition import JourneyDefinition, Policy, Stage, Timeout, Transition
from ._guards import Guard

__all__ = ["JourneyBuilder"]


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

    @classmethod
    def from_definition(cls, d: JourneyDefinition) -> JourneyBuilder:
        """A builder holding everything ``d`` holds."""
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
        )
