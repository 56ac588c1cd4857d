"""The assignment: a student hands in a held meeting's notes and reflection to a cohort.

A report is a snapshot (docs/decisions/0026-cohort-reports-are-snapshots.md): the
answers to the cohort's own questions (asked when handing in), the notes and the
reflection as they were when submitted, with the contact's
organisation and role but never the contact's name or address. Until the cohort's due
date the student may submit again, which replaces the snapshot; a report first handed in
after it is accepted and marked late, and cannot be replaced. The adviser reads the
reports of students still in the cohort and may leave one comment on each, which the
student sees.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from outreach.cohorts import adviser_cohort_by_id, questions_of
from outreach.errors import NotFound, ValidationError
from outreach.meetings.finding import get_meeting
from outreach.meetings.notes import REFLECTION_PARTS, answers_of, own_answers
from outreach.meetings.questions import QUESTIONS
from outreach.models import (
    Cohort,
    CohortMember,
    Contact,
    Meeting,
    MeetingStatus,
    SubmittedReport,
    User,
)
from outreach.rules.plain_text import refuse_control_characters

MAX_COMMENT = 5_000
MAX_ANSWER = 5_000
REMOVED = "[removed]"


@dataclass(frozen=True)
class Section:
    heading: str
    text: str


@dataclass(frozen=True)
class ReportBody:
    organisation: str
    role: str
    held_on: date
    sections: list[Section]


def _scrub(text: str, contact: Contact) -> str:
    """The contact's address and full name taken out of the student's words."""
    for private in (contact.email, contact.name):
        if private.strip():
            text = re.sub(re.escape(private.strip()), REMOVED, text, flags=re.IGNORECASE)
    return text


def snapshot(
    meeting: Meeting, contact: Contact, cohort_answers: Sequence[tuple[str, str]] = ()
) -> ReportBody:
    """What the adviser will read of this meeting: the answers to the cohort's own
    questions (`cohort_answers`, question and answer), then the student's notes and
    reflection."""
    held = meeting.held_at or meeting.starts_at
    answers = answers_of(meeting)
    parts = list(cohort_answers)
    parts.append(("What I learned", meeting.learned))
    parts += [(question, answers[key]) for key, question in QUESTIONS]
    parts += [(question.text, answer) for question, answer in own_answers(meeting)]
    parts.append(("Something specific from the conversation", meeting.specific_detail))
    parts += [
        (heading, getattr(meeting, f"reflection_{part}")) for part, heading in REFLECTION_PARTS
    ]
    return ReportBody(
        organisation=_scrub(contact.organisation, contact),
        role=_scrub(contact.role, contact),
        held_on=held.date(),
        sections=[Section(heading, _scrub(text, contact)) for heading, text in parts if text],
    )


def _to_json(body: ReportBody) -> str:
    return json.dumps(
        {
            "organisation": body.organisation,
            "role": body.role,
            "held_on": body.held_on.isoformat(),
            "sections": [{"heading": s.heading, "text": s.text} for s in body.sections],
        }
    )


def body_of(report: SubmittedReport) -> ReportBody:
    stored = json.loads(report.body_json)
    return ReportBody(
        organisation=str(stored.get("organisation", "")),
        role=str(stored.get("role", "")),
        held_on=date.fromisoformat(stored["held_on"]),
        sections=[Section(str(s["heading"]), str(s["text"])) for s in stored.get("sections", [])],
    )


def _past_due(cohort: Cohort, now: datetime) -> bool:
    # The due date is a whole day: a report handed in any time on it is on time (UTC).
    return cohort.due is not None and now.date() > cohort.due


def _member_cohort(session: Session, student: User, cohort_id: int) -> Cohort:
    member = session.scalar(
        select(CohortMember.id).where(
            CohortMember.cohort_id == cohort_id, CohortMember.user_id == student.id
        )
    )
    if member is None:
        raise NotFound("you are not in that cohort")
    return session.get_one(Cohort, cohort_id)


def _answered(cohort: Cohort, answered: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    """The cohort's questions with the student's answers, checked against the questions
    the cohort asks now (the adviser may have changed them since the form was shown)."""
    asked = questions_of(cohort)
    if [question for question, _ in answered] != asked:
        raise ValidationError(
            f"the questions of {cohort.name} have changed since this form was shown; "
            "answer them as they are now"
        )
    checked = []
    for question, answer in answered:
        text = answer.replace("\r\n", "\n").strip()
        refuse_control_characters("an answer", text, multi_line=True)
        if not text:
            raise ValidationError(f"please answer each question; '{question}' has no answer")
        if len(text) > MAX_ANSWER:
            raise ValidationError(
                f"the answer to '{question}' is too long ({MAX_ANSWER:,} characters at most)"
            )
        checked.append((question, text))
    return checked


def last_answers(report: SubmittedReport | None, cohort: Cohort) -> list[str]:
    """The answers last handed in to the cohort's questions as they are now, "" for a new one."""
    given = {} if report is None else {s.heading: s.text for s in body_of(report).sections}
    return [given.get(question, "") for question in questions_of(cohort)]


