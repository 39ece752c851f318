"""The fast path's compiled table and per-journey records (see :mod:`._fastpath`).

The definition's table (``table[stage][trigger] -> candidates``) becomes one
:class:`Stage` per stage with a list of :class:`Cell` per trigger index (``None``: no
candidate, the event is ignored), so a row costs a list index instead of two dict
lookups, and each cell carries its own counters.  A :class:`Track` sits beside each
journey with what the loop reads on every row.  :func:`new_journey` and
:func:`history_entry` build the records ``machine.start`` and ``fire`` build, without
the validation their constructors repeat for values the replay has checked already;
tests/test_fastpath.py compares them with the engine's.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from .._clock import UTC
from .._definition import JourneyDefinition
from .._guards import Guard
from .._json import copy_checked, frozen_json
from .._records import NO_HISTORY, HistoryEntry, Journey
from .._timeouts import stage_timeouts

__all__ = [
    "FAR",
    "Cell",
    "Stage",
    "Track",
    "compile_stages",
    "history_entry",
    "new_journey",
]

#: the due time of a journey with no timeout pending: later than any time in a log
FAR = datetime.max.replace(tzinfo=UTC)


class Stage:
    """One stage of the compiled table.

    ``cells[t]``: the :class:`Cell` for trigger index ``t`` (None: no candidate);
    ``ignored[t]``: events of trigger ``t`` ignored in this stage; ``timeouts``:
    ``(after, trigger index, read-only meta)`` in due order; ``first``: the first
    one's ``after`` (None: the stage has no timeouts).
    """

    __slots__ = ("cells", "first", "ignored", "name", "timeouts")

    def __init__(self, name: str, n_triggers: int) -> None:
        self.name = name
        self.cells: list[Cell | None] = [None] * n_triggers
        self.ignored = [0] * n_triggers
        self.timeouts: tuple[tuple[timedelta, int, Any], ...] = ()
        self.first: timedelta | None = None


class Cell:
    """The candidates of one (stage, trigger), in declaration order, and their counts.

    ``candidates``: ``(dest Stage or None for internal, dest name, guards)``; ``plain``:
    the first candidate has no guards, so it always wins, and ``dest``/``dest_name`` are
    its (the recorded dest of an internal move is the source).
    """

    __slots__ = (
        "blocked",
        "candidates",
        "dest",
        "dest_name",
        "moved",
        "plain",
        "source",
        "trigger",
    )

    def __init__(
        self,
        trigger: str,
        source: str,
        candidates: tuple[tuple[Stage | None, str, tuple[Guard, ...]], ...],
    ) -> None:
        self.trigger = trigger
        self.source = source
        self.candidates = candidates
        self.dest, self.dest_name, guards = candidates[0]
        self.plain = not guards
        self.moved = 0
        self.blocked = 0


class Track:
    """What the fast loop keeps beside a journey: its compiled ``stage``, the time of its
    ``last`` event, when its next timeout is ``due`` (``FAR``: none), its ``history``
    list and event-id window once it has them (the journey's own objects), and its
    segment values while some are still missing (the reader's dict for the key)."""

    __slots__ = ("due", "history", "ids", "journey", "last", "segments", "stage")

    def __init__(self, journey: Journey, stage: Stage, last: datetime, due: datetime) -> None:
        self.journey = journey
        self.stage = stage
        self.last = last
        self.due = due
        self.history: list[HistoryEntry] | None = None
        self.ids: dict[str, None] | None = None
        self.segments: dict[str, str] | None = None


def compile_stages(definition: JourneyDefinition, triggers: tuple[str, ...]) -> dict[str, Stage]:
    """The definition's table as :class:`Stage` records, by stage name."""
    index = {t: i for i, t in enumerate(triggers)}
    stages = {name: Stage(name, len(triggers)) for name in definition.stage_names}
    table = definition.table
    for name, stage in stages.items():
        for trigger, transitions in table.get(name, {}).items():
            candidates = tuple(
                (
                    None if t.dest is None else stages[t.dest],
                    name if t.dest is None else t.dest,
                    tuple(t.guards),
                )
                for t in transitions
            )
            stage.cells[index[trigger]] = Cell(trigger, name, candidates)
    for name, timeouts in stage_timeouts(definition).items():
        stage = stages[name]
        stage.timeouts = tuple(
            (
                t.after,
                index[t.trigger],
                frozen_json(copy_checked({"timeout": t.after.total_seconds()}, "meta")),
            )
            for t in timeouts
        )
        stage.first = stage.timeouts[0][0] if stage.timeouts else None
    return stages


def new_journey(key: str, stage: str, definition: str, at: datetime) -> Journey:
    """``machine.start(key, at=at)``'s journey, set slot by slot (``Journey`` is a
    slotted attrs class with no ``on_setattr`` hooks: these are plain slot writes)."""
    journey: Journey = _new(Journey)
    journey.key = key
    journey.stage = stage
    journey._data = {}
    journey._history = NO_HISTORY
    journey.version = 0
    journey.event_ids = None
    journey.definition = definition
    journey.started_at = at
    journey.entered_at = at
    journey.entry_seq = 0
    journey.timeouts_fired = 0
    journey._move = None
    return journey


_new: Any = object.__new__

# HistoryEntry is a frozen attrs class: its __init__ sets each field through
# object.__setattr__ and runs the meta converter, about twice the cost of setting the
# slots directly.  The fast path hands meta over already frozen (what the converter
# returns for it), so the record is the same.
_SET = tuple(
    vars(HistoryEntry)[name].__set__
    for name in ("seq", "trigger", "source", "dest", "at", "event_id", "meta")
)


def history_entry(
    seq: int,
    trigger: str,
    source: str,
    dest: str,
    at: datetime,
    event_id: str | None,
    meta: Any,
    _new: Any = _new,
    _cls: Any = HistoryEntry,
    _s0: Any = _SET[0],
    _s1: Any = _SET[1],
    _s2: Any = _SET[2],
    _s3: Any = _SET[3],
    _s4: Any = _SET[4],
    _s5: Any = _SET[5],
    _s6: Any = _SET[6],
) -> HistoryEntry:
    """The ``HistoryEntry`` ``fire`` records (``meta`` already read-only, or None)."""
    entry: HistoryEntry = _new(_cls)
    _s0(entry, seq)
    _s1(entry, trigger)
    _s2(entry, source)
    _s3(entry, dest)
    _s4(entry, at)
    _s5(entry, event_id)
    _s6(entry, meta)
    return entry
