"""The adviser's cohort page: the funnel and weekly chart, and the sandbox's demo cohort."""

from __future__ import annotations

import html
import re
from dataclasses import replace
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from outreach import cohorts
from outreach.config import Settings
from outreach.crypto import SecretBox
from outreach.models import Cohort, Role, User
from outreach.sandbox.demo_cohort import DEMO_COHORT_NAME
from tests.cohort_world import PRIVATE_WORDS, seed_busy_student
from tests.conftest import NOW
from tests.factories import make_user
from tests.web.conftest import PASSWORD, Browser, build_app


def adviser(session: Session) -> User:
    user = make_user(session, name="Ada Adviser", password=PASSWORD)
    user.role = Role.ADVISER
    session.commit()
    return user


def figures_of(page: str) -> str:
    """The funnel and chart, from their container to the students' table."""
    start = page.index('class="progress-grid cohort-figures"')
    return page[start : page.index('id="students-title"')]


def words(fragment: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", fragment)).split())


def test_the_cohort_page_shows_the_funnel_and_each_weeks_counts_without_names(
    browser: Browser, session: Session, secret_box: SecretBox
) -> None:
    ada = adviser(session)
    cohort = cohorts.create_cohort(session, ada, "Careers 101")
    student = make_user(session, name="Bo Busy")
    seed_busy_student(session, student, secret_box, NOW)
    cohorts.join_cohort(session, student, cohort.code, NOW - timedelta(days=20))
    cohorts.join_cohort(session, make_user(session, name="Nia New"), cohort.code, NOW)
    session.commit()
    browser.login(ada.email)

    figures = figures_of(browser.page(f"/cohorts/{cohort.id}"))
    text = words(figures)
    assert "Joined the cohort 2 students" in text
    assert "Sent a request 1 of 2 students 50% of the cohort · 3 requests in all" in text
    assert "Had a reply 1 of 2 students 50% of the cohort · 2 replies in all" in text
    assert "Held a meeting 1 of 2 students 50% of the cohort · 1 meeting in all" in text
    assert "Handed in a report 0 of 2 students 0% of the cohort · 0 reports in all" in text
    assert 'id="cohort-weekly-table"' in figures
    assert '<th scope="col">Meetings held</th>' in figures
    for word in (*PRIVATE_WORDS, student.name, student.email):
        assert word.lower() not in figures.lower(), word


def test_an_adviser_tries_the_demo_cohort_then_removes_it(
    browser: Browser, session: Session
) -> None:
    ada = adviser(session)
    browser.login(ada.email)
    assert 'data-action="make-demo-cohort"' in browser.page("/cohorts")
    made = browser.post("/sandbox/demo-cohort", page="/cohorts")
    assert made.status_code == 302
    cohort = session.scalars(select(Cohort).where(Cohort.adviser_id == ada.id)).one()
    assert cohort.name == DEMO_COHORT_NAME
    assert made.headers["Location"].endswith(f"/cohorts/{cohort.id}")
    page = html.unescape(browser.page(made.headers["Location"]))
    assert "12 pretend students who cannot sign in or send mail" in page
    assert "This is a demo cohort: its students are pretend" in page
    assert "Asha Kumar (pretend)" in page
    assert "Joined the cohort 12 students" in words(figures_of(page))
    assert 'data-action="remove-demo-cohort"' in browser.page("/cohorts")

    users = session.scalar(select(func.count()).select_from(User)) or 0
    removed = browser.post("/sandbox/demo-cohort/remove", page="/cohorts", follow_redirects=True)
    assert "The demo cohort and its pretend students are gone" in removed.get_data(as_text=True)
    session.expire_all()
    assert session.scalar(select(Cohort).where(Cohort.adviser_id == ada.id)) is None
    assert session.scalar(select(func.count()).select_from(User)) == users - 12


def test_a_student_gets_no_demo_cohort(signed_in: Browser, session: Session) -> None:
    refused = signed_in.post("/sandbox/demo-cohort", page="/cohorts", follow_redirects=True)
    assert "Only an adviser can try a demo cohort" in html.unescape(refused.get_data(as_text=True))
    assert 'data-action="make-demo-cohort"' not in signed_in.page("/cohorts")
    assert session.scalar(select(Cohort)) is None


def test_outreach_sandbox_off_offers_no_demo_cohort(settings: Settings, session: Session) -> None:
    ada = adviser(session)
    for app in build_app(replace(settings, sandbox_enabled=False)):
        browser = Browser(app.test_client())
        browser.login(ada.email)
        assert 'data-action="make-demo-cohort"' not in browser.page("/cohorts")
        browser.post("/sandbox/demo-cohort", page="/cohorts")
        assert session.scalar(select(Cohort)) is None
