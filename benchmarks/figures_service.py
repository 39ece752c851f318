"""Service figures: a durable move on SQLite and PostgreSQL against the bare transaction it
must beat, batches, and the outbox drain rate.

``service.handle_sqlite`` is ``JourneyService.handle`` for an event that moves a journey
(load, idempotency check, decide, and one transaction writing the journey row, the
history row and the event id).  ``service.bare_sqlite`` is the least a host writing its
own persistence could do on the same database: one transaction that upserts one row and
inserts one history row.  ``service.handle_many_sqlite`` hands the same events to
``handle_many`` (batched commits).  Production logging (structlog JSON to a sink) is the
headline; the filtered configuration is beside it.  Every figure uses its own SQLite file
in a temporary folder (WAL), so all of them pay the same fsync policy.  The PostgreSQL
figures use the server named by ``JOURNEYFSM_PG_DSN``, else one ``pgserver`` starts for the
run (each figure in its own table prefix); ``service.bare_many_pg`` is the set-based
floor of a batch (one statement per table for 100 events); ``outbox.drain_pg_*`` time how
fast 1 and 2 workers (threads, each with its own connections) deliver effects that moves
committed.  Each figure sets the logging state it runs in before every sample (see
:func:`_logging`).
"""

from __future__ import annotations

import atexit
import importlib.util
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from itertools import count
from pathlib import Path
from typing import Any

from journeyfsm import Event, JourneyService, OutboxWorker
from journeyfsm.stores import SQLiteStore

from .contenders import HOST, configure_host_logging, fresh_event_ids, journeyfsm_machine
from .harness import Settings, Timer, timed
from .workload import CYCLE

__all__: list[str] = []

_OPEN: list[Any] = []  # connections and stores of the figures: closed at exit, not by the GC


@atexit.register
def _close_all() -> None:
    while _OPEN:
        _OPEN.pop().close()


def _kept(store: Any) -> Any:
    _OPEN.append(store)
    return store


_KEYS = count()
FIRST = CYCLE[0]  # moves a journey out of its initial stage


def _db(name: str) -> str:
    return os.path.join(tempfile.mkdtemp(prefix="journeyfsm-bench-"), f"{name}.db")


def _keys(n: int) -> list[str]:
    start = next(_KEYS) * 10_000_000
    return [f"customer-{start + i}" for i in range(n)]


def _sqlite_store() -> Any:
    return _kept(SQLiteStore(_db("service"), create_schema=True))


def _logging(production: bool) -> None:
    """The logging state a figure runs in, set before each of its samples (untimed).

    journeyfsm follows structlog's global configuration at every call, and every figure's
    setup runs before the first sample: a configuration set once at setup is whatever the
    figure set up last (or a sample of another figure) left, for every figure.  So a
    production figure configures structlog as a host does before each sample.  The other
    figures inject a filtered logger (``journeyfsm_machine()``), which journeyfsm uses
    whatever the global state, or do not log at all (the bare transactions)."""
    if production:
        configure_host_logging()


def _handle(make_store: Any, production: bool) -> Timer:
    """``handle`` per moving event on the store ``make_store()`` opens."""
    _logging(production)
    machine = journeyfsm_machine(HOST) if production else journeyfsm_machine()
    service = JourneyService(machine, make_store())

    def run(loops: int) -> float:
        _logging(production)
        keys, ids = _keys(loops), fresh_event_ids(loops)
        handle = service.handle
        t0 = time.perf_counter()
        for key, event_id in zip(keys, ids, strict=True):
            handle(key, FIRST, event_id=event_id)
        return time.perf_counter() - t0

    return run


def _many(make_store: Any) -> Timer:
    """``handle_many`` of the same events (batches of 100), production logging."""
    _logging(True)
    service = JourneyService(journeyfsm_machine(HOST), make_store())

    def run(loops: int) -> float:
        _logging(True)
        events = [
            Event(key, FIRST, event_id=event_id)
            for key, event_id in zip(_keys(loops), fresh_event_ids(loops), strict=True)
        ]
        t0 = time.perf_counter()
        service.handle_many(events)
        return time.perf_counter() - t0

    return run


@timed(
    "service",
    "handle_sqlite",
    unit="us/event",
    description="JourneyService.handle on SQLite: a moving event, event id, production logging",
)
def service_handle_sqlite(settings: Settings) -> Timer:
    return _handle(_sqlite_store, production=True)


@timed(
    "service",
    "handle_sqlite_flattering",
    unit="us/event",
    description="the same with logging filtered",
)
def service_handle_sqlite_flattering(settings: Settings) -> Timer:
    return _handle(_sqlite_store, production=False)


@timed(
    "service",
    "handle_many_sqlite",
    unit="us/event",
    description="JourneyService.handle_many on SQLite (batches of 100), production logging",
)
def service_handle_many_sqlite(settings: Settings) -> Timer:
    return _many(_sqlite_store)


