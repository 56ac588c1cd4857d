"""RQ job functions. Each takes ids, runs one core use case, and lets the DB keep the record.

Jobs build their own settings and engine from the environment, once per worker
process: jobs run one after another in the worker itself (workers.worker), which
shares nothing with the web app, and keep its engine's connections and its SMTP
sessions warm from one job to the next.
"""

from __future__ import annotations

import functools
import logging
import math
import ssl
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import cache
from typing import Any, TypeVar

from redis import Redis
from redis.exceptions import RedisError
from rq import get_current_job
from rq.job import Job
from sqlalchemy import select
from sqlalchemy.orm import Session, configure_mappers, sessionmaker

from outreach import clock
from outreach.config import Settings
from outreach.crypto import SecretBox
from outreach.db import is_outage, make_engine, make_sessionmaker, outage_words, session_scope
from outreach.mail.imap import ImapSentFolder
from outreach.mail.smtp_sessions import KeptSessionSender
from outreach.mail.tls import client_context
from outreach.models import Message
from outreach.oauth.tokens import AccessTokens
from outreach.scheduler import run_due_steps
from outreach.sending import (
    DeliveryResult,
    deliver,
    due_for_sending,
    recover_abandoned,
)
from outreach.sent_copy import candidates as sent_copy_candidates
from outreach.sent_copy import reconcile
from workers.queues import (
    enqueue_reconcile,
    enqueue_send,
    messages_in_hand,
    redis_connection,
    release_held,
    take_queued_send,
)

log = logging.getLogger(__name__)

_Result = TypeVar("_Result")

# Set while the database is away, so only the first job to notice writes it in the log.
_OUTAGE_KEY = "outreach:database-away"
# A job that succeeds asks Redis whether an outage is over at most this often, unless
# this process saw the outage itself (a key read per job was a tenth of RQ's traffic).
_OUTAGE_OVER_CHECK_EVERY = 5.0


class _OutageChecks:
    seen_here = False
    over_checked_at = -math.inf


_outage_checks = _OutageChecks()
# What a job returns when the database was away: the sweep re-drives its work later.
DATABASE_AWAY = "database_away"


def _waits_out_database_outages(job: Callable[..., _Result]) -> Callable[..., _Result | str]:
    """A job that meets a database outage ends quietly; the database, not the job, holds
    the work, so the outbox sweep after the outage picks it up. The first job to meet
    the outage says so, and the first to succeed after it says it is over: jobs run
    in several worker processes, so they agree through a key in Redis."""

    @functools.wraps(job)
    def run(*args: Any) -> _Result | str:
        try:
            result = job(*args)
        except Exception as error:
            if not is_outage(error):
                raise
            if _first_to_see(outage=True):
                log.warning(
                    "the database cannot be used (%s); jobs wait for it, and the sweep "
                    "re-drives their work when it is back",
                    outage_words(error),
                )
            return DATABASE_AWAY
        if _first_to_see(outage=False):
            log.info("the database is back")
        return result

    return run


def _first_to_see(outage: bool) -> bool:
    """Record the start (or the end) of an outage; True for the one job that changed it."""
    if outage:
        _outage_checks.seen_here = True
    elif not _outage_checks.seen_here:
        if time.monotonic() - _outage_checks.over_checked_at < _OUTAGE_OVER_CHECK_EVERY:
            return False
        _outage_checks.over_checked_at = time.monotonic()
    else:
        _outage_checks.seen_here = False
    try:
        connection = _redis()
        if outage:
            return bool(connection.set(_OUTAGE_KEY, "1", nx=True))
        return bool(connection.delete(_OUTAGE_KEY))
    except RedisError:
        return outage  # without Redis, each job that meets the outage says so


def utcnow() -> datetime:
    return clock.now()


@cache
def _runtime() -> tuple[Settings, sessionmaker[Session]]:
    # Built once per worker process, not at import: importing must stay free of I/O.
    settings = Settings.from_env()
    return settings, make_sessionmaker(make_engine(settings.database_url))


@cache
def _redis() -> Redis:
    settings, _factory = _runtime()
    return redis_connection(settings)


@cache
def _tls_context(settings: Settings) -> ssl.SSLContext:
    # Loading the system CA bundle costs milliseconds; once per process is enough.
    return client_context(settings.ca_file)


def warm_up() -> None:
    """Build the settings, the engine and the TLS context before the first job.

    The first message then costs what the others do (reading the settings, the
    database dialect's first-connect checks, loading the CA bundle, configuring
    the ORM's mappers), and a database that does not answer yet is said at start.
    """
    settings, factory = _runtime()
    _tls_context(settings)
    configure_mappers()
    bind = factory.kw.get("bind")
    if bind is not None:
        try:
            with bind.connect():
                pass
        except Exception as error:
            if not is_outage(error):
                raise
            # The worker starts all the same: its jobs wait the outage out (see above).
            log.warning("starting before the database answers (%s)", outage_words(error))


