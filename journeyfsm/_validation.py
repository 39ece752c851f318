"""Build-time validation and compilation of a JourneyDefinition (DESIGN "Semantics" 9).

Every problem is collected; none stops the search for the others.  The definition hands
itself in (as ``DefinitionFields``): this module is below it and never imports it.  The
dict form (_dictform.py) also hands in what it could not read (``Unread``): the rules
then run on the parts that were read, and only a rule whose answer would echo a missing
part is skipped (an unknown stage when a stage's name could not be read, a dead end when
an unread transition may leave it, ...)."""

from __future__ import annotations

import keyword
from collections import Counter, deque
from collections.abc import Callable

from ._errors import Problem, did_you_mean
from ._goals import check_goals
from ._guards import Predicate
from ._parts import ALL_READ, WILDCARD, DefinitionFields, Stage, Timeout, Transition, Unread
from ._rules import check_funnel_exits, compile_exits


def compile_and_validate(
    d: DefinitionFields, unread: Unread = ALL_READ
) -> tuple[
    list[Problem],
    dict[str, Stage],
    dict[str, dict[str, tuple[Transition, ...]]],
    tuple[str, ...],
]:
    """Return (problems, stage map, table, triggers) for definition ``d``; ``unread`` is
    what its dict form could not make out (nothing, for a definition built in code)."""
    problems: list[Problem] = []
    add = problems.append

    if not isinstance(d.name, str):
        add(Problem(f"name must be a str, got {d.name!r} ({type(d.name).__name__})"))
    elif not d.name:
        add(Problem("the definition needs a non-empty name"))
    elif _unstorable_text(d.name):
        add(Problem(f"name {d.name!r} holds {_unstorable_text(d.name)}, which no store can hold"))
    if d.policy not in ("ignore", "strict"):
        add(Problem(f"policy must be 'ignore' or 'strict', got {d.policy!r}"))
    if isinstance(d.version, bool) or not isinstance(d.version, (int, str)):
        add(Problem(f"version must be an int or a str, got {d.version!r}"))
    elif isinstance(d.version, str) and _unstorable_text(d.version):
        add(
            Problem(
                f"version {d.version!r} holds {_unstorable_text(d.version)}, which no store "
                "can hold"
            )
        )
    if not isinstance(d.description, str):
        add(Problem(f"description must be a str, got {type(d.description).__name__}"))

    stage_map: dict[str, Stage] = {}
    unnamed_initial = False  # an initial stage with an empty name: not "no initial stage"
    for s in d.stages:
        if not isinstance(s, Stage):
            add(Problem(f"stages must be Stage objects, got {s!r}"))
            continue
        if not s.name:
            add(Problem("a stage has an empty name; give every stage a name"))
            unnamed_initial = unnamed_initial or s.initial
            continue
        problem = _stage_name_problem(s.name)
        if problem:
            add(Problem(problem, stage=s.name))
        stage_map.setdefault(s.name, s)
    counts = Counter(s.name for s in d.stages if isinstance(s, Stage))
    for name, count in counts.items():
        if count > 1:
            add(
                Problem(
                    f"duplicate stage {name!r} (defined {count} times); stage names must be unique",
                    stage=name,
                )
            )
    names = list(stage_map)
    initials = [s.name for s in stage_map.values() if s.initial]
    if not initials and not unnamed_initial and not unread.stages and not unread.initial:
        add(Problem("no initial stage; mark exactly one stage with Stage(..., initial=True)"))
    elif len(initials) > 1:
        add(Problem(f"several initial stages ({', '.join(initials)}); mark exactly one as initial"))
    for s in stage_map.values():
        if s.initial and s.final:
            add(
                Problem(
                    f"stage {s.name!r} is both initial and final; a journey would start finished",
                    stage=s.name,
                )
            )
    finals = {s.name for s in stage_map.values() if s.final}
    non_final = [n for n in names if n not in finals]

    table: dict[str, dict[str, list[Transition]]] = {n: {} for n in names}
    triggers: dict[str, None] = {}
    guard_names: dict[str, Predicate] = {}
    for t in d.transitions:
        if not isinstance(t, Transition):
            add(Problem(f"transitions must be Transition objects, got {t!r}"))
            continue
        trig = t.trigger
        if not trig.isidentifier() or keyword.iskeyword(trig):
            add(
                Problem(
                    f"trigger {trig!r} is not a valid identifier; use names like 'add_to_cart'",
                    trigger=trig,
                )
            )
        triggers.setdefault(trig, None)
        for g in t.guards:
            for leaf in g.leaves():
                other = guard_names.setdefault(leaf.name, leaf)
                if other is not leaf and other != leaf:
                    add(
                        Problem(
                            f"two different guards are named {leaf.name!r} (trigger {trig!r}); "
                            "give each guard a unique name",
                            trigger=trig,
                        )
                    )
        if isinstance(t.source, tuple) and WILDCARD in t.source:
            add(
                Problem(
                    f"trigger {trig!r}: '*' must stand alone as source='*', not inside a list",
                    trigger=trig,
                )
            )
        sources = t.sources(non_final)
        if not sources:
            add(Problem(f"trigger {trig!r} has an empty source list", trigger=trig))
        if t.dest is not None and t.dest not in stage_map and not unread.stages:
            add(
                Problem(
                    f"trigger {trig!r} goes to unknown stage {t.dest!r}{did_you_mean(t.dest, names)}",
                    stage=t.dest,
                    trigger=trig,
                )
            )
        for src in sources:
            if src == WILDCARD:
                continue
            if src not in stage_map:
                if not unread.stages:
                    add(
                        Problem(
                            f"trigger {trig!r} starts from unknown stage {src!r}"
                            f"{did_you_mean(src, names)}",
                            stage=src,
                            trigger=trig,
                        )
                    )
                continue
            if src in finals and t.dest is not None:
                add(_leaves_final(src, trig, t.dest))
            table[src].setdefault(trig, []).append(t)

    # exit criteria: one candidate per non-final stage (_rules.py)
    compile_exits(d.exits, stage_map, table, triggers, guard_names, add, unread)
    # goals (_goals.py): checked against the stages and every trigger, exits' too
    check_goals(d.goals, stage_map, triggers, add, unread)

    for src, row in table.items():
        if src in unread.final:  # '*' and exits reach it only while it is taken as non-final
            continue
        for trig, cands in row.items():
            for i, cand in enumerate(cands[:-1]):
                if not cand.guards:
                    add(
                        Problem(
                            f"from stage {src!r}, trigger {trig!r} has {len(cands) - i - 1} transition(s) "
                            f"after an unguarded one to {cand.dest!r}; they can never be chosen: "
                            "guard the earlier transition or remove the later ones",
                            stage=src,
                            trigger=trig,
                        )
                    )
                    break

    # reachability from the initial stage (from each, when several are marked: a stage
    # none of them reaches is unreachable however that problem is fixed), and dead ends
    seen = _reached(d, initials, stage_map, table, unread)
    if seen is not None:
        for n in names:
            if n not in seen:
                start = (
                    f"the initial stage {initials[0]!r}"
                    if len(initials) == 1
                    else f"any of the initial stages {', '.join(map(repr, initials))}"
                )
                add(
                    Problem(
                        f"stage {n!r} is unreachable from {start}; add a transition into it "
                        "or remove it",
                        stage=n,
                    )
                )
    for n in non_final:
        leaves = any(
            c.dest is not None and c.dest != n for cands in table[n].values() for c in cands
        )
        if not leaves and n not in unread.final and not unread.may_leave(n):
            add(
                Problem(
                    f"stage {n!r} is a dead end: it is not final and no transition leaves it; "
                    "mark it final=True or add a transition out of it",
                    stage=n,
                )
            )

    for to in d.timeouts:
        if not isinstance(to, Timeout):
            add(Problem(f"timeouts must be Timeout objects, got {to!r}"))
            continue
        if to.stage not in stage_map:
            if not unread.stages:  # else it may be the stage whose name could not be read
                add(
                    Problem(
                        f"timeout on unknown stage {to.stage!r}{did_you_mean(to.stage, names)}",
                        stage=to.stage,
                        trigger=to.trigger,
                    )
                )
        elif to.trigger not in table[to.stage] and not unread.may_fire(to.trigger, to.stage):
            add(
                Problem(
                    f"timeout on stage {to.stage!r} fires {to.trigger!r}, which has no transition "
                    f"from {to.stage!r}; add one or change the timeout's trigger",
                    stage=to.stage,
                    trigger=to.trigger,
                )
            )
        if to.after.total_seconds() <= 0:
            add(
                Problem(
                    f"timeout on stage {to.stage!r} must have a positive duration, got {to.after}",
                    stage=to.stage,
                    trigger=to.trigger,
                )
            )

    _check_funnel(d.funnel, names, add, known=not unread.stages)
    check_funnel_exits(d.funnel, d.exits, add)  # the funnel as declared (empty: default)

    compiled = {s: {trig: tuple(c) for trig, c in row.items()} for s, row in table.items()}
    return problems, stage_map, compiled, tuple(triggers)


