"""The PostgreSQL stores' schema: its tables, the migrations from each older version, and
the version check a store makes when it opens.

Theory of operation.  The tables live in one PostgreSQL schema, named ``prefix + name``
(``Tables``).  ``create_tables`` runs in ONE transaction (the store's ``_setup``) under an
advisory lock, so two processes creating the schema at once do not race on ``CREATE ...
IF NOT EXISTS``: it creates the version table, migrates an older schema step by step
(1 -> 2 -> 3 -> 4 -> 5; each step records the version it reached), creates whatever is
still missing, and records ``SCHEMA_VERSION`` in a new database.  ``read_version`` and
``check_version`` are what a store without ``create_schema=True`` runs instead: a
database whose schema is missing, older or newer is refused with a ``StoreError`` saying
what to run.  The store calls these; it keeps the once-per-database cache.
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql

from .._errors import StoreError
from ._base import CAPS_SCHEMA, GOALS_SCHEMA, SCHEMA_VERSION
from ._postgres_codec import Tables

__all__: list[str] = []


def _statements(t: Tables, schema: str, prefix: str) -> list[sql.Composed]:
    """What ``create_tables`` runs: the schema and the version table first, then the rest."""
    return [
        sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)),
        sql.SQL("CREATE TABLE IF NOT EXISTS {} (version integer NOT NULL)").format(
            t["schema_version"]
        ),
        sql.SQL(
            "CREATE TABLE IF NOT EXISTS {} (definition text NOT NULL, key text NOT NULL, "
            "definition_version jsonb NOT NULL, stage text NOT NULL, data jsonb NOT NULL, "
            "version integer NOT NULL, entered_at timestamptz NOT NULL, "
            "updated_at timestamptz NOT NULL, started_at timestamptz NOT NULL, "
            "entry_seq integer NOT NULL, timeouts_fired integer NOT NULL, "
            "next_due timestamptz, goals jsonb, PRIMARY KEY (definition, key))"
        ).format(t["journeys"]),
        # what a tick claims: only journeys with an armed timeout are in the index
        sql.SQL(
            "CREATE INDEX IF NOT EXISTS {} ON {} (definition, next_due) WHERE next_due IS NOT NULL"
        ).format(sql.Identifier(f"{prefix}journeys_due"), t["journeys"]),
        sql.SQL(
            "CREATE TABLE IF NOT EXISTS {} (definition text NOT NULL, key text NOT NULL, "
            "seq integer NOT NULL, trigger text NOT NULL, source text NOT NULL, "
            "dest text NOT NULL, at timestamptz NOT NULL, event_id text, meta jsonb, "
            "definition_version jsonb, PRIMARY KEY (definition, key, seq))"
        ).format(t["history"]),
        sql.SQL(
            "CREATE TABLE IF NOT EXISTS {} (definition text NOT NULL, key text NOT NULL, "
            "event_id text NOT NULL, seq integer NOT NULL, "
            "committed_at timestamptz NOT NULL, PRIMARY KEY (definition, key, event_id))"
        ).format(t["event_ids"]),
        sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {} (committed_at)").format(
            sql.Identifier(f"{prefix}event_ids_committed"), t["event_ids"]
        ),
        sql.SQL(
            "CREATE TABLE IF NOT EXISTS {} (id bigserial PRIMARY KEY, "
            "definition text NOT NULL, key text NOT NULL, seq integer NOT NULL, "
            "effect text NOT NULL, idempotency_key text NOT NULL UNIQUE, "
            "call jsonb NOT NULL, status text NOT NULL, attempts integer NOT NULL, "
            "available_at timestamptz NOT NULL, lease_owner text, "
            "lease_until timestamptz, last_error text, created_at timestamptz NOT NULL)"
        ).format(t["outbox"]),
        sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {} (definition, status, available_at)").format(
            sql.Identifier(f"{prefix}outbox_due"), t["outbox"]
        ),
        # schema 4: the frequency caps' ledger (one row per counted delivery)
        *_ledger(t, prefix),
    ]


def _ledger(t: Tables, prefix: str) -> list[sql.Composed]:
    """Schema 3's ledger of deliveries (created by a v2 -> v3 upgrade too)."""
    return [
        sql.SQL(
            "CREATE TABLE IF NOT EXISTS {} (outbox_id bigint PRIMARY KEY, "
            "customer text NOT NULL, channel text NOT NULL, at timestamptz NOT NULL)"
        ).format(t["deliveries"]),
        sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {} (customer, channel, at)").format(
            sql.Identifier(f"{prefix}deliveries_window"), t["deliveries"]
        ),
    ]


