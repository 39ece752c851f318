"""The journeyfsm tables as SQLAlchemy ``Table`` objects: the schema the stores create.

The columns, types, keys and indexes are those of ``SQLiteStore.create_schema`` and
``PostgresStore.create_schema`` (one ``MetaData`` for both dialects: ``text`` columns on
SQLite become ``jsonb`` and ``timestamptz`` on PostgreSQL through type variants), so a
database made by ``metadata.create_all`` is one the stores accept, and Alembic's
autogenerate finds nothing to change in a database a store created.  A schema-version row
says which journeyfsm schema the tables hold; ``create_all`` writes it (an
``after_create`` event on the ``schema_version`` table), and ``write_schema_version``
writes it where the tables were made another way (an Alembic ``op.create_table``).
"""

from __future__ import annotations

from typing import Any

import attrs
import sqlalchemy
from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Engine,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
    UniqueConstraint,
    event,
    func,
    insert,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, TIMESTAMP
from sqlalchemy.types import TypeEngine

from ..._errors import StoreError
from ...stores import SCHEMA_VERSION
from ...stores._base import check_prefix

__all__ = ["JourneyTables", "create_schema", "tables", "write_schema_version"]


def _json() -> TypeEngine[Any]:
    return Text().with_variant(JSONB(), "postgresql")


def _time() -> TypeEngine[Any]:
    return Text().with_variant(TIMESTAMP(timezone=True), "postgresql")


@attrs.frozen
class JourneyTables:
    """The six journeyfsm tables of one prefix on a ``MetaData`` (see :func:`tables`)."""

    #: one row: the journeyfsm schema version the tables hold
    schema_version: Table
    #: one row per (definition, key): stage, data, version, the timeout clock
    journeys: Table
    #: append-only, one row per move
    history: Table
    #: every committed event id with the seq of the move it made
    event_ids: Table
    #: one row per effect of a move, claimed by the outbox workers
    outbox: Table
    #: schema 4: the frequency caps' ledger, one row per counted delivery
    deliveries: Table

    def all(self) -> list[Table]:
        """The tables, in creation order (``metadata.create_all(bind, tables=...)``)."""
        return [
            self.schema_version,
            self.journeys,
            self.history,
            self.event_ids,
            self.outbox,
            self.deliveries,
        ]


