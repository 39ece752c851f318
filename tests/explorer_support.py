"""What the explorer's tests share: a shop simulated into any store (with customer data
to mask, hostile text to escape, effects that fail into dead letters), and an HTTP
client that drives the ASGI app in-process from sync tests."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import anyio.from_thread
import httpx
from conftest import quiet_logger
from service_support import drop_tables, pg_dsn

from journeyfsm import EffectCall, JourneyMachine, JourneyService, ManualClock
from journeyfsm.cli._demo import WEIGHTS, demo_definition
from journeyfsm.service._outbox import OutboxWorker
from journeyfsm.stores import SQLiteStore

ROOT = Path(__file__).resolve().parent.parent
START = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
NOW = START + timedelta(days=40)
HOSTILE_KEY = '<script>alert("key")</script>'
HOSTILE_NOTE = '<img src=x onerror=alert("data")>'
EMAIL = "{key}@example.com"
PHONE = "+44 20 7946 0123"


def email_of(key: str) -> str:
    return EMAIL.format(key=key)


def fill(store: Any, customers: int = 30, seed: int = 5, days: int = 20) -> JourneyMachine:
    """Walk ``customers`` (and one with a hostile key) through the demo's journey.

    Every journey's data holds an e-mail address, a phone number and a hostile note;
    payments carry the address in their payload, moves carry it in their meta.  The
    thank-you email of every third customer fails, naming the address, and is
    dead-lettered (``max_attempts=1``); the others are delivered, except those of the
    last day, which stay pending.
    """
    clock = ManualClock(START)
    machine = JourneyMachine(demo_definition(), clock=clock, logger=quiet_logger())
    keys = [f"c{n:03d}" for n in range(1, customers + 1)] + [HOSTILE_KEY]
    failing = set(keys[::3])

    @machine.effect(on_enter="purchase", name="thank_you_email")
    def thank_you(call: EffectCall) -> None:
        if call.key in failing:
            raise RuntimeError(f"mailbox {call.data['email']} is full")

    def initial(key: str) -> dict[str, Any]:
        return {"email": email_of(key), "phone": PHONE, "note": HOSTILE_NOTE}

    service = JourneyService(machine, store, initial_data=initial)
    worker = OutboxWorker(machine, store, max_attempts=1, rng=random.Random(seed))
    rng = random.Random(seed)
    stage = dict.fromkeys(keys, machine.definition.initial_stage)
    finals = set(machine.definition.final_stages)
    n = 0
    for day in range(days):
        clock.set(START + timedelta(days=day))
        for key in keys:
            if stage[key] in finals or rng.random() > 0.5:
                continue
            clock.advance(timedelta(minutes=rng.randint(1, 30)))
            allowed = machine.definition.triggers_from(stage[key])
            trigger = rng.choices(allowed, [WEIGHTS.get(t, 1.0) for t in allowed])[0]
            payload = {"payment": "captured", "email": email_of(key)}
            n += 1
            outcome = service.handle(
                key, trigger, payload, event_id=f"evt-{n:05d}", meta={"email": email_of(key)}
            )
            if outcome.moved and outcome.dest is not None:
                stage[key] = outcome.dest
        if day < days - 1:
            while worker.run_once() > 0:
                pass
    return machine


class Client:
    """Sync GETs and POSTs against an ASGI app, on one event loop in a thread."""

    def __init__(self, app: Any, portal: Any) -> None:
        self.portal = portal
        self.http = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1:8080"
        )

    def get(self, path: str, **params: Any) -> httpx.Response:
        response: httpx.Response = self.portal.call(
            lambda: self.http.get(path, params=params or None)
        )
        return response

    def post(
        self, path: str, data: dict[str, str], headers: dict[str, str] | None = None
    ) -> httpx.Response:
        response: httpx.Response = self.portal.call(
            lambda: self.http.post(path, data=data, headers=headers)
        )
        return response


@contextmanager
def client_of(app: Any) -> Iterator[Client]:
    with anyio.from_thread.start_blocking_portal() as portal:
        client = Client(app, portal)
        try:
            yield client
        finally:
            portal.call(client.http.aclose)


def sqlite_store(tmp_path: Path) -> tuple[Any, Callable[[], None]]:
    store = SQLiteStore(tmp_path / "shop.db", create_schema=True)
    return store, store.close


def postgres_store() -> tuple[Any, Callable[[], None]]:
    from journeyfsm.stores import PostgresStore

    prefix = f"x{uuid.uuid4().hex[:10]}_"
    store = PostgresStore(pg_dsn(), prefix=prefix, create_schema=True, max_size=4)

    def close() -> None:
        with store.transaction() as tx:
            drop_tables(tx.conn, prefix)
        store.close()

    return store, close


class _Tables(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tables: dict[str, list[list[str]]] = {}
        self._current: list[list[str]] | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self._current = self.tables.setdefault(dict(attrs).get("id") or "", [])
        elif tag == "tr" and self._current is not None:
            self._current.append([])
        elif tag in ("td", "th") and self._current is not None:
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None and self._current:
            self._current[-1].append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "table":
            self._current = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def table(page: str, table_id: str) -> list[list[str]]:
    """The rows (cell texts, header row first) of the table with ``id=table_id``."""
    parser = _Tables()
    parser.feed(page)
    if table_id not in parser.tables:
        raise AssertionError(f"no table {table_id!r} on the page; tables: {sorted(parser.tables)}")
    return parser.tables[table_id]


def rows_by_first(page: str, table_id: str, *, header: bool = True) -> dict[str, list[str]]:
    """The body rows of a table by their first cell (all rows when it has no header)."""
    return {r[0]: r[1:] for r in table(page, table_id)[1 if header else 0 :]}


@contextmanager
def serving(*args: str) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """``python -m journeyfsm serve ARGS --port 0``: its URL, and the process."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "journeyfsm", "serve", *args, "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("journeyfsm explorer on http://127.0.0.1:"), line + (
            proc.stderr.read() if proc.stderr else ""
        )
        yield line.split()[3], proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
        proc.wait(30)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
