"""``journeyfsm outbox list`` and ``journeyfsm db prune-deliveries`` on SQLite and
PostgreSQL: a capped row shows its cap and when it is due, a dead row its error, the
filters and the limit hold, the ledger loses exactly the rows no cap counts, and bad
``--caps`` / ``--status`` / ``--limit`` are usage errors (exit 2) naming the fix."""

from __future__ import annotations

import json
import sqlite3
import sys
import uuid
from collections.abc import Iterator
from contextlib import closing
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import psycopg
import pytest
from service_support import pg_dsn

from journeyfsm import JourneyService, OutboxWorker
from journeyfsm.cli import main
from journeyfsm.stores import PostgresStore, SQLiteStore

Capture = pytest.CaptureFixture[str]

HOST = """
from datetime import timedelta
from journeyfsm import FrequencyCap, JourneyBuilder, JourneyMachine, ManualClock

clock = ManualClock()
definition = (
    JourneyBuilder("mail")
    .stage("new", initial=True)
    .stage("active")
    .stage("gone", final=True)
    .transition("ping", ["new", "active"], "active")
    .transition("leave", "active", "gone")
    .build()
)
machine = JourneyMachine(definition, clock=clock)
caps = [FrequencyCap("email", 1, timedelta(hours=24)), FrequencyCap("email", 3, timedelta(days=7))]
one_cap = caps[0]


def make_caps():
    return caps


@machine.effect(on_transition="ping", channel="email")
def newsletter(call):
    pass


@machine.effect(on_enter="gone")
def goodbye(call):
    raise RuntimeError("SMTP down\\nretry later")


not_caps = 42
empty = []
mixed = [caps[0], "email 2 per day"]


def broken():
    raise ValueError("no caps configured")


twice = [FrequencyCap("email", 1, timedelta(hours=1)), FrequencyCap("email", 2, timedelta(hours=1))]
drop = [FrequencyCap("email", 1, timedelta(hours=24), on_cap="drop")]
"""


