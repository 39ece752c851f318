"""Path properties: rules about every path of a definition, proved on its stage graph.

Theory of operation
-------------------
Each property is a question about the graph of :mod:`._graph` (compiled moves, guards
free unless fixed), answered by a graph search rather than by enumerating paths, so
cycles are fine and the answer covers paths of every length:

- :func:`no_path` — breadth-first search from the start stages through stages outside
  ``avoiding``; a path found is the counterexample, and it is a shortest one.
- :func:`every_path` — the least fixed point of "a target, or a stage with a move whose
  moves all lead there" (CTL's AF); a start outside it has a path that avoids the
  targets and either stops in a dead end or goes round a cycle forever.  The
  counterexample is the shortest such path (a dead end, or a cycle after a prefix).
- :func:`only_from` — every move into a stage, from a reachable stage, starts in the
  allowed sources; the counterexample is a shortest path ending with a move that does not.
- :func:`no_traps` — every stage reachable from the initial stage can still reach a final
  stage; :func:`reachable` — the stages named can be reached at all.

The graph holds every move a real journey can make (and may hold more, see
:mod:`._graph`).  So ``no_path``, ``every_path`` and ``only_from``, which speak of every
path, are *proved* for every journey the machine can run when they hold (a counterexample
may need guard outcomes the real guards never give); ``reachable`` and ``no_traps``,
which speak of paths that exist, say what the table allows when guards pass, and are
proved when they *fail*.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import attrs

from ._graph import INITIAL, Graph, Move, StageSet, StageSpec, definition_of, stage_set

__all__ = [
    "Counterexample",
    "Property",
    "Verdict",
    "assert_every_path",
    "assert_keeps_properties",
    "assert_no_path",
    "assert_no_traps",
    "assert_only_from",
    "assert_properties",
    "check_properties",
    "every_path",
    "no_path",
    "no_traps",
    "only_from",
    "reachable",
]


@attrs.frozen
class Counterexample:
    """A path that breaks a property: from ``start`` through ``moves``.

    ``loop_from`` is set when the path goes on forever: the moves from that index on
    form a cycle (its last move returns to the stage the cycle starts in).
    """

    start: str
    moves: tuple[Move, ...]
    loop_from: int | None = None

    @property
    def stages(self) -> tuple[str, ...]:
        """Every stage on the path, ``start`` first."""
        return (self.start, *(m.dest for m in self.moves))

    @property
    def triggers(self) -> tuple[str, ...]:
        """The counterexample's triggers, in the order they are fired."""
        return tuple(m.trigger for m in self.moves)

    def __str__(self) -> str:
        text = repr(self.start) + "".join(f" {m}" for m in self.moves)
        if self.loop_from is not None:
            text += f" ... (round the cycle from {self.stages[self.loop_from]!r} forever)"
        return text


@attrs.frozen
class Verdict:
    """Whether ``property`` holds on a definition; ``counterexample`` shows why not."""

    property: Property
    holds: bool
    definition: str
    version: int | str
    counterexample: Counterexample | None = None
    reason: str = ""

    def __str__(self) -> str:
        head = f"{self.property} [{self.definition!r} version {self.version}]"
        if self.holds:
            return f"holds: {head}"
        lines = [f"FAILS: {head}"]
        if self.reason:
            lines.append(f"  {self.reason}")
        if self.counterexample is not None:
            n = len(self.counterexample.moves)
            lines.append(f"  shortest counterexample ({n} move{'' if n == 1 else 's'}):")
            lines.append(f"    {self.counterexample}")
        return "\n".join(lines)


@attrs.frozen
class Property:
    """One path property, made by :func:`no_path`, :func:`every_path`, :func:`only_from`,
    :func:`no_traps` or :func:`reachable`; check it with :func:`check_properties` or
    :func:`assert_properties`."""

    kind: str
    text: str
    stages: tuple[StageSet, ...] = ()

    def __str__(self) -> str:
        return self.text

    def check(self, target: object, *, guards: Mapping[str, bool] | None = None) -> Verdict:
        """The verdict of this property on a definition or machine (guards fixed as in
        :func:`check_properties`)."""
        d = definition_of(target)
        return _CHECKS[self.kind](self, Graph(d, guards))


def _verdict(p: Property, g: Graph, cex: Counterexample | None = None, reason: str = "") -> Verdict:
    d = g.definition
    holds = cex is None and not reason
    return Verdict(p, holds, d.name, d.version, cex, reason)


