"""Deliver one approved message exactly once, at the mailbox's pace.

The database row is the record of truth; a queue job only carries its id.

1. Prepare, reading only: the message and its mailbox, user, contact and
   outreach in one statement; the mailbox's pace judged (see outreach.pace);
   the guard (the contact has not answered, bounced or been marked
   do-not-contact, the draft was not changed); the email built. Nothing is
   written unless the message cannot go now.
2. Claim, once the server accepted the envelope (MAIL, RCPT) and just before the
   body goes out, in one transaction: the pace slot taken, the message moved to
   SENDING in phase DATA by a compare-and-set on the row as step 1 read it (so
   only one worker can win it, however many jobs were enqueued), and the guard
   checked again. Its commit is the point of no return: a worker that dies
   before it leaves the message waiting, untouched, safe to send again; one that
   dies after it leaves a row whose fate is unknown. A lost claim resets the mail
   transaction (RSET) and sends nothing.
3. Record SENT. A broken link after the body went out is UNKNOWN: it is settled
   by finding the Message-ID in the Sent folder, or by the user, never by a
   blind retry (docs/decisions/0005-exactly-once-sending.md).

A failure before the claim (the server refused the login, the envelope, or could
not be reached) was still an attempt: the row is claimed then, with its pace
slot, only to record it.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from enum import StrEnum
from functools import partial
from typing import Any

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    and_,
    bindparam,
    case,
    exists,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Session, aliased, sessionmaker

from outreach import pace
from outreach.crypto import SecretBox
from outreach.data_version import owned_by, write_owned
from outreach.db import commit_lazily, owned_row, session_scope
from outreach.errors import (
    DeliveryUnknown,
    MailboxAuthFailed,
    OAuthError,
    PermanentFailure,
    SendWithheld,
    SignInRequired,
    TemporaryFailure,
    ValidationError,
)
from outreach.mail import MailSender, ServerLogin
from outreach.mailbox_login import MailboxLogin
from outreach.models import (
    Contact,
    Event,
    Mailbox,
    MailboxStatus,
    Message,
    MessageKind,
    MessageStatus,
    Outreach,
    SendPhase,
    Target,
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
    # With deliver(look_ahead=True), once SENT: the mailbox's next message due now and
    # its attempts (next_on_the_same_mailbox), read in the transaction that recorded SENT.
    next_due: tuple[int, int] | None = None


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


def claim(session: Session, message_id: int, now: datetime, owner: int | None = None) -> bool:
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
    options: dict[str, Any] = {"synchronize_session": False, "populate_existing": True}
    if owner is not None:
        options.update(owned_by(owner))
    return len(session.scalars(statement, execution_options=options).all()) == 1


def _wait(
    session: Session, message_id: int, owner: int, reason: str, until: datetime | None
) -> None:
    """Leave the message queued, saying why and until when, unless someone took it."""
    session.execute(
        update(Message)
        .where(Message.id == message_id, Message.status.in_(CLAIMABLE))
        .values(status=MessageStatus.QUEUED, waiting_reason=reason, next_attempt_at=until)
        .execution_options(synchronize_session=False, **owned_by(owner))
    )


# Made once: aliasing the mapped class anew for every message cost 3 ms of a send's CPU.
_OTHER_MESSAGE = aliased(Message)


def _first_in_line_waiting(now: datetime | BindParameter[Any]) -> ColumnElement[bool]:
    """Whether a follow-up, thank-you, answer or confirmation of the message's mailbox
    is waiting and due: a new request then lets it go first."""
    other = _OTHER_MESSAGE
    return exists().where(
        other.mailbox_id == Message.mailbox_id,
        other.id != Message.id,
        other.kind.in_(FIRST_IN_LINE),
        other.status.in_(CLAIMABLE),
        or_(other.next_attempt_at.is_(None), other.next_attempt_at <= now),
    )


# Step 1's one read, built once with its values bound at each send: building the
# statement and its cache key anew was a fifth of a send's CPU (bench/send_profile.py).
_READ_TO_SEND = (
    select(
        Message,
        Mailbox,
        User,
        Contact,
        Outreach,
        Target,
        _first_in_line_waiting(bindparam("now")),
    )
    .outerjoin(Mailbox, Mailbox.id == Message.mailbox_id)
    .outerjoin(User, User.id == Message.user_id)
    .outerjoin(Contact, Contact.id == Message.contact_id)
    .outerjoin(Outreach, Outreach.id == Message.outreach_id)
    .outerjoin(Target, Target.id == Outreach.target_id)
    .where(Message.id == bindparam("message_id"))
)


@dataclass(frozen=True)
class _Prepared:
    """What step 1 read and built, held outside any transaction while the mail
    server is talked to: the email, the login, and what the claim must still find."""

    email: EmailMessage
    login: MailboxLogin
    slot: pace.Slot
    attempts: int
    header_id: str
    kind: MessageKind
    user_id: int
    contact_id: int
    contact_name: str
    outreach_id: int | None
    to_address: str
    first_approved: datetime
    # The user and the target as read, for the clock of the outreach's next step.
    settings: tuple[User, Target | None]


def _prepare(
    session: Session, message_id: int, box: SecretBox, now: datetime
) -> _Prepared | DeliveryResult:
    """Step 1, reading only (unless the message cannot go): the message and its rows in
    one statement, the pace judged, the guard, the email built. Nothing is claimed yet."""
    row = session.execute(_READ_TO_SEND, {"message_id": message_id, "now": now}).one_or_none()
    if row is None or row[0].status not in CLAIMABLE:
        return DeliveryResult(Outcome.NOT_CLAIMABLE, "nothing to send for this message")
    message, mailbox, user, contact, outreach, target, first_in_line_waiting = row
    if message.next_attempt_at is not None and message.next_attempt_at > now:
        return DeliveryResult(Outcome.NOT_DUE, "the next attempt is not due yet")
    slot: pace.Slot | pace.Verdict | None = None
    if mailbox is not None and user is not None:
        if message.kind is MessageKind.REQUEST and first_in_line_waiting:
            reason = "a follow-up or thank-you goes first"
            _wait(session, message_id, message.user_id, reason, now + pace.RACE_RETRY)
            return DeliveryResult(Outcome.NOT_DUE, reason)
        slot = pace.next_slot(mailbox, user.time_zone, now)
        if isinstance(slot, pace.Verdict):
            _wait(session, message_id, message.user_id, slot.reason, slot.retry_at)
            return DeliveryResult(Outcome.NOT_DUE, slot.reason)
    reason = _why_not_send(message, contact, outreach)
    if reason:
        return _settle_unsent(session, message, now, MessageStatus.CANCELLED, reason)
    assert user is not None and contact is not None and message.message_id is not None
    if mailbox is None or not isinstance(slot, pace.Slot):
        error = "the mailbox this message was approved for is gone"
        return _settle_unsent(session, message, now, MessageStatus.FAILED, error)
    try:
        email = build_message(outgoing_email(message, mailbox, user, contact, now, date=now))
    except ValidationError as error:
        # A control character in a name or the subject (stored before they were
        # refused at the door): nothing goes out, and the page says which field.
        return _settle_unsent(session, message, now, MessageStatus.FAILED, f"not sent: {error}")
    return _Prepared(
        email=email,
        login=MailboxLogin.smtp(mailbox, box),
        slot=slot,
        attempts=message.attempts,
        header_id=message.message_id,
        kind=message.kind,
        user_id=message.user_id,
        contact_id=contact.id,
        contact_name=contact.name,
        outreach_id=message.outreach_id,
        to_address=message.to_address,
        first_approved=message.approved_at or now,
        settings=(user, target),
    )


def _settle_unsent(
    session: Session, message: Message, now: datetime, status: MessageStatus, reason: str
) -> DeliveryResult:
    """Claim the message and record why it does not go: `reason` it is called off
    (CANCELLED), or the error it failed with for good (FAILED)."""
    if not claim(session, message.id, now, owner=message.user_id):
        session.rollback()
        return DeliveryResult(Outcome.NOT_CLAIMABLE, "another worker took this message")
    message.status = status
    if status is MessageStatus.CANCELLED:
        message.error = f"not sent: {reason}"
        _note(session, message, "not_sent", message.error, now)
        return DeliveryResult(Outcome.CANCELLED, reason)
    message.error = reason
    _note(session, message, "failed", message.error, now)
    return DeliveryResult(Outcome.FAILED, message.error)


class _Withheld(SendWithheld):
    """The body does not go after all; `result` says why."""

    def __init__(self, result: DeliveryResult) -> None:
        super().__init__(result.detail)
        self.result = result


def _why_not_now(
    prepared: _Prepared, guard: tuple[bool, OutreachState | None, bool | None] | None
) -> str:
    """The guard again, in the claim's transaction: what may have changed since step 1."""
    name = prepared.contact_name
    if guard is None:
        return "the contact was deleted"
    do_not_contact, state, handled_by_user = guard
    if do_not_contact:
        return f"{name} is marked do-not-contact"
    if prepared.kind is MessageKind.FOLLOW_UP and handled_by_user:
        return f"you are writing to {name} yourself, so no automatic follow-up goes"
    if (
        state is not None
        and prepared.kind in {MessageKind.REQUEST, MessageKind.FOLLOW_UP}
        and state in _NO_MORE_REQUESTS
    ):
        return f"the outreach to {name} is already '{state.value}'"
    return ""


