"""`outreach poller`: the long-running process that watches every connected mailbox.

Contract:
- Every third of a lease the poller renews its leases and its heartbeat (the
  `pollers` table), counts the live pollers and takes free mailboxes up to its
  fair share, ceil(mailboxes / live pollers); it gives back (its keeper logged
  out first) what it holds beyond that share and a little slack, so pollers
  share the mailboxes. Between renewals it looks every second for a mailbox no
  poller watches (just connected, or its poller's lease ran out) and takes its
  share of it at once. Only one poller anywhere watches a mailbox, the one
  holding its lease; a dead poller's mailboxes are taken over once its leases
  and heartbeat run out.
- Each mailbox it holds gets one kept, logged-in IMAP connection
  (outreach.connections): where the server offers IDLE, new mail wakes a sync
  of that mailbox alone at once, and every folder is synced every 5 minutes;
  elsewhere every OUTREACH_POLL_INTERVAL. A broken link is opened again with
  back-off; at most
  OUTREACH_POLL_CONNECTIONS_PER_HOST logins and syncs run at once per server.
  A failing mailbox is logged once per kind of failure; it never stops the others.
  A mailbox waiting for its owner to sign in again with Google or Microsoft
  (NEEDS_SIGN_IN) is left alone until they have.
- Mailboxes are logged in to through outreach.mailbox_login; OAuth2 ones with
  access tokens from outreach.oauth.tokens.AccessTokens, which renews them (one
  process at a time) shortly before they expire.
- `--once` syncs every mailbox once, one after another, logging in to each, and exits.
- SIGTERM or SIGINT stops the keepers, gives the leases back and leaves the
  live pollers, so the others take over at once, and exits. Every minute (and at exit) a line of
  figures is logged: mailboxes held, connections open, logins, syncs, wake-ups.
"""

from __future__ import annotations

import logging
import os
import random
import signal
import socket
import ssl
import threading
import time
import uuid
from datetime import datetime, timedelta
from types import FrameType

from sqlalchemy.orm import Session, sessionmaker

from outreach import clock, leases
from outreach.config import Settings
from outreach.connections import DatabaseState, Limits, make_pool
from outreach.crypto import SecretBox
from outreach.db import OutageWatch, is_outage, make_engine, make_sessionmaker, session_scope
from outreach.mail.reach import ANY_ADDRESS, AddressPolicy
from outreach.mail.tls import client_context
from outreach.oauth.tokens import AccessTokens
from outreach.polling import Backoff, Holder, PollResult, mailboxes_to_watch, poll_mailbox

log = logging.getLogger("outreach.poller")
# Seconds between two lines of figures (mailboxes, connections, logins) in the log.
STATS_EVERY = 60.0
# How often the poller looks for a mailbox no poller watches (one cheap query).
UNWATCHED_CHECK_EVERY = 1.0


def _utcnow() -> datetime:
    return clock.now()


def _wait_for_work(
    factory: sessionmaker[Session],
    database: DatabaseState,
    stop: threading.Event,
    until: float,
    unwatched: set[int],
) -> None:
    """Wait until `until` (monotonic), a keeper doubting the database, a stop, or a
    mailbox that no poller watches and was not unwatched at the last look.

    A student who has just connected a mailbox sees it watched within a second, not
    at the next renewal a third of a lease later; an unwatched mailbox that this
    poller left to another (its share is full) does not wake it again and again.
    """
    while not stop.is_set():
        left = until - time.monotonic()
        if left <= 0 or database.doubted.wait(min(left, UNWATCHED_CHECK_EVERY)):
            return
        try:
            with session_scope(factory) as session:
                now_unwatched = leases.unwatched(session, _utcnow())
        except Exception as error:
            if not is_outage(error):
                raise
            return  # the main loop's refresh meets the outage and says so
        new = now_unwatched - unwatched
        unwatched.clear()
        unwatched.update(now_unwatched)
        if new:
            return


