# GENERATED from journeyfsm/stores/_postgres_errors_async.py by .ci/async_to_sync.py: do not edit;
# edit the source and run `make generate`.
"""What the PostgreSQL stores make of psycopg's errors: a ``StoreError`` that says what
to do, with the DSN's password never in it (``StoreErrors``, ``redact``)."""

from __future__ import annotations

from collections.abc import Callable, Hashable

import psycopg

from .._errors import StoreError
from ._base import schema_cache

__all__: list[str] = []


def redact(text: str, dsn: str | None) -> str:
    """``text`` without the DSN's password (errors and logs never show it)."""
    if not dsn:
        return text
    try:
        password = psycopg.conninfo.conninfo_to_dict(dsn).get("password")
    except psycopg.Error:
        return text.replace(dsn, "<dsn>")
    return text.replace(str(password), "***") if password else text


def pool_errors() -> type[Exception]:
    """The pool's own errors (a timeout when the server cannot be reached)."""
    from psycopg_pool import PoolTimeout

    return PoolTimeout


class StoreErrors:
    """``with errors:`` turns a psycopg error raised in the block into a
    ``StoreError`` that says what to do.  A class rather than a generator made into a
    context manager: every ``handle`` runs one or two, and in the async store each async
    generator costs a few µs more (asyncio tracks every one).  It holds no state of a
    block, so a store makes one and uses it for every block, nested ones too.

    ``schema_key()`` is the store's key in the schema cache: a table dropped underneath
    the store drops it from the cache, so the schema is checked again."""

    __slots__ = ("_dsn", "_schema_key")

    def __init__(self, dsn: str | None, schema_key: Callable[[], Hashable]) -> None:
        self._dsn, self._schema_key = dsn, schema_key

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: object, err: BaseException | None, tb: object) -> None:
        if not isinstance(err, psycopg.Error):
            return
        dsn = self._dsn
        if isinstance(err, psycopg.errors.SerializationFailure):  # an OperationalError
            raise StoreError(
                "PostgreSQL refused a journey write inside the host's transaction "
                f"({str(err).splitlines()[0]}): its isolation (REPEATABLE READ or "
                "SERIALIZABLE) keeps it from seeing the journey's newest version, so no "
                "retry inside it can succeed: roll it back and retry the whole transaction",
                table="journeys",
            ) from err
        if isinstance(err, psycopg.OperationalError):
            raise StoreError("PostgreSQL connection failed: " + redact(str(err), dsn)) from None
        if isinstance(err, psycopg.errors.UndefinedTable):
            schema_cache.discard(self._schema_key())  # dropped underneath: check again
            raise StoreError(
                f"the PostgreSQL database has no journeyfsm tables ({str(err).splitlines()[0]}); "
                "run create_schema() (PostgresStore(..., create_schema=True)) once",
                table="schema_version",
            ) from err
        raise StoreError(
            "PostgreSQL refused a statement of the store: " + redact(str(err), dsn)
        ) from err
