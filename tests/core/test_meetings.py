"""Meetings: recorded or read from an invitation, confirmed the day before, then notes,
a thank-you that needs something specific, referrals, and keeping in touch."""

from __future__ import annotations

import csv
import io
import threading
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from outreach import draft_values, drafts, meetings, template_library
from outreach.board import status_board
from outreach.crypto import SecretBox
from outreach.db import session_scope
from outreach.errors import NotFound, ValidationError
from outreach.mail.imap import ImapSource
from outreach.mailbox_login import imap_login
from outreach.meetings import MeetingDetails, MeetingNotes, Referral
from outreach.meetings.letters import draft_for_meeting
from outreach.models import (
    Contact,
    Direction,
    Event,
    Meeting,
    MeetingStatus,
    Message,
    MessageKind,
    MessageStatus,
    Outreach,
    Template,
    User,
)
from outreach.rules.states import OutreachState, Trigger
from outreach.sending import record_sent
from outreach.targets import fill_pipeline, get_target
from outreach.timeline import advance
from outreach.transitions import KEEP_IN_TOUCH_AFTER
from outreach.watching import sync_mailbox
from tests.conftest import World
from tests.core.test_watching import reply_to, sent_request
from tests.factories import make_approved_requests, make_mailbox, make_user
from tests.servers.dovecot import DovecotServer
from tests.unit.test_invitations import GOOGLE_UID, google_invitation, with_attachment

# Thursday 3 December 2026, 14:00 in London (GMT, so 14:00 UTC), for half an hour.
MEETING_AT = datetime(2026, 12, 3, 14, 0, tzinfo=UTC)


@dataclass
class Conversation:
    user: User
    contact: Contact
    outreach: Outreach


def conversation(
    session: Session, secret_box: SecretBox, now: datetime, *, answered: bool = True
) -> Conversation:
    """A request sent to Alex Lee; with `answered`, Alex replied."""
    user = make_user(session, name="Sam Student")
    user.time_zone = "Europe/London"
    user.signature = "Sam Student"
    make_mailbox(session, user, secret_box)
    (request,) = make_approved_requests(session, user, now, name="Alex Lee", role="Analyst")
    record_sent(session, request.id, now)
    outreach = session.get_one(Outreach, request.outreach_id)
    if answered:
        advance(session, outreach, Trigger.REPLY_RECEIVED, now, "reply received")
    session.commit()
    return Conversation(user, outreach.contact, outreach)


@pytest.fixture
def talk(session: Session, secret_box: SecretBox, now: datetime) -> Conversation:
    return conversation(session, secret_box, now)


def schedule(session: Session, talk: Conversation, now: datetime, **details: object) -> Meeting:
    values: dict[str, object] = {"starts_at": MEETING_AT, "duration_minutes": 30}
    values.update(details)
    meeting = meetings.record_meeting(
        session,
        talk.user,
        talk.outreach.id,
        MeetingDetails(**values),  # type: ignore[arg-type]
        now,
    )
    session.commit()
    return meeting


def drafts_of(session: Session, kind: MessageKind) -> list[Message]:
    return list(session.scalars(select(Message).where(Message.kind == kind).order_by(Message.id)))


def run(session: Session, at: datetime) -> list[str]:
    lines = meetings.run_due(session, at)
    session.commit()
    session.expire_all()
    return lines


def held(session: Session, talk: Conversation, now: datetime) -> Meeting:
    meeting = schedule(session, talk, now)
    run(session, MEETING_AT + timedelta(minutes=31))
    return session.get_one(Meeting, meeting.id)


# --- times in the user's zone ------------------------------------------------------------------


def test_a_local_date_and_time_becomes_utc_through_summer_and_winter() -> None:
    assert meetings.local_to_utc(date(2026, 12, 3), time(14), "Europe/London") == MEETING_AT
    assert meetings.local_to_utc(date(2026, 7, 1), time(14), "Europe/London") == datetime(
        2026, 7, 1, 13, tzinfo=UTC
    )
    assert meetings.local_to_utc(date(2026, 7, 1), time(9), "America/New_York") == datetime(
        2026, 7, 1, 13, tzinfo=UTC
    )


