"""How a PostgresStore encodes its rows: the journeys table's columns, and the
conversions between rows of the database and the service's records."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from psycopg import sql
from psycopg.types.json import Jsonb

from .._errors import StoreError
from .._records import HistoryEntry
from ..service._core import Decision, JourneyRow
from ._base import check_version
from ._postgres_outbox import utc

__all__ = [
    "JOURNEY_ARRAYS",
    "JOURNEY_COLS",
    "ROW_COLS",
    "ROW_COLS_J",
    "Tables",
    "columns",
    "entry_of",
    "history_values",
    "journey_row",
    "journey_values",
    "tables_of",
]


JOURNEY_COLS = (
    "definition, key, definition_version, stage, data, version, entered_at, updated_at, "
    "started_at, entry_seq, timeouts_fired, next_due, goals"
)
JOURNEY_ARRAYS = (
    "%b::text[], %b::text[], %b::jsonb[], %b::text[], %b::jsonb[], %b::int[], "
    "%b::timestamptz[], %b::timestamptz[], %b::timestamptz[], %b::int[], %b::int[], "
    "%b::timestamptz[], %b::jsonb[]"
)
ROW_COLS = JOURNEY_COLS.split(", ", 1)[1]  # key, definition_version, ...
ROW_COLS_J = ", ".join(f"j.{c}" for c in ROW_COLS.split(", "))


class Tables(dict[str, sql.Identifier]):
    """A store's tables by name (``sql.Identifier``: schema and prefixed name), and the
    statements composed with them, as bytes.

    Composing a statement (``sql.SQL(text).format(...)`` and its quoting) costs some
    20 µs of client CPU, as much as a round trip on localhost: each statement text is
    composed once per set of tables and then reused, also by the stores made per request
    on a host's connection (:func:`tables_of` shares one ``Tables`` per schema and
    prefix).
    """

    def __init__(self, schema: str, prefix: str, names: Sequence[str]) -> None:
        super().__init__((name, sql.Identifier(schema, f"{prefix}{name}")) for name in names)
        self._composed: dict[tuple[object, ...], bytes] = {}

    def query(self, text: str, tables: Mapping[str, str]) -> bytes:
        """``text`` with each ``{placeholder}`` of ``tables`` replaced by that table's
        quoted name."""
        key = (text, *tables.items())
        found = self._composed.get(key)
        if found is None:
            found = sql.SQL(text).format(**{k: self[v] for k, v in tables.items()}).as_bytes(None)
            if len(self._composed) < 1000:  # the texts are the code's: a bound, to be sure
                self._composed[key] = found
        return found


_SHARED: dict[tuple[str, str, tuple[str, ...]], Tables] = {}


def tables_of(schema: str, prefix: str, names: Sequence[str]) -> Tables:
    """The one ``Tables`` of this schema and prefix in this process."""
    key = (schema, prefix, tuple(names))
    found = _SHARED.get(key)
    if found is None:
        found = _SHARED[key] = Tables(schema, prefix, names)
    return found


def journey_row(definition: str, found: Sequence[Any]) -> JourneyRow:
    key, dv, stage, data, version, entered, updated, started, entry_seq, fired, due, goals = found[
        :12
    ]
    last = found[12]
    check_version(key, version, last or 0)
    return JourneyRow(
        definition,
        key,
        dv,
        stage,
        data,
        version,
        utc(entered),
        utc(updated),
        utc(started),
        entry_seq,
        fired,
        None if due is None else utc(due),
        goals,
    )


def entry_of(key: str, r: Sequence[Any]) -> HistoryEntry:
    seq, trigger, source, dest, at, event_id, meta = r
    if meta is not None and not isinstance(meta, dict):
        raise StoreError(
            f"history.meta of journey {key!r} (seq {seq}) is corrupted: not a JSON "
            "object; repair the row",
            table="history",
            key=key,
        )
    return HistoryEntry(seq, trigger, source, dest, utc(at), event_id, meta)


def journey_values(row: JourneyRow) -> tuple[Any, ...]:
    return (
        row.definition,
        row.key,
        Jsonb(row.definition_version),
        row.stage,
        Jsonb(row.data),
        row.version,
        row.entered_at,
        row.updated_at,
        row.started_at,
        row.entry_seq,
        row.timeouts_fired,
        row.next_due,
        None if row.goals is None else Jsonb(row.goals),
    )


def history_values(decision: Decision) -> tuple[Any, ...]:
    row, entry = decision.journey, decision.history
    assert row is not None and entry is not None
    return (
        row.definition,
        row.key,
        entry.seq,
        entry.trigger,
        entry.source,
        entry.dest,
        entry.at,
        entry.event_id,
        None if entry.meta is None else Jsonb(dict(entry.meta)),
        Jsonb(row.definition_version),
    )


def columns(rows: Sequence[tuple[Any, ...]], width: int) -> list[list[Any]]:
    """Rows as ``width`` column lists: the arrays an ``unnest(...)`` turns back into rows."""
    return [[r[i] for r in rows] for i in range(width)]
