"""Merging replay results of disjoint sets of journeys (partitions of one log by key).

A log split by journey key (every row of a key in the same part) replays part by part,
on as many processes or machines as there are parts, and the results add up to the
replay of the whole log: each journey's events are all in its part, so its journey is
the one the whole replay makes, and every count of the summary is a sum.  What does not
add up is said in :func:`merge_results`' docstring and in docs/replay.md.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from .._records import Journey
from ._mapping import ReplayError
from ._results import BadRow, ReplaySummary, TriggerCounts

__all__ = ["Part", "merge_parts"]

#: what a part contributes: its journeys, segments and summary
Part = tuple[Mapping[str, Journey], Mapping[str, Mapping[str, str]], ReplaySummary]


def merge_parts(
    parts: Sequence[Part],
) -> tuple[dict[str, Journey], dict[str, Mapping[str, str]], ReplaySummary]:
    """The journeys, segments and summary of the replays of disjoint parts of a log
    (split by journey key) through the same definition (``ReplayResult.merge``).

    Journeys and segments are the union (a key in two parts is a ``ReplayError``: the
    log was not split by key); every count of the summary is the sum of the parts'
    (rows, events, journeys, per trigger outcomes, skipped names, bad rows, timeouts
    fired); ``seconds`` is the longest part's (they ran side by side); ``warnings`` are
    the parts' distinct warnings; ``bad_rows`` keep each part's own line numbers;
    ``engine`` is the parts' engine (``"mixed"`` when they differ).  The parts must share
    definition, timezone and end of observation.
    """
    if not parts:
        raise ValueError("ReplayResult.merge() needs at least one result")
    summaries = [p[2] for p in parts]
    for what in ("definition", "version", "timezone", "end"):
        values = {getattr(s, what) for s in summaries}
        if len(values) > 1:
            raise ReplayError(
                f"cannot merge replays with different {what}s ({', '.join(map(str, values))}): "
                "replay every part through the same definition, mapping and end"
            )
    journeys: dict[str, Journey] = {}
    segments: dict[str, Mapping[str, str]] = {}
    for part_journeys, part_segments, _ in parts:
        for key in part_journeys:
            if key in journeys:
                raise ReplayError(
                    f"journey {key!r} is in two parts: split the log by journey key (every row "
                    "of a key in one part) before replaying the parts",
                    key=key,
                )
        journeys.update(part_journeys.items())
        segments.update(part_segments)
    return journeys, segments, _summary(summaries)


def _summary(summaries: list[ReplaySummary]) -> ReplaySummary:
    first = summaries[0]
    triggers: dict[str, list[int]] = {}
    for s in summaries:
        for t in s.triggers:
            row = triggers.setdefault(t.trigger, [0, 0, 0, 0, 0])
            for i, n in enumerate((t.moved, t.blocked, t.ignored, t.duplicate, t.timeouts)):
                row[i] += n
    skipped: dict[str, int] = {}
    for s in summaries:
        for name, n in s.skipped.items():
            skipped[name] = skipped.get(name, 0) + n
    bad: list[BadRow] = [b for s in summaries for b in s.bad_rows][:100]
    engines = {s.engine for s in summaries}
    warnings = tuple(dict.fromkeys(w for s in summaries for w in s.warnings))
    return ReplaySummary(
        source=", ".join(dict.fromkeys(s.source for s in summaries)),
        definition=first.definition,
        version=first.version,
        rows_read=sum(s.rows_read for s in summaries),
        events_applied=sum(s.events_applied for s in summaries),
        journeys=sum(s.journeys for s in summaries),
        triggers=tuple(TriggerCounts(t, *row) for t, row in sorted(triggers.items())),
        skipped=dict(sorted(skipped.items(), key=lambda kv: (-kv[1], kv[0]))),
        bad_rows=tuple(bad),
        bad_row_count=sum(s.bad_row_count for s in summaries),
        timeouts_fired=sum(s.timeouts_fired for s in summaries),
        timezone=first.timezone,
        end=first.end,
        fast_path=all(s.fast_path for s in summaries),
        seconds=max(s.seconds for s in summaries),
        warnings=warnings,
        engine=engines.pop() if len(engines) == 1 else "mixed",
        engine_note="; ".join(dict.fromkeys(s.engine_note for s in summaries if s.engine_note)),
        partitions=sum(s.partitions for s in summaries),
    )
