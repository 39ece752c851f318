"""The durable half of the ``journeyfsm`` command: ``db init``, ``worker`` (``show KEY
--db`` is in _show.py).

``--db URL`` names a store: a PostgreSQL DSN (``postgresql://...`` / ``postgres://...``,
or ``key=value`` pairs) where the installed journeyfsm has a PostgreSQL store, else a
SQLite file path.  A DSN's password never appears in anything this command prints.

``--machine module:attribute`` names the host's own ``JourneyMachine`` (or a function
returning one): the worker runs the host's effects, so it must import the host's code, as
``celery -A`` or ``uvicorn module:app`` do.

    $ journeyfsm db init --db journeys.db
    $ journeyfsm worker --db journeys.db --machine myshop.journeys:machine --once
    $ journeyfsm worker --db journeys.db --machine myshop.journeys:machine --tick-interval 5
    $ journeyfsm show customer-42 --db journeys.db [--definition shop]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import signal
import threading
import time
from datetime import timedelta
from types import FrameType
from typing import Any, TextIO

from .._errors import StoreError
from .._runtime import JourneyMachine
from ._caps import load_caps
from ._load import import_target

__all__ = ["CliUsageError", "add_store_commands", "open_store", "redact"]

OK, USAGE = 0, 2


class CliUsageError(Exception):
    """A mistake in how a durable command was called (exit 2, no traceback)."""


_DSN_PASSWORD = re.compile(r"(://[^:/@\s]*:)([^@\s]*)(@)")
_KV_PASSWORD = re.compile(r"(password\s*=\s*)('[^']*'|\S+)", re.IGNORECASE)


def redact(url: str) -> str:
    """``url`` with any password replaced by ``***``.

    >>> redact("postgresql://shop:s3cret@db.internal/shop")
    'postgresql://shop:***@db.internal/shop'
    >>> redact("host=db user=shop password=s3cret dbname=shop")
    'host=db user=shop password=*** dbname=shop'
    """
    return _KV_PASSWORD.sub(r"\1***", _DSN_PASSWORD.sub(r"\1***\3", url))


def _is_dsn(url: str) -> bool:
    return url.startswith(("postgresql://", "postgres://")) or bool(
        re.search(r"(^|\s)(host|dbname|user)\s*=", url)
    )


def open_store(url: str, *, create_schema: bool = False) -> Any:
    """The store ``url`` names; a clear ``CliUsageError`` (password redacted) if it can't."""
    from .. import stores

    if _is_dsn(url):
        postgres = getattr(stores, "PostgresStore", None)
        if postgres is None:
            raise CliUsageError(
                f"{redact(url)} is a PostgreSQL DSN, and this journeyfsm has no PostgreSQL "
                "store yet; use a SQLite file path"
            )
        try:
            return postgres(url, create_schema=create_schema)
        except (StoreError, OSError) as err:
            raise CliUsageError(redact(_hint(str(err), url))) from None
    try:
        return stores.SQLiteStore(url, create_schema=create_schema)
    except (StoreError, OSError) as err:
        raise CliUsageError(_hint(str(err), url)) from None


def _hint(message: str, url: str) -> str:
    if "schema" in message:
        return f"{message}; from the command line: journeyfsm db init --db {redact(url)}"
    return message


def load_machine(ref: str) -> JourneyMachine:
    """``module:attribute`` -> the host's JourneyMachine (the attribute may be a factory)."""
    machine: JourneyMachine = import_target(ref, "--machine", (JourneyMachine,), CliUsageError)
    return machine


