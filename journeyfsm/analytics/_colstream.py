"""The columnar engine over a log too big to hold: key-partitioned spill files.

Theory of operation
-------------------
The in-memory columnar replay (:mod:`._colread`, :mod:`._columnar`) holds every row of
the log at once, several times over (Arrow's read, the takes, the numpy row arrays), so
its peak memory follows the rows.  A journey depends only on its own rows, so this pass
never holds the whole log:

1. **Spill.** The log is read in batches (CSV through ``pyarrow.csv.open_csv``, JSON Lines
   in blocks of lines (:mod:`._coljson`, each row numbered by its line), Parquet
   row group by row group); each row gets its row number in the log (the column
   ``ROW``) and goes, by a hash of its journey key, to one of ``parts`` Arrow IPC files
   in a temporary directory this pass owns (removed when it ends, on error and on
   ``KeyboardInterrupt`` too).  Every row of a key lands in one file, in log order.
2. **Replay each part** with the unchanged engine (:func:`~._colread.read_columns`,
   :class:`~._columnar.ColumnarReplay`); the row numbers ride along as a payload column
   and are taken out before the engine runs.  :data:`WORKERS` parts replay side by side
   on threads (Arrow's reads and kernels and numpy's sorts release the GIL; the parts
   share nothing but the definition), and are added up in file order.
3. **Merge** the parts into one :class:`~._coljourneys.ColumnarJourneys`: per-journey
   arrays and moves concatenated, journeys renumbered in the order the whole-log replay
   numbers them (first mapped row in the log) and iterated in its order (the same, or
   for an unsorted log by (start, row of the first event)); counts summed.  The result is
   the in-memory replay's, journey for journey (tests/test_colstream.py).

Peak memory is :data:`WORKERS` parts' replays plus the journeys' results, so it follows
the rows of a part (the log's rows / ``parts``) and the journeys, not the log.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import attrs

from .._definition import JourneyDefinition
from ._coljourneys import KEPT, ColumnarJourneys, EngineState
from ._coljson import jsonl_blocks
from ._colread import Columns, Fallback, csv_options, modules, plain_type, read_columns
from ._columnar import ColumnarReplay, stable_order
from ._logs import log_format
from ._mapping import LogMapping, MappingError
from ._tally import Tally

__all__ = [
    "MAX_PARTITIONS",
    "ROW",
    "WORKERS",
    "Streamed",
    "auto_partitions",
    "replay_partitioned",
]

#: the column that carries each row's number in the log through the spill files
ROW = "__journeyfsm_row__"
#: the automatic switch: logs of at least this many bytes stream, each part about
#: ``PART_BYTES`` big; below it the in-memory pass runs, holding about 8 bytes per byte of
#: CSV text (a 1M-row, 59 MB log peaks at ~530 MB), a pass that is 15-25% faster
STREAM_BYTES = 64 * 2**20
PART_BYTES = 8 * 2**20
#: the most parts a log is split into: the spill holds one open file per part (a
#: process's file limit is often 1024), so a bigger log gets bigger parts
MAX_PARTITIONS = 512
_BATCH_ROWS = 1 << 17
#: the key parts replayed side by side (threads); the partitioned pass then holds this
#: many parts' replays at once
WORKERS = min(2, os.cpu_count() or 1)


#: what a row weighs in the measure, at least (a row of the 1M-row benchmark log takes
#: 62 bytes as CSV text)
ROW_BYTES = 64


def auto_partitions(path: Path, mapping: LogMapping | None = None) -> int:
    """How many parts the automatic choice splits ``path`` into (1: in memory).

    The measure is what the in-memory replay would hold: a text log's size, or for
    Parquet (compressed, often tenfold) its metadata: the mapped columns' uncompressed
    size, and at least :data:`ROW_BYTES` per row."""
    try:
        size = path.stat().st_size
    except OSError:
        return 1
    if mapping is not None:
        try:
            parquet = log_format(path, mapping) == "parquet"
        except MappingError:
            parquet = False
        if parquet:
            size = _parquet_size(path, mapping, size)
    if size < STREAM_BYTES:
        return 1
    return min(-(-size // PART_BYTES), MAX_PARTITIONS)


def _parquet_size(path: Path, mapping: LogMapping, size: int) -> int:
    """The measure of a Parquet log from its metadata (``size``, the file's, if it has
    none that reads)."""
    try:
        import pyarrow.parquet as pq

        meta = pq.ParquetFile(path).metadata
    except (ImportError, OSError, ValueError):  # not Parquet after all: the Python path says so
        return size
    wanted = set(mapping.columns())
    columns = 0
    for g in range(meta.num_row_groups):
        group = meta.row_group(g)
        for c in range(group.num_columns):
            chunk = group.column(c)
            if chunk.path_in_schema.split(".")[0] in wanted:
                columns += chunk.total_uncompressed_size
    return int(max(columns, meta.num_rows * ROW_BYTES))


@attrs.define
class Streamed:
    """What the partitioned pass gives back (what :func:`~._replay_columnar.replay_columnar`
    reads from one in-memory replay)."""

    journeys: ColumnarJourneys
    cols: Columns  # rows_read, skipped, segments, bad_rows (log row numbers)
    first_us: int | None
    last_us: int | None
    unsorted: bool


def _buckets(pa: Any, pc: Any, np: Any, key: Any, parts: int) -> Any:
    """Each row's part: a hash of its key's text (null: the empty key) modulo ``parts``."""
    plain = plain_type(pa, key.type)  # a dictionary's values, a string_view as text
    if plain is not None:
        key = pc.cast(key, plain)
    t = key.type
    if pa.types.is_integer(t) or pa.types.is_large_string(t):
        key = pc.cast(key, pa.string())
    elif not pa.types.is_string(t):
        raise Fallback(f"the key column is {t}, not text or integers")
    if key.null_count:
        key = pc.fill_null(key, "")
    n = len(key)
    buffers = key.buffers()
    offsets = np.frombuffer(buffers[1], np.int32)[key.offset : key.offset + n + 1].astype(np.int64)
    lo, hi = int(offsets[0]), int(offsets[-1])
    data = (
        np.frombuffer(buffers[2], np.uint8)[lo:hi] if buffers[2] is not None and hi > lo else None
    )
    lengths = np.diff(offsets)
    if data is None:
        h = np.zeros(n, np.uint64)
    else:
        pos = np.arange(hi - lo, dtype=np.int64) - np.repeat(offsets[:-1] - lo, lengths)
        sums = np.zeros(hi - lo + 1, np.uint64)
        np.cumsum(data.astype(np.uint64) * _WEIGHTS[pos % len(_WEIGHTS)], out=sums[1:])
        h = sums[offsets[1:] - lo] - sums[offsets[:-1] - lo]
    h = h + lengths.astype(np.uint64)
    h ^= h >> np.uint64(31)
    h *= np.uint64(0x9E3779B97F4A7C15)
    h ^= h >> np.uint64(29)
    return (h % np.uint64(parts)).astype(np.int64)


def _weights() -> Any:
    np = modules()[2]
    return np.random.default_rng(19).integers(1, 2**63, 64, dtype=np.uint64) | np.uint64(1)


_WEIGHTS: Any = None


def _batches(path: Path, mapping: LogMapping) -> Any:
    """The mapped columns of ``path`` in record batches, or :class:`Fallback`."""
    pa = modules()[0]
    fmt = log_format(path, mapping)
    columns = list(mapping.columns())
    if fmt == "csv":
        import pyarrow.csv as pcsv

        read, parse, convert = csv_options(path, mapping)
        read.block_size = 1 << 20
        try:
            yield from pcsv.open_csv(
                path, read_options=read, parse_options=parse, convert_options=convert
            )
        except (pa.ArrowException, OSError, UnicodeDecodeError) as err:
            raise Fallback(f"the Arrow CSV reader refused the file ({err})") from None
        return
    if fmt == "parquet":
        import pyarrow.parquet as pq

        try:
            yield from pq.ParquetFile(path).iter_batches(_BATCH_ROWS, columns=columns)
        except (pa.ArrowException, OSError, KeyError) as err:
            raise Fallback(f"the Parquet file does not read whole ({err})") from None
        return
    raise Fallback(f"the columnar engine does not read {fmt} logs")


def _numbered(path: Path, mapping: LogMapping, lost: Columns) -> Iterator[tuple[Any, Any]]:
    """The log's record batches, each with its rows' numbers (a JSON Lines row's is its
    line number - 1; the lines that are not objects go into ``lost.bad_rows`` and
    ``lost.rows_read``)."""
    np = modules()[2]
    if log_format(path, mapping) == "jsonl":
        for block in jsonl_blocks(path, mapping):
            lost.rows_read += block.rows - block.table.num_rows
            lost.bad_rows += [(line - 1, why) for line, why in block.bad]
            if block.table.num_rows:
                yield block.table.combine_chunks().to_batches()[0], block.lines - 1
        return
    rows = 0
    for batch in _batches(path, mapping):
        n = batch.num_rows
        yield batch, np.arange(rows, rows + n, dtype=np.int64)
        rows += n


def _spill(path: Path, mapping: LogMapping, parts: int, into: Path, lost: Columns) -> list[Path]:
    """Write the rows of ``path`` into ``parts`` IPC files under ``into`` by key."""
    pa, pc, np = modules()
    files = [into / f"part-{i}.arrow" for i in range(parts)]
    rows = 0
    with contextlib.ExitStack() as stack:
        writers: list[Any] = []
        for batch, row_numbers in _numbered(path, mapping, lost):
            n = batch.num_rows
            if not n:
                continue
            numbers = pa.array(row_numbers)
            rows += n
            batch = pa.RecordBatch.from_arrays(
                [*batch.columns, numbers], names=[*batch.schema.names, ROW]
            )
            if not writers:
                for f in files:
                    sink = stack.enter_context(pa.OSFile(str(f), "wb"))
                    writers.append(stack.enter_context(pa.ipc.new_stream(sink, batch.schema)))
            which = _buckets(pa, pc, np, batch.column(mapping.key), parts)
            order = stable_order(np, which)
            counts = np.bincount(which, minlength=parts)
            ordered = batch.take(pa.array(order))
            start = 0
            for i, c in enumerate(counts.tolist()):
                if c:
                    writers[i].write_batch(ordered.slice(start, c))
                start += c
            del batch, ordered, order, which
    return files if rows else []


def replay_partitioned(
    definition: JourneyDefinition,
    window: int,
    path: Path,
    mapping: LogMapping,
    triggers: Mapping[str, str],
    tally: Tally,
    end_us: int | None,
    parts: int,
    progress: Callable[[float], None] | None = None,
) -> Streamed | None:
    """Replay the log file ``path`` on the columnar engine in ``parts`` key partitions
    (see the module docs), counting into ``tally``; None when it has no data rows (replay
    it in memory); or :class:`Fallback`."""
    global _WEIGHTS
    if _WEIGHTS is None:
        _WEIGHTS = _weights()
    pa, _, np = modules()
    if ROW in mapping.columns():
        raise Fallback(f"the log maps a column named {ROW!r}, which the partitioned pass uses")
    index = {t: i for i, t in enumerate(definition.triggers)}
    with_row = attrs.evolve(mapping, payload=(*mapping.payload, ROW))
    done: list[tuple[Any, Any, Any, dict[str, Any]]] = []
    total = Columns()
    first_us: int | None = None
    last_us: int | None = None
    unsorted = False
    with tempfile.TemporaryDirectory(prefix="journeyfsm-replay-") as tmp:
        files = _spill(path, mapping, parts, Path(tmp), total)
        pa.default_memory_pool().release_unused()  # the read's buffers, back to the system
        if not files:
            return None  # no data rows: the in-memory pass has nothing to hold

        def one(file: Path) -> _Part:
            return _replay_part(
                definition, window, file, with_row, triggers, index, tally.bad, end_us
            )

        # the parts replay side by side on WORKERS threads (Arrow's reads and kernels and
        # numpy's sorts release the GIL), and are added up in file order
        pool = ThreadPoolExecutor(max_workers=min(WORKERS, len(files)))
        try:
            for number, part in enumerate(pool.map(one, files)):
                total.rows_read += part.cols.rows_read
                total.bad_rows += part.bad_rows
                for name, n in part.cols.skipped.items():
                    total.skipped[name] = total.skipped.get(name, 0) + n
                if part.first_us is not None and part.last_us is not None:
                    first_us = part.first_us if first_us is None else min(first_us, part.first_us)
                    last_us = part.last_us if last_us is None else max(last_us, part.last_us)
                unsorted |= part.unsorted
                _add(tally, part.tally)
                done.append((part.engine, part.first_row, part.head, part.cols.segments))
                if progress is not None:
                    progress(0.95 * (number + 1) / len(files))
        finally:  # no part still reads a spill file when the directory goes
            pool.shutdown(wait=True, cancel_futures=True)
    total.bad_rows.sort()
    journeys, total.segments = _merged(np, pa, done, unsorted)
    return Streamed(journeys, total, first_us, last_us, unsorted)


@attrs.define
class _Part:
    """One key part replayed (what :func:`replay_partitioned` adds up)."""

    engine: Any  # the slim engine state its journeys read (:func:`_slim`)
    cols: Columns  # rows_read, skipped, segments
    bad_rows: list[tuple[int, str]]  # (row in the log, reason)
    first_row: Any  # per journey, its first row in the log
    head: Any  # per journey, the log row of its first event in time order
    tally: Tally
    first_us: int | None
    last_us: int | None
    unsorted: bool


def _replay_part(
    definition: JourneyDefinition,
    window: int,
    file: Path,
    mapping: LogMapping,
    triggers: Mapping[str, str],
    index: Mapping[str, int],
    bad: Any,
    end_us: int | None,
) -> _Part:
    """Replay the spill file ``file`` (removed once read) on the columnar engine."""
    pa, _, np = modules()
    with pa.OSFile(str(file), "rb") as source:
        table = pa.ipc.open_stream(source).read_all()
    file.unlink()
    cols = read_columns(table, mapping, triggers, index)
    bad_rows: list[tuple[int, str]] = []
    if cols.bad_rows:
        row_of = table.column(ROW).to_numpy()
        bad_rows = [(int(row_of[r]), why) for r, why in cols.bad_rows]
    del table
    rowid = cols.payload.pop(ROW).to_numpy(zero_copy_only=False)
    J = len(cols.keys)
    first_us = last_us = None
    if len(cols.at):
        first_us, last_us = int(cols.at.min()), int(cols.at.max())
    first_row = np.full(J, 2**62, np.int64)
    np.minimum.at(first_row, cols.key, rowid)
    part_tally = Tally(definition.triggers, bad)
    engine = ColumnarReplay(definition, window, part_tally)
    engine.run(cols, end_us)
    head = rowid[engine.order[engine.start]] if J else np.zeros(0, np.int64)
    engine.journeys()
    counts = Columns()  # what is added up of the part's columns (not its row arrays)
    counts.rows_read, counts.skipped, counts.segments = cols.rows_read, cols.skipped, cols.segments
    return _Part(
        _slim(engine), counts, bad_rows, first_row, head, part_tally, first_us, last_us,
        engine.unsorted,
    )  # fmt: skip


def _slim(engine: ColumnarReplay) -> Any:
    """What the merge reads of a part's engine: the state its journeys read (the run's
    row arrays dropped, ids and meta of the moves only) and their move columns."""
    j = engine.journeys_
    slim: Any = j.engine
    slim.moves_ = (j.cand, j.mat, j.mref, j.mentry, j.mj, j.mseq)
    return slim


def _add(into: Tally, part: Tally) -> None:
    for t, row in part.counts.items():
        mine = into.counts[t]
        for i, n in enumerate(row):
            mine[i] += n
    for pairs, theirs in (
        (into.ignored_pairs, part.ignored_pairs),
        (into.blocked_pairs, part.blocked_pairs),
    ):
        for pair, n in theirs.items():
            pairs[pair] = pairs.get(pair, 0) + n
    into.events_applied += part.events_applied
    into.timeouts_fired += part.timeouts_fired
    for i, n in enumerate(part.timeout_status):
        into.timeout_status[i] += n


_PER_JOURNEY = ("stage", "version", "entered", "started", "entry_seq", "tfired")


def _merged(
    np: Any, pa: Any, done: list[tuple[Any, Any, Any, dict[str, Any]]], unsorted: bool
) -> tuple[ColumnarJourneys, dict[str, Any]]:
    """One :class:`ColumnarJourneys` from the parts' engines, numbered and ordered as
    the whole-log replay numbers and orders its journeys, and the segment columns by
    that numbering."""
    done = [part for part in done if len(part[0].cols.keys)] or done[:1]
    first = done[0][0]
    engine: Any = EngineState()
    engine.np = np
    for name in KEPT:
        setattr(engine, name, getattr(first, name))
    keys: list[str] = []
    per: dict[str, list[Any]] = {name: [] for name in _PER_JOURNEY}
    moves: list[list[Any]] = [[] for _ in range(6)]
    orders, sids, metas, firsts, heads, started = [], [], [], [], [], []
    j0 = r0 = 0
    segments: dict[str, list[Any]] = {}
    for e, first_row, head, part_segments in done:
        for c, values in part_segments.items():
            segments.setdefault(c, []).append(values)
        keys += e.cols.keys
        for name in _PER_JOURNEY:
            per[name].append(getattr(e, name))
        cand, mat, mref, mentry, mj, mseq = e.moves_
        for out, col in zip(
            moves,
            (cand, mat, np.where(mref >= 0, mref + r0, mref), mentry, mj + j0, mseq),
            strict=True,
        ):
            out.append(col)
        orders.append(e.order + r0)
        sids.append(e.sids)
        metas.append(e.cols.meta)
        firsts.append(first_row)
        heads.append(head)
        started.append(e.started)
        j0 += len(e.cols.keys)
        r0 += len(e.order)
    cat = np.concatenate
    first_row = cat(firsts)
    perm = stable_order(np, first_row)  # new number -> old (concatenated) one
    rank = np.empty(len(perm), np.int64)
    rank[perm] = np.arange(len(perm))
    for name in _PER_JOURNEY:
        setattr(engine, name, cat(per[name])[perm])
    engine.order = cat(orders)
    if all(s is None for s in sids):
        engine.sids = None
    else:
        # the parts' ids share the log's type: string, or large_string (Parquet written by
        # pandas 3 or polars)
        kind = next(s.type for s in sids if s is not None)
        empty = pa.array([], kind)
        engine.sids = pa.chunked_array([empty if s is None else s for s in sids], kind)
    engine.cols = Columns()
    engine.cols.keys = [keys[i] for i in perm.tolist()]
    engine.cols.meta = {
        c: pa.chunked_array([m[c] for m in metas if len(m[c])] or [metas[0][c]]) for c in metas[0]
    }
    cand, mat, mref, mentry, mj, mseq = (cat(m) for m in moves)
    mj = rank[mj]
    by = np.lexsort((mseq, mj))
    columns = (cand[by], mat[by], mref[by], mentry[by], mj[by], mseq[by])
    J = len(perm)
    offsets = np.concatenate([[0], np.cumsum(np.bincount(mj, minlength=J))]).astype(np.int64)
    heads_ = cat(heads)[perm]
    order = np.lexsort((heads_, engine.started)) if unsorted and J else np.arange(J)
    take = pa.array(perm, pa.int64())
    merged = {c: pa.concat_arrays(parts).take(take) for c, parts in segments.items()}
    return ColumnarJourneys(engine, order, offsets, columns), merged
