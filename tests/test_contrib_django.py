"""journeyfsm.contrib.django on SQLite and PostgreSQL: the migrated schema is the stores',
the store joins ``transaction.atomic()`` (and commits alone outside it), the settings,
checks, admin pages and ``manage.py journeyfsm`` (a worker subprocess stopped by SIGTERM).

Django runs in this process with the test project of tests/django_project/ (see
tests/django_support.py); every test runs on both of its databases where it is about
the database.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import closing
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import django_support
import pytest

django_support.setup()

import psycopg  # noqa: E402
from django.contrib.auth.models import User  # noqa: E402
from django.core.exceptions import ImproperlyConfigured  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.core.management.base import CommandError  # noqa: E402
from django.db import connections, transaction  # noqa: E402
from django.test import AsyncClient, Client, override_settings  # noqa: E402

from journeyfsm import ConcurrencyConflict, JourneyService, StoreError  # noqa: E402
from journeyfsm.contrib.django import DjangoStore, get_machine, machines, service  # noqa: E402
from journeyfsm.contrib.django._checks import check_sqlite_transaction_mode  # noqa: E402
from journeyfsm.contrib.django._schema import statements  # noqa: E402
from journeyfsm.contrib.django._settings import config  # noqa: E402
from journeyfsm.contrib.django.models import Journey, OutboxRow  # noqa: E402
from journeyfsm.stores import SCHEMA_VERSION, PostgresStore, SQLiteStore  # noqa: E402
from journeyfsm.stores._base import CAPS_SCHEMA  # noqa: E402

ALIASES = ["default", "pg"]


@pytest.fixture(params=ALIASES)
def alias(request: pytest.FixtureRequest) -> Iterator[str]:
    """A database of the test project: ``default`` (SQLite) or ``pg`` (PostgreSQL)."""
    yield request.param
    connections[request.param].close()


def key() -> str:
    return f"c-{uuid.uuid4().hex[:10]}"


def orders(alias: str, customer: str) -> int:
    with connections[alias].cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM orders WHERE customer = %s", [customer])
        return int(cursor.fetchone()[0])


def place(alias: str, customer: str, sku: str) -> Any:
    with connections[alias].cursor() as cursor:
        cursor.execute("INSERT INTO orders (customer, sku) VALUES (%s, %s)", [customer, sku])
    return service("shop", using=alias).handle(
        customer, "add_to_cart", {"sku": sku}, event_id=f"order-{sku}"
    )


def other_connection_sees(alias: str, customer: str) -> bool:
    """Whether a connection that is not Django's sees the journey (committed)."""
    if alias == "default":
        conn = sqlite3.connect(os.environ["JFSM_SQLITE"], timeout=30)
        try:
            row = conn.execute(
                "SELECT COUNT(*) FROM journeyfsm_journeys WHERE key = ?", (customer,)
            ).fetchone()
        finally:
            conn.close()
        return bool(row[0])
    with psycopg.connect(django_support.pg_dsn_of_project()) as conn:
        row = conn.execute(
            "SELECT COUNT(*) FROM journeyfsm_journeys WHERE key = %s", (customer,)
        ).fetchone()
    assert row is not None
    return bool(row[0])


# -- the schema -------------------------------------------------------------------------


def _sqlite_schema(path: str) -> list[tuple[str, str]]:
    conn = sqlite3.connect(path)
    try:
        rows = conn.execute(
            "SELECT name, sql FROM sqlite_master WHERE name LIKE 'journeyfsm_%' ORDER BY name"
        ).fetchall()
        version = conn.execute("SELECT version FROM journeyfsm_schema_version").fetchall()
    finally:
        conn.close()
    return [*rows, ("version", repr(version))]


def test_sqlite_migrated_by_django_is_the_stores_schema_and_create_schema_changes_nothing(
    tmp_path: Path,
) -> None:
    django_made = _sqlite_schema(os.environ["JFSM_SQLITE"])
    reference = tmp_path / "store.db"
    SQLiteStore(reference, create_schema=True).close()
    assert django_made == _sqlite_schema(str(reference))
    assert ("version", f"[({SCHEMA_VERSION},)]") in django_made
    # the store accepts the file, and its own create_schema leaves it as it was
    SQLiteStore(os.environ["JFSM_SQLITE"], create_schema=True).close()
    assert _sqlite_schema(os.environ["JFSM_SQLITE"]) == django_made


_PG_CATALOG = """
SELECT 'column', c.relname, a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
       || CASE WHEN a.attnotnull THEN ' not null' ELSE '' END
       || coalesce(' default ' || pg_get_expr(d.adbin, d.adrelid), '')
FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE n.nspname = 'public' AND c.relname LIKE %(like)s AND c.relkind = 'r'
  AND a.attnum > 0 AND NOT a.attisdropped
UNION ALL
SELECT 'index', tablename, indexdef FROM pg_indexes
WHERE schemaname = 'public' AND tablename LIKE %(like)s
UNION ALL
SELECT 'constraint', conrelid::regclass::text, pg_get_constraintdef(oid) FROM pg_constraint
WHERE conrelid::regclass::text LIKE %(like)s
"""


