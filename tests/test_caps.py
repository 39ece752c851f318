"""Frequency caps and quiet hours on the outbox workers (sync and async, every store):
deferral to when a delivery fits, drops, the reason on the row, counting across
definitions, a failed effect not counted, a worker killed mid-delivery, quiet hours in
the customer's zone across DST, bad configurations, the schema 2 -> 3 upgrade, and four
worker processes on one PostgreSQL database never going over the cap."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
from collections import defaultdict
from contextlib import closing
from datetime import datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from caps_process import caps_machine
from conftest import START, quiet_logger
from service_support import drop_tables, open_store, pg_dsn, store
from test_workers_async import twin

from journeyfsm import (
    AsyncJourneyMachine,
    AsyncOutboxWorker,
    EffectCall,
    FrequencyCap,
    JourneyBuilder,
    JourneyMachine,
    JourneyService,
    ManualClock,
    OutboxWorker,
    QuietHours,
)
from journeyfsm.stores import SCHEMA_VERSION, SQLiteStore, Store
from journeyfsm.stores._base import CAPS_SCHEMA

__all__ = ["open_store", "store"]  # fixtures, imported to be found

H = timedelta(hours=1)
EMAIL_2_PER_DAY = FrequencyCap(channel="email", limit=2, per=24 * H)


def _machine(
    clock: ManualClock,
    sent: list[str],
    *,
    name: str = "caps",
    channel: str | None = "email",
    on_cap: str | None = None,
    fail: set[str] | None = None,
) -> JourneyMachine:
    definition = (
        JourneyBuilder(name)
        .stage("a", initial=True)
        .stage("b", final=True)
        .transition("ping", "a", "a")
        .transition("stop", "a", "b")
    )
    machine = JourneyMachine(definition.build(), clock=clock, logger=quiet_logger())

    @machine.effect(on_transition="ping", channel=channel, on_cap=on_cap)
    def mail(call: EffectCall) -> None:
        if fail is not None and call.idempotency_key in fail:
            fail.discard(call.idempotency_key)
            raise RuntimeError("SMTP down")
        sent.append(call.idempotency_key)

    return machine


def _ping(machine: JourneyMachine, store: Store, key: str, n: int) -> None:
    service = JourneyService(machine, store)
    for _ in range(n):
        service.handle(key, "ping")


def test_over_the_cap_an_effect_is_deferred_to_when_it_fits_and_says_why(store: Store) -> None:
    clock, sent = ManualClock(START), []
    machine = _machine(clock, sent)
    _ping(machine, store, "c-1", 3)
    worker = OutboxWorker(machine, store, caps=[EMAIL_2_PER_DAY])
    assert worker.run_once() == 3
    assert sent == ["caps:c-1:1:mail", "caps:c-1:2:mail"]
    (row,) = [r for r in _rows(store) if r.status == "pending"]
    assert row.seq == 3 and row.attempts == 0  # a deferral is no attempt
    assert row.available_at == START + 24 * H  # when the oldest counted delivery leaves
    assert row.last_error == "capped: email 2 per 24h until 2026-01-02T09:00:00Z"
    clock.advance(24 * H - timedelta(seconds=1))
    assert worker.run_once() == 0 and len(sent) == 2  # not due yet
    clock.advance(timedelta(seconds=1))
    assert worker.run_once() == 1 and sent[-1] == "caps:c-1:3:mail"
    assert worker.counts() == {"pending": 0, "dead": 0, "done": 3, "dropped": 0}


def test_a_second_window_in_the_cap_list_defers_to_the_later_fit(store: Store) -> None:
    clock, sent = ManualClock(START), []
    machine = _machine(clock, sent)
    caps = [
        FrequencyCap(channel="email", limit=1, per=H),
        FrequencyCap(channel="email", limit=2, per=24 * H),
    ]
    worker = OutboxWorker(machine, store, caps=caps)
    _ping(machine, store, "c-1", 1)
    worker.run_once()
    clock.advance(2 * H)
    _ping(machine, store, "c-1", 2)
    worker.run_once()  # the 2nd fits both caps; the 3rd: 1/h fits at 12:00, 2/24h at 09:00+1d
    (row,) = [r for r in _rows(store) if r.status == "pending"]
    assert row.available_at == START + 24 * H
    assert row.last_error == "capped: email 2 per 24h until 2026-01-02T09:00:00Z"
    assert len(sent) == 2


def test_drop_keeps_the_row_as_dropped_with_the_reason_and_per_effect_override(
    store: Store,
) -> None:
    clock, sent = ManualClock(START), []
    machine = _machine(clock, sent, on_cap="drop")  # the cap says defer: the effect wins
    _ping(machine, store, "c-1", 3)
    worker = OutboxWorker(machine, store, caps=[EMAIL_2_PER_DAY])
    assert worker.run_once() == 3 and len(sent) == 2
    (dropped,) = worker.dropped()
    assert dropped.status == "dropped" and dropped.seq == 3
    assert dropped.last_error == "capped: email 2 per 24h; dropped"
    assert worker.counts() == {"pending": 0, "dead": 0, "done": 2, "dropped": 1}
    assert worker.dead_letters() == [] and worker.requeue_dead() == 0  # not dead
    clock.advance(48 * H)
    assert worker.run_once() == 0 and len(sent) == 2


def test_a_cap_counts_one_customer_across_definitions_and_no_other(store: Store) -> None:
    clock, sent = ManualClock(START), []
    first, second = _machine(clock, sent), _machine(clock, sent, name="other")
    _ping(first, store, "c-1", 1)
    _ping(second, store, "c-1", 2)
    _ping(second, store, "c-2", 2)  # another customer: its own count
    OutboxWorker(first, store, caps=[EMAIL_2_PER_DAY]).run_once()
    OutboxWorker(second, store, caps=[EMAIL_2_PER_DAY]).run_once()
    assert sorted(sent) == [
        "caps:c-1:1:mail",
        "other:c-1:1:mail",
        "other:c-2:1:mail",
        "other:c-2:2:mail",
    ]


def test_a_customer_function_decides_who_is_counted(store: Store) -> None:
    clock, sent = ManualClock(START), []
    machine = _machine(clock, sent)
    _ping(machine, store, "c-1", 1)
    _ping(machine, store, "c-2", 1)
    cap = FrequencyCap(channel="email", limit=1, per=H)
    worker = OutboxWorker(machine, store, caps=[cap], customer=lambda call: "household-9")
    worker.run_once()
    assert sent == ["caps:c-1:1:mail"]


def test_effects_without_a_capped_channel_are_not_counted(store: Store) -> None:
    clock, sent = ManualClock(START), []
    plain = _machine(clock, sent, channel=None)
    sms = _machine(clock, sent, name="sms", channel="sms")
    _ping(plain, store, "c-1", 3)
    _ping(sms, store, "c-1", 3)
    assert OutboxWorker(plain, store, caps=[EMAIL_2_PER_DAY]).run_once() == 3
    assert OutboxWorker(sms, store, caps=[EMAIL_2_PER_DAY]).run_once() == 3
    assert len(sent) == 6


def test_a_failed_effect_gives_its_count_back(store: Store) -> None:
    clock, sent = ManualClock(START), []
    machine = _machine(clock, sent, fail={"caps:c-1:1:mail"})
    _ping(machine, store, "c-1", 2)
    cap = FrequencyCap(channel="email", limit=1, per=24 * H)
    worker = OutboxWorker(machine, store, caps=[cap], backoff=1.0)
    worker.run_once()  # the 1st fails (not counted), the 2nd fits and is sent
    assert sent == ["caps:c-1:2:mail"]
    clock.advance(timedelta(seconds=5))
    worker.run_once()  # the 1st's retry is now over the cap
    (row,) = [r for r in _rows(store) if r.status == "pending"]
    assert row.seq == 1 and row.attempts == 1  # its failed attempt, not the deferral
    assert row.last_error is not None and row.last_error.startswith("capped: email 1 per 24h")


def test_a_worker_killed_mid_delivery_is_resent_and_counted_once(store: Store) -> None:
    clock, sent = ManualClock(START), []
    machine = _machine(clock, sent)
    died = [False]

    @machine.effect(on_transition="ping", channel="email", name="push_note")
    def killer(call: EffectCall) -> None:  # the 2nd effect of each move: dies once
        if not died[0]:
            died[0] = True
            raise KeyboardInterrupt  # the process dies here: its row stays leased

    _ping(machine, store, "c-1", 3)

    cap = FrequencyCap(channel="email", limit=3, per=24 * H)
    lease = timedelta(seconds=30)
    with pytest.raises(KeyboardInterrupt):
        OutboxWorker(machine, store, caps=[cap], lease=lease).run_once(limit=2)
    assert sent == ["caps:c-1:1:mail"]  # mail, then push_note died after being counted
    clock.advance(lease)
    OutboxWorker(machine, store, caps=[cap], lease=lease).run_once()
    # the killed one resent (same key), counted once: 3 distinct effects in the window
    assert sent == ["caps:c-1:1:mail", "caps:c-1:2:mail"]
    rows = _rows(store)
    done = sorted((r.seq, r.effect) for r in rows if r.status == "done")
    assert done == [(1, "mail"), (1, "push_note"), (2, "mail")]
    assert sum(r.status == "pending" for r in rows) == 3  # over the cap: deferred


def test_quiet_hours_defer_to_the_end_in_the_customers_zone(store: Store) -> None:
    at = datetime(2026, 1, 1, 22, 30, tzinfo=timezone.utc)  # 23:30 Paris, 17:30 New York
    clock, sent = ManualClock(at), []
    machine = _machine(clock, sent)
    service = JourneyService(machine, store)
    service.handle("paris", "ping", {"tz": "Europe/Paris"})
    service.handle("ny", "ping", {})
    quiet = QuietHours(
        start=time(21),
        end=time(8),
        tz=lambda call: call.payload.get("tz"),
        default_tz="America/New_York",
    )
    worker = OutboxWorker(machine, store, quiet_hours=quiet)
    assert worker.run_once() == 2
    assert sent == ["caps:ny:1:mail"]
    (row,) = [r for r in _rows(store) if r.status == "pending"]
    assert row.key == "paris" and row.attempts == 0
    assert row.available_at == datetime(2026, 1, 2, 7, 0, tzinfo=timezone.utc)
    assert row.last_error == "quiet hours 21:00-08:00 Europe/Paris until 2026-01-02T07:00:00Z"
    clock.set(datetime(2026, 1, 2, 7, 0, tzinfo=timezone.utc))
    assert worker.run_once() == 1 and sent[-1] == "caps:paris:1:mail"


@pytest.mark.parametrize(
    ("zone", "start", "end", "now", "until"),
    [
        # New York's spring forward (2026-03-08 02:00 EST -> 03:00 EDT) inside the night
        ("America/New_York", time(21), time(8), "2026-03-08T03:00Z", "2026-03-08T12:00Z"),
        # its fall back (2026-11-01 02:00 EDT -> 01:00 EST): the end is in EST
        ("America/New_York", time(21), time(8), "2026-11-01T03:00Z", "2026-11-01T13:00Z"),
        # an end in Paris's gap (2026-03-29 02:00 -> 03:00): the offset before it, 03:30 CEST
        ("Europe/Paris", time(1), time(2, 30), "2026-03-29T00:30Z", "2026-03-29T01:30Z"),
        # an end Paris has twice (2026-10-25 03:00 -> 02:00): the first of them (CEST)
        ("Europe/Paris", time(1), time(2, 30), "2026-10-24T23:30Z", "2026-10-25T00:30Z"),
        # a day span, and just before its end
        ("Asia/Tokyo", time(12), time(14), "2026-06-01T04:59:59Z", "2026-06-01T05:00Z"),
        # not quiet: at the end exactly, and before the start
        ("Asia/Tokyo", time(12), time(14), "2026-06-01T05:00Z", None),
        ("Europe/Paris", time(21), time(8), "2026-07-01T18:59:59Z", None),
        ("Europe/Paris", time(21), time(8), "2026-07-01T19:00Z", "2026-07-02T06:00Z"),
    ],
)
def test_quiet_hours_across_zones_and_dst_edges(
    zone: str, start: time, end: time, now: str, until: str | None
) -> None:
    quiet = QuietHours(start=start, end=end, tz=zone)
    got = quiet.until(None, datetime.fromisoformat(now.replace("Z", "+00:00")))
    want = None if until is None else datetime.fromisoformat(until.replace("Z", "+00:00"))
    assert got == want


def test_an_unknown_zone_from_data_falls_back_to_the_default() -> None:
    quiet = QuietHours(start=time(21), end=time(8), tz=lambda call: "Mars/Olympus")
    call = EffectCall("mail", "k", "c", "ping", "a", "a", 1, START)
    assert quiet.zone(call).key == "UTC"


def test_caps_and_quiet_hours_together_and_quiet_only_on_some_channels(store: Store) -> None:
    at = datetime(2026, 1, 1, 23, 0, tzinfo=timezone.utc)
    clock, sent = ManualClock(at), []
    email, sms = _machine(clock, sent), _machine(clock, sent, name="sms", channel="sms")
    _ping(email, store, "c-1", 1)
    _ping(sms, store, "c-1", 1)
    quiet = QuietHours(start=time(21), end=time(8), channels=["email"])
    OutboxWorker(email, store, caps=[EMAIL_2_PER_DAY], quiet_hours=quiet).run_once()
    OutboxWorker(sms, store, caps=[EMAIL_2_PER_DAY], quiet_hours=quiet).run_once()
    assert sent == ["sms:c-1:1:mail"]


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: FrequencyCap(channel="email", limit=0, per=H), "limit must be an int >= 1"),
        (lambda: FrequencyCap(channel="email", limit=True, per=H), "limit must be an int >= 1"),
        (lambda: FrequencyCap(channel="email", limit=1, per=-H), "per must be a timedelta"),
        (lambda: FrequencyCap(channel="email", limit=1, per=3600), "per must be a timedelta"),
        (lambda: FrequencyCap(channel="e mail", limit=1, per=H), "channel must be an identifier"),
        (lambda: FrequencyCap(channel="", limit=1, per=H), "channel must be an identifier"),
        (
            lambda: FrequencyCap(channel="email", limit=1, per=H, on_cap="later"),  # type: ignore[arg-type]
            "on_cap must be 'defer' or 'drop'",
        ),
        (lambda: QuietHours(start=time(8), end=time(8)), "start and end are equal"),
        (lambda: QuietHours(start=21, end=time(8)), "start must be a datetime.time"),  # type: ignore[arg-type]
        (
            lambda: QuietHours(start=time(21, tzinfo=timezone.utc), end=time(8)),
            "without tzinfo",
        ),
        (lambda: QuietHours(start=time(21), end=time(8), tz="Mars/Olympus"), "unknown time zone"),
        (lambda: QuietHours(start=time(21), end=time(8), tz=3), "tz must be a zone name"),  # type: ignore[arg-type]
        (lambda: QuietHours(start=time(21), end=time(8), channels="email"), "list of channels"),
    ],
)
def test_bad_caps_and_quiet_hours_are_refused_naming_the_fix(make: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make()


def test_bad_worker_configurations_are_refused(clock: ManualClock) -> None:
    from journeyfsm.stores import MemoryStore

    machine, store = _machine(clock, []), MemoryStore()
    for caps, message in [
        (EMAIL_2_PER_DAY, "caps must be a list of FrequencyCap"),
        (["email"], "caps must be a list of FrequencyCap, got an item"),
        (
            [EMAIL_2_PER_DAY, FrequencyCap(channel="email", limit=5, per=24 * H)],
            "two caps on channel 'email' with the same window",
        ),
    ]:
        with pytest.raises(ValueError, match=message):
            OutboxWorker(machine, store, caps=caps)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="quiet_hours must be a QuietHours"):
        OutboxWorker(machine, store, quiet_hours=(21, 8))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"effect\(on_cap=...\) needs channel"):
        machine.effect(on_transition="ping", on_cap="drop", name="x")
    with pytest.raises(ValueError, match=r"effect\(channel=...\): channel must be"):
        machine.effect(on_transition="ping", channel="e mail", name="y")
    with pytest.raises(ValueError, match="on_cap must be 'defer' or 'drop'"):
        machine.effect(on_transition="ping", channel="email", on_cap="never", name="z")


def test_a_customer_function_that_fails_fails_the_row_and_not_the_others(store: Store) -> None:
    clock, sent = ManualClock(START), []
    machine = _machine(clock, sent)
    _ping(machine, store, "c-1", 1)
    _ping(machine, store, "bad", 1)

    def customer(call: EffectCall) -> str:
        return call.key if call.key != "bad" else ""

    OutboxWorker(machine, store, caps=[EMAIL_2_PER_DAY], customer=customer).run_once()
    assert sent == ["caps:c-1:1:mail"]
    (row,) = [r for r in _rows(store) if r.status == "pending"]
    assert row.key == "bad" and row.attempts == 1
    assert (
        row.last_error is not None and "customer(call) must give a non-empty str" in row.last_error
    )


def test_the_async_worker_defers_and_drops_as_the_sync_one(store: Store) -> None:
    clock, sent = ManualClock(START), []
    machine = _machine(clock, sent)  # the moves: written by the sync service
    _ping(machine, store, "c-1", 3)
    amachine = AsyncJourneyMachine(machine.definition, clock=clock, logger=quiet_logger())
    asent: list[str] = []

    @amachine.effect(on_transition="ping", channel="email")
    async def mail(call: EffectCall) -> None:
        asent.append(call.idempotency_key)

    async def run() -> None:
        async with twin(store) as astore:
            worker = AsyncOutboxWorker(amachine, astore, caps=[EMAIL_2_PER_DAY])
            assert await worker.run_once() == 3
            assert asent == ["caps:c-1:1:mail", "caps:c-1:2:mail"]
            (row,) = [r for r in await _arows(astore) if r.status == "pending"]
            assert row.last_error == "capped: email 2 per 24h until 2026-01-02T09:00:00Z"
            clock.advance(24 * H)
            assert await worker.run_once() == 1
            assert await worker.counts() == {"pending": 0, "dead": 0, "done": 3, "dropped": 0}

    asyncio.run(run())
    assert sent == []


def test_the_async_worker_drops_over_the_cap(store: Store) -> None:
    clock = ManualClock(START)
    _ping(_machine(clock, []), store, "c-1", 2)
    amachine = AsyncJourneyMachine(
        _machine(clock, []).definition, clock=clock, logger=quiet_logger()
    )
    asent: list[str] = []

    @amachine.effect(on_transition="ping", channel="email", on_cap="drop")
    async def mail(call: EffectCall) -> None:
        asent.append(call.idempotency_key)

    async def run() -> list[Any]:
        async with twin(store) as astore:
            cap = FrequencyCap(channel="email", limit=1, per=H)
            worker = AsyncOutboxWorker(amachine, astore, caps=[cap])
            await worker.run_once()
            return await worker.dropped()

    (dropped,) = asyncio.run(run())
    assert asent == ["caps:c-1:1:mail"]
    assert dropped.seq == 2 and dropped.last_error == "capped: email 1 per 1h; dropped"


def _rows(store: Store) -> list[Any]:
    with store.transaction(write=False) as tx:
        return [r for d in ("caps", "other", "sms") for r in tx.outbox(d)]


async def _arows(astore: Any) -> list[Any]:
    async with astore.transaction(write=False) as tx:
        return list(await tx.outbox("caps"))


def test_a_schema_2_sqlite_file_is_upgraded_to_3_by_create_schema(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    SQLiteStore(path, create_schema=True)
    with closing(sqlite3.connect(path)) as conn, conn:
        conn.execute('DROP TABLE "journeyfsm_deliveries"')
        conn.execute(f'UPDATE "journeyfsm_schema_version" SET version = {CAPS_SCHEMA - 1}')
    from journeyfsm import StoreError

    with pytest.raises(
        StoreError, match=f"version {CAPS_SCHEMA - 1}, this journeyfsm needs {SCHEMA_VERSION}"
    ):
        SQLiteStore(path)
    SQLiteStore(path, create_schema=True)
    with closing(sqlite3.connect(path)) as conn:
        assert conn.execute('SELECT version FROM "journeyfsm_schema_version"').fetchall() == [
            (SCHEMA_VERSION,)
        ]
        assert conn.execute('SELECT COUNT(*) FROM "journeyfsm_deliveries"').fetchone() == (0,)
    SQLiteStore(path)  # accepted


def test_a_schema_2_postgres_database_is_upgraded_to_3_by_create_schema() -> None:
    import uuid

    from journeyfsm import StoreError
    from journeyfsm.stores import PostgresStore

    prefix = f"u{uuid.uuid4().hex[:10]}_"
    first = PostgresStore(pg_dsn(), prefix=prefix, create_schema=True, max_size=2)
    try:
        with first.transaction() as tx:
            tx.conn.execute(f'DROP TABLE "{prefix}deliveries"')
            tx.conn.execute(f'UPDATE "{prefix}schema_version" SET version = {CAPS_SCHEMA - 1}')
        with pytest.raises(
            StoreError, match=f"version {CAPS_SCHEMA - 1}, this journeyfsm needs {SCHEMA_VERSION}"
        ):
            PostgresStore(pg_dsn(), prefix=prefix, max_size=1).close()
        again = PostgresStore(pg_dsn(), prefix=prefix, create_schema=True, max_size=1)
        again.close()
        with first.transaction() as tx:
            assert tx.conn.execute(f'SELECT version FROM "{prefix}schema_version"').fetchall() == [
                (SCHEMA_VERSION,)
            ]
            assert tx.conn.execute(f'SELECT COUNT(*) FROM "{prefix}deliveries"').fetchone() == (0,)
    finally:
        with first.transaction() as tx:
            drop_tables(tx.conn, prefix)
        first.close()


# -- four worker processes on one PostgreSQL database -----------------------------------
CUSTOMERS, PER_CUSTOMER, LIMIT, PER = 2, 10, 3, 1.0


@pytest.mark.parametrize("kill", [False, True], ids=["four", "one-killed"])
def test_four_worker_processes_never_go_over_the_cap(tmp_path: Path, kill: bool) -> None:
    import uuid

    from journeyfsm.stores import PostgresStore

    prefix = f"p{uuid.uuid4().hex[:10]}_"
    dsn = pg_dsn()
    store = PostgresStore(dsn, prefix=prefix, create_schema=True, max_size=2)
    try:
        machine = caps_machine()

        @machine.effect(on_transition="ping", channel="email")
        def mail(call: EffectCall) -> None:  # pragma: no cover - the processes run it
            pass

        service = JourneyService(machine, store)
        for i in range(PER_CUSTOMER):
            for c in range(CUSTOMERS):
                service.handle(f"c-{c}", "ping", event_id=f"c-{c}-{i}")
        script = Path(__file__).with_name("caps_process.py")
        db = f"pg:{prefix}:{dsn}"
        outs = [tmp_path / f"out-{n}.txt" for n in range(4)]
        env_base = {"PYTHONPATH": ":".join(sys.path)}
        if kill:  # a process killed inside its first delivery, before the others start
            victim = subprocess.run(
                [
                    sys.executable,
                    str(script),
                    db,
                    str(tmp_path / "victim.txt"),
                    str(LIMIT),
                    str(PER),
                    "30",
                ],
                env={**env_base, "KILL": "1"},
                capture_output=True,
                timeout=60,
            )
            assert victim.returncode == -9, victim.stderr.decode()
        procs = [
            subprocess.Popen(
                [sys.executable, str(script), db, str(out), str(LIMIT), str(PER), "40"],
                env=env_base,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
            for out in outs
        ]
        for p in procs:
            _, err = p.communicate(timeout=90)
            assert p.returncode == 0, err.decode()
        deliveries = [
            line.split() for out in outs if out.exists() for line in out.read_text().splitlines()
        ]
        keys = [d[0] for d in deliveries]
        # every effect delivered (deferred ones too, once they fit), none twice, none dropped
        assert len(keys) == len(set(keys)) == CUSTOMERS * PER_CUSTOMER
        with store.transaction(write=False) as tx:
            counts = tx.outbox_counts("caps")
            ledger = tx.conn.execute(
                f'SELECT customer, at FROM "{prefix}deliveries" ORDER BY customer, at'
            ).fetchall()
            deferred = tx.conn.execute(
                f"SELECT COUNT(*) FROM \"{prefix}outbox\" WHERE last_error LIKE 'capped:%%'"
            ).fetchone()[0]
        assert counts == {"pending": 0, "dead": 0, "done": CUSTOMERS * PER_CUSTOMER, "dropped": 0}
        assert deferred > 0  # the cap did bite
        by: dict[str, list[datetime]] = defaultdict(list)
        for customer, at in ledger:
            by[customer].append(at)
        assert sorted(by) == [f"c-{c}" for c in range(CUSTOMERS)]
        for customer, ats in by.items():
            assert len(ats) == PER_CUSTOMER  # the killed delivery counted once, resent
            for i in range(len(ats) - LIMIT):  # never LIMIT+1 inside one window
                assert ats[i + LIMIT] - ats[i] >= timedelta(seconds=PER), (customer, ats)
    finally:
        with store.transaction() as tx:
            drop_tables(tx.conn, prefix)
        store.close()
