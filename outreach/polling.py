"""One round of watching one mailbox: connect, sync, record the outcome."""

from __future__ import annotations

import ssl
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from outreach import leases
from outreach.crypto import SecretBox
from outreach.db import session_scope
from outreach.errors import MailboxAuthFailed, OAuthError, TemporaryFailure
from outreach.mail.imap import ImapSource
from outreach.mail.reach import ANY_ADDRESS, AddressPolicy
from outreach.mailbox_login import MailboxLogin
from outreach.models import Mailbox, MailboxStatus
from outreach.oauth.tokens import AccessTokens
from outreach.watching import SyncReport, sync_mailbox


@dataclass
class Backoff:
    """How long to leave a failing mailbox alone before trying it again.

    A server that is down, refuses us or drops the link is tried again after 5 s,
    then 10 s, 20 s, ... up to 5 min, each wait shortened or lengthened at random
    by up to a fifth so that many pollers do not knock at once. Success starts over.
    Times are monotonic seconds (time.monotonic), never the wall clock.
    """

    first: float = 5.0
    longest: float = 300.0
    failures: int = 0
    next_try: float = 0.0

    def due(self, now: float) -> bool:
        return now >= self.next_try

    def failed(self, now: float, jitter: float = 1.0) -> float:
        """Count a failure; returns the wait before the next try. `jitter` is in [0.8, 1.2]."""
        self.failures += 1
        wait = min(self.first * 2.0 ** (self.failures - 1), self.longest) * jitter
        self.next_try = now + wait
        return wait

    def succeeded(self) -> None:
        self.failures = 0
        self.next_try = 0.0


@dataclass(frozen=True)
class PollResult:
    mailbox_id: int
    ok: bool
    report: SyncReport | None = None
    problem: str = ""
    # The connection broke: it must be opened anew.
    broken: bool = False
    # Another poller holds the mailbox now: this one lets it go.
    lost_lease: bool = False


LEASE_LOST = "another poller holds this mailbox now"


def mailboxes_to_watch(factory: sessionmaker[Session]) -> list[int]:
    """Every mailbox that can be read; one waiting for a new sign-in is left alone."""
    with session_scope(factory) as session:
        query = select(Mailbox.id).where(Mailbox.status != MailboxStatus.NEEDS_SIGN_IN)
        return list(session.scalars(query.order_by(Mailbox.id)))


def poll_mailbox(
    factory: sessionmaker[Session],
    mailbox_id: int,
    box: SecretBox,
    context: ssl.SSLContext,
    clock: Callable[[], datetime],
    tokens: AccessTokens | None = None,
    policy: AddressPolicy = ANY_ADDRESS,
) -> PollResult:
    """Sync one mailbox in one transaction: either all it found is recorded, or nothing.

    A failure leaves the stored position untouched, so the next round reads the
    same messages again and none is missed. An OAuth2 mailbox logs in with a
    token from `tokens`; one waiting for a new sign-in is skipped.
    """
    with session_scope(factory) as session:
        mailbox = session.get(Mailbox, mailbox_id)
        if mailbox is None:
            return PollResult(mailbox_id, ok=False, problem="the mailbox is gone")
        if mailbox.status is MailboxStatus.NEEDS_SIGN_IN:
            return PollResult(mailbox_id, ok=False, problem=mailbox.last_error or "sign in again")
        login = MailboxLogin.imap(mailbox, box)
    source = connect(factory, login, context, clock, tokens, policy)
    if isinstance(source, PollResult):
        return source
    with source:
        return sync_open(factory, mailbox_id, source, clock)


def connect(
    factory: sessionmaker[Session],
    login: MailboxLogin,
    context: ssl.SSLContext,
    clock: Callable[[], datetime],
    tokens: AccessTokens | None = None,
    policy: AddressPolicy = ANY_ADDRESS,
) -> ImapSource | PollResult:
    """Log in to a mailbox; the open connection, or why there is none.

    A refused password marks the mailbox NEEDS_ATTENTION; a refused OAuth2
    sign-in marks it NEEDS_SIGN_IN (outreach.mailbox_login).
    """
    mailbox_id = login.mailbox_id
    try:
        return login.log_in(
            lambda server: ImapSource(server, context, policy).open(), tokens, clock
        )
    except OAuthError as error:
        # SignInRequired included: the mailbox is marked; it is skipped from now on.
        return PollResult(mailbox_id, ok=False, problem=str(error))
    except MailboxAuthFailed as error:
        _mark(factory, mailbox_id, str(error))
        return PollResult(mailbox_id, ok=False, problem=str(error))
    except TemporaryFailure as error:
        return PollResult(mailbox_id, ok=False, problem=str(error), broken=True)


@dataclass(frozen=True)
class Holder:
    """The poller that must hold a mailbox's lease for a sync of it to count."""

    owner: str
    lease: timedelta


def sync_open(
    factory: sessionmaker[Session],
    mailbox_id: int,
    source: ImapSource,
    clock: Callable[[], datetime],
    holder: Holder | None = None,
) -> PollResult:
    """Sync one mailbox over a connection already logged in, in one transaction.

    With a `holder`, the lease is taken or renewed in the same transaction: a
    poller that lost the mailbox to another (its lease ran out while it was
    stalled) records nothing, so no reply is ever counted by two pollers.
    The connection stays open for the next sync unless it broke.
    """
    try:
        with session_scope(factory) as session:
            mailbox = session.get(Mailbox, mailbox_id)
            if mailbox is None:
                return PollResult(mailbox_id, ok=False, problem="the mailbox is gone")
            if mailbox.status is MailboxStatus.NEEDS_SIGN_IN:
                return PollResult(mailbox_id, ok=False, problem=mailbox.last_error or "sign in")
            folders = source.watched_folders(mailbox.sent_folder)
            if mailbox.sent_folder is None and len(folders) == 2:
                # Found once, kept: later rounds skip the LIST and its slower EXAMINEs.
                # Before the sync, not after: it reads the Sent folder first only when it
                # knows which that is, so a reply read in the same first sync finds
                # our request's ids and Gmail thread id. (Nothing is flushed while the
                # sync reads the server: sync_mailbox reads under no_autoflush.)
                mailbox.sent_folder = folders[1]
            report = sync_mailbox(session, mailbox, source, clock(), folders)
            if mailbox.status is MailboxStatus.NEEDS_ATTENTION:
                mailbox.status = MailboxStatus.OK
                mailbox.last_error = None
            # Last, not first: on SQLite the update takes the database's one write lock,
            # which must not be held while the server answers.
            if holder is not None and not leases.acquire(
                session, mailbox_id, holder.owner, clock(), holder.lease
            ):
                raise _LeaseLost
    except _LeaseLost:
        return PollResult(mailbox_id, ok=False, problem=LEASE_LOST, lost_lease=True)
    except MailboxAuthFailed as error:
        _mark(factory, mailbox_id, str(error))
        return PollResult(mailbox_id, ok=False, problem=str(error))
    except TemporaryFailure as error:
        return PollResult(mailbox_id, ok=False, problem=str(error), broken=True)
    return PollResult(mailbox_id, ok=True, report=report)


class _LeaseLost(Exception):
    """Another poller holds the mailbox: the sync's transaction is rolled back."""


def _mark(factory: sessionmaker[Session], mailbox_id: int, problem: str) -> None:
    with session_scope(factory) as session:
        mailbox = session.get(Mailbox, mailbox_id)
        if mailbox is not None:
            mailbox.status = MailboxStatus.NEEDS_ATTENTION
            mailbox.last_error = problem
