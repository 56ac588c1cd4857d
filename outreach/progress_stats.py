"""Figures for the home page: the funnel, the month's goal, the last weeks' work.

Pure queries: each function reads, aggregates in the database where it can,
and never writes. A fixed number of statements runs whatever the user's
number of contacts, so the board stays quick with thousands of them.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from outreach.attention import Attention, MailboxProblem, needs_attention
from outreach.models import Direction, Meeting, MeetingStatus, Message, MessageKind, Outreach, User
from outreach.models import MessageStatus as Status
from outreach.rules.cycle import zone_of
from outreach.rules.states import OutreachState
from outreach.rules.weeks import WeekWindow, local_midnight, percent, week_label

S = OutreachState

# The funnel reads the current state: an outreach in one of these states has
# passed the stage. A cancelled meeting goes back to "replied", so it counts
# as a reply and not as a meeting, which is what the user wants to see.
REPLIED_STATES = frozenset({S.REPLIED, S.DECLINED, S.MEETING_SET, S.MET, S.THANKED})
MEETING_STATES = frozenset({S.MEETING_SET, S.MET, S.THANKED})
MET_STATES = frozenset({S.MET, S.THANKED})
THANKED_STATES = frozenset({S.THANKED})

# Meetings that count toward the goal: agreed on, whether held yet or not.
COUNTED_MEETINGS = (MeetingStatus.SCHEDULED, MeetingStatus.HELD)

WEEKS_SHOWN = 8


def state_counts(
    session: Session, user: User, *, target_id: int | None = None
) -> dict[OutreachState, int]:
    """How many of the user's outreaches are in each state (states with none are absent)."""
    query = (
        select(Outreach.state, func.count())
        .where(Outreach.user_id == user.id)
        .group_by(Outreach.state)
    )
    if target_id is not None:
        query = query.where(Outreach.target_id == target_id)
    return {state: count for state, count in session.execute(query)}


def names_per_target(session: Session, user: User) -> dict[int, int]:
    """How many names each of the user's targets has on its list (targets with none are absent)."""
    rows = session.execute(
        select(Outreach.target_id, func.count())
        .where(Outreach.user_id == user.id)
        .group_by(Outreach.target_id)
    )
    return {target_id: count for target_id, count in rows}


@dataclass(frozen=True)
class FunnelStage:
    key: str
    label: str
    count: int
    # Percent of the stage before (None for the first stage, or when that one is 0).
    rate: int | None


def funnel(
    session: Session,
    user: User,
    *,
    target_id: int | None = None,
    counts: Mapping[OutreachState, int] | None = None,
) -> list[FunnelStage]:
    """Requests sent, then how many replied, agreed to meet, met, and were thanked.

    "Sent" counts outreaches whose request went out (a bounce included: it was
    sent); every later stage is read from where each outreach stands now.
    `counts` is `state_counts` for the same target, when the caller has it already.
    """
    sent_query = select(func.count(func.distinct(Message.outreach_id))).where(
        Message.user_id == user.id,
        Message.direction == Direction.OUTBOUND,
        Message.kind == MessageKind.REQUEST,
        Message.status == Status.SENT,
    )
    if target_id is not None:
        sent_query = sent_query.join(Outreach, Outreach.id == Message.outreach_id).where(
            Outreach.target_id == target_id
        )
    sent = session.scalar(sent_query) or 0
    if counts is None:
        counts = state_counts(session, user, target_id=target_id)

    def reached(states: frozenset[OutreachState]) -> int:
        return sum(counts.get(state, 0) for state in states)

    figures = [
        ("sent", "Requests sent", sent),
        ("replied", "Replied", reached(REPLIED_STATES)),
        ("meetings", "Agreed to meet", reached(MEETING_STATES)),
        ("met", "Met", reached(MET_STATES)),
        ("thanked", "Thanked", reached(THANKED_STATES)),
    ]
    stages: list[FunnelStage] = []
    previous: int | None = None
    for key, label, count in figures:
        rate = None if previous is None else percent(count, previous)
        stages.append(FunnelStage(key, label, count, rate))
        previous = count
    return stages


@dataclass(frozen=True)
class GoalProgress:
    goal: int
    month: str  # "December 2026"
    # Meetings this month already held (or whose time has come) and still to come.
    held: int
    booked: int

    @property
    def total(self) -> int:
        return self.held + self.booked

    @property
    def reached(self) -> bool:
        return self.total >= self.goal

    @property
    def percent(self) -> int:
        """How far along, for a progress bar: 0 to 100."""
        return min(100, percent(self.total, self.goal) or 0) if self.goal > 0 else 100