def test_the_day_before_is_on_the_users_clock_across_a_clock_change() -> None:
    # Sunday 29 March 2026, 10:00 in London: summer time began that night at 01:00 UTC.
    meeting = Meeting(starts_at=datetime(2026, 3, 29, 9, 0, tzinfo=UTC), duration_minutes=30)

    due = meetings.confirmation_due_at(meeting, "Europe/London")

    # Saturday 10:00 GMT: 23 hours before, not 24.
    assert due == datetime(2026, 3, 28, 10, 0, tzinfo=UTC)


# --- recording, changing, cancelling -----------------------------------------------------------


def test_recording_a_meeting_sets_the_contact_meeting_set(
    session: Session, talk: Conversation, now: datetime
) -> None:
    meeting = schedule(session, talk, now, place="Café Central\n12 High Street")

    assert meeting.status is MeetingStatus.SCHEDULED and meeting.source == "manual"
    assert talk.outreach.state is OutreachState.MEETING_SET
    event = session.scalar(select(Event).where(Event.kind == "state:meeting_set"))
    assert event is not None
    assert event.detail == (
        "meeting set: Thursday 3 December 2026, 14:00 (Europe/London), 30 min, Café Central"
    )


def test_a_reply_by_phone_is_marked_replied_by_you_first(
    session: Session, secret_box: SecretBox, now: datetime
) -> None:
    waiting = conversation(session, secret_box, now, answered=False)
    before = waiting.outreach.state
    follow_up = drafts.draft_follow_up(session, waiting.user, waiting.outreach, now)

    schedule(session, waiting, now)

    kinds = session.scalars(
        select(Event.detail).where(Event.kind.in_(["state:replied", "state:meeting_set"]))
    ).all()
    assert before is OutreachState.WAITING
    assert kinds[0] == "marked as replied by you"
    assert waiting.outreach.state is OutreachState.MEETING_SET
    assert waiting.outreach.next_step_at is None
    assert follow_up.status is MessageStatus.CANCELLED


def test_a_second_meeting_is_refused_while_one_is_set(
    session: Session, talk: Conversation, now: datetime
) -> None:
    schedule(session, talk, now)

    with pytest.raises(ValidationError, match="already set"):
        schedule(session, talk, now)


def test_a_meeting_needs_a_sensible_length(
    session: Session, talk: Conversation, now: datetime
) -> None:
    with pytest.raises(ValidationError, match="between 1 minute and 12 hours"):
        schedule(session, talk, now, duration_minutes=0)


def test_another_users_meeting_is_not_found(
    session: Session, talk: Conversation, now: datetime
) -> None:
    meeting = schedule(session, talk, now)
    stranger = make_user(session)

    with pytest.raises(NotFound):
        meetings.get_meeting(session, stranger, meeting.id)
    with pytest.raises(NotFound):
        meetings.cancel_meeting(session, stranger, meeting.id, now)
    with pytest.raises(NotFound):
        meetings.record_meeting(
            session, stranger, talk.outreach.id, MeetingDetails(MEETING_AT), now
        )


def test_cancelling_returns_the_contact_to_replied_and_calls_off_the_confirmation(
    session: Session, talk: Conversation, now: datetime
) -> None:
    meeting = schedule(session, talk, now)
    run(session, MEETING_AT - timedelta(hours=20))
    (confirmation,) = drafts_of(session, MessageKind.CONFIRMATION)

    meetings.cancel_meeting(session, talk.user, meeting.id, now)
    session.commit()
    session.expire_all()

    assert session.get_one(Outreach, talk.outreach.id).state is OutreachState.REPLIED
    assert session.get_one(Message, confirmation.id).status is MessageStatus.CANCELLED
    # A cancelled meeting is not held, and no thank-you follows.
    assert run(session, MEETING_AT + timedelta(hours=2)) == []


