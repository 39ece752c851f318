"""The columnar engine's input: a log as Arrow columns, read as the Python path reads it.

Theory of operation
-------------------
The columnar engine (:mod:`._columnar`) needs, per mapped row, the journey key, the
trigger, the time as integer microseconds (UTC), the event id, and the payload and meta
columns; per unmapped event name the rows skipped; per journey its segment values.
:func:`load_table` brings any input to one ``pyarrow.Table`` (CSV through
``pyarrow.csv`` with every column read as text, as the csv module reads it; Parquet;
an Arrow table; a pandas or polars DataFrame), and :func:`read_columns` turns it into
:class:`Columns` with exactly the values :class:`~._logs.LogReader` would give.

Whatever this module cannot read *exactly* as the Python path does raises
:class:`Fallback` with the reason, and replay runs the Python path instead: a bad row
(the Python path numbers and explains it), a time shape outside the common ISO-8601
one (read value by value through the same :class:`~._mapping.TimeReader`, and if one
fails, fallback), a column type with no JSON value, a CSV the Arrow reader refuses.
Nothing is ever approximated: the fallback is the contract.
"""

from __future__ import annotations

import csv
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .._clock import UTC
from ._coltime import read_fixed
from ._logs import log_format
from ._mapping import LogMapping, MappingError, TimeReader, missing

__all__ = [
    "Columns",
    "Fallback",
    "arrow",
    "csv_options",
    "load_table",
    "modules",
    "plain_columns",
    "plain_type",
    "read_columns",
    "table_of",
]


