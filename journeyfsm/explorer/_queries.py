"""The explorer's reads: plain, parameterised SQL over a store's own tables, read-only.

Theory of operation
-------------------
The pages about one journey read through the store's protocol (``tx.load``,
``tx.history``, ``tx.outbox``), so they see exactly what the service sees.  The overview
and the outbox lists need aggregates and bounded lists that the protocol does not offer
(``tx.outbox`` returns every row): those are written here, against the same tables,
through the transaction's own connection (``tx.conn``), inside ``store.transaction(
write=False)``.  Every figure is computed by the database (``GROUP BY``), never by
reading rows into Python, so an overview of 100,000 journeys moves a few dozen rows.

The funnel is the one :func:`journeyfsm.analytics.funnel` counts (docs/analytics.md):
a journey *entered* its start stage (the source of its first move, or its stage if it
never moved) and every destination of its history; it *reached* funnel stage ``i`` when
the furthest funnel stage it entered is ``i`` or later.  Both follow from the distinct
(journey, stage entered) pairs, which one query groups twice.

The only text put into SQL is a table name: the store's prefix (and PostgreSQL schema),
which the stores check to be plain identifiers, double-quoted.  Values are parameters;
the two databases differ only in the placeholder (``?`` / ``%s``).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

import attrs

from .._errors import StoreError

__all__ = [
    "OutboxRow",
    "StageFigures",
    "Tables",
    "chain_moves",
    "definitions_in_store",
    "funnel_figures",
    "has_journeys",
    "outbox_rows",
    "recent_keys",
    "search_keys",
    "stage_keys",
    "tables_of",
]


@attrs.frozen
class Tables:
    """The table names of one store and its placeholder style."""

    journeys: str
    history: str
    outbox: str
    postgres: bool

    def sql(self, text: str) -> str:
        """``text`` with ``?`` placeholders in this database's style."""
        return text.replace("?", "%s") if self.postgres else text


def tables_of(store: object) -> Tables:
    """The tables of a ``SQLiteStore`` or ``PostgresStore``; a ``TypeError`` for others.

    >>> import os, tempfile
    >>> from journeyfsm.stores import SQLiteStore
    >>> store = SQLiteStore(os.path.join(tempfile.mkdtemp(), "j.db"), create_schema=True)
    >>> tables_of(store).journeys
    '"journeyfsm_journeys"'
    >>> store.close()
    """
    from ..stores import SQLiteStore

    if isinstance(store, SQLiteStore):
        p = store.prefix
        return Tables(f'"{p}journeys"', f'"{p}history"', f'"{p}outbox"', postgres=False)
    pg = sys.modules.get("journeyfsm.stores._postgres")
    if pg is not None and isinstance(store, pg.PostgresStore):
        s, p = store.schema, store.prefix
        return Tables(
            f'"{s}"."{p}journeys"', f'"{s}"."{p}history"', f'"{s}"."{p}outbox"', postgres=True
        )
    raise TypeError(
        "the explorer reads a journeyfsm.stores.SQLiteStore or PostgresStore, got "
        f"{type(store).__module__}.{type(store).__qualname__}"
    )


def _rows(tx: Any, t: Tables, text: str, params: Sequence[object]) -> list[tuple[Any, ...]]:
    try:
        return [tuple(r) for r in tx.conn.execute(t.sql(text), tuple(params)).fetchall()]
    except StoreError:
        raise
    except Exception as err:  # sqlite3.Error, psycopg.Error: the store's own wording
        raise StoreError(f"the explorer's read failed: {type(err).__name__}: {err}") from err


def definitions_in_store(tx: Any, t: Tables) -> dict[str, int]:
    """``{definition: journeys}`` for every definition with a stored journey, by name."""
    rows = _rows(
        tx,
        t,
        f"SELECT definition, COUNT(*) FROM {t.journeys} GROUP BY definition ORDER BY definition",
        (),
    )
    return {str(name): int(n) for name, n in rows}