@cache
def _sender() -> KeptSessionSender:
    # One per worker process: it keeps each mailbox's SMTP session for the next send.
    settings, _factory = _runtime()
    return KeptSessionSender(_tls_context(settings), settings.address_policy)


def smtp_idle_in() -> float | None:
    """Seconds until a kept SMTP session is due to be closed; None when none is open."""
    return _sender().next_expiry() if _sender.cache_info().currsize else None


def close_idle_smtp() -> None:
    """Close the SMTP sessions no send has used for a while (the worker calls this when idle)."""
    if _sender.cache_info().currsize:
        _sender().close_idle()


@cache
def _tokens() -> AccessTokens:
    # Holds no token itself: tokens live (encrypted) in the database, shared by all processes.
    settings, factory = _runtime()
    return AccessTokens.from_settings(settings, factory)


def dispose_runtime() -> None:
    """Close the cached engine's connections and SMTP sessions (tests and a graceful
    shutdown use this)."""
    if _sender.cache_info().currsize:
        _sender().close()
    _sender.cache_clear()
    if _runtime.cache_info().currsize:
        _settings, factory = _runtime()
        bind = factory.kw.get("bind")
        if bind is not None:
            bind.dispose()
    _runtime.cache_clear()
    _tls_context.cache_clear()
    _tokens.cache_clear()
    _redis.cache_clear()


# A burst through one mailbox goes out in the job that sent its first message, on the
# session that job left open: at most this many messages more, for at most this long.
# RQ's own work around a job (taking it, marking it started and finished) cost more
# than sending the message on a kept session (decision 0032).
_BURST_MORE = 24
_BURST_SECONDS = 20.0


@_waits_out_database_outages
def send_message(message_id: int) -> str:
    """Send one approved message (exactly once; see outreach.sending), then the messages
    of the same mailbox that are due now and waiting in the queue."""
    settings, factory = _runtime()
    job = get_current_job()  # None when run outside a worker: one message, as asked
    result = _send_one(settings, factory, message_id, look_ahead=job is not None)
    if job is not None:
        _send_the_burst(settings, factory, job, result)
    return result.outcome.value


def _send_one(
    settings: Settings, factory: sessionmaker[Session], message_id: int, *, look_ahead: bool
) -> DeliveryResult:
    result = deliver(
        factory,
        message_id,
        _sender(),
        SecretBox(settings.encryption_keys),
        utcnow,
        _tokens(),
        look_ahead=look_ahead,
    )
    log.info("message %s: %s %s", message_id, result.outcome.value, result.detail)
    return result


def _send_the_burst(
    settings: Settings, factory: sessionmaker[Session], job: Job, result: DeliveryResult
) -> None:
    deadline = time.monotonic() + _BURST_SECONDS
    took = False
    try:
        for _ in range(_BURST_MORE):
            following = result.next_due
            if following is None or time.monotonic() > deadline:
                return
            message_id, attempts = following
            if not take_queued_send(job.connection, message_id, attempts, job.id):
                return
            took = True
            result = _send_one(settings, factory, message_id, look_ahead=True)
    finally:
        if took:
            release_held(job.connection, job.id)


@_waits_out_database_outages
def reconcile_sent(message_id: int) -> str:
    """Consult the Sent folder: settle an unknown delivery, file the sent copy."""
    settings, factory = _runtime()
    context = _tls_context(settings)
    outcome = reconcile(
        factory,
        message_id,
        SecretBox(settings.encryption_keys),
        lambda login: ImapSentFolder(login, context, settings.address_policy),
        utcnow,
        _tokens(),
    )
    log.info("message %s: %s", message_id, outcome)
    return outcome


@_waits_out_database_outages
def sweep_outbox() -> int:
    """Repair and re-drive the outbox from the database; returns how many jobs it enqueued.

    Rows left by a dead worker are recovered, every message due for sending
    gets a send job, and the Sent folder is consulted where it must be.
    """
    settings, factory = _runtime()
    connection = redis_connection(settings)
    # Read before the queue: a claim made after this moment is never taken for dead.
    now = utcnow()
    in_hand = messages_in_hand(connection)
    with session_scope(factory) as session:
        recover_abandoned(session, now, timedelta(seconds=settings.send_lease), in_hand)
    with session_scope(factory) as session:
        due = due_for_sending(session, now)
        query = select(Message.id, Message.attempts).where(Message.id.in_(due))
        attempts = {message_id: count for message_id, count in session.execute(query)}
        to_reconcile = sent_copy_candidates(session, now)
    enqueued = sum(1 for m in due if enqueue_send(connection, m, attempts.get(m, 0)))
    return enqueued + sum(1 for m in to_reconcile if enqueue_reconcile(connection, m))


@_waits_out_database_outages
def run_cycle() -> int:
    """Take the cycle's time-based steps due now (follow-ups, giving up, next names,
    meetings); returns how many steps were taken. Safe to run in several workers.
    """
    _settings, factory = _runtime()
    with session_scope(factory) as session:
        lines = run_due_steps(session, utcnow())
    for line in lines:
        log.info("cycle: %s", line)
    return len(lines)
