"""Scheduling a meeting: record, reschedule, cancel, confirm or dismiss an invitation.

Setting a meeting moves the outreach to MEETING_SET (marking it replied first when
the answer came another way); calling the last one off moves it back to REPLIED,
ready for a new date. Both go through outreach.transitions.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from outreach.db import owned_row
from outreach.drafts import UNSENT
from outreach.errors import ValidationError
from outreach.meetings.finding import MEETABLE, OPEN, PROPOSAL, get_meeting, note_meeting
from outreach.meetings.times import describe
from outreach.models.accounts import User
from outreach.models.meetings import Meeting, MeetingStatus
from outreach.models.messages import Message, MessageKind, MessageStatus
from outreach.models.outreach import Outreach
from outreach.rules.states import AWAITING_ANSWER, OutreachState, Trigger, can_apply
from outreach.transitions import transition

MAX_DURATION_MINUTES = 12 * 60


@dataclass(frozen=True)
class MeetingDetails:
    starts_at: datetime  # aware
    duration_minutes: int = 30
    place: str = ""


def checked(details: MeetingDetails) -> MeetingDetails:
    if details.starts_at.tzinfo is None:
        raise ValidationError("the meeting's time needs a time zone")
    if not 1 <= details.duration_minutes <= MAX_DURATION_MINUTES:
        raise ValidationError("a meeting lasts between 1 minute and 12 hours")
    place = details.place.replace("\r\n", "\n").strip()
    if len(place) > 2000:
        raise ValidationError("the place or call details are too long (2,000 characters at most)")
    return MeetingDetails(details.starts_at.astimezone(UTC), details.duration_minutes, place)


def _set_meeting(session: Session, outreach: Outreach, meeting: Meeting, now: datetime) -> None:
    """Move the outreach to MEETING_SET, marking it replied first if the answer came another way."""
    if outreach.state in AWAITING_ANSWER:
        # They answered another way: a follow-up waiting in the drafts would be wrong now.
        transition(
            session,
            outreach,
            Trigger.REPLY_RECEIVED,
            now,
            "marked as replied by you",
            cancelled_because="they answered: no follow-up needed",
        )
    if outreach.state is OutreachState.MEETING_SET:
        return
    if not can_apply(outreach.state, Trigger.MEETING_SET):
        raise ValidationError(
            f"a meeting cannot be set while the outreach is '{outreach.state.value}'"
        )
    user = session.get(User, outreach.user_id)
    time_zone = user.time_zone if user else "UTC"
    transition(
        session,
        outreach,
        Trigger.MEETING_SET,
        now,
        f"meeting set: {describe(meeting, time_zone)}",
    )


def _replace_other_scheduled(session: Session, meeting: Meeting, now: datetime) -> None:
    """One meeting at a time per outreach: a newer one replaces the one planned before."""
    for other in session.scalars(
        select(Meeting).where(
            Meeting.outreach_id == meeting.outreach_id,
            Meeting.id != meeting.id,
            Meeting.status == MeetingStatus.SCHEDULED,
        )
    ):
        other.status = MeetingStatus.CANCELLED
        cancel_unsent_of(session, other, MessageKind.CONFIRMATION)
        note_meeting(
            session, other, "meeting:replaced", "an earlier meeting was replaced by this one", now
        )


def record_meeting(
    session: Session, user: User, outreach_id: int, details: MeetingDetails, now: datetime
) -> Meeting:
    """Record a meeting the user agreed with a contact.

    :raise NotFound: when the outreach is not the user's.
    :raise ValidationError: when the outreach cannot take a meeting now.
    """
    outreach = owned_row(session, Outreach, outreach_id, user.id, "outreach")
    clean = checked(details)
    if outreach.state not in MEETABLE:
        if outreach.state is OutreachState.MEETING_SET:
            raise ValidationError(
                "a meeting is already set with this person: change or cancel that one"
            )
        raise ValidationError(
            f"a meeting cannot be recorded while the outreach is '{outreach.state.value}'"
        )
    meeting = Meeting(
        user_id=user.id,
        outreach_id=outreach.id,
        contact_id=outreach.contact_id,
        starts_at=clean.starts_at,
        duration_minutes=clean.duration_minutes,
        place=clean.place,
        status=MeetingStatus.SCHEDULED,
        source="manual",
        created_at=now,
    )
    session.add(meeting)
    session.flush()
    _set_meeting(session, outreach, meeting, now)
    return meeting


def cancel_unsent_of(session: Session, meeting: Meeting, kind: MessageKind) -> int:
    """Cancel the meeting's unsent messages of `kind` (compare-and-set: a worker may hold one)."""
    result = session.execute(
        update(Message)
        .where(
            Message.outreach_id == meeting.outreach_id,
            Message.kind == kind,
            Message.status.in_(UNSENT),
        )
        .values(status=MessageStatus.CANCELLED, error="the meeting changed")
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def move_meeting(session: Session, meeting: Meeting, details: MeetingDetails) -> bool:
    """Apply new details; True when the time moved (the confirmation must be redone)."""
    moved = details.starts_at != meeting.starts_at
    meeting.starts_at = details.starts_at
    meeting.duration_minutes = details.duration_minutes
    meeting.place = details.place
    if moved:
        meeting.confirmation_drafted_at = None
        cancel_unsent_of(session, meeting, MessageKind.CONFIRMATION)
    return moved


def update_meeting(
    session: Session, user: User, meeting_id: int, details: MeetingDetails, now: datetime
) -> Meeting:
    """Change a meeting's time, length or place (reschedule).

    :raise NotFound: when the meeting is not the user's.
    :raise ValidationError: when it was already held or cancelled.
    """
    meeting = get_meeting(session, user, meeting_id)
    if meeting.status not in OPEN:
        raise ValidationError(f"this meeting is {meeting.status.value} and can no longer change")
    moved = move_meeting(session, meeting, checked(details))
    what = "meeting moved" if moved else "meeting details changed"
    note_meeting(
        session, meeting, "meeting:changed", f"{what}: {describe(meeting, user.time_zone)}", now
    )
    return meeting


def cancel_meeting(session: Session, user: User, meeting_id: int, now: datetime) -> Meeting:
    """Call a meeting off; the contact is back to 'replied', ready for a new date.

    :raise NotFound: when the meeting is not the user's.
    :raise ValidationError: when it was already held or cancelled.
    """
    meeting = get_meeting(session, user, meeting_id)
    if meeting.status not in OPEN:
        raise ValidationError(f"this meeting is {meeting.status.value} and cannot be cancelled")
    call_off(session, meeting, now, "meeting cancelled")
    return meeting


def call_off(session: Session, meeting: Meeting, now: datetime, detail: str) -> None:
    was_scheduled = meeting.status is MeetingStatus.SCHEDULED
    meeting.status = MeetingStatus.CANCELLED
    cancel_unsent_of(session, meeting, MessageKind.CONFIRMATION)
    outreach = session.get(Outreach, meeting.outreach_id)
    still_planned = session.scalar(
        select(Meeting.id).where(
            Meeting.outreach_id == meeting.outreach_id,
            Meeting.id != meeting.id,
            Meeting.status == MeetingStatus.SCHEDULED,
        )
    )
    if (
        was_scheduled
        and outreach is not None
        and still_planned is None
        and can_apply(outreach.state, Trigger.MEETING_CANCELLED)
    ):
        transition(session, outreach, Trigger.MEETING_CANCELLED, now, detail)
    else:
        note_meeting(session, meeting, "meeting:cancelled", detail, now)


def _proposed_meeting(session: Session, user: User, meeting_id: int) -> Meeting:
    """The user's meeting read from an invitation, still waiting for their answer."""
    meeting = get_meeting(session, user, meeting_id)
    if meeting.status is not MeetingStatus.PROPOSED:
        raise ValidationError(f"this meeting is {meeting.status.value}, not waiting for you")
    return meeting


def confirm_meeting(session: Session, user: User, meeting_id: int, now: datetime) -> Meeting:
    """Accept a meeting read from an invitation: it is scheduled, the contact 'meeting set'.

    :raise NotFound: when the meeting is not the user's.
    :raise ValidationError: when it is not waiting for confirmation.
    """
    meeting = _proposed_meeting(session, user, meeting_id)
    outreach = owned_row(session, Outreach, meeting.outreach_id, user.id, "outreach")
    if outreach.state not in MEETABLE and outreach.state is not OutreachState.MEETING_SET:
        raise ValidationError(
            f"a meeting cannot be set while the outreach is '{outreach.state.value}'"
        )
    meeting.status = MeetingStatus.SCHEDULED
    _replace_other_scheduled(session, meeting, now)
    if outreach.state is OutreachState.MEETING_SET:
        note_meeting(session, meeting, "meeting:confirmed", "invitation confirmed", now)
    else:
        _set_meeting(session, outreach, meeting, now)
    return meeting


def dismiss_meeting(session: Session, user: User, meeting_id: int, now: datetime) -> Meeting:
    """Turn down a meeting read from an invitation (a wrong guess, or a duplicate).

    :raise NotFound: when the meeting is not the user's.
    :raise ValidationError: when it is not waiting for confirmation.
    """
    meeting = _proposed_meeting(session, user, meeting_id)
    meeting.status = MeetingStatus.CANCELLED
    said = "proposed time withdrawn" if meeting.source == PROPOSAL else "invitation dismissed"
    note_meeting(session, meeting, "meeting:dismissed", f"{said} by you", now)
    return meeting
