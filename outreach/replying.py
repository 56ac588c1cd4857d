"""Answering a person's reply: a draft in their thread, perhaps proposing a time to talk.

The composer shows the reply quoted below the user's text and offers the next
of the user's usual free times (outreach.rules.free_times). Saving makes a draft
of kind ANSWER, in the thread (In-Reply-To, References, "Re:"), that goes through
approval and the Outbox like every message. A time chosen becomes a PROPOSED
meeting (source "proposal"); when the contact agrees, outreach.meetings.proposals
sets it and drafts the confirmation with a calendar invitation.

The reply is a stranger's text: it is quoted as text (the dashboard escapes it),
and its Message-IDs go into our headers only when they read as Message-IDs.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from outreach.corrections import Verdict, current_verdict
from outreach.db import owned_row
from outreach.drafts import UNSENT, new_draft
from outreach.errors import ValidationError
from outreach.meetings.finding import MEETABLE, OPEN, PROPOSAL, note_meeting
from outreach.meetings.times import describe
from outreach.models import (
    Contact,
    Direction,
    Meeting,
    MeetingStatus,
    Message,
    MessageKind,
    Outreach,
    User,
)
from outreach.reading.quoting import split_reply
from outreach.rules.compose import domain_of, reply_subject, thread_headers
from outreach.rules.cycle import BusinessCalendar, zone_of
from outreach.rules.free_times import next_free_slots, parse_free_times, slot_sentence
from outreach.rules.plain_text import refuse_control_characters
from outreach.timeline import note_message

PROPOSED_MINUTES = 30
MAX_TEXT = 10_000
MAX_QUOTED = 5_000


@dataclass(frozen=True)
class Composer:
    """What the composer shows for one outreach's latest reply."""

    outreach: Outreach
    contact: Contact
    reply: Message
    subject: str
    quoted: str
    # The next of the user's usual free times (UTC); empty when the profile gives none.
    slots: list[datetime]
    # Whether a time may be proposed: not when a meeting is already set or held.
    can_propose: bool
    has_free_times: bool


@dataclass(frozen=True)
class Answer:
    draft: Message
    meeting: Meeting | None


def latest_reply(session: Session, outreach: Outreach) -> Message | None:
    """The person's newest reply in this outreach, as read or as corrected by the user.

    A message the user said is not related, or a possible reply they have not
    looked at yet, is nobody's reply to answer.
    """
    replies = session.scalars(
        select(Message)
        .where(
            Message.outreach_id == outreach.id,
            Message.direction == Direction.INBOUND,
            Message.kind == MessageKind.REPLY,
        )
        .order_by(Message.received_at.desc(), Message.id.desc())
    )
    answerable = (Verdict.REPLY, Verdict.DECLINE)
    return next((one for one in replies if current_verdict(session, one) in answerable), None)


def quote(reply: Message, name: str, time_zone: str) -> str:
    """ "On Thu 3 Dec 2026 at 14:05, Tom Okafor wrote:" and their own words, "> "-quoted."""
    when = (reply.received_at or reply.created_at).astimezone(zone_of(time_zone))
    said = split_reply(reply.body_text).new_text[:MAX_QUOTED]
    lines = [f"> {line}".rstrip() for line in said.split("\n")]
    return f"On {when:%a} {when.day} {when:%b %Y at %H:%M}, {name} wrote:\n" + "\n".join(lines)


def _busy(session: Session, user: User) -> list[tuple[datetime, datetime]]:
    return [
        (meeting.starts_at, meeting.starts_at + timedelta(minutes=meeting.duration_minutes))
        for meeting in session.scalars(
            select(Meeting).where(Meeting.user_id == user.id, Meeting.status.in_(OPEN))
        )
    ]


def offered_slots(
    session: Session, user: User, now: datetime, their_zone: str = ""
) -> list[datetime]:
    """The next free times the user's profile offers, clear of meetings already planned,
    within the contact's day when their zone is known."""
    try:
        windows = parse_free_times(user.free_times)
    except ValidationError:
        return []  # saved before the rules tightened: the profile page says what to fix
    return next_free_slots(
        windows,
        user.time_zone,
        now,
        duration_minutes=PROPOSED_MINUTES,
        busy=_busy(session, user),
        days_off=BusinessCalendar.of(user.time_zone, user.holidays).holidays,
        their_zone=their_zone,
    )


