"""The outbox worker (sends the e-mails) and the timeout worker (cart reminders, review
requests) as asyncio tasks: in the app's lifespan, or in worker.py's own process."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from journeyfsm import AsyncJourneyMachine, AsyncJourneyService
from journeyfsm.service import AsyncOutboxWorker, AsyncTimeoutWorker
from journeyfsm.stores import AsyncStore

from .settings import Settings


def start_workers(
    machine: AsyncJourneyMachine, store: AsyncStore, stop: asyncio.Event, settings: Settings
) -> list[asyncio.Task[None]]:
    """Both workers as tasks, until ``stop`` is set (they finish the row in hand)."""
    outbox = AsyncOutboxWorker(
        machine, store, lease=timedelta(seconds=settings.outbox_lease), backoff=0.5
    )
    timeouts = AsyncTimeoutWorker(
        AsyncJourneyService(machine, store), interval=settings.worker_idle
    )
    return [
        asyncio.create_task(outbox.run_forever(stop, idle=settings.worker_idle)),
        asyncio.create_task(timeouts.run(stop)),
    ]
