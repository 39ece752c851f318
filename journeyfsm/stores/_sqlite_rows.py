"""The rows of a SQLiteStore: reading and writing them inside one transaction.

Every statement is parameterised; table names come from the store (its checked prefix,
quoted).  A value that cannot be read back (malformed JSON, a bad time) is a
``StoreError`` naming the table, the column and the journey key.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from .._errors import ConcurrencyConflict, StoreError
from .._records import HistoryEntry
from .._service_core import Decision, JourneyRow
from ._base import OutboxItem, OutboxStatus, check_version, from_time, to_time

if TYPE_CHECKING:
    from ._sqlite import SQLiteStore

__all__ = ["SQLiteTransaction"]


def _loads(text: object, table: str, key: str | None, column: str) -> Any:
    try:
        if type(text) is not str:
            raise ValueError(f"not text: {text!r}")
        return json.loads(text)
    except ValueError as err:
        raise StoreError(
            f"{table}.{column} of journey {key!r} is corrupted (malformed JSON: {err}); "
            "repair the row",
            table=table,
            key=key,
        ) from None


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))


class SQLiteTransaction:
    def __init__(self, store: SQLiteStore, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self._t = store._t

    # -- journeys ------------------------------------------------------------------
    def load(self, definition: str, key: str) -> JourneyRow | None:
        found = self.conn.execute(
            f"SELECT definition_version, stage, data, version, entered_at, updated_at, "
            f"(SELECT MAX(seq) FROM {self._t['history']} WHERE definition = ? AND key = ?) "
            f"FROM {self._t['journeys']} WHERE definition = ? AND key = ?",
            (definition, key, definition, key),
        ).fetchone()
        if found is None:
            return None
        dv, stage, data, version, entered, updated, last_seq = found
        check_version(key, version, last_seq or 0)
        definition_version = _loads(dv, "journeys", key, "definition_version")
        data = _loads(data, "journeys", key, "data")
        return JourneyRow(
            definition,
            key,
            definition_version,
            stage,
            data,
            version,
            from_time(entered, table="journeys", key=key, column="entered_at"),
            from_time(updated, table="journeys", key=key, column="updated_at"),
        )

    def event_seq(self, definition: str, key: str, event_id: str) -> int | None:
        found = self.conn.execute(
            f"SELECT seq FROM {self._t['event_ids']} "
            "WHERE definition = ? AND key = ? AND event_id = ?",
            (definition, key, event_id),
        ).fetchone()
        return None if found is None else int(found[0])

    def write(self, decision: Decision) -> None:
        row, entry = decision.journey, decision.history
        if row is None or entry is None:
            return
        t, ex = self._t, self.conn.execute
        values = (
            _dumps(row.definition_version),
            row.stage,
            _dumps(row.data),
            row.version,
            to_time(row.entered_at),
            to_time(row.updated_at),
        )
        expected = decision.expected_version
        try:
            if expected is None:
                ex(
                    f"INSERT INTO {t['journeys']} (definition_version, stage, data, version, "
                    "entered_at, updated_at, definition, key) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (*values, row.definition, row.key),
                )
            else:
                cur = ex(
                    f"UPDATE {t['journeys']} SET definition_version = ?, stage = ?, data = ?, "
                    "version = ?, entered_at = ?, updated_at = ? "
                    "WHERE definition = ? AND key = ? AND version = ?",
                    (*values, row.definition, row.key, expected),
                )
                if cur.rowcount != 1:
                    raise _conflict(row.key, expected)
            ex(
                f"INSERT INTO {t['history']} (definition, key, seq, trigger, source, dest, at, "
                "event_id, meta) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    row.definition,
                    row.key,
                    entry.seq,
                    entry.trigger,
                    entry.source,
                    entry.dest,
                    to_time(entry.at),
                    entry.event_id,
                    None if entry.meta is None else _dumps(entry.meta),
                ),
            )
            ids = decision.event_id
            if ids is not None:
                ex(
                    f"INSERT INTO {t['event_ids']} (definition, key, event_id, seq, "
                    "committed_at) VALUES (?, ?, ?, ?, ?)",
                    (ids.definition, ids.key, ids.event_id, ids.seq, to_time(ids.committed_at)),
                )
            now = to_time(decision.now)
            for out in decision.outbox:
                ex(
                    f"INSERT INTO {t['outbox']} (definition, key, seq, effect, idempotency_key, "
                    "call, status, attempts, available_at, created_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, 'pending', 0, ?, ?)",
                    (
                        out.definition,
                        out.key,
                        out.seq,
                        out.effect,
                        out.idempotency_key,
                        _dumps(out.call),
                        now,
                        now,
                    ),
                )
        except sqlite3.IntegrityError as err:
            # a primary key or the unique event id / idempotency key: another writer
            # committed this journey's move (or this event) first
            raise _conflict(row.key, expected, str(err)) from err
        except sqlite3.OperationalError as err:
            # "database is locked": only a transaction that began as a read (the host's)
            # can fail to take the write lock here; the whole transaction must be retried
            raise StoreError(
                f"cannot write journey {row.key!r}: {err}; roll back and retry the whole "
                "transaction (in your own connection: begin it with BEGIN IMMEDIATE)",
                table="journeys",
                key=row.key,
            ) from err

    def history(
        self, definition: str, key: str, *, after: int = 0, limit: int = 100
    ) -> list[HistoryEntry]:
        rows = self.conn.execute(
            f"SELECT seq, trigger, source, dest, at, event_id, meta FROM {self._t['history']} "
            "WHERE definition = ? AND key = ? AND seq > ? ORDER BY seq LIMIT ?",
            (definition, key, after, limit),
        ).fetchall()
        out = []
        for seq, trigger, source, dest, at, event_id, meta in rows:
            out.append(
                HistoryEntry(
                    seq,
                    trigger,
                    source,
                    dest,
                    from_time(at, table="history", key=key, column="at"),
                    event_id,
                    None if meta is None else _loads(meta, "history", key, "meta"),
                )
            )
        return out

    def purge_event_ids(self, older_than: datetime) -> int:
        cur = self.conn.execute(
            f"DELETE FROM {self._t['event_ids']} WHERE committed_at < ?", (to_time(older_than),)
        )
        return int(cur.rowcount)

    # -- outbox --------------------------------------------------------------------
    _COLS = (
        "id, definition, key, seq, effect, idempotency_key, call, status, attempts, "
        "available_at, lease_owner, lease_until, last_error"
    )

    def _item(self, r: Sequence[Any]) -> OutboxItem:
        key = r[2]
        try:
            call = json.loads(r[6])
        except ValueError as err:
            # kept as the raw text: the worker dead-letters it with this error
            call = StoreError(
                f"outbox.call of journey {key!r} (row {r[0]}) is corrupted (malformed JSON: "
                f"{err}); repair the row and requeue it",
                table="outbox",
                key=key,
            )
        return OutboxItem(
            r[0],
            r[1],
            key,
            r[3],
            r[4],
            r[5],
            call,
            r[7],
            r[8],
            from_time(r[9], table="outbox", key=key, column="available_at"),
            r[10],
            None
            if r[11] is None
            else from_time(r[11], table="outbox", key=key, column="lease_until"),
            r[12],
        )

    def claim(
        self, definition: str, *, worker: str, now: datetime, lease: timedelta, limit: int
    ) -> list[OutboxItem]:
        t, n = self._t["outbox"], to_time(now)
        ids = [
            r[0]
            for r in self.conn.execute(
                f"SELECT id FROM {t} WHERE definition = ? AND status = 'pending' "
                "AND available_at <= ? AND (lease_until IS NULL OR lease_until <= ?) "
                "ORDER BY id LIMIT ?",
                (definition, n, n, limit),
            )
        ]
        if not ids:
            return []
        marks = ", ".join("?" * len(ids))
        self.conn.execute(
            f"UPDATE {t} SET attempts = attempts + 1, lease_owner = ?, lease_until = ? "
            f"WHERE id IN ({marks})",
            (worker, to_time(now + lease), *ids),
        )
        rows = self.conn.execute(
            f"SELECT {self._COLS} FROM {t} WHERE id IN ({marks}) ORDER BY id", ids
        ).fetchall()
        return [self._item(r) for r in rows]

    def mark_done(self, item_id: int, *, now: datetime) -> None:
        self.conn.execute(
            f"UPDATE {self._t['outbox']} SET status = 'done', lease_owner = NULL, "
            "lease_until = NULL WHERE id = ? AND status = 'pending'",
            (item_id,),
        )

    def mark_failed(
        self, item_id: int, *, error: str, retry_at: datetime | None, now: datetime
    ) -> None:
        if retry_at is None:
            sql = "status = 'dead', last_error = ?"
            params: tuple[Any, ...] = (error, item_id)
        else:
            sql = "available_at = ?, last_error = ?"
            params = (to_time(retry_at), error, item_id)
        self.conn.execute(
            f"UPDATE {self._t['outbox']} SET {sql}, lease_owner = NULL, lease_until = NULL "
            "WHERE id = ? AND status = 'pending'",
            params,
        )

    def requeue_dead(
        self, definition: str, *, now: datetime, ids: Sequence[int] | None = None
    ) -> int:
        sql = (
            f"UPDATE {self._t['outbox']} SET status = 'pending', attempts = 0, "
            "available_at = ? WHERE definition = ? AND status = 'dead'"
        )
        params: list[Any] = [to_time(now), definition]
        if ids is not None:
            if not ids:
                return 0
            sql += f" AND id IN ({', '.join('?' * len(ids))})"
            params.extend(ids)
        return int(self.conn.execute(sql, params).rowcount)

    def outbox(
        self, definition: str, *, key: str | None = None, status: OutboxStatus | None = None
    ) -> list[OutboxItem]:
        sql = f"SELECT {self._COLS} FROM {self._t['outbox']} WHERE definition = ?"
        params: list[Any] = [definition]
        if key is not None:
            sql += " AND key = ?"
            params.append(key)
        if status is not None:
            sql += " AND status = ?"
            params.append(status)
        return [self._item(r) for r in self.conn.execute(sql + " ORDER BY id", params)]

    def outbox_counts(self, definition: str) -> dict[str, int]:
        counts = {"pending": 0, "dead": 0, "done": 0}
        for status, n in self.conn.execute(
            f"SELECT status, COUNT(*) FROM {self._t['outbox']} WHERE definition = ? "
            "GROUP BY status",
            (definition,),
        ):
            counts[status] = n
        return counts


def _conflict(key: str, expected: int | None, detail: str | None = None) -> ConcurrencyConflict:
    why = f" ({detail})" if detail else ""
    return ConcurrencyConflict(
        f"journey {key!r} was moved by another worker first (expected version {expected}){why}; "
        "reload it and decide again",
        key=key,
    )
