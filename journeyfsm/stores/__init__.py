"""Stores: where ``JourneyService`` keeps journeys, history, event ids and outbox rows.

``MemoryStore`` for tests and prototypes; ``SQLiteStore`` (standard library, one file,
WAL) as the embedded default.  Every store passes the same behavioural test suite.

>>> from journeyfsm.stores import MemoryStore, Store
>>> isinstance(MemoryStore(), Store)
True
"""

from ._base import SCHEMA_VERSION, OutboxItem, OutboxStatus, Store, StoreTransaction
from ._memory import MemoryStore
from ._sqlite import SQLiteStore

__all__ = [
    "SCHEMA_VERSION",
    "MemoryStore",
    "OutboxItem",
    "OutboxStatus",
    "SQLiteStore",
    "Store",
    "StoreTransaction",
]
