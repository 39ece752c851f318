"""An outbox worker process with a frequency cap (tests/test_caps.py runs four at once).

``python caps_process.py DB OUT LIMIT PER_SECONDS DEADLINE_SECONDS``: DB is ``pg:PREFIX:DSN``
or a SQLite path; runs an ``OutboxWorker`` of caps_machine() with
``FrequencyCap("email", LIMIT, PER)`` on the real clock until no row of the definition is
pending or the deadline passes; each delivery is appended to OUT as
``idempotency_key customer unix_time``.  With ``KILL`` set in the environment, the process
SIGKILLs itself inside its first delivery (after the ledger row committed, before the
effect wrote anything or the row was marked done).
"""

from __future__ import annotations

import os
import signal
import sys
import time
from datetime import timedelta

from journeyfsm import EffectCall, FrequencyCap, JourneyBuilder, JourneyMachine, OutboxWorker
from journeyfsm.stores import SQLiteStore, Store


def caps_machine() -> JourneyMachine:
    """``ping`` a -> a; the effect ``mail`` (channel ``email``) on every ping."""
    definition = (
        JourneyBuilder("caps")
        .stage("a", initial=True)
        .stage("b", final=True)
        .transition("ping", "a", "a")
        .transition("stop", "a", "b")
    )
    return JourneyMachine(definition.build())


def _open(db: str) -> Store:
    if db.startswith("pg:"):
        from journeyfsm.stores import PostgresStore

        _, prefix, dsn = db.split(":", 2)
        return PostgresStore(dsn, prefix=prefix, max_size=2)
    return SQLiteStore(db)


def main() -> None:
    db, out, limit, per, deadline = sys.argv[1:6]
    machine = caps_machine()
    kill = bool(os.environ.get("KILL"))

    @machine.effect(on_transition="ping", channel="email")
    def mail(call: EffectCall) -> None:
        if kill:
            os.kill(os.getpid(), signal.SIGKILL)
        with open(out, "a") as f:
            f.write(f"{call.idempotency_key} {call.key} {time.time():.6f}\n")

    store = _open(db)
    worker = OutboxWorker(
        machine,
        store,
        lease=timedelta(seconds=2),
        caps=[FrequencyCap(channel="email", limit=int(limit), per=timedelta(seconds=float(per)))],
    )
    end = time.monotonic() + float(deadline)
    while time.monotonic() < end:
        if worker.run_once(limit=2) == 0:
            if worker.counts()["pending"] == 0:
                return
            time.sleep(0.02)
    sys.exit(3)  # the deadline passed with rows pending


if __name__ == "__main__":
    main()