def _pg_schema(conn: psycopg.Connection[Any], prefix: str) -> list[tuple[str, ...]]:
    rows = conn.execute(_PG_CATALOG, {"like": prefix + "%"}).fetchall()
    version = conn.execute(f'SELECT version FROM "{prefix}schema_version"').fetchall()
    found = [tuple(str(v).replace(prefix, "P_") for v in row) for row in rows]
    return [*sorted(found), ("version", repr(version))]


def test_postgres_migrated_by_django_is_the_stores_schema_and_create_schema_changes_nothing() -> (
    None
):
    dsn = django_support.pg_dsn_of_project()
    with psycopg.connect(dsn, autocommit=True) as conn:
        django_made = _pg_schema(conn, "journeyfsm_")
        ref = f"ref{uuid.uuid4().hex[:6]}_"
        PostgresStore(dsn, prefix=ref, create_schema=True, max_size=1).close()
        try:
            assert django_made == _pg_schema(conn, ref)
        finally:
            for name in (
                "journeys",
                "history",
                "event_ids",
                "outbox",
                "deliveries",
                "schema_version",
            ):
                conn.execute(f'DROP TABLE "{ref}{name}"')
        assert ("version", f"[({SCHEMA_VERSION},)]") in django_made
        PostgresStore(dsn, create_schema=True, max_size=1).close()
        assert _pg_schema(conn, "journeyfsm_") == django_made


@pytest.mark.parametrize("database", ALIASES)
def test_sqlmigrate_prints_the_stores_statements(database: str) -> None:
    out = io.StringIO()
    call_command("sqlmigrate", "journeyfsm", "0001", database=database, stdout=out)
    vendor = connections[database].vendor
    for statement in statements(vendor, "journeyfsm_"):
        assert statement in out.getvalue()


def test_the_models_match_the_migration_and_a_new_prefix_is_checked() -> None:
    out = io.StringIO()
    call_command("makemigrations", "journeyfsm", check=True, dry_run=True, stdout=out)
    assert "No changes detected" in out.getvalue()
    with pytest.raises(ValueError, match="table prefix"):
        statements("sqlite", "bad prefix;")
    with pytest.raises(ValueError, match="SQLite and PostgreSQL, not mysql"):
        statements("mysql", "journeyfsm_")


def test_migrating_back_to_zero_drops_the_tables_and_forwards_makes_them_again(
    tmp_path: Path,
) -> None:
    env = django_support.project_env()
    env["JFSM_SQLITE"] = str(tmp_path / "zero.db")
    env.pop("JFSM_PG_NAME")

    def manage(*args: str) -> str:
        return django_support.manage(env, *args)

    manage("migrate", "-v", "0")
    manage("migrate", "journeyfsm", "zero", "-v", "0")
    conn = sqlite3.connect(env["JFSM_SQLITE"])
    names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master")]
    conn.close()
    assert not [n for n in names if n.startswith("journeyfsm_")], names
    manage("migrate", "journeyfsm", "-v", "0")
    SQLiteStore(env["JFSM_SQLITE"]).close()  # the schema is there and current


def test_migration_0003_upgrades_a_schema_3_database_and_back(tmp_path: Path) -> None:
    env = django_support.project_env()
    env["JFSM_SQLITE"] = path = str(tmp_path / "two.db")
    env.pop("JFSM_PG_NAME")

    def manage(*args: str) -> str:
        return django_support.manage(env, *args)

    def state() -> tuple[bool, int]:
        with closing(sqlite3.connect(path)) as conn:
            names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
            (version,) = conn.execute("SELECT version FROM journeyfsm_schema_version").fetchone()
        return "journeyfsm_deliveries" in names, version

    manage("migrate", "-v", "0")
    # back: a schema 3 database (0003 drops the ledger; 0002 leaves its column)
    manage("migrate", "journeyfsm", "0001", "-v", "0")
    assert state() == (False, CAPS_SCHEMA - 1)
    with pytest.raises(StoreError, match=f"this journeyfsm needs {SCHEMA_VERSION}"):
        SQLiteStore(path)
    manage("migrate", "journeyfsm", "0003", "-v", "0")  # 0003: the ledger, schema 4
    assert state() == (True, CAPS_SCHEMA)
    manage("migrate", "journeyfsm", "-v", "0")  # 0004: the goal clocks, schema 5
    assert state() == (True, SCHEMA_VERSION)
    SQLiteStore(path).close()


def test_migration_0004_adds_the_goal_clocks_column_and_takes_it_back(tmp_path: Path) -> None:
    env = django_support.project_env()
    env["JFSM_SQLITE"] = path = str(tmp_path / "goals.db")
    env.pop("JFSM_PG_NAME")

    def state() -> tuple[bool, int]:
        with closing(sqlite3.connect(path)) as conn:
            columns = {r[1] for r in conn.execute('PRAGMA table_info("journeyfsm_journeys")')}
            (version,) = conn.execute("SELECT version FROM journeyfsm_schema_version").fetchone()
        return "goals" in columns, version

    django_support.manage(env, "migrate", "-v", "0")
    assert state() == (True, SCHEMA_VERSION)  # 0001 makes schema 5; 0004 changes nothing
    django_support.manage(env, "migrate", "journeyfsm", "0003", "-v", "0")
    assert state() == (False, SCHEMA_VERSION - 1)
    with pytest.raises(StoreError, match=f"this journeyfsm needs {SCHEMA_VERSION}"):
        SQLiteStore(path)
    django_support.manage(env, "migrate", "journeyfsm", "-v", "0")
    assert state() == (True, SCHEMA_VERSION)
    SQLiteStore(path).close()


