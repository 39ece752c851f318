"""The run summary of a replay, and the loud warnings that keep silent zeroes out.

A replay that moved almost nothing usually has a mistake in its mapping (event names
that do not match, the wrong key column, times in another zone) rather than in the
journey: the counts alone read as "nobody converted".  So when most usable rows moved no
journey, or most rows were bad, the summary carries a warning line naming the top
reasons (the most common unmapped event names, the (stage, trigger) pairs most often
ignored or blocked), and replay logs it; :func:`more_warnings` adds what only the
whole run knows (events after the end of observation, times outside a plausible range)
and logs every warning.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from pathlib import Path

import attrs

from .._definition import JourneyDefinition
from .._logging import JourneyLog
from .._records import Journey
from ._logs import LogReader
from ._mapping import LogMapping, implausible
from ._results import BadRow, ReplaySummary
from ._tally import BLOCKED, DUPLICATE, IGNORED, MOVED, Tally

__all__ = ["RowCounts", "first_event", "more_warnings", "summarize"]

TOP = 3  # reasons named per kind in a warning


def summarize(
    definition: JourneyDefinition,
    path: Path,
    reader: LogReader | RowCounts,
    tally: Tally,
    *,
    journeys: int,
    end: datetime | None,
    fast: bool,
    seconds: float,
    engine: str | None = None,
    note: str = "",
    partitions: int = 1,
) -> ReplaySummary:
    """The :class:`ReplaySummary` of one finished replay."""
    skipped = dict(sorted(reader.skipped.items(), key=lambda kv: (-kv[1], kv[0])))
    return ReplaySummary(
        source=str(path),
        definition=definition.name,
        version=definition.version,
        rows_read=reader.rows_read,
        events_applied=tally.events_applied,
        journeys=journeys,
        triggers=tally.trigger_counts(),
        skipped=skipped,
        bad_rows=tuple(BadRow(line, reason) for line, reason in reader.bad_rows),
        bad_row_count=reader.bad_row_count,
        timeouts_fired=tally.timeouts_fired,
        timezone=reader.mapping.timezone,
        end=end,
        fast_path=fast,
        seconds=round(seconds, 6),
        warnings=tuple(warnings(definition, reader, tally, skipped, end)),
        engine=engine or ("fast" if fast else "engine"),
        engine_note=note,
        partitions=partitions,
    )


class RowCounts:
    """What a summary reads of a log besides the tally, for readers other than
    :class:`~._logs.LogReader` (the columnar engine's)."""

    def __init__(self, path: Path, mapping: LogMapping, rows_read: int, skipped: dict[str, int]):
        self.path = path
        self.mapping = mapping
        self.rows_read = rows_read
        self.skipped = skipped
        self.bad_rows: list[tuple[int, str]] = []
        self.bad_row_count = 0


def _top(counts: dict[str, int]) -> list[tuple[str, int]]:
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP]


def _top_pairs(counts: dict[tuple[str, str], int]) -> list[tuple[tuple[str, str], int]]:
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP]


def warnings(
    definition: JourneyDefinition,
    reader: LogReader | RowCounts,
    tally: Tally,
    skipped: dict[str, int],
    end: datetime | None,
) -> list[str]:
    """The warning lines of a run (empty when nothing looks wrong)."""
    out: list[str] = []
    rows, bad = reader.rows_read, reader.bad_row_count
    if rows == 0:
        out.append(f"the log {reader.path.name!r} has no data rows: nothing was replayed")
    elif bad * 2 > rows:
        first = reader.bad_rows[0] if reader.bad_rows else None
        example = f"; first: line {first[0]}: {first[1]}" if first else ""
        out.append(
            f"most rows could not be used: {bad} of {rows} rows are bad (check the time "
            f"format and the key/event/time columns){example}"
        )
    usable = rows - bad
    moved = tally.from_log(MOVED)
    if usable > 0 and moved * 2 < usable:
        n_skipped = sum(skipped.values())
        ignored, blocked = tally.from_log(IGNORED), tally.from_log(BLOCKED)
        duplicate = tally.from_log(DUPLICATE)
        # the headline counts log rows; the (stage, trigger) reasons include timeouts
        reasons = [f"unmapped event {name!r} ({n} rows)" for name, n in _top(skipped)]
        reasons += [
            f"{trigger!r} ignored in stage {stage!r} ({n})"
            for (stage, trigger), n in _top_pairs(tally.ignored_pairs)
        ]
        reasons += [
            f"{trigger!r} blocked by guards in stage {stage!r} ({n})"
            for (stage, trigger), n in _top_pairs(tally.blocked_pairs)
        ]
        if duplicate:
            reasons.append(f"duplicate event ids ({duplicate})")
        out.append(
            f"most events moved no journey: {usable - moved} of {usable} usable rows did not "
            f"(skipped {n_skipped}, ignored {ignored}, blocked {blocked}, duplicate "
            f"{duplicate}); top reasons: {'; '.join(reasons) or 'none recorded'}. Check the "
            "mapping's event names and triggers, and the stages the journeys start in"
        )
    if end is None and definition.timeouts:
        out.append(
            "no end of observation given: stage timeouts still pending after each journey's "
            "last event were not fired (pass end=... / --end to fire them)"
        )
    return out


def more_warnings(
    summary: ReplaySummary,
    first: datetime | None,
    last: datetime | None,
    end_at: datetime | None,
    mapping: LogMapping,
    path: Path,
    log: JourneyLog,
) -> ReplaySummary:
    """The summary with the end and time-range warnings added, every warning logged."""
    extra = tuple(
        w for w in (_after_end(last, end_at), implausible(first, last, mapping.time)) if w
    )
    if extra:
        summary = attrs.evolve(summary, warnings=(*summary.warnings, *extra))
    for warning in summary.warnings:
        log.warning("replay.warning", source=str(path), warning=warning)
    return summary


def first_event(journeys: Mapping[str, Journey]) -> datetime | None:
    """The time of the earliest event applied (each journey starts at its first)."""
    return min((j.started_at for j in journeys.values() if j.started_at is not None), default=None)


def _after_end(latest: datetime | None, end: datetime | None) -> str | None:
    """A warning when the log's last applied event (``latest``) is after the end of
    observation ``end``."""
    if end is None or latest is None or latest <= end:
        return None
    return (
        f"the end of observation ({end.isoformat()}) is before the log's last event "
        f"({latest.isoformat()}): events after it were applied; pass an end at or after "
        "the last event (or leave the later events out of the log)"
    )