def run(capsys: Capture, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def host(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The host module ``outboxhost`` (a machine with a capped email effect, caps)."""
    (tmp_path / "outboxhost.py").write_text(HOST, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("outboxhost", None)
    import outboxhost  # type: ignore[import-not-found]

    return outboxhost


@pytest.fixture(params=["sqlite", "postgres"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The ``--db`` of a fresh store: a SQLite file, or a PostgreSQL database of its own."""
    if request.param == "sqlite":
        path = str(tmp_path / "outbox.db")
        SQLiteStore(path, create_schema=True).close()
        yield path
        return
    server = pg_dsn()
    name = f"jfsm_cli_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    info = psycopg.conninfo.conninfo_to_dict(server)
    info["dbname"] = name
    dsn = str(psycopg.conninfo.make_conninfo(**info))
    PostgresStore(dsn, create_schema=True, max_size=1).close()
    yield dsn
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def _open(db: str) -> Any:
    return SQLiteStore(db) if db.endswith(".db") else PostgresStore(db, max_size=1)


def _deliveries(db: str) -> list[tuple[int, str]]:
    """The ledger: (outbox id, when) of every counted delivery."""
    query = 'SELECT outbox_id, at FROM "journeyfsm_deliveries" ORDER BY outbox_id'
    if not db.endswith(".db"):
        with psycopg.connect(db) as conn:
            return [(int(i), at.isoformat()) for i, at in conn.execute(query).fetchall()]
    with closing(sqlite3.connect(db)) as conn:
        return [(int(i), str(at)) for i, at in conn.execute(query).fetchall()]


NOW = datetime.now(timezone.utc).replace(microsecond=0)


def _fill(host: Any, db: str, *, at: datetime = NOW) -> None:
    """c-1: two pings (the first delivered, the second capped) and a leave (dead);
    c-2: one ping, delivered."""
    host.clock.set(at)
    store = _open(db)
    try:
        service = JourneyService(host.machine, store)
        for key, trigger in (("c-1", "ping"), ("c-1", "ping"), ("c-1", "leave"), ("c-2", "ping")):
            assert service.handle(key, trigger).moved
        worker = OutboxWorker(host.machine, store, caps=host.caps, max_attempts=1)
        assert worker.run_once() == 4
    finally:
        store.close()


def test_outbox_list_shows_why_a_row_waits_or_died(capsys: Capture, host: Any, db: str) -> None:
    _fill(host, db)
    code, out, err = run(capsys, "outbox", "list", "--db", db)
    assert (code, err) == (0, "")
    lines = out.splitlines()
    head = ["id", "definition", "key", "effect", "status", "attempts", "due", "last", "error"]
    assert lines[0].split() == head
    (capped,) = lines[1:-1]  # pending only, by default
    until = (NOW + timedelta(hours=24)).isoformat().replace("+00:00", "Z")
    assert capped.split()[:7] == ["2", "mail", "c-1", "newsletter", "pending", "0", until]
    assert capped.endswith(f"capped: email 1 per 24h until {until}")
    assert lines[-1] == "1 pending outbox row(s)"

    code, out, _ = run(capsys, "outbox", "list", "--db", db, "--status", "dead")
    assert code == 0
    (dead,) = out.splitlines()[1:-1]
    assert dead.split()[:7] == ["3", "mail", "c-1", "goodbye", "dead", "1", "-"]
    assert dead.endswith("RuntimeError: SMTP down | retry later")  # one line per row

    code, out, _ = run(capsys, "outbox", "list", "--db", db, "--status", "all", "--json")
    rows = json.loads(out)
    assert [(r["id"], r["key"], r["effect"], r["status"]) for r in rows] == [
        (1, "c-1", "newsletter", "done"),
        (2, "c-1", "newsletter", "pending"),
        (3, "c-1", "goodbye", "dead"),
        (4, "c-2", "newsletter", "done"),
    ]
    assert rows[1]["due"] == until and rows[0]["due"] is None and rows[2]["due"] is None
    assert rows[2]["last_error"] == "RuntimeError: SMTP down\nretry later"  # as stored
    assert rows[0]["idempotency_key"] == "mail:c-1:1:newsletter" and rows[0]["seq"] == 1


def test_outbox_list_filters_and_limits(capsys: Capture, host: Any, db: str) -> None:
    _fill(host, db)
    argv = ["outbox", "list", "--db", db, "--status", "all"]
    code, out, _ = run(capsys, *argv, "--key", "c-2", "--definition", "mail")
    assert code == 0
    assert out.splitlines()[0].split()[:2] == ["id", "key"]  # one definition: no column
    assert [line.split()[0] for line in out.splitlines()[1:-1]] == ["4"]
    assert out.splitlines()[-1] == "1 outbox row(s) of definition 'mail' of journey 'c-2'"
    code, out, _ = run(capsys, *argv, "--limit", "2")
    assert [line.split()[0] for line in out.splitlines()[1:-1]] == ["1", "2"]
    assert out.splitlines()[-1] == "2 outbox row(s) (the first 2; --limit shows more)"
    code, out, _ = run(capsys, "outbox", "list", "--db", db, "--status", "dropped")
    assert (code, out) == (0, f"no dropped outbox rows in {db}\n")
    code, out, _ = run(capsys, *argv, "--definition", "other", "--json")
    assert (code, json.loads(out)) == (0, [])


def test_prune_deliveries_deletes_only_what_no_cap_counts(
    capsys: Capture, host: Any, db: str
) -> None:
    _fill(host, db, at=NOW - timedelta(days=8))  # ids 1 and 4 counted then
    _fill_recent(host, db)  # id 2 (capped then, due since) and id 5 counted now
    assert [i for i, _ in _deliveries(db)] == [1, 2, 4, 5]
    # the 24h cap alone would prune the rows of 8 days ago; its 7-day sibling too
    code, out, err = run(capsys, "db", "prune-deliveries", "--db", db, "--caps", "outboxhost:caps")
    assert (code, err) == (0, "")
    assert out.startswith("pruned 2 delivery row(s) made before ")
    assert "(the longest window of email 1 per 24h, email 3 per 168h)" in out
    assert [i for i, _ in _deliveries(db)] == [2, 5]
    code, out, _ = run(
        capsys, "db", "prune-deliveries", "--db", db, "--caps", "outboxhost:make_caps", "--json"
    )
    data = json.loads(out)
    assert code == 0 and data["pruned"] == 0 and data["before"].endswith("Z")
    before = datetime.fromisoformat(data["before"].replace("Z", "+00:00"))
    assert timedelta(days=7) <= datetime.now(timezone.utc) - before < timedelta(days=7, hours=1)
    assert [i for i, _ in _deliveries(db)] == [2, 5]


def _fill_recent(host: Any, db: str) -> None:
    host.clock.set(NOW)
    store = _open(db)
    try:
        assert JourneyService(host.machine, store).handle("c-3", "ping").moved
        assert OutboxWorker(host.machine, store, caps=host.caps).run_once() >= 1
    finally:
        store.close()


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        ("outboxhost:not_caps", "is a int, not frequency caps; name the FrequencyCaps"),
        ("outboxhost:machine", "is a JourneyMachine, not frequency caps"),
        ("outboxhost:empty", "is an empty list; name the FrequencyCaps"),
        ("outboxhost:mixed", "holds a str ('email 2 per day'), not a FrequencyCap"),
        ("outboxhost:broken", "calling it failed (ValueError: no caps configured)"),
        ("outboxhost:nothing", "module 'outboxhost' has no 'nothing'"),
        ("no_such_module_xyz:caps", "cannot import 'no_such_module_xyz'"),
        ("outboxhost", "--caps takes module:attribute"),
    ],
)
def test_prune_deliveries_refuses_what_is_not_caps(
    capsys: Capture, host: Any, tmp_path: Path, ref: str, message: str
) -> None:
    db = str(tmp_path / "j.db")
    SQLiteStore(db, create_schema=True).close()
    code, out, err = run(capsys, "db", "prune-deliveries", "--db", db, "--caps", ref)
    assert (code, out) == (2, "")
    assert message in err and "Traceback" not in err
    assert err.startswith("journeyfsm db: error: --caps")


