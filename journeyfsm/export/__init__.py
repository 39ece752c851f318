"""Draw a journey: Mermaid, Graphviz DOT and SVG diagrams, a funnel chart, an HTML report.

Every diagram is read from the definition's compiled table, the one ``fire`` runs on,
and can be annotated with a :class:`~journeyfsm.analytics.Funnel`'s counts.  The output
is deterministic: the same input gives the same text.

>>> from journeyfsm import templates
>>> from journeyfsm.export import to_mermaid
>>> print(to_mermaid(templates.aida()))  # doctest: +ELLIPSIS
%% journey aida version 1
stateDiagram-v2
    state "attention" as s0
...
    s0 --> s1 : engage
...
"""

from __future__ import annotations

import os
from pathlib import Path

from .._definition import JourneyDefinition
from ..analytics import Breakdown, Comparison, Funnel, ReplaySummary
from ._chart import render_funnel_chart
from ._dot import render_dot
from ._graph import build_diagram
from ._html import render_report
from ._mermaid import render_mermaid
from ._svg import render_svg

__all__ = ["funnel_svg", "html_report", "to_dot", "to_mermaid", "to_svg", "write_report"]


def to_mermaid(definition: JourneyDefinition, *, funnel: Funnel | None = None) -> str:
    """The Mermaid ``stateDiagram-v2`` text of ``definition``.

    With ``funnel`` (computed for this definition), each stage shows the journeys that
    entered it and are in it now, each edge its moves and conversion.

    >>> from journeyfsm import templates
    >>> text = to_mermaid(templates.aida())
    >>> "[*] --> s0" in text, "s3 --> [*]" in text
    (True, True)
    """
    return render_mermaid(build_diagram(definition, funnel))


def to_dot(definition: JourneyDefinition, *, funnel: Funnel | None = None) -> str:
    """The Graphviz DOT text of ``definition`` (render it with ``dot -Tsvg``).

    >>> from journeyfsm import templates
    >>> to_dot(templates.aida()).splitlines()[0]
    'digraph "aida" {'
    """
    return render_dot(build_diagram(definition, funnel))


def to_svg(definition: JourneyDefinition, *, funnel: Funnel | None = None) -> str:
    """An SVG drawing of ``definition`` (own layout, no Graphviz needed).

    >>> from journeyfsm import templates
    >>> to_svg(templates.aida()).count('class="stage')  # attention ... action, lost
    5
    """
    return render_svg(build_diagram(definition, funnel))


def funnel_svg(funnel: Funnel) -> str:
    """An SVG funnel chart: a bar per funnel stage, conversion and drop-off between bars.

    >>> from journeyfsm.analytics import DurationStats, Funnel, StageStats
    >>> none = DurationStats(0, None, None)
    >>> stage = StageStats("visit", True, 10, 10, 10, None, 0, none, none)
    >>> funnel_svg(Funnel("d", 1, 10, ("visit",), (stage,), (), {})).startswith("<svg")
    True
    """
    return render_funnel_chart(funnel)


def _check_report_args(
    definition: object,
    funnel: object,
    summary: object,
    breakdown: object,
    comparison: object,
    title: object,
) -> None:
    expected: list[tuple[str, object, type, bool]] = [
        ("definition", definition, JourneyDefinition, False),
        ("funnel", funnel, Funnel, False),
        ("summary", summary, ReplaySummary, True),
        ("breakdown", breakdown, Breakdown, True),
        ("comparison", comparison, Comparison, True),
        ("title", title, str, True),
    ]
    for name, value, kind, optional in expected:
        if optional and value is None:
            continue
        if not isinstance(value, kind):
            where = "journeyfsm" if kind is JourneyDefinition else kind.__module__
            if where.startswith("journeyfsm.analytics"):
                where = "journeyfsm.analytics"
            wanted = kind.__name__ if kind is str else f"{where}.{kind.__name__}"
            raise TypeError(
                f"html_report: {name} must be a {wanted}{' or None' if optional else ''}, "
                f"got {type(value).__name__}"
            )


def html_report(
    definition: JourneyDefinition,
    *,
    funnel: Funnel,
    summary: ReplaySummary | None = None,
    breakdown: Breakdown | None = None,
    comparison: Comparison | None = None,
    title: str | None = None,
) -> str:
    """One self-contained HTML page: diagram with counts, funnel chart and table, triggers,
    the replay ``summary`` (warnings first), a ``breakdown`` and a what-if ``comparison``.

    Inline CSS and SVG only: it opens in a browser with no network and runs no script.

    >>> from journeyfsm import templates
    >>> from journeyfsm.analytics import DurationStats, Funnel, StageStats
    >>> d = templates.aida()
    >>> none = DurationStats(0, None, None)
    >>> stages = tuple(StageStats(s, False, 0, 0, 0, None, 0, none, none) for s in d.stage_names)
    >>> page = html_report(d, funnel=Funnel("aida", 1, 0, (), stages, (), {}))
    >>> page.startswith("<!DOCTYPE html>"), "<script" in page
    (True, False)
    """
    _check_report_args(definition, funnel, summary, breakdown, comparison, title)
    return render_report(
        definition,
        funnel=funnel,
        summary=summary,
        breakdown=breakdown,
        comparison=comparison,
        title=title,
    )


def write_report(
    path: str | os.PathLike[str],
    definition: JourneyDefinition,
    *,
    funnel: Funnel,
    summary: ReplaySummary | None = None,
    breakdown: Breakdown | None = None,
    comparison: Comparison | None = None,
    title: str | None = None,
) -> Path:
    """Write :func:`html_report` to ``path`` (UTF-8) and return the path.

    >>> import tempfile
    >>> from journeyfsm import templates
    >>> from journeyfsm.analytics import DurationStats, Funnel, StageStats
    >>> d = templates.aida()
    >>> none = DurationStats(0, None, None)
    >>> stages = tuple(StageStats(s, False, 0, 0, 0, None, 0, none, none) for s in d.stage_names)
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     out = write_report(f"{tmp}/aida.html", d, funnel=Funnel("aida", 1, 0, (), stages, (), {}))
    ...     out.name, out.stat().st_size > 1000
    ('aida.html', True)
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"write_report: path must be a str or a path, got {type(path).__name__}")
    target = Path(path)
    text = html_report(
        definition,
        funnel=funnel,
        summary=summary,
        breakdown=breakdown,
        comparison=comparison,
        title=title,
    )
    if not target.parent.is_dir():
        raise FileNotFoundError(
            f"cannot write the report to {target}: the folder {target.parent} does not exist; "
            "create it first or choose another path"
        )
    target.write_text(text, encoding="utf-8")
    return target
