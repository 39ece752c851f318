"""The stores: one behaviour on every store (transactions, version checks, paging,
retention), the SQLite schema and its errors, corrupted rows, hostile input."""

from __future__ import annotations

import sqlite3
import uuid
from contextlib import closing
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import attrs
import pytest
from conftest import START, checkout_builder, quiet_logger
from service_support import (
    dump_sqlite,
    dump_store,
    open_store,
    pg_dsn,
    shop_machine,
    store,
    store_factory,
)

from journeyfsm import (
    ConcurrencyConflict,
    Context,
    DataError,
    EffectCall,
    JourneyMachine,
    JourneyService,
    ManualClock,
    StoreError,
    UnknownTrigger,
)
from journeyfsm.service._core import Event, decide
from journeyfsm.stores import SCHEMA_VERSION, MemoryStore, SQLiteStore, Store, StoreTransaction

__all__ = ["open_store", "store"]  # fixtures, imported to be found


def _decision(service: JourneyService, key: str, trigger: str, **kw: Any) -> Any:
    with service.store.transaction(write=False) as tx:
        row = tx.load("checkout", key)
    return decide(service.machine, row, Event(key, trigger, **kw), seen_seq=None, now=START)


def test_stores_satisfy_the_protocols(store: Store) -> None:
    assert isinstance(store, Store)
    with store.transaction() as tx:
        assert isinstance(tx, StoreTransaction)


def test_a_stale_version_is_a_conflict_and_writes_nothing(store: Store) -> None:
    service = JourneyService(shop_machine(ManualClock(START)), store)
    service.handle("c-1", "add_to_cart")
    stale = _decision(service, "c-1", "note")
    service.handle("c-1", "note")
    before = dump_store(store, "checkout", ["c-1"])
    with pytest.raises(ConcurrencyConflict, match="'c-1'"), store.transaction() as tx:
        tx.write(stale)
    assert dump_store(store, "checkout", ["c-1"]) == before


def test_a_first_move_written_twice_is_a_conflict(store: Store) -> None:
    service = JourneyService(shop_machine(ManualClock(START)), store)
    first = _decision(service, "c-1", "add_to_cart")
    second = _decision(service, "c-1", "add_to_cart")
    with store.transaction() as tx:
        tx.write(first)
    with pytest.raises(ConcurrencyConflict), store.transaction() as tx:
        tx.write(second)
    assert len(service.history("c-1")) == 1


def test_a_transaction_that_raises_leaves_nothing_behind(store: Store) -> None:
    service = JourneyService(shop_machine(ManualClock(START)), store)
    service.handle("c-1", "add_to_cart", event_id="e-0")
    before = dump_store(store, "checkout", ["c-1", "c-2"])
    moves = [_decision(service, k, "add_to_cart", event_id="e-1") for k in ("c-1", "c-2")]
    with pytest.raises(RuntimeError), store.transaction() as tx:
        for decision in moves:
            tx.write(decision)
        tx.purge_event_ids(START + timedelta(days=1))
        raise RuntimeError("after the writes, before the commit")
    assert dump_store(store, "checkout", ["c-1", "c-2"]) == before
    with store.transaction(write=False) as tx:
        assert tx.event_seq("checkout", "c-1", "e-0") == 1


def test_nested_transactions_roll_back_with_the_outer_one(store: Store) -> None:
    service = JourneyService(shop_machine(ManualClock(START)), store)
    move = _decision(service, "c-1", "add_to_cart")
    with pytest.raises(RuntimeError), store.transaction() as outer:
        with store.transaction() as inner:
            inner.write(move)
        assert outer.load("checkout", "c-1") is not None
        raise RuntimeError
    assert service.get("c-1") is None


# -- batches: load_many, event_seqs, write_many ---------------------------------------------
def _chain(service: JourneyService, key: str, triggers: list[str]) -> list[Any]:
    """Decisions for ``triggers`` on journey ``key``, each on the row the one before made."""
    with service.store.transaction(write=False) as tx:
        row = tx.load("checkout", key)
    out = []
    for i, trigger in enumerate(triggers):
        event = Event(key, trigger, event_id=f"{key}/{i}")
        out.append(decide(service.machine, row, event, seen_seq=None, now=START))
        row = out[-1].journey
    return out