def composer(session: Session, user: User, outreach_id: int, now: datetime) -> Composer:
    """What answering the outreach's latest reply starts from.

    :raise NotFound: when the outreach is not the user's.
    :raise ValidationError: when the contact has not replied.
    """
    outreach = owned_row(session, Outreach, outreach_id, user.id, "outreach")
    reply = latest_reply(session, outreach)
    contact = session.get(Contact, outreach.contact_id)
    assert contact is not None  # the outreach goes with its contact (ON DELETE CASCADE)
    if reply is None:
        raise ValidationError(f"{contact.name} has not replied: there is nothing to answer yet")
    return Composer(
        outreach=outreach,
        contact=contact,
        reply=reply,
        subject=reply_subject(reply.subject or "Our conversation"),
        quoted=quote(reply, contact.name, user.time_zone),
        slots=offered_slots(session, user, now, contact.time_zone),
        can_propose=outreach.state in MEETABLE,
        has_free_times=bool(user.free_times.strip()),
    )


def draft_answer(
    session: Session,
    user: User,
    outreach_id: int,
    text: str,
    slot: datetime | None,
    now: datetime,
    *,
    time_in_text: bool = False,
) -> Answer:
    """Write the user's answer to the latest reply as a draft; a time chosen is proposed.

    The time's sentence is added to the text unless the user already put it there
    (`time_in_text`: the composer wrote it in, and the user may have reworded it).

    :raise NotFound: when the outreach is not the user's.
    :raise ValidationError: when the text is empty or too long, or the time is not one offered.
    """
    start = composer(session, user, outreach_id, now)
    refuse_control_characters("your reply", text, multi_line=True)
    own = text.replace("\r\n", "\n").strip()
    if len(own) > MAX_TEXT:
        raise ValidationError(f"your reply is too long ({MAX_TEXT:,} characters at most)")
    sentence = ""
    if slot is not None:
        if not start.can_propose:
            raise ValidationError(
                f"a meeting with {start.contact.name} is already set: "
                "change it on the Meetings page"
            )
        if slot.astimezone(UTC) not in start.slots:
            raise ValidationError("that time is no longer offered: choose one of the times shown")
        sentence = slot_sentence(slot, user.time_zone, start.contact.time_zone, PROPOSED_MINUTES)
        if not time_in_text and sentence not in own:
            own = f"{own}\n\n{sentence}".strip()
    if not own:
        raise ValidationError("write your answer above the quoted reply")

    draft = new_draft(user, start.contact, start.outreach.id, MessageKind.ANSWER, now)
    draft.subject = start.subject
    draft.in_reply_to, draft.references = thread_headers(
        start.reply.message_id, start.reply.references
    )
    draft.body_text = f"{own}\n\n{start.quoted}\n"
    session.add(draft)
    session.flush()
    note_message(session, draft, "drafted", "your answer to their reply drafted", now)
    meeting = _propose(session, user, start, slot, now) if slot is not None else None
    return Answer(draft, meeting)


def _propose(
    session: Session, user: User, start: Composer, slot: datetime, now: datetime
) -> Meeting:
    # Any time proposed before and not agreed is replaced: one open question at a time.
    for earlier in session.scalars(
        select(Meeting).where(
            Meeting.outreach_id == start.outreach.id,
            Meeting.status == MeetingStatus.PROPOSED,
            Meeting.source == PROPOSAL,
        )
    ):
        earlier.status = MeetingStatus.CANCELLED
        note_meeting(session, earlier, "meeting:replaced", "a new time was proposed", now)
    meeting = Meeting(
        user_id=user.id,
        outreach_id=start.outreach.id,
        contact_id=start.contact.id,
        starts_at=slot.astimezone(UTC),
        duration_minutes=PROPOSED_MINUTES,
        status=MeetingStatus.PROPOSED,
        source=PROPOSAL,
        # The calendar invitation's UID, kept for every update of this meeting.
        invitation_uid=f"{uuid.uuid4().hex}@{domain_of(user.email)}",
        created_at=now,
    )
    session.add(meeting)
    session.flush()
    note_meeting(
        session,
        meeting,
        "meeting:proposed",
        f"you proposed {describe(meeting, user.time_zone)}: mark it agreed when they say yes",
        now,
    )
    return meeting


def answered_drafts(session: Session, outreach_id: int) -> int:
    """How many answers to this outreach wait unsent (the composer warns of a second one)."""
    return (
        session.scalar(
            select(func.count())
            .select_from(Message)
            .where(
                Message.outreach_id == outreach_id,
                Message.kind == MessageKind.ANSWER,
                Message.status.in_(UNSENT),
            )
        )
        or 0
    )
