"""The plain-dict (JSON-able) form of a definition, and reading it back.

Guards travel by name: a leaf is its registered name, composites are
``{"all": [...]}``, ``{"any": [...]}`` and ``{"not": ...}``.  Reading collects every
structural problem (unknown keys, missing keys, unknown guard names) into one
``DefinitionError`` before the definition's own validation runs."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from ._errors import DefinitionError, Problem
from ._guards import AllOf, AnyOf, Guard, Not
from ._json import thaw

if TYPE_CHECKING:
    from ._definition import JourneyDefinition

_DEF_KEYS = {
    "name",
    "version",
    "description",
    "policy",
    "metadata",
    "stages",
    "transitions",
    "timeouts",
}
_STAGE_KEYS = {"name", "initial", "final", "description", "metadata"}
_TRANS_KEYS = {"trigger", "source", "dest", "guards", "description", "metadata"}
_TIMEOUT_KEYS = {"stage", "after_seconds", "trigger"}


def _seconds(value: float) -> int | float:
    return int(value) if float(value).is_integer() else value


def definition_to_dict(d: JourneyDefinition) -> dict[str, Any]:
    return {
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
                "after_seconds": _seconds(to.after.total_seconds()),
                "trigger": to.trigger,
            }
            for to in d.timeouts
        ],
    }


def _check_keys(
    obj: Any, allowed: set[str], required: set[str], where: str, problems: list[Problem]
) -> bool:
    if not isinstance(obj, Mapping):
        problems.append(Problem(f"{where} must be a dict, got {type(obj).__name__}"))
        return False
    for k in sorted(set(obj) - allowed):
        problems.append(
            Problem(f"unknown key {k!r} in {where}; known keys: {', '.join(sorted(allowed))}")
        )
    for k in sorted(required - set(obj)):
        problems.append(Problem(f"{where} is missing the required key {k!r}"))
    return not (required - set(obj))


def _registry(guards: Mapping[str, Guard] | Iterable[Guard] | None) -> dict[str, Guard]:
    if guards is None:
        return {}
    if isinstance(guards, Mapping):
        return dict(guards)
    return {g.name: g for g in guards}


def _resolve(
    ref: Any, registry: dict[str, Guard], trigger: str, problems: list[Problem]
) -> Guard | None:
    if isinstance(ref, str):
        found = registry.get(ref)
        if found is None:
            known = ", ".join(sorted(registry)) or "none registered"
            problems.append(
                Problem(
                    f"transition {trigger!r} uses guard {ref!r}, which is not registered; "
                    f"pass guards=[...] to from_dict (registered: {known})",
                    trigger=trigger,
                )
            )
        return found
    if isinstance(ref, Mapping) and len(ref) == 1:
        ((op, arg),) = ref.items()
        if op in ("all", "any") and isinstance(arg, list) and arg:
            parts = [_resolve(a, registry, trigger, problems) for a in arg]
            if any(p is None for p in parts):
                return None
            ok = tuple(p for p in parts if p is not None)
            return AllOf(ok) if op == "all" else AnyOf(ok)
        if op == "not":
            inner = _resolve(arg, registry, trigger, problems)
            return None if inner is None else Not(inner)
    problems.append(
        Problem(
            f"transition {trigger!r} has a malformed guard reference {ref!r}; use a guard name, "
            "{'all': [...]}, {'any': [...]} or {'not': ...}",
            trigger=trigger,
        )
    )
    return None


def definition_from_dict(
    data: Mapping[str, Any], *, guards: Mapping[str, Guard] | Iterable[Guard] | None
) -> JourneyDefinition:
    from ._definition import JourneyDefinition, Stage, Timeout, Transition

    problems: list[Problem] = []
    name = data.get("name") if isinstance(data, Mapping) else None
    if not _check_keys(data, _DEF_KEYS, {"name", "stages", "transitions"}, "definition", problems):
        raise DefinitionError(problems, name=name if isinstance(name, str) else None)
    not_lists = [
        Problem(f"{k!r} must be a list, got {type(data[k]).__name__}")
        for k in ("stages", "transitions", "timeouts")
        if k in data and not isinstance(data[k], list)
    ]
    if not_lists:
        problems.extend(not_lists)
        raise DefinitionError(problems, name=name if isinstance(name, str) else None)
    registry = _registry(guards)
    stages: list[Stage] = []
    for i, sd in enumerate(data["stages"]):
        if _check_keys(sd, _STAGE_KEYS, {"name"}, f"stages[{i}]", problems):
            try:
                stages.append(Stage(**sd))
            except (TypeError, ValueError) as err:
                problems.append(Problem(f"stages[{i}]: {_text(err)}", stage=sd.get("name")))
    transitions: list[Transition] = []
    for i, td in enumerate(data["transitions"]):
        if not _check_keys(
            td, _TRANS_KEYS, {"trigger", "source", "dest"}, f"transitions[{i}]", problems
        ):
            continue
        trig = str(td["trigger"])
        refs = td.get("guards", [])
        if not isinstance(refs, list):
            problems.append(
                Problem(
                    f"transitions[{i}] ({trig!r}): 'guards' must be a list of "
                    f"guard references, got {type(refs).__name__}",
                    trigger=trig,
                )
            )
            continue
        resolved = [_resolve(r, registry, trig, problems) for r in refs]
        if any(g is None for g in resolved):
            continue
        try:
            transitions.append(Transition(**{**td, "guards": resolved}))
        except (TypeError, ValueError) as err:
            problems.append(Problem(f"transitions[{i}] ({trig!r}): {_text(err)}", trigger=trig))
    timeouts: list[Timeout] = []
    for i, tod in enumerate(data.get("timeouts", [])):
        if _check_keys(tod, _TIMEOUT_KEYS, _TIMEOUT_KEYS, f"timeouts[{i}]", problems):
            try:
                timeouts.append(Timeout(tod["stage"], tod["after_seconds"], tod["trigger"]))
            except (TypeError, ValueError) as err:
                problems.append(Problem(f"timeouts[{i}]: {_text(err)}", stage=tod.get("stage")))
    if problems:
        raise DefinitionError(problems, name=name if isinstance(name, str) else None)
    rest = {k: data[k] for k in ("version", "description", "policy", "metadata") if k in data}
    try:
        return JourneyDefinition(
            name=data["name"], stages=stages, transitions=transitions, timeouts=timeouts, **rest
        )
    except (TypeError, ValueError) as err:
        if isinstance(err, DefinitionError):
            raise
        raise DefinitionError(
            [Problem(f"definition: {_text(err)}")], name=name if isinstance(name, str) else None
        ) from err


def _text(err: Exception) -> str:
    """The readable part of an error (attrs validators put extra objects in ``args``)."""
    first = err.args[0] if err.args else None
    return first if isinstance(first, str) else str(err)
