"""``handle`` inside the host's own transaction against a bare status-row upsert (issue 18).

    .venv/bin/python benchmarks/host_transaction.py    # about 30 seconds

In-process, one event per host transaction, as a web request runs it: the host's
connection, a store and a service made per request (``SQLiteStore(connection=conn)`` /
``PostgresStore(connection=conn)``, as a framework integration does), ``handle`` with an
event id, then the host's commit; against the same transaction doing one bare
``INSERT ... ON CONFLICT DO UPDATE`` of a status row.  Each event moves a journey (keys
in rotation, a two-stage toggle), structlog configured as a production host does (JSON at
INFO into a sink: each move logs ``journey.moved``).  Prints the medians of alternating rounds, the ratio
(goals: PostgreSQL >= 0.8x the bare upsert, SQLite >= 1.0x) and the statements each
runs per event between the host's BEGIN and COMMIT (counted with libpq's trace and
sqlite3's trace callback).  The PostgreSQL server is ``JOURNEYFSM_PG_DSN``, else a
throw-away one.  Not a figure of the table: a measurement to run by hand.

The ``floor`` column is what no store can beat: the same durable work as ``handle``
(read the journey row and the event id, then write the journey row version-checked, its
history entry and its event id), written by hand with the fewest statements each
database allows (PostgreSQL: one read and one data-modifying CTE; SQLite: one read and
three writes, no savepoint and no lock probe) and no library code around them: no
decision, no logging, no checks.  ``floor / bare`` is therefore the most a store could
reach on this machine; a goal above it is out of reach whatever the store does.
"""

from __future__ import annotations

import os
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psycopg
from psycopg import pq

from benchmarks.contenders import configure_host_logging
from benchmarks.figures_service import pg_dsn
from journeyfsm import JourneyBuilder, JourneyMachine, JourneyService
from journeyfsm.stores import PostgresStore, SQLiteStore

N, ROUNDS, KEYS = 600, 5, 200
MACHINE = JourneyMachine(
    JourneyBuilder("toggle")
    .stage("off", initial=True)
    .stage("on")
    .stage("gone", final=True)
    .transition("flip", "off", "on")
    .transition("flip", "on", "off")
    .transition("leave", ["off", "on"], "gone")
    .build()
)


def _events() -> list[tuple[str, str]]:
    run = uuid.uuid4().hex[:8]
    return [(f"{run}-{i % KEYS}", f"{run}/{i}") for i in range(N)]


# -- PostgreSQL ------------------------------------------------------------------------
def _pg_handle(conn: psycopg.Connection[Any], prefix: str) -> Callable[[str, str], None]:
    def one(key: str, event_id: str) -> None:
        service = JourneyService(MACHINE, PostgresStore(connection=conn, prefix=prefix))
        service.handle(key, "flip", event_id=event_id)
        conn.commit()

    return one


def _pg_bare(conn: psycopg.Connection[Any], table: str) -> Callable[[str, str], None]:
    statement = (
        f'INSERT INTO "{table}" (key, status, event_id) VALUES (%s, %s, %s) '
        "ON CONFLICT (key) DO UPDATE SET status = excluded.status, event_id = excluded.event_id"
    )

    def one(key: str, event_id: str) -> None:
        conn.execute(statement, (key, "on", event_id))
        conn.commit()

    return one


@contextmanager
def _pg_statements(conn: psycopg.Connection[Any]) -> Iterator[list[int]]:
    """The statements sent on ``conn`` inside the block (simple and extended queries),
    BEGIN and COMMIT left out: ``[count]`` once the block ends."""
    out: list[int] = []
    with tempfile.TemporaryFile() as trace:
        conn.pgconn.trace(trace.fileno())
        conn.pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS | pq.Trace.REGRESS_MODE)
        try:
            yield out
        finally:
            conn.pgconn.untrace()
        trace.seek(0)
        lines = trace.read().decode(errors="replace").splitlines()
    sent = [ln.split("\t") for ln in lines if ln.startswith("F\t")]
    queries = [f for f in sent if f[2] in ("Query", "Execute")]
    out.append(sum(1 for f in queries if not ('"BEGIN"' in f[3] or '"COMMIT"' in f[3])))


