"""AsyncJourneyService: the driver of the service core over a store.

``handle`` = read (journey row, event id) -> ``decide`` (pure, _core.py) ->
write the move's rows in ONE transaction, version-checked.  Hooks and guards run while
no write lock is held; if another worker committed the journey in between, the write
fails with ``ConcurrencyConflict`` and the driver reads and decides again (bounded
retries with jittered backoff).  ``handle_many`` does the same per batch: one read of
the batch's rows and event ids, every event decided in memory in order (a journey's
later events see the row its earlier ones made), then one ``write_many`` transaction
(one statement per table where the driver allows), version-checked per journey; on a
conflict the batch is handled again event by event.

``tick`` (its drivers are in _tick_async.py) = claim a batch of due journeys
(``next_due <= now``) in ONE write transaction (PostgreSQL ``FOR UPDATE SKIP LOCKED``;
SQLite's write lock), ``decide_tick`` each (pure), write the batch's rows at once, commit;
again until ``limit``.  Exactly once: a journey is advanced only while its claim is held,
the write is checked against the row's version and timeouts fired, and a timeout's move
carries its deterministic event id (unique in the store); a process that dies before the
commit leaves the batch's rows as they were, still due, for the next tick.

``import_journeys`` = check each journey with its machine (_import.py, pure),
then write a batch of whole journeys (rows, history, event ids; no outbox rows) in one
transaction.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, nullcontext
from datetime import datetime
from typing import Any

import attrs

from .._clock import ensure_utc
from .._definition import Policy
from .._errors import ConcurrencyConflict, JourneyError, SnapshotError, StoreError
from .._outcome import Outcome
from .._records import HistoryEntry, Journey
from .._runtime import JourneyMachine
from .._versions import MIGRATE_TRIGGER, Migration
from ._caps import FrequencyCap
from ._core import (
    Decision,
    Event,
    JourneyRow,
    TickDecision,
    TickReport,
    check_event,
    check_page,
    decide,
    decide_tick,
    journey_from_row,
    journey_from_snapshot,
    not_unicode,
    stored_key,
)
from ._import import import_row, unstorable
from ._records import JourneyImport, MigrationReport, as_event
from ._store_async import AsyncStore, AsyncStoreTransaction
from ._tick_async import tick_batches, tick_one_by_one
from ._versions import LiveVersions, VersionPolicy

if True:  # ASYNC
    import functools
    import inspect
    from typing import TypeVar

    from .._async_machine import AsyncJourneyMachine

    T = TypeVar("T")
else:
    # the sync service refuses an AsyncJourneyMachine by name
    from .._async_machine import AsyncJourneyMachine

__all__ = ["AsyncJourneyService"]

#: what ``handle`` holds around an attempt on a store with no ``pin_connection``
_NOTHING = nullcontext()

#: the retries' jitter when no ``rng`` is given: one for the process, because seeding a
#: Random from the OS costs ~10 µs, a noticeable part of a service made per request
_JITTER = random.Random()


class AsyncJourneyService:
    """Durable journeys: each event is handled exactly once, in one store transaction.

    ``store`` is a ``journeyfsm.stores`` store (``AsyncMemoryStore``, ``AsyncSQLiteStore``).
    ``initial_data(key)`` makes the data of a journey's first move (default: empty);
    ``max_attempts`` bounds the reads-and-decides on version conflicts.

    Live versions (docs/versions.md): ``machine`` is the newest version of the definition
    (new journeys start on it); ``versions=`` holds the machines of older versions still
    live, each deciding the stored journeys of its version (pinned);
    ``migrations=`` the declared ``Migration`` objects between versions, used by
    :meth:`migrate` and, with ``on_old_version="migrate"``, when a row of an older
    version is read (default ``"pin"``).

    >>> import asyncio
    >>> from journeyfsm import JourneyMachine, AsyncJourneyService, templates
    >>> from journeyfsm.stores import AsyncMemoryStore
    >>> service = AsyncJourneyService(JourneyMachine(templates.aida()), AsyncMemoryStore())
    >>> asyncio.run(service.handle("c-42", "engage", event_id="evt-1")).dest
    'interest'
    >>> asyncio.run(service.get("c-42")).stage
    'interest'
    """

    def __init__(
        self,
        machine: JourneyMachine | AsyncJourneyMachine,
        store: AsyncStore,
        *,
        initial_data: Callable[[str], Mapping[str, Any] | None] | None = None,
        max_attempts: int = 10,
        backoff: float = 0.002,
        rng: random.Random | None = None,
        versions: Sequence[JourneyMachine | AsyncJourneyMachine] = (),
        migrations: Sequence[Migration] = (),
        on_old_version: VersionPolicy = "pin",
    ) -> None:
        sync_machine: JourneyMachine
        if True:  # ASYNC
            # a JourneyMachine's callbacks are sync: its moves run on the loop; an
            # AsyncJourneyMachine's run through its hand-off, async guards and hooks awaited
            if isinstance(machine, AsyncJourneyMachine):
                sync_machine, async_machine = machine._machine, machine
            elif isinstance(machine, JourneyMachine):
                sync_machine, async_machine = machine, None
            else:
                raise TypeError(
                    "AsyncJourneyService takes a JourneyMachine or an AsyncJourneyMachine, "
                    f"got {machine!r}"
                )
            #: the AsyncJourneyMachine whose hand-off runs each decide step, awaiting its
            #: async guards and hooks (None: a JourneyMachine, whose move runs on the loop)
            self._hand_off = async_machine
        else:
            if isinstance(machine, AsyncJourneyMachine):
                raise TypeError(
                    f"JourneyService takes a JourneyMachine, whose callbacks are sync, got "
                    f"{machine!r}; an AsyncJourneyMachine (async guards and hooks) goes with "
                    "AsyncJourneyService"
                )
            if not isinstance(machine, JourneyMachine):
                raise TypeError(f"JourneyService takes a JourneyMachine, got {machine!r}")
            sync_machine = machine
        if True:  # ASYNC
            if not callable(getattr(store, "transaction", None)) or not (
                inspect.iscoroutinefunction(getattr(store, "create_schema", None))
            ):
                raise TypeError(
                    "AsyncJourneyService takes an async store (journeyfsm.stores."
                    f"AsyncMemoryStore, AsyncSQLiteStore, AsyncPostgresStore), got {store!r}; "
                    "a sync store (MemoryStore, SQLiteStore, PostgresStore) goes with "
                    "JourneyService"
                )
        else:
            if not callable(getattr(store, "transaction", None)):
                raise TypeError(
                    f"JourneyService takes a store (journeyfsm.stores.MemoryStore, SQLiteStore), "
                    f"got {store!r}"
                )
        if type(max_attempts) is not int or max_attempts < 1:
            raise ValueError(f"max_attempts must be an int >= 1, got {max_attempts!r}")
        if (
            isinstance(backoff, bool)
            or not isinstance(backoff, (int, float))
            or not 0 <= backoff <= 60
        ):
            # a conflict's retry sleeps up to backoff * 2**10 seconds (with jitter)
            raise ValueError(
                f"backoff must be a number of seconds between 0 and 60 (the first retry's "
                f"longest wait after a version conflict), got {backoff!r}"
            )
        self.machine = machine
        #: the sync machine the sans-IO core (decide, decide_tick) drives
        self._machine = sync_machine
        self.store = store
        self.definition = machine.definition.name
        self.initial_data = initial_data
        self.max_attempts = max_attempts
        self.backoff = backoff
        self._rng = rng or _JITTER
        #: the store's "is a transaction begun now inside the host's?" (stores on a host's
        #: connection answer it: see the transaction rule in docs/service.md)
        self._joins_host: Callable[[], bool] | None = getattr(store, "joins_host_transaction", None)
        #: the store's "write this move's rows and commit them" (PostgreSQL: one statement
        #: in autocommit), else ``store.transaction()`` and ``tx.write``
        self._commit_move: Callable[[Decision], Any] | None = getattr(store, "commit_move", None)
        #: the store's "read the journey's row and the event id's seq now, if it can
        #: without waiting" (AsyncSQLiteStore: inline, with no transaction object; None
        #: when it cannot now), else a read ``store.transaction(write=False)``
        self._read_now: Callable[[str, str, str | None], Any] | None = getattr(
            store, "load_event_now", None
        )
        #: the live versions (see docs/versions.md): each version's sync machine, and,
        #: for an AsyncJourneyMachine, its hand-off; the declared migrations by source
        self._versions = LiveVersions(machine, versions, migrations, on_old_version)
        #: the store's "hold one connection for this block" (PostgreSQL's pool): around
        #: each attempt of a handle, so its read and its write cost one acquisition
        self._pin: Callable[[], AbstractAsyncContextManager[Any]] | None = getattr(
            store, "pin_connection", None
        )
        if True:  # ASYNC
            self._hand_offs: dict[int | str, AsyncJourneyMachine | None] = {
                m.definition.version: (m if isinstance(m, AsyncJourneyMachine) else None)
                for m in (machine, *versions)
            }
            if any(self._hand_offs.values()):
                # async guards and hooks may wait (an HTTP call): a connection held
                # meanwhile would serve no other task
                self._pin = None

    def _now(self) -> datetime:
        return ensure_utc(self._machine.clock.now(), what="the machine's clock")

    async def handle(
        self,
        key: str,
        trigger: str,
        payload: Any = None,
        *,
        event_id: str | None = None,
        at: datetime | None = None,
        meta: Mapping[str, Any] | None = None,
        policy: Policy | None = None,
    ) -> Outcome:
        """Load (or start) journey ``key``, fire ``trigger``, commit the move; the outcome.

        The move's journey row, history entry, event id and outbox rows (one per effect)
        are committed in one transaction.  A redelivered ``event_id`` returns
        ``duplicate`` (``outcome.seq`` is the seq of the move it made) and writes
        nothing; so do blocked and ignored events.  An unknown trigger, a payload that is
        not JSON-shaped or a naive ``at`` is refused before anything is read or written.
        After ``max_attempts`` version conflicts: ``ConcurrencyConflict``.

        >>> import asyncio
        >>> from journeyfsm import JourneyMachine, AsyncJourneyService, templates
        >>> from journeyfsm.stores import AsyncMemoryStore
        >>> service = AsyncJourneyService(JourneyMachine(templates.aida()), AsyncMemoryStore())
        >>> asyncio.run(service.handle("c-1", "engage", {"source": "ad"}, event_id="e-1")).status
        'moved'
        >>> asyncio.run(service.handle("c-1", "engage", event_id="e-1")).seq
        1
        """
        event = Event(key, trigger, payload, event_id=event_id, at=at, meta=meta, policy=policy)
        check_event(self._machine, event, "handle(at=...)")
        for attempt in range(1, self.max_attempts + 1):
            try:
                async with self._pin() if self._pin is not None else _NOTHING:
                    decision = await self._attempt(event)
            except UnicodeEncodeError as err:  # the driver's: its transaction rolled back
                raise not_unicode(event, err) from None
            except ConcurrencyConflict as err:
                if attempt == self.max_attempts:
                    raise ConcurrencyConflict(
                        f"journey {key!r} (definition {self.definition!r}): another worker "
                        f"moved it first on each of {attempt} attempts to handle {trigger!r}; "
                        "nothing was written for this event: deliver it again later",
                        key=key,
                        trigger=trigger,
                    ) from err
                self._machine.logger.info(
                    "journey.conflict", key=key, trigger=trigger, event_id=event_id, attempt=attempt
                )
                await self._sleep(attempt)
                continue
            return decision.result
        raise AssertionError("unreachable")  # pragma: no cover

    async def _attempt(self, event: Event) -> Decision:
        """One read -> decide -> write of ``handle``; its decision (written, if it writes)."""
        key, event_id = event.key, event.event_id
        if self._joins_host is not None and self._joins_host():
            # the host's transaction holds the request anyway: read, decide and write in
            # ONE store transaction (one savepoint at most, none when the host's
            # transaction is fresh)
            async with self.store.transaction() as tx:
                row, seen = await _read(tx, self.definition, key, event_id)
                decision = await self._decide(row, event, seen)
                if decision.writes:
                    await tx.write(decision)
            return decision
        found = None if self._read_now is None else self._read_now(self.definition, key, event_id)
        if found is not None:  # read at once, outside any transaction object
            row, seen = found
        else:
            async with self.store.transaction(write=False) as tx:
                row, seen = await _read(tx, self.definition, key, event_id)
        decision = await self._decide(row, event, seen)
        if decision.writes:
            if self._commit_move is not None:  # one statement where the store can
                await self._commit_move(decision)
            else:
                async with self.store.transaction() as tx:
                    await tx.write(decision)
        return decision

    async def _decide(self, row: JourneyRow | None, event: Event, seen: int | None) -> Decision:
        machine = self._machine
        migrated: tuple[Decision, ...] = ()
        if row is not None and row.definition_version != self._versions.newest and seen is None:
            now = self._now()
            restart = self._versions.restart(row, event.trigger, now)
            if restart is not None:
                # a finished journey is no longer in flight: the newest version's entry
                # rule decides its restart, and the new run is on the newest version
                # (a migration to reach it is written only if the journey moves)
                decision = await self._decide_on(machine, restart[0], event, seen)
                if decision.writes and restart[1]:
                    decision = attrs.evolve(decision, timeouts=restart[1] + decision.timeouts)
                return decision
            # pinned: the machine of the row's version; migrate on read: the newest,
            # after the migration's moves (written first, in the same transaction)
            machine, migrated = self._versions.route(row, now)
            if migrated:
                row = migrated[-1].journey
        decision = await self._decide_on(machine, row, event, seen)
        if migrated:
            decision = attrs.evolve(decision, timeouts=migrated + decision.timeouts)
        return decision

    async def _decide_on(
        self, machine: JourneyMachine, row: JourneyRow | None, event: Event, seen: int | None
    ) -> Decision:
        if True:  # ASYNC
            hand_off = self._hand_offs.get(machine.definition.version)
            if hand_off is not None and hand_off._machine is machine:
                # its async guards and hooks are awaited
                return await hand_off._drive(
                    functools.partial(
                        decide,
                        row=row,
                        event=event,
                        seen_seq=seen,
                        now=self._now(),
                        initial_data=self.initial_data,
                        checked=True,
                    )
                )
        return decide(
            machine,
            row,
            event,
            seen_seq=seen,
            now=self._now(),
            initial_data=self.initial_data,
            checked=True,  # handle and handle_many check every event first
        )

    async def _decide_tick(
        self, row: JourneyRow, *, until: datetime, now: datetime
    ) -> TickDecision:
        """``decide_tick`` by the machine of the row's version (after its migration,
        under ``on_old_version="migrate"``)."""
        machine = self._machine
        migrated: tuple[Decision, ...] = ()
        if row.definition_version != self._versions.newest:
            machine, migrated = self._versions.route(row, now)
            if migrated:
                last = migrated[-1].journey
                assert last is not None  # a migration's decision always writes the row
                row = last
        decided: TickDecision
        if True:  # ASYNC
            hand_off = self._hand_offs.get(machine.definition.version)
            if hand_off is not None and hand_off._machine is machine:
                decided = await hand_off._drive(
                    functools.partial(decide_tick, row=row, until=until, now=now)
                )
            else:
                decided = decide_tick(machine, row, until=until, now=now)
        else:
            decided = decide_tick(machine, row, until=until, now=now)
        if migrated:
            decided = TickDecision(decided.outcomes, migrated + decided.decisions)
        return decided

    if True:  # ASYNC

        async def _drive(self, fn: Callable[[JourneyMachine], T]) -> T:
            """``fn(the sync machine)``, as a decide step runs: through the
            AsyncJourneyMachine's hand-off (async guards and hooks awaited on this loop; a
            cancel rolls the move back), or on the loop for a JourneyMachine."""
            if self._hand_off is None:
                return fn(self._machine)
            return await self._hand_off._drive(fn)

    async def _sleep(self, attempt: int) -> None:
        # exponential, with full jitter: racing workers spread out instead of colliding again
        await asyncio.sleep(self._rng.uniform(0, self.backoff * 2 ** min(attempt, 10)))

    async def handle_many(self, events: Iterable[Event], *, batch_size: int = 100) -> list[Outcome]:
        """Handle events in order, ``batch_size`` per write transaction; their outcomes.

        Each batch reads its journeys and seen event ids at once, decides its events in
        order in memory (a journey's later events see the row its earlier ones made; an
        event id repeated in the batch is a ``duplicate`` with the seq it got), and
        writes all the moves in ONE transaction, each journey once, checked against the
        version it had when read.  Outcomes, history and outbox rows are exactly those
        ``handle`` would give, event after event.  If another worker moved one of the
        journeys meanwhile (``ConcurrencyConflict``), the batch's events are handled
        again one by one (``handle``, with its retries).  Every event is checked first:
        bad input refuses the whole call before anything is written.  If an event raises
        while a batch is decided (a hook's ``HookError``, a guard's ``GuardError``),
        nothing of the batch is written and its events are handled again one by one: the
        events before the failing one are committed, and the error propagates.  Deliver
        with event ids, and a retry of the whole call skips what was committed
        (``duplicate``).

        >>> import asyncio
        >>> from journeyfsm import Event, JourneyMachine, AsyncJourneyService, templates
        >>> from journeyfsm.stores import AsyncMemoryStore
        >>> service = AsyncJourneyService(JourneyMachine(templates.aida()), AsyncMemoryStore())
        >>> outcomes = asyncio.run(service.handle_many([Event("c-1", "engage"), Event("c-1", "want")]))
        >>> [o.dest for o in outcomes]
        ['interest', 'desire']

        An event may also be a ``(key, trigger)`` or ``(key, trigger, payload)`` tuple, or a
        dict with ``key`` and ``trigger`` and any of ``payload``, ``event_id``, ``at``,
        ``meta``, ``policy`` (as a queue consumer decodes it):

        >>> asyncio.run(service.handle_many([("c-2", "engage"), {"key": "c-2", "trigger": "want"}]))[1].dest
        'desire'
        """
        if type(batch_size) is not int or batch_size < 1:
            raise ValueError(f"batch_size must be an int >= 1, got {batch_size!r}")
        todo = [as_event(event, i) for i, event in enumerate(events)]
        for i, event in enumerate(todo):
            check_event(self._machine, event, f"handle_many(): events[{i}].at")
        out: list[Outcome] = []
        for start in range(0, len(todo), batch_size):
            batch = todo[start : start + batch_size]
            try:
                out.extend(await self._batch(batch))
            except ConcurrencyConflict:
                out.extend(await self._one_by_one(batch))
            except Exception:
                # commits up to the failing event, which raises (again) there
                out.extend(await self._one_by_one(batch))
        return out

    async def _batch(self, batch: Sequence[Event]) -> list[Outcome]:
        if self._joins_host is not None and self._joins_host():
            # inside the host's transaction: the whole batch in one store transaction
            async with self.store.transaction() as tx:
                out, moves = await self._decide_batch(batch, *await self._read_batch(tx, batch))
                if moves:
                    await tx.write_many(moves)
            return out
        # read the batch's rows and seen event ids in one go (2 statements), decide
        # with no transaction open (hooks run without the write lock) ...
        async with self.store.transaction(write=False) as tx:
            rows, seen = await self._read_batch(tx, batch)
        out, moves = await self._decide_batch(batch, rows, seen)
        # ... and write every move in one transaction, version-checked per journey
        if moves:
            async with self.store.transaction() as tx:
                await tx.write_many(moves)
        return out

    async def _read_batch(
        self, tx: AsyncStoreTransaction, batch: Sequence[Event]
    ) -> tuple[dict[str, JourneyRow | None], dict[tuple[str, str], int]]:
        name = self.definition
        rows: dict[str, JourneyRow | None] = dict(
            await tx.load_many(name, list(dict.fromkeys(e.key for e in batch)))
        )
        pairs = [(e.key, e.event_id) for e in batch if e.event_id is not None]
        return rows, (await tx.event_seqs(name, pairs) if pairs else {})

    async def _decide_batch(
        self,
        batch: Sequence[Event],
        rows: dict[str, JourneyRow | None],
        seen: dict[tuple[str, str], int],
    ) -> tuple[list[Outcome], list[Decision]]:
        # each event decided in memory, in order: a journey's later events see the row
        # its earlier ones made, an event id repeated in the batch is a duplicate
        out, moves = [], []
        for event in batch:
            eid = event.event_id
            decision = await self._decide(
                rows.get(event.key), event, None if eid is None else seen.get((event.key, eid))
            )
            if decision.writes:
                # the event's row, or the last of the timeouts that fired before it
                rows[event.key] = decision.journey or decision.timeouts[-1].journey
                if decision.event_id is not None:
                    seen[(event.key, decision.event_id.event_id)] = decision.event_id.seq
                moves.append(decision)
            out.append(decision.result)
        return out, moves

    async def _one_by_one(self, batch: Sequence[Event]) -> list[Outcome]:
        return [
            await self.handle(
                e.key,
                e.trigger,
                e.payload,
                event_id=e.event_id,
                at=e.at,
                meta=e.meta,
                policy=e.policy,
            )
            for e in batch
        ]

    async def get(self, key: str) -> Journey | None:
        """The stored journey ``key`` (history not loaded: see :meth:`history`), or ``None``.

        A journey is stored from its first move on; :meth:`peek` returns the journey as
        it would start instead of ``None``.

        >>> import asyncio
        >>> from journeyfsm import JourneyMachine, AsyncJourneyService, templates
        >>> from journeyfsm.stores import AsyncMemoryStore
        >>> service = AsyncJourneyService(JourneyMachine(templates.aida()), AsyncMemoryStore())
        >>> asyncio.run(service.get("c-1")) is None
        True
        """
        if not stored_key(key):
            return None  # no store can hold it: never stored
        async with self.store.transaction(write=False) as tx:
            row = await tx.load(self.definition, key)
        return None if row is None else self._restore(row)

    async def peek(self, key: str) -> Journey:
        """Journey ``key`` as it stands now, never ``None`` and never written: the stored
        journey (as :meth:`get` returns it), or, before its first move, the journey its
        first event would start from (the initial stage, ``initial_data(key)``, started
        now; version 0, no history).  Use it where a read must show what a customer can
        do next (``machine.allowed_triggers(journey)``, ``machine.explain``) whether or
        not the journey has moved yet; nothing is stored until an event moves it.

        >>> import asyncio
        >>> from journeyfsm import JourneyMachine, AsyncJourneyService, templates
        >>> from journeyfsm.stores import AsyncMemoryStore
        >>> machine = JourneyMachine(templates.aida())
        >>> service = AsyncJourneyService(machine, AsyncMemoryStore())
        >>> journey = asyncio.run(service.peek("c-1"))
        >>> journey.stage, journey.version, machine.allowed_triggers(journey)
        ('attention', 0, ('engage', 'lose_interest'))
        >>> asyncio.run(service.get("c-1")) is None  # peeking wrote nothing
        True
        """
        row = None
        if stored_key(key):  # else never stored: the journey as it would start
            async with self.store.transaction(write=False) as tx:
                row = await tx.load(self.definition, key)
        if row is not None:
            return self._restore(row)
        data = self.initial_data(key) if self.initial_data is not None else None
        return self._machine.start(key, data, at=self._now())

    async def history(self, key: str, *, after: int = 0, limit: int = 100) -> list[HistoryEntry]:
        """Journey ``key``'s history entries with ``seq > after``, oldest first (a page).

        >>> import asyncio
        >>> from journeyfsm import JourneyMachine, AsyncJourneyService, templates
        >>> from journeyfsm.stores import AsyncMemoryStore
        >>> service = AsyncJourneyService(JourneyMachine(templates.aida()), AsyncMemoryStore())
        >>> _ = asyncio.run(service.handle("c-1", "engage"))
        >>> [(e.seq, e.dest) for e in asyncio.run(service.history("c-1"))]
        [(1, 'interest')]
        """
        after, limit = check_page(after, limit)
        if not stored_key(key):
            return []  # no store can hold it: never stored
        async with self.store.transaction(write=False) as tx:
            return await tx.history(self.definition, key, after=after, limit=limit)

    async def tick(
        self, now: datetime | None = None, *, limit: int = 1000, batch_size: int = 100
    ) -> TickReport:
        """Fire the timeouts due at ``now`` (default: the clock) of up to ``limit`` journeys.

        Journeys are taken soonest-due first, ``batch_size`` per transaction: one
        transaction claims a batch (PostgreSQL ``FOR UPDATE SKIP LOCKED``, so workers share
        the due journeys without waiting on each other), fires every timeout due of each
        journey in order, at its own due time, as ``JourneyMachine.tick`` fires it
        (history, event ids and outbox rows written as ``handle`` writes them), writes the
        batch at once and commits.  ``batch_size=1`` advances each journey in its own
        transaction (and counts ``report.skipped``).  Safe with any number of workers
        ticking one database: each timeout fires once.  A journey whose timeout raises (a
        hook) is left out of its batch's writes (the others commit) and listed in
        ``report.failed``; the next tick tries it again.  When ``report.journeys`` equals
        ``limit``, more may be due: tick again.

        >>> import asyncio
        >>> from datetime import datetime, timedelta, timezone
        >>> from journeyfsm import JourneyBuilder, JourneyMachine, AsyncJourneyService
        >>> from journeyfsm.stores import AsyncMemoryStore
        >>> d = (JourneyBuilder("cart").stage("browsing", initial=True).stage("cart")
        ...      .stage("abandoned", final=True).transition("add_to_cart", "browsing", "cart")
        ...      .transition("abandon", "cart", "abandoned")
        ...      .timeout("cart", timedelta(hours=24), "abandon").build())
        >>> service = AsyncJourneyService(JourneyMachine(d), AsyncMemoryStore())
        >>> t0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
        >>> _ = asyncio.run(service.handle("c-1", "add_to_cart", at=t0))
        >>> asyncio.run(service.tick(t0 + timedelta(hours=23))).fired
        0
        >>> report = asyncio.run(service.tick(t0 + timedelta(days=3)))
        >>> report.fired, asyncio.run(service.get("c-1")).stage, asyncio.run(service.history("c-1"))[-1].at - t0
        (1, 'abandoned', datetime.timedelta(days=1))
        """
        if type(limit) is not int or limit < 1:
            raise ValueError(f"limit must be an int >= 1, got {limit!r}")
        if type(batch_size) is not int or batch_size < 1:
            raise ValueError(f"batch_size must be an int >= 1, got {batch_size!r}")
        until = self._now() if now is None else ensure_utc(now, what="tick(now=...)")
        if batch_size == 1:
            return await tick_one_by_one(self, until, limit)
        return await tick_batches(self, until, limit, batch_size)

    async def journeys(
        self, definition: str | None = None, *, batch: int = 500
    ) -> AsyncIterator[Journey]:
        """Every stored journey (of ``definition``, or of all definitions), with its whole
        history, in (definition, key) order, read ``batch`` journeys at a time.

        A journey of this service's definition is restored (and checked) by its machine;
        one of another definition is a plain ``Journey`` record of its rows.  Memory use
        is bounded by the batch, so funnels can be computed from a store of any size.

        A corrupted stored row (a journey's or its history's) stops the iteration: every
        journey before it (in that order, whatever ``batch``) is yielded, then the
        ``StoreError`` naming the row's table and key (``err.table``, ``err.key``) and
        the repair is raised, on every store alike; a funnel is never computed from the
        journeys that happened to decode.

        >>> import asyncio
        >>> from journeyfsm import JourneyMachine, AsyncJourneyService, templates
        >>> from journeyfsm.stores import AsyncMemoryStore
        >>> service = AsyncJourneyService(JourneyMachine(templates.aida()), AsyncMemoryStore())
        >>> _ = asyncio.run(service.handle_many([("c-1", "engage"), ("c-2", "engage"), ("c-2", "want")]))
        >>> async def stored():
        ...     return [(j.key, j.stage, len(j.history)) async for j in service.journeys()]
        >>> asyncio.run(stored())
        [('c-1', 'interest', 1), ('c-2', 'desire', 2)]
        """
        if type(batch) is not int or batch < 1:
            raise ValueError(f"batch must be an int >= 1, got {batch!r}")
        if definition is not None and (not isinstance(definition, str) or not definition):
            raise ValueError(f"definition must be a definition's name or None, got {definition!r}")
        after: tuple[str, str] | None = None
        while True:
            try:
                async with self.store.transaction(write=False) as tx:
                    rows = await tx.journeys_page(definition, after=after, limit=batch)
                    histories: dict[str, dict[str, list[HistoryEntry]]] = {}
                    for name in dict.fromkeys(r.definition for r in rows):
                        keys = [r.key for r in rows if r.definition == name]
                        histories[name] = await tx.histories(name, keys)
            except StoreError:
                if batch == 1:
                    raise
                # a corrupted row in this page: read it again one journey at a time, so
                # every journey before that row is yielded, whatever the batch, and then
                # its error raised (the contract: in order up to the corrupted row)
                batch = 1
                continue
            for row in rows:
                yield self._journey(row, histories[row.definition].get(row.key, []))
            if len(rows) < batch:
                return
            after = (rows[-1].definition, rows[-1].key)

    def _restore(self, row: JourneyRow) -> Journey:
        """The stored journey, restored by the machine of the version its row is on (a
        row of another version is shown as stored, not migrated)."""
        machine = self._machine
        if row.definition_version != self._versions.newest and row.definition == self.definition:
            machine = self._versions.machine_of(row.definition_version) or machine
        return journey_from_row(machine, row, table="journeys")

    def _journey(self, row: JourneyRow, history: list[HistoryEntry]) -> Journey:
        if row.definition == self.definition:
            journey = self._restore(row)
            if any(entry.trigger == MIGRATE_TRIGGER for entry in history):
                # history as it happened: its early entries name the stages of the
                # versions before the migration, which this version need not have
                return attrs.evolve(journey, history=history)
            machine = self._versions.machine_of(row.definition_version) or self._machine
            snap = machine.snapshot(journey, history=False)
            snap["history"] = [entry.to_dict() for entry in history]
            return journey_from_snapshot(machine, snap, row.key)
        return Journey(
            row.key,
            row.stage,
            row.data,
            history,
            row.version,
            definition=row.definition,
            started_at=row.started_at,
            entered_at=row.entered_at,
            entry_seq=row.entry_seq,
            timeouts_fired=row.timeouts_fired,
        )

    async def import_journeys(
        self, journeys: Iterable[Journey], *, replace: bool = False, batch_size: int = 500
    ) -> int:
        """Write finished journeys of this service's definition into the store; how many.

        Each journey is written whole: its row (stage, data, version, timeout clock and
        ``next_due``), every history entry, and the event id of each move with its seq (a
        later ``handle`` with one of them is a ``duplicate``; timeouts fire as they would
        have, from the journey's clock, on the next ``tick``).  Imported moves never run
        effects: NO outbox rows are written, for the journey's past or otherwise.

        Every journey is first checked by the machine (its snapshot restored: stages,
        history chain, version, clock) and must belong to this definition, start in the
        initial stage, have a known clock and no event id twice; a journey that fails is a
        ``SnapshotError`` naming it before its batch is written.  Journeys are written
        ``batch_size`` per transaction: a refused journey, or a key already stored, stops
        the import with nothing of its batch written (earlier batches stay committed; the
        error says which journey).  ``replace=True`` replaces stored keys instead: their
        row, history, event ids and outbox rows (pending, done and dead: a kept row's
        idempotency key would collide with the new history's later moves) are deleted in
        the same transaction.

        >>> import asyncio
        >>> from journeyfsm import JourneyMachine, AsyncJourneyService, templates
        >>> from journeyfsm.stores import AsyncMemoryStore
        >>> machine = JourneyMachine(templates.aida())
        >>> journey = machine.start("c-1")
        >>> _ = machine.fire(journey, "engage", event_id="e-1")
        >>> service = AsyncJourneyService(machine, AsyncMemoryStore())
        >>> asyncio.run(service.import_journeys([journey]))
        1
        >>> asyncio.run(service.get("c-1")).stage, asyncio.run(service.handle("c-1", "engage", event_id="e-1")).status
        ('interest', 'duplicate')
        """
        if type(batch_size) is not int or batch_size < 1:
            raise ValueError(f"batch_size must be an int >= 1, got {batch_size!r}")
        if type(replace) is not bool:
            raise TypeError(f"replace must be True or False, got {replace!r}")
        if isinstance(journeys, (Journey, str, bytes)) or not isinstance(journeys, Iterable):
            raise TypeError(
                f"import_journeys() takes an iterable of Journey objects, got {journeys!r}"
            )
        done = 0
        batch: list[JourneyImport] = []
        seen: dict[str, int] = {}
        try:
            for index, journey in enumerate(journeys):
                item = import_row(self._machine, journey, self._now(), index)
                first = seen.setdefault(item.row.key, index)
                if first != index:
                    raise SnapshotError(
                        f"cannot import journey {item.row.key!r} twice (items {first} and "
                        f"{index}): import each journey once",
                        key=item.row.key,
                    )
                batch.append(item)
                if len(batch) == batch_size:
                    done += await self._import_batch(batch, replace)
                    batch = []
            if batch:
                done += await self._import_batch(batch, replace)
        except JourneyError as err:
            if done:  # say what stays committed
                err.message = f"{err.message} ({done} journeys were imported before this batch)"
                err.args = (err.message,)
            raise
        return done

    async def _import_batch(self, batch: list[JourneyImport], replace: bool) -> int:
        try:
            async with self.store.transaction() as tx:
                await tx.import_rows(self.definition, batch, replace=replace)
        except UnicodeEncodeError as err:  # the driver's: its transaction rolled back
            raise unstorable(batch, err) from None
        return len(batch)

    async def migrate(
        self,
        from_version: int | str,
        to_version: int | str | None = None,
        *,
        batch_size: int = 500,
        dry_run: bool = True,
        sample: int = 100,
        progress: Callable[[MigrationReport], None] | None = None,
    ) -> MigrationReport:
        """Migrate the stored journeys of version ``from_version`` to ``to_version``
        (default: the newest) through the declared ``migrations=``; a report.

        ``dry_run=True`` (the default) writes nothing: it counts how many journeys would
        move to which stage and runs the data function on ``sample`` real rows (it must
        return JSON-shaped data and not raise; a row that fails is in ``failed`` with the
        reason).  ``dry_run=False`` migrates ``batch_size`` journeys per transaction, each
        one move recorded in its history (``journeyfsm.migrate``).  Resumable: a crash
        loses at most the batch being written, and a re-run continues (a row already on
        another version is skipped, so each journey is migrated once).  Against live
        traffic: each row's write is checked against the version it was read with; a
        batch that lost the race is read and migrated again, up to ``max_attempts``
        times, then its journeys are reported as failed (never overwritten).
        ``progress(report_so_far)`` is called after each batch.

        >>> import asyncio
        >>> from journeyfsm import JourneyBuilder, JourneyMachine, Migration, AsyncJourneyService
        >>> from journeyfsm.stores import AsyncMemoryStore
        >>> v1 = (JourneyBuilder("j", version=1).stage("a", initial=True).stage("b")
        ...       .stage("c", final=True).transition("go", "a", "b").transition("end", "b", "c").build())
        >>> v2 = (JourneyBuilder("j", version=2).stage("a", initial=True).stage("b2")
        ...       .stage("c", final=True).transition("go", "a", "b2").transition("end", "b2", "c").build())
        >>> store = AsyncMemoryStore()
        >>> _ = asyncio.run(AsyncJourneyService(JourneyMachine(v1), store).handle("k", "go"))
        >>> service = AsyncJourneyService(JourneyMachine(v2), store, versions=[JourneyMachine(v1)],
        ...                               migrations=[Migration(v1, v2, stages={"b": "b2"})])
        >>> dict(asyncio.run(service.migrate(1)).moves)
        {('b', 'b2'): 1}
        >>> asyncio.run(service.migrate(1, dry_run=False)).migrated, asyncio.run(service.get("k")).stage
        (1, 'b2')
        """
        target = self._versions.newest if to_version is None else to_version
        for what, value in (("from_version", from_version), ("to_version", target)):
            if type(value) is not int and type(value) is not str:
                raise TypeError(f"{what} must be a definition version (int or str), got {value!r}")
        steps = self._versions.chain(from_version, target)  # ValueError naming the gap
        if not steps:
            raise ValueError(f"from_version and to_version are both {target!r}: nothing to migrate")
        for what, value, least in (("batch_size", batch_size, 1), ("sample", sample, 0)):
            if type(value) is not int or value < least:
                raise ValueError(f"{what} must be an int >= {least}, got {value!r}")
        if type(dry_run) is not bool:
            raise TypeError(f"dry_run must be True or False, got {dry_run!r}")
        if progress is not None and not callable(progress):
            # checked before the first batch is written, not after it
            raise TypeError(
                f"progress must be a function of the MigrationReport so far, got {progress!r}"
            )
        tally = _MigrationTally(dry_run, from_version, target)
        tally.sample = sample
        after: tuple[str, str] | None = None
        while True:
            page, after = await self._migrate_page(after, batch_size, from_version, target, tally)
            if progress is not None:
                progress(tally.report())
            if not page:
                return tally.report()

    async def _migrate_page(
        self,
        after: tuple[str, str] | None,
        batch_size: int,
        from_version: int | str,
        target: int | str,
        tally: _MigrationTally,
    ) -> tuple[bool, tuple[str, str] | None]:
        """One batch: read ``batch_size`` rows after ``after``, migrate those on
        ``from_version`` in ONE transaction (retried when live traffic moved one);
        whether there may be more, and where the next batch starts."""
        name = self.definition
        for attempt in range(1, self.max_attempts + 1):
            marks = tally.mark()
            try:
                async with self.store.transaction(write=not tally.dry_run) as tx:
                    rows = [
                        r
                        for r in await tx.journeys_page(name, after=after, limit=batch_size)
                        if r.definition == name
                    ]
                    decisions = self._plan(rows, from_version, target, tally)
                    if decisions:
                        await tx.write_many(decisions)
                        tally.batches += 1
            except ConcurrencyConflict:
                tally.reset(marks)
                if attempt == self.max_attempts:
                    for row in rows:
                        if row.definition_version == from_version:
                            tally.failed.append(
                                (row.key, "moved by live traffic on every attempt: run again")
                            )
                    break
                await self._sleep(attempt)
                continue
            tally.migrated += 0 if tally.dry_run else len(decisions)
            break
        if len(rows) < batch_size:
            return False, None
        return True, (rows[-1].definition, rows[-1].key)

    def _plan(
        self,
        rows: Sequence[JourneyRow],
        from_version: int | str,
        target: int | str,
        tally: _MigrationTally,
    ) -> list[Decision]:
        out: list[Decision] = []
        now = self._now()
        for row in rows:
            if row.definition_version != from_version:
                tally.skipped += 1
                continue
            tally.journeys += 1
            check = not tally.dry_run or tally.sampled < tally.sample
            try:
                if check:
                    tally.sampled += tally.dry_run
                    decisions = self._versions.migrate_row(row, target, now)
                    dest = decisions[-1].journey
                    assert dest is not None
                    new_stage = dest.stage
                    out.extend(decisions)
                else:  # counted only: the stage map, without running the data function
                    new_stage = row.stage
                    for step in self._versions.chain(from_version, target):
                        new_stage = step._target_of(new_stage)[0]
            except JourneyError as err:
                tally.failed.append((row.key, str(err)))
                continue
            move = (row.stage, new_stage)
            tally.moves[move] = tally.moves.get(move, 0) + 1
        return [] if tally.dry_run else out

    async def prune_deliveries(
        self, caps: Sequence[FrequencyCap], *, now: datetime | None = None
    ) -> int:
        """Delete the frequency caps' ledger rows no cap in ``caps`` counts any more (made
        before ``now`` minus the longest window); how many.  Give the caps your outbox
        workers enforce (all of them: a row only a longer cap still counts is kept).

        >>> from datetime import timedelta
        >>> from journeyfsm import FrequencyCap, JourneyMachine, JourneyService, templates
        >>> from journeyfsm.stores import MemoryStore
        >>> service = JourneyService(JourneyMachine(templates.aida()), MemoryStore())
        >>> service.prune_deliveries([FrequencyCap("email", 2, timedelta(hours=24))])
        0
        """
        if isinstance(caps, FrequencyCap) or not isinstance(caps, Sequence) or not caps:
            raise ValueError(
                f"caps must be a non-empty list of the FrequencyCaps the outbox workers "
                f"enforce, got {caps!r}"
            )
        for cap in caps:
            if not isinstance(cap, FrequencyCap):
                raise TypeError(f"caps must hold FrequencyCap objects, got {cap!r}")
        when = self._now() if now is None else ensure_utc(now, what="prune_deliveries(now=...)")
        before = when - max(cap.per for cap in caps)
        async with self.store.transaction() as tx:
            return await tx.cap_prune(before)

    async def purge_event_ids(self, older_than: datetime) -> int:
        """Forget event ids committed before ``older_than`` (retention); how many.

        A redelivery of a purged event id is handled again: keep ids longer than any
        sender retries.
        """
        when = ensure_utc(older_than, what="purge_event_ids(older_than=...)")
        async with self.store.transaction() as tx:
            return await tx.purge_event_ids(when)


async def _read(
    tx: AsyncStoreTransaction, definition: str, key: str, event_id: str | None
) -> tuple[JourneyRow | None, int | None]:
    """The journey's row and the seq of the move ``event_id`` made: in one round trip
    where the store's transaction offers ``load_event`` (SQLite, PostgreSQL), else two."""
    both = getattr(tx, "load_event", None)
    if both is not None:
        found: tuple[JourneyRow | None, int | None] = await both(definition, key, event_id)
        return found
    row = await tx.load(definition, key)
    return row, (await tx.event_seq(definition, key, event_id) if event_id else None)


class _MigrationTally:
    """What a ``migrate`` run found so far (the fields of its ``MigrationReport``)."""

    def __init__(self, dry_run: bool, from_version: int | str, to_version: int | str) -> None:
        self.dry_run, self.from_version, self.to_version = dry_run, from_version, to_version
        self.journeys = self.migrated = self.skipped = self.sampled = self.batches = 0
        self.sample = 100
        self.moves: dict[tuple[str, str], int] = {}
        self.failed: list[tuple[str, str]] = []

    def mark(self) -> tuple[int, int, int, int, dict[tuple[str, str], int]]:
        return self.journeys, self.skipped, self.sampled, len(self.failed), dict(self.moves)

    def reset(self, marks: tuple[int, int, int, int, dict[tuple[str, str], int]]) -> None:
        self.journeys, self.skipped, self.sampled, failed, self.moves = marks
        del self.failed[failed:]

    def report(self) -> MigrationReport:
        return MigrationReport(
            self.dry_run,
            self.from_version,
            self.to_version,
            self.journeys,
            self.migrated,
            dict(self.moves),
            self.skipped,
            tuple(self.failed),
            self.sampled,
            self.batches,
        )
