"""Hypothesis strategies: trigger sequences for a definition, and random definitions.

Imported only through ``journeyfsm.testing``, which turns a missing hypothesis into an
ImportError naming the ``test`` extra.
"""

from __future__ import annotations

import keyword
from collections.abc import Mapping
from datetime import datetime
from itertools import product
from typing import Any

from hypothesis import strategies as st

from .._clock import ensure_utc
from .._definition import JourneyDefinition, Stage, Transition
from .._errors import GuardError
from .._guards import Guard, guard
from .._records import Context
from .._runtime import JourneyMachine
from .._validation import _stage_name_problem
from ._paths import Explorer, PayloadFactory, Step

__all__ = [
    "GENERATED_GUARDS",
    "ODD_STAGE_NAMES",
    "ODD_TRIGGERS",
    "definitions",
    "generated_payloads",
    "trigger_sequences",
]


def _flag_guard(flag: str) -> Guard:
    def check(ctx: Context) -> bool:
        return isinstance(ctx.payload, Mapping) and ctx.payload.get(flag) is True

    return guard(check, name=flag, description=f"the payload sets {flag!r} to True")


#: The leaf guards generated definitions use: ``gN`` passes when the payload is a dict
#: with ``"gN": True``.
GENERATED_GUARDS: tuple[Guard, ...] = tuple(_flag_guard(f"g{i}") for i in range(4))


def generated_payloads() -> list[dict[str, bool]]:
    """Every combination of the generated guards' flags: one of them satisfies any guard.

    >>> len(generated_payloads()), generated_payloads()[0]
    (16, {'g0': False, 'g1': False, 'g2': False, 'g3': False})
    """
    names = [g.name for g in GENERATED_GUARDS]
    return [
        dict(zip(names, flags, strict=True)) for flags in product((False, True), repeat=len(names))
    ]


def _whole(maker: str, arg: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{maker}({arg}=...) takes a whole number, got {value!r}")


def trigger_sequences(
    definition: JourneyDefinition | JourneyMachine,
    *,
    max_length: int = 20,
    payload_factory: PayloadFactory | None = None,
    data: Mapping[str, Any] | None = None,
    at: datetime | None = None,
) -> st.SearchStrategy[list[Step]]:
    """Lists of steps from the initial stage, each trigger allowed from the stage reached.

    Each :class:`Step` carries the payload drawn from ``payload_factory`` (as for
    :func:`shortest_paths`) and the stage the definition predicts after it: ``dest`` equals
    ``source`` when the guards block or the transition is internal.  Payloads a guard
    refuses to read (``GuardError``) are not drawn.  A sequence ends early in a stage with
    no transitions: a final stage, unless it keeps internal ones.
    """
    if at is not None:
        at = ensure_utc(at, what="trigger_sequences(at=...)")
    explorer = Explorer(definition, payload_factory, data=data, at=at)
    d = explorer.definition
    _whole("trigger_sequences", "max_length", max_length)
    if max_length < 0:
        raise ValueError(f"max_length must be >= 0, got {max_length}")

    options: dict[str, dict[str, list[tuple[Any, str]]]] = {}

    def options_from(stage: str) -> dict[str, list[tuple[Any, str]]]:
        """trigger -> [(payload, predicted stage)], leaving out payloads a guard rejects."""
        found = options.get(stage)
        if found is not None:
            return found
        found = {}
        for trigger in d.triggers_from(stage):
            for payload in explorer.payloads(stage, trigger):
                try:
                    chosen = explorer.chosen(stage, trigger, payload)
                except GuardError:
                    continue
                dest = stage if chosen is None or chosen.dest is None else chosen.dest
                found.setdefault(trigger, []).append((payload, dest))
        options[stage] = found
        return found

    @st.composite
    def sequences(draw: st.DrawFn) -> list[Step]:
        length = draw(st.integers(0, max_length))
        stage = d.initial_stage
        out: list[Step] = []
        while len(out) < length:
            here = options_from(stage)
            if not here:
                break
            trigger = draw(st.sampled_from(sorted(here)))
            payload, dest = draw(st.sampled_from(here[trigger]))
            out.append(Step(trigger, payload, stage, dest))
            stage = dest
        return out

    return sequences()


@st.composite
def _guard_expr(draw: st.DrawFn) -> Guard:
    leaf = draw(st.sampled_from(GENERATED_GUARDS))
    shape = draw(st.sampled_from(["leaf", "leaf", "not", "and", "or"]))
    if shape == "not":
        return ~leaf
    if shape in ("and", "or"):
        other = draw(st.sampled_from([g for g in GENERATED_GUARDS if g is not leaf]))
        return leaf & other if shape == "and" else leaf | other
    return leaf


#: Stage names that look like syntax or engine vocabulary; validation accepts them all
#: and the engine runs them (it works on internal names).
ODD_STAGE_NAMES: tuple[str, ...] = (
    "=",
    "stage",
    "state",
    "trigger",
    "initial",
    "None",
    "0",
    "a b",
    "->",
    "[*]",
    "x:y",
    "__init__",
    "é",
    "日本",
    "**",
)
#: Identifier triggers that collide with engine and model vocabulary.
ODD_TRIGGERS: tuple[str, ...] = (
    "stage",
    "trigger",
    "state",
    "to_x",
    "is_x",
    "may_x",
    "model",
    "machine",
    "events",
    "add_transition",
    "__init__",
    "_",
    "match",
)


def _valid_stage_name(name: str) -> bool:
    # the validation's own rule: a NUL (which no store can hold), '*', outer whitespace
    return bool(name) and _stage_name_problem(name) is None


def _names(draw: st.DrawFn, n: int, odd: bool, prefix: str, pool: tuple[str, ...]) -> list[str]:
    if not odd:
        return [f"{prefix}{i}" for i in range(n)]
    if prefix == "s":
        one = st.one_of(
            st.sampled_from(pool), st.text(min_size=1, max_size=6).filter(_valid_stage_name)
        )
    else:
        one = st.one_of(
            st.sampled_from(pool),
            st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,6}", fullmatch=True).filter(
                lambda t: not keyword.iskeyword(t)
            ),
        )
    names: list[str] = draw(st.lists(one, min_size=n, max_size=n, unique=True))
    return names


