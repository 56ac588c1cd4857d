"""A cohort's funnel and weekly chart: counts across current members, in fixed queries."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

from outreach import cohorts
from outreach.cohort_figures import CohortWeek, cohort_funnel, cohort_weeks
from outreach.cohort_reports import submit_report
from outreach.crypto import SecretBox
from outreach.models import Cohort, Role, User
from outreach.rules.weeks import WeekWindow
from tests.cohort_world import PRIVATE_WORDS, seed_busy_student
from tests.conftest import NOW
from tests.factories import make_user

# NOW is Tuesday 24 November 2026: its week began on Monday the 23rd.
THIS_MONDAY = date(2026, 11, 23)


def adviser(session: Session) -> User:
    user = make_user(session, name="Ada Adviser")
    user.role = Role.ADVISER
    return user


def cohort_since(session: Session, ada: User, days: int) -> Cohort:
    cohort = cohorts.create_cohort(session, ada, "Careers 101")
    cohort.created_at = NOW - timedelta(days=days)
    return cohort


def busy_member(
    session: Session, cohort: Cohort, box: SecretBox, name: str, report_at: datetime | None = None
) -> User:
    """seed_busy_student's counts: requests 3 (10 days ago), replies 2, one meeting held."""
    student = make_user(session, name=name)
    meeting = seed_busy_student(session, student, box, NOW)
    cohorts.join_cohort(session, student, cohort.code, NOW - timedelta(days=20))
    if report_at is not None:
        submit_report(session, student, meeting.id, cohort.id, report_at)
    return student


