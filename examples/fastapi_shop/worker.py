"""The shop's workers in a process of their own: ``python -m examples.fastapi_shop.worker``.

Runs the outbox worker (the e-mails) and the timeout worker (cart reminders, review
requests) until SIGTERM or SIGINT, then finishes the row in hand and exits.  Run as many
as you like beside the app (``SHOP_WORKERS_IN_APP=0`` keeps them out of the app):
they share the rows without sending anything twice.
"""

from __future__ import annotations

import asyncio
import signal

from .db import make_engine, make_sessions, worker_store
from .journey import make_machine
from .settings import load
from .workers import start_workers


async def run() -> None:
    settings = load()
    engine = make_engine(settings.database_url)
    machine = make_machine(settings, make_sessions(engine))
    store = await worker_store(settings.database_url)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print("worker: running", flush=True)
    try:
        await asyncio.gather(*start_workers(machine, store, stop, settings))
    finally:
        await store.close()  # type: ignore[attr-defined]
        await engine.dispose()
    print("worker: stopped", flush=True)


def main() -> None:
    asyncio.run(run())


if __name__ == "__main__":
    main()
