# GENERATED from journeyfsm/stores/_postgres_outbox_async.py by .ci/async_to_sync.py: do not edit;
# edit the source and run `make generate`.
"""The outbox rows of a PostgresStore: claiming (``FOR UPDATE SKIP LOCKED``), marking
and listing them (a part of ``PostgresTransaction``)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

import psycopg

from ._base import OutboxItem, OutboxStatus

__all__ = ["PostgresOutboxRows", "utc"]


def utc(value: datetime) -> datetime:
    """A ``timestamptz`` as read, in UTC."""
    return value.astimezone(timezone.utc)


class PostgresOutboxRows:
    """The outbox half of a PostgreSQL transaction (``conn`` and the query maker ``_q``)."""

    conn: psycopg.Connection[Any]

    def _q(self, text: str, **tables: str) -> bytes:
        raise NotImplementedError  # pragma: no cover - PostgresTransaction defines it

    _COLS = (
        "id, definition, key, seq, effect, idempotency_key, call, status, attempts, "
        "available_at, lease_owner, lease_until, last_error"
    )

    @staticmethod
    def _item(r: Sequence[Any]) -> OutboxItem:
        return OutboxItem(
            r[0],
            r[1],
            r[2],
            r[3],
            r[4],
            r[5],
            r[6],
            r[7],
            r[8],
            utc(r[9]),
            r[10],
            None if r[11] is None else utc(r[11]),
            r[12],
        )

    def claim(
        self, definition: str, *, worker: str, now: datetime, lease: timedelta, limit: int
    ) -> list[OutboxItem]:
        rows = self.conn.execute(
            self._q(
                "UPDATE {o} SET attempts = attempts + 1, lease_owner = %s, lease_until = %s "
                "WHERE id IN (SELECT id FROM {o} WHERE definition = %s AND status = 'pending' "
                "AND available_at <= %s AND (lease_until IS NULL OR lease_until <= %s) "
                "ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED) RETURNING " + self._COLS,
                o="outbox",
            ),
            (worker, now + lease, definition, now, now, limit),
        ).fetchall()
        return sorted((self._item(r) for r in rows), key=lambda item: item.id)

    def mark_done(self, item_id: int, *, now: datetime) -> None:
        self.conn.execute(
            self._q(
                "UPDATE {o} SET status = 'done', lease_owner = NULL, lease_until = NULL "
                "WHERE id = %s AND status = 'pending'",
                o="outbox",
            ),
            (item_id,),
        )

    def mark_failed(
        self, item_id: int, *, error: str, retry_at: datetime | None, now: datetime
    ) -> None:
        params: list[Any]
        if retry_at is None:
            change, params = "status = 'dead', last_error = %s", [error]
        else:
            change, params = "available_at = %s, last_error = %s", [retry_at, error]
        self.conn.execute(
            self._q(
                "UPDATE {o} SET " + change + ", lease_owner = NULL, lease_until = NULL "
                "WHERE id = %s AND status = 'pending'",
                o="outbox",
            ),
            (*params, item_id),
        )

    def requeue_dead(
        self, definition: str, *, now: datetime, ids: Sequence[int] | None = None
    ) -> int:
        text = (
            "UPDATE {o} SET status = 'pending', attempts = 0, available_at = %s "
            "WHERE definition = %s AND status = 'dead'"
        )
        params: list[Any] = [now, definition]
        if ids is not None:
            text += " AND id = ANY(%s)"
            params.append(list(ids))
        return int(self.conn.execute(self._q(text, o="outbox"), params).rowcount)

    def outbox(
        self, definition: str, *, key: str | None = None, status: OutboxStatus | None = None
    ) -> list[OutboxItem]:
        text = "SELECT " + self._COLS + " FROM {o} WHERE definition = %s"
        params: list[Any] = [definition]
        if key is not None:
            text += " AND key = %s"
            params.append(key)
        if status is not None:
            text += " AND status = %s"
            params.append(status)
        rows = self.conn.execute(self._q(text + " ORDER BY id", o="outbox"), params)
        return [self._item(r) for r in rows.fetchall()]

    def outbox_counts(self, definition: str) -> dict[str, int]:
        counts = {"pending": 0, "dead": 0, "done": 0, "dropped": 0}
        rows = self.conn.execute(
            self._q(
                "SELECT status, COUNT(*) FROM {o} WHERE definition = %s GROUP BY status",
                o="outbox",
            ),
            (definition,),
        ).fetchall()
        for status, n in rows:
            counts[status] = int(n)
        return counts

    # -- frequency caps ------------------------------------------------------------
    def cap_deliveries(
        self, customer: str, channel: str, *, since: datetime
    ) -> list[tuple[int, datetime]]:
        # the pair is serialized until the transaction ends: every worker counting this
        # customer's channel waits here (a hash collision only serializes two pairs; the
        # channel is an identifier without ':', so the text names one pair)
        self.conn.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))",
            (f"journeyfsm-cap:{channel}:{customer}",),
        )
        rows = self.conn.execute(
            self._q(
                "SELECT outbox_id, at FROM {d} WHERE customer = %s AND channel = %s "
                "AND at > %s ORDER BY at",
                d="deliveries",
            ),
            (customer, channel, since),
        ).fetchall()
        return [(int(r[0]), utc(r[1])) for r in rows]

    def cap_record(self, outbox_id: int, customer: str, channel: str, *, at: datetime) -> None:
        self.conn.execute(
            self._q(
                "INSERT INTO {d} (outbox_id, customer, channel, at) VALUES (%s, %s, %s, %s) "
                "ON CONFLICT (outbox_id) DO UPDATE SET customer = EXCLUDED.customer, "
                "channel = EXCLUDED.channel, at = EXCLUDED.at",
                d="deliveries",
            ),
            (outbox_id, customer, channel, at),
        )

    def cap_release(self, outbox_id: int) -> None:
        self.conn.execute(
            self._q("DELETE FROM {d} WHERE outbox_id = %s", d="deliveries"), (outbox_id,)
        )

    def cap_prune(self, before: datetime) -> int:
        cur = self.conn.execute(self._q("DELETE FROM {d} WHERE at < %s", d="deliveries"), (before,))
        return cur.rowcount

    def mark_capped(self, item_id: int, *, until: datetime | None, reason: str) -> None:
        params: list[Any]
        if until is None:
            change, params = "status = 'dropped', last_error = %s", [reason]
        else:
            change = "available_at = %s, last_error = %s, attempts = GREATEST(attempts - 1, 0)"
            params = [until, reason]
        self.conn.execute(
            self._q(
                "UPDATE {o} SET " + change + ", lease_owner = NULL, lease_until = NULL "
                "WHERE id = %s AND status = 'pending'",
                o="outbox",
            ),
            (*params, item_id),
        )