def test_rescheduling_redrafts_the_confirmation_for_the_new_day(
    session: Session, talk: Conversation, now: datetime
) -> None:
    meeting = schedule(session, talk, now)
    run(session, MEETING_AT - timedelta(hours=20))
    (first,) = drafts_of(session, MessageKind.CONFIRMATION)
    later = MEETING_AT + timedelta(days=5)

    meetings.update_meeting(
        session, talk.user, meeting.id, MeetingDetails(later, 45, "By phone"), now
    )
    session.commit()
    session.expire_all()

    assert session.get_one(Message, first.id).status is MessageStatus.CANCELLED
    assert session.get_one(Meeting, meeting.id).confirmation_drafted_at is None
    assert run(session, MEETING_AT + timedelta(hours=1)) == []  # the old time: nothing held
    run(session, later - timedelta(hours=20))
    second = drafts_of(session, MessageKind.CONFIRMATION)[-1]
    assert second.status is MessageStatus.DRAFT
    assert "Tuesday 8 December at 14:00 London time (By phone)" in second.body_text


# --- the day before ----------------------------------------------------------------------------


def test_confirmation_is_drafted_the_day_before_once(
    session: Session, talk: Conversation, now: datetime
) -> None:
    schedule(session, talk, now, place="https://meet.example/abc\nPIN 1234")

    assert run(session, MEETING_AT - timedelta(hours=25)) == []
    lines = run(session, MEETING_AT - timedelta(hours=24))
    again = run(session, MEETING_AT - timedelta(hours=23))

    assert len(lines) == 1 and "confirmation drafted" in lines[0]
    assert again == []
    (confirmation,) = drafts_of(session, MessageKind.CONFIRMATION)
    assert confirmation.status is MessageStatus.DRAFT and confirmation.error is None
    assert confirmation.subject == "Our conversation on Thursday 3 December"
    # The contact's zone is not known: the user's time, with its zone.
    assert (
        "on Thursday 3 December at 14:00 London time (https://meet.example/abc)."
        in confirmation.body_text
    )
    assert confirmation.body_text.startswith("Dear Alex,")


def test_the_confirmation_gives_the_contacts_own_time_when_their_zone_is_known(
    session: Session, talk: Conversation, now: datetime
) -> None:
    talk.contact.time_zone = "America/New_York"
    schedule(session, talk, now, place="By phone")

    run(session, MEETING_AT - timedelta(hours=24))

    (confirmation,) = drafts_of(session, MessageKind.CONFIRMATION)
    assert "on Thursday 3 December at 14:00 London time, 09:00 in New York (By phone)." in (
        confirmation.body_text
    )


def test_a_meeting_arranged_less_than_a_day_ahead_gets_no_confirmation(
    session: Session, talk: Conversation
) -> None:
    arranged = MEETING_AT - timedelta(hours=20)
    schedule(session, talk, arranged)

    assert run(session, MEETING_AT - timedelta(hours=19)) == []
    assert drafts_of(session, MessageKind.CONFIRMATION) == []


def test_confirmation_is_approved_at_once_when_the_user_chose_so(
    session: Session, talk: Conversation, now: datetime
) -> None:
    talk.user.auto_approve = "confirmation"
    schedule(session, talk, now)

    run(session, MEETING_AT - timedelta(hours=24))

    (confirmation,) = drafts_of(session, MessageKind.CONFIRMATION)
    assert confirmation.status is MessageStatus.APPROVED


# --- after the meeting -------------------------------------------------------------------------


def test_after_the_end_the_contact_is_met_and_a_thank_you_is_drafted(
    session: Session, talk: Conversation, now: datetime
) -> None:
    meeting = schedule(session, talk, now)

    assert run(session, MEETING_AT + timedelta(minutes=29)) == []
    lines = run(session, MEETING_AT + timedelta(minutes=30))
    again = run(session, MEETING_AT + timedelta(hours=3))

    assert len(lines) == 1 and "thank-you drafted" in lines[0]
    assert again == []
    stored = session.get_one(Meeting, meeting.id)
    assert stored.status is MeetingStatus.HELD
    assert stored.thank_you_due_at == MEETING_AT + timedelta(minutes=30, days=2)
    (row,) = status_board(session, talk.user, MEETING_AT + timedelta(hours=1))
    assert (row.state, row.label) == (OutreachState.MET, "met")
    (thank_you,) = drafts_of(session, MessageKind.THANK_YOU)
    # The template needs something specific from the notes: not approvable yet.
    assert thank_you.error == (
        "write something specific from the conversation in your meeting notes first"
    )
    with pytest.raises(ValidationError, match="cannot be approved"):
        drafts.approve(session, talk.user, thank_you.id, now)


