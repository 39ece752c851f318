"""The service: durable journeys over a store, one transaction per event.

``JourneyService`` (and its asyncio twin ``AsyncJourneyService``) handles events exactly once (idempotent event ids, optimistic version
checks, effects written to an outbox in the move's own transaction, timeouts that fire
on their own clock); ``OutboxWorker`` delivers the effects, ``TimeoutWorker`` runs the
ticks (``AsyncOutboxWorker`` and ``AsyncTimeoutWorker`` run as asyncio tasks).  Its core
is sans-IO: a pure step turns (stored journey, event, now) into the rows
to write, and the drivers run that step against a store.

>>> from journeyfsm import JourneyMachine, templates
>>> from journeyfsm.service import JourneyService
>>> from journeyfsm.stores import MemoryStore
>>> service = JourneyService(JourneyMachine(templates.aida()), MemoryStore())
>>> service.handle("customer-42", "engage", event_id="e-1").dest
'interest'
>>> service.handle("customer-42", "engage", event_id="e-1").status
'duplicate'

The names are also exported from ``journeyfsm`` itself.
"""

# the drivers import no store: a host hands one in (the protocols are in _store.py)
from ._async import AsyncJourneyService
from ._caps import FrequencyCap, QuietHours
from ._core import Event, TickReport
from ._outbox import OutboxWorker
from ._outbox_async import AsyncOutboxWorker
from ._records import MigrationReport
from ._sync import JourneyService
from ._timeout_worker import TimeoutWorker
from ._timeout_worker_async import AsyncTimeoutWorker

__all__ = [
    "AsyncJourneyService",
    "AsyncOutboxWorker",
    "AsyncTimeoutWorker",
    "Event",
    "FrequencyCap",
    "JourneyService",
    "MigrationReport",
    "OutboxWorker",
    "QuietHours",
    "TickReport",
    "TimeoutWorker",
]
