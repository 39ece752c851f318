"""The shop's tables (SQLAlchemy 2 ORM) and journeyfsm's, on one ``MetaData``.

``tables(Base.metadata)`` puts journeyfsm's tables beside the shop's, so Alembic's
autogenerate sees them all (migrations/versions/0001_shop.py creates them).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, DateTime, ForeignKey, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from journeyfsm.contrib.sqlalchemy import tables


class Base(DeclarativeBase):
    pass


#: journeyfsm's tables (journeyfsm_journeys, _history, _event_ids, _outbox, _schema_version)
journey_tables = tables(Base.metadata)


class Customer(Base):
    __tablename__ = "customers"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    email: Mapped[str] = mapped_column(String(320))


class Order(Base):
    __tablename__ = "orders"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"), index=True)
    items: Mapped[dict[str, int]] = mapped_column(JSON)
    total_cents: Mapped[int] = mapped_column(Integer)
    #: placed -> paid -> delivered
    status: Mapped[str] = mapped_column(String(16))


class Review(Base):
    __tablename__ = "reviews"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"), index=True)
    rating: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)


class SentEmail(Base):
    """One row per e-mail that went out, keyed by the effect's idempotency key: an
    effect delivered again (the outbox is at-least-once) finds its key and sends
    nothing."""

    __tablename__ = "sent_emails"
    idempotency_key: Mapped[str] = mapped_column(String(400), primary_key=True)
    recipient: Mapped[str] = mapped_column(String(320))
    subject: Mapped[str] = mapped_column(String(200))
    sent_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