def test_write_many_writes_each_journey_once_with_its_last_row_and_every_move(
    store: Store,
) -> None:
    service = JourneyService(shop_machine(ManualClock(START)), store)
    service.handle("c-1", "add_to_cart", event_id="before")
    c1 = _chain(service, "c-1", ["add_to_cart", "checkout", "note"])
    c2 = _chain(service, "c-2", ["add_to_cart", "note"])
    blocked = _decision(service, "c-3", "pay")  # ignored from browsing: writes nothing
    with store.transaction() as tx:
        tx.write_many([c1[0], c2[0], c1[1], blocked, c2[1], c1[2]])
    with store.transaction(write=False) as tx:
        rows = tx.load_many("checkout", ["c-1", "c-2", "c-3", "c-1"])
        assert rows == {"c-1": c1[-1].journey, "c-2": c2[-1].journey}
        assert [e.seq for e in tx.history("checkout", "c-1")] == [1, 2, 3, 4]
        assert [e.trigger for e in tx.history("checkout", "c-2")] == ["add_to_cart", "note"]
        seqs = tx.event_seqs(
            "checkout", [("c-1", "c-1/0"), ("c-1", "c-1/2"), ("c-2", "c-2/1"), ("c-2", "c-1/0")]
        )
        assert seqs == {("c-1", "c-1/0"): 2, ("c-1", "c-1/2"): 4, ("c-2", "c-2/1"): 2}
        outbox = [(o.key, o.seq, o.effect) for o in tx.outbox("checkout")]
        assert outbox == [("c-1", 1, "track"), ("c-1", 2, "track"), ("c-2", 1, "track")]
    assert service.get("c-1").version == 4  # type: ignore[union-attr]


def test_write_many_with_one_stale_journey_is_a_conflict_naming_it_and_writes_nothing(
    store: Store,
) -> None:
    service = JourneyService(shop_machine(ManualClock(START)), store)
    for key in ("c-1", "c-2", "c-3"):
        service.handle(key, "add_to_cart")
    moves = [*_chain(service, "c-1", ["note"]), *_chain(service, "c-2", ["note", "checkout"])]
    moves += _chain(service, "c-4", ["add_to_cart"])
    service.handle("c-2", "note")  # another writer moves c-2 meanwhile
    keys = ["c-1", "c-2", "c-3", "c-4"]
    before = dump_store(store, "checkout", keys)
    with pytest.raises(ConcurrencyConflict, match="'c-2'"), store.transaction() as tx:
        tx.write_many(moves)
    assert dump_store(store, "checkout", keys) == before


def test_write_many_of_a_first_move_another_writer_made_is_a_conflict(store: Store) -> None:
    service = JourneyService(shop_machine(ManualClock(START)), store)
    service.handle("c-1", "add_to_cart")
    moves = _chain(service, "c-1", ["note"]) + _chain(service, "c-new", ["add_to_cart", "note"])
    service.handle("c-new", "note")  # another writer makes c-new's first move meanwhile
    before = dump_store(store, "checkout", ["c-1", "c-new"])
    with pytest.raises(ConcurrencyConflict, match="'c-new'"), store.transaction() as tx:
        tx.write_many(moves)
    assert dump_store(store, "checkout", ["c-1", "c-new"]) == before


def test_moves_of_one_journey_that_do_not_chain_are_refused(store: Store) -> None:
    service = JourneyService(shop_machine(ManualClock(START)), store)
    twice = [_decision(service, "c-1", "add_to_cart"), _decision(service, "c-1", "note")]
    with pytest.raises(ValueError, match=r"'c-1'.*do not chain"), store.transaction() as tx:
        tx.write_many(twice)
    assert service.get("c-1") is None


