"""How a failed command says so: one rule for every command.

Exit codes: 0 success; 1 a file was read and what it holds is wrong (not JSON, a
definition with problems, a malformed mapping or funnel file), no such journey, a run
that stopped; 2 the command line is wrong (an unknown command, option or template, a bad
option value, a file that is missing or unreadable, a name that is not there: a column,
a trigger, a module, a store that cannot be reached).

The message goes to stderr as text (``journeyfsm CMD: error: ...``). With ``--json``,
stdout also gets one JSON object, so a script reading stdout always reads one document:
``{"ok": false, "command": CMD, "exit": CODE, "error": MESSAGE}`` (with ``path`` and
``problems`` for a definition file's problems).

Below every command module: it imports none of them.
"""

from __future__ import annotations

import json
import sys
from typing import Any, TextIO

from .._errors import DefinitionError

__all__ = ["PROBLEMS", "USAGE", "InputProblems", "definition_problems", "fail", "json_failure"]

PROBLEMS, USAGE = 1, 2


class InputProblems(Exception):
    """A file was read and what it holds is wrong; printed without a traceback, exit 1."""


def json_failure(
    command: str,
    code: int,
    message: str,
    *,
    path: str | None = None,
    problems: list[str] | None = None,
) -> dict[str, Any]:
    """The JSON object a failed ``--json`` command prints on stdout."""
    report: dict[str, Any] = {"ok": False, "command": command, "exit": code, "error": message}
    if path is not None:
        report["path"] = path
    if problems is not None:
        report["problems"] = problems
    return report


def fail(
    command: str,
    code: int,
    message: str,
    *,
    as_json: bool,
    out: TextIO,
    err: TextIO,
    label: str = "error",
    path: str | None = None,
    problems: list[str] | None = None,
) -> int:
    """Say that ``command`` failed: text on ``err``; with ``as_json`` also JSON on ``out``.

    Returns ``code``, so a command ends with ``return fail(...)``.
    """
    print(f"journeyfsm {command}: {label}: {message}", file=err)
    if as_json:
        report = json_failure(command, code, message, path=path, problems=problems)
        print(json.dumps(report, indent=2, ensure_ascii=False), file=out)
    return code


def definition_problems(command: str, path: str, err: DefinitionError, out: TextIO) -> int:
    """A definition file's problems under ``--json``: the JSON error lists them (exit 1)."""
    problems = [p.message for p in err.problems]
    message = f"{path}: {len(problems)} problem(s)"
    return fail(
        command, PROBLEMS, message, as_json=True, out=out, err=sys.stderr, path=path,
        problems=problems,
    )  # fmt: skip
