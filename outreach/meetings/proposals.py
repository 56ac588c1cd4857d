"""A time the user proposed, agreed by the contact: the meeting is set, the invitation drafted;
moved later, the invitation is drafted again as an update.

The confirmation goes in the conversation's thread and carries a calendar
invitation (outreach.meetings.calendar_file) for the contact's calendar. Like
every message it waits for approval, unless the user auto-approves confirmations.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from outreach.accounts import mailbox_for, primary_mailbox
from outreach.drafts import UNSENT, maybe_auto_approve, new_draft
from outreach.meetings.calendar_file import Person, invitation_ics
from outreach.meetings.finding import PROPOSAL, get_meeting
from outreach.meetings.scheduling import MeetingDetails, confirm_meeting, update_meeting
from outreach.meetings.times import when_in_words
from outreach.models import (
    Contact,
    Meeting,
    MeetingStatus,
    Message,
    MessageKind,
    MessageStatus,
    User,
)
from outreach.rules.compose import reply_subject, thread_headers
from outreach.timeline import note_message


@dataclass(frozen=True)
class Agreed:
    meeting: Meeting
    # The confirmation with the invitation; None for a meeting the contact invited us to.
    confirmation: Message | None


def agree_to_meeting(session: Session, user: User, meeting_id: int, now: datetime) -> Agreed:
    """The contact said yes: the meeting is set and, for a time we proposed, invited to.

    :raise NotFound: when the meeting is not the user's.
    :raise ValidationError: when it is not waiting for an answer.
    """
    meeting = confirm_meeting(session, user, meeting_id, now)
    if meeting.source != PROPOSAL:
        return Agreed(meeting, None)  # their own invitation: their calendar has it already
    return Agreed(meeting, draft_invitation(session, user, meeting, now))


def reschedule(
    session: Session, user: User, meeting_id: int, details: MeetingDetails, now: datetime
) -> Agreed:
    """Change a meeting (update_meeting); an agreed time the user proposed is invited again.

    The new invitation keeps the UID and raises SEQUENCE past every one sent, so the
    contact's calendar moves the event it has. A change that leaves the invitation
    on its way as it was drafts nothing.

    :raise NotFound: when the meeting is not the user's.
    :raise ValidationError: when it was already held or cancelled.
    """
    before = _shape(get_meeting(session, user, meeting_id))
    meeting = update_meeting(session, user, meeting_id, details, now)
    if (
        meeting.source != PROPOSAL
        or meeting.status is not MeetingStatus.SCHEDULED
        or _shape(meeting) == before
    ):
        return Agreed(meeting, None)
    sent, waiting = _invitations(session, meeting)
    if waiting:
        # Moved, the waiting invitation was cancelled; a new place only: it is redrawn.
        for old in waiting:
            old.status = MessageStatus.CANCELLED
            old.error = "the meeting changed"
    elif not sent:
        return Agreed(meeting, None)  # never invited: nothing to correct
    return Agreed(meeting, draft_invitation(session, user, meeting, now, sequence=len(sent)))


def _shape(meeting: Meeting) -> tuple[datetime, int, str]:
    """What an invitation says about a meeting."""
    return meeting.starts_at, meeting.duration_minutes, meeting.place


def _invitations(session: Session, meeting: Meeting) -> tuple[list[Message], list[Message]]:
    """The meeting's invitations sent (or maybe sent), and those still waiting to go."""
    found = list(
        session.scalars(
            select(Message).where(
                Message.outreach_id == meeting.outreach_id,
                Message.kind == MessageKind.CONFIRMATION,
                Message.calendar_ics != "",
            )
        )
    )
    gone = (MessageStatus.SENT, MessageStatus.SENDING, MessageStatus.UNKNOWN)
    return (
        [one for one in found if one.status in gone],
        [one for one in found if one.status in UNSENT],
    )


def _thread_end(session: Session, meeting: Meeting) -> Message | None:
    """The conversation's newest message with a Message-ID, sent or received."""
    return session.scalar(
        select(Message)
        .where(
            Message.outreach_id == meeting.outreach_id,
            Message.message_id.is_not(None),
            Message.status.in_((MessageStatus.SENT, MessageStatus.RECEIVED)),
        )
        .order_by(Message.id.desc())
        .limit(1)
    )


def draft_invitation(
    session: Session, user: User, meeting: Meeting, now: datetime, sequence: int = 0
) -> Message:
    """The confirmation of an agreed meeting, in the thread, with its calendar invitation;
    with a `sequence` above 0, the update of one sent before."""
    contact = session.get(Contact, meeting.contact_id)
    assert contact is not None
    mailbox = mailbox_for(session, user, contact.email) or primary_mailbox(session, user)
    organiser = Person(
        (mailbox.display_name if mailbox else "") or user.name,
        mailbox.email_address if mailbox else user.email,
    )
    when = when_in_words(meeting.starts_at, user.time_zone)
    place = meeting.place.strip()
    draft = new_draft(user, contact, meeting.outreach_id, MessageKind.CONFIRMATION, now)
    last = _thread_end(session, meeting)
    if last is not None:
        draft.subject = reply_subject(last.subject or "Our conversation")
        draft.in_reply_to, draft.references = thread_headers(last.message_id, last.references)
    else:
        draft.subject = f"Our conversation on {when}"
    where = f", {place.splitlines()[0]}" if place else ""
    said = (
        f"Our conversation has moved, as agreed: {when}, {meeting.duration_minutes} minutes"
        f"{where}. The updated invitation is attached; it replaces the one I sent before."
        if sequence
        else f"Thank you, that is in my calendar: {when}, {meeting.duration_minutes} minutes"
        f"{where}. The invitation is attached, so you can add it to yours."
    )
    draft.body_text = (
        f"Dear {contact.first_name or contact.name},\n\n{said}\n\n"
        "I look forward to our conversation.\n\n"
        f"Best wishes,\n{user.signature or user.name}\n"
    )
    draft.calendar_ics = invitation_ics(
        uid=meeting.invitation_uid or f"meeting-{meeting.id}@outreach",
        starts_at=meeting.starts_at,
        duration_minutes=meeting.duration_minutes,
        summary=f"Conversation: {contact.name} and {organiser.name}",
        description=f"An informational conversation of {meeting.duration_minutes} minutes.",
        place=place,
        organiser=organiser,
        attendee=Person(contact.name, contact.email),
        stamp=now,
        sequence=sequence,
    )
    session.add(draft)
    session.flush()
    what = "updated calendar invitation" if sequence else "confirmation with a calendar invitation"
    note_message(session, draft, "drafted", f"{what} drafted", now)
    maybe_auto_approve(session, user, draft, now)
    return draft