def _claim_before_data(
    factory: sessionmaker[Session], message_id: int, prepared: _Prepared, now: datetime
) -> None:
    """Step 2, once the server accepted the envelope: one transaction takes the pace slot,
    claims the message straight into phase DATA and checks the guard. Its commit is the
    last thing before the body; raises _Withheld when the body must not go."""
    withheld: DeliveryResult | None = None
    with session_scope(factory) as session:
        if not pace.take(session, prepared.slot):
            withheld = DeliveryResult(Outcome.NOT_DUE, pace.SLOT_TAKEN)
            _wait(session, message_id, prepared.user_id, pace.SLOT_TAKEN, now + pace.RACE_RETRY)
        elif not _claim(session, message_id, prepared, now, SendPhase.DATA):
            session.rollback()  # gives the slot back
            withheld = DeliveryResult(Outcome.NOT_CLAIMABLE, "another worker took this message")
        else:
            guard = (
                session.connection()
                .execute(
                    _GUARD,
                    {"contact_id": prepared.contact_id, "outreach_id": prepared.outreach_id},
                )
                .one_or_none()
            )
            found = None if guard is None else (guard[0], guard[1], guard[2])
            reason = _why_not_now(prepared, found)
            if reason:
                session.rollback()  # the slot is not used
                withheld = _settle_claimed(session, message_id, prepared, now, reason)
    if withheld is not None:
        raise _Withheld(withheld)


