"""Stored rows corrupted one column at a time (SQLite: the columns are typeless, so any
value fits): every read is a ``StoreError`` naming the table, the journey and the fix,
never a bare ``TypeError``/``ValueError``; nothing is half-written and the other
journeys keep working."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from conftest import START
from service_support import shop_machine

from journeyfsm import JourneyService, ManualClock, OutboxWorker, StoreError
from journeyfsm.stores import SQLiteStore


def _two_journeys(tmp_path: Path) -> tuple[JourneyService, SQLiteStore, list[str], Path]:
    delivered: list[str] = []
    machine = shop_machine(ManualClock(START), delivered)
    path = tmp_path / "s.db"
    store = SQLiteStore(path, create_schema=True)
    service = JourneyService(machine, store)
    for key in ("c-1", "c-2"):
        service.handle(key, "add_to_cart", payload={"sku": "a"}, event_id=f"{key}-e1")
    return service, store, delivered, path


def _corrupt(path: Path, table: str, column: str, value: object) -> None:
    conn = sqlite3.connect(path)
    with conn:
        conn.execute(
            f"UPDATE journeyfsm_{table} SET {column} = ? WHERE key = 'c-1'",
            (value,),
        )
    conn.close()


def test_a_history_meta_that_is_not_an_object_is_a_store_error(tmp_path: Path) -> None:
    """``history.meta`` holding a JSON list was a bare ``TypeError`` ("history meta must
    be a dict") from ``history()`` and ``journeys()``."""
    service, _, _, path = _two_journeys(tmp_path)
    _corrupt(path, "history", "meta", "[1]")
    with pytest.raises(StoreError, match=r"history row 1 of journey 'c-1' is corrupted.*repair"):
        service.history("c-1")
    assert [e.seq for e in service.history("c-2")] == [1]


def test_a_corrupted_event_id_seq_is_a_store_error_and_writes_nothing(tmp_path: Path) -> None:
    """``event_ids.seq`` that is not an integer made a redelivered event a bare
    ``ValueError: invalid literal for int()``."""
    service, _, _, path = _two_journeys(tmp_path)
    _corrupt(path, "event_ids", "seq", "x")
    with pytest.raises(StoreError, match=r"event_ids\.seq of journey 'c-1' \(event id 'c-1-e1'\)"):
        service.handle("c-1", "add_to_cart", payload={"sku": "b"}, event_id="c-1-e1")
    row = service.get("c-1")
    assert row is not None and row.version == 1
    assert service.handle("c-2", "add_to_cart", event_id="c-2-e1").status == "duplicate"


def test_an_outbox_row_with_an_unreadable_time_does_not_wedge_the_worker(tmp_path: Path) -> None:
    """An outbox row whose ``available_at`` is a naive time (it sorts as due) made every
    ``run_once`` raise ``StoreError``: the rows claimed with it stayed undelivered forever.
    Now that row is dead-lettered with the reason, and the others are delivered."""
    service, store, delivered, path = _two_journeys(tmp_path)
    _corrupt(path, "outbox", "available_at", "2026-01-01T09:00:00")
    worker = OutboxWorker(service.machine, store)
    assert worker.run_once() == 1
    assert len(delivered) == 1
    conn = sqlite3.connect(path)
    rows = conn.execute(
        "SELECT key, status, lease_owner, last_error FROM journeyfsm_outbox ORDER BY id"
    ).fetchall()
    conn.close()
    assert [(k, s, o) for k, s, o, _ in rows] == [("c-1", "dead", None), ("c-2", "done", None)]
    assert "outbox.available_at of journey 'c-1'" in rows[0][3]
    assert "requeue" in rows[0][3]
    assert worker.run_once() == 0


def test_a_full_database_is_a_store_error_with_the_right_fix(tmp_path: Path) -> None:
    """A write refused for a full disk said "begin it with BEGIN IMMEDIATE" (the fix for
    "database is locked"), which does not help; nothing is written and, with room again,
    the same event moves."""
    path = tmp_path / "full.db"
    SQLiteStore(path, create_schema=True)
    conn = sqlite3.connect(path, isolation_level=None)
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.execute(f"PRAGMA max_page_count = {pages}")
    service = JourneyService(shop_machine(ManualClock(START)), SQLiteStore(connection=conn))
    with pytest.raises(StoreError, match="database or disk is full") as caught:
        service.handle("c-1", "add_to_cart", {"sku": "x" * 5000}, event_id="e-1")
    assert "BEGIN IMMEDIATE" not in str(caught.value)
    assert "deliver the event again" in str(caught.value)
    assert not conn.in_transaction
    assert service.get("c-1") is None
    conn.execute(f"PRAGMA max_page_count = {pages + 1000}")
    assert service.handle("c-1", "add_to_cart", {"sku": "x"}, event_id="e-1").status == "moved"
    conn.close()


def test_a_full_database_on_the_stores_own_connection_is_a_store_error(tmp_path: Path) -> None:
    """On the store's own connection, SQLite rolls a transaction back itself when the
    disk is full; the store's ROLLBACK then failed and ``handle`` raised a bare
    ``sqlite3.OperationalError: cannot rollback - no transaction is active`` (hiding the
    cause), and the outbox worker a bare "database or disk is full"."""
    service, store, _, _ = _two_journeys(tmp_path)
    for i in range(30):  # outbox rows enough that claiming them needs new pages
        service.handle(f"d-{i}", "add_to_cart", {"sku": "x"}, event_id=f"d-{i}")
    conn = store._conn()  # the calling thread's connection (the page cap is per connection)
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.execute(f"PRAGMA max_page_count = {pages}")
    with pytest.raises(StoreError, match="database or disk is full"):
        service.handle("c-3", "add_to_cart", {"sku": "x" * 9000}, event_id="e-3")
    with pytest.raises(StoreError, match="database or disk is full"):
        OutboxWorker(service.machine, store).run_once()
    assert not conn.in_transaction
    assert service.get("c-3") is None
    conn.execute(f"PRAGMA max_page_count = {pages + 1000}")
    assert service.handle("c-3", "add_to_cart", {"sku": "x"}, event_id="e-3").status == "moved"
    assert OutboxWorker(service.machine, store).run_once() == 33


@pytest.mark.parametrize("busy_timeout", [-1, float("nan"), "30", True])
def test_sqlite_busy_timeout_is_checked(tmp_path: Path, busy_timeout: object) -> None:
    """A negative or nan ``busy_timeout`` was accepted (and "30" failed later, at the
    first connection, with a bare ``TypeError``)."""
    with pytest.raises(ValueError, match="busy_timeout must be a number of seconds"):
        SQLiteStore(tmp_path / "b.db", busy_timeout=busy_timeout)  # type: ignore[arg-type]
