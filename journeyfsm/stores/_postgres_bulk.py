# GENERATED from journeyfsm/stores/_postgres_bulk_async.py by .ci/async_to_sync.py: do not edit;
# edit the source and run `make generate`.
"""Whole batches of a PostgresStore: claiming the journeys a batched tick advances (one
``SELECT ... FOR UPDATE SKIP LOCKED``), and importing whole journeys (``unnest`` inserts,
one statement per table) (a part of ``PostgresTransaction``)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from .._errors import StoreError
from ..service._core import JourneyRow
from ..service._records import JourneyImport
from ._base import already_stored
from ._postgres_codec import (
    JOURNEY_ARRAYS,
    JOURNEY_COLS,
    ROW_COLS_J,
    columns,
    journey_row,
    journey_values,
)

__all__ = ["PostgresBulkRows"]


class PostgresBulkRows:
    """The batch half of a PostgreSQL transaction (``conn`` and the query maker ``_q``)."""

    conn: psycopg.Connection[Any]

    def _q(self, text: str, **tables: str) -> bytes:
        raise NotImplementedError  # pragma: no cover - PostgresTransaction defines it

    def claim_due_batch(
        self, definition: str, *, now: datetime, limit: int, skip: Sequence[str] = ()
    ) -> list[JourneyRow | StoreError]:
        # the rows stay locked until this transaction ends; rows another worker holds are
        # passed over, not waited for (READ COMMITTED re-checks next_due on a row that
        # was updated meanwhile: one no longer due is not returned)
        found = self.conn.execute(
            self._q(
                "SELECT " + ROW_COLS_J + ", (SELECT MAX(h.seq) FROM {h} h "
                "WHERE h.definition = j.definition AND h.key = j.key) FROM {j} j "
                "WHERE j.definition = %s AND j.next_due IS NOT NULL AND j.next_due <= %s "
                "AND j.key <> ALL(%b::text[]) ORDER BY j.next_due LIMIT %s "
                "FOR UPDATE OF j SKIP LOCKED",
                h="history",
                j="journeys",
            ),
            (definition, now, list(skip), limit),
        ).fetchall()
        out: list[JourneyRow | StoreError] = []
        for r in found:
            try:
                out.append(journey_row(definition, r))
            except StoreError as err:  # this journey fails, not the batch
                out.append(err)
        return out

    def import_rows(
        self, definition: str, items: Sequence[JourneyImport], *, replace: bool
    ) -> None:
        ex = self.conn.execute
        keys = [item.row.key for item in items]
        if replace:
            for table in ("journeys", "history", "event_ids", "outbox"):
                ex(
                    self._q(
                        "DELETE FROM {t} WHERE definition = %s AND key = ANY(%b::text[])", t=table
                    ),
                    (definition, keys),
                )
        try:
            with self.conn.transaction():  # a savepoint: a failed statement aborts only it
                done = ex(
                    self._q(
                        "INSERT INTO {j} ("
                        + JOURNEY_COLS
                        + ") SELECT * FROM unnest("
                        + JOURNEY_ARRAYS
                        + ") ON CONFLICT DO NOTHING RETURNING key",
                        j="journeys",
                    ),
                    columns([journey_values(item.row) for item in items], 13),
                ).fetchall()
                if len(done) != len(items):
                    written = {r[0] for r in done}
                    raise already_stored(
                        definition, [k for k in keys if k not in written], len(items)
                    )
                history = [
                    (
                        definition,
                        item.row.key,
                        e.seq,
                        e.trigger,
                        e.source,
                        e.dest,
                        e.at,
                        e.event_id,
                        None if e.meta is None else Jsonb(dict(e.meta)),
                        Jsonb(item.row.definition_version),
                    )
                    for item in items
                    for e in item.history
                ]
                if history:
                    ex(
                        self._q(
                            "INSERT INTO {h} (definition, key, seq, trigger, source, dest, "
                            "at, event_id, meta, definition_version) SELECT * FROM "
                            "unnest(%b::text[], %b::text[], %b::int[], %b::text[], "
                            "%b::text[], %b::text[], %b::timestamptz[], %b::text[], "
                            "%b::jsonb[], %b::jsonb[])",
                            h="history",
                        ),
                        columns(history, 10),
                    )
                ids = [
                    (e.definition, e.key, e.event_id, e.seq, e.committed_at)
                    for item in items
                    for e in item.event_ids
                ]
                if ids:
                    ex(
                        self._q(
                            "INSERT INTO {e} (definition, key, event_id, seq, committed_at) "
                            "SELECT * FROM unnest(%b::text[], %b::text[], %b::text[], "
                            "%b::int[], %b::timestamptz[])",
                            e="event_ids",
                        ),
                        columns(ids, 5),
                    )
        except psycopg.errors.UniqueViolation as err:
            # history or event ids left by a journey row deleted by hand
            raise StoreError(
                f"cannot import the batch's journeys (definition {definition!r}): "
                f"{str(err).splitlines()[0]}; nothing of the batch was written: delete the "
                "journeys' leftover rows, or import with replace=True",
                table="journeys",
            ) from err
        except psycopg.DataError as err:
            raise StoreError(
                f"PostgreSQL refused the batch's journeys (definition {definition!r}): "
                f"{str(err).splitlines()[0]}; nothing of the batch was written: change the "
                "value",
                table="journeys",
            ) from err