# Built once, its values bound at each claim: what may have changed since step 1 read.
_GUARD = (
    select(Contact.do_not_contact, Outreach.state, Outreach.handled_by_user)
    .select_from(Contact)
    .outerjoin(Outreach, Outreach.id == bindparam("outreach_id"))
    .where(Contact.id == bindparam("contact_id"))
)


def _claim(
    session: Session, message_id: int, prepared: _Prepared, now: datetime, phase: SendPhase | None
) -> bool:
    """Claim the message as step 1 read it: waiting, due, not tried nor re-approved since.

    `now` is stored as the claim time, which is the Date the email was built with.
    """
    claimed = write_owned(
        session,
        _CLAIM_AS_READ,
        prepared.user_id,
        {
            "row_id": message_id,
            "now": now,
            "attempts_read": prepared.attempts,
            "header_id": prepared.header_id,
            "phase": phase,
            "attempts_now": prepared.attempts + 1,
        },
    )
    return claimed.rowcount == 1


# Built once, its values bound at each claim (see `_claim`).
_CLAIM_AS_READ = (
    update(Message)
    .where(
        Message.id == bindparam("row_id"),
        Message.status.in_(CLAIMABLE),
        or_(Message.next_attempt_at.is_(None), Message.next_attempt_at <= bindparam("now")),
        Message.attempts == bindparam("attempts_read"),
        Message.message_id == bindparam("header_id"),
    )
    .values(
        status=MessageStatus.SENDING,
        send_phase=bindparam("phase"),
        claimed_at=bindparam("now"),
        attempts=bindparam("attempts_now"),
        waiting_reason=None,
    )
)


def _settle_claimed(
    session: Session, message_id: int, prepared: _Prepared, now: datetime, reason: str
) -> DeliveryResult:
    """Call off a message the guard stopped at the last moment (a rare path: ORM is fine)."""
    if not _claim(session, message_id, prepared, now, None):
        return DeliveryResult(Outcome.NOT_CLAIMABLE, "another worker took this message")
    message = session.get(Message, message_id)
    assert message is not None
    message.status = MessageStatus.CANCELLED
    message.error = f"not sent: {reason}"
    _note(session, message, "not_sent", message.error, now)
    return DeliveryResult(Outcome.CANCELLED, reason)