def submit_report(
    session: Session,
    student: User,
    meeting_id: int,
    cohort_id: int,
    now: datetime,
    answers: Sequence[tuple[str, str]] = (),
) -> SubmittedReport:
    """Hand in (or replace, until the due date) the report on one held meeting.

    `answers` are the cohort's questions, each with the student's answer, in the
    cohort's order; a cohort without questions takes none.

    :raise NotFound: when the meeting is not the student's or they are not in the cohort.
    :raise ValidationError: when the meeting is not held, the report can no longer change,
        or a question of the cohort is unanswered (or no longer asked).
    """
    meeting = get_meeting(session, student, meeting_id)
    cohort = _member_cohort(session, student, cohort_id)
    if meeting.status is not MeetingStatus.HELD:
        raise ValidationError("only a meeting that was held can be reported; mark it held first")
    checked = _answered(cohort, answers)
    contact = session.get_one(Contact, meeting.contact_id)
    body = _to_json(snapshot(meeting, contact, checked))
    report = session.scalar(
        select(SubmittedReport).where(
            SubmittedReport.cohort_id == cohort.id, SubmittedReport.meeting_id == meeting.id
        )
    )
    if report is None:
        report = SubmittedReport(
            cohort_id=cohort.id,
            user_id=student.id,
            meeting_id=meeting.id,
            body_json=body,
            first_submitted_at=now,
            submitted_at=now,
            late=_past_due(cohort, now),
            comment="",
        )
        session.add(report)
    elif _past_due(cohort, now):
        due = cohort.due.strftime("%-d %B %Y") if cohort.due else ""
        raise ValidationError(
            f"the due date of {cohort.name}, {due}, has passed: "
            "the report you submitted can no longer be replaced"
        )
    else:
        report.body_json = body
        report.submitted_at = now
    session.flush()
    return report


@dataclass(frozen=True)
class StudentReport:
    """A submitted report as its student sees it, with the cohort and any comment."""

    report: SubmittedReport
    cohort: Cohort


def reports_on_meeting(session: Session, student: User, meeting_id: int) -> list[StudentReport]:
    """The student's reports on one of their meetings, in cohorts they are still in."""
    rows = session.execute(
        select(SubmittedReport, Cohort)
        .join(Cohort, Cohort.id == SubmittedReport.cohort_id)
        .join(
            CohortMember,
            (CohortMember.cohort_id == Cohort.id) & (CohortMember.user_id == student.id),
        )
        .where(SubmittedReport.user_id == student.id, SubmittedReport.meeting_id == meeting_id)
        .order_by(Cohort.name, Cohort.id)
    )
    return [StudentReport(report, cohort) for report, cohort in rows]


def reports_of_student(session: Session, student: User) -> list[StudentReport]:
    """Every report the student has in cohorts they are still in, newest first."""
    rows = session.execute(
        select(SubmittedReport, Cohort)
        .join(Cohort, Cohort.id == SubmittedReport.cohort_id)
        .join(
            CohortMember,
            (CohortMember.cohort_id == Cohort.id) & (CohortMember.user_id == student.id),
        )
        .where(SubmittedReport.user_id == student.id)
        .order_by(SubmittedReport.submitted_at.desc(), SubmittedReport.id.desc())
    )
    return [StudentReport(report, cohort) for report, cohort in rows]


@dataclass(frozen=True)
class AdviserReport:
    """A report as the adviser reads it: the student's own name, then the snapshot."""

    report: SubmittedReport
    student_name: str
    student_email: str
    body: ReportBody


def _members_reports(session: Session, cohort: Cohort) -> list[tuple[SubmittedReport, User]]:
    # Joined on membership: a student who left shares nothing, their reports included.
    return [
        (report, student)
        for report, student in session.execute(
            select(SubmittedReport, User)
            .join(User, User.id == SubmittedReport.user_id)
            .join(
                CohortMember,
                (CohortMember.cohort_id == SubmittedReport.cohort_id)
                & (CohortMember.user_id == SubmittedReport.user_id),
            )
            .where(SubmittedReport.cohort_id == cohort.id)
            .order_by(User.name, User.id, SubmittedReport.first_submitted_at)
        )
    ]


def cohort_reports(session: Session, cohort: Cohort) -> list[AdviserReport]:
    """The cohort's submitted reports; the caller has checked the cohort is the adviser's."""
    return [
        AdviserReport(report, student.name, student.email, body_of(report))
        for report, student in _members_reports(session, cohort)
    ]


def adviser_report(
    session: Session, adviser: User, cohort_id: int, report_id: int
) -> AdviserReport:
    """:raise NotFound: when the cohort is not the adviser's or the report not in it."""
    cohort = adviser_cohort_by_id(session, adviser, cohort_id)
    for found in cohort_reports(session, cohort):
        if found.report.id == report_id:
            return found
    raise NotFound("no such report in this cohort")


def comment_on(
    session: Session, adviser: User, cohort_id: int, report_id: int, text: str, now: datetime
) -> SubmittedReport:
    """Leave (or change, or clear with "") the adviser's comment; the student sees it."""
    report = adviser_report(session, adviser, cohort_id, report_id).report
    clean = text.replace("\r\n", "\n").strip()
    refuse_control_characters("the comment", clean, multi_line=True)
    if len(clean) > MAX_COMMENT:
        raise ValidationError(f"the comment is too long ({MAX_COMMENT:,} characters at most)")
    report.comment = clean
    report.commented_at = now if clean else None
    session.flush()
    return report
