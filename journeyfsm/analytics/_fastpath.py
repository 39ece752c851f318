"""The fast path of replay: the definition's table as a direct loop, for machines
without hooks or effects.

Theory of operation
-------------------
``JourneyMachine.fire`` pays, per event, for what a live system needs: the engine's
callback lists, an ``Outcome``, a log line, the bookkeeping that rolls a move back when
a hook raises.  A replay through a machine with no hooks and no effects needs none of
it: nothing can veto a move, nothing runs outside, and the counts are the outcome.  So
:class:`FastReplay` reads the compiled table (``table[stage][trigger] -> candidates``)
and does exactly what ``fire`` and ``tick`` decide, in the same order:

1. a known event id (in the journey's bounded window) is a ``duplicate``: nothing runs;
2. no candidate for (stage, trigger): ``ignored`` (replay's policy is always "ignore");
3. candidates in declaration order, each one's guards in order with short-circuit,
   called with the same :class:`Context` ``fire`` builds (``dest`` is the candidate's,
   ``journey._move`` is set while they run, results go to ``ctx.guard_log``); a guard
   that raises is a ``GuardError`` and the journey is untouched;
4. the first candidate whose guards pass moves: the history entry ``fire`` would
   record (seq, trigger, source, dest, at, event id, read-only meta), the version, the
   stage entry (``entered_at``, ``entry_seq``, ``timeouts_fired``) unless the move is
   internal, and the event id joins the window (evicting the oldest when full);
5. none passes: ``blocked``.

Timeouts are ``tick``'s loop: while the journey's next timeout is due at ``T`` it fires
(as above, at its due time, with its deterministic event id and ``{"timeout": seconds}``
meta), and moves past it if the journey is still in the same stage entry.

What it leaves out is only what cannot be observed without hooks: the blocked
outcome's second evaluation of every candidate (guards are pure), log lines, effects.
tests/test_fastpath.py checks the journeys and counts against the engine with
hypothesis (random definitions with guards, internal moves and timeouts; random logs
with gaps, duplicates and ties).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from .._definition import JourneyDefinition
from .._guards import Guard
from .._json import FrozenDict, copy_checked, frozen_json
from .._records import Context, HistoryEntry, Journey, append_entry
from .._timeouts import stage_timeouts, timeout_event_id
from ._logs import Event
from ._tally import BLOCKED, DUPLICATE, IGNORED, MOVED, TIMEOUTS, Tally, Unsorted, guard_failure

__all__ = ["FastReplay"]

# (after, trigger, read-only meta) per timeout of a stage, in due order
_StageTimeouts = tuple[tuple[timedelta, str, Any], ...]


class FastReplay:
    """Replays events through ``definition`` without the engine (see the module docs)."""

    def __init__(self, definition: JourneyDefinition, event_id_window: int, tally: Tally) -> None:
        self.definition = definition
        self.name = definition.name
        self.window = event_id_window
        self.tally = tally
        self.initial = definition.initial_stage
        # stage -> trigger -> ((dest, guards), ...): plain dicts and tuples on the hot path
        table = definition.table
        self.table = {
            stage: {
                trigger: tuple((t.dest, t.guards) for t in cands)
                for trigger, cands in table.get(stage, {}).items()
            }
            for stage in definition.stage_names
        }
        self.timeouts: dict[str, _StageTimeouts] = {
            stage: tuple(
                (
                    t.after,
                    t.trigger,
                    frozen_json(copy_checked({"timeout": t.after.total_seconds()}, "meta")),
                )
                for t in ts
            )
            for stage, ts in stage_timeouts(definition).items()
        }
        # per journey key: [journey, time of its last event, next timeout due or None]
        self._state: dict[str, list[Any]] = {}

    @property
    def journeys(self) -> dict[str, Journey]:
        """The journeys replayed so far, by key, in the order they started."""
        return {key: state[0] for key, state in self._state.items()}

    def _due(self, journey: Journey) -> datetime | None:
        """When the journey's next timeout is due (None: none pending)."""
        pending = self.timeouts.get(journey.stage)
        index = journey.timeouts_fired
        if pending is None or index >= len(pending):
            return None
        entered = journey.entered_at
        assert entered is not None  # replayed journeys are started with a time
        return entered + pending[index][0]

    def run(self, events: Iterable[Event]) -> None:
        """Apply ``events`` (in order per journey, else :class:`Unsorted`)."""
        states, name, initial, table = self._state, self.name, self.initial, self.table
        move, tick, due_of, tally = self._move, self._tick, self._due, self.tally
        counts, ignored_pairs = tally.counts, tally.ignored_pairs
        timeouts = bool(self.timeouts)
        applied = 0
        try:
            for at, line, key, trigger, event_id, payload, meta in events:
                state = states.get(key)
                if state is None:
                    journey = Journey(key, initial, definition=name, started_at=at, entered_at=at)
                    state = states[key] = [journey, at, due_of(journey) if timeouts else None]
                else:
                    journey = state[0]
                    if at < state[1]:
                        raise Unsorted(line, key)
                    state[1] = at
                due = state[2]
                if due is not None and due <= at:  # tick(journey, at) has work to do
                    tick(journey, at)
                    state[2] = due_of(journey)
                ids = journey.event_ids
                if event_id is not None and ids is not None and event_id in ids:
                    counts[trigger][DUPLICATE] += 1
                    applied += 1
                    continue
                stage = journey.stage
                cands = table[stage].get(trigger)
                if cands is None:
                    counts[trigger][IGNORED] += 1
                    pair = (stage, trigger)
                    ignored_pairs[pair] = ignored_pairs.get(pair, 0) + 1
                    applied += 1
                    continue
                if meta is not None and meta.__class__ is not FrozenDict:
                    meta = frozen_json(meta)
                try:
                    status = move(journey, cands, trigger, payload, at, event_id, meta)
                except Exception as err:
                    guard_failure(tally, err, line)
                    continue
                counts[trigger][status] += 1
                applied += 1
                if timeouts and status == MOVED:
                    state[2] = due_of(journey)
        finally:
            tally.events_applied += applied

    def finish(self, end: datetime | None) -> None:
        """Fire every timeout due at ``end`` (None: nothing)."""
        if end is None or not self.timeouts:
            return
        for journey, _, due in self._state.values():
            if due is not None and due <= end:
                self._tick(journey, end)

    def _tick(self, journey: Journey, until: datetime) -> None:
        timeouts, counts, tally = self.timeouts, self.tally.counts, self.tally
        while True:
            pending = timeouts.get(journey.stage)
            if pending is None:
                return
            index = journey.timeouts_fired
            if index >= len(pending):
                return
            after, trigger, meta = pending[index]
            entered = journey.entered_at
            assert entered is not None  # replayed journeys are started with a time
            due = entered + after
            if due > until:
                return
            entry_seq = journey.entry_seq
            event_id = timeout_event_id(self.name, journey.key, entry_seq, index)
            try:
                status = self._fire(journey, trigger, None, due, event_id, meta)
            except Exception as err:
                guard_failure(tally, err, None, timeout=True)
                raise  # pragma: no cover - guard_failure raises for timeouts
            row = counts[trigger]
            row[status] += 1
            row[TIMEOUTS] += 1
            tally.timeouts_fired += 1
            tally.timeout_status[status] += 1
            if journey.entry_seq == entry_seq:
                journey.timeouts_fired = index + 1

    def _fire(
        self,
        journey: Journey,
        trigger: str,
        payload: Any,
        at: datetime,
        event_id: str | None,
        meta: Any,
    ) -> int:
        """What ``fire`` decides, as a status index into the tally's rows."""
        ids = journey.event_ids
        if event_id is not None and ids is not None and event_id in ids:
            return DUPLICATE
        source = journey.stage
        cands = self.table[source].get(trigger)
        if cands is None:
            self.tally.ignored(source, trigger)
            return IGNORED
        return self._move(journey, cands, trigger, payload, at, event_id, meta)

    def _move(
        self,
        journey: Journey,
        cands: tuple[tuple[str | None, tuple[Guard, ...]], ...],
        trigger: str,
        payload: Any,
        at: datetime,
        event_id: str | None,
        meta: Any,
    ) -> int:
        """Try the candidates in order; record the move of the first whose guards pass."""
        source = journey.stage
        chosen = -1
        ctx: Context | None = None
        for index, (dest, guards) in enumerate(cands):
            if not guards:
                chosen = index
                break
            if ctx is None:
                ctx = Context(journey, trigger, payload, at, source, None, event_id, meta)
            ctx._dest = dest
            log = ctx._guard_log
            journey._move = ctx
            try:
                for g in guards:
                    ok = g.check(ctx)
                    log.append((index, g, ok))
                    if not ok:
                        break
                else:
                    chosen = index
            finally:
                journey._move = None
            if chosen >= 0:
                break
        if chosen < 0:
            self.tally.blocked(source, trigger)
            return BLOCKED
        dest = cands[chosen][0]
        seq = journey.version + 1
        append_entry(
            journey,
            _entry(seq, trigger, source, source if dest is None else dest, at, event_id, meta),
        )
        journey.version = seq
        if dest is not None:
            journey.stage = dest
            journey.entered_at = at
            journey.entry_seq = seq
            journey.timeouts_fired = 0
        if event_id is not None:
            ids = journey.event_ids
            if ids is None:
                journey.event_ids = {event_id: None}
            else:
                evicted = next(iter(ids)) if len(ids) >= self.window else None
                ids[event_id] = None
                if evicted is not None:
                    del ids[evicted]
        return MOVED


# HistoryEntry is a frozen attrs class: its __init__ sets each field through
# object.__setattr__ and runs the meta converter, about twice the cost of setting the
# slots directly.  The fast path hands meta over already frozen (what the converter
# returns for it), so the record is the same; tests/test_fastpath.py compares them.
_SLOTS = tuple(
    vars(HistoryEntry)[name].__set__
    for name in ("seq", "trigger", "source", "dest", "at", "event_id", "meta")
)


def _entry(
    seq: int,
    trigger: str,
    source: str,
    dest: str,
    at: datetime,
    event_id: str | None,
    meta: Any,
    _new: Any = object.__new__,
    _set: Any = _SLOTS,
) -> HistoryEntry:
    entry: HistoryEntry = _new(HistoryEntry)
    _set[0](entry, seq)
    _set[1](entry, trigger)
    _set[2](entry, source)
    _set[3](entry, dest)
    _set[4](entry, at)
    _set[5](entry, event_id)
    _set[6](entry, meta)
    return entry