def add_store_commands(sub: Any) -> Any:
    """Add ``db`` and ``worker`` to the command's subparsers (``show`` takes ``--db``);
    the ``db`` command's actions (``db migrate`` is added to them by _migrate.py)."""
    db = sub.add_parser(
        "db",
        help="manage a journey store (a SQLite file or a PostgreSQL DSN)",
        description="Manage a journey store. 'db init' creates the tables (idempotent) and "
        "records the schema version.",
    )
    db_sub = db.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    init = db_sub.add_parser("init", help="create the tables if missing (idempotent)")
    init.add_argument("--db", required=True, metavar="URL", help="SQLite path or PostgreSQL DSN")
    init.add_argument("--json", action="store_true", help="print the result as JSON")
    init.set_defaults(run=_cmd_db_init)

    worker = sub.add_parser(
        "worker",
        help="deliver outbox effects and fire due timeouts (the host's machine runs them)",
        description="Claim outbox rows of the machine's definition, run their effects with "
        "their idempotency keys, retry failures with backoff, dead-letter what keeps failing; "
        "and fire the stage timeouts that come due (unless --no-timeouts).",
    )
    worker.add_argument("--db", required=True, metavar="URL", help="SQLite path or PostgreSQL DSN")
    worker.add_argument(
        "--machine",
        required=True,
        action="append",
        metavar="MODULE:ATTR",
        help="the host's JourneyMachine (or a function returning one), e.g. "
        "myshop.journeys:machine; repeat it for several definitions or live versions (the "
        "newest version of a definition delivers its outbox, the older ones decide their "
        "pinned journeys' timeouts)",
    )
    worker.add_argument(
        "--once",
        action="store_true",
        help="deliver what is due now, fire the timeouts due now, print counts and exit",
    )
    worker.add_argument(
        "--timeouts",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="fire due stage timeouts too (default: yes)",
    )
    worker.add_argument(
        "--tick-interval",
        type=float,
        default=1.0,
        metavar="SECONDS",
        help="seconds between two timeout ticks (1.0)",
    )
    worker.add_argument(
        "--tick-batch",
        type=int,
        default=100,
        metavar="N",
        help="due journeys advanced per transaction by a tick (100; 1: one per transaction)",
    )
    worker.add_argument(
        "--caps",
        metavar="MODULE:ATTR",
        help="enforce frequency caps at delivery: a FrequencyCap, a list of them, or a "
        "function returning either, e.g. myshop.journeys:caps (give every worker the same)",
    )
    worker.add_argument(
        "--prune-every",
        type=float,
        metavar="SECONDS",
        help="with --caps: delete the ledger rows no cap counts any more this often "
        "(default: never)",
    )
    worker.add_argument("--limit", type=int, default=100, help="rows claimed per round (100)")
    worker.add_argument(
        "--idle", type=float, default=0.5, help="seconds to wait when nothing is due (0.5)"
    )
    worker.add_argument(
        "--json",
        action="store_true",
        help="print JSON: with --once one object of what was done, else a JSON start line",
    )
    worker.set_defaults(run=_cmd_worker)
    return db_sub


def _cmd_db_init(args: argparse.Namespace, out: TextIO) -> int:
    store = open_store(args.db, create_schema=True)
    from ..stores import SCHEMA_VERSION

    if args.json:
        data = {"ok": True, "schema_version": SCHEMA_VERSION, "db": redact(args.db)}
        print(json.dumps(data), file=out)
    else:
        print(
            f"journeyfsm store ready: schema version {SCHEMA_VERSION} in {redact(args.db)}",
            file=out,
        )
    _close(store)
    return OK


def _cmd_worker(args: argparse.Namespace, out: TextIO) -> int:
    from ..service._outbox import OutboxWorker

    if args.limit < 1:
        raise CliUsageError(f"--limit must be at least 1, got {args.limit}")
    if not args.tick_interval > 0:
        raise CliUsageError(
            f"--tick-interval must be a number of seconds > 0, got {args.tick_interval}"
        )
    if args.tick_batch < 1:
        raise CliUsageError(f"--tick-batch must be at least 1, got {args.tick_batch}")
    caps = load_caps(args.caps) if args.caps is not None else []
    prune = None
    if args.prune_every is not None:
        with contextlib.suppress(OverflowError, ValueError):  # inf, nan: refused below
            prune = timedelta(seconds=args.prune_every) if caps else None
        if prune is None or prune <= timedelta(0):
            raise CliUsageError(
                "--prune-every takes a number of seconds > 0 and goes with --caps (it "
                f"prunes the caps' ledger), got {args.prune_every} "
                f"{'with' if caps else 'without'} --caps"
            )
    lanes = _lanes([load_machine(ref) for ref in args.machine])
    store = open_store(args.db)
    from ..service._sync import JourneyService
    from ..service._timeout_worker import TimeoutWorker

    # one lane per definition: its newest machine's outbox worker and a timeout worker
    # whose service knows every live version given
    try:
        workers = [OutboxWorker(newest, store, caps=caps, prune_every=prune) for newest, _ in lanes]
    except ValueError as err:  # caps the worker refuses (two on one channel and window)
        _close(store)
        raise CliUsageError(f"--caps {args.caps}: {err}") from None
    tickers: list[Any] = []
    if args.timeouts:
        tickers = [
            TimeoutWorker(
                JourneyService(newest, store, versions=older),
                interval=args.tick_interval,
                batch_size=args.tick_batch,
            )
            for newest, older in lanes
        ]
    names = [newest.definition.name for newest, _ in lanes]
    try:
        if args.once:
            for i, (name, worker) in enumerate(zip(names, workers, strict=True)):
                _once(args, out, name, worker, tickers[i] if tickers else None)
            return OK
        stop = threading.Event()

        def on_signal(signum: int, frame: FrameType | None) -> None:
            stop.set()

        previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
        timeouts = f" and firing their timeouts every {args.tick_interval:g} s" if tickers else ""
        if args.json:
            started = {
                "worker": workers[0].name,
                "definition": names[0],
                "definitions": names,
                "db": redact(args.db),
                "timeouts": bool(tickers),
                "tick_interval": args.tick_interval,
            }
            print(json.dumps(started), file=out, flush=True)
        else:
            print(
                f"journeyfsm worker {workers[0].name}: delivering "
                f"{', '.join(map(repr, names))} effects{timeouts} from {redact(args.db)}; "
                "Ctrl-C stops",
                file=out,
                flush=True,
            )
        try:
            _loop(workers, tickers, stop, limit=args.limit, idle=args.idle)
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)
        return OK
    finally:
        _close(store)


