"""A worker process for the multi-process and crash tests (run as a script, not collected).

    python service_process.py handle DB EVENTS.json OUT.json [KILL_POINT N]
    python service_process.py handle_many DB EVENTS.json OUT.json BATCH [KILL_POINT N]
    python service_process.py drain DB RECEIVER.log LEASE_SECONDS [KILL_AFTER_EFFECT N]
    python service_process.py tick DB NOW OUT.json [KILL_BEFORE_COMMIT N [BATCH_SIZE B]]

DB is a SQLite file path, or ``pg:PREFIX:DSN`` for PostgreSQL tables prefixed PREFIX.

``handle``: handles the events (a JSON list of [key, trigger, payload, event_id]) with a
JourneyService on the SQLite file DB and writes the outcome statuses to OUT.json.  With a
KILL_POINT the process SIGKILLs itself while handling its N-th event (counted from 1):
``decided`` between the decision and the write transaction, ``in_write`` after the
journey row was updated and before the history row (inside the transaction),
``before_commit`` after every row was written, before COMMIT (on PostgreSQL the move is one
statement in autocommit, so this point is past its commit).

``handle_many``: the same events through ``handle_many`` in batches of BATCH.  With a
KILL_POINT the process SIGKILLs itself in its N-th batch write: ``in_write`` after the
journeys statement and before the history statement, ``before_commit`` after every
statement, before COMMIT.

``drain``: runs an OutboxWorker until nothing is due; each effect appends its
idempotency key to RECEIVER.log (flushed and fsynced: the receiver's own record).  With
KILL_AFTER_EFFECT the process SIGKILLs itself after the N-th effect ran, before its row
is marked done.

``tick``: ticks the timeout shop of test_service_timeouts.py at NOW (ISO) with
``limit=1, batch_size=1`` until nothing is left, and writes the outcomes' ``[key,
trigger, event id]`` to OUT.json.  With KILL_BEFORE_COMMIT N (0: never) the process
SIGKILLs itself when the N-th transaction that claimed journeys has written them, before
it commits.  With BATCH_SIZE B > 1 it ticks with ``limit=2 * B, batch_size=B`` instead
(several batches a tick, claimed with ``claim_due_batch``).
"""

from __future__ import annotations

import json
import os
import signal
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from service_support import shop_machine

from journeyfsm import Event, JourneyService, OutboxWorker
from journeyfsm.service._sync import JourneyService as _Service
from journeyfsm.stores import SQLiteStore
from journeyfsm.stores._sqlite_rows import SQLiteTransaction


def _open(db: str) -> Any:
    if db.startswith("pg:"):
        from journeyfsm.stores import PostgresStore

        _, prefix, dsn = db.split(":", 2)
        return PostgresStore(dsn, prefix=prefix)
    return SQLiteStore(db)


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def handle(db: str, events_file: str, out_file: str, kill: str | None, nth: int) -> None:
    count = [0]
    if kill == "decided":
        original_decide = _Service._decide

        def decide(self: Any, *args: Any) -> Any:
            decision = original_decide(self, *args)
            count[0] += 1
            if count[0] == nth and decision.writes:
                _die()
            return decision

        _Service._decide = decide  # type: ignore[method-assign]
    elif kill in ("in_write", "before_commit"):
        original_write = SQLiteTransaction.write

        def write(self: Any, decision: Any) -> None:
            count[0] += 1
            if count[0] == nth and kill == "in_write":
                self.conn = _DyingAtHistory(self.conn)
            original_write(self, decision)
            if count[0] == nth:
                _die()

        SQLiteTransaction.write = write  # type: ignore[method-assign]
        if db.startswith("pg:"):
            from journeyfsm.stores._postgres_rows import PostgresTransaction

            original_write = PostgresTransaction.write
            PostgresTransaction.write = write  # type: ignore[method-assign]
    service = JourneyService(shop_machine(), _open(db), max_attempts=100)
    events = json.loads(Path(events_file).read_text())
    statuses = [service.handle(k, t, p, event_id=e).status for k, t, p, e in events]
    Path(out_file).write_text(json.dumps(statuses))


