"""DjangoStore: the stores of ``journeyfsm.stores`` on Django's own database connection.

Theory of operation.  Django keeps one connection per thread and alias
(``django.db.connections[alias]``); underneath it is a ``sqlite3`` or psycopg 3
connection.  ``DjangoStore`` hands that raw connection to the store everyone uses
(``SQLiteStore(connection=...)``, ``PostgresStore(connection=...)``), made once per raw
connection (the schema is checked then) and made again when Django reconnects.

The transaction rule:

- inside the caller's ``transaction.atomic()`` block, a store transaction is a savepoint
  in the caller's transaction: the journey's move commits or rolls back with the
  caller's own writes (the order row), when the caller's block ends;
- outside any atomic block (Django's autocommit), a write is wrapped in
  ``transaction.atomic(using=alias)`` and commits when the store's transaction ends: each
  event is its own transaction, as with a store on its own connection.  A read runs
  alone (a savepoint, which SQLite and psycopg run as a transaction of its own).

PostgreSQL: Django's psycopg connection loads ``jsonb`` as text (its JSONField decodes)
and binds parameters client-side; the store needs ``jsonb`` as JSON, UTC ``timestamptz``
and binary parameters.  During each of the store's own statements (each call on the
store transaction: ``load``, ``write``, ...) the connection's loaders and cursor class
are those of psycopg, and Django's are put back when it returns.  Not for the whole
store transaction: the service runs the hooks inside it (between the read and the
write), and a hook's ORM queries need Django's loaders and cursors.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from typing import Any

from django.db import connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper

from ..._errors import StoreError
from ...stores._base import StoreMethods, check_prefix
from ._settings import config

__all__ = ["DjangoStore"]


class DjangoStore(StoreMethods):
    """A journey store on Django's connection ``using`` (default: the ``JOURNEYFSM``
    setting's ``DATABASE``, else ``"default"``), tables prefixed ``prefix`` (default:
    its ``TABLE_PREFIX``, else ``"journeyfsm_"``), created by ``manage.py migrate``.

    One store serves every thread (each uses its own Django connection).  Inside
    ``transaction.atomic()`` the journey's move joins the caller's transaction; outside,
    each event commits on its own.

    Usage::

        from django.db import transaction
        from journeyfsm import JourneyService
        from journeyfsm.contrib.django import DjangoStore

        service = JourneyService(machine, DjangoStore())
        with transaction.atomic():
            order = Order.objects.create(customer=customer, total=total)
            service.handle(customer, "order_paid", {"order": order.pk}, event_id=event_id)
    """

    def __init__(self, using: str | None = None, *, prefix: str | None = None) -> None:
        if using is not None and not isinstance(using, str):
            raise TypeError(f"using must be a database alias (a str), got {using!r}")
        if prefix is not None:
            check_prefix(prefix)
        self._using = using
        self._prefix = prefix
        self._lock = threading.Lock()
        # per Django connection (one per thread and alias): (raw connection, store on it)
        self._stores: weakref.WeakKeyDictionary[BaseDatabaseWrapper, tuple[Any, Any]] = (
            weakref.WeakKeyDictionary()
        )

    @property
    def using(self) -> str:
        """The database alias the store runs on."""
        return self._using if self._using is not None else config().database

    @property
    def prefix(self) -> str:
        """The tables' prefix."""
        return self._prefix if self._prefix is not None else config().prefix

    def __repr__(self) -> str:
        return f"DjangoStore(using={self.using!r}, prefix={self.prefix!r})"

    # -- the store on the current thread's connection ---------------------------------
    def _connection(self) -> BaseDatabaseWrapper:
        """This thread's Django connection of ``using``; a ``StoreError`` naming the
        aliases when ``using`` is not one of ``settings.DATABASES``."""
        using = self.using
        if using not in connections:
            from django.conf import settings

            raise StoreError(
                f"DjangoStore(using={using!r}): there is no database {using!r} in "
                f"settings.DATABASES; its aliases are "
                f"{', '.join(map(repr, settings.DATABASES))}"
            )
        return connections[using]

    def _store(self, conn: BaseDatabaseWrapper) -> Any:
        conn.ensure_connection()
        raw = conn.connection
        found = self._stores.get(conn)
        if found is not None and found[0] is raw:
            return found[1]
        store = self._open(conn, raw)
        with self._lock:
            self._stores[conn] = (raw, store)
        return store

    def _open(self, conn: BaseDatabaseWrapper, raw: Any) -> Any:
        if conn.vendor == "sqlite":
            from ...stores._sqlite import SQLiteStore

            return SQLiteStore(connection=raw, prefix=self.prefix)
        if conn.vendor == "postgresql":
            try:
                import psycopg
            except ImportError:  # pragma: no cover - Django on psycopg2
                psycopg = None  # type: ignore[assignment]
            if psycopg is None or not isinstance(raw, psycopg.Connection):
                raise StoreError(
                    f"DjangoStore on database {self.using!r} needs Django's psycopg 3 backend "
                    f"(pip install 'psycopg[binary]'), got a {type(raw).__module__} connection"
                )
            from ...stores._postgres import PostgresStore

            with _psycopg_defaults(raw):
                schema = _current_schema(raw, self.using)
                return PostgresStore(connection=raw, prefix=self.prefix, schema=schema)
        raise StoreError(
            f"DjangoStore runs on SQLite and PostgreSQL; database {self.using!r} is {conn.vendor}"
        )

    def joins_host_transaction(self) -> bool:
        """Whether a store transaction begun now runs inside the caller's
        ``transaction.atomic()`` block (which commits it): the service then reads, decides
        and writes an event in ONE store transaction (one savepoint)."""
        return bool(self._connection().in_atomic_block)

    @contextmanager
    def transaction(self, *, write: bool = True) -> Iterator[Any]:
        """One store transaction on the current thread's connection (see the class).

        Inside ``transaction.atomic()``: a savepoint in the caller's transaction.
        Outside: a write commits when the block ends, and rolls back if it raises.
        """
        conn = self._connection()
        if conn.in_atomic_block:
            conn.validate_no_broken_transaction()
        store = self._store(conn)
        alone = write and not conn.in_atomic_block
        outer = transaction.atomic(using=self.using) if alone else nullcontext()
        scope = _OnCommitScope(conn) if conn.in_atomic_block else nullcontext()
        with scope, outer, store.transaction(write=write) as tx:
            yield _PsycopgCalls(tx, conn.connection) if conn.vendor == "postgresql" else tx

    def create_schema(self) -> None:
        """Create the tables if missing (``manage.py migrate`` does it; tests may call
        this on a database Django did not migrate)."""
        conn = self._connection()
        conn.ensure_connection()
        raw = conn.connection
        if conn.vendor == "postgresql":
            from ...stores._postgres import PostgresStore

            with transaction.atomic(using=self.using), _psycopg_defaults(raw):
                schema = _current_schema(raw, self.using)
                PostgresStore(connection=raw, prefix=self.prefix, schema=schema, create_schema=True)
        else:
            from ...stores._sqlite import SQLiteStore

            with transaction.atomic(using=self.using):
                SQLiteStore(connection=raw, prefix=self.prefix, create_schema=True)


