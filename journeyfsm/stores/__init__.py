"""Stores: where ``JourneyService`` keeps journeys, history, event ids and outbox rows.

``MemoryStore`` for tests and prototypes; ``SQLiteStore`` (standard library, one file,
WAL) as the embedded default; ``PostgresStore`` (psycopg 3, the extra
``journeyfsm[postgres]``, imported on first use) to share one database between many
processes and machines.  Every store passes the same behavioural test suite.
``AsyncMemoryStore``, ``AsyncSQLiteStore`` and ``AsyncPostgresStore`` (imported on first
use, as ``PostgresStore``) are their twins for ``AsyncJourneyService`` (the ``AsyncStore``
protocol): the same data, file and tables, and the event loop never waits.

>>> from journeyfsm.stores import MemoryStore, Store
>>> isinstance(MemoryStore(), Store)
True
"""

from typing import TYPE_CHECKING

from ..service._store_async import AsyncStore, AsyncStoreTransaction
from ._async import AsyncMemoryStore
from ._async_sqlite import AsyncSQLiteStore
from ._base import SCHEMA_VERSION, OutboxItem, OutboxStatus, Store, StoreTransaction
from ._memory import MemoryStore
from ._sqlite import SQLiteStore

if TYPE_CHECKING:
    from ._postgres import PostgresStore as PostgresStore
    from ._postgres_async import AsyncPostgresStore as AsyncPostgresStore

__all__ = [
    "SCHEMA_VERSION",
    "AsyncMemoryStore",
    "AsyncSQLiteStore",
    "AsyncStore",
    "AsyncStoreTransaction",
    "MemoryStore",
    "OutboxItem",
    "OutboxStatus",
    "SQLiteStore",
    "Store",
    "StoreTransaction",
]


def __getattr__(name: str) -> object:
    # PostgresStore and AsyncPostgresStore need the optional psycopg: imported only when
    # asked for (and so not in __all__: `from journeyfsm.stores import *` works without
    # psycopg)
    if name == "PostgresStore":
        from ._postgres import PostgresStore as PostgresStore

        return PostgresStore
    if name == "AsyncPostgresStore":
        from ._postgres_async import AsyncPostgresStore as AsyncPostgresStore

        return AsyncPostgresStore
    raise AttributeError(f"module 'journeyfsm.stores' has no attribute {name!r}")
