"""``journeyfsm show KEY --db URL [--definition NAME]``: a stored journey's stage, data,
goal clocks and history, as text or ``--json``.

    $ journeyfsm show customer-42 --db journeys.db --definition shop
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime, timezone
from typing import Any, TextIO

from .._errors import JourneyError
from ._fail import fail
from ._goals import clock_lines, goal_entry
from ._store import CliUsageError, _close, open_store, redact

__all__ = ["show_journey"]

OK = 0


def show_journey(args: argparse.Namespace, out: TextIO) -> int:
    """``journeyfsm show KEY --db URL [--definition NAME]``: stage, data, goal clocks and
    history of the stored journey KEY (of every definition that has one, without ``--definition``)."""
    key: str = args.template
    as_json = bool(getattr(args, "json", False))
    found: list[dict[str, Any]] = []
    store = open_store(args.db)
    shown = 0
    try:
        with store.transaction(write=False) as tx:
            names = [args.definition] if args.definition else tx.definitions_of(key)
            for name in names:
                row = tx.load(name, key)
                if row is None:
                    continue
                entries = []
                after = 0
                while True:
                    page = tx.history(name, key, after=after, limit=500)
                    entries.extend(page)
                    if len(page) < 500:
                        break
                    after = page[-1].seq
                shown += 1
                if as_json:
                    found.append(
                        {
                            "key": row.key,
                            "definition": row.definition,
                            "definition_version": row.definition_version,
                            "stage": row.stage,
                            "version": row.version,
                            "started_at": _iso(row.started_at),
                            "entered_at": _iso(row.entered_at),
                            "data": row.data,
                            "goals": row.goals,
                            "history": [e.to_dict() for e in entries],
                        }
                    )
                    continue
                if shown > 1:
                    print(file=out)
                print(
                    f"journey {row.key!r} of {row.definition!r} (version "
                    f"{row.definition_version}): stage {row.stage!r}, {row.version} move(s), "
                    f"in stage since {row.entered_at.isoformat()}",
                    file=out,
                )
                print(f"data: {json.dumps(row.data, sort_keys=True)}", file=out)
                for line in clock_lines(row.goals, datetime.now(timezone.utc)):
                    print(line, file=out)
                for e in entries:
                    extra = f"  event {e.event_id}" if e.event_id else ""
                    extra += goal_entry(e)
                    print(
                        f"  {e.seq:>4}  {e.at.isoformat()}  {e.trigger}: {e.source} -> "
                        f"{e.dest}{extra}",
                        file=out,
                    )
    except JourneyError as err:
        raise CliUsageError(redact(str(err))) from None
    finally:
        _close(store)
    of = f" of definition {args.definition!r}" if args.definition else ""
    missing = f"no journey {key!r}{of} in {redact(args.db)}"
    if as_json:
        if not shown:
            return fail("show", 1, missing, as_json=True, out=out, err=sys.stderr)
        print(json.dumps(found, indent=2), file=out)
        return OK
    if not shown:
        print(missing, file=out)
        return 1
    return OK


def _iso(value: Any) -> str | None:
    return None if value is None else str(value.isoformat())
