"""Measure journeys: replay event logs, funnels, conversion, time in stage, what-if.

Replay a log of past events through a definition, then count where the journeys went:

>>> import pathlib, tempfile
>>> from journeyfsm import templates
>>> from journeyfsm.analytics import LogMapping, funnel, replay
>>> log = pathlib.Path(tempfile.mkdtemp()) / "events.csv"
>>> _ = log.write_text("who,what,when\\nc1,engage,2026-01-05T09:00:00Z\\n"
...                    "c2,engage,2026-01-05T10:00:00Z\\nc2,want,2026-01-06T10:00:00Z\\n")
>>> result = replay(templates.aida(), log, LogMapping(key="who", event="what", time="when"))
>>> f = funnel(result.journeys.values(), templates.aida())
>>> [(s.stage, s.reached) for s in f.stages[:3]]
[('attention', 2), ('interest', 2), ('desire', 1)]

Every result is a frozen record with ``to_dict()``; ``to_csv``/``to_json``/``write`` export
them and ``render_funnel`` prints them as a table.  Guides: docs/measuring.md,
docs/replay.md, docs/analytics.md.
"""

from ._breakdown import NONE_GROUP, breakdown
from ._compare import compare
from ._dask import replay_dask, split_by_key
from ._forecast import ChainTransition, JourneyChain, Reach, ReachRow, StageTime, fit_chain
from ._forecast_sim import Forecast
from ._funnel import funnel
from ._goalstats import GoalStats, goal_conversion
from ._mapping import BadRowError, LogMapping, MappingError, ReplayError
from ._render import human_duration, render_breakdown, render_comparison, render_funnel
from ._replay import replay
from ._replay_result import ReplayResult
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
from ._tables import (
    ALL_GROUP,
    BREAKDOWN_COLUMNS,
    COMPARISON_COLUMNS,
    FUNNEL_COLUMNS,
    to_csv,
    to_json,
    write,
)
from ._whatif import what_if

__all__ = [
    "ALL_GROUP",
    "BREAKDOWN_COLUMNS",
    "COMPARISON_COLUMNS",
    "FUNNEL_COLUMNS",
    "NONE_GROUP",
    "BadRow",
    "BadRowError",
    "Breakdown",
    "ChainTransition",
    "Comparison",
    "DurationStats",
    "Forecast",
    "Funnel",
    "GoalStats",
    "JourneyChain",
    "LogMapping",
    "MappingError",
    "Reach",
    "ReachRow",
    "ReplayError",
    "ReplayResult",
    "ReplaySummary",
    "StageDifference",
    "StageStats",
    "StageTime",
    "TransitionCount",
    "TriggerCounts",
    "breakdown",
    "compare",
    "fit_chain",
    "funnel",
    "goal_conversion",
    "human_duration",
    "render_breakdown",
    "render_comparison",
    "render_funnel",
    "replay",
    "replay_dask",
    "split_by_key",
    "to_csv",
    "to_json",
    "what_if",
    "write",
]
