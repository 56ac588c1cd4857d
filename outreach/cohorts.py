"""Cohorts: an adviser follows students' progress by counts and states, never their mail.

An adviser creates a cohort and hands out its join code; a student joins with the code
after consenting to what the adviser will see (CONSENT_LINES), and may leave at any
time, which stops the sharing at once. The report is built from counts and dates only:
no query here reads a contact's name or address, a subject or a body, so none can leak
(docs/decisions/0024-cohorts-see-counts-never-mail.md).
"""

from __future__ import annotations

import csv
import io
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import TypeVar

from sqlalchemy import Select, case, func, select
from sqlalchemy.orm import Session

from outreach.errors import NotFound, ValidationError
from outreach.models import (
    Cohort,
    CohortMember,
    Direction,
    Event,
    Mailbox,
    Meeting,
    MeetingStatus,
    Message,
    MessageKind,
    MessageStatus,
    Outreach,
    Role,
    SubmittedReport,
    User,
)
from outreach.progress_stats import REPLIED_STATES
from outreach.rules.plain_text import refuse_control_characters
from outreach.rules.states import OutreachState

# No 0/O, 1/I/L: a code read aloud or copied from a slide is typed right the first time.
CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
CODE_LENGTH = 8
DEFAULT_GOAL = 2
MAX_GOAL = 50

_V = TypeVar("_V")

NO_MAILBOX_AFTER = timedelta(days=7)
DRAFTS_WAITING_OVER = timedelta(days=3)
# A target whose every name ended in one of these, at least one a silence, has run dry.
_ENDED_UNANSWERED = (OutreachState.NO_REPLY, OutreachState.BOUNCED, OutreachState.STOPPED)

# Stuck reasons, as stable keys for --json and the adviser's page.
NO_MAILBOX = "no_mailbox"
DRAFTS_WAITING = "drafts_waiting"
LIST_RAN_DRY = "list_ran_dry"

CONSENT_LINES = (
    "whether your mailbox is connected (not its address or anything in it);",
    "how many requests you have sent, replies you have had and meetings you have held;",
    "the reports you submit to the cohort, and when you last used Outreach;",
    "whether you seem stuck: no mailbox a week after joining, drafts waiting for your "
    "approval over 3 days, or a list whose names have all gone without an answer.",
)
CONSENT_NEVER = (
    "Never your emails, their subjects or text, your contacts' names or addresses, "
    "or your mailbox's details."
)


def _adviser(user: User) -> None:
    if user.role != Role.ADVISER:
        raise ValidationError("only an adviser can run cohorts; ask your deployment's admin")


# The adviser's questions for the report: a handful, each a sentence or two.
MAX_QUESTIONS = 10
MAX_QUESTION_LENGTH = 300


def check_questions(questions: str | Sequence[str]) -> str:
    """The report's questions as stored: one a line, trimmed, without empty lines.

    :raise ValidationError: for a control character, too many questions or a long one.
    """
    lines = questions.splitlines() if isinstance(questions, str) else list(questions)
    cleaned: list[str] = []
    for line in lines:
        refuse_control_characters("a question of the report", line, multi_line=True)
        question = " ".join(line.split())
        if not question:
            continue
        if len(question) > MAX_QUESTION_LENGTH:
            raise ValidationError(
                f"the question '{question[:40]}…' is too long "
                f"({MAX_QUESTION_LENGTH} characters at most)"
            )
        cleaned.append(question)
    if len(cleaned) > MAX_QUESTIONS:
        raise ValidationError(
            f"a report asks {MAX_QUESTIONS} questions at most, not {len(cleaned)}"
        )
    return "\n".join(cleaned)


def questions_of(cohort: Cohort) -> list[str]:
    """The adviser's questions the student answers when handing in a report; maybe none."""
    return [line for line in cohort.questions.splitlines() if line.strip()]


