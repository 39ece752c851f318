"""The plain-dict (JSON-able) form of a definition, and reading it back.

Guards travel by name: a leaf is its registered name, composites are
``{"all": [...]}``, ``{"any": [...]}`` and ``{"not": ...}``.

Reading never raises anything but ``DefinitionError``, and reports the problems of the
dict itself (unknown or missing keys, wrong types, unregistered guards) together with
the definition's own rule problems (unreachable stages, dead ends, ...) in that one
error (DESIGN Semantics 9).  To run the rules on a dict with problems, the reader
salvages what it can: an unknown key, a bad ``description`` or ``metadata`` is left
out, an unregistered or malformed guard reference becomes a stand-in guard of the same
name, a bad timeout or ``funnel`` order is left out (no other rule reads them).  A part
the rules depend on that cannot be read (a stage's name or flags, a transition's
trigger, source, dest or guard list, a list that is not a list) is left out too, and
what is known of it is handed to validation as ``Unread`` (_parts.py): the rules run on
the parts that were read and skip only the answers that could be echoes of the missing
part (an "unknown stage" when a stage's name was unreadable, a dead end that an unread
transition may leave)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

import attrs

from ._clock import span_seconds
from ._columns import expr_from_ref
from ._errors import DefinitionError, Problem
from ._goals import goal_from_json, goal_to_json
from ._guards import AllOf, AnyOf, Guard, Not, guard
from ._json import freeze_mapping, thaw
from ._parts import (
    ALL_READ,
    WILDCARD,
    DefinitionFields,
    Move,
    Stage,
    Timeout,
    Transition,
    Unread,
)
from ._rules import Exit, entry_from_json, entry_problems, entry_to_json
from ._validation import compile_and_validate

D = TypeVar("D")

_DEF_KEYS = {
    "name",
    "version",
    "description",
    "policy",
    "metadata",
    "stages",
    "transitions",
    "timeouts",
    "funnel",
    "exits",
    "entry",
    "goals",
}
_STAGE_KEYS = {"name", "initial", "final", "description", "metadata"}
_TRANS_KEYS = {"trigger", "source", "dest", "guards", "description", "metadata"}
_TIMEOUT_KEYS = {"stage", "after_seconds", "trigger"}
_EXIT_KEYS = {"trigger", "stage", "guards", "description"}
_DEF_REQUIRED = {"name", "stages", "transitions"}


def definition_to_dict(d: DefinitionFields) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": d.name,
        "version": d.version,
        "description": d.description,
        "policy": d.policy,
        "metadata": thaw(d.metadata),
        "stages": [
            {
                "name": s.name,
                "initial": s.initial,
                "final": s.final,
                "description": s.description,
                "metadata": thaw(s.metadata),
            }
            for s in d.stages
        ],
        "transitions": [
            {
                "trigger": t.trigger,
                "source": t.source if isinstance(t.source, str) else list(t.source),
                "dest": t.dest,
                "guards": [g.to_ref() for g in t.guards],
                "description": t.description,
                "metadata": thaw(t.metadata),
            }
            for t in d.transitions
        ],
        "timeouts": [
            {
                "stage": to.stage,
                "after_seconds": span_seconds(to.after),
                "trigger": to.trigger,
            }
            for to in d.timeouts
        ],
    }
    if d.funnel_declared:  # a default funnel is left out, so it stays a default when read
        out["funnel"] = list(d.funnel)
    if d.exits:  # left out when there are none, so older dicts and readers are unchanged
        out["exits"] = [
            {
                "trigger": e.trigger,
                "stage": e.stage,
                "guards": [g.to_ref() for g in e.guards],
                "description": e.description,
            }
            for e in d.exits
        ]
    entry: Any = getattr(d, "entry", "once")
    if entry != "once":  # left out when it is the default, so existing dicts are unchanged
        out["entry"] = entry_to_json(entry)
    goals: Any = getattr(d, "goals", ())
    if goals:  # left out when there are none, so existing dicts are unchanged
        out["goals"] = [goal_to_json(g) for g in goals]
    return out


def _keys(
    obj: Any, allowed: set[str], required: set[str], where: str, problems: list[Problem]
) -> bool:
    """Report unknown and missing keys of ``obj``; True when it is a dict with every
    required key (unknown keys are reported and then ignored)."""
    if not isinstance(obj, Mapping):
        problems.append(Problem(f"{where} must be a dict, got {type(obj).__name__}"))
        return False
    for k in sorted(set(obj) - allowed, key=repr):  # keys of any type sort by repr
        problems.append(
            Problem(f"unknown key {k!r} in {where}; known keys: {', '.join(sorted(allowed))}")
        )
    missing = sorted(required - set(obj))
    for k in missing:
        problems.append(Problem(f"{where} is missing the required key {k!r}"))
    return not missing


def _registry(guards: Mapping[str, Guard] | Iterable[Guard] | None) -> dict[str, Guard]:
    """Guards by name.  A wrong ``guards=`` argument is the caller's bug, not a problem
    of the dict, so it is a TypeError."""
    if guards is None:
        return {}
    pairs = list(guards.items()) if isinstance(guards, Mapping) else [(None, g) for g in guards]
    out: dict[str, Guard] = {}
    for name, g in pairs:
        if not isinstance(g, Guard):
            raise TypeError(
                "from_dict(guards=...) takes guards made with journeyfsm.guard(...) "
                f"(a list, or a dict by name), got {g!r}"
            )
        out[g.name if name is None else name] = g
    return out


class _Reader:
    """One reading of a definition dict: the problems found, and what could not be read
    (``unread()``), which validation is handed so that it skips only the rules whose
    answer would echo a missing part."""

    def __init__(self, registry: dict[str, Guard]) -> None:
        self.problems: list[Problem] = []
        self.registry = registry
        self._stand_ins: dict[str, Guard] = {}
        self._stages_unread = False
        self._initial_unread: set[str] = set()
        self._final_unread: set[str] = set()
        self._moves: list[Move] = []

    def unread(self) -> Unread:
        """What could not be read (``ALL_READ`` when the dict's every part was)."""
        if not (self._stages_unread or self._initial_unread or self._final_unread or self._moves):
            return ALL_READ
        return Unread(
            stages=self._stages_unread,
            initial=frozenset(self._initial_unread),
            final=frozenset(self._final_unread),
            moves=tuple(self._moves),
        )

    def add(self, message: str, *, stage: Any = None, trigger: Any = None) -> None:
        self.problems.append(
            Problem(
                message,
                stage=stage if isinstance(stage, str) else None,
                trigger=trigger if isinstance(trigger, str) else None,
            )
        )

    def stand_in(self, name: str) -> Guard:
        """A guard that never passes, named ``name``: keeps a transition guarded for the
        rules when its reference could not be resolved (the definition is refused anyway)."""
        found = self._stand_ins.get(name)
        if found is None:
            # guard() refuses an empty name: the stand-in for '' gets a readable one
            label = name or "<empty guard name>"
            found = self._stand_ins[name] = guard(lambda ctx: False, name=label)
        return found

    def cosmetic(self, obj: Mapping[str, Any], where: str, **who: Any) -> dict[str, Any]:
        """``description`` and ``metadata`` of ``obj`` when well-typed (no rule reads them)."""
        out: dict[str, Any] = {}
        if "description" in obj:
            if isinstance(obj["description"], str):
                out["description"] = obj["description"]
            else:
                self.add(
                    f"{where}: 'description' must be a str, got {type(obj['description']).__name__}",
                    **who,
                )
        if "metadata" in obj:
            try:
                out["metadata"] = freeze_mapping(obj["metadata"])
            except (TypeError, ValueError) as err:
                self.add(f"{where}: {_text(err)}", **who)
        return out

    def guard_ref(self, ref: Any, trigger: str) -> Guard:
        if isinstance(ref, str):
            found = self.registry.get(ref)
            if found is None:
                known = ", ".join(sorted(self.registry)) or "none registered"
                self.add(
                    f"transition {trigger!r} uses guard {ref!r}, which is not registered; "
                    f"pass guards=[...] to from_dict (registered: {known})",
                    trigger=trigger,
                )
                found = self.stand_in(ref)
            return found
        if isinstance(ref, Mapping) and len(ref) == 1:
            ((op, arg),) = ref.items()
            if op in ("all", "any") and isinstance(arg, list) and arg:
                parts = tuple(self.guard_ref(a, trigger) for a in arg)
                return AllOf(parts) if op == "all" else AnyOf(parts)
            if op == "not":
                return Not(self.guard_ref(arg, trigger))
            if op == "expr":  # col("total") > 0: needs no registry
                try:
                    return expr_from_ref(arg)
                except (TypeError, ValueError) as err:
                    self.add(f"transition {trigger!r}: {err}", trigger=trigger)
                    return self.stand_in("<malformed expression guard>")
        self.add(
            f"transition {trigger!r} has a malformed guard reference {_short(ref)}; use a guard "
            "name, {'all': [...]}, {'any': [...]}, {'not': ...} or {'expr': {...}}",
            trigger=trigger,
        )
        return self.stand_in("<malformed guard reference>")

    def stage(self, i: int, sd: Any) -> Stage | None:
        where = f"stages[{i}]"
        if not _keys(sd, _STAGE_KEYS, {"name"}, where, self.problems):
            self._stages_unread = True
            return None
        name = sd["name"]
        if not isinstance(name, str):
            self.add(f"{where}: 'name' must be a str, got {type(name).__name__}")
            self._stages_unread = True
            return None
        flags = {"initial": False, "final": False}
        for flag, unread in (("initial", self._initial_unread), ("final", self._final_unread)):
            value = sd.get(flag, False)
            if isinstance(value, bool):
                flags[flag] = value
            else:
                self.add(
                    f"{where} ({name!r}): {flag!r} must be true or false, got {_short(value)}",
                    stage=name,
                )
                unread.add(name)  # read as False; the rules that hang on it are skipped
        extra = self.cosmetic(sd, f"{where} ({name!r})", stage=name)
        try:
            return Stage(name, initial=flags["initial"], final=flags["final"], **extra)
        except (TypeError, ValueError) as err:  # an empty name
            self.add(f"{where}: {_text(err)}")
            self._stages_unread = True
            return None

    def transition(self, i: int, td: Any) -> Transition | None:
        where = f"transitions[{i}]"
        if not _keys(td, _TRANS_KEYS, {"trigger", "source", "dest"}, where, self.problems):
            self._moves.append(_partial_move(td, "trigger", "source", "dest"))
            return None
        trig = td["trigger"]
        if isinstance(trig, str):
            where = f"{where} ({trig!r})"
        else:
            self.add(f"{where}: 'trigger' must be a str, got {type(trig).__name__}")
        source, dest, refs = td["source"], td["dest"], td.get("guards", [])
        if not _is_source(source):
            self.add(
                f"{where}: 'source' must be a stage name, a list of stage names or '*', "
                f"got {_short(source)}",
                trigger=trig,
            )
        if not _is_dest(dest):
            self.add(
                f"{where}: 'dest' must be a stage name or null (internal transition), "
                f"got {_short(dest)}",
                trigger=trig,
            )
        if not isinstance(refs, list):
            self.add(
                f"{where}: 'guards' must be a list of guard references, got {type(refs).__name__}",
                trigger=trig,
            )
        label = trig if isinstance(trig, str) else where
        resolved = [self.guard_ref(r, label) for r in refs] if isinstance(refs, list) else []
        extra = self.cosmetic(td, where, trigger=trig)
        if not (isinstance(trig, str) and _is_source(source) and _is_dest(dest)) or not isinstance(
            refs, list
        ):
            # what is known of it still counts: the rules it cannot affect run
            self._moves.append(_partial_move(td, "trigger", "source", "dest"))
            return None
        return Transition(trig, source, dest, resolved, **extra)

    def timeout(self, i: int, tod: Any) -> Timeout | None:
        where = f"timeouts[{i}]"
        # No other rule reads timeouts: a bad one is left out and the rules still run.
        if not _keys(tod, _TIMEOUT_KEYS, _TIMEOUT_KEYS, where, self.problems):
            return None
        try:
            return Timeout(tod["stage"], tod["after_seconds"], tod["trigger"])
        except (TypeError, ValueError) as err:
            self.add(f"{where}: {_text(err)}", stage=tod["stage"], trigger=tod["trigger"])
            return None

    def exit(self, i: int, ed: Any) -> Exit | None:
        """``exits[i]`` as an Exit, or None when it cannot be read."""
        where = f"exits[{i}]"
        if not _keys(ed, _EXIT_KEYS, {"trigger", "stage"}, where, self.problems):
            # an exit leaves every non-final stage
            self._moves.append(_partial_move(ed, "trigger", None, "stage"))
            return None
        trig, stage, refs = ed["trigger"], ed["stage"], ed.get("guards", [])
        if not isinstance(trig, str) or not isinstance(stage, str):
            self.add(f"{where}: 'trigger' and 'stage' must be str, got {_short(ed)}")
            self._moves.append(_partial_move(ed, "trigger", None, "stage"))
            return None
        if not isinstance(refs, list):
            self.add(
                f"{where} ({trig!r}): 'guards' must be a list of guard references, "
                f"got {type(refs).__name__}",
                trigger=trig,
            )
            self._moves.append(_partial_move(ed, "trigger", None, "stage"))
            return None
        resolved = [self.guard_ref(r, trig) for r in refs]
        description = ed.get("description", "")
        if not isinstance(description, str):
            self.add(f"{where} ({trig!r}): 'description' must be a str", trigger=trig)
            description = ""
        try:
            return Exit(trig, stage, resolved, description)
        except (TypeError, ValueError) as err:  # an empty name, a non-identifier trigger
            self.add(f"{where}: {_text(err)}", trigger=trig)
            self._moves.append(_partial_move(ed, "trigger", None, "stage"))
            return None

    def funnel(self, data: Mapping[str, Any]) -> tuple[str, ...]:
        """The ``funnel`` order; a malformed one is reported and left out (no other rule
        reads it; its stage names are checked with the rules)."""
        value = data.get("funnel", [])
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return tuple(value)
        self.add(f"'funnel' must be a list of stage names, got {_short(value)}")
        return ()

    def items(self, data: Mapping[str, Any], key: str) -> list[Any]:
        """The list under ``key`` (missing: empty).  When the stages or the transitions
        (or exits) cannot be read as a list, that is noted for the rules."""
        value = data.get(key, [])
        if key in data and not isinstance(value, list):
            self.add(f"{key!r} must be a list, got {type(value).__name__}")
        if isinstance(value, list) and (key in data or key not in _DEF_REQUIRED):
            return value
        if key == "stages":
            self._stages_unread = True
        elif key in ("transitions", "exits"):
            self._moves.append(Move())  # any trigger, from anywhere, to anywhere
        return []


@attrs.frozen
class _ReadFields:
    """The parts of a dict that could be read, handed to validation as a definition's
    fields when some could not (no definition is built then)."""

    name: Any
    stages: tuple[Stage, ...]
    transitions: tuple[Transition, ...]
    timeouts: tuple[Timeout, ...]
    funnel: tuple[str, ...]
    exits: tuple[Any, ...]
    goals: tuple[Any, ...] = ()
    version: Any = 1
    description: Any = ""
    policy: Any = "ignore"
    metadata: Mapping[str, Any] = attrs.field(factory=dict)
    entry: Any = "once"

    @property
    def funnel_declared(self) -> bool:
        return bool(self.funnel)


def _is_source(value: Any) -> bool:
    return isinstance(value, str) or (
        isinstance(value, list) and all(isinstance(s, str) for s in value)
    )


def _is_dest(value: Any) -> bool:
    return value is None or isinstance(value, str)


def _partial_move(obj: Any, trigger: str, source: str | None, dest: str) -> Move:
    """What can be made out of a transition or exit ``obj`` that cannot be read whole
    (``source=None``: it starts from every stage, as an exit does)."""
    if not isinstance(obj, Mapping):
        return Move()
    trig = obj.get(trigger)
    sources: tuple[str, ...] | None = None
    raw = obj.get(source) if source is not None else None
    if isinstance(raw, str) and raw != WILDCARD:
        sources = (raw,)
    elif isinstance(raw, list) and raw and all(isinstance(s, str) for s in raw):
        sources = None if WILDCARD in raw else tuple(raw)
    to = obj.get(dest, _MISSING)
    return Move(
        trigger=trig if isinstance(trig, str) else None,
        sources=sources,
        dest=to if isinstance(to, str) else None,
        dest_known=isinstance(to, str) or (to is None and dest == "dest"),
    )


_MISSING = object()


def definition_from_dict(
    data: Mapping[str, Any],
    *,
    guards: Mapping[str, Guard] | Iterable[Guard] | None,
    build: Callable[..., D],
) -> D:
    """The definition ``build`` (the definition class, handed in: this module is below it)
    makes of ``data``; every problem of the dict and of the definition raised at once."""
    reader = _Reader(_registry(guards))
    add = reader.add
    _keys(data, _DEF_KEYS, _DEF_REQUIRED, "definition", reader.problems)
    if not isinstance(data, Mapping):
        raise DefinitionError(reader.problems)
    name = data.get("name")
    if "name" in data and not isinstance(name, str):
        add(f"'name' must be a str, got {type(name).__name__}")
    stages = [s for i, sd in enumerate(reader.items(data, "stages")) if (s := reader.stage(i, sd))]
    transitions = [
        t
        for i, td in enumerate(reader.items(data, "transitions"))
        if (t := reader.transition(i, td))
    ]
    timeouts = [
        to for i, tod in enumerate(reader.items(data, "timeouts")) if (to := reader.timeout(i, tod))
    ]
    funnel = reader.funnel(data)
    exits = [e for i, ed in enumerate(reader.items(data, "exits")) if (e := reader.exit(i, ed))]
    rest = {k: data[k] for k in ("version", "description", "policy") if k in data}
    goals = []
    for i, gd in enumerate(reader.items(data, "goals")):
        goal = goal_from_json(gd, f"goals[{i}]")
        if isinstance(goal, str):
            add(goal)
        else:
            goals.append(goal)
    if goals:
        rest["goals"] = tuple(goals)
    if "entry" in data:  # a word, or a cooldown in seconds (checked by the definition)
        rest["entry"] = entry_from_json(data["entry"])
    if "metadata" in data:
        try:
            rest["metadata"] = freeze_mapping(data["metadata"])
        except (TypeError, ValueError) as err:
            add(f"definition: {_text(err)}")
    label = name if isinstance(name, str) else None
    parts: dict[str, Any] = {
        "name": label if label is not None else "?",
        "stages": tuple(stages),
        "transitions": tuple(transitions),
        "timeouts": tuple(timeouts),
        "funnel": funnel,
        "exits": tuple(exits),
        **rest,
    }
    unread = reader.unread()
    if unread != ALL_READ:
        # No definition can be built without the missing parts; the rules still run on
        # the parts that were read, and skip only what would echo the missing ones.
        fields = _ReadFields(**parts)
        found, *_ = compile_and_validate(fields, unread)
        found.extend(entry_problems(fields.entry))
        raise DefinitionError([*reader.problems, *found], name=label)
    try:
        # the definition's own validation runs here; its problems join the dict's
        definition = build(**parts)
    except DefinitionError as err:
        raise DefinitionError([*reader.problems, *err.problems], name=label) from None
    if reader.problems:
        raise DefinitionError(reader.problems, name=label)
    return definition


def _short(value: Any, limit: int = 60) -> str:
    """``repr(value)`` cut to ``limit`` characters, for messages about arbitrary input."""
    try:
        text = repr(value)
    except ValueError:  # int too large to print (Python 3.11+)
        text = f"<{type(value).__name__}>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _text(err: Exception) -> str:
    """The readable part of an error (attrs validators put extra objects in ``args``)."""
    first = err.args[0] if err.args else None
    return first if isinstance(first, str) else str(err)
