"""What every store shares: the schema version, time and version checks, conflict
errors, the chaining of a batch's decisions.  The seam itself (the ``Store`` and
``StoreTransaction`` protocols and the outbox row) is the service's: service/_store.py.

A store keeps four tables (names prefixed by the store's ``prefix``): ``journeys`` (one
row per (definition, key): stage, data, version, definition version, the timeout clock
``started_at``, ``entered_at``, ``entry_seq``, ``timeouts_fired``, and ``next_due``,
indexed, ``NULL`` when no timeout is armed), ``history`` (append-only, one row per move), ``event_ids`` (every committed event
id with the seq of the move it made) and ``outbox`` (one row per effect of a move).
Everything is read and written inside ``store.transaction()``; a ``StoreTransaction``
commits when the ``with`` block ends normally and rolls back when it raises.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from datetime import datetime, timezone
from typing import Any

from .._errors import ConcurrencyConflict, StoreError
from ..service._core import Decision, JourneyRow
from ..service._store import OutboxItem, OutboxStatus, Store, StoreTransaction

__all__ = [
    "CAPS_SCHEMA",
    "GOALS_SCHEMA",
    "SCHEMA_VERSION",
    "OutboxItem",
    "OutboxStatus",
    "Store",
    "StoreMethods",
    "StoreTransaction",
    "already_stored",
    "chain",
    "check_prefix",
    "check_version",
    "conflict",
    "conflict_batch",
    "final_rows",
    "from_time",
    "schema_cache",
    "to_time",
]

#: The schema version this journeyfsm writes and reads; ``create_schema()`` records it.
#: 2: the journeys' timeout clock and ``next_due`` (issue 9).
#: 3: ``history.definition_version``, the version each move was decided by (issue 20;
#: ``NULL`` in rows written before: the journey's version at the time, not recorded).
#: 4: the frequency caps' ledger of deliveries (issue 20).
#: 5: ``journeys.goals``, the goal clocks of each journey (issue 20; ``NULL`` in rows
#: written before, and for definitions without goals).
SCHEMA_VERSION = 5
#: The schema version that added the frequency caps' ``deliveries`` table: an upgrade from
#: any older one adds the table (``CREATE ... IF NOT EXISTS``) and records this version.
CAPS_SCHEMA = 4
#: The schema version that added ``journeys.goals``: an upgrade from 4 adds the column.
GOALS_SCHEMA = 5


#: The databases whose schema a store on a host's connection has found current in this
#: process, by what identifies the database and the tables (driver, file or server and
#: database name, schema, prefix): a store made per request on one of them checks nothing.
#: ``create_schema()`` adds its database; a store that finds the tables missing drops it.
#: A schema changed underneath by another process (dropped, or migrated by a newer
#: journeyfsm) is not noticed before a statement fails; a restart checks again.
schema_cache: set[tuple[object, ...]] = set()

_PREFIX = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,30}\Z")


def check_prefix(prefix: str) -> str:
    """A table prefix must be a plain identifier (letters, digits, ``_``; at most 31)."""
    if not isinstance(prefix, str) or not (prefix == "" or _PREFIX.match(prefix)):
        raise ValueError(
            f"table prefix must be empty or an identifier of letters, digits and '_' "
            f"(not starting with a digit, at most 31 characters), got {prefix!r}"
        )
    return prefix


def to_time(value: datetime) -> str:
    """A UTC time as fixed-width ISO text: text order is time order."""
    return value.astimezone(timezone.utc).isoformat(timespec="microseconds")


def from_time(text: object, *, table: str, key: str | None, column: str) -> datetime:
    """Read back :func:`to_time`; anything else is a ``StoreError`` naming the place."""
    try:
        if type(text) is not str:
            raise ValueError
        value = datetime.fromisoformat(text)
        if value.tzinfo is None:
            raise ValueError
    except ValueError:
        raise StoreError(
            f"{table}.{column} of journey {key!r} is corrupted: {text!r} is not an ISO 8601 "
            "time with a UTC offset; repair the row",
            table=table,
            key=key,
        ) from None
    return value.astimezone(timezone.utc)


def check_version(key: str, version: object, last_seq: int) -> None:
    """A journey's version counts its moves: it must equal its last history seq."""
    if version != last_seq:
        raise StoreError(
            f"journeys row of journey {key!r} is corrupted: its version is {version!r} but "
            f"its history ends at seq {last_seq}; repair the row (version = last seq)",
            table="journeys",
            key=key,
        )


