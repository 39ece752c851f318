"""E-mail over SMTP (aiosmtplib), sent at most once per effect idempotency key.

The outbox delivers an effect at least once: a worker that dies after the e-mail went
out and before its row was marked done runs the effect again.  ``send_once`` makes that
harmless: it looks the key up in ``sent_emails`` first (sent: nothing to do), sends,
then records the key.  What is left is the window between the SMTP server's "250 OK"
(its reply to the end of the message data: from then on the e-mail is the server's) and
the commit of that insert (a pooled connection, one INSERT, COMMIT: milliseconds): a
crash there sends the e-mail again, with the same ``Idempotency-Key`` header and
``Message-ID``, so the receiving side can drop it.

That window cannot be closed from the sending side: SMTP has no two-phase commit, so no
order of "record" and "send" is atomic.  Recording the key before sending (a claim)
only moves the window: a crash between the claim and the "250 OK" then loses the e-mail
instead of sending it twice, at-most-once instead of at-least-once, which is the worse
failure for a receipt.  Exactly once needs the receiver's help: it drops a second
message with a ``Message-ID`` it has seen (mail servers and most mail APIs' idempotency
keys do).
"""

from __future__ import annotations

import hashlib
import os
import signal
from datetime import datetime, timezone
from email.message import EmailMessage
from typing import Any

import aiosmtplib
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import async_sessionmaker

from .models import SentEmail
from .settings import Settings


async def send_once(
    sessions: async_sessionmaker[Any],
    settings: Settings,
    *,
    key: str,
    to: str,
    subject: str,
    body: str,
) -> bool:
    """Send one e-mail for idempotency ``key`` unless it was sent; whether it sent."""
    async with sessions() as session:
        if await session.get(SentEmail, key) is not None:
            return False
    message = EmailMessage()
    message["From"] = settings.mail_from
    message["To"] = to
    message["Subject"] = subject
    message["Idempotency-Key"] = key
    digest = hashlib.sha256(key.encode()).hexdigest()[:32]
    message["Message-ID"] = f"<{digest}@shop.example>"
    message.set_content(body)
    await aiosmtplib.send(message, hostname=settings.smtp_host, port=settings.smtp_port, timeout=30)
    async with sessions.begin() as session:
        dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        await session.execute(
            insert(SentEmail)
            .values(
                idempotency_key=key,
                recipient=to,
                subject=subject,
                sent_at=datetime.now(timezone.utc),
            )
            .on_conflict_do_nothing()
        )
    if settings.die_after_send:  # the e2e test's crash point: sent, recorded, not done
        os.kill(os.getpid(), signal.SIGKILL)
    return True