def test_batch_reads_find_exactly_the_stored_rows_and_event_ids(store: Store) -> None:
    service = JourneyService(shop_machine(ManualClock(START)), store)
    keys = [f"c-{i}" for i in range(1200)] + ["it's", 'a "quoted" key', "x'); DROP TABLE y;--"]
    service.handle_many([Event(k, "add_to_cart", event_id=f"e-{k}") for k in keys], batch_size=600)
    wanted = ["nobody", *reversed(keys)]
    with store.transaction(write=False) as tx:
        rows = tx.load_many("checkout", wanted)
        assert sorted(rows) == sorted(keys)
        assert all(row.key == key and row.version == 1 for key, row in rows.items())
        assert tx.load_many("other", keys) == {} and tx.load_many("checkout", []) == {}
        pairs = [(k, f"e-{k}") for k in keys] + [(keys[0], f"e-{keys[1]}"), ("nobody", "e-")]
        assert tx.event_seqs("checkout", pairs) == {(k, f"e-{k}"): 1 for k in keys}
        assert tx.event_seqs("checkout", []) == {}


def test_journeys_are_keyed_by_definition_and_key(store: Store) -> None:
    service = JourneyService(shop_machine(ManualClock(START)), store)
    service.handle("c-1", "add_to_cart")
    move = _decision(service, "c-1", "note")
    other = attrs.evolve(move, journey=attrs.evolve(move.journey, definition="other"))
    with store.transaction() as tx:
        tx.write(attrs.evolve(other, expected_version=None))
        assert tx.load("other", "c-1") is not None
        assert tx.load("checkout", "c-1").version == 1  # type: ignore[union-attr]
        # one customer, several journeys: which definitions have one
        assert tx.definitions_of("c-1") == ["checkout", "other"]
        assert tx.definitions_of("nobody") == []


def test_purge_event_ids_counts_what_it_removed(store: Store) -> None:
    clock = ManualClock(START)
    service = JourneyService(shop_machine(clock), store)
    for i in range(3):
        service.handle(f"c-{i}", "add_to_cart", event_id="e")
        clock.advance(timedelta(days=10))
    with store.transaction() as tx:
        assert tx.purge_event_ids(START + timedelta(days=15)) == 2
    with store.transaction(write=False) as tx:
        assert [tx.event_seq("checkout", f"c-{i}", "e") for i in range(3)] == [None, None, 1]


def test_outbox_rows_are_claimed_once_until_the_lease_expires(store: Store) -> None:
    service = JourneyService(shop_machine(ManualClock(START)), store)
    service.handle("c-1", "add_to_cart")
    lease = timedelta(seconds=30)
    with store.transaction() as tx:
        [item] = tx.claim("checkout", worker="a", now=START, lease=lease, limit=10)
        assert tx.claim("checkout", worker="b", now=START, lease=lease, limit=10) == []
        assert tx.claim("other", worker="b", now=START + lease, lease=lease, limit=10) == []
        [again] = tx.claim("checkout", worker="b", now=START + lease, lease=lease, limit=10)
    assert (item.attempts, again.attempts, again.lease_owner) == (1, 2, "b")
    assert again.lease_until == START + 2 * lease


