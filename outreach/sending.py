"""Deliver one approved message exactly once, at the mailbox's pace.

The database row is the record of truth; a queue job only carries its id.

1. Reserve and claim, in one transaction: the mailbox's next sending slot (see
   outreach.pace) and the message, moved to SENDING by a compare-and-set. Only
   one worker can win it, however many jobs were enqueued.
2. Guard, in the same transaction, just before the SMTP transaction: check the
   contact has not answered, bounced or been marked do-not-contact, and the
   draft was not changed.
3. Send. Just before the body goes out, the row's phase becomes DATA and is
   committed. A worker that dies before that point leaves a row that is safe to
   send again; one that dies after it leaves a row whose fate is unknown.
4. Record SENT. A broken link after the body went out is UNKNOWN: it is settled
   by finding the Message-ID in the Sent folder, or by the user, never by a
   blind retry (docs/decisions/0005-exactly-once-sending.md).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from outreach import pace
from outreach.crypto import SecretBox
from outreach.db import compare_and_set, owned_row, session_scope
from outreach.errors import (
    DeliveryUnknown,
    MailboxAuthFailed,
    OAuthError,
    PermanentFailure,
    SignInRequired,
    TemporaryFailure,
    ValidationError,
)
from outreach.mail import MailSender, ServerLogin
from outreach.mailbox_login import MailboxLogin
from outreach.models import (
    Contact,
    Mailbox,
    MailboxStatus,
    Message,
    MessageKind,
    MessageStatus,
    Outreach,
    SendPhase,
    User,
)
from outreach.oauth.tokens import AccessTokens
from outreach.rules import local_time
from outreach.rules.compose import OutgoingEmail, build_message
from outreach.rules.states import ANSWERED, OutreachState, Trigger, can_apply
from outreach.timeline import note_message
from outreach.transitions import transition

CLAIMABLE = (MessageStatus.APPROVED, MessageStatus.QUEUED, MessageStatus.RETRYING)
# Temporary failures are retried with back-off for this long, then shown as failed.
GIVE_UP_AFTER = timedelta(hours=24)
# A row still SENDING this long after its claim belongs to a worker that died.
SEND_LEASE = timedelta(minutes=15)
# Allowance for the clocks of the sweeping and the sending hosts, which stamp
# the times compared here. A claim misjudged as dead costs no duplicate: the
# claiming worker checks the row is still its own before the body goes out.
CLAIM_SETTLING = timedelta(seconds=3)
# Kinds that go before new first requests when the daily cap is tight.
FIRST_IN_LINE = (
    MessageKind.ANSWER,
    MessageKind.FOLLOW_UP,
    MessageKind.THANK_YOU,
    MessageKind.CONFIRMATION,
)


class Outcome(StrEnum):
    SENT = "sent"
    NOT_CLAIMABLE = "not_claimable"
    NOT_DUE = "not_due"
    CANCELLED = "cancelled"
    RETRYING = "retrying"
    PAUSED = "paused"
    FAILED = "failed"
    UNKNOWN = "unknown"


class _ClaimLost(Exception):
    """The message was taken from this worker before its body went out."""


@dataclass(frozen=True)
class DeliveryResult:
    outcome: Outcome
    detail: str = ""


def retry_delay(attempt: int) -> timedelta:
    """Back-off for temporary failures: 5, 10, 20, 40 ... minutes, with jitter, at most 4 h."""
    base = min(5 * 60 * (2 ** max(attempt - 1, 0)), 4 * 3600)
    return timedelta(seconds=base + random.uniform(0, base / 5))


# Once a person answered, bounced or was taken off the list, no request or follow-up goes.
_NO_MORE_REQUESTS = ANSWERED | {OutreachState.BOUNCED, OutreachState.STOPPED}


def _why_not_send(message: Message, contact: Contact | None, outreach: Outreach | None) -> str:
    if contact is None:
        return "the contact was deleted"
    if contact.do_not_contact:
        return f"{contact.name} is marked do-not-contact"
    if message.message_id is None or message.approved_at is None:
        return "the draft was changed after approval"
    if outreach is not None and message.kind is MessageKind.FOLLOW_UP and outreach.handled_by_user:
        return f"you are writing to {contact.name} yourself, so no automatic follow-up goes"
    if (
        outreach is not None
        and message.kind in {MessageKind.REQUEST, MessageKind.FOLLOW_UP}
        and outreach.state in _NO_MORE_REQUESTS
    ):
        return f"the outreach to {contact.name} is already '{outreach.state.value}'"
    return ""


def _due(now: datetime) -> object:
    return (Message.next_attempt_at.is_(None)) | (Message.next_attempt_at <= now)


def claim(session: Session, message_id: int, now: datetime) -> bool:
    """Move the message to SENDING if, and only if, it is waiting to be sent and due.

    A compare-and-set: True for the one caller that changed the row. The row as the
    claim left it comes back in the same statement (RETURNING) and refreshes the
    session's copy, so the guard that follows reads what was claimed.
    """
    statement = (
        update(Message)
        .where(Message.id == message_id, Message.status.in_(CLAIMABLE), _due(now))  # type: ignore[arg-type]
        .values(
            status=MessageStatus.SENDING,
            send_phase=SendPhase.CLAIMED,
            claimed_at=now,
            attempts=Message.attempts + 1,
            waiting_reason=None,
        )
        .returning(Message)
    )
    options = {"synchronize_session": False, "populate_existing": True}
    return len(session.scalars(statement, execution_options=options).all()) == 1


def _wait(session: Session, message_id: int, reason: str, until: datetime | None) -> None:
    """Leave the message queued, saying why and until when, unless someone took it."""
    session.execute(
        update(Message)
        .where(Message.id == message_id, Message.status.in_(CLAIMABLE))
        .values(status=MessageStatus.QUEUED, waiting_reason=reason, next_attempt_at=until)
        .execution_options(synchronize_session=False)
    )


def _higher_priority_waiting(session: Session, message: Message, now: datetime) -> bool:
    query = select(Message.id).where(
        Message.mailbox_id == message.mailbox_id,
        Message.id != message.id,
        Message.kind.in_(FIRST_IN_LINE),
        Message.status.in_(CLAIMABLE),
        _due(now),  # type: ignore[arg-type]
    )
    return session.scalar(query.limit(1)) is not None


@dataclass(frozen=True)
class _Claimed:
    """The rows step 2 needs, held so the session does not read them again (it keeps
    loaded rows only weakly)."""

    message: Message
    mailbox: Mailbox | None
    user: User | None


def _reserve_and_claim(
    session: Session, message_id: int, now: datetime
) -> tuple[_Claimed | None, DeliveryResult | None]:
    """Step 1. Returns the message, now ours to send, or why it is not."""
    message = session.get(Message, message_id)
    if message is None or message.status not in CLAIMABLE:
        return None, DeliveryResult(Outcome.NOT_CLAIMABLE, "nothing to send for this message")
    if message.next_attempt_at is not None and message.next_attempt_at > now:
        return None, DeliveryResult(Outcome.NOT_DUE, "the next attempt is not due yet")
    mailbox = session.get(Mailbox, message.mailbox_id) if message.mailbox_id else None
    user = session.get(User, message.user_id)
    if mailbox is not None and user is not None:
        if message.kind is MessageKind.REQUEST and _higher_priority_waiting(session, message, now):
            reason = "a follow-up or thank-you goes first"
            _wait(session, message_id, reason, now + pace.RACE_RETRY)
            return None, DeliveryResult(Outcome.NOT_DUE, reason)
        verdict = pace.reserve(session, mailbox, user.time_zone, now)
        if not verdict.allowed:
            session.rollback()
            _wait(session, message_id, verdict.reason, verdict.retry_at)
            return None, DeliveryResult(Outcome.NOT_DUE, verdict.reason)
    # Without a mailbox or a user, the claim goes ahead and step 2 records the failure.
    if not claim(session, message_id, now):
        session.rollback()  # gives the reserved slot back
        return None, DeliveryResult(Outcome.NOT_CLAIMABLE, "another worker took this message")
    return _Claimed(message, mailbox, user), None


def deliver(
    factory: sessionmaker[Session],
    message_id: int,
    sender: MailSender,
    box: SecretBox,
    clock: Callable[[], datetime],
    tokens: AccessTokens | None = None,
) -> DeliveryResult:
    """Send the message `message_id` once; see the module docstring for the protocol.

    A mailbox signed in with OAuth2 gets its access token from `tokens`; when
    the provider no longer accepts the sign-in, sending pauses and the message
    waits, queued, for the user to sign in again.
    """
    # Three commits per message, the ones exactly-once needs: the claim (with the
    # guard), the phase DATA before the body, and SENT after the server's answer.
    with session_scope(factory) as session:
        claimed, refused = _reserve_and_claim(session, message_id, clock())
        if claimed is None:
            assert refused is not None
            return refused
        message, mailbox, user = claimed.message, claimed.mailbox, claimed.user
        contact = session.get(Contact, message.contact_id) if message.contact_id else None
        outreach = session.get(Outreach, message.outreach_id) if message.outreach_id else None
        now = clock()
        reason = _why_not_send(message, contact, outreach)
        if reason:
            message.status = MessageStatus.CANCELLED
            message.error = f"not sent: {reason}"
            _note(session, message, "not_sent", message.error, now)
            return DeliveryResult(Outcome.CANCELLED, reason)
        assert user is not None and contact is not None and message.message_id is not None
        if mailbox is None:
            message.status = MessageStatus.FAILED
            message.error = "the mailbox this message was approved for is gone"
            _note(session, message, "failed", message.error, now)
            return DeliveryResult(Outcome.FAILED, message.error)
        try:
            email = build_message(outgoing_email(message, mailbox, user, contact, now))
        except ValidationError as error:
            # A control character in a name or the subject (stored before they were
            # refused at the door): nothing goes out, and the page says which field.
            message.status = MessageStatus.FAILED
            message.error = f"not sent: {error}"
            _note(session, message, "failed", message.error, now)
            return DeliveryResult(Outcome.FAILED, message.error)
        login = MailboxLogin.smtp(mailbox, box)
        attempts = message.attempts
        first_approved = message.approved_at or now

    def before_data() -> None:
        # Still ours? A sweep that took this worker for dead may have handed the
        # message to another one; then the body must not go from here as well.
        with session_scope(factory) as session:
            still_ours = compare_and_set(
                session,
                update(Message)
                .where(
                    Message.id == message_id,
                    Message.status == MessageStatus.SENDING,
                    Message.attempts == attempts,
                )
                .values(send_phase=SendPhase.DATA),
            )
        if not still_ours:
            raise _ClaimLost

    def send(server: ServerLogin) -> None:
        sender.send(server, email, before_data)

    try:
        # An OAuth2 token is renewed when due, and once more if the server refuses it.
        login.log_in(send, tokens, clock)
    except _ClaimLost:
        return DeliveryResult(Outcome.NOT_CLAIMABLE, "another worker took this message over")
    except SignInRequired as error:
        return _pause_mailbox(factory, message_id, clock(), str(error), sign_in=True)
    except MailboxAuthFailed as error:
        return _pause_mailbox(factory, message_id, clock(), str(error))
    except OAuthError as error:
        # The provider could not be reached to renew the token: nothing was sent.
        gave_up = clock() - first_approved > GIVE_UP_AFTER
        return _record_failure(factory, message_id, clock(), attempts, str(error), gave_up)
    except TemporaryFailure as error:
        gave_up = clock() - first_approved > GIVE_UP_AFTER
        return _record_failure(factory, message_id, clock(), attempts, str(error), gave_up)
    except PermanentFailure as error:
        return _record_refusal(factory, message_id, clock(), error)
    except DeliveryUnknown as error:
        with session_scope(factory) as session:
            row = session.get(Message, message_id)
            assert row is not None
            row.status = MessageStatus.UNKNOWN
            row.error = str(error)
            _note(session, row, "unknown", str(error), clock())
        return DeliveryResult(Outcome.UNKNOWN, str(error))

    with session_scope(factory) as session:
        record_sent(session, message_id, clock())
    return DeliveryResult(Outcome.SENT)


def outgoing_email(
    message: Message, mailbox: Mailbox, user: User, contact: Contact, now: datetime
) -> OutgoingEmail:
    """What goes out for `message`; the same row always gives the same bytes."""
    assert message.message_id is not None
    return OutgoingEmail(
        from_name=mailbox.display_name or user.name,
        from_address=mailbox.email_address,
        to_name=contact.name,
        to_address=contact.email,
        subject=message.subject,
        body=message.body_text,
        message_id=message.message_id,
        # The claim time, stored, so a Sent-folder copy can be rebuilt exactly.
        date=message.claimed_at or now,
        in_reply_to=message.in_reply_to,
        references=tuple(message.references.split()),
        calendar=message.calendar_ics,
    )


def record_sent(session: Session, message_id: int, now: datetime, how: str = "") -> None:
    """Mark the message sent and move its outreach on (request -> waiting, ...)."""
    message = session.get(Message, message_id)
    assert message is not None
    message.status = MessageStatus.SENT
    message.sent_at = now
    message.error = None
    message.waiting_reason = None
    message.next_attempt_at = None
    _note(session, message, "sent", how or f"sent to {message.to_address}", now)
    outreach = session.get(Outreach, message.outreach_id) if message.outreach_id else None
    if outreach is None:
        return
    trigger = {
        MessageKind.REQUEST: Trigger.REQUEST_SENT,
        MessageKind.FOLLOW_UP: Trigger.FOLLOW_UP_SENT,
        MessageKind.THANK_YOU: Trigger.THANK_YOU_SENT,
    }.get(message.kind)
    if trigger is not None and can_apply(outreach.state, trigger):
        # The clock for the next step, or the keep-in-touch day, is set there.
        transition(session, outreach, trigger, now, message_id=message.id)


def _pause_mailbox(
    factory: sessionmaker[Session],
    message_id: int,
    now: datetime,
    text: str,
    sign_in: bool = False,
) -> DeliveryResult:
    """Wrong credentials: pause the mailbox's sending; the message waits, nothing is lost.

    `sign_in`: the OAuth2 grant is gone; outreach.oauth.tokens already marked the
    mailbox NEEDS_SIGN_IN, and only a new sign-in resumes sending.
    """
    with session_scope(factory) as session:
        message = session.get(Message, message_id)
        assert message is not None
        mailbox = session.get(Mailbox, message.mailbox_id) if message.mailbox_id else None
        if mailbox is not None:
            mailbox.status = (
                MailboxStatus.NEEDS_SIGN_IN if sign_in else MailboxStatus.NEEDS_ATTENTION
            )
            mailbox.last_error = text
            mailbox.sending_paused = True
        message.status = MessageStatus.QUEUED
        message.send_phase = None
        message.waiting_reason = (
            f"sending is paused: {text}"
            if sign_in
            else "sending is paused: the mail server refused the password"
        )
        message.next_attempt_at = now + timedelta(minutes=5)
        _note(session, message, "paused", f"not sent yet: {text}", now)
    return DeliveryResult(Outcome.PAUSED, text)


def _record_refusal(
    factory: sessionmaker[Session], message_id: int, now: datetime, error: PermanentFailure
) -> DeliveryResult:
    with session_scope(factory) as session:
        message = session.get(Message, message_id)
        assert message is not None
        message.status = MessageStatus.FAILED
        message.send_phase = None
        message.error = error.server_text or str(error)
        _note(session, message, "failed", f"not delivered: {message.error}", now)
        # 5.1.x: the address itself is bad (RFC 3463), so the contact bounced.
        if " 5.1." in f" {error.server_text}" or error.server_text.startswith(("550 5.1", "5.1")):
            outreach = session.get(Outreach, message.outreach_id) if message.outreach_id else None
            if outreach is not None and can_apply(outreach.state, Trigger.BOUNCE_RECEIVED):
                detail = f"the address was refused: {message.error}"
                transition(session, outreach, Trigger.BOUNCE_RECEIVED, now, detail, message.id)
    return DeliveryResult(Outcome.FAILED, str(error))


def _record_failure(
    factory: sessionmaker[Session],
    message_id: int,
    now: datetime,
    attempts: int,
    text: str,
    gave_up: bool,
) -> DeliveryResult:
    with session_scope(factory) as session:
        message = session.get(Message, message_id)
        assert message is not None
        message.send_phase = None
        if gave_up:
            message.status = MessageStatus.FAILED
            message.error = f"gave up after {attempts} attempts over a day: {text}"
            _note(session, message, "failed", message.error, now)
            return DeliveryResult(Outcome.FAILED, message.error)
        message.status = MessageStatus.RETRYING
        message.error = text
        message.next_attempt_at = now + retry_delay(attempts)
        _note(
            session,
            message,
            "retrying",
            f"{text}; next attempt {_on_clock_of(session, message, message.next_attempt_at)}",
            now,
        )
        return DeliveryResult(Outcome.RETRYING, text)


def _on_clock_of(session: Session, message: Message, moment: datetime) -> str:
    """ "at 3 Dec 2026, 14:05 (Europe/Paris)": a moment in words on the sender's own clock."""
    owner = session.get(User, message.user_id)
    zone = (owner.time_zone if owner is not None else "") or "UTC"
    return f"at {local_time.date_and_time(moment, zone)} ({zone})"


