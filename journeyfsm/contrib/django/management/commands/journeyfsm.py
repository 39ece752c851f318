"""``python manage.py journeyfsm ACTION``: the ``journeyfsm`` command, on the project's
settings, machines (``JOURNEYFSM['MACHINES']``) and database.

    python manage.py journeyfsm worker [--definition shop] [--once] [--no-timeouts] \
        [--caps myshop.journeys:caps [--prune-every 3600]]
    python manage.py journeyfsm show customer-42 [--definition shop] [--json]
    python manage.py journeyfsm funnel [--definition shop] [--by data.plan] [--json]
    python manage.py journeyfsm outbox [--definition shop] [--requeue] [--json]
    python manage.py journeyfsm prune-deliveries --caps myshop.journeys:caps [--json]
    python manage.py journeyfsm replay events.csv --definition shop --key customer ...

``worker`` delivers the outbox and fires due timeouts for every declared machine (or
those named), with Django set up first, so effects may use the ORM and Django's mail;
SIGTERM or SIGINT stops it after the effect it is running.  ``replay`` takes the
options of ``journeyfsm replay`` with the declared machine as its definition.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import threading
import time
from datetime import timedelta
from types import FrameType
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connections

from journeyfsm._errors import JourneyError, StoreError
from journeyfsm._runtime import JourneyMachine
from journeyfsm.contrib.django._registry import get_machine, machines, reference
from journeyfsm.contrib.django._settings import config
from journeyfsm.contrib.django._store import DjangoStore
from journeyfsm.service._caps import FrequencyCap
from journeyfsm.service._outbox import OutboxWorker
from journeyfsm.service._sync import JourneyService
from journeyfsm.service._timeout_worker import TimeoutWorker


def _caps(ref: str) -> list[FrequencyCap]:
    """``--caps MODULE:ATTR`` through the command line's loader; a ``CommandError``."""
    from journeyfsm.cli._caps import load_caps
    from journeyfsm.cli._load import UsageError

    try:
        return load_caps(ref)
    except UsageError as err:
        raise CommandError(str(err)) from None


def _database_errors() -> tuple[type[BaseException], ...]:
    """What a database that is down or not migrated raises through the store or Django."""
    import sqlite3

    from django.db import Error as DjangoDatabaseError

    found: list[type[BaseException]] = [StoreError, DjangoDatabaseError, sqlite3.Error]
    try:
        import psycopg
    except ImportError:  # pragma: no cover - SQLite-only installs
        pass
    else:
        found.append(psycopg.Error)
    return tuple(found)


