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
from .._packed import LazyJourney, Move
from .._records import HistoryEntry
from .._timeouts import stage_timeouts

__all__ = [
    "FAR",
    "Cell",
    "MoveLog",
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

    ``candidates``: ``(dest Stage or None for internal, guards, step)``, where ``step`` is
    the ``(trigger, source, dest name)`` a move records (the dest of an internal move is
    the source); ``plain``: the first candidate has no guards, so it always wins, and
    ``dest``/``step`` are its.
    """

    __slots__ = (
        "blocked",
        "candidates",
        "dest",
        "moved",
        "plain",
        "source",
        "step",
        "trigger",
    )

    def __init__(
        self,
        trigger: str,
        source: str,
        candidates: tuple[tuple[Stage | None, tuple[Guard, ...], Step], ...],
    ) -> None:
        self.trigger = trigger
        self.source = source
        self.candidates = candidates
        self.dest, guards, self.step = candidates[0]
        self.plain = not guards
        self.moved = 0
        self.blocked = 0


#: what a move records besides its time, event id and meta: (trigger, source, dest)
Step = tuple[str, str, str]


class MoveLog:
    """Every move of a replay, one entry per move in each column (see the module docs):
    ``step``, ``at``, ``event_id``, ``meta``, and ``prev``, the index of the same
    journey's previous move (-1: its first)."""

    __slots__ = ("at", "event_id", "meta", "prev", "step")

    def __init__(self) -> None:
        self.step: list[Step] = []
        self.at: list[datetime] = []
        self.event_id: list[str | None] = []
        self.meta: list[Any] = []
        self.prev: list[int] = []


class Track:
    """What the fast loop keeps beside a journey: its compiled ``stage``, the time of its
    ``last`` event, when its next timeout is ``due`` (``FAR``: none), the index of its
    last move in the :class:`MoveLog` ``log`` (``head``, -1: none yet), its event-id window once it has one
    (the journey's own dict), and its segment values while some are still missing (the
    reader's dict for the key).  It is also the source of the journey's history."""

    __slots__ = ("due", "head", "ids", "journey", "last", "log", "segments", "stage")

    def __init__(
        self, journey: LazyJourney, stage: Stage, last: datetime, due: datetime, log: MoveLog
    ) -> None:
        self.journey = journey
        self.stage = stage
        self.last = last
        self.due = due
        self.log = log
        self.head = -1
        self.ids: dict[str, None] | None = None
        self.segments: dict[str, str] | None = None

    def _chain(self) -> list[int]:
        """The indexes of the journey's moves in the log, oldest first."""
        prev = self.log.prev
        chain: list[int] = []
        i = self.head
        while i >= 0:
            chain.append(i)
            i = prev[i]
        chain.reverse()
        return chain

    def entries(self) -> list[HistoryEntry]:
        """The journey's history entries, as ``fire`` records them, oldest first."""
        log = self.log
        steps, ats, ids, metas = log.step, log.at, log.event_id, log.meta
        return [
            history_entry(seq, *steps[i], ats[i], ids[i], metas[i])
            for seq, i in enumerate(self._chain(), 1)
        ]

    def moves(self) -> list[Move]:
        """``(seq, trigger, source, dest, at)`` of each move, oldest first."""
        steps, ats = self.log.step, self.log.at
        return [(seq, *steps[i], ats[i]) for seq, i in enumerate(self._chain(), 1)]

    def metas(self) -> list[Any]:
        """The meta of each move, oldest first."""
        metas = self.log.meta
        return [metas[i] for i in self._chain()]


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
                    tuple(t.guards),
                    (trigger, name, name if t.dest is None else t.dest),
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


def new_journey(key: str, stage: str, definition: str, at: datetime) -> LazyJourney:
    """``machine.start(key, at=at)``'s journey, set slot by slot (``Journey`` is a
    slotted attrs class with no ``on_setattr`` hooks: these are plain slot writes), as a
    :class:`~journeyfsm._packed.LazyJourney` whose history source is set by the caller."""
    journey: LazyJourney = _new(LazyJourney)
    journey.key = key
    journey.stage = stage
    journey._data = {}
    journey.version = 0
    journey.event_ids = None
    journey.definition = definition
    journey.started_at = at
    journey.entered_at = at
    journey.entry_seq = 0
    journey.timeouts_fired = 0
    journey.goals = None  # the fast path runs definitions without goals only
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