class Fallback(Exception):
    """The columnar engine cannot replay this input exactly; ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def arrow() -> tuple[Any, Any, Any] | None:
    """``(pyarrow, pyarrow.compute, numpy)``, or None when the [fast] extra is missing."""
    try:
        import numpy as np
        import pyarrow as pa
        import pyarrow.compute as pc
    except ImportError:
        return None
    return pa, pc, np


def modules() -> tuple[Any, Any, Any]:
    """``(pyarrow, pyarrow.compute, numpy)``; :class:`Fallback` when they are missing."""
    found = arrow()
    if found is None:
        raise Fallback("pyarrow and numpy are not installed: pip install 'journeyfsm[fast]'")
    return found


def table_of(source: Any) -> tuple[Any, str] | None:
    """An in-memory table as ``(pyarrow.Table, description)``: an Arrow table or record
    batch, a pandas or a polars DataFrame; None for anything else."""
    module = type(source).__module__.split(".")[0]
    name = type(source).__name__
    if module == "pyarrow" and name in ("Table", "RecordBatch"):
        import pyarrow as pa

        table = source if name == "Table" else pa.Table.from_batches([source])
        return table, f"<Arrow {name.lower()}>"
    try:
        if module == "pandas" and name == "DataFrame":
            import pyarrow as pa

            return pa.Table.from_pandas(source, preserve_index=False), "<pandas DataFrame>"
        if module == "polars" and name == "DataFrame":
            return source.to_arrow(), "<polars DataFrame>"
    except ImportError:
        raise MappingError(
            "replaying a DataFrame needs pyarrow: pip install 'journeyfsm[fast]'"
        ) from None
    except (ValueError, TypeError) as err:  # pyarrow's ArrowInvalid/ArrowTypeError
        raise MappingError(
            f"the {module} DataFrame does not convert to an Arrow table ({err}); give each "
            "column one type (text, numbers, datetimes)"
        ) from None
    return None


def load_table(path: Path, mapping: LogMapping) -> Any:
    """The mapped columns of the log file ``path`` as a ``pyarrow.Table`` (CSV cells as
    text), or :class:`Fallback`."""
    import pyarrow as pa

    fmt = log_format(path, mapping)
    columns = list(mapping.columns())
    if fmt == "csv":
        import pyarrow.csv as pcsv

        read, parse, convert = csv_options(path, mapping)
        try:
            return pcsv.read_csv(
                path, read_options=read, parse_options=parse, convert_options=convert
            )
        except (pa.ArrowException, OSError, UnicodeDecodeError) as err:
            raise Fallback(f"the Arrow CSV reader refused the file ({err})") from None
    if fmt == "parquet":
        import pyarrow.parquet as pq

        try:
            return pq.read_table(path, columns=columns)
        except (pa.ArrowException, OSError, KeyError) as err:
            raise Fallback(f"the Parquet file does not read whole ({err})") from None
    raise Fallback(f"the columnar engine does not read {fmt} logs")


def csv_options(path: Path, mapping: LogMapping) -> tuple[Any, Any, Any]:
    """The ``pyarrow.csv`` read, parse and convert options that read the CSV log ``path``
    as the csv module does (every mapped column as text), or :class:`Fallback`."""
    import pyarrow as pa
    import pyarrow.csv as pcsv

    columns = list(mapping.columns())
    header = _csv_header(path)
    if header is None or len(set(header)) != len(header):
        raise Fallback("the CSV header is empty or repeats a column name")
    if any(c not in header for c in columns):
        raise Fallback("a mapped column is missing (the Python path names it)")
    return (
        pcsv.ReadOptions(use_threads=True),
        pcsv.ParseOptions(newlines_in_values=False),
        pcsv.ConvertOptions(
            column_types={c: pa.string() for c in header},
            include_columns=columns,
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
        ),
    )


def _csv_header(path: Path) -> list[str] | None:
    try:
        with path.open(newline="", encoding="utf-8-sig") as f:
            return next(csv.reader(f), None)
    except (OSError, UnicodeDecodeError, csv.Error):
        return None


class Columns:
    """A log read for the columnar engine (see the module docs).

    Row arrays (numpy) hold the *mapped* rows in file order: ``key`` (journey code),
    ``trigger`` (index), ``at`` (int64 µs UTC), ``event_id`` (an Arrow text array, null:
    no id);
    ``keys``: the journey keys by code; ``payload``/``meta``: Arrow arrays of the mapped
    rows by column name; ``skipped``: rows per unmapped event name; ``segments``: per
    segment column, an Arrow array by journey code of each journey's first non-empty
    value (null: none; :class:`~._colsegments.ColumnarSegments` reads them as the
    Python path's per-journey dicts); ``rows_read``: data rows.
    """

    def __init__(self) -> None:
        self.rows_read = 0
        self.keys: list[str] = []
        self.key: Any = None
        self.trigger: Any = None
        self.at: Any = None
        self.event_id: Any = None
        self.payload: dict[str, Any] = {}
        self.meta: dict[str, Any] = {}
        self.skipped: dict[str, int] = {}
        self.segments: dict[str, Any] = {}
        #: (row index, reason) of every bad row, in row order
        self.bad_rows: list[tuple[int, str]] = []


def plain_type(pa: Any, t: Any) -> Any:
    """The type a column of type ``t`` is read as: a dictionary's value type, a
    ``string_view`` as ``large_string`` (the same values; the kernels below take these);
    None: ``t`` itself."""
    plain = t.value_type if pa.types.is_dictionary(t) else t
    if getattr(pa.types, "is_string_view", None) is not None and pa.types.is_string_view(plain):
        plain = pa.large_string()
    return None if plain == t else plain


def plain_columns(table: Any, names: Any) -> Any:
    """``table`` (an Arrow table or record batch) with its columns ``names`` decoded: a
    dictionary column (a pandas or polars ``Categorical``, or Parquet written from one)
    and a ``string_view`` column as the plain values they hold, which the Python path
    reads them as."""
    pa, pc, _ = modules()
    for name in dict.fromkeys(names):
        i = table.schema.get_field_index(name)
        if i < 0:
            continue
        plain = plain_type(pa, table.schema.field(i).type)
        if plain is not None:
            table = table.set_column(i, name, pc.cast(table.column(i), plain))
    return table


def _is_text(pa: Any, t: Any) -> bool:
    return bool(pa.types.is_string(t) or pa.types.is_large_string(t))


def _empty(pc: Any, pa: Any, array: Any) -> Any:
    """A bool array: null, or the empty string (what the Python path leaves out)."""
    if not _is_text(pa, array.type):
        return pc.is_null(array)
    if array.null_count == 0:
        return pc.equal(array, "")
    return pc.fill_null(pc.or_(pc.is_null(array), pc.equal(array, "")), True)


def _as_text(pa: Any, pc: Any, array: Any, what: str) -> Any:
    """A key or id column as text, as ``_text`` reads it: strings as they are, integers
    written out; anything else: fallback."""
    t = array.type
    if _is_text(pa, t):
        return array
    if pa.types.is_integer(t):
        return pc.cast(array, pa.string())
    raise Fallback(f"the {what} column is {t}, not text or integers")


#: JSON-shaped column types, the only ones payload and meta may have here
def _json_type(pa: Any, t: Any) -> bool:
    return bool(
        _is_text(pa, t)
        or pa.types.is_integer(t)
        or pa.types.is_floating(t)
        or pa.types.is_boolean(t)
        or pa.types.is_null(t)
    )


def read_columns(
    table: Any, mapping: LogMapping, triggers: Mapping[str, str], index: Mapping[str, int]
) -> Columns:
    """The :class:`Columns` of ``table`` under ``mapping`` (``triggers``: event name ->
    trigger; ``index``: trigger -> its index), or :class:`Fallback`."""
    pa, pc, np = modules()
    m = mapping
    out = Columns()
    if any(c not in table.column_names for c in m.columns()):
        raise Fallback("a mapped column is missing (the Python path names it)")
    if len(set(table.column_names)) != len(table.column_names):
        raise Fallback("the table repeats a column name")
    table = plain_columns(table, m.columns())
    n = out.rows_read = table.num_rows

    def column(name: str) -> Any:
        return table.column(name).combine_chunks() if n else pa.array([], pa.string())

    key = _as_text(pa, pc, column(m.key), "key")
    name = column(m.event)
    if n and not _is_text(pa, name.type):
        raise Fallback(f"the event column is {name.type}, not text")
    ts = column(m.time)
    unusable = np.zeros(n, bool)
    for array in (key, name, ts):
        unusable |= _empty(pc, pa, array).to_numpy(zero_copy_only=False)
    bad: list[tuple[int, str]] = []
    for i in np.flatnonzero(unusable).tolist():  # no key, event or time: bad rows
        bad.append((i, missing(key[i].as_py(), name[i].as_py(), ts[i].as_py(), m)))
    # event names -> trigger index (-1: unmapped, skipped)
    names = pc.dictionary_encode(name) if n else None
    if names is not None:
        uniques = names.dictionary.to_pylist()
        lookup = np.array([index.get(triggers.get(u, ""), -1) for u in uniques], np.int64)
        # a null event name has a null index: its row is unusable (a bad row above), so
        # any code will do; without the fill numpy reads the null as garbage
        codes = pc.fill_null(names.indices, 0).to_numpy(zero_copy_only=False).astype(np.int64)
        trig = lookup[codes] if len(lookup) else np.full(n, -1, np.int64)
    else:
        uniques, codes, trig = [], np.zeros(0, np.int64), np.zeros(0, np.int64)
    usable = ~unusable
    mapped = usable & (trig >= 0)
    unmapped_counts = np.bincount(codes[usable & ~mapped], minlength=len(uniques))
    out.skipped = {uniques[i]: int(c) for i, c in enumerate(unmapped_counts) if c}
    rows = np.flatnonzero(mapped)
    del name, names, codes, mapped, unusable, array  # consumed per-row temporaries
    at, bad_times = _times(pa, pc, np, pc.take(ts, pa.array(rows, pa.int64())), m)
    del ts
    if bad_times:
        good = np.ones(len(rows), bool)
        for position, reason in bad_times:
            good[position] = False
            bad.append((int(rows[position]), reason))
        rows, at = rows[good], at[good]
    out.bad_rows = sorted(bad)
    # journeys: keys with a mapped row, numbered in order of their first mapped row
    # (Arrow's dictionary encoding numbers values in order of first occurrence)
    take = pa.array(rows, pa.int64())
    journeys = pc.dictionary_encode(pc.take(key, take))
    journey_keys = journeys.dictionary
    out.keys = journey_keys.to_pylist()
    out.key = journeys.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    out.trigger = trig[rows]
    del trig
    out.at = at
    if m.segments and n:
        of_row = pc.fill_null(pc.index_in(key, value_set=journey_keys), -1)
        journey_of = of_row.to_numpy(zero_copy_only=False).astype(np.int64)
        out.segments = _segments(pa, pc, np, table, m, journey_of, len(out.keys), usable)
    if m.event_id is not None:
        ids = _as_text(pa, pc, pc.take(column(m.event_id), take), "event id")
        ids = pc.if_else(pc.equal(ids, ""), pa.scalar(None, pa.string()), ids)
        out.event_id = ids
    for names_, into, what in ((m.payload, out.payload, "payload"), (m.meta, out.meta, "meta")):
        for c in names_:
            values = pc.take(column(c), take)
            if not _json_type(pa, values.type):
                raise Fallback(f"the {what} column {c!r} is {values.type}, not JSON-shaped")
            if pa.types.is_floating(values.type) and len(values):
                finite = pc.fill_null(pc.is_finite(values), True)
                if not pc.all(finite).as_py():
                    raise Fallback(f"the {what} column {c!r} holds NaN or infinity (not JSON)")
            into[c] = values
    return out


def _segments(
    pa: Any,
    pc: Any,
    np: Any,
    table: Any,
    m: LogMapping,
    journey_of: Any,
    journeys: int,
    usable: Any,
) -> dict[str, Any]:
    """Per segment column, each journey's first non-empty value (every usable row counts,
    skipped ones too) as an Arrow array by journey code, null where it has none."""
    out: dict[str, Any] = {}
    n = len(usable)
    for c in m.segments:
        values = table.column(c).combine_chunks()
        present = ~_empty(pc, pa, values).to_numpy(zero_copy_only=False) & usable
        present &= journey_of >= 0
        rows = np.flatnonzero(present)
        first = np.full(journeys, n, np.int64)
        if len(rows):
            np.minimum.at(first, journey_of[rows], rows)  # each journey's first row with a value
        none = first == n
        take = pa.array(np.where(none, 0, first), pa.int64(), mask=none)
        out[c] = pc.take(values, take)
    return out


# -- times -----------------------------------------------------------------------------
# the ISO-8601 shapes Arrow's cast reads exactly as datetime.fromisoformat does (3.10
# reads fractions of 3 or 6 digits only); everything else goes through TimeReader
_FRACTION = r"(\.\d{1,6})?" if sys.version_info >= (3, 11) else r"(\.\d{3}|\.\d{6})?"
_ISO_NAIVE = r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}" + _FRACTION + r")?)?$"
_ISO_AWARE = r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}" + _FRACTION + r")?(Z|[+-]\d{2}:\d{2})$"
#: compact ISO-8601 shapes Arrow's strptime reads as :func:`~._mapping.parse_time` does
_COMPACT_SHAPES = (
    (r"^\d{8}$", "%Y%m%d"),
    (r"^\d{8}T\d{6}$", "%Y%m%dT%H%M%S"),
    (r"^\d{8}T\d{6}Z$", "%Y%m%dT%H%M%SZ"),
)
_US = 1_000_000


def _times(pa: Any, pc: Any, np: Any, ts: Any, m: LogMapping) -> tuple[Any, list[tuple[int, str]]]:
    """The times of the mapped rows as int64 microseconds since the epoch, UTC, and the
    (position, reason) of each that does not read (bad rows)."""
    zone = m.zone()
    n = len(ts)
    t = ts.type
    if n == 0:
        return np.zeros(0, np.int64), []
    read = TimeReader(zone, m.time_format)
    if pa.types.is_timestamp(t):
        if t.tz is None and zone is not UTC:
            return _python_times(np, ts.to_pylist(), read)
        try:
            us = pc.cast(ts, pa.timestamp("us", t.tz), safe=True)
        except pa.ArrowException:
            raise Fallback("a timestamp has nanoseconds (a datetime keeps microseconds)") from None
        return us.cast(pa.int64()).to_numpy(zero_copy_only=False), []
    if m.time_format != "iso":
        if pa.types.is_integer(t):
            values = ts.cast(pa.int64()).to_numpy(zero_copy_only=False)
            limit = 10**14 if m.time_format == "epoch_ms" else 10**11
            if len(values) and np.abs(values).max() <= limit:
                return values * (1000 if m.time_format == "epoch_ms" else _US), []
        return _python_times(np, ts.to_pylist(), read)
    if not _is_text(pa, t):
        return _python_times(np, ts.to_pylist(), read)
    out = np.zeros(n, np.int64)
    bad: list[tuple[int, str]] = []
    # a log writes one shape: the first value says which to try first
    first = ts[0].as_py() or ""
    compact_first = zone is UTC and not (len(first) > 4 and first[4] == "-")
    rest = np.ones(n, bool)
    fixed = read_fixed(pa, np, ts, zone is UTC)
    if fixed is not None:  # one fixed-width shape: read from the bytes at once
        us, taken = fixed
        out[taken] = us[taken]
        rest &= ~taken
    if compact_first:
        _compact_times(pa, pc, np, ts, out, rest)
    aware = np.zeros(n, bool)
    naive = np.zeros(n, bool)
    if rest.any():
        aware = rest & pc.match_substring_regex(ts, _ISO_AWARE).to_numpy(zero_copy_only=False)
        if zone is UTC and not (aware == rest).all():
            naive = rest & pc.match_substring_regex(ts, _ISO_NAIVE).to_numpy(zero_copy_only=False)
        rest &= ~(aware | naive)
    if rest.any() and zone is UTC and not compact_first:
        _compact_times(pa, pc, np, ts, out, rest)
    for mask, arrow_type in ((aware, pa.timestamp("us", "UTC")), (naive, pa.timestamp("us"))):
        if mask.any():
            picked = pc.filter(ts, pa.array(mask))
            try:
                cast = pc.cast(picked, arrow_type)
            except pa.ArrowException:  # some date does not exist: one by one, as Python
                rest |= mask
                continue
            out[mask] = cast.cast(pa.int64()).to_numpy(zero_copy_only=False)
    # a time Arrow reads but a datetime cannot hold (year 0, 0001-01-01 at +01:00) is the
    # Python path's bad row: one by one below, which says so
    rest |= (out < _MIN_US) | (out > _MAX_US)
    if rest.any():
        where = np.flatnonzero(rest)
        values, failed = _python_times(
            np, pc.take(ts, pa.array(where, pa.int64())).to_pylist(), read
        )
        out[where] = values
        bad = [(int(where[i]), reason) for i, reason in failed]
    return out, bad


# the aware datetimes' range as µs since the epoch (what the Python path can hold)
_MIN_US = -62135596800 * _US
_MAX_US = 253402300799 * _US + 999999


def _compact_times(pa: Any, pc: Any, np: Any, ts: Any, out: Any, rest: Any) -> None:
    """Read the compact ISO-8601 times (19970101, as CDNOW writes them) among the rows
    ``rest`` into ``out`` (µs, UTC), and take them out of ``rest``."""
    for pattern, fmt in _COMPACT_SHAPES:
        if not rest.any():
            return
        shaped = rest & pc.match_substring_regex(ts, pattern).to_numpy(zero_copy_only=False)
        if not shaped.any():
            continue
        picked = pc.filter(ts, pa.array(shaped))
        if fmt.endswith("Z"):
            picked = pc.utf8_slice_codeunits(picked, 0, 15)
            fmt = fmt[:-1]
        try:
            parsed = pc.strptime(picked, format=fmt, unit="us")
        except pa.ArrowException:
            continue  # one by one below, as Python reads them
        # strptime rolls a day that does not exist (19970230) into the next month,
        # where Python refuses it: keep only what formats back to the same text
        exact = pc.equal(pc.strftime(parsed, format=fmt), picked).to_numpy(zero_copy_only=False)
        where = np.flatnonzero(shaped)[exact]
        out[where] = parsed.cast(pa.int64()).to_numpy(zero_copy_only=False)[exact]
        rest[where] = False


_EPOCH_ORDINAL = 719163  # date(1970, 1, 1).toordinal()


def _python_times(
    np: Any, values: list[Any], read: TimeReader
) -> tuple[Any, list[tuple[int, str]]]:
    """Times read one by one through ``read`` (as the Python path), as µs since the epoch,
    and the (position, reason) of each that does not read."""
    out = np.zeros(len(values), np.int64)
    bad: list[tuple[int, str]] = []
    for i, value in enumerate(values):
        try:
            at = read(value)
        except (ValueError, OverflowError, OSError, TypeError):
            bad.append((i, read.problem(value)))
            continue
        days = at.toordinal() - _EPOCH_ORDINAL
        out[i] = (days * 86400 + at.hour * 3600 + at.minute * 60 + at.second) * _US + at.microsecond
    return out, bad