@timed(
    "service",
    "bare_sqlite",
    unit="us/event",
    description="one transaction: upsert one journey row + insert one history row (same DB setup)",
)
def service_bare_sqlite(settings: Settings) -> Timer:
    conn = _kept(sqlite3.connect(_db("bare"), isolation_level=None))
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")  # as SQLiteStore: a committed move survives a crash
    conn.execute(
        "CREATE TABLE journeys (definition TEXT, key TEXT, stage TEXT, data TEXT, "
        "version INTEGER, PRIMARY KEY (definition, key))"
    )
    conn.execute(
        "CREATE TABLE history (definition TEXT, key TEXT, seq INTEGER, trigger TEXT, "
        "source TEXT, dest TEXT, at TEXT, PRIMARY KEY (definition, key, seq))"
    )
    data = json.dumps({"cart": []})

    def run(loops: int) -> float:
        keys = _keys(loops)
        execute = conn.execute
        t0 = time.perf_counter()
        for key in keys:
            execute("BEGIN IMMEDIATE")
            execute(
                "INSERT INTO journeys VALUES ('d', ?, 'b', ?, 1) ON CONFLICT (definition, key) "
                "DO UPDATE SET stage = excluded.stage, data = excluded.data, "
                "version = excluded.version",
                (key, data),
            )
            execute(
                "INSERT INTO history VALUES ('d', ?, 1, 't', 'a', 'b', ?)",
                (key, "2026-01-01T00:00:00+00:00"),
            )
            execute("COMMIT")
        return time.perf_counter() - t0

    return run


# -- PostgreSQL ---------------------------------------------------------------------------
_PG: dict[str, Any] = {}
_PREFIXES = count()
# Runs in a helper process: starts a throw-away server, prints its URI, removes it when
# its stdin closes (this process ended, however it ended).
_SERVE = """
import sys, tempfile, warnings
warnings.simplefilter("ignore")
import pgserver
server = pgserver.get_server(tempfile.mkdtemp(prefix="journeyfsm-bench-pg-"), cleanup_mode="delete")
print(server.get_uri(), flush=True)
sys.stdin.read()
server.cleanup()
"""


