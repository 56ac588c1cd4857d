"""Read models for the dashboard: where each contact stands, and their timeline."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from outreach.contacts import get_contact
from outreach.cycle import business_days_between
from outreach.models import Contact, Event, Message, MessageStatus, Outreach, Target, User
from outreach.states import OutreachState

STATE_LABELS: dict[OutreachState, str] = {
    OutreachState.PLANNED: "on the list",
    OutreachState.DRAFTED: "drafted",
    OutreachState.WAITING: "waiting",
    OutreachState.FOLLOWED_UP: "followed up",
    OutreachState.REPLIED: "replied",
    OutreachState.NO_REPLY: "no reply",
    OutreachState.BOUNCED: "bounced",
    OutreachState.DECLINED: "declined",
    OutreachState.MEETING_SET: "meeting set",
    OutreachState.MET: "met",
    OutreachState.THANKED: "thanked",
    OutreachState.STOPPED: "stopped",
}


@dataclass(frozen=True)
class BoardRow:
    contact_id: int
    contact_name: str
    contact_email: str
    organisation: str
    target_id: int
    target_name: str
    state: OutreachState
    label: str
    since: datetime
    detail: str


def _detail(outreach: Outreach, target: Target, now: datetime) -> str:
    if outreach.state in {OutreachState.WAITING, OutreachState.FOLLOWED_UP}:
        day = business_days_between(outreach.state_changed_at, now)
        return f"day {min(day, target.wait_business_days)} of {target.wait_business_days}"
    if outreach.state is OutreachState.DRAFTED:
        return "waiting for your approval"
    return _NEXT_STEP.get(outreach.state, "")


# What the user might do next, for the states that end the automatic cycle.
_NEXT_STEP: dict[OutreachState, str] = {
    OutreachState.PLANNED: "waits its turn on the list",
    OutreachState.REPLIED: "they answered: reply and set a time",
    OutreachState.NO_REPLY: "no answer; the next name is up",
    OutreachState.BOUNCED: "the address failed: check it",
    OutreachState.DECLINED: "they declined; ask for other names?",
    OutreachState.MEETING_SET: "confirm the day before",
    OutreachState.MET: "write your notes and a thank-you",
    OutreachState.THANKED: "keep in touch in a few months",
}


def status_board(
    session: Session,
    user: User,
    now: datetime,
    *,
    target_id: int | None = None,
    state: OutreachState | None = None,
) -> list[BoardRow]:
    """Every outreach of the user, newest change first, optionally filtered."""
    query = (
        select(Outreach, Contact, Target)
        .join(Contact, Contact.id == Outreach.contact_id)
        .join(Target, Target.id == Outreach.target_id)
        .where(Outreach.user_id == user.id)
        .order_by(Outreach.state_changed_at.desc(), Outreach.id.desc())
    )
    if target_id is not None:
        query = query.where(Outreach.target_id == target_id)
    if state is not None:
        query = query.where(Outreach.state == state)
    rows: list[BoardRow] = []
    for outreach, contact, target in session.execute(query):
        rows.append(
            BoardRow(
                contact_id=contact.id,
                contact_name=contact.name,
                contact_email=contact.email,
                organisation=contact.organisation,
                target_id=target.id,
                target_name=target.name,
                state=outreach.state,
                label=STATE_LABELS[outreach.state],
                since=outreach.state_changed_at,
                detail=_detail(outreach, target, now),
            )
        )
    return rows


def pending_draft_count(session: Session, user: User) -> int:
    return (
        session.scalar(
            select(func.count())
            .select_from(Message)
            .where(Message.user_id == user.id, Message.status == MessageStatus.DRAFT)
        )
        or 0
    )


@dataclass(frozen=True)
class TimelineEntry:
    at: datetime
    kind: str
    detail: str
    message: Message | None


def timeline(session: Session, user: User, contact_id: int) -> list[TimelineEntry]:
    """A contact's events, oldest first, each with its message when it has one.

    :raise NotFound: when the contact is not the user's.
    """
    contact = get_contact(session, user, contact_id)
    events = session.scalars(
        select(Event)
        .where(Event.user_id == user.id, Event.contact_id == contact.id)
        .order_by(Event.created_at, Event.id)
    )
    entries: list[TimelineEntry] = []
    for event in events:
        message = session.get(Message, event.message_id) if event.message_id else None
        entries.append(TimelineEntry(event.created_at, event.kind, event.detail, message))
    return entries