def deliver(
    factory: sessionmaker[Session],
    message_id: int,
    sender: MailSender,
    box: SecretBox,
    clock: Callable[[], datetime],
    tokens: AccessTokens | None = None,
    *,
    look_ahead: bool = False,
) -> DeliveryResult:
    """Send the message `message_id` once; see the module docstring for the protocol.

    `look_ahead`: once it is sent, also say which message of the same mailbox is due
    next (DeliveryResult.next_due), so a worker can send a burst on the open session.

    A mailbox signed in with OAuth2 gets its access token from `tokens`; when
    the provider no longer accepts the sign-in, sending pauses and the message
    waits, queued, for the user to sign in again.
    """
    # Two commits per message, the ones exactly-once needs: the claim (slot, phase
    # DATA and guard together) once the server took the envelope, just before the
    # body, and SENT after the server's answer. Step 1 only reads.
    now = clock()
    with session_scope(factory) as session:
        prepared = _prepare(session, message_id, box, now)
    if isinstance(prepared, DeliveryResult):
        return prepared
    claimed: list[bool] = []

    def before_data() -> None:
        _claim_before_data(factory, message_id, prepared, now)
        claimed.append(True)

    def send(server: ServerLogin) -> None:
        sender.send(server, prepared.email, before_data)

    def settle(record: Callable[[Session], DeliveryResult]) -> DeliveryResult:
        # A failure before the claim was still an attempt: it is claimed now, for the
        # record (and takes its pace slot, so a failing server is tried at the pace).
        with session_scope(factory) as session:
            if not claimed:
                pace.take(session, prepared.slot)
                if not _claim(session, message_id, prepared, now, None):
                    session.rollback()
                    return DeliveryResult(Outcome.NOT_CLAIMABLE, "another worker took it")
            return record(session)

    attempts = prepared.attempts + 1
    try:
        # An OAuth2 token is renewed when due, and once more if the server refuses it.
        prepared.login.log_in(send, tokens, clock)
    except _Withheld as withheld:
        return withheld.result
    except SignInRequired as error:
        return settle(
            partial(
                _pause_mailbox, message_id=message_id, now=clock(), text=str(error), sign_in=True
            )
        )
    except MailboxAuthFailed as error:
        return settle(partial(_pause_mailbox, message_id=message_id, now=clock(), text=str(error)))
    except (OAuthError, TemporaryFailure) as error:
        # OAuthError: the provider could not be reached to renew the token; nothing was sent.
        gave_up = clock() - prepared.first_approved > GIVE_UP_AFTER
        return settle(
            partial(
                _record_failure,
                message_id=message_id,
                now=clock(),
                attempts=attempts,
                text=str(error),
                gave_up=gave_up,
            )
        )
    except PermanentFailure as error:
        return settle(partial(_record_refusal, message_id=message_id, now=clock(), error=error))
    except DeliveryUnknown as error:
        with session_scope(factory) as session:
            row = session.get(Message, message_id)
            assert row is not None
            row.status = MessageStatus.UNKNOWN
            row.error = str(error)
            _note(session, row, "unknown", str(error), clock())
        return DeliveryResult(Outcome.UNKNOWN, str(error))

    with session_scope(factory) as session:
        now = clock()
        _record_delivered(session, message_id, prepared, now)
        following = next_on_the_same_mailbox(session, message_id, now) if look_ahead else None
    return DeliveryResult(Outcome.SENT, next_due=following)


def _record_delivered(
    session: Session, message_id: int, prepared: _Prepared, now: datetime
) -> None:
    """record_sent for the message deliver() just sent, from what step 1 read:
    the row is written without being read again.

    Its commit does not wait for the disk: should the machine lose it (a power cut,
    not a killed process), the row is left SENDING in phase DATA, which the sweep
    turns UNKNOWN and the Sent folder settles as sent (decision 0021).
    """
    commit_lazily(session)
    write_owned(session, _SENT, prepared.user_id, {"row_id": message_id, "now": now})
    write_owned(
        session,
        _SENT_EVENT,
        prepared.user_id,
        {
            "user_id": prepared.user_id,
            "kind": "sent",
            "detail": f"sent to {prepared.to_address}",
            "created_at": now,
            "contact_id": prepared.contact_id,
            "outreach_id": prepared.outreach_id,
            "message_id": message_id,
        },
    )
    if prepared.outreach_id is not None:
        # Attached as read, so the next step's clock reads them without a query.
        session.add_all(row for row in prepared.settings if row is not None)
        _move_outreach_on(session, prepared.outreach_id, prepared.kind, message_id, now)


