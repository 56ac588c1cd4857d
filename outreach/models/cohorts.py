"""Cohorts: an adviser's group of students, joined with a code after consent."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from outreach.models.base import Base, utcnow


class Cohort(Base):
    __tablename__ = "cohorts"
    __table_args__ = (UniqueConstraint("adviser_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    adviser_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    # Interviews each student is asked to hold (the course assignment).
    goal: Mapped[int] = mapped_column(default=2)
    due: Mapped[date | None]
    # The adviser's questions for the report, one a line (outreach.cohorts.check_questions):
    # the student answers them when handing in. Empty: the report is the notes alone.
    questions: Mapped[str] = mapped_column(Text, default="")
    # What a student types to join: short, unguessable, from an unambiguous alphabet.
    code: Mapped[str] = mapped_column(String(16), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class CohortMember(Base):
    """A student who consented to share their counts with the cohort's adviser.

    Leaving deletes the row: nothing of the student is shown from that moment.
    """

    __tablename__ = "cohort_members"
    __table_args__ = (UniqueConstraint("cohort_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    cohort_id: Mapped[int] = mapped_column(ForeignKey("cohorts.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    # When the student agreed to what the adviser sees; it is also when they joined.
    consented_at: Mapped[datetime]


class SubmittedReport(Base):
    """A student's report on one held meeting, handed in to a cohort (the assignment).

    `body_json` is a snapshot taken at submission, so later edits to the notes reach the
    adviser only when the student submits again. It holds the student's notes and
    reflection, the contact's organisation and role, and never the contact's name or
    address (docs/decisions/0026-cohort-reports-are-snapshots.md).
    """

    __tablename__ = "cohort_reports"
    __table_args__ = (UniqueConstraint("cohort_id", "meeting_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    cohort_id: Mapped[int] = mapped_column(ForeignKey("cohorts.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    meeting_id: Mapped[int] = mapped_column(
        ForeignKey("meetings.id", ondelete="CASCADE"), index=True
    )
    # JSON: {"organisation", "role", "held_on", "sections": [{"heading", "text"}]}.
    body_json: Mapped[str] = mapped_column(Text)
    first_submitted_at: Mapped[datetime]
    submitted_at: Mapped[datetime]
    # First handed in after the cohort's due date; a late report cannot be replaced.
    late: Mapped[bool] = mapped_column(default=False)
    comment: Mapped[str] = mapped_column(Text, default="")
    commented_at: Mapped[datetime | None]