# -- SQLite: schema, errors, corruption, hostile input -------------------------------------
def test_create_schema_is_idempotent_and_records_the_version(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    store = SQLiteStore(path, create_schema=True)
    store.create_schema()
    SQLiteStore(path, create_schema=True)
    with closing(sqlite3.connect(path)) as conn:
        assert conn.execute("SELECT version FROM journeyfsm_schema_version").fetchall() == [
            (SCHEMA_VERSION,)
        ]
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_opening_a_file_without_the_schema_says_what_to_run(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match=r"no journeyfsm schema.*create_schema=True") as info:
        SQLiteStore(tmp_path / "empty.db")
    assert info.value.table == "schema_version"


@pytest.mark.parametrize(
    ("version", "message"),
    [
        (0, f"version 0, this journeyfsm needs {SCHEMA_VERSION}; run"),
        (99, "newer than this journeyfsm's"),
    ],
)
def test_opening_an_older_or_newer_schema_says_what_to_do(
    tmp_path: Path, version: int, message: str
) -> None:
    path = tmp_path / "j.db"
    SQLiteStore(path, create_schema=True)
    with closing(sqlite3.connect(path)) as conn, conn:
        conn.execute("UPDATE journeyfsm_schema_version SET version = ?", (version,))
    with pytest.raises(StoreError, match=message):
        SQLiteStore(path)


def test_a_file_that_is_not_a_database_is_one_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("hello " * 1000)
    with pytest.raises(StoreError, match=r"cannot (open|read|begin).*notes\.txt"):
        SQLiteStore(path)


def test_prefix_must_be_an_identifier(tmp_path: Path) -> None:
    for bad in ['x"; DROP TABLE t; --', "1abc", "a b", "a" * 40, "é"]:
        with pytest.raises(ValueError, match="table prefix"):
            SQLiteStore(tmp_path / "j.db", prefix=bad, create_schema=True)
    assert not (tmp_path / "j.db").exists() or dump_sqlite(tmp_path / "j.db") == {}


def test_two_prefixes_share_a_file_without_touching_each_other(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    a = JourneyService(shop_machine(), SQLiteStore(path, prefix="a_", create_schema=True))
    b = JourneyService(shop_machine(), SQLiteStore(path, prefix="b_", create_schema=True))
    a.handle("c-1", "add_to_cart")
    assert b.get("c-1") is None


HOSTILE = [
    "x'); DROP TABLE journeyfsm_journeys; --",
    "' OR '1'='1",
    'c"; DELETE FROM journeyfsm_history; --',
    "ключ-💥",
    "%:%3A",
]


def test_hostile_keys_and_payloads_touch_only_their_own_rows(store: Store) -> None:
    service = JourneyService(shop_machine(), store)
    service.handle("bystander", "add_to_cart", {"sku": "mug"}, event_id="e")
    bystander = dump_store(store, "checkout", ["bystander"])
    for key in HOSTILE:
        payload = {"sku": key, key: [key]}
        assert service.handle(key, "add_to_cart", payload, event_id=key, meta={key: key}).moved
        assert service.handle(key, "add_to_cart", event_id=key).duplicate
        journey = service.get(key)
        assert journey is not None and journey.data["cart"] == [key]
        [entry] = service.history(key)
        assert entry.event_id == key and entry.meta == {key: key}
        with pytest.raises(UnknownTrigger):
            service.handle(key, key)
    for key, event_id in [("k\x00ey", "e"), ("key", "e\x00")]:
        with pytest.raises((ValueError, TypeError), match="NUL"):
            service.handle(key, "add_to_cart", event_id=event_id)
    assert dump_store(store, "checkout", ["bystander"]) == bystander
    if isinstance(store, SQLiteStore):
        tables = dump_sqlite(Path(str(store.path)))
        assert len(tables["journeyfsm_journeys"]) == 1 + len(HOSTILE)
        assert len(tables["journeyfsm_history"]) == 1 + len(HOSTILE)


def _corrupt(path: Path, sql: str, *params: Any) -> None:
    with closing(sqlite3.connect(path)) as conn, conn:
        assert conn.execute(sql, params).rowcount == 1


@pytest.mark.parametrize(
    ("sql", "table", "message"),
    [
        ("UPDATE journeyfsm_journeys SET stage = 'limbo'", "journeys", "limbo"),
        ("UPDATE journeyfsm_journeys SET data = '{\"cart\": ['", "journeys", "malformed JSON"),
        ("UPDATE journeyfsm_journeys SET data = '[1, 2]'", "journeys", "data"),
        ("UPDATE journeyfsm_journeys SET definition_version = '[3]'", "journeys", "version"),
        ("UPDATE journeyfsm_journeys SET version = 7", "journeys", "history ends at seq 1"),
        ("UPDATE journeyfsm_journeys SET entered_at = 'yesterday'", "journeys", "entered_at"),
        ("UPDATE journeyfsm_history SET meta = 'nope'", "history", "malformed JSON"),
        ("UPDATE journeyfsm_history SET at = '2026-01-01T09:00:00'", "history", "UTC offset"),
    ],
)
def test_a_corrupted_row_is_a_store_error_naming_table_and_key(
    tmp_path: Path, sql: str, table: str, message: str
) -> None:
    path = tmp_path / "j.db"
    service = JourneyService(shop_machine(), SQLiteStore(path, create_schema=True))
    service.handle("c-7", "add_to_cart", meta={"channel": "web"})
    service.handle("bystander", "add_to_cart")
    _corrupt(path, sql + " WHERE key = 'c-7'")
    with pytest.raises(StoreError, match=message) as info:
        if table == "history":
            service.history("c-7")
        elif "SET version" in sql:
            service.get("c-7")
            raise AssertionError("a version the history contradicts is found on the next move")
        else:
            service.handle("c-7", "note")
    assert (info.value.table, info.value.key) == (table, "c-7")
    assert f"{table}" in str(info.value) and "'c-7'" in str(info.value)
    assert service.handle("bystander", "note").moved  # the others are unaffected


def test_memory_store_reports_a_corrupted_row_the_same_way() -> None:
    store = MemoryStore()
    service = JourneyService(shop_machine(), store)
    service.handle("c-7", "add_to_cart")
    row = store._journeys[("checkout", "c-7")]
    store._journeys[("checkout", "c-7")] = attrs.evolve(row, stage="limbo")
    with pytest.raises(StoreError, match="limbo") as info:
        service.handle("c-7", "note")
    assert (info.value.table, info.value.key) == ("journeys", "c-7")


def test_a_row_of_another_definition_version_loads_when_that_version_is_allowed(
    tmp_path: Path,
) -> None:
    path = tmp_path / "j.db"
    service = JourneyService(shop_machine(), SQLiteStore(path, create_schema=True))
    service.handle("c-1", "add_to_cart")
    _corrupt(path, "UPDATE journeyfsm_journeys SET definition_version = '2'")
    with pytest.raises(StoreError, match=r"written by version 2 .* allow_version=2"):
        service.handle("c-1", "note")
    lenient = JourneyMachine(checkout_builder().build(), allow_version=2, logger=quiet_logger())
    service = JourneyService(lenient, service.store)
    assert service.handle("c-1", "note").moved
    with service.store.transaction(write=False) as tx:
        row = tx.load("checkout", "c-1")
    assert row is not None and row.definition_version == 3  # written by this version


def test_effect_call_round_trips_through_its_dict() -> None:
    call = EffectCall(
        "thank_you",
        "checkout:c%3A1:2:thank_you",
        "c:1",
        "pay",
        "checkout",
        "paid",
        2,
        datetime(2026, 1, 1, 9, tzinfo=timezone.utc),
        {"paid": True},
        "e-2",
        {"channel": "web"},
        "checkout",
        {"cart": ["mug"]},
    )
    assert EffectCall.from_dict(call.to_dict()) == call


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"seq": "2"}, "'seq'"),
        ({"at": "2026-01-01T09:00:00"}, "'at'"),
        ({"effect": None}, "'effect'"),
        ({"data": None}, "'data'"),
        ({"extra": 1}, "unknown keys"),
    ],
)
def test_effect_call_from_dict_names_the_bad_field(change: dict[str, Any], message: str) -> None:
    good = EffectCall(
        "e", "k", "c", "t", "s", "d", 1, datetime(2026, 1, 1, tzinfo=timezone.utc)
    ).to_dict()
    with pytest.raises(ValueError, match=message):
        EffectCall.from_dict({**good, **change})