@contextmanager
def statements(session: Session) -> Iterator[list[str]]:
    seen: list[str] = []

    def note(*args: Any) -> None:
        seen.append(args[2])

    engine = session.get_bind()
    event.listen(engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", note)


def test_the_funnel_counts_students_at_each_step_and_totals(
    session: Session, secret_box: SecretBox
) -> None:
    ada = adviser(session)
    cohort = cohort_since(session, ada, 30)
    busy_member(session, cohort, secret_box, "Bo Busy", report_at=NOW - timedelta(days=1))
    cohorts.join_cohort(session, make_user(session, name="Nia New"), cohort.code, NOW)
    session.commit()

    funnel = cohort_funnel(cohorts.report_of(session, cohort, NOW))
    figures = [(stage.key, stage.students, stage.total, stage.share) for stage in funnel]
    assert figures == [
        ("joined", 2, None, 100),
        ("mailbox", 1, None, 50),
        ("requests", 1, 3, 50),
        ("replies", 1, 2, 50),
        ("meetings", 1, 1, 50),
        ("reports", 1, 1, 50),
    ]


def test_an_empty_cohort_has_a_funnel_of_zeros_and_no_shares(session: Session) -> None:
    cohort = cohort_since(session, adviser(session), 3)
    funnel = cohort_funnel(cohorts.report_of(session, cohort, NOW))
    assert {stage.students for stage in funnel} == {0}
    assert {stage.share for stage in funnel} == {None}


def test_each_week_counts_requests_replies_meetings_and_reports_across_the_cohort(
    session: Session, secret_box: SecretBox
) -> None:
    ada = adviser(session)
    cohort = cohort_since(session, ada, 30)
    busy_member(session, cohort, secret_box, "Bo Busy", report_at=NOW - timedelta(days=1))
    busy_member(session, cohort, secret_box, "Cy Busy")
    session.commit()

    weeks = cohort_weeks(session, cohort, NOW, "UTC")
    # The cohort began on Sunday 25 October: its first week is that of Monday the 19th.
    assert [week.monday for week in weeks] == [
        THIS_MONDAY - timedelta(weeks=back) for back in (5, 4, 3, 2, 1, 0)
    ]
    assert weeks[-1].label == "23 Nov"
    by_monday = {week.monday: week for week in weeks}
    # Sent Saturday the 14th; one person answered by mail on the 15th (their later
    # timeline step does not count them twice), the other on the timeline on the 20th.
    assert by_monday[date(2026, 11, 9)] == CohortWeek(date(2026, 11, 9), 6, 2, 0, 0)
    assert by_monday[date(2026, 11, 16)] == CohortWeek(date(2026, 11, 16), 0, 2, 2, 0)
    assert by_monday[THIS_MONDAY] == CohortWeek(THIS_MONDAY, 0, 0, 0, 1)
    assert sum(week.requests for week in weeks) == 6


def test_a_student_who_left_stops_counting_in_the_funnel_and_the_chart(
    session: Session, secret_box: SecretBox
) -> None:
    ada = adviser(session)
    cohort = cohort_since(session, ada, 30)
    stays = busy_member(session, cohort, secret_box, "Bo Busy")
    leaves = busy_member(session, cohort, secret_box, "Lee Leaver", report_at=NOW)
    session.commit()
    assert sum(week.requests for week in cohort_weeks(session, cohort, NOW, "UTC")) == 6

    cohorts.leave_cohort_by_id(session, leaves, cohort.id)
    session.commit()

    weeks = cohort_weeks(session, cohort, NOW, "UTC")
    assert sum(week.requests for week in weeks) == 3
    assert sum(week.replies for week in weeks) == 2
    assert sum(week.meetings for week in weeks) == 1
    assert sum(week.reports for week in weeks) == 0
    funnel = {stage.key: stage for stage in cohort_funnel(cohorts.report_of(session, cohort, NOW))}
    assert (funnel["joined"].students, funnel["requests"].total) == (1, 3)
    assert funnel["reports"].students == 0
    assert stays.id != leaves.id


def test_an_old_cohort_shows_its_last_twelve_weeks_a_new_one_its_first(session: Session) -> None:
    ada = adviser(session)
    old = cohorts.create_cohort(session, ada, "Last year")
    old.created_at = NOW - timedelta(days=400)
    new = cohorts.create_cohort(session, ada, "This week")
    new.created_at = NOW - timedelta(hours=2)
    assert len(cohort_weeks(session, old, NOW, "UTC")) == 12
    assert [week.monday for week in cohort_weeks(session, new, NOW, "UTC")] == [THIS_MONDAY]


def test_weeks_are_cut_in_the_advisers_time_zone() -> None:
    # 23:30 on Sunday in UTC is already Monday morning in Auckland.
    sunday_night = datetime(2026, 11, 29, 23, 30, tzinfo=NOW.tzinfo)
    window = WeekWindow.ending_at(sunday_night, "Pacific/Auckland", 2)
    assert window.mondays == [date(2026, 11, 23), date(2026, 11, 30)]
    assert window.index_of(sunday_night) == 1
    assert window.index_of(sunday_night - timedelta(weeks=3)) is None


def test_the_chart_runs_four_queries_and_the_funnel_none_whatever_the_cohorts_size(
    session: Session, secret_box: SecretBox
) -> None:
    ada = adviser(session)
    cohort = cohort_since(session, ada, 30)
    busy_member(session, cohort, secret_box, "Bo Busy")
    session.commit()
    report = cohorts.report_of(session, cohort, NOW)
    with statements(session) as few:
        cohort_weeks(session, cohort, NOW, "UTC")
        cohort_funnel(report)
    for number in range(3):
        busy_member(session, cohort, secret_box, f"Student {number}", report_at=NOW)
    session.commit()
    report = cohorts.report_of(session, cohort, NOW)
    with statements(session) as many:
        weeks = cohort_weeks(session, cohort, NOW, "UTC")
        cohort_funnel(report)
    assert len(few) == len(many) == 4
    assert sum(week.reports for week in weeks) == 3


def test_the_funnel_and_chart_carry_counts_never_a_contact_a_message_or_a_student(
    session: Session, secret_box: SecretBox
) -> None:
    ada = adviser(session)
    cohort = cohort_since(session, ada, 30)
    student = busy_member(session, cohort, secret_box, "Bo Busy", report_at=NOW)
    session.commit()
    funnel = cohort_funnel(cohorts.report_of(session, cohort, NOW))
    weeks = cohort_weeks(session, cohort, NOW, "UTC")
    rows = [dataclasses.asdict(stage) for stage in funnel]
    rows += [dataclasses.asdict(week) for week in weeks]
    text = json.dumps(rows, default=str).lower()
    for word in (*PRIVATE_WORDS, student.name, student.email):
        assert word.lower() not in text, word
