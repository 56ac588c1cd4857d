"""A cohort's funnel and weekly chart, for its adviser: counts across students, never mail.

The funnel is read from the cohort's report (outreach.cohorts.report_of), so it needs no
query of its own and carries exactly what the report does. The weekly chart runs four
grouped queries over the cohort's current members, whatever their number: a student who
leaves drops out of every figure at once, as from the report
(docs/decisions/0024-cohorts-see-counts-never-mail.md). No query here selects a contact,
a subject, a body, a note or a mailbox's details: only moments, to be counted.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Select, func, select, union_all
from sqlalchemy.orm import Session

from outreach.cohorts import CohortReport, StudentProgress
from outreach.models import (
    Cohort,
    CohortMember,
    Direction,
    Event,
    Meeting,
    MeetingStatus,
    Message,
    MessageKind,
    MessageStatus,
    SubmittedReport,
)
from outreach.rules.states import OutreachState as S
from outreach.rules.weeks import WeekWindow, percent, week_label

# Timeline events (outreach.timeline.advance) that say a person answered.
ANSWERED_EVENTS = tuple(f"state:{state.value}" for state in (S.REPLIED, S.DECLINED, S.MEETING_SET))
# Twelve weeks cover a term; an older cohort shows its latest twelve.
COHORT_WEEKS = 12


@dataclass(frozen=True)
class CohortStage:
    """One step of the cohort's funnel: how many students reached it, and the total done."""

    key: str
    label: str
    students: int
    # Requests, replies, meetings or reports across the cohort; None for a yes/no stage.
    total: int | None
    # Percent of the students who joined (None when nobody has).
    share: int | None


# Each stage's key, words, and the report's figure for it (None: the mailbox, yes or no).
_STAGES: tuple[tuple[str, str, str | None], ...] = (
    ("mailbox", "Connected a mailbox", None),
    ("requests", "Sent a request", "requests_sent"),
    ("replies", "Had a reply", "replies"),
    ("meetings", "Held a meeting", "meetings_held"),
    ("reports", "Handed in a report", "reports_submitted"),
)


def _reached(student: StudentProgress, attribute: str | None) -> int:
    if attribute is None:
        return 1 if student.mailbox_connected else 0
    value: int = getattr(student, attribute)
    return value


def cohort_funnel(report: CohortReport) -> list[CohortStage]:
    """Students joined, then how many connected a mailbox, sent, had replies, met, reported."""
    joined = len(report.students)
    stages = [CohortStage("joined", "Joined the cohort", joined, None, percent(joined, joined))]
    for key, label, attribute in _STAGES:
        done = [_reached(student, attribute) for student in report.students]
        students = sum(1 for value in done if value)
        total = None if attribute is None else sum(done)
        stages.append(CohortStage(key, label, students, total, percent(students, joined)))
    return stages


@dataclass(frozen=True)
class CohortWeek:
    monday: date
    requests: int
    replies: int
    meetings: int
    reports: int

    @property
    def label(self) -> str:
        return week_label(self.monday)


def _members(cohort: Cohort) -> Select[int]:
    return select(CohortMember.user_id).where(CohortMember.cohort_id == cohort.id)


def cohort_weeks(
    session: Session, cohort: Cohort, now: datetime, time_zone: str, weeks: int = COHORT_WEEKS
) -> list[CohortWeek]:
    """Per week since the cohort began (at most `weeks`, the current one last), across members.

    Requests count in the week they went out; replies in the week a person first
    answered (once a person, like the report's "replies"); meetings held in the week
    they took place; reports to this cohort in the week first handed in.
    """
    window = WeekWindow.ending_at(now, time_zone, weeks, since=cohort.created_at)
    members = _members(cohort)
    # A person answered when their reply arrived, or when the student recorded the
    # answer on the timeline (a reply by phone, an invitation): whichever came first.
    answers = union_all(
        select(Message.outreach_id.label("outreach_id"), Message.received_at.label("moment")).where(
            Message.user_id.in_(members),
            Message.direction == Direction.INBOUND,
            Message.kind == MessageKind.REPLY,
            Message.outreach_id.is_not(None),
        ),
        select(Event.outreach_id, Event.created_at).where(
            Event.user_id.in_(members),
            Event.kind.in_(ANSWERED_EVENTS),
            Event.outreach_id.is_not(None),
        ),
    ).subquery()
    first_answer = func.min(answers.c.moment)
    moments: dict[str, Select[Any]] = {
        "requests": select(Message.sent_at).where(
            Message.user_id.in_(members),
            Message.direction == Direction.OUTBOUND,
            Message.kind == MessageKind.REQUEST,
            Message.status == MessageStatus.SENT,
            Message.sent_at >= window.start,
            Message.sent_at < window.end,
        ),
        "replies": select(first_answer)
        .group_by(answers.c.outreach_id)
        .having(first_answer >= window.start, first_answer < window.end),
        "meetings": select(func.coalesce(Meeting.held_at, Meeting.starts_at)).where(
            Meeting.user_id.in_(members),
            Meeting.status == MeetingStatus.HELD,
            func.coalesce(Meeting.held_at, Meeting.starts_at) >= window.start,
            func.coalesce(Meeting.held_at, Meeting.starts_at) < window.end,
        ),
        "reports": select(SubmittedReport.first_submitted_at).where(
            SubmittedReport.cohort_id == cohort.id,
            SubmittedReport.user_id.in_(members),
            SubmittedReport.first_submitted_at >= window.start,
            SubmittedReport.first_submitted_at < window.end,
        ),
    }
    counts = {name: [0] * window.count for name in moments}
    for name, query in moments.items():
        for moment in session.scalars(query):
            index = None if moment is None else window.index_of(moment)
            if index is not None:
                counts[name][index] += 1
    return [
        CohortWeek(
            monday,
            counts["requests"][index],
            counts["replies"][index],
            counts["meetings"][index],
            counts["reports"][index],
        )
        for index, monday in enumerate(window.mondays)
    ]
