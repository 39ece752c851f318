"""Values handed in at the durable service's entry, probed on both drivers over SQLite:
each is a clear error naming the problem and the fix, raised before anything is written
(never a bare driver ``UnicodeEncodeError``/``OverflowError``, never silently accepted)."""

from __future__ import annotations

import asyncio
import math
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import START
from service_support import async_machine_of, shop_machine

from journeyfsm import (
    AsyncJourneyService,
    AsyncOutboxWorker,
    AsyncTimeoutWorker,
    DataError,
    Event,
    JourneyService,
    ManualClock,
    OutboxWorker,
    SnapshotError,
    TimeoutWorker,
)
from journeyfsm.stores import AsyncMemoryStore, AsyncSQLiteStore, SQLiteStore


def _sync(tmp_path: Path) -> tuple[JourneyService, SQLiteStore]:
    store = SQLiteStore(tmp_path / "s.db", create_schema=True)
    return JourneyService(shop_machine(ManualClock(START)), store), store


def _stored(store: SQLiteStore) -> int:
    with store.transaction() as tx:
        return len(tx.journeys_page(None, after=None, limit=10))


LONE = "a\udcff"  # what bytes.decode(errors="surrogateescape") gives for a bad byte


@pytest.mark.parametrize(
    "call",
    [
        lambda s: s.handle(LONE, "add_to_cart"),
        lambda s: s.handle("c-1", "add_to_cart", event_id=LONE),
        lambda s: s.handle_many([Event("c-0", "add_to_cart"), Event(LONE, "add_to_cart")]),
    ],
    ids=["key", "event_id", "handle_many"],
)
def test_a_key_or_event_id_with_a_lone_surrogate_is_refused_first(
    tmp_path: Path, call: Any
) -> None:
    """A lone surrogate reached the driver: a bare ``UnicodeEncodeError``."""
    service, store = _sync(tmp_path)
    with pytest.raises((ValueError, TypeError), match="lone surrogates"):
        call(service)
    assert _stored(store) == 0


def test_reads_of_a_key_no_store_can_hold_find_nothing(tmp_path: Path) -> None:
    """``get``/``history``/``peek`` of a key with a lone surrogate reached the driver: a
    bare ``UnicodeEncodeError``.  Such a key is never stored: nothing is found (as for a
    key with a NUL), and a read of what is not a key at all is refused."""
    service, _ = _sync(tmp_path)
    assert service.get(LONE) is None
    assert service.history(LONE) == []
    journey = service.peek(LONE)
    assert (journey.key, journey.stage, journey.version) == (LONE, "browsing", 0)
    for bad in (5, "", None):
        with pytest.raises(ValueError, match="journey key must be a non-empty str"):
            service.get(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("payload", "meta"),
    [({"sku": LONE}, None), ({LONE: 1}, None), (None, {"channel": LONE})],
    ids=["payload-value", "payload-key", "meta"],
)
def test_text_that_is_not_unicode_in_payload_or_meta_is_a_data_error(
    tmp_path: Path, payload: Any, meta: Any
) -> None:
    service, store = _sync(tmp_path)
    with pytest.raises(DataError, match=r"journey 'c-1'.*not valid Unicode.*nothing was written"):
        service.handle("c-1", "add_to_cart", payload, meta=meta, event_id="e-1")
    assert _stored(store) == 0
    # the same event, repaired, goes through (the event id was not recorded)
    assert service.handle("c-1", "add_to_cart", {"sku": "a"}, event_id="e-1").status == "moved"


def test_the_async_driver_maps_text_that_is_not_unicode_the_same_way(tmp_path: Path) -> None:
    async def run() -> None:
        store = AsyncSQLiteStore(tmp_path / "a.db", create_schema=True)
        try:
            service = AsyncJourneyService(async_machine_of(shop_machine(ManualClock(START))), store)
            with pytest.raises(DataError, match="not valid Unicode"):
                await service.handle("c-1", "add_to_cart", {"sku": LONE}, event_id="e-1")
            assert await service.get("c-1") is None
            assert await service.get(LONE) is None
            with pytest.raises(ValueError, match="lone surrogates"):
                await service.handle(LONE, "add_to_cart")
        finally:
            await store.close()

    asyncio.run(run())


def test_an_unknown_policy_is_refused_even_when_the_event_moves(tmp_path: Path) -> None:
    """``policy="nope"`` was only checked when the event did not move: a typo such as
    ``"strcit"`` passed silently on every valid event."""
    service, store = _sync(tmp_path)
    with pytest.raises(ValueError, match="policy must be 'ignore', 'strict' or None"):
        service.handle("c-1", "add_to_cart", policy="strcit")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="policy"):
        service.handle_many([Event("c-1", "add_to_cart", policy="nope")])  # type: ignore[arg-type]
    assert _stored(store) == 0


def test_history_pages_are_checked_and_a_huge_limit_means_all(tmp_path: Path) -> None:
    """``history(limit=10**30)`` was an ``OverflowError`` from the driver."""
    service, _ = _sync(tmp_path)
    service.handle("c-1", "add_to_cart")
    assert [e.seq for e in service.history("c-1", limit=10**30)] == [1]
    assert [e.seq for e in service.history("c-1", after=-(10**30))] == [1]
    assert service.history("c-1", after=10**30) == []
    with pytest.raises(ValueError, match="after must be an int"):
        service.history("c-1", after="0")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"backoff": math.nan},
        {"backoff": -1.0},
        {"max_backoff": math.inf},
        {"backoff": True},
        {"name": ""},
        {"name": 5},
    ],
)
def test_outbox_worker_settings_are_checked(tmp_path: Path, kwargs: dict[str, Any]) -> None:
    """A nan, negative or infinite backoff and an empty or non-str lease owner were
    accepted, to fail (or retry at once) on the first failed delivery."""
    service, store = _sync(tmp_path)
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        OutboxWorker(service.machine, store, **kwargs)
    amachine = async_machine_of(service.machine)
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        AsyncOutboxWorker(amachine, AsyncMemoryStore(), **kwargs)