class Command(BaseCommand):
    """The journeyfsm command on the project's settings."""

    help = (
        "journeyfsm on this project: worker, show KEY, funnel, outbox, prune-deliveries, replay LOG"
    )

    def add_arguments(self, parser: CommandParser) -> None:
        """The actions and their options."""
        sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

        def definition(p: argparse.ArgumentParser, many: bool = False) -> None:
            p.add_argument(
                "--definition",
                action="append" if many else "store",
                metavar="NAME",
                help="a declared machine's definition name"
                + ("; repeat (default: every one)" if many else " (default: the only one)"),
            )
            p.add_argument("--database", metavar="ALIAS", help="the database alias")

        w = sub.add_parser("worker", help="deliver outbox effects and fire due timeouts")
        definition(w, many=True)
        w.add_argument("--once", action="store_true", help="do what is due now, then exit")
        w.add_argument(
            "--timeouts",
            action=argparse.BooleanOptionalAction,
            default=True,
            help="fire due stage timeouts too (default: yes)",
        )
        w.add_argument("--tick-interval", type=float, default=1.0, metavar="SECONDS")
        w.add_argument("--tick-batch", type=int, default=100, metavar="N")
        w.add_argument("--limit", type=int, default=100, help="rows claimed per round (100)")
        w.add_argument("--idle", type=float, default=0.5, help="seconds to wait when idle")
        w.add_argument(
            "--caps",
            metavar="MODULE:ATTR",
            help="enforce these frequency caps at delivery (a FrequencyCap, a list of them "
            "or a function returning either)",
        )
        w.add_argument(
            "--prune-every",
            type=float,
            metavar="SECONDS",
            help="with --caps: prune the caps' ledger this often (default: never)",
        )
        w.add_argument("--json", action="store_true", help="print JSON lines")

        s = sub.add_parser("show", help="a stored journey's stage, data and history")
        s.add_argument("key", metavar="KEY")
        definition(s)
        s.add_argument("--json", action="store_true")

        f = sub.add_parser("funnel", help="the funnel of the stored journeys")
        definition(f)
        f.add_argument("--by", metavar="FIELD", help="break down by a field (data.plan, ...)")
        f.add_argument("--json", action="store_true")

        o = sub.add_parser("outbox", help="outbox counts (pending, done, dead); requeue dead")
        definition(o, many=True)
        o.add_argument("--requeue", action="store_true", help="dead rows back to pending")
        o.add_argument("--json", action="store_true")

        pr = sub.add_parser(
            "prune-deliveries", help="delete the caps' ledger rows no cap counts any more"
        )
        pr.add_argument("--caps", required=True, metavar="MODULE:ATTR", help="the workers' caps")
        pr.add_argument("--database", metavar="ALIAS", help="the database alias")
        pr.add_argument("--json", action="store_true")

        r = sub.add_parser(
            "replay",
            help="journeyfsm replay with a declared machine (see: journeyfsm replay --help)",
            add_help=False,
        )
        r.add_argument("rest", nargs=argparse.REMAINDER)

    def handle(self, *args: Any, **options: Any) -> None:
        """Run the action."""
        action = options["action"]
        try:
            if options.get("database") is not None:
                # before any loop: a worker would retry an alias that is not a database
                DjangoStore(options["database"]).joins_host_transaction()
            if action == "replay":
                self._replay(options["rest"])
                return
            getattr(self, f"_{action.replace('-', '_')}")(options)
        except (ImproperlyConfigured, JourneyError) as err:
            raise CommandError(str(err)) from None

    # -- worker ------------------------------------------------------------------------
    def _machines(self, names: list[str] | None) -> list[JourneyMachine]:
        if names:
            return [get_machine(n) for n in names]
        found = list(machines().values())
        if not found:
            get_machine()  # raises, saying how to declare one
        return found

    def _worker(self, options: dict[str, Any]) -> None:
        for name, low in (("limit", 1), ("tick_batch", 1)):
            if options[name] < low:
                raise CommandError(f"--{name.replace('_', '-')} must be at least {low}")
        if not options["tick_interval"] > 0 or not options["idle"] >= 0:
            raise CommandError("--tick-interval must be > 0 and --idle >= 0 seconds")
        caps = _caps(options["caps"]) if options["caps"] else []
        prune = None
        if options["prune_every"] is not None:
            with contextlib.suppress(OverflowError, ValueError):  # inf, nan: refused below
                prune = timedelta(seconds=options["prune_every"]) if caps else None
            if prune is None or prune <= timedelta(0):
                raise CommandError("--prune-every takes seconds > 0 and goes with --caps")
        store = DjangoStore(options["database"])
        pairs = []
        for machine in self._machines(options["definition"]):
            ticker = None
            if options["timeouts"]:
                ticker = TimeoutWorker(
                    JourneyService(machine, store),
                    interval=options["tick_interval"],
                    batch_size=options["tick_batch"],
                )
            try:
                worker = OutboxWorker(machine, store, caps=caps, prune_every=prune)
            except ValueError as err:  # caps the worker refuses
                raise CommandError(f"--caps {options['caps']}: {err}") from None
            pairs.append((worker, ticker))
        names = [w.definition for w, _ in pairs]
        if options["once"]:
            done = []
            for worker, ticker in pairs:
                fired = ticker.run_once().fired if ticker is not None else 0
                ran = 0
                while True:
                    n = worker.run_once(options["limit"])
                    ran += n
                    if n == 0:
                        break
                counts = worker.counts()
                done.append(
                    {
                        "definition": worker.definition,
                        "timeouts_fired": fired,
                        "run": ran,
                        "pending": counts.get("pending", 0),
                        "dead": counts.get("dead", 0),
                    }
                )
            for d in done:
                self._say(
                    options,
                    d,
                    f"{d['definition']}: {d['timeouts_fired']} timeout(s) "
                    f"fired, {d['run']} effect(s) run, {d['pending']} pending, "
                    f"{d['dead']} dead",
                )
            return
        stop = threading.Event()

        def on_signal(signum: int, frame: FrameType | None) -> None:
            stop.set()

        previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
        started = {"worker": "started", "definitions": names, "database": store.using}
        self._say(
            options,
            started,
            f"journeyfsm worker: {', '.join(names)} on database "
            f"{store.using!r}; SIGTERM or Ctrl-C stops",
        )
        try:
            self._loop(pairs, stop, options)
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)
        self._say(options, {"worker": "stopped"}, "journeyfsm worker: stopped")

    def _loop(
        self, pairs: list[tuple[Any, Any]], stop: threading.Event, options: dict[str, Any]
    ) -> None:
        next_tick = time.monotonic()
        while not stop.is_set():
            try:
                next_tick = self._round(pairs, stop, options, next_tick)
            except _database_errors() as err:
                # the database went away or refused (a restart, a missing migration): say
                # so, drop the connections (Django opens new ones) and try again
                self.stderr.write(
                    f"journeyfsm worker: {type(err).__name__}: {err}; retrying in 1 s"
                )
                connections.close_all()
                stop.wait(1.0)
        connections.close_all()

    def _round(
        self,
        pairs: list[tuple[Any, Any]],
        stop: threading.Event,
        options: dict[str, Any],
        next_tick: float,
    ) -> float:
        """One round: due timeouts (each ``tick_interval``), then the outbox; when nothing
        ran, wait up to ``idle`` seconds.  The next tick's time."""
        interval = options["tick_interval"]
        now = time.monotonic()
        ran = 0
        for worker, ticker in pairs:
            if stop.is_set():
                return next_tick
            if ticker is not None and now >= next_tick:
                ticker.run_once()
            ran += worker.run_once(options["limit"])
        if now >= next_tick:
            next_tick = now + interval
        if ran == 0:
            wait = options["idle"]
            if any(t is not None for _, t in pairs):
                wait = min(wait, max(0.0, next_tick - time.monotonic()))
            stop.wait(wait)
        return next_tick

    def _say(self, options: dict[str, Any], data: dict[str, Any], text: str) -> None:
        self.stdout.write(json.dumps(data) if options.get("json") else text)
        self.stdout.flush()

    # -- show, funnel, outbox -----------------------------------------------------------
    def _show(self, options: dict[str, Any]) -> None:
        # the command line's wording (imported here: the CLI package costs ~0.3 s to load)
        from journeyfsm.cli._goals import clock_lines, goal_entry

        machine = get_machine(options["definition"])
        svc = JourneyService(machine, DjangoStore(options["database"]))
        try:
            journey = svc.get(options["key"])
        except ValueError as err:  # not a key at all: ''
            raise CommandError(f"show {options['key']!r}: {err}") from None
        if journey is None:
            raise CommandError(
                f"no journey {options['key']!r} of definition {machine.definition.name!r}"
            )
        history = []
        after = 0
        while True:
            page = svc.history(journey.key, after=after, limit=500)
            history.extend(page)
            if len(page) < 500:
                break
            after = page[-1].seq
        clocks = (
            None
            if journey.goals is None
            else {name: clock.to_dict() for name, clock in journey.goals.items()}
        )
        if options["json"]:
            data = {
                "key": journey.key,
                "definition": machine.definition.name,
                "stage": journey.stage,
                "version": journey.version,
                "data": journey.data,
                "goals": clocks,
                "allowed": list(machine.allowed_triggers(journey)),
                "history": [e.to_dict() for e in history],
            }
            self.stdout.write(json.dumps(data, indent=2, default=str))
            return
        self.stdout.write(
            f"journey {journey.key!r} of {machine.definition.name!r}: stage "
            f"{journey.stage!r}, {journey.version} move(s)"
        )
        self.stdout.write(f"data: {json.dumps(journey.data, sort_keys=True)}")
        for line in clock_lines(clocks, machine.clock.now()):
            self.stdout.write(line)
        for e in history:
            extra = f"  event {e.event_id}" if e.event_id else ""
            extra += goal_entry(e)
            self.stdout.write(
                f"  {e.seq:>4}  {e.at.isoformat()}  {e.trigger}: {e.source} -> {e.dest}{extra}"
            )

    def _funnel(self, options: dict[str, Any]) -> None:
        from journeyfsm.analytics import breakdown, funnel, render_breakdown, render_funnel

        machine = get_machine(options["definition"])
        definition = machine.definition
        svc = JourneyService(machine, DjangoStore(options["database"]))
        journeys = list(svc.journeys(definition.name))
        if not journeys:
            raise CommandError(f"no journey of {definition.name!r} is stored")
        try:
            f = funnel(journeys, definition)
            b = breakdown(journeys, definition, by=options["by"]) if options["by"] else None
        except (TypeError, ValueError) as err:
            raise CommandError(str(err)) from None
        if options["json"]:
            out = {"funnel": f.to_dict(), "breakdown": None if b is None else b.to_dict()}
            self.stdout.write(json.dumps(out, indent=2))
            return
        self.stdout.write(render_funnel(f))
        if b is not None:
            self.stdout.write("")
            self.stdout.write(render_breakdown(b))

    def _outbox(self, options: dict[str, Any]) -> None:
        store = DjangoStore(options["database"])
        found = []
        for machine in self._machines(options["definition"]):
            worker = OutboxWorker(machine, store)
            requeued = worker.requeue_dead() if options["requeue"] else 0
            counts = worker.counts()
            found.append({"definition": worker.definition, "requeued": requeued, **counts})
        if options["json"]:
            self.stdout.write(json.dumps(found))
            return
        for d in found:
            again = f", {d['requeued']} requeued" if options["requeue"] else ""
            self.stdout.write(
                f"{d['definition']}: {d.get('pending', 0)} pending, {d.get('done', 0)} done, "
                f"{d.get('dead', 0)} dead{again}"
            )

    def _prune_deliveries(self, options: dict[str, Any]) -> None:
        caps = _caps(options["caps"])
        store = DjangoStore(options["database"])
        # the ledger is the database's, shared by every machine: any declared one will do
        machine = next(iter(machines().values()), None) or get_machine()
        pruned = JourneyService(machine, store).prune_deliveries(caps)
        if options["json"]:
            self.stdout.write(json.dumps({"pruned": pruned, "database": store.using}))
            return
        self.stdout.write(f"pruned {pruned} delivery row(s) on database {store.using!r}")

    # -- replay ---------------------------------------------------------------------------
    def _replay(self, rest: list[str]) -> None:
        from journeyfsm.cli._replay import run_replay

        args = list(rest)
        if "-h" in args or "--help" in args:
            raise SystemExit(run_replay(["--help"]))
        if "--definition" in args:
            i = args.index("--definition")
            if i + 1 >= len(args):
                raise CommandError("--definition takes a declared machine's definition name")
            args[i + 1] = reference(args[i + 1])
        else:
            args += ["--definition", reference(None)]
        config()  # the settings are checked before the log is read
        code = run_replay(args, self.stdout, self.stderr)
        if code:
            raise CommandError(f"journeyfsm replay exited with {code}", returncode=code)