def run(settings: Settings, once: bool = False) -> None:
    factory = make_sessionmaker(make_engine(settings.database_url))
    box = SecretBox(settings.encryption_keys)
    context = client_context(settings.ca_file)
    tokens = AccessTokens.from_settings(settings, factory, box)
    owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    lease = timedelta(seconds=settings.poll_lease)
    stop = threading.Event()
    database = DatabaseState()

    def _stop(signum: int, _frame: FrameType | None) -> None:
        log.info("stopping: the mailboxes are given back (signal %s)", signum)
        stop.set()
        database.doubted.set()  # wakes the main loop

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    log.info("poller %s started; checking every %.0f s", owner, settings.poll_interval)
    if once:
        try:
            policy = settings.address_policy
            _round(factory, box, context, tokens, owner, lease, stop, {}, {}, policy)
        finally:
            _give_back(factory, owner)
        return
    limits = Limits(
        per_host=settings.poll_connections_per_host, poll_interval=settings.poll_interval
    )
    holder = Holder(owner, lease)
    policy = settings.address_policy
    pool = make_pool(factory, box, context, tokens, holder, limits, _utcnow, policy, database)
    outage = OutageWatch(log.warning)
    last_stats = time.monotonic()
    # Mailboxes no poller watched at the last look: a new one among them is taken at once.
    unwatched: set[int] = set()
    try:
        while not stop.is_set():
            database.doubted.clear()
            try:
                pool.refresh()
            except Exception as error:
                if not is_outage(error):
                    raise
                # The keepers keep their connections meanwhile and wait for the
                # database; a mailbox's position is in it: nothing is missed.
                database.usable.clear()
                stop.wait(outage.failed(error, time.monotonic()))
                continue
            outage.succeeded(time.monotonic())
            database.usable.set()
            if time.monotonic() - last_stats >= STATS_EVERY:
                log.info("poller stats: %s", pool.stats())
                last_stats = time.monotonic()
            # Renew leases well before they run out, even when no mail arrives; at
            # once when a keeper found the database away; three times as often while
            # the pollers rebalance and this one waits for mailboxes given back.
            renew_every = settings.poll_lease / 3
            wait = renew_every / 3 if pool.settling() else renew_every
            _wait_for_work(factory, database, stop, time.monotonic() + wait, unwatched)
    finally:
        pool.stop()
        log.info("poller stats: %s", pool.stats())
        _give_back(factory, owner)


def _give_back(factory: sessionmaker[Session], owner: str) -> None:
    try:
        with session_scope(factory) as session:
            leases.release_all(session, owner)
            leases.leave(session, owner)
    except Exception as error:
        if not is_outage(error):
            raise
        log.warning(
            "could not give the mailboxes back (the database is away); "
            "another poller takes them over when their leases run out"
        )


def _round(
    factory: sessionmaker[Session],
    box: SecretBox,
    context: ssl.SSLContext,
    tokens: AccessTokens,
    owner: str,
    lease: timedelta,
    stop: threading.Event,
    last_problem: dict[int, str],
    backoffs: dict[int, Backoff],
    policy: AddressPolicy = ANY_ADDRESS,
) -> set[int]:
    """Sync every mailbox this poller holds or can take; returns the ones it holds.

    :raise: a database outage as it comes (see outreach.db.is_outage): it is no
        mailbox's fault, so no mailbox is backed off for it.
    """
    mine: set[int] = set()
    for mailbox_id in mailboxes_to_watch(factory):
        if stop.is_set():
            break
        with session_scope(factory) as session:
            if not leases.acquire(session, mailbox_id, owner, _utcnow(), lease):
                continue
        mine.add(mailbox_id)
        backoff = backoffs.setdefault(mailbox_id, Backoff())
        if not backoff.due(time.monotonic()):
            continue  # failing: left alone until its next try (the lease is kept)
        try:
            result = poll_mailbox(factory, mailbox_id, box, context, _utcnow, tokens, policy)
        except Exception as error:  # noqa: BLE001 - one mailbox must not stop the rest
            if is_outage(error):
                raise
            result = PollResult(mailbox_id, ok=False, problem=f"unexpected error: {error!r}")
        if result.ok:
            backoff.succeeded()
            if mailbox_id in last_problem:
                log.info("mailbox %s is reachable again", mailbox_id)
                del last_problem[mailbox_id]
            if result.report and result.report.matched:
                log.info("mailbox %s: %s new answers", mailbox_id, result.report.matched)
        else:
            wait = backoff.failed(time.monotonic(), random.uniform(0.8, 1.2))
            if last_problem.get(mailbox_id) != result.problem:
                # Logged once per change, so a long outage does not flood the log.
                log.warning("mailbox %s: %s (next try in %.0f s)", mailbox_id, result.problem, wait)
                last_problem[mailbox_id] = result.problem
    return mine