# -- PostgreSQL: the same errors, said in one line, never showing a password ---------------
def test_postgres_wrong_dsn_is_one_clear_line_without_the_password() -> None:
    from journeyfsm.stores import PostgresStore

    dsn = "postgresql://app:s3cret-pw@127.0.0.1:1/shop?connect_timeout=1"
    with pytest.raises(StoreError) as info:
        PostgresStore(dsn, connect_timeout=2)  # nothing listens on port 1
    message = str(info.value)
    assert message.startswith("cannot connect to PostgreSQL") and "\n" not in message
    assert "refused" in message
    assert "s3cret-pw" not in message and "s3cret-pw" not in repr(info.value.__cause__)


def test_postgres_without_the_schema_says_what_to_run() -> None:
    from journeyfsm.stores import PostgresStore

    with pytest.raises(StoreError, match=r"no journeyfsm schema.*create_schema=True"):
        PostgresStore(pg_dsn(), prefix=f"missing{uuid.uuid4().hex[:8]}_")


def test_postgres_schema_and_prefix_must_be_identifiers() -> None:
    from journeyfsm.stores import PostgresStore

    for bad in ['x"; DROP TABLE t; --', "a b", ""]:
        with pytest.raises(ValueError):
            PostgresStore(pg_dsn(), schema=bad, create_schema=True)
    with pytest.raises(ValueError, match="table prefix"):
        PostgresStore(pg_dsn(), prefix="p'; --", create_schema=True)