# -- the transaction rule ---------------------------------------------------------------


def test_inside_atomic_the_move_and_the_order_commit_together(alias: str) -> None:
    customer = key()
    with transaction.atomic(using=alias):
        assert place(alias, customer, "mug").status == "moved"
        assert not other_connection_sees(alias, customer) or alias == "default"
    assert orders(alias, customer) == 1
    assert other_connection_sees(alias, customer)
    assert service("shop", using=alias).get(customer).stage == "cart"  # type: ignore[union-attr]


def test_inside_atomic_a_rollback_takes_the_move_with_the_order(alias: str) -> None:
    customer = key()

    class Refused(Exception):
        pass

    with pytest.raises(Refused), transaction.atomic(using=alias):
        place(alias, customer, "mug")
        raise Refused
    assert orders(alias, customer) == 0
    assert service("shop", using=alias).get(customer) is None
    assert not other_connection_sees(alias, customer)
    # a redelivery after the rollback moves the journey (the event id was rolled back too)
    with transaction.atomic(using=alias):
        assert place(alias, customer, "mug").status == "moved"
    assert orders(alias, customer) == 1


def test_a_savepoint_rolled_back_inside_atomic_undoes_only_its_move(alias: str) -> None:
    customer = key()
    svc = service("shop", using=alias)
    with transaction.atomic(using=alias):
        svc.handle(customer, "add_to_cart", {"sku": "a"}, event_id="a")
        try:
            with transaction.atomic(using=alias):
                svc.handle(customer, "add_to_cart", {"sku": "b"}, event_id="b")
                raise KeyError("b")
        except KeyError:
            pass
    journey = svc.get(customer)
    assert journey is not None and journey.data["cart"] == ["a"] and journey.version == 1


def test_inside_atomic_an_event_is_one_store_transaction(alias: str) -> None:
    customer = key()
    svc = service("shop", using=alias)
    store = svc.store
    assert isinstance(store, DjangoStore) and not store.joins_host_transaction()
    seen: list[bool] = []
    enter = DjangoStore.transaction

    def counted(self: DjangoStore, *, write: bool = True) -> Any:
        seen.append(write)
        return enter(self, write=write)

    DjangoStore.transaction = counted  # type: ignore[method-assign]
    try:
        with transaction.atomic(using=alias):
            assert store.joins_host_transaction()
            assert svc.handle(customer, "add_to_cart", {"sku": "a"}, event_id="e-1").moved
        assert seen == [True]  # read, decide and write in one (one savepoint)
        seen.clear()
        assert svc.handle(customer, "add_to_cart", {"sku": "b"}, event_id="e-2").moved
        assert seen == [False, True]  # outside: a read, then the write's own atomic()
    finally:
        DjangoStore.transaction = enter  # type: ignore[method-assign]
    assert other_connection_sees(alias, customer)


def test_outside_atomic_each_event_commits_on_its_own(alias: str) -> None:
    customer = key()
    svc = service("shop", using=alias)
    assert svc.handle(customer, "add_to_cart", {"sku": "a"}, event_id="e-1").status == "moved"
    conn = connections[alias]
    assert not conn.in_atomic_block
    raw = conn.connection
    assert not (raw.in_transaction if alias == "default" else raw.info.transaction_status)
    assert other_connection_sees(alias, customer)
    assert svc.handle(customer, "add_to_cart", event_id="e-1").status == "duplicate"


def test_django_json_and_time_zone_handling_is_left_as_django_has_it(alias: str) -> None:
    customer = key()
    svc = service("shop", using=alias)
    svc.handle(customer, "add_to_cart", {"sku": "mug"})
    # the store read jsonb as JSON and times in UTC; Django's own queries still get
    # JSONField values decoded by Django, times in aware datetimes
    journey = Journey.objects.using(alias).get(definition="shop", key=customer)
    assert journey.data == {"cart": ["mug"]}
    assert journey.entered_at.utcoffset() is not None
    stored = svc.get(customer)
    assert stored is not None and stored.entered_at == journey.entered_at
    if alias == "pg":
        with connections[alias].cursor() as cursor:
            cursor.execute("SELECT data FROM journeyfsm_journeys WHERE key = %s", [customer])
            assert isinstance(cursor.fetchone()[0], str)  # Django's text jsonb loader


def test_a_reconnect_gets_a_new_store_on_the_new_connection(alias: str) -> None:
    customer = key()
    svc = service("shop", using=alias)
    svc.handle(customer, "add_to_cart")
    connections[alias].close()
    svc.handle(customer, "add_to_cart")
    assert svc.get(customer).version == 2  # type: ignore[union-attr]


def test_concurrent_threads_inside_and_outside_atomic_keep_histories_contiguous(
    alias: str,
) -> None:
    customers = [key() for _ in range(4)]
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(6):
                customer = customers[(n + i) % len(customers)]
                if i % 2:
                    with transaction.atomic(using=alias):
                        place(alias, customer, f"{n}-{i}")
                else:
                    service("shop", using=alias).handle(
                        customer, "add_to_cart", {"sku": f"{n}-{i}"}, event_id=f"{n}-{i}"
                    )
        except BaseException as err:  # reported below
            errors.append(err)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == []
    svc = service("shop", using=alias)
    moves = 0
    for customer in customers:
        history = svc.history(customer, limit=100)
        assert [e.seq for e in history] == list(range(1, len(history) + 1))
        moves += len(history)
        placed = orders(alias, customer)
        assert placed == sum(1 for e in history if e.event_id and e.event_id.startswith("order-"))
    assert moves == 4 * 6


