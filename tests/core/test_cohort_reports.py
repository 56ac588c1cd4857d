"""The assignment: a held meeting's report handed in to a cohort, replaced, marked late."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.orm import Session

from outreach import cohort_reports, cohorts
from outreach.crypto import SecretBox
from outreach.errors import NotFound, ValidationError
from outreach.models import Cohort, Meeting, MeetingStatus, Role, User
from tests.cohort_world import REPORT_PRIVATE_WORDS, REPORTED_WORDS, seed_busy_student
from tests.conftest import NOW
from tests.factories import make_user

DUE = NOW.date() + timedelta(days=3)


def adviser(session: Session, name: str = "Ada Adviser") -> User:
    user = make_user(session, name=name)
    user.role = Role.ADVISER
    return user


def world(session: Session, box: SecretBox) -> tuple[User, User, Cohort, Meeting]:
    ada = adviser(session)
    cohort = cohorts.create_cohort(session, ada, "Careers 101", due=DUE)
    sam = make_user(session, name="Sam Student")
    meeting = seed_busy_student(session, sam, box, NOW)
    cohorts.join_cohort(session, sam, cohort.code, NOW)
    return ada, sam, cohort, meeting


def test_a_report_snapshots_the_notes_and_reflection_without_the_contacts_name_or_address(
    session: Session, secret_box: SecretBox
) -> None:
    ada, sam, cohort, meeting = world(session, secret_box)
    report = cohort_reports.submit_report(session, sam, meeting.id, cohort.id, NOW)
    assert not report.late
    # Later edits reach the adviser only when the student submits again.
    meeting.learned = "EDITED-LATER"
    session.flush()
    seen = cohort_reports.adviser_report(session, ada, cohort.id, report.id)
    text = seen.report.body_json
    assert (seen.body.organisation, seen.body.role) == ("Hushcorp", "Zanzibar-Curator")
    assert seen.body.held_on == (NOW - timedelta(days=5)).date()
    assert seen.student_name == "Sam Student"
    for word in REPORTED_WORDS:
        assert word in text, word
    for word in (*REPORT_PRIVATE_WORDS, "EDITED-LATER", "Lane"):
        assert word.lower() not in text.lower(), word
    went_well = next(s for s in seen.body.sections if s.heading == "What went well?")
    assert went_well.text == "[removed] answered every question; I wrote to [removed] after."


def test_resubmitting_before_the_due_date_replaces_the_snapshot(
    session: Session, secret_box: SecretBox
) -> None:
    _, sam, cohort, meeting = world(session, secret_box)
    first = cohort_reports.submit_report(session, sam, meeting.id, cohort.id, NOW)
    meeting.learned = "SECOND-DRAFT"
    on_the_day = NOW.replace(day=DUE.day, hour=23)
    again = cohort_reports.submit_report(session, sam, meeting.id, cohort.id, on_the_day)
    assert again.id == first.id
    assert "SECOND-DRAFT" in again.body_json and "OBSIDIAN-LANTERN" not in again.body_json
    assert (again.first_submitted_at, again.submitted_at, again.late) == (NOW, on_the_day, False)
    counted = cohorts.report_of(session, cohort, NOW).students
    assert [student.reports_submitted for student in counted] == [1]


def test_after_the_due_date_a_report_is_refused_change_and_a_first_one_is_late(
    session: Session, secret_box: SecretBox
) -> None:
    _, sam, cohort, meeting = world(session, secret_box)
    cohort_reports.submit_report(session, sam, meeting.id, cohort.id, NOW)
    after = NOW + timedelta(days=4)
    with pytest.raises(ValidationError, match="has passed: the report you submitted can no"):
        cohort_reports.submit_report(session, sam, meeting.id, cohort.id, after)

    other = cohorts.create_cohort(session, adviser(session, "Bea Adviser"), "Late 1", due=DUE)
    cohorts.join_cohort(session, sam, other.code, NOW)
    late = cohort_reports.submit_report(session, sam, meeting.id, other.id, after)
    assert late.late
    with pytest.raises(ValidationError, match="can no longer be replaced"):
        cohort_reports.submit_report(session, sam, meeting.id, other.id, after)


def test_only_a_members_own_held_meeting_can_be_reported(
    session: Session, secret_box: SecretBox
) -> None:
    ada, sam, cohort, meeting = world(session, secret_box)
    outsider = make_user(session, name="Olly Outsider")
    with pytest.raises(NotFound):
        cohort_reports.submit_report(session, outsider, meeting.id, cohort.id, NOW)
    elsewhere = cohorts.create_cohort(session, ada, "Careers 102")
    with pytest.raises(NotFound, match="not in that cohort"):
        cohort_reports.submit_report(session, sam, meeting.id, elsewhere.id, NOW)
    meeting.status = MeetingStatus.SCHEDULED
    with pytest.raises(ValidationError, match="only a meeting that was held"):
        cohort_reports.submit_report(session, sam, meeting.id, cohort.id, NOW)


def test_the_adviser_comments_and_the_student_sees_it_until_they_leave(
    session: Session, secret_box: SecretBox
) -> None:
    ada, sam, cohort, meeting = world(session, secret_box)
    report = cohort_reports.submit_report(session, sam, meeting.id, cohort.id, NOW)
    bea = adviser(session, "Bea Adviser")
    with pytest.raises(NotFound):
        cohort_reports.comment_on(session, bea, cohort.id, report.id, "Mine now", NOW)
    theirs = cohorts.create_cohort(session, bea, "Careers 201")
    with pytest.raises(NotFound):
        cohort_reports.comment_on(session, bea, theirs.id, report.id, "Through mine", NOW)
    cohort_reports.comment_on(session, ada, cohort.id, report.id, "  Well asked.\r\n", NOW)
    [seen] = cohort_reports.reports_on_meeting(session, sam, meeting.id)
    assert (seen.cohort.name, seen.report.comment, seen.report.commented_at) == (
        "Careers 101",
        "Well asked.",
        NOW,
    )
    assert [r.report.id for r in cohort_reports.reports_of_student(session, sam)] == [report.id]

    cohorts.leave_cohort_by_id(session, sam, cohort.id)
    assert cohort_reports.cohort_reports(session, cohort) == []
    with pytest.raises(NotFound):
        cohort_reports.adviser_report(session, ada, cohort.id, report.id)
    assert cohort_reports.reports_on_meeting(session, sam, meeting.id) == []


def test_a_comment_with_control_characters_is_refused(
    session: Session, secret_box: SecretBox
) -> None:
    ada, sam, cohort, meeting = world(session, secret_box)
    report = cohort_reports.submit_report(session, sam, meeting.id, cohort.id, NOW)
    with pytest.raises(ValidationError):
        cohort_reports.comment_on(session, ada, cohort.id, report.id, "bad\x00", NOW)