class StoreMethods:
    """What every store offers besides transactions (the stores inherit it)."""

    def transaction(self, *, write: bool = True) -> AbstractContextManager[StoreTransaction]:
        raise NotImplementedError  # pragma: no cover - every store defines it

    def purge_event_ids(self, older_than: datetime) -> int:
        """Forget event ids committed before ``older_than`` (retention); how many.

        A redelivery of a purged event id is handled again: keep ids longer than any
        sender retries.

        >>> from datetime import datetime, timezone
        >>> from journeyfsm.stores import MemoryStore
        >>> MemoryStore().purge_event_ids(datetime(2026, 1, 1, tzinfo=timezone.utc))
        0
        """
        from .._clock import ensure_utc

        when = ensure_utc(older_than, what="purge_event_ids(older_than=...)")
        with self.transaction() as tx:
            return tx.purge_event_ids(when)


def conflict(key: str, expected: int | None, detail: str | None = None) -> ConcurrencyConflict:
    """The error of a version check that failed for journey ``key``."""
    why = f" ({detail})" if detail else ""
    return ConcurrencyConflict(
        f"journey {key!r} was moved by another worker first (expected version {expected}){why}; "
        "reload it and decide again",
        key=key,
    )


def conflict_batch(keys: Sequence[str], detail: str | None = None) -> ConcurrencyConflict:
    """The error of a batch write that met another writer on one of ``keys``."""
    why = f" ({detail})" if detail else ""
    shown = ", ".join(repr(k) for k in keys[:5]) + (", ..." if len(keys) > 5 else "")
    return ConcurrencyConflict(
        f"another worker moved one of the {len(keys)} journeys of the batch ({shown}) "
        f"first{why}; reload them and decide again (handle_many does, one by one)",
        key=keys[0] if len(keys) == 1 else None,
    )


def already_stored(definition: str, keys: Sequence[str], n: int) -> StoreError:
    """The error of an import that met journeys already in the store."""
    shown = ", ".join(repr(k) for k in keys[:5]) + (", ..." if len(keys) > 5 else "")
    return StoreError(
        f"cannot import journey{'s' if len(keys) > 1 else ''} {shown} (definition "
        f"{definition!r}): {len(keys)} of the batch's {n} journeys are already in the store; "
        "nothing of the batch was written: pass replace=True to replace them (history, event "
        "ids and outbox rows too), or leave them out",
        table="journeys",
        key=keys[0],
    )


def chain(decisions: Sequence[Decision]) -> list[Decision]:
    """The decisions that write a row, in order: each one's ``timeouts``, then itself."""
    out: list[Decision] = []
    for decision in decisions:
        out.extend(d for d in decision.timeouts if d.journey is not None)
        if decision.journey is not None:
            out.append(decision)
    return out


def final_rows(decisions: Sequence[Decision]) -> list[tuple[JourneyRow, int | None, int | None]]:
    """Each journey the decisions of a batch touch, once, in first-touched order: its last
    row and the ``version`` and ``timeouts_fired`` its stored row must still have
    (``None``: no row may exist).

    ``decisions`` are those that write, as :func:`chain` lists them (one without a row
    is skipped).  Those of one journey must chain (each decided on the row the one
    before made); anything else is a driver bug and a ``ValueError``.

    >>> from datetime import datetime, timezone
    >>> from journeyfsm import Event, JourneyMachine, templates
    >>> from journeyfsm.service._core import decide
    >>> machine, now = JourneyMachine(templates.aida()), datetime(2026, 1, 1, tzinfo=timezone.utc)
    >>> first = decide(machine, None, Event("c-1", "engage"), seen_seq=None, now=now)
    >>> second = decide(machine, first.journey, Event("c-1", "want"), seen_seq=None, now=now)
    >>> [(row.stage, row.version, expected) for row, expected, _ in final_rows([first, second])]
    [('desire', 2, None)]
    """
    found: dict[tuple[str, str], tuple[JourneyRow, int | None, int | None]] = {}
    for decision in decisions:
        row = decision.journey
        if row is None:
            continue
        jkey = (row.definition, row.key)
        before = found.get(jkey)
        if before is None:
            found[jkey] = (row, decision.expected_version, decision.expected_fired)
            continue
        last = before[0]
        if (decision.expected_version, decision.expected_fired) != (
            last.version,
            last.timeouts_fired,
        ):
            raise ValueError(
                f"the moves of journey {row.key!r} (definition {row.definition!r}) in one "
                f"batch do not chain: a move expects version {decision.expected_version} "
                f"(timeouts fired {decision.expected_fired}) after the batch's move to "
                f"version {last.version} ({last.timeouts_fired}); decide each move on the "
                "row the one before it made"
            )
        found[jkey] = (row, before[1], before[2])
    return list(found.values())


def iter_chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    """``items`` in slices of ``size``."""
    for i in range(0, len(items), size):
        yield items[i : i + size]