@pytest.mark.parametrize("interval", [math.nan, math.inf])
def test_timeout_worker_interval_must_be_finite(tmp_path: Path, interval: float) -> None:
    service, _ = _sync(tmp_path)
    with pytest.raises(ValueError, match="interval"):
        TimeoutWorker(service, interval=interval)
    aservice = AsyncJourneyService(async_machine_of(service.machine), AsyncMemoryStore())
    with pytest.raises(ValueError, match="interval"):
        AsyncTimeoutWorker(aservice, interval=interval)


@pytest.mark.parametrize("backoff", [math.nan, -0.5, math.inf, 3600.0])
def test_service_conflict_backoff_is_checked(tmp_path: Path, backoff: float) -> None:
    """A nan backoff made the first conflict's retry sleep raise ``ValueError``."""
    store = SQLiteStore(tmp_path / "s.db", create_schema=True)
    with pytest.raises(ValueError, match="backoff must be a number of seconds"):
        JourneyService(shop_machine(ManualClock(START)), store, backoff=backoff)


def test_lease_owner_still_defaults(tmp_path: Path) -> None:
    service, store = _sync(tmp_path)
    worker = OutboxWorker(service.machine, store, lease=timedelta(seconds=5), name="w-1")
    assert worker.name == "w-1"
    assert OutboxWorker(service.machine, store).name


@pytest.mark.parametrize("where", ["key", "data"])
def test_import_of_text_that_is_not_unicode_is_a_snapshot_error_naming_the_journey(
    tmp_path: Path, where: str
) -> None:
    """A lone surrogate in an imported journey's key or data was a bare
    ``UnicodeEncodeError`` from the driver."""
    service, store = _sync(tmp_path)
    machine = service.machine
    journeys = []
    for key in ("a", "b"):
        journey = machine.start(key)
        machine.fire(journey, "add_to_cart", {"sku": "x"}, event_id=f"{key}-1")
        journeys.append(journey)
    if where == "key":
        journeys[1].key = "b" + LONE
    else:
        journeys[1].data["note"] = LONE
    with pytest.raises(SnapshotError, match=r"cannot import journey 'b.*(surrogate|Unicode)"):
        service.import_journeys(journeys)
    assert _stored(store) == 0


@pytest.mark.parametrize("batch_size", [1, 5])
def test_a_tick_hook_writing_text_that_is_not_unicode_fails_that_journey_only(
    tmp_path: Path, batch_size: int
) -> None:
    """A hook of a timeout's move that put a lone surrogate into one journey's data made
    every ``tick`` raise a bare ``UnicodeEncodeError``: no other journey's timeout fired,
    ever.  Now that journey is in ``failed`` (still due) and the others move."""
    from test_service_timeouts import timeout_service
    from test_timeouts import T0, D

    clock = ManualClock(T0)
    service = timeout_service(SQLiteStore(tmp_path / "t.db", create_schema=True), clock)
    for i in range(4):
        service.handle(f"c-{i}", "add_to_cart", event_id=f"e{i}")
    clock.advance(D * 2)

    @service.machine.after
    def tag(ctx: Any) -> None:
        if ctx.journey.key == "c-1":
            ctx.journey.data["tag"] = LONE

    report = service.tick(batch_size=batch_size)
    assert [key for key, _ in report.failed] == ["c-1"]
    assert "DataError" in report.failed[0][1] and "not valid Unicode" in report.failed[0][1]
    stages = {}
    for i in range(4):
        journey = service.get(f"c-{i}")
        assert journey is not None
        stages[f"c-{i}"] = journey.stage
    assert stages == {"c-0": "abandoned", "c-1": "cart", "c-2": "abandoned", "c-3": "abandoned"}


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_size": 0},
        {"min_size": 5, "max_size": 2},
        {"min_size": -1},
        {"max_size": 2.0},
        {"connect_timeout": 0},
        {"connect_timeout": -5},
        {"connect_timeout": 0.5},
    ],
)
def test_postgres_pool_settings_are_checked_before_connecting(kwargs: dict[str, Any]) -> None:
    """A pool of size 0, a min_size above max_size or a non-positive connect_timeout were
    handed to psycopg (a connection made first, then psycopg_pool's own error; the async
    store only failed at ``open()``).  The DSN points nowhere: nothing may connect."""
    from journeyfsm.stores import AsyncPostgresStore, PostgresStore

    dsn = "postgresql://nobody@127.0.0.1:1/none"
    for cls in (PostgresStore, AsyncPostgresStore):
        with pytest.raises(ValueError, match=next(iter(kwargs))):
            cls(dsn, **kwargs)


def test_an_at_that_leaves_the_calendar_in_utc_is_a_clear_error(tmp_path: Path) -> None:
    """``at=datetime(1, 1, 1, tzinfo=+05:00)`` is valid but has no UTC value: it was a
    bare ``OverflowError: date value out of range``."""
    from datetime import datetime, timezone

    service, store = _sync(tmp_path)
    east = timezone(timedelta(hours=5))
    with pytest.raises(ValueError, match="outside the years 1 to 9999 once converted to UTC"):
        service.handle("c-1", "add_to_cart", at=datetime(1, 1, 1, tzinfo=east))
    with pytest.raises(ValueError, match="outside the years 1 to 9999"):
        service.tick(datetime(1, 1, 1, tzinfo=east))
    assert _stored(store) == 0
