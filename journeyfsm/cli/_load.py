"""Definitions named on the command line: a template name or a JSON definition file.

Below the command modules that take such a reference (_main.py's validate and show,
_diagram.py, _replay.py): they import it, it imports none of them.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from .. import templates
from .._definition import JourneyDefinition
from .._errors import DefinitionError, Problem, close_matches
from .._guards import Guard, guard
from .._records import Context

__all__ = ["UsageError", "load_definition", "template"]


class UsageError(Exception):
    """A mistake in how the command was called; printed without a traceback, exit 2."""


def _read_json(path: str) -> tuple[Any, str | None]:
    """(data, None) or (None, what is wrong with the JSON); unreadable files -> usage error."""
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"no such file: {path}") from None
    except (OSError, UnicodeDecodeError) as err:
        raise UsageError(f"cannot read {path}: {err}") from None
    try:
        return json.loads(text), None
    except json.JSONDecodeError as err:
        return None, f"not valid JSON: {err.msg} at line {err.lineno}, column {err.colno}"


def _guard_names(ref: Any, found: dict[str, None]) -> None:
    """Collect the leaf guard names in a guard reference of the dict form."""
    if isinstance(ref, str):
        found.setdefault(ref, None)
    elif isinstance(ref, dict) and len(ref) == 1:
        ((_, arg),) = ref.items()
        for item in arg if isinstance(arg, list) else [arg]:
            _guard_names(item, found)


def _placeholders(data: Any) -> dict[str, Guard]:
    """A stand-in guard for every guard name the definition uses (guards are host code)."""
    names: dict[str, None] = {}
    transitions = data.get("transitions") if isinstance(data, dict) else None
    for t in transitions if isinstance(transitions, list) else []:
        refs = t.get("guards") if isinstance(t, dict) else None
        for ref in refs if isinstance(refs, list) else []:
            _guard_names(ref, names)
    return {name: guard(_never_called, name=name) for name in names}


def _never_called(ctx: Context) -> bool:  # pragma: no cover - validation never fires
    raise RuntimeError("placeholder guard from 'journeyfsm validate' was called")


def load_definition(path: str) -> JourneyDefinition:
    """Read a JSON definition file with placeholder guards; DefinitionError lists problems."""
    data, json_problem = _read_json(path)
    if json_problem is not None:
        raise DefinitionError([Problem(json_problem)], name=None)
    if not isinstance(data, dict):
        raise DefinitionError(
            [Problem(f"the file must hold a JSON object, got {type(data).__name__}")]
        )
    try:
        return JourneyDefinition.from_dict(data, guards=_placeholders(data))
    except DefinitionError:
        raise
    except (TypeError, ValueError, KeyError, AttributeError) as err:
        # a safety net: a shape from_dict did not foresee still becomes a Problem
        raise DefinitionError(
            [Problem(f"malformed definition ({type(err).__name__}: {err})")],
            name=data.get("name") if isinstance(data.get("name"), str) else None,
        ) from err


def template(name: str) -> JourneyDefinition:
    """The template ``name``; a usage error naming close matches and every template."""
    factories = templates.TEMPLATES
    factory = factories.get(name)
    if factory is None:
        close = close_matches(name, factories, cutoff=0.5)
        hint = f"did you mean {', '.join(close)}? " if close else ""
        raise UsageError(
            f"unknown template {name!r}; {hint}known templates: {', '.join(factories)} "
            "(or pass a .json definition file)"
        )
    return factory()
