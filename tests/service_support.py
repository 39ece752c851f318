"""What the service, store and outbox tests share: the stores they run against, a shop
machine with a move counter and effects, and the invariants every stored journey keeps.

The behavioural suite is parametrized over ``STORES``: each test runs on every store; the
tests that take ``make_service`` also run on both drivers (``DRIVERS``): ``JourneyService``
and ``AsyncJourneyService``, the latter driven from the sync test by ``AsyncDriven``, over
the test's ``JourneyMachine`` and (``async-machine``) over an ``AsyncJourneyMachine`` with
the same definition whose hooks are async wrappers of the test's (``async_machine_of``).
"""

from __future__ import annotations

import asyncio
import atexit
import functools
import importlib.util
import json
import os
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import checkout_builder, quiet_logger

from journeyfsm import (
    AsyncJourneyMachine,
    AsyncJourneyService,
    Context,
    EffectCall,
    JourneyMachine,
    JourneyService,
    ManualClock,
)
from journeyfsm.stores import AsyncMemoryStore, AsyncSQLiteStore, MemoryStore, SQLiteStore, Store

STORES = ["memory", "sqlite", "postgres"]
DRIVERS = ["sync", "async", "async-machine"]

StoreFactory = Callable[[], Store]

_PG: dict[str, Any] = {}


ROOT = Path(__file__).resolve().parent.parent

# Runs in a helper process: starts a throw-away server, prints its URI, and removes it
# when its stdin closes (the test process ended, however it ended).
_SERVE = """
import sys, tempfile, warnings
warnings.simplefilter("ignore")  # platformdirs warns when XDG_RUNTIME_DIR is unset
import pgserver
server = pgserver.get_server(tempfile.mkdtemp(prefix="journeyfsm-pg-"), cleanup_mode="delete")
print(server.get_uri(), flush=True)
sys.stdin.read()
server.cleanup()
"""


#: every table of a store's schema (a test's PostgreSQL tables go with its prefix)
TABLES = ("journeys", "history", "event_ids", "outbox", "deliveries", "schema_version")


def drop_tables(conn: Any, prefix: str) -> None:
    """Drop the tables of the store with ``prefix`` on ``conn`` (a test's cleanup)."""
    for table in TABLES:
        conn.execute(f'DROP TABLE IF EXISTS "{prefix}{table}"')


def pg_dsn() -> str:
    """The PostgreSQL server of the tests: ``JOURNEYFSM_PG_DSN``, else one started from
    the ``pgserver`` package for this test process (by this interpreter, or by the main
    venv's where pgserver has no wheel, as for CPython 3.13).  No server: the tests fail,
    saying why; they are never skipped.
    """
    dsn = os.environ.get("JOURNEYFSM_PG_DSN")
    if dsn:
        return dsn
    if "dsn" not in _PG:
        python = sys.executable
        if importlib.util.find_spec("pgserver") is None:
            python = str(ROOT / ".venv" / "bin" / "python")
        helper = subprocess.Popen(
            [python, "-c", _SERVE],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert helper.stdin is not None and helper.stdout is not None
        uri = helper.stdout.readline().strip()
        if not uri:
            helper.stdin.close()
            error = helper.stderr.read() if helper.stderr else ""
            raise RuntimeError(
                "the PostgreSQL tests need a server: set JOURNEYFSM_PG_DSN, or install "
                f"pgserver (`make test` does, with the dev extra); starting one with {python} "
                f"failed: {error.strip()[-500:]}"
            )
        _PG["helper"] = helper
        _PG["dsn"] = uri

        def stop() -> None:
            helper.stdin.close()  # type: ignore[union-attr]
            helper.wait(60)

        atexit.register(stop)
    return str(_PG["dsn"])


def store_factory(kind: str, tmp_path: Path) -> tuple[StoreFactory, Callable[[], None]]:
    """A function that opens the store of ``kind`` (again: another handle on one
    database), and one that closes what it opened."""
    if kind == "memory":
        shared = MemoryStore()
        return (lambda: shared), (lambda: None)
    if kind == "sqlite":
        path = tmp_path / "journeys.db"
        SQLiteStore(path, create_schema=True)
        return (lambda: SQLiteStore(path)), (lambda: None)
    from journeyfsm.stores import PostgresStore

    dsn, prefix = pg_dsn(), f"t{uuid.uuid4().hex[:12]}_"
    opened = [PostgresStore(dsn, prefix=prefix, create_schema=True, max_size=4)]

    def open_pg() -> Store:
        opened.append(PostgresStore(dsn, prefix=prefix, max_size=4))
        return opened[-1]

    def close() -> None:
        with opened[0].transaction() as tx:
            drop_tables(tx.conn, prefix)
        for store in opened:
            store.close()

    return open_pg, close


@pytest.fixture(params=STORES)
def open_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreFactory]:
    """Opens the store under test (twice: two handles on one database)."""
    factory, close = store_factory(request.param, tmp_path)
    yield factory
    close()


