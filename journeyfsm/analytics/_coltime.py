"""Fixed-width ISO-8601 times read straight from an Arrow text column's bytes.

Theory of operation
-------------------
Logs write every time in one shape (``2026-01-01T10:00:00+00:00``, ``19970101``).  When
every value of a text column has the same byte length and that length is one of the
shapes below, the column's data buffer is a ``rows x width`` block of bytes: the digits
are read with numpy at once, and each field is checked against the range
``datetime`` accepts (month 1-12, the day within its month, leap years, hour < 24,
offset < 24 h, years 2-9998 so that no offset leaves the range).  A row whose bytes do
not fit the shape, or whose fields are out of range, is left to the caller, which reads
it as before (Arrow's cast, then :class:`~._mapping.TimeReader` one by one): this
module only takes the rows it reads exactly as ``datetime.fromisoformat`` (and the
compact reading of :func:`~._mapping.parse_time`) does.

The shapes are a subset of what :mod:`._colread`'s regular expressions send to Arrow's
cast, so naive shapes are taken only when the log's zone is UTC, as there.
"""

from __future__ import annotations

from typing import Any

__all__ = ["read_fixed"]

#: (template, naive, compact): ``d`` a digit, ``X`` "T" or " ", ``s`` "+" or "-",
#: anything else itself.  Fields sit at fixed places: extended shapes put the year at
#: 0, month 5, day 8, hour 11, minute 14, second 17; compact ones at 0, 4, 6, 9, 11, 13.
_SHAPES = (
    ("dddddddd", True, True),
    ("ddddddddTdddddd", True, True),
    ("ddddddddTddddddZ", True, True),
    ("dddd-dd-dd", True, False),
    ("dddd-dd-ddXdd:dd", True, False),
    ("dddd-dd-ddXdd:dd:dd", True, False),
    ("dddd-dd-ddXdd:ddZ", False, False),
    ("dddd-dd-ddXdd:dd:ddZ", False, False),
    ("dddd-dd-ddXdd:ddsdd:dd", False, False),
    ("dddd-dd-ddXdd:dd:ddsdd:dd", False, False),
)
_US = 1_000_000


def _fits(np: Any, block: Any, template: str) -> Any:
    """Rows of ``block`` (uint8, rows x len(template)) whose bytes fit ``template``."""
    ok = np.ones(len(block), bool)
    for i, ch in enumerate(template):
        b = block[:, i]
        if ch == "d":
            ok &= (b >= 48) & (b <= 57)
        elif ch == "X":
            ok &= (b == 84) | (b == 32)
        elif ch == "s":
            ok &= (b == 43) | (b == 45)
        else:
            ok &= b == ord(ch)
    return ok


def _number(np: Any, block: Any, start: int, width: int) -> Any:
    out = np.zeros(len(block), np.int64)
    for i in range(start, start + width):
        out = out * 10 + (block[:, i].astype(np.int64) - 48)
    return out


def _days(np: Any, y: Any, m: Any, d: Any) -> Any:
    """Days since 1970-01-01 of the proleptic Gregorian dates (y, m, d)."""
    y = y - (m <= 2)
    era = y // 400
    yoe = y - era * 400
    doy = (153 * np.where(m > 2, m - 3, m + 9) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


_MONTH_DAYS = (0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def read_fixed(pa: Any, np: Any, ts: Any, utc_zone: bool) -> tuple[Any, Any] | None:
    """``(µs since the epoch UTC, read)`` for the text array ``ts`` when all its values
    have one known fixed-width shape (``read``: the rows taken; the others are the
    caller's), else None.  ``utc_zone``: naive times are UTC (else naive shapes are
    not taken)."""
    n = len(ts)
    if n == 0 or ts.null_count:
        return None
    t = ts.type
    if pa.types.is_string(t):
        width_type = np.int32
    elif pa.types.is_large_string(t):
        width_type = np.int64
    else:
        return None
    _, offsets_buffer, data = ts.buffers()
    if data is None:
        return None
    size = np.dtype(width_type).itemsize
    offsets = np.frombuffer(offsets_buffer, width_type, count=n + 1, offset=ts.offset * size)
    first, last = int(offsets[0]), int(offsets[-1])
    width, rest = divmod(last - first, n)
    if rest or width == 0 or not bool(np.all(np.diff(offsets) == width)):
        return None
    shapes = [s for s in _SHAPES if len(s[0]) == width and (utc_zone or not s[1])]
    if not shapes:
        return None
    block = np.frombuffer(data, np.uint8, count=n * width, offset=first).reshape(n, width)
    found = [s for s in shapes if _fits(np, block[:_PROBE], s[0]).any()]
    if not found:
        return None
    template, _, compact = found[0]
    us = np.empty(n, np.int64)
    taken = np.empty(n, bool)
    # in slices, so that the temporaries stay small whatever the log's length
    for lo in range(0, n, _SLICE):
        part = block[lo : lo + _SLICE]
        us[lo : lo + len(part)], taken[lo : lo + len(part)] = _read(np, part, template, compact)
    return us, taken


_PROBE = 4096  # rows that pick the shape
_SLICE = 1 << 16  # rows read at once


def _read(np: Any, block: Any, template: str, compact: bool) -> tuple[Any, Any]:
    """(µs, fits and in range) of each row of ``block`` under ``template``."""
    n, width = block.shape
    ok = _fits(np, block, template)
    places = (0, 4, 6, 9, 11, 13) if compact else (0, 5, 8, 11, 14, 17)
    y = _number(np, block, places[0], 4)
    mo = _number(np, block, places[1], 2)
    d = _number(np, block, places[2], 2)
    timed = width > 10
    zero = np.zeros(n, np.int64)
    hh = _number(np, block, places[3], 2) if timed else zero
    mi = _number(np, block, places[4], 2) if timed else zero
    with_seconds = timed and (compact or template[16:17] == ":")
    ss = _number(np, block, places[5], 2) if with_seconds else zero
    month_days = np.array(_MONTH_DAYS, np.int64)[np.clip(mo, 0, 12)]
    leap = (y % 4 == 0) & ((y % 100 != 0) | (y % 400 == 0))
    month_days = month_days + ((mo == 2) & leap)
    ok &= (y >= 2) & (y <= 9998) & (mo >= 1) & (mo <= 12) & (d >= 1) & (d <= month_days)
    ok &= (hh < 24) & (mi < 60) & (ss < 60)
    seconds = _days(np, y, mo, d) * 86400 + hh * 3600 + mi * 60 + ss
    if template.endswith("sdd:dd"):
        oh = _number(np, block, width - 5, 2)
        om = _number(np, block, width - 2, 2)
        ok &= (oh < 24) & (om < 60)
        sign = np.where(block[:, width - 6] == 45, -1, 1)
        seconds = seconds - sign * (oh * 3600 + om * 60)
    return seconds * _US, ok
