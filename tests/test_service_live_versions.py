"""Live versions in the service: pinned journeys decided by their version's machine,
new ones started on the newest, ``on_old_version="migrate"`` and ``service.migrate``
(every store, every driver)."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import closing
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import START, quiet_logger
from service_support import ServiceFactory, make_service, open_store, store, store_factory

from journeyfsm import (
    JourneyBuilder,
    JourneyDefinition,
    JourneyMachine,
    JourneyService,
    ManualClock,
    Migration,
    StoreError,
)
from journeyfsm.stores import SQLiteStore, Store

__all__ = ["make_service", "open_store", "store"]  # fixtures, imported to be found


def v1() -> JourneyDefinition:
    return (
        JourneyBuilder("shop", version=1)
        .stage("browse", initial=True)
        .stage("cart")
        .stage("paid", final=True)
        .stage("abandoned", final=True)
        .transition("add", "browse", "cart")
        .transition("pay", "cart", "paid")
        .transition("abandon", "cart", "abandoned")
        .timeout("cart", timedelta(hours=1), "abandon")
        .build()
    )


def v2() -> JourneyDefinition:
    return (
        JourneyBuilder("shop", version=2)
        .stage("browse", initial=True)
        .stage("basket")
        .stage("checkout")
        .stage("paid", final=True)
        .stage("abandoned", final=True)
        .transition("add", "browse", "basket")
        .transition("go", "basket", "checkout")
        .transition("pay", "checkout", "paid")
        .transition("abandon", ["basket", "checkout"], "abandoned")
        .timeout("basket", timedelta(hours=3), "abandon")
        .build()
    )


def machine(d: JourneyDefinition, clock: ManualClock) -> JourneyMachine:
    return JourneyMachine(d, clock=clock, logger=quiet_logger())


def migration(**options: Any) -> Migration:
    return Migration(v1(), v2(), stages={"cart": "basket"}, data=lambda d: {**d, "v": 2}, **options)


def stored_version(store: Store, key: str) -> object:
    with store.transaction(write=False) as tx:
        row = tx.load("shop", key)
    assert row is not None
    return row.definition_version


def test_pinned_journeys_are_decided_by_their_version_and_new_ones_start_on_the_newest(
    store: Store, make_service: ServiceFactory
) -> None:
    clock = ManualClock(START)
    old = make_service(machine(v1(), clock), store)
    assert old.handle("a", "add", event_id="e-1").dest == "cart"
    assert old.handle("t", "add", event_id="e-2").dest == "cart"
    service = make_service(machine(v2(), clock), store, versions=[machine(v1(), clock)])
    # 'pay' from cart exists in version 1 only: the pinned journey is decided by v1
    assert service.handle("a", "pay", event_id="e-3").dest == "paid"
    assert stored_version(store, "a") == 1
    assert service.handle("b", "add", event_id="e-4").dest == "basket"
    assert stored_version(store, "b") == 2
    # a duplicate is recognised across versions
    assert service.handle("a", "pay", event_id="e-3").status == "duplicate"
    # timeouts: version 1's one hour fires for the pinned journey, version 2's three for b
    report = service.tick(START + timedelta(hours=2))
    assert [(o.key, o.dest) for o in report.outcomes] == [("t", "abandoned")]
    assert stored_version(store, "t") == 1
    journey = service.get("b")
    assert journey is not None and journey.stage == "basket"
    assert [j.key for j in service.journeys()] == ["a", "b", "t"]


def test_a_row_of_a_version_the_service_does_not_run_is_a_store_error_naming_the_fix(
    store: Store, make_service: ServiceFactory
) -> None:
    clock = ManualClock(START)
    make_service(machine(v1(), clock), store).handle("a", "add")
    v3 = JourneyBuilder("shop", version=3).stage("browse", initial=True).stage("x", final=True)
    v3 = v3.transition("add", "browse", "x").build()
    service = make_service(machine(v3, clock), store, versions=[machine(v2(), clock)])
    with pytest.raises(StoreError, match=r"written by version 1 .*live versions: 3, 2") as info:
        service.handle("a", "add")
    assert "versions=" in str(info.value) and info.value.key == "a"
    assert stored_version(store, "a") == 1  # nothing written


def test_migrate_on_read_moves_an_old_row_through_the_migration_then_decides_by_the_newest(
    store: Store, make_service: ServiceFactory
) -> None:
    clock = ManualClock(START)
    old = make_service(machine(v1(), clock), store)
    assert old.handle("a", "add", event_id="e-1").dest == "cart"
    clock.advance(timedelta(minutes=30))
    service = make_service(
        machine(v2(), clock), store, migrations=[migration()], on_old_version="migrate"
    )
    outcome = service.handle("a", "go", event_id="e-2")
    assert outcome.entry is not None and outcome.entry.seq == 3
    assert (outcome.source, outcome.dest) == ("basket", "checkout")
    history = service.history("a")
    assert [(e.seq, e.trigger, e.source, e.dest) for e in history] == [
        (1, "add", "browse", "cart"),
        (2, "journeyfsm.migrate", "cart", "basket"),
        (3, "go", "basket", "checkout"),
    ]
    assert history[1].meta == {"from_version": 1, "to_version": 2}
    journey = service.get("a")
    assert journey is not None and journey.data == {"v": 2} and journey.version == 3
    assert stored_version(store, "a") == 2
    (whole,) = list(service.journeys())
    assert [e.trigger for e in whole.history] == ["add", "journeyfsm.migrate", "go"]


def test_migrate_on_read_keeps_the_stage_clock_of_a_renamed_stage(
    store: Store, make_service: ServiceFactory
) -> None:
    clock = ManualClock(START)
    make_service(machine(v1(), clock), store).handle("a", "add")
    service = make_service(
        machine(v2(), clock), store, migrations=[migration()], on_old_version="migrate"
    )
    # version 2's three hours in basket count from when the journey entered cart
    report = service.tick(START + timedelta(hours=4))
    assert [(o.key, o.dest, o.entry.at - START) for o in report.outcomes if o.entry] == [
        ("a", "abandoned", timedelta(hours=3))
    ]
    assert [e.trigger for e in service.history("a")] == ["add", "journeyfsm.migrate", "abandon"]


def test_service_migrate_reports_then_migrates_in_batches_and_a_rerun_skips_what_moved(
    store: Store, make_service: ServiceFactory
) -> None:
    clock = ManualClock(START)
    old = make_service(machine(v1(), clock), store)
    keys = [f"k{i}" for i in range(7)]
    for key in keys:
        old.handle(key, "add", {"n": 1})
    old.handle("k6", "pay")
    old.handle("fresh", "add")
    service = make_service(
        machine(v2(), clock), store, versions=[machine(v1(), clock)], migrations=[migration()]
    )
    service.handle("new", "add")  # on version 2 already
    report = service.migrate(1, 2, batch_size=3, sample=2)
    assert report.dry_run and report.migrated == 0 and report.ok
    assert dict(report.moves) == {("cart", "basket"): 7, ("paid", "paid"): 1}
    assert (report.journeys, report.skipped, report.sampled) == (8, 1, 2)
    assert stored_version(store, "k0") == 1  # nothing written
    seen: list[int] = []
    done = service.migrate(
        1, batch_size=3, dry_run=False, progress=lambda r: seen.append(r.migrated)
    )
    assert (done.journeys, done.migrated, done.skipped, done.failed) == (8, 8, 1, ())
    assert seen[-1] == 8 and len(seen) >= 3
    for key in [*keys, "fresh"]:
        assert stored_version(store, key) == 2
        history = service.history(key)
        assert history[-1].trigger == "journeyfsm.migrate" and history[-1].seq == len(history)
        journey = service.get(key)
        assert journey is not None and journey.version == len(history)
        assert journey.data.get("v") == 2
    # k6 was paid: a final stage stays final; its history ends with the migration
    assert [e.dest for e in service.history("k6")] == ["cart", "paid", "paid"]
    again = service.migrate(1, dry_run=False)
    assert (again.journeys, again.migrated, again.skipped) == (0, 0, 9)
    # the migrated journeys are decided by version 2 now
    assert service.handle("k0", "go").dest == "checkout"


def test_service_migrate_reports_a_journey_whose_data_function_fails_and_moves_the_rest(
    store: Store, make_service: ServiceFactory
) -> None:
    clock = ManualClock(START)
    old = make_service(machine(v1(), clock), store)
    old.handle("good", "add", {"x": 1})
    old.handle("bad", "add")

    def data(d: dict[str, Any]) -> dict[str, Any]:
        if d.get("bad"):
            raise KeyError("no sku")
        return {**d, "v": 2}

    # 'bad' gets the flag through a v1 hook-free path: write its data with a v1 service
    flagged = JourneyMachine(v1(), clock=clock, logger=quiet_logger())

    @flagged.on_transition("abandon")
    def flag(ctx: Any) -> None:
        ctx.journey.data["bad"] = True

    make_service(flagged, store).handle("worse", "add")
    make_service(flagged, store).handle("worse", "abandon")
    m = Migration(v1(), v2(), stages={"cart": "basket"}, data=data)
    service = make_service(
        machine(v2(), clock), store, versions=[machine(v1(), clock)], migrations=[m]
    )
    dry = service.migrate(1)
    assert [k for k, _ in dry.failed] == ["worse"]
    assert "raised KeyError" in dry.failed[0][1]
    real = service.migrate(1, dry_run=False)
    assert real.migrated == 2 and [k for k, _ in real.failed] == ["worse"]
    assert stored_version(store, "worse") == 1 and stored_version(store, "good") == 2


def test_service_migrate_refuses_a_version_gap_and_bad_arguments(
    store: Store, make_service: ServiceFactory
) -> None:
    clock = ManualClock(START)
    service = make_service(machine(v2(), clock), store, migrations=[migration()])
    with pytest.raises(ValueError, match="no declared migration leads from version 5"):
        service.migrate(5, 2)
    with pytest.raises(ValueError, match="nothing to migrate"):
        service.migrate(2, 2)
    with pytest.raises(ValueError, match="batch_size"):
        service.migrate(1, batch_size=0)
    with pytest.raises(TypeError, match="dry_run"):
        service.migrate(1, dry_run="no")


@pytest.mark.parametrize(("point", "n", "committed"), [("in_write", 3, 6), ("after_commit", 2, 6)])
def test_a_migration_killed_mid_way_leaves_each_journey_on_one_version_and_a_rerun_finishes(
    tmp_path: Path, point: str, n: int, committed: int
) -> None:
    db = tmp_path / "journeys.db"
    clock = ManualClock(START)
    store = SQLiteStore(db, create_schema=True)
    old = JourneyService(machine(v1(), clock), store)
    keys = [f"k{i:02}" for i in range(20)]
    for key in keys:
        old.handle(key, "add", {"n": 1})
    script = Path(__file__).parent / "migrate_process.py"
    run = [sys.executable, str(script), str(db), "3"]
    killed = subprocess.run([*run, point, str(n)], capture_output=True, text=True, timeout=120)
    assert killed.returncode == -signal.SIGKILL, killed.stderr

    def versions() -> dict[str, object]:
        out = {}
        for key in keys:
            version = stored_version(store, key)
            with store.transaction(write=False) as tx:
                row = tx.load("shop", key)
                entries = tx.history("shop", key, limit=100)
            assert row is not None and row.version == len(entries)
            migrates = [e for e in entries if e.trigger == "journeyfsm.migrate"]
            assert len(migrates) == (1 if version == 2 else 0), (key, entries)
            out[key] = version
        return out

    after_kill = versions()
    assert sorted(after_kill.values()).count(2) == committed
    done = subprocess.run(run, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert f"done: {20 - committed} migrated, {committed} skipped" in done.stdout
    assert set(versions().values()) == {2}


# -- schema 3: the definition version of each history entry -------------------------------
def history_versions(store: Store, key: str) -> list[object]:
    """``history.definition_version`` of journey ``key``'s entries, by seq, as stored."""
    if isinstance(store, SQLiteStore):
        with store.transaction(write=False) as tx:
            rows = tx.conn.execute(
                f'SELECT definition_version FROM "{store.prefix}history" WHERE key = ? '
                "ORDER BY seq",
                (key,),
            ).fetchall()
        return [None if v is None else json.loads(v) for (v,) in rows]
    with store.transaction(write=False) as tx:
        rows = tx.conn.execute(  # type: ignore[attr-defined]
            f'SELECT definition_version FROM "{store.prefix}history" WHERE key = %s '  # type: ignore[attr-defined]
            "ORDER BY seq",
            (key,),
        ).fetchall()
    return [v for (v,) in rows]