@attrs.frozen
class StageFigures:
    """What the overview shows of one definition, all counted by the database.

    ``current``: journeys now in each stage; ``entered``: journeys that entered each
    stage at least once; ``furthest``: journeys by the furthest funnel position they
    entered (-1: none of the funnel's stages); ``moves``: recorded moves by (source,
    dest, trigger).
    """

    journeys: int
    current: dict[str, int]
    entered: dict[str, int]
    furthest: dict[int, int]
    moves: dict[tuple[str, str, str], int]
    recent: list[tuple[str, str, datetime | None]]
    read_at: datetime


def funnel_figures(tx: Any, t: Tables, definition: str, order: Sequence[str]) -> StageFigures:
    """Count one definition's stages, funnel and moves with four aggregate queries."""
    current = {
        str(stage): int(n)
        for stage, n in _rows(
            tx,
            t,
            f"SELECT stage, COUNT(*) FROM {t.journeys} WHERE definition = ? GROUP BY stage",
            (definition,),
        )
    }
    # (journey, stage) pairs a journey entered: its start (first move's source, or its
    # stage: the current stage is the start or a destination anyway) and destinations
    position = " ".join(f"WHEN ? THEN {i}" for i in range(len(order)))  # ints: literal
    case = f"CASE stage {position} ELSE -1 END" if order else "-1"
    case_params: list[object] = list(order)
    entered_sql = f"""
        WITH pairs AS (
            SELECT DISTINCT key, stage FROM (
                SELECT key, dest AS stage FROM {t.history} WHERE definition = ?
                UNION ALL
                SELECT key, source AS stage FROM {t.history} WHERE definition = ? AND seq = 1
                UNION ALL
                SELECT key, stage FROM {t.journeys} WHERE definition = ?
            ) entries
        )
        SELECT 'entered', stage, COUNT(*) FROM pairs GROUP BY stage
        UNION ALL
        SELECT 'furthest', CAST(furthest AS TEXT), COUNT(*) FROM (
            SELECT key, MAX({case}) AS furthest FROM pairs GROUP BY key
        ) per_journey GROUP BY furthest
    """
    entered: dict[str, int] = {}
    furthest: dict[int, int] = {}
    params = [definition, definition, definition, *case_params]
    for kind, name, n in _rows(tx, t, entered_sql, params):
        if kind == "entered":
            entered[str(name)] = int(n)
        else:
            furthest[int(name)] = int(n)
    moves = {
        (str(s), str(d), str(trig)): int(n)
        for s, d, trig, n in _rows(
            tx,
            t,
            f"SELECT source, dest, trigger, COUNT(*) FROM {t.history} WHERE definition = ? "
            "GROUP BY source, dest, trigger",
            (definition,),
        )
    }
    return StageFigures(
        journeys=sum(current.values()),
        current=current,
        entered=entered,
        furthest=furthest,
        moves=moves,
        recent=recent_keys(tx, t, definition, limit=10),
        read_at=datetime.now(timezone.utc),
    )


def chain_moves(
    tx: Any, t: Tables, definition: str, self_moves: Mapping[tuple[str, str], str]
) -> dict[str, dict[str, int]]:
    """``{source: {dest: n}}``: the moves that ended a stay, counted by the database.

    These are the counts :func:`journeyfsm.analytics.fit_chain` fits its chain to: every
    move to another stage, and the ``dest == source`` moves that re-entered the stage; an
    internal transition (recorded with ``dest == source``) does not end the stay.
    ``self_moves`` (``_funnel._self_moves`` of the definition) says which (stage,
    trigger) is which; where a pair can be both, a move after the journey's current
    entry (``seq > entry_seq``) was internal, any other a re-entry, as ``fit_chain``
    decides.  Moves to other stages are grouped without a join; only the same-stage
    moves (few) are joined to their journey's ``entry_seq``.
    """
    rows = _rows(
        tx,
        t,
        f"""
        SELECT source, dest, '', COUNT(*), 0 FROM {t.history}
        WHERE definition = ? AND source <> dest GROUP BY source, dest
        UNION ALL
        SELECT h.source, h.dest, h.trigger, COUNT(*),
               SUM(CASE WHEN h.seq > j.entry_seq THEN 1 ELSE 0 END)
        FROM {t.history} h JOIN {t.journeys} j ON j.definition = h.definition AND j.key = h.key
        WHERE h.definition = ? AND h.source = h.dest GROUP BY h.source, h.dest, h.trigger
        """,
        (definition, definition),
    )
    out: dict[str, dict[str, int]] = {}
    for source, dest, trigger, n, after_entry in rows:
        source, dest, n = str(source), str(dest), int(n)
        if source == dest:
            kind = self_moves.get((source, str(trigger)), "both")
            n = n if kind == "reenter" else 0 if kind == "internal" else n - int(after_entry)
        if n:
            moves = out.setdefault(source, {})
            moves[dest] = moves.get(dest, 0) + n
    return out


