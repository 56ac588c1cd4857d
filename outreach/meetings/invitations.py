"""Calendar invitations in replies: each becomes a PROPOSED meeting for the user to confirm.

The parser of the invitation itself is outreach.reading.invitations (reading mail).
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from outreach.meetings.finding import OPEN, note_meeting
from outreach.meetings.scheduling import MeetingDetails, call_off, move_meeting
from outreach.meetings.times import describe
from outreach.models import Meeting, MeetingStatus, Message, User
from outreach.reading.invitations import Invitation, InvitationError, calendar_parts, invitations_in
from outreach.timeline import note_message

log = logging.getLogger(__name__)


def read_invitation(session: Session, message: Message, raw: bytes, now: datetime) -> list[Meeting]:
    """Take in the calendar invitations of a stored inbound reply; never raises.

    A new invitation becomes a PROPOSED meeting for the user to confirm. The same
    UID again (an update) changes that meeting rather than adding one; METHOD:CANCEL
    cancels it. A calendar that cannot be read leaves a note on the timeline.
    """
    if message.outreach_id is None or message.contact_id is None:
        return []
    try:
        if not calendar_parts(raw):
            return []  # most replies: no savepoint, no second look
    except Exception:  # noqa: BLE001 - a message too broken to walk has no calendar we can use
        return []
    try:
        with session.begin_nested():
            return _read_invitation(session, message, raw, now)
    except Exception as error:  # noqa: BLE001 - hostile input must not stop the poller
        log.warning("invitation in message %s not taken in: %r", message.id, error)
        problem = str(error) if isinstance(error, InvitationError) else "it could not be read"
        note_message(
            session,
            message,
            "invitation:unreadable",
            f"the reply carries a calendar invitation, but {problem}; record the meeting yourself",
            now,
        )
        return []


def _read_invitation(
    session: Session, message: Message, raw: bytes, now: datetime
) -> list[Meeting]:
    user = session.get(User, message.user_id)
    time_zone = user.time_zone if user else "UTC"
    meetings: list[Meeting] = []
    for invitation in invitations_in(raw, time_zone):
        # Only the contact who sent an invitation can change it: a UID is no secret.
        existing = session.scalar(
            select(Meeting).where(
                Meeting.user_id == message.user_id,
                Meeting.contact_id == message.contact_id,
                Meeting.invitation_uid == invitation.uid,
            )
        )
        if invitation.cancelled:
            if existing is not None and existing.status in OPEN:
                call_off(session, existing, now, "the contact cancelled the invitation")
                meetings.append(existing)
            continue
        if not invitation.proposes:
            continue
        if existing is None:
            meetings.append(_propose(session, message, invitation, now, time_zone))
        else:
            meetings.append(_update_from(session, existing, message, invitation, now, time_zone))
    return meetings


def _propose(
    session: Session, message: Message, invitation: Invitation, now: datetime, time_zone: str
) -> Meeting:
    assert message.outreach_id is not None and message.contact_id is not None
    meeting = Meeting(
        user_id=message.user_id,
        outreach_id=message.outreach_id,
        contact_id=message.contact_id,
        starts_at=invitation.starts_at,
        duration_minutes=invitation.duration_minutes,
        place=invitation.place,
        status=MeetingStatus.PROPOSED,
        source="invitation",
        invitation_uid=invitation.uid,
        invitation_message_id=message.id,
        created_at=now,
    )
    session.add(meeting)
    session.flush()
    note_meeting(
        session,
        meeting,
        "invitation:received",
        f"invitation received for {describe(meeting, time_zone)}: confirm it on the Meetings page",
        now,
    )
    return meeting


def _update_from(
    session: Session,
    meeting: Meeting,
    message: Message,
    invitation: Invitation,
    now: datetime,
    time_zone: str,
) -> Meeting:
    if meeting.status is MeetingStatus.HELD:
        return meeting  # the conversation happened; a late update changes nothing
    meeting.invitation_message_id = message.id
    same = (meeting.starts_at, meeting.duration_minutes, meeting.place) == (
        invitation.starts_at,
        invitation.duration_minutes,
        invitation.place,
    )
    if same and meeting.status is not MeetingStatus.CANCELLED:
        return meeting  # sent again (a guest added, a description edited): nothing to do
    if meeting.status is MeetingStatus.CANCELLED:
        # Invited again after a cancellation: a new proposal to confirm.
        meeting.status = MeetingStatus.PROPOSED
        meeting.confirmation_drafted_at = None
    move_meeting(
        session,
        meeting,
        MeetingDetails(invitation.starts_at, invitation.duration_minutes, invitation.place),
    )
    note_meeting(
        session,
        meeting,
        "invitation:updated",
        f"the invitation was updated: now {describe(meeting, time_zone)}",
        now,
    )
    return meeting