def test_notes_fill_in_the_thank_you_which_can_then_be_approved(
    session: Session, talk: Conversation, now: datetime
) -> None:
    meeting = held(session, talk, now)
    after = MEETING_AT + timedelta(hours=2)

    meetings.save_notes(
        session,
        talk.user,
        meeting.id,
        MeetingNotes(
            learned="Policy work is mostly writing.",
            specific_detail="your advice to write for the institute's blog.",
            answers={"typical_day": "Meetings in the morning, drafting after lunch.", "skills": ""},
        ),
        after,
    )
    session.commit()

    (thank_you,) = drafts_of(session, MessageKind.THANK_YOU)
    assert thank_you.error is None
    assert "I especially appreciated your advice to write for the institute's blog.\n" in (
        thank_you.body_text
    )
    assert "your work at Example Institute" in thank_you.body_text
    assert meetings.answers_of(meeting)["typical_day"].startswith("Meetings in the morning")
    assert meetings.answers_of(meeting)["skills"] == ""
    drafts.approve(session, talk.user, thank_you.id, after)


def test_a_thank_you_edited_by_hand_is_not_overwritten_by_the_notes(
    session: Session, talk: Conversation, now: datetime
) -> None:
    meeting = held(session, talk, now)
    (thank_you,) = drafts_of(session, MessageKind.THANK_YOU)
    drafts.edit_draft(session, talk.user, thank_you.id, "Thanks!", "My own words.\n", now)

    meetings.save_notes(
        session, talk.user, meeting.id, MeetingNotes(specific_detail="the tour"), now
    )

    assert thank_you.body_text == "My own words.\n"


def test_an_unknown_question_is_refused(
    session: Session, talk: Conversation, now: datetime
) -> None:
    meeting = held(session, talk, now)

    with pytest.raises(ValidationError, match="no question called 'salary'"):
        meetings.save_notes(
            session, talk.user, meeting.id, MeetingNotes(answers={"salary": "x"}), now
        )


def test_overdue_thank_you_is_flagged_until_it_is_sent(
    session: Session, talk: Conversation, now: datetime
) -> None:
    meeting = held(session, talk, now)
    due = MEETING_AT + timedelta(minutes=30, days=2)

    assert meetings.overdue_thank_yous(session, talk.user, due - timedelta(minutes=1)) == []
    assert [m.id for m in meetings.overdue_thank_yous(session, talk.user, due + timedelta(1))] == [
        meeting.id
    ]
    assert meetings.attention_count(session, talk.user, due + timedelta(days=1)) == 1

    meetings.save_notes(session, talk.user, meeting.id, MeetingNotes(specific_detail="x"), now)
    (thank_you,) = drafts_of(session, MessageKind.THANK_YOU)
    drafts.approve(session, talk.user, thank_you.id, due)
    record_sent(session, thank_you.id, due + timedelta(days=1))

    assert meetings.overdue_thank_yous(session, talk.user, due + timedelta(days=2)) == []
    outreach = session.get_one(Outreach, talk.outreach.id)
    assert outreach.state is OutreachState.THANKED


def test_keep_in_touch_is_drafted_once_when_its_day_comes(
    session: Session, talk: Conversation, now: datetime
) -> None:
    meeting = held(session, talk, now)
    meetings.save_notes(session, talk.user, meeting.id, MeetingNotes(specific_detail="x"), now)
    (thank_you,) = drafts_of(session, MessageKind.THANK_YOU)
    drafts.approve(session, talk.user, thank_you.id, now)
    sent_at = MEETING_AT + timedelta(days=1)
    record_sent(session, thank_you.id, sent_at)
    session.commit()

    assert run(session, sent_at + KEEP_IN_TOUCH_AFTER - timedelta(minutes=1)) == []
    lines = run(session, sent_at + KEEP_IN_TOUCH_AFTER)
    again = run(session, sent_at + KEEP_IN_TOUCH_AFTER + timedelta(days=1))

    assert len(lines) == 1 and again == []
    (update,) = drafts_of(session, MessageKind.KEEP_IN_TOUCH)
    assert update.status is MessageStatus.DRAFT
    # The target's field phrase (guessed from its name here), never the list's name itself.
    assert "talked with me about target" in update.body_text


