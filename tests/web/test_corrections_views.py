"""The contact page: why each message was matched, possible replies, and corrections."""

from __future__ import annotations

import html
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from outreach.crypto import SecretBox
from outreach.models import (
    Direction,
    Message,
    MessageKind,
    MessageStatus,
    Outreach,
    User,
)
from outreach.rules.states import OutreachState, Trigger
from outreach.sending import record_sent
from outreach.timeline import note_message
from outreach.transitions import transition
from tests.factories import make_approved_requests, make_mailbox, make_user
from tests.web.conftest import PASSWORD, Browser

NOW = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)


def sent_request(session: Session, user: User, secret_box: SecretBox) -> Message:
    make_mailbox(session, user, secret_box)
    (request,) = make_approved_requests(session, user, NOW)
    record_sent(session, request.id, NOW)
    session.commit()
    return request


def received(
    session: Session, request: Message, *, sender: str, rule: str, body: str = "Happy to talk."
) -> Message:
    """A stored answer to `request`, as the poller leaves it."""
    message = Message(
        user_id=request.user_id,
        mailbox_id=request.mailbox_id,
        contact_id=request.contact_id,
        outreach_id=request.outreach_id,
        direction=Direction.INBOUND,
        kind=MessageKind.REPLY,
        status=MessageStatus.RECEIVED,
        message_id=f"<answer-{request.id}-{rule}@org.example>",
        from_address=sender,
        to_address=request.from_address,
        subject=f"Re: {request.subject}",
        body_text=body,
        received_at=NOW + timedelta(hours=1),
        match_rule=rule,
    )
    session.add(message)
    session.flush()
    outreach = session.get(Outreach, request.outreach_id)
    assert outreach is not None
    if rule == "domain":
        note_message(session, message, "inbound:possible_reply", "possible reply", NOW)
    else:
        transition(session, outreach, Trigger.REPLY_RECEIVED, NOW, "reply received", message.id)
    session.commit()
    return message


def state_of(session: Session, request: Message) -> OutreachState:
    session.expire_all()
    outreach = session.get(Outreach, request.outreach_id)
    assert outreach is not None
    return outreach.state


def test_the_timeline_says_why_a_message_was_matched(
    signed_in: Browser, session: Session, user: User, secret_box: SecretBox
) -> None:
    request = sent_request(session, user, secret_box)
    received(session, request, sender=request.to_address, rule="thread")

    page = html.unescape(signed_in.page(f"/contacts/{request.contact_id}"))

    assert "it answers the thread of a message you sent" in page
    assert "Read wrongly?" in page


def test_a_possible_reply_is_confirmed_with_one_click(
    signed_in: Browser, session: Session, user: User, secret_box: SecretBox
) -> None:
    request = sent_request(session, user, secret_box)
    possible = received(session, request, sender="assistant@org.example", rule="domain")
    contact_page = f"/contacts/{request.contact_id}"
    page = html.unescape(signed_in.page(contact_page))
    assert "Possible reply." in page and "assistant@org.example" in page
    assert state_of(session, request) is OutreachState.WAITING

    response = signed_in.post(
        f"{contact_page}/messages/{possible.id}/correction", {"verdict": "reply"}, page=contact_page
    )

    assert response.status_code == 302
    assert state_of(session, request) is OutreachState.REPLIED
    page = html.unescape(signed_in.page(contact_page))
    assert "Possible reply." not in page
    assert "you confirmed it" in page


def test_a_correction_to_an_automatic_reply_puts_the_contact_back_to_waiting(
    signed_in: Browser, session: Session, user: User, secret_box: SecretBox
) -> None:
    request = sent_request(session, user, secret_box)
    message = received(session, request, sender=request.to_address, rule="thread")
    contact_page = f"/contacts/{request.contact_id}"

    signed_in.post(
        f"{contact_page}/messages/{message.id}/correction",
        {"verdict": "auto_reply"},
        page=contact_page,
    )

    assert state_of(session, request) is OutreachState.WAITING
    session.expire_all()
    stored = session.get(Message, message.id)
    assert stored is not None and stored.kind is MessageKind.AUTO_REPLY
    page = html.unescape(signed_in.page(contact_page))
    assert "Noted: that message is an automatic reply" in page


def test_a_correction_without_its_csrf_token_is_refused(
    signed_in: Browser, session: Session, user: User, secret_box: SecretBox
) -> None:
    request = sent_request(session, user, secret_box)
    message = received(session, request, sender=request.to_address, rule="thread")

    response = signed_in.client.post(
        f"/contacts/{request.contact_id}/messages/{message.id}/correction",
        data={"verdict": "not_related"},
    )

    assert response.status_code == 400
    assert state_of(session, request) is OutreachState.REPLIED


def test_another_user_cannot_correct_or_see_the_message(
    browser: Browser, session: Session, user: User, secret_box: SecretBox
) -> None:
    request = sent_request(session, user, secret_box)
    message = received(session, request, sender=request.to_address, rule="thread")
    intruder = make_user(session, password=PASSWORD)
    session.commit()
    browser.login(intruder.email)

    response = browser.post(
        f"/contacts/{request.contact_id}/messages/{message.id}/correction",
        {"verdict": "not_related"},
    )

    assert response.status_code == 404
    assert state_of(session, request) is OutreachState.REPLIED
    kinds = session.scalars(select(Message.kind).where(Message.id == message.id)).all()
    assert kinds == [MessageKind.REPLY]
