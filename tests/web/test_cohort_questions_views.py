"""The report's questions on the web: set with the cohort, changed until the due date,
answered on the student's report form, kept in the report and printed one interview a page."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta

from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from outreach import cohort_reports, cohorts
from outreach.crypto import SecretBox
from outreach.models import Cohort, SubmittedReport
from tests.cohort_world import seed_busy_student
from tests.conftest import NOW
from tests.factories import make_user
from tests.web.conftest import PASSWORD, Browser
from tests.web.test_cohorts_views import adviser

ASKED = ["What surprised you about the work?", "How does this change your plans?"]


def test_an_adviser_asks_questions_when_creating_a_cohort_and_changes_them(
    browser: Browser, session: Session
) -> None:
    ada = adviser(session)
    browser.login(ada.email)
    made = browser.post(
        "/cohorts",
        {"name": "Careers 101", "goal": "2", "questions": "\n".join(ASKED) + "\n\n"},
        page="/cohorts",
    )
    assert made.status_code == 302
    cohort = session.scalars(select(Cohort)).one()
    assert cohorts.questions_of(cohort) == ASKED
    page = html.unescape(browser.page(f"/cohorts/{cohort.id}"))
    assert all(question in page for question in ASKED)

    changed = browser.post(
        f"/cohorts/{cohort.id}/questions", {"questions": "Whom will you ask next?"},
        page=f"/cohorts/{cohort.id}",
    )  # fmt: skip
    assert changed.status_code == 302
    session.refresh(cohort)
    assert cohorts.questions_of(cohort) == ["Whom will you ask next?"]
    too_many = browser.post(
        f"/cohorts/{cohort.id}/questions", {"questions": "\n".join(["Q?"] * 11)},
        page=f"/cohorts/{cohort.id}",
    )  # fmt: skip
    assert too_many.status_code == 400
    assert "10 questions at most" in html.unescape(too_many.get_data(as_text=True))


def test_after_the_due_date_the_questions_cannot_change(browser: Browser, session: Session) -> None:
    ada = adviser(session)
    past = datetime.now(UTC).date() - timedelta(days=1)
    cohort = cohorts.create_cohort(session, ada, "Careers 101", due=past, questions=ASKED)
    session.commit()
    browser.login(ada.email)
    page = browser.page(f"/cohorts/{cohort.id}")
    assert "questions-form" not in page and "The due date has passed" in page
    refused = browser.post(f"/cohorts/{cohort.id}/questions", {"questions": "New?"})
    assert refused.status_code == 400
    session.refresh(cohort)
    assert cohorts.questions_of(cohort) == ASKED


def test_the_student_answers_the_questions_and_the_adviser_reads_and_prints_them(
    app: Flask, browser: Browser, session: Session, secret_box: SecretBox
) -> None:
    ada = adviser(session)
    due = datetime.now(UTC).date() + timedelta(days=3)
    cohort = cohorts.create_cohort(session, ada, "Careers 101", due=due, questions=ASKED)
    sam = make_user(session, name="Sam Student", password=PASSWORD)
    meeting = seed_busy_student(session, sam, secret_box, NOW)
    cohorts.join_cohort(session, sam, cohort.code, NOW)
    session.commit()
    browser.login(sam.email)

    notes = html.unescape(browser.page(f"/meetings/{meeting.id}/notes"))
    form_path = f"/meetings/{meeting.id}/report/{cohort.id}"
    assert form_path in notes and "2 questions from your adviser" in notes
    form_page = html.unescape(browser.page(form_path))
    assert all(question in form_page for question in ASKED)

    fields = {"cohort_id": str(cohort.id), "question_0": ASKED[0], "question_1": ASKED[1]}
    missing = browser.post(
        f"/meetings/{meeting.id}/report",
        {**fields, "answer_0": "The writing.", "answer_1": ""},
        page=form_path,
    )
    assert missing.status_code == 400
    kept = html.unescape(missing.get_data(as_text=True))
    assert "has no answer" in kept and "The writing." in kept
    assert session.scalar(select(SubmittedReport)) is None

    answered = browser.post(
        f"/meetings/{meeting.id}/report",
        {**fields, "answer_0": "The writing.", "answer_1": "I take the data course."},
        page=form_path,
    )
    assert answered.status_code == 302
    report = session.scalars(select(SubmittedReport)).one()
    # Handing in again shows the answers given.
    assert "I take the data course." in html.unescape(browser.page(form_path))
    browser.logout()

    browser.login(ada.email)
    one = html.unescape(browser.page(f"/cohorts/{cohort.id}/reports/{report.id}"))
    assert "The writing." in one and ASKED[1] in one

    tim = make_user(session, name="Tim Student", password=PASSWORD)
    tims_meeting = seed_busy_student(session, tim, secret_box, NOW)
    cohorts.join_cohort(session, tim, cohort.code, NOW)
    tims_answers = [(ASKED[0], "Tim's answer."), (ASKED[1], "Tim's plan.")]
    cohort_reports.submit_report(session, tim, tims_meeting.id, cohort.id, NOW, tims_answers)
    session.commit()
    printed = html.unescape(browser.page(f"/cohorts/{cohort.id}/reports/print"))
    assert len(re.findall(r'<article class="interview-record report-page"', printed)) == 2
    assert "The writing." in printed and "Tim's plan." in printed


def test_the_report_form_is_the_members_own(
    browser: Browser, session: Session, secret_box: SecretBox
) -> None:
    ada = adviser(session)
    cohort = cohorts.create_cohort(session, ada, "Careers 101", questions=ASKED)
    other = cohorts.create_cohort(session, ada, "Careers 102", questions=ASKED)
    sam = make_user(session, name="Sam Student", password=PASSWORD)
    meeting = seed_busy_student(session, sam, secret_box, NOW)
    cohorts.join_cohort(session, sam, cohort.code, NOW)
    eve = make_user(session, name="Eve Student", password=PASSWORD)
    cohorts.join_cohort(session, eve, cohort.code, NOW)
    session.commit()
    browser.login(sam.email)
    assert browser.get(f"/meetings/{meeting.id}/report/{other.id}").status_code == 404
    browser.logout()
    browser.login(eve.email)
    assert browser.get(f"/meetings/{meeting.id}/report/{cohort.id}").status_code == 404
    assert browser.get(f"/cohorts/{cohort.id}/reports/print").status_code == 404