def tables(
    metadata: MetaData, *, prefix: str = "journeyfsm_", schema: str | None = None
) -> JourneyTables:
    """Add the journeyfsm tables (named ``prefix`` + name) to ``metadata``; the tables.

    Put them on your application's own ``MetaData`` (``Base.metadata``) and Alembic's
    autogenerate sees them with yours; ``metadata.create_all(engine)`` creates them and
    records the schema version.  ``prefix`` and ``schema`` (PostgreSQL's; ``None``: the
    default) are the stores' ``prefix=`` and ``schema=``.  Adding the same prefix twice
    to one ``MetaData`` is an error (SQLAlchemy's: the table is already defined).

    >>> from sqlalchemy import MetaData, create_engine
    >>> from journeyfsm.contrib.sqlalchemy import tables
    >>> from journeyfsm.stores import SQLiteStore
    >>> metadata = MetaData()
    >>> journey_tables = tables(metadata)
    >>> journey_tables.journeys.name
    'journeyfsm_journeys'
    >>> engine = create_engine("sqlite://")
    >>> with engine.begin() as conn:
    ...     metadata.create_all(conn)
    ...     SQLiteStore(connection=conn.connection.dbapi_connection).prefix
    'journeyfsm_'
    >>> engine.dispose()
    """
    if not isinstance(metadata, MetaData):
        raise TypeError(
            f"tables() takes a sqlalchemy.MetaData (your Base.metadata), got {metadata!r}"
        )
    p = check_prefix(prefix)
    if schema is not None:
        check_prefix(schema)
        if not schema:
            raise ValueError("schema must be None (the default schema) or an identifier")
    on: dict[str, Any] = {"schema": schema}
    version = Table(
        f"{p}schema_version", metadata, Column("version", Integer, nullable=False), **on
    )
    journeys = Table(
        f"{p}journeys",
        metadata,
        Column("definition", Text, nullable=False),
        Column("key", Text, nullable=False),
        Column("definition_version", _json(), nullable=False),
        Column("stage", Text, nullable=False),
        Column("data", _json(), nullable=False),
        Column("version", Integer, nullable=False),
        Column("entered_at", _time(), nullable=False),
        Column("updated_at", _time(), nullable=False),
        Column("started_at", _time(), nullable=False),
        Column("entry_seq", Integer, nullable=False),
        Column("timeouts_fired", Integer, nullable=False),
        Column("next_due", _time()),
        Column("goals", _json()),
        PrimaryKeyConstraint("definition", "key"),
        **on,
    )
    # what a tick claims: only journeys with an armed timeout are in the index
    armed = text("next_due IS NOT NULL")
    Index(
        f"{p}journeys_due",
        journeys.c.definition,
        journeys.c.next_due,
        sqlite_where=armed,
        postgresql_where=armed,
    )
    history = Table(
        f"{p}history",
        metadata,
        Column("definition", Text, nullable=False),
        Column("key", Text, nullable=False),
        Column("seq", Integer, nullable=False),
        Column("trigger", Text, nullable=False),
        Column("source", Text, nullable=False),
        Column("dest", Text, nullable=False),
        Column("at", _time(), nullable=False),
        Column("event_id", Text),
        Column("meta", _json()),
        Column("definition_version", _json()),
        PrimaryKeyConstraint("definition", "key", "seq"),
        **on,
    )
    event_ids = Table(
        f"{p}event_ids",
        metadata,
        Column("definition", Text, nullable=False),
        Column("key", Text, nullable=False),
        Column("event_id", Text, nullable=False),
        Column("seq", Integer, nullable=False),
        Column("committed_at", _time(), nullable=False),
        PrimaryKeyConstraint("definition", "key", "event_id"),
        **on,
    )
    Index(f"{p}event_ids_committed", event_ids.c.committed_at)
    outbox = Table(
        f"{p}outbox",
        metadata,
        # INTEGER PRIMARY KEY AUTOINCREMENT on SQLite (the rowid), bigserial on PostgreSQL
        Column(
            "id",
            BigInteger().with_variant(Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        Column("definition", Text, nullable=False),
        Column("key", Text, nullable=False),
        Column("seq", Integer, nullable=False),
        Column("effect", Text, nullable=False),
        Column("idempotency_key", Text, nullable=False),
        Column("call", _json(), nullable=False),
        Column("status", Text, nullable=False),
        Column("attempts", Integer, nullable=False),
        Column("available_at", _time(), nullable=False),
        Column("lease_owner", Text),
        Column("lease_until", _time()),
        Column("last_error", Text),
        Column("created_at", _time(), nullable=False),
        UniqueConstraint("idempotency_key"),
        sqlite_autoincrement=True,
        **on,
    )
    Index(f"{p}outbox_due", outbox.c.definition, outbox.c.status, outbox.c.available_at)
    # schema 4: the frequency caps' ledger (outbox_id is the rowid on SQLite)
    deliveries = Table(
        f"{p}deliveries",
        metadata,
        Column(
            "outbox_id",
            BigInteger().with_variant(Integer(), "sqlite"),
            primary_key=True,
            autoincrement=False,
        ),
        Column("customer", Text, nullable=False),
        Column("channel", Text, nullable=False),
        Column("at", _time(), nullable=False),
        **on,
    )
    Index(
        f"{p}deliveries_window",
        deliveries.c.customer,
        deliveries.c.channel,
        deliveries.c.at,
    )
    event.listen(version, "after_create", _record_version)
    _ROWIDS[outbox.name] = "id"
    _ROWIDS[deliveries.name] = "outbox_id"
    if not event.contains(Table, "column_reflect", _rowid_not_null):
        event.listen(Table, "column_reflect", _rowid_not_null)
    return JourneyTables(version, journeys, history, event_ids, outbox, deliveries)


#: the tables :func:`tables` made (any prefix) whose key is SQLite's rowid: its column
_ROWIDS: dict[str, str] = {}


def _rowid_not_null(inspector: Any, table: Table, column: dict[str, Any]) -> None:
    # SQLite reports the stores' `id INTEGER PRIMARY KEY AUTOINCREMENT` (the rowid, never
    # NULL) as nullable, where `create_all` writes NOT NULL: reflected (as Alembic's
    # autogenerate reflects) it is what it is, NOT NULL, so the two schemas compare equal
    if _ROWIDS.get(table.name) == column["name"] and inspector.dialect.name == "sqlite":
        column["nullable"] = False


def _record_version(target: Table, connection: Connection, **kw: object) -> None:
    connection.execute(insert(target).values(version=SCHEMA_VERSION))


def write_schema_version(
    bind: Connection, *, prefix: str = "journeyfsm_", schema: str | None = None
) -> None:
    """Record the schema version in tables made without ``create_all`` (idempotent).

    An Alembic migration that creates the tables with ``op.create_table`` calls it after
    them: ``write_schema_version(op.get_bind())``.  ``create_all`` and
    :func:`create_schema` record it themselves.
    """
    table = tables(MetaData(), prefix=prefix, schema=schema).schema_version
    found = bind.execute(select(func.count()).select_from(table)).scalar_one()
    if not found:
        bind.execute(insert(table).values(version=SCHEMA_VERSION))


def create_schema(
    bind: Engine | Connection, *, prefix: str = "journeyfsm_", schema: str | None = None
) -> None:
    """Create the journeyfsm tables that are missing and record the schema version.

    The SQLAlchemy twin of ``SQLiteStore(create_schema=True)``: for a script, a test or a
    first start without migrations (with Alembic, put :func:`tables` on your metadata
    instead).  Tables of an older journeyfsm schema are not migrated here: run the store's
    ``create_schema()`` once for that.  An ``Engine`` is used in a transaction of its own; a ``Connection`` in its
    current one (commit it).  For an ``AsyncEngine``:
    ``async with engine.begin() as conn: await conn.run_sync(create_schema)``.

    >>> from sqlalchemy import create_engine
    >>> from journeyfsm.contrib.sqlalchemy import create_schema
    >>> engine = create_engine("sqlite://")
    >>> create_schema(engine)
    >>> create_schema(engine)  # again: nothing to do
    >>> engine.dispose()
    """
    if isinstance(bind, Engine):
        with bind.begin() as conn:
            create_schema(conn, prefix=prefix, schema=schema)
        return
    if not isinstance(bind, Connection):
        raise TypeError(
            f"create_schema() takes a sqlalchemy Engine or Connection, got {bind!r}; for an "
            "AsyncEngine: `async with engine.begin() as conn: await conn.run_sync(create_schema)`"
        )
    create_tables(bind, prefix=prefix, schema=schema)


def create_tables(conn: Connection, *, prefix: str, schema: str | None) -> None:
    """The tables that are missing, created on ``conn`` (its transaction), and the schema
    version; a ``schema`` the database does not have is a ``StoreError`` naming it and
    the fix, checked first, so nothing is half-made and a PostgreSQL transaction is not
    left aborted (SQLAlchemy's own error names neither)."""
    if schema is not None:
        known = sqlalchemy.inspect(conn).get_schema_names()
        if schema not in known:
            if conn.dialect.name == "sqlite":
                fix = (
                    f"ATTACH DATABASE 'file.db' AS {schema} on each connection (an event "
                    "listener on the engine's 'connect'), or pass schema=None"
                )
            else:
                fix = f"create it first (CREATE SCHEMA {schema}), or pass schema=None"
            raise StoreError(
                f"cannot create the journeyfsm tables: schema {schema!r} does not exist in "
                f"this {conn.dialect.name} database (schemas: {', '.join(known) or 'none'}); "
                f"{fix}",
                table=f"{schema}.{prefix}journeys",
            )
    metadata = MetaData()
    tables(metadata, prefix=prefix, schema=schema)
    metadata.create_all(conn)  # the after_create event records the version of a new table
    write_schema_version(conn, prefix=prefix, schema=schema)
