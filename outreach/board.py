"""Read models for the dashboard: where each contact stands, and their timeline."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from outreach.contacts import get_contact
from outreach.meetings.times import is_over
from outreach.models.accounts import User
from outreach.models.contacts import Contact, Target
from outreach.models.meetings import Meeting, MeetingStatus
from outreach.models.messages import Event, Message, MessageKind, MessageStatus
from outreach.models.outreach import Outreach
from outreach.rules import local_time
from outreach.rules.cycle import CLOCKED, UTC_CALENDAR, BusinessCalendar, compressed_due
from outreach.rules.sandbox_addresses import is_sandbox
from outreach.rules.states import OutreachState
from outreach.targets import calendar_of

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
    # Where they stand and what happens next, and when ("waiting, day 3 of 5; ...").
    detail: str
    # When the cycle's next step for them is due (None when nothing is scheduled).
    next_step_at: datetime | None = None
    outreach_id: int | None = None


def short_date(moment: datetime, calendar: BusinessCalendar, now: datetime) -> str:
    """'Tue 3 Dec' in the user's time zone; the year only when it is not this year's."""
    day = calendar.local_date(moment)
    text = f"{day:%a} {day.day} {day:%b}"
    return text if day.year == calendar.local_date(now).year else f"{text} {day.year}"


@dataclass(frozen=True)
class NextStep:
    """What the board needs to know about an outreach beyond its own row."""

    # The follow-up's status, when one exists and has not gone out or been cancelled.
    follow_up: MessageStatus | None = None
    # A follow-up was drafted at some time (perhaps discarded): none comes next.
    follow_up_drafted: bool = False
    # For a sandbox contact: how long a business day lasts there (None for a real one),
    # so the board says when the compressed clock runs out, not the real date.
    sandbox_day_seconds: float | None = None
    # A meeting agreed with them has ended, though the sweep has not marked it held yet.
    meeting_over: bool = False
    # The user's answer to their reply, while it has not gone out.
    answer: MessageStatus | None = None
    # A time the user proposed (or an invitation read), waiting to be agreed.
    proposed: datetime | None = None


def describe(
    outreach: Outreach,
    target: Target,
    now: datetime,
    calendar: BusinessCalendar = UTC_CALENDAR,
    extra: NextStep = NextStep(),
) -> str:
    """Where the contact stands and what happens next, and when, in the user's words."""
    state = outreach.state
    if state is OutreachState.MEETING_SET and extra.meeting_over:
        return "the meeting is over: write your notes; the thank-you is drafted in a moment"
    if state is OutreachState.DRAFTED:
        return "waiting for your approval"
    if state is OutreachState.PLANNED:
        return "list paused" if target.paused else _NEXT_STEP[state]
    if state is OutreachState.REPLIED:
        return _after_their_reply(extra, calendar, now)
    if state not in CLOCKED:
        return _NEXT_STEP.get(state, "")
    if outreach.handled_by_user:
        return "you are handling this yourself"
    if target.paused:
        return "list paused"
    today = calendar.local_date(now)
    if outreach.away_until is not None and outreach.away_until >= today:
        away = datetime.combine(outreach.away_until, datetime.min.time(), tzinfo=calendar.zone)
        return f"away until {short_date(away, calendar, now)}; clock paused"
    at = outreach.next_step_at

    def due(at: datetime) -> str:
        if extra.sandbox_day_seconds is None:
            return f"on {short_date(at, calendar, now)}"
        sandbox_at = compressed_due(
            outreach.state_changed_at, at, calendar, extra.sandbox_day_seconds
        )
        if sandbox_at <= now:
            return "any moment now (sandbox time)"
        return f"{local_time.soon(sandbox_at, calendar.zone.key, now)} (sandbox time)"

    if state is OutreachState.FOLLOWED_UP:
        return f"followed up; gives up {due(at)}" if at else "followed up"
    if extra.follow_up is MessageStatus.DRAFT:
        return "follow-up waiting for your approval"
    if extra.follow_up is not None:
        return "follow-up approved; in the outbox"
    wait = target.wait_business_days
    if extra.sandbox_day_seconds is not None:
        passed = (now - outreach.state_changed_at).total_seconds() // extra.sandbox_day_seconds
        where = f"waiting, day {min(int(passed) + 1, wait)} of {wait}"
    elif calendar.local_date(outreach.state_changed_at) == today:
        where = "waiting, sent today"
    else:
        elapsed = calendar.between(outreach.state_changed_at, now)
        where = f"waiting, day {min(max(elapsed, 1), wait)} of {wait}"
    if at is None:
        return where
    upcoming = "follow-up" if target.send_follow_up and not extra.follow_up_drafted else "gives up"
    return f"{where}; {upcoming} {due(at)}"