def _check_funnel(
    funnel: tuple[str, ...], names: list[str], add: Callable[[Problem], None], *, known: bool
) -> None:
    """The declared funnel order names known stages (``known``: every stage's name was
    read), each once."""
    seen: set[str] = set()
    for i, name in enumerate(funnel):
        if not isinstance(name, str):
            add(Problem(f"funnel[{i}] must be a stage name (str), got {name!r}"))
            continue
        if name not in names:
            if not known:
                continue
            add(
                Problem(
                    f"funnel[{i}] names unknown stage {name!r}{did_you_mean(name, names)}; "
                    "the funnel order lists stages of this definition",
                    stage=name,
                )
            )
        elif name in seen:
            add(
                Problem(
                    f"funnel[{i}]: stage {name!r} is listed twice in the funnel order; "
                    "list each stage once",
                    stage=name,
                )
            )
        seen.add(name)


def _reached(
    d: DefinitionFields,
    initials: list[str],
    stage_map: dict[str, Stage],
    table: dict[str, dict[str, list[Transition]]],
    unread: Unread,
) -> set[str] | None:
    """The stages a journey can reach from the initial ones, or None when that cannot be
    told: no initial stage, a stage whose name could not be read, or an unread move that
    may go anywhere from a reached stage.  A stage whose ``initial`` flag could not be
    read counts as initial, and an unread move's known destination as reached from its
    sources, so nothing is called unreachable that the missing parts might reach."""
    if not initials or unread.stages:
        return None
    seen = set(initials) | (unread.initial & stage_map.keys())
    # a goal's exit stage is entered from wherever the goal is met
    seen |= {
        e for g in d.goals if isinstance(e := getattr(g, "exit", None), str) and e in stage_map
    }
    todo = deque(seen)
    while True:
        while todo:
            cur = todo.popleft()
            for cands in table.get(cur, {}).values():
                for cand in cands:
                    if cand.dest is not None and cand.dest in stage_map and cand.dest not in seen:
                        seen.add(cand.dest)
                        todo.append(cand.dest)
        for m in unread.moves:
            if m.sources is not None and not seen.intersection(m.sources):
                continue
            if not m.dest_known:
                return None
            if m.dest is not None and m.dest in stage_map and m.dest not in seen:
                seen.add(m.dest)
                todo.append(m.dest)
        if not todo:
            return seen


