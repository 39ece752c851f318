"""The columnar engine's JSON Lines reader: ``pyarrow.json`` read as the Python path reads.

Theory of operation
-------------------
The Python path (:class:`~._logs.LogReader`) reads a JSON Lines log line by line with
:func:`json.loads`: a blank line is passed over (its number still counts), a line that
does not parse, or parses to something other than an object, is a *bad row* with its
line number and a reason ("not valid JSON: ... at column N", "a list, not a JSON
object"), and the first object must hold the key, event and time columns.

This module reads the same file with ``pyarrow.json`` in blocks of whole lines and
gives, per block, the Arrow table of its object lines with each row's **line number**,
and the bad lines with the Python path's reasons:

1. **Lines.** A block's line starts come from its newline bytes (numpy); a line is blank
   when all its bytes are ASCII whitespace.  A bare carriage return (which Python's
   universal newlines read as a line break) or bytes that are not UTF-8 (which the
   Python path refuses) are a :class:`~._colread.Fallback`.
2. **Types.** The mapped columns' Arrow types are fixed from the Python values of the
   first objects (text, integers, numbers, booleans), and every block is read with that
   explicit schema (other fields ignored): a time written as ISO text stays text (Arrow
   would otherwise infer timestamps), and a later value of another type is an error.
3. **Blocks, then halves.** A block that reads and gives one row per non-blank line is
   taken whole.  Otherwise it is halved, and halved again, down to single lines; a
   single line that Arrow refuses is read by :func:`json.loads`: not JSON, or not an
   object, is a bad row with the Python path's reason; an object Arrow reads otherwise
   (a type the schema did not expect, a repeated field) is a Fallback.

What Arrow reads differently from the Python values is a Fallback too: a whole number in
a column of fractions (JSON ``3`` becomes ``3.0``, which a history's meta or a segment
would show), a whole number beyond 2**53 in a payload column.  So the engine sees exactly
the rows, values and line numbers the Python path sees, or does not run.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ._colread import Fallback, modules
from ._mapping import LogMapping

__all__ = ["JsonBlock", "jsonl_blocks", "read_jsonl"]

#: bytes per block read (cut at the last line break); a line longer than Arrow's own
#: block is read alone
BLOCK_BYTES = 16 * 2**20
_SAMPLE = 1000  # objects whose values fix the column types
_ASCII_SPACE = b" \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f"  # what str.strip() removes, in ASCII
_EXACT = 2**53  # floats hold every whole number up to here


class JsonBlock:
    """One block of a JSON Lines log: ``table`` (the object lines' mapped columns),
    ``lines`` (numpy int64: each row's 1-based line number), ``bad`` (line, reason) of
    the lines that are not objects, and ``rows`` (its non-blank lines: what the Python
    path counts as rows read)."""

    def __init__(self, table: Any, lines: Any, bad: list[tuple[int, str]], rows: int) -> None:
        self.table = table
        self.lines = lines
        self.bad = bad
        self.rows = rows


def read_jsonl(path: Path, mapping: LogMapping) -> JsonBlock:
    """The whole log ``path`` as one :class:`JsonBlock`, or :class:`Fallback`."""
    pa, _, np = modules()
    blocks = list(jsonl_blocks(path, mapping))
    if not blocks:
        raise Fallback("the JSON Lines log has no rows")
    table = pa.concat_tables([b.table for b in blocks])
    lines = np.concatenate([b.lines for b in blocks])
    bad = [x for b in blocks for x in b.bad]
    return JsonBlock(table, lines, bad, sum(b.rows for b in blocks))


def jsonl_blocks(path: Path, mapping: LogMapping) -> Iterator[JsonBlock]:
    """The log ``path`` in :class:`JsonBlock` s of about :data:`BLOCK_BYTES` each, in
    line order, or :class:`Fallback` (see the module docs)."""
    block_bytes = BLOCK_BYTES
    reader = _Reader(mapping)
    line = 1
    carry = b""
    try:
        f = path.open("rb")
    except OSError:
        raise Fallback("the log file does not open (the Python path says why)") from None
    with f:
        first = True
        while True:
            chunk = f.read(block_bytes)
            data = carry + chunk
            if first:
                first = False
                if data.startswith(b"\xef\xbb\xbf"):  # utf-8-sig, as the Python path opens it
                    data = data[3:]
            if not chunk:
                if data:
                    yield reader.block(data, line)
                return
            cut = data.rfind(b"\n") + 1
            if cut == 0:
                carry = data
                continue
            carry = data[cut:]
            block = reader.block(data[:cut], line)
            line += data.count(b"\n", 0, cut)
            yield block


class _Reader:
    """Reads blocks with one schema, fixed from the first block's objects."""

    def __init__(self, mapping: LogMapping) -> None:
        self.mapping = mapping
        self.columns = list(dict.fromkeys(mapping.columns()))
        self.schema: Any = None
        self.pa, self.pc, self.np = modules()
        space = self.np.zeros(256, bool)
        space[list(_ASCII_SPACE)] = True
        self.space = space

    def block(self, data: bytes, first_line: int) -> JsonBlock:
        pa, np = self.pa, self.np
        if data.count(b"\r") != data.count(b"\r\n"):
            raise Fallback("a line ends with a bare carriage return (the Python path reads it)")
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            raise Fallback("the log is not UTF-8 (the Python path says where)") from None
        arr = np.frombuffer(data, np.uint8)
        starts = np.concatenate([[0], np.flatnonzero(arr == 10) + 1]).astype(np.int64)
        if starts[-1] == len(data):
            starts = starts[:-1]
        ends = np.concatenate([starts[1:], [len(data)]]).astype(np.int64)
        if len(starts):
            nonblank = np.logical_or.reduceat(~self.space[arr], starts)
        else:
            nonblank = np.zeros(0, bool)
        if self.schema is None:
            self.schema = self._schema(data, starts, ends, nonblank, first_line)
        self.data, self.starts, self.ends, self.nonblank = data, starts, ends, nonblank
        self.first_line = first_line
        self.tables: list[Any] = []
        self.row_lines: list[Any] = []
        self.bad: list[tuple[int, str]] = []
        self.blank_too = 0  # lines only Python calls blank (non-ASCII whitespace)
        self._read(0, len(starts))
        tables, row_lines = self.tables, self.row_lines
        del self.data, self.tables, self.row_lines
        if tables:
            table = pa.concat_tables(tables)
            lines = np.concatenate(row_lines)
        else:
            table = self.schema.empty_table()
            lines = np.zeros(0, np.int64)
        self._check_numbers(table)
        return JsonBlock(table, lines, self.bad, int(nonblank.sum()) - self.blank_too)

    def _read(self, lo: int, hi: int) -> None:
        """Read lines ``lo:hi`` of the block: whole, or in halves (see the module docs)."""
        np = self.np
        expected = int(self.nonblank[lo:hi].sum())
        if not expected:
            return
        piece = self.data[int(self.starts[lo]) : int(self.ends[hi - 1])]
        table = self._arrow(piece, alone=hi - lo == 1)
        if table is not None and table.num_rows == expected:
            numbers = np.arange(lo, hi, dtype=np.int64)[self.nonblank[lo:hi]] + self.first_line
            self.tables.append(table)
            self.row_lines.append(numbers)
            return
        if hi - lo > 1:
            mid = (lo + hi) // 2
            self._read(lo, mid)
            self._read(mid, hi)
            return
        line = self.first_line + lo
        text = piece.decode("utf-8")
        if not text.strip():
            self.blank_too += 1
            return
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as err:
            self.bad.append((line, f"not valid JSON: {err.msg} at column {err.colno}"))
            return
        if isinstance(obj, dict):
            raise Fallback(
                f"line {line} is a JSON object the Arrow reader reads otherwise (a value of "
                "another type than the rows before, or a repeated field)"
            )
        self.bad.append((line, f"a {type(obj).__name__}, not a JSON object"))

    def _arrow(self, piece: bytes, alone: bool = False) -> Any:
        """``piece`` read by ``pyarrow.json`` with the schema, or None when refused;
        ``alone``: one line, read in one Arrow block however long it is."""
        pa = self.pa
        import pyarrow.json as pj

        options = pj.ParseOptions(
            explicit_schema=self.schema,
            unexpected_field_behavior="ignore",
            newlines_in_values=False,
        )
        try:
            return pj.read_json(
                pa.BufferReader(piece),
                read_options=pj.ReadOptions(block_size=len(piece) + 1) if alone else None,
                parse_options=options,
            )
        except (pa.ArrowException, UnicodeDecodeError, ValueError):
            return None

    def _schema(self, data: bytes, starts: Any, ends: Any, nonblank: Any, first_line: int) -> Any:
        """The mapped columns' types, from the Python values of the first objects; the
        first object must hold the key, event and time (else the Python path names the
        missing column)."""
        pa = self.pa
        m = self.mapping
        seen: dict[str, set[type]] = {c: set() for c in self.columns}
        objects = 0
        for i in self.np.flatnonzero(nonblank).tolist():
            try:
                obj = json.loads(data[int(starts[i]) : int(ends[i])])
            except ValueError:
                continue
            if not isinstance(obj, dict):
                continue
            if not objects and any(c not in obj for c in (m.key, m.event, m.time)):
                raise Fallback("the first object lacks a mapped column (the Python path names it)")
            objects += 1
            for c in self.columns:
                v = obj.get(c)
                if v is not None:
                    seen[c].add(type(v))
            if objects >= _SAMPLE:
                break
        if not objects:
            raise Fallback("the first block of the JSON Lines log holds no object")
        fields = []
        for c in self.columns:
            kinds = seen[c]
            if kinds <= {str}:
                t = pa.string()
            elif kinds == {bool}:
                t = pa.bool_()
            elif kinds == {int}:
                t = pa.int64()
            elif kinds <= {int, float}:
                t = pa.float64()
            else:
                names = ", ".join(sorted(k.__name__ for k in kinds))
                raise Fallback(f"the column {c!r} holds {names} values (read row by row)")
            fields.append((c, t))
        return pa.schema(fields)

    def _check_numbers(self, table: Any) -> None:
        """Fallback where Arrow's numbers are not the Python values (see the module docs)."""
        pa, pc = self.pa, self.pc
        m = self.mapping
        # a payload column only reaches guards, which compare 3 and 3.0 alike
        payload = set(m.payload) - {m.key, m.event, m.time, m.event_id, *m.meta, *m.segments}
        for c in table.column_names:
            values = table.column(c)
            if not pa.types.is_floating(values.type) or values.null_count == len(values):
                continue
            whole = pc.fill_null(
                pc.and_(pc.is_finite(values), pc.equal(pc.floor(values), values)), False
            )
            if c in payload:
                whole = pc.and_(whole, pc.greater_equal(pc.abs(values), float(_EXACT)))
            if pc.any(whole).as_py():
                raise Fallback(
                    f"the column {c!r} mixes whole numbers and fractions (JSON 3 would read as 3.0)"
                    if c not in payload
                    else f"the payload column {c!r} holds a whole number beyond 2**53"
                )
