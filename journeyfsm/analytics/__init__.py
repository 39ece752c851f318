"""Measure journeys: replay event logs, funnels, conversion, time in stage, what-if.

The results are frozen records with ``to_dict()``:

>>> from journeyfsm.analytics import DurationStats
>>> DurationStats(count=0, median=None, p90=None).to_dict()
{'count': 0, 'median_seconds': None, 'p90_seconds': None}
"""

from ._mapping import BadRowError, LogMapping, MappingError, ReplayError  # replay
from ._replay import ReplayResult, replay  # replay
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

# -- replay of event logs (issue 10, parts 1 and 2) --
__all__ += [
    "BadRowError",
    "LogMapping",
    "MappingError",
    "ReplayError",
    "ReplayResult",
    "replay",
]
