"""MemoryStore: the store protocol in one process's memory, for tests and prototypes.

One lock serialises transactions (so threads may share a store); every change made
inside a transaction pushes its undo onto a log that is replayed backwards when the
``with`` block raises, so a failed transaction leaves nothing behind.  Values are kept
as copies of JSON-shaped data, as a database would keep them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

import attrs

from .._errors import ConcurrencyConflict, StoreError
from .._json import copy_json
from .._records import HistoryEntry
from ..service._core import Decision, JourneyRow
from ..service._records import JourneyImport
from ._base import (
    OutboxItem,
    OutboxStatus,
    StoreMethods,
    already_stored,
    chain,
    check_version,
    final_rows,
)

__all__ = ["MemoryStore"]

_JKey = tuple[str, str]


class MemoryStore(StoreMethods):
    """A store in memory: nothing survives the process.

    >>> from journeyfsm import JourneyMachine, JourneyService, templates
    >>> from journeyfsm.stores import MemoryStore
    >>> service = JourneyService(JourneyMachine(templates.aida()), MemoryStore())
    >>> service.handle("c-1", "engage", event_id="e-1").status
    'moved'
    >>> service.handle("c-1", "engage", event_id="e-1").status
    'duplicate'
    """

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._journeys: dict[_JKey, JourneyRow] = {}
        self._history: dict[_JKey, list[HistoryEntry]] = {}
        self._event_ids: dict[tuple[str, str, str], tuple[int, datetime]] = {}
        self._outbox: dict[int, OutboxItem] = {}
        #: the frequency caps' ledger: (customer, channel) -> {outbox id: delivered at}
        self._deliveries: dict[tuple[str, str], dict[int, datetime]] = {}
        #: outbox id -> its (customer, channel) in the ledger
        self._delivered: dict[int, tuple[str, str]] = {}
        self._idempotency_keys: set[str] = set()
        self._next_id = 1
        self._current: _MemoryTransaction | None = None

    def create_schema(self) -> None:
        """Nothing to create in memory (kept for the ``Store`` protocol)."""

    @contextmanager
    def transaction(self, *, write: bool = True) -> Iterator[_MemoryTransaction]:
        """One transaction (nested ones join the outer one and roll back with it)."""
        with self._lock:
            outer = self._current
            tx = self._current = _MemoryTransaction(self)
            try:
                yield tx
            except BaseException:
                tx._undo_all()
                raise
            else:
                if outer is not None:  # committed into the outer one: undone with it
                    outer._undo.extend(tx._undo)
            finally:
                self._current = outer


class _MemoryTransaction:
    def __init__(self, store: MemoryStore) -> None:
        self._s = store
        self._undo: list[Callable[[], None]] = []

    def _undo_all(self) -> None:
        for undo in reversed(self._undo):
            undo()
        self._undo.clear()

    def _set(self, table: dict[Any, Any], key: Any, value: Any) -> None:
        if key in table:
            old = table[key]
            self._undo.append(lambda: table.__setitem__(key, old))
        else:
            self._undo.append(lambda: table.pop(key, None))
        table[key] = value

    # -- journeys ------------------------------------------------------------------
    def load(self, definition: str, key: str) -> JourneyRow | None:
        row = self._s._journeys.get((definition, key))
        if row is None:
            return None
        history = self._s._history.get((definition, key), [])
        check_version(row.key, row.version, history[-1].seq if history else 0)
        goals = None if row.goals is None else copy_json(row.goals)
        return attrs.evolve(row, data=copy_json(row.data), goals=goals)

    def definitions_of(self, key: str) -> list[str]:
        return sorted(d for d, k in self._s._journeys if k == key)

    def event_seq(self, definition: str, key: str, event_id: str) -> int | None:
        found = self._s._event_ids.get((definition, key, event_id))
        return None if found is None else found[0]

    def load_many(self, definition: str, keys: Sequence[str]) -> dict[str, JourneyRow]:
        out = {}
        for key in keys:
            row = self.load(definition, key)
            if row is not None:
                out[key] = row
        return out

    def event_seqs(
        self, definition: str, pairs: Sequence[tuple[str, str]]
    ) -> dict[tuple[str, str], int]:
        table = self._s._event_ids
        return {
            (key, eid): table[(definition, key, eid)][0]
            for key, eid in pairs
            if (definition, key, eid) in table
        }

    def write(self, decision: Decision) -> None:
        self.write_many([decision])

    def write_many(self, decisions: Sequence[Decision]) -> None:
        s = self._s
        moves = chain(decisions)
        # every check first, so a conflict changes nothing
        for row, expected, fired in final_rows(moves):
            stored = s._journeys.get((row.definition, row.key))
            if (stored is None) != (expected is None) or (
                stored is not None and (stored.version, stored.timeouts_fired) != (expected, fired)
            ):
                raise _conflict(row.key, expected, None if stored is None else stored.version)
        ids: set[tuple[str, str, str]] = set()
        for decision in moves:
            if decision.event_id is not None:
                e = decision.event_id
                eid = (e.definition, e.key, e.event_id)
                if eid in s._event_ids or eid in ids:
                    raise _conflict_id(e.key, e.event_id)
                ids.add(eid)
        for decision in moves:
            self._apply(decision)

    def _apply(self, decision: Decision) -> None:
        row, entry = decision.journey, decision.history
        assert row is not None
        s = self._s
        jkey = (row.definition, row.key)
        goals = None if row.goals is None else copy_json(row.goals)
        self._set(s._journeys, jkey, attrs.evolve(row, data=copy_json(row.data), goals=goals))
        if entry is None:  # a timeout that fired without a move: the clock only
            return
        history = s._history.setdefault(jkey, [])
        history.append(entry)
        self._undo.append(lambda: _drop_last(history))
        ids = decision.event_id
        if ids is not None:
            self._set(
                s._event_ids, (ids.definition, ids.key, ids.event_id), (ids.seq, ids.committed_at)
            )
        for out in decision.outbox:
            item = OutboxItem(
                s._next_id,
                out.definition,
                out.key,
                out.seq,
                out.effect,
                out.idempotency_key,
                copy_json(out.call),
                "pending",
                0,
                decision.now,
            )
            self._set(s._outbox, item.id, item)
            s._idempotency_keys.add(out.idempotency_key)
            self._undo.append(lambda k=out.idempotency_key: s._idempotency_keys.discard(k))  # type: ignore[misc]
            s._next_id += 1

    def history(
        self, definition: str, key: str, *, after: int = 0, limit: int = 100
    ) -> list[HistoryEntry]:
        entries = self._s._history.get((definition, key), [])
        return [e for e in entries if e.seq > after][:limit]

    # -- timeouts and scans --------------------------------------------------------
    def due(self, definition: str, *, now: datetime, limit: int) -> list[str]:
        rows = [
            (row.next_due, row.key)
            for (d, _), row in self._s._journeys.items()
            if d == definition and row.next_due is not None and row.next_due <= now
        ]
        return [key for _, key in sorted(rows)[:limit]]

    def claim_due(self, definition: str, key: str, *, now: datetime) -> JourneyRow | None:
        # the store's lock is held for the whole transaction: nobody else can hold it
        row = self.load(definition, key)
        if row is None or row.next_due is None or row.next_due > now:
            return None
        return row

    def claim_due_batch(
        self, definition: str, *, now: datetime, limit: int, skip: Sequence[str] = ()
    ) -> list[JourneyRow | StoreError]:
        # the store's lock is held for the whole transaction: nobody else can hold them
        left_out = set(skip)
        due = sorted(
            (row.next_due, row.key)
            for (d, key), row in self._s._journeys.items()
            if d == definition
            and row.next_due is not None
            and row.next_due <= now
            and key not in left_out
        )[:limit]
        out: list[JourneyRow | StoreError] = []
        for _, key in due:
            try:
                row = self.load(definition, key)
            except StoreError as err:  # this journey fails, not the batch
                out.append(err)
                continue
            assert row is not None
            out.append(row)
        return out

    def import_rows(
        self, definition: str, items: Sequence[JourneyImport], *, replace: bool
    ) -> None:
        s = self._s
        stored = [i.row.key for i in items if (definition, i.row.key) in s._journeys]
        if stored and not replace:
            raise already_stored(definition, stored, len(items))
        for key in stored:
            self._drop(definition, key)
        for item in items:
            row = item.row
            jkey = (definition, row.key)
            goals = None if row.goals is None else copy_json(row.goals)
            self._set(s._journeys, jkey, attrs.evolve(row, data=copy_json(row.data), goals=goals))
            if item.history:
                self._set(s._history, jkey, list(item.history))
            for e in item.event_ids:
                self._set(s._event_ids, (definition, e.key, e.event_id), (e.seq, e.committed_at))

    def _drop(self, definition: str, key: str) -> None:
        """Delete journey ``key``'s row, history, event ids and outbox rows (undoably)."""
        s, jkey = self._s, (definition, key)
        self._pop(s._journeys, [jkey])
        self._pop(s._history, [jkey])
        self._pop(s._event_ids, [k for k in s._event_ids if k[:2] == jkey])
        self._pop(s._outbox, [i for i, o in s._outbox.items() if (o.definition, o.key) == jkey])

    def _pop(self, table: dict[Any, Any], keys: Sequence[Any]) -> None:
        for k in keys:
            if k in table:
                value = table.pop(k)
                self._undo.append(lambda k=k, v=value: table.__setitem__(k, v))  # type: ignore[misc]

    def journeys_page(
        self, definition: str | None, *, after: tuple[str, str] | None, limit: int
    ) -> list[JourneyRow]:
        keys = sorted(
            k
            for k in self._s._journeys
            if (definition is None or k[0] == definition) and (after is None or k > after)
        )[:limit]
        out = []
        for d, key in keys:
            row = self.load(d, key)
            assert row is not None
            out.append(row)
        return out

    def histories(self, definition: str, keys: Sequence[str]) -> dict[str, list[HistoryEntry]]:
        found = self._s._history
        return {k: list(found[(definition, k)]) for k in keys if found.get((definition, k))}

    def purge_event_ids(self, older_than: datetime) -> int:
        table = self._s._event_ids
        old = [k for k, (_, at) in table.items() if at < older_than]
        for k in old:
            value = table.pop(k)
            self._undo.append(lambda k=k, v=value: table.__setitem__(k, v))  # type: ignore[misc]
        return len(old)

    # -- outbox --------------------------------------------------------------------
    def claim(
        self, definition: str, *, worker: str, now: datetime, lease: timedelta, limit: int
    ) -> list[OutboxItem]:
        out: list[OutboxItem] = []
        for item in self._s._outbox.values():
            if len(out) >= limit:
                break
            if (
                item.definition == definition
                and item.status == "pending"
                and item.available_at <= now
                and (item.lease_until is None or item.lease_until <= now)
            ):
                claimed = attrs.evolve(
                    item, attempts=item.attempts + 1, lease_owner=worker, lease_until=now + lease
                )
                self._set(self._s._outbox, item.id, claimed)
                out.append(claimed)
        return out

    def mark_done(self, item_id: int, *, now: datetime) -> None:
        item = self._s._outbox.get(item_id)
        if item is not None and item.status == "pending":
            self._set(
                self._s._outbox,
                item_id,
                attrs.evolve(item, status="done", lease_owner=None, lease_until=None),
            )

    def mark_failed(
        self, item_id: int, *, error: str, retry_at: datetime | None, now: datetime
    ) -> None:
        item = self._s._outbox.get(item_id)
        if item is None or item.status != "pending":
            return
        changed = attrs.evolve(
            item,
            status="pending" if retry_at is not None else "dead",
            available_at=retry_at if retry_at is not None else item.available_at,
            lease_owner=None,
            lease_until=None,
            last_error=error,
        )
        self._set(self._s._outbox, item_id, changed)

    def requeue_dead(
        self, definition: str, *, now: datetime, ids: Sequence[int] | None = None
    ) -> int:
        wanted = None if ids is None else set(ids)
        n = 0
        for item in list(self._s._outbox.values()):
            if (
                item.definition == definition
                and item.status == "dead"
                and (wanted is None or item.id in wanted)
            ):
                self._set(
                    self._s._outbox,
                    item.id,
                    attrs.evolve(item, status="pending", attempts=0, available_at=now),
                )
                n += 1
        return n

    def outbox(
        self, definition: str, *, key: str | None = None, status: OutboxStatus | None = None
    ) -> list[OutboxItem]:
        return [
            item
            for item in self._s._outbox.values()
            if item.definition == definition
            and (key is None or item.key == key)
            and (status is None or item.status == status)
        ]

    def outbox_counts(self, definition: str) -> dict[str, int]:
        counts = {"pending": 0, "dead": 0, "done": 0, "dropped": 0}
        for item in self._s._outbox.values():
            if item.definition == definition:
                counts[item.status] += 1
        return counts

    # -- frequency caps (the store's lock serializes every transaction) --------------
    def cap_deliveries(
        self, customer: str, channel: str, *, since: datetime
    ) -> list[tuple[int, datetime]]:
        sent = self._s._deliveries.get((customer, channel), {})
        return sorted(((i, at) for i, at in sent.items() if at > since), key=lambda r: r[1])

    def cap_record(self, outbox_id: int, customer: str, channel: str, *, at: datetime) -> None:
        self.cap_release(outbox_id)
        pair = (customer, channel)
        if pair not in self._s._deliveries:
            self._set(self._s._deliveries, pair, {})
        self._set(self._s._deliveries[pair], outbox_id, at)
        self._set(self._s._delivered, outbox_id, pair)

    def cap_release(self, outbox_id: int) -> None:
        pair = self._s._delivered.get(outbox_id)
        if pair is not None:
            self._pop(self._s._deliveries[pair], [outbox_id])
            self._pop(self._s._delivered, [outbox_id])

    def cap_prune(self, before: datetime) -> int:
        old = [i for i, pair in self._s._delivered.items() if self._s._deliveries[pair][i] < before]
        for outbox_id in old:
            self.cap_release(outbox_id)
        return len(old)

    def mark_capped(self, item_id: int, *, until: datetime | None, reason: str) -> None:
        item = self._s._outbox.get(item_id)
        if item is None or item.status != "pending":
            return
        changed = attrs.evolve(
            item,
            status="pending" if until is not None else "dropped",
            available_at=until if until is not None else item.available_at,
            attempts=max(item.attempts - 1, 0) if until is not None else item.attempts,
            lease_owner=None,
            lease_until=None,
            last_error=reason,
        )
        self._set(self._s._outbox, item_id, changed)


def _drop_last(entries: list[HistoryEntry]) -> None:
    entries.pop()


def _conflict_id(key: str, event_id: str) -> ConcurrencyConflict:
    return ConcurrencyConflict(
        f"event {event_id!r} of journey {key!r} was committed by another worker first; "
        "reload the journey and decide again",
        key=key,
    )


def _conflict(key: str, expected: int | None, stored: int | None) -> ConcurrencyConflict:
    return ConcurrencyConflict(
        f"journey {key!r} was moved by another worker (expected version {expected}, "
        f"stored {stored}); reload it and decide again",
        key=key,
    )
