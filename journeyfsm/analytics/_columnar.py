"""The columnar replay engine: every journey's k-th event applied at once, with numpy.

Theory of operation
-------------------
The fast path (:mod:`._fastpath`) applies one event at a time in Python.  This engine
applies the table to whole columns instead, and is exact where it runs:

1. **Read** the log as Arrow columns (:mod:`._colread`); sort the mapped rows by
   (journey, time, file order), the order the Python path applies them in.
2. **Decide every guard at once.**  A definition runs here only when each guard is an
   expression over payload columns (:func:`journeyfsm.col`), and such a guard is a
   pure function of the row (:mod:`._colguards`).  So for every (stage, trigger) cell
   and every row of that trigger, the candidate that would win from that stage is
   computed up front, as a vector: ``choice[stage, row]`` is a candidate id,
   ``IGNORED`` (no candidate) or ``BLOCKED``.  Stage timeouts fire with payload
   ``None``: their choice is one value per (stage, timeout).
3. **Step through ranks.**  Step ``k`` takes the ``k``-th event of every journey that
   has one: first each such journey's timeouts due by the event's time fire, in due
   order, at their due times (the ``tick`` loop, vectorised over the journeys still
   due), then the event: a duplicate when its id is one of the journey's last
   ``event_id_window`` move ids (each (journey, id) pair remembers the position of its
   latest move among the journey's id-bearing moves), else ``choice[stage, row]``.
   A move bumps the version, and unless it is internal sets stage, entry time, entry
   seq and resets the timeouts fired.  ``end`` fires what is due by then.
4. **Count** outcomes per (stage, trigger) with ``bincount``; keep every move in flat
   arrays.  Journeys (:class:`~._coljourneys.ColumnarJourneys`) and their histories
   are built when read, from those arrays.

Anything the engine cannot do exactly (:class:`~._colread.Fallback`: bad rows, an
expression raising on some value, an odd time shape that does not read) sends the
replay back to the Python path, which reports it as it always has.
tests/test_columnar.py holds the two to the same journeys and counts.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from .._definition import JourneyDefinition
from .._guards import Guard
from .._json import copy_checked, frozen_json
from .._timeouts import stage_timeouts
from ._colguards import Vectors, scalar
from ._coljourneys import KEPT, ColumnarJourneys, EngineState
from ._colread import Columns, Fallback, modules
from ._tally import BLOCKED, DUPLICATE, IGNORED, MOVED, TIMEOUTS, Tally

__all__ = ["ColumnarReplay", "stable_order"]

IGNORED_CODE, BLOCKED_CODE, DUPLICATE_CODE = -1, -2, -3
_FAR = 2**62  # µs: a due time later than any event


class ColumnarReplay:
    """Replays :class:`~._colread.Columns` through ``definition`` (see the module docs)."""

    def __init__(self, definition: JourneyDefinition, event_id_window: int, tally: Tally) -> None:
        self.np = modules()[2]
        self.definition = definition
        self.window = event_id_window
        self.tally = tally
        self.triggers: tuple[str, ...] = tuple(definition.triggers)
        self.index = {t: i for i, t in enumerate(self.triggers)}
        self.stages: tuple[str, ...] = tuple(definition.stage_names)
        self.stage_index = {s: i for i, s in enumerate(self.stages)}
        self._compile()

    def _compile(self) -> None:
        np, d = self.np, self.definition
        S = len(self.stages)
        #: candidates: (dest stage index or -1 internal, guards, (trigger, source, dest))
        self.cand_dest: list[int] = []
        self.cand_guards: list[tuple[Guard, ...]] = []
        self.cand_step: list[tuple[str, str, str]] = []
        self.cells: dict[tuple[int, int], list[int]] = {}
        for source, row in d.table.items():
            s = self.stage_index[source]
            for trigger, transitions in row.items():
                ids = []
                for t in transitions:
                    ids.append(len(self.cand_dest))
                    self.cand_dest.append(-1 if t.dest is None else self.stage_index[t.dest])
                    self.cand_guards.append(tuple(t.guards))
                    self.cand_step.append((trigger, source, source if t.dest is None else t.dest))
                self.cells[(s, self.index[trigger])] = ids
        timeouts = stage_timeouts(d)
        width = max((len(ts) for ts in timeouts.values()), default=0) or 1
        self.width = width
        self.n_to = np.zeros(S, np.int64)
        self.after = np.full((S, width), _FAR, np.int64)
        self.to_trigger = np.zeros((S, width), np.int64)
        self.to_choice = np.full((S, width), IGNORED_CODE, np.int64)
        self.to_meta: dict[tuple[int, int], Any] = {}
        for name, ts in timeouts.items():
            s = self.stage_index[name]
            self.n_to[s] = len(ts)
            for i, to in enumerate(ts):
                us = to.after // timedelta(microseconds=1)
                self.after[s, i] = us
                self.to_trigger[s, i] = self.index[to.trigger]
                self.to_choice[s, i] = self._choose_scalar(s, self.index[to.trigger], None)
                self.to_meta[(s, i)] = frozen_json(
                    copy_checked({"timeout": to.after.total_seconds()}, "meta")
                )
        self.cand_dest_arr = np.array(self.cand_dest or [0], np.int64)

    def _choose_scalar(self, s: int, t: int, payload: Any) -> int:
        cell = self.cells.get((s, t))
        if cell is None:
            return IGNORED_CODE
        for c in cell:
            if all(scalar(g, payload) for g in self.cand_guards[c]):
                return c
        return BLOCKED_CODE

    # -- the run -------------------------------------------------------------------------
    def run(self, cols: Columns, end_us: int | None) -> None:
        np = self.np
        self.cols = cols
        E = len(cols.trigger)
        J = len(cols.keys)
        self.J = J
        order = _sort(np, cols.key, cols.at)
        self.order = order
        sj, sat, strig = cols.key[order], cols.at[order], cols.trigger[order]
        cols.key = cols.at = cols.trigger = None  # sorted copies made: free the row arrays
        self.sat = sat
        count = np.bincount(sj, minlength=J).astype(np.int64)
        start = np.cumsum(count) - count
        self.start = start
        # unsorted: within some journey, time order is not file order
        same_journey = sj[1:] == sj[:-1]
        self.unsorted = bool(np.any(same_journey & (order[1:] < order[:-1]))) if E else False
        choice = self._choices(cols, order, strig)
        cols.payload = {}  # decided into choice: not read again
        # event ids: (journey, id) pairs; -1: no id
        self.sids: Any = None  # the event ids in sorted order (Arrow; a list once read)
        group = None
        if cols.event_id is not None and E:
            pa, pc = modules()[:2]
            sids = cols.event_id.take(pa.array(order, pa.int64()))
            self.sids = sids
            cols.event_id = None
            if pc.any(pc.starts_with(sids, "timeout:")).as_py():
                raise Fallback("a log event id looks like a timeout's id")
            encoded = pc.dictionary_encode(sids)
            idcode = pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False)
            idcode = idcode.astype(np.int64)
            # only an id that occurs more than once can make a duplicate: the others need
            # no group (they never match), so most rows skip the pairing below
            has = idcode >= 0
            has_id = has.copy()
            times = np.bincount(idcode[has], minlength=len(encoded.dictionary) + 1)
            has &= times[np.maximum(idcode, 0)] > 1
            group = np.full(E, -1, np.int64)
            pairs = sj[has] * (len(encoded.dictionary) + 1) + idcode[has]
            uniq, inverse = np.unique(pairs, return_inverse=True)
            group[has] = inverse
            self.lastpos = np.full(len(uniq) + 1, -(2**62), np.int64)
        S = len(self.stages)
        initial = self.stage_index[self.definition.initial_stage]
        self.stage = np.full(J, initial, np.int64)
        self.version = np.zeros(J, np.int64)
        self.entered = sat[start].copy() if J else np.zeros(0, np.int64)
        self.started = self.entered.copy()
        self.entry_seq = np.zeros(J, np.int64)
        self.tfired = np.zeros(J, np.int64)
        self.idmoves = np.zeros(J, np.int64)
        self.moves: list[tuple[Any, ...]] = []  # (j, seq, cand, at, ref, entry)
        self.outcome = np.zeros(E, np.int64)
        self.from_stage = np.zeros(E, np.int64)
        self.to_log: list[tuple[Any, Any, Any]] = []  # (stage, trigger, code) per timeout
        has_timeouts = bool(self.n_to.any())
        jorder = np.argsort(-count, kind="stable")
        desc = count[jorder]
        steps = int(desc[0]) if J else 0
        for k in range(steps):
            # the journeys with more than k events: a prefix, as desc is descending
            active = int(np.searchsorted(-desc, -k, side="left"))
            A = jorder[:active]
            Ek = start[A] + k
            T = sat[Ek]
            if has_timeouts:
                self._tick(A, T)
            c = choice[self.stage[A], Ek]
            if group is not None:
                g = group[Ek]
                last = self.lastpos[g]  # g == -1 reads the sentinel slot
                dup = (g >= 0) & (last >= 0) & (last >= self.idmoves[A] - self.window)
                c = np.where(dup, DUPLICATE_CODE, c)
            self.outcome[Ek] = c
            self.from_stage[Ek] = self.stage[A]
            moved = c >= 0
            if moved.any():
                Am, cm, Tm, Em = A[moved], c[moved], T[moved], Ek[moved]
                if group is not None:
                    gm = group[Em]
                    grouped = gm >= 0
                    self.lastpos[gm[grouped]] = self.idmoves[Am[grouped]]
                    self.idmoves[Am[has_id[Em]]] += 1
                self._move(Am, cm, Tm, Em, None)
        if end_us is not None and has_timeouts and J:
            self._tick(np.arange(J), np.full(J, end_us, np.int64))
        self._count(strig, S)

    def _choices(self, cols: Columns, order: Any, strig: Any) -> Any:
        """``choice[stage, sorted row]``: the winning candidate, IGNORED or BLOCKED."""
        np = self.np
        pa = modules()[0]
        S, E = len(self.stages), len(strig)
        choice = np.full(
            (S, E), IGNORED_CODE, np.int32 if len(self.cand_dest) < 2**31 else np.int64
        )
        by_trigger: dict[int, list[tuple[int, list[int]]]] = {}
        for (s, t), cands in self.cells.items():
            by_trigger.setdefault(t, []).append((s, cands))
        for t, cells in by_trigger.items():
            rows = np.flatnonzero(strig == t)
            if not len(rows):
                continue
            guarded = any(self.cand_guards[c] for _, cands in cells for c in cands)
            vectors = None
            if guarded:
                take = pa.array(order[rows], pa.int64())
                payload = {name: arr.take(take) for name, arr in cols.payload.items()}
                vectors = Vectors(payload, len(rows))
            cache: dict[int, Any] = {}
            for s, cands in cells:
                result = np.full(len(rows), BLOCKED_CODE, np.int64)
                open_ = np.ones(len(rows), bool)
                for c in cands:
                    guards = self.cand_guards[c]
                    if not guards:
                        result[open_] = c
                        break
                    assert vectors is not None
                    passed = np.ones(len(rows), bool)
                    for g in guards:
                        key = id(g)
                        if key not in cache:
                            cache[key] = vectors.of(g)
                        passed &= cache[key]
                    win = open_ & passed
                    result[win] = c
                    open_ &= ~passed
                choice[s, rows] = result
        return choice

    def _move(self, A: Any, cands: Any, T: Any, ref: Any, entry: Any) -> None:
        """Record moves of journeys ``A`` by candidates ``cands`` at ``T`` (``ref``: sorted
        row, or for a timeout ``-1 - slot``; ``entry``: the entry seq a timeout fired in)."""
        self.version[A] += 1
        seq = self.version[A]
        self.moves.append((A, seq, cands, T, ref, entry))
        dest = self.cand_dest_arr[cands]
        real = dest >= 0
        if real.any():
            Ar = A[real]
            self.stage[Ar] = dest[real]
            self.entered[Ar] = T[real]
            self.entry_seq[Ar] = seq[real]
            self.tfired[Ar] = 0

    def _tick(self, A: Any, T: Any) -> None:
        """Fire the timeouts of journeys ``A`` due by ``T`` (each its own time), in due
        order, as ``machine.tick`` does."""
        np = self.np
        width = self.width
        while len(A):
            s = self.stage[A]
            i = self.tfired[A]
            pending = i < self.n_to[s]
            slot_i = np.minimum(i, width - 1)
            due = np.where(pending, self.entered[A] + self.after[s, slot_i], _FAR)
            fire = pending & (due <= T)
            if not fire.any():
                return
            A, T = A[fire], T[fire]
            s, i, due = s[fire], i[fire], due[fire]
            c = self.to_choice[s, i]
            entry = self.entry_seq[A].copy()
            self.to_log.append((s, self.to_trigger[s, i], c))
            moved = c >= 0
            # a blocked or ignored timeout has fired all the same; so has an internal move
            self.tfired[A] = i + 1
            if moved.any():
                Am = A[moved]
                self.idmoves[Am] += 1  # a timeout's move carries its event id
                self._move(
                    Am, c[moved], due[moved], -1 - (s[moved] * width + i[moved]), entry[moved]
                )

    def _count(self, strig: Any, S: int) -> None:
        np, tally, triggers = self.np, self.tally, self.triggers
        T = len(triggers)
        counts = tally.counts
        out, src = self.outcome, self.from_stage

        def add(stages: Any, trigs: Any, codes: Any, timeout: bool) -> None:
            for code, column, pairs in (
                (IGNORED_CODE, IGNORED, tally.ignored_pairs),
                (BLOCKED_CODE, BLOCKED, tally.blocked_pairs),
            ):
                mask = codes == code
                per = np.bincount(stages[mask] * T + trigs[mask], minlength=S * T)
                for flat in np.flatnonzero(per).tolist():
                    s, t = divmod(flat, T)
                    n = int(per[flat])
                    counts[triggers[t]][column] += n
                    pair = (self.stages[s], triggers[t])
                    pairs[pair] = pairs.get(pair, 0) + n
                    if timeout:
                        tally.timeout_status[column] += n
                        counts[triggers[t]][TIMEOUTS] += n
            for code_mask, column in ((codes >= 0, MOVED), (codes == DUPLICATE_CODE, DUPLICATE)):
                per = np.bincount(trigs[code_mask], minlength=T)
                for t in np.flatnonzero(per).tolist():
                    n = int(per[t])
                    counts[triggers[t]][column] += n
                    if timeout:
                        tally.timeout_status[column] += n
                        counts[triggers[t]][TIMEOUTS] += n

        add(src, strig, out, False)
        tally.events_applied = len(out)
        del self.outcome, self.from_stage  # one value per row: not kept once counted
        if self.to_log:
            s = np.concatenate([x[0] for x in self.to_log])
            t = np.concatenate([x[1] for x in self.to_log])
            c = np.concatenate([x[2] for x in self.to_log])
            add(s, t, c, True)
            tally.timeouts_fired = len(c)

    # -- the result ----------------------------------------------------------------------
    def journeys(self) -> ColumnarJourneys:
        """The journeys, built when read (in the order the Python path starts them); the
        same mapping on every call (the moves are handed over to it)."""
        done: ColumnarJourneys | None = getattr(self, "journeys_", None)
        if done is not None:
            return done
        np = self.np
        J = self.J
        if self.moves:
            mj = np.concatenate([m[0] for m in self.moves])
            mseq = np.concatenate([m[1] for m in self.moves])
            mcand = np.concatenate([m[2] for m in self.moves])
            mat = np.concatenate([m[3] for m in self.moves])
            mref = np.concatenate(
                [np.broadcast_to(np.asarray(m[4]), m[0].shape) for m in self.moves]
            )
            mentry = np.concatenate(
                [
                    np.zeros(len(m[0]), np.int64) if m[5] is None else np.asarray(m[5])
                    for m in self.moves
                ]
            )
            by = stable_order(np, mj * (int(mseq.max()) + 1) + mseq)  # (journey, seq)
            columns = (mcand[by], mat[by], mref[by], mentry[by], mj[by], mseq[by])
            per = np.bincount(mj, minlength=J)
            self.moves = []  # the pieces, now in the columns
        else:
            columns = tuple(np.zeros(0, np.int64) for _ in range(6))
            per = np.zeros(J, np.int64)
        offsets = np.concatenate([[0], np.cumsum(per)]).astype(np.int64)
        if self.unsorted and J:
            firsts = self.start
            order = np.lexsort((self.order[firsts], self.sat[firsts]))
        else:
            order = np.arange(J)
        state, columns = self._kept(columns)
        self.journeys_ = ColumnarJourneys(state, order, offsets, columns)
        return self.journeys_

    def _kept(self, columns: tuple[Any, ...]) -> tuple[EngineState, tuple[Any, ...]]:
        """What the journeys read of this run (:data:`~._coljourneys.KEPT`), and the move
        columns re-pointed at it.  Only the rows that moved a journey keep their event id
        and meta (renumbered in move order): the others' (ignored, blocked, duplicate,
        most rows of a long log) are not read again, so the result holds per move, not
        per row; and the run's own per-row arrays go with the engine."""
        np = self.np
        pa = modules()[0]
        cand, mat, mref, mentry, mj, mseq = columns
        has = mref >= 0
        refs = mref[has]
        mref = mref.copy()
        mref[has] = np.arange(len(refs), dtype=np.int64)
        state = EngineState()
        state.np = np
        for name in KEPT:
            setattr(state, name, getattr(self, name))
        state.order = np.arange(len(refs), dtype=np.int64)
        take = pa.array(refs, pa.int64())
        if self.sids is not None:
            state.sids = self.sids.take(take)
        rows = pa.array(self.order[refs], pa.int64())
        state.cols = Columns()
        state.cols.keys = self.cols.keys
        state.cols.meta = {c: a.take(rows) for c, a in self.cols.meta.items()}
        return state, (cand, mat, mref, mentry, mj, mseq)


