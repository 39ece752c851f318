"""``journeyfsm db migrate``: move the stored journeys of one definition version to a newer
one through the host's declared migrations, in batches, with progress.

    $ journeyfsm db migrate --db journeys.db --machine myshop.journeys:machine_v2 \\
          --migration myshop.journeys:migrations --from 1 --to 2 --dry-run
    $ journeyfsm db migrate --db journeys.db --machine myshop.journeys:machine_v2 \\
          --migration myshop.journeys:migrations --from 1 --batch-size 500

``--machine`` (repeatable) names the machines of the live versions: the newest is the
service's, the others its ``versions=``.  ``--migration`` (repeatable) names a
``Migration``, a list of them, or a function returning either.  Without ``--dry-run`` the
journeys are migrated (each batch one transaction; a re-run after a crash continues).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, TextIO

from .._errors import JourneyError
from .._runtime import JourneyMachine
from .._versions import Migration, version_key
from ._fail import fail
from ._load import import_target
from ._store import CliUsageError, _close, load_machine, open_store, redact

__all__ = ["add_migrate_command"]

OK, FAILED = 0, 1


def add_migrate_command(db_sub: Any) -> None:
    """Add ``migrate`` to the ``db`` command's actions."""
    p = db_sub.add_parser(
        "migrate",
        help="migrate stored journeys from one definition version to a newer one",
        description="Migrate the stored journeys of --from to --to (default: the newest "
        "machine's version) through the declared migrations, --batch-size per transaction. "
        "--dry-run reports how many journeys move to which stage and checks the data "
        "function on a sample, writing nothing.",
    )
    p.add_argument("--db", required=True, metavar="URL", help="SQLite path or PostgreSQL DSN")
    p.add_argument(
        "--machine",
        required=True,
        action="append",
        metavar="MODULE:ATTR",
        help="a live version's JourneyMachine (repeat for each; the newest is the target)",
    )
    p.add_argument(
        "--migration",
        required=True,
        action="append",
        metavar="MODULE:ATTR",
        help="a Migration, a list of them, or a function returning either (repeatable)",
    )
    p.add_argument("--from", dest="from_version", required=True, metavar="VERSION")
    p.add_argument("--to", dest="to_version", metavar="VERSION", help="default: the newest")
    p.add_argument("--dry-run", action="store_true", help="report only: write nothing")
    p.add_argument("--batch-size", type=int, default=500, metavar="N", help="per transaction (500)")
    p.add_argument("--sample", type=int, default=100, metavar="N", help="dry run: rows checked")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(run=_cmd_migrate)


def _version(text: str) -> int | str:
    """A version as typed: digits are an int version, anything else a str one."""
    return int(text) if text.isdigit() else text


def _migrations(ref: str) -> list[Migration]:
    found = import_target(ref, "--migration", (Migration, list, tuple), CliUsageError)
    items = [found] if isinstance(found, Migration) else list(found)
    bad = [m for m in items if not isinstance(m, Migration)]
    if bad:
        raise CliUsageError(f"--migration {ref} holds {bad[0]!r}, not a Migration")
    return items


def _cmd_migrate(args: argparse.Namespace, out: TextIO) -> int:
    from ..service._sync import JourneyService

    if args.batch_size < 1:
        raise CliUsageError(f"--batch-size must be at least 1, got {args.batch_size}")
    if args.sample < 0:
        raise CliUsageError(f"--sample must be at least 0, got {args.sample}")
    machines: list[JourneyMachine] = [load_machine(ref) for ref in args.machine]
    if len({type(m.definition.version) for m in machines}) > 1:
        raise CliUsageError("--machine: the versions of one definition are all ints or all strs")
    machines.sort(key=lambda m: version_key(m.definition.version), reverse=True)
    migrations = [m for ref in args.migration for m in _migrations(ref)]
    store = open_store(args.db)
    try:
        service = JourneyService(machines[0], store, versions=machines[1:], migrations=migrations)
        what = "dry run" if args.dry_run else "migrating"
        if not args.json:
            print(
                f"{what}: definition {service.definition!r} version {args.from_version} -> "
                f"{args.to_version or machines[0].definition.version} in {redact(args.db)}",
                file=out,
                flush=True,
            )

        def progress(report: Any) -> None:
            if not args.json:
                done = report.journeys if args.dry_run else report.migrated
                print(f"  {done} journeys ({len(report.failed)} failed)", file=out, flush=True)

        report = service.migrate(
            _version(args.from_version),
            None if args.to_version is None else _version(args.to_version),
            batch_size=args.batch_size,
            dry_run=args.dry_run,
            sample=args.sample,
            progress=progress,
        )
    except (ValueError, TypeError) as err:
        raise CliUsageError(str(err)) from None
    except JourneyError as err:
        if args.json:
            return fail("db", FAILED, f"migrate: {err}", as_json=True, out=out, err=sys.stderr)
        print(f"journeyfsm db migrate: error: {err}", file=out)
        return FAILED
    finally:
        _close(store)
    if args.json:
        data = {
            "dry_run": report.dry_run,
            "from_version": report.from_version,
            "to_version": report.to_version,
            "journeys": report.journeys,
            "migrated": report.migrated,
            "skipped": report.skipped,
            "sampled": report.sampled,
            "moves": [{"from": a, "to": b, "journeys": n} for (a, b), n in report.moves.items()],
            "failed": [{"key": k, "reason": r} for k, r in report.failed],
        }
        print(json.dumps(data), file=out)
    else:
        for (a, b), n in sorted(report.moves.items()):
            print(f"  {a} -> {b}: {n}", file=out)
        for key, reason in report.failed:
            print(f"  cannot migrate {key!r}: {reason}", file=out)
        verb = "would move" if report.dry_run else "migrated"
        moved = report.journeys if report.dry_run else report.migrated
        print(
            f"{verb} {moved - (len(report.failed) if report.dry_run else 0)} journeys "
            f"({report.skipped} on other versions skipped, {len(report.failed)} failed)",
            file=out,
        )
    return OK if report.ok else FAILED
