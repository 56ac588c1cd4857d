"""Finding meetings, and what is on record about them: the thank-you, the timeline."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, and_, exists, func, or_, select
from sqlalchemy.orm import Session, selectinload

from outreach.contacts import get_contact
from outreach.db import owned_row
from outreach.drafts import latest_message
from outreach.models.accounts import User
from outreach.models.contacts import Contact, Target
from outreach.models.meetings import Meeting, MeetingStatus
from outreach.models.messages import Direction, Event, Message, MessageKind, MessageStatus
from outreach.models.outreach import Outreach
from outreach.rules.states import AWAITING_ANSWER, OutreachState
from outreach.timeline import note_about

# Where a meeting may be recorded: a person answered, or the answer came another way
# (by phone, in person) while we were still waiting for one.
MEETABLE = frozenset({OutreachState.REPLIED}) | AWAITING_ANSWER
# A meeting still to come: proposed by an invitation, or scheduled.
OPEN = (MeetingStatus.PROPOSED, MeetingStatus.SCHEDULED)
# Where a time came from when the user proposed it (Meeting.source; beside "manual"
# and "invitation").
PROPOSAL = "proposal"


def invitation_to_confirm() -> ColumnElement[bool]:
    """A meeting read from the contact's invitation, waiting for the user's yes."""
    return and_(Meeting.status == MeetingStatus.PROPOSED, Meeting.source != PROPOSAL)


def proposal_answered() -> ColumnElement[bool]:
    """A time the user proposed that the contact has written back about since."""
    answered = exists().where(
        Message.outreach_id == Meeting.outreach_id,
        Message.direction == Direction.INBOUND,
        Message.kind == MessageKind.REPLY,
        Message.received_at > Meeting.created_at,
    )
    return and_(Meeting.status == MeetingStatus.PROPOSED, Meeting.source == PROPOSAL, answered)


def get_meeting(session: Session, user: User, meeting_id: int) -> Meeting:
    """:raise NotFound: when the meeting does not exist or is someone else's."""
    return owned_row(session, Meeting, meeting_id, user.id, "meeting")


def list_meetings(session: Session, user: User) -> list[Meeting]:
    """All the user's meetings, soonest first, each with its contact loaded."""
    return list(
        session.scalars(
            select(Meeting)
            .where(Meeting.user_id == user.id)
            .options(selectinload(Meeting.contact))
            .order_by(Meeting.starts_at, Meeting.id)
        )
    )


def meetings_for_contact(session: Session, user: User, contact_id: int) -> list[Meeting]:
    """One contact's meetings, soonest first.

    :raise NotFound: when the contact is not the user's.
    """
    contact = get_contact(session, user, contact_id)
    return list(
        session.scalars(
            select(Meeting)
            .where(Meeting.user_id == user.id, Meeting.contact_id == contact.id)
            .order_by(Meeting.starts_at, Meeting.id)
        )
    )


@dataclass(frozen=True)
class MeetableOutreach:
    outreach_id: int
    contact_id: int
    contact_name: str
    target_name: str
    state: OutreachState


def meetable_outreaches(
    session: Session, user: User, contact_id: int | None = None
) -> list[MeetableOutreach]:
    """Outreaches for which a meeting can be recorded, by contact name."""
    query = (
        select(Outreach, Contact, Target)
        .join(Contact, Contact.id == Outreach.contact_id)
        .join(Target, Target.id == Outreach.target_id)
        .where(Outreach.user_id == user.id, Outreach.state.in_(MEETABLE))
        .order_by(Contact.name, Target.name)
    )
    if contact_id is not None:
        query = query.where(Outreach.contact_id == contact_id)
    return [
        MeetableOutreach(outreach.id, contact.id, contact.name, target.name, outreach.state)
        for outreach, contact, target in session.execute(query)
    ]


def thank_you_sent(session: Session, meeting: Meeting) -> bool:
    return (
        session.scalar(
            select(Message.id)
            .where(
                Message.outreach_id == meeting.outreach_id,
                Message.kind == MessageKind.THANK_YOU,
                Message.status == MessageStatus.SENT,
            )
            .limit(1)
        )
        is not None
    )


def thank_you_of(session: Session, meeting: Meeting) -> Message | None:
    """The meeting's latest thank-you that is not cancelled (draft, approved or sent)."""
    return latest_message(
        session,
        meeting.outreach_id,
        MessageKind.THANK_YOU,
        Message.user_id == meeting.user_id,
        Message.status != MessageStatus.CANCELLED,
    )


def overdue_thank_yous(session: Session, user: User, now: datetime) -> list[Meeting]:
    """Meetings held whose thank-you is past due and not sent."""
    sent = exists().where(
        Message.outreach_id == Meeting.outreach_id,
        Message.kind == MessageKind.THANK_YOU,
        Message.status == MessageStatus.SENT,
    )
    return list(
        session.scalars(
            select(Meeting)
            .where(
                Meeting.user_id == user.id,
                Meeting.status == MeetingStatus.HELD,
                Meeting.thank_you_due_at < now,
                ~sent,
            )
            .options(selectinload(Meeting.contact))
            .order_by(Meeting.thank_you_due_at)
        )
    )


def attention_count(session: Session, user: User, now: datetime) -> int:
    """Invitations to confirm, proposed times the contact answered, and thank-yous overdue:
    what the Meetings tab counts. A time proposed and not answered waits on the contact."""
    proposed = session.scalar(
        select(func.count())
        .select_from(Meeting)
        .where(Meeting.user_id == user.id, or_(invitation_to_confirm(), proposal_answered()))
    )
    return (proposed or 0) + len(overdue_thank_yous(session, user, now))


def note_meeting(
    session: Session, meeting: Meeting, kind: str, detail: str, now: datetime
) -> Event:
    """Record an event about a meeting; it points at the invitation it was read from, if any."""
    return note_about(session, meeting, kind, detail, now, meeting.invitation_message_id)