def _pg_floor(conn: psycopg.Connection[Any], prefix: str) -> Callable[[str, str], None]:
    j, h, e = (f'"{prefix}{name}"' for name in ("journeys", "history", "event_ids"))
    read = (
        f"SELECT j.stage, j.version, (SELECT seq FROM {e} WHERE definition = %(d)s AND "
        f"key = %(k)s AND event_id = %(e)s) FROM (SELECT 1) AS one LEFT JOIN {j} j "
        "ON j.definition = %(d)s AND j.key = %(k)s"
    )
    rest = (
        f", h AS (INSERT INTO {h} (definition, key, seq, trigger, source, dest, at, event_id) "
        "SELECT %s::text, %s::text, %s::int, 'flip', %s::text, %s::text, %s::timestamptz, "
        f"%s::text FROM j), e AS (INSERT INTO {e} (definition, key, event_id, seq, "
        "committed_at) SELECT %s::text, %s::text, %s::text, %s::int, %s::timestamptz FROM j) "
        "SELECT count(*) FROM j"
    )
    insert = (
        f"WITH j AS (INSERT INTO {j} (definition, key, definition_version, stage, data, "
        "version, entered_at, updated_at, started_at, entry_seq, timeouts_fired) VALUES "
        "(%s, %s, '1', %s, '{}', 1, %s, %s, %s, 1, 0) ON CONFLICT DO NOTHING RETURNING 1)" + rest
    )
    update = (
        f"WITH j AS (UPDATE {j} SET stage = %s, version = %s, entered_at = %s, "
        "updated_at = %s, entry_seq = %s WHERE definition = %s AND key = %s AND "
        "version = %s RETURNING 1)" + rest
    )

    def one(key: str, event_id: str) -> None:
        stage, version, _ = conn.execute(
            read, {"d": "toggle", "k": key, "e": event_id}
        ).fetchone() or (None, None, None)
        now = datetime.now(timezone.utc)
        source = stage or "off"
        dest = "off" if source == "on" else "on"
        seq = (version or 0) + 1
        tail = ("toggle", key, seq, source, dest, now, event_id, "toggle", key, event_id, seq, now)
        if version is None:
            conn.execute(insert, ("toggle", key, dest, now, now, now, *tail))
        else:
            conn.execute(update, (dest, seq, now, now, seq, "toggle", key, version, *tail))
        conn.commit()

    return one


def postgres() -> dict[str, float]:
    prefix = f"bh{uuid.uuid4().hex[:6]}_"
    table = f"{prefix}status"
    PostgresStore(pg_dsn(), prefix=prefix, create_schema=True).close()
    PostgresStore(pg_dsn(), prefix=f"{prefix}f_", create_schema=True).close()  # the floor's
    with psycopg.connect(pg_dsn()) as conn:
        conn.execute(f'CREATE TABLE "{table}" (key text PRIMARY KEY, status text, event_id text)')
        conn.commit()
        handle, bare = _pg_handle(conn, prefix), _pg_bare(conn, table)
        result = _race(handle, bare, _pg_floor(conn, f"{prefix}f_"))
        with _pg_statements(conn) as counted:
            handle(f"count-{uuid.uuid4().hex[:6]}", "e-1")
        result["statements"] = counted[0]
        with _pg_statements(conn) as counted:
            bare("count", "e-1")
        result["bare_statements"] = counted[0]
        conn.execute(f'DROP TABLE "{table}"')
        conn.commit()
    return result


