"""SessionStore: the journeyfsm store inside a SQLAlchemy ``Session``'s transaction.

Theory of operation.  A ``SessionStore`` is not a second store: each ``transaction()``
asks the session for the connection of its current transaction
(``session.connection()``, which begins one as the session's first statement would),
takes the DB-API connection under it (``sqlite3`` or psycopg 3) and runs the transaction
of the store everyone uses on it: ``SQLiteStore(connection=...)`` or
``PostgresStore(connection=...)``, a savepoint inside the session's transaction.  The
store never commits: the journey's rows (move, history, event id, outbox rows) commit
when the session commits, with the host's ORM writes, and ``session.rollback()`` undoes
both.  Before the journey's work the session is flushed, so the host's pending ORM
writes reach the database first, in order.

That store is made once per DB-API connection (kept in SQLAlchemy's per-connection
``info``, so the schema is checked once per pooled connection, not per request), and a
``SessionStore`` is cheap: make one per session, per request.

SQLite.  ``sqlite3``'s legacy transaction control (SQLAlchemy's default) begins a
deferred transaction at the first write only; a store transaction that finds none open
begins it with ``BEGIN IMMEDIATE``, so its read and its write hold the write lock
throughout.  A host transaction that began deferred and read first can still fail at the
lock upgrade when another connection wrote in between: install
:func:`sqlite_begin_immediate` on the engine (every transaction ``BEGIN IMMEDIATE``).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, cast

from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.orm import Session

from ..._errors import StoreError
from ...stores import SQLiteStore, Store, StoreTransaction
from ...stores._base import StoreMethods, check_prefix
from ._bind import begin_immediate, check_dialect, needs_begin, schema_missing
from ._tables import create_tables

__all__ = ["SessionStore"]


class SessionStore(StoreMethods):
    """A journeyfsm store bound to a SQLAlchemy ``Session`` (or ``Connection``): every
    journey transaction runs inside the session's current transaction and commits with it.

    ``bind`` is a ``Session`` (flushed before each journey transaction) or a
    ``Connection`` (its transaction is begun if none is).  ``prefix`` and ``schema`` name
    the tables, as the stores' do (``tables()`` on your metadata creates them).  Engines:
    ``sqlite://`` (pysqlite) and ``postgresql+psycopg://`` (psycopg 3); any other is a
    ``TypeError`` naming these.  Make one per session (cheap); for an ``AsyncSession``
    use ``AsyncSessionStore``.

    >>> from sqlalchemy import create_engine
    >>> from sqlalchemy.orm import Session
    >>> from journeyfsm import JourneyMachine, JourneyService, templates
    >>> from journeyfsm.contrib.sqlalchemy import SessionStore, create_schema
    >>> engine = create_engine("sqlite://")
    >>> create_schema(engine)
    >>> machine = JourneyMachine(templates.aida())
    >>> with Session(engine) as session:
    ...     service = JourneyService(machine, SessionStore(session))
    ...     service.handle("c-1", "engage", event_id="e-1").status
    ...     session.rollback()  # undoes the move with the session's own writes
    ...     service.get("c-1") is None
    ...     service.handle("c-1", "engage", event_id="e-1").status
    ...     session.commit()
    'moved'
    True
    'moved'
    >>> engine.dispose()
    """

    def __init__(
        self,
        bind: Session | Connection,
        *,
        prefix: str = "journeyfsm_",
        schema: str | None = None,
    ) -> None:
        if isinstance(bind, (AsyncSession, AsyncConnection)):
            raise TypeError(
                f"SessionStore takes a sync Session or Connection, got a "
                f"{type(bind).__name__}: use AsyncSessionStore (with AsyncJourneyService)"
            )
        if isinstance(bind, Session):
            dialect = bind.get_bind().dialect
        elif isinstance(bind, Connection):
            dialect = bind.dialect
        else:
            raise TypeError(
                f"SessionStore takes a sqlalchemy.orm.Session or sqlalchemy.Connection, "
                f"got {bind!r}"
            )
        self.dialect = check_dialect(dialect, is_async=False, who="SessionStore")
        self.prefix = check_prefix(prefix)
        if schema is not None:
            check_prefix(schema)
        self.schema = schema
        self.bind = bind

    def joins_host_transaction(self) -> bool:
        """Always ``True``: every journey transaction runs inside the session's, which the
        host commits.  The service then reads, decides and writes an event in ONE journey
        transaction (one savepoint), not a read and then a write."""
        return True

    def connection(self) -> Connection:
        """The ``Connection`` of the session's current transaction (begun if none is),
        after a flush of the session's pending writes."""
        bind = self.bind
        if isinstance(bind, Session):
            bind.flush()
            return bind.connection()
        if not bind.in_transaction():
            bind.begin()
        return bind

    def _store(self) -> Store:
        conn = self.connection()
        proxied = conn.connection
        raw: Any = proxied.dbapi_connection
        if self.dialect == "sqlite" and needs_begin(cast(sqlite3.Connection, raw)):
            begin_immediate(raw)
        slot = ("journeyfsm.store", self.prefix, self.schema)
        store = cast("Store | None", proxied.info.get(slot))
        if store is None:
            try:
                store = self._make(raw)
            except StoreError as err:
                found = schema_missing(err, "SessionStore", self.prefix)
                if found is err:
                    raise
                raise found from err
            proxied.info[slot] = store
        return store

    def _make(self, raw: Any) -> Store:
        if self.dialect == "sqlite":
            return SQLiteStore(connection=raw, prefix=self.prefix)
        from ...stores import PostgresStore

        return PostgresStore(connection=raw, schema=self.schema or "public", prefix=self.prefix)

    @contextmanager
    def transaction(self, *, write: bool = True) -> Iterator[StoreTransaction]:
        """One journey transaction: a savepoint in the session's transaction, released
        when the block ends (rolled back to when it raises); the session commits it."""
        with self._store().transaction(write=write) as tx:
            yield tx

    def create_schema(self) -> None:
        """Create the journeyfsm tables that are missing, in the session's transaction,
        and record the schema version (commit the session)."""
        create_tables(self.connection(), prefix=self.prefix, schema=self.schema)