def _current_schema(raw: Any, using: str) -> str:
    """The schema Django's models resolve the journeyfsm tables in on PostgreSQL: the
    connection's ``current_schema()`` (the first schema of its ``search_path`` that
    exists), so the store, the migrations and the ORM (admin) use the same tables; a
    ``search_path`` that names no existing schema is a ``StoreError`` saying so."""
    row = raw.execute("SELECT current_schema(), current_setting('search_path')").fetchone()
    if row is None or row[0] is None:
        path = row[1] if row is not None else "?"
        raise StoreError(
            f"DjangoStore(using={using!r}): the connection's search_path ({path}) names no "
            "schema that exists, so there is no schema for the journeyfsm tables; create "
            "the schema (CREATE SCHEMA ...) or set search_path in "
            "DATABASES[...]['OPTIONS']['options'] (e.g. '-c search_path=shop,public')"
        )
    return str(row[0])


class _OnCommitScope:
    """Django's ``transaction.on_commit`` bookkeeping for the store's savepoint (which
    is the store's own SQL, unknown to Django): a callback a hook registers inside the
    store transaction is dropped when that transaction rolls back (a hook that raised, a
    conflict retried), as Django drops those of a rolled-back ``atomic()``; no savepoint
    more is issued.  Django tags each callback with the savepoint ids active when it was
    registered (``connection.savepoint_ids``) and drops a rolled-back savepoint's."""

    __slots__ = ("_conn", "_sid")

    def __init__(self, conn: BaseDatabaseWrapper) -> None:
        self._conn = conn
        self._sid = f"journeyfsm_{id(self)}"

    def __enter__(self) -> None:
        self._conn.savepoint_ids.append(self._sid)

    def __exit__(self, kind: object, err: object, tb: object) -> None:
        conn, sid = self._conn, self._sid
        if sid in conn.savepoint_ids:
            conn.savepoint_ids.remove(sid)
        if kind is not None:
            conn.run_on_commit = [entry for entry in conn.run_on_commit if sid not in entry[0]]


class _PsycopgCalls:
    """A PostgreSQL store transaction on Django's connection whose every call (the
    store's statements) runs with psycopg's loaders (:func:`_psycopg_defaults`); between
    the calls (the hooks, the host's code) the connection is Django's."""

    __slots__ = ("_raw", "_tx")

    def __init__(self, tx: Any, raw: Any) -> None:
        self._tx = tx
        self._raw = raw

    def __getattr__(self, name: str) -> Any:
        found = getattr(self._tx, name)
        if not callable(found):
            return found
        raw = self._raw

        def call(*args: Any, **kwargs: Any) -> Any:
            with _psycopg_defaults(raw):
                return found(*args, **kwargs)

        return call


@contextmanager
def _psycopg_defaults(raw: Any) -> Iterator[None]:
    """psycopg's own ``jsonb`` and ``timestamptz`` loaders and server-side binding on
    ``raw`` for the block; Django's (text ``jsonb``, its time zone, client-side binding)
    put back after it."""
    import psycopg
    from psycopg.pq import Format
    from psycopg.types.datetime import TimestamptzLoader
    from psycopg.types.json import JsonbLoader

    adapters = raw.adapters
    jsonb, tstz = adapters.types["jsonb"].oid, adapters.types["timestamptz"].oid
    saved = (
        adapters.get_loader(jsonb, Format.TEXT),
        adapters.get_loader(tstz, Format.TEXT),
        raw.cursor_factory,
    )
    adapters.register_loader(jsonb, JsonbLoader)
    adapters.register_loader(tstz, TimestamptzLoader)
    raw.cursor_factory = psycopg.Cursor
    try:
        yield
    finally:
        if saved[0] is not None:
            adapters.register_loader(jsonb, saved[0])
        if saved[1] is not None:
            adapters.register_loader(tstz, saved[1])
        raw.cursor_factory = saved[2]