def _lanes(machines: list[JourneyMachine]) -> list[tuple[JourneyMachine, list[JourneyMachine]]]:
    """The machines grouped by definition: (the newest version, the older ones), in the
    order the definitions were first given; the same version twice is a usage error."""
    from .._versions import version_key

    by_name: dict[str, list[JourneyMachine]] = {}
    for m in machines:
        same = by_name.setdefault(m.definition.name, [])
        if any(o.definition.version == m.definition.version for o in same):
            raise CliUsageError(
                f"--machine gives version {m.definition.version!r} of definition "
                f"{m.definition.name!r} twice: give each live version once"
            )
        same.append(m)
    out = []
    for same in by_name.values():
        try:
            same.sort(key=lambda m: version_key(m.definition.version), reverse=True)
        except TypeError as err:
            raise CliUsageError(
                f"--machine versions of {same[0].definition.name!r} mix ints and strs: {err}"
            ) from None
        out.append((same[0], same[1:]))
    return out


def _once(args: argparse.Namespace, out: TextIO, name: str, worker: Any, ticker: Any) -> None:
    """``--once`` for one definition: its due timeouts, then its outbox; one report."""
    done: dict[str, Any] = {"definition": name, "timeouts": None}
    if ticker is not None:  # first: the moves of the timeouts may schedule effects
        report = ticker.run_once()
        done["timeouts"] = {
            "fired": report.fired,
            "journeys": report.journeys,
            "failed": [{"key": k, "error": e} for k, e in report.failed],
        }
        failed = f", {len(report.failed)} failed" if report.failed else ""
        if not args.json:
            print(
                f"timeouts of {name!r}: {report.fired} fired in "
                f"{report.journeys} journey(s){failed}",
                file=out,
            )
    delivered = 0
    while True:
        n = worker.run_once(args.limit)
        delivered += n
        if n == 0:
            break
        counts = worker.counts()
        if counts.get("pending", 0) == 0:
            break
    counts = worker.counts()
    pending, dead = counts.get("pending", 0), counts.get("dead", 0)
    if args.json:
        done["outbox"] = {"run": delivered, "pending": pending, "dead": dead}
        print(json.dumps(done), file=out)
    else:
        print(f"outbox of {name!r}: {delivered} run, {pending} pending, {dead} dead", file=out)


def _loop(
    workers: list[Any], tickers: list[Any], stop: threading.Event, *, limit: int, idle: float
) -> None:
    """Deliver every outbox and, every tick interval, fire every definition's due timeouts."""
    next_tick = time.monotonic()
    while not stop.is_set():
        if tickers and time.monotonic() >= next_tick:
            for ticker in tickers:
                ticker.run_once()
            next_tick = time.monotonic() + tickers[0].interval
        if sum(worker.run_once(limit) for worker in workers) == 0:
            wait = idle if not tickers else min(idle, max(0.0, next_tick - time.monotonic()))
            stop.wait(wait)


def _close(store: Any) -> None:
    close = getattr(store, "close", None)
    if callable(close):
        close()