@pytest.fixture(params=["sqlite", "postgres"])
def sql_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """A store with tables (the memory store keeps no history columns)."""
    factory, close = store_factory(request.param, tmp_path)
    yield factory()
    close()


def test_each_history_entry_records_the_version_that_decided_it(
    sql_store: Store, make_service: ServiceFactory
) -> None:
    store = sql_store
    clock = ManualClock(START)
    make_service(machine(v1(), clock), store).handle("a", "add")
    service = make_service(
        machine(v2(), clock), store, migrations=[migration()], on_old_version="migrate"
    )
    service.handle("a", "go")
    service.handle("b", "add")
    assert history_versions(store, "a") == [1, 2, 2]
    assert history_versions(store, "b") == [2]


def test_a_schema_2_sqlite_file_is_upgraded_by_create_schema(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    store = SQLiteStore(path, create_schema=True)
    JourneyService(machine(v1(), ManualClock(START)), store).handle("a", "add")
    with closing(sqlite3.connect(path)) as conn, conn:  # back to schema 2
        conn.execute('ALTER TABLE "journeyfsm_history" DROP COLUMN definition_version')
        conn.execute('UPDATE "journeyfsm_schema_version" SET version = 2')
    with pytest.raises(StoreError, match=r"schema version 2, this journeyfsm needs 5.*migrates"):
        SQLiteStore(path)
    upgraded = SQLiteStore(path, create_schema=True)
    service = JourneyService(machine(v1(), ManualClock(START)), upgraded)
    service.handle("a", "pay")
    assert history_versions(upgraded, "a") == [None, 1]  # NULL: written before schema 3
    assert [e.dest for e in service.history("a")] == ["cart", "paid"]
    SQLiteStore(path, create_schema=True)  # idempotent
    with closing(sqlite3.connect(path)) as conn:
        assert conn.execute('SELECT version FROM "journeyfsm_schema_version"').fetchall() == [(5,)]


def test_a_schema_2_postgres_database_is_upgraded_by_create_schema(tmp_path: Path) -> None:
    from service_support import pg_dsn

    from journeyfsm.stores import PostgresStore

    factory, close = store_factory("postgres", tmp_path)
    store = factory()
    prefix = store.prefix  # type: ignore[attr-defined]
    try:
        JourneyService(machine(v1(), ManualClock(START)), store).handle("a", "add")
        with store.transaction() as tx:
            tx.conn.execute(f'ALTER TABLE "{prefix}history" DROP COLUMN definition_version')  # type: ignore[attr-defined]
            tx.conn.execute(f'UPDATE "{prefix}schema_version" SET version = 2')  # type: ignore[attr-defined]
        with pytest.raises(StoreError, match=r"version 2, this journeyfsm needs 5"):
            PostgresStore(pg_dsn(), prefix=prefix)
        upgraded = PostgresStore(pg_dsn(), prefix=prefix, create_schema=True)
        try:
            JourneyService(machine(v1(), ManualClock(START)), upgraded).handle("a", "pay")
            assert history_versions(upgraded, "a") == [None, 1]
        finally:
            upgraded.close()
    finally:
        close()


@pytest.mark.parametrize("max_attempts", [10, 1])
def test_service_migrate_never_overwrites_a_row_live_traffic_moved_meanwhile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, max_attempts: int
) -> None:
    """PostgreSQL (read committed): a live event commits between the batch's read and its
    write; the write's version check fails, and the batch is read and migrated again (or,
    out of attempts, reported), the live move kept."""
    from journeyfsm.stores._postgres_rows import PostgresTransaction

    factory, close = store_factory("postgres", tmp_path)
    try:
        store = factory()
        clock = ManualClock(START)
        live = JourneyService(machine(v1(), clock), factory())
        for key in ("k0", "k1", "k2"):
            live.handle(key, "add")
        read = PostgresTransaction.journeys_page
        raced: list[str] = []

        def racing_page(self: Any, *args: Any, **kwargs: Any) -> Any:
            rows = read(self, *args, **kwargs)
            if not raced:  # the first read only: a customer pays meanwhile
                raced.append("k1")
                assert live.handle("k1", "pay").dest == "paid"
            return rows

        monkeypatch.setattr(PostgresTransaction, "journeys_page", racing_page)
        service = JourneyService(
            machine(v2(), clock),
            store,
            versions=[machine(v1(), clock)],
            migrations=[migration()],
            max_attempts=max_attempts,
        )
        report = service.migrate(1, dry_run=False)
        history = [(e.trigger, e.dest) for e in service.history("k1")]
        if max_attempts == 1:
            assert report.migrated == 0 and [k for k, _ in report.failed] == ["k0", "k1", "k2"]
            assert all("live traffic" in reason for _, reason in report.failed)
            assert history == [("add", "cart"), ("pay", "paid")]
            assert {stored_version(store, k) for k in ("k0", "k1", "k2")} == {1}
        else:
            assert (report.migrated, report.failed) == (3, ())
            assert history == [("add", "cart"), ("pay", "paid"), ("journeyfsm.migrate", "paid")]
            assert {stored_version(store, k) for k in ("k0", "k1", "k2")} == {2}
    finally:
        close()
