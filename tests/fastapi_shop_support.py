"""What the end-to-end tests of examples/fastapi_shop need: a database (a SQLite file or
a fresh PostgreSQL database), an SMTP server counting messages (aiosmtpd), the app under
uvicorn and the worker as subprocesses on 127.0.0.1, and reads of the database."""

from __future__ import annotations

import email
import email.message
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import psycopg
import sqlalchemy as sa
from aiosmtpd.controller import Controller
from service_support import ROOT, pg_dsn


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(check: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll ``check`` every 50 ms until it is true; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


class Inbox:
    """An aiosmtpd handler keeping every message it accepts."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._messages: list[email.message.Message] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content)
        with self._lock:
            self._messages.append(message)
        return "250 OK"

    def messages(self) -> list[email.message.Message]:
        with self._lock:
            return list(self._messages)

    def keys(self, effect: str | None = None) -> list[str]:
        """The Idempotency-Key headers received (of one effect: ``...:thank_you``)."""
        keys = [str(m["Idempotency-Key"]) for m in self.messages()]
        return [k for k in keys if effect is None or k.endswith(f":{effect}")]


class Smtp:
    def __init__(self) -> None:
        self.inbox = Inbox()
        self.port = free_port()
        self._controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def stop(self) -> None:
        self._controller.stop()


class Database:
    """A throw-away database for the shop: ``url`` (async, the app's) and ``engine``
    (sync, the test's reads)."""

    def __init__(self, kind: str, tmp_path: Path) -> None:
        self.kind = kind
        if kind == "sqlite":
            path = tmp_path / "shop.db"
            self.url = f"sqlite+aiosqlite:///{path}"
            self.engine = sa.create_engine(f"sqlite:///{path}")
            self._name = None
        else:
            self._name = f"shop_{uuid.uuid4().hex[:10]}"
            with psycopg.connect(pg_dsn(), autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{self._name}"')
            base = sa.engine.make_url("postgresql+psycopg://" + pg_dsn().split("://", 1)[1])
            url = base.set(database=self._name)
            self.url = url.render_as_string(hide_password=False)
            self.engine = sa.create_engine(self.url, poolclass=sa.pool.NullPool)

    def rows(self, query: str, **params: Any) -> list[Any]:
        with self.engine.connect() as conn:
            return list(conn.execute(sa.text(query), params).all())

    def scalar(self, query: str, **params: Any) -> Any:
        with self.engine.connect() as conn:
            return conn.execute(sa.text(query), params).scalar()

    def drop(self) -> None:
        self.engine.dispose()
        if self._name is not None:
            with psycopg.connect(pg_dsn(), autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{self._name}" WITH (FORCE)')


class Process:
    """``python -m <module> ...`` from the repository root, its output in a log file."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        self.log = log
        self._out = open(log, "ab")  # noqa: SIM115 - closed in wait()/kill()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", *args],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT), **env},
            stdout=self._out,
            stderr=subprocess.STDOUT,
        )

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]

    def kill(self) -> None:
        """SIGKILL: no shutdown, no cleanup, as a crash."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.wait(10)

    def stop(self) -> None:
        """SIGTERM, then wait for a clean exit (SIGKILL after 15 s)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.wait(15)
        except subprocess.TimeoutExpired:
            self.kill()

    def wait(self, timeout: float) -> int:
        code = self.proc.wait(timeout)
        self._out.close()
        return code


class Shop:
    """The app (uvicorn, ``python -m examples.fastapi_shop``) on a free port."""

    def __init__(self, db: Database, smtp: Smtp, tmp_path: Path, **env: str) -> None:
        self.db, self.smtp, self.tmp_path = db, smtp, tmp_path
        self.env = {
            "SHOP_DATABASE_URL": db.url,
            "SHOP_SMTP_PORT": str(smtp.port),
            "SHOP_WORKER_IDLE": "0.1",
            "SHOP_OUTBOX_LEASE": "2",
            **env,
        }
        self.app: Process | None = None
        self.url = ""

    def start(self) -> Shop:
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.app = Process(
            ["examples.fastapi_shop", "serve", "--port", str(port)],
            self.env,
            self.tmp_path / f"app-{port}.log",
        )

        def up() -> bool:
            assert self.app is not None
            if self.app.proc.poll() is not None:
                raise AssertionError("the shop exited:\n" + self.app.output())
            try:
                return httpx.get(self.url + "/health", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(up, 30, "the shop to serve /health")
        return self

    def worker(self, **env: str) -> Process:
        return Process(
            ["examples.fastapi_shop.worker"],
            {**self.env, **env},
            self.tmp_path / f"worker-{uuid.uuid4().hex[:6]}.log",
        )

    def outbox_open(self) -> int:
        """Outbox rows not yet delivered."""
        return int(self.db.scalar("SELECT count(*) FROM journeyfsm_outbox WHERE status <> 'done'"))