# -- SQLite ----------------------------------------------------------------------------
def sqlite(path: str) -> dict[str, float]:
    SQLiteStore(path, create_schema=True).close()
    conn = sqlite3.connect(path, isolation_level=None)  # the host begins and commits
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("CREATE TABLE status (key TEXT PRIMARY KEY, status TEXT, event_id TEXT)")

    def handle(key: str, event_id: str) -> None:
        conn.execute("BEGIN")  # deferred, as Django's atomic() begins
        service = JourneyService(MACHINE, SQLiteStore(connection=conn))
        service.handle(key, "flip", event_id=event_id)
        conn.execute("COMMIT")

    def bare(key: str, event_id: str) -> None:
        conn.execute("BEGIN")
        conn.execute(
            "INSERT INTO status (key, status, event_id) VALUES (?, ?, ?) ON CONFLICT (key) "
            "DO UPDATE SET status = excluded.status, event_id = excluded.event_id",
            (key, "on", event_id),
        )
        conn.execute("COMMIT")

    floor_db = sqlite3.connect(path.replace(".db", "-floor.db"), isolation_level=None)
    SQLiteStore(connection=floor_db, create_schema=True)
    floor_db.execute("PRAGMA journal_mode=WAL")
    floor_db.execute("PRAGMA synchronous=FULL")

    def floor(key: str, event_id: str) -> None:
        c = floor_db
        c.execute("BEGIN")
        found = c.execute(
            "SELECT j.stage, j.version, (SELECT seq FROM journeyfsm_event_ids WHERE "
            "definition = 'toggle' AND key = :k AND event_id = :e) FROM (SELECT 1) LEFT JOIN "
            "journeyfsm_journeys j ON j.definition = 'toggle' AND j.key = :k",
            {"k": key, "e": event_id},
        ).fetchone()
        stage, version = found[0], found[1]
        now = datetime.now(timezone.utc).isoformat()
        source = stage or "off"
        dest = "off" if source == "on" else "on"
        seq = (version or 0) + 1
        if version is None:
            c.execute(
                "INSERT INTO journeyfsm_journeys (definition, key, definition_version, stage, "
                "data, version, entered_at, updated_at, started_at, entry_seq, timeouts_fired) "
                "VALUES ('toggle', ?, '1', ?, '{}', 1, ?, ?, ?, 1, 0)",
                (key, dest, now, now, now),
            )
        else:
            c.execute(
                "UPDATE journeyfsm_journeys SET stage = ?, version = ?, entered_at = ?, "
                "updated_at = ?, entry_seq = ? WHERE definition = 'toggle' AND key = ? "
                "AND version = ?",
                (dest, seq, now, now, seq, key, version),
            )
        c.execute(
            "INSERT INTO journeyfsm_history (definition, key, seq, trigger, source, dest, at, "
            "event_id) VALUES ('toggle', ?, ?, 'flip', ?, ?, ?, ?)",
            (key, seq, source, dest, now, event_id),
        )
        c.execute(
            "INSERT INTO journeyfsm_event_ids (definition, key, event_id, seq, committed_at) "
            "VALUES ('toggle', ?, ?, ?, ?)",
            (key, event_id, seq, now),
        )
        c.execute("COMMIT")

    result = _race(handle, bare, floor)
    floor_db.close()
    for name, fn in (("statements", handle), ("bare_statements", bare)):
        seen: list[str] = []
        conn.set_trace_callback(seen.append)
        fn(f"count-{uuid.uuid4().hex[:6]}", "e-1")
        conn.set_trace_callback(None)
        result[name] = sum(1 for s in seen if s not in ("BEGIN", "COMMIT"))
    conn.close()
    return result


# -- the race --------------------------------------------------------------------------
def _rate(fn: Callable[[str, str], None]) -> float:
    events = _events()
    start = time.perf_counter()
    for key, event_id in events:
        fn(key, event_id)
    return len(events) / (time.perf_counter() - start)


def _race(
    handle: Callable[[str, str], None],
    bare: Callable[[str, str], None],
    floor: Callable[[str, str], None],
) -> dict[str, float]:
    _rate(handle), _rate(bare), _rate(floor)  # warm-up: prepared statements, caches
    ours, theirs, floors = [], [], []
    for _ in range(ROUNDS):  # alternating, so drift hits all three
        ours.append(_rate(handle))
        theirs.append(_rate(bare))
        floors.append(_rate(floor))
    a, b, f = statistics.median(ours), statistics.median(theirs), statistics.median(floors)
    return {"handle": a, "bare": b, "floor": f, "ratio": a / b, "floor_ratio": f / b}


def main() -> None:
    configure_host_logging()  # production: structlog JSON at INFO into a sink, as figures do
    rows = [("PostgreSQL", postgres(), 0.8)]
    with tempfile.TemporaryDirectory() as folder:
        rows.append(("SQLite", sqlite(os.path.join(folder, "host.db")), 1.0))
    print(
        "| database | handle events/s | bare upsert events/s | floor events/s | ratio | "
        "floor / bare | goal | statements/event |"
    )
    print("|---|---:|---:|---:|---:|---:|---|---|")
    for name, r, goal in rows:
        met = "met" if r["ratio"] >= goal else "not met"
        print(
            f"| {name} | {r['handle']:,.0f} | {r['bare']:,.0f} | {r['floor']:,.0f} | "
            f"{r['ratio']:.2f} | {r['floor_ratio']:.2f} | >= {goal} ({met}) | "
            f"{r['statements']:.0f} (bare: {r['bare_statements']:.0f}) |"
        )


if __name__ == "__main__":
    main()
