"""axe-core finds no serious or critical accessibility violation on the main pages.

axe-core comes from npm (tests/browser/axe, installed by scripts/install-test-deps.sh)
and runs inside Chromium on each page as a signed-in person sees it: at a desk
and on a phone, since the phone layout hides and rearranges things.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, ViewportSize, expect
from sqlalchemy import select

from outreach.meetings.scheduling import MeetingDetails, record_meeting
from outreach.models import Outreach, User
from tests.browser.conftest import LiveApp
from tests.browser.live import VIEWPORT, log_in

pytestmark = pytest.mark.browser

AXE = Path(__file__).parent / "axe" / "node_modules" / "axe-core" / "axe.min.js"
MISSING_AXE = (
    f"{AXE} not found: the accessibility checks need axe-core from npm. "
    "Run scripts/install-test-deps.sh (or `npm ci` in tests/browser/axe)."
)
SERIOUS = ("serious", "critical")
PHONE: ViewportSize = {"width": 390, "height": 844}
DESK: ViewportSize = {"width": 1366, "height": 850}


@pytest.fixture
def page(browser: Browser, live_app: LiveApp) -> Iterator[Page]:
    """The folder's `page`, but letting axe-core's script in past the dashboard's CSP."""
    context = browser.new_context(viewport=VIEWPORT, base_url=live_app.url, bypass_csp=True)
    context.set_default_timeout(5_000)
    try:
        yield context.new_page()
    finally:
        context.close()


def violations(page: Page) -> list[str]:
    """axe-core's serious and critical violations on the page, one line each."""
    if not AXE.exists():
        pytest.fail(MISSING_AXE, pytrace=False)
    page.add_script_tag(path=str(AXE))
    found: list[dict[str, Any]] = page.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
    )
    return [
        f"{item['id']} ({item['impact']}): {item['help']} at "
        + ", ".join(str(node["target"]) for node in item["nodes"][:5])
        for item in found
        if item["impact"] in SERIOUS
    ]


def check(page: Page) -> None:
    page.wait_for_load_state("load")
    desk = violations(page)
    page.set_viewport_size(PHONE)
    phone = violations(page)
    assert not desk, "\n".join(desk)
    assert not phone, "\n".join(phone)


def _meeting_with_tom(live_app: LiveApp) -> int:
    with live_app.sessions() as session:
        user = session.scalars(select(User).where(User.email == live_app.seeded.email)).one()
        outreach = session.scalars(
            select(Outreach).where(Outreach.contact_id == live_app.seeded.contacts["Tom Okafor"])
        ).one()
        now = datetime.now(UTC)
        meeting = record_meeting(
            session,
            user,
            outreach.id,
            MeetingDetails(starts_at=now + timedelta(days=3), place="Video call"),
            now,
        )
        session.commit()
        return meeting.id


def test_the_login_page_has_no_serious_violations(page: Page, live_app: LiveApp) -> None:
    page.goto(f"{live_app.url}/login")
    check(page)


@pytest.mark.parametrize(
    "path",
    ["/", "/contacts", "contact", "/drafts", "/outbox", "/targets", "/mailbox", "/profile"],
)
def test_a_main_page_has_no_serious_violations(page: Page, live_app: LiveApp, path: str) -> None:
    log_in(page, live_app.url, live_app.seeded.email)
    if path == "contact":
        path = f"/contacts/{live_app.seeded.contacts['Tom Okafor']}"
    page.goto(f"{live_app.url}{path}")
    check(page)


def test_the_meetings_pages_have_no_serious_violations(page: Page, live_app: LiveApp) -> None:
    meeting_id = _meeting_with_tom(live_app)
    log_in(page, live_app.url, live_app.seeded.email)
    page.goto(f"{live_app.url}/meetings")
    expect(page.get_by_role("main")).to_contain_text("Tom Okafor")
    check(page)
    page.set_viewport_size(DESK)
    page.goto(f"{live_app.url}/meetings/{meeting_id}")
    check(page)


def test_the_sandbox_has_no_serious_violations(page: Page, live_app: LiveApp) -> None:
    page.goto(f"{live_app.url}/signup")
    page.get_by_label("Your name").fill("Robin Newcomer")
    page.get_by_label("Email address").fill("robin@uni.example")
    page.get_by_label("Password").fill("a long passphrase")
    page.get_by_role("button", name="Create account").click()
    page.wait_for_url(f"{live_app.url}/login")
    page.get_by_label("Password").fill("a long passphrase")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{live_app.url}/")
    page.goto(f"{live_app.url}/mailbox")
    check(page)
    page.set_viewport_size(DESK)
    page.get_by_role("button", name="Try it with the sandbox").click()
    page.wait_for_url(f"{live_app.url}/")
    expect(page.locator("#sandbox-banner")).to_be_visible()
    check(page)
    page.set_viewport_size(DESK)
    page.goto(f"{live_app.url}/drafts")
    check(page)


def test_the_shortcuts_help_has_no_serious_violations(page: Page, live_app: LiveApp) -> None:
    log_in(page, live_app.url, live_app.seeded.email)
    page.goto(f"{live_app.url}/drafts")
    page.keyboard.press("?")
    expect(page.get_by_role("dialog", name="Keyboard shortcuts")).to_be_visible()
    assert not violations(page)
