"""What needs the user's attention today, for the top of the home page.

Drafts waiting for approval (and those blocked by missing information),
meetings today and tomorrow, invitations to confirm, thank-yous overdue, replies
nobody has answered with a meeting yet, recent bounces and declines, possible
replies to confirm, and a mailbox that needs the user. Each part is
one query, so the panel costs the same for ten names or ten thousand.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import ColumnElement, exists, func, select
from sqlalchemy.orm import Session, selectinload

from outreach.board import pending_draft_count
from outreach.corrections import PossibleReply, pending_possible_replies
from outreach.data_version import read_version
from outreach.meetings.finding import (
    invitation_to_confirm,
    overdue_thank_yous,
    proposal_answered,
)
from outreach.meetings.times import is_over
from outreach.models import (
    Contact,
    Mailbox,
    MailboxStatus,
    Meeting,
    MeetingStatus,
    Message,
    MessageStatus,
    Outreach,
    Target,
    User,
)
from outreach.rules.cycle import zone_of
from outreach.rules.states import OutreachState

# Replies listed by name; beyond these the panel gives the number and a link.
REPLIES_SHOWN = 5
MAILBOX_NEEDS_USER = (MailboxStatus.NEEDS_ATTENTION, MailboxStatus.NEEDS_SIGN_IN)
# Bounces and declines stay on the panel this long: time to fix an address or say thanks.
SETBACK_DAYS = 14
SETBACKS = (OutreachState.BOUNCED, OutreachState.DECLINED)
# A meeting still open: proposed from an invitation, or agreed.
_OPEN_MEETING = (MeetingStatus.PROPOSED, MeetingStatus.SCHEDULED)


@dataclass(frozen=True)
class UpcomingMeeting:
    meeting_id: int
    contact_id: int
    contact_name: str
    starts_at: datetime
    # Whether it is today (else tomorrow), in the user's time zone.
    today: bool
    place: str


@dataclass(frozen=True)
class OverdueThankYou:
    meeting_id: int
    contact_id: int
    contact_name: str
    held_at: datetime


@dataclass(frozen=True)
class WaitingReply:
    contact_id: int
    contact_name: str
    target_name: str
    # When the reply moved the outreach to "replied".
    since: datetime


@dataclass(frozen=True)
class Setback:
    """A recent bounce or decline: fix the address, or thank them and move on."""

    contact_id: int
    contact_name: str
    target_id: int
    target_name: str
    bounced: bool  # else declined
    since: datetime


@dataclass(frozen=True)
class MailboxProblem:
    mailbox_id: int
    address: str
    needs_sign_in: bool


@dataclass(frozen=True)
class Attention:
    drafts_waiting: int
    # Of those, the drafts that miss a value or hold text to fix: they cannot be approved yet.
    drafts_blocked: int
    meetings_soon: list[UpcomingMeeting]
    invitations_to_confirm: int
    # Times the user proposed that the contact has since written back about.
    proposals_answered: int
    overdue_thank_yous: list[OverdueThankYou]
    # Oldest first, at most REPLIES_SHOWN of them; `replies_waiting` counts them all.
    replies: list[WaitingReply]
    replies_waiting: int
    # Bounces and declines of the last SETBACK_DAYS, newest first.
    setbacks: list[Setback]
    # Messages matched only by the sender's domain, for the user to confirm or dismiss.
    possible_replies: list[PossibleReply]
    mailboxes: list[MailboxProblem]

    @property
    def all_done(self) -> bool:
        return not (
            self.drafts_waiting
            or self.meetings_soon
            or self.invitations_to_confirm
            or self.proposals_answered
            or self.overdue_thank_yous
            or self.replies_waiting
            or self.setbacks
            or self.possible_replies
            or self.mailboxes
        )


def _local_midnight(day: date, time_zone: str) -> datetime:
    return datetime.combine(day, time.min, tzinfo=zone_of(time_zone)).astimezone(UTC)


def meetings_today_and_tomorrow(
    session: Session, user: User, now: datetime
) -> list[UpcomingMeeting]:
    """Agreed meetings not yet over, from now to the end of tomorrow, in the user's zone.

    One that has ended is not "today at 06:15: your conversation" any more, even
    before the sweep marks it held.
    """
    today = now.astimezone(zone_of(user.time_zone)).date()
    start = _local_midnight(today, user.time_zone)
    tomorrow = _local_midnight(today + timedelta(days=1), user.time_zone)
    end = _local_midnight(today + timedelta(days=2), user.time_zone)
    meetings = session.scalars(
        select(Meeting)
        .where(
            Meeting.user_id == user.id,
            Meeting.status == MeetingStatus.SCHEDULED,
            Meeting.starts_at >= start,
            Meeting.starts_at < end,
        )
        .options(selectinload(Meeting.contact))
        .order_by(Meeting.starts_at, Meeting.id)
    )
    return [
        UpcomingMeeting(
            meeting_id=meeting.id,
            contact_id=meeting.contact_id,
            contact_name=meeting.contact.name,
            starts_at=meeting.starts_at,
            today=meeting.starts_at < tomorrow,
            place=meeting.place.strip().splitlines()[0] if meeting.place.strip() else "",
        )
        for meeting in meetings
        if not is_over(meeting, now)
    ]


def _replied_without_meeting(user: User) -> list[ColumnElement[bool]]:
    """The conditions of a reply no meeting has followed yet."""
    open_meeting = exists().where(
        Meeting.outreach_id == Outreach.id, Meeting.status.in_(_OPEN_MEETING)
    )
    return [
        Outreach.user_id == user.id,
        Outreach.state == OutreachState.REPLIED,
        ~open_meeting,
    ]


def waiting_replies(
    session: Session, user: User, limit: int = REPLIES_SHOWN
) -> tuple[list[WaitingReply], int]:
    """Replies with no meeting recorded, oldest first (at most `limit`), and how many in all."""
    conditions = _replied_without_meeting(user)
    total = session.scalar(select(func.count()).select_from(Outreach).where(*conditions)) or 0
    if not total:
        return [], 0
    rows = session.execute(
        select(Outreach.state_changed_at, Contact.id, Contact.name, Target.name)
        .join(Contact, Contact.id == Outreach.contact_id)
        .join(Target, Target.id == Outreach.target_id)
        .where(*conditions)
        .order_by(Outreach.state_changed_at, Outreach.id)
        .limit(limit)
    )
    replies = [
        WaitingReply(contact_id=contact_id, contact_name=name, target_name=target, since=since)
        for since, contact_id, name, target in rows
    ]
    return replies, total


def blocked_draft_count(session: Session, user: User) -> int:
    """Drafts that cannot be approved until the user gives a value or fixes the text."""
    return (
        session.scalar(
            select(func.count())
            .select_from(Message)
            .where(
                Message.user_id == user.id,
                Message.status == MessageStatus.DRAFT,
                (Message.needs != "") | Message.error.is_not(None),
            )
        )
        or 0
    )


def recent_setbacks(
    session: Session, user: User, now: datetime, limit: int = REPLIES_SHOWN
) -> list[Setback]:
    """Bounces and declines of the last SETBACK_DAYS, newest first (at most `limit`)."""
    rows = session.execute(
        select(Outreach.state, Outreach.state_changed_at, Contact.id, Contact.name, Target)
        .join(Contact, Contact.id == Outreach.contact_id)
        .join(Target, Target.id == Outreach.target_id)
        .where(
            Outreach.user_id == user.id,
            Outreach.state.in_(SETBACKS),
            Outreach.state_changed_at >= now - timedelta(days=SETBACK_DAYS),
        )
        .order_by(Outreach.state_changed_at.desc(), Outreach.id.desc())
        .limit(limit)
    )
    return [
        Setback(
            contact_id=contact_id,
            contact_name=name,
            target_id=target.id,
            target_name=target.name,
            bounced=state is OutreachState.BOUNCED,
            since=since,
        )
        for state, since, contact_id, name, target in rows
    ]


def mailboxes_needing_user(session: Session, user: User) -> list[MailboxProblem]:
    rows = session.scalars(
        select(Mailbox)
        .where(Mailbox.user_id == user.id, Mailbox.status.in_(MAILBOX_NEEDS_USER))
        .order_by(Mailbox.id)
    )
    return [
        MailboxProblem(
            mailbox_id=mailbox.id,
            address=mailbox.email_address,
            needs_sign_in=mailbox.status is MailboxStatus.NEEDS_SIGN_IN,
        )
        for mailbox in rows
    ]


def invitations_to_confirm(session: Session, user: User) -> int:
    """Meetings read from a calendar invitation that wait for the user to confirm them."""
    return _count_meetings(session, user, invitation_to_confirm())


def proposals_answered(session: Session, user: User) -> int:
    """Times the user proposed that the contact has answered: agreed, or another time?"""
    return _count_meetings(session, user, proposal_answered())


def _count_meetings(session: Session, user: User, condition: ColumnElement[bool]) -> int:
    return (
        session.scalar(
            select(func.count()).select_from(Meeting).where(Meeting.user_id == user.id, condition)
        )
        or 0
    )


def needs_attention(
    session: Session,
    user: User,
    now: datetime,
    mailboxes: Sequence[MailboxProblem] | None = None,
) -> Attention:
    """Everything the home page's "Needs your attention today" panel lists.

    `mailboxes`, when given, are the user's mailboxes that need them, already
    read for this page (the dashboard's banner reads them once per request).
    """
    replies, replies_total = waiting_replies(session, user)
    return Attention(
        drafts_waiting=pending_draft_count(session, user),
        drafts_blocked=blocked_draft_count(session, user),
        meetings_soon=meetings_today_and_tomorrow(session, user, now),
        invitations_to_confirm=invitations_to_confirm(session, user),
        proposals_answered=proposals_answered(session, user),
        overdue_thank_yous=[
            OverdueThankYou(
                meeting_id=meeting.id,
                contact_id=meeting.contact_id,
                contact_name=meeting.contact.name,
                held_at=meeting.held_at or meeting.starts_at,
            )
            for meeting in overdue_thank_yous(session, user, now)
        ],
        replies=replies,
        replies_waiting=replies_total,
        setbacks=recent_setbacks(session, user, now),
        possible_replies=pending_possible_replies(session, user),
        mailboxes=list(mailboxes)
        if mailboxes is not None
        else mailboxes_needing_user(session, user),
    )


def home_version(session: Session, user: User, now: datetime) -> str:
    """A short fingerprint of what the home page shows; it changes when any of it does.

    The user's data version (`outreach.data_version`: every transaction that changes
    anything of theirs raises it) read from the database, one query by primary key,
    for the board's live updates to ask every few seconds.
    """
    return board_version(read_version(session, user.id), user.time_zone, now)


def board_version(data_version: int, time_zone: str, now: datetime) -> str:
    """The home page's fingerprint from a data version already read (the signed-in
    user's row): the data, and the hour of the user's day, since "sent today",
    meetings today and thank-yous overdue move on with the clock alone."""
    return f"{data_version}.{now.astimezone(zone_of(time_zone)):%Y%m%d%H}"
