"""Async ``fire`` against sync ``fire`` on the same definition, ratios in one run (issue 17).

    .venv/bin/python benchmarks/async_fire.py

- ``no async callbacks``: ``await AsyncJourneyMachine.fire`` calls the sync fire on the
  loop (goal: <= 1.3x the sync fire);
- ``async hook``: one ``async def`` before hook, so each move runs in a worker thread and
  the hook on the loop (the price of the hand-off, reported, not gated).
Each figure is the best of several interleaved rounds, in microseconds per fire.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from journeyfsm import AsyncJourneyMachine, Context, JourneyBuilder, JourneyMachine, guard


@guard
def ok(ctx: Context) -> bool:
    return True


def definition() -> Any:
    return (
        JourneyBuilder("loop")
        .stage("a", initial=True)
        .stage("b")
        .stage("end", final=True)
        .transition("go", "a", "b", guards=[ok])
        .transition("back", "b", "a")
        .transition("stop", "b", "end")
        .build()
    )


def sync_round(n: int) -> float:
    m = JourneyMachine(definition())
    j = m.start("k")
    t0 = time.perf_counter()
    for _ in range(n):
        m.fire(j, "go")
        m.fire(j, "back")
    return (time.perf_counter() - t0) / (2 * n) * 1e6


def async_round(n: int, *, async_hook: bool = False) -> float:
    m = AsyncJourneyMachine(definition())
    if async_hook:

        @m.before
        async def noop(ctx: Context) -> None:
            pass

    j = m.start("k")

    async def main() -> float:
        t0 = time.perf_counter()
        for _ in range(n):
            await m.fire(j, "go")
            await m.fire(j, "back")
        return (time.perf_counter() - t0) / (2 * n) * 1e6

    return asyncio.run(main())


def main() -> None:
    n, rounds = 20_000, 7
    sync, plain, threaded = [], [], []
    for _ in range(rounds):
        sync.append(sync_round(n))
        plain.append(async_round(n))
        threaded.append(async_round(n // 20, async_hook=True))
    s, a, t = min(sync), min(plain), min(threaded)
    print(f"sync fire                        {s:7.2f} us")
    print(f"async fire, no async callbacks   {a:7.2f} us   {a / s:.2f}x sync (goal <= 1.3x)")
    print(f"async fire, one async hook       {t:7.2f} us   {t / s:.1f}x sync (thread hand-off)")


if __name__ == "__main__":
    main()
