"""The admin's page in headless Chromium: an admin invites an adviser, the adviser signs up
from the link and creates a cohort with the report's questions; a student answers them.

Each page is also checked by axe-core, as tests/browser/test_accessibility.py does.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import Browser, expect
from sqlalchemy import select

from outreach import cohorts
from outreach.cohort_reports import submit_report
from outreach.crypto import SecretBox
from outreach.models import Cohort, Role, SubmittedReport, User
from tests.browser.conftest import LiveApp
from tests.browser.live import VIEWPORT, log_in
from tests.browser.test_cohorts import shoot_and_check
from tests.cohort_world import seed_busy_student
from tests.factories import make_user
from tests.web.conftest import PASSWORD

pytestmark = pytest.mark.browser

ASKED = ["What surprised you about the work?", "How does this change your plans?"]


def test_an_admin_invites_an_adviser_who_signs_up_and_creates_a_cohort_with_questions(
    browser: Browser, live_app: LiveApp
) -> None:
    with live_app.sessions() as session:
        admin = make_user(session, email="ann@college.test", name="Ann Admin", password=PASSWORD)
        admin.role = Role.ADMIN
        session.commit()

    desk = browser.new_context(viewport=VIEWPORT, base_url=live_app.url, bypass_csp=True)
    desk.grant_permissions(["clipboard-read", "clipboard-write"])
    page = desk.new_page()
    log_in(page, live_app.url, "ann@college.test")
    page.get_by_role("link", name="Admin").click()
    expect(page.get_by_role("heading", name="Admin", exact=True)).to_be_visible()
    page.get_by_label("Email address").fill("ada@college.test")
    page.get_by_label("Role").select_option("adviser")
    page.get_by_role("button", name="Make the link").click()
    link = page.get_by_label("One-time link").input_value()
    assert "/signup?invite=" in link
    page.get_by_role("button", name="Copy the link").click()
    expect(page.locator("#copy-status")).to_have_text("Copied.")
    expect(page.locator("#invites")).to_contain_text("waiting")
    shoot_and_check(page, "admin-invited")
    desk.close()

    newcomer = browser.new_context(viewport=VIEWPORT, base_url=live_app.url, bypass_csp=True)
    page = newcomer.new_page()
    page.goto(link)
    expect(page.locator("#invited")).to_contain_text("an adviser's account for ada@college.test")
    shoot_and_check(page, "admin-adviser-signup")
    page.get_by_label("Your name").fill("Ada Adviser")
    page.get_by_label("Password").fill("a long passphrase")
    page.get_by_role("button", name="Create account").click()
    page.wait_for_url(f"{live_app.url}/login")
    page.get_by_label("Password").fill("a long passphrase")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{live_app.url}/")
    expect(page.get_by_role("link", name="Admin")).to_have_count(0)
    page.get_by_role("link", name="Cohorts").click()
    page.get_by_label("Name").fill("Careers 101")
    page.get_by_label("Questions for the report").fill("\n".join(ASKED))
    shoot_and_check(page, "admin-adviser-new-cohort")
    page.get_by_role("button", name="Create cohort").click()
    expect(page.locator("#question-list")).to_contain_text(ASKED[1])
    shoot_and_check(page, "admin-adviser-cohort-questions")
    newcomer.close()

    with live_app.sessions() as session:
        ada = session.scalars(select(User).where(User.email == "ada@college.test")).one()
        assert ada.role == Role.ADVISER
        assert [cohorts.questions_of(c) for c in session.scalars(select(Cohort))] == [ASKED]

    back = browser.new_context(viewport=VIEWPORT, base_url=live_app.url, bypass_csp=True)
    page = back.new_page()
    log_in(page, live_app.url, "ann@college.test")
    page.goto("/admin")
    expect(page.locator("#invites")).to_contain_text("used")
    expect(page.locator('#account-list tr[data-role="adviser"]')).to_contain_text("Ada Adviser")
    shoot_and_check(page, "admin-page")
    back.close()


def test_a_student_answers_the_cohorts_questions_and_the_adviser_prints_the_reports(
    browser: Browser, live_app: LiveApp, secret_box: SecretBox
) -> None:
    with live_app.sessions() as session:
        adviser = make_user(session, email="ada@college.test", name="Ada Adviser",
                            password=PASSWORD)  # fmt: skip
        adviser.role = Role.ADVISER
        due = datetime.now(UTC).date() + timedelta(days=7)
        cohort = cohorts.create_cohort(session, adviser, "Careers 101", due=due, questions=ASKED)
        sam = make_user(session, email="sam@college.test", name="Sam Student", password=PASSWORD)
        meeting_id = seed_busy_student(session, sam, secret_box, datetime.now(UTC)).id
        cohorts.join_cohort(session, sam, cohort.code, datetime.now(UTC))
        cohort_id = cohort.id
        session.commit()

    student = browser.new_context(viewport=VIEWPORT, base_url=live_app.url, bypass_csp=True)
    page = student.new_page()
    log_in(page, live_app.url, "sam@college.test")
    page.goto(f"/meetings/{meeting_id}/notes")
    page.locator("#cohort-reports").get_by_role("link", name="Answer and hand in").click()
    page.get_by_label(ASKED[0]).fill("How much of the job is writing.")
    page.get_by_label(ASKED[1]).fill("I will take the data course next term.")
    shoot_and_check(page, "cohort-report-questions")
    page.get_by_role("button", name="Hand in the report").click()
    expect(page.locator("#flashes")).to_contain_text("Your report is in")
    student.close()

    with live_app.sessions() as session:
        tim = make_user(session, email="tim@college.test", name="Tim Student", password=PASSWORD)
        tims_meeting = seed_busy_student(session, tim, secret_box, datetime.now(UTC))
        cohorts.join_cohort(
            session, tim, session.get_one(Cohort, cohort_id).code, datetime.now(UTC)
        )
        answers = [(ASKED[0], "The travel."), (ASKED[1], "None yet.")]
        submit_report(session, tim, tims_meeting.id, cohort_id, datetime.now(UTC), answers)
        session.commit()

    desk = browser.new_context(viewport=VIEWPORT, base_url=live_app.url, bypass_csp=True)
    page = desk.new_page()
    log_in(page, live_app.url, "ada@college.test")
    page.goto(f"/cohorts/{cohort_id}")
    page.get_by_role("link", name="Print every report").click()
    records = page.locator("article.report-page")
    expect(records).to_have_count(2)
    expect(records.first).to_contain_text("I will take the data course next term.")
    # On paper each interview starts a page of its own: two short reports, two pages.
    printed = page.pdf(format="A4")
    assert len(re.findall(rb"/Type\s*/Page(?!s)", printed)) == 2
    page.emulate_media(media="print")
    shoot_and_check(page, "cohort-reports-printed")
    desk.close()
    with live_app.sessions() as session:
        assert set(session.scalars(select(SubmittedReport.cohort_id))) == {cohort_id}
