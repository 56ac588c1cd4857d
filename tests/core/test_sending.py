"""Delivery over a real SMTP server: once, with the approved headers, or not at all."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from outreach import drafts, targets
from outreach.crypto import SecretBox
from outreach.mail.smtp import SmtpSender
from outreach.models import Event, Mailbox, MailboxStatus, Message, MessageStatus, Outreach
from outreach.sending import Outcome, claim, deliver, due_for_sending
from outreach.states import OutreachState
from tests.conftest import World
from tests.factories import make_contact
from tests.servers.smtpd import RecordingSMTPServer


def approved_request(session: Session, world: World, now: datetime, **contact: str) -> Message:
    person = make_contact(session, world.user, **contact)
    target = targets.create_target(session, world.user, "Science policy", [person.id])
    (draft,) = targets.fill_pipeline(session, world.user, target, now)
    drafts.approve(session, world.user, draft.id, now)
    session.commit()
    return draft


def test_approved_request_is_delivered_once_with_its_headers(
    session: Session,
    session_factory: sessionmaker[Session],
    world: World,
    smtp: RecordingSMTPServer,
    secret_box: SecretBox,
    now: datetime,
) -> None:
    draft = approved_request(session, world, now, email="alex@org.example", name="Alex Lee")
    sender = SmtpSender(world.context)

    first = deliver(session_factory, draft.id, sender, secret_box, lambda: now)
    again = deliver(session_factory, draft.id, sender, secret_box, lambda: now)

    assert (first.outcome, again.outcome) == (Outcome.SENT, Outcome.NOT_CLAIMABLE)
    (received,) = smtp.wait_for(1)
    assert received.rcpt_tos == ["alex@org.example"]
    assert received.auth_user == world.account.user
    assert received.message["Message-ID"] == draft.message_id
    assert received.message["To"] == "Alex Lee <alex@org.example>"
    assert received.message["Subject"] == draft.subject
    session.expire_all()
    stored = session.get(Message, draft.id)
    assert stored is not None and stored.status is MessageStatus.SENT
    outreach = session.get(Outreach, draft.outreach_id)
    assert outreach is not None and outreach.state is OutreachState.WAITING
    assert outreach.next_step_at is not None and outreach.next_step_at > now


def test_a_claimed_message_cannot_be_claimed_again(
    session: Session, world: World, now: datetime
) -> None:
    draft = approved_request(session, world, now)
    assert claim(session, draft.id, now) is True
    assert claim(session, draft.id, now) is False


def test_a_row_left_sending_by_a_dead_worker_is_not_resent(
    session: Session,
    session_factory: sessionmaker[Session],
    world: World,
    smtp: RecordingSMTPServer,
    secret_box: SecretBox,
    now: datetime,
) -> None:
    draft = approved_request(session, world, now)
    # A worker claimed it and died before recording anything.
    assert claim(session, draft.id, now)
    session.commit()

    result = deliver(session_factory, draft.id, SmtpSender(world.context), secret_box, lambda: now)

    assert result.outcome is Outcome.NOT_CLAIMABLE
    assert smtp.messages == []
    assert draft.id not in due_for_sending(session, now)


def test_permanent_refusal_keeps_the_servers_words(
    session: Session,
    session_factory: sessionmaker[Session],
    world: World,
    smtp: RecordingSMTPServer,
    secret_box: SecretBox,
    now: datetime,
) -> None:
    draft = approved_request(session, world, now)
    smtp.reply_code, smtp.reply_text = 550, "5.1.1 No such user here"

    result = deliver(session_factory, draft.id, SmtpSender(world.context), secret_box, lambda: now)

    assert result.outcome is Outcome.FAILED
    session.expire_all()
    stored = session.get(Message, draft.id)
    assert stored is not None and stored.status is MessageStatus.FAILED
    assert stored.error == "550 5.1.1 No such user here"


def test_temporary_failure_is_retried_later_not_now(
    session: Session,
    session_factory: sessionmaker[Session],
    world: World,
    smtp: RecordingSMTPServer,
    secret_box: SecretBox,
    now: datetime,
) -> None:
    draft = approved_request(session, world, now)
    smtp.reply_code, smtp.reply_text = 451, "4.3.0 Try again later"
    sender = SmtpSender(world.context)

    first = deliver(session_factory, draft.id, sender, secret_box, lambda: now)
    too_soon = deliver(session_factory, draft.id, sender, secret_box, lambda: now)

    assert (first.outcome, too_soon.outcome) == (Outcome.RETRYING, Outcome.NOT_DUE)
    session.expire_all()
    stored = session.get(Message, draft.id)
    assert stored is not None and stored.status is MessageStatus.RETRYING
    assert stored.next_attempt_at is not None
    smtp.reset_reply()
    later = stored.next_attempt_at
    assert draft.id in due_for_sending(session, later)
    assert deliver(session_factory, draft.id, sender, secret_box, lambda: later).outcome is (
        Outcome.SENT
    )
    assert len(smtp.wait_for(1)) == 1


def test_wrong_password_marks_the_mailbox_and_keeps_the_message(
    session: Session,
    session_factory: sessionmaker[Session],
    world: World,
    smtp: RecordingSMTPServer,
    secret_box: SecretBox,
    now: datetime,
) -> None:
    draft = approved_request(session, world, now)
    world.mailbox.secret_encrypted = secret_box.encrypt("not-the-password")
    session.commit()

    result = deliver(session_factory, draft.id, SmtpSender(world.context), secret_box, lambda: now)

    assert result.outcome is Outcome.RETRYING
    session.expire_all()
    mailbox = session.get(Mailbox, world.mailbox.id)
    assert mailbox is not None and mailbox.status is MailboxStatus.NEEDS_ATTENTION
    assert "password" in (mailbox.last_error or "")
    assert smtp.messages == []


def test_do_not_contact_set_after_approval_stops_the_send(
    session: Session,
    session_factory: sessionmaker[Session],
    world: World,
    smtp: RecordingSMTPServer,
    secret_box: SecretBox,
    now: datetime,
) -> None:
    draft = approved_request(session, world, now)
    assert draft.contact is not None
    draft.contact.do_not_contact = True
    session.commit()

    result = deliver(session_factory, draft.id, SmtpSender(world.context), secret_box, lambda: now)

    assert result.outcome is Outcome.CANCELLED
    assert smtp.messages == []
    details = session.scalars(select(Event.detail).where(Event.message_id == draft.id)).all()
    assert any("do-not-contact" in detail for detail in details)