def _some(spec: StageSpec, maker: str, arg: str) -> StageSet:
    """``spec`` as a StageSet; an empty list of names is refused (the property would be
    about no stage, and hold or fail whatever the definition)."""
    stages = stage_set(spec)
    if not isinstance(spec, StageSet) and not stages.names:
        raise ValueError(
            f"{maker}() got no stage in {arg}={spec!r}, so it would check nothing; pass a "
            "stage name, a list of names or a StageSet such as FINAL"
        )
    return stages


def no_path(to: StageSpec, *, from_: StageSpec = INITIAL, avoiding: StageSpec = ()) -> Property:
    """No path of one or more moves from ``from_`` (default: the initial stage) reaches
    ``to`` without passing a stage of ``avoiding`` (start and end included).

    >>> from journeyfsm import templates
    >>> str(no_path("action", avoiding="desire").check(templates.aida()))
    "holds: no path from INITIAL reaches 'action' avoiding 'desire' ['aida' version 1]"
    """
    sets = (_some(to, "no_path", "to"), stage_set(from_), stage_set(avoiding))
    tail = f" avoiding {sets[2]}" if sets[2].label != "no stage" else ""
    return Property("no_path", f"no path from {sets[1]} reaches {sets[0]}{tail}", sets)


def _check_no_path(p: Property, g: Graph) -> Verdict:
    to, from_, avoiding = (s.stages(g.definition) for s in p.stages)
    starts = sorted(from_ - avoiding, key=g.order.__getitem__)
    found = g.shortest(starts, to.__contains__, avoiding=avoiding, at_least_one=True)
    if found is None:
        return _verdict(p, g)
    return _verdict(p, g, Counterexample(found[0].source, found))


def every_path(reaches: StageSpec, *, from_: StageSpec = INITIAL) -> Property:
    """Every path from ``from_`` reaches a stage of ``reaches`` (a start in ``reaches``
    counts): no path avoids them and stops in a dead end, none goes round a cycle of
    other stages forever.  A journey left alone is not a path: add
    :data:`WITH_TIMEOUT` to ``reaches`` for "or waits where a timeout moves it on".

    >>> from journeyfsm import templates
    >>> from journeyfsm.testing import FINAL
    >>> every_path(FINAL).check(templates.aida()).holds
    False
    """
    sets = (_some(reaches, "every_path", "reaches"), _some(from_, "every_path", "from_"))
    return Property("every_path", f"every path from {sets[1]} reaches {sets[0]}", sets)


def _check_every_path(p: Property, g: Graph) -> Verdict:
    targets, starts = (s.stages(g.definition) for s in p.stages)
    won = g.inevitable(targets)
    order = g.order.__getitem__
    bad = sorted(starts - won, key=order)
    if not bad:
        return _verdict(p, g)
    # a shortest path that avoids the targets for good: it stays among the stages not
    # won (the only ones such a path can visit) and ends in a dead end or a cycle
    lost = {s for s in g.out if s not in won}
    best: Counterexample | None = None
    for start in bad:
        for cex in _escapes(g, start, lost):
            if best is None or len(cex.moves) < len(best.moves):
                best = cex
    return _verdict(p, g, best)


def _escapes(g: Graph, start: str, lost: set[str]) -> Iterable[Counterexample]:
    inside = lost.__contains__
    dead = g.shortest([start], lambda s: not g.out[s], allowed=inside)
    if dead is not None:
        yield Counterexample(start, dead)
    for via in sorted(g.reachable([start], lost), key=g.order.__getitem__):
        prefix = g.shortest([start], via.__eq__, allowed=inside)
        cycle = g.shortest([via], via.__eq__, allowed=inside, at_least_one=True)
        if prefix is not None and cycle is not None:
            yield Counterexample(start, (*prefix, *cycle), loop_from=len(prefix))


def only_from(stage: StageSpec, sources: StageSpec) -> Property:
    """Every move into ``stage`` from a stage reachable from the initial stage comes
    from one of ``sources`` (moves that start in ``stage`` itself count too).

    >>> from journeyfsm import templates
    >>> only_from("action", "desire").check(templates.aida()).holds
    True
    """
    sets = (_some(stage, "only_from", "stage"), stage_set(sources))
    return Property("only_from", f"{sets[0]} is entered only from {sets[1]}", sets)


def _check_only_from(p: Property, g: Graph) -> Verdict:
    into, sources = (s.stages(g.definition) for s in p.stages)
    found = g.shortest(
        [g.definition.initial_stage],
        lambda s: any(m.dest in into and m.source not in sources for m in g.out[s]),
    )
    if found is None:
        return _verdict(p, g)
    here = found[-1].dest if found else g.definition.initial_stage
    last = next(m for m in g.out[here] if m.dest in into and m.source not in sources)
    return _verdict(p, g, Counterexample(g.definition.initial_stage, (*found, last)))