async def create_tables(
    conn: psycopg.AsyncConnection[Any], t: Tables, schema: str, prefix: str
) -> None:
    """Create the tables if missing, migrating an older schema first, and record the
    schema version; inside the caller's transaction (a ``StoreError`` for a newer one)."""
    statements = _statements(t, schema, prefix)
    # one schema creator at a time (CREATE ... IF NOT EXISTS races otherwise)
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (str(t["journeys"]),))
    for statement in statements[:2]:
        await conn.execute(statement)
    version_sql = sql.SQL("SELECT version FROM {}").format(t["schema_version"])
    found = await (await conn.execute(version_sql)).fetchall()
    if found and found[0][0] == 1:
        await _migrate_1(conn, t)
    if found and found[0][0] in (1, 2):
        await _migrate_2(conn, t)
    if found and found[0][0] < CAPS_SCHEMA:  # the ledger table (created below)
        await conn.execute(
            sql.SQL("UPDATE {} SET version = %s").format(t["schema_version"]), (CAPS_SCHEMA,)
        )
    if found and found[0][0] < GOALS_SCHEMA:
        await _migrate_4(conn, t)
    for statement in statements[2:]:
        await conn.execute(statement)
    found = await (await conn.execute(version_sql)).fetchall()
    if not found:
        await conn.execute(
            sql.SQL("INSERT INTO {} (version) VALUES (%s)").format(t["schema_version"]),
            (SCHEMA_VERSION,),
        )
    elif found[0][0] > SCHEMA_VERSION:
        raise newer(found[0][0])


async def _migrate_1(conn: psycopg.AsyncConnection[Any], t: Tables) -> None:
    """Schema 1 -> 2: the timeout clock.  A journey's start is its first move; its
    stage entry the last move (``entered_at`` kept); no timeout is armed
    (``next_due`` NULL) until the journey's next move."""
    j, h = t["journeys"], t["history"]
    for text in (
        "ALTER TABLE {j} ADD COLUMN started_at timestamptz, "
        "ADD COLUMN entry_seq integer NOT NULL DEFAULT 0, "
        "ADD COLUMN timeouts_fired integer NOT NULL DEFAULT 0, "
        "ADD COLUMN next_due timestamptz",
        "UPDATE {j} AS j SET entry_seq = version, started_at = COALESCE((SELECT MIN(h.at) "
        "FROM {h} h WHERE h.definition = j.definition AND h.key = j.key), entered_at)",
        "ALTER TABLE {j} ALTER COLUMN started_at SET NOT NULL",
        "UPDATE {v} SET version = 2",
    ):
        await conn.execute(sql.SQL(text).format(j=j, h=h, v=t["schema_version"]))


async def _migrate_2(conn: psycopg.AsyncConnection[Any], t: Tables) -> None:
    """Schema 2 -> 3: the definition version of each history entry (``NULL`` for
    the entries written before: the journey's version then is not known)."""
    for text in (
        "ALTER TABLE {h} ADD COLUMN IF NOT EXISTS definition_version jsonb",
        "UPDATE {v} SET version = 3",
    ):
        await conn.execute(sql.SQL(text).format(h=t["history"], v=t["schema_version"]))


async def _migrate_4(conn: psycopg.AsyncConnection[Any], t: Tables) -> None:
    """Schema 4 -> 5: the journeys' goal clocks (``NULL`` in rows written before: no
    goal clock runs until the journey next enters a goal's ``since`` stage)."""
    for text in (
        "ALTER TABLE {j} ADD COLUMN IF NOT EXISTS goals jsonb",
        "UPDATE {v} SET version = 5",
    ):
        await conn.execute(sql.SQL(text).format(j=t["journeys"], v=t["schema_version"]))


def _fix() -> str:
    return (
        "run AsyncPostgresStore(dsn, create_schema=True) (or store.create_schema()) once "
        "(it migrates an older schema)"
    )


async def read_version(
    conn: psycopg.AsyncConnection[Any], t: Tables, schema: str, prefix: str
) -> int | None:
    """The schema version the database records (``None``: none recorded); a database
    without the version table is a ``StoreError`` saying what to run."""
    try:
        found = await (
            await conn.execute(sql.SQL("SELECT version FROM {}").format(t["schema_version"]))
        ).fetchall()
    except psycopg.errors.UndefinedTable:
        raise StoreError(
            f"the PostgreSQL database has no journeyfsm schema (table "
            f"{schema}.{prefix}schema_version is missing); {_fix()}",
            table="schema_version",
        ) from None
    return found[0][0] if found else None


def check_version(version: int | None) -> None:
    """A ``StoreError`` unless ``version`` is this journeyfsm's ``SCHEMA_VERSION``."""
    if version is None or version < SCHEMA_VERSION:
        raise StoreError(
            f"the PostgreSQL database has journeyfsm schema version {version}, this "
            f"journeyfsm needs {SCHEMA_VERSION}; {_fix()}",
            table="schema_version",
        )
    if version > SCHEMA_VERSION:
        raise newer(version)


def newer(version: int) -> StoreError:
    """The error for a database whose schema is newer than this journeyfsm's."""
    return StoreError(
        f"the PostgreSQL database has journeyfsm schema version {version}, newer than "
        f"this journeyfsm's ({SCHEMA_VERSION}); upgrade journeyfsm",
        table="schema_version",
    )
