"""``journeyfsm worker`` with several ``--machine`` options: one process delivers the
outbox and fires the timeouts of several definitions and live versions (driven as a
subprocess, every run bounded)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from journeyfsm import JourneyService
from journeyfsm.stores import SQLiteStore

HOST = """
from datetime import timedelta
from pathlib import Path
from journeyfsm import JourneyBuilder, JourneyMachine

SENT = Path(__file__).with_name("sent.txt")


def promo(version):
    b = JourneyBuilder("promo", version=version).stage("new", initial=True)
    b = b.stage("offered").stage("done", final=True).stage("expired", final=True)
    b = b.transition("offer", "new", "offered").transition("take", "offered", "done")
    b = b.transition("expire", "offered", "expired")
    # version 1 expires an offer after 1 hour, version 2 after 10 days
    b = b.timeout("offered", timedelta(hours=1 if version == 1 else 240), "expire")
    return b.build()


def welcome():
    b = JourneyBuilder("welcome").stage("new", initial=True).stage("greeted", final=True)
    return b.transition("greet", "new", "greeted").build()


def _sent(call):
    with SENT.open("a") as f:
        f.write(call.idempotency_key + "\\n")


def machine_of(definition):
    m = JourneyMachine(definition)
    for name, stage in (("offered", "offered"), ("greeted", "greeted"), ("expired", "expired")):
        if stage in definition.stage_names:
            m.effect(on_enter=stage, name=name)(_sent)
    return m


promo_v1 = machine_of(promo(1))
promo_v2 = machine_of(promo(2))
welcome_machine = machine_of(welcome())
"""

ROOT = Path(__file__).resolve().parent.parent


def cli(tmp_path: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)])}
    return subprocess.run(
        [sys.executable, "-m", "journeyfsm", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        check=False,
    )


@pytest.fixture
def host(tmp_path: Path) -> Path:
    (tmp_path / "host.py").write_text(HOST, encoding="utf-8")
    sys.path.insert(0, str(tmp_path))
    sys.modules.pop("host", None)
    yield tmp_path
    sys.path.remove(str(tmp_path))
    sys.modules.pop("host", None)


def seed(db: str) -> None:
    import host  # type: ignore[import-not-found]

    store = SQLiteStore(db, create_schema=True)
    past = datetime.now(timezone.utc) - timedelta(hours=2)
    # a journey pinned to version 1 (its hour is over), one on version 2 (not due)
    JourneyService(host.promo_v1, store).handle("old", "offer", event_id="o-1", at=past)
    service = JourneyService(host.promo_v2, store, versions=[host.promo_v1])
    service.handle("new", "offer", event_id="n-1", at=past)
    JourneyService(host.welcome_machine, store).handle("w", "greet", event_id="w-1")
    store.close()


MACHINES = ["--machine", "host:promo_v2", "--machine", "host:welcome_machine"]
MACHINES += ["--machine", "host:promo_v1"]


def test_once_delivers_and_ticks_every_definition_and_version(host: Path) -> None:
    db = str(host / "j.db")
    seed(db)
    done = cli(host, "worker", "--db", db, *MACHINES, "--once", "--json")
    assert done.returncode == 0, done.stderr
    reports = [json.loads(line) for line in done.stdout.splitlines()]
    assert [r["definition"] for r in reports] == ["promo", "welcome"]
    assert reports[0]["timeouts"]["fired"] == 1  # version 1's hour, pinned journey 'old'
    assert reports[0]["outbox"] == {"run": 3, "pending": 0, "dead": 0}
    assert reports[1]["outbox"] == {"run": 1, "pending": 0, "dead": 0}
    sent = sorted((host / "sent.txt").read_text().split())
    assert sent == sorted(
        ["promo:old:1:offered", "promo:new:1:offered", "promo:old:2:expired", "welcome:w:1:greeted"]
    )
    store = SQLiteStore(db)
    with store.transaction(write=False) as tx:
        stages = {k: tx.load("promo", k).stage for k in ("old", "new")}  # type: ignore[union-attr]
    store.close()
    assert stages == {"old": "expired", "new": "offered"}


def test_a_running_worker_serves_every_machine_until_sigterm(host: Path) -> None:
    db = str(host / "j.db")
    seed(db)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(host), str(ROOT)])}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "journeyfsm",
            "worker",
            "--db",
            db,
            *MACHINES,
            "--json",
            "--idle",
            "0.05",
            "--tick-interval",
            "0.2",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        started = json.loads(proc.stdout.readline())
        assert started["definitions"] == ["promo", "welcome"] and started["timeouts"] is True
        sent = host / "sent.txt"
        for _ in range(600):  # bounded: at most ~60 s
            if sent.exists() and len(sent.read_text().split()) == 4:
                break
            time.sleep(0.1)
        assert sorted(sent.read_text().split()) == sorted(
            [
                "promo:old:1:offered",
                "promo:new:1:offered",
                "promo:old:2:expired",
                "welcome:w:1:greeted",
            ]
        )
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err


def test_the_same_version_twice_is_a_usage_error(host: Path) -> None:
    db = str(host / "j.db")
    seed(db)
    done = cli(
        host,
        "worker",
        "--db",
        db,
        "--machine",
        "host:promo_v1",
        "--machine",
        "host:promo_v1",
        "--once",
    )
    assert done.returncode == 2
    assert "version 1 of definition 'promo' twice" in done.stderr
