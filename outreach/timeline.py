"""Write the timeline: every transition and every message leaves an Event."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from outreach.models import Event, Meeting, Message, Outreach
from outreach.rules.states import OutreachState, Trigger, apply


def record(
    session: Session,
    *,
    user_id: int,
    kind: str,
    detail: str,
    now: datetime,
    contact_id: int | None = None,
    outreach_id: int | None = None,
    message_id: int | None = None,
) -> Event:
    event = Event(
        user_id=user_id,
        kind=kind,
        detail=detail,
        contact_id=contact_id,
        outreach_id=outreach_id,
        message_id=message_id,
        created_at=now,
    )
    session.add(event)
    return event


def note_about(
    session: Session,
    about: Outreach | Message | Meeting,
    kind: str,
    detail: str,
    now: datetime,
    message_id: int | None = None,
) -> Event:
    """Record an event about an outreach, a message or a meeting on its contact's timeline."""
    return record(
        session,
        user_id=about.user_id,
        kind=kind,
        detail=detail,
        now=now,
        contact_id=about.contact_id,
        outreach_id=about.id if isinstance(about, Outreach) else about.outreach_id,
        message_id=message_id,
    )


def note_message(
    session: Session, message: Message, kind: str, detail: str, now: datetime
) -> Event:
    """Record an event about one message on its contact's timeline."""
    return note_about(session, message, kind, detail, now, message.id)


def advance(
    session: Session,
    outreach: Outreach,
    trigger: Trigger,
    now: datetime,
    detail: str = "",
    message_id: int | None = None,
) -> OutreachState:
    """Move `outreach` by `trigger` and record the step on the timeline.

    :raise InvalidTransition: when the state machine does not allow the step.
    """
    before = outreach.state
    after = apply(before, trigger)
    outreach.state = after
    outreach.state_changed_at = now
    # Words for a person, not the state machine's identifiers.
    words = f"now {after.value.replace('_', ' ')} ({trigger.value.replace('_', ' ')})"
    note_about(session, outreach, f"state:{after.value}", detail or words, now, message_id)
    return after
