# GENERATED from journeyfsm/stores/_postgres_host_async.py by .ci/async_to_sync.py: do not edit;
# edit the source and run `make generate`.
"""The transaction rule of a PostgreSQL store on the host's own connection
(``PostgresStore(connection=conn)``), as ``_sqlite_host.py`` is SQLite's.

Theory of operation.  The rule is read from the connection each time a transaction
begins (``host_state``):

- **own**: an autocommit connection with no transaction open: nobody would commit what
  the store left open, so the store runs its own (``BEGIN`` ... ``COMMIT``), and each event
  is committed when ``handle`` returns;
- **fresh**: a non-autocommit connection with no transaction begun yet (Django's
  ``atomic()``, a SQLAlchemy session, before any statement): the store's first statement
  begins the host's transaction, as the host's own would, and the host commits.  No
  savepoint: if the store's block fails, the transaction holds nothing but the store's
  work, and the store rolls it back whole (the connection is left as it was found);
- **open**: a transaction is open (``with conn.transaction():``, or the host ran a
  statement): the store joins it, a write as ONE savepoint (a failure undoes the store's
  work and nothing of the host's), and the host commits.

Reads never take a savepoint (nothing to undo).  An aborted host transaction, a closed
connection or one busy with another statement is refused before anything runs.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal

import psycopg

from .._errors import StoreError

__all__: list[str] = []

_IDLE = psycopg.pq.TransactionStatus.IDLE
_INTRANS = psycopg.pq.TransactionStatus.INTRANS
_INERROR = psycopg.pq.TransactionStatus.INERROR

HostState = Literal["own", "fresh", "open"]


def host_state(conn: psycopg.Connection[Any]) -> HostState:
    """ "own", "fresh" or "open" (the module docstring); a connection that cannot
    take a transaction now is a ``StoreError``."""
    status = conn.info.transaction_status
    if status == _IDLE:
        return "own" if conn.autocommit else "fresh"
    if status == _INTRANS:
        return "open"
    if conn.closed:
        why = "the host's psycopg connection is closed: hand the store an open one"
    elif status == _INERROR:
        why = (
            "the host's transaction on this connection is aborted (a statement in it "
            "failed): roll it back before handling events"
        )
    else:
        why = (
            "the host's psycopg connection is busy with another statement: use one "
            "connection per task or thread"
        )
    raise StoreError(f"PostgresStore cannot begin a transaction: {why}")


@contextmanager
def host_transaction(
    conn: psycopg.Connection[Any], write: bool, *, setup: bool = False
) -> Iterator[None]:
    """The block as the transaction rule says (the module docstring).  ``setup``
    (the schema's creation and check): a transaction of the store's own, committed,
    unless the host has one open (then a savepoint in it)."""
    state = host_state(conn)
    if setup or (write and state != "fresh"):
        # own: BEGIN ... COMMIT; open: SAVEPOINT ... RELEASE (psycopg picks)
        with conn.transaction():
            yield
    elif write:  # fresh: the host's transaction holds only what the block does
        try:
            yield
        except BaseException:
            if not conn.closed:
                conn.rollback()
            raise
    else:
        yield
