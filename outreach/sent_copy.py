"""Settle what only the Sent folder knows: was it delivered, and is a copy filed?

Two questions, one look:
- A message whose fate is UNKNOWN (the link broke after the body went out) is
  marked sent when its Message-ID is in the Sent folder. Otherwise it stays
  unknown for the user to decide: it is never sent again blindly.
- A SENT message gets exactly one copy in Sent, flagged \\Seen, so the user's own
  mail client shows it. Gmail, Microsoft 365, iCloud and others file one by
  themselves; we only append when the folder does not already hold it, and
  remember that the provider files copies once we have seen it do so.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from outreach.crypto import SecretBox
from outreach.db import session_scope
from outreach.errors import MailboxError, OAuthError
from outreach.mail import SentFolder, ServerLogin
from outreach.mailbox_login import MailboxLogin
from outreach.models import Contact, Mailbox, Message, MessageStatus, User
from outreach.oauth.tokens import AccessTokens
from outreach.rules import local_time
from outreach.rules.compose import build_message, wire_bytes
from outreach.sending import outgoing_email, record_sent
from outreach.timeline import note_message

# Providers file their copy a moment after accepting the message; look after this.
SETTLE_DELAY = timedelta(seconds=20)
# How long an UNKNOWN message is looked for automatically before the user decides.
LOOK_FOR_UNKNOWN = timedelta(hours=1)


class SentCopy(StrEnum):
    FOUND = "found"  # the provider filed it
    APPENDED = "appended"  # we filed it
    NO_FOLDER = "no_sent_folder"


def candidates(session: Session, now: datetime) -> list[int]:
    """Messages the Sent folder should be consulted about now."""
    unknown = select(Message.id).where(
        Message.status == MessageStatus.UNKNOWN, Message.claimed_at >= now - LOOK_FOR_UNKNOWN
    )
    uncopied = select(Message.id).where(
        Message.status == MessageStatus.SENT,
        Message.sent_copy.is_(None),
        Message.sent_at <= now - SETTLE_DELAY,
        Message.mailbox_id.is_not(None),
    )
    return sorted({*session.scalars(unknown), *session.scalars(uncopied)})


def reconcile(
    factory: sessionmaker[Session],
    message_id: int,
    box: SecretBox,
    connect: Callable[[ServerLogin], AbstractContextManager[SentFolder]],
    clock: Callable[[], datetime],
    tokens: AccessTokens | None = None,
) -> str:
    """Consult the Sent folder about one message; returns what was done, in words.

    An OAuth2 mailbox logs in with an access token from `tokens`.
    """
    with session_scope(factory) as session:
        message = session.get(Message, message_id)
        if message is None or message.message_id is None or message.mailbox_id is None:
            return "nothing to do"
        status, copy = message.status, message.sent_copy
        if not (status is MessageStatus.UNKNOWN or (status is MessageStatus.SENT and copy is None)):
            return "nothing to do"
        mailbox = session.get(Mailbox, message.mailbox_id)
        user = session.get(User, message.user_id)
        contact = session.get(Contact, message.contact_id) if message.contact_id else None
        if mailbox is None or user is None or contact is None:
            return "nothing to do"
        raw = wire_bytes(build_message(outgoing_email(message, mailbox, user, contact, clock())))
        login = MailboxLogin.imap(mailbox, box)
        header_id = message.message_id
        folder = mailbox.sent_folder
        provider_files = mailbox.files_sent_copy

    try:
        # `connect` logs in on entering; a refused token is only reported here, and
        # the poller's next login renews it.
        with connect(login.current(tokens, clock)) as sent:
            folder = folder or sent.find_sent_folder()
            if folder is None:
                return _remember(factory, message_id, status, None, clock())
            found = sent.contains_message_id(folder, header_id)
            if not found and status is MessageStatus.SENT and not provider_files:
                sent.append(folder, raw)
                return _remember(factory, message_id, status, SentCopy.APPENDED, clock(), folder)
    except (MailboxError, OAuthError) as error:
        return f"the Sent folder could not be checked: {error}"
    return _remember(
        factory, message_id, status, SentCopy.FOUND if found else None, clock(), folder
    )


def _remember(
    factory: sessionmaker[Session],
    message_id: int,
    status: MessageStatus,
    copy: SentCopy | None,
    now: datetime,
    folder: str | None = None,
) -> str:
    with session_scope(factory) as session:
        message = session.get(Message, message_id)
        assert message is not None
        mailbox = session.get(Mailbox, message.mailbox_id) if message.mailbox_id else None
        if folder and mailbox is not None and not mailbox.sent_folder:
            mailbox.sent_folder = folder
        if status is MessageStatus.UNKNOWN:
            if message.status is not MessageStatus.UNKNOWN:
                return "the user has decided meanwhile"
            if copy is SentCopy.FOUND:
                message.sent_copy = SentCopy.FOUND
                record_sent(session, message_id, now, "found in your Sent folder: it was delivered")
                return "found in Sent: marked sent"
            message.waiting_reason = (
                f"not found in your Sent folder {_on_clock(session, message, now)}; "
                "please check, then tell us whether it was delivered"
            )
            return "not in Sent: the user decides"
        if copy is None:
            message.sent_copy = SentCopy.NO_FOLDER
            _note(session, message, "no Sent folder was found, so no copy was filed", now)
            return "no Sent folder"
        message.sent_copy = copy
        if mailbox is not None:
            # Seeing the provider's own copy once tells us it always files one.
            mailbox.files_sent_copy = copy is SentCopy.FOUND
        if copy is SentCopy.APPENDED:
            _note(session, message, "a copy was saved in your Sent folder", now)
        return f"Sent copy {copy.value}"


def _on_clock(session: Session, message: Message, moment: datetime) -> str:
    """ "at 3 Dec 2026, 14:05 (Europe/Paris)": the moment on the user's own clock."""
    owner = session.get(User, message.user_id)
    zone = (owner.time_zone if owner is not None else "") or "UTC"
    return f"at {local_time.date_and_time(moment, zone)} ({zone})"


def _note(session: Session, message: Message, detail: str, now: datetime) -> None:
    note_message(session, message, "sent_copy", detail, now)
