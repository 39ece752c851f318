"""AsyncOutboxWorker: delivers the effects a move wrote to the outbox, at least once.

Theory of operation
-------------------
A move writes one outbox row per effect in the move's own transaction, so an effect
exists exactly when its move does.  A worker:

1. claims up to ``limit`` due rows in one short write transaction: it leases them (owner,
   ``lease_until``) and counts the attempt.  A row is due when it is pending, its
   ``available_at`` has come, and it is not leased or its lease has expired (the worker
   that held it died): expired leases are how rows are reclaimed;
2. runs each claimed row's effect with the ``EffectCall`` rebuilt from the row (the same
   idempotency key on every attempt), outside any transaction;
3. marks the row done, or failed: due again after an exponential backoff with jitter,
   or dead-lettered (kept with its last error) once it has had ``max_attempts``.

A worker killed after the effect ran and before the row was marked done leaves the row
leased; once the lease expires another worker runs it again: delivery is at-least-once,
and the receiver dedupes on the idempotency key.  A row that cannot be read back
(corrupted call) is dead-lettered at once with the reason, without blocking the others.

With ``caps=`` / ``quiet_hours=`` a row of a capped channel is checked before step 2
(service/_caps.py): deferred (``available_at`` moved, the attempt not counted) or dropped
(status ``dropped``), ``last_error`` naming the rule; a worker without them pays one
attribute test per row.
"""

from __future__ import annotations

import asyncio
import os
import random
import socket
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from .._async_machine import AsyncJourneyMachine
from .._clock import ensure_utc
from .._errors import StoreError
from .._hooks import Effect
from .._outcome import EffectCall
from ._caps import CapDecision, CapPolicy, FrequencyCap, QuietHours, quiet_decision
from ._store_async import AsyncStore, OutboxItem

_MAX_DELAY = 366 * 86400.0  # seconds: the longest backoff a worker takes

if True:  # ASYNC
    import contextlib

__all__ = ["AsyncOutboxWorker"]