def test_keep_in_touch_waits_for_the_users_news_even_with_auto_approval(
    session: Session, talk: Conversation, now: datetime
) -> None:
    talk.user.auto_approve = "keep_in_touch"
    meeting = held(session, talk, now)
    meetings.save_notes(session, talk.user, meeting.id, MeetingNotes(specific_detail="x"), now)
    (thank_you,) = drafts_of(session, MessageKind.THANK_YOU)
    drafts.approve(session, talk.user, thank_you.id, now)
    sent_at = MEETING_AT + timedelta(days=1)
    record_sent(session, thank_you.id, sent_at)
    session.commit()
    run(session, sent_at + KEEP_IN_TOUCH_AFTER)

    (update,) = drafts_of(session, MessageKind.KEEP_IN_TOUCH)
    # Auto-approval left it for the user: it has no news yet.
    assert update.status is MessageStatus.DRAFT and update.needs == "update"
    assert "[your news: what you did with Alex's advice]" in update.body_text
    with pytest.raises(ValidationError, match="your news"):
        drafts.approve(session, talk.user, update.id, now)
    (asked,) = draft_values.questions_for(update)
    assert asked.name == "update" and not asked.on_contact and asked.multi_line

    news = "I applied for the trainee scheme you mentioned.\nI start in January."
    supplied = draft_values.supply_values(session, talk.user, update.id, {"update": news}, now)

    assert not supplied.kept_edits and update.needs == "" and update.error is None
    assert news in update.body_text and "[your news" not in update.body_text
    assert drafts.approve(session, talk.user, update.id, now).status is MessageStatus.APPROVED


def test_a_keep_in_touch_template_keeps_a_place_for_the_news(
    session: Session, talk: Conversation, now: datetime
) -> None:
    with pytest.raises(ValidationError, match="update"):
        template_library.save_template(
            session, talk.user, MessageKind.KEEP_IN_TOUCH, "Hello", "Dear {{ first_name }}, hi."
        )
    # One saved before the news was asked for still waits for it: the gap is added.
    session.add(
        Template(
            user_id=talk.user.id,
            kind=MessageKind.KEEP_IN_TOUCH,
            subject="Hello again",
            body="Dear {{ first_name }},\n\nThank you again.\n\n{{ my_signature }}",
        )
    )
    meeting = held(session, talk, now)
    update = draft_for_meeting(session, talk.user, meeting, MessageKind.KEEP_IN_TOUCH, now)

    assert update.needs == "update" and update.error is not None
    assert update.body_text.rstrip().endswith("[your news: what you did with Alex's advice]")


def test_two_workers_at_once_draft_one_thank_you(
    session: Session,
    session_factory: sessionmaker[Session],
    talk: Conversation,
    now: datetime,
) -> None:
    schedule(session, talk, now)
    start = threading.Barrier(2)
    results: list[list[str]] = []
    at = MEETING_AT + timedelta(hours=1)

    def worker() -> None:
        start.wait()
        with session_scope(session_factory) as own:
            results.append(meetings.run_due(own, at))

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert sorted(len(lines) for lines in results) == [0, 1]
    session.expire_all()
    assert len(drafts_of(session, MessageKind.THANK_YOU)) == 1
    transitions = session.scalar(
        select(func.count()).select_from(Event).where(Event.kind == "state:met")
    )
    assert transitions == 1


# --- referrals ---------------------------------------------------------------------------------


def test_a_suggested_name_becomes_a_contact_whose_request_names_the_referrer(
    session: Session, talk: Conversation, now: datetime
) -> None:
    meeting = held(session, talk, now)

    result = meetings.add_referral(
        session,
        talk.user,
        meeting.id,
        Referral("Rosa Parks", "Rosa.Parks@Agency.example", "Director", "The Agency"),
        now,
    )
    target = get_target(session, talk.user, talk.outreach.target_id)
    (request,) = fill_pipeline(session, talk.user, target, now)

    assert result.created and result.outreach is not None
    assert result.contact.email == "rosa.parks@agency.example"
    assert result.contact.referred_by_id == talk.contact.id
    assert request.contact_id == result.contact.id
    assert request.body_text.startswith("Dear Rosa,\n\nAlex Lee suggested I get in touch with you.")
    assert [c.name for c in meetings.referrals_of(session, talk.user, talk.contact.id)] == [
        "Rosa Parks"
    ]


