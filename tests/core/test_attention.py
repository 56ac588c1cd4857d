"""What needs the user today: the home page's panel, and the version the live board polls."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from outreach import meetings
from outreach.attention import home_version, needs_attention
from outreach.corrections import Verdict, correct
from outreach.crypto import SecretBox
from outreach.drafts import approve
from outreach.meetings import MeetingDetails, MeetingNotes
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
from outreach.targets import create_target, fill_pipeline
from outreach.timeline import advance
from tests.factories import make_approved_requests, make_contact, make_mailbox, make_user


def account(session: Session, secret_box: SecretBox, time_zone: str = "UTC") -> User:
    user = make_user(session)
    user.time_zone = time_zone
    make_mailbox(session, user, secret_box)
    session.commit()
    return user


def replied(session: Session, user: User, name: str, at: datetime) -> Outreach:
    """A request to `name`, sent a day before `at`, answered at `at`."""
    (request,) = make_approved_requests(session, user, at - timedelta(days=1), name=name)
    record_sent(session, request.id, at - timedelta(days=1))
    outreach = session.get_one(Outreach, request.outreach_id)
    advance(session, outreach, Trigger.REPLY_RECEIVED, at, "reply received")
    session.commit()
    return outreach


def meet(session: Session, user: User, outreach: Outreach, starts_at: datetime) -> Meeting:
    meeting = meetings.record_meeting(
        session, user, outreach.id, MeetingDetails(starts_at, 30, "Video call\nlink"), starts_at
    )
    session.commit()
    return meeting


def test_a_quiet_day_is_all_done(session: Session, secret_box: SecretBox, now: datetime) -> None:
    user = account(session, secret_box)

    attention = needs_attention(session, user, now)

    assert attention.all_done
    assert attention.replies == [] and attention.meetings_soon == []


def test_drafts_waiting_for_approval_are_counted(
    session: Session, secret_box: SecretBox, now: datetime
) -> None:
    user = account(session, secret_box)
    people = [make_contact(session, user) for _ in range(3)]
    target = create_target(
        session,
        user,
        "Policy",
        [p.id for p in people],
        max_in_flight=2,
        allow_same_organisation=True,
    )
    fill_pipeline(session, user, target, now)
    session.commit()

    attention = needs_attention(session, user, now)

    assert attention.drafts_waiting == 2
    assert not attention.all_done


def test_replies_with_no_meeting_are_listed_oldest_first_until_a_meeting_is_set(
    session: Session, secret_box: SecretBox, now: datetime
) -> None:
    user = account(session, secret_box)
    newer = replied(session, user, "Bea Newer", now - timedelta(hours=1))
    older = replied(session, user, "Ada Older", now - timedelta(days=2))

    attention = needs_attention(session, user, now)
    assert [r.contact_name for r in attention.replies] == ["Ada Older", "Bea Newer"]
    assert attention.replies_waiting == 2
    assert attention.replies[0].contact_id == older.contact_id

    meeting = meet(session, user, newer, now + timedelta(days=5))
    assert [r.contact_name for r in needs_attention(session, user, now).replies] == ["Ada Older"]

    # Called off: the conversation needs a new date, so the reply is back on the list.
    meetings.cancel_meeting(session, user, meeting.id, now)
    session.commit()
    assert needs_attention(session, user, now).replies_waiting == 2


def test_only_the_oldest_replies_are_named_and_all_are_counted(
    session: Session, secret_box: SecretBox, now: datetime
) -> None:
    user = account(session, secret_box)
    for hours in range(7):
        replied(session, user, f"Person {hours}", now - timedelta(hours=10 - hours))

    attention = needs_attention(session, user, now)

    assert [r.contact_name for r in attention.replies] == [f"Person {n}" for n in range(5)]
    assert attention.replies_waiting == 7


def test_meetings_today_and_tomorrow_follow_the_users_time_zone(
    session: Session, secret_box: SecretBox, now: datetime
) -> None:
    # 09:30 UTC on Tuesday 24 November is 18:30 in Tokyo: "tomorrow" there is the 25th.
    user = account(session, secret_box, "Asia/Tokyo")
    times = {
        "Today Late": datetime(2026, 11, 24, 12, 0, tzinfo=UTC),  # 21:00 on the 24th
        "Tomorrow Early": datetime(2026, 11, 24, 16, 0, tzinfo=UTC),  # 01:00 on the 25th
        "Tomorrow Late": datetime(2026, 11, 25, 14, 30, tzinfo=UTC),  # 23:30 on the 25th
        "Day After": datetime(2026, 11, 25, 15, 30, tzinfo=UTC),  # 00:30 on the 26th
    }
    for name, starts_at in times.items():
        meet(session, user, replied(session, user, name, now - timedelta(days=1)), starts_at)

    soon = needs_attention(session, user, now).meetings_soon

    assert [(m.contact_name, m.today) for m in soon] == [
        ("Today Late", True),
        ("Tomorrow Early", False),
        ("Tomorrow Late", False),
    ]
    assert soon[0].place == "Video call"


def test_a_thank_you_past_due_is_listed_until_it_is_sent(
    session: Session, secret_box: SecretBox, now: datetime
) -> None:
    user = account(session, secret_box)
    outreach = replied(session, user, "Cleo Met", now - timedelta(days=6))
    meeting = meet(session, user, outreach, now - timedelta(days=5))
    meetings.run_due(session, now - timedelta(days=5) + timedelta(minutes=31))
    session.commit()
    assert session.get_one(Meeting, meeting.id).status is MeetingStatus.HELD

    overdue = needs_attention(session, user, now).overdue_thank_yous
    assert [(t.meeting_id, t.contact_name) for t in overdue] == [(meeting.id, "Cleo Met")]

    meetings.save_notes(session, user, meeting.id, MeetingNotes(specific_detail="the map"), now)
    session.commit()
    thank_you = meetings.thank_you_of(session, session.get_one(Meeting, meeting.id))
    assert thank_you is not None
    approve(session, user, thank_you.id, now)
    record_sent(session, thank_you.id, now)
    session.commit()
    assert needs_attention(session, user, now + timedelta(minutes=1)).overdue_thank_yous == []


def test_a_possible_reply_is_listed_until_the_user_says_what_it_is(
    session: Session, secret_box: SecretBox, now: datetime
) -> None:
    user = account(session, secret_box)
    (request,) = make_approved_requests(session, user, now, email="alex@org.example")
    record_sent(session, request.id, now)
    # What the poller stores for a colleague's answer matched by the domain alone.
    colleague = Message(
        user_id=user.id,
        mailbox_id=request.mailbox_id,
        contact_id=request.contact_id,
        outreach_id=request.outreach_id,
        direction=Direction.INBOUND,
        kind=MessageKind.REPLY,
        status=MessageStatus.RECEIVED,
        from_address="assistant@org.example",
        subject="Re: a question",
        received_at=now,
        match_rule=POSSIBLE_REPLY,
        created_at=now,
    )
    session.add(colleague)
    session.commit()
    before = home_version(session, user, now)

    (possible,) = needs_attention(session, user, now).possible_replies
    assert (possible.message_id, possible.sender) == (colleague.id, "assistant@org.example")

    correct(session, user, colleague.id, Verdict.NOT_RELATED, now)
    session.commit()

    assert needs_attention(session, user, now).possible_replies == []
    assert home_version(session, user, now) != before


def test_a_mailbox_that_needs_the_user_is_listed(
    session: Session, secret_box: SecretBox, now: datetime
) -> None:
    user = account(session, secret_box)
    mailbox = session.query(Mailbox).filter_by(user_id=user.id).one()
    # What the poller writes when the server refuses the password.
    mailbox.status = MailboxStatus.NEEDS_SIGN_IN
    session.commit()

    (problem,) = needs_attention(session, user, now).mailboxes

    assert (problem.mailbox_id, problem.address, problem.needs_sign_in) == (
        mailbox.id,
        user.email,
        True,
    )


def test_nothing_of_another_user_shows(
    session: Session, secret_box: SecretBox, now: datetime
) -> None:
    other = account(session, secret_box)
    outreach = replied(session, other, "Not Yours", now - timedelta(days=1))
    meet(session, other, replied(session, other, "Also Not", now - timedelta(days=1)), now)
    session.query(Mailbox).filter_by(user_id=other.id).one().status = MailboxStatus.NEEDS_ATTENTION
    session.commit()
    assert outreach.user_id == other.id

    assert needs_attention(session, account(session, secret_box), now).all_done


def test_the_version_moves_only_when_the_users_page_would(
    session: Session, secret_box: SecretBox, now: datetime
) -> None:
    user = account(session, secret_box)
    other = account(session, secret_box)
    (request,) = make_approved_requests(session, user, now)
    record_sent(session, request.id, now)
    session.commit()
    first = home_version(session, user, now)

    assert home_version(session, user, now + timedelta(minutes=5)) == first

    replied(session, other, "Someone Else", now)
    assert home_version(session, user, now) == first

    outreach = session.get_one(Outreach, request.outreach_id)
    advance(session, outreach, Trigger.REPLY_RECEIVED, now + timedelta(minutes=1))
    session.commit()
    after_reply = home_version(session, user, now)
    assert after_reply != first

    session.query(Mailbox).filter_by(user_id=user.id).one().status = MailboxStatus.NEEDS_ATTENTION
    session.commit()
    assert home_version(session, user, now) != after_reply

    # A new day in the user's zone: "sent today" and "meetings today" move on.
    assert home_version(session, user, now + timedelta(days=1)) != home_version(session, user, now)


def _answered(session: Session, user: User, name: str, trigger: Trigger, at: datetime) -> None:
    (request,) = make_approved_requests(session, user, at - timedelta(days=1), name=name)
    record_sent(session, request.id, at - timedelta(days=1))
    outreach = session.get_one(Outreach, request.outreach_id)
    advance(session, outreach, trigger, at, trigger.value)
    session.commit()


def test_recent_bounces_and_declines_are_listed_newest_first_and_old_ones_drop_off(
    session: Session, secret_box: SecretBox, now: datetime
) -> None:
    user = account(session, secret_box)
    _answered(session, user, "Old Bounce", Trigger.BOUNCE_RECEIVED, now - timedelta(days=20))
    _answered(session, user, "Bea Bounced", Trigger.BOUNCE_RECEIVED, now - timedelta(days=2))
    _answered(session, user, "Dee Declined", Trigger.DECLINE_RECEIVED, now - timedelta(hours=3))

    attention = needs_attention(session, user, now)

    assert [(s.contact_name, s.bounced) for s in attention.setbacks] == [
        ("Dee Declined", False),
        ("Bea Bounced", True),
    ]
    assert not attention.all_done


def test_drafts_blocked_by_missing_information_are_counted_apart(
    session: Session, secret_box: SecretBox, now: datetime
) -> None:
    user = account(session, secret_box)
    ready = make_contact(session, user, name="Rae Ready", organisation="One")
    blank = make_contact(session, user, name="Lin Kedin", how_found="", organisation="Two")
    target = create_target(session, user, "Policy", [ready.id, blank.id], max_in_flight=2)
    fill_pipeline(session, user, target, now)
    session.commit()

    attention = needs_attention(session, user, now)

    assert attention.drafts_waiting == 2
    assert attention.drafts_blocked == 1
