"""``journeyfsm outbox list`` and ``journeyfsm db prune-deliveries``: the outbox and the
frequency caps' ledger from a shell.

``outbox list`` prints outbox rows (id, journey key, effect, status, attempts, when a
pending row is due next, the last error) through the explorer's bounded read
(``journeyfsm.explorer._queries.outbox_rows``, plain SQL, no web extra needed), so a
capped row says which cap holds it and until when, and a dead row why it died.
``db prune-deliveries`` runs ``JourneyService.prune_deliveries`` with the caps the
host's workers enforce (``--caps MODULE:ATTR``: a ``FrequencyCap``, a list of them, or
a function returning either).

    $ journeyfsm outbox list --db journeys.db --status dead
    $ journeyfsm outbox list --db journeys.db --definition shop --key c-42 --json
    $ journeyfsm db prune-deliveries --db journeys.db --caps myshop.journeys:caps
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any, TextIO

from .._errors import JourneyError
from ._caps import load_caps
from ._store import CliUsageError, _close, open_store, redact

__all__ = ["add_outbox_command", "add_prune_command"]

OK, USAGE = 0, 2
STATUSES = ("pending", "dead", "dropped", "done", "all")

_LIST = """\
Read a store's outbox. 'outbox list' prints rows oldest first: id, journey key,
effect, status, attempts, when a pending row is due (its next attempt, or when a
cap or quiet hours let it go), and the last error (a dead row's failure, a capped
row's 'capped: email 2 per 24h until ...Z')."""
OUTBOX_EPILOG = """\
examples:
  journeyfsm outbox list --db journeys.db                  pending rows, oldest first
  journeyfsm outbox list --db journeys.db --status dead    dead letters and why
  journeyfsm outbox list --db journeys.db --definition shop --key c-42 --status all
  journeyfsm outbox list --db journeys.db --json --limit 500

exit codes: 0 ok (also when no row matches), 2 bad usage (bad option, unreachable store)"""


def add_prune_command(db_sub: Any) -> None:
    """Add ``prune-deliveries`` to the ``db`` command's actions."""
    p = db_sub.add_parser(
        "prune-deliveries",
        help="delete the frequency caps' ledger rows no cap counts any more",
        description="Delete the rows of the frequency caps' delivery ledger made before now "
        "minus the longest window of --caps (JourneyService.prune_deliveries). Give every "
        "cap your outbox workers enforce: a row only a longer cap still counts is kept only "
        "if that cap is given.",
    )
    p.add_argument("--db", required=True, metavar="URL", help="SQLite path or PostgreSQL DSN")
    p.add_argument(
        "--caps",
        required=True,
        metavar="MODULE:ATTR",
        help="the FrequencyCaps the workers enforce: a FrequencyCap, a list of them, or a "
        "function returning either, e.g. myshop.journeys:caps",
    )
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(run=_cmd_prune)


def _cmd_prune(args: argparse.Namespace, out: TextIO) -> int:
    from .. import templates
    from .._runtime import JourneyMachine
    from ..service._sync import JourneyService

    caps = load_caps(args.caps)
    store = open_store(args.db)
    now = datetime.now(timezone.utc)
    longest = max(cap.per for cap in caps)
    try:
        # the ledger is the store's, shared by every definition: the service's machine
        # gives only the clock here (docs/caps.md prunes the same way)
        service = JourneyService(JourneyMachine(templates.aida()), store)
        pruned = service.prune_deliveries(caps, now=now)
    except (ValueError, TypeError) as err:
        raise CliUsageError(str(err)) from None
    except JourneyError as err:
        raise CliUsageError(redact(str(err))) from None
    finally:
        _close(store)
    before = _z(now - longest)
    if args.json:
        data = {"pruned": pruned, "before": before, "db": redact(args.db)}
        print(json.dumps(data), file=out)
    else:
        print(
            f"pruned {pruned} delivery row(s) made before {before} (the longest window of "
            f"{', '.join(c.describe() for c in caps)}) from {redact(args.db)}",
            file=out,
        )
    return OK


def add_outbox_command(sub: Any) -> None:
    """Add ``outbox`` (action ``list``) to the ``journeyfsm`` subcommands ``sub``."""
    outbox = sub.add_parser(
        "outbox",
        help="list outbox rows (effects): pending, dead, dropped, done, with their last error",
        description=_LIST,
        epilog=OUTBOX_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = outbox.add_subparsers(dest="outbox_command", metavar="ACTION", required=True)
    p = actions.add_parser(
        "list",
        help="print outbox rows, oldest first",
        description=_LIST,
        epilog=OUTBOX_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--db", required=True, metavar="URL", help="SQLite path or PostgreSQL DSN")
    p.add_argument("--definition", metavar="NAME", help="only this definition's rows")
    p.add_argument("--key", metavar="KEY", help="only this journey's rows")
    p.add_argument(
        "--status",
        default="pending",
        metavar="STATUS",
        help=f"{', '.join(STATUSES[:-1])} or all (default: pending)",
    )
    p.add_argument("--limit", default="50", metavar="N", help="rows printed at most (50)")
    p.add_argument("--json", action="store_true", help="print a JSON list of the rows")
    p.set_defaults(run=_cmd_outbox_list)


def _limit(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise CliUsageError(f"--limit takes a whole number of rows >= 1, got {text!r}")
    return value


def _cmd_outbox_list(args: argparse.Namespace, out: TextIO) -> int:
    from ..explorer._queries import outbox_rows, tables_of

    if args.status not in STATUSES:
        raise CliUsageError(
            f"--status {args.status!r} is not an outbox status; use one of {', '.join(STATUSES)}"
        )
    limit = _limit(args.limit)
    store = open_store(args.db)
    try:
        tables = tables_of(store)
        with store.transaction(write=False) as tx:
            rows = outbox_rows(
                tx,
                tables,
                args.definition,
                None if args.status == "all" else args.status,
                limit=limit,
                key=args.key,
            )
    except JourneyError as err:
        raise CliUsageError(redact(str(err))) from None
    finally:
        _close(store)
    if args.json:
        listing = [
            {
                "id": r.id,
                "definition": r.definition,
                "key": r.key,
                "seq": r.seq,
                "effect": r.effect,
                "idempotency_key": r.idempotency_key,
                "status": r.status,
                "attempts": r.attempts,
                "due": _due(r.status, r.available_at),
                "last_error": r.last_error,
            }
            for r in rows
        ]
        print(json.dumps(listing, indent=2, ensure_ascii=False), file=out)
        return OK
    what = "outbox rows" if args.status == "all" else f"{args.status} outbox rows"
    scope = "".join(
        f" {label} {value!r}"
        for label, value in (("of definition", args.definition), ("of journey", args.key))
        if value is not None
    )
    if not rows:
        print(f"no {what}{scope} in {redact(args.db)}", file=out)
        return OK
    print(_table(rows, several=args.definition is None), file=out)
    more = f" (the first {limit}; --limit shows more)" if len(rows) == limit else ""
    print(f"{len(rows)} {what.replace(' rows', ' row(s)')}{scope}{more}", file=out)
    return OK


def _z(at: datetime) -> str:
    return at.astimezone(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def _due(status: str, at: datetime | None) -> str | None:
    """When a pending row is due next; done, dead and dropped rows are due never."""
    return _z(at) if status == "pending" and at is not None else None


def _table(rows: Sequence[Any], *, several: bool) -> str:
    head = ["id", *(["definition"] if several else []), "key", "effect", "status", "attempts"]
    head += ["due", "last error"]
    body = [
        [
            str(r.id),
            *([r.definition] if several else []),
            r.key,
            r.effect,
            r.status,
            str(r.attempts),
            _due(r.status, r.available_at) or "-",
            _one_line(r.last_error or ""),
        ]
        for r in rows
    ]
    widths = [max(len(line[i]) for line in [head, *body]) for i in range(len(head))]
    right = {0, head.index("attempts")}
    lines = []
    for line in [head, *body]:
        cells = [
            cell.rjust(w) if i in right else cell.ljust(w)
            for i, (cell, w) in enumerate(zip(line, widths, strict=True))
        ]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def _one_line(text: str) -> str:
    """A last error on one line: a traceback's lines joined, long ones cut."""
    flat = " | ".join(part.strip() for part in text.splitlines() if part.strip())
    return flat if len(flat) <= 200 else flat[:199] + "\u2026"