def _fresh(taken: set[str]) -> str:
    """A trigger name not in ``taken``."""
    i = len(taken)
    while f"t{i}" in taken:
        i += 1
    return f"t{i}"


@st.composite
def _definition(
    draw: st.DrawFn,
    max_stages: int,
    max_triggers: int,
    guards: bool,
    internal: bool,
    odd_names: bool,
) -> JourneyDefinition:
    n = draw(st.integers(2, max_stages))
    names = _names(draw, n, odd_names, "s", ODD_STAGE_NAMES)
    finals = draw(st.sets(st.integers(1, n - 1), min_size=1, max_size=max(1, n // 2)))
    edges: list[tuple[int, int | None]] = []
    # a spanning tree from earlier non-final stages makes every stage reachable
    for i in range(1, n):
        parents = [j for j in range(i) if j not in finals]
        edges.append((draw(st.sampled_from(parents)), i))
    non_final = [i for i in range(n) if i not in finals]
    # every non-final stage needs a way out to another stage
    for i in non_final:
        if not any(src == i and dst != i for src, dst in edges):
            edges.append((i, draw(st.sampled_from([j for j in range(n) if j != i]))))
    # extra edges; None stands for an internal transition (dest=None), the only kind a
    # final stage may have
    dests: st.SearchStrategy[int | None] = st.integers(0, n - 1)
    if internal:
        dests = st.one_of(st.none(), dests)
        edges.extend(
            draw(st.lists(st.tuples(st.sampled_from(sorted(finals)), st.none()), max_size=2))
        )
    edges.extend(draw(st.lists(st.tuples(st.sampled_from(non_final), dests), max_size=n)))
    triggers = _names(draw, max_triggers, odd_names, "t", ODD_TRIGGERS)
    transitions: list[Transition] = []
    used: dict[int, list[str]] = {}
    taken = set(triggers)
    for src, dst in edges:
        if guards:
            trigger = draw(st.sampled_from(triggers))
        else:  # without guards a second candidate for (src, trigger) would be invalid
            free = [t for t in triggers if t not in used.get(src, [])]
            trigger = free[0] if free else _fresh(taken)
            taken.add(trigger)
        used.setdefault(src, []).append(trigger)
        guard_list = [draw(_guard_expr())] if guards and draw(st.booleans()) else []
        transitions.append(
            Transition(trigger, names[src], None if dst is None else names[dst], guard_list)
        )
    if guards:
        transitions = _guard_all_but_last(transitions, draw)
    stages = [Stage(name, initial=i == 0, final=i in finals) for i, name in enumerate(names)]
    version = draw(st.integers(1, 3))
    return JourneyDefinition(
        name="generated", stages=stages, transitions=transitions, version=version
    )


def _guard_all_but_last(transitions: list[Transition], draw: st.DrawFn) -> list[Transition]:
    """Give a guard to every candidate that has a later candidate for the same (source, trigger)."""
    out = list(transitions)
    for i, t in enumerate(out):
        later = any(u.source == t.source and u.trigger == t.trigger for u in out[i + 1 :])
        if later and not t.guards:
            out[i] = Transition(t.trigger, t.source, t.dest, [draw(_guard_expr())])
    return out


def definitions(
    *,
    max_stages: int = 6,
    max_triggers: int = 4,
    guards: bool = True,
    internal: bool = True,
    odd_names: bool = False,
) -> st.SearchStrategy[JourneyDefinition]:
    """Random valid definitions named ``"generated"``, for testing tools built on journeyfsm.

    Stages are ``s0`` (initial) to ``sN``, triggers ``t0``...; every stage is reachable
    and every non-final stage has a way out.  With ``guards`` some transitions carry guards
    made of :data:`GENERATED_GUARDS` (``gN`` passes for a payload ``{"gN": True}``;
    :func:`generated_payloads` lists payloads that together satisfy every guard); with
    ``internal`` some transitions are internal (``dest=None``), final stages included.
    With ``odd_names`` stage and trigger names are drawn from every name validation
    accepts instead (``"="``, ``"[*]"``, ``"a b"``, unicode; triggers such as ``stage``
    or ``to_x``): the initial stage is then the first of ``stage_names``, whatever it is
    called.

    >>> from hypothesis import given, settings
    >>> @settings(max_examples=5, deadline=None)
    ... @given(definitions(odd_names=True))
    ... def check(d):
    ...     assert d.stage_names[0] == d.initial_stage
    >>> check()
    """
    _whole("definitions", "max_stages", max_stages)
    _whole("definitions", "max_triggers", max_triggers)
    if max_stages < 2:
        raise ValueError(f"max_stages must be at least 2, got {max_stages}")
    if max_triggers < 1:
        raise ValueError(f"max_triggers must be at least 1, got {max_triggers}")
    return _definition(max_stages, max_triggers, guards, internal, odd_names)