@pytest.fixture(params=STORES)
def two_stores(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Store, Store]]:
    """Two separate databases of the kind under test (to compare two ways of writing)."""
    closes = []
    stores = []
    for name in ("one", "two"):
        (tmp_path / name).mkdir()
        factory, close = store_factory(request.param, tmp_path / name)
        stores.append(factory())
        closes.append(close)
    yield stores[0], stores[1]
    for close in closes:
        close()


@pytest.fixture
def store(open_store: StoreFactory) -> Store:
    """The store under test."""
    return open_store()


@pytest.fixture(params=["sqlite", "postgres"])
def process_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, Store]]:
    """A database worker processes share: (its spec for service_process.py, a store)."""
    factory, close = store_factory(request.param, tmp_path)
    store = factory()
    if isinstance(store, SQLiteStore):
        yield str(store.path), store
    else:
        yield f"pg:{store.prefix}:{pg_dsn()}", store
    close()


def shop_machine(
    clock: ManualClock | None = None, delivered: list[str] | None = None
) -> JourneyMachine:
    """The checkout machine with: a ``moves`` counter bumped by an after hook on every
    move, ``add_to_cart`` putting ``payload['sku']`` in ``data['cart']``, and two
    effects (``track`` on add_to_cart, ``thank_you`` on entering ``paid``) that append
    their idempotency key to ``delivered``."""
    machine = JourneyMachine(checkout_builder().build(), clock=clock, logger=quiet_logger())
    sink = delivered if delivered is not None else []

    @machine.after
    def count(ctx: Context) -> None:
        ctx.journey.data["moves"] = ctx.journey.data.get("moves", 0) + 1

    @machine.on_transition("add_to_cart")
    def put_in_cart(ctx: Context) -> None:
        sku = ctx.payload.get("sku", "item") if isinstance(ctx.payload, dict) else "item"
        ctx.journey.data.setdefault("cart", []).append(sku)

    @machine.effect(on_transition="add_to_cart")
    def track(call: EffectCall) -> None:
        sink.append(call.idempotency_key)

    @machine.effect(on_enter="paid")
    def thank_you(call: EffectCall) -> None:
        sink.append(call.idempotency_key)

    return machine


def assert_consistent(service: JourneyService, keys: list[str]) -> int:
    """Each stored journey: version == history length == data['moves'], the history a
    chain of the definition's edges from the initial stage, no event id twice.  Returns
    the total number of history rows."""
    edges = {
        (e.source, e.trigger, e.source if e.dest is None else e.dest)
        for e in service.machine.definition.edges()
    }
    total = 0
    for key in keys:
        journey = service.get(key)
        history = service.history(key, limit=10_000)
        if journey is None:
            assert history == []
            continue
        assert journey.version == len(history) == journey.data["moves"], key
        stage = service.machine.definition.initial_stage
        for i, entry in enumerate(history, 1):
            assert entry.seq == i and entry.source == stage, (key, entry)
            assert (entry.source, entry.trigger, entry.dest) in edges, (key, entry)
            stage = entry.dest
        assert stage == journey.stage
        ids = [e.event_id for e in history if e.event_id is not None]
        assert len(ids) == len(set(ids)), key
        total += len(history)
    return total


def dump_sqlite(path: Path) -> dict[str, Any]:
    """Every row of every table of a SQLite file (to show nothing else changed)."""
    conn = sqlite3.connect(path)
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return {
            t: sorted(json.dumps(r) for r in conn.execute(f'SELECT * FROM "{t}"')) for t in tables
        }
    finally:
        conn.close()


def dump_store(store: Store, definition: str, keys: list[str]) -> Any:
    """What a store holds for ``keys`` (rows, history, outbox), comparable across calls."""
    with store.transaction(write=False) as tx:
        return [
            (
                tx.load(definition, k),
                tx.history(definition, k, limit=10_000),
                tx.outbox(definition, key=k),
            )
            for k in keys
        ]


