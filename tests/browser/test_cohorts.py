"""Cohorts in headless Chromium: a student joins after the consent and hands in a report;
the adviser reads and comments.

Each page is also checked by axe-core, as tests/browser/test_accessibility.py does.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import Browser, Page, ViewportSize, expect
from sqlalchemy import select

from outreach import cohorts
from outreach.crypto import SecretBox
from outreach.models import Role, User
from tests.browser.conftest import SCREENSHOTS, LiveApp
from tests.browser.live import VIEWPORT, log_in
from tests.browser.test_accessibility import check
from tests.cohort_world import seed_busy_student
from tests.factories import make_user
from tests.web.conftest import PASSWORD

pytestmark = pytest.mark.browser

PHONE: ViewportSize = {"width": 390, "height": 844}


def shoot_and_check(page: Page, name: str) -> None:
    """Screenshots at desk and phone sizes, then axe-core's check at both."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / f"{name}.png", full_page=True)
    page.set_viewport_size(PHONE)
    page.screenshot(path=SCREENSHOTS / f"{name}-phone.png", full_page=True)
    page.set_viewport_size(VIEWPORT)
    check(page)
    page.set_viewport_size(VIEWPORT)


def test_a_student_joins_after_the_consent_and_the_adviser_sees_counts(
    browser: Browser, live_app: LiveApp
) -> None:
    with live_app.sessions() as session:
        adviser = make_user(
            session, email="ada@college.test", name="Ada Adviser", password=PASSWORD
        )
        adviser.role = Role.ADVISER
        cohort = cohorts.create_cohort(session, adviser, "Careers 101 (autumn)", goal=2)
        code, cohort_id = cohort.code, cohort.id
        session.commit()

    # CSP bypassed only so that axe-core's script can be injected, as in test_accessibility.
    student = browser.new_context(viewport=VIEWPORT, base_url=live_app.url, bypass_csp=True)
    page = student.new_page()
    log_in(page, live_app.url, live_app.seeded.email)
    page.get_by_role("link", name="Cohorts").click()
    page.get_by_label("Join code").fill(f"{code[:4].lower()}-{code[4:]}")
    page.get_by_role("button", name="See what is shared").click()
    expect(page.get_by_role("heading", name="Join Careers 101 (autumn)?")).to_be_visible()
    expect(page.locator("#consent")).to_contain_text("Never your emails")
    shoot_and_check(page, "cohort-consent")
    page.get_by_role("button", name="Share this and join").click()
    expect(page.locator("#joined-cohorts")).to_contain_text("Careers 101 (autumn)")
    shoot_and_check(page, "cohort-student")

    student.close()
    other = browser.new_context(viewport=VIEWPORT, base_url=live_app.url, bypass_csp=True)
    try:
        desk = other.new_page()
        log_in(desk, live_app.url, "ada@college.test")
        desk.get_by_role("link", name="Cohorts").click()
        desk.get_by_role("link", name="Careers 101 (autumn)").click()
        table = desk.locator("#cohort-students")
        expect(table).to_contain_text(live_app.seeded.user_name)
        expect(table).to_contain_text("connected")
        shoot_and_check(desk, "cohort-report")
    finally:
        other.close()
    with live_app.sessions() as session:
        joined = session.scalars(select(User).where(User.email == live_app.seeded.email)).one()
        assert [c.id for c in cohorts.student_cohorts(session, joined)] == [cohort_id]


def test_a_student_hands_in_a_report_the_adviser_comments_and_the_student_reads_it(
    browser: Browser, live_app: LiveApp, secret_box: SecretBox
) -> None:
    with live_app.sessions() as session:
        adviser = make_user(
            session, email="ada@college.test", name="Ada Adviser", password=PASSWORD
        )
        adviser.role = Role.ADVISER
        cohort = cohorts.create_cohort(
            session, adviser, "Careers 101", due=datetime.now(UTC).date() + timedelta(days=7)
        )
        sam = make_user(session, email="sam@college.test", name="Sam Student", password=PASSWORD)
        meeting_id = seed_busy_student(session, sam, secret_box, datetime.now(UTC)).id
        cohorts.join_cohort(session, sam, cohort.code, datetime.now(UTC))
        session.commit()

    student = browser.new_context(viewport=VIEWPORT, base_url=live_app.url, bypass_csp=True)
    page = student.new_page()
    log_in(page, live_app.url, "sam@college.test")
    page.goto(f"/meetings/{meeting_id}/notes")
    card = page.locator("#cohort-reports")
    card.get_by_role("button", name="Hand in the report").click()
    expect(page.locator("#flashes")).to_contain_text("Your report is in")
    expect(card).to_contain_text("Handed in")
    shoot_and_check(page, "cohort-report-handed-in")

    desk_context = browser.new_context(viewport=VIEWPORT, base_url=live_app.url, bypass_csp=True)
    try:
        desk = desk_context.new_page()
        log_in(desk, live_app.url, "ada@college.test")
        desk.get_by_role("link", name="Cohorts").click()
        desk.get_by_role("link", name="Careers 101").click()
        desk.locator("#submitted-reports li").get_by_role("link").click()
        expect(desk.locator("#report-title")).to_contain_text("Sam Student")
        expect(desk.locator("main")).to_contain_text("OBSIDIAN-LANTERN")
        expect(desk.locator("main")).not_to_contain_text("Quillfeather")
        desk.get_by_label("Your comment").fill("Good questions; ask about pay next time.")
        desk.get_by_role("button", name="Save the comment").click()
        expect(desk.locator("#adviser-comment")).to_contain_text("ask about pay next time")
        shoot_and_check(desk, "cohort-submitted-report")
    finally:
        desk_context.close()

    page.reload()
    expect(card).to_contain_text("Good questions; ask about pay next time.")
    shoot_and_check(page, "cohort-report-commented")
    page.get_by_role("link", name="Cohorts").click()
    expect(page.locator("#handed-in")).to_contain_text("ask about pay next time")
    shoot_and_check(page, "cohort-student-reports")
    student.close()