class AsyncOutboxWorker:
    """Claims outbox rows of ``machine``'s definition from ``store`` and runs their effects.

    ``lease``: how long a claimed row stays reserved (longer than an effect takes);
    ``max_attempts``: attempts before a row is dead-lettered; ``backoff`` and
    ``max_backoff``: seconds before the first retry, doubling up to the cap, each scaled
    by a random factor in [0.5, 1].  ``caps``, ``quiet_hours`` and ``customer`` (who is
    counted: the journey key by default) limit the deliveries of effects registered with a
    ``channel`` (docs/caps.md); give every worker on a store the same ones.

    >>> import asyncio
    >>> from journeyfsm import AsyncJourneyMachine, AsyncJourneyService, AsyncOutboxWorker, templates
    >>> from journeyfsm.stores import AsyncMemoryStore
    >>> machine, store = AsyncJourneyMachine(templates.aida()), AsyncMemoryStore()
    >>> @machine.effect(on_enter="interest")
    ... async def welcome(call):
    ...     print("welcome", call.key, call.idempotency_key)
    >>> _ = asyncio.run(AsyncJourneyService(machine, store).handle("c-1", "engage"))
    >>> asyncio.run(AsyncOutboxWorker(machine, store).run_once())
    welcome c-1 aida:c-1:1:welcome
    1
    """

    def __init__(
        self,
        machine: AsyncJourneyMachine,
        store: AsyncStore,
        *,
        name: str | None = None,
        lease: timedelta = timedelta(seconds=60),
        max_attempts: int = 8,
        backoff: float = 1.0,
        max_backoff: float = 3600.0,
        rng: random.Random | None = None,
        caps: Sequence[FrequencyCap] = (),
        quiet_hours: QuietHours | None = None,
        customer: Callable[[EffectCall], str] | None = None,
        prune_every: timedelta | None = None,
    ) -> None:
        if True:  # ASYNC
            if not isinstance(machine, AsyncJourneyMachine):
                raise TypeError(
                    f"AsyncOutboxWorker takes an AsyncJourneyMachine, got {machine!r} "
                    "(a JourneyMachine goes with OutboxWorker)"
                )
        if type(max_attempts) is not int or max_attempts < 1:
            raise ValueError(f"max_attempts must be an int >= 1, got {max_attempts!r}")
        if not isinstance(lease, timedelta) or lease <= timedelta(0):
            raise ValueError(f"lease must be a positive timedelta, got {lease!r}")
        for what, seconds in (("backoff", backoff), ("max_backoff", max_backoff)):
            # a retry's delay becomes a timedelta: it must be a finite, non-negative number
            if (
                isinstance(seconds, bool)
                or not isinstance(seconds, (int, float))
                or not 0 <= seconds <= _MAX_DELAY
            ):
                raise ValueError(
                    f"{what} must be a number of seconds between 0 and {_MAX_DELAY:.0f} "
                    f"(a year), got {seconds!r}"
                )
        if name is not None and (type(name) is not str or not name.strip()):
            raise ValueError(
                f"name must be a non-empty str (the lease owner written on claimed rows) "
                f"or None (host:pid:id), got {name!r}"
            )
        self.machine = machine
        self.store = store
        self.definition = machine.definition.name
        self.name = name or f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"
        self.lease = lease
        self.max_attempts = max_attempts
        self.backoff = backoff
        self.max_backoff = max_backoff
        self._rng = rng or random.Random()
        policy = CapPolicy(caps, quiet_hours, customer)
        #: ``None`` without caps and quiet hours: the delivery path checks nothing
        self._caps: CapPolicy | None = policy if (policy.caps or policy.quiet) else None
        if prune_every is not None and (
            not isinstance(prune_every, timedelta) or prune_every <= timedelta(0)
        ):
            raise ValueError(
                f"prune_every must be a positive timedelta or None (never prune), "
                f"got {prune_every!r}"
            )
        #: with caps, the ledger rows no cap counts any more are deleted this often
        #: (docs/caps.md); the first prune comes with the first run_once
        self._prune_every = prune_every if policy.caps else None
        self._longest = max(
            (c.per for caps_of in policy.caps.values() for c in caps_of), default=timedelta(0)
        )
        self._next_prune: datetime | None = None

    def _now(self) -> datetime:
        return ensure_utc(self.machine.clock.now(), what="the machine's clock")

    async def run_once(self, limit: int = 100) -> int:
        """Claim up to ``limit`` due rows, run them, record each result; how many ran."""
        if type(limit) is not int or limit < 1:
            raise ValueError(f"limit must be an int >= 1, got {limit!r}")
        if self._prune_every is not None:
            now = self._now()
            if self._next_prune is None or now >= self._next_prune:
                async with self.store.transaction() as tx:
                    await tx.cap_prune(now - self._longest)
                self._next_prune = now + self._prune_every
        async with self.store.transaction() as tx:
            items = await tx.claim(
                self.definition, worker=self.name, now=self._now(), lease=self.lease, limit=limit
            )
        for item in items:
            await self._deliver(item)
        return len(items)

    async def _deliver(self, item: OutboxItem) -> None:
        try:
            if isinstance(item.call, StoreError):
                raise item.call
            call = EffectCall.from_dict(item.call)
        except (StoreError, ValueError) as err:
            reason = str(err)
            if not isinstance(err, StoreError):
                reason = (
                    f"outbox.call of journey {item.key!r} (row {item.id}) is corrupted: {err}; "
                    "repair the row and requeue it"
                )
            await self._record(item, reason, dead=True)
            return
        counted = False
        if self._caps is not None:
            eff = self.machine._hooks.effects.get(call.effect)
            if eff is not None and eff.channel is not None and self._caps.applies(eff.channel):
                verdict = await self._admit(item, call, eff, self._caps)
                if verdict is None:
                    return  # deferred, dropped, or failed
                counted = verdict
        try:
            reports = await self.machine.run_effects([call])
        except LookupError as err:  # no such effect registered on this machine
            await self._record(item, f"LookupError: {err}", dead=False)
            return
        report = reports[0]
        if report.ok:
            async with self.store.transaction() as tx:
                await tx.mark_done(item.id, now=self._now())
        else:
            await self._record(item, report.error or "failed", dead=False, release=counted)

    async def _admit(
        self, item: OutboxItem, call: EffectCall, eff: Effect, policy: CapPolicy
    ) -> bool | None:
        """Check ``item`` against the quiet hours and caps of its channel: ``None`` when
        it was deferred or dropped (or could not be checked: failed), else whether it was
        counted in the ledger (given back if the effect fails)."""
        channel = eff.channel
        assert channel is not None
        now = self._now()
        decision: CapDecision | None = None
        try:
            customer = policy.customer_of(call)
            quiet = policy.quiet_for(channel)
            if quiet is not None:
                decision = quiet_decision(quiet, call, now)
        except Exception as err:  # the user's customer= or tz= function
            await self._record(item, f"cannot check caps: {type(err).__name__}: {err}", dead=False)
            return None
        if decision is None:
            if channel not in policy.caps:
                return False
            async with self.store.transaction() as tx:
                sent = await tx.cap_deliveries(
                    customer, channel, since=now - policy.window[channel]
                )
                if any(i == item.id for i, _ in sent):
                    return True  # counted by an earlier attempt (its worker died): resend
                decision = policy.decide(channel, eff.on_cap, [at for _, at in sent], now)  # type: ignore[arg-type]
                if decision.until is None and not decision.drop:
                    await tx.cap_record(item.id, customer, channel, at=now)
                    return True
                await tx.mark_capped(item.id, until=decision.until, reason=decision.reason)
        else:
            async with self.store.transaction() as tx:
                await tx.mark_capped(item.id, until=decision.until, reason=decision.reason)
        self.machine.logger.info(
            "outbox.dropped" if decision.drop else "outbox.deferred",
            key=item.key,
            effect=item.effect,
            idempotency_key=item.idempotency_key,
            channel=channel,
            reason=decision.reason,
        )
        return None

    async def _record(
        self, item: OutboxItem, error: str, *, dead: bool, release: bool = False
    ) -> None:
        now = self._now()
        retry_at: datetime | None = None
        if not dead and item.attempts < self.max_attempts:
            delay = min(self.max_backoff, self.backoff * 2 ** (item.attempts - 1))
            retry_at = now + timedelta(seconds=delay * self._rng.uniform(0.5, 1.0))
        async with self.store.transaction() as tx:
            await tx.mark_failed(item.id, error=error, retry_at=retry_at, now=now)
            if release:  # it did not reach the customer: not counted against the cap
                await tx.cap_release(item.id)
        if retry_at is None:
            self.machine.logger.warning(
                "outbox.dead_lettered",
                key=item.key,
                effect=item.effect,
                idempotency_key=item.idempotency_key,
                attempts=item.attempts,
                error=error,
            )

    async def run_forever(
        self, stop_event: asyncio.Event, *, limit: int = 100, idle: float = 0.5
    ) -> None:
        """Run :meth:`run_once` until ``stop_event`` is set, waiting ``idle`` s when idle.

        >>> import asyncio
        >>> from journeyfsm import AsyncJourneyMachine, AsyncOutboxWorker, templates
        >>> from journeyfsm.stores import AsyncMemoryStore
        >>> stop = asyncio.Event(); stop.set()
        >>> asyncio.run(AsyncOutboxWorker(AsyncJourneyMachine(templates.aida()), AsyncMemoryStore()).run_forever(stop))
        """
        while not stop_event.is_set():
            if await self.run_once(limit) == 0:
                if True:  # ASYNC
                    # the stop event ends the wait at once; a cancel of the task, too
                    with contextlib.suppress(asyncio.TimeoutError):
                        await asyncio.wait_for(stop_event.wait(), idle)
                else:
                    stop_event.wait(idle)

    async def requeue_dead(self, ids: Sequence[int] | None = None) -> int:
        """Dead-lettered rows (all, or those ``ids``) back to pending, attempts reset."""
        async with self.store.transaction() as tx:
            return await tx.requeue_dead(self.definition, now=self._now(), ids=ids)

    async def counts(self) -> dict[str, int]:
        """``{"pending": n, "dead": n, "done": n, "dropped": n}`` for this definition."""
        async with self.store.transaction(write=False) as tx:
            return await tx.outbox_counts(self.definition)

    async def dead_letters(self) -> list[OutboxItem]:
        """The dead-lettered rows, with their ``last_error``."""
        async with self.store.transaction(write=False) as tx:
            return await tx.outbox(self.definition, status="dead")

    async def dropped(self) -> list[OutboxItem]:
        """The rows dropped over a cap (``on_cap="drop"``), each ``last_error`` naming it."""
        async with self.store.transaction(write=False) as tx:
            return await tx.outbox(self.definition, status="dropped")
