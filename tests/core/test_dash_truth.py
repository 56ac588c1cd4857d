"""The dashboard tells the truth: a time and a state never contradict each other,
and sandbox people stay in the sandbox (issue 14, items 5 and 6). Fixed clocks throughout."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from outreach import meetings
from outreach.attention import meetings_today_and_tomorrow
from outreach.board import BoardRow, status_board
from outreach.crypto import SecretBox
from outreach.drafts import approve
from outreach.errors import ValidationError
from outreach.meetings import MeetingDetails, MeetingSection, Referral
from outreach.models import (
    Meeting,
    MeetingStatus,
    Message,
    MessageKind,
    MessageStatus,
    Outreach,
    User,
)
from outreach.outbox import OutboxSection, outbox_section
from outreach.rules.sandbox_addresses import PEOPLE_DOMAIN, Behaviour, behaviour_of, is_sandbox
from outreach.rules.states import OutreachState, Trigger
from outreach.sandbox.demo import SandboxPorts, set_up_sandbox
from outreach.sending import record_sent
from outreach.target_actions import add_suggested_person
from outreach.timeline import advance
from tests.core.test_meetings import MEETING_AT, conversation, schedule
from tests.factories import make_mailbox, make_user

# --- meetings: over is over, whatever the sweep has done yet -----------------------------------


def test_a_meeting_that_ended_is_held_before_the_sweep_records_it(
    session: Session, secret_box: SecretBox, now: datetime
) -> None:
    talk = conversation(session, secret_box, now)
    meeting = schedule(session, talk, now)  # 14:00-14:30 UTC
    assert meeting.status is MeetingStatus.SCHEDULED

    assert meetings.section_of(meeting, MEETING_AT + timedelta(minutes=29)) is (
        MeetingSection.COMING_UP
    )
    assert meetings.section_of(meeting, MEETING_AT + timedelta(minutes=30)) is MeetingSection.HELD
    (before,) = status_board(session, talk.user, MEETING_AT + timedelta(minutes=10))
    (after,) = status_board(session, talk.user, MEETING_AT + timedelta(minutes=31))
    assert before.detail == "confirm the day before"
    assert after.detail.startswith("the meeting is over: write your notes")


def test_an_ended_meeting_is_no_longer_today_on_the_attention_list(
    session: Session, secret_box: SecretBox, now: datetime
) -> None:
    talk = conversation(session, secret_box, now)
    schedule(session, talk, now)

    during = meetings_today_and_tomorrow(session, talk.user, MEETING_AT + timedelta(minutes=10))
    after = meetings_today_and_tomorrow(session, talk.user, MEETING_AT + timedelta(minutes=31))

    assert [m.contact_name for m in during] == ["Alex Lee"] and during[0].today
    assert after == []


# --- the outbox: each message in one section, by its own status -------------------------------


@pytest.mark.parametrize(
    ("status", "approved", "error", "section"),
    [
        (MessageStatus.DRAFT, False, None, None),
        (MessageStatus.APPROVED, True, None, OutboxSection.GOING),
        (MessageStatus.QUEUED, True, None, OutboxSection.GOING),
        (MessageStatus.SENDING, True, None, OutboxSection.GOING),
        (MessageStatus.RETRYING, True, "451 later", OutboxSection.GOING),
        (MessageStatus.UNKNOWN, True, None, OutboxSection.UNKNOWN),
        (MessageStatus.SENT, True, None, OutboxSection.SENT),
        (MessageStatus.FAILED, True, "550 no such user", OutboxSection.FAILED),
        (MessageStatus.CANCELLED, True, "they replied first", OutboxSection.FAILED),
        (MessageStatus.CANCELLED, False, None, None),
    ],
)
def test_each_status_has_one_place_in_the_outbox(
    status: MessageStatus, approved: bool, error: str | None, section: OutboxSection | None
) -> None:
    message = Message(
        status=status,
        approved_at=datetime(2026, 12, 3, tzinfo=UTC) if approved else None,
        error=error,
    )
    assert outbox_section(message) is section


# --- the sandbox: its clock on the board, its people among themselves --------------------------


def test_a_sandbox_follow_up_is_said_in_sandbox_time(
    session: Session, secret_box: SecretBox
) -> None:
    """Not "follow-up on Fri 4 Dec" when the sandbox's minute-long day brings it in a minute."""
    start = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)  # a Thursday
    user = make_user(session)
    setup = set_up_sandbox(session, user, secret_box, SandboxPorts(smtp=2525, imap=1143), start)
    request = next(d for d in setup.drafted if behaviour_of(d.to_address) is Behaviour.SILENT)
    approve(session, user, request.id, start)
    record_sent(session, request.id, start)
    session.commit()

    real_time = status_board(session, user, start + timedelta(seconds=20))
    sandbox_time = status_board(
        session, user, start + timedelta(seconds=20), sandbox_day_seconds=60
    )
    later = status_board(session, user, start + timedelta(seconds=61), sandbox_day_seconds=60)

    def detail(rows: list[BoardRow]) -> str:
        return next(row.detail for row in rows if row.contact_email == request.to_address)

    assert "follow-up on Fri 4 Dec" in detail(real_time)
    assert detail(sandbox_time) == "waiting, day 1 of 1; follow-up in 1 min (sandbox time)"
    assert detail(later).endswith("follow-up any moment now (sandbox time)")