# Built once, its values bound at each send (see `_record_delivered`): the timeline's
# "sent" line as outreach.timeline.record writes it, without the ORM's flush.
_SENT_EVENT = insert(Event)
_SENT = (
    update(Message)
    .where(Message.id == bindparam("row_id"))
    .values(
        status=MessageStatus.SENT,
        sent_at=bindparam("now"),
        error=None,
        waiting_reason=None,
        next_attempt_at=None,
    )
)


def outgoing_email(
    message: Message,
    mailbox: Mailbox,
    user: User,
    contact: Contact,
    now: datetime,
    date: datetime | None = None,
) -> OutgoingEmail:
    """What goes out for `message`; the same row always gives the same bytes.

    `date`: the claim time about to be stored with it (the send builds the email
    before it claims); otherwise the stored one, or `now`.
    """
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
        date=date or message.claimed_at or now,
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
    if message.outreach_id is not None:
        _move_outreach_on(session, message.outreach_id, message.kind, message.id, now)


_SENT_TRIGGERS = {
    MessageKind.REQUEST: Trigger.REQUEST_SENT,
    MessageKind.FOLLOW_UP: Trigger.FOLLOW_UP_SENT,
    MessageKind.THANK_YOU: Trigger.THANK_YOU_SENT,
}


def _move_outreach_on(
    session: Session, outreach_id: int, kind: MessageKind, message_id: int, now: datetime
) -> None:
    trigger = _SENT_TRIGGERS.get(kind)
    if trigger is None:
        return
    with session.no_autoflush:
        # The "sent" event waits for the commit, to go in one INSERT with the step's own.
        outreach = session.get(Outreach, outreach_id)
    if outreach is not None and can_apply(outreach.state, trigger):
        # The clock for the next step, or the keep-in-touch day, is set there.
        transition(session, outreach, trigger, now, message_id=message_id)


def _pause_mailbox(
    session: Session,
    message_id: int,
    now: datetime,
    text: str,
    sign_in: bool = False,
) -> DeliveryResult:
    """Wrong credentials: pause the mailbox's sending; the message waits, nothing is lost.

    `sign_in`: the OAuth2 grant is gone; outreach.oauth.tokens already marked the
    mailbox NEEDS_SIGN_IN, and only a new sign-in resumes sending.
    """
    message = session.get(Message, message_id)
    assert message is not None
    mailbox = session.get(Mailbox, message.mailbox_id) if message.mailbox_id else None
    if mailbox is not None:
        mailbox.status = MailboxStatus.NEEDS_SIGN_IN if sign_in else MailboxStatus.NEEDS_ATTENTION
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
    session: Session, message_id: int, now: datetime, error: PermanentFailure
) -> DeliveryResult:
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
    session: Session,
    message_id: int,
    now: datetime,
    attempts: int,
    text: str,
    gave_up: bool,
) -> DeliveryResult:
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


def next_on_the_same_mailbox(
    session: Session, message_id: int, now: datetime
) -> tuple[int, int] | None:
    """The message to send next through the mailbox that just sent `message_id`, and its
    attempts so far: waiting, due, and the mailbox's pace letting it go now. Follow-ups,
    thank-yous, answers and confirmations first, then in the order they were approved.
    None when nothing of that mailbox is due.

    The worker sends such a burst in the job that sent `message_id`, on its open session
    (workers.jobs); the claim decides as always, so a message another worker took is
    simply not sent here.
    """
    # On the connection: only reads messages and mailboxes, which nothing pending in
    # the session changes, so the session need not be flushed first.
    row = (
        session.connection()
        .execute(_NEXT_ON_THE_SAME_MAILBOX, {"sent_id": message_id, "now": now})
        .one_or_none()
    )
    return None if row is None else (row[0], row[1])


# Built once, its values bound at each send (see `next_on_the_same_mailbox`).
_NEXT_ON_THE_SAME_MAILBOX = (
    select(Message.id, Message.attempts)
    .join(Mailbox, Mailbox.id == Message.mailbox_id)
    .where(
        Message.mailbox_id
        == select(Message.mailbox_id).where(Message.id == bindparam("sent_id")).scalar_subquery(),
        Message.id != bindparam("sent_id"),
        Message.status.in_(CLAIMABLE),
        or_(Message.next_attempt_at.is_(None), Message.next_attempt_at <= bindparam("now")),
        Mailbox.sending_paused.is_(False),
        or_(Mailbox.next_send_at.is_(None), Mailbox.next_send_at <= bindparam("now")),
    )
    .order_by(case((Message.kind.in_(FIRST_IN_LINE), 0), else_=1), Message.approved_at, Message.id)
    .limit(1)
)


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
