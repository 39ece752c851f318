"""The outbox rows of a SQLiteStore: claiming, marking and listing them (a part of
``SQLiteTransaction``)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from .._errors import StoreError
from ._base import OutboxItem, OutboxStatus, from_time, to_time

__all__ = ["SQLiteOutboxRows", "loads_json"]


def loads_json(text: object, table: str, key: str | None, column: str) -> Any:
    """A JSON column's value; malformed JSON is a ``StoreError`` naming the place."""
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


class SQLiteOutboxRows:
    """The outbox half of a SQLite transaction (``conn`` and the quoted table names ``_t``)."""

    conn: sqlite3.Connection
    _t: dict[str, str]

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
        items = []
        for r in rows:
            try:
                items.append(self._item(r))
            except StoreError as err:
                # a row that cannot be read back (a bad time) is dead-lettered with the
                # reason, in this transaction: it never wedges the rows claimed after it
                self.conn.execute(
                    f"UPDATE {t} SET status = 'dead', lease_owner = NULL, lease_until = NULL, "
                    "last_error = ? WHERE id = ?",
                    (f"{err}, then requeue outbox row {r[0]}", r[0]),
                )
        return items

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
        counts = {"pending": 0, "dead": 0, "done": 0, "dropped": 0}
        for status, n in self.conn.execute(
            f"SELECT status, COUNT(*) FROM {self._t['outbox']} WHERE definition = ? "
            "GROUP BY status",
            (definition,),
        ):
            counts[status] = n
        return counts

    # -- frequency caps (the worker holds the write lock: the pair is serialized) ------
    def cap_deliveries(
        self, customer: str, channel: str, *, since: datetime
    ) -> list[tuple[int, datetime]]:
        rows = self.conn.execute(
            f"SELECT outbox_id, at FROM {self._t['deliveries']} WHERE customer = ? "
            "AND channel = ? AND at > ? ORDER BY at",
            (customer, channel, to_time(since)),
        ).fetchall()
        return [
            (r[0], from_time(r[1], table="deliveries", key=customer, column="at")) for r in rows
        ]

    def cap_record(self, outbox_id: int, customer: str, channel: str, *, at: datetime) -> None:
        self.conn.execute(
            f"INSERT OR REPLACE INTO {self._t['deliveries']} (outbox_id, customer, channel, at) "
            "VALUES (?, ?, ?, ?)",
            (outbox_id, customer, channel, to_time(at)),
        )

    def cap_release(self, outbox_id: int) -> None:
        self.conn.execute(f"DELETE FROM {self._t['deliveries']} WHERE outbox_id = ?", (outbox_id,))

    def cap_prune(self, before: datetime) -> int:
        cur = self.conn.execute(
            f"DELETE FROM {self._t['deliveries']} WHERE at < ?", (to_time(before),)
        )
        return cur.rowcount

    def mark_capped(self, item_id: int, *, until: datetime | None, reason: str) -> None:
        if until is None:
            sql, params = "status = 'dropped', last_error = ?", (reason, item_id)
        else:
            sql = "available_at = ?, last_error = ?, attempts = MAX(attempts - 1, 0)"
            params = (to_time(until), reason, item_id)  # type: ignore[assignment]
        self.conn.execute(
            f"UPDATE {self._t['outbox']} SET {sql}, lease_owner = NULL, lease_until = NULL "
            "WHERE id = ? AND status = 'pending'",
            params,
        )
