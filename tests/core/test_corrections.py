"""Possible replies (matched by domain only) and the user's corrections, against a real Dovecot.

A correction must drive the cycle exactly as the detection would have: these tests
check the outreach's state, its clock and the next name, not just a label.
"""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from outreach import drafts, targets
from outreach.corrections import Verdict, correct, current_verdict, pending_possible_replies
from outreach.crypto import SecretBox
from outreach.errors import NotFound, ValidationError
from outreach.mail.smtp import SmtpSender
from outreach.models import Event, Message, MessageKind, MessageStatus, Outreach
from outreach.rules.cycle import UTC_CALENDAR
from outreach.rules.states import OutreachState, Trigger
from outreach.sending import Outcome, deliver
from outreach.timeline import advance
from tests.conftest import World
from tests.core.test_watching import poll, reply_to, sent_request, state_of
from tests.factories import make_contact, make_user
from tests.servers.dovecot import DovecotServer

UNTHREADED = {"In-Reply-To": "", "References": ""}


def inbound(session: Session) -> list[Message]:
    session.expire_all()
    query = select(Message).where(Message.status == MessageStatus.RECEIVED).order_by(Message.id)
    return list(session.scalars(query))


def outreach_of(session: Session, message: Message) -> Outreach:
    session.expire_all()
    outreach = session.get(Outreach, message.outreach_id)
    assert outreach is not None
    return outreach


def test_a_colleague_at_the_same_domain_is_a_possible_reply_until_confirmed(
    session: Session,
    session_factory: sessionmaker[Session],
    world: World,
    dovecot: DovecotServer,
    secret_box: SecretBox,
    now: datetime,
) -> None:
    request = sent_request(session, world, now, "alex@org.example", secret_box)
    answer = reply_to(
        request, sender="assistant@ORG.example", body="Alex asked me to find a time.", **UNTHREADED
    )
    dovecot.deliver(answer, world.account.user)

    poll(session_factory, world, secret_box, now)

    [possible] = inbound(session)
    assert possible.match_rule == "domain"
    # Nothing moves on a guess: the clock still runs, the state is unchanged.
    assert state_of(session, request) is OutreachState.WAITING
    assert outreach_of(session, request).next_step_at is not None
    [pending] = pending_possible_replies(session, world.user)
    assert (pending.sender, pending.contact_id) == ("assistant@org.example", request.contact_id)
    notes = session.scalars(select(Event.detail).where(Event.kind == "inbound:possible_reply"))
    assert any("confirm or dismiss" in note for note in notes)

    correct(session, world.user, possible.id, Verdict.REPLY, now)
    session.commit()

    assert state_of(session, request) is OutreachState.REPLIED
    assert outreach_of(session, request).next_step_at is None
    assert inbound(session)[0].match_rule == "domain, confirmed by you"
    assert pending_possible_replies(session, world.user) == []


def test_dismissing_a_possible_reply_changes_nothing_else(
    session: Session,
    session_factory: sessionmaker[Session],
    world: World,
    dovecot: DovecotServer,
    secret_box: SecretBox,
    now: datetime,
) -> None:
    request = sent_request(session, world, now, "bea@org.example", secret_box)
    clock = outreach_of(session, request).next_step_at
    newsletter = reply_to(
        request, sender="news@org.example", body="Our quarterly update", **UNTHREADED
    )
    dovecot.deliver(newsletter, world.account.user)
    poll(session_factory, world, secret_box, now)
    [possible] = inbound(session)

    correct(session, world.user, possible.id, Verdict.NOT_RELATED, now)
    session.commit()

    assert state_of(session, request) is OutreachState.WAITING
    assert outreach_of(session, request).next_step_at == clock
    assert inbound(session)[0].match_rule == "domain, dismissed by you"
    assert current_verdict(session, inbound(session)[0]) is Verdict.NOT_RELATED
    assert pending_possible_replies(session, world.user) == []


def test_a_stranger_at_a_public_mail_domain_is_not_a_possible_reply(
    session: Session,
    session_factory: sessionmaker[Session],
    world: World,
    dovecot: DovecotServer,
    secret_box: SecretBox,
    now: datetime,
) -> None:
    request = sent_request(session, world, now, "alex.private@gmail.com", secret_box)
    spam = reply_to(request, sender="stranger@gmail.com", body="Hello friend", **UNTHREADED)
    dovecot.deliver(spam, world.account.user)

    poll(session_factory, world, secret_box, now)

    assert inbound(session) == []
    assert state_of(session, request) is OutreachState.WAITING