def pg_dsn() -> str:
    """``JOURNEYFSM_PG_DSN``, else a throw-away server for this run (see :data:`_SERVE`)."""
    dsn = os.environ.get("JOURNEYFSM_PG_DSN")
    if dsn:
        return dsn
    if "dsn" not in _PG:
        # pgserver has no wheel for every CPython (3.13): the main venv's starts it then
        python = sys.executable
        if importlib.util.find_spec("pgserver") is None:
            python = str(Path(__file__).resolve().parent.parent / ".venv" / "bin" / "python")
        helper = subprocess.Popen(
            [python, "-c", _SERVE], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert helper.stdin is not None and helper.stdout is not None
        uri = helper.stdout.readline().strip()
        if not uri:
            raise RuntimeError(
                "the PostgreSQL figures need a server: set JOURNEYFSM_PG_DSN or install "
                f"pgserver (make bench does); {python} could not start one"
            )
        _PG["dsn"], _PG["helper"] = uri, helper
        atexit.register(helper.stdin.close)  # the helper removes the server when stdin closes
    return str(_PG["dsn"])


def _pg_store() -> Any:
    from journeyfsm.stores import PostgresStore

    store = PostgresStore(pg_dsn(), prefix=f"bench{next(_PREFIXES)}_", create_schema=True)
    _OPEN.append(store)
    return store


@timed(
    "service",
    "handle_pg",
    unit="us/event",
    description="JourneyService.handle on PostgreSQL: a moving event, event id, production logging",
)
def service_handle_pg(settings: Settings) -> Timer:
    return _handle(_pg_store, production=True)


@timed(
    "service",
    "handle_pg_flattering",
    unit="us/event",
    description="the same with logging filtered",
)
def service_handle_pg_flattering(settings: Settings) -> Timer:
    return _handle(_pg_store, production=False)


@timed(
    "service",
    "handle_many_pg",
    unit="us/event",
    description="JourneyService.handle_many on PostgreSQL (batches of 100), production logging",
)
def service_handle_many_pg(settings: Settings) -> Timer:
    return _many(_pg_store)


@timed(
    "service",
    "bare_pg",
    unit="us/event",
    description="one PostgreSQL transaction: upsert one journey row + insert one history row",
)
def service_bare_pg(settings: Settings) -> Timer:
    import psycopg

    conn = psycopg.connect(pg_dsn(), autocommit=True)
    _OPEN.append(conn)
    table = f"bare{next(_PREFIXES)}"
    conn.execute(
        f"CREATE TABLE {table}_journeys (definition TEXT, key TEXT, stage TEXT, data JSONB, "
        "version INTEGER, PRIMARY KEY (definition, key))"
    )
    conn.execute(
        f"CREATE TABLE {table}_history (definition TEXT, key TEXT, seq INTEGER, trigger TEXT, "
        "source TEXT, dest TEXT, at TIMESTAMPTZ, PRIMARY KEY (definition, key, seq))"
    )
    data = json.dumps({"cart": []})

    def run(loops: int) -> float:
        keys = _keys(loops)
        t0 = time.perf_counter()
        for key in keys:
            with conn.transaction():
                conn.execute(
                    f"INSERT INTO {table}_journeys VALUES ('d', %s, 'b', %s, 1) "
                    "ON CONFLICT (definition, key) DO UPDATE SET stage = excluded.stage, "
                    "data = excluded.data, version = excluded.version",
                    (key, data),
                )
                conn.execute(
                    f"INSERT INTO {table}_history VALUES ('d', %s, 1, 't', 'a', 'b', now())",
                    (key,),
                )
        return time.perf_counter() - t0

    return run


@timed(
    "service",
    "bare_many_pg",
    unit="us/event",
    description="the set-based floor: per 100 events one transaction, one unnest statement per "
    "table (journeys upsert, history, event ids)",
)
def service_bare_many_pg(settings: Settings) -> Timer:
    """What a host writing its own persistence by hand could do at best for a batch of
    the events ``handle_many`` takes: the rows it writes (a journey row, a history row and
    an event id per event) in one transaction of one set-based statement per table, the
    arrays sent in binary (``%b``), nothing read, decided or logged."""
    import psycopg

    conn = psycopg.connect(pg_dsn(), autocommit=True)
    _OPEN.append(conn)
    table = f"floor{next(_PREFIXES)}"
    conn.execute(
        f"CREATE TABLE {table}_journeys (definition TEXT, key TEXT, stage TEXT, data JSONB, "
        "version INTEGER, PRIMARY KEY (definition, key))"
    )
    conn.execute(
        f"CREATE TABLE {table}_history (definition TEXT, key TEXT, seq INTEGER, trigger TEXT, "
        "source TEXT, dest TEXT, at TIMESTAMPTZ, PRIMARY KEY (definition, key, seq))"
    )
    conn.execute(
        f"CREATE TABLE {table}_event_ids (definition TEXT, key TEXT, event_id TEXT, "
        "seq INTEGER, PRIMARY KEY (definition, key, event_id))"
    )
    data = json.dumps({"cart": []})

    def run(loops: int) -> float:
        keys, ids = _keys(loops), fresh_event_ids(loops)
        t0 = time.perf_counter()
        for start in range(0, loops, 100):
            batch, batch_ids = keys[start : start + 100], ids[start : start + 100]
            with conn.transaction():
                conn.execute(
                    f"INSERT INTO {table}_journeys SELECT 'd', k, 'b', v::jsonb, 1 "
                    "FROM unnest(%b::text[], %b::text[]) AS u(k, v) "
                    "ON CONFLICT (definition, key) DO UPDATE SET stage = excluded.stage, "
                    "data = excluded.data, version = excluded.version",
                    (batch, [data] * len(batch)),
                )
                conn.execute(
                    f"INSERT INTO {table}_history SELECT 'd', k, 1, 't', 'a', 'b', now() "
                    "FROM unnest(%b::text[]) AS u(k)",
                    (batch,),
                )
                conn.execute(
                    f"INSERT INTO {table}_event_ids SELECT 'd', k, e, 1 "
                    "FROM unnest(%b::text[], %b::text[]) AS u(k, e)",
                    (batch, batch_ids),
                )
        return time.perf_counter() - t0

    return run


def _drain_pg(workers: int) -> Timer:
    machine = journeyfsm_machine()
    delivered: list[str] = []
    machine.effect(
        lambda call: delivered.append(call.idempotency_key), on_enter="interest", name="note"
    )
    store = _pg_store()
    service = JourneyService(machine, store)
    pool = [OutboxWorker(machine, store, name=f"bench-{i}") for i in range(workers)]

    def run(loops: int) -> float:
        # the rows to deliver, committed by moves into "interest": not timed
        service.handle_many([Event(key, FIRST) for key in _keys(loops)])
        delivered.clear()

        def drain(worker: OutboxWorker) -> None:
            while worker.run_once(50):
                pass

        threads = [threading.Thread(target=drain, args=(w,)) for w in pool]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - t0
        assert len(delivered) >= loops, (len(delivered), loops)
        return elapsed

    return run


@timed(
    "outbox",
    "drain_pg_1",
    unit="us/effect",
    description="outbox drain on PostgreSQL, 1 worker (claim SKIP LOCKED, run, mark done)",
)
def outbox_drain_pg_1(settings: Settings) -> Timer:
    return _drain_pg(1)


@timed(
    "outbox",
    "drain_pg_2",
    unit="us/effect",
    description="the same with 2 workers (threads) sharing the rows",
)
def outbox_drain_pg_2(settings: Settings) -> Timer:
    return _drain_pg(2)