def test_postgres_runs_inside_the_hosts_transaction(tmp_path: Path) -> None:
    import psycopg

    from journeyfsm.stores import PostgresStore

    factory, close = store_factory("postgres", tmp_path)
    prefix = factory().prefix  # type: ignore[attr-defined]
    try:
        with psycopg.connect(pg_dsn()) as conn:
            service = JourneyService(shop_machine(), PostgresStore(connection=conn, prefix=prefix))
            assert service.handle("c-1", "add_to_cart", event_id="e-1").moved
            conn.rollback()  # the host's request failed
            assert service.get("c-1") is None
            service.handle("c-1", "add_to_cart", event_id="e-1")
            other = JourneyService(shop_machine(), factory())
            assert other.get("c-1") is None  # not committed by the store
            conn.commit()
            journey = other.get("c-1")
            assert journey is not None and journey.stage == "cart"
    finally:
        close()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("stage = 'limbo'", "limbo"),
        ("data = '[1, 2]'::jsonb", "data"),
        ("definition_version = '[3]'::jsonb", "version"),
        ("version = 7", "history ends at seq 1"),
    ],
)
def test_postgres_corrupted_row_is_a_store_error_naming_table_and_key(
    tmp_path: Path, change: str, message: str
) -> None:
    factory, close = store_factory("postgres", tmp_path)
    store = factory()
    try:
        service = JourneyService(shop_machine(), store)
        service.handle("c-7", "add_to_cart")
        service.handle("bystander", "add_to_cart")
        with store.transaction() as tx:
            tx.conn.execute(  # type: ignore[attr-defined]
                f'UPDATE "{store.prefix}journeys" SET {change} WHERE key = %s',  # type: ignore[attr-defined]
                ("c-7",),
            )
        with pytest.raises(StoreError, match=message) as info:
            service.handle("c-7", "note")
        assert (info.value.table, info.value.key) == ("journeys", "c-7")
        assert service.handle("bystander", "note").moved
    finally:
        close()


def test_postgres_refuses_a_nul_character_in_data_writing_nothing(tmp_path: Path) -> None:
    factory, close = store_factory("postgres", tmp_path)
    try:
        service = JourneyService(shop_machine(), factory())
        # refused by the service as on every store (tests/test_probe4_text.py)
        with pytest.raises(DataError, match=r"'c-1'.*nothing was written") as info:
            service.handle("c-1", "add_to_cart", {"sku": "mu\x00g"}, event_id="e-1")
        assert info.value.key == "c-1"
        assert service.get("c-1") is None
        assert service.handle("c-1", "add_to_cart", {"sku": "mug"}, event_id="e-1").moved
    finally:
        close()