def _note(session: Session, message: Message, kind: str, detail: str, now: datetime) -> None:
    note_message(session, message, kind, detail, now)


def due_for_sending(session: Session, now: datetime) -> list[int]:
    """Ids of messages that should have a send job, follow-ups and thank-yous first.

    A periodic sweep enqueues these, so a lost job (Redis restarted, a crash
    between commit and enqueue) only delays a message, never loses it.
    """
    query = select(Message.id, Message.kind).where(Message.status.in_(CLAIMABLE), _due(now))  # type: ignore[arg-type]
    rows = session.execute(query.order_by(Message.approved_at, Message.id)).all()
    return [row.id for row in sorted(rows, key=lambda row: row.kind not in FIRST_IN_LINE)]


def recover_abandoned(
    session: Session,
    now: datetime,
    lease: timedelta = SEND_LEASE,
    in_hand: Collection[int] | None = None,
) -> list[int]:
    """Deal with rows left SENDING by a worker that died; returns the ids now UNKNOWN.

    A row is abandoned once its lease has run out or, when the queue can say
    which messages live workers are sending (`in_hand`), as soon as it is not
    one of them: a dead worker is then noticed in seconds, not at the lease's end.
    Before the body went out (phase CLAIMED) nothing reached the server, so the
    message simply waits for its next attempt. After it (phase DATA) the server
    may have it: the row becomes UNKNOWN, to be settled by the Sent folder.
    """
    unknown: list[int] = []
    abandoned = Message.claimed_at < now - lease
    if in_hand is not None:
        # A claim younger than this may not show in the queue's registry yet.
        settled = Message.claimed_at < now - CLAIM_SETTLING
        abandoned = or_(abandoned, and_(settled, Message.id.not_in(list(in_hand))))
    stale = session.scalars(
        select(Message).where(Message.status == MessageStatus.SENDING, abandoned)
    )
    for message in stale:
        if message.send_phase is SendPhase.DATA:
            message.status = MessageStatus.UNKNOWN
            message.error = "the worker stopped while handing the message to the server"
            _note(session, message, "unknown", message.error, now)
            unknown.append(message.id)
        else:
            message.status = MessageStatus.QUEUED
            message.send_phase = None
            message.waiting_reason = "the worker stopped before sending; trying again"
            _note(session, message, "queued", message.waiting_reason, now)
    return unknown


def resolve_unknown(
    session: Session, user: User, message_id: int, delivered: bool, now: datetime
) -> Message:
    """The user's answer for an UNKNOWN message: it went out, or send it again."""
    message = owned_row(session, Message, message_id, user.id, "message")
    if message.status is not MessageStatus.UNKNOWN:
        raise ValidationError(f"this message is {message.status.value}, not unknown")
    if delivered:
        record_sent(session, message.id, now, "you confirmed this message was delivered")
    else:
        message.status = MessageStatus.QUEUED
        message.send_phase = None
        message.next_attempt_at = None
        message.waiting_reason = "you asked to send it again"
        _note(session, message, "queued", "you asked to send it again", now)
    return message