def handle_many(
    db: str, events_file: str, out_file: str, batch: int, kill: str | None, nth: int
) -> None:
    count = [0]
    for cls in _transaction_classes():
        original = cls.write_many

        def write_many(self: Any, decisions: Any, _original: Any = original) -> None:
            count[0] += 1
            if count[0] == nth and kill == "in_write":
                self.conn = _DyingAtHistory(self.conn)
            _original(self, decisions)
            if count[0] == nth:
                _die()

        cls.write_many = write_many
    service = JourneyService(shop_machine(), _open(db), max_attempts=100)
    events = [
        Event(k, t, p, event_id=e) for k, t, p, e in json.loads(Path(events_file).read_text())
    ]
    statuses = [o.status for o in service.handle_many(events, batch_size=batch)]
    Path(out_file).write_text(json.dumps(statuses))


class _DyingAtHistory:
    """A connection that dies at the statement writing history rows."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn

    def execute(self, sql: Any, *params: Any) -> Any:
        text = sql if isinstance(sql, str) else repr(sql)
        if "INSERT INTO" in text and "history" in text:
            _die()
        return self.conn.execute(sql, *params)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.conn, name)


def drain(db: str, receiver: str, lease: float, kill_after: int | None) -> None:
    log = open(receiver, "a", encoding="utf-8")  # noqa: SIM115
    ran = [0]

    class Receiver(list[str]):
        """The effects' sink: the receiver's own durable record of each key."""

        def append(self, key: str) -> None:
            log.write(key + "\n")
            log.flush()
            os.fsync(log.fileno())
            ran[0] += 1
            if ran[0] == kill_after:
                _die()

    machine = shop_machine(None, Receiver())
    worker = OutboxWorker(machine, _open(db), lease=timedelta(seconds=lease))
    while worker.run_once(limit=5):
        pass


def tick(db: str, now: str, out_file: str, kill_at: int | None, batch: int = 1) -> None:
    from datetime import datetime

    from test_service_timeouts import timeout_service

    service = timeout_service(_open(db))
    if kill_at:
        store = service.store
        original = store.transaction
        claimed = [0]

        def transaction(*, write: bool = True) -> Any:
            from contextlib import contextmanager

            @contextmanager
            def wrapped() -> Any:
                with original(write=write) as tx:
                    yield tx
                    if write and getattr(tx, "_claimed", False):
                        claimed[0] += 1
                        if claimed[0] == kill_at:
                            _die()  # written, not committed

            return wrapped()

        for cls in _transaction_classes():
            original_claim = cls.claim_due

            def claim(self: Any, *a: Any, _orig: Any = original_claim, **kw: Any) -> Any:
                row = _orig(self, *a, **kw)
                self._claimed = row is not None
                return row

            cls.claim_due = claim
            original_batch = cls.claim_due_batch

            def claim_batch(self: Any, *a: Any, _orig: Any = original_batch, **kw: Any) -> Any:
                rows = _orig(self, *a, **kw)
                self._claimed = bool(rows)
                return rows

            cls.claim_due_batch = claim_batch
        store.transaction = transaction
    fired: list[list[str | None]] = []
    when = datetime.fromisoformat(now)
    while True:
        report = service.tick(when, limit=1 if batch == 1 else 2 * batch, batch_size=batch)
        fired.extend([o.key, o.trigger, o.event_id] for o in report.outcomes)
        if report.journeys + report.skipped == 0:
            break
    Path(out_file).write_text(json.dumps(fired))


def _transaction_classes() -> list[Any]:
    classes: list[Any] = [SQLiteTransaction]
    try:
        from journeyfsm.stores._postgres_rows import PostgresTransaction
    except ImportError:  # pragma: no cover - psycopg is in the test extra
        return classes
    return [*classes, PostgresTransaction]


if __name__ == "__main__":
    mode, *args = sys.argv[1:]
    if mode == "tick":
        kill_at = int(args[3]) if len(args) > 3 else None
        tick(args[0], args[1], args[2], kill_at, int(args[4]) if len(args) > 4 else 1)
    elif mode == "handle":
        kill = args[3] if len(args) > 3 else None
        handle(args[0], args[1], args[2], kill, int(args[4]) if kill else 0)
    elif mode == "handle_many":
        kill = args[4] if len(args) > 4 else None
        handle_many(args[0], args[1], args[2], int(args[3]), kill, int(args[5]) if kill else 0)
    else:
        drain(args[0], args[1], float(args[2]), int(args[3]) if len(args) > 3 else None)