def test_postgres_refuses_a_nul_character_in_a_batch_writing_the_events_before_it(
    tmp_path: Path,
) -> None:
    factory, close = store_factory("postgres", tmp_path)
    try:
        store = factory()
        service = JourneyService(shop_machine(), store)
        moves = [*_chain(service, "c-1", ["add_to_cart"]), *_chain(service, "c-2", ["note"])]
        # a NUL the service would have refused (DataError), reaching the store anyway
        good = _decision(service, "c-3", "add_to_cart", payload={"sku": "mug"})
        bad = attrs.evolve(good, journey=attrs.evolve(good.journey, data={"cart": ["mu\x00g"]}))
        with (
            pytest.raises(StoreError, match=r"'c-1'.*nothing of the batch"),
            store.transaction() as tx,
        ):
            tx.write_many([*moves, bad])
        assert dump_store(store, "checkout", ["c-1", "c-2", "c-3"]) == [(None, [], [])] * 3
        events = [
            Event("c-1", "add_to_cart", event_id="e-1"),
            Event("c-3", "add_to_cart", {"sku": "mu\x00g"}, event_id="e-2"),
            Event("c-2", "note", event_id="e-3"),
        ]
        with pytest.raises(DataError, match=r"'c-3'.*nothing was written"):
            service.handle_many(events)  # refused before any event is handled
        assert [service.get(k) for k in ("c-1", "c-2", "c-3")] == [None] * 3
    finally:
        close()


def test_postgres_a_batch_that_waits_on_a_row_another_writer_then_moves_is_a_conflict(
    tmp_path: Path,
) -> None:
    """write_many updates stored journeys by the row a primary key probe found: when
    another writer's move of one of them commits while the batch waits for its lock, READ
    COMMITTED's re-check must skip the row (a conflict, nothing of the batch written),
    never overwrite the other writer's move."""
    import threading
    import time

    import psycopg

    factory, close = store_factory("postgres", tmp_path)
    try:
        store = factory()
        service = JourneyService(shop_machine(ManualClock(START)), store)
        for key in ("c-1", "c-2", "c-3"):
            service.handle(key, "add_to_cart")
        moves = [m for k in ("c-1", "c-2", "c-3") for m in _chain(service, k, ["note"])]
        moves += _chain(service, "c-4", ["add_to_cart"])
        keys = ["c-1", "c-2", "c-3", "c-4"]
        prefix = store.prefix  # type: ignore[attr-defined]
        table = f'"{prefix}journeys"'
        with psycopg.connect(pg_dsn()) as other:
            # the other writer's move of c-2: applied, its row locked, not yet committed
            other.execute(
                f"UPDATE {table} SET version = 2 WHERE definition = 'checkout' AND key = 'c-2'"
            )
            other.execute(
                f"INSERT INTO \"{prefix}history\" VALUES ('checkout', 'c-2', 2, "
                "'note', 'cart', 'cart', now(), 'other-writer', NULL)"
            )
            raised: list[BaseException] = []

            def batch() -> None:
                try:
                    with store.transaction() as tx:
                        tx.write_many(moves)
                except BaseException as err:  # handed to the test
                    raised.append(err)

            thread = threading.Thread(target=batch)
            thread.start()
            deadline = time.monotonic() + 10
            with psycopg.connect(pg_dsn(), autocommit=True) as watch:
                while time.monotonic() < deadline:  # until the batch waits for c-2's lock
                    waiting = watch.execute(
                        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                        "AND query LIKE %s",
                        (f'UPDATE %{prefix}journeys" AS j %',),
                    ).fetchone()
                    if waiting and waiting[0]:
                        break
                    time.sleep(0.01)
                else:
                    raise AssertionError("the batch never waited for the locked row")
            after = dump_store(store, "checkout", keys)  # c-2 not yet moved, for readers
            other.commit()
            thread.join(10)
        assert len(raised) == 1 and isinstance(raised[0], ConcurrencyConflict), raised
        # found by the journeys row's re-check, not only by the history row's key after it
        assert "'c-2' was moved by another worker first (expected version 1)" in str(raised[0])
        now = dump_store(store, "checkout", keys)
        assert now[1][0].version == 2  # the other writer's move, not overwritten
        assert [e.event_id for e in now[1][1]] == [None, "other-writer"]
        assert [now[0], now[2], now[3]] == [after[0], after[2], after[3]]  # nothing written
    finally:
        close()


