"""AsyncTimeoutWorker: fires the stage timeouts of a store's journeys as they come due.

A host that runs its own loop (a scheduler, a cron job, a thread beside its web server)
calls :meth:`AsyncTimeoutWorker.run_once` every so often, or runs
:meth:`AsyncTimeoutWorker.run` until a stop event is set (in a thread, or as an asyncio
task for the async worker); ``journeyfsm worker`` does the same from the command line.
Each round is ``AsyncJourneyService.tick``: any number of workers may tick one database,
each timeout fires once (see docs/timeouts.md, "Durable timeouts").
"""

from __future__ import annotations

import asyncio
from datetime import datetime

from .._clock import Clock, ensure_utc
from .._outcome import Outcome
from ._async import AsyncJourneyService
from ._core import TickReport

if True:  # ASYNC
    import contextlib

__all__ = ["AsyncTimeoutWorker"]


class AsyncTimeoutWorker:
    """Ticks ``service`` every ``interval`` seconds: fires the timeouts that are due.

    ``clock`` (default: the service's machine's clock) says what "now" is; ``limit``
    bounds the journeys advanced per tick (a round ticks again while a tick was full);
    ``batch_size`` is how many of them share one transaction (``AsyncJourneyService.tick``).

    >>> import asyncio
    >>> from datetime import datetime, timedelta, timezone
    >>> from journeyfsm import JourneyBuilder, JourneyMachine, AsyncJourneyService, ManualClock
    >>> from journeyfsm import AsyncTimeoutWorker
    >>> from journeyfsm.stores import AsyncMemoryStore
    >>> d = (JourneyBuilder("cart").stage("browsing", initial=True).stage("cart")
    ...      .stage("abandoned", final=True).transition("add_to_cart", "browsing", "cart")
    ...      .transition("abandon", "cart", "abandoned")
    ...      .timeout("cart", timedelta(hours=24), "abandon").build())
    >>> clock = ManualClock(datetime(2026, 1, 1, tzinfo=timezone.utc))
    >>> service = AsyncJourneyService(JourneyMachine(d, clock=clock), AsyncMemoryStore())
    >>> _ = asyncio.run(service.handle("c-1", "add_to_cart"))
    >>> worker = AsyncTimeoutWorker(service, interval=60)
    >>> asyncio.run(worker.run_once()).fired
    0
    >>> _ = clock.advance(timedelta(days=1))
    >>> asyncio.run(worker.run_once()).fired, asyncio.run(service.get("c-1")).stage
    (1, 'abandoned')
    """

    def __init__(
        self,
        service: AsyncJourneyService,
        *,
        interval: float = 1.0,
        clock: Clock | None = None,
        limit: int = 1000,
        batch_size: int = 100,
    ) -> None:
        if not isinstance(service, AsyncJourneyService):
            raise TypeError(f"AsyncTimeoutWorker takes an AsyncJourneyService, got {service!r}")
        if (
            isinstance(interval, bool)
            or not isinstance(interval, (int, float))
            or not 0 < interval < 86400 * 366  # not nan, nor inf (a worker that never ticks)
        ):
            raise ValueError(
                f"interval must be a number of seconds > 0 and below a year, got {interval!r}"
            )
        if type(limit) is not int or limit < 1:
            raise ValueError(f"limit must be an int >= 1, got {limit!r}")
        if type(batch_size) is not int or batch_size < 1:
            raise ValueError(f"batch_size must be an int >= 1, got {batch_size!r}")
        if clock is not None and not callable(getattr(clock, "now", None)):
            raise TypeError(f"clock must have a now() method (a journeyfsm Clock), got {clock!r}")
        self.service = service
        self.interval = float(interval)
        self.clock = clock if clock is not None else service.machine.clock
        self.limit = limit
        self.batch_size = batch_size

    def _now(self) -> datetime:
        return ensure_utc(self.clock.now(), what="the AsyncTimeoutWorker's clock")

    async def run_once(self) -> TickReport:
        """Fire everything due now (ticking again while a tick was full); what it did."""
        now = self._now()
        journeys = fired = skipped = 0
        outcomes: list[Outcome] = []
        failed: list[tuple[str, str]] = []
        while True:
            report = await self.service.tick(now, limit=self.limit, batch_size=self.batch_size)
            journeys += report.journeys
            fired += report.fired
            skipped += report.skipped
            outcomes.extend(report.outcomes)
            failed.extend(report.failed)
            # a full tick may have left some due: again (a failed journey is still due,
            # so a tick of only failures ends the round instead of retrying it at once)
            taken = report.journeys + report.skipped + len(report.failed)
            if taken < self.limit or report.journeys == 0:
                return TickReport(journeys, fired, tuple(outcomes), skipped, tuple(failed))

    async def run(self, stop: asyncio.Event) -> None:
        """:meth:`run_once` every ``interval`` seconds until ``stop`` is set.

        >>> import asyncio
        >>> from journeyfsm import JourneyMachine, AsyncJourneyService, AsyncTimeoutWorker, templates
        >>> from journeyfsm.stores import AsyncMemoryStore
        >>> stop = asyncio.Event(); stop.set()
        >>> asyncio.run(AsyncTimeoutWorker(AsyncJourneyService(JourneyMachine(templates.aida()), AsyncMemoryStore())).run(stop))
        """
        while not stop.is_set():
            await self.run_once()
            if True:  # ASYNC
                # the stop event ends the wait at once; a cancel of the task, too
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.interval)
            else:
                stop.wait(self.interval)
