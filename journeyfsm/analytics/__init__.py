"""Measure journeys: replay event logs, funnels, conversion, time in stage, what-if.

The results are frozen records with ``to_dict()``:

>>> from journeyfsm.analytics import DurationStats
>>> DurationStats(count=0, median=None, p90=None).to_dict()
{'count': 0, 'median_seconds': None, 'p90_seconds': None}
"""

from ._results import (
    BadRow,
    Breakdown,
    Comparison,
    DurationStats,
    Funnel,
    ReplaySummary,
    StageDifference,
    StageStats,
    TransitionCount,
    TriggerCounts,
)

__all__ = [
    "BadRow",
    "Breakdown",
    "Comparison",
    "DurationStats",
    "Funnel",
    "ReplaySummary",
    "StageDifference",
    "StageStats",
    "TransitionCount",
    "TriggerCounts",
]

# -- funnels, breakdowns, what-if, exports and text tables -------------------------------
from ._breakdown import NONE_GROUP, breakdown
from ._compare import compare
from ._funnel import funnel
from ._render import human_duration, render_breakdown, render_comparison, render_funnel
from ._tables import (
    ALL_GROUP,
    BREAKDOWN_COLUMNS,
    COMPARISON_COLUMNS,
    FUNNEL_COLUMNS,
    to_csv,
    to_json,
    write,
)

__all__ += [
    "ALL_GROUP",
    "BREAKDOWN_COLUMNS",
    "COMPARISON_COLUMNS",
    "FUNNEL_COLUMNS",
    "NONE_GROUP",
    "breakdown",
    "compare",
    "funnel",
    "human_duration",
    "render_breakdown",
    "render_comparison",
    "render_funnel",
    "to_csv",
    "to_json",
    "write",
]
