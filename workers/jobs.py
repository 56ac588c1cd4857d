"""RQ job functions. Each takes ids, runs one core use case, and lets the DB keep the record.

Jobs build their own settings and engine from the environment: a job runs in a
work horse process that shares nothing with the web app.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from functools import cache

from sqlalchemy.orm import Session, sessionmaker

from outreach.config import Settings
from outreach.crypto import SecretBox
from outreach.db import make_engine, make_sessionmaker, session_scope
from outreach.mail.smtp import SmtpSender
from outreach.mail.tls import client_context
from outreach.sending import deliver, due_for_sending

log = logging.getLogger(__name__)


def utcnow() -> datetime:
    return datetime.now(UTC)


@cache
def _runtime() -> tuple[Settings, sessionmaker[Session]]:
    # Built once per worker process, not at import: importing must stay free of I/O.
    settings = Settings.from_env()
    return settings, make_sessionmaker(make_engine(settings.database_url))


def dispose_runtime() -> None:
    """Close the cached engine's connections (tests and a graceful shutdown use this)."""
    if _runtime.cache_info().currsize:
        _settings, factory = _runtime()
        bind = factory.kw.get("bind")
        if bind is not None:
            bind.dispose()
    _runtime.cache_clear()


def send_message(message_id: int) -> str:
    """Send one approved message (exactly once; see outreach.sending)."""
    settings, factory = _runtime()
    result = deliver(
        factory,
        message_id,
        SmtpSender(client_context(settings.ca_file)),
        SecretBox(settings.encryption_keys),
        utcnow,
    )
    log.info("message %s: %s %s", message_id, result.outcome.value, result.detail)
    return result.outcome.value


def sweep_outbox() -> int:
    """Enqueue a send job for every message that should have one; returns how many."""
    from workers.queues import enqueue_send, redis_connection

    settings, factory = _runtime()
    with session_scope(factory) as session:
        due = due_for_sending(session, utcnow())
    connection = redis_connection(settings)
    return sum(1 for message_id in due if enqueue_send(connection, message_id))