def _sandbox_meeting_held(
    session: Session, secret_box: SecretBox, start: datetime
) -> tuple[User, Meeting]:
    user = make_user(session)
    setup = set_up_sandbox(session, user, secret_box, SandboxPorts(smtp=2525, imap=1143), start)
    request = next(d for d in setup.drafted if behaviour_of(d.to_address) is Behaviour.AGREES)
    approve(session, user, request.id, start)
    record_sent(session, request.id, start)
    outreach = session.get_one(Outreach, request.outreach_id)
    advance(session, outreach, Trigger.REPLY_RECEIVED, start, "reply received")
    meeting = meetings.record_meeting(
        session,
        user,
        outreach.id,
        MeetingDetails(starts_at=start + timedelta(hours=2), duration_minutes=30),
        start,
    )
    setup.target.max_in_flight = 20  # a free place, so the suggested name is drafted at once
    meetings.run_due(session, start + timedelta(hours=3))
    session.commit()
    return user, meeting


def test_a_name_suggested_in_a_sandbox_meeting_stays_in_the_sandbox(
    session: Session, secret_box: SecretBox
) -> None:
    start = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    user, meeting = _sandbox_meeting_held(session, secret_box, start)
    # The user connected their own mailbox since: still, nothing of the sandbox goes through it.
    real = make_mailbox(session, user, secret_box)
    after = start + timedelta(hours=4)

    result = add_suggested_person(
        session,
        user,
        meeting.id,
        Referral("José Núñez", "jose.nunez@real-agency.example", "Director"),
        after,
    )

    assert result.created
    assert result.contact.email == f"agrees.jose.nunez@{PEOPLE_DOMAIN}"
    assert is_sandbox(result.contact.email)
    (draft,) = [d for d in result.drafted if d.contact_id == result.contact.id]
    assert draft.kind is MessageKind.REQUEST and draft.to_address == result.contact.email
    sent_from = approve(session, user, draft.id, after)
    assert sent_from.mailbox_id != real.id and is_sandbox(sent_from.from_address or "")
    # Nothing anywhere is addressed to the address typed.
    typed = session.scalars(
        select(Message).where(Message.to_address == "jose.nunez@real-agency.example")
    ).all()
    assert typed == []

    # With no address typed at all, the name is enough in the sandbox.
    blank = add_suggested_person(session, user, meeting.id, Referral("Ana Li", ""), after)
    assert blank.contact.email == f"agrees.ana.li@{PEOPLE_DOMAIN}"


def test_a_real_persons_suggestion_is_never_a_sandbox_address(
    session: Session, secret_box: SecretBox, now: datetime
) -> None:
    talk = conversation(session, secret_box, now)
    meeting = schedule(session, talk, now)
    meetings.run_due(session, MEETING_AT + timedelta(minutes=31))

    with pytest.raises(ValidationError, match="sandbox address"):
        meetings.add_referral(
            session, talk.user, meeting.id, Referral("Maya", f"agrees.maya@{PEOPLE_DOMAIN}"), now
        )
    with pytest.raises(ValidationError, match="give their address"):
        meetings.add_referral(session, talk.user, meeting.id, Referral("Maya", " "), now)
    assert talk.outreach.state in (OutreachState.MET, OutreachState.MEETING_SET)


# --- every typed value has a limit, said plainly ------------------------------------------------


def test_a_draft_edited_past_its_limits_is_refused_with_the_numbers(
    session: Session, secret_box: SecretBox, now: datetime
) -> None:
    from outreach.drafts import edit_draft
    from tests.factories import make_approved_requests

    user = make_user(session)
    make_mailbox(session, user, secret_box)
    (message,) = make_approved_requests(session, user, now)

    with pytest.raises(ValidationError, match=r"the subject is too long \(301 characters; 300"):
        edit_draft(session, user, message.id, "S" * 301, "Hello", now)
    with pytest.raises(ValidationError, match=r"the message is too long \(20,001 characters"):
        edit_draft(session, user, message.id, "Hello", "b" * 20_001, now)
    assert edit_draft(session, user, message.id, "S" * 300, "b" * 20_000, now).subject == "S" * 300


def test_a_profile_target_and_mailbox_hold_their_limits(
    session: Session, secret_box: SecretBox
) -> None:
    from outreach.accounts import update_profile
    from outreach.targets import create_target

    user = make_user(session)
    with pytest.raises(ValidationError, match="your name is too long"):
        update_profile(session, user, name="N" * 201, introduction="", signature="")
    with pytest.raises(ValidationError, match="your introduction is too long"):
        update_profile(session, user, name="Sam", introduction="i " * 800, signature="")
    with pytest.raises(ValidationError, match="your signature is too long"):
        update_profile(session, user, name="Sam", introduction="", signature="s" * 1001)
    with pytest.raises(ValidationError, match="the target's name is too long"):
        create_target(session, user, "T" * 201, [])
    with pytest.raises(ValidationError, match="the email address is too long"):
        make_user(session, email="a" * 320 + "@example.org")
    with pytest.raises(ValidationError, match="the mailbox password is too long"):
        make_mailbox(session, user, secret_box, password="p" * 1025)
    with pytest.raises(ValidationError, match="the name shown to recipients is too long"):
        make_mailbox(session, user, secret_box, display_name="D" * 201)
