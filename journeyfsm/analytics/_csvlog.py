"""CSV event logs: the header, where the mapping's columns are, and rows as events.

A CSV log is read with ``csv.reader`` (strings only).  :class:`CsvLog` opens the file,
reads the header and resolves the mapping's columns to indexes once; it also knows how
to say what is wrong with a row and on which line it started.  Two loops read the rows:
:func:`~._logs.csv_events` turns them into :data:`~._logs.Event` tuples (the engine path, the
sort of an unsorted log, the order check), and the fast path reads and applies them in
one loop of its own (:mod:`._fastcsv`), with the same checks in the same order.

Line numbers are counted back from ``csv.reader.line_num`` only when a row needs one (a
bad row, a guard that fails): the line a row ends on, less the line breaks inside its
quoted cells.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Sequence
from itertools import chain
from operator import methodcaller
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Protocol

from .._json import FrozenDict
from ._mapping import LogMapping, MappingError, TimeReader, missing, segments_of


class CsvSource(Protocol):
    """What a :class:`CsvLog` reads of the ``LogReader`` it is handed (typed structurally:
    _logs.py imports this module, so this one never imports it back)."""

    @property
    def mapping(self) -> LogMapping: ...

    @property
    def path(self) -> Path: ...

    @property
    def segments(self) -> dict[str, dict[str, str]]: ...

    @property
    def times(self) -> TimeReader: ...

    def _missing_columns(self, present: Sequence[str]) -> None: ...


__all__ = ["CsvLog", "CsvSource", "MetaCache"]


class CsvLog:
    """``with CsvLog(reader) as log:`` the open log: ``log.rows`` (:class:`CsvRows`, past
    the header) and the column indexes of ``reader.mapping`` (``key``, ``event``,
    ``time``, ``event_id`` (-1: none), ``payload``, ``segments``, ``meta``)."""

    def __init__(self, reader: CsvSource) -> None:
        self.reader = reader
        self.mapping = reader.mapping
        self.name = reader.path.name
        self.size = max(1, reader.path.stat().st_size)
        self._file: IO[str] | None = None

    def __enter__(self) -> CsvLog:
        m, path = self.mapping, self.reader.path
        f = self._file = path.open(newline="", encoding="utf-8-sig")  # -sig: a BOM is no column
        try:
            rows = csv.reader(f)
            try:
                header = next(rows)
            except StopIteration:
                raise MappingError(
                    f"{self.name} is empty: a CSV log starts with a header line"
                ) from None
            except (csv.Error, UnicodeDecodeError) as err:
                raise MappingError(f"{self.name}: cannot read the header: {err}") from None
            self.reader._missing_columns(header)
        except BaseException:
            f.close()
            raise
        self.rows = CsvRows(f, rows.line_num, len(header))
        col = {name: header.index(name) for name in m.columns()}
        self.width = len(header)
        self.key, self.event, self.time = col[m.key], col[m.event], col[m.time]
        self.event_id = col[m.event_id] if m.event_id is not None else -1
        self.payload = [(name, col[name]) for name in m.payload]
        self.segments = [(name, col[name]) for name in m.segments]
        self.meta = MetaCache([(name, col[name]) for name in m.meta]) if m.meta else None
        self.raw: Any = f.buffer  # the byte position, for progress
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def fraction(self) -> float:
        """How much of the file has been read (for progress)."""
        return float(self.raw.tell() / self.size)

    def line(self, row: list[str], index: int) -> int:
        """The 1-based line the row just read starts on (``index``: 0-based among the
        rows after the header, blank ones included)."""
        return int(self.rows.line(row, index))

    def problem(self, row: list[str]) -> str | None:
        """Why a (non-blank) row cannot be used: wrong width, no key/event/time; or None."""
        if len(row) != self.width:
            return f"{len(row)} fields, the header has {self.width}"
        key, name, ts = row[self.key], row[self.event], row[self.time]
        if not key or not name or not ts:
            return missing(key, name, ts, self.mapping)
        return None

    def bad_time(self, ts: str) -> str:
        return self.reader.times.problem(ts)

    def error(self, err: csv.Error) -> MappingError:
        """The error for a file the csv module cannot read past some line."""
        return MappingError(f"{self.name}, line {self.rows.line_num}: not readable as CSV: {err}")

    def payload_of(self, row: list[str]) -> dict[str, Any] | None:
        """The row's payload: its non-empty payload cells (None: no payload columns)."""
        columns = self.payload
        if not columns:
            return None
        if len(columns) == 1:  # the common case, without a comprehension
            ((name, i),) = columns
            value = row[i]
            return {name: value} if value else {}
        return {name: row[i] for name, i in columns if row[i]}

    def add_segments(self, key: str, row: list[str]) -> None:
        """Keep the row's segment values for ``key`` (the first non-empty one wins)."""
        segments_of(self.reader.segments, key, [(c, row[i]) for c, i in self.segments])


