"""The meetings pages: record, confirm an invitation, reschedule, cancel, notes, referrals,
export; and nobody else's meeting can be seen or touched."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from outreach import clock, meetings
from outreach.accounts import primary_mailbox
from outreach.crypto import SecretBox
from outreach.meetings import MeetingDetails, MeetingNotes, Referral
from outreach.models import (
    Contact,
    Direction,
    Meeting,
    MeetingStatus,
    Message,
    MessageKind,
    MessageStatus,
    Outreach,
    User,
)
from outreach.rules.states import OutreachState, Trigger
from outreach.sending import record_sent
from outreach.timeline import advance
from tests.factories import make_approved_requests, make_mailbox, make_user
from tests.unit.test_invitations import google_invitation
from tests.web.conftest import Browser

# The dashboard reads the real clock: meetings are placed around it.
NOW = clock.now().replace(microsecond=0)


def replied(
    session: Session, user: User, secret_box: SecretBox, name: str = "Alex Lee"
) -> Outreach:
    """A request to `name`, sent a week ago and answered."""
    if primary_mailbox(session, user) is None:
        make_mailbox(session, user, secret_box)
    sent_at = NOW - timedelta(days=7)
    (request,) = make_approved_requests(session, user, sent_at, name=name, role="Analyst")
    record_sent(session, request.id, sent_at)
    outreach = session.get_one(Outreach, request.outreach_id)
    advance(session, outreach, Trigger.REPLY_RECEIVED, sent_at, "reply received")
    session.commit()
    return outreach


def held_meeting(session: Session, user: User, outreach: Outreach) -> Meeting:
    """A meeting three days ago, taken through its end: held, thank-you drafted."""
    meeting = meetings.record_meeting(
        session, user, outreach.id, MeetingDetails(NOW - timedelta(days=3)), NOW
    )
    meetings.run_due(session, NOW - timedelta(days=3) + timedelta(minutes=31))
    session.commit()
    return meeting


def proposed(session: Session, user: User, outreach: Outreach) -> Meeting:
    message = Message(
        user_id=user.id,
        contact_id=outreach.contact_id,
        outreach_id=outreach.id,
        direction=Direction.INBOUND,
        kind=MessageKind.REPLY,
        status=MessageStatus.RECEIVED,
    )
    session.add(message)
    session.flush()
    (meeting,) = meetings.read_invitation(session, message, google_invitation(), NOW)
    session.commit()
    return meeting


@pytest.fixture
def talk(session: Session, user: User, secret_box: SecretBox) -> Outreach:
    user.time_zone = "America/New_York"
    return replied(session, user, secret_box)


def state_of(session: Session, outreach_id: int) -> OutreachState:
    session.expire_all()
    return session.get_one(Outreach, outreach_id).state


# --- recording ---------------------------------------------------------------------------------


def test_record_a_meeting_in_the_users_time_zone(
    signed_in: Browser, session: Session, talk: Outreach
) -> None:
    page = signed_in.page(f"/meetings/new?contact={talk.contact_id}")
    assert f'<option selected value="{talk.id}">Alex Lee (' in page

    response = signed_in.post(
        "/meetings",
        {
            "outreach_id": str(talk.id),
            "day": "2030-07-01",
            "start": "14:00",
            "duration_minutes": "45",
            "place": "Zoom: https://zoom.example/j/1",
        },
        page="/meetings/new",
    )

    assert response.status_code == 302
    meeting = session.scalar(select(Meeting))
    assert meeting is not None
    # 14:00 in New York in July is 18:00 UTC.
    assert meeting.starts_at == datetime.fromisoformat("2030-07-01T18:00:00+00:00")
    assert meeting.duration_minutes == 45
    assert state_of(session, talk.id) is OutreachState.MEETING_SET
    page = signed_in.page(response.headers["Location"])
    assert "Meeting with Alex Lee recorded for Mon 1 Jul 2030, 14:00." in page
    board = signed_in.page("/")
    assert 'data-state="meeting_set"' in board


def test_a_meeting_without_a_date_is_refused_with_a_reason(
    signed_in: Browser, session: Session, talk: Outreach
) -> None:
    response = signed_in.post(
        "/meetings",
        {"outreach_id": str(talk.id), "day": "", "start": "14:00", "duration_minutes": "30"},
        page="/meetings/new",
    )

    assert response.status_code == 400
    assert "Give the day of the meeting." in response.get_data(as_text=True)
    assert session.scalar(select(func.count()).select_from(Meeting)) == 0


def test_contact_page_offers_to_record_a_meeting_and_lists_them(
    signed_in: Browser, session: Session, user: User, talk: Outreach
) -> None:
    page = signed_in.page(f"/contacts/{talk.contact_id}")
    assert f'href="/meetings/new?contact={talk.contact_id}"' in page

    meeting = held_meeting(session, user, talk)

    page = signed_in.page(f"/contacts/{talk.contact_id}")
    assert f'data-meeting-id="{meeting.id}" data-status="held"' in page
    assert f'href="/meetings/{meeting.id}/notes"' in page


# --- invitations, rescheduling, cancelling -----------------------------------------------------


def test_an_invitation_waits_on_the_meetings_page_until_confirmed(
    signed_in: Browser, session: Session, user: User, talk: Outreach
) -> None:
    meeting = proposed(session, user, talk)

    page = signed_in.page("/meetings")
    assert 'id="meetings-attention-count"' in page
    assert f'data-meeting-id="{meeting.id}" data-status="proposed"' in page
    assert "https://meet.google.com/abc-defg-hij" in page

    response = signed_in.post(f"/meetings/{meeting.id}/confirm", page="/meetings")

    assert response.status_code == 302
    assert state_of(session, talk.id) is OutreachState.MEETING_SET
    page = signed_in.page("/meetings")
    assert "Meeting with Alex Lee confirmed for Thu 3 Dec 2026, 09:00." in page
    assert 'id="meetings-attention-count"' not in page


def test_dismissing_an_invitation_leaves_the_contact_replied(
    signed_in: Browser, session: Session, user: User, talk: Outreach
) -> None:
    meeting = proposed(session, user, talk)

    signed_in.post(f"/meetings/{meeting.id}/dismiss", page="/meetings")

    session.expire_all()
    assert session.get_one(Meeting, meeting.id).status is MeetingStatus.CANCELLED
    assert state_of(session, talk.id) is OutreachState.REPLIED


def test_reschedule_then_cancel(
    signed_in: Browser, session: Session, user: User, talk: Outreach
) -> None:
    meeting = meetings.record_meeting(
        session, user, talk.id, MeetingDetails(NOW + timedelta(days=10)), NOW
    )
    session.commit()
    page = signed_in.page(f"/meetings/{meeting.id}")
    assert 'name="day"' in page and 'type="date"' in page

    response = signed_in.post(
        f"/meetings/{meeting.id}",
        {
            "outreach_id": str(talk.id),
            "day": "2031-01-15",
            "start": "09:30",
            "duration_minutes": "20",
            "place": "By phone",
        },
        page=f"/meetings/{meeting.id}",
    )
    assert response.status_code == 302
    session.expire_all()
    moved = session.get_one(Meeting, meeting.id)
    assert moved.starts_at == datetime.fromisoformat("2031-01-15T14:30:00+00:00")
    assert (moved.duration_minutes, moved.place) == (20, "By phone")

    signed_in.post(f"/meetings/{meeting.id}/cancel", page=f"/meetings/{meeting.id}")

    session.expire_all()
    assert session.get_one(Meeting, meeting.id).status is MeetingStatus.CANCELLED
    assert state_of(session, talk.id) is OutreachState.REPLIED


# --- notes, the thank-you, referrals -----------------------------------------------------------


def test_notes_make_the_thank_you_ready_and_stay_text(
    signed_in: Browser, session: Session, user: User, talk: Outreach
) -> None:
    meeting = held_meeting(session, user, talk)
    page = signed_in.page(f"/meetings/{meeting.id}/notes")
    assert "Not ready yet: Write something specific from the conversation" in page
    assert "What is a typical day like?" in page

    response = signed_in.post(
        f"/meetings/{meeting.id}/notes",
        {
            "specific_detail": "your story about the <b>first</b> brief",
            "learned": "<script>alert(1)</script>",
            "answer_typical_day": "Reading, then writing.",
            "answer_advice": "Write every week.",
        },
        page=f"/meetings/{meeting.id}/notes",
    )

    assert response.status_code == 302
    page = signed_in.page(response.headers["Location"])
    assert "Notes saved. Your thank-you is ready to review in Drafts." in page
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "Reading, then writing." in page
    thank_you = session.scalar(select(Message).where(Message.kind == MessageKind.THANK_YOU))
    assert thank_you is not None and thank_you.error is None
    assert "I especially appreciated your story about the <b>first</b> brief." in (
        thank_you.body_text
    )


def test_a_referral_becomes_a_contact_whose_request_names_the_referrer(
    signed_in: Browser, session: Session, user: User, talk: Outreach
) -> None:
    meeting = held_meeting(session, user, talk)

    response = signed_in.post(
        f"/meetings/{meeting.id}/referrals",
        {
            "name": "Rosa Parks",
            "email": "rosa@agency.example",
            "role": "Director",
            "organisation": "The Agency",
            "add_to_list": "y",
        },
        page=f"/meetings/{meeting.id}/notes",
    )

    assert response.status_code == 302
    page = signed_in.page(response.headers["Location"])
    assert "Rosa Parks added to your contacts and to the end of this target&#39;s list." in page
    rosa = session.scalar(select(Contact).where(Contact.email == "rosa@agency.example"))
    assert rosa is not None and rosa.referred_by_id == talk.contact_id
    request = session.scalar(
        select(Message).where(Message.contact_id == rosa.id, Message.kind == MessageKind.REQUEST)
    )
    assert request is not None
    assert "Alex Lee suggested I get in touch with you." in request.body_text
    assert f'data-contact-id="{rosa.id}"' in page


def test_a_referral_without_an_address_is_refused(
    signed_in: Browser, session: Session, user: User, talk: Outreach
) -> None:
    meeting = held_meeting(session, user, talk)

    response = signed_in.post(
        f"/meetings/{meeting.id}/referrals",
        {"name": "Rosa Parks", "email": ""},
        page=f"/meetings/{meeting.id}/notes",
    )

    assert response.status_code == 400
    assert "Give their address." in response.get_data(as_text=True)


def test_an_overdue_thank_you_is_flagged(
    signed_in: Browser, session: Session, user: User, talk: Outreach
) -> None:
    meeting = held_meeting(session, user, talk)  # three days ago: the thank-you was due a day ago

    page = signed_in.page("/meetings")

    assert f'data-meeting-id="{meeting.id}" data-status="held" data-overdue="true"' in page
    assert "overdue since" in page
    assert 'id="meetings-attention-count"' in page


# --- interview records -------------------------------------------------------------------------


def test_export_and_print_the_interview_records(
    signed_in: Browser, session: Session, user: User, talk: Outreach
) -> None:
    meeting = held_meeting(session, user, talk)
    meetings.save_notes(
        session,
        user,
        meeting.id,
        MeetingNotes(learned="Plenty.", answers={"outlook": "Growing, slowly."}),
        NOW,
    )
    meetings.add_referral(session, user, meeting.id, Referral("Rosa Parks", "rosa@a.example"), NOW)
    session.commit()

    response = signed_in.get("/meetings/export.csv")

    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    (row,) = csv.DictReader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff")))
    assert (row["name"], row["outlook"], row["referrals"]) == (
        "Alex Lee",
        "Growing, slowly.",
        "Rosa Parks <rosa@a.example>",
    )
    page = signed_in.page(f"/meetings/{meeting.id}/print")
    assert "Interview with Alex Lee" in page
    assert "meetings.css" in page
    assert "Growing, slowly." in page and "Rosa Parks &lt;rosa@a.example&gt;" in page


# --- nobody else's meetings --------------------------------------------------------------------


@dataclass
class AlicesMeeting:
    user: User
    outreach_id: int
    meeting_id: int
    proposed_id: int


@pytest.fixture
def alice(session: Session, secret_box: SecretBox) -> AlicesMeeting:
    alice = make_user(session, name="Alice Arnold")
    first = replied(session, alice, secret_box, name="Carol Contact")
    meeting = held_meeting(session, alice, first)
    meetings.save_notes(
        session, alice, meeting.id, MeetingNotes(learned="Alice's secret notes"), NOW
    )
    second = replied(session, alice, secret_box, name="Dora Contact")
    invitation = proposed(session, alice, second)
    session.commit()
    return AlicesMeeting(alice, second.id, meeting.id, invitation.id)


def alices_meetings(session: Session) -> list[tuple[int, MeetingStatus, str, datetime]]:
    session.expire_all()
    return [
        (m.id, m.status, m.learned, m.starts_at)
        for m in session.scalars(select(Meeting).order_by(Meeting.id))
    ]


@pytest.mark.parametrize(
    "path",
    [
        "/meetings/{meeting_id}",
        "/meetings/{meeting_id}/notes",
        "/meetings/{meeting_id}/print",
        "/meetings/{proposed_id}",
    ],
)
def test_another_users_meeting_pages_are_not_found(
    signed_in: Browser, alice: AlicesMeeting, path: str
) -> None:
    response = signed_in.get(path.format(**vars(alice)))

    assert response.status_code == 404
    page = response.get_data(as_text=True)
    assert "Carol Contact" not in page and "secret notes" not in page


@pytest.mark.parametrize(
    ("path", "data"),
    [
        ("/meetings/{proposed_id}/confirm", {}),
        ("/meetings/{proposed_id}/dismiss", {}),
        ("/meetings/{proposed_id}/cancel", {}),
        (
            "/meetings/{proposed_id}",
            {"day": "2031-01-01", "start": "09:00", "duration_minutes": "30"},
        ),
        ("/meetings/{meeting_id}/notes", {"learned": "Hijacked"}),
        ("/meetings/{meeting_id}/referrals", {"name": "Eve", "email": "eve@evil.example"}),
        (
            "/meetings",
            {
                "outreach_id": "{outreach_id}",
                "day": "2031-01-01",
                "start": "09:00",
                "duration_minutes": "30",
            },
        ),
    ],
)
def test_another_users_meetings_cannot_be_changed(
    signed_in: Browser,
    alice: AlicesMeeting,
    session: Session,
    path: str,
    data: dict[str, str],
) -> None:
    before = alices_meetings(session)
    contacts = session.scalar(select(func.count()).select_from(Contact))
    form = {key: value.format(**vars(alice)) for key, value in data.items()}

    response = signed_in.post(path.format(**vars(alice)), form, page="/meetings")

    assert response.status_code == 404
    assert alices_meetings(session) == before
    assert session.scalar(select(func.count()).select_from(Contact)) == contacts
    assert state_of(session, alice.outreach_id) is OutreachState.REPLIED


def test_bob_sees_none_of_alices_meetings(signed_in: Browser, alice: AlicesMeeting) -> None:
    page = signed_in.page("/meetings")
    assert "Carol Contact" not in page and "Dora Contact" not in page
    assert 'id="meetings-attention-count"' not in page
    export = signed_in.get("/meetings/export.csv").get_data(as_text=True)
    assert "Carol" not in export and "secret" not in export
    assert "Carol Contact" not in signed_in.page("/meetings/new")


def test_a_post_without_a_token_changes_nothing(
    signed_in: Browser, session: Session, user: User, talk: Outreach
) -> None:
    meeting = proposed(session, user, talk)

    response = signed_in.client.post(f"/meetings/{meeting.id}/confirm", data={})

    assert response.status_code == 400
    session.expire_all()
    assert session.get_one(Meeting, meeting.id).status is MeetingStatus.PROPOSED
