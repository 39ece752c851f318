"""The fast path's loop over a CSV log: read a row, apply it, next row.

Theory of operation
-------------------
This is :func:`~._logs.csv_events` and :meth:`~._fastpath.FastReplay.run` fused into
one loop over ``csv.reader``, with no generator and no event tuple in between: column
indexes are resolved once, a row's key is looked up once (its :class:`~._fasttable.Track`
holds what the loop needs), the payload is built only when the (stage, trigger) cell
has guards, the meta only for a move, and a line number only for a row that needs one.
The steps and their order are those of the two functions it fuses:

1. a blank line is passed over; a row of the wrong width, or without key, event name
   or time, is a bad row; the row's segment values are kept (skipped rows too);
2. an event name the mapping does not map is skipped (its time is not read); a time
   that is not one is a bad row;
3. the journey starts at its first event; an event older than the journey's previous
   one raises :class:`~._tally.Unsorted` (replay starts over through the sort);
   timeouts due by the event's time fire first (:meth:`~._fastpath.FastReplay.tick`);
4. ``fire``: duplicate, ignored, a move of a cell without guards (inlined:
   :meth:`~._fastpath.FastReplay.record` does the same), or the guarded candidates
   (:meth:`~._fastpath.FastReplay.guarded`, a guard's error makes the row bad).

tests/test_fastpath.py replays random CSV logs this way and through the engine and
compares every journey and count.
"""

from __future__ import annotations

import csv
from datetime import datetime
from typing import Any

from .._clock import UTC
from ._csvlog import CsvLog
from ._fastpath import FastReplay
from ._fasttable import FAR
from ._logs import LogReader
from ._tally import Unsorted, guard_failure

__all__ = ["replay_csv"]


def replay_csv(fast: FastReplay, reader: LogReader) -> None:
    """Read the CSV log of ``reader`` and apply its rows through ``fast``, in one loop."""
    with CsvLog(reader) as log:
        try:
            _loop(fast, reader, log)
        except csv.Error as err:
            raise log.error(err) from None
    if reader.progress is not None:
        reader.progress(1.0)


def _loop(fast: FastReplay, reader: LogReader, log: CsvLog) -> None:
    tracks, index, start, tick = fast.tracks, fast.index, fast.start, fast.tick
    duplicates, window, tally = fast.duplicates, fast.window, fast.tally
    triggers = {name: index[trigger] for name, trigger in reader.triggers.items()}
    skipped, times, bad, progress = reader.skipped, reader.times, reader.bad, reader.progress
    naive, iso = times.naive, times.iso
    segments = reader.segments
    ki, ei, ti, ii, width = log.key, log.event, log.time, log.event_id, log.width
    meta_of: Any = log.meta
    mi, shared_meta = (meta_of.single, meta_of.shared) if meta_of is not None else (-1, {})
    segment_columns = log.segments
    n_seg = len(segment_columns)
    fromiso, utc = datetime.fromisoformat, UTC
    moves = fast.moves
    add_step, add_at, add_id = moves.step.append, moves.at.append, moves.event_id.append
    add_meta, add_prev, moves_made = moves.meta.append, moves.prev.append, moves.prev.__len__
    n = blanks = 0  # rows read, blank lines passed over
    try:
        for row in log.rows:
            if len(row) != width:
                if not row:
                    blanks += 1
                    continue
                n += 1
                reader.rows_read = n
                bad(log.line(row, n + blanks - 1), log.problem(row) or "unreadable row")
                continue
            n += 1
            if not n & 0x3FFF and progress is not None:
                progress(log.fraction())
            key = row[ki]
            name = row[ei]
            ts = row[ti]
            if not key or not name or not ts:
                reader.rows_read = n
                bad(log.line(row, n + blanks - 1), log.problem(row) or "unreadable row")
                continue
            t = triggers.get(name)
            if t is None:
                skipped[name] = skipped.get(name, 0) + 1
                if n_seg:
                    have = segments.get(key)
                    if have is None or len(have) < n_seg:
                        log.add_segments(key, row)
                continue
            # ISO-8601 with a zero offset inline; anything else through the TimeReader
            at = None
            if iso and len(ts) > 4 and ts[4] == "-":
                try:  # noqa: SIM105 - contextlib.suppress costs more per row
                    at = fromiso(ts)
                except ValueError:
                    pass
            if at is None or at.tzinfo is not utc:
                try:
                    # a naive time: the zone's cached offset, without parsing it again
                    at = times(ts) if at is None or at.tzinfo is not None else naive(at)
                except (ValueError, OverflowError, OSError):
                    if n_seg:
                        log.add_segments(key, row)
                    reader.rows_read = n
                    bad(log.line(row, n + blanks - 1), log.bad_time(ts))
                    continue
            track = tracks.get(key)
            if track is None:
                track = start(key, at)
                if n_seg:
                    have = segments.get(key)
                    track.segments = segments[key] = {} if have is None else have
            elif at < track.last:
                raise Unsorted(log.line(row, n + blanks - 1), key)
            have = track.segments
            if have is not None:  # some segment values are still missing
                for column, i in segment_columns:
                    if row[i] and column not in have:
                        have[column] = row[i]
                if len(have) == n_seg:
                    track.segments = None
            track.last = at
            if track.due <= at:
                tick(track, at)
            # -- fire (see FastReplay.fire) --
            event_id: Any = row[ii] if ii >= 0 else None
            if event_id:
                ids = track.ids
                if ids is not None and event_id in ids:
                    duplicates[t] += 1
                    continue
            else:
                event_id = None
            stage = track.stage
            cell = stage.cells[t]
            if cell is None:
                stage.ignored[t] += 1
                continue
            if mi >= 0:  # one meta column: its cell is the key of the shared meta dicts
                meta = shared_meta.get(row[mi], meta_of)
                if meta is meta_of:
                    meta = meta_of(row)
            else:
                meta = meta_of(row) if meta_of is not None else None
            if not cell.plain:
                try:
                    fast.guarded(track, cell, log.payload_of(row), at, event_id, meta)
                except Exception as err:
                    guard_failure(tally, err, log.line(row, n + blanks - 1))
                continue
            # -- record the move: FastReplay.record inlined (calling it per move made the
            # 300k-row replay 15-25% slower, measured A/B; keep the two in step) --
            cell.moved += 1
            journey = track.journey
            seq = journey.version + 1
            step = cell.step
            add_step(step)
            add_at(at)
            add_id(event_id)
            add_meta(meta)
            add_prev(track.head)
            track.head = moves_made() - 1
            journey.version = seq
            dest = cell.dest
            if dest is not None:
                journey.stage = step[2]
                journey.entered_at = at
                journey.entry_seq = seq
                journey.timeouts_fired = 0
                track.stage = dest
                first = dest.first
                track.due = FAR if first is None else at + first
            if event_id is not None:
                ids = track.ids
                if ids is None:
                    track.ids = journey.event_ids = {event_id: None}
                else:
                    ids[event_id] = None
                    if seq > window and len(ids) > window:  # ids <= moves
                        del ids[next(iter(ids))]
    finally:
        reader.rows_read = n
