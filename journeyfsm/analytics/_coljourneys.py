"""The journeys of a columnar replay: built from packed move columns when read.

:class:`~._columnar.ColumnarReplay` leaves, per journey, its final stage, version, entry
time and seq, start and timeouts fired (numpy arrays by journey number), and per move
its candidate, time, event-id reference, stage entry and (journey, seq) in flat columns
sorted by (journey, seq).  :class:`ColumnarJourneys` is the ``Mapping[str, Journey]``
over them: a journey (a :class:`~journeyfsm._packed.LazyJourney`) is built the first
time it is looked up, its history (:class:`ColumnarHistory`) the first time it is read;
the funnel and breakdowns count the columns themselves (:meth:`ColumnarJourneys.tally_into`).
:class:`PackedJourneys` carries them to another process unbuilt (``replay_dask``).

The engine state the journeys read is any object with the attributes named in
:data:`KEPT` plus ``np`` and ``cols`` (keys, meta): the engine itself, or a
:class:`EngineState` rebuilt from a pickle or merged from parts (:mod:`._colstream`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta
from typing import Any

from .._clock import UTC
from .._definition import JourneyDefinition
from .._json import copy_checked, frozen_json
from .._packed import LazyJourney, Move, set_source
from .._records import HistoryEntry, Journey
from .._timeouts import timeout_event_id
from ._colread import Columns, modules
from ._fasttable import history_entry, new_journey

__all__ = ["KEPT", "ColumnarHistory", "ColumnarJourneys", "EngineState", "PackedJourneys"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class EngineState:
    """The attributes of a finished :class:`~._columnar.ColumnarReplay` that its
    journeys read (:data:`KEPT`, ``np``, ``cols``), without the engine."""

    np: Any
    cols: Columns
    order: Any  # numpy: per kept event reference, its row in ``cols.meta``
    sids: Any  # the kept event ids (Arrow; a list once read) or None


#: what a ColumnarReplay keeps for its journeys once it has run (the rest is dropped
#: when its journeys travel)
KEPT = (
    "definition", "window", "triggers", "stages", "cand_step", "width", "to_meta",
    "stage", "version", "entered", "started", "entry_seq", "tfired", "order", "sids",
)  # fmt: skip


class PackedJourneys:
    """A :class:`ColumnarJourneys` that pickles as its packed columns (no history built);
    ``journeys()`` gives the mapping back on the other side."""

    def __init__(self, journeys: ColumnarJourneys) -> None:
        self.journeys_ = journeys

    def journeys(self) -> ColumnarJourneys:
        return self.journeys_

    def __reduce__(self) -> Any:
        j = self.journeys_
        e = j.engine
        sids = e.sids
        state = {name: getattr(e, name) for name in KEPT}
        state["sids"] = sids
        state["keys"] = e.cols.keys
        state["meta"] = e.cols.meta
        columns = (j.cand, j.mat, j.mref, j.mentry, j.mj, j.mseq)
        built = {k: v for k, v in j.built.items()}  # pickled as they are now
        return (_unpack, (state, j.order, j.offsets, columns, built))


def _unpack(
    state: dict[str, Any], order: list[int], offsets: Any, columns: Any, built: dict[int, Journey]
) -> PackedJourneys:
    engine = EngineState()
    engine.np = modules()[2]
    for name in KEPT:
        setattr(engine, name, state[name])
    engine.cols = Columns()
    engine.cols.keys = state["keys"]
    engine.cols.meta = state["meta"]
    np = engine.np
    journeys = ColumnarJourneys(engine, np.asarray(order, np.int64), offsets, columns)
    journeys.built.update(built)
    return PackedJourneys(journeys)


def _extend(np: Any, into: Any, values: Any) -> None:
    """Append the int64 numpy ``values`` to the ``array("q")`` ``into`` (its bytes, not
    a Python int each)."""
    into.frombytes(np.ascontiguousarray(values, np.int64).tobytes())


class ColumnarHistory:
    """The packed history of one journey of a columnar replay (a
    :class:`~journeyfsm._packed.PackedHistory`)."""

    __slots__ = ("j", "result")

    def __init__(self, result: ColumnarJourneys, j: int) -> None:
        self.result = result
        self.j = j

    def _rows(self) -> range:
        o = self.result.offsets
        return range(int(o[self.j]), int(o[self.j + 1]))

    def entries(self) -> list[HistoryEntry]:
        r = self.result
        return [r.entry(self.j, seq, i) for seq, i in enumerate(self._rows(), 1)]

    def moves(self) -> list[Move]:
        r = self.result
        steps, at = r.engine.cand_step, r.at
        cand = r.cand
        return [
            (seq, *steps[int(cand[i])], at(int(r.mat[i]))) for seq, i in enumerate(self._rows(), 1)
        ]

    def metas(self) -> list[Any]:
        r = self.result
        return [r.meta(i) for i in self._rows()]


class ColumnarJourneys(Mapping[str, Journey]):
    """The journeys of a columnar replay by key, each built (with its packed history)
    the first time it is read; iteration is in the order the Python path gives."""

    def __init__(self, engine: Any, order: Any, offsets: Any, columns: Any) -> None:
        self.engine = engine
        self.keys_ = engine.cols.keys
        self.order = order.tolist()
        self._position: dict[str, int] | None = None  # key -> journey, built when looked up
        self.offsets = offsets
        self.cand, self.mat, self.mref, self.mentry, self.mj, self.mseq = columns
        self.built: dict[int, Journey] = {}
        self._meta_rows: dict[str, list[Any]] | None = None
        self._metas: dict[tuple[Any, ...], Any] = {}

    def position(self) -> dict[str, int]:
        """Each journey's number by key."""
        if self._position is None:
            self._position = {k: j for j, k in enumerate(self.keys_)}
        return self._position

    def __len__(self) -> int:
        return len(self.order)

    def __iter__(self) -> Iterator[str]:
        keys = self.keys_
        return (keys[j] for j in self.order)

    def __contains__(self, key: object) -> bool:
        return key in self.position()

    def __reduce__(self) -> Any:
        # pickled (and deep-copied) as the plain dict of journeys it stands for
        return (dict, (dict(self.items()),))

    def packed(self) -> PackedJourneys:
        """These journeys for another process, their histories still packed (what
        ``replay_dask`` sends back from a worker; a pickle of the mapping itself holds
        plain journeys, histories built)."""
        return PackedJourneys(self)

    def __getitem__(self, key: str) -> Journey:
        j = self.position()[key]
        journey = self.built.get(j)
        if journey is None:
            # two threads may build it at once: both get the one stored first, as from a dict
            journey = self.built.setdefault(j, self._journey(j))
        return journey

    def stage_counts(self) -> dict[str, int]:
        """Journeys per final stage, every stage of the definition, without building any."""
        np = self.engine.np
        per = np.bincount(self.engine.stage, minlength=len(self.engine.stages))
        return {name: int(per[i]) for i, name in enumerate(self.engine.stages)}

    def replayed(self, definition: JourneyDefinition) -> bool:
        """Whether these journeys were replayed through ``definition``."""
        d = self.engine.definition
        return d is definition or d == definition

    def tally_into(self, tally: Any, plan: Any, keep: Any) -> None:
        """Add the funnel figures of the journeys ``keep`` (a bool array by journey
        number: the unbuilt ones of :meth:`split`, or a group of them) to ``tally`` (a
        :class:`~._funnel.Tally` under ``plan``) from the packed columns, exactly as
        reading their histories one by one would."""
        e = self.engine
        np = e.np
        J = len(self.keys_)
        stages = e.stages
        index = {s: i for i, s in enumerate(stages)}
        trigger_of = {t: i for i, t in enumerate(e.triggers)}
        steps = e.cand_step
        c_src = np.array([index[s] for _, s, _ in steps] or [0], np.int64)
        c_dst = np.array([index[d] for _, _, d in steps] or [0], np.int64)
        c_trig = np.array([trigger_of[t] for t, _, _ in steps] or [0], np.int64)
        # what a recorded dest == source move of (stage, trigger) reads as: 0 reenter,
        # 1 internal, 2 both (then the journey's entry_seq decides)
        kinds = {"reenter": 0, "internal": 1, "both": 2}
        c_kind = np.array(
            [kinds[plan.self_moves.get((s, t), "both")] for t, s, _ in steps] or [0], np.int64
        )
        mj, mseq, cand, mat = self.mj, self.mseq, self.cand, self.mat
        moved = keep[mj]
        mj, mseq, cand, mat = mj[moved], mseq[moved], cand[moved], mat[moved]
        src, dst, trig = c_src[cand], c_dst[cand], c_trig[cand]
        # every move counts in moves and trigger_moves, internal ones included
        S, T = len(stages), len(e.triggers)
        per = np.bincount((src * S + dst) * T + trig, minlength=S * S * T)
        for flat in np.flatnonzero(per).tolist():
            st, t = divmod(flat, T)
            s, d = divmod(st, S)
            n = int(per[flat])
            tally.moves[(stages[s], stages[d], e.triggers[t])] += n
            tally.trigger_moves[e.triggers[t]] += n
        kind = c_kind[cand]
        boundary = (dst != src) | (kind == 0) | ((kind == 2) & (mseq <= e.entry_seq[mj]))
        bj, bsrc, bdst, bat = mj[boundary], src[boundary], dst[boundary], mat[boundary]
        started = e.started
        # a stay starts at the previous boundary of the journey (its start for the first)
        first_of_journey = np.ones(len(bj), bool)
        first_of_journey[1:] = bj[1:] != bj[:-1]
        stay_start = np.empty(len(bj), np.int64)
        stay_start[first_of_journey] = started[bj[first_of_journey]]
        stay_start[~first_of_journey] = bat[:-1][~first_of_journey[1:]] if len(bj) else []
        stay = bat - stay_start
        initial = index[e.definition.initial_stage]
        n_kept = int(keep.sum())
        tally.journeys += n_kept
        for s, n in enumerate(np.bincount(e.stage[keep], minlength=S).tolist()):
            if n:
                tally.current[stages[s]] += n
        for s in range(S):
            values = stay[bsrc == s]
            if len(values):
                _extend(np, tally.time_in[stages[s]], values)
        # first entry of each stage: the journey's start for the initial stage, else its
        # first boundary move into the stage
        tally.entered[stages[initial]] += n_kept
        _extend(np, tally.time_to[stages[initial]], np.zeros(n_kept, np.int64))
        pairs = bj * S + bdst
        fresh = bdst != initial
        uniq, first = np.unique(pairs[fresh], return_index=True)
        fj = bj[fresh][first]
        fd = bdst[fresh][first]
        fat = bat[fresh][first]
        for s in range(S):
            mask = fd == s
            n = int(mask.sum())
            if n:
                tally.entered[stages[s]] += n
                _extend(np, tally.time_to[stages[s]], fat[mask] - started[fj[mask]])
        position = np.array([plan.position.get(s, -1) for s in stages], np.int64)
        furthest = np.full(J, position[initial], np.int64)
        if len(fj):
            np.maximum.at(furthest, fj, position[fd])
        for p, n in enumerate(np.bincount(furthest[keep & (furthest >= 0)]).tolist()):
            if n:
                tally.furthest[p] += n
        del uniq

    def split(self) -> tuple[Any, list[Journey]]:
        """The journeys not built yet (a bool array by journey number: the ones
        :meth:`tally_into` counts from the columns) and the built ones (they may have
        moved since: the caller reads them one by one), from one look at :attr:`built`,
        so that a journey another thread builds meanwhile is counted once."""
        np = self.engine.np
        built = dict(self.built)  # one copy: journeys built from now on are counted unbuilt
        keep = np.ones(len(self.keys_), bool)
        if built:
            keep[list(built)] = False
        return keep, list(built.values())

    def start_days(self) -> Any:
        """Each journey's start as days since 1970-01-01 (UTC), by journey number."""
        return self.engine.started // (86_400 * 1_000_000)

    @staticmethod
    def at(us: int) -> datetime:
        return _EPOCH + timedelta(microseconds=us)

    def _journey(self, j: int) -> Journey:
        e = self.engine
        at = self.at
        key = self.keys_[j]
        journey: LazyJourney = new_journey(
            key, e.stages[int(e.stage[j])], e.definition.name, at(int(e.started[j]))
        )
        journey.version = int(e.version[j])
        journey.entered_at = at(int(e.entered[j]))
        journey.entry_seq = int(e.entry_seq[j])
        journey.timeouts_fired = int(e.tfired[j])
        found = (self.event_id(j, i) for i in range(int(self.offsets[j]), int(self.offsets[j + 1])))
        ids = [i for i in found if i is not None]
        if ids:
            window = e.window
            journey.event_ids = dict.fromkeys(ids[-window:] if window else [])
        set_source(journey, ColumnarHistory(self, j))
        return journey

    def event_id(self, j: int, i: int) -> str | None:
        ref = int(self.mref[i])
        if ref >= 0:
            e = self.engine
            if e.sids is None:
                return None
            if not isinstance(e.sids, list):
                e.sids = e.sids.to_pylist()
            return e.sids[ref]  # type: ignore[no-any-return]
        slot = -1 - ref
        index = slot % self.engine.width
        return timeout_event_id(
            self.engine.definition.name, self.keys_[j], int(self.mentry[i]), index
        )

    def meta(self, i: int) -> Any:
        ref = int(self.mref[i])
        e = self.engine
        if ref < 0:
            slot = -1 - ref
            return e.to_meta[divmod(slot, e.width)]
        if not e.cols.meta:
            return None
        if self._meta_rows is None:
            self._meta_rows = {c: a.to_pylist() for c, a in e.cols.meta.items()}
        row = int(e.order[ref])
        values = {
            c: v[row] for c, v in self._meta_rows.items() if v[row] is not None and v[row] != ""
        }
        if not values:
            return None
        # equal metas share one read-only dict, as the fast path's CSV loop does
        shared = self._metas.get(tuple(values.items()))
        if shared is None:
            shared = self._metas[tuple(values.items())] = frozen_json(copy_checked(values, "meta"))
        return shared

    def entry(self, j: int, seq: int, i: int) -> HistoryEntry:
        e = self.engine
        trigger, source, dest = e.cand_step[int(self.cand[i])]
        return history_entry(
            seq, trigger, source, dest, self.at(int(self.mat[i])), self.event_id(j, i), self.meta(i)
        )
