"""The rows of an AsyncPostgresStore: reading and writing them inside one transaction.

Every statement is parameterised; table names are ``psycopg.sql.Identifier`` objects
made by the store (schema and prefixed name, validated identifiers).
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager, nullcontext
from datetime import datetime
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from .._errors import StoreError
from .._records import HistoryEntry
from ..service._core import Decision, JourneyRow
from ._base import (
    chain,
    conflict,
    conflict_batch,
    final_rows,
)
from ._postgres_bulk_async import AsyncPostgresBulkRows
from ._postgres_codec import JOURNEY_ARRAYS as _JOURNEY_ARRAYS
from ._postgres_codec import JOURNEY_COLS as _JOURNEY_COLS
from ._postgres_codec import ROW_COLS as _ROW_COLS
from ._postgres_codec import ROW_COLS_J as _ROW_COLS_J
from ._postgres_codec import Tables
from ._postgres_codec import columns as _columns
from ._postgres_codec import entry_of as _entry
from ._postgres_codec import history_values as _history_values
from ._postgres_codec import journey_row as _journey_row
from ._postgres_codec import journey_values as _journey_values
from ._postgres_outbox_async import AsyncPostgresOutboxRows

__all__ = ["AsyncPostgresTransaction"]


class AsyncPostgresTransaction(AsyncPostgresOutboxRows, AsyncPostgresBulkRows):
    """The rows of one transaction on ``conn``.  ``tables`` maps each table's name to its
    ``sql.Identifier`` (schema and prefixed name) and caches the statements composed with
    them: handed in by the store, so this module never imports the store's (no import
    circle)."""

    def __init__(self, conn: psycopg.AsyncConnection[Any], tables: Tables) -> None:
        self.conn = conn
        self._t = tables

    def _q(self, text: str, **tables: str) -> bytes:
        return self._t.query(text, tables)

    def _atomic(self) -> AbstractAsyncContextManager[Any]:
        """What a write runs in.  Inside ``store.transaction()`` (a transaction, or a
        savepoint in the host's): nothing more, since a failed write raises out of that
        block, which rolls it back whole (a savepoint of its own cost two round trips a
        write).  Outside any transaction (autocommit): one transaction, so a write is
        never half-done."""
        conn = self.conn
        if conn.autocommit and conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE:
            return conn.transaction()
        # in a transaction, or a non-autocommit connection's first statement begins one
        return nullcontext()

    # -- journeys ------------------------------------------------------------------
    async def load(self, definition: str, key: str) -> JourneyRow | None:
        found = await (
            await self.conn.execute(
                self._q(
                    "SELECT " + _ROW_COLS + ", "
                    "(SELECT MAX(seq) FROM {h} WHERE definition = %s AND key = %s) "
                    "FROM {j} WHERE definition = %s AND key = %s",
                    h="history",
                    j="journeys",
                ),
                (definition, key, definition, key),
            )
        ).fetchone()
        return None if found is None else _journey_row(definition, found)

    async def load_event(
        self, definition: str, key: str, event_id: str | None
    ) -> tuple[JourneyRow | None, int | None]:
        """``load`` and ``event_seq`` in one round trip: the journey's row (or ``None``)
        and the seq of the move that committed ``event_id`` (or ``None``)."""
        if event_id is None:
            return await self.load(definition, key), None
        found = await (
            await self.conn.execute(
                self._q(
                    # one row always (LEFT JOIN from a single row): an event id is found
                    # even where the journey's row is missing
                    "SELECT " + _ROW_COLS_J + ", (SELECT MAX(seq) FROM {h} "
                    "WHERE definition = %(d)s AND key = %(k)s), (SELECT seq FROM {e} "
                    "WHERE definition = %(d)s AND key = %(k)s AND event_id = %(e)s) "
                    "FROM (SELECT 1) AS one LEFT JOIN {j} j "
                    "ON j.definition = %(d)s AND j.key = %(k)s",
                    h="history",
                    e="event_ids",
                    j="journeys",
                ),
                {"d": definition, "k": key, "e": event_id},
            )
        ).fetchone()
        assert found is not None
        seen = None if found[-1] is None else int(found[-1])
        return (None if found[0] is None else _journey_row(definition, found[:-1])), seen

    async def definitions_of(self, key: str) -> list[str]:
        rows = await (
            await self.conn.execute(
                self._q(
                    "SELECT DISTINCT definition FROM {j} WHERE key = %s ORDER BY definition",
                    j="journeys",
                ),
                (key,),
            )
        ).fetchall()
        return [r[0] for r in rows]

    async def load_many(self, definition: str, keys: Sequence[str]) -> dict[str, JourneyRow]:
        if not keys:
            return {}
        rows = await (
            await self.conn.execute(
                self._q(
                    # one primary key probe per key, as event_seqs: `key = ANY(...)` let the
                    # planner scan every row of the definition when the table has no
                    # statistics yet (a new table, before autovacuum analyses it), a cost
                    # that grew with the table
                    "SELECT " + _ROW_COLS_J + ", (SELECT MAX(h.seq) FROM {h} h "
                    "WHERE h.definition = %s AND h.key = j.key) "
                    "FROM unnest(%b::text[]) AS p(key) CROSS JOIN LATERAL (SELECT "
                    + _ROW_COLS
                    + " FROM {j} WHERE definition = %s AND key = p.key LIMIT 1) AS j",
                    h="history",
                    j="journeys",
                ),
                (definition, list(dict.fromkeys(keys)), definition),
            )
        ).fetchall()
        return {found[0]: _journey_row(definition, found) for found in rows}

    async def event_seq(self, definition: str, key: str, event_id: str) -> int | None:
        found = await (
            await self.conn.execute(
                self._q(
                    "SELECT seq FROM {e} WHERE definition = %s AND key = %s AND event_id = %s",
                    e="event_ids",
                ),
                (definition, key, event_id),
            )
        ).fetchone()
        return None if found is None else int(found[0])

    async def event_seqs(
        self, definition: str, pairs: Sequence[tuple[str, str]]
    ) -> dict[tuple[str, str], int]:
        if not pairs:
            return {}
        unique = list(dict.fromkeys(pairs))
        rows = await (
            await self.conn.execute(
                self._q(
                    # one primary key look-up per pair (LATERAL ... LIMIT 1 keeps the planner
                    # from hashing the whole table instead, as it does for a plain join)
                    "SELECT p.key, p.event_id, e.seq "
                    "FROM unnest(%b::text[], %b::text[]) AS p(key, event_id) "
                    "CROSS JOIN LATERAL (SELECT seq FROM {e} WHERE definition = %s "
                    "AND key = p.key AND event_id = p.event_id LIMIT 1) AS e",
                    e="event_ids",
                ),
                ([k for k, _ in unique], [e for _, e in unique], definition),
            )
        ).fetchall()
        return {(key, event_id): int(seq) for key, event_id, seq in rows}

    async def write(self, decision: Decision) -> None:
        if decision.timeouts:  # the timeouts that fired before the event: one batch
            await self.write_many([decision])
            return
        row = decision.journey
        if row is None:
            return
        statement, params = self._move_statement(decision)
        expected = decision.expected_version
        try:
            # ONE statement (a data-modifying CTE): atomic on its own, so no savepoint or
            # transaction is needed around it, and one round trip instead of four
            found = await (await self.conn.execute(statement, params)).fetchone()
        except psycopg.errors.UniqueViolation as err:
            raise conflict(row.key, expected, str(err).splitlines()[0]) from err
        except psycopg.DataError as err:
            # e.g. a NUL character in a string of the data or payload: jsonb refuses it
            raise StoreError(
                f"PostgreSQL refused the move of journey {row.key!r} ({row.stage!r}): "
                f"{str(err).splitlines()[0]}; nothing was written: change the value",
                table="journeys",
                key=row.key,
            ) from err
        if found is None or found[0] != 1:  # the version check (or the new row) lost
            raise conflict(row.key, expected)

    def _move_statement(self, decision: Decision) -> tuple[bytes, list[Any]]:
        """A move's rows as one data-modifying CTE: the journey row (inserted, or updated
        where its version and fired timeouts are still the ones read), then its history
        entry, event id and outbox rows, each inserted only if the journey's write took
        (``FROM j``).  The statement returns how many journey rows it wrote: 0 is a lost
        race, and then nothing else was written either."""
        row, entry = decision.journey, decision.history
        assert row is not None
        expected = decision.expected_version
        params: list[Any]
        if expected is None:
            # ON CONFLICT DO NOTHING: a journey another writer created first is a count
            # of 0, not an error (which would abort the host's transaction)
            parts = [
                "WITH j AS (INSERT INTO {j} ("
                + _JOURNEY_COLS
                + ") VALUES ("
                + ", ".join(["%s"] * 13)
                + ") ON CONFLICT DO NOTHING RETURNING 1)"
            ]
            params = list(_journey_values(row))
        else:
            parts = [
                "WITH j AS (UPDATE {j} SET definition_version = %s, stage = %s, data = %s, "
                "version = %s, entered_at = %s, updated_at = %s, started_at = %s, "
                "entry_seq = %s, timeouts_fired = %s, next_due = %s, goals = %s "
                "WHERE definition = %s AND key = %s AND version = %s "
                "AND timeouts_fired = %s RETURNING 1)"
            ]
            params = [
                *_journey_values(row)[2:],
                row.definition,
                row.key,
                expected,
                decision.expected_fired,
            ]
        if entry is not None:  # None: a timeout that fired without a move, the clock only
            parts.append(
                ", h AS (INSERT INTO {h} (definition, key, seq, trigger, source, dest, at, "
                "event_id, meta, definition_version) SELECT %s::text, %s::text, %s::int, "
                "%s::text, %s::text, %s::text, %s::timestamptz, %s::text, %s::jsonb, "
                "%s::jsonb FROM j)"
            )
            params.extend(_history_values(decision))
            ids = decision.event_id
            if ids is not None:
                parts.append(
                    ", e AS (INSERT INTO {e} (definition, key, event_id, seq, committed_at) "
                    "SELECT %s::text, %s::text, %s::text, %s::int, %s::timestamptz FROM j)"
                )
                params.extend((ids.definition, ids.key, ids.event_id, ids.seq, ids.committed_at))
            if decision.outbox:
                parts.append(
                    ", o AS (INSERT INTO {o} (definition, key, seq, effect, idempotency_key, "
                    "call, status, attempts, available_at, created_at) "
                    "SELECT v.*, 'pending', 0, %s::timestamptz, %s::timestamptz FROM j, (VALUES "
                    + ", ".join(
                        ["(%s::text, %s::text, %s::int, %s::text, %s::text, %s::jsonb)"]
                        * len(decision.outbox)
                    )
                    + ") AS v)"
                )
                params.extend((decision.now, decision.now))
                for out in decision.outbox:
                    params.extend(
                        (
                            out.definition,
                            out.key,
                            out.seq,
                            out.effect,
                            out.idempotency_key,
                            Jsonb(out.call),
                        )
                    )
        parts.append(" SELECT count(*)::int FROM j")
        return self._q("".join(parts), j="journeys", h="history", e="event_ids", o="outbox"), params

    async def write_many(self, decisions: Sequence[Decision]) -> None:
        writes = chain(decisions)
        if not writes:
            return
        rows = final_rows(writes)
        moves = [d for d in writes if d.history is not None]
        # in key order: concurrent batches lock shared journeys in one order (fewer deadlocks)
        ordered = sorted(rows, key=lambda r: r[0].key)
        new = [row for row, expected, _ in ordered if expected is None]
        old = [(row, v, f) for row, v, f in ordered if v is not None]
        ex = self.conn.execute
        try:
            async with self._atomic():
                if new:
                    done = await (
                        await ex(
                            self._q(
                                "INSERT INTO {j} ("
                                + _JOURNEY_COLS
                                + ") SELECT * FROM unnest("
                                + _JOURNEY_ARRAYS
                                + ") ON CONFLICT DO NOTHING RETURNING key",
                                j="journeys",
                            ),
                            _columns([_journey_values(row) for row in new], 13),
                        )
                    ).fetchall()
                    if len(done) != len(new):
                        written = {r[0] for r in done}
                        key = next(row.key for row in new if row.key not in written)
                        raise conflict(key, None)
                if old:
                    done = await (
                        await ex(
                            self._q(
                                "UPDATE {j} AS j SET definition_version = u.definition_version, "
                                "stage = u.stage, data = u.data, version = u.version, "
                                "entered_at = u.entered_at, updated_at = u.updated_at, "
                                "started_at = u.started_at, entry_seq = u.entry_seq, "
                                "timeouts_fired = u.timeouts_fired, next_due = u.next_due, goals = u.goals "
                                # each row found by one primary key probe (its ctid), then
                                # updated by that ctid: joined on the key instead, the planner
                                # hashes a seq scan of the whole table for tables up to some
                                # 40,000 journeys (4 ms a batch at 20,000).  A row another
                                # writer updated meanwhile has a new ctid, so READ COMMITTED's
                                # re-check skips it, as the version check does: a conflict.
                                "FROM (SELECT u.*, t.tid FROM unnest("
                                + _JOURNEY_ARRAYS
                                + ", %b::int[], %b::int[]) "
                                "AS u(" + _JOURNEY_COLS + ", expected, expected_fired) "
                                "CROSS JOIN LATERAL (SELECT ctid AS tid FROM {j} "
                                "WHERE definition = u.definition AND key = u.key LIMIT 1) AS t) AS u "
                                "WHERE j.ctid = u.tid AND j.definition = u.definition "
                                "AND j.key = u.key AND j.version = u.expected "
                                "AND j.timeouts_fired = u.expected_fired RETURNING j.key",
                                j="journeys",
                            ),
                            _columns([(*_journey_values(row), v, f) for row, v, f in old], 15),
                        )
                    ).fetchall()
                    if len(done) != len(old):
                        written = {r[0] for r in done}
                        row, v = next((row, v) for row, v, _ in old if row.key not in written)
                        raise conflict(row.key, v)
                if moves:
                    await ex(
                        self._q(
                            "INSERT INTO {h} (definition, key, seq, trigger, source, dest, "
                            "at, event_id, meta, definition_version) SELECT * FROM "
                            "unnest(%b::text[], %b::text[], %b::int[], %b::text[], "
                            "%b::text[], %b::text[], %b::timestamptz[], %b::text[], "
                            "%b::jsonb[], %b::jsonb[])",
                            h="history",
                        ),
                        _columns([_history_values(d) for d in moves], 10),
                    )
                ids = [d.event_id for d in moves if d.event_id is not None]
                if ids:
                    await ex(
                        self._q(
                            "INSERT INTO {e} (definition, key, event_id, seq, committed_at) "
                            "SELECT * FROM unnest(%b::text[], %b::text[], %b::text[], "
                            "%b::int[], %b::timestamptz[])",
                            e="event_ids",
                        ),
                        _columns(
                            [(i.definition, i.key, i.event_id, i.seq, i.committed_at) for i in ids],
                            5,
                        ),
                    )
                outbox = [
                    (o.definition, o.key, o.seq, o.effect, o.idempotency_key, Jsonb(o.call), d.now)
                    for d in moves
                    for o in d.outbox
                ]
                if outbox:
                    await ex(
                        self._q(
                            "INSERT INTO {o} (definition, key, seq, effect, idempotency_key, "
                            "call, available_at, created_at, status, attempts) "
                            "SELECT u.*, u.available_at, 'pending', 0 FROM unnest(%b::text[], "
                            "%b::text[], %b::int[], %b::text[], %b::text[], %b::jsonb[], "
                            "%b::timestamptz[]) AS u(definition, key, seq, effect, "
                            "idempotency_key, call, available_at)",
                            o="outbox",
                        ),
                        _columns(outbox, 7),
                    )
        except (psycopg.errors.UniqueViolation, psycopg.errors.DeadlockDetected) as err:
            # a unique key: another writer committed one of these moves (or events)
            # first; a deadlock: another batch locked the same journeys in another order
            touched = [row.key for row, _, _ in rows]
            raise conflict_batch(touched, str(err).splitlines()[0]) from err
        except psycopg.DataError as err:
            # e.g. a NUL character in a string of the data or payload: jsonb refuses it
            keys = ", ".join(repr(row.key) for row, _, _ in rows[:5])
            raise StoreError(
                f"PostgreSQL refused the moves of journeys {keys}"
                f"{', ...' if len(rows) > 5 else ''}: {str(err).splitlines()[0]}; nothing "
                "of the batch was written: change the value (handle_many then handles the "
                "events one by one and names the journey)",
                table="journeys",
                key=rows[0][0].key,
            ) from err

    async def history(
        self, definition: str, key: str, *, after: int = 0, limit: int = 100
    ) -> list[HistoryEntry]:
        rows = await (
            await self.conn.execute(
                self._q(
                    "SELECT seq, trigger, source, dest, at, event_id, meta FROM {h} "
                    "WHERE definition = %s AND key = %s AND seq > %s ORDER BY seq LIMIT %s",
                    h="history",
                ),
                (definition, key, after, limit),
            )
        ).fetchall()
        return [_entry(key, r) for r in rows]

    # -- timeouts and scans --------------------------------------------------------
    async def due(self, definition: str, *, now: datetime, limit: int) -> list[str]:
        rows = await (
            await self.conn.execute(
                self._q(
                    "SELECT key FROM {j} WHERE definition = %s AND next_due IS NOT NULL "
                    "AND next_due <= %s ORDER BY next_due LIMIT %s",
                    j="journeys",
                ),
                (definition, now, limit),
            )
        ).fetchall()
        return [r[0] for r in rows]

    async def claim_due(self, definition: str, key: str, *, now: datetime) -> JourneyRow | None:
        # the row stays locked until this transaction ends; a row another worker holds is
        # skipped, not waited for
        found = await (
            await self.conn.execute(
                self._q(
                    "SELECT " + _ROW_COLS + ", (SELECT MAX(seq) FROM {h} WHERE definition = %s "
                    "AND key = %s) FROM {j} WHERE definition = %s AND key = %s "
                    "AND next_due IS NOT NULL AND next_due <= %s FOR UPDATE SKIP LOCKED",
                    h="history",
                    j="journeys",
                ),
                (definition, key, definition, key, now),
            )
        ).fetchone()
        return None if found is None else _journey_row(definition, found)

    async def journeys_page(
        self, definition: str | None, *, after: tuple[str, str] | None, limit: int
    ) -> list[JourneyRow]:
        where, params = [], []
        if definition is not None:
            where.append("j.definition = %s")
            params.append(definition)
        if after is not None:
            where.append("(j.definition, j.key) > (%s, %s)")
            params.extend(after)
        rows = await (
            await self.conn.execute(
                self._q(
                    "SELECT j.definition, " + _ROW_COLS_J + ", (SELECT MAX(h.seq) FROM {h} h "
                    "WHERE h.definition = j.definition AND h.key = j.key) FROM {j} j "
                    + ("WHERE " + " AND ".join(where) if where else "")
                    + " ORDER BY j.definition, j.key LIMIT %s",
                    h="history",
                    j="journeys",
                ),
                (*params, limit),
            )
        ).fetchall()
        return [_journey_row(r[0], r[1:]) for r in rows]

    async def histories(
        self, definition: str, keys: Sequence[str]
    ) -> dict[str, list[HistoryEntry]]:
        if not keys:
            return {}
        rows = await (
            await self.conn.execute(
                self._q(
                    "SELECT key, seq, trigger, source, dest, at, event_id, meta FROM {h} "
                    "WHERE definition = %s AND key = ANY(%b::text[]) ORDER BY key, seq",
                    h="history",
                ),
                (definition, list(dict.fromkeys(keys))),
            )
        ).fetchall()
        out: dict[str, list[HistoryEntry]] = {}
        for key, *rest in rows:
            out.setdefault(key, []).append(_entry(key, rest))
        return out

    async def purge_event_ids(self, older_than: datetime) -> int:
        cur = await self.conn.execute(
            self._q("DELETE FROM {e} WHERE committed_at < %s", e="event_ids"), (older_than,)
        )
        return int(cur.rowcount)
