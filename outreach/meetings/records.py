"""Interview records: everything about each interview, for printing and CSV export."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session

from outreach.contacts import get_contact
from outreach.meetings.finding import get_meeting, list_meetings
from outreach.meetings.notes import REFLECTION_PARTS, answers_of, own_answers, referrals_of
from outreach.meetings.questions import QUESTION_KEYS, Question
from outreach.models import Contact, Meeting, MeetingStatus, Outreach, Target, User
from outreach.rules.cycle import zone_of


@dataclass(frozen=True)
class InterviewRecord:
    meeting: Meeting
    contact: Contact
    target_name: str
    answers: dict[str, str]
    # The user's own prepared questions, in order, with their answers.
    own_answers: list[tuple[Question, str]]
    referrals: list[Contact]


def interview_record(session: Session, user: User, meeting_id: int) -> InterviewRecord:
    """Everything about one interview, for its notes and printable pages.

    :raise NotFound: when the meeting is not the user's.
    """
    return _record_of(session, user, get_meeting(session, user, meeting_id))


def _record_of(session: Session, user: User, meeting: Meeting) -> InterviewRecord:
    contact = get_contact(session, user, meeting.contact_id)
    outreach = session.get(Outreach, meeting.outreach_id)
    target = session.get(Target, outreach.target_id) if outreach else None
    return InterviewRecord(
        meeting=meeting,
        contact=contact,
        target_name=target.name if target else "",
        answers=answers_of(meeting),
        own_answers=own_answers(meeting),
        referrals=referrals_of(session, user, contact.id),
    )


def interview_records(session: Session, user: User) -> list[InterviewRecord]:
    """Every meeting held or with notes, oldest first."""
    return [
        _record_of(session, user, meeting)
        for meeting in list_meetings(session, user)
        if meeting.status is MeetingStatus.HELD
        or (meeting.status is not MeetingStatus.CANCELLED and _has_notes(meeting))
    ]


def _has_notes(meeting: Meeting) -> bool:
    return bool(
        meeting.learned
        or meeting.specific_detail
        or any(answers_of(meeting).values())
        or any(answer for _, answer in own_answers(meeting))
        or any(_reflection(meeting))
    )


def _reflection(meeting: Meeting) -> list[str]:
    return [getattr(meeting, f"reflection_{part}") for part, _ in REFLECTION_PARTS]


CSV_COLUMNS: tuple[str, ...] = (
    "name",
    "email",
    "role",
    "organisation",
    "target",
    "date",
    "time",
    "time_zone",
    "duration_minutes",
    "status",
    "learned",
    *QUESTION_KEYS,
    "own_questions",
    "specific_detail",
    "referrals",
    *(f"reflection_{part}" for part, _ in REFLECTION_PARTS),
)


def _cell(value: str) -> str:
    # A spreadsheet runs a cell starting with =, +, - or @ as a formula: notes are
    # the user's, but names and answers may quote a stranger's email.
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def export_csv(records: Sequence[InterviewRecord], time_zone: str) -> str:
    """The interview records as CSV text, one row per interview."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for item in records:
        here = item.meeting.starts_at.astimezone(zone_of(time_zone))
        row = [
            item.contact.name,
            item.contact.email,
            item.contact.role,
            item.contact.organisation,
            item.target_name,
            here.date().isoformat(),
            f"{here:%H:%M}",
            time_zone or "UTC",
            str(item.meeting.duration_minutes),
            item.meeting.status.value,
            item.meeting.learned,
            *(item.answers[key] for key in QUESTION_KEYS),
            "\n".join(f"{q.text} {answer}" for q, answer in item.own_answers if answer),
            item.meeting.specific_detail,
            "; ".join(f"{person.name} <{person.email}>" for person in item.referrals),
            *_reflection(item.meeting),
        ]
        writer.writerow([_cell(value) for value in row])
    return out.getvalue()
