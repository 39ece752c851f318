"""How a SQLiteStore encodes its rows: the statements that write a move, and the
conversions between rows of the database and the service's records (a value that cannot
be read back is a ``StoreError`` naming the table, the column and the journey key)."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from .._errors import StoreError
from .._records import HistoryEntry
from ..service._core import Decision, EventIdRow, JourneyRow
from ._base import check_version, from_time, to_time
from ._sqlite_outbox import loads_json

__all__ = [
    "CHUNK",
    "ROW_COLS",
    "ROW_COLS_J",
    "dumps",
    "entry_of",
    "event_id_params",
    "event_seq_of",
    "history_params",
    "journey_params",
    "journey_row",
    "outbox_params",
    "times",
    "version_text",
    "write_statements",
]

_loads = loads_json

# one encoder for every value (json.dumps with options makes a new one per call)
dumps = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode


def write_statements(t: dict[str, str]) -> dict[str, str]:
    """The statements that write a move, for the quoted table names ``t``."""
    return {
        "insert_journey": f"INSERT INTO {t['journeys']} (definition_version, stage, data, "
        "version, entered_at, updated_at, started_at, entry_seq, timeouts_fired, next_due, "
        "goals, definition, key) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        # the clock token: the version and the timeouts fired the row was decided on
        "update_journey": f"UPDATE {t['journeys']} SET definition_version = ?, stage = ?, "
        "data = ?, version = ?, entered_at = ?, updated_at = ?, started_at = ?, "
        "entry_seq = ?, timeouts_fired = ?, next_due = ?, goals = ? "
        "WHERE definition = ? AND key = ? AND version = ? AND timeouts_fired = ?",
        "history": f"INSERT INTO {t['history']} (definition, key, seq, trigger, source, "
        "dest, at, event_id, meta, definition_version) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        "event_id": f"INSERT INTO {t['event_ids']} (definition, key, event_id, seq, "
        "committed_at) VALUES (?, ?, ?, ?, ?)",
        "outbox": f"INSERT INTO {t['outbox']} (definition, key, seq, effect, "
        "idempotency_key, call, status, attempts, available_at, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?, 'pending', 0, ?, ?)",
    }


CHUNK = 500  # values per statement: below every SQLite's limit on variables (999)


ROW_COLS = (
    "key, definition_version, stage, data, version, entered_at, updated_at, started_at, "
    "entry_seq, timeouts_fired, next_due, goals"
)
ROW_COLS_J = ", ".join(f"j.{c.strip()}" for c in ROW_COLS.split(","))


def journey_row(definition: str, found: Sequence[Any]) -> JourneyRow:
    (key, dv, stage, data, version, entered, updated, started, entry_seq, fired, due, goals) = (
        found[:12]
    )
    last_seq = found[12]
    check_version(key, version, last_seq or 0)

    def time(value: object, column: str) -> datetime:
        return from_time(value, table="journeys", key=key, column=column)

    for column, value in (("entry_seq", entry_seq), ("timeouts_fired", fired)):
        if type(value) is not int:
            raise StoreError(
                f"journeys.{column} of journey {key!r} is corrupted: {value!r} is not an "
                "integer; repair the row",
                table="journeys",
                key=key,
            )
    return JourneyRow(
        definition,
        key,
        _loads(dv, "journeys", key, "definition_version"),
        stage,
        _loads(data, "journeys", key, "data"),
        version,
        time(entered, "entered_at"),
        time(updated, "updated_at"),
        time(started, "started_at"),
        entry_seq,
        fired,
        None if due is None else time(due, "next_due"),
        None if goals is None else _loads(goals, "journeys", key, "goals"),
    )


def entry_of(key: str, r: Sequence[Any]) -> HistoryEntry:
    seq, trigger, source, dest, at, event_id, meta = r
    at = from_time(at, table="history", key=key, column="at")
    meta = None if meta is None else _loads(meta, "history", key, "meta")
    try:
        return HistoryEntry(seq, trigger, source, dest, at, event_id, meta)
    except (TypeError, ValueError) as err:  # a value of the wrong type in a column
        raise StoreError(
            f"history row {seq!r} of journey {key!r} is corrupted ({err}); repair the row",
            table="history",
            key=key,
        ) from None


def event_seq_of(key: str, event_id: object, seq: object) -> int:
    """The seq column of an event_ids row; anything but an integer is a ``StoreError``."""
    if type(seq) is not int:
        raise StoreError(
            f"event_ids.seq of journey {key!r} (event id {event_id!r}) is corrupted: {seq!r} "
            "is not an integer; repair the row (the seq of the move that committed it)",
            table="event_ids",
            key=key,
        )
    return seq


def journey_params(row: JourneyRow, text: Callable[[datetime], str] = to_time) -> tuple[Any, ...]:
    return (
        version_text(row.definition_version),
        row.stage,
        dumps(row.data),
        row.version,
        text(row.entered_at),
        text(row.updated_at),
        text(row.started_at),
        row.entry_seq,
        row.timeouts_fired,
        None if row.next_due is None else text(row.next_due),
        None if row.goals is None else dumps(row.goals),
        row.definition,
        row.key,
    )


def history_params(
    decision: Decision, text: Callable[[datetime], str] = to_time
) -> tuple[Any, ...]:
    row, entry = decision.journey, decision.history
    assert row is not None and entry is not None
    return (
        row.definition,
        row.key,
        entry.seq,
        entry.trigger,
        entry.source,
        entry.dest,
        text(entry.at),
        entry.event_id,
        None if entry.meta is None else dumps(entry.meta),
        version_text(row.definition_version),
    )


def version_text(version: int | str) -> str:
    """A definition version as the ``definition_version`` columns keep it."""
    return str(version) if type(version) is int else dumps(version)


def event_id_params(ids: EventIdRow, text: Callable[[datetime], str] = to_time) -> tuple[Any, ...]:
    return (ids.definition, ids.key, ids.event_id, ids.seq, text(ids.committed_at))


def outbox_params(
    decision: Decision, text: Callable[[datetime], str] = to_time
) -> list[tuple[Any, ...]]:
    now = text(decision.now)
    return [
        (
            out.definition,
            out.key,
            out.seq,
            out.effect,
            out.idempotency_key,
            dumps(out.call),
            now,
            now,
        )
        for out in decision.outbox
    ]


def times() -> Callable[[datetime], str]:
    """:func:`to_time` remembering its answers: a batch's moves share most of their times
    (a move's entry time, its commit time), and formatting them is a good part of a write."""
    seen: dict[datetime, str] = {}

    def text(value: datetime) -> str:
        found = seen.get(value)
        if found is None:
            found = seen[value] = to_time(value)
        return found

    return text
