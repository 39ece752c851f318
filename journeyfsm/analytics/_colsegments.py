"""The segments of a columnar replay: per journey key, its segment values, read when asked.

The Python path builds one dict per journey while it reads the log; the columnar engine
keeps, per segment column, one Arrow array by journey number of each journey's first
non-empty value (:func:`~._colread.read_columns`), and :class:`ColumnarSegments` is the
``Mapping[str, Mapping[str, str]]`` over them: a journey's dict is built the first time
it is looked up, with the Python path's keys, values (as text) and order.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from ._coljourneys import ColumnarJourneys

__all__ = ["ColumnarSegments"]


class ColumnarSegments(Mapping[str, Mapping[str, str]]):
    """Each journey's segments (segment column -> first non-empty value, as text) by key,
    over ``columns`` (segment column -> Arrow array by journey number, null: no value) of
    ``journeys``; iterated in the journeys' order, every journey present."""

    def __init__(self, journeys: ColumnarJourneys, columns: Mapping[str, Any]) -> None:
        self.journeys = journeys
        self.columns = dict(columns)
        self._values: dict[str, list[Any]] | None = None
        self._built: dict[int, dict[str, str]] = {}

    def __len__(self) -> int:
        return len(self.journeys)

    def __iter__(self) -> Iterator[str]:
        return iter(self.journeys)

    def __contains__(self, key: object) -> bool:
        return key in self.journeys

    def __getitem__(self, key: str) -> dict[str, str]:
        j = self.journeys.position()[key]
        row = self._built.get(j)
        if row is None:
            if self._values is None:
                self._values = {c: a.to_pylist() for c, a in self.columns.items()}
            row = self._built[j] = {
                c: v if isinstance(v, str) else str(v)
                for c, values in self._values.items()
                if (v := values[j]) is not None
            }
        return row

    def __reduce__(self) -> Any:
        # pickled (and deep-copied) as the plain dict it stands for
        return (dict, (dict(self.items()),))
