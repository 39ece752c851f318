"""The columnar replay engine: every journey's k-th event applied at once, with numpy.

Theory of operation
-------------------
The fast path (:mod:`._fastpath`) applies one event at a time in Python.  This engine
applies the table to whole columns instead, and is exact where it runs:

1. **Read** the log as Arrow columns (:mod:`._colread`); sort the mapped rows by
   (journey, time, file order), the order the Python path applies them in.
2. **Decide every guard at once.**  A definition runs here only when each guard is an
   expression over payload columns (:func:`journeyfsm.col`), and such a guard is a
   pure function of the row.  So for every (stage, trigger) cell and every row of that
   trigger, the candidate that would win from that stage is computed up front, as a
   vector: ``choice[stage, row]`` is a candidate id, ``IGNORED`` (no candidate) or
   ``BLOCKED``.  Stage timeouts fire with payload ``None``: their choice is one value
   per (stage, timeout).
3. **Step through ranks.**  Step ``k`` takes the ``k``-th event of every journey that
   has one: first each such journey's timeouts due by the event's time fire, in due
   order, at their due times (the ``tick`` loop, vectorised over the journeys still
   due), then the event: a duplicate when its id is one of the journey's last
   ``event_id_window`` move ids (each (journey, id) pair remembers the position of its
   latest move among the journey's id-bearing moves), else ``choice[stage, row]``.
   A move bumps the version, and unless it is internal sets stage, entry time, entry
   seq and resets the timeouts fired.  ``end`` fires what is due by then.
4. **Count** outcomes per (stage, trigger) with ``bincount``; keep every move in flat
   arrays.  Journeys (:class:`ColumnarJourneys`) and their histories are built when
   read, from those arrays.

Anything the engine cannot do exactly (:class:`~._colread.Fallback`: bad rows, an
expression raising on some value, an odd time shape that does not read) sends the
replay back to the Python path, which reports it as it always has.
tests/test_columnar.py holds the two to the same journeys and counts.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta
from typing import Any

from .._clock import UTC
from .._columns import OPS, Expr
from .._definition import JourneyDefinition
from .._guards import AllOf, AnyOf, Guard, Not
from .._json import copy_checked, frozen_json
from .._packed import LazyJourney, Move, set_source
from .._records import HistoryEntry, Journey
from .._timeouts import stage_timeouts, timeout_event_id
from ._colread import Columns, Fallback, arrow, modules
from ._fasttable import history_entry, new_journey
from ._tally import BLOCKED, DUPLICATE, IGNORED, MOVED, TIMEOUTS, Tally

__all__ = ["ColumnarJourneys", "ColumnarReplay", "columnar_refusal"]

IGNORED_CODE, BLOCKED_CODE, DUPLICATE_CODE = -1, -2, -3
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_FAR = 2**62  # µs: a due time later than any event


def columnar_refusal(definition: JourneyDefinition) -> str | None:
    """Why ``definition`` cannot replay on the columnar engine (None: it can)."""
    for t in definition.transitions:
        for g in t.guards:
            for leaf in g.leaves():
                if leaf.__class__ is not Expr:
                    return (
                        f"guard {leaf.name!r} is a function; the columnar engine runs guards "
                        "written as expressions over payload columns (journeyfsm.col)"
                    )
    if arrow() is None:
        return "the columnar engine needs pyarrow and numpy: pip install 'journeyfsm[fast]'"
    return None


def scalar(g: Guard, payload: Any) -> bool:
    """An expression guard's result on one payload (as ``check`` decides it)."""
    if isinstance(g, Expr):
        return g.test(payload)
    if isinstance(g, AllOf):
        return all(scalar(p, payload) for p in g.parts)
    if isinstance(g, AnyOf):
        return any(scalar(p, payload) for p in g.parts)
    if isinstance(g, Not):
        return not scalar(g.part, payload)
    raise Fallback(f"guard {g.name!r} is not an expression")  # pragma: no cover


