"""The pages tell the truth (issue 14, items 4 to 6): limits said plainly, times on the
user's clock, a state shown in one place, sandbox people kept in the sandbox."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from outreach import meetings
from outreach.crypto import SecretBox
from outreach.drafts import approve
from outreach.meetings import MeetingDetails
from outreach.models import Contact, Message, Outreach, User
from outreach.rules.sandbox_addresses import PEOPLE_DOMAIN, SANDBOX_DOMAIN
from outreach.rules.states import Trigger
from outreach.sending import record_sent
from outreach.timeline import advance
from tests.factories import make_contact, make_mailbox
from tests.web.conftest import Browser, start_target
from tests.web.test_drafts_views import ready_draft  # noqa: F401  (a fixture)


def section(page: str, section_id: str) -> str:
    start = page.index(f'id="{section_id}"')
    end = page.find("</section>", start)
    return page[start:end]


# --- limits ------------------------------------------------------------------------------------


def test_a_subject_past_its_limit_is_refused_by_the_field(
    signed_in: Browser,
    ready_draft: Message,  # noqa: F811
    session: Session,
) -> None:
    response = signed_in.post(
        f"/drafts/{ready_draft.id}",
        {"subject": "S" * 301, "body": "text"},
        page=f"/drafts/{ready_draft.id}",
    )

    assert response.status_code == 400
    assert "Keep it to 300 characters or fewer." in response.get_data(as_text=True)
    session.refresh(ready_draft)
    assert ready_draft.subject.startswith("Could I ask")


def test_an_introduction_past_its_limit_is_refused_by_the_field(signed_in: Browser) -> None:
    response = signed_in.post(
        "/profile",
        {"name": "Sam", "introduction": "word " * 400, "signature": "Sam"},
        page="/profile",
    )

    assert response.status_code == 400
    assert "Keep it to 1,500 characters or fewer." in response.get_data(as_text=True)


# --- times on the user's clock, one place per state --------------------------------------------


def test_the_drafts_page_says_when_a_draft_was_written_on_the_users_clock(
    signed_in: Browser,
    ready_draft: Message,  # noqa: F811
    session: Session,
    user: User,
) -> None:
    user.time_zone = "Asia/Tokyo"
    ready_draft.created_at = datetime(2026, 12, 3, 16, 30, tzinfo=UTC)
    session.commit()

    page = signed_in.page("/drafts")

    assert "drafted 4 Dec 2026, 01:30" in page
    assert "UTC" not in section(page, "drafts")


def test_a_meeting_that_has_ended_is_held_not_coming_up(
    signed_in: Browser, session: Session, secret_box: SecretBox, user: User
) -> None:
    make_mailbox(session, user, secret_box)
    contact = make_contact(session, user, name="Alex Lee")
    _, [request] = start_target(session, user, [contact])
    now = datetime.now(UTC)
    approve(session, user, request.id, now - timedelta(days=2))
    record_sent(session, request.id, now - timedelta(days=2))
    outreach = session.get_one(Outreach, request.outreach_id)
    advance(session, outreach, Trigger.REPLY_RECEIVED, now - timedelta(days=1), "reply")
    # It began an hour ago and lasted half an hour; the sweep has not marked it held yet.
    meetings.record_meeting(
        session,
        user,
        outreach.id,
        MeetingDetails(starts_at=now - timedelta(hours=1), duration_minutes=30),
        now - timedelta(days=1),
    )
    session.commit()

    page = signed_in.page("/meetings")
    board = signed_in.page("/")

    assert "Alex Lee" not in section(page, "upcoming")
    assert "Alex Lee" in section(page, "held")
    assert "your conversation with" not in board


# --- the sandbox keeps to itself ---------------------------------------------------------------


def test_a_draft_to_a_real_person_shows_no_sandbox_sender(
    signed_in: Browser, session: Session, secret_box: SecretBox, user: User
) -> None:
    """Only the sandbox mailbox is connected: a real address has no sender, said in words."""
    make_mailbox(session, user, secret_box, email_address=f"sam.9@{SANDBOX_DOMAIN}")
    real = make_contact(session, user, name="Rosa Real", email="rosa@agency.example")
    _, [draft] = start_target(session, user, [real])
    session.commit()

    page = signed_in.page("/drafts")
    article = page[page.index(f'id="draft-{draft.id}"') :]
    article = article[: article.index("</article>")]

    assert SANDBOX_DOMAIN not in article.split('class="from"')[1].split("</dd>")[0]
    assert "it is a real person, and your sandbox mailbox only writes to sandbox people" in article
    assert 'data-action="approve"\n                    disabled' in article


def test_a_name_suggested_in_a_sandbox_meeting_gets_a_sandbox_address(
    signed_in: Browser, session: Session, secret_box: SecretBox, user: User
) -> None:
    make_mailbox(session, user, secret_box, email_address=f"sam.8@{SANDBOX_DOMAIN}")
    pretend = make_contact(session, user, name="Maya Chen", email=f"agrees.maya@{PEOPLE_DOMAIN}")
    _, [request] = start_target(session, user, [pretend])
    now = datetime.now(UTC)
    approve(session, user, request.id, now - timedelta(days=2))
    record_sent(session, request.id, now - timedelta(days=2))
    outreach = session.get_one(Outreach, request.outreach_id)
    advance(session, outreach, Trigger.REPLY_RECEIVED, now - timedelta(days=1), "reply")
    meeting = meetings.record_meeting(
        session,
        user,
        outreach.id,
        MeetingDetails(starts_at=now - timedelta(hours=2), duration_minutes=30),
        now - timedelta(days=1),
    )
    session.commit()

    notes = signed_in.page(f"/meetings/{meeting.id}/notes")
    assert "they get a sandbox address" in notes
    response = signed_in.post(
        f"/meetings/{meeting.id}/referrals",
        {"name": "Rosa Parks", "email": "rosa.parks@agency.example", "add_to_list": "y"},
        page=f"/meetings/{meeting.id}/notes",
        follow_redirects=True,
    )

    assert response.status_code == 200
    shown = response.get_data(as_text=True)
    assert f"In the sandbox they are written to at agrees.rosa.parks@{PEOPLE_DOMAIN}" in shown
    emails = set(session.scalars(select(Contact.email).where(Contact.user_id == user.id)))
    assert "rosa.parks@agency.example" not in emails
    assert f"agrees.rosa.parks@{PEOPLE_DOMAIN}" in emails
