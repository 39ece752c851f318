"""The plain-dict (JSON-able) form of a definition, and reading it back.

Guards travel by name: a leaf is its registered name, composites are
``{"all": [...]}``, ``{"any": [...]}`` and ``{"not": ...}``.

Reading never raises anything but ``DefinitionError``, and reports the problems of the
dict itself (unknown or missing keys, wrong types, unregistered guards) together with
the definition's own rule problems (unreachable stages, dead ends, ...) in that one
error.  To run the rules on a dict with problems, the reader salvages what it can:
an unknown key is left out, a bad ``description`` or ``metadata`` is left out, an
unregistered or malformed guard reference becomes a stand-in guard of the same name,
a bad timeout or ``funnel`` order is left out (no other rule reads them).  Only when a part the rules
depend on cannot be read (a stage's name or flags, a transition's trigger, source or
dest, a list that is not a list) are the rules not run, since they would report
problems that are only echoes of the missing part."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

from ._clock import span_seconds
from ._columns import expr_from_ref
from ._errors import DefinitionError, Problem
from ._goals import goal_from_json, goal_to_json
from ._guards import AllOf, AnyOf, Guard, Not, guard
from ._json import freeze_mapping, thaw
from ._parts import DefinitionFields, Stage, Timeout, Transition
from ._rules import Exit, entry_from_json, entry_to_json

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
    """One reading of a definition dict: the problems found, and whether every part the
    rules depend on could be read (``complete``)."""

    def __init__(self, registry: dict[str, Guard]) -> None:
        self.problems: list[Problem] = []
        self.complete = True
        self.registry = registry
        self._stand_ins: dict[str, Guard] = {}

    def add(
        self, message: str, *, stage: Any = None, trigger: Any = None, rules: bool = True
    ) -> None:
        """Record a problem; ``rules=False`` when the rules cannot run without the part."""
        self.problems.append(
            Problem(
                message,
                stage=stage if isinstance(stage, str) else None,
                trigger=trigger if isinstance(trigger, str) else None,
            )
        )
        if not rules:
            self.complete = False

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
            self.complete = False
            return None
        name = sd["name"]
        if not isinstance(name, str):
            self.add(f"{where}: 'name' must be a str, got {type(name).__name__}", rules=False)
            return None
        flags = {"initial": False, "final": False}
        for flag in flags:
            value = sd.get(flag, False)
            if isinstance(value, bool):
                flags[flag] = value
            else:
                self.add(
                    f"{where} ({name!r}): {flag!r} must be true or false, got {_short(value)}",
                    stage=name,
                    rules=False,
                )
        extra = self.cosmetic(sd, f"{where} ({name!r})", stage=name)
        return Stage(name, initial=flags["initial"], final=flags["final"], **extra)

    def transition(self, i: int, td: Any) -> Transition | None:
        where = f"transitions[{i}]"
        if not _keys(td, _TRANS_KEYS, {"trigger", "source", "dest"}, where, self.problems):
            self.complete = False
            return None
        trig = td["trigger"]
        if not isinstance(trig, str):
            self.add(f"{where}: 'trigger' must be a str, got {type(trig).__name__}", rules=False)
            return None
        where = f"{where} ({trig!r})"
        source, dest, refs = td["source"], td["dest"], td.get("guards", [])
        ok = True
        if not (
            isinstance(source, str)
            or (isinstance(source, list) and all(isinstance(s, str) for s in source))
        ):
            self.add(
                f"{where}: 'source' must be a stage name, a list of stage names or '*', "
                f"got {_short(source)}",
                trigger=trig,
                rules=False,
            )
            ok = False
        if dest is not None and not isinstance(dest, str):
            self.add(
                f"{where}: 'dest' must be a stage name or null (internal transition), "
                f"got {_short(dest)}",
                trigger=trig,
                rules=False,
            )
            ok = False
        if not isinstance(refs, list):
            self.add(
                f"{where}: 'guards' must be a list of guard references, got {type(refs).__name__}",
                trigger=trig,
                rules=False,
            )
            ok = False
        resolved = [self.guard_ref(r, trig) for r in refs] if isinstance(refs, list) else []
        extra = self.cosmetic(td, where, trigger=trig)
        if not ok:
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
            self.complete = False
            return None
        trig, stage, refs = ed["trigger"], ed["stage"], ed.get("guards", [])
        if not isinstance(trig, str) or not isinstance(stage, str):
            self.add(f"{where}: 'trigger' and 'stage' must be str, got {_short(ed)}", rules=False)
            return None
        if not isinstance(refs, list):
            self.add(
                f"{where} ({trig!r}): 'guards' must be a list of guard references, "
                f"got {type(refs).__name__}",
                trigger=trig,
                rules=False,
            )
            return None
        resolved = [self.guard_ref(r, trig) for r in refs]
        description = ed.get("description", "")
        if not isinstance(description, str):
            self.add(f"{where} ({trig!r}): 'description' must be a str", trigger=trig)
            description = ""
        return Exit(trig, stage, resolved, description)

    def funnel(self, data: Mapping[str, Any]) -> tuple[str, ...]:
        """The ``funnel`` order; a malformed one is reported and left out (no other rule
        reads it; its stage names are checked with the rules)."""
        value = data.get("funnel", [])
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return tuple(value)
        self.add(f"'funnel' must be a list of stage names, got {_short(value)}")
        return ()

    def items(self, data: Mapping[str, Any], key: str) -> list[Any]:
        value = data.get(key, [])
        if isinstance(value, list):
            return value
        self.add(f"{key!r} must be a list, got {type(value).__name__}", rules=key == "timeouts")
        return []


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
    if not _keys(data, _DEF_KEYS, {"name", "stages", "transitions"}, "definition", reader.problems):
        reader.complete = False
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
        rest["goals"] = goals
    if "entry" in data:  # a word, or a cooldown in seconds (checked by the definition)
        rest["entry"] = entry_from_json(data["entry"])
    if "metadata" in data:
        try:
            rest["metadata"] = freeze_mapping(data["metadata"])
        except (TypeError, ValueError) as err:
            add(f"definition: {_text(err)}")
    label = name if isinstance(name, str) else None
    if not reader.complete:
        raise DefinitionError(reader.problems, name=label)
    try:
        # the definition's own validation runs here; its problems join the dict's
        definition = build(
            name=label if label is not None else "?",
            stages=stages,
            transitions=transitions,
            timeouts=timeouts,
            funnel=funnel,
            exits=exits,
            **rest,
        )
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
