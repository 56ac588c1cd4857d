"""The composer over HTTP: the reply quoted as text, a time added without the page's script."""

from __future__ import annotations

import html
import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from outreach.crypto import SecretBox
from outreach.models import Meeting, Message, MessageKind, Outreach, User
from outreach.sending import record_sent
from tests.browser.live import receive
from tests.conftest import NOW
from tests.factories import make_approved_requests, make_mailbox
from tests.web.conftest import Browser

HOSTILE = 'Yes! <img src=x onerror="alert(1)"> Thursday?'


def replied(session: Session, user: User, secret_box: SecretBox) -> Outreach:
    make_mailbox(session, user, secret_box)
    user.time_zone = "Europe/London"
    user.free_times = "Mon-Sun 12:00-13:00"
    (request,) = make_approved_requests(session, user, NOW, name="Ada Able")
    record_sent(session, request.id, NOW)
    receive(session, request, MessageKind.REPLY, HOSTILE, NOW)
    session.commit()
    return session.get_one(Outreach, request.outreach_id)


def slot_values(page: str) -> list[str]:
    return [
        html.unescape(value)
        for value in re.findall(r'name="slot" type="radio" value="([^"]+)"', page)
    ]


def test_the_composer_quotes_the_reply_as_text(
    signed_in: Browser, user: User, session: Session, secret_box: SecretBox
) -> None:
    outreach = replied(session, user, secret_box)

    page = signed_in.page(f"/outreaches/{outreach.id}/reply")

    assert "Re: Could I ask your advice about target 1?" in page
    assert "&gt; Yes! &lt;img src=x onerror=&#34;alert(1)&#34;&gt; Thursday?" in page
    assert "<img src=x" not in page
    assert len(slot_values(page)) == 5


def test_without_the_script_the_time_is_added_once(
    signed_in: Browser, user: User, session: Session, secret_box: SecretBox
) -> None:
    outreach = replied(session, user, secret_box)
    path = f"/outreaches/{outreach.id}/reply"
    slot = slot_values(signed_in.page(path))[0]

    response = signed_in.post(path, {"body": "Dear Ada,\n\nThank you!", "slot": slot}, page=path)

    assert response.status_code == 302
    assert response.headers["Location"].startswith("/drafts#draft-")
    draft = session.scalars(select(Message).where(Message.kind == MessageKind.ANSWER)).one()
    assert draft.body_text.count("suit you for a 30-minute conversation?") == 1
    assert draft.body_text.startswith("Dear Ada,\n\nThank you!\n\nWould ")
    assert session.scalars(select(Meeting)).one().starts_at.isoformat() == slot
    # A second answer is possible, but the composer says one is on its way.
    assert "An earlier answer to Ada is still waiting" in signed_in.page(path)


def test_a_time_no_longer_offered_is_refused(
    signed_in: Browser, user: User, session: Session, secret_box: SecretBox
) -> None:
    outreach = replied(session, user, secret_box)
    path = f"/outreaches/{outreach.id}/reply"

    response = signed_in.post(
        path, {"body": "Hello", "slot": "2026-01-01T12:00:00+00:00"}, page=path
    )

    assert response.status_code == 400
    assert "That time is no longer offered" in response.get_data(as_text=True)
    assert session.scalars(select(Message).where(Message.kind == MessageKind.ANSWER)).all() == []


def test_nobody_to_answer_goes_back_to_the_board(
    signed_in: Browser, user: User, session: Session, secret_box: SecretBox
) -> None:
    make_mailbox(session, user, secret_box)
    (request,) = make_approved_requests(session, user, NOW, name="Ben Baker")
    session.commit()

    response = signed_in.get(f"/outreaches/{request.outreach_id}/reply", follow_redirects=True)

    assert response.request.path == "/"
    assert "Ben Baker has not replied: there is nothing to answer yet." in response.get_data(
        as_text=True
    )