def test_postgres_a_conflict_inside_the_hosts_transaction_keeps_the_hosts_writes(
    tmp_path: Path,
) -> None:
    """A unique violation aborts the PostgreSQL transaction it happens in: the store's
    block (a savepoint in the host's transaction) must undo only itself, so the retry, the
    host's own earlier writes and its commit still work, for handle and for a batch."""
    import psycopg

    from journeyfsm.stores import PostgresStore

    factory, close = store_factory("postgres", tmp_path)
    prefix = factory().prefix  # type: ignore[attr-defined]
    try:
        with psycopg.connect(pg_dsn()) as conn:
            conn.execute(f'CREATE TABLE "{prefix}orders" (id text PRIMARY KEY)')
            conn.commit()
            machine = shop_machine(ManualClock(START))
            service = JourneyService(machine, PostgresStore(connection=conn, prefix=prefix))
            other = JourneyService(shop_machine(ManualClock(START)), factory())
            raced: list[str] = []

            @machine.before
            def another_worker_moves_first(ctx: Context) -> None:
                if ctx.journey.key not in raced:  # between this read and this write
                    raced.append(ctx.journey.key)
                    other.handle(
                        ctx.journey.key, "add_to_cart", event_id=f"other-{ctx.journey.key}"
                    )

            conn.execute(f"INSERT INTO \"{prefix}orders\" VALUES ('o-1')")  # the host's write
            # c-1's first move: the other worker's first move makes this one's INSERT a
            # unique violation (not a version miss), retried on the fresh journey
            assert service.handle("c-1", "add_to_cart", event_id="mine-1").moved
            outcomes = service.handle_many(
                [Event("c-2", "add_to_cart", event_id="mine-2"), Event("c-3", "note")]
            )
            assert [o.status for o in outcomes] == ["moved", "moved"]
            # a value no store can hold, in a batch: refused before any of it is
            # handled, the host's transaction untouched
            with pytest.raises(DataError, match="'c-5'"):
                service.handle_many(
                    [
                        Event("c-4", "add_to_cart", event_id="mine-4"),
                        Event("c-5", "add_to_cart", {"sku": "mu\x00g"}, event_id="mine-5"),
                    ]
                )
            conn.execute(f"INSERT INTO \"{prefix}orders\" VALUES ('o-2')")
            conn.commit()
            orders = conn.execute(f'SELECT id FROM "{prefix}orders" ORDER BY id').fetchall()
            assert orders == [("o-1",), ("o-2",)]
            conn.execute(f'DROP TABLE "{prefix}orders"')
            conn.commit()
        for key in ("c-1", "c-2"):
            assert [e.event_id for e in other.history(key)] == [f"other-{key}", f"mine-{key[2:]}"]
        assert [e.trigger for e in other.history("c-3")] == ["add_to_cart", "note"]
        assert other.history("c-4") == []
        assert other.history("c-5") == []
    finally:
        close()


def test_postgres_a_write_in_an_autocommit_read_block_is_still_whole(tmp_path: Path) -> None:
    """Writes add no savepoint inside ``store.transaction()`` (its block rolls a failed
    write back); in a read block (autocommit) there is none, so they open a transaction:
    a write that fails half-way leaves nothing, even there."""
    import psycopg

    factory, close = store_factory("postgres", tmp_path)
    try:
        store = factory()
        service = JourneyService(shop_machine(ManualClock(START)), store)
        single = _decision(service, "c-1", "add_to_cart")
        batch = _chain(service, "c-2", ["add_to_cart", "note"])
        prefix = store.prefix  # type: ignore[attr-defined]
        with psycopg.connect(pg_dsn()) as conn:  # leftover history rows: the inserts fail
            for key in ("c-1", "c-2"):
                conn.execute(
                    f'INSERT INTO "{prefix}history" VALUES (%s, %s, 1, %s, %s, %s, now(), '
                    "NULL, NULL)",
                    ("checkout", key, "x", "browsing", "cart"),
                )
        for key in ("c-1", "c-2"):
            with pytest.raises(ConcurrencyConflict), store.transaction(write=False) as tx:
                if key == "c-1":
                    tx.write(single)
                else:
                    tx.write_many(batch)
            with psycopg.connect(pg_dsn()) as conn:  # the journeys row was not kept
                found = conn.execute(
                    f'SELECT count(*) FROM "{prefix}journeys" WHERE key = %s', (key,)
                ).fetchone()
                assert found == (0,), key
    finally:
        close()