def set_questions(
    session: Session, adviser: User, cohort_id: int, questions: str | Sequence[str], now: datetime
) -> Cohort:
    """Replace the report's questions, until the due date has passed.

    Reports handed in already keep the questions they answered (they are snapshots);
    a student who hands in again answers the new ones.

    :raise NotFound: when the cohort is not the adviser's.
    :raise ValidationError: after the due date, or for questions `check_questions` refuses.
    """
    cohort = adviser_cohort_by_id(session, adviser, cohort_id)
    if cohort.due is not None and now.date() > cohort.due:
        raise ValidationError(
            f"the due date of {cohort.name} has passed: its questions stay as the "
            "reports answered them"
        )
    cohort.questions = check_questions(questions)
    session.flush()
    return cohort


def new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def normalise_code(code: str) -> str:
    """As typed: any case, spaces or dashes (a code written "ABCD-EFGH")."""
    return "".join(code.split()).replace("-", "").upper()


def create_cohort(
    session: Session,
    adviser: User,
    name: str,
    *,
    goal: int = DEFAULT_GOAL,
    due: date | None = None,
    questions: str | Sequence[str] = "",
) -> Cohort:
    """A new cohort of `adviser`'s, with `questions` for its reports (one a line, or a list).

    :raise ValidationError: for anyone but an adviser, a name taken or empty, a goal out
        of bounds, or questions `check_questions` refuses.
    """
    _adviser(adviser)
    refuse_control_characters("the cohort's name", name)
    asked = check_questions(questions)
    cleaned = " ".join(name.split())
    if not cleaned:
        raise ValidationError("please give the cohort a name")
    if len(cleaned) > 200:
        raise ValidationError("the cohort's name is too long (200 characters at most)")
    if not 1 <= goal <= MAX_GOAL:
        raise ValidationError(f"the goal is a number of interviews from 1 to {MAX_GOAL}")
    taken = session.scalar(
        select(Cohort.id).where(Cohort.adviser_id == adviser.id, Cohort.name == cleaned)
    )
    if taken is not None:
        raise ValidationError(f"you already have a cohort named '{cleaned}'")
    code = new_code()
    while session.scalar(select(Cohort.id).where(Cohort.code == code)) is not None:
        code = new_code()
    cohort = Cohort(
        adviser_id=adviser.id, name=cleaned, goal=goal, due=due, questions=asked, code=code
    )
    session.add(cohort)
    session.flush()
    return cohort


def cohorts_of(session: Session, adviser: User) -> list[Cohort]:
    return list(
        session.scalars(select(Cohort).where(Cohort.adviser_id == adviser.id).order_by(Cohort.id))
    )


def student_counts(session: Session, some: Sequence[Cohort]) -> dict[int, int]:
    """How many students each cohort has, by id (a cohort with none is absent)."""
    rows = session.execute(
        select(CohortMember.cohort_id, func.count())
        .where(CohortMember.cohort_id.in_([cohort.id for cohort in some]))
        .group_by(CohortMember.cohort_id)
    )
    return {cohort_id: count for cohort_id, count in rows}


def adviser_cohort(session: Session, adviser: User, name: str) -> Cohort:
    """The adviser's own cohort by name; another adviser's is as unknown as a missing one."""
    _adviser(adviser)
    cohort = session.scalar(
        select(Cohort).where(Cohort.adviser_id == adviser.id, Cohort.name == " ".join(name.split()))
    )
    if cohort is None:
        raise NotFound(f"you have no cohort named '{name.strip()}'")
    return cohort


def adviser_cohort_by_id(session: Session, adviser: User, cohort_id: int) -> Cohort:
    _adviser(adviser)
    cohort = session.get(Cohort, cohort_id)
    if cohort is None or cohort.adviser_id != adviser.id:
        raise NotFound("you have no such cohort")
    return cohort


def cohort_by_code(session: Session, code: str) -> Cohort:
    cohort = session.scalar(select(Cohort).where(Cohort.code == normalise_code(code)))
    if cohort is None:
        raise NotFound("no cohort has that join code; check it with your adviser")
    return cohort


