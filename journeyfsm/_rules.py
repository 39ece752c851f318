"""Journey rules declared on a definition: exit criteria.

Theory of operation
-------------------
An exit criterion says "this event ends the journey, wherever it is": ``unsubscribe``,
``account_deleted``, ``order_refunded``.  ``Exit(trigger, stage)`` is compiled, at
validation, into one candidate per non-final stage of the table::

    table[s][trigger] = (Transition(trigger, s, stage, guards),)   # for every non-final s

so the runtime, ``explain``, the path explorer, the diagrams, coverage and the analytics
see an exit as the move it is, and nothing on the hot path changes: an exit is recorded
in the history like any move (``source`` the stage it left, ``dest`` the exit stage),
and funnels count it (the exit stage's ``entered``, the trigger's ``trigger_moves``).

The rules that make "from any stage" mean what it says (each a ``DefinitionError``
problem): the exit stage exists and is final (the journey ends there); the trigger is an
identifier no ordinary transition uses (else the exit would compete with a move of the
same name in some stage) and no other exit uses; the exit stage is not part of a declared
funnel (leaving is not progress), and a default funnel leaves exit stages out.  In a
final stage the journey has already ended: an exit trigger there is not valid (ignored,
or ``InvalidTransition`` under the strict policy), as for any trigger without a
transition.  Guards on an exit work as on any transition ("only when the account is
really deleted").
"""

from __future__ import annotations

import keyword
from collections.abc import Callable, Iterable, Mapping, Sequence

import attrs

from ._errors import Problem, did_you_mean
from ._guards import Guard, Predicate
from ._parts import Stage, Transition, _to_guards

__all__ = ["EXIT_MARK", "Exit", "check_funnel_exits", "compile_exits", "exit_stages"]

#: The metadata key that marks a compiled exit candidate (its value: the exit's trigger);
#: explanations read it to name the rule.
EXIT_MARK = "journeyfsm.exit"


@attrs.frozen
class Exit:
    """An exit criterion: ``trigger`` ends the journey from every non-final stage, moving
    it to the final ``stage`` (optionally only when ``guards`` pass).

    >>> from journeyfsm import Exit, templates
    >>> shop = (templates.aida().builder().stage("unsubscribed", final=True)
    ...         .exit("unsubscribe", "unsubscribed").build())
    >>> [t.source for t in shop.transitions if t.trigger == "unsubscribe"]
    []
    >>> shop.candidates("desire", "unsubscribe")[0].dest
    'unsubscribed'
    >>> shop.exits == (Exit("unsubscribe", "unsubscribed"),)
    True
    """

    trigger: str = attrs.field(validator=attrs.validators.instance_of(str))
    stage: str = attrs.field(validator=attrs.validators.instance_of(str))
    guards: tuple[Guard, ...] = attrs.field(default=(), converter=_to_guards)
    description: str = attrs.field(default="", validator=attrs.validators.instance_of(str))

    def transition(self, source: str) -> Transition:
        """The candidate this exit compiles to in stage ``source``."""
        return Transition(
            self.trigger,
            source,
            self.stage,
            self.guards,
            description=self.description or f"exit criterion {self.trigger!r}",
            metadata={EXIT_MARK: self.trigger},
        )


def exit_stages(exits: Iterable[Exit]) -> set[str]:
    """The stages exits lead to."""
    return {e.stage for e in exits if isinstance(e, Exit)}


def compile_exits(
    exits: Sequence[Exit],
    stage_map: Mapping[str, Stage],
    table: dict[str, dict[str, list[Transition]]],
    triggers: dict[str, None],
    guard_names: dict[str, Predicate],
    add: Callable[[Problem], None],
) -> None:
    """Check ``exits`` (see the module doc) and add their candidates to ``table``."""
    ordinary = set(triggers)
    seen: set[str] = set()
    names = list(stage_map)
    non_final = [n for n, s in stage_map.items() if not s.final]
    for e in exits:
        if not isinstance(e, Exit):
            add(Problem(f"exits must be Exit objects, got {e!r}"))
            continue
        trig = e.trigger
        ok = True
        if not trig.isidentifier() or keyword.iskeyword(trig):
            add(
                Problem(
                    f"exit trigger {trig!r} is not a valid identifier; use names like "
                    "'unsubscribe'",
                    trigger=trig,
                )
            )
            ok = False
        if trig in ordinary:
            add(
                Problem(
                    f"exit trigger {trig!r} is also the trigger of a transition; an exit ends "
                    "the journey from every stage, so it must be the only rule for its "
                    "trigger: rename one of them",
                    trigger=trig,
                )
            )
            ok = False
        if trig in seen:
            add(Problem(f"two exits use the trigger {trig!r}; declare it once", trigger=trig))
            ok = False
        seen.add(trig)
        target = stage_map.get(e.stage)
        if target is None:
            add(
                Problem(
                    f"exit {trig!r} goes to unknown stage {e.stage!r}"
                    f"{did_you_mean(e.stage, names)}",
                    stage=e.stage,
                    trigger=trig,
                )
            )
            ok = False
        elif not target.final:
            add(
                Problem(
                    f"exit {trig!r} goes to stage {e.stage!r}, which is not final; an exit "
                    "ends the journey: mark the stage final=True",
                    stage=e.stage,
                    trigger=trig,
                )
            )
            ok = False
        for g in e.guards:
            for leaf in g.leaves():
                other = guard_names.setdefault(leaf.name, leaf)
                if other is not leaf and other != leaf:
                    add(
                        Problem(
                            f"two different guards are named {leaf.name!r} (exit {trig!r}); "
                            "give each guard a unique name",
                            trigger=trig,
                        )
                    )
        if not ok:
            continue
        triggers.setdefault(trig, None)
        for source in non_final:
            table[source][trig] = [e.transition(source)]


def check_funnel_exits(
    funnel: Sequence[str], exits: Sequence[Exit], add: Callable[[Problem], None]
) -> None:
    """A declared funnel names no exit stage: leaving is not progress along it."""
    leaving = exit_stages(exits)
    for i, name in enumerate(funnel):
        if isinstance(name, str) and name in leaving:
            add(
                Problem(
                    f"funnel[{i}] names {name!r}, the stage of an exit; exiting is not "
                    "progress along the funnel: leave it out (funnels still count it)",
                    stage=name,
                )
            )
