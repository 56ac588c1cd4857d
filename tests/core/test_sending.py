"""Delivery over a real SMTP server: once, with the approved headers, or not at all."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session, sessionmaker

from outreach import drafts, targets
from outreach.connection_check import check_mailbox
from outreach.crypto import SecretBox
from outreach.db import commit_lazily
from outreach.errors import ValidationError
from outreach.mail.smtp import SmtpSender
from outreach.models import (
    Event,
    Mailbox,
    MailboxStatus,
    Message,
    MessageStatus,
    Outreach,
    SendPhase,
    Target,
)
from outreach.rules.states import OutreachState
from outreach.sending import (
    SEND_LEASE,
    Outcome,
    claim,
    deliver,
    due_for_sending,
    recover_abandoned,
    resolve_unknown,
)
from tests.conftest import World
from tests.factories import make_approved_requests, make_contact
from tests.servers.smtpd import RecordingSMTPServer


def approved_request(session: Session, world: World, now: datetime, **contact: Any) -> Message:
    (draft,) = make_approved_requests(session, world.user, now, **contact)
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


def test_wrong_password_pauses_the_mailbox_and_loses_nothing(
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
    sender = SmtpSender(world.context)

    result = deliver(session_factory, draft.id, sender, secret_box, lambda: now)

    assert result.outcome is Outcome.PAUSED
    session.expire_all()
    mailbox = session.get(Mailbox, world.mailbox.id)
    assert mailbox is not None and mailbox.status is MailboxStatus.NEEDS_ATTENTION
    assert mailbox.sending_paused and "password" in (mailbox.last_error or "")
    stored = session.get(Message, draft.id)
    assert stored is not None and stored.status is MessageStatus.QUEUED
    assert "paused" in (stored.waiting_reason or "")
    assert smtp.messages == []

    # The user fixes the password; "Test connection" succeeds and sending resumes.
    mailbox.secret_encrypted = secret_box.encrypt(world.account.password)
    report = check_mailbox(mailbox, secret_box, world.context)
    session.commit()
    later = now + timedelta(minutes=6)
    assert report.ok, report.problems
    assert deliver(session_factory, draft.id, sender, secret_box, lambda: later).outcome is (
        Outcome.SENT
    )
    assert len(smtp.wait_for(1)) == 1


def test_unknown_recipient_at_rcpt_marks_the_contact_bounced(
    session: Session,
    session_factory: sessionmaker[Session],
    world: World,
    smtp: RecordingSMTPServer,
    secret_box: SecretBox,
    now: datetime,
) -> None:
    draft = approved_request(session, world, now)
    smtp.rcpt_reply = "550 5.1.1 <nobody@org.example>: Recipient address rejected"

    result = deliver(session_factory, draft.id, SmtpSender(world.context), secret_box, lambda: now)

    assert result.outcome is Outcome.FAILED
    session.expire_all()
    stored = session.get(Message, draft.id)
    assert stored is not None and stored.status is MessageStatus.FAILED
    assert stored.error == "550 5.1.1 <nobody@org.example>: Recipient address rejected"
    outreach = session.get(Outreach, draft.outreach_id)
    assert outreach is not None and outreach.state is OutreachState.BOUNCED


def test_an_address_refused_at_rcpt_hands_its_place_to_the_next_name(
    session: Session,
    session_factory: sessionmaker[Session],
    world: World,
    smtp: RecordingSMTPServer,
    secret_box: SecretBox,
    now: datetime,
) -> None:
    draft = approved_request(session, world, now)
    outreach = session.get(Outreach, draft.outreach_id)
    assert outreach is not None
    target = session.get(Target, outreach.target_id)
    assert target is not None
    waiting = make_contact(session, world.user, email="next.name@org.example")
    targets.add_to_target(session, world.user, target, waiting.id)
    session.commit()
    smtp.rcpt_reply = "550 5.1.1 <nobody@org.example>: Recipient address rejected"

    deliver(session_factory, draft.id, SmtpSender(world.context), secret_box, lambda: now)

    # The same step as a bounce read from the inbox: the next name is drafted at once.
    session.expire_all()
    drafted = session.scalars(
        select(Message).join(Outreach).where(Outreach.contact_id == waiting.id)
    ).all()
    assert [m.status for m in drafted] == [MessageStatus.DRAFT]
    assert session.get(Outreach, draft.outreach_id).state is OutreachState.BOUNCED  # type: ignore[union-attr]


def test_421_at_data_is_retried_then_succeeds(
    session: Session,
    session_factory: sessionmaker[Session],
    world: World,
    smtp: RecordingSMTPServer,
    secret_box: SecretBox,
    now: datetime,
) -> None:
    draft = approved_request(session, world, now)
    smtp.reply_code, smtp.reply_text = 421, "4.7.0 Too busy, try later"
    sender = SmtpSender(world.context)

    assert deliver(session_factory, draft.id, sender, secret_box, lambda: now).outcome is (
        Outcome.RETRYING
    )
    smtp.reset_reply()
    session.expire_all()
    stored = session.get(Message, draft.id)
    assert stored is not None and stored.next_attempt_at is not None
    assert stored.next_attempt_at >= now + timedelta(minutes=5)
    later = stored.next_attempt_at

    assert deliver(session_factory, draft.id, sender, secret_box, lambda: later).outcome is (
        Outcome.SENT
    )
    assert len(smtp.wait_for(1)) == 1


def test_link_dropped_after_the_final_dot_is_unknown_and_never_retried(
    session: Session,
    session_factory: sessionmaker[Session],
    world: World,
    smtp: RecordingSMTPServer,
    secret_box: SecretBox,
    now: datetime,
) -> None:
    draft = approved_request(session, world, now)
    smtp.drop_after_data = True
    sender = SmtpSender(world.context)

    result = deliver(session_factory, draft.id, sender, secret_box, lambda: now)

    assert result.outcome is Outcome.UNKNOWN
    assert len(smtp.messages) == 1  # the server did get it
    smtp.reset_reply()
    much_later = now + timedelta(days=2)
    assert draft.id not in due_for_sending(session, much_later)
    assert deliver(session_factory, draft.id, sender, secret_box, lambda: much_later).outcome is (
        Outcome.NOT_CLAIMABLE
    )
    assert len(smtp.messages) == 1

    # The user looked in their Sent folder and says it went out.
    session.expire_all()
    resolve_unknown(session, world.user, draft.id, delivered=True, now=much_later)
    session.commit()
    outreach = session.get(Outreach, draft.outreach_id)
    assert outreach is not None and outreach.state is OutreachState.WAITING


def test_a_dead_workers_claim_is_sent_again_only_if_the_body_never_left(
    session: Session,
    session_factory: sessionmaker[Session],
    world: World,
    smtp: RecordingSMTPServer,
    secret_box: SecretBox,
    now: datetime,
) -> None:
    before_body = approved_request(session, world, now)
    after_body = approved_request(session, world, now)
    for message in (before_body, after_body):
        assert claim(session, message.id, now)
    after_body.send_phase = SendPhase.DATA
    session.commit()
    later = now + SEND_LEASE + timedelta(seconds=1)

    became_unknown = recover_abandoned(session, later)
    session.commit()

    assert became_unknown == [after_body.id]
    assert due_for_sending(session, later) == [before_body.id]
    sender = SmtpSender(world.context)
    assert deliver(session_factory, before_body.id, sender, secret_box, lambda: later).outcome is (
        Outcome.SENT
    )
    assert [m.message["Message-ID"] for m in smtp.wait_for(1)] == [before_body.message_id]


def test_a_claim_no_live_worker_holds_is_recovered_without_waiting_for_the_lease(
    session: Session, world: World, now: datetime
) -> None:
    held, dead = (approved_request(session, world, now) for _ in range(2))
    for message in (held, dead):
        assert claim(session, message.id, now)
    session.commit()
    seconds_later = now + timedelta(seconds=5)

    recover_abandoned(session, seconds_later, in_hand={held.id})
    session.commit()
    session.expire_all()

    assert (held.status, dead.status) == (MessageStatus.SENDING, MessageStatus.QUEUED)
    assert due_for_sending(session, seconds_later) == [dead.id]


def test_a_message_taken_by_another_worker_during_the_envelope_is_not_sent_from_here(
    session: Session,
    session_factory: sessionmaker[Session],
    world: World,
    smtp: RecordingSMTPServer,
    secret_box: SecretBox,
    now: datetime,
) -> None:
    """The claim comes just before the body: a worker that lost the message while the
    server took the envelope resets the transaction and sends nothing."""
    draft = approved_request(session, world, now, email="gil@org.example")

    class SlowWorker(SmtpSender):
        """A worker another one overtakes while it talks to the server."""

        def send(self, login: Any, message: Any, before_data: Any) -> None:
            def overtaken_then_before_data() -> None:
                with session_factory() as other:
                    assert claim(other, draft.id, now)
                    other.commit()
                before_data()

            super().send(login, message, overtaken_then_before_data)

    outcome = deliver(session_factory, draft.id, SlowWorker(world.context), secret_box, lambda: now)

    assert outcome.outcome is Outcome.NOT_CLAIMABLE
    assert smtp.messages == []
    session.expire_all()
    stored = session.get(Message, draft.id)
    # Still the other worker's, once: this one's attempt left no trace on the row.
    assert stored is not None and (stored.status, stored.attempts) == (MessageStatus.SENDING, 1)
    mailbox = session.get(Mailbox, stored.mailbox_id)
    assert mailbox is not None and mailbox.sent_day_count == 0


def test_a_sending_row_is_always_past_the_point_of_no_return(
    session: Session,
    session_factory: sessionmaker[Session],
    world: World,
    smtp: RecordingSMTPServer,
    secret_box: SecretBox,
    now: datetime,
) -> None:
    """A send claims its message in phase DATA just before the body: a worker that dies
    before that leaves the message waiting, untouched; one that dies after it leaves a
    row the sweep settles from the Sent folder, never by sending again."""
    draft = approved_request(session, world, now)
    seen: list[tuple[MessageStatus, SendPhase | None, int]] = []

    class Watching(SmtpSender):
        def send(self, login: Any, message: Any, before_data: Any) -> None:
            def watched() -> None:
                seen.append(_row_state(session_factory, draft.id))
                before_data()
                seen.append(_row_state(session_factory, draft.id))

            super().send(login, message, watched)

    outcome = deliver(session_factory, draft.id, Watching(world.context), secret_box, lambda: now)

    assert outcome.outcome is Outcome.SENT
    assert seen == [
        (MessageStatus.APPROVED, None, 0),
        (MessageStatus.SENDING, SendPhase.DATA, 1),
    ]


def _row_state(
    factory: sessionmaker[Session], message_id: int
) -> tuple[MessageStatus, SendPhase | None, int]:
    with factory() as reader:
        row = reader.execute(
            select(Message.status, Message.send_phase, Message.attempts).where(
                Message.id == message_id
            )
        ).one()
        return row[0], row[1], row[2]


def test_follow_up_threads_under_the_request(
    session: Session,
    session_factory: sessionmaker[Session],
    world: World,
    smtp: RecordingSMTPServer,
    secret_box: SecretBox,
    now: datetime,
) -> None:
    request = approved_request(session, world, now, email="fay@org.example", name="Fay Ng")
    sender = SmtpSender(world.context)
    deliver(session_factory, request.id, sender, secret_box, lambda: now)
    session.expire_all()
    outreach = session.get(Outreach, request.outreach_id)
    assert outreach is not None
    later = now + timedelta(days=8)

    follow_up = drafts.draft_follow_up(session, world.user, outreach, later)
    drafts.approve(session, world.user, follow_up.id, later)
    session.commit()
    assert deliver(session_factory, follow_up.id, sender, secret_box, lambda: later).outcome is (
        Outcome.SENT
    )

    first, second = smtp.wait_for(2)
    assert second.message["In-Reply-To"] == first.message["Message-ID"]
    assert second.message["References"] == first.message["Message-ID"]
    assert second.message["Subject"] == "Re: " + first.message["Subject"]
    with pytest.raises(ValidationError, match="one is the most"):
        drafts.draft_follow_up(session, world.user, outreach, later)


def test_header_injection_through_a_name_and_a_subject_is_harmless(
    session: Session,
    session_factory: sessionmaker[Session],
    world: World,
    smtp: RecordingSMTPServer,
    secret_box: SecretBox,
    now: datetime,
) -> None:
    draft = approved_request(session, world, now, email="eve@org.example")
    # The door refuses a line break in a name now (tests/security); a row stored before
    # that still has one, and the header building folds it.
    assert draft.contact is not None
    draft.contact.name = "Eve\r\nBcc: victim@evil.example"
    drafts.edit_draft(session, world.user, draft.id, "Hello\r\nBcc: other@evil.example", "Hi.", now)
    drafts.approve(session, world.user, draft.id, now)
    session.commit()

    deliver(session_factory, draft.id, SmtpSender(world.context), secret_box, lambda: now)

    (received,) = smtp.wait_for(1)
    assert received.rcpt_tos == ["eve@org.example"]
    head = received.raw.split(b"\r\n\r\n", 1)[0]
    assert b"\nBcc:" not in head and received.message["Bcc"] is None


def test_a_draft_with_a_missing_variable_cannot_be_approved(
    session: Session, world: World, now: datetime
) -> None:
    person = make_contact(session, world.user, how_found="")
    target = targets.create_target(session, world.user, "Archives", [person.id])
    (draft,) = targets.fill_pipeline(session, world.user, target, now)

    assert draft.needs == "how_found"
    assert draft.error is not None and "how you found" in draft.error
    with pytest.raises(ValidationError, match="it needs how you found"):
        drafts.approve(session, world.user, draft.id, now)


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


def test_the_record_of_a_send_does_not_wait_for_the_disk_and_what_follows_does(
    session_factory: sessionmaker[Session],
) -> None:
    """SENT is committed lazily (a lost one is settled from the Sent folder); the claim
    and every other write on the same pooled connection still wait for the disk."""

    def durability(session: Session) -> str:
        if session.get_bind().dialect.name == "sqlite":
            return {1: "lazy", 2: "durable"}[
                session.execute(text("PRAGMA synchronous")).scalar_one()
            ]
        value = session.execute(text("SHOW synchronous_commit")).scalar_one()
        return {"off": "lazy", "on": "durable"}[value]

    with session_factory() as recording:
        commit_lazily(recording)
        during = durability(recording)
        recording.commit()
    with session_factory() as claiming:
        after = durability(claiming)

    assert (during, after) == ("lazy", "durable")