def test_a_suggested_address_already_known_is_not_doubled(
    session: Session, talk: Conversation, now: datetime
) -> None:
    meeting = held(session, talk, now)
    first = meetings.add_referral(
        session, talk.user, meeting.id, Referral("Rosa Parks", "rosa@agency.example"), now
    )

    again = meetings.add_referral(
        session, talk.user, meeting.id, Referral("Rosa P.", "ROSA@agency.example"), now
    )

    assert not again.created and again.contact.id == first.contact.id
    assert again.outreach is None  # already on the list
    count = session.scalar(select(func.count()).select_from(Contact))
    assert count == 2


def test_a_referral_needs_a_real_address(
    session: Session, talk: Conversation, now: datetime
) -> None:
    meeting = held(session, talk, now)

    with pytest.raises(ValidationError):
        meetings.add_referral(session, talk.user, meeting.id, Referral("Nobody", "nope"), now)


# --- invitations in replies --------------------------------------------------------------------


def inbound(session: Session, talk: Conversation, now: datetime) -> Message:
    message = Message(
        user_id=talk.user.id,
        contact_id=talk.contact.id,
        outreach_id=talk.outreach.id,
        direction=Direction.INBOUND,
        kind=MessageKind.REPLY,
        status=MessageStatus.RECEIVED,
        received_at=now,
    )
    session.add(message)
    session.flush()
    return message


def test_an_invitation_is_proposed_then_updated_then_cancelled_never_doubled(
    session: Session, talk: Conversation, now: datetime
) -> None:
    (proposed,) = meetings.read_invitation(
        session, inbound(session, talk, now), google_invitation(), now
    )
    assert proposed.status is MeetingStatus.PROPOSED and proposed.source == "invitation"
    assert proposed.invitation_uid == GOOGLE_UID
    assert proposed.starts_at == MEETING_AT
    waiting = talk.outreach.state

    meetings.confirm_meeting(session, talk.user, proposed.id, now)
    assert waiting is OutreachState.REPLIED  # the invitation waited for the user
    assert talk.outreach.state is OutreachState.MEETING_SET

    update = google_invitation(start="20261204T100000", end="20261204T110000", sequence=1)
    (moved,) = meetings.read_invitation(session, inbound(session, talk, now), update, now)
    assert moved.id == proposed.id
    assert (moved.status, moved.starts_at, moved.duration_minutes) == (
        MeetingStatus.SCHEDULED,
        datetime(2026, 12, 4, 10, tzinfo=UTC),
        60,
    )

    cancel = google_invitation(method="CANCEL", status="CANCELLED", sequence=2)
    meetings.read_invitation(session, inbound(session, talk, now), cancel, now)
    assert session.scalar(select(func.count()).select_from(Meeting)) == 1
    assert moved.status is MeetingStatus.CANCELLED
    assert session.get_one(Outreach, talk.outreach.id).state.value == "replied"


def test_only_the_sender_of_an_invitation_can_change_it(
    session: Session, talk: Conversation, now: datetime
) -> None:
    (original,) = meetings.read_invitation(
        session, inbound(session, talk, now), google_invitation(), now
    )
    other = make_approved_requests(session, talk.user, now, name="Mallory")[0]
    record_sent(session, other.id, now)
    stranger_outreach = session.get_one(Outreach, other.outreach_id)
    advance(session, stranger_outreach, Trigger.REPLY_RECEIVED, now, "reply received")
    stranger = Conversation(talk.user, stranger_outreach.contact, stranger_outreach)
    cancel = google_invitation(method="CANCEL", status="CANCELLED")
    moved = google_invitation(start="20261204T100000", end="20261204T110000", sequence=1)

    cancelled = meetings.read_invitation(session, inbound(session, stranger, now), cancel, now)
    (theirs,) = meetings.read_invitation(session, inbound(session, stranger, now), moved, now)

    assert cancelled == []
    assert theirs.id != original.id and theirs.contact_id == stranger.contact.id
    assert (original.status, original.starts_at) == (MeetingStatus.PROPOSED, MEETING_AT)


