# GENERATED from journeyfsm/service/_timeout_worker_async.py by .ci/async_to_sync.py: do not edit;
# edit the source and run `make generate`.
"""TimeoutWorker: fires the stage timeouts of a store's journeys as they come due.

A host that runs its own loop (a scheduler, a cron job, a thread beside its web server)
calls :meth:`TimeoutWorker.run_once` every so often, or runs
:meth:`TimeoutWorker.run` until a stop event is set (in a thread, or as an asyncio
task for the async worker); ``journeyfsm worker`` does the same from the command line.
Each round is ``JourneyService.tick``: any number of workers may tick one database,
each timeout fires once (see docs/timeouts.md, "Durable timeouts").
"""

from __future__ import annotations

import threading
from datetime import datetime

from .._clock import Clock, ensure_utc
from .._outcome import Outcome
from ._core import TickReport
from ._sync import JourneyService

__all__ = ["TimeoutWorker"]


class TimeoutWorker:
    """Ticks ``service`` every ``interval`` seconds: fires the timeouts that are due.

    ``clock`` (default: the service's machine's clock) says what "now" is; ``limit``
    bounds the journeys advanced per tick (a round ticks again while a tick was full);
    ``batch_size`` is how many of them share one transaction (``JourneyService.tick``).

    >>> from datetime import datetime, timedelta, timezone
    >>> from journeyfsm import JourneyBuilder, JourneyMachine, JourneyService, ManualClock
    >>> from journeyfsm import TimeoutWorker
    >>> from journeyfsm.stores import MemoryStore
    >>> d = (JourneyBuilder("cart").stage("browsing", initial=True).stage("cart")
    ...      .stage("abandoned", final=True).transition("add_to_cart", "browsing", "cart")
    ...      .transition("abandon", "cart", "abandoned")
    ...      .timeout("cart", timedelta(hours=24), "abandon").build())
    >>> clock = ManualClock(datetime(2026, 1, 1, tzinfo=timezone.utc))
    >>> service = JourneyService(JourneyMachine(d, clock=clock), MemoryStore())
    >>> _ = service.handle("c-1", "add_to_cart")
    >>> worker = TimeoutWorker(service, interval=60)
    >>> worker.run_once().fired
    0
    >>> _ = clock.advance(timedelta(days=1))
    >>> worker.run_once().fired, service.get("c-1").stage
    (1, 'abandoned')
    """

    def __init__(
        self,
        service: JourneyService,
        *,
        interval: float = 1.0,
        clock: Clock | None = None,
        limit: int = 1000,
        batch_size: int = 100,
    ) -> None:
        if not isinstance(service, JourneyService):
            raise TypeError(f"TimeoutWorker takes a JourneyService, got {service!r}")
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
        return ensure_utc(self.clock.now(), what="the TimeoutWorker's clock")

    def run_once(self) -> TickReport:
        """Fire everything due now (ticking again while a tick was full); what it did."""
        now = self._now()
        journeys = fired = skipped = 0
        outcomes: list[Outcome] = []
        failed: list[tuple[str, str]] = []
        while True:
            report = self.service.tick(now, limit=self.limit, batch_size=self.batch_size)
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

    def run(self, stop: threading.Event) -> None:
        """:meth:`run_once` every ``interval`` seconds until ``stop`` is set.

        >>> import threading
        >>> from journeyfsm import JourneyMachine, JourneyService, TimeoutWorker, templates
        >>> from journeyfsm.stores import MemoryStore
        >>> stop = threading.Event(); stop.set()
        >>> TimeoutWorker(JourneyService(JourneyMachine(templates.aida()), MemoryStore())).run(stop)
        """
        while not stop.is_set():
            self.run_once()
            stop.wait(self.interval)
