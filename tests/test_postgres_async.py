"""What only AsyncPostgresStore can get wrong: many tasks over a pool racing on few
journeys, a task cancelled while its statement waits for a lock, a host's AsyncConnection
and its transaction, the tables PostgresStore shares with it, and what it is handed.

The behaviours both drivers share run in test_service.py & co. on both (``make_service``,
whose async x PostgreSQL case is AsyncPostgresStore).  Plain ``asyncio.run`` drives these
tests, every wait bounded by ``asyncio.wait_for``.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest
from conftest import START
from psycopg_pool import AsyncConnectionPool
from service_support import assert_consistent, pg_dsn, shop_machine, store_factory

from journeyfsm import AsyncJourneyService, Context, JourneyService, ManualClock, StoreError
from journeyfsm.stores import AsyncPostgresStore, PostgresStore

WAIT = 30  # seconds: the bound of every wait in these tests


@pytest.fixture
def pg(tmp_path: Path) -> Iterator[PostgresStore]:
    """A sync store on fresh tables (its prefix and schema name the tables of the test)."""
    factory, close = store_factory("postgres", tmp_path)
    store = factory()
    assert isinstance(store, PostgresStore)
    yield store
    close()


@asynccontextmanager
async def twin(sync: PostgresStore, **options: Any) -> AsyncIterator[AsyncPostgresStore]:
    store = AsyncPostgresStore(pg_dsn(), schema=sync.schema, prefix=sync.prefix, **options)
    async with store:
        yield store


def reader(sync: PostgresStore) -> JourneyService:
    return JourneyService(shop_machine(ManualClock(START)), sync)


def test_200_tasks_on_50_journeys_over_10_connections_move_each_event_once(
    pg: PostgresStore,
) -> None:
    keys = [f"c-{i}" for i in range(50)]
    events = [(key, n) for n in range(4) for key in keys]  # 200 events, 4 per journey

    async def main() -> tuple[list[Any], int]:
        async with twin(pg, min_size=10, max_size=10) as store:
            service = AsyncJourneyService(
                shop_machine(ManualClock(START)), store, max_attempts=100, backoff=0.001
            )
            first = [
                service.handle(key, "add_to_cart", {"sku": f"s{n}"}, event_id=f"{key}/{n}")
                for key, n in events
            ]
            outcomes = await asyncio.wait_for(asyncio.gather(*first), WAIT)
            # every event again, concurrently: each a duplicate, nothing written twice
            again = [
                service.handle(key, "add_to_cart", {"sku": f"s{n}"}, event_id=f"{key}/{n}")
                for key, n in events
            ]
            duplicates = await asyncio.wait_for(asyncio.gather(*again), WAIT)
            assert [o.status for o in duplicates] == ["duplicate"] * 200
            assert store._pool is not None
            return outcomes, store._pool.get_stats()["pool_size"]

    outcomes, size = asyncio.run(main())
    assert [o.status for o in outcomes] == ["moved"] * 200
    assert size <= 10
    service = reader(pg)
    assert assert_consistent(service, keys) == 200  # versions contiguous, no id twice
    for key in keys:
        history = service.history(key)
        assert sorted(e.event_id or "" for e in history) == [f"{key}/{n}" for n in range(4)]
        assert [e.seq for e in history] == [1, 2, 3, 4]
        journey = service.get(key)
        assert journey is not None and sorted(journey.data["cart"]) == [f"s{n}" for n in range(4)]


def test_a_handle_cancelled_while_its_write_waits_for_a_lock_writes_nothing(
    pg: PostgresStore,
) -> None:
    journeys = f'"{pg.schema}"."{pg.prefix}journeys"'
    reader(pg).handle("c-1", "add_to_cart", {"sku": "a"}, event_id="e-1")
    before = reader(pg).history("c-1")

    async def main() -> None:
        async with twin(pg, min_size=1, max_size=2) as store:
            service = AsyncJourneyService(shop_machine(ManualClock(START)), store)
            connected = await psycopg.AsyncConnection.connect(pg_dsn())
            async with connected as locker, locker.transaction():
                await locker.execute(f"SELECT 1 FROM {journeys} WHERE key = 'c-1' FOR UPDATE")
                pid = locker.info.backend_pid
                task = asyncio.create_task(
                    service.handle("c-1", "add_to_cart", {"sku": "b"}, event_id="e-2")
                )
                await asyncio.wait_for(blocked_by(locker, pid), WAIT)
                task.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await asyncio.wait_for(task, WAIT)
            # the lock released: nothing of the move was written, the pool's connections
            # are usable
            assert reader(pg).history("c-1") == before
            assert reader(pg).get("c-1").version == 1  # type: ignore[union-attr]
            assert store._pool is not None
            stats = store._pool.get_stats()
            assert stats.get("requests_waiting", 0) == 0
            outcomes = await asyncio.wait_for(
                asyncio.gather(
                    *(service.handle(f"k-{i}", "add_to_cart", event_id=f"k/{i}") for i in range(6))
                ),
                WAIT,
            )
            assert [o.status for o in outcomes] == ["moved"] * 6
            again = await asyncio.wait_for(
                service.handle("c-1", "add_to_cart", {"sku": "b"}, event_id="e-2"), WAIT
            )
            assert again.status == "moved" and again.entry is not None and again.entry.seq == 2

    asyncio.run(main())
    after = reader(pg).history("c-1")
    assert after[:1] == before and [e.event_id for e in after] == ["e-1", "e-2"]
    assert assert_consistent(reader(pg), ["c-1"] + [f"k-{i}" for i in range(6)]) == 8


async def blocked_by(locker: psycopg.AsyncConnection[Any], pid: int) -> None:
    """Returns once a statement of another backend waits for a lock ``pid`` holds."""
    while True:
        cur = await locker.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE %s = ANY(pg_blocking_pids(pid))",
            (pid,),
        )
        row = await cur.fetchone()
        if row is not None and row[0] > 0:
            return
        await asyncio.sleep(0.01)


def test_the_journey_commits_and_rolls_back_with_the_hosts_own_writes(pg: PostgresStore) -> None:
    table = f'"{pg.schema}"."{pg.prefix}orders"'

    async def main() -> tuple[list[Any], Any]:
        async with await psycopg.AsyncConnection.connect(pg_dsn()) as conn:
            await conn.execute(f"CREATE TABLE {table} (id text PRIMARY KEY)")
            await conn.commit()
            store = await AsyncPostgresStore(
                connection=conn, schema=pg.schema, prefix=pg.prefix
            ).open()
            service = AsyncJourneyService(shop_machine(ManualClock(START)), store)
            async with conn.transaction():  # committed: the order and the move
                await conn.execute(f"INSERT INTO {table} VALUES ('o-1')")
                await service.handle("c-1", "add_to_cart", event_id="e-1")
            with pytest.raises(RuntimeError, match="payment declined"):
                async with conn.transaction():  # rolled back: both
                    await conn.execute(f"INSERT INTO {table} VALUES ('o-2')")
                    await service.handle("c-2", "add_to_cart", event_id="e-2")
                    raise RuntimeError("payment declined")
            # a non-autocommit connection without a transaction: the store's write begins
            # the host's, and the host commits it (or rolls it back) with its own rows
            await conn.execute(f"INSERT INTO {table} VALUES ('o-3')")
            await service.handle("c-3", "add_to_cart", event_id="e-3")
            await conn.rollback()
            await service.handle("c-4", "add_to_cart", event_id="e-4")
            await conn.execute(f"INSERT INTO {table} VALUES ('o-4')")
            await conn.commit()
            cur = await conn.execute(f"SELECT id FROM {table} ORDER BY id")
            orders = [r[0] for r in await cur.fetchall()]
            await conn.execute(f"DROP TABLE {table}")
            await conn.commit()
            await store.close()
            assert not conn.closed  # the host's connection is left open
            return orders, None

    orders, _ = asyncio.run(main())
    assert orders == ["o-1", "o-4"]
    service = reader(pg)
    assert [k for k in ("c-1", "c-2", "c-3", "c-4") if service.get(k) is not None] == [
        "c-1",
        "c-4",
    ]


def test_tables_written_by_the_sync_store_are_read_and_moved_by_the_async_one(
    pg: PostgresStore,
) -> None:
    sync = reader(pg)
    sync.handle("c-1", "add_to_cart", {"sku": "a"}, event_id="e-1")

    async def main() -> tuple[Any, Any, Any]:
        async with twin(pg) as store:
            service = AsyncJourneyService(shop_machine(ManualClock(START)), store)
            seen = await service.get("c-1")
            duplicate = await service.handle("c-1", "add_to_cart", event_id="e-1")
            moved = await service.handle("c-1", "add_to_cart", {"sku": "b"}, event_id="e-2")
            return seen, duplicate, moved

    seen, duplicate, moved = asyncio.run(main())
    assert seen is not None and seen.data["cart"] == ["a"] and seen.version == 1
    assert (duplicate.status, duplicate.seq) == ("duplicate", 1)
    assert moved.status == "moved" and moved.entry is not None and moved.entry.seq == 2
    journey = sync.get("c-1")  # and back: the sync store reads what the async one wrote
    assert journey is not None and journey.data["cart"] == ["a", "b"]
    assert [e.event_id for e in sync.history("c-1")] == ["e-1", "e-2"]
    assert sync.handle("c-1", "add_to_cart", event_id="e-2").status == "duplicate"
    assert assert_consistent(sync, ["c-1"]) == 2


def test_what_an_async_postgres_store_is_handed_is_checked_where_it_enters(
    pg: PostgresStore,
) -> None:
    with psycopg.connect(pg_dsn()) as conn, pytest.raises(TypeError) as caught:
        AsyncPostgresStore(connection=conn)  # type: ignore[arg-type]
    message = str(caught.value)
    assert "psycopg.AsyncConnection" in message and "PostgresStore" in message
    assert "AsyncConnection.connect" in message
    pool: Any = AsyncConnectionPool(pg_dsn(), open=False)
    with pytest.raises(TypeError, match=r"psycopg\.AsyncConnection"):
        AsyncPostgresStore(connection=pool)
    with pytest.raises(TypeError, match="exactly one"):
        AsyncPostgresStore()
    with pytest.raises(TypeError, match="DSN string"):
        AsyncPostgresStore(42)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        AsyncPostgresStore(pg_dsn(), prefix="bad prefix;")

    async def unopened() -> None:
        store = AsyncPostgresStore(pg_dsn(), schema=pg.schema, prefix=pg.prefix)
        service = AsyncJourneyService(shop_machine(ManualClock(START)), store)
        with pytest.raises(StoreError, match=r"not open: `await store.open\(\)`"):
            await service.handle("c-1", "add_to_cart")
        await store.open()
        await store.open()  # opening an open store does nothing
        assert (await service.handle("c-1", "add_to_cart")).status == "moved"
        await store.close()
        with pytest.raises(StoreError, match="not open"):
            await service.get("c-1")

    asyncio.run(unopened())


def test_each_store_refuses_the_other_s_connection_naming_the_fix() -> None:
    async def main() -> str:
        async with await psycopg.AsyncConnection.connect(pg_dsn()) as conn:
            with pytest.raises(TypeError) as caught:
                PostgresStore(connection=conn)  # type: ignore[arg-type]
            return str(caught.value)

    message = asyncio.run(main())
    assert "psycopg.Connection" in message and "psycopg.connect(dsn)" in message
    assert "to AsyncPostgresStore" in message
    with pytest.raises(TypeError, match="PostgresStore takes a DSN string"):
        PostgresStore(b"postgresql://x")  # type: ignore[arg-type]


def test_a_wrong_dsn_or_a_missing_schema_fails_at_open_without_the_password() -> None:
    async def wrong() -> None:
        store = AsyncPostgresStore(
            "postgresql://app:s3cret-pw@127.0.0.1:1/shop?connect_timeout=1", connect_timeout=1
        )
        await asyncio.wait_for(store.open(), WAIT)

    with pytest.raises(StoreError, match="cannot connect to PostgreSQL") as caught:
        asyncio.run(wrong())
    assert "s3cret" not in str(caught.value) and "\n" not in str(caught.value)

    async def missing() -> None:
        prefix = f"none{uuid.uuid4().hex[:8]}_"
        await asyncio.wait_for(AsyncPostgresStore(pg_dsn(), prefix=prefix).open(), WAIT)

    with pytest.raises(StoreError, match=r"no journeyfsm schema.*create_schema=True"):
        asyncio.run(missing())


def test_importing_the_stores_leaves_psycopg_alone_and_a_missing_psycopg_names_the_extra() -> None:
    code = (
        "import sys\n"
        "import journeyfsm.stores as stores\n"
        "assert not [m for m in sys.modules if m.startswith('psycopg')], 'psycopg imported'\n"
        "sys.modules['psycopg'] = None\n"
        "try:\n"
        "    stores.AsyncPostgresStore\n"
        "except ImportError as err:\n"
        "    print(err)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert "AsyncPostgresStore needs psycopg 3" in done.stdout
    assert "journeyfsm[postgres]" in done.stdout


class _Takes:
    """Counts a pool's takes (``getconn``) and the backend each was served by."""

    def __init__(self, pool: Any) -> None:
        self.backends: list[int] = []
        take = pool.getconn

        async def counted(*args: Any, **kwargs: Any) -> Any:
            conn = await take(*args, **kwargs)
            self.backends.append(conn.info.backend_pid)
            return conn

        pool.getconn = counted