def _after_their_reply(extra: NextStep, calendar: BusinessCalendar, now: datetime) -> str:
    if extra.answer is MessageStatus.DRAFT:
        return "your reply waits for your approval"
    if extra.answer is not None:
        return "your reply is in the outbox"
    if extra.proposed is not None:
        at = extra.proposed.astimezone(calendar.zone)
        when = f"{short_date(extra.proposed, calendar, now)}, {at:%H:%M}"
        return f"time proposed ({when}): mark it agreed when they say yes"
    return _NEXT_STEP[OutreachState.REPLIED]


# What the user might do next, for the states that end the automatic cycle.
_NEXT_STEP: dict[OutreachState, str] = {
    OutreachState.PLANNED: "waits its turn on the list",
    OutreachState.REPLIED: "they answered: reply and set a time",
    OutreachState.NO_REPLY: "no answer; the next name is up",
    OutreachState.BOUNCED: "the address failed: correct it on their page and send again",
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
    contact_id: int | None = None,
    limit: int | None = None,
    offset: int = 0,
    sandbox_day_seconds: float | None = None,
) -> list[BoardRow]:
    """The user's outreaches, newest change first, optionally filtered and one page of them.

    `sandbox_day_seconds` (Settings.sandbox_day_seconds) lets a sandbox contact's row
    say when its compressed clock runs out rather than the real business day.

    `limit` and `offset` page through the rows in the database, so a board of
    ten thousand names reads only the page shown: the page's ids are picked
    from the outreaches alone (a narrow sort), then only those rows are joined
    to their contact and target. Sorting the wide joined rows instead took
    seven times as long with 10,000 names on SQLite.
    """
    newest_first = (Outreach.state_changed_at.desc(), Outreach.id.desc())
    chosen = select(Outreach.id).where(Outreach.user_id == user.id).order_by(*newest_first)
    if target_id is not None:
        chosen = chosen.where(Outreach.target_id == target_id)
    if state is not None:
        chosen = chosen.where(Outreach.state == state)
    if contact_id is not None:
        chosen = chosen.where(Outreach.contact_id == contact_id)
    if limit is not None:
        chosen = chosen.limit(limit)
    if offset:
        chosen = chosen.offset(offset)
    query = (
        select(Outreach, Contact, Target)
        .join(Contact, Contact.id == Outreach.contact_id)
        .join(Target, Target.id == Outreach.target_id)
        .where(Outreach.id.in_(chosen.scalar_subquery()))
        .order_by(*newest_first)
    )
    calendar = calendar_of(user)
    follow_ups = _follow_ups(session, user)
    over = _meetings_over(session, user, now)
    answers = _latest_of_kind(session, user, MessageKind.ANSWER)
    proposed = _proposed_times(session, user)
    rows: list[BoardRow] = []
    for outreach, contact, target in session.execute(query):
        follow_up = follow_ups.get(outreach.id)
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
                detail=describe(
                    outreach,
                    target,
                    now,
                    calendar,
                    NextStep(
                        None if follow_up in _SETTLED else follow_up,
                        follow_up_drafted=follow_up is not None,
                        meeting_over=outreach.id in over,
                        sandbox_day_seconds=sandbox_day_seconds
                        if is_sandbox(contact.email)
                        else None,
                        answer=_unsent(answers.get(outreach.id)),
                        proposed=proposed.get(outreach.id),
                    ),
                ),
                next_step_at=outreach.next_step_at,
                outreach_id=outreach.id,
            )
        )
    return rows


def _meetings_over(session: Session, user: User, now: datetime) -> set[int]:
    """The outreaches whose scheduled meeting has ended (before the sweep marks it held)."""
    scheduled = session.scalars(
        select(Meeting).where(
            Meeting.user_id == user.id,
            Meeting.status == MeetingStatus.SCHEDULED,
            Meeting.starts_at < now,
        )
    )
    return {meeting.outreach_id for meeting in scheduled if is_over(meeting, now)}


def _follow_ups(session: Session, user: User) -> dict[int, MessageStatus]:
    """For each outreach with a follow-up: the status of its latest one."""
    return _latest_of_kind(session, user, MessageKind.FOLLOW_UP)


def _latest_of_kind(session: Session, user: User, kind: MessageKind) -> dict[int, MessageStatus]:
    """For each outreach with a message of `kind`: the status of its latest one."""
    rows = session.execute(
        select(Message.outreach_id, Message.status)
        .where(Message.user_id == user.id, Message.kind == kind)
        .order_by(Message.id)
    )
    return {outreach_id: status for outreach_id, status in rows if outreach_id}


def _proposed_times(session: Session, user: User) -> dict[int, datetime]:
    """For each outreach with a time waiting to be agreed: the latest such time."""
    rows = session.execute(
        select(Meeting.outreach_id, Meeting.starts_at)
        .where(Meeting.user_id == user.id, Meeting.status == MeetingStatus.PROPOSED)
        .order_by(Meeting.id)
    )
    return {outreach_id: starts_at for outreach_id, starts_at in rows}


_SETTLED = (MessageStatus.SENT, MessageStatus.CANCELLED, MessageStatus.FAILED)


def _unsent(status: MessageStatus | None) -> MessageStatus | None:
    return None if status in _SETTLED or status is MessageStatus.UNKNOWN else status


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
