"""Durable timeouts (issue 9, the store half): the clock columns, ``JourneyService.tick``,
exactly once across worker processes and crashes, and ``JourneyService.journeys``.

Every behavioural test runs on the three stores with a manual clock.  The definition is
the timeout shop of test_timeouts.py (whose machine is checked there against an
independent reference model); here the service is checked against that machine.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from contextlib import closing
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import attrs
import pytest
from conftest import quiet_logger
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from service_support import (
    ServiceFactory,
    dump_store,
    make_service,
    open_store,
    process_db,
    store,
    store_factory,
    two_stores,
)
from test_timeouts import T0, D, H, shop

from journeyfsm import (
    ConcurrencyConflict,
    EffectCall,
    JourneyMachine,
    JourneyService,
    ManualClock,
    StoreError,
    Timeout,
    TimeoutWorker,
)
from journeyfsm.service._core import Event, decide
from journeyfsm.stores import MemoryStore, SQLiteStore, Store

__all__ = [
    "make_service",
    "open_store",
    "process_db",
    "store",
    "two_stores",
]  # fixtures, imported to be found

HERE = Path(__file__).parent


def timeout_service(
    store: Store,
    clock: ManualClock | None = None,
    sent: list[str] | None = None,
    *,
    make: ServiceFactory = JourneyService,
) -> JourneyService:
    """The timeout shop on ``store``: an effect ``nudge`` on entering ``abandoned``
    appends its idempotency key to ``sent`` (outbox rows when run by the service)."""
    machine = JourneyMachine(shop(), clock=clock or ManualClock(T0), logger=quiet_logger())
    sink = sent if sent is not None else []

    @machine.effect(on_enter="abandoned")
    def nudge(call: EffectCall) -> None:
        sink.append(call.idempotency_key)

    return make(machine, store)


def moves(service: JourneyService, key: str) -> list[tuple[str, str, datetime, str | None]]:
    return [(e.trigger, e.dest, e.at, e.event_id) for e in service.history(key, limit=1000)]


def next_due(service: JourneyService, key: str) -> datetime | None:
    with service.store.transaction(write=False) as tx:
        row = tx.load(service.definition, key)
    assert row is not None
    return row.next_due


# -- the stories of the issue, on every store ------------------------------------------------
def test_abandoned_cart_fires_after_24_hours_at_its_due_time(
    store: Store, make_service: ServiceFactory
) -> None:
    service = timeout_service(store, make=make_service)
    service.handle("c-1", "add_to_cart", at=T0)
    assert next_due(service, "c-1") == T0 + H  # the reminder first
    report = service.tick(T0 + 23 * H)
    assert (report.journeys, report.fired) == (1, 1)  # the reminder, an internal move
    assert next_due(service, "c-1") == T0 + 24 * H
    report = service.tick(T0 + 24 * H)  # the boundary is inclusive
    assert [(o.trigger, o.status) for o in report.outcomes] == [("abandon", "moved")]
    assert moves(service, "c-1") == [
        ("add_to_cart", "cart", T0, None),
        ("remind", "cart", T0 + H, "timeout:shop:c-1:1:0"),
        ("abandon", "abandoned", T0 + 24 * H, "timeout:shop:c-1:1:1"),
    ]
    journey = service.get("c-1")
    assert journey is not None and journey.stage == "abandoned"
    assert (journey.entered_at, journey.entry_seq, journey.timeouts_fired) == (T0 + 24 * H, 3, 0)
    assert next_due(service, "c-1") == T0 + 24 * H + 7 * D  # abandoned -> lost
    with store.transaction(write=False) as tx:
        [effect] = tx.outbox("shop", key="c-1")
    assert (effect.effect, effect.idempotency_key) == ("nudge", "shop:c-1:3:nudge")


def test_activity_before_the_deadline_cancels_it(
    store: Store, make_service: ServiceFactory
) -> None:
    service = timeout_service(store, make=make_service)
    service.handle("c-1", "add_to_cart", at=T0)
    service.handle("c-1", "checkout", at=T0 + 23 * H)  # the reminder fires first (T0 + 1 h)
    assert service.tick(T0 + 30 * D).fired == 0
    assert [m[0] for m in moves(service, "c-1")] == ["add_to_cart", "remind", "checkout"]
    assert next_due(service, "c-1") == T0 + 23 * H + 180 * D


def test_lapse_after_180_days_then_a_purchase_re_engages(
    store: Store, make_service: ServiceFactory
) -> None:
    service = timeout_service(store, make=make_service)
    service.handle("c-1", "add_to_cart", at=T0)
    paid_at = T0 + timedelta(minutes=10)
    service.handle("c-1", "checkout", at=paid_at)
    assert service.tick(paid_at + 180 * D - timedelta(microseconds=1)).fired == 0
    assert [o.dest for o in service.tick(paid_at + 180 * D).outcomes] == ["lapsed"]
    later = paid_at + 200 * D
    assert service.handle("c-1", "purchase", at=later).dest == "paid"
    assert next_due(service, "c-1") == later + 180 * D
    assert moves(service, "c-1")[-2:] == [
        ("lapse", "lapsed", paid_at + 180 * D, "timeout:shop:c-1:2:0"),
        ("purchase", "paid", later, None),
    ]


def test_a_late_tick_catches_up_across_stages_each_at_its_own_time(
    store: Store, make_service: ServiceFactory
) -> None:
    service = timeout_service(store, make=make_service)
    service.handle("c-1", "add_to_cart", at=T0)
    report = service.tick(T0 + 30 * D)
    assert (report.journeys, report.fired) == (1, 3)
    assert moves(service, "c-1")[1:] == [
        ("remind", "cart", T0 + H, "timeout:shop:c-1:1:0"),
        ("abandon", "abandoned", T0 + 24 * H, "timeout:shop:c-1:1:1"),
        ("lose", "lost", T0 + 24 * H + 7 * D, "timeout:shop:c-1:3:0"),
    ]
    assert next_due(service, "c-1") is None  # lost has no timeout: nothing armed


def test_re_entry_restarts_the_timeouts_and_an_internal_transition_does_not(
    store: Store,
) -> None:
    service = timeout_service(store)
    service.handle("c-1", "add_to_cart", at=T0)
    service.tick(T0 + 2 * H)  # the reminder (internal): the 24 h still count from T0
    assert next_due(service, "c-1") == T0 + 24 * H
    service.handle("c-1", "add_to_cart", at=T0 + 20 * H)  # cart -> cart: a re-entry
    assert next_due(service, "c-1") == T0 + 21 * H  # the reminder again, from 20 h
    service.tick(T0 + 30 * H)
    assert [m[0] for m in moves(service, "c-1")] == [
        "add_to_cart",
        "remind",
        "add_to_cart",
        "remind",
    ]
    assert next_due(service, "c-1") == T0 + 44 * H


def test_a_timeout_due_past_the_last_datetime_is_never_due(store: Store) -> None:
    # the longest `after` a definition takes (timedelta.max) overflows any datetime when
    # added to the entry time: the timeout is due at NEVER, not an OverflowError
    from journeyfsm._timeouts import NEVER

    longest = attrs.evolve(shop(), timeouts=[Timeout("cart", 86399999999999, "abandon")])
    machine = JourneyMachine(longest, logger=quiet_logger())
    service = JourneyService(machine, store)
    service.handle("c-1", "add_to_cart", at=T0)
    assert next_due(service, "c-1") == NEVER
    report = service.tick(datetime(9999, 12, 31, 23, 59, tzinfo=T0.tzinfo))
    assert (report.journeys, report.fired) == (0, 0)
    journey = service.get("c-1")
    assert journey is not None and journey.stage == "cart"
    assert machine.tick(journey, NEVER - timedelta(microseconds=1)) == ()
    assert [o.trigger for o in machine.tick(journey, NEVER)] == ["abandon"]


def test_ticking_twice_fires_nothing_new(store: Store, make_service: ServiceFactory) -> None:
    service = timeout_service(store, make=make_service)
    for key in ("a", "b"):
        service.handle(key, "add_to_cart", at=T0)
    assert service.tick(T0 + 2 * D).fired == 4
    before = dump_store(store, "shop", ["a", "b"])
    report = service.tick(T0 + 2 * D)
    assert (report.journeys, report.fired, report.skipped) == (0, 0, 0)
    assert dump_store(store, "shop", ["a", "b"]) == before


def test_a_late_real_event_comes_after_the_timeouts_due_before_it(
    store: Store, make_service: ServiceFactory
) -> None:
    service = timeout_service(store, make=make_service)
    service.handle("c-1", "add_to_cart", at=T0)
    service.handle("other", "add_to_cart", at=T0)
    assert service.tick(T0).fired == 0  # nothing due yet
    # no tick ran since: the checkout at 30 h finds the cart abandoned at 24 h
    outcome = service.handle("c-1", "checkout", at=T0 + 30 * H)
    assert outcome.status == "ignored" and outcome.source == "abandoned"
    assert [m[:2] for m in moves(service, "c-1")] == [
        ("add_to_cart", "cart"),
        ("remind", "cart"),
        ("abandon", "abandoned"),
    ]
    assert service.tick(T0 + 30 * H).fired == 2  # the other's, which nobody handled


def test_a_blocked_timeout_fires_once_and_moves_the_clock_only(store: Store) -> None:
    # a VIP's cart: the abandon timeout is blocked by its guard
    service = JourneyService(
        timeout_service(store).machine, store, initial_data=lambda key: {"vip": True}
    )
    service.handle("vip-1", "add_to_cart", at=T0)
    report = service.tick(T0 + 2 * D)
    assert [(o.trigger, o.status) for o in report.outcomes] == [
        ("remind", "moved"),
        ("abandon", "blocked"),
    ]
    journey = service.get("vip-1")
    assert journey is not None and (journey.version, journey.timeouts_fired) == (2, 2)
    assert next_due(service, "vip-1") is None
    assert service.tick(T0 + 9 * D).fired == 0


def test_a_decision_made_before_a_blocked_timeout_fired_is_a_conflict(store: Store) -> None:
    service = JourneyService(
        timeout_service(store).machine, store, initial_data=lambda key: {"vip": True}
    )
    service.handle("vip", "add_to_cart", at=T0)
    service.tick(T0 + 2 * H)  # the reminder: version 2, one timeout fired
    with store.transaction(write=False) as tx:
        row = tx.load("shop", "vip")
    stale = decide(
        service.machine, row, Event("vip", "add_to_cart", at=T0 + 3 * H), seen_seq=None, now=T0
    )
    assert service.tick(T0 + 2 * D).outcomes[0].status == "blocked"  # same version, clock on
    with pytest.raises(ConcurrencyConflict, match="'vip'"), store.transaction() as tx:
        tx.write(stale)


def test_a_failing_hook_rolls_the_journey_back_and_the_next_tick_retries(
    store: Store, make_service: ServiceFactory
) -> None:
    service = timeout_service(store, make=make_service)
    service.handle("bad", "add_to_cart", at=T0)
    service.handle("good", "add_to_cart", at=T0 + timedelta(seconds=1))
    failing = [True]

    @service.machine.on_enter("abandoned")
    def crm(ctx: Any) -> None:
        if ctx.journey.key == "bad" and failing[0]:
            raise RuntimeError("CRM down")

    before = dump_store(store, "shop", ["bad"])
    report = service.tick(T0 + 2 * D)
    assert [key for key, _ in report.failed] == ["bad"]
    assert "HookError" in report.failed[0][1] and "CRM down" in report.failed[0][1]
    assert report.journeys == 1 and [o.key for o in report.outcomes] == ["good", "good"]
    assert dump_store(store, "shop", ["bad"]) == before  # nothing of it was written
    failing[0] = False
    assert service.tick(T0 + 2 * D).fired == 2
    assert [m[0] for m in moves(service, "bad")] == ["add_to_cart", "remind", "abandon"]


def test_handle_many_fires_due_timeouts_before_each_event(
    store: Store, make_service: ServiceFactory
) -> None:
    service = timeout_service(store, make=make_service)
    outcomes = service.handle_many(
        [
            Event("c-1", "add_to_cart", at=T0),
            Event("c-1", "add_to_cart", at=T0 + 2 * H),  # after the reminder
            Event("c-1", "checkout", at=T0 + 30 * H),  # after the abandon: ignored
        ]
    )
    assert [o.status for o in outcomes] == ["moved", "moved", "ignored"]
    assert [m[0] for m in moves(service, "c-1")] == [
        "add_to_cart",
        "remind",
        "add_to_cart",
        "remind",
        "abandon",
    ]


def test_timeout_worker_fires_what_is_due_on_its_clock(store: Store) -> None:
    clock = ManualClock(T0)
    service = timeout_service(store, clock)
    for n in range(5):
        service.handle(f"c-{n}", "add_to_cart", at=T0)
    worker = TimeoutWorker(service, interval=0.01, limit=2)  # several full ticks a round
    assert worker.run_once().fired == 0
    clock.advance(2 * D)
    report = worker.run_once()
    assert (report.journeys, report.fired) == (5, 10)
    assert worker.run_once().fired == 0


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"interval": 0}, ValueError, "interval must be"),
        ({"limit": 0}, ValueError, "limit must be"),
        ({"clock": "now"}, TypeError, "clock must have a now"),
    ],
)
def test_timeout_worker_refuses_bad_settings(
    kwargs: dict[str, Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        TimeoutWorker(timeout_service(MemoryStore()), **kwargs)


def test_tick_refuses_a_naive_time_and_a_bad_limit() -> None:
    service = timeout_service(MemoryStore())
    with pytest.raises(ValueError, match="naive"):
        service.tick(datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="limit must be an int >= 1"):
        service.tick(T0, limit=0)


# -- journeys(): every stored journey, in batches ---------------------------------------------
def test_journeys_iterates_every_stored_journey_with_its_history_in_batches(
    store: Store,
) -> None:
    service = timeout_service(store)
    keys = [f"c-{n:02d}" for n in range(7)]
    for n, key in enumerate(keys):
        service.handle(key, "add_to_cart", at=T0)
        if n % 2:
            service.handle(key, "checkout", at=T0 + timedelta(minutes=n))
    from service_support import shop_machine

    other = JourneyService(shop_machine(), store)  # the checkout definition
    other.handle("c-00", "add_to_cart")
    pages: list[int] = []
    tx_type = type(store.transaction(write=False).__enter__())
    original = tx_type.journeys_page

    def page(self: Any, *args: Any, **kw: Any) -> Any:
        rows = original(self, *args, **kw)
        pages.append(len(rows))
        return rows

    tx_type.journeys_page = page  # type: ignore[method-assign]
    try:
        mine = list(service.journeys("shop", batch=3))
        every = list(service.journeys(batch=3))
    finally:
        tx_type.journeys_page = original  # type: ignore[method-assign]
    assert [j.key for j in mine] == keys
    for journey in mine:
        stored = service.get(journey.key)
        assert stored is not None and journey.stage == stored.stage
        assert journey.history == service.history(journey.key, limit=100)
        assert journey.version == len(journey.history)
    assert [(j.definition, j.key) for j in every] == [("checkout", "c-00")] + [
        ("shop", k) for k in keys
    ]
    assert every[0].stage == "cart" and [e.trigger for e in every[0].history] == ["add_to_cart"]
    assert pages == [3, 3, 1, 3, 3, 2]  # 7 journeys, then 8, three at a time


def test_journeys_refuses_a_bad_batch() -> None:
    with pytest.raises(ValueError, match="batch must be an int >= 1"):
        next(timeout_service(MemoryStore()).journeys(batch=0))


# -- corrupted clock columns -----------------------------------------------------------------
@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("entry_seq = 'x'", "entry_seq"),
        ("entry_seq = 5", "entry_seq"),
        ("timeouts_fired = 9", "timeouts_fired"),
        ("timeouts_fired = 1.5", "timeouts_fired"),
        ("started_at = 'soon'", "started_at"),
        ("next_due = 'soon'", "next_due"),
    ],
)
def test_corrupted_clock_columns_are_refused_naming_table_and_key(
    tmp_path: Path, change: str, message: str
) -> None:
    path = tmp_path / "j.db"
    service = timeout_service(SQLiteStore(path, create_schema=True))
    for key in ("c-7", "bystander"):
        service.handle(key, "add_to_cart", at=T0)
    with closing(sqlite3.connect(path)) as conn, conn:
        conn.execute(f"UPDATE journeyfsm_journeys SET {change} WHERE key = 'c-7'")
    with pytest.raises(StoreError, match=message) as info:
        service.handle("c-7", "checkout", at=T0)
    assert (info.value.table, info.value.key) == ("journeys", "c-7")
    if "next_due" not in change:  # a bad next_due cannot even be compared: not claimed
        report = service.tick(T0 + 2 * H)
        assert [key for key, _ in report.failed] == ["c-7"] and message in report.failed[0][1]
        assert [o.key for o in report.outcomes] == ["bystander"]


def test_postgres_corrupted_clock_columns_are_refused(tmp_path: Path) -> None:
    factory, close = store_factory("postgres", tmp_path)
    try:
        store = factory()
        service = timeout_service(store)
        service.handle("c-7", "add_to_cart", at=T0)
        with store.transaction() as tx:
            tx.conn.execute(  # type: ignore[attr-defined]
                f'UPDATE "{store.prefix}journeys" SET timeouts_fired = 9',  # type: ignore[attr-defined]
            )
        report = service.tick(T0 + 2 * H)
        assert [key for key, _ in report.failed] == ["c-7"] and "timeouts_fired" in report.failed[
            0
        ][1]
    finally:
        close()


# -- schema 1 -> 2 ---------------------------------------------------------------------------
SCHEMA_1 = [
    "CREATE TABLE journeyfsm_schema_version (version INTEGER NOT NULL)",
    "INSERT INTO journeyfsm_schema_version VALUES (1)",
    """CREATE TABLE journeyfsm_journeys (definition TEXT NOT NULL, key TEXT NOT NULL,
    definition_version TEXT NOT NULL, stage TEXT NOT NULL, data TEXT NOT NULL,
    version INTEGER NOT NULL, entered_at TEXT NOT NULL, updated_at TEXT NOT NULL,
    PRIMARY KEY (definition, key))""",
    """CREATE TABLE journeyfsm_history (definition TEXT NOT NULL, key TEXT NOT NULL,
    seq INTEGER NOT NULL, trigger TEXT NOT NULL, source TEXT NOT NULL, dest TEXT NOT NULL,
    at TEXT NOT NULL, event_id TEXT, meta TEXT, PRIMARY KEY (definition, key, seq))""",
    "INSERT INTO journeyfsm_journeys VALUES ('shop', 'old', '1', 'cart', '{}', 1, "
    "'2026-03-02T09:00:00.000000+00:00', '2026-03-02T09:00:00.000000+00:00')",
    "INSERT INTO journeyfsm_history VALUES ('shop', 'old', 1, 'add_to_cart', 'browsing', "
    "'cart', '2026-03-02T08:00:00.000000+00:00', NULL, NULL)",
]


def test_a_schema_1_file_is_refused_until_create_schema_migrates_it(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    with closing(sqlite3.connect(path)) as conn, conn:
        for statement in SCHEMA_1:
            conn.execute(statement)
    with pytest.raises(StoreError, match=r"schema version 1, this journeyfsm needs 5.*migrates"):
        SQLiteStore(path)
    service = timeout_service(SQLiteStore(path, create_schema=True))
    journey = service.get("old")
    assert journey is not None and journey.stage == "cart"
    assert (journey.entry_seq, journey.timeouts_fired) == (1, 0)
    assert journey.started_at == T0 - H  # its first move
    assert next_due(service, "old") is None  # armed again by its next move
    assert service.tick(T0 + 30 * D).fired == 0
    service.handle("old", "add_to_cart", at=T0 + 2 * H)
    assert next_due(service, "old") == T0 + 3 * H


def test_a_schema_1_postgres_database_is_migrated_by_create_schema(tmp_path: Path) -> None:
    from service_support import pg_dsn

    from journeyfsm.stores import PostgresStore

    factory, close = store_factory("postgres", tmp_path)
    store = factory()
    prefix = store.prefix  # type: ignore[attr-defined]
    try:
        with store.transaction() as tx:  # back to schema 1, one journey in it
            for statement in (
                f'ALTER TABLE "{prefix}journeys" DROP COLUMN started_at, DROP COLUMN entry_seq, '
                "DROP COLUMN timeouts_fired, DROP COLUMN next_due",
                f'ALTER TABLE "{prefix}history" DROP COLUMN definition_version',
                f'UPDATE "{prefix}schema_version" SET version = 1',
                f"INSERT INTO \"{prefix}journeys\" VALUES ('shop', 'old', '1', 'cart', '{{}}', 1, "
                "'2026-03-02T09:00:00+00', '2026-03-02T09:00:00+00')",
                f"INSERT INTO \"{prefix}history\" VALUES ('shop', 'old', 1, 'add_to_cart', "
                "'browsing', 'cart', '2026-03-02T08:00:00+00', NULL, NULL)",
            ):
                tx.conn.execute(statement)  # type: ignore[attr-defined]
        with pytest.raises(StoreError, match=r"version 1, this journeyfsm needs 5.*migrates"):
            PostgresStore(pg_dsn(), prefix=prefix)
        migrated = PostgresStore(pg_dsn(), prefix=prefix, create_schema=True)
        try:
            service = timeout_service(migrated)
            journey = service.get("old")
            assert journey is not None and (journey.entry_seq, journey.started_at) == (1, T0 - H)
            assert next_due(service, "old") is None
            service.handle("old", "add_to_cart", at=T0 + 2 * H)
            assert next_due(service, "old") == T0 + 3 * H
        finally:
            migrated.close()
    finally:
        close()


# -- exactly once across processes and crashes -----------------------------------------------
def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(HERE / "service_process.py"), *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=HERE,
    )


def _due_journeys(store: Store, n: int) -> tuple[JourneyService, list[str]]:
    service = timeout_service(store)
    keys = [f"c-{i:03d}" for i in range(n)]
    service.handle_many([Event(k, "add_to_cart", at=T0) for k in keys])
    return service, keys


def test_two_worker_processes_fire_each_timeout_once(
    process_db: tuple[str, Store], tmp_path: Path
) -> None:
    db, store = process_db
    service, keys = _due_journeys(store, 40)
    now = (T0 + 10 * D).isoformat()
    outs = [tmp_path / f"w{i}.json" for i in range(2)]
    procs = [
        subprocess.Popen(
            [sys.executable, str(HERE / "service_process.py"), "tick", db, now, str(out)],
            cwd=HERE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for out in outs
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
    fired = [tuple(f) for out in outs for f in json.loads(out.read_text())]
    # each journey: remind, abandon, then lose 7 days after the abandon (= T0 + 8 d)
    expected = {
        (k, trigger, f"timeout:shop:{k}:{entry}:{index}")
        for k in keys
        for trigger, entry, index in (("remind", 1, 0), ("abandon", 1, 1), ("lose", 3, 0))
    }
    assert len(fired) == len(expected) and set(fired) == expected
    for key in keys:
        assert [m[0] for m in moves(service, key)] == ["add_to_cart", "remind", "abandon", "lose"]
    with store.transaction(write=False) as tx:
        assert len(tx.outbox("shop", status="pending")) == len(keys)  # one nudge each


def test_a_worker_killed_between_claim_and_commit_loses_nothing(
    process_db: tuple[str, Store], tmp_path: Path
) -> None:
    db, store = process_db
    service, keys = _due_journeys(store, 3)
    now = (T0 + 2 * D).isoformat()
    before = dump_store(store, "shop", keys)
    killed = _run("tick", db, now, str(tmp_path / "killed.json"), "1")
    assert killed.returncode == -9, killed.stderr
    assert dump_store(store, "shop", keys) == before  # the claimed journey: as it was
    done = _run("tick", db, now, str(tmp_path / "later.json"))
    assert done.returncode == 0, done.stderr
    fired = json.loads((tmp_path / "later.json").read_text())
    assert len(fired) == 2 * len(keys) == len({tuple(f) for f in fired})
    for key in keys:
        assert [m[0] for m in moves(service, key)] == ["add_to_cart", "remind", "abandon"]


# -- the service against the bare machine ----------------------------------------------------
TRIGGERS = ["add_to_cart", "checkout", "purchase", "remind", "abandon", "lose", "lapse"]
gaps = st.sampled_from([0, 60, 3600, 3601, 86399, 86400, 86401, 7 * 86400, 200 * 86400])


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    steps=st.lists(st.tuples(gaps, st.sampled_from(TRIGGERS), st.booleans()), max_size=10),
    tail=gaps,
    vip=st.booleans(),
)
def test_the_service_and_the_bare_machine_agree_whenever_ticks_run(
    kind: str, tmp_path_factory: pytest.TempPathFactory, steps: Any, tail: int, vip: bool
) -> None:
    factory, close = store_factory(kind, tmp_path_factory.mktemp("agree"))
    try:
        service = JourneyService(
            timeout_service(factory()).machine, factory(), initial_data=lambda key: {"vip": vip}
        )
        machine = JourneyMachine(shop(), clock=ManualClock(T0), logger=quiet_logger())
        journey = machine.start("k", {"vip": vip}, at=T0)
        at = T0
        for n, (gap, trigger, tick_first) in enumerate(steps):
            at += timedelta(seconds=gap)
            if tick_first:  # the worker may or may not have run: the same history
                service.tick(at)
            machine.tick(journey, at)
            service.handle("k", trigger, at=at, event_id=f"e-{n}")
            machine.fire(journey, trigger, at=at, event_id=f"e-{n}")
        at += timedelta(seconds=tail)
        service.tick(at)
        machine.tick(journey, at)
        stored = service.get("k")
        history = service.history("k", limit=1000)
        if stored is None:  # no event ever moved it (a first event that was ignored)
            assert history == [] and journey.history == []
            return
        assert stored.stage == journey.stage
        assert history == journey.history
        assert (stored.entered_at, stored.entry_seq, stored.timeouts_fired) == (
            journey.entered_at,
            journey.entry_seq,
            journey.timeouts_fired,
        )
        due = machine.next_due(journey)
        assert next_due(service, "k") == (None if due is None else due.at)
    finally:
        close()


def test_timeout_worker_run_ticks_until_stopped() -> None:
    import threading

    clock = ManualClock(T0)
    stop = threading.Event()
    service = timeout_service(MemoryStore(), clock)

    @service.machine.on_enter("abandoned")
    def done(ctx: Any) -> None:
        stop.set()  # the worker's tick got there: let it end

    service.handle("c-1", "add_to_cart", at=T0)
    clock.advance(2 * D)
    thread = threading.Thread(target=TimeoutWorker(service, interval=0.01).run, args=(stop,))
    thread.start()
    thread.join(60)
    assert not thread.is_alive() and service.get("c-1").stage == "abandoned"  # type: ignore[union-attr]


def test_the_cli_worker_loop_delivers_and_ticks_until_stopped() -> None:
    import threading

    from journeyfsm import OutboxWorker
    from journeyfsm.cli._store import _loop

    clock, sent, stop = ManualClock(T0), [], threading.Event()
    store = MemoryStore()
    service = timeout_service(store, clock, sent)
    service.handle("c-1", "add_to_cart", at=T0)
    clock.advance(2 * D)
    outbox = OutboxWorker(service.machine, store)
    original = outbox.run_once

    def run_once(limit: int = 100) -> int:
        n = original(limit)
        if sent:  # the nudge the tick's abandon scheduled was delivered
            stop.set()
        return n

    outbox.run_once = run_once  # type: ignore[method-assign]
    thread = threading.Thread(
        target=_loop,
        args=([outbox], [TimeoutWorker(service, interval=0.01)], stop),
        kwargs={"limit": 10, "idle": 0.01},
    )
    thread.start()
    thread.join(60)
    assert not thread.is_alive() and sent == ["shop:c-1:3:nudge"]


# -- batched ticks ---------------------------------------------------------------------------
def _staggered(service: JourneyService, n: int) -> list[str]:
    """``n`` carts, one a minute (no two due at once), with a failing-free hook."""
    keys = [f"c-{i:02d}" for i in range(n)]
    service.handle_many(
        [Event(k, "add_to_cart", at=T0 + timedelta(minutes=i)) for i, k in enumerate(keys)]
    )
    return keys


def _without_outbox_ids(dump: Any) -> Any:
    return [(row, history, [attrs_without_id(o) for o in out]) for row, history, out in dump]


def attrs_without_id(item: Any) -> Any:
    import attrs

    return attrs.evolve(item, id=0)


@pytest.mark.parametrize("batch_size", [2, 3, 100])
def test_a_batched_tick_writes_exactly_what_one_journey_per_transaction_writes(
    two_stores: tuple[Store, Store], batch_size: int
) -> None:
    one, batched = (timeout_service(s) for s in two_stores)
    keys = _staggered(one, 7)
    _staggered(batched, 7)
    for until in (T0 + 2 * H, T0 + 30 * D):  # the reminders, then everything to lost
        expected = one.tick(until, batch_size=1)
        got = batched.tick(until, batch_size=batch_size)
        assert (got.journeys, got.fired, got.failed) == (7, expected.fired, ())
        assert sorted(map(str, got.outcomes)) == sorted(map(str, expected.outcomes))
    dumps = [_without_outbox_ids(dump_store(s, "shop", keys)) for s in two_stores]
    assert dumps[0] == dumps[1]
    assert [m[0] for m in moves(batched, "c-06")] == [
        "add_to_cart",
        "remind",
        "abandon",
        "lose",
    ]


def test_a_tick_takes_limit_journeys_in_batches_soonest_due_first(
    store: Store, make_service: ServiceFactory
) -> None:
    service = timeout_service(store, make=make_service)
    keys = _staggered(service, 7)
    report = service.tick(T0 + 2 * H, limit=5, batch_size=2)
    assert report.journeys == 5 and [o.key for o in report.outcomes] == keys[:5]
    report = service.tick(T0 + 2 * H, limit=5, batch_size=2)
    assert report.journeys == 2 and [o.key for o in report.outcomes] == keys[5:]
    assert service.tick(T0 + 2 * H, limit=5, batch_size=2).journeys == 0


def test_a_failing_journey_is_left_out_of_its_batch_and_of_the_tick_s_later_batches(
    store: Store,
) -> None:
    service = timeout_service(store)
    keys = _staggered(service, 6)
    calls: list[str] = []

    @service.machine.on_enter("abandoned")
    def crm(ctx: Any) -> None:
        calls.append(ctx.journey.key)
        if ctx.journey.key == "c-01":
            raise RuntimeError("CRM down")

    before = dump_store(store, "shop", ["c-01"])
    report = service.tick(T0 + 2 * D, batch_size=2)
    assert [key for key, _ in report.failed] == ["c-01"] and "CRM down" in report.failed[0][1]
    assert report.journeys == 5 and report.fired == 10
    assert calls.count("c-01") == 1  # tried once in this tick, not again by later batches
    assert dump_store(store, "shop", ["c-01"]) == before
    for key in (k for k in keys if k != "c-01"):
        assert [m[0] for m in moves(service, key)] == ["add_to_cart", "remind", "abandon"]
    with store.transaction(write=False) as tx:
        assert {o.key for o in tx.outbox("shop")} == set(keys) - {"c-01"}


def test_tick_and_the_timeout_worker_refuse_a_bad_batch_size() -> None:
    service = timeout_service(MemoryStore())
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="batch_size must be an int >= 1"):
            service.tick(T0, batch_size=bad)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="batch_size must be an int >= 1"):
            TimeoutWorker(service, batch_size=bad)  # type: ignore[arg-type]


def test_the_timeout_worker_ticks_in_its_batch_size(store: Store) -> None:
    clock = ManualClock(T0)
    service = timeout_service(store, clock)
    _staggered(service, 5)
    claimed: list[int] = []
    original = service.store.transaction

    def transaction(*, write: bool = True) -> Any:
        from contextlib import contextmanager

        @contextmanager
        def counting() -> Any:
            with original(write=write) as tx:
                batch = tx.claim_due_batch

                def claim(*a: Any, **kw: Any) -> Any:
                    rows = batch(*a, **kw)
                    claimed.append(len(rows))
                    return rows

                tx.claim_due_batch = claim  # type: ignore[method-assign]
                yield tx

        return counting()

    service.store.transaction = transaction  # type: ignore[method-assign]
    clock.advance(2 * D)
    report = TimeoutWorker(service, interval=0.01, batch_size=2).run_once()
    assert (report.journeys, report.fired) == (5, 10)
    assert claimed == [2, 2, 1]


def test_the_cli_worker_passes_its_tick_batch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from journeyfsm.cli import main
    from journeyfsm.service import _timeout_worker

    (tmp_path / "batchapp.py").write_text(
        "from datetime import datetime, timezone\n"
        "from journeyfsm import JourneyMachine, ManualClock, templates\n"
        "machine = JourneyMachine(templates.aida(), "
        "clock=ManualClock(datetime(2026, 1, 1, tzinfo=timezone.utc)))\n",
        encoding="utf-8",
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    sizes: list[int] = []
    original = _timeout_worker.TimeoutWorker.run_once

    def run_once(self: TimeoutWorker) -> Any:
        sizes.append(self.batch_size)
        return original(self)

    monkeypatch.setattr(_timeout_worker.TimeoutWorker, "run_once", run_once)
    db = str(tmp_path / "j.db")
    assert main(["db", "init", "--db", db]) == 0
    argv = ["worker", "--db", db, "--machine", "batchapp:machine", "--once"]
    assert main([*argv, "--tick-batch", "7"]) == 0
    assert main(argv) == 0
    assert sizes == [7, 100]
    capsys.readouterr()
    assert main([*argv, "--tick-batch", "0"]) == 2
    assert "--tick-batch must be at least 1, got 0" in capsys.readouterr().err


# -- batched ticks across processes and crashes ----------------------------------------------
def test_worker_processes_ticking_in_batches_fire_each_timeout_once(
    process_db: tuple[str, Store], tmp_path: Path
) -> None:
    db, store = process_db
    service, keys = _due_journeys(store, 40)
    now = (T0 + 10 * D).isoformat()
    outs = [tmp_path / f"w{i}.json" for i in range(2)]
    procs = [
        subprocess.Popen(
            # no kill (0); batches of 4
            [sys.executable, str(HERE / "service_process.py"), "tick", db, now, str(out), "0", "4"],
            cwd=HERE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for out in outs
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
    fired = [tuple(f) for out in outs for f in json.loads(out.read_text())]
    expected = {
        (k, trigger, f"timeout:shop:{k}:{entry}:{index}")
        for k in keys
        for trigger, entry, index in (("remind", 1, 0), ("abandon", 1, 1), ("lose", 3, 0))
    }
    assert len(fired) == len(expected) and set(fired) == expected
    for key in keys:
        assert [m[0] for m in moves(service, key)] == ["add_to_cart", "remind", "abandon", "lose"]
    with store.transaction(write=False) as tx:
        assert len(tx.outbox("shop", status="pending")) == len(keys)  # one nudge each


def test_a_worker_killed_mid_batch_loses_nothing_and_keeps_the_batches_it_committed(
    process_db: tuple[str, Store], tmp_path: Path
) -> None:
    db, store = process_db
    service, keys = _due_journeys(store, 6)
    now = (T0 + 2 * D).isoformat()
    before = dump_store(store, "shop", keys)
    # batches of 3: the first commits, the second is written and killed before its commit
    killed = _run("tick", db, now, str(tmp_path / "killed.json"), "2", "3")
    assert killed.returncode == -9, killed.stderr
    after = dump_store(store, "shop", keys)
    advanced = [k for k, b, a in zip(keys, before, after, strict=True) if a != b]
    assert len(advanced) == 3  # the first batch, whole
    for key in advanced:
        assert [m[0] for m in moves(service, key)] == ["add_to_cart", "remind", "abandon"]
    untouched = [k for k in keys if k not in advanced]
    assert dump_store(store, "shop", untouched) == [
        b for k, b in zip(keys, before, strict=True) if k in untouched
    ]
    done = _run("tick", db, now, str(tmp_path / "later.json"), "0", "3")
    assert done.returncode == 0, done.stderr
    fired = json.loads((tmp_path / "later.json").read_text())
    assert sorted(f[0] for f in fired) == sorted(2 * untouched)  # remind and abandon each
    assert len({tuple(f) for f in fired}) == len(fired)
    for key in keys:
        assert [m[0] for m in moves(service, key)] == ["add_to_cart", "remind", "abandon"]
    with store.transaction(write=False) as tx:
        assert sorted(o.key for o in tx.outbox("shop")) == sorted(keys)  # one nudge each


def test_a_batch_whose_write_fails_is_advanced_again_one_journey_at_a_time(
    store: Store,
) -> None:
    service = timeout_service(store)
    keys = _staggered(service, 5)
    original = service.store.transaction
    batch_writes: list[int] = []

    def transaction(*, write: bool = True) -> Any:
        from contextlib import contextmanager

        @contextmanager
        def failing_first_batch() -> Any:
            with original(write=write) as tx:
                write_many = tx.write_many

                def write_batch(decisions: Any) -> None:
                    journeys = {d.journey.key for d in decisions if d.journey is not None}
                    if len(journeys) > 1:
                        batch_writes.append(len(journeys))
                        if len(batch_writes) == 1:  # after writing: the rollback undoes it
                            write_many(decisions)
                            raise StoreError("the disk is full", table="journeys")
                    write_many(decisions)

                tx.write_many = write_batch  # type: ignore[method-assign]
                yield tx

        return failing_first_batch()

    service.store.transaction = transaction  # type: ignore[method-assign]
    report = service.tick(T0 + 2 * D, batch_size=3)
    assert batch_writes == [3, 2]  # the first batch failed, then went one by one
    assert (report.journeys, report.fired, report.failed) == (5, 10, ())
    for key in keys:
        assert [m[0] for m in moves(service, key)] == ["add_to_cart", "remind", "abandon"]
