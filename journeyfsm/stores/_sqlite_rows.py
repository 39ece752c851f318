"""The rows of a SQLiteStore: reading and writing them inside one transaction.

Every statement is parameterised; table names come from the store (its checked prefix,
quoted).  A value that cannot be read back (malformed JSON, a bad time) is a
``StoreError`` naming the table, the column and the journey key.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import datetime

from .._errors import ConcurrencyConflict, StoreError
from .._records import HistoryEntry
from ..service._core import Decision, JourneyRow
from ._base import (
    chain,
    conflict,
    conflict_batch,
    final_rows,
    iter_chunks,
    to_time,
)
from ._sqlite_bulk import SQLiteBulkRows
from ._sqlite_codec import CHUNK as _CHUNK
from ._sqlite_codec import ROW_COLS as _ROW_COLS
from ._sqlite_codec import ROW_COLS_J as _ROW_COLS_J
from ._sqlite_codec import entry_of as _entry
from ._sqlite_codec import event_id_params as _event_id_params
from ._sqlite_codec import event_seq_of as _event_seq
from ._sqlite_codec import history_params as _history_params
from ._sqlite_codec import journey_params as _journey_params
from ._sqlite_codec import journey_row as _journey_row
from ._sqlite_codec import outbox_params as _outbox_params
from ._sqlite_codec import times as _times
from ._sqlite_outbox import SQLiteOutboxRows

__all__ = ["SQLiteTransaction"]


class SQLiteTransaction(SQLiteOutboxRows, SQLiteBulkRows):
    """The rows of one transaction on ``conn``.  ``tables`` are the store's quoted table
    names, ``writes`` its move statements (``write_statements(tables)``): handed in by the
    store, so this module never imports the store's (no import circle)."""

    def __init__(
        self, conn: sqlite3.Connection, tables: dict[str, str], writes: dict[str, str]
    ) -> None:
        self.conn = conn
        self._t = tables
        self._w = writes

    # -- journeys ------------------------------------------------------------------
    def load(self, definition: str, key: str) -> JourneyRow | None:
        found = self.conn.execute(
            f"SELECT {_ROW_COLS}, (SELECT MAX(seq) FROM {self._t['history']} "
            f"WHERE definition = ? AND key = ?) "
            f"FROM {self._t['journeys']} WHERE definition = ? AND key = ?",
            (definition, key, definition, key),
        ).fetchone()
        return None if found is None else _journey_row(definition, found)

    def load_event(
        self, definition: str, key: str, event_id: str | None
    ) -> tuple[JourneyRow | None, int | None]:
        """``load`` and ``event_seq`` in one statement: the journey's row (or ``None``) and
        the seq of the move that committed ``event_id`` (or ``None``)."""
        if event_id is None:
            return self.load(definition, key), None
        t = self._t
        found = self.conn.execute(
            # one row always (LEFT JOIN from a single row): an event id is found even
            # where the journey's row is missing
            f"SELECT {_ROW_COLS_J}, (SELECT MAX(seq) FROM {t['history']} "
            # (named parameters: numbered ones with a sequence are deprecated in 3.12)
            "WHERE definition = :d AND key = :k), (SELECT seq FROM "
            f"{t['event_ids']} WHERE definition = :d AND key = :k AND event_id = :e) "
            f"FROM (SELECT 1) LEFT JOIN {t['journeys']} j ON j.definition = :d AND j.key = :k",
            {"d": definition, "k": key, "e": event_id},
        ).fetchone()
        seen = None if found[-1] is None else _event_seq(key, event_id, found[-1])
        return (None if found[0] is None else _journey_row(definition, found[:-1])), seen

    # -- timeouts and scans --------------------------------------------------------
    def due(self, definition: str, *, now: datetime, limit: int) -> list[str]:
        rows = self.conn.execute(
            f"SELECT key FROM {self._t['journeys']} WHERE definition = ? "
            "AND next_due IS NOT NULL AND next_due <= ? ORDER BY next_due LIMIT ?",
            (definition, to_time(now), limit),
        ).fetchall()
        return [r[0] for r in rows]

    def claim_due(self, definition: str, key: str, *, now: datetime) -> JourneyRow | None:
        # a write transaction (BEGIN IMMEDIATE) holds SQLite's one write lock: nobody else
        # writes this journey until it ends
        row = self.load(definition, key)
        if row is None or row.next_due is None or row.next_due > now:
            return None
        return row

    def journeys_page(
        self, definition: str | None, *, after: tuple[str, str] | None, limit: int
    ) -> list[JourneyRow]:
        where, params = [], []
        if definition is not None:
            where.append("j.definition = ?")
            params.append(definition)
        if after is not None:
            where.append("(j.definition, j.key) > (?, ?)")
            params.extend(after)
        rows = self.conn.execute(
            f"SELECT j.definition, {_ROW_COLS_J}, (SELECT MAX(h.seq) FROM {self._t['history']} "
            "h WHERE h.definition = j.definition AND h.key = j.key) "
            f"FROM {self._t['journeys']} j {'WHERE ' + ' AND '.join(where) if where else ''} "
            "ORDER BY j.definition, j.key LIMIT ?",
            (*params, limit),
        ).fetchall()
        return [_journey_row(r[0], r[1:]) for r in rows]

    def histories(self, definition: str, keys: Sequence[str]) -> dict[str, list[HistoryEntry]]:
        out: dict[str, list[HistoryEntry]] = {}
        for chunk in iter_chunks(list(dict.fromkeys(keys)), _CHUNK):
            marks = ", ".join("?" * len(chunk))
            for key, *rest in self.conn.execute(
                f"SELECT key, seq, trigger, source, dest, at, event_id, meta "
                f"FROM {self._t['history']} WHERE definition = ? AND key IN ({marks}) "
                "ORDER BY key, seq",
                (definition, *chunk),
            ):
                out.setdefault(key, []).append(_entry(key, rest))
        return out

    def definitions_of(self, key: str) -> list[str]:
        rows = self.conn.execute(
            f"SELECT DISTINCT definition FROM {self._t['journeys']} WHERE key = ? "
            "ORDER BY definition",
            (key,),
        ).fetchall()
        return [r[0] for r in rows]

    def load_many(self, definition: str, keys: Sequence[str]) -> dict[str, JourneyRow]:
        t, out = self._t, {}
        for chunk in iter_chunks(list(dict.fromkeys(keys)), _CHUNK):
            marks = ", ".join("?" * len(chunk))
            for found in self.conn.execute(
                f"SELECT {_ROW_COLS_J}, (SELECT MAX(h.seq) FROM {t['history']} h "
                "WHERE h.definition = j.definition AND h.key = j.key) "
                f"FROM {t['journeys']} j WHERE j.definition = ? AND j.key IN ({marks})",
                (definition, *chunk),
            ):
                out[found[0]] = _journey_row(definition, found)
        return out

    def event_seq(self, definition: str, key: str, event_id: str) -> int | None:
        found = self.conn.execute(
            f"SELECT seq FROM {self._t['event_ids']} "
            "WHERE definition = ? AND key = ? AND event_id = ?",
            (definition, key, event_id),
        ).fetchone()
        return None if found is None else _event_seq(key, event_id, found[0])

    def event_seqs(
        self, definition: str, pairs: Sequence[tuple[str, str]]
    ) -> dict[tuple[str, str], int]:
        out = {}
        for chunk in iter_chunks(list(dict.fromkeys(pairs)), _CHUNK // 2):
            marks = ", ".join(["(?, ?)"] * len(chunk))
            # the pairs drive the loop (CROSS JOIN keeps that order): one primary key
            # look-up each; "(key, event_id) IN (VALUES ...)" would scan the table
            for key, event_id, seq in self.conn.execute(
                f"WITH p(key, event_id) AS (VALUES {marks}) SELECT e.key, e.event_id, e.seq "
                f"FROM p CROSS JOIN {self._t['event_ids']} e ON e.definition = ? "
                "AND e.key = p.key AND e.event_id = p.event_id",
                (*(v for pair in chunk for v in pair), definition),
            ):
                out[(key, event_id)] = _event_seq(key, event_id, seq)
        return out

    def write(self, decision: Decision) -> None:
        if decision.timeouts:  # the timeouts that fired before the event: one batch
            self.write_many([decision])
            return
        row, entry = decision.journey, decision.history
        if row is None:
            return
        ex = self.conn.execute
        expected = decision.expected_version
        try:
            if expected is None:
                ex(self._sql("insert_journey"), _journey_params(row))
            else:
                cur = ex(
                    self._sql("update_journey"),
                    (*_journey_params(row), expected, decision.expected_fired),
                )
                if cur.rowcount != 1:
                    raise conflict(row.key, expected)
            if entry is None:  # a timeout that fired without a move: the clock only
                return
            ex(self._sql("history"), _history_params(decision))
            ids = decision.event_id
            if ids is not None:
                ex(self._sql("event_id"), _event_id_params(ids))
            for params in _outbox_params(decision):
                ex(self._sql("outbox"), params)
        except sqlite3.IntegrityError as err:
            # a primary key or the unique event id / idempotency key: another writer
            # committed this journey's move (or this event) first
            raise conflict(row.key, expected, str(err)) from err
        except sqlite3.OperationalError as err:
            raise _busy(row.key, err) from err

    def write_many(self, decisions: Sequence[Decision]) -> None:
        writes = chain(decisions)
        if not writes:
            return
        rows = final_rows(writes)
        moves = [d for d in writes if d.history is not None]
        many, text = self.conn.executemany, _times()
        try:
            new = [_journey_params(row, text) for row, expected, _ in rows if expected is None]
            if new:
                many(self._sql("insert_journey"), new)
            old = [(row, v, f) for row, v, f in rows if v is not None]
            if old:
                # in a savepoint: on a conflict, undone to find (and name) the stale journey
                self.conn.execute('SAVEPOINT "journeyfsm_batch"')
                cur = many(
                    self._sql("update_journey"),
                    [(*_journey_params(row, text), v, f) for row, v, f in old],
                )
                if cur.rowcount != len(old):  # summed over the rows
                    self.conn.execute('ROLLBACK TO "journeyfsm_batch"')
                    self.conn.execute('RELEASE "journeyfsm_batch"')
                    raise self._stale(old)
                self.conn.execute('RELEASE "journeyfsm_batch"')
            if moves:
                many(self._sql("history"), [_history_params(d, text) for d in moves])
            ids = [_event_id_params(d.event_id, text) for d in moves if d.event_id is not None]
            if ids:
                many(self._sql("event_id"), ids)
            outbox = [params for d in moves for params in _outbox_params(d, text)]
            if outbox:
                many(self._sql("outbox"), outbox)
        except sqlite3.IntegrityError as err:
            keys = [row.key for row, _, _ in rows]
            raise conflict_batch(keys, str(err)) from err
        except sqlite3.OperationalError as err:
            raise _busy(rows[0][0].key, err) from err

    def _stale(self, old: list[tuple[JourneyRow, int, int | None]]) -> ConcurrencyConflict:
        """The conflict naming the first journey whose stored version (or clock) moved on
        (the batch's updates undone)."""
        for row, expected, fired in old:
            found = self.conn.execute(
                f"SELECT version, timeouts_fired FROM {self._t['journeys']} "
                "WHERE definition = ? AND key = ?",
                (row.definition, row.key),
            ).fetchone()
            if found is None or tuple(found) != (expected, fired):
                return conflict(row.key, expected)
        return conflict_batch([row.key for row, _, _ in old])  # pragma: no cover - raced

    def _sql(self, name: str) -> str:
        return self._w[name]

    def history(
        self, definition: str, key: str, *, after: int = 0, limit: int = 100
    ) -> list[HistoryEntry]:
        rows = self.conn.execute(
            f"SELECT seq, trigger, source, dest, at, event_id, meta FROM {self._t['history']} "
            "WHERE definition = ? AND key = ? AND seq > ? ORDER BY seq LIMIT ?",
            (definition, key, after, limit),
        ).fetchall()
        return [_entry(key, r) for r in rows]

    def purge_event_ids(self, older_than: datetime) -> int:
        cur = self.conn.execute(
            f"DELETE FROM {self._t['event_ids']} WHERE committed_at < ?", (to_time(older_than),)
        )
        return int(cur.rowcount)


def _busy(key: str, err: sqlite3.OperationalError) -> StoreError:
    # "database is locked": only a transaction that began as a read (the host's) can
    # fail to take the write lock here; the whole transaction must be retried
    if "locked" in str(err) or "busy" in str(err):
        fix = (
            "roll back and retry the whole transaction (in your own connection: begin it "
            "with BEGIN IMMEDIATE)"
        )
    else:  # a full disk, a read-only or broken file: retrying the same will not help
        fix = (
            "nothing of this move was written: fix the database (disk space, file "
            "permissions, PRAGMA max_page_count) and deliver the event again"
        )
    return StoreError(f"cannot write journey {key!r}: {err}; {fix}", table="journeys", key=key)
