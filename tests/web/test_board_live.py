"""The board's live fragment, and the "needs your attention today" panel above the board."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from flask import Flask
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from outreach import clock, meetings
from outreach.crypto import SecretBox
from outreach.meetings import MeetingDetails
from outreach.models import (
    Direction,
    Mailbox,
    MailboxStatus,
    Meeting,
    MeetingStatus,
    Message,
    MessageKind,
    MessageStatus,
    Outreach,
    User,
)
from outreach.reading.matching import POSSIBLE_REPLY
from outreach.rules.states import Trigger
from outreach.sending import record_sent
from outreach.timeline import advance
from tests.conftest import NOW
from tests.factories import make_approved_requests, make_contact, make_mailbox, make_user
from tests.web.conftest import PASSWORD, Browser, start_target
from tests.web.test_board import rows

LIVE = "/board/live"


def version_on_page(page: str) -> str:
    found = re.search(
        r'<div id="board-live" data-live-url="/board/live" data-version="(\w+)"', page
    )
    assert found is not None, "the board has no live part"
    return found.group(1)


def queries_for(app: Flask, browser: Browser, path: str, **options: Any) -> tuple[int, int]:
    """The number of SQL statements a GET ran, and its status code."""
    statements: list[str] = []

    def note(*args: Any) -> None:
        statements.append(args[2])

    engine = app.extensions["outreach"].engine
    event.listen(engine, "before_cursor_execute", note)
    try:
        status = browser.get(path, **options).status_code
    finally:
        event.remove(engine, "before_cursor_execute", note)
    return len(statements), status


def waiting_request(session: Session, user: User, secret_box: SecretBox, name: str) -> Outreach:
    if not user_has_mailbox(session, user):
        make_mailbox(session, user, secret_box)
    (request,) = make_approved_requests(session, user, NOW, name=name)
    record_sent(session, request.id, NOW)
    session.commit()
    return session.get_one(Outreach, request.outreach_id)


def user_has_mailbox(session: Session, user: User) -> bool:
    return session.scalar(select(Mailbox.id).where(Mailbox.user_id == user.id)) is not None


def test_the_live_fragment_needs_a_login(browser: Browser) -> None:
    response = browser.get(LIVE)

    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


def test_an_unchanged_board_answers_304_after_reading_only_the_user(
    app: Flask, signed_in: Browser, user: User, session: Session, secret_box: SecretBox
) -> None:
    waiting_request(session, user, secret_box, "Ada Able")
    page = signed_in.page("/")
    version = version_on_page(page)

    # The page's version is the fragment's ETag: the first check already costs nothing.
    response = signed_in.get(LIVE, headers={"If-None-Match": f'"{version}"'})
    assert response.status_code == 304
    assert response.get_data() == b""
    assert response.headers["ETag"] == f'"{version}"'
    assert "no-cache" in response.headers["Cache-Control"]

    # Loading the signed-in user, whose row holds the version: nothing else.
    count, status = queries_for(app, signed_in, LIVE, headers={"If-None-Match": f'"{version}"'})
    assert (count, status) == (1, 304)


def test_a_changed_board_sends_the_new_rows_and_a_new_version(
    signed_in: Browser, user: User, session: Session, secret_box: SecretBox
) -> None:
    outreach = waiting_request(session, user, secret_box, "Ada Able")
    version = version_on_page(signed_in.page("/"))

    # The poller stores a reply.
    advance(session, outreach, Trigger.REPLY_RECEIVED, NOW, "reply received")
    session.commit()
    response = signed_in.get(LIVE, headers={"If-None-Match": f'"{version}"'})

    assert response.status_code == 200
    fragment = response.get_data(as_text=True)
    assert rows(fragment) == [(outreach.contact_id, "replied")]
    assert response.headers["ETag"] != f'"{version}"'
    new_version = response.headers["ETag"].strip('"')
    assert f'data-version="{new_version}"' in fragment
    # The parts to swap, and nothing of the page around them.
    for region in ("board-head-actions", "attention", "board-progress", "board-rows"):
        assert f'id="{region}"' in fragment
    assert "<html" not in fragment and 'id="board-filter"' not in fragment
    assert signed_in.get(LIVE, headers={"If-None-Match": f'"{new_version}"'}).status_code == 304


def test_the_fragment_keeps_the_filter_and_page(
    signed_in: Browser, user: User, session: Session, secret_box: SecretBox
) -> None:
    ada = waiting_request(session, user, secret_box, "Ada Able")
    ben = waiting_request(session, user, secret_box, "Ben Baker")
    advance(session, ben, Trigger.REPLY_RECEIVED, NOW, "reply received")
    session.commit()

    assert rows(signed_in.get(f"{LIVE}?state=waiting").get_data(as_text=True)) == [
        (ada.contact_id, "waiting")
    ]
    assert rows(signed_in.get(f"{LIVE}?target={ben.target_id}").get_data(as_text=True)) == [
        (ben.contact_id, "replied")
    ]
    # The ETag depends on the filter: one filter's version is no answer for another.
    everyone = signed_in.get(LIVE).headers["ETag"]
    assert signed_in.get(f"{LIVE}?state=waiting").headers["ETag"] != everyone


def test_the_fragment_shows_only_the_users_own_board(
    signed_in: Browser, user: User, session: Session, secret_box: SecretBox
) -> None:
    mine = waiting_request(session, user, secret_box, "Ada Able")
    stranger = make_user(session, password=PASSWORD)
    theirs = waiting_request(session, stranger, secret_box, "Zed Stranger")
    version = version_on_page(signed_in.page("/"))

    fragment = signed_in.get(LIVE).get_data(as_text=True)
    assert rows(fragment) == [(mine.contact_id, "waiting")]
    assert "Zed Stranger" not in fragment
    # Their target in the filter shows nothing of theirs.
    filtered = signed_in.get(f"{LIVE}?target={theirs.target_id}").get_data(as_text=True)
    assert "Zed Stranger" not in filtered

    # Their reply does not change my version.
    advance(session, theirs, Trigger.REPLY_RECEIVED, NOW, "reply received")
    session.commit()
    assert signed_in.get(LIVE, headers={"If-None-Match": f'"{version}"'}).status_code == 304


def test_a_board_with_no_names_left_tells_the_script_to_reload(signed_in: Browser) -> None:
    fragment = signed_in.get(LIVE).get_data(as_text=True)

    assert 'data-layout="first-steps"' in fragment
    assert 'id="board-rows"' not in fragment


# --- Needs your attention today ----------------------------------------------------------------


def attention_items(page: str) -> list[str]:
    panel = re.search(r'<section id="attention".*?</section>', page, re.S)
    assert panel is not None, "no attention panel"
    return re.findall(r'data-item="([\w-]+)"', panel.group(0))


def test_a_quiet_day_says_all_is_done(
    signed_in: Browser, user: User, session: Session, secret_box: SecretBox
) -> None:
    waiting_request(session, user, secret_box, "Ada Able")

    page = signed_in.page("/")

    assert attention_items(page) == ["all-done"]
    assert "All done: nothing needs you right now." in page


def test_each_thing_to_do_is_a_sentence_with_a_link(
    signed_in: Browser, user: User, session: Session, secret_box: SecretBox
) -> None:
    outreach = waiting_request(session, user, secret_box, "Ada Able")
    advance(session, outreach, Trigger.REPLY_RECEIVED, NOW, "reply received")
    start_target(session, user, [make_contact(session, user, name="Ben Baker")], name="Botany")
    session.scalars(
        select(Mailbox).where(Mailbox.user_id == user.id)
    ).one().status = MailboxStatus.NEEDS_ATTENTION
    session.commit()

    page = signed_in.page("/")

    assert attention_items(page) == ["mailbox", "drafts", "reply"]
    assert '<a href="/drafts">1 draft</a>\n          waits for your approval.' in page
    assert re.search(
        rf'<a href="/contacts/{outreach.contact_id}">Ada Able replied on 24 Nov 2026</a>\s+'
        r"\(Target \d+\): answer and agree a time to talk\.",
        page,
    )
    assert "has a problem:" in page


def test_meetings_thank_yous_and_invitations_link_to_their_meeting(
    signed_in: Browser, user: User, session: Session, secret_box: SecretBox
) -> None:
    moment = clock.now()
    soon, met, invited = (
        waiting_request(session, user, secret_box, name) for name in ("Cy Soon", "Di Met", "Ed Inv")
    )
    coming = meetings.record_meeting(
        session, user, soon.id, MeetingDetails(moment + timedelta(minutes=10), 30, "Cafe"), moment
    )
    held_at = moment - timedelta(days=5)
    held = meetings.record_meeting(session, user, met.id, MeetingDetails(held_at, 30), held_at)
    meetings.run_due(session, held_at + timedelta(minutes=31))
    advance(session, invited, Trigger.REPLY_RECEIVED, NOW, "reply received")
    # What reading a calendar invitation in a reply stores: a meeting to confirm.
    session.add(
        Meeting(
            user_id=user.id,
            outreach_id=invited.id,
            contact_id=invited.contact_id,
            starts_at=moment + timedelta(days=9),
            status=MeetingStatus.PROPOSED,
            source="invitation",
        )
    )
    session.commit()

    page = signed_in.page("/")

    # The thank-you draft waits for something specific from the conversation.
    assert attention_items(page) == ["meeting", "thank-you", "blocked-drafts", "invitations"]
    assert f'<a href="/meetings/{coming.id}">your conversation with Cy Soon</a> (Cafe).' in page
    assert f"You met Di Met on {held_at.day} " in page
    assert f'<a href="/meetings/{held.id}">send it now</a>' in page
    assert '<a href="/meetings">1 calendar invitation</a>' in page
    # An invitation waiting to be confirmed is not a reply nobody answered.
    assert "reply" not in attention_items(page)


def test_a_possible_reply_links_to_the_message_to_confirm(
    signed_in: Browser, user: User, session: Session, secret_box: SecretBox
) -> None:
    outreach = waiting_request(session, user, secret_box, "Ada Able")
    # What the poller stores for a colleague's answer matched by the domain alone.
    colleague = Message(
        user_id=user.id,
        contact_id=outreach.contact_id,
        outreach_id=outreach.id,
        direction=Direction.INBOUND,
        kind=MessageKind.REPLY,
        status=MessageStatus.RECEIVED,
        from_address="assistant@org.example",
        received_at=NOW,
        match_rule=POSSIBLE_REPLY,
    )
    session.add(colleague)
    session.commit()

    page = signed_in.page("/")

    assert attention_items(page) == ["possible-reply"]
    assert "A message from assistant@org.example may be a reply from Ada Able:" in page
    assert (
        f'<a href="/contacts/{outreach.contact_id}#message-{colleague.id}">say whether it is</a>'
        in page
    )
