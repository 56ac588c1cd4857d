"""The meetings' time-based steps, which the scheduler takes: confirmation the day
before, held -> thank-you, and the keep-in-touch update months later.

Each is claimed by a compare-and-set on its row, so two workers running them
together take each step once.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from outreach.db import compare_and_set
from outreach.meetings.letters import draft_for_meeting, draft_thank_you
from outreach.meetings.scheduling import cancel_unsent_of
from outreach.meetings.times import ends_at
from outreach.models import Contact, Meeting, MeetingStatus, MessageKind, Outreach, User
from outreach.rules.cycle import zone_of
from outreach.rules.states import OutreachState, Trigger, can_apply
from outreach.transitions import transition

# A thank-you goes within two days of the conversation.
THANK_YOU_WITHIN = timedelta(days=2)


def confirmation_due_at(meeting: Meeting, time_zone: str) -> datetime:
    """The same wall-clock time the day before, in the user's zone."""
    local = meeting.starts_at.astimezone(zone_of(time_zone))
    return (local - timedelta(days=1)).astimezone(UTC)


def _confirmations(session: Session, now: datetime) -> Iterator[str]:
    candidates = session.scalars(
        select(Meeting).where(
            Meeting.status == MeetingStatus.SCHEDULED,
            Meeting.confirmation_drafted_at.is_(None),
            Meeting.starts_at > now,
            # Nothing due more than a day and a bit ahead (the zone's DST shift included).
            Meeting.starts_at <= now + timedelta(hours=26),
        )
    ).all()
    for meeting in candidates:
        user = session.get(User, meeting.user_id)
        assert user is not None
        due = confirmation_due_at(meeting, user.time_zone)
        # Agreed less than a day ahead: it was just arranged, a confirmation would only echo it.
        if now < due or meeting.created_at > due:
            continue
        claim = (
            update(Meeting)
            .where(
                Meeting.id == meeting.id,
                Meeting.status == MeetingStatus.SCHEDULED,
                Meeting.confirmation_drafted_at.is_(None),
            )
            .values(confirmation_drafted_at=now)
        )
        if not compare_and_set(session, claim):
            continue
        contact = session.get(Contact, meeting.contact_id)
        if contact is not None and contact.do_not_contact:
            continue
        draft = draft_for_meeting(session, user, meeting, MessageKind.CONFIRMATION, now)
        yield f"meeting {meeting.id}: confirmation drafted (message {draft.id})"


def _held(session: Session, now: datetime) -> Iterator[str]:
    candidates = session.scalars(
        select(Meeting).where(Meeting.status == MeetingStatus.SCHEDULED, Meeting.starts_at < now)
    ).all()
    for meeting in candidates:
        end = ends_at(meeting)
        if end > now:
            continue
        claim = (
            update(Meeting)
            .where(Meeting.id == meeting.id, Meeting.status == MeetingStatus.SCHEDULED)
            .values(status=MeetingStatus.HELD, held_at=now, thank_you_due_at=end + THANK_YOU_WITHIN)
        )
        if not compare_and_set(session, claim):
            continue
        session.refresh(meeting)
        user = session.get(User, meeting.user_id)
        outreach = session.get(Outreach, meeting.outreach_id)
        assert user is not None and outreach is not None
        if can_apply(outreach.state, Trigger.MEETING_HELD):
            transition(
                session,
                outreach,
                Trigger.MEETING_HELD,
                now,
                "met: write your notes and a thank-you",
            )
        cancel_unsent_of(session, meeting, MessageKind.CONFIRMATION)
        draft = draft_thank_you(session, user, meeting, now)
        yield f"meeting {meeting.id}: held; thank-you drafted (message {draft.id})"


def _keep_in_touch(session: Session, now: datetime) -> Iterator[str]:
    candidates = session.scalars(
        select(Outreach).where(
            Outreach.state == OutreachState.THANKED,
            Outreach.keep_in_touch_at.is_not(None),
            Outreach.keep_in_touch_at <= now,
        )
    ).all()
    for outreach in candidates:
        claim = (
            update(Outreach)
            .where(
                Outreach.id == outreach.id, Outreach.keep_in_touch_at == outreach.keep_in_touch_at
            )
            .values(keep_in_touch_at=None)
        )
        if not compare_and_set(session, claim):
            continue
        meeting = session.scalar(
            select(Meeting)
            .where(Meeting.outreach_id == outreach.id, Meeting.status == MeetingStatus.HELD)
            .order_by(Meeting.starts_at.desc())
            .limit(1)
        )
        user = session.get(User, outreach.user_id)
        contact = session.get(Contact, outreach.contact_id)
        assert user is not None and contact is not None
        if meeting is None or contact.do_not_contact:
            continue
        draft = draft_for_meeting(session, user, meeting, MessageKind.KEEP_IN_TOUCH, now)
        yield f"outreach {outreach.id}: keep-in-touch update drafted (message {draft.id})"


def run_due(session: Session, now: datetime) -> list[str]:
    """Take every meeting step that is due at `now`; return one line per step taken.

    The day before a scheduled meeting, a confirmation is drafted; after its end
    the meeting is held, the contact "met", and the thank-you drafted; when the
    keep-in-touch day comes, a short update is drafted. Each is claimed by a
    compare-and-set on its row, so a second run, or a second worker, takes none again.
    """
    return [*_confirmations(session, now), *_held(session, now), *_keep_in_touch(session, now)]