def test_a_misread_auto_reply_corrected_puts_the_clock_back_where_it_was(
    session: Session,
    session_factory: sessionmaker[Session],
    world: World,
    dovecot: DovecotServer,
    secret_box: SecretBox,
    now: datetime,
) -> None:
    request = sent_request(session, world, now, "cal@org.example", secret_box)
    # No auto-reply header and a human-sounding text: read as a person's reply.
    dovecot.deliver(
        reply_to(request, sender="cal@org.example", body="Thanks, I will be back on 14 December."),
        world.account.user,
    )
    poll(session_factory, world, secret_box, now)
    assert state_of(session, request) is OutreachState.REPLIED
    [message] = inbound(session)

    correct(session, world.user, message.id, Verdict.AUTO_REPLY, now)
    session.commit()

    outreach = outreach_of(session, request)
    assert outreach.state is OutreachState.WAITING
    # Waiting since the request went out, not since the correction: "day N of 5" stays true.
    assert outreach.state_changed_at == request.sent_at
    assert inbound(session)[0].kind is MessageKind.AUTO_REPLY
    # The follow-up clock is back, pushed past the return date the text gives.
    wait_ends = UTC_CALENDAR.add(request.sent_at or now, 5)
    assert outreach.next_step_at is not None and outreach.next_step_at > wait_ends
    assert outreach.away_until is not None and outreach.away_until.isoformat() == "2026-12-14"

    # The same correction again changes nothing.
    before = session.scalars(select(Event.id)).all()
    correct(session, world.user, message.id, Verdict.AUTO_REPLY, now)
    session.commit()
    assert session.scalars(select(Event.id)).all() == before


def test_a_reply_corrected_to_a_decline_moves_to_the_next_name_at_once(
    session: Session,
    session_factory: sessionmaker[Session],
    world: World,
    dovecot: DovecotServer,
    secret_box: SecretBox,
    now: datetime,
) -> None:
    first = make_contact(session, world.user, email="dan@org.example", name="Dan Ode")
    second = make_contact(session, world.user, email="eve@other.example", name="Eve Park")
    target = targets.create_target(session, world.user, "Policy", [first.id, second.id])
    (draft,) = targets.fill_pipeline(session, world.user, target, now)
    drafts.approve(session, world.user, draft.id, now)
    world.mailbox.min_gap_seconds = world.mailbox.max_gap_seconds = 0
    session.commit()
    factory = sessionmaker(session.get_bind(), expire_on_commit=False)
    assert deliver(
        factory, draft.id, SmtpSender(world.context), secret_box, lambda: now
    ).outcome is (Outcome.SENT)
    session.refresh(draft)
    dovecot.deliver(
        reply_to(draft, sender="dan@org.example", body="Thanks, let me look at my calendar."),
        world.account.user,
    )
    poll(session_factory, world, secret_box, now)
    assert state_of(session, draft) is OutreachState.REPLIED
    [message] = inbound(session)

    correct(session, world.user, message.id, Verdict.DECLINE, now)
    session.commit()

    assert state_of(session, draft) is OutreachState.DECLINED
    next_drafts = session.scalars(
        select(Message).where(
            Message.contact_id == second.id,
            Message.kind == MessageKind.REQUEST,
            Message.status == MessageStatus.DRAFT,
        )
    ).all()
    assert len(next_drafts) == 1


def test_a_correction_is_refused_once_the_contact_has_moved_on(
    session: Session,
    session_factory: sessionmaker[Session],
    world: World,
    dovecot: DovecotServer,
    secret_box: SecretBox,
    now: datetime,
) -> None:
    request = sent_request(session, world, now, "fay@org.example", secret_box)
    dovecot.deliver(reply_to(request, sender="fay@org.example"), world.account.user)
    poll(session_factory, world, secret_box, now)
    [message] = inbound(session)
    outreach = outreach_of(session, request)
    advance(session, outreach, Trigger.MEETING_SET, now, "meeting on Thursday")
    session.commit()

    with pytest.raises(ValidationError, match="moved on"):
        correct(session, world.user, message.id, Verdict.AUTO_REPLY, now)
    session.rollback()
    assert state_of(session, request) is OutreachState.MEETING_SET


def test_nobody_can_correct_another_users_message(
    session: Session,
    session_factory: sessionmaker[Session],
    world: World,
    dovecot: DovecotServer,
    secret_box: SecretBox,
    now: datetime,
) -> None:
    request = sent_request(session, world, now, "gus@org.example", secret_box)
    dovecot.deliver(reply_to(request, sender="gus@org.example"), world.account.user)
    poll(session_factory, world, secret_box, now)
    [message] = inbound(session)
    stranger = make_user(session)
    session.commit()

    with pytest.raises(NotFound):
        correct(session, stranger, message.id, Verdict.NOT_RELATED, now)
    assert state_of(session, request) is OutreachState.REPLIED