def test_a_single_cap_is_enough_for_prune(capsys: Capture, host: Any, tmp_path: Path) -> None:
    db = str(tmp_path / "j.db")
    SQLiteStore(db, create_schema=True).close()
    code, out, _ = run(capsys, "db", "prune-deliveries", "--db", db, "--caps", "outboxhost:one_cap")
    assert code == 0 and out.startswith("pruned 0 delivery row(s)")
    assert "(the longest window of email 1 per 24h)" in out


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--status", "sent"], "--status 'sent' is not an outbox status; use one of pending,"),
        (["--limit", "0"], "--limit takes a whole number of rows >= 1, got '0'"),
        (["--limit", "ten"], "--limit takes a whole number of rows >= 1, got 'ten'"),
    ],
)
def test_outbox_list_refuses_bad_options(
    capsys: Capture, tmp_path: Path, extra: list[str], message: str
) -> None:
    db = str(tmp_path / "j.db")
    SQLiteStore(db, create_schema=True).close()
    code, out, err = run(capsys, "outbox", "list", "--db", db, *extra)
    assert (code, out) == (2, "")
    assert message in err and "Traceback" not in err


def test_outbox_needs_an_action_and_a_store_with_a_schema(capsys: Capture, tmp_path: Path) -> None:
    code, _, err = run(capsys, "outbox")
    assert code == 2 and "ACTION" in err
    code, _, err = run(capsys, "outbox", "list", "--db", str(tmp_path / "new.db"))
    assert code == 2 and "has no journeyfsm schema" in err and "journeyfsm db init" in err