class AsyncDriven:
    """An ``AsyncJourneyService`` that sync test code calls as it calls a ``JourneyService``:
    each call runs to its end on the test's event loop.  ``store`` is the sync store the
    test looks at; the service runs on its async twin (``async_twin``)."""

    def __init__(self, service: AsyncJourneyService, store: Store, loop: asyncio.AbstractEventLoop):
        self.service, self.store, self._loop = service, store, loop
        self.machine, self.definition = service.machine, service.definition

    def _run(self, call: Coroutine[Any, Any, Any]) -> Any:
        return self._loop.run_until_complete(call)

    def handle(self, *args: Any, **kwargs: Any) -> Any:
        return self._run(self.service.handle(*args, **kwargs))

    def handle_many(self, *args: Any, **kwargs: Any) -> Any:
        return self._run(self.service.handle_many(*args, **kwargs))

    def get(self, key: str) -> Any:
        return self._run(self.service.get(key))

    def history(self, *args: Any, **kwargs: Any) -> Any:
        return self._run(self.service.history(*args, **kwargs))

    def tick(self, *args: Any, **kwargs: Any) -> Any:
        return self._run(self.service.tick(*args, **kwargs))

    def import_journeys(self, *args: Any, **kwargs: Any) -> Any:
        return self._run(self.service.import_journeys(*args, **kwargs))

    def purge_event_ids(self, *args: Any, **kwargs: Any) -> Any:
        return self._run(self.service.purge_event_ids(*args, **kwargs))

    def migrate(self, *args: Any, **kwargs: Any) -> Any:
        return self._run(self.service.migrate(*args, **kwargs))

    def journeys(self, *args: Any, **kwargs: Any) -> Iterator[Any]:
        async def every() -> list[Any]:
            return [j async for j in self.service.journeys(*args, **kwargs)]

        return iter(self._run(every()))


def async_twin(store: Store) -> Any:
    """The async store on the database of ``store``: the same MemoryStore's data, the same
    SQLite file, the same PostgreSQL tables (an ``AsyncPostgresStore``, not yet open)."""
    if isinstance(store, MemoryStore):
        return AsyncMemoryStore(store)
    if isinstance(store, SQLiteStore):
        assert store.path is not None, "a host connection has no async twin"
        return AsyncSQLiteStore(store.path, prefix=store.prefix)
    from journeyfsm.stores import AsyncPostgresStore, PostgresStore

    assert isinstance(store, PostgresStore) and store._host is None, store
    return AsyncPostgresStore(pg_dsn(), schema=store.schema, prefix=store.prefix, max_size=4)


def async_machine_of(machine: JourneyMachine) -> AsyncJourneyMachine:
    """An AsyncJourneyMachine of ``machine``'s definition, clock and logger, with each of
    its hooks (registered so far) as an ``async def`` that awaits the loop once and calls
    it, and its effects: every move of the service then runs in the machine's hand-off."""
    out = AsyncJourneyMachine(
        machine.definition,
        clock=machine.clock,
        logger=machine.logger._source,
        event_id_window=machine.event_id_window,
        allow_version=machine.allowed_versions,
    )
    for kind, table in machine._hook_tables():
        for name, hooks in table.items():
            for hook in hooks:
                out._register(kind, name, _awaiting(hook))
    for eff in machine._hooks.effects.values():
        out.effect(eff.fn, on_enter=eff.on_enter, on_transition=eff.on_transition, name=eff.name)
    return out


def _awaiting(hook: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(hook)
    async def awaiting(*args: Any) -> Any:
        await asyncio.sleep(0)
        return hook(*args)

    del awaiting.__wrapped__  # an async function, not the sync one it wraps
    return awaiting


ServiceFactory = Callable[..., JourneyService]


@pytest.fixture(params=DRIVERS)
def make_service(request: pytest.FixtureRequest) -> Iterator[ServiceFactory]:
    """``make_service(machine, store, **options)``: a ``JourneyService``, or an
    ``AsyncJourneyService`` on the async twin of ``store`` (``AsyncDriven``)."""
    if request.param == "sync":
        yield JourneyService
        return
    loop = asyncio.new_event_loop()
    opened: list[Any] = []

    def make(machine: JourneyMachine, store: Store, **options: Any) -> JourneyService:
        twin = async_twin(store)
        opened.append(twin)
        if hasattr(twin, "open"):  # AsyncPostgresStore
            loop.run_until_complete(twin.open())
        driver: Any = async_machine_of(machine) if request.param == "async-machine" else machine
        if request.param == "async-machine" and "versions" in options:
            options["versions"] = [async_machine_of(m) for m in options["versions"]]
        driven = AsyncDriven(AsyncJourneyService(driver, twin, **options), store, loop)
        return driven  # type: ignore[return-value]

    yield make
    for twin in opened:
        if hasattr(twin, "close"):  # AsyncSQLiteStore, AsyncPostgresStore
            loop.run_until_complete(twin.close())
    loop.close()
