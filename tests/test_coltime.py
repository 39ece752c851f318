"""The fixed-width time reader (analytics/_coltime.py) against the Python path's."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

pa = pytest.importorskip("pyarrow")
np = pytest.importorskip("numpy")

from journeyfsm.analytics._colread import _times  # noqa: E402
from journeyfsm.analytics._coltime import read_fixed  # noqa: E402
from journeyfsm.analytics._mapping import LogMapping, TimeReader  # noqa: E402

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)

#: the shapes, written with fields that may be out of range (month 19, day 39, hour 29)
SHAPES = (
    "{Y}{M}{D}",
    "{Y}{M}{D}T{h}{m}{s}",
    "{Y}{M}{D}T{h}{m}{s}Z",
    "{Y}-{M}-{D}",
    "{Y}-{M}-{D}{sep}{h}:{m}",
    "{Y}-{M}-{D}{sep}{h}:{m}:{s}",
    "{Y}-{M}-{D}{sep}{h}:{m}Z",
    "{Y}-{M}-{D}{sep}{h}:{m}:{s}Z",
    "{Y}-{M}-{D}{sep}{h}:{m}{sign}{oh}:{om}",
    "{Y}-{M}-{D}{sep}{h}:{m}:{s}{sign}{oh}:{om}",
)


def two(hi: int) -> st.SearchStrategy[str]:
    return st.integers(0, hi).map(lambda v: f"{v:02d}")


@st.composite
def times(draw: st.DrawFn, shape: str) -> str:
    year = draw(st.one_of(st.integers(1, 9999), st.sampled_from([1, 2, 1900, 2000, 2024, 9998])))
    return shape.format(
        Y=f"{year:04d}",
        M=draw(two(19)),
        D=draw(st.one_of(two(39), st.sampled_from(["28", "29", "30", "31"]))),
        h=draw(two(29)),
        m=draw(two(69)),
        s=draw(two(69)),
        sep=draw(st.sampled_from("T ")),
        sign=draw(st.sampled_from("+-")),
        oh=draw(two(29)),
        om=draw(two(69)),
    )


def python_us(read: TimeReader, value: str) -> int | None:
    try:
        at = read(value)
    except (ValueError, OverflowError):
        return None
    return (at - _EPOCH) // timedelta(microseconds=1)


@settings(max_examples=300, deadline=None)
@given(data=st.data(), shape=st.sampled_from(SHAPES))
def test_every_taken_time_is_the_python_paths_time(data: st.DataObject, shape: str) -> None:
    values = data.draw(st.lists(times(shape), min_size=1, max_size=30))
    read = TimeReader()
    found = read_fixed(pa, np, pa.array(values, pa.string()), True)
    assert found is not None  # one shape, one width: the reader takes the column
    us, taken = found
    for value, v, took in zip(values, us.tolist(), taken.tolist(), strict=True):
        expected = python_us(read, value)
        if took:
            assert v == expected, value
        # a row left (Python may still read it: "+00:60" is an offset to fromisoformat)
        # is read by the caller the slow way: the next test holds the whole column


@settings(max_examples=200, deadline=None)
@given(data=st.data(), shape=st.sampled_from(SHAPES))
def test_a_whole_column_reads_as_the_python_path_reads_it(data: st.DataObject, shape: str) -> None:
    values = data.draw(st.lists(times(shape), min_size=1, max_size=30))
    m = LogMapping(key="k", event="e", time="t")
    out, bad = _times(pa, pa.compute, np, pa.array(values, pa.string()), m)
    read = TimeReader()
    bad_at = dict(bad)
    for i, value in enumerate(values):
        expected = python_us(read, value)
        if expected is None:
            assert i in bad_at, value
        else:
            assert i not in bad_at and int(out[i]) == expected, value


def test_valid_times_in_range_are_all_taken() -> None:
    values = ["2024-02-29T23:59:59+05:30", "1999-12-31T00:00:00-11:45", "2026-01-01T00:00:00+00:00"]
    us, taken = read_fixed(pa, np, pa.array(values), True)  # type: ignore[misc]
    assert taken.all()
    assert us.tolist() == [python_us(TimeReader(), v) for v in values]


def test_mixed_widths_nulls_and_naive_times_in_a_zone_are_left_to_the_caller() -> None:
    assert read_fixed(pa, np, pa.array(["2026-01-01", "2026-01-01T10:00"]), True) is None
    assert read_fixed(pa, np, pa.array(["2026-01-01", None]), True) is None
    assert read_fixed(pa, np, pa.array(["2026-01-01T10:00:00"]), False) is None
    assert read_fixed(pa, np, pa.array(["abcdefghij"]), True) is None
    # an aware shape is taken in any zone
    found = read_fixed(pa, np, pa.array(["2026-01-01T10:00:00Z"]), False)
    assert found is not None and found[1].all()


def test_a_sliced_column_reads_from_its_own_offset() -> None:
    column = pa.array(["2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z", "2026-01-03T00:00:00Z"])
    us, taken = read_fixed(pa, np, column.slice(1), True)  # type: ignore[misc]
    assert taken.all() and us.tolist() == [
        python_us(TimeReader(), "2026-01-02T00:00:00Z"),
        python_us(TimeReader(), "2026-01-03T00:00:00Z"),
    ]


def test_naive_times_in_a_zone_read_as_before() -> None:
    m = LogMapping(key="k", event="e", time="t", timezone="Europe/Berlin")
    values = ["2026-03-29 01:30:00", "2026-03-29 03:30:00"]
    out, bad = _times(pa, pa.compute, np, pa.array(values), m)
    read = TimeReader(ZoneInfo("Europe/Berlin"))
    assert not bad and out.tolist() == [python_us(read, v) for v in values]


def test_large_strings_and_two_shapes_of_one_width_read_as_the_python_path() -> None:
    values = ["19970101T101500Z", "1997-01-01T10:15", "19970230T000000Z", "1997-02-29 10:00"]
    m = LogMapping(key="k", event="e", time="t")
    read = TimeReader()
    for kind in (pa.string(), pa.large_string()):
        out, bad = _times(pa, pa.compute, np, pa.array(values, kind), m)
        assert [i for i, _ in bad] == [2, 3]  # no 30 February, no 29 February in 1997
        assert out[:2].tolist() == [python_us(read, v) for v in values[:2]]
        found = read_fixed(pa, np, pa.array(values, kind), True)
        assert found is not None and found[1].tolist() == [True, False, False, False]