def no_traps() -> Property:
    """No stage is a trap: from every stage reachable from the initial stage, a final
    stage can still be reached.

    >>> from journeyfsm import templates
    >>> no_traps().check(templates.aida()).holds
    True
    """
    return Property("no_traps", "no stage is a trap (a final stage stays reachable)")


def _check_no_traps(p: Property, g: Graph) -> Verdict:
    d = g.definition
    finishing = g.can_reach(d.final_stages)
    found = g.shortest([d.initial_stage], lambda s: s not in finishing)
    if found is None:
        return _verdict(p, g)
    trap = found[-1].dest if found else d.initial_stage
    return _verdict(
        p, g, Counterexample(d.initial_stage, found), f"no final stage is reachable from {trap!r}"
    )


def reachable(stages: StageSpec) -> Property:
    """Each of ``stages`` can be reached from the initial stage (guards passing).

    >>> from journeyfsm import templates
    >>> reachable(["action", "lost"]).check(templates.aida()).holds
    True
    """
    sets = (_some(stages, "reachable", "stages"),)
    return Property("reachable", f"{sets[0]} can be reached from the initial stage", sets)


def _check_reachable(p: Property, g: Graph) -> Verdict:
    (wanted,) = (s.stages(g.definition) for s in p.stages)
    seen = g.reachable([g.definition.initial_stage])
    missing = [s for s in g.definition.stage_names if s in wanted and s not in seen]
    if not missing:
        return _verdict(p, g)
    return _verdict(p, g, reason=f"no path reaches {', '.join(map(repr, missing))}")


_CHECKS = {
    "no_path": _check_no_path,
    "every_path": _check_every_path,
    "only_from": _check_only_from,
    "no_traps": _check_no_traps,
    "reachable": _check_reachable,
}


_MAKERS = "no_path(), every_path(), only_from(), no_traps() or reachable()"


def _properties(properties: Iterable[Property]) -> list[Property]:
    if isinstance(properties, Property):
        raise TypeError(
            f"expected an iterable of properties, got the one property {properties!r}; "
            "pass a list: [property]"
        )
    try:
        out = list(properties)
    except TypeError:
        raise TypeError(
            f"expected an iterable of properties made by {_MAKERS}, got {properties!r}"
        ) from None
    for p in out:
        if isinstance(p, (list, tuple)):
            raise TypeError(
                f"expected properties made by {_MAKERS}, got the sequence {p!r}; pass "
                "them as separate arguments: assert_properties(target, *properties)"
            )
        if not isinstance(p, Property):
            raise TypeError(
                f"expected properties made by no_path(), every_path(), only_from(), "
                f"no_traps() or reachable(), got {p!r}"
            )
    return out


def check_properties(
    target: object, properties: Iterable[Property], *, guards: Mapping[str, bool] | None = None
) -> list[Verdict]:
    """The verdict of every property on a definition (or machine).

    ``guards`` fixes the outcome of named leaf guards (``{"is_vip": False}``); every other
    guard is free: it may pass or fail at each step.

    >>> from journeyfsm import templates
    >>> [v.holds for v in check_properties(templates.aida(), [no_traps(), reachable("lost")])]
    [True, True]
    """
    g = Graph(definition_of(target), guards)
    return [_CHECKS[p.kind](p, g) for p in _properties(properties)]


def _nothing_to_check(example: str) -> ValueError:
    # an assertion of no properties would pass while checking nothing
    return ValueError(
        f"no properties to check, so nothing would be asserted; pass {_MAKERS}: {example}"
    )


def _fail(verdicts: Sequence[Verdict], what: str) -> None:
    failed = [v for v in verdicts if not v.holds]
    if failed:
        raise AssertionError(
            f"{len(failed)} of {len(verdicts)} {what}:\n\n" + "\n\n".join(map(str, failed))
        )


def assert_properties(
    target: object, *properties: Property, guards: Mapping[str, bool] | None = None
) -> list[Verdict]:
    """Assert that every property holds; one AssertionError lists each that fails with
    its shortest counterexample.

    >>> from journeyfsm import templates
    >>> from journeyfsm.testing import FINAL
    >>> assert_properties(templates.aida(), every_path(FINAL))
    Traceback (most recent call last):
    AssertionError: 1 of 1 path properties do not hold:
    <BLANKLINE>
    FAILS: every path from INITIAL reaches FINAL ['aida' version 1]
      shortest counterexample (2 moves):
        'attention' --lose_interest--> 'lost' --re_engage--> 'attention' ... (round the cycle from 'attention' forever)
    """
    if not properties:
        raise _nothing_to_check("assert_properties(target, no_traps(), reachable(FINAL), ...)")
    verdicts = check_properties(target, properties, guards=guards)
    _fail(verdicts, "path properties do not hold")
    return verdicts