def _sort(np: Any, key: Any, at: Any) -> Any:
    """The row order (journey, time, file order).  A log in time order (the usual one)
    needs only a stable sort by journey; otherwise one stable sort of a combined int64
    key when journey and time fit in it, else ``lexsort``."""
    n = len(key)
    if not n:
        return np.zeros(0, np.int64)
    if bool(np.all(at[1:] >= at[:-1])):  # time order is file order
        return stable_order(np, key)
    lo, hi = int(at.min()), int(at.max())
    span = hi - lo + 1
    if (int(key.max()) + 1) * span < 2**62:
        return stable_order(np, key * span + (at - lo))
    return np.lexsort((np.arange(n), at, key))


def stable_order(np: Any, values: Any) -> Any:
    """``np.argsort(values, kind="stable")`` of non-negative int64 ``values``, as a radix
    sort: one stable sort per 16 bits of the largest value (numpy sorts 16-bit integers
    by radix, in linear time; int64 by timsort, several times slower on a shuffled
    column)."""
    n = len(values)
    bits = int(values.max()).bit_length() if n else 0
    order = None
    for shift in range(0, max(bits, 1), 16):
        digit = ((values >> shift) & 0xFFFF).astype(np.uint16)
        if order is None:
            order = np.argsort(digit, kind="stable")
        else:
            order = order[np.argsort(digit[order], kind="stable")]
    return order