def test_a_broken_atomic_block_is_refused_before_the_store_runs(alias: str) -> None:
    from django.db.transaction import TransactionManagementError

    svc = service("shop", using=alias)
    customer = key()
    with transaction.atomic(using=alias):
        transaction.set_rollback(True, using=alias)  # as after a caught database error
        with pytest.raises(TransactionManagementError):
            svc.handle(customer, "add_to_cart")
    assert svc.get(customer) is None


def test_an_async_view_moves_the_journey_with_its_order_through_sync_to_async() -> None:
    customer = key()

    async def call() -> Any:
        client = AsyncClient()
        return await client.post(
            f"/async/{customer}/cart",
            data=json.dumps({"sku": "cup"}),
            content_type="application/json",
        )

    response = asyncio.run(call())
    assert response.status_code == 200, response.content
    assert response.json() == {"status": "moved", "dest": "cart"}
    assert orders("default", customer) == 1
    assert service("shop").get(customer).data == {"cart": ["cup"]}  # type: ignore[union-attr]


# -- the store's arguments, the settings, the checks ------------------------------------


def test_store_arguments_are_checked() -> None:
    with pytest.raises(TypeError, match="database alias"):
        DjangoStore(using=3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="table prefix"):
        DjangoStore(prefix="no spaces")
    # a StoreError naming the aliases (it was Django's ConnectionDoesNotExist)
    with pytest.raises(StoreError, match="no database 'nope'"), DjangoStore("nope").transaction():
        pass
    store = DjangoStore("default", prefix="other_")
    with pytest.raises(StoreError, match="no journeyfsm schema"), store.transaction():
        pass
    with pytest.raises(TypeError, match="JourneyMachine or the definition name"):
        service(42)  # type: ignore[arg-type]
    assert isinstance(service("shop", max_attempts=3), JourneyService)
    assert service("shop") is service("shop") and service("shop") is not service("shop", using="pg")
    assert repr(DjangoStore()) == "DjangoStore(using='default', prefix='journeyfsm_')"
    assert ConcurrencyConflict  # the error a host retries on, re-exported by journeyfsm


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ([], "must be a dict"),
        ({"MACHINE": []}, "did you mean MACHINES"),
        ({"MACHINES": "a:b"}, "must be a list"),
        ({"MACHINES": ["no_colon"]}, "module:attribute"),
        ({"MACHINES": ["no_such_module_x:machine"]}, "cannot import 'no_such_module_x'"),
        ({"MACHINES": ["django_project.journey:nothing"]}, "has no 'nothing'"),
        ({"MACHINES": ["django_project.journey:shop"]}, "not a JourneyMachine"),
        ({"TABLE_PREFIX": "a b"}, "TABLE_PREFIX"),
        ({"DATABASE": "other"}, "must name an alias"),
    ],
)
def test_a_wrong_setting_is_an_error_naming_it(setting: Any, message: str) -> None:
    with override_settings(JOURNEYFSM=setting), pytest.raises(ImproperlyConfigured, match=message):
        config()
        machines()


def test_the_registry_names_the_machines_and_the_check_reports_a_wrong_one() -> None:
    assert list(machines()) == ["shop"]
    assert get_machine() is get_machine("shop")
    with pytest.raises(ImproperlyConfigured, match="did you mean shop"):
        get_machine("shap")
    with override_settings(JOURNEYFSM={"MACHINES": []}):
        with pytest.raises(ImproperlyConfigured, match="no journeyfsm machine is declared"):
            get_machine()
        with pytest.raises(ImproperlyConfigured, match="MACHINES"):
            service()
    with override_settings(JOURNEYFSM={"MACHINES": ["nowhere_x:m"]}):
        from django.core import checks

        errors = [e for e in checks.run_checks() if e.id == "journeyfsm.E001"]
        assert len(errors) == 1 and "nowhere_x" in errors[0].msg


