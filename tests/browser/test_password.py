"""The Profile page's password change in headless Chromium: the other browser is signed out."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import SCREENSHOTS, LiveApp
from tests.browser.live import PASSWORD, VIEWPORT, log_in

pytestmark = pytest.mark.browser

NEW_PASSWORD = "a longer passphrase now"


def test_changing_the_password_signs_out_the_other_browser_only(
    page: Page, browser: Browser, live_app: LiveApp
) -> None:
    email = live_app.seeded.email
    other = browser.new_context(viewport=VIEWPORT, base_url=live_app.url)
    try:
        laptop = other.new_page()
        log_in(laptop, live_app.url, email)
        log_in(page, live_app.url, email)
        # The board asks for news in the background; the message must still reach the page.
        laptop.wait_for_timeout(500)

        page.goto("/profile")
        section = page.locator("#password")
        expect(section.get_by_role("heading", name="Password")).to_be_visible()
        section.get_by_label("Current password").fill(PASSWORD)
        section.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
        section.get_by_label("New password again").fill("not the same one")
        section.get_by_role("button", name="Change password").click()
        expect(page.locator(".field-error")).to_have_text("The two new passwords are not the same.")

        section.get_by_label("Current password").fill(PASSWORD)
        section.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
        section.get_by_label("New password again").fill(NEW_PASSWORD)
        section.get_by_role("button", name="Change password").click()
        expect(page).to_have_url(f"{live_app.url}/profile")
        expect(page.locator("#flashes")).to_contain_text("Your password is changed.")
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=SCREENSHOTS / "profile-password.png", full_page=True)

        # This browser stays signed in; the other one is sent to the login page.
        page.goto("/")
        expect(page.get_by_role("heading", name="Status board")).to_be_visible()
        laptop.goto("/contacts")
        expect(laptop).to_have_url(re.compile(r"/login"))
        expect(laptop.locator("#flashes")).to_contain_text("Your sign-in has ended.")
        log_in(laptop, live_app.url, email, NEW_PASSWORD)

        # "Sign out everywhere" ends both.
        page.goto("/profile")
        page.get_by_role("button", name="Sign out everywhere").click()
        expect(page).to_have_url(re.compile(r"/login"))
        expect(page.locator("#flashes")).to_contain_text("You are signed out everywhere")
        laptop.goto("/contacts")
        expect(laptop).to_have_url(re.compile(r"/login"))
    finally:
        other.close()
