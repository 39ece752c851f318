"""The fast path of replay: the definition's table as a direct loop, for machines
without hooks or effects.

Theory of operation
-------------------
``JourneyMachine.fire`` pays, per event, for what a live system needs: the engine's
callback lists, an ``Outcome``, a log line, the bookkeeping that rolls a move back when
a hook raises.  A replay through a machine with no hooks and no effects needs none of
it: nothing can veto a move, nothing runs outside, and the counts are the outcome.  So
:class:`FastReplay` compiles the table once into plain records (:mod:`._fasttable`:
stages and triggers by index, one cell per (stage, trigger) with its candidates and its
counters) and does exactly what ``fire`` and ``tick`` decide, in the same order:

1. a known event id (in the journey's bounded window) is a ``duplicate``: nothing runs;
2. no candidate for (stage, trigger): ``ignored`` (replay's policy is always "ignore");
3. candidates in declaration order, each one's guards in order with short-circuit,
   called with the same :class:`Context` ``fire`` builds (``dest`` is the candidate's,
   ``journey._move`` is set while they run, results go to ``ctx.guard_log``); a guard
   that raises is a ``GuardError`` and the journey is untouched.  The payload is built
   only for a cell whose candidates have guards: nothing else reads it;
4. the first candidate whose guards pass moves: the history entry ``fire`` would
   record (seq, trigger, source, dest, at, event id, read-only meta), the version, the
   stage entry (``entered_at``, ``entry_seq``, ``timeouts_fired``) unless the move is
   internal, and the event id joins the window (evicting the oldest when full);
5. none passes: ``blocked``.

Each journey has a :class:`~._fasttable.Track` beside it: its compiled stage, the time
of its last event (to notice an unsorted log) and when its next timeout is due (a time
later than any other when none is pending), so that a row costs one comparison for
timeouts.  Timeouts are ``tick``'s loop: while the journey's next timeout is due at
``T`` it fires (as above, at its due time, with its deterministic event id and
``{"timeout": seconds}`` meta), and moves past it if the journey is still in the same
stage entry.

Counts are kept where they are cheapest to bump (per cell, per stage, per trigger, as
ints) and handed to the :class:`~._tally.Tally` once, by :meth:`FastReplay.finish`.
:meth:`FastReplay.run` applies :data:`~._logs.Event` tuples (JSON Lines, Parquet, a
sorted log); a CSV log in order is read and applied in one loop (:mod:`._fastcsv`) that
inlines steps 1, 2 and 4 for cells without guards and calls :meth:`FastReplay.guarded`
and :meth:`FastReplay.tick` for the rest.

What it leaves out is only what cannot be observed without hooks: the blocked
outcome's second evaluation of every candidate (guards are pure), log lines, effects.
tests/test_fastpath.py checks the journeys and counts against the engine with
hypothesis (random definitions with guards, internal moves and timeouts; random logs
with gaps, duplicates and ties, as CSV and as JSON Lines).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from .._definition import JourneyDefinition
from .._json import FrozenDict, frozen_json
from .._packed import LazyJourney, set_source
from .._records import Context, Journey
from .._timeouts import timeout_event_id
from ._fasttable import FAR, Cell, MoveLog, Stage, Step, Track, compile_stages, new_journey
from ._logs import Event
from ._tally import BLOCKED, DUPLICATE, IGNORED, MOVED, TIMEOUTS, Tally, Unsorted, guard_failure

__all__ = ["FastReplay"]


class FastReplay:
    """Replays events through ``definition`` without the engine (see the module docs)."""

    def __init__(self, definition: JourneyDefinition, event_id_window: int, tally: Tally) -> None:
        self.definition = definition
        self.name = definition.name
        self.window = event_id_window
        self.tally = tally
        self.triggers: tuple[str, ...] = tuple(definition.triggers)
        #: trigger name -> its index in the compiled cells
        self.index = {t: i for i, t in enumerate(self.triggers)}
        self.stages: dict[str, Stage] = compile_stages(definition, self.triggers)
        self.initial = self.stages[definition.initial_stage]
        self.has_timeouts = bool(definition.timeouts)
        #: duplicates per trigger index (the other outcomes count in cells and stages)
        self.duplicates = [0] * len(self.triggers)
        self.tracks: dict[str, Track] = {}
        #: every move, packed (each journey's history is built from it when read)
        self.moves = MoveLog()
        self._timeout_prefix = timeout_event_id(self.name, "", 0, 0)[: -len(":0:0")]

    @property
    def journeys(self) -> dict[str, Journey]:
        """The journeys replayed so far, by key, in the order they started."""
        return {key: track.journey for key, track in self.tracks.items()}

    # -- journeys ----------------------------------------------------------------------
    def start(self, key: str, at: datetime) -> Track:
        """A new journey in the initial stage at ``at``, as ``machine.start`` makes it."""
        stage = self.initial
        first = stage.first
        journey = new_journey(key, stage.name, self.name, at)
        track = Track(journey, stage, at, FAR if first is None else at + first, self.moves)
        set_source(journey, track)
        self.tracks[key] = track
        return track

    def tick(self, track: Track, until: datetime) -> None:
        """Fire the journey's timeouts due by ``until``, as ``machine.tick`` does."""
        journey, tally, counts = track.journey, self.tally, self.tally.counts
        while True:
            pending = track.stage.timeouts
            index = journey.timeouts_fired
            if index >= len(pending):
                break
            after, trigger, meta = pending[index]
            entered = journey.entered_at
            assert entered is not None  # replayed journeys are started with a time
            due = entered + after
            if due > until:
                break
            entry_seq = journey.entry_seq
            key = journey.key
            if "%" in key or ":" in key:
                event_id = timeout_event_id(self.name, key, entry_seq, index)
            else:  # what timeout_event_id gives for a key with nothing to escape
                event_id = f"{self._timeout_prefix}{key}:{entry_seq}:{index}"
            try:
                status = self.fire(track, trigger, None, due, event_id, meta)
            except Exception as err:
                guard_failure(tally, err, None, timeout=True)
                raise  # pragma: no cover - guard_failure raises for timeouts
            counts[self.triggers[trigger]][TIMEOUTS] += 1
            tally.timeouts_fired += 1
            tally.timeout_status[status] += 1
            if journey.entry_seq == entry_seq:
                journey.timeouts_fired = index + 1
        track.due = self.next_due(track)

    def next_due(self, track: Track) -> datetime:
        """When the journey's next timeout is due (``FAR``: none is pending)."""
        journey = track.journey
        pending = track.stage.timeouts
        index = journey.timeouts_fired
        if index >= len(pending):
            return FAR
        entered = journey.entered_at
        assert entered is not None  # replayed journeys are started with a time
        return entered + pending[index][0]

    # -- events ------------------------------------------------------------------------
    def run(self, events: Iterable[Event]) -> None:
        """Apply ``events`` (in order per journey, else :class:`Unsorted`)."""
        tracks, index, tally = self.tracks, self.index, self.tally
        fire, start, tick = self.fire, self.start, self.tick
        for at, line, key, trigger, event_id, payload, meta in events:
            track = tracks.get(key)
            if track is None:
                track = start(key, at)
            elif at < track.last:
                raise Unsorted(line, key)
            track.last = at
            if track.due <= at:
                tick(track, at)
            try:
                fire(track, index[trigger], payload, at, event_id, meta)
            except Exception as err:
                guard_failure(tally, err, line)

    def fire(
        self,
        track: Track,
        trigger: int,
        payload: Any,
        at: datetime,
        event_id: str | None,
        meta: Any,
    ) -> int:
        """What ``fire`` decides for one event, as a status index into the tally's rows."""
        ids = track.ids
        if event_id is not None and ids is not None and event_id in ids:
            self.duplicates[trigger] += 1
            return DUPLICATE
        stage = track.stage
        cell = stage.cells[trigger]
        if cell is None:
            stage.ignored[trigger] += 1
            return IGNORED
        if meta is not None and meta.__class__ is not FrozenDict:
            meta = frozen_json(meta)
        if cell.plain:
            cell.moved += 1
            self.record(track, cell.dest, cell.step, at, event_id, meta)
            return MOVED
        return self.guarded(track, cell, payload, at, event_id, meta)

    def guarded(
        self,
        track: Track,
        cell: Cell,
        payload: Any,
        at: datetime,
        event_id: str | None,
        meta: Any,
    ) -> int:
        """Try the cell's candidates in order; record the move of the first whose guards
        pass (MOVED), else BLOCKED.  A guard's ``GuardError`` leaves the journey as it was."""
        journey = track.journey
        ctx = Context(journey, cell.trigger, payload, at, cell.source, None, event_id, meta)
        log = ctx._guard_log
        for index, (dest, guards, step) in enumerate(cell.candidates):
            if not guards:
                break
            ctx._dest = step[2] if dest is not None else None
            journey._move = ctx
            try:
                for g in guards:
                    ok = g.check(ctx)
                    log.append((index, g, ok))
                    if not ok:
                        break
                else:
                    break
            finally:
                journey._move = None
                if journey.__class__ is not LazyJourney:
                    # a guard read the history: the moves go on being packed
                    journey.__class__ = LazyJourney
                    set_source(journey, track)
        else:
            cell.blocked += 1
            return BLOCKED
        cell.moved += 1
        self.record(track, dest, step, at, event_id, meta)
        return MOVED

    def record(
        self,
        track: Track,
        dest: Stage | None,
        step: Step,
        at: datetime,
        event_id: str | None,
        meta: Any,
    ) -> None:
        """Record a move as ``fire`` does (``dest`` None: an internal transition)."""
        journey = track.journey
        seq = journey.version + 1
        moves = self.moves
        prev = moves.prev
        head = len(prev)
        moves.step.append(step)
        moves.at.append(at)
        moves.event_id.append(event_id)
        moves.meta.append(meta)
        prev.append(track.head)
        track.head = head
        journey.version = seq
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
                ids[event_id] = None  # not in the window: it would be a duplicate
                if seq > self.window and len(ids) > self.window:  # ids <= moves
                    del ids[next(iter(ids))]

    def last_event(self) -> datetime | None:
        """The time of the latest event applied (None: none was)."""
        return max((track.last for track in self.tracks.values()), default=None)

    # -- the end -----------------------------------------------------------------------
    def finish(self, end: datetime | None) -> None:
        """Fire every timeout due at ``end`` (None: nothing), then hand the counts to
        the tally."""
        if end is not None and self.has_timeouts:
            tick = self.tick
            for track in self.tracks.values():
                if track.due <= end:
                    tick(track, end)
        self._count()

    def _count(self) -> None:
        tally, triggers = self.tally, self.triggers
        counts = tally.counts
        total = 0
        for t, n in enumerate(self.duplicates):
            counts[triggers[t]][DUPLICATE] += n
            total += n
        for stage in self.stages.values():
            for t, n in enumerate(stage.ignored):
                if n:
                    counts[triggers[t]][IGNORED] += n
                    tally.ignored_pairs[(stage.name, triggers[t])] = n
                    total += n
            for cell in stage.cells:
                if cell is None:
                    continue
                row = counts[cell.trigger]
                row[MOVED] += cell.moved
                row[BLOCKED] += cell.blocked
                total += cell.moved + cell.blocked
                if cell.blocked:
                    tally.blocked_pairs[(stage.name, cell.trigger)] = cell.blocked
        tally.events_applied = total - tally.timeouts_fired