def goal_progress(session: Session, user: User, now: datetime) -> GoalProgress:
    """This calendar month's meetings, in the user's time zone, against their monthly goal."""
    today = now.astimezone(zone_of(user.time_zone)).date()
    first = today.replace(day=1)
    following = (first + timedelta(days=32)).replace(day=1)
    rows = session.execute(
        select(Meeting.starts_at, Meeting.status).where(
            Meeting.user_id == user.id,
            Meeting.status.in_(COUNTED_MEETINGS),
            Meeting.starts_at >= local_midnight(first, user.time_zone),
            Meeting.starts_at < local_midnight(following, user.time_zone),
        )
    )
    held = booked = 0
    for starts_at, status in rows:
        if status is MeetingStatus.HELD or starts_at <= now:
            held += 1
        else:
            booked += 1
    return GoalProgress(goal=user.monthly_goal, month=f"{first:%B %Y}", held=held, booked=booked)


@dataclass(frozen=True)
class WeekFigures:
    monday: date
    requests: int
    meetings: int

    @property
    def label(self) -> str:
        return week_label(self.monday)


def weekly_activity(
    session: Session, user: User, now: datetime, weeks: int = WEEKS_SHOWN
) -> list[WeekFigures]:
    """Requests sent and meetings, per week (Monday to Sunday in the user's zone), oldest first.

    The last week is the current one. A meeting counts in the week it takes place.
    """
    window = WeekWindow.ending_at(now, user.time_zone, weeks)
    requests = [0] * window.count
    meetings = [0] * window.count
    sent_at = session.scalars(
        select(Message.sent_at).where(
            Message.user_id == user.id,
            Message.direction == Direction.OUTBOUND,
            Message.kind == MessageKind.REQUEST,
            Message.status == Status.SENT,
            Message.sent_at >= window.start,
            Message.sent_at < window.end,
        )
    )
    for moment in sent_at:
        index = None if moment is None else window.index_of(moment)
        if index is not None:
            requests[index] += 1
    starts = session.scalars(
        select(Meeting.starts_at).where(
            Meeting.user_id == user.id,
            Meeting.status.in_(COUNTED_MEETINGS),
            Meeting.starts_at >= window.start,
            Meeting.starts_at < window.end,
        )
    )
    for moment in starts:
        index = window.index_of(moment)
        if index is not None:
            meetings[index] += 1
    return [
        WeekFigures(monday, requests[index], meetings[index])
        for index, monday in enumerate(window.mondays)
    ]


@dataclass(frozen=True)
class BoardFigures:
    """The board's figures for one user and one target filter: all of them aggregates."""

    counts: dict[OutreachState, int]
    funnel: list[FunnelStage]
    goal: GoalProgress
    weeks: list[WeekFigures]
    attention: Attention


def board_figures(
    session: Session,
    user: User,
    now: datetime,
    *,
    target_id: int | None = None,
    mailboxes: Sequence[MailboxProblem] | None = None,
) -> BoardFigures:
    """Every figure above the board's table, read now (about ten aggregate queries)."""
    counts = state_counts(session, user, target_id=target_id)
    return BoardFigures(
        counts=counts,
        funnel=funnel(session, user, target_id=target_id, counts=counts),
        goal=goal_progress(session, user, now),
        weeks=weekly_activity(session, user, now),
        attention=needs_attention(session, user, now, mailboxes),
    )


class FiguresCache:
    """Each user's board figures, kept until the board's version changes.

    The version (`outreach.attention.board_version`) is the user's data version, read
    from the database with the signed-in user's row on every request (every write to
    the user's data raises it: `outreach.data_version`), and the hour of their day, so
    each web process revalidates on its own and none serves figures older than the data.
    The key holds the user's id and the settings the figures depend on, so no user ever
    sees another's figures. Least recently used entries go first; a lock makes it safe
    for gunicorn's threads. One cache per app (per database), never per module.
    """

    def __init__(self, size: int = 256) -> None:
        self.size = size
        self._entries: OrderedDict[Hashable, BoardFigures] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def figures(
        self,
        session: Session,
        user: User,
        now: datetime,
        version: str,
        *,
        target_id: int | None = None,
        mailboxes: Sequence[MailboxProblem] | None = None,
    ) -> BoardFigures:
        """The cached figures for this version, or freshly read ones (then kept).

        `mailboxes` (the banner's list, read for every request) always replaces
        the cached panel's: a mailbox's state can change without an event.
        """
        key = (user.id, user.time_zone, user.monthly_goal, target_id, version)
        with self._lock:
            found = self._entries.get(key)
            if found is not None:
                self._entries.move_to_end(key)
                self.hits += 1
        if found is None:
            found = board_figures(session, user, now, target_id=target_id, mailboxes=mailboxes)
            with self._lock:
                self.misses += 1
                self._entries[key] = found
                self._entries.move_to_end(key)
                while len(self._entries) > self.size:
                    self._entries.popitem(last=False)
        if mailboxes is not None:
            found = replace(found, attention=replace(found.attention, mailboxes=list(mailboxes)))
        return found

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