class _Vectors:
    """Guard results over a set of rows (Arrow payload arrays for those rows)."""

    def __init__(self, payload: Mapping[str, Any], n: int) -> None:
        self.payload = payload
        self.n = n
        self.pa, self.pc, self.np = modules()

    def of(self, g: Guard) -> Any:
        np = self.np
        if isinstance(g, Expr):
            return self.expr(g)
        if isinstance(g, AllOf):
            return np.logical_and.reduce([self.of(p) for p in g.parts])
        if isinstance(g, AnyOf):
            return np.logical_or.reduce([self.of(p) for p in g.parts])
        if isinstance(g, Not):
            return ~self.of(g.part)
        raise Fallback(f"guard {g.name!r} is not an expression")  # pragma: no cover

    def expr(self, e: Expr) -> Any:
        pa, pc, np = self.pa, self.pc, self.np
        array = self.payload.get(e.column)
        if array is None:  # not a payload column: null in every row
            return np.full(self.n, e.test_value(None))
        t = array.type
        missing = pc.is_null(array)
        if pa.types.is_string(t) or pa.types.is_large_string(t):
            missing = pc.or_(missing, pc.equal(array, ""))
        null = pc.fill_null(missing, True).to_numpy(zero_copy_only=False)
        literal = e.value
        numeric = (pa.types.is_integer(t) or pa.types.is_floating(t)) and not pa.types.is_boolean(t)
        if (
            numeric
            and e.kind in OPS
            and isinstance(literal, (int, float))
            and not isinstance(literal, bool)
        ):
            values = pc.fill_null(array, 0).to_numpy(zero_copy_only=False)
            try:
                result = np.asarray(OPS[e.kind](values, literal), dtype=bool)
            except (OverflowError, TypeError) as err:
                raise Fallback(f"{e.name} does not vectorise ({err})") from None
            result[null] = False
            return result
        if e.kind == "is_null":
            return null.copy()
        # anything else: the scalar rule on each distinct value, gathered back
        try:
            encoded = pc.dictionary_encode(array)
        except pa.ArrowException:
            raise Fallback(f"{e.name}: the column {e.column!r} does not encode") from None
        try:
            decided = [
                e.test_value(None if v is None or v == "" else v)
                for v in encoded.dictionary.to_pylist()
            ]
            on_null = e.test_value(None)
        except (TypeError, ValueError) as err:
            raise Fallback(
                f"{e.name} raises on some row ({err}): the Python path reports it"
            ) from None
        table = np.array([*decided, on_null], dtype=bool)
        indices = pc.fill_null(encoded.indices, len(decided)).to_numpy(zero_copy_only=False)
        result = table[indices]
        result[null] = on_null
        return result


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
                vectors = _Vectors(payload, len(rows))
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
            by = np.argsort(mj * (int(mseq.max()) + 1) + mseq)  # (journey, seq): unique
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
        self.journeys_ = ColumnarJourneys(self, order, offsets, columns)
        return self.journeys_


def _sort(np: Any, key: Any, at: Any) -> Any:
    """The row order (journey, time, file order): one stable sort of a combined int64
    key when journey and time fit in it, else ``lexsort``."""
    n = len(key)
    if not n:
        return np.zeros(0, np.int64)
    lo, hi = int(at.min()), int(at.max())
    span = hi - lo + 1
    if (int(key.max()) + 1) * span < 2**62:
        return np.argsort(key * span + (at - lo), kind="stable")
    return np.lexsort((np.arange(n), at, key))


#: what a ColumnarReplay keeps for its journeys once it has run (the rest is dropped
#: when its journeys travel)
_KEPT = (
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
        state = {name: getattr(e, name) for name in _KEPT}
        state["sids"] = sids
        state["keys"] = e.cols.keys
        state["meta"] = e.cols.meta
        columns = (j.cand, j.mat, j.mref, j.mentry, j.mj, j.mseq)
        built = {k: v for k, v in j.built.items()}  # pickled as they are now
        return (_unpack, (state, j.order, j.offsets, columns, built))


def _unpack(
    state: dict[str, Any], order: list[int], offsets: Any, columns: Any, built: dict[int, Journey]
) -> PackedJourneys:
    engine: Any = ColumnarReplay.__new__(ColumnarReplay)
    engine.np = modules()[2]
    for name in _KEPT:
        setattr(engine, name, state[name])
    engine.cols = Columns()
    engine.cols.keys = state["keys"]
    engine.cols.meta = state["meta"]
    np = engine.np
    journeys = ColumnarJourneys(engine, np.asarray(order, np.int64), offsets, columns)
    journeys.built.update(built)
    return PackedJourneys(journeys)


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

    def __init__(self, engine: ColumnarReplay, order: Any, offsets: Any, columns: Any) -> None:
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
            journey = self.built[j] = self._journey(j)
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

    def tally_into(self, tally: Any, plan: Any, only: Any = None) -> list[Journey]:
        """Add the funnel figures of every journey not built yet to ``tally`` (a
        :class:`~._funnel.Tally` under ``plan``) from the packed columns, exactly as
        reading their histories one by one would; return the journeys that were built
        (they may have moved since: the caller reads them one by one).  ``only``: a bool
        array by journey number (:meth:`unbuilt`), the journeys to count (a group)."""
        e = self.engine
        np = e.np
        J = len(self.keys_)
        stages = e.stages
        keep = self.unbuilt()
        if only is not None:
            keep &= only
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
                tally.time_in[stages[s]].extend(values.tolist())
        # first entry of each stage: the journey's start for the initial stage, else its
        # first boundary move into the stage
        tally.entered[stages[initial]] += n_kept
        tally.time_to[stages[initial]].extend([0] * n_kept)
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
                tally.time_to[stages[s]].extend((fat[mask] - started[fj[mask]]).tolist())
        position = np.array([plan.position.get(s, -1) for s in stages], np.int64)
        furthest = np.full(J, position[initial], np.int64)
        if len(fj):
            np.maximum.at(furthest, fj, position[fd])
        for p, n in enumerate(np.bincount(furthest[keep & (furthest >= 0)]).tolist()):
            if n:
                tally.furthest[p] += n
        del uniq
        return list(self.built.values())

    def unbuilt(self) -> Any:
        """A bool array by journey number: the journeys not built yet (the ones
        :meth:`tally_into` counts from the columns)."""
        np = self.engine.np
        keep = np.ones(len(self.keys_), bool)
        if self.built:
            keep[list(self.built)] = False
        return keep

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
