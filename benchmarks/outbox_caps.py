"""Outbox worker throughput with and without frequency caps (issue 20).

``python -m benchmarks.outbox_caps [N]``: N effects (default 3000) written by a
JourneyService to a SQLite file and a MemoryStore, then drained by one OutboxWorker,
``run_once(limit=100)`` until empty; prints effects/s for: no caps (the plain path), and
caps on a channel with a limit never reached (every row checked and counted: one more
write transaction per row).  Best of 3 per case.
"""

from __future__ import annotations

import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from journeyfsm import (
    EffectCall,
    FrequencyCap,
    JourneyBuilder,
    JourneyMachine,
    JourneyService,
    OutboxWorker,
)
from journeyfsm.stores import MemoryStore, SQLiteStore, Store


def _machine() -> JourneyMachine:
    definition = (
        JourneyBuilder("bench")
        .stage("a", initial=True)
        .stage("b", final=True)
        .transition("ping", "a", "a")
        .transition("stop", "a", "b")
    )
    machine = JourneyMachine(definition.build())

    @machine.effect(on_transition="ping", channel="email")
    def mail(call: EffectCall) -> None:
        pass

    return machine


def _run(make_store: type[Store] | None, n: int, caps: bool) -> float:
    best = 0.0
    for _ in range(3):
        if make_store is None:
            store: Store = MemoryStore()
        else:
            store = SQLiteStore(Path(tempfile.mkdtemp()) / "b.db", create_schema=True)
        machine = _machine()
        service = JourneyService(machine, store)
        for i in range(n):
            service.handle(f"c-{i % 500}", "ping")
        cap = [FrequencyCap(channel="email", limit=10**6, per=timedelta(hours=24))]
        worker = OutboxWorker(machine, store, caps=cap if caps else ())
        start = time.perf_counter()
        done = 0
        while (ran := worker.run_once(limit=100)) > 0:
            done += ran
        elapsed = time.perf_counter() - start
        assert done == n
        best = max(best, n / elapsed)
    return best


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 3000
    for label, kind in (("memory", None), ("sqlite", SQLiteStore)):
        plain = _run(kind, n, caps=False)
        capped = _run(kind, n, caps=True)
        print(f"{label:7} no caps {plain:9.0f} effects/s   with caps {capped:9.0f} effects/s")


if __name__ == "__main__":
    main()
