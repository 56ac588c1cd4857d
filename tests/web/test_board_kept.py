"""The board is rendered once and kept until its user's data changes (web.page_cache).

Whatever changes the user's data shows on the next board, whichever process or use
case wrote it; no one is ever served another's board, nor another sign-in's token.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from flask import Flask
from sqlalchemy.orm import Session, sessionmaker

from outreach import clock
from outreach.config import Settings
from outreach.crypto import SecretBox
from outreach.drafts import approve
from outreach.meetings.scheduling import MeetingDetails, record_meeting
from outreach.models import Contact, User
from outreach.rules.states import Trigger
from outreach.timeline import advance
from tests.conftest import NOW
from tests.factories import make_contact, make_user
from tests.web.conftest import PASSWORD, Browser, build_app, csrf_token_in, start_target
from tests.web.test_board import rows
from tests.web.test_board_live import waiting_request


def kept_hits(app: Flask) -> int:
    hits: int = app.extensions["outreach"].board_pages.hits
    return hits


def test_an_unchanged_board_is_served_kept(
    app: Flask, signed_in: Browser, user: User, session: Session, secret_box: SecretBox
) -> None:
    waiting_request(session, user, secret_box, "Ada Able")
    first = signed_in.page("/")
    hits = kept_hits(app)

    assert signed_in.page("/") == first
    assert kept_hits(app) == hits + 1


def test_every_write_to_the_users_data_shows_on_the_next_board(
    app: Flask,
    signed_in: Browser,
    user: User,
    session: Session,
    session_factory: sessionmaker[Session],
    secret_box: SecretBox,
) -> None:
    outreach = waiting_request(session, user, secret_box, "Ada Able")
    assert "Ada Able" in signed_in.page("/")
    signed_in.page("/")  # kept from here on

    # The contact edited.
    session.get_one(Contact, outreach.contact_id).name = "Ada Baker"
    session.commit()
    assert "Ada Baker" in signed_in.page("/")

    # A reply recorded by the poller, through its own session (another process).
    with session_factory() as poller:
        advance(poller, poller.merge(outreach), Trigger.REPLY_RECEIVED, NOW, "reply received")
        poller.commit()
    assert rows(signed_in.page("/")) == [(outreach.contact_id, "replied")]

    # A meeting agreed.
    record_meeting(session, user, outreach.id, MeetingDetails(NOW + timedelta(days=2)), clock.now())
    session.commit()
    assert rows(signed_in.page("/")) == [(outreach.contact_id, "meeting_set")]

    # A new draft approved.
    _, (draft,) = start_target(session, user, [make_contact(session, user, name="Ben Baker")])
    session.commit()
    assert (draft.contact_id, "drafted") in rows(signed_in.page("/"))
    assert "in the outbox, waiting to be sent" not in signed_in.page("/")
    approve(session, user, draft.id, clock.now())
    session.commit()
    assert "in the outbox, waiting to be sent" in signed_in.page("/")


def test_two_users_never_see_each_others_kept_board(
    app: Flask, signed_in: Browser, user: User, session: Session, secret_box: SecretBox
) -> None:
    waiting_request(session, user, secret_box, "Ada Able")
    other = make_user(session, password=PASSWORD)
    waiting_request(session, other, secret_box, "Zed Zimmer")
    second = Browser(app.test_client())
    assert second.login(other.email).status_code == 302

    for _ in range(2):  # the second round is served kept
        mine, theirs = signed_in.page("/"), second.page("/")
        assert "Ada Able" in mine and "Zed Zimmer" not in mine
        assert "Zed Zimmer" in theirs and "Ada Able" not in theirs


def test_each_sign_in_gets_its_own_working_token_on_a_kept_board(
    app: Flask, signed_in: Browser, user: User
) -> None:
    first = signed_in.page("/")
    elsewhere = Browser(app.test_client())
    assert elsewhere.login(user.email).status_code == 302
    elsewhere.page("/")
    page = elsewhere.page("/")  # kept

    assert csrf_token_in(page) != csrf_token_in(first)
    response = elsewhere.client.post("/logout", data={"csrf_token": csrf_token_in(page)})
    assert response.status_code == 302


def test_a_message_shows_once_and_the_kept_board_has_none(
    app: Flask, signed_in: Browser, user: User, session: Session
) -> None:
    signed_in.page("/")
    signed_in.page("/")
    with signed_in.client.session_transaction() as cookie:
        cookie["_flashes"] = [("success", "Saved, just once.")]

    assert "Saved, just once." in signed_in.page("/")
    assert "Saved, just once." not in signed_in.page("/")


@pytest.fixture
def second_process(settings: Settings) -> Iterator[Flask]:
    """Another web process on the same database, with its own kept pages."""
    yield from build_app(settings)


def test_each_process_sees_a_write_made_anywhere(
    app: Flask,
    second_process: Flask,
    signed_in: Browser,
    user: User,
    session: Session,
    secret_box: SecretBox,
) -> None:
    outreach = waiting_request(session, user, secret_box, "Ada Able")
    other = Browser(second_process.test_client())
    assert other.login(user.email).status_code == 302
    for browser in (signed_in, other, signed_in, other):
        assert rows(browser.page("/")) == [(outreach.contact_id, "waiting")]

    advance(session, outreach, Trigger.REPLY_RECEIVED, NOW, "reply received")
    session.commit()

    assert rows(signed_in.page("/")) == [(outreach.contact_id, "replied")]
    assert rows(other.page("/")) == [(outreach.contact_id, "replied")]


def test_a_sign_in_carries_its_token_from_its_first_cookie(app: Flask, user: User) -> None:
    browser = Browser(app.test_client())
    assert browser.login(user.email).status_code == 302

    # A client that keeps sending the sign-in's cookie gets kept boards, not one each.
    with browser.client.session_transaction() as cookie:
        assert cookie.get("csrf_token")
    browser.page("/")
    hits = kept_hits(app)
    browser.page("/")
    assert kept_hits(app) == hits + 1
