"""The shop's settings, from the environment (12-factor): one place, read once."""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class Settings:
    #: SQLAlchemy async URL: SQLite (aiosqlite) by default, or postgresql+psycopg://...
    database_url: str
    smtp_host: str
    smtp_port: int
    mail_from: str
    #: run the outbox and timeout workers inside the app's lifespan (else: worker.py)
    workers_in_app: bool
    #: timeouts of the journey, in seconds (short in tests)
    cart_reminder_after: float
    review_request_after: float
    #: how often the workers poll, in seconds
    worker_idle: float
    #: how long an outbox row a worker claimed stays its own (a dead worker's rows are
    #: taken again after it): longer than an e-mail takes to send
    outbox_lease: float
    #: test hook: the worker kills itself (SIGKILL) after an e-mail went out and was
    #: recorded, before its outbox row is marked done
    die_after_send: bool


def load() -> Settings:
    env = os.environ.get
    return Settings(
        database_url=env("SHOP_DATABASE_URL", "sqlite+aiosqlite:///shop.db"),
        smtp_host=env("SHOP_SMTP_HOST", "127.0.0.1"),
        smtp_port=int(env("SHOP_SMTP_PORT", "8025")),
        mail_from=env("SHOP_MAIL_FROM", "shop@example.com"),
        workers_in_app=env("SHOP_WORKERS_IN_APP", "1") == "1",
        cart_reminder_after=float(env("SHOP_CART_REMINDER_AFTER", str(60 * 60))),
        review_request_after=float(env("SHOP_REVIEW_REQUEST_AFTER", str(3 * 24 * 60 * 60))),
        worker_idle=float(env("SHOP_WORKER_IDLE", "0.5")),
        outbox_lease=float(env("SHOP_OUTBOX_LEASE", "60")),
        die_after_send=env("SHOP_DIE_AFTER_SEND") == "1",
    )
