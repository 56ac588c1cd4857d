"""Answering a reply the poller read: in the thread, a time proposed, agreed, invited.

The request goes out through the real SMTP server and the reply comes in through
Dovecot and the poller, as in production; the answer and the confirmation go out
through the same sending path, and the board's cached figures follow each step.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import icalendar
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from outreach.attention import home_version, needs_attention
from outreach.corrections import Verdict, correct
from outreach.crypto import SecretBox
from outreach.drafts import approve
from outreach.errors import NotFound, ValidationError
from outreach.mail.smtp import SmtpSender
from outreach.meetings import MeetingDetails, attention_count, cancel_meeting
from outreach.meetings.proposals import agree_to_meeting, reschedule
from outreach.models import Meeting, MeetingStatus, Message, MessageKind, MessageStatus, Outreach
from outreach.progress_stats import FiguresCache
from outreach.replying import composer, draft_answer
from outreach.rules.states import OutreachState
from outreach.sending import Outcome, deliver
from tests.conftest import World
from tests.core.test_watching import poll, reply_to, sent_request
from tests.factories import make_user
from tests.servers.dovecot import DovecotServer
from tests.servers.smtpd import RecordingSMTPServer

HOSTILE = "Happy to talk!\r\n<script>alert(1)</script>\r\n\r\n> Your request, quoted"


def send(
    session: Session, world: World, secret_box: SecretBox, message: Message, now: datetime
) -> None:
    approve(session, world.user, message.id, now)
    world.mailbox.next_send_at = None
    session.commit()
    factory = sessionmaker(session.get_bind(), expire_on_commit=False)
    result = deliver(factory, message.id, SmtpSender(world.context), secret_box, lambda: now)
    assert result.outcome is Outcome.SENT, result.detail
    session.refresh(message)


def funnel_count(
    session: Session, world: World, figures: FiguresCache, now: datetime, stage: str
) -> int:
    """The board's figure for `stage`, through the app's cache, as the board reads it."""
    version = home_version(session, world.user, now)
    stages = figures.figures(session, world.user, now, version).funnel
    return next(one.count for one in stages if one.key == stage)


@pytest.fixture
def replied(
    session: Session,
    session_factory: sessionmaker[Session],
    world: World,
    dovecot: DovecotServer,
    secret_box: SecretBox,
    now: datetime,
) -> Message:
    """Alex Lee's reply to the user's request, read by the poller."""
    world.user.time_zone = "Europe/London"
    world.user.free_times = "Mon-Fri 12:30-13:30"
    request = sent_request(session, world, now, "alex@org.example", secret_box)
    dovecot.deliver(reply_to(request, sender="alex@org.example", body=HOSTILE), world.account.user)
    poll(session_factory, world, secret_box, now)
    session.expire_all()
    return session.scalars(select(Message).where(Message.kind == MessageKind.REPLY)).one()


def test_an_answer_in_the_thread_proposes_a_time_and_agreeing_sends_an_invitation(
    session: Session,
    session_factory: sessionmaker[Session],
    dovecot: DovecotServer,
    world: World,
    smtp: RecordingSMTPServer,
    secret_box: SecretBox,
    replied: Message,
    now: datetime,
) -> None:
    assert replied.outreach_id is not None
    figures = FiguresCache()

    def funnel_meetings() -> int:
        return funnel_count(session, world, figures, now, "meetings")

    assert funnel_meetings() == 0
    start = composer(session, world.user, replied.outreach_id, now)
    # Tuesday 24 November 2026, 09:30: the next lunchtimes from tomorrow, London time (GMT).
    assert start.slots[:2] == [
        datetime(2026, 11, 25, 12, 30, tzinfo=UTC),
        datetime(2026, 11, 26, 12, 30, tzinfo=UTC),
    ]
    assert start.quoted.splitlines()[1:] == ["> Happy to talk!", "> <script>alert(1)</script>"]

    answer = draft_answer(
        session, world.user, replied.outreach_id, "Dear Alex,\n\nThank you!", start.slots[1], now
    )
    session.commit()
    assert answer.meeting is not None and answer.meeting.status is MeetingStatus.PROPOSED
    # Proposed, not agreed: nobody has agreed to meet yet, and that time is no longer free.
    assert funnel_meetings() == 0
    assert (
        datetime(2026, 11, 26, 12, 30, tzinfo=UTC)
        not in composer(session, world.user, replied.outreach_id, now).slots
    )
    send(session, world, secret_box, answer.draft, now)

    (request_sent, answer_sent) = smtp.messages
    assert answer_sent.message["In-Reply-To"] == replied.message_id
    assert answer_sent.message["References"].split() == [
        request_sent.message["Message-ID"],
        replied.message_id,
    ]
    text = answer_sent.message.get_content().replace("\r\n", "\n")
    assert text.startswith(
        "Dear Alex,\n\nThank you!\n\nWould Thursday 26 November at 12:30 (Europe/London) suit you"
    )
    assert "Alex Lee wrote:\n> Happy to talk!\n> <script>alert(1)</script>\n" in text

    # Alex writes back about the time: the poller matches it to the answer, and the
    # panel asks the user whether it was a yes.
    assert needs_attention(session, world.user, now).proposals_answered == 0
    session.refresh(answer.draft)
    dovecot.deliver(
        reply_to(answer.draft, sender="alex@org.example", body="Thursday works!"),
        world.account.user,
    )
    poll(session_factory, world, secret_box, now + timedelta(minutes=30))
    session.expire_all()
    assert needs_attention(session, world.user, now).proposals_answered == 1
    assert attention_count(session, world.user, now) == 1
    yes = composer(session, world.user, replied.outreach_id, now).reply
    assert yes.body_text.startswith("Thursday works!")

    agreed = agree_to_meeting(session, world.user, answer.meeting.id, now + timedelta(hours=1))
    session.commit()
    assert funnel_meetings() == 1
    assert needs_attention(session, world.user, now).proposals_answered == 0
    outreach = session.get_one(Outreach, replied.outreach_id)
    assert outreach.state is OutreachState.MEETING_SET
    assert agreed.confirmation is not None and agreed.confirmation.calendar_ics
    send(session, world, secret_box, agreed.confirmation, now + timedelta(hours=1))

    confirmation = smtp.messages[-1].message
    # In the thread, after Alex's yes to the answer.
    assert confirmation["In-Reply-To"] == yes.message_id
    assert confirmation["References"].split()[-2:] == [answer.draft.message_id, yes.message_id]
    inline = next(
        part for part in confirmation.walk() if part.get_content_type() == "text/calendar"
    )
    (event,) = icalendar.Calendar.from_ical(inline.get_content()).walk("VEVENT")
    assert str(event["UID"]) == answer.meeting.invitation_uid
    assert event.decoded("DTSTART") == datetime(2026, 11, 26, 12, 30, tzinfo=UTC)
    assert str(event["ORGANIZER"]) == f"mailto:{world.mailbox.email_address}"

    # Called off: nobody has agreed to meet any more, at once.
    cancel_meeting(session, world.user, answer.meeting.id, now + timedelta(hours=2))
    session.commit()
    assert funnel_meetings() == 0


def test_only_an_offered_time_and_only_ones_own_reply(
    session: Session, world: World, replied: Message, now: datetime
) -> None:
    assert replied.outreach_id is not None
    not_offered = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)
    with pytest.raises(ValidationError, match="no longer offered"):
        draft_answer(session, world.user, replied.outreach_id, "Hello", not_offered, now)
    with pytest.raises(ValidationError, match="write your answer"):
        draft_answer(session, world.user, replied.outreach_id, "  \n ", None, now)
    with pytest.raises(ValidationError, match="contains a NUL"):
        draft_answer(session, world.user, replied.outreach_id, "Hi\x00", None, now)
    stranger = make_user(session)
    with pytest.raises(NotFound):
        composer(session, stranger, replied.outreach_id, now)

    # Said to be unrelated, the message is nobody's reply to answer.
    correct(session, world.user, replied.id, Verdict.NOT_RELATED, now)
    with pytest.raises(ValidationError, match="has not replied"):
        composer(session, world.user, replied.outreach_id, now)
    assert session.scalars(select(Meeting)).all() == []


def test_the_counts_follow_each_correction_at_once(
    session: Session, world: World, replied: Message, now: datetime
) -> None:
    figures = FiguresCache()
    assert funnel_count(session, world, figures, now, "replied") == 1
    later = now + timedelta(minutes=5)

    correct(session, world.user, replied.id, Verdict.AUTO_REPLY, later)
    session.commit()
    assert funnel_count(session, world, figures, later, "replied") == 0

    correct(session, world.user, replied.id, Verdict.REPLY, later + timedelta(minutes=1))
    session.commit()
    assert funnel_count(session, world, figures, later, "replied") == 1
    assert figures.hits == 0  # each reading after a change was read afresh


def test_moving_an_agreed_time_sends_the_invitation_again_as_an_update(
    session: Session,
    world: World,
    smtp: RecordingSMTPServer,
    secret_box: SecretBox,
    replied: Message,
    now: datetime,
) -> None:
    assert replied.outreach_id is not None
    start = composer(session, world.user, replied.outreach_id, now)
    answer = draft_answer(session, world.user, replied.outreach_id, "Hello", start.slots[0], now)
    assert answer.meeting is not None
    first = agree_to_meeting(session, world.user, answer.meeting.id, now).confirmation
    assert first is not None
    session.commit()

    # Moved before the invitation went: it is drawn again, as the first one.
    later = answer.meeting.starts_at + timedelta(hours=1)
    moved = reschedule(session, world.user, answer.meeting.id, MeetingDetails(later, 30), now)
    session.commit()
    session.refresh(first)
    assert first.status is MessageStatus.CANCELLED
    assert moved.confirmation is not None
    send(session, world, secret_box, moved.confirmation, now)
    sent = icalendar.Calendar.from_ical(moved.confirmation.calendar_ics)
    assert [event.decoded("SEQUENCE") for event in sent.walk("VEVENT")] == [0]

    # Moved after it went: an update with the same UID and a higher SEQUENCE.
    again = reschedule(
        session, world.user, answer.meeting.id, MeetingDetails(later, 45, "Room 4"), now
    )
    assert again.confirmation is not None
    assert again.confirmation.body_text.startswith("Dear Alex,\n\nOur conversation has moved")
    (event,) = icalendar.Calendar.from_ical(again.confirmation.calendar_ics).walk("VEVENT")
    assert event.decoded("SEQUENCE") == 1
    assert str(event["UID"]) == answer.meeting.invitation_uid
    assert str(event["LOCATION"]) == "Room 4"
    # Saved unchanged: nothing new to tell.
    same = reschedule(
        session, world.user, answer.meeting.id, MeetingDetails(later, 45, "Room 4"), now
    )
    assert same.confirmation is None
