"""Deliver one approved message exactly once.

The database row is the record of truth; a queue job only carries its id.
1. Claim: a compare-and-set moves the row to SENDING and commits. Only one
   worker can win it, however many jobs were enqueued.
2. Guard: just before the SMTP transaction, check the contact has not answered,
   bounced or been marked do-not-contact, and the draft was not changed.
3. Send, then record SENT in a second transaction.

A worker killed between 1 and 3 leaves the row in SENDING. It is never picked
up again automatically: we cannot know whether the server took the message,
and a duplicate to a stranger costs more than a delay (docs/decisions/0004).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from outreach.accounts import smtp_login
from outreach.compose import OutgoingEmail, build_message
from outreach.crypto import SecretBox
from outreach.cycle import add_business_days
from outreach.db import session_scope
from outreach.errors import MailboxAuthFailed, PermanentFailure, TemporaryFailure
from outreach.mail import MailSender
from outreach.models import (
    Contact,
    Mailbox,
    MailboxStatus,
    Message,
    MessageKind,
    MessageStatus,
    Outreach,
    Target,
    User,
)
from outreach.states import OutreachState, Trigger, can_apply
from outreach.timeline import advance, record

CLAIMABLE = (MessageStatus.APPROVED, MessageStatus.QUEUED, MessageStatus.RETRYING)
MAX_ATTEMPTS = 6


class Outcome(StrEnum):
    SENT = "sent"
    NOT_CLAIMABLE = "not_claimable"
    NOT_DUE = "not_due"
    CANCELLED = "cancelled"
    RETRYING = "retrying"
    FAILED = "failed"


@dataclass(frozen=True)
class DeliveryResult:
    outcome: Outcome
    detail: str = ""


def retry_delay(attempt: int) -> timedelta:
    """Back-off for temporary failures: 5, 10, 20, 40 ... minutes, with jitter."""
    base = 5 * 60 * (2 ** max(attempt - 1, 0))
    return timedelta(seconds=base + random.uniform(0, base / 5))


def _why_not_send(message: Message, contact: Contact | None, outreach: Outreach | None) -> str:
    if contact is None:
        return "the contact was deleted"
    if contact.do_not_contact:
        return f"{contact.name} is marked do-not-contact"
    if message.message_id is None or message.approved_at is None:
        return "the draft was changed after approval"
    if outreach is not None and outreach.state in {
        OutreachState.REPLIED,
        OutreachState.BOUNCED,
        OutreachState.DECLINED,
        OutreachState.MEETING_SET,
        OutreachState.MET,
        OutreachState.THANKED,
        OutreachState.STOPPED,
    }:
        if message.kind in {MessageKind.REQUEST, MessageKind.FOLLOW_UP}:
            return f"the outreach to {contact.name} is already '{outreach.state.value}'"
    return ""


def claim(session: Session, message_id: int, now: datetime) -> bool:
    """Move the message to SENDING if, and only if, it is waiting to be sent and due."""
    result = session.execute(
        update(Message)
        .where(
            Message.id == message_id,
            Message.status.in_(CLAIMABLE),
            (Message.next_attempt_at.is_(None)) | (Message.next_attempt_at <= now),
        )
        .values(status=MessageStatus.SENDING, claimed_at=now, attempts=Message.attempts + 1)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0) == 1)


def deliver(
    factory: sessionmaker[Session],
    message_id: int,
    sender: MailSender,
    box: SecretBox,
    clock: Callable[[], datetime],
) -> DeliveryResult:
    """Send the message `message_id` once; see the module docstring for the protocol."""
    with session_scope(factory) as session:
        if not claim(session, message_id, clock()):
            current = session.get(Message, message_id)
            if current is not None and current.status is MessageStatus.RETRYING:
                return DeliveryResult(Outcome.NOT_DUE, "the next attempt is not due yet")
            return DeliveryResult(Outcome.NOT_CLAIMABLE, "nothing to send for this message")

    with session_scope(factory) as session:
        message = session.get(Message, message_id)
        assert message is not None  # claimed a moment ago, and rows are not deleted
        contact = session.get(Contact, message.contact_id) if message.contact_id else None
        outreach = session.get(Outreach, message.outreach_id) if message.outreach_id else None
        now = clock()
        reason = _why_not_send(message, contact, outreach)
        if reason:
            message.status = MessageStatus.CANCELLED
            message.error = f"not sent: {reason}"
            _note(session, message, "not_sent", message.error, now)
            return DeliveryResult(Outcome.CANCELLED, reason)
        mailbox = session.get(Mailbox, message.mailbox_id) if message.mailbox_id else None
        user = session.get(User, message.user_id)
        assert user is not None and contact is not None and message.message_id is not None
        if mailbox is None:
            message.status = MessageStatus.FAILED
            message.error = "the mailbox this message was approved for is gone"
            _note(session, message, "failed", message.error, now)
            return DeliveryResult(Outcome.FAILED, message.error)
        email = build_message(
            OutgoingEmail(
                from_name=mailbox.display_name or user.name,
                from_address=mailbox.email_address,
                to_name=contact.name,
                to_address=contact.email,
                subject=message.subject,
                body=message.body_text,
                message_id=message.message_id,
                date=now,
                in_reply_to=message.in_reply_to,
                references=tuple(message.references.split()),
            )
        )
        login = smtp_login(mailbox, box)
        attempts = message.attempts

    try:
        sender.send(login, email)
    except MailboxAuthFailed as error:
        return _record_failure(factory, message_id, clock(), attempts, str(error), auth=True)
    except TemporaryFailure as error:
        return _record_failure(factory, message_id, clock(), attempts, str(error))
    except PermanentFailure as error:
        with session_scope(factory) as session:
            message = session.get(Message, message_id)
            assert message is not None
            message.status = MessageStatus.FAILED
            message.error = error.server_text or str(error)
            _note(session, message, "failed", f"not delivered: {message.error}", clock())
        return DeliveryResult(Outcome.FAILED, str(error))

    with session_scope(factory) as session:
        _record_sent(session, message_id, clock())
    return DeliveryResult(Outcome.SENT)


def _record_sent(session: Session, message_id: int, now: datetime) -> None:
    message = session.get(Message, message_id)
    assert message is not None
    message.status = MessageStatus.SENT
    message.sent_at = now
    message.error = None
    message.next_attempt_at = None
    _note(session, message, "sent", f"sent to {message.to_address}", now)
    outreach = session.get(Outreach, message.outreach_id) if message.outreach_id else None
    if outreach is None:
        return
    trigger = {
        MessageKind.REQUEST: Trigger.REQUEST_SENT,
        MessageKind.FOLLOW_UP: Trigger.FOLLOW_UP_SENT,
    }.get(message.kind)
    if trigger is not None and can_apply(outreach.state, trigger):
        advance(session, outreach, trigger, now, message_id=message.id)
        target = session.get(Target, outreach.target_id)
        wait = target.wait_business_days if target else 7
        outreach.next_step_at = add_business_days(now, wait)


def _record_failure(
    factory: sessionmaker[Session],
    message_id: int,
    now: datetime,
    attempts: int,
    text: str,
    *,
    auth: bool = False,
) -> DeliveryResult:
    with session_scope(factory) as session:
        message = session.get(Message, message_id)
        assert message is not None
        if auth and message.mailbox_id is not None:
            mailbox = session.get(Mailbox, message.mailbox_id)
            if mailbox is not None:
                mailbox.status = MailboxStatus.NEEDS_ATTENTION
                mailbox.last_error = text
        if attempts >= MAX_ATTEMPTS:
            message.status = MessageStatus.FAILED
            message.error = f"gave up after {attempts} attempts: {text}"
            _note(session, message, "failed", message.error, now)
            return DeliveryResult(Outcome.FAILED, message.error)
        message.status = MessageStatus.RETRYING
        message.error = text
        message.next_attempt_at = now + retry_delay(attempts)
        _note(
            session,
            message,
            "retrying",
            f"{text}; next attempt at {message.next_attempt_at:%Y-%m-%d %H:%M} UTC",
            now,
        )
        return DeliveryResult(Outcome.RETRYING, text)


def _note(session: Session, message: Message, kind: str, detail: str, now: datetime) -> None:
    record(
        session,
        user_id=message.user_id,
        kind=kind,
        detail=detail,
        now=now,
        contact_id=message.contact_id,
        outreach_id=message.outreach_id,
        message_id=message.id,
    )


def due_for_sending(session: Session, now: datetime) -> list[int]:
    """Ids of messages that should have a send job: approved, or retrying and due.

    A periodic sweep enqueues these, so a lost job (Redis restarted, a crash
    between commit and enqueue) only delays a message, never loses it.
    """
    query = select(Message.id).where(
        (Message.status.in_((MessageStatus.APPROVED, MessageStatus.QUEUED)))
        | ((Message.status == MessageStatus.RETRYING) & (Message.next_attempt_at <= now))
    )
    return list(session.scalars(query.order_by(Message.id)))