def test_the_same_invitation_again_changes_nothing(
    session: Session, talk: Conversation, now: datetime
) -> None:
    (first,) = meetings.read_invitation(
        session, inbound(session, talk, now), google_invitation(), now
    )
    (again,) = meetings.read_invitation(
        session, inbound(session, talk, now), google_invitation(sequence=1), now
    )

    assert again.id == first.id
    kinds = session.scalars(select(Event.kind).where(Event.kind.like("invitation:%"))).all()
    assert kinds == ["invitation:received"]


def test_a_dismissed_invitation_changes_nothing(
    session: Session, talk: Conversation, now: datetime
) -> None:
    (proposed,) = meetings.read_invitation(
        session, inbound(session, talk, now), google_invitation(), now
    )

    meetings.dismiss_meeting(session, talk.user, proposed.id, now)

    assert proposed.status is MeetingStatus.CANCELLED
    assert talk.outreach.state is OutreachState.REPLIED
    assert run(session, MEETING_AT + timedelta(hours=1)) == []


def test_a_broken_invitation_leaves_a_note_and_raises_nothing(
    session: Session, talk: Conversation, now: datetime
) -> None:
    message = inbound(session, talk, now)

    found = meetings.read_invitation(
        session, message, with_attachment(b"BEGIN:VCALENDAR\r\nnonsense"), now
    )

    assert found == []
    note = session.scalar(select(Event).where(Event.kind == "invitation:unreadable"))
    assert note is not None and note.message_id == message.id
    assert note.detail.startswith("the reply carries a calendar invitation, but the calendar")
    assert note.detail.endswith("record the meeting yourself")


def test_the_poller_reads_an_invitation_in_a_reply(
    session: Session, world: World, dovecot: DovecotServer, secret_box: SecretBox, now: datetime
) -> None:
    request = sent_request(session, world, now, "alex.lee@org.example", secret_box)
    invitation = google_invitation(student=world.account.user, in_reply_to=request.message_id)
    dovecot.deliver(invitation, world.account.user)
    dovecot.deliver(
        reply_to(request, sender="alex.lee@org.example", body="See you then."),
        world.account.user,
    )

    with ImapSource(imap_login(world.mailbox, secret_box), world.context) as source:
        report = sync_mailbox(session, world.mailbox, source, now)
    session.commit()

    assert report.matched == 2 and report.unreadable == 0
    (meeting,) = session.scalars(select(Meeting)).all()
    assert meeting.status is MeetingStatus.PROPOSED
    assert meeting.outreach_id == request.outreach_id
    assert meeting.invitation_message_id is not None
    outreach = session.get_one(Outreach, request.outreach_id)
    assert outreach.state is OutreachState.REPLIED


# --- the interview records ---------------------------------------------------------------------


def test_interview_records_export_as_csv(
    session: Session, talk: Conversation, now: datetime
) -> None:
    meeting = held(session, talk, now)
    meetings.save_notes(
        session,
        talk.user,
        meeting.id,
        MeetingNotes(
            learned="Lots.", specific_detail="the tour", answers={"entry_pay": "=about 30k"}
        ),
        now,
    )
    meetings.add_referral(
        session, talk.user, meeting.id, Referral("Rosa Parks", "rosa@agency.example"), now
    )

    text = meetings.export_csv(meetings.interview_records(session, talk.user), "Europe/London")

    (row,) = list(csv.DictReader(io.StringIO(text)))
    assert row["name"] == "Alex Lee" and row["role"] == "Analyst"
    assert (row["date"], row["time"], row["time_zone"]) == ("2026-12-03", "14:00", "Europe/London")
    assert row["learned"] == "Lots." and row["specific_detail"] == "the tour"
    # A spreadsheet must not run an answer as a formula.
    assert row["entry_pay"] == "'=about 30k"
    assert row["referrals"] == "Rosa Parks <rosa@agency.example>"
