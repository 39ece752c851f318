"""Definitions named on the command line: a template name, a JSON definition file, or
``MODULE:ATTR`` naming the host's machine or definition.

Below the command modules that take such a reference (_main.py's validate and show,
_diagram.py, _replay.py): they import it, it imports none of them.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import templates
from .._definition import JourneyDefinition
from .._errors import DefinitionError, Problem, close_matches
from .._guards import Guard, guard
from .._records import Context
from ._fail import InputProblems

if TYPE_CHECKING:
    from ..analytics import LogMapping

__all__ = ["UsageError", "import_target", "load_definition", "load_mapping", "template"]


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


def load_mapping(path: str) -> LogMapping:
    """``--map FILE``: missing or unreadable is a usage error (exit 2); a file that is not
    JSON or not a mapping holds problems (exit 1)."""
    from ..analytics import LogMapping, MappingError  # imported on use: analytics is big

    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise UsageError(f"cannot read the log mapping {path!r}: {err}") from None
    try:
        return LogMapping.from_dict(json.loads(text))
    except json.JSONDecodeError as err:
        raise InputProblems(
            f"the log mapping {path!r} is not valid JSON: {err.msg} at line {err.lineno}, "
            f"column {err.colno}"
        ) from None
    except (MappingError, TypeError, ValueError, AttributeError) as err:
        raise InputProblems(f"the log mapping {path!r}: {err}") from None


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


def import_target(
    ref: str, option: str, kinds: tuple[type, ...], error: type[Exception] = UsageError
) -> Any:
    """The object ``MODULE:ATTR`` names (``ATTR`` may be dotted), one of ``kinds``; an
    attribute that is none of them but callable is called (a factory).

    The current directory is put on the import path first, as ``python -m journeyfsm``
    has it, so the console script finds the host's modules where the user runs it.
    Anything else raises ``error`` with a message that begins with ``option`` and says
    the fix.
    """
    module_name, sep, attr = ref.partition(":")
    if not sep or not module_name or not attr:
        raise error(f"{option} takes module:attribute (e.g. myshop.journeys:machine), got {ref!r}")
    _cwd_on_path()
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise error(
            f"{option} {ref}: cannot import {module_name!r} ({err}); run from your project's "
            "directory or put it on PYTHONPATH"
        ) from None
    target: Any = module
    try:
        for part in attr.split("."):
            target = getattr(target, part)
    except AttributeError:
        raise error(f"{option} {ref}: module {module_name!r} has no {attr!r}") from None
    if not isinstance(target, kinds) and callable(target):
        target = target()
    if not isinstance(target, kinds):
        wanted = " or ".join(k.__name__ for k in kinds)
        raise error(
            f"{option} {ref} is a {type(target).__name__}, not a {wanted} (or a function "
            "returning one)"
        )
    return target


def _cwd_on_path() -> None:
    """Put the working directory first on ``sys.path`` unless it is there (``''`` too)."""
    cwd = os.getcwd()
    if "" not in sys.path and cwd not in sys.path and os.curdir not in sys.path:
        sys.path.insert(0, cwd)
