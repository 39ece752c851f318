"""The rows of a PostgresStore: reading and writing them inside one transaction.

Every statement is parameterised; table names are ``psycopg.sql.Identifier`` objects
made by the store (schema and prefixed name, validated identifiers).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from .._errors import ConcurrencyConflict, StoreError
from .._records import HistoryEntry
from .._service_core import Decision, JourneyRow
from ._base import OutboxItem, OutboxStatus, check_version

if TYPE_CHECKING:
    from ._postgres import PostgresStore

__all__ = ["PostgresTransaction"]


def _utc(value: datetime) -> datetime:
    return value.astimezone(timezone.utc)


class PostgresTransaction:
    def __init__(self, store: PostgresStore, conn: psycopg.Connection[Any]) -> None:
        self.conn = conn
        self._t = store._t

    def _q(self, text: str, **tables: str) -> sql.Composed:
        return sql.SQL(text).format(**{k: self._t[v] for k, v in tables.items()})

    # -- journeys ------------------------------------------------------------------
    def load(self, definition: str, key: str) -> JourneyRow | None:
        found = self.conn.execute(
            self._q(
                "SELECT definition_version, stage, data, version, entered_at, updated_at, "
                "(SELECT MAX(seq) FROM {h} WHERE definition = %s AND key = %s) "
                "FROM {j} WHERE definition = %s AND key = %s",
                h="history",
                j="journeys",
            ),
            (definition, key, definition, key),
        ).fetchone()
        if found is None:
            return None
        dv, stage, data, version, entered, updated, last_seq = found
        check_version(key, version, last_seq or 0)
        return JourneyRow(definition, key, dv, stage, data, version, _utc(entered), _utc(updated))

    def event_seq(self, definition: str, key: str, event_id: str) -> int | None:
        found = self.conn.execute(
            self._q(
                "SELECT seq FROM {e} WHERE definition = %s AND key = %s AND event_id = %s",
                e="event_ids",
            ),
            (definition, key, event_id),
        ).fetchone()
        return None if found is None else int(found[0])

    def write(self, decision: Decision) -> None:
        row, entry = decision.journey, decision.history
        if row is None or entry is None:
            return
        ex = self.conn.execute
        values = (
            Jsonb(row.definition_version),
            row.stage,
            Jsonb(row.data),
            row.version,
            row.entered_at,
            row.updated_at,
        )
        expected = decision.expected_version
        try:
            with self.conn.transaction():  # a savepoint: a unique violation aborts only it
                if expected is None:
                    ex(
                        self._q(
                            "INSERT INTO {j} (definition_version, stage, data, version, "
                            "entered_at, updated_at, definition, key) "
                            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                            j="journeys",
                        ),
                        (*values, row.definition, row.key),
                    )
                else:
                    cur = ex(
                        self._q(
                            "UPDATE {j} SET definition_version = %s, stage = %s, data = %s, "
                            "version = %s, entered_at = %s, updated_at = %s "
                            "WHERE definition = %s AND key = %s AND version = %s",
                            j="journeys",
                        ),
                        (*values, row.definition, row.key, expected),
                    )
                    if cur.rowcount != 1:
                        raise _conflict(row.key, expected)
                ex(
                    self._q(
                        "INSERT INTO {h} (definition, key, seq, trigger, source, dest, at, "
                        "event_id, meta) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
                        h="history",
                    ),
                    (
                        row.definition,
                        row.key,
                        entry.seq,
                        entry.trigger,
                        entry.source,
                        entry.dest,
                        entry.at,
                        entry.event_id,
                        None if entry.meta is None else Jsonb(dict(entry.meta)),
                    ),
                )
                ids = decision.event_id
                if ids is not None:
                    ex(
                        self._q(
                            "INSERT INTO {e} (definition, key, event_id, seq, committed_at) "
                            "VALUES (%s, %s, %s, %s, %s)",
                            e="event_ids",
                        ),
                        (ids.definition, ids.key, ids.event_id, ids.seq, ids.committed_at),
                    )
                for out in decision.outbox:
                    ex(
                        self._q(
                            "INSERT INTO {o} (definition, key, seq, effect, idempotency_key, "
                            "call, status, attempts, available_at, created_at) "
                            "VALUES (%s, %s, %s, %s, %s, %s, 'pending', 0, %s, %s)",
                            o="outbox",
                        ),
                        (
                            out.definition,
                            out.key,
                            out.seq,
                            out.effect,
                            out.idempotency_key,
                            Jsonb(out.call),
                            decision.now,
                            decision.now,
                        ),
                    )
        except psycopg.errors.UniqueViolation as err:
            raise _conflict(row.key, expected, str(err).splitlines()[0]) from err
        except psycopg.DataError as err:
            # e.g. a NUL character in a string of the data or payload: jsonb refuses it
            raise StoreError(
                f"PostgreSQL refused the move of journey {row.key!r} ({row.stage!r}): "
                f"{str(err).splitlines()[0]}; nothing was written: change the value",
                table="journeys",
                key=row.key,
            ) from err

    def history(
        self, definition: str, key: str, *, after: int = 0, limit: int = 100
    ) -> list[HistoryEntry]:
        rows = self.conn.execute(
            self._q(
                "SELECT seq, trigger, source, dest, at, event_id, meta FROM {h} "
                "WHERE definition = %s AND key = %s AND seq > %s ORDER BY seq LIMIT %s",
                h="history",
            ),
            (definition, key, after, limit),
        ).fetchall()
        out = []
        for seq, trigger, source, dest, at, event_id, meta in rows:
            if meta is not None and not isinstance(meta, dict):
                raise StoreError(
                    f"history.meta of journey {key!r} (seq {seq}) is corrupted: not a JSON "
                    "object; repair the row",
                    table="history",
                    key=key,
                )
            out.append(HistoryEntry(seq, trigger, source, dest, _utc(at), event_id, meta))
        return out

    def purge_event_ids(self, older_than: datetime) -> int:
        cur = self.conn.execute(
            self._q("DELETE FROM {e} WHERE committed_at < %s", e="event_ids"), (older_than,)
        )
        return int(cur.rowcount)

    # -- outbox --------------------------------------------------------------------
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
            _utc(r[9]),
            r[10],
            None if r[11] is None else _utc(r[11]),
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
        counts = {"pending": 0, "dead": 0, "done": 0}
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


def _conflict(key: str, expected: int | None, detail: str | None = None) -> ConcurrencyConflict:
    why = f" ({detail})" if detail else ""
    return ConcurrencyConflict(
        f"journey {key!r} was moved by another worker first (expected version {expected}){why}; "
        "reload it and decide again",
        key=key,
    )
