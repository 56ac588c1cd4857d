"""A newcomer's first visit in Chromium (issue 14, item 7), in a browser set to Berlin time.

The login page says what Outreach is and leads to sign-up; the account takes
the browser's time zone, which the board's first steps and the profile show;
the first steps offer the sandbox; the Mailbox page, with no Microsoft sign-in
set up here, says what to do instead of naming a button that is not there.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, ViewportSize, expect
from sqlalchemy import select

from outreach.models import User
from tests.browser.conftest import LiveApp

pytestmark = pytest.mark.browser

SHOTS = Path("/tmp/shots")
ZONE = "Europe/Berlin"
DESKTOP: ViewportSize = {"width": 1366, "height": 850}
PHONE: ViewportSize = {"width": 390, "height": 844}


@pytest.fixture
def berlin_page(browser: Browser, live_app: LiveApp) -> Iterator[Page]:
    """A fresh browser whose clock is set to Berlin time, as a student's laptop there is."""
    context = browser.new_context(viewport=DESKTOP, base_url=live_app.url, timezone_id=ZONE)
    context.set_default_timeout(5_000)
    try:
        yield context.new_page()
    finally:
        context.close()


def shoot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SHOTS / f"firstrun-{name}.png", full_page=True)
    page.set_viewport_size(PHONE)
    page.screenshot(path=SHOTS / f"firstrun-{name}-phone.png", full_page=True)
    page.set_viewport_size(DESKTOP)


def test_a_newcomer_signs_up_in_their_own_time_zone(berlin_page: Page, live_app: LiveApp) -> None:
    page = berlin_page
    page.goto(f"{live_app.url}/login")
    about = page.locator("#about-outreach")
    expect(about).to_contain_text("Outreach helps you ask people for informational interviews")
    expect(about).to_contain_text("only after you approve them")
    shoot(page, "login")

    page.get_by_role("link", name="Create an account").click()
    page.wait_for_url(f"{live_app.url}/signup")
    # Filled by static/timezone.js from the browser's own clock.
    expect(page.locator('input[name="time_zone"]')).to_have_value(ZONE)
    page.get_by_label("Your name").fill("Robin Newcomer")
    page.get_by_label("Email address").fill("robin@uni.example")
    page.get_by_label("Password").fill("a long passphrase")
    page.get_by_role("button", name="Create account").click()
    page.wait_for_url(f"{live_app.url}/login")
    page.get_by_label("Password").fill("a long passphrase")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{live_app.url}/")

    with live_app.sessions() as session:
        stored = session.scalar(select(User.time_zone).where(User.email == "robin@uni.example"))
    assert stored == ZONE

    steps = page.locator("#first-steps")
    expect(steps.locator("#first-steps-sandbox")).to_contain_text("Try the sandbox first")
    expect(steps.get_by_role("button", name="Try it with the sandbox")).to_be_visible()
    expect(steps.locator("#first-steps-time-zone")).to_have_text(ZONE)
    shoot(page, "board")

    page.goto(f"{live_app.url}/profile")
    zone = page.get_by_label("Your time zone")
    expect(zone).to_have_value(ZONE)
    # Editable: a move to London is one choice away.
    zone.select_option("Europe/London")
    page.get_by_role("button", name="Save profile").click()
    expect(page.get_by_label("Your time zone")).to_have_value("Europe/London")

    page.goto(f"{live_app.url}/mailbox")
    advice = page.locator("#microsoft-advice")
    expect(advice).to_contain_text("which is not set up on this Outreach")
    expect(advice).to_contain_text("docs/oauth.md")
    expect(page.get_by_role("button", name="Sign in with Microsoft")).to_have_count(0)
    page.locator("#discover-address").fill("sam@outlook.com")
    page.get_by_role("button", name="Find my settings").click()
    found = page.locator("#provider-advice")
    expect(found).to_contain_text("Outlook.com accepts no passwords from other mail programs")
    expect(found).to_contain_text("Ask the person who runs this Outreach to set it up")
    shoot(page, "mailbox")
