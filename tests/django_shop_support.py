"""The reference Django shop (examples/django_shop/) as real processes on 127.0.0.1: its
server (``manage.py runserver --noreload``, threaded), its journeyfsm worker, and an SMTP
server (aiosmtpd, in this process) that counts what the shop sends.  Used by
tests/test_django_shop_e2e.py and benchmarks/django_shop.py.
"""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from email import message_from_bytes
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
SHOP = ROOT / "examples" / "django_shop"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Mailbox:
    """An SMTP server on 127.0.0.1 keeping every message's recipients and Idempotency-Key."""

    def __init__(self) -> None:
        from aiosmtpd.controller import Controller

        self.messages: list[tuple[tuple[str, ...], str | None]] = []
        self._lock = threading.Lock()
        box = self

        class Handler:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
                mail = message_from_bytes(envelope.content)
                with box._lock:
                    box.messages.append((tuple(envelope.rcpt_tos), mail["Idempotency-Key"]))
                return "250 OK"

        self.port = free_port()
        self._controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def idempotency_keys(self) -> list[str | None]:
        with self._lock:
            return [k for _, k in self.messages]

    def to(self, address: str) -> int:
        with self._lock:
            return sum(1 for rcpt, _ in self.messages if address in rcpt)

    def stop(self) -> None:
        self._controller.stop()


class Shop:
    """The shop's server and worker processes on one SQLite file."""

    def __init__(self, db: Path, smtp_port: int, *, pg_dsn: str | None = None) -> None:
        self.db = db
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, "SHOP_DB": str(db), "SHOP_SMTP_PORT": str(smtp_port)}
        self.env.pop("DJANGO_SETTINGS_MODULE", None)
        self.pg_dsn = pg_dsn
        if pg_dsn:
            self.env["SHOP_PG_DSN"] = pg_dsn
        self.server: subprocess.Popen[bytes] | None = None
        self.worker: subprocess.Popen[bytes] | None = None
        self.manage("migrate", "-v", "0")

    def manage(self, *args: str) -> str:
        done = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=SHOP,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"manage.py {' '.join(args)} failed: {done.stderr[-2000:]}")
        return done.stdout

    def start_server(self) -> None:
        log = open(self.db.with_name("server.log"), "ab")  # noqa: SIM115 - the child holds it
        self.server = subprocess.Popen(
            [sys.executable, "manage.py", "runserver", "--noreload", f"127.0.0.1:{self.port}"],
            cwd=SHOP,
            env=self.env,
            stdout=log,
            stderr=log,
        )
        log.close()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.server.poll() is not None:
                raise RuntimeError(f"the shop's server exited with {self.server.returncode}")
            try:
                httpx.get(f"{self.url}/customers/nobody/journey", timeout=2)
                return
            except httpx.TransportError:
                time.sleep(0.1)
        raise RuntimeError("the shop's server did not answer within 60 s")

    def start_worker(self) -> None:
        log = open(self.db.with_name("worker.log"), "ab")  # noqa: SIM115 - the child holds it
        self.worker = subprocess.Popen(
            [sys.executable, "manage.py", "journeyfsm", "worker", "--idle", "0.05"],
            cwd=SHOP,
            env=self.env,
            stdout=log,
            stderr=log,
        )
        log.close()

    def logs(self) -> str:
        """The tails of the server's and the worker's output (for a failing test)."""
        out = []
        for name in ("server.log", "worker.log"):
            path = self.db.with_name(name)
            if path.exists():
                out.append(f"--- {name}\n" + path.read_text(errors="replace")[-3000:])
        return "\n".join(out)

    def kill_server(self) -> None:
        if self.server is not None and self.server.poll() is None:
            self.server.kill()  # SIGKILL: no cleanup of any kind
            self.server.wait(30)

    def stop(self) -> None:
        for proc in (self.server, self.worker):
            if proc is not None and proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(10)

    def sql(self, query: str, *args: Any) -> list[tuple[Any, ...]]:
        """Run ``query`` (``?`` placeholders) on the shop's database, committed."""
        if self.pg_dsn:
            import psycopg

            with psycopg.connect(self.pg_dsn) as pg:
                cur = pg.execute(query.replace("?", "%s"), args or None)
                return cur.fetchall() if cur.description else []
        conn = sqlite3.connect(self.db, timeout=30)
        try:
            rows = conn.execute(query, args).fetchall()
            conn.commit()
            return rows
        finally:
            conn.close()

    def drained(self, timeout: float = 60) -> None:
        """Wait until the outbox has no pending row (the worker ran every effect)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pending = self.sql("SELECT COUNT(*) FROM journeyfsm_outbox WHERE status = 'pending'")
            if pending[0][0] == 0:
                return
            time.sleep(0.05)
        raise AssertionError(f"the outbox still has pending rows after {timeout} s")


def fresh_pg_database(dsn: str) -> str:
    """A new, empty database on the server of ``dsn``: its DSN."""
    import uuid

    import psycopg

    name = f"shop_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    info = psycopg.conninfo.conninfo_to_dict(dsn)
    info["dbname"] = name
    return str(psycopg.conninfo.make_conninfo(**info))


@contextmanager
def running_shop(tmp: Path, pg_dsn: str | None = None) -> Iterator[tuple[Shop, Mailbox]]:
    """The shop's server and worker (on SQLite, or on the PostgreSQL database ``pg_dsn``),
    and the mailbox it sends to; stopped at the end."""
    mailbox = Mailbox()
    shop = Shop(tmp / "shop.db", mailbox.port, pg_dsn=pg_dsn)
    try:
        shop.start_server()
        shop.start_worker()
        yield shop, mailbox
    finally:
        shop.stop()
        mailbox.stop()