def _stage_name_problem(name: str) -> str | None:
    """Why ``name`` cannot be a stage name, or None.  Any other non-empty string is
    accepted, and the engine adapter runs it (DESIGN Semantics 9)."""
    if name == WILDCARD:
        return (
            "a stage cannot be named '*': source='*' means every non-final stage, so "
            "transitions from such a stage could not be written; rename it"
        )
    if name != name.strip():
        return (
            f"stage name {name!r} starts or ends with whitespace, which is invisible in "
            f"messages and diagrams; use {name.strip()!r}"
        )
    bad = _unstorable_text(name)
    if bad:
        return f"stage name {name!r} holds {bad}, which no store can hold; rename it"
    return None


def _unstorable_text(text: str) -> str | None:
    """What in ``text`` no store can hold (a journey's stage, the definition's name and
    version are columns of every row: PostgreSQL refuses NUL, UTF-8 has no lone
    surrogates), or None."""
    if "\x00" in text:
        return "a NUL character"
    try:
        text.encode()
    except UnicodeEncodeError:
        return "a lone surrogate (not valid Unicode)"
    return None


def _leaves_final(stage: str, trigger: str, dest: str) -> Problem:
    """A transition from a final stage that is not internal.  A final stage is never
    left: re-entering it (dest == source) would run its exit and enter hooks as if the
    journey had left; recording an event there is what ``dest=None`` is for."""
    if dest == stage:
        how = (
            "that re-enters it (dest == source runs its exit and enter hooks); "
            "use dest=None to record the event without leaving the stage"
        )
    else:
        how = (
            f"to {dest!r}; a final stage is never left: make it internal (dest=None), "
            "remove it, or make the stage non-final"
        )
    return Problem(
        f"final stage {stage!r} has an outgoing transition {trigger!r} {how}",
        stage=stage,
        trigger=trigger,
    )


__all__ = ["compile_and_validate"]
