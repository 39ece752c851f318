"""The shop's tables and journeyfsm's.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

from journeyfsm.contrib.sqlalchemy import create_schema, tables

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "customers",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("email", sa.String(320), nullable=False),
    )
    op.create_table(
        "orders",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("customer_id", sa.String(64), sa.ForeignKey("customers.id"), nullable=False),
        sa.Column("items", sa.JSON(), nullable=False),
        sa.Column("total_cents", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
    )
    op.create_index("ix_orders_customer_id", "orders", ["customer_id"])
    op.create_table(
        "reviews",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("customer_id", sa.String(64), sa.ForeignKey("customers.id"), nullable=False),
        sa.Column("rating", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
    )
    op.create_index("ix_reviews_customer_id", "reviews", ["customer_id"])
    op.create_table(
        "sent_emails",
        sa.Column("idempotency_key", sa.String(400), primary_key=True),
        sa.Column("recipient", sa.String(320), nullable=False),
        sa.Column("subject", sa.String(200), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
    )
    # journeyfsm's tables, from its metadata (the schema-version row included)
    create_schema(op.get_bind())


def downgrade() -> None:
    for table in reversed(tables(sa.MetaData()).all()):
        op.drop_table(table.name)
    for name in ("sent_emails", "reviews", "orders", "customers"):
        op.drop_table(name)
