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
from datetime import datetime, timedelta, timezone
from typing import Any, Literal

import attrs

from ._clock import seconds_span, span_seconds
from ._errors import Problem, did_you_mean
from ._guards import Guard, Predicate
from ._parts import ALL_READ, Stage, Transition, Unread, _to_guards, named, typed

__all__ = [
    "EXIT_MARK",
    "REENTER",
    "EntryRule",
    "Exit",
    "check_funnel_exits",
    "compile_exits",
    "entry_from_json",
    "entry_problems",
    "entry_refusal",
    "entry_to_json",
    "exit_stages",
]

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

    trigger: str = attrs.field(
        validator=named("a str (a trigger name, e.g. 'unsubscribe')", "'unsubscribe'")
    )
    stage: str = attrs.field(
        validator=named("a str (the name of a final stage)", "Exit('unsubscribe', 'gone')")
    )
    guards: tuple[Guard, ...] = attrs.field(default=(), converter=_to_guards)
    description: str = attrs.field(default="", validator=typed(str, "a str"))

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
    unread: Unread = ALL_READ,
) -> None:
    """Check ``exits`` (see the module doc) and add their candidates to ``table``.

    Against what the dict form could not read (``unread``): an exit to a stage that may
    be the one whose name was not read, or to a stage whose ``final`` flag was not read,
    is compiled without a problem (its own checks are still made)."""
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
                    f"trigger: rename one of them, or drop the exit (builder.remove_exit({trig!r}))",
                    trigger=trig,
                )
            )
            ok = False
        if trig in seen:
            add(Problem(f"two exits use the trigger {trig!r}; declare it once", trigger=trig))
            ok = False
        seen.add(trig)
        target = stage_map.get(e.stage)
        if target is None and unread.stages:
            pass  # it may go to the stage whose name could not be read
        elif target is None:
            add(
                Problem(
                    f"exit {trig!r} goes to unknown stage {e.stage!r}"
                    f"{did_you_mean(e.stage, names)}",
                    stage=e.stage,
                    trigger=trig,
                )
            )
            ok = False
        elif not target.final and e.stage not in unread.final:
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


# -- entry and re-entry ------------------------------------------------------------------
#: The trigger of the history entry a re-entry writes (final stage -> initial stage).
REENTER = "journeyfsm.reenter"

#: The type of ``JourneyDefinition.entry``: ``"once"`` (the default: a journey runs once
#: per key), ``"once_at_a_time"`` (a finished journey may start again) or a ``timedelta``
#: (it may start again once that long has passed since it finished).
EntryRule = Literal["once", "once_at_a_time"] | timedelta


def entry_problems(entry: Any) -> list[Problem]:
    """The ``DefinitionError`` problems of an ``entry`` rule (none when it is valid)."""
    if isinstance(entry, timedelta):
        if entry <= timedelta(0):
            return [
                Problem(
                    f"entry cooldown must be positive, got {entry!r}; give a timedelta "
                    "greater than zero, or entry='once_at_a_time' for no cooldown"
                )
            ]
        return []
    if isinstance(entry, str) and entry in ("once", "once_at_a_time"):
        return []
    hint = ""
    if entry == "anytime":
        hint = (
            " ('anytime' is left out on purpose: one journey per key, so a re-entry while "
            "in flight would reset it; key each run, e.g. f'{customer}:{n}', for parallel runs)"
        )
    return [
        Problem(
            f"entry must be 'once', 'once_at_a_time' or a positive timedelta (a cooldown), "
            f"got {entry!r}{hint}"
        )
    ]


def entry_refusal(entry: EntryRule, journey: Any, now: datetime) -> str | None:
    """Why the finished ``journey`` may not start again now (``None``: it may).

    A cooldown counts from when it finished: ``entered_at`` (the final stage's entry),
    else the time of its last history entry; a journey with neither (built by hand
    without times) is refused, with a reason that names the fix, rather than let a
    cooldown pass unchecked (docs/rules.md)."""
    if entry == "once_at_a_time":
        return None
    if isinstance(entry, timedelta):
        finished_at = journey.entered_at
        if finished_at is None and journey._history:
            finished_at = journey._history[-1].at
        if finished_at is None:
            return (
                "re-entry refused: cooldown, and when the journey finished is unknown "
                "(entered_at is None and it has no history): give it entered_at"
            )
        try:
            until = finished_at + entry
        except OverflowError:  # a cooldown past the last datetime there is: never over
            until = datetime.max.replace(tzinfo=timezone.utc)
        if now < until:
            stamp = until.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")
            return f"re-entry refused: cooldown until {stamp}"
        return None
    return "re-entry refused: entry='once'"


def entry_to_json(entry: EntryRule) -> str | int | float:
    """The dict form of an entry rule: the word, or a cooldown in seconds."""
    if isinstance(entry, timedelta):
        return span_seconds(entry)
    return entry


def entry_from_json(value: Any) -> Any:
    """The entry rule the dict form's ``"entry"`` holds (checked by the definition)."""
    if isinstance(value, bool):
        return value  # refused by entry_problems, named as given
    if isinstance(value, (int, float)):
        if value != value or value in (float("inf"), float("-inf")):
            return value
        try:
            return seconds_span(value)
        except OverflowError:
            return value
    return value
