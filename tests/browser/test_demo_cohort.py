"""An adviser tries the sandbox's demo cohort in headless Chromium: its funnel and weekly chart.

The cohort's page is checked by axe-core at a desk and on a phone, with screenshots of both
(test-artifacts/screenshots/a11y-demo-cohort-*.png), as tests/browser/test_accessibility.py does.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, expect

from outreach.models import Role
from tests.browser.conftest import SCREENSHOTS, LiveApp
from tests.browser.live import VIEWPORT, log_in
from tests.browser.test_accessibility import PHONE, check_and_shoot
from tests.factories import make_user
from tests.web.conftest import PASSWORD

pytestmark = pytest.mark.browser


def test_an_adviser_makes_the_demo_cohort_sees_its_funnel_and_chart_then_removes_it(
    browser: Browser, live_app: LiveApp
) -> None:
    with live_app.sessions() as session:
        adviser = make_user(
            session, email="ada@college.test", name="Ada Adviser", password=PASSWORD
        )
        adviser.role = Role.ADVISER
        session.commit()

    context = browser.new_context(viewport=VIEWPORT, base_url=live_app.url, bypass_csp=True)
    context.set_default_timeout(10_000)
    try:
        page = context.new_page()
        log_in(page, live_app.url, "ada@college.test")
        page.get_by_role("link", name="Cohorts").click()
        page.get_by_role("button", name="Try a demo cohort").click()

        expect(page.get_by_role("heading", name="Demo cohort (pretend students)")).to_be_visible()
        expect(page.locator("#demo-cohort-notice")).to_contain_text("its students are pretend")
        funnel = page.locator("#cohort-funnel")
        expect(funnel.locator('[data-stage="joined"]')).to_contain_text("12 students")
        expect(funnel.locator('[data-stage="mailbox"]')).to_contain_text("10 of 12 students")
        expect(funnel.locator('[data-stage="reports"]')).to_contain_text("reports in all")
        chart = page.locator("#cohort-weekly")
        expect(chart.locator("svg rect.bar-reports").first).to_be_attached()
        # Screen readers get the same figures as a table.
        expect(chart.get_by_role("table")).to_have_count(1)
        expect(page.locator("#cohort-students")).to_contain_text("Asha Kumar (pretend)")
        expect(page.locator("#cohort-students")).to_contain_text("no mailbox a week after joining")
        expect(page.locator("#submitted-reports")).to_contain_text("late")
        check_and_shoot(page, "demo-cohort")
        for size in (VIEWPORT, PHONE):
            page.set_viewport_size(size)
            page.locator(".cohort-figures").screenshot(
                path=SCREENSHOTS / f"demo-cohort-figures-{size['width']}.png"
            )
        page.set_viewport_size(VIEWPORT)

        page.get_by_role("button", name="Remove the demo cohort").click()
        expect(page.locator("#flashes")).to_contain_text("pretend students are gone")
        expect(page.get_by_role("button", name="Try a demo cohort")).to_be_visible()
        expect(page.locator("main")).not_to_contain_text("Demo cohort (pretend students)")
        check_and_shoot(page, "cohorts-demo-offer")
    finally:
        context.close()
