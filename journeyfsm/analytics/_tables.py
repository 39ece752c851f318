"""CSV and JSON exports of analytics results, and ``write`` choosing by file suffix.

CSV has one row per stage (per group and stage for a breakdown), figures as columns,
durations in seconds, empty cells where a figure is ``None``.  The column order is fixed
(the ``*_COLUMNS`` tuples below) so scripts and spreadsheets can rely on it.  JSON is
the record's ``to_dict()``, indented.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from ._results import Breakdown, Comparison, Funnel, ReplaySummary, StageStats

__all__ = [
    "ALL_GROUP",
    "BREAKDOWN_COLUMNS",
    "COMPARISON_COLUMNS",
    "FUNNEL_COLUMNS",
    "to_csv",
    "to_json",
    "write",
]

#: the columns of a funnel's CSV, in order
FUNNEL_COLUMNS = (
    "stage",
    "in_funnel",
    "entered",
    "reached",
    "current",
    "conversion",
    "drop_off",
    "time_to_stage_count",
    "time_to_stage_median_seconds",
    "time_to_stage_p90_seconds",
    "time_in_stage_count",
    "time_in_stage_median_seconds",
    "time_in_stage_p90_seconds",
)
#: a breakdown's CSV: what grouped it, the group, then a funnel's columns
BREAKDOWN_COLUMNS = ("by", "group", *FUNNEL_COLUMNS)
#: a comparison's CSV: one row per stage of either definition
COMPARISON_COLUMNS = (
    "stage",
    "reached_a",
    "reached_b",
    "reached_change",
    "current_a",
    "current_b",
    "conversion_a",
    "conversion_b",
)
#: the ``group`` of a breakdown's total rows (they come first)
ALL_GROUP = "(all)"

Result = Funnel | Breakdown | Comparison


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value) if isinstance(value, float) else str(value)


def _stage_row(s: StageStats) -> list[Any]:
    to, within = s.time_to_stage.to_dict(), s.time_in_stage.to_dict()
    return [
        s.stage,
        s.in_funnel,
        s.entered,
        s.reached,
        s.current,
        s.conversion,
        s.drop_off,
        to["count"],
        to["median_seconds"],
        to["p90_seconds"],
        within["count"],
        within["median_seconds"],
        within["p90_seconds"],
    ]


def _rows(result: Result) -> tuple[Sequence[str], Iterable[list[Any]]]:
    if isinstance(result, Funnel):
        return FUNNEL_COLUMNS, (_stage_row(s) for s in result.stages)
    if isinstance(result, Breakdown):
        parts = [(ALL_GROUP, result.total), *result.groups.items()]
        return BREAKDOWN_COLUMNS, (
            [result.by, group, *_stage_row(s)] for group, f in parts for s in f.stages
        )
    if isinstance(result, Comparison):
        return COMPARISON_COLUMNS, (
            [
                d.stage,
                d.reached_a,
                d.reached_b,
                d.reached_change,
                d.current_a,
                d.current_b,
                d.conversion_a,
                d.conversion_b,
            ]
            for d in result.stages
        )
    raise TypeError(f"to_csv takes a Funnel, Breakdown or Comparison, got {type(result).__name__}")


def to_csv(result: Result) -> str:
    """The result as CSV text (header row first; columns as in ``FUNNEL_COLUMNS`` etc.).

    >>> from journeyfsm import JourneyMachine, templates
    >>> from journeyfsm.analytics import funnel, to_csv
    >>> machine = JourneyMachine(templates.aida())
    >>> text = to_csv(funnel([machine.start("a")], templates.aida()))
    >>> text.splitlines()[1]
    'attention,true,1,1,1,0.0,1,1,0.0,0.0,0,,'
    """
    columns, rows = _rows(result)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(v) for v in row])
    return out.getvalue()


def to_json(result: Result | ReplaySummary) -> str:
    """The result's ``to_dict()`` as indented JSON text (ends with a newline).

    >>> from journeyfsm import templates
    >>> from journeyfsm.analytics import funnel, to_json
    >>> import json
    >>> json.loads(to_json(funnel([], templates.aida())))["order"]
    ['attention', 'interest', 'desire', 'action']
    """
    if not isinstance(result, (Funnel, Breakdown, Comparison, ReplaySummary)):
        raise TypeError(
            "to_json takes a Funnel, Breakdown, Comparison or ReplaySummary, "
            f"got {type(result).__name__}"
        )
    return json.dumps(result.to_dict(), indent=2) + "\n"


def write(result: Result, path: str | os.PathLike[str]) -> Path:
    """Write ``result`` to ``path`` as CSV (``.csv``) or JSON (``.json``); the path.

    >>> import tempfile, pathlib
    >>> from journeyfsm import templates
    >>> from journeyfsm.analytics import funnel, write
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     out = write(funnel([], templates.aida()), pathlib.Path(tmp) / "aida.csv")
    ...     out.read_text().split(",")[0]
    'stage'
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(
            f"write() takes the path to write (a .csv or .json file name), got {path!r} "
            f"({type(path).__name__})"
        )
    target = Path(path)
    suffix = target.suffix.lower()
    if suffix == ".csv":
        text = to_csv(result)
    elif suffix == ".json":
        text = to_json(result)
    else:
        raise ValueError(
            f"cannot tell the format of {str(target)!r} from its suffix {target.suffix!r}; "
            "name the file .csv or .json"
        )
    with open(target, "w", encoding="utf-8", newline="") as f:
        f.write(text)
    return target
