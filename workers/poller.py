"""`outreach poller`: the long-running process that watches every connected mailbox.

Contract:
- One round: for each mailbox, take (or renew) its lease, so that only one
  poller anywhere watches it, then sync it in one transaction. A failing
  mailbox is logged once per kind of failure and retried next round; it never
  stops the others. A mailbox waiting for its owner to sign in again with
  Google or Microsoft (NEEDS_SIGN_IN) is skipped until they have.
- Mailboxes are logged in to through outreach.mailbox_login; OAuth2 ones with
  access tokens from outreach.oauth.tokens.AccessTokens, which renews them (one
  process at a time) shortly before they expire.
- Between rounds the poller sleeps for OUTREACH_POLL_INTERVAL, or less: for
  each mailbox it watches, an IMAP IDLE connection wakes it as soon as mail
  arrives, where the server offers IDLE.
- SIGTERM or SIGINT lets the current mailbox finish, gives the leases back so
  another poller may take over at once, and exits.
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
from functools import partial
from types import FrameType

from sqlalchemy.orm import Session, sessionmaker

from outreach import clock, leases
from outreach.config import Settings
from outreach.crypto import SecretBox
from outreach.db import OutageWatch, is_outage, make_engine, make_sessionmaker, session_scope
from outreach.mail.imap import IdleWatcher
from outreach.mail.reach import ANY_ADDRESS, AddressPolicy
from outreach.mail.tls import client_context
from outreach.mailbox_login import MailboxLogin
from outreach.models import Mailbox
from outreach.oauth.tokens import AccessTokens
from outreach.polling import Backoff, PollResult, mailboxes_to_watch, poll_mailbox

log = logging.getLogger("outreach.poller")


def _utcnow() -> datetime:
    return clock.now()


def run(settings: Settings, once: bool = False) -> None:
    factory = make_sessionmaker(make_engine(settings.database_url))
    box = SecretBox(settings.encryption_keys)
    context = client_context(settings.ca_file)
    tokens = AccessTokens.from_settings(settings, factory, box)
    owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    lease = timedelta(seconds=settings.poll_lease)
    stop = threading.Event()
    wake = threading.Event()
    watchers: dict[int, IdleWatcher] = {}

    def _stop(signum: int, _frame: FrameType | None) -> None:
        log.info("stopping after the current mailbox (signal %s)", signum)
        stop.set()
        wake.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    last_problem: dict[int, str] = {}
    backoffs: dict[int, Backoff] = {}
    log.info("poller %s started; checking every %.0f s", owner, settings.poll_interval)
    outage = OutageWatch(log.warning)
    try:
        while not stop.is_set():
            wake.clear()
            try:
                mine = _round(
                    factory,
                    box,
                    context,
                    tokens,
                    owner,
                    lease,
                    stop,
                    last_problem,
                    backoffs,
                    settings.address_policy,
                )
                if once:
                    break
                _keep_watchers(
                    factory, box, context, mine, watchers, wake, tokens, settings.address_policy
                )
            except Exception as error:
                if not is_outage(error):
                    raise
                # The IDLE watchers keep their connections meanwhile, and a mailbox's
                # position is in the database: the first round back syncs everything.
                stop.wait(outage.failed(error, time.monotonic()))
                continue
            outage.succeeded(time.monotonic())
            # Renew leases well before they run out, even when no mail arrives.
            wake.wait(min(settings.poll_interval, settings.poll_lease / 3))
    finally:
        for watcher in watchers.values():
            watcher.stop()
        try:
            with session_scope(factory) as session:
                leases.release_all(session, owner)
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


def _keep_watchers(
    factory: sessionmaker[Session],
    box: SecretBox,
    context: ssl.SSLContext,
    mine: set[int],
    watchers: dict[int, IdleWatcher],
    wake: threading.Event,
    tokens: AccessTokens,
    policy: AddressPolicy = ANY_ADDRESS,
) -> None:
    """One IDLE watcher per mailbox this poller holds; none for the others.

    A watcher that ended because its server has no IDLE is kept, so it is not
    started again every round; that mailbox is polled at the regular interval.
    """
    for mailbox_id in list(watchers):
        if mailbox_id not in mine:
            watchers.pop(mailbox_id).stop()
    for mailbox_id in mine - set(watchers):
        with session_scope(factory) as session:
            mailbox = session.get(Mailbox, mailbox_id)
            if mailbox is None:
                continue
            login = MailboxLogin.imap(mailbox, box)
        # A function: each (re)connection needs an OAuth2 mailbox's current token.
        watcher = IdleWatcher(
            partial(login.current, tokens, _utcnow), context, wake.set, policy=policy
        )
        watcher.start()
        watchers[mailbox_id] = watcher
