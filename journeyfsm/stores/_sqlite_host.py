"""The transaction rule of ``SQLiteStore(connection=conn)``: how a store transaction runs
on the host's own ``sqlite3`` connection.

Theory of operation.  Who commits is read from the connection each time a transaction
begins (nothing is remembered between transactions, so nesting needs no counter):

- **own**: the connection is in autocommit mode (``isolation_level=None``, or Python
  3.12's ``autocommit=True``) and the host has no transaction open.  Nobody would ever
  commit a transaction the store left open, so the store runs its own, as it does on its
  own connection: ``BEGIN IMMEDIATE`` ... ``COMMIT`` (a read: ``BEGIN`` ... ``COMMIT``).
  Each event is its own transaction, committed when ``handle`` returns.
- **fresh**: the connection opens transactions implicitly (the legacy default, a
  non-``None`` ``isolation_level``) and none is open yet: the host commits
  (``conn.commit()``, ``with conn:``), as it would commit its own first write.  A write
  opens that transaction with ``BEGIN IMMEDIATE`` (it takes the write lock first: a
  deferred ``BEGIN`` could not take it later) and no savepoint: it is the transaction's
  only work, so a failure rolls the whole transaction back.  A read runs as is.
- **open**: the host has a transaction open (``conn.in_transaction``; with Python 3.12's
  ``autocommit=False`` one always is): the store joins it and the host commits.  A write
  is ONE savepoint (so a failure undoes the store's writes and nothing of the host's) and
  first takes SQLite's write lock with a statement that writes nothing: in a deferred
  transaction (Django's ``atomic()``, sqlite3's implicit ``BEGIN``) the store's read would
  otherwise take a snapshot, and the later write's upgrade fails at once with "database
  is locked" whenever another connection wrote meanwhile (SQLite never waits for that
  upgrade).  Taken first, the lock is waited for (the connection's ``timeout``), and the
  read then sees the newest data.  A read runs as is (nothing to undo).

A host transaction that read before handing over (a deferred ``BEGIN``, then a query)
holds a snapshot: if another connection wrote since, SQLite refuses it the write lock for
good, and nothing inside that transaction can succeed.  That is a ``StoreError`` telling
the host to roll back, retry the whole transaction, and begin it with ``BEGIN IMMEDIATE``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Literal

from .._errors import StoreError

__all__ = ["IMMEDIATE_FIX", "HostState", "host_state", "host_transaction", "locked"]

HostState = Literal["own", "fresh", "open"]

#: What a host sets so that its transactions begin with SQLite's write lock.
IMMEDIATE_FIX = (
    "begin the host's transactions with BEGIN IMMEDIATE: sqlite3.connect(path, "
    "isolation_level='IMMEDIATE'), or autocommit (isolation_level=None / Python 3.12 "
    "autocommit=True) and conn.execute('BEGIN IMMEDIATE'); Django: DATABASES[alias]"
    "['OPTIONS'] = {'transaction_mode': 'IMMEDIATE'}; SQLAlchemy: "
    "create_engine(url, connect_args={'isolation_level': None}) and a 'begin' event "
    "listener that runs conn.exec_driver_sql('BEGIN IMMEDIATE')"
)


def host_state(conn: sqlite3.Connection) -> HostState:
    """Who commits a transaction the store runs on ``conn`` now (see the module docstring)."""
    autocommit = getattr(conn, "autocommit", -1)  # Python 3.12+; -1: legacy control
    if conn.in_transaction or autocommit is False:
        return "open"
    if autocommit is True or conn.isolation_level is None:
        return "own"
    return "fresh"


def locked(err: sqlite3.OperationalError, where: str) -> StoreError:
    """The error of a host transaction that cannot take SQLite's write lock."""
    name = getattr(err, "sqlite_errorname", "")
    why = (
        "it read before (a deferred BEGIN) and another connection has written since, so "
        "SQLite will not let it write"
        if name == "SQLITE_BUSY_SNAPSHOT"
        else "it read before (a deferred BEGIN) while another connection was writing, or "
        "another connection held the lock past the busy timeout"
    )
    return StoreError(
        f"the host's transaction on {where} could not take SQLite's write lock ({err}): "
        f"{why}; roll it back and retry the whole transaction, and {IMMEDIATE_FIX}",
        table="journeys",
    )


@contextmanager
def host_transaction(
    conn: sqlite3.Connection,
    write: bool,
    lock_sql: str | None,
    where: str,
    *,
    setup: bool = False,
) -> Iterator[HostState]:
    """Run the block as the transaction rule says; yields the state it found.

    ``lock_sql`` is a statement that takes the write lock and writes nothing (``None``:
    none is needed).  ``setup``
    (creating the schema): committed by the store unless the host has a transaction open.
    """
    state = host_state(conn)
    if setup and state == "fresh":
        state = "own"
    if state == "own":
        begin, end, undo = ("BEGIN IMMEDIATE" if write else "BEGIN"), "COMMIT", "ROLLBACK"
    elif not write:  # a read joins as it is: nothing to undo
        yield state
        return
    elif state == "fresh":
        begin, end, undo = "BEGIN IMMEDIATE", None, "ROLLBACK"
    else:
        begin, end = 'SAVEPOINT "journeyfsm_host"', 'RELEASE "journeyfsm_host"'
        undo = 'ROLLBACK TO "journeyfsm_host"'
    try:
        conn.execute(begin)
    except sqlite3.OperationalError as err:
        raise StoreError(f"cannot begin a transaction on {where}: {err}") from err
    try:
        if state == "open" and lock_sql is not None:
            try:
                conn.execute(lock_sql)
            except sqlite3.OperationalError as err:
                raise locked(err, where) from err
        yield state
    except BaseException:
        if conn.in_transaction:
            conn.execute(undo)
            if state == "open":
                conn.execute('RELEASE "journeyfsm_host"')
        raise
    if end is not None:
        try:
            conn.execute(end)
        except sqlite3.OperationalError as err:
            if state == "own":
                conn.execute("ROLLBACK")
            raise StoreError(f"cannot commit on {where}: {err}") from err
