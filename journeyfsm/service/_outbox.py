# GENERATED from journeyfsm/service/_outbox_async.py by .ci/async_to_sync.py: do not edit;
# edit the source and run `make generate`.
"""OutboxWorker: delivers the effects a move wrote to the outbox, at least once.

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
"""

from __future__ import annotations

import os
import random
import socket
import threading
from collections.abc import Sequence
from datetime import datetime, timedelta

from .._clock import ensure_utc
from .._errors import StoreError
from .._outcome import EffectCall
from .._runtime import JourneyMachine
from ._store import OutboxItem, Store

__all__ = ["OutboxWorker"]


class OutboxWorker:
    """Claims outbox rows of ``machine``'s definition from ``store`` and runs their effects.

    ``lease``: how long a claimed row stays reserved (longer than an effect takes);
    ``max_attempts``: attempts before a row is dead-lettered; ``backoff`` and
    ``max_backoff``: seconds before the first retry, doubling up to the cap, each scaled
    by a random factor in [0.5, 1].

    >>> from journeyfsm import JourneyMachine, JourneyService, OutboxWorker, templates
    >>> from journeyfsm.stores import MemoryStore
    >>> machine, store = JourneyMachine(templates.aida()), MemoryStore()
    >>> @machine.effect(on_enter="interest")
    ... def welcome(call):
    ...     print("welcome", call.key, call.idempotency_key)
    >>> _ = JourneyService(machine, store).handle("c-1", "engage")
    >>> OutboxWorker(machine, store).run_once()
    welcome c-1 aida:c-1:1:welcome
    1
    """

    def __init__(
        self,
        machine: JourneyMachine,
        store: Store,
        *,
        name: str | None = None,
        lease: timedelta = timedelta(seconds=60),
        max_attempts: int = 8,
        backoff: float = 1.0,
        max_backoff: float = 3600.0,
        rng: random.Random | None = None,
    ) -> None:
        if type(max_attempts) is not int or max_attempts < 1:
            raise ValueError(f"max_attempts must be an int >= 1, got {max_attempts!r}")
        if not isinstance(lease, timedelta) or lease <= timedelta(0):
            raise ValueError(f"lease must be a positive timedelta, got {lease!r}")
        self.machine = machine
        self.store = store
        self.definition = machine.definition.name
        self.name = name or f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"
        self.lease = lease
        self.max_attempts = max_attempts
        self.backoff = backoff
        self.max_backoff = max_backoff
        self._rng = rng or random.Random()

    def _now(self) -> datetime:
        return ensure_utc(self.machine.clock.now(), what="the machine's clock")

    def run_once(self, limit: int = 100) -> int:
        """Claim up to ``limit`` due rows, run them, record each result; how many ran."""
        if type(limit) is not int or limit < 1:
            raise ValueError(f"limit must be an int >= 1, got {limit!r}")
        with self.store.transaction() as tx:
            items = tx.claim(
                self.definition, worker=self.name, now=self._now(), lease=self.lease, limit=limit
            )
        for item in items:
            self._deliver(item)
        return len(items)

    def _deliver(self, item: OutboxItem) -> None:
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
            self._record(item, reason, dead=True)
            return
        try:
            reports = self.machine.run_effects([call])
        except LookupError as err:  # no such effect registered on this machine
            self._record(item, f"LookupError: {err}", dead=False)
            return
        report = reports[0]
        if report.ok:
            with self.store.transaction() as tx:
                tx.mark_done(item.id, now=self._now())
        else:
            self._record(item, report.error or "failed", dead=False)

    def _record(self, item: OutboxItem, error: str, *, dead: bool) -> None:
        now = self._now()
        retry_at: datetime | None = None
        if not dead and item.attempts < self.max_attempts:
            delay = min(self.max_backoff, self.backoff * 2 ** (item.attempts - 1))
            retry_at = now + timedelta(seconds=delay * self._rng.uniform(0.5, 1.0))
        with self.store.transaction() as tx:
            tx.mark_failed(item.id, error=error, retry_at=retry_at, now=now)
        if retry_at is None:
            self.machine.logger.warning(
                "outbox.dead_lettered",
                key=item.key,
                effect=item.effect,
                idempotency_key=item.idempotency_key,
                attempts=item.attempts,
                error=error,
            )

    def run_forever(
        self, stop_event: threading.Event, *, limit: int = 100, idle: float = 0.5
    ) -> None:
        """Run :meth:`run_once` until ``stop_event`` is set, waiting ``idle`` s when idle.

        >>> import threading
        >>> from journeyfsm import JourneyMachine, OutboxWorker, templates
        >>> from journeyfsm.stores import MemoryStore
        >>> stop = threading.Event(); stop.set()
        >>> OutboxWorker(JourneyMachine(templates.aida()), MemoryStore()).run_forever(stop)
        """
        while not stop_event.is_set():
            if self.run_once(limit) == 0:
                stop_event.wait(idle)

    def requeue_dead(self, ids: Sequence[int] | None = None) -> int:
        """Dead-lettered rows (all, or those ``ids``) back to pending, attempts reset."""
        with self.store.transaction() as tx:
            return tx.requeue_dead(self.definition, now=self._now(), ids=ids)

    def counts(self) -> dict[str, int]:
        """``{"pending": n, "dead": n, "done": n}`` for this definition (monitoring)."""
        with self.store.transaction(write=False) as tx:
            return tx.outbox_counts(self.definition)

    def dead_letters(self) -> list[OutboxItem]:
        """The dead-lettered rows, with their ``last_error``."""
        with self.store.transaction(write=False) as tx:
            return tx.outbox(self.definition, status="dead")