def test_a_handle_takes_one_pool_connection_and_one_at_a_time_reuse_the_one_returned_last(
    pg: PostgresStore,
) -> None:
    """Read and write of a handle run on ONE connection taken from the pool (they took
    one each before), and the pool hands back the connection returned last: one task
    over a pool of 4 stays on one warm backend instead of visiting all four in turn."""

    async def main() -> tuple[list[str], list[int], int]:
        async with twin(pg, min_size=4, max_size=4) as store:
            assert store._pool is not None
            takes = _Takes(store._pool)
            service = AsyncJourneyService(shop_machine(ManualClock(START)), store)
            statuses = []
            for n in (0, 1, 2, 3, 4, 5, 0, 5):  # six moves, then two duplicates
                key, event_id = f"c-{n % 4}", f"e-{n}"
                statuses.append(
                    (await service.handle(key, "add_to_cart", event_id=event_id)).status
                )
            statuses.append((await service.handle("c-0", "pay")).status)  # not from "cart"
            stats = store._pool.get_stats()
            return statuses, takes.backends, stats["pool_available"]

    statuses, backends, available = asyncio.run(main())
    assert statuses == ["moved"] * 6 + ["duplicate"] * 2 + ["ignored"]
    assert len(backends) == 9  # one take per handle: read, decide and write on it
    assert len(set(backends)) == 1  # always the one returned last
    assert available == 4  # every connection is back, none left pinned
    assert assert_consistent(reader(pg), [f"c-{n}" for n in range(4)]) == 6


