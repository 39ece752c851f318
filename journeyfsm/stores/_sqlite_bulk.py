"""Whole batches of a SQLiteStore: claiming the journeys a batched tick advances, and
importing whole journeys (a part of ``SQLiteTransaction``).

Both run in a write transaction (``BEGIN IMMEDIATE``), which holds SQLite's one write
lock: the rows read are the rows written, with nobody in between.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from .._errors import StoreError
from ..service._core import JourneyRow
from ..service._records import JourneyImport
from ._base import already_stored, iter_chunks, to_time
from ._sqlite_codec import CHUNK, ROW_COLS_J, dumps, journey_params, journey_row, version_text

__all__ = ["SQLiteBulkRows"]


class SQLiteBulkRows:
    """The batch half of a SQLite transaction (``conn``, the quoted table names ``_t`` and
    the write statements ``_w``)."""

    conn: sqlite3.Connection
    _t: dict[str, str]
    _w: dict[str, str]

    def claim_due_batch(
        self, definition: str, *, now: datetime, limit: int, skip: Sequence[str] = ()
    ) -> list[JourneyRow | StoreError]:
        # the keys to skip (a tick's failures) are few: read that many more rows and leave
        # them out here, instead of a NOT IN list bounded by SQLite's variable limit
        left_out = set(skip)
        t = self._t
        found = self.conn.execute(
            f"SELECT {ROW_COLS_J}, (SELECT MAX(h.seq) FROM {t['history']} h "
            "WHERE h.definition = j.definition AND h.key = j.key) "
            f"FROM {t['journeys']} j WHERE j.definition = ? AND j.next_due IS NOT NULL "
            "AND j.next_due <= ? ORDER BY j.next_due LIMIT ?",
            (definition, to_time(now), limit + len(left_out)),
        ).fetchall()
        return [_read(definition, r) for r in found if r[0] not in left_out][:limit]

    def import_rows(
        self, definition: str, items: Sequence[JourneyImport], *, replace: bool
    ) -> None:
        t, ex, many = self._t, self.conn.execute, self.conn.executemany
        keys = [item.row.key for item in items]
        stored: list[str] = []
        for chunk in iter_chunks(keys, CHUNK):
            marks = ", ".join("?" * len(chunk))
            stored.extend(
                r[0]
                for r in ex(
                    f"SELECT key FROM {t['journeys']} WHERE definition = ? AND key IN ({marks})",
                    (definition, *chunk),
                )
            )
        if stored and not replace:
            raise already_stored(definition, sorted(stored, key=keys.index), len(items))
        for chunk in iter_chunks(stored, CHUNK):
            marks = ", ".join("?" * len(chunk))
            for table in ("journeys", "history", "event_ids", "outbox"):
                ex(
                    f"DELETE FROM {t[table]} WHERE definition = ? AND key IN ({marks})",
                    (definition, *chunk),
                )
        try:
            many(self._w["insert_journey"], [journey_params(item.row) for item in items])
            many(self._w["history"], [h for item in items for h in _history(item)])
            many(
                self._w["event_id"],
                [
                    (e.definition, e.key, e.event_id, e.seq, to_time(e.committed_at))
                    for item in items
                    for e in item.event_ids
                ],
            )
        except sqlite3.IntegrityError as err:  # pragma: no cover - checked above, under the lock
            raise StoreError(
                f"cannot import the batch's journeys (definition {definition!r}): {err}; "
                "nothing of the batch was written",
                table="journeys",
            ) from err


def _read(definition: str, found: Sequence[Any]) -> JourneyRow | StoreError:
    try:
        return journey_row(definition, found)
    except StoreError as err:  # this journey fails, not the batch
        return err


def _history(item: JourneyImport) -> list[tuple[Any, ...]]:
    row = item.row
    return [
        (
            row.definition,
            row.key,
            e.seq,
            e.trigger,
            e.source,
            e.dest,
            to_time(e.at),
            e.event_id,
            None if e.meta is None else dumps(e.meta),
            version_text(row.definition_version),
        )
        for e in item.history
    ]