class CsvRows:
    """The rows of a CSV file after its header, exactly as ``csv.reader`` gives them,
    but split with ``str.split`` where that gives the same rows.

    The file is read in blocks of whole lines.  A block with no quote, no NUL, no
    carriage return but in CRLF line ends, and no line longer than
    ``csv.field_size_limit()`` is split at line ends and ``,``: there ``csv.reader``
    (the default excel dialect, which is what reads the log) has nothing else to do.  From the first block that has any of them
    on, the rest of the file (that block included) goes through ``csv.reader``.  A blank
    line is ``[]`` either way.  Iterating is C code throughout (``itertools.chain`` over
    ``map`` or the csv reader); Python runs once per block.
    """

    BLOCK = 1 << 18  # characters read at a time (a few thousand lines)

    def __init__(self, f: IO[str], header_lines: int, width: int, block: int = BLOCK) -> None:
        self._file = f
        self._block = block
        self._reader: Any = None  # the csv.reader, once a block needed it
        self._index0 = 0  # rows before the current block
        self._line0 = header_lines + 1  # the line of its first row
        self._fast = width >= 2  # a one-column blank line would be a row of one empty cell
        self._start = 0  # the line the last row from csv.reader started on
        self._rows = chain.from_iterable(self._blocks())

    def __iter__(self) -> Iterator[list[str]]:
        return self._rows

    @property
    def line_num(self) -> int:
        """The last line read (as ``csv.reader.line_num``, counted from the file's start)."""
        if self._reader is not None:
            return self._line0 - 1 + int(self._reader.line_num)
        return self._line0 - 1

    def line(self, row: list[str], index: int) -> int:
        """The line the row ``index`` (0-based, blank rows included) starts on."""
        if self._reader is None:
            return self._line0 + index - self._index0  # a row is a line here
        return self._start

    def _blocks(self) -> Iterator[Iterator[list[str]]]:
        f, limit, split = self._file, csv.field_size_limit(), _SPLIT
        index, line = 0, self._line0
        while True:
            block = f.read(self._block)
            if not block:
                return
            if block[-1] != "\n":
                block += f.readline()  # whole lines only
            fast = self._fast and '"' not in block and "\0" not in block
            end = "\n"
            if fast and "\r" in block:  # CRLF line ends (csv.writer's) are fine; lone CRs not
                crlf = block.count("\r\n")
                fast = block.count("\r") == crlf
                if fast and crlf == block.count("\n"):
                    end = "\r\n"  # every line ends so
                elif fast:
                    block = block.replace("\r\n", "\n")  # the same lines, the same rows
            lines = block.split(end)
            if not lines[-1]:
                lines.pop()  # the end of the last line, not a line
            if not fast or max(map(len, lines), default=0) > limit:
                self._index0, self._line0 = index, line
                self._reader = csv.reader(chain(io.StringIO(block, newline=""), f))
                yield self._csv_rows(self._reader)
                return
            self._index0, self._line0 = index, line
            if block.startswith(end) or end + end in block:  # blank lines: [], as csv.reader
                yield iter([text.split(",") if text else [] for text in lines])
            else:
                yield map(split, lines)
            index += len(lines)
            line += len(lines)

    def _csv_rows(self, reader: Any) -> Iterator[list[str]]:
        # a quoted cell may hold line breaks: note where each row starts
        first, last = self._line0, 0
        for row in reader:
            self._start = first + last
            last = reader.line_num
            yield row


_SPLIT = methodcaller("split", ",")


class MetaCache:
    """History meta from CSV cells, shared between rows with the same values.

    The cells are strings, so the meta dict is read-only as it is (a ``FrozenDict``, what
    ``fire`` stores) and rows with the same values can share one: a channel column gives
    a handful of dicts for a million history entries.  At most ``MAX_SHARED`` distinct
    values are kept; later ones get a dict of their own.  Empty cells are left out; a
    row with none is ``None``.
    """

    MAX_SHARED = 4096

    def __init__(self, columns: list[tuple[str, int]]) -> None:
        self.columns = columns
        self.names = tuple(name for name, _ in columns)
        self.shared: dict[Any, FrozenDict | None] = {}
        self.single = columns[0][1] if len(columns) == 1 else -1

    def __call__(self, row: list[str]) -> FrozenDict | None:
        shared = self.shared
        i = self.single
        # one column (the common case): the cell itself is the key
        values: Any = row[i] if i >= 0 else tuple([row[i] for _, i in self.columns])
        meta = shared.get(values, _MISSING)
        if meta is not _MISSING:
            return meta  # type: ignore[no-any-return]
        cells = (values,) if i >= 0 else values
        found = {name: v for name, v in zip(self.names, cells, strict=True) if v}
        meta = FrozenDict(found) if found else None
        if len(shared) < self.MAX_SHARED:
            shared[values] = meta
        return meta


_MISSING: Any = object()