def join_cohort(session: Session, student: User, code: str, consented_at: datetime) -> Cohort:
    """Join after the student has seen CONSENT_LINES and agreed; `consented_at` records when."""
    cohort = cohort_by_code(session, code)
    if student.role != Role.STUDENT:
        raise ValidationError("only a student's account can join a cohort")
    already = session.scalar(
        select(CohortMember.id).where(
            CohortMember.cohort_id == cohort.id, CohortMember.user_id == student.id
        )
    )
    if already is not None:
        raise ValidationError(f"you are already in the cohort '{cohort.name}'")
    session.add(CohortMember(cohort_id=cohort.id, user_id=student.id, consented_at=consented_at))
    session.flush()
    return cohort


def student_cohorts(session: Session, student: User) -> list[Cohort]:
    return list(
        session.scalars(
            select(Cohort)
            .join(CohortMember, CohortMember.cohort_id == Cohort.id)
            .where(CohortMember.user_id == student.id)
            .order_by(Cohort.id)
        )
    )


def leave_cohort_by_id(session: Session, student: User, cohort_id: int) -> Cohort:
    """Leave one cohort; the adviser sees nothing of the student from now on."""
    member = session.scalar(
        select(CohortMember).where(
            CohortMember.cohort_id == cohort_id, CohortMember.user_id == student.id
        )
    )
    if member is None:
        raise NotFound("you are not in that cohort")
    cohort = session.get_one(Cohort, cohort_id)
    session.delete(member)
    session.flush()
    return cohort


def leave_cohort(session: Session, student: User, name: str) -> list[Cohort]:
    """Leave every cohort of that name the student is in; the adviser sees nothing more."""
    wanted = " ".join(name.split())
    left = [cohort for cohort in student_cohorts(session, student) if cohort.name == wanted]
    if not left:
        raise NotFound(f"you are in no cohort named '{name.strip()}'")
    for cohort in left:
        member = session.scalar(
            select(CohortMember).where(
                CohortMember.cohort_id == cohort.id, CohortMember.user_id == student.id
            )
        )
        session.delete(member)
    session.flush()
    return left


@dataclass(frozen=True)
class StudentProgress:
    """One student's line of the report: the student's own name and login, then counts."""

    email: str
    name: str
    joined_at: datetime
    mailbox_connected: bool
    requests_sent: int
    replies: int
    meetings_held: int
    reports_submitted: int
    last_activity: datetime | None
    stuck: tuple[str, ...] = field(default=())


@dataclass(frozen=True)
class CohortReport:
    cohort: Cohort
    students: list[StudentProgress]


def _per_user(session: Session, query: Select[int, _V]) -> dict[int, _V]:
    return {user_id: value for user_id, value in session.execute(query)}


def _last_activity(session: Session, ids: list[int]) -> dict[int, datetime]:
    """The latest timeline event or message the student wrote, whichever is later."""
    latest: dict[int, datetime] = {}
    for query in (
        select(Event.user_id, func.max(Event.created_at))
        .where(Event.user_id.in_(ids))
        .group_by(Event.user_id),
        select(Message.user_id, func.max(Message.created_at))
        .where(Message.user_id.in_(ids), Message.direction == Direction.OUTBOUND)
        .group_by(Message.user_id),
    ):
        for user_id, moment in _per_user(session, query).items():
            if moment is not None and (user_id not in latest or moment > latest[user_id]):
                latest[user_id] = moment
    return latest


def _dry_lists(session: Session, ids: list[int]) -> set[int]:
    """Students with a target whose every name ended without an answer."""
    ended = func.sum(case((Outreach.state.in_(_ENDED_UNANSWERED), 1), else_=0))
    silent = func.sum(case((Outreach.state == OutreachState.NO_REPLY, 1), else_=0))
    rows = session.execute(
        select(Outreach.user_id)
        .where(Outreach.user_id.in_(ids))
        .group_by(Outreach.user_id, Outreach.target_id)
        .having(ended == func.count(), silent > 0)
    )
    return {user_id for (user_id,) in rows}


