"""A newcomer without a mailbox presses "Try it with the sandbox" in Chromium.

They land on the board, which shows the demo contacts and says, as every page
then does, that this is the sandbox and no real email is sent.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from outreach.models import Mailbox, User
from outreach.rules.sandbox_addresses import SANDBOX_LABEL, is_sandbox
from tests.browser.conftest import LiveApp

pytestmark = pytest.mark.browser

SHOTS = Path("/tmp/shots")


def test_the_sandbox_button_lands_on_a_board_marked_as_the_sandbox(
    page: Page, live_app: LiveApp
) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.goto(f"{live_app.url}/signup")
    page.get_by_label("Your name").fill("Robin Newcomer")
    page.get_by_label("Email address").fill("robin@uni.example")
    page.get_by_label("Password").fill("a long passphrase")
    page.get_by_role("button", name="Create account").click()
    page.wait_for_url(f"{live_app.url}/login")
    # The address is filled in; the password is asked again (docs/decisions/0013).
    page.get_by_label("Password").fill("a long passphrase")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{live_app.url}/")
    expect(page.locator("#sandbox-banner")).to_have_count(0)

    page.goto(f"{live_app.url}/mailbox")
    offer = page.locator("#sandbox")
    expect(offer.get_by_role("heading", name="Try it with the sandbox")).to_be_visible()
    expect(offer).to_contain_text(SANDBOX_LABEL)
    offer.scroll_into_view_if_needed()
    page.screenshot(path=SHOTS / "sandbox-offer.png", full_page=True)

    offer.get_by_role("button", name="Try it with the sandbox").click()
    page.wait_for_url(f"{live_app.url}/")
    banner = page.locator("#sandbox-banner")
    expect(banner).to_be_visible()
    expect(banner).to_contain_text(SANDBOX_LABEL)
    expect(banner).to_contain_text("a business day lasts 60 seconds")
    board = page.locator("#status-board")
    # Five requests drafted at once, one per behaviour; the other seven wait their turn.
    expect(board.locator('tr[data-state="drafted"]')).to_have_count(5)
    expect(board.locator('tr[data-state="planned"]')).to_have_count(7)
    expect(board).to_contain_text("Maya Chen")
    expect(page.locator("#pending-drafts-count")).to_have_text("5")
    page.screenshot(path=SHOTS / "sandbox-board.png", full_page=True)

    # The Mailbox page says it too, and shows the sandbox mailbox with its servers here.
    page.goto(f"{live_app.url}/mailbox")
    expect(page.locator("#sandbox-banner")).to_contain_text(SANDBOX_LABEL)
    expect(page.locator("#mailboxes")).to_contain_text("@outreach-sandbox.invalid")
    expect(page.locator("#mailboxes")).to_contain_text("127.0.0.1")
    page.screenshot(path=SHOTS / "sandbox-mailbox.png", full_page=True)

    with live_app.sessions() as session:
        user = session.scalar(select(User).where(User.email == "robin@uni.example"))
        assert user is not None
        (mailbox,) = session.scalars(select(Mailbox).where(Mailbox.user_id == user.id))
        assert is_sandbox(mailbox)
        assert "robin" not in mailbox.secret_encrypted  # the password is stored encrypted
