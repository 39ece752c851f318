"""What :func:`~._replay.replay` gives back: :class:`ReplayResult`, and its merge."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import attrs

from .._definition import JourneyDefinition
from .._records import Journey
from ._merge import merge_parts
from ._results import ReplaySummary

__all__ = ["ReplayResult"]


@attrs.frozen
class ReplayResult:
    """What :func:`replay` gives back: the final ``journeys`` by key, each journey's
    ``segments`` (segment column -> first non-empty value) and the run ``summary``."""

    journeys: Mapping[str, Journey]
    segments: Mapping[str, Mapping[str, str]]
    summary: ReplaySummary
    definition: JourneyDefinition | None = None

    @classmethod
    def merge(cls, results: Iterable[ReplayResult]) -> ReplayResult:
        """One result from the replays of disjoint parts of a log, split by journey key
        (what :func:`replay_dask` does with its parts): journeys and segments united,
        every count summed (see docs/replay.md for what does not add up).

        >>> import tempfile, pathlib
        >>> from journeyfsm import templates
        >>> from journeyfsm.analytics import replay
        >>> tmp = pathlib.Path(tempfile.mkdtemp())
        >>> _ = (tmp / "a.csv").write_text("k,e,t\\nc1,engage,2026-01-01T10:00:00Z\\n")
        >>> _ = (tmp / "b.csv").write_text("k,e,t\\nc2,engage,2026-01-01T11:00:00Z\\n")
        >>> m = {"key": "k", "event": "e", "time": "t"}
        >>> parts = [replay(templates.aida(), tmp / name, m) for name in ("a.csv", "b.csv")]
        >>> whole = ReplayResult.merge(parts)
        >>> sorted(whole.journeys), whole.summary.events_applied, whole.stage_counts()["interest"]
        (['c1', 'c2'], 2, 2)
        """
        parts = list(results)
        for part in parts:
            if not isinstance(part, ReplayResult):
                raise TypeError(
                    f"ReplayResult.merge() takes ReplayResults, got {type(part).__name__}"
                )
        journeys, segments, summary = merge_parts(
            [(p.journeys, p.segments, p.summary) for p in parts]
        )
        return cls(journeys, segments, summary, parts[0].definition)

    @property
    def engine(self) -> str:
        """Which engine ran: ``"columnar"``, ``"fast"`` or ``"engine"`` (see :func:`replay`)."""
        return self.summary.engine

    def stage_counts(self) -> dict[str, int]:
        """Journeys per stage at the end: every stage of the definition, in its order."""
        counted = getattr(self.journeys, "stage_counts", None)
        if counted is not None:
            return counted()  # type: ignore[no-any-return]
        stages = self.definition.stage_names if self.definition is not None else ()
        counts = dict.fromkeys(stages, 0)
        for journey in self.journeys.values():
            counts[journey.stage] = counts.get(journey.stage, 0) + 1
        return counts