def test_sqlite_without_immediate_transactions_is_a_warning(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import django
    from django.conf import settings

    if django.VERSION >= (5, 1):
        assert check_sqlite_transaction_mode() == []  # the project sets IMMEDIATE
    else:  # no transaction_mode before Django 5.1: the warning says to upgrade
        (found,) = check_sqlite_transaction_mode()
        assert "upgrade to Django 5.1+" in str(found.hint)
    deferred = {
        "a": {"ENGINE": "django.db.backends.sqlite3", "NAME": "a.db"},
        "b": {"ENGINE": "django.db.backends.sqlite3", "OPTIONS": {"transaction_mode": "DEFERRED"}},
        "c": {"ENGINE": "django.db.backends.postgresql"},
        "d": {"ENGINE": "django.db.backends.sqlite3", "OPTIONS": {"transaction_mode": "immediate"}},
    }
    monkeypatch.setattr(settings, "DATABASES", deferred)
    found = check_sqlite_transaction_mode()
    assert [w.id for w in found] == ["journeyfsm.W001", "journeyfsm.W001"]
    assert "'a'" in found[0].msg and "transaction_mode" in str(found[0].hint)


# -- the management command ---------------------------------------------------------------


def _command(*args: str) -> str:
    out = io.StringIO()
    call_command("journeyfsm", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def test_show_funnel_and_outbox_on_the_projects_database(alias: str) -> None:
    customer = key()
    svc = service("shop", using=alias)
    svc.handle(customer, "add_to_cart", {"sku": "mug"}, event_id="s-1")
    svc.handle(customer, "pay", {"paid": True}, event_id="s-2")
    text = _command("show", customer, "--database", alias)
    assert f"journey {customer!r} of 'shop': stage 'paid', 2 move(s)" in text
    assert "add_to_cart: browsing -> cart  event s-1" in text
    shown = json.loads(_command("show", customer, "--database", alias, "--json"))
    assert shown["stage"] == "paid" and [e["seq"] for e in shown["history"]] == [1, 2]
    with pytest.raises(CommandError, match="no journey 'nobody'"):
        _command("show", "nobody", "--database", alias)
    figures = json.loads(_command("funnel", "--database", alias, "--json"))
    assert figures["funnel"]["stages"][0]["stage"] == "browsing"
    assert "paid" in _command("funnel", "--database", alias)
    counts = json.loads(_command("outbox", "--database", alias, "--json"))
    assert counts[0]["definition"] == "shop" and counts[0]["pending"] >= 1


def test_worker_once_runs_the_effects_and_requeue_brings_dead_rows_back(alias: str) -> None:
    customer = key()
    svc = service("shop", using=alias)
    svc.handle(customer, "add_to_cart", event_id="w-1")
    svc.handle(customer, "pay", {"paid": True}, event_id="w-2")
    done = json.loads(_command("worker", "--once", "--json", "--database", alias).splitlines()[0])
    assert done["definition"] == "shop" and done["run"] >= 1 and done["pending"] == 0
    log = Path(os.environ["JFSM_EFFECT_LOG"]).read_text(encoding="utf-8").split()
    row = OutboxRow.objects.using(alias).get(key=customer)
    assert row.status == "done" and row.idempotency_key in log
    OutboxRow.objects.using(alias).filter(pk=row.pk).update(status="dead", last_error="x")
    counts = json.loads(_command("outbox", "--requeue", "--json", "--database", alias))
    assert counts[0]["requeued"] >= 1
    assert OutboxRow.objects.using(alias).get(pk=row.pk).status == "pending"


def test_replay_takes_the_declared_machine(tmp_path: Path) -> None:
    log = tmp_path / "events.csv"
    log.write_text(
        "customer,event,ts\n"
        "a,add_to_cart,2026-01-01T10:00:00Z\n"
        "a,pay,2026-01-01T10:05:00Z\n"
        "b,add_to_cart,2026-01-01T11:00:00Z\n",
        encoding="utf-8",
    )
    text = _command(
        "replay",
        str(log),
        "--key",
        "customer",
        "--event",
        "event",
        "--time",
        "ts",
        "--quiet",
        "--json",
    )
    summary = json.loads(text)["summary"]
    assert (summary["definition"], summary["rows_read"], summary["journeys"]) == ("shop", 3, 2)
    with pytest.raises(CommandError, match="exited with 2"):
        _command(
            "replay", str(tmp_path / "missing.csv"), "--key", "k", "--event", "e", "--time", "t"
        )


def test_worker_arguments_are_checked() -> None:
    with pytest.raises(CommandError, match="--limit must be at least 1"):
        _command("worker", "--once", "--limit", "0")
    with pytest.raises(CommandError, match="did you mean shop"):
        _command("worker", "--once", "--definition", "shap")


def test_the_worker_process_delivers_then_stops_cleanly_on_sigterm() -> None:
    env = django_support.project_env()
    effect_log = Path(env["JFSM_EFFECT_LOG"])
    worker = subprocess.Popen(
        [sys.executable, "-m", "django", "journeyfsm", "worker", "--json", "--idle", "0.05"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert worker.stdout is not None
        started = json.loads(worker.stdout.readline())
        assert started == {"worker": "started", "definitions": ["shop"], "database": "default"}
        customer = key()
        svc = service("shop")
        svc.handle(customer, "add_to_cart", event_id="p-1")
        svc.handle(customer, "pay", {"paid": True}, event_id="p-2")
        wanted = OutboxRow.objects.get(key=customer).idempotency_key
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if effect_log.exists() and wanted in effect_log.read_text(encoding="utf-8"):
                break
            time.sleep(0.05)
        assert wanted in effect_log.read_text(encoding="utf-8")
        worker.send_signal(signal.SIGTERM)
        out, err = worker.communicate(timeout=60)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait(10)
    assert worker.returncode == 0, err
    assert json.loads(out.strip().splitlines()[-1]) == {"worker": "stopped"}
    assert OutboxRow.objects.get(key=customer).status == "done"


def test_migration_0004_on_postgresql_takes_the_goal_clocks_column_back_and_forth() -> None:
    from service_support import pg_dsn

    server = pg_dsn()
    name = f"jfsm_goals_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    info = psycopg.conninfo.conninfo_to_dict(server)
    info["dbname"] = name
    dsn = str(psycopg.conninfo.make_conninfo(**info))
    env = django_support.project_env()
    env["JFSM_PG_NAME"] = name

    def migrate(*target: str) -> None:
        django_support.manage(env, "migrate", *target, "--database", "pg", "-v", "0")

    def state() -> tuple[str | None, int]:
        with psycopg.connect(dsn) as conn:
            column = conn.execute(
                "SELECT data_type FROM information_schema.columns WHERE table_schema = "
                "'public' AND table_name = 'journeyfsm_journeys' AND column_name = 'goals'"
            ).fetchone()
            row = conn.execute('SELECT version FROM "journeyfsm_schema_version"').fetchone()
        assert row is not None
        return (None if column is None else str(column[0])), int(row[0])

    try:
        migrate()
        assert state() == ("jsonb", SCHEMA_VERSION)  # 0001 makes schema 5; 0004 changes nothing
        from django_project.goals import machine as goal_machine

        store = PostgresStore(dsn, max_size=1)
        try:
            assert JourneyService(goal_machine, store).handle("g-1", "add_to_cart").moved
        finally:
            store.close()
        migrate("journeyfsm", "0003")
        assert state() == (None, SCHEMA_VERSION - 1)
        with pytest.raises(StoreError, match=f"this journeyfsm needs {SCHEMA_VERSION}"):
            PostgresStore(dsn, max_size=1)
        migrate("journeyfsm", "0004")
        assert state() == ("jsonb", SCHEMA_VERSION)
        with psycopg.connect(dsn, autocommit=True) as conn:
            django_made = _pg_schema(conn, "journeyfsm_")
            ref = f"ref{uuid.uuid4().hex[:6]}_"
            PostgresStore(dsn, prefix=ref, create_schema=True, max_size=1).close()
            assert django_made == _pg_schema(conn, ref)  # the stores' own schema 5
            (goals,) = conn.execute(
                "SELECT goals FROM journeyfsm_journeys WHERE key = 'g-1'"
            ).fetchone() or (0,)
        assert goals is None  # the journey written before kept its row; its clocks went
        store = PostgresStore(dsn, max_size=1)
        try:
            service = JourneyService(goal_machine, store)
            assert service.handle("g-1", "pay").moved  # on schema 5 again
            assert service.handle("g-2", "add_to_cart").goals_met == ("carted",)
            assert service.get("g-2").goals["carted"].status == "met"  # type: ignore[union-attr]
        finally:
            store.close()
    finally:
        with psycopg.connect(server, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


# -- the admin ----------------------------------------------------------------------------


@pytest.fixture
def staff() -> Client:
    user, _ = User.objects.get_or_create(
        username="staff", defaults={"is_staff": True, "is_superuser": True}
    )
    client = Client()
    client.force_login(user)
    return client


def test_admin_lists_journeys_and_shows_one_with_its_history(staff: Client) -> None:
    customer = key()
    svc = service("shop")
    svc.handle(customer, "add_to_cart", {"sku": "<b>mug</b>"}, event_id="adm-1")
    svc.handle(customer, "pay", {"paid": True}, event_id="adm-2")
    listing = staff.get("/admin/journeyfsm/journey/", {"q": customer})
    assert listing.status_code == 200
    page = listing.content.decode()
    assert customer in page and "paid" in page
    from journeyfsm.contrib.django.admin import journey_url

    url = journey_url("shop", customer)
    assert url.startswith("/admin/journeyfsm/journey/") and url in page
    detail = staff.get(url)
    assert detail.status_code == 200
    html = detail.content.decode()
    assert "adm-1" in html and "adm-2" in html and "browsing &rarr; cart" in html
    assert "&lt;b&gt;mug&lt;/b&gt;" in html and "<b>mug</b>" not in html  # escaped
    assert "thank_you" in html  # the journey's effects
    assert staff.get("/admin/journeyfsm/journey/add/").status_code == 403
    missing = staff.get(journey_url("shop", "nobody"))
    assert missing.status_code == 302  # the admin's "does not exist" redirect


GOAL_MACHINES = {
    "MACHINES": ["django_project.journey:machine", "django_project.goals:machine"],
    "DATABASE": "default",
}


def _goal_journeys() -> tuple[str, str]:
    """Two journeys of the goal machine: one that met both goals, one whose 14-day goal
    is still pending on 2026-03-01's clock (its deadline has passed in real time)."""
    from django_project.goals import clock, machine

    svc = JourneyService(machine, DjangoStore(config().database))
    met, waiting = key(), key()
    clock.set(datetime(2026, 3, 1, 9, 0, tzinfo=timezone.utc))
    svc.handle(met, "add_to_cart")
    svc.handle(waiting, "add_to_cart")
    clock.advance(timedelta(days=2))
    svc.handle(met, "pay")
    return met, waiting


def test_admin_journey_page_shows_the_goal_clocks_read_only(staff: Client) -> None:
    from journeyfsm.contrib.django.admin import journey_url

    met, waiting = _goal_journeys()
    html = staff.get(journey_url("goalshop", met)).content.decode()
    table = html[html.index('<table class="journeyfsm-goals">') :]
    table = table[: table.index("</table>")]
    rows = re.findall(
        r"<tr><td>(.*?)</td><td>(.*?)</td><td>(.*?)</td><td>(.*?)</td>"
        r"<td>(.*?)</td></tr>",
        table,
    )
    assert rows == [  # by goal name
        (
            "&lt;b&gt;bought&lt;/b&gt;",
            "met",
            "2026-03-01T09:00:00+00:00",
            "2026-03-15T09:00:00+00:00",
            "2026-03-03T09:00:00+00:00",
        ),
        (
            "carted",
            "met",
            "2026-03-01T09:00:00+00:00",
            "2026-03-02T09:00:00+00:00",
            "2026-03-01T09:00:00+00:00",
        ),
    ]  # the goal's name escaped, never markup
    html = staff.get(journey_url("goalshop", waiting)).content.decode()
    assert "pending (deadline passed: the next tick records the miss)" in html
    assert "2026-03-15T09:00:00+00:00" in html
    plain = staff.get(journey_url("shop", _shop_journey())).content.decode()
    assert re.search(r"<label>Goals:</label>\s*<div class=\"readonly\">none</div>", plain)
    assert "journeyfsm-goals" not in plain
    # read-only: the page offers no save, and a post changes nothing
    assert 'name="_save"' not in html
    staff.post(journey_url("goalshop", waiting), {"goals": "{}"})
    assert (
        Journey.objects.get(definition="goalshop", key=waiting).goals["<b>bought</b>"]["status"]
        == "pending"
    )


def _shop_journey() -> str:
    customer = key()
    service("shop").handle(customer, "add_to_cart")
    return customer


def test_manage_show_prints_the_goal_clocks() -> None:
    met, waiting = _goal_journeys()
    with override_settings(JOURNEYFSM=GOAL_MACHINES):
        text = _command("show", waiting, "--definition", "goalshop")
        shown = json.loads(_command("show", met, "--definition", "goalshop", "--json"))
    lines = text.splitlines()
    assert lines[2] == "goals:"
    assert lines[3].split()[:4] == [
        "<b>bought</b>",
        "pending",
        "until",
        "2026-03-15T09:00:00+00:00",
    ]
    assert lines[3].endswith("(clock since 2026-03-01T09:00:00+00:00)")
    assert lines[4].split()[:4] == ["carted", "met", "at", "2026-03-01T09:00:00+00:00"]
    assert "journeyfsm.goal: cart -> cart  goal carted met" in text
    assert shown["goals"]["<b>bought</b>"]["status"] == "met"


def test_manage_worker_enforces_caps_and_prune_deliveries_prunes_the_ledger() -> None:
    from django_project.goals import clock, sent

    customer = key()
    _goal_journeys()  # other customers' mail, delivered or not, counts for them only
    clock.set(datetime(2026, 3, 1, 9, 0, tzinfo=timezone.utc))
    goal_service = JourneyService(get_machine_of_goals(), DjangoStore(config().database))
    goal_service.handle(customer, "add_to_cart")
    goal_service.handle(customer, "add_to_cart")  # a re-entry: a second reminder
    caps = ["--caps", "django_project.goals:caps"]
    with override_settings(JOURNEYFSM=GOAL_MACHINES):
        with pytest.raises(CommandError, match="--prune-every takes seconds > 0"):
            _command("worker", "--once", "--prune-every", "0", *caps)
        with pytest.raises(CommandError, match="is a int, not frequency caps"):
            _command("worker", "--once", "--caps", "json:__doc__.__len__")
        _command("worker", "--once", "--definition", "goalshop", *caps, "--prune-every", "60")
        rows = OutboxRow.objects.filter(definition="goalshop", key=customer).order_by("id")
        assert [r.status for r in rows] == ["done", "pending"]
        assert rows[1].last_error.startswith("capped: email 1 per 24h until 2026-03-02T09:00")
        assert sum(k.split(":")[1] == customer for k in sent) == 1
        done = json.loads(_command("prune-deliveries", *caps, "--json"))
        assert done["pruned"] >= 1 and done["database"] == "default"
        with connections["default"].cursor() as cursor:
            cursor.execute(
                "SELECT COUNT(*) FROM journeyfsm_deliveries WHERE outbox_id = %s", [rows[0].id]
            )
            assert cursor.fetchone()[0] == 0  # 2026-03-01 is outside every window today
        with pytest.raises(CommandError, match="--caps takes module:attribute"):
            _command("prune-deliveries", "--caps", "nocolon")


def get_machine_of_goals() -> Any:
    from django_project.goals import machine

    return machine


def test_admin_outbox_requeue_action_moves_dead_rows_to_pending(staff: Client) -> None:
    customer = key()
    svc = service("shop")
    svc.handle(customer, "add_to_cart")
    svc.handle(customer, "pay", {"paid": True})
    row = OutboxRow.objects.get(key=customer)
    OutboxRow.objects.filter(pk=row.pk).update(status="dead", attempts=5, last_error="SMTP down")
    listing = staff.get("/admin/journeyfsm/outboxrow/", {"status__exact": "dead"})
    assert listing.status_code == 200 and "SMTP down" in listing.content.decode()
    done = staff.post(
        "/admin/journeyfsm/outboxrow/",
        {"action": "requeue", "_selected_action": [str(row.pk)]},
        follow=True,
    )
    assert done.status_code == 200
    assert "1 dead row(s) requeued" in done.content.decode()
    again = OutboxRow.objects.get(pk=row.pk)
    assert (again.status, again.attempts) == ("pending", 0)
    assert staff.get(f"/admin/journeyfsm/outboxrow/{row.pk}/change/").status_code == 200


def test_the_modules_that_need_a_configured_django_import_and_document_themselves() -> None:
    import doctest

    import journeyfsm.contrib.django.admin as admin_module
    import journeyfsm.contrib.django.apps as apps_module
    import journeyfsm.contrib.django.management.commands.journeyfsm as command_module
    import journeyfsm.contrib.django.models as models_module

    for module in (admin_module, apps_module, command_module, models_module):
        assert module.__doc__
        runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
        for test in doctest.DocTestFinder(exclude_empty=True).find(module):
            runner.run(test)
        assert runner.summarize(verbose=False).failed == 0


def test_the_worker_waits_out_a_database_not_migrated_yet(tmp_path: Path) -> None:
    env = django_support.project_env()
    env.pop("JFSM_PG_NAME")
    env["JFSM_SQLITE"] = str(tmp_path / "later.db")
    env["JFSM_EFFECT_LOG"] = str(tmp_path / "effects.log")
    worker = subprocess.Popen(
        [sys.executable, "-m", "django", "journeyfsm", "worker", "--json", "--idle", "0.05"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert worker.stdout is not None and worker.stderr is not None
        assert json.loads(worker.stdout.readline())["worker"] == "started"
        complaint = ""
        for _ in range(20):  # past the system checks' output (Django < 5.1 warns W001)
            complaint = worker.stderr.readline()
            if complaint.startswith("journeyfsm worker:"):
                break
        assert "StoreError" in complaint and "no journeyfsm schema" in complaint
        assert worker.poll() is None  # still running, retrying
        code = (
            "import django; django.setup()\n"
            "from django.core.management import call_command\n"
            "call_command('migrate', verbosity=0)\n"
            "from journeyfsm.contrib.django import service\n"
            "service().handle('late', 'add_to_cart')\n"
            "service().handle('late', 'pay', {'paid': True})\n"
        )
        subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=120)
        effects = Path(env["JFSM_EFFECT_LOG"])
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not effects.exists():
            time.sleep(0.05)
        assert effects.read_text(encoding="utf-8").startswith("shop:late:2:thank_you")
        worker.send_signal(signal.SIGTERM)
        out, _ = worker.communicate(timeout=60)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait(10)
    assert worker.returncode == 0
    assert json.loads(out.strip().splitlines()[-1]) == {"worker": "stopped"}


@pytest.mark.parametrize("database", ALIASES)
def test_migrations_0002_and_0003_upgrade_a_schema_2_database_to_the_stores_schema(
    database: str, tmp_path: Path
) -> None:
    from journeyfsm.contrib.django._schema import upgrade_2, upgrade_4, upgrade_5

    out = io.StringIO()
    call_command("sqlmigrate", "journeyfsm", "0002", database=database, stdout=out)
    vendor = connections[database].vendor
    for statement in upgrade_2(vendor, "journeyfsm_"):
        assert statement in out.getvalue()
    out = io.StringIO()
    call_command("sqlmigrate", "journeyfsm", "0004", database=database, stdout=out)
    for statement in upgrade_5(vendor, "journeyfsm_"):
        assert statement in out.getvalue()
    if vendor != "sqlite":
        return
    # the statements take a schema 2 file to what the store's create_schema makes of it
    path = tmp_path / "old.db"
    SQLiteStore(path, create_schema=True).close()
    conn = sqlite3.connect(path)
    try:
        conn.execute('ALTER TABLE "journeyfsm_history" DROP COLUMN definition_version')
        conn.execute('DROP TABLE "journeyfsm_deliveries"')
        conn.execute('ALTER TABLE "journeyfsm_journeys" DROP COLUMN goals')
        conn.execute('UPDATE "journeyfsm_schema_version" SET version = 2')
        for statement in [
            *upgrade_2("sqlite", "journeyfsm_"),
            *upgrade_4("sqlite", "journeyfsm_"),
            *upgrade_5("sqlite", "journeyfsm_"),
        ]:
            conn.execute(statement)
        conn.commit()
        columns = [r[1] for r in conn.execute('PRAGMA table_info("journeyfsm_history")')]
    finally:
        conn.close()
    assert columns[-1] == "definition_version"
    SQLiteStore(path).close()  # current: accepted without create_schema


def test_a_django_store_serves_live_versions_and_migrates_inside_atomic(alias: str) -> None:
    """Live versions and service.migrate through a DjangoStore: the same service code on
    Django's connection, inside the host's ``atomic()``."""
    from conftest import START
    from test_service_live_versions import machine, v1, v2

    from journeyfsm import ManualClock, Migration

    name = f"versions-{uuid.uuid4().hex[:8]}"  # the project's tables are shared
    old, new = v1().builder().build(name=name), v2().builder().build(name=name)
    clock = ManualClock(START)
    store = DjangoStore(alias)
    m1, m2 = machine(old, clock), machine(new, clock)
    for customer in ("a", "b"):
        JourneyService(m1, store).handle(customer, "add")
    service = JourneyService(
        m2, store, versions=[m1], migrations=[Migration(old, new, stages={"cart": "basket"})]
    )
    with transaction.atomic(using=alias):
        assert service.handle("a", "pay").dest == "paid"  # pinned on version 1
        assert service.handle("c", "add").dest == "basket"
        report = service.migrate(1, dry_run=False)
    assert (report.migrated, report.skipped, report.failed) == (2, 1, ())
    journey = service.get("b")
    assert journey is not None and journey.stage == "basket"
    assert [e.trigger for e in service.history("b")] == ["add", "journeyfsm.migrate"]