def cohort_report(session: Session, adviser: User, name: str, now: datetime) -> CohortReport:
    """The adviser's view of their cohort named `name`."""
    return report_of(session, adviser_cohort(session, adviser, name), now)


def report_of(session: Session, cohort: Cohort, now: datetime) -> CohortReport:
    """A cohort's report: a fixed number of queries, whatever its size.

    The caller has checked that the cohort is the adviser's (adviser_cohort*).
    """
    members = session.execute(
        select(User, CohortMember.consented_at)
        .join(CohortMember, CohortMember.user_id == User.id)
        .where(CohortMember.cohort_id == cohort.id)
        .order_by(User.name, User.id)
    ).all()
    ids = [user.id for user, _ in members]
    with_mailbox = set(
        session.scalars(select(Mailbox.user_id).where(Mailbox.user_id.in_(ids)).distinct())
    )
    requests_sent = _per_user(
        session,
        select(Message.user_id, func.count())
        .where(
            Message.user_id.in_(ids),
            Message.kind == MessageKind.REQUEST,
            Message.status == MessageStatus.SENT,
        )
        .group_by(Message.user_id),
    )
    replies = _per_user(
        session,
        select(Outreach.user_id, func.count())
        .where(Outreach.user_id.in_(ids), Outreach.state.in_(REPLIED_STATES))
        .group_by(Outreach.user_id),
    )
    meetings_held = _per_user(
        session,
        select(Meeting.user_id, func.count())
        .where(Meeting.user_id.in_(ids), Meeting.status == MeetingStatus.HELD)
        .group_by(Meeting.user_id),
    )
    reports = _per_user(
        session,
        select(SubmittedReport.user_id, func.count())
        .where(SubmittedReport.user_id.in_(ids), SubmittedReport.cohort_id == cohort.id)
        .group_by(SubmittedReport.user_id),
    )
    old_drafts = set(
        session.scalars(
            select(Message.user_id)
            .where(
                Message.user_id.in_(ids),
                Message.status == MessageStatus.DRAFT,
                Message.created_at < now - DRAFTS_WAITING_OVER,
            )
            .distinct()
        )
    )
    dry = _dry_lists(session, ids)
    last = _last_activity(session, ids)
    students = []
    for user, consented_at in members:
        stuck = []
        if user.id not in with_mailbox and consented_at <= now - NO_MAILBOX_AFTER:
            stuck.append(NO_MAILBOX)
        if user.id in old_drafts:
            stuck.append(DRAFTS_WAITING)
        if user.id in dry:
            stuck.append(LIST_RAN_DRY)
        students.append(
            StudentProgress(
                email=user.email,
                name=user.name,
                joined_at=consented_at,
                mailbox_connected=user.id in with_mailbox,
                requests_sent=requests_sent.get(user.id, 0),
                replies=replies.get(user.id, 0),
                meetings_held=meetings_held.get(user.id, 0),
                reports_submitted=reports.get(user.id, 0),
                last_activity=last.get(user.id),
                stuck=tuple(stuck),
            )
        )
    return CohortReport(cohort=cohort, students=students)


CSV_COLUMNS = (
    "email",
    "name",
    "mailbox_connected",
    "requests_sent",
    "replies",
    "meetings_held",
    "reports_submitted",
    "last_activity",
    "joined_at",
    "stuck",
)


def _cell(value: str) -> str:
    # A spreadsheet runs a cell starting with =, +, - or @ as a formula; a student
    # chooses their own name.
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def _utc(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ") if moment else ""


def report_csv(report: CohortReport) -> str:
    """The report as CSV text, one row per student: the same columns as --json."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for student in report.students:
        row = [
            student.email,
            student.name,
            "yes" if student.mailbox_connected else "no",
            str(student.requests_sent),
            str(student.replies),
            str(student.meetings_held),
            str(student.reports_submitted),
            _utc(student.last_activity),
            _utc(student.joined_at),
            " ".join(student.stuck),
        ]
        writer.writerow([_cell(value) for value in row])
    return out.getvalue()