def test_the_sync_store_also_takes_one_connection_per_handle_and_reuses_the_last(
    pg: PostgresStore,
) -> None:
    store = PostgresStore(pg_dsn(), schema=pg.schema, prefix=pg.prefix, min_size=3, max_size=3)
    try:
        assert store._pool is not None
        store._pool.wait(timeout=WAIT)
        backends: list[int] = []
        take = store._pool.getconn

        def counted(*args: Any, **kwargs: Any) -> Any:
            conn = take(*args, **kwargs)
            backends.append(conn.info.backend_pid)
            return conn

        store._pool.getconn = counted  # type: ignore[method-assign]
        service = JourneyService(shop_machine(ManualClock(START)), store)
        outcomes = [service.handle(f"c-{n}", "add_to_cart", event_id=f"e-{n}") for n in range(6)]
        assert [o.status for o in outcomes] == ["moved"] * 6
        assert len(backends) == 6 and len(set(backends)) == 1
        assert store._pool.get_stats()["pool_available"] == 3
    finally:
        store.close()


def test_a_conflicted_handle_returns_its_connection_before_it_sleeps_and_retries(
    pg: PostgresStore,
) -> None:
    """Each attempt of a handle takes its own connection and returns it before the
    backoff: a connection pinned through the sleep would serve no other task."""
    other = reader(pg)  # another process, as it were: its own pool
    other.handle("c-1", "add_to_cart", {"sku": "a"}, event_id="e-1")
    machine = shop_machine(ManualClock(START))
    raced: list[int] = []

    @machine.on_transition("add_to_cart")
    def race(ctx: Context) -> None:
        if not raced:  # the first attempt only: the other writer moves the journey first
            raced.append(1)
            other.handle("c-1", "add_to_cart", {"sku": "b"}, event_id="e-2")

    async def main() -> tuple[str, list[int]]:
        async with twin(pg, min_size=2, max_size=2) as store:
            assert store._pool is not None
            pool = store._pool
            service = AsyncJourneyService(machine, store, backoff=0.001)
            available: list[int] = []
            sleep = service._sleep

            async def noted(attempt: int) -> None:
                available.append(pool.get_stats()["pool_available"])
                await sleep(attempt)

            service._sleep = noted  # type: ignore[method-assign]
            outcome = await asyncio.wait_for(
                service.handle("c-1", "add_to_cart", {"sku": "c"}, event_id="e-3"), WAIT
            )
            return outcome.status, available

    status, available = asyncio.run(main())
    assert status == "moved" and available == [2]  # one conflict, both connections back
    journey = other.get("c-1")
    assert journey is not None and journey.data["cart"] == ["a", "b", "c"]
    assert assert_consistent(other, ["c-1"]) == 3


def test_no_connection_is_held_while_an_async_hook_awaits(pg: PostgresStore) -> None:
    """An AsyncJourneyMachine's async hooks may wait on anything (an HTTP call): the
    handle holds no pool connection meanwhile, so with a pool of ONE the hook itself can
    still read through the same store."""
    from journeyfsm import AsyncJourneyMachine

    machine = AsyncJourneyMachine(shop_machine(ManualClock(START)).definition)
    seen: list[object] = []

    async def main() -> str:
        async with twin(pg, min_size=1, max_size=1) as store:
            service = AsyncJourneyService(machine, store)

            @machine.on_transition("add_to_cart")
            async def look(ctx: Context) -> None:
                found = await asyncio.wait_for(service.get("c-0"), WAIT)
                seen.append(None if found is None else found.stage)

            await service.handle("c-0", "add_to_cart", event_id="e-0")
            outcome = await asyncio.wait_for(
                service.handle("c-1", "add_to_cart", event_id="e-1"), WAIT
            )
            return outcome.status

    assert asyncio.run(main()) == "moved"
    assert seen == [None, "cart"]
