"""The header, menu and tables on a phone (390x844) and a laptop (1366x850), in Chromium."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import Page, ViewportSize, expect
from sqlalchemy import select

from outreach.meetings.scheduling import MeetingDetails, record_meeting
from outreach.models import Outreach, User
from tests.browser.conftest import LiveApp
from tests.browser.live import log_in

pytestmark = pytest.mark.browser

PHONE: ViewportSize = {"width": 390, "height": 844}
LAPTOP: ViewportSize = {"width": 1366, "height": 850}


def no_sideways_scrolling(page: Page) -> None:
    width = page.viewport_size["width"] if page.viewport_size else 0
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    for wrap in page.locator(".table-wrap").all():
        assert wrap.evaluate("element => element.scrollWidth <= element.clientWidth")


def test_on_a_phone_the_menu_folds_away_and_tables_become_cards(
    page: Page, live_app: LiveApp
) -> None:
    with live_app.sessions() as session:
        user = session.scalars(select(User).where(User.email == live_app.seeded.email)).one()
        tom = live_app.seeded.contacts["Tom Okafor"]
        outreach = session.scalars(select(Outreach).where(Outreach.contact_id == tom)).one()
        now = datetime.now(UTC)
        details = MeetingDetails(starts_at=now + timedelta(days=2), place="Ocean Trust, room 4")
        record_meeting(session, user, outreach.id, details, now)
        session.commit()
    page.set_viewport_size(PHONE)
    log_in(page, live_app.url, live_app.seeded.email)

    # One compact line: the name of the product and the Menu button.
    header = page.locator("header.site-header").bounding_box()
    assert header is not None and header["height"] <= 0.1 * 844
    nav = page.get_by_role("navigation", name="Main")
    expect(nav).to_be_hidden()
    page.locator("summary.menu-button").click()
    for name in ("Board", "Drafts", "Outbox", "Meetings", "Contacts", "Targets", "Profile"):
        expect(nav.get_by_role("link", name=name)).to_be_in_viewport()
    expect(page.get_by_role("button", name="Log out")).to_be_in_viewport()
    nav.get_by_role("link", name="Contacts").click()

    expect(page).to_have_url(f"{live_app.url}/contacts")
    no_sideways_scrolling(page)
    lena = page.locator("#contacts tbody tr").filter(has_text="Lena Fischer")
    organisation = lena.locator('td[data-label="Organisation"]')
    expect(organisation).to_have_text("Parliamentary Office of Science")
    # Each value carries its heading's name, as the table's head is not shown.
    label = organisation.evaluate("td => getComputedStyle(td, '::before').content")
    assert label == '"Organisation: "'
    expect(lena.locator("td").nth(3)).to_be_in_viewport(ratio=1)

    page.goto(f"{live_app.url}/meetings")
    no_sideways_scrolling(page)
    meeting = page.locator("#upcoming tbody tr").first
    expect(meeting.locator('td[data-label="Where"]')).to_have_text("Ocean Trust, room 4")
    expect(meeting.get_by_role("link", name="Change or cancel")).to_be_in_viewport(ratio=1)

    for other in ("/outbox", "/targets", "/templates"):
        page.goto(f"{live_app.url}{other}")
        no_sideways_scrolling(page)


def test_the_sandbox_banner_and_header_take_less_than_a_fifth_of_a_phone(
    page: Page, live_app: LiveApp
) -> None:
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
    page.get_by_role("button", name="Try it with the sandbox").click()
    page.wait_for_url(f"{live_app.url}/")

    page.set_viewport_size(PHONE)
    banner = page.locator("#sandbox-banner")
    expect(banner).to_contain_text("no real email is sent")
    box = banner.bounding_box()
    assert box is not None and box["y"] + box["height"] < 0.2 * 844, box


def test_on_a_laptop_the_menu_is_one_line_with_a_skip_link_and_a_favicon(
    page: Page, live_app: LiveApp
) -> None:
    page.set_viewport_size(LAPTOP)
    log_in(page, live_app.url, live_app.seeded.email)

    for width in (1366, 1024):
        page.set_viewport_size({"width": width, "height": 850})
        links = page.get_by_role("navigation", name="Main").get_by_role("link").all()
        assert len(links) == 10
        tops = set()
        for item in [*links, page.get_by_role("button", name="Log out")]:
            box = item.bounding_box()
            assert box is not None
            tops.add(round(box["y"] + box["height"] / 2))
        assert len(tops) == 1, f"the header wraps onto a second line at {width} px: {tops}"
    page.set_viewport_size(LAPTOP)

    # The first Tab reaches "Skip to content", which lands past the menu.
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to content")
    expect(skip).to_be_focused()
    expect(skip).to_be_in_viewport()
    page.keyboard.press("Enter")
    expect(page.locator("main#main")).to_be_focused()

    icon = page.locator('link[rel="icon"]').get_attribute("href")
    assert icon is not None
    response = page.request.get(f"{live_app.url}{icon}")
    assert response.ok and response.headers["content-type"].startswith("image/svg+xml")
    assert "<svg" in response.text()


def test_the_mailbox_page_asks_for_the_address_once_and_connects_with_it(
    page: Page, live_app: LiveApp
) -> None:
    log_in(page, live_app.url, live_app.seeded.email)
    page.goto(f"{live_app.url}/mailbox")
    connect = page.locator("#connect")
    expect(connect.get_by_label(re.compile("email address", re.IGNORECASE))).to_have_count(1)

    connect.get_by_label("Your email address").fill("maya.second@uni.example")
    connect.get_by_label("IMAP server").fill("imap.uni.example")
    connect.get_by_label("SMTP server").fill("smtp.uni.example")
    connect.get_by_label("Password or app password").fill("an app password")
    connect.get_by_role("button", name="Connect mailbox").click()

    expect(page.locator("#flashes")).to_contain_text("maya.second@uni.example is connected.")