def test_outbox_list_needs_no_web_extra() -> None:
    # the list reads through the explorer's queries; the package must not pull in Starlette
    import subprocess

    code = (
        "import sys\n"
        "sys.modules['starlette'] = None\n"  # import starlette now fails
        "sys.modules['jinja2'] = None\n"
        "from journeyfsm.explorer._queries import outbox_rows\n"
        "import journeyfsm.explorer as e\n"
        "try:\n"
        "    e.create_app\n"
        "except ImportError as err:\n"
        "    print(err)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "pip install 'journeyfsm[serve]'" in done.stdout


def test_worker_enforces_the_caps_it_is_given(capsys: Capture, host: Any, db: str) -> None:
    host.clock.set(NOW)
    store = _open(db)
    try:
        service = JourneyService(host.machine, store)
        for key in ("c-1", "c-1", "c-2"):
            assert service.handle(key, "ping").moved
    finally:
        store.close()
    argv = ["worker", "--db", db, "--machine", "outboxhost:machine", "--once", "--no-timeouts"]
    code, out, _ = run(capsys, *argv, "--caps", "outboxhost:caps", "--prune-every", "3600")
    assert (code, out) == (0, "outbox of 'mail': 3 run, 1 pending, 0 dead\n")
    code, out, _ = run(capsys, "outbox", "list", "--db", db)
    (capped,) = out.splitlines()[1:-1]
    assert capped.split()[:5] == ["2", "mail", "c-1", "newsletter", "pending"]
    assert "capped: email 1 per 24h until " in capped
    assert [i for i, _ in _deliveries(db)] == [1, 3]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--prune-every", "60"], "--prune-every takes a number of seconds > 0 and goes with"),
        (["--caps", "outboxhost:caps", "--prune-every", "0"], "got 0.0 with --caps"),
        (["--caps", "outboxhost:caps", "--prune-every", "inf"], "got inf with --caps"),
        (["--caps", "outboxhost:caps", "--prune-every", "nan"], "got nan with --caps"),
        (["--caps", "outboxhost:not_caps"], "is a int, not frequency caps"),
        (["--caps", "outboxhost:twice"], "two caps on channel 'email' with the same window"),
    ],
)
def test_worker_refuses_bad_caps_options(
    capsys: Capture, host: Any, tmp_path: Path, extra: list[str], message: str
) -> None:
    db = str(tmp_path / "j.db")
    SQLiteStore(db, create_schema=True).close()
    argv = ["worker", "--db", db, "--machine", "outboxhost:machine", "--once", *extra]
    code, out, err = run(capsys, *argv)
    assert (code, out) == (2, "")
    assert message in err and "Traceback" not in err


def test_a_dropped_row_is_listed_with_its_reason_here_and_on_the_explorer(
    capsys: Capture, host: Any, tmp_path: Path
) -> None:
    from explorer_support import client_of

    from journeyfsm.explorer import create_app

    db = str(tmp_path / "j.db")
    host.clock.set(NOW)
    store = SQLiteStore(db, create_schema=True)
    try:
        service = JourneyService(host.machine, store)
        for _ in range(2):
            assert service.handle("c-1", "ping").moved
        assert OutboxWorker(host.machine, store, caps=host.drop).run_once() == 2
        code, out, _ = run(capsys, "outbox", "list", "--db", db, "--status", "dropped")
        (dropped,) = out.splitlines()[1:-1]
        assert code == 0 and dropped.split()[:7] == [
            "2",
            "mail",
            "c-1",
            "newsletter",
            "dropped",
            "1",
            "-",
        ]
        assert dropped.endswith("capped: email 1 per 24h; dropped")
        with client_of(create_app(store, definitions=[host.machine])) as client:
            page = client.get("/journey", definition="mail", key="c-1").text
            outbox = client.get("/outbox", definition="mail").text
        assert "capped: email 1 per 24h; dropped" in page  # the journey page lists it too
        assert '<span id="count-dropped">1</span> dropped by a frequency cap' in outbox
        dropped_table = outbox[outbox.index('<table id="dropped">') :]
        assert '<tr data-id="2">' in dropped_table
        assert "capped: email 1 per 24h; dropped" in dropped_table
    finally:
        store.close()