@attrs.frozen
class OutboxRow:
    """One outbox row as the outbox page lists it."""

    id: int
    key: str
    seq: int
    effect: str
    idempotency_key: str
    call: Any
    status: str
    attempts: int
    available_at: datetime | None
    last_error: str | None
    definition: str = ""


def _time(value: object) -> datetime | None:
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc)
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value).astimezone(timezone.utc)
        except ValueError:
            return None
    return None


def _json(value: object) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return {"unreadable": value}
    return value


def outbox_rows(
    tx: Any,
    t: Tables,
    definition: str | None,
    status: str | None,
    *,
    limit: int,
    key: str | None = None,
) -> list[OutboxRow]:
    """Up to ``limit`` outbox rows of one status (``None``: any) of one definition
    (``None``: every one), of one journey, oldest first: the list the explorer's pages and
    ``journeyfsm outbox list`` show."""
    where: list[str] = []
    params: list[object] = []
    for column, value in (("definition", definition), ("status", status), ("key", key)):
        if value is not None:
            where.append(f"{column} = ?")
            params.append(value)
    rows = _rows(
        tx,
        t,
        "SELECT id, key, seq, effect, idempotency_key, call, status, attempts, available_at, "
        f"last_error, definition FROM {t.outbox}"
        + (f" WHERE {' AND '.join(where)}" if where else "")
        + " ORDER BY id LIMIT ?",
        [*params, limit],
    )
    return [
        OutboxRow(
            int(r[0]),
            str(r[1]),
            int(r[2]),
            str(r[3]),
            str(r[4]),
            _json(r[5]),
            str(r[6]),
            int(r[7]),
            _time(r[8]),
            None if r[9] is None else str(r[9]),
            str(r[10]),
        )
        for r in rows
    ]


def search_keys(tx: Any, t: Tables, text: str, *, limit: int) -> list[tuple[str, str, str]]:
    """(definition, key, stage) of journeys whose key is ``text`` or starts with it."""
    return [
        (str(d), str(k), str(s))
        for d, k, s in _rows(
            tx,
            t,
            f"SELECT definition, key, stage FROM {t.journeys} WHERE substr(key, 1, ?) = ? "
            "ORDER BY key <> ?, key, definition LIMIT ?",
            (len(text), text, text, limit),
        )
    ]


def stage_keys(
    tx: Any, t: Tables, definition: str, stage: str, *, after: str, limit: int
) -> list[tuple[str, datetime | None, int]]:
    """(key, entered_at, version) of up to ``limit`` journeys in ``stage``, keys after
    ``after``, in key order (the primary key's: a page costs one index range)."""
    return [
        (str(k), _time(at), int(v))
        for k, at, v in _rows(
            tx,
            t,
            f"SELECT key, entered_at, version FROM {t.journeys} WHERE definition = ? "
            "AND stage = ? AND key > ? ORDER BY key LIMIT ?",
            (definition, stage, after, limit),
        )
    ]


def recent_keys(
    tx: Any, t: Tables, definition: str, *, limit: int
) -> list[tuple[str, str, datetime | None]]:
    """(key, stage, updated_at) of the ``limit`` journeys that moved last."""
    return [
        (str(k), str(s), _time(at))
        for k, s, at in _rows(
            tx,
            t,
            f"SELECT key, stage, updated_at FROM {t.journeys} WHERE definition = ? "
            "ORDER BY updated_at DESC, key LIMIT ?",
            (definition, limit),
        )
    ]


def has_journeys(tx: Any, t: Tables, definition: str) -> bool:
    """Whether the store holds a journey of ``definition`` (one primary-key probe)."""
    return bool(
        _rows(tx, t, f"SELECT 1 FROM {t.journeys} WHERE definition = ? LIMIT 1", (definition,))
    )
