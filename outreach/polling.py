"""One round of watching one mailbox: connect, sync, record the outcome."""

from __future__ import annotations

import ssl
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from outreach.accounts import imap_login
from outreach.crypto import SecretBox
from outreach.db import session_scope
from outreach.errors import MailboxAuthFailed, TemporaryFailure
from outreach.mail.imap import ImapSource
from outreach.models import Mailbox, MailboxStatus
from outreach.watching import SyncReport, sync_mailbox


@dataclass(frozen=True)
class PollResult:
    mailbox_id: int
    ok: bool
    report: SyncReport | None = None
    problem: str = ""


def mailboxes_to_watch(factory: sessionmaker[Session]) -> list[int]:
    with session_scope(factory) as session:
        return list(session.scalars(select(Mailbox.id).order_by(Mailbox.id)))


def poll_mailbox(
    factory: sessionmaker[Session],
    mailbox_id: int,
    box: SecretBox,
    context: ssl.SSLContext,
    clock: Callable[[], datetime],
) -> PollResult:
    """Sync one mailbox in one transaction: either all it found is recorded, or nothing.

    A failure leaves the stored position untouched, so the next round reads the
    same messages again and none is missed.
    """
    with session_scope(factory) as session:
        mailbox = session.get(Mailbox, mailbox_id)
        if mailbox is None:
            return PollResult(mailbox_id, ok=False, problem="the mailbox is gone")
        login = imap_login(mailbox, box)
    try:
        with ImapSource(login, context) as source, session_scope(factory) as session:
            mailbox = session.get(Mailbox, mailbox_id)
            assert mailbox is not None
            folders = source.watched_folders(mailbox.sent_folder)
            if mailbox.sent_folder is None and len(folders) == 2:
                # Found once, kept: later rounds skip the LIST and its slower EXAMINEs.
                mailbox.sent_folder = folders[1]
            report = sync_mailbox(session, mailbox, source, clock(), folders)
            if mailbox.status is MailboxStatus.NEEDS_ATTENTION:
                mailbox.status = MailboxStatus.OK
                mailbox.last_error = None
    except MailboxAuthFailed as error:
        _mark(factory, mailbox_id, str(error))
        return PollResult(mailbox_id, ok=False, problem=str(error))
    except TemporaryFailure as error:
        return PollResult(mailbox_id, ok=False, problem=str(error))
    return PollResult(mailbox_id, ok=True, report=report)


def _mark(factory: sessionmaker[Session], mailbox_id: int, problem: str) -> None:
    with session_scope(factory) as session:
        mailbox = session.get(Mailbox, mailbox_id)
        if mailbox is not None:
            mailbox.status = MailboxStatus.NEEDS_ATTENTION
            mailbox.last_error = problem