def assert_no_path(
    target: object,
    *,
    to: StageSpec,
    from_: StageSpec = INITIAL,
    avoiding: StageSpec = (),
    guards: Mapping[str, bool] | None = None,
) -> Verdict:
    """Assert :func:`no_path`: no path from ``from_`` reaches ``to`` avoiding ``avoiding``.

    >>> from journeyfsm import templates
    >>> assert_no_path(templates.aida(), to="action", avoiding="interest").holds
    True
    """
    return assert_properties(target, no_path(to, from_=from_, avoiding=avoiding), guards=guards)[0]


def assert_every_path(
    target: object,
    *,
    reaches: StageSpec,
    from_: StageSpec = INITIAL,
    guards: Mapping[str, bool] | None = None,
) -> Verdict:
    """Assert :func:`every_path`: every path from ``from_`` reaches ``reaches``.

    >>> from journeyfsm import templates
    >>> from journeyfsm.testing import FINAL
    >>> assert_every_path(templates.aida(), from_="desire", reaches=FINAL | "lost").holds
    True
    """
    return assert_properties(target, every_path(reaches, from_=from_), guards=guards)[0]


def assert_only_from(
    target: object,
    stage: StageSpec,
    sources: StageSpec,
    *,
    guards: Mapping[str, bool] | None = None,
) -> Verdict:
    """Assert :func:`only_from`: ``stage`` is entered only from ``sources``.

    >>> from journeyfsm import templates
    >>> assert_only_from(templates.aida(), "action", "desire").holds
    True
    """
    return assert_properties(target, only_from(stage, sources), guards=guards)[0]


def assert_no_traps(target: object, *, guards: Mapping[str, bool] | None = None) -> Verdict:
    """Assert :func:`no_traps`: a final stage stays reachable from every reachable stage.

    >>> from journeyfsm import templates
    >>> assert_no_traps(templates.aida()).holds
    True
    """
    return assert_properties(target, no_traps(), guards=guards)[0]


def assert_keeps_properties(
    old: object,
    new: object,
    properties: Iterable[Property],
    *,
    guards: Mapping[str, bool] | None = None,
) -> list[Verdict]:
    """Assert that ``new`` keeps every property of ``properties`` that ``old`` has ("v2
    keeps every property v1 had"); returns the verdicts on ``new`` of the kept ones.

    A property ``old`` does not have is not asked of ``new``; one that names a stage
    ``new`` no longer has is lost.  ``guards`` fixes guards in both (a name each
    definition uses; one used by neither is an error).

    >>> from journeyfsm import templates
    >>> v1 = templates.aida()
    >>> v2 = v1.builder().transition("buy_now", "interest", "action").build(version=2)
    >>> assert_keeps_properties(v1, v2, [no_traps(), no_path("action", avoiding="desire")])
    Traceback (most recent call last):
    AssertionError: 1 of 2 properties of 'aida' version 1 are lost in version 2:
    <BLANKLINE>
    FAILS: no path from INITIAL reaches 'action' avoiding 'desire' ['aida' version 2]
      shortest counterexample (2 moves):
        'attention' --engage--> 'interest' --buy_now--> 'action'
    """
    d_old, d_new = definition_of(old), definition_of(new)
    props = _properties(properties)
    if not props:
        raise _nothing_to_check("assert_keeps_properties(old, new, [no_traps(), ...])")
    fixed = dict(guards or {})
    known_old, known_new = d_old.guards(), d_new.guards()
    unknown = [n for n in fixed if n not in known_old and n not in known_new]
    if unknown:
        Graph(d_old, {unknown[0]: fixed[unknown[0]]})  # raises the KeyError with hints
    had = check_properties(d_old, props, guards={k: v for k, v in fixed.items() if k in known_old})
    g_new = Graph(d_new, {k: v for k, v in fixed.items() if k in known_new})
    kept: list[Verdict] = []
    for before in had:
        if not before.holds:
            continue
        p = before.property
        try:
            kept.append(_CHECKS[p.kind](p, g_new))
        except KeyError as err:
            kept.append(_verdict(p, g_new, reason=str(err.args[0] if err.args else err)))
    lost = [v for v in kept if not v.holds]
    if lost:
        raise AssertionError(
            f"{len(lost)} of {len(kept)} properties of {d_old.name!r} version {d_old.version} "
            f"are lost in version {d_new.version}:\n\n" + "\n\n".join(map(str, lost))
        )
    return kept
