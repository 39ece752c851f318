"""journeyfsm on SQLAlchemy 2: the tables on a ``MetaData``, stores bound to a session.

``pip install 'journeyfsm[sqlalchemy]'`` (SQLAlchemy 2 with its asyncio support; Alembic
is yours to add).  Engines: ``sqlite://`` (pysqlite) and ``postgresql+psycopg://``
(psycopg 3), sync; ``sqlite+aiosqlite://`` and ``postgresql+psycopg://``, async.

- :func:`tables` puts the journeyfsm tables on your ``MetaData``: ``create_all`` makes
  them (schema-version row included), Alembic's autogenerate sees them;
  :func:`create_schema` creates what is missing, :func:`write_schema_version` records
  the version after an ``op.create_table`` migration.
- :class:`SessionStore` / :class:`AsyncSessionStore`: the store of a ``JourneyService``
  / ``AsyncJourneyService`` inside the session's transaction: the journey's move and
  your ORM writes commit together (``session.commit()``) or not at all.
- :func:`sqlite_begin_immediate`: every SQLite transaction ``BEGIN IMMEDIATE`` (what
  concurrent writers on SQLite need).

>>> from sqlalchemy import create_engine
>>> from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column
>>> from journeyfsm import JourneyMachine, JourneyService, templates
>>> from journeyfsm.contrib.sqlalchemy import SessionStore, tables
>>> class Base(DeclarativeBase):
...     pass
>>> class Order(Base):
...     __tablename__ = "orders"
...     id: Mapped[int] = mapped_column(primary_key=True)
...     customer: Mapped[str]
>>> journey_tables = tables(Base.metadata)
>>> engine = create_engine("sqlite://")
>>> Base.metadata.create_all(engine)
>>> service_machine = JourneyMachine(templates.aida())
>>> with Session(engine) as session, session.begin():  # one transaction
...     session.add(Order(customer="c-1"))
...     JourneyService(service_machine, SessionStore(session)).handle("c-1", "engage").dest
'interest'
>>> engine.dispose()  # closes the pool's connections
"""

from ._bind import sqlite_begin_immediate
from ._store import SessionStore
from ._store_async import AsyncSessionStore
from ._tables import JourneyTables, create_schema, tables, write_schema_version

__all__ = [
    "AsyncSessionStore",
    "JourneyTables",
    "SessionStore",
    "create_schema",
    "sqlite_begin_immediate",
    "tables",
    "write_schema_version",
]
