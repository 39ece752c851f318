"""The seam between the service and a database: the ``Store`` and ``StoreTransaction``
protocols, the outbox row a worker claims, and what every store shares.

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
from datetime import datetime, timedelta, timezone
from typing import Any, Literal, Protocol, runtime_checkable

import attrs

from .._errors import ConcurrencyConflict, StoreError
from .._records import HistoryEntry
from ..service._core import Decision, JourneyRow
from ..service._records import JourneyImport

__all__ = [
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
    "to_time",
]

#: The schema version this journeyfsm writes and reads; ``create_schema()`` records it.
#: 2: the journeys' timeout clock and ``next_due`` (issue 9).
SCHEMA_VERSION = 2

OutboxStatus = Literal["pending", "done", "dead"]

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


@attrs.frozen
class OutboxItem:
    """One outbox row as a worker or a monitor reads it.

    ``call`` is the ``EffectCall.to_dict()`` written with the move; ``attempts`` counts
    claims; ``last_error`` keeps the last failure; ``status`` is ``"pending"``,
    ``"done"`` or ``"dead"`` (dead-lettered).
    """

    id: int
    definition: str
    key: str
    seq: int
    effect: str
    idempotency_key: str
    call: Any
    status: OutboxStatus
    attempts: int
    available_at: datetime
    lease_owner: str | None = None
    lease_until: datetime | None = None
    last_error: str | None = None


@runtime_checkable
class StoreTransaction(Protocol):
    """What a driver can do inside ``store.transaction()``."""

    def load(self, definition: str, key: str) -> JourneyRow | None:
        """The journey's row, or ``None``."""

    def definitions_of(self, key: str) -> list[str]:
        """The definitions that have a journey ``key`` (one customer, several journeys)."""

    def event_seq(self, definition: str, key: str, event_id: str) -> int | None:
        """The seq of the move that committed ``event_id`` for this journey, or ``None``."""

    def write(self, decision: Decision) -> None:
        """Write a move's rows (after those of the timeouts that fired before it, its
        ``timeouts``); ``ConcurrencyConflict`` if another writer came first."""

    def load_many(self, definition: str, keys: Sequence[str]) -> dict[str, JourneyRow]:
        """The stored rows of ``keys`` by key (a key without a row is left out)."""

    def event_seqs(
        self, definition: str, pairs: Sequence[tuple[str, str]]
    ) -> dict[tuple[str, str], int]:
        """For each committed ``(key, event_id)`` of ``pairs``: the seq of its move."""

    def write_many(self, decisions: Sequence[Decision]) -> None:
        """Write the moves of a batch, in order, with one statement per table where it can.

        A journey moved by several of them is written once: its last row, checked against
        the version it had before the first (see :func:`final_rows`).  Decisions that
        write nothing are skipped.  ``ConcurrencyConflict`` if another writer moved any
        of the journeys first; then nothing of the batch may be kept (roll back).
        """

    def history(
        self, definition: str, key: str, *, after: int = 0, limit: int = 100
    ) -> list[HistoryEntry]:
        """History entries with ``seq > after``, oldest first, at most ``limit``."""

    def due(self, definition: str, *, now: datetime, limit: int) -> list[str]:
        """Keys of up to ``limit`` journeys whose ``next_due <= now``, soonest first."""

    def claim_due(self, definition: str, key: str, *, now: datetime) -> JourneyRow | None:
        """Journey ``key``'s row if it is still due at ``now``, held by this transaction
        until it ends (PostgreSQL: ``FOR UPDATE SKIP LOCKED``); ``None`` if it is no longer
        due or another transaction holds it."""

    def claim_due_batch(
        self, definition: str, *, now: datetime, limit: int, skip: Sequence[str] = ()
    ) -> list[JourneyRow | StoreError]:
        """Up to ``limit`` rows due at ``now`` (soonest first; the keys in ``skip`` left
        out), held by this transaction until it ends: PostgreSQL locks them with ONE
        ``SELECT ... ORDER BY next_due LIMIT n FOR UPDATE SKIP LOCKED`` (rows another
        transaction holds are passed over); SQLite's write transaction and the memory
        store's lock hold everything.  A row that cannot be read (corrupted) is its
        ``StoreError`` (naming table and key) in its place: it fails, not the batch."""

    def import_rows(
        self, definition: str, items: Sequence[JourneyImport], *, replace: bool
    ) -> None:
        """Write whole journeys: each one's row, history and event ids (no outbox rows).

        A key stored already is a ``StoreError`` naming it (roll back: nothing of the
        items may be kept), unless ``replace``: then its row, history, event ids and
        outbox rows are deleted first, in this transaction.
        """

    def journeys_page(
        self, definition: str | None, *, after: tuple[str, str] | None, limit: int
    ) -> list[JourneyRow]:
        """Up to ``limit`` rows in ``(definition, key)`` order after ``after`` (of one
        definition, or of all)."""

    def histories(self, definition: str, keys: Sequence[str]) -> dict[str, list[HistoryEntry]]:
        """The whole history of each of ``keys`` (a key without history is left out)."""

    def purge_event_ids(self, older_than: datetime) -> int:
        """Forget event ids committed before ``older_than``; returns how many."""

    def claim(
        self, definition: str, *, worker: str, now: datetime, lease: timedelta, limit: int
    ) -> list[OutboxItem]:
        """Lease up to ``limit`` due pending rows (free, or with an expired lease)."""

    def mark_done(self, item_id: int, *, now: datetime) -> None:
        """A claimed row was delivered."""

    def mark_failed(
        self, item_id: int, *, error: str, retry_at: datetime | None, now: datetime
    ) -> None:
        """A claimed row failed: due again at ``retry_at``, or dead-lettered (``None``)."""

    def requeue_dead(
        self, definition: str, *, now: datetime, ids: Sequence[int] | None = None
    ) -> int:
        """Dead rows (all, or ``ids``) back to pending with fresh attempts; how many."""

    def outbox(
        self, definition: str, *, key: str | None = None, status: OutboxStatus | None = None
    ) -> list[OutboxItem]:
        """Outbox rows in id order (of one journey, of one status)."""

    def outbox_counts(self, definition: str) -> dict[str, int]:
        """``{"pending": n, "dead": n, "done": n}`` for monitoring."""


@runtime_checkable
class Store(Protocol):
    """Persistence for journeys, history, event ids and outbox rows.

    >>> from journeyfsm.stores import MemoryStore
    >>> store = MemoryStore()
    >>> with store.transaction() as tx:
    ...     tx.load("aida", "c-1") is None
    True
    """

    def transaction(self, *, write: bool = True) -> AbstractContextManager[StoreTransaction]:
        """One transaction; commits on normal exit, rolls back when the block raises."""

    def create_schema(self) -> None:
        """Create the tables if missing (idempotent) and record the schema version."""


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

        when = ensure_utc(older_than, what="older_than")
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
