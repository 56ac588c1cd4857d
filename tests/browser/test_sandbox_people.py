"""In the browser: a name suggested in a sandbox meeting stays in the sandbox (issue 14, item 6).

A newcomer tries the sandbox, meets one of its pretend people, and types the name and
real-looking address of someone that person suggested. The suggestion joins the list at a
sandbox address; the address typed is never stored, so nothing can be sent to it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from outreach import meetings
from outreach.drafts import approve
from outreach.meetings import MeetingDetails
from outreach.models import Contact, Message, Outreach, User
from outreach.rules.sandbox_addresses import PEOPLE_DOMAIN
from outreach.rules.states import Trigger
from outreach.sending import record_sent
from outreach.timeline import advance
from tests.browser.conftest import SCREENSHOTS, LiveApp

pytestmark = pytest.mark.browser

EMAIL = "robin@uni.example"
PASSWORD = "a long passphrase"


def start_the_sandbox(page: Page, url: str) -> None:
    page.goto(f"{url}/signup")
    page.get_by_label("Your name").fill("Robin Newcomer")
    page.get_by_label("Email address").fill(EMAIL)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    page.wait_for_url(f"{url}/login")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{url}/")
    page.goto(f"{url}/mailbox")
    page.locator("#sandbox").get_by_role("button", name="Try it with the sandbox").click()
    page.wait_for_url(f"{url}/")
    expect(page.locator("#sandbox-banner")).to_be_visible()


def a_held_meeting_with_maya(live_app: LiveApp) -> int:
    """Maya, a pretend person who agrees, answered; the conversation ended an hour ago."""
    now = datetime.now(UTC)
    with live_app.sessions() as session:
        user = session.scalars(select(User).where(User.email == EMAIL)).one()
        maya = session.scalars(
            select(Contact).where(Contact.user_id == user.id, Contact.name == "Maya Chen")
        ).one()
        request = session.scalars(
            select(Message).where(Message.contact_id == maya.id, Message.user_id == user.id)
        ).one()
        approve(session, user, request.id, now - timedelta(days=2))
        record_sent(session, request.id, now - timedelta(days=2))
        outreach = session.get_one(Outreach, request.outreach_id)
        advance(session, outreach, Trigger.REPLY_RECEIVED, now - timedelta(days=1), "reply")
        meeting = meetings.record_meeting(
            session,
            user,
            outreach.id,
            MeetingDetails(starts_at=now - timedelta(hours=2), duration_minutes=30),
            now - timedelta(days=1),
        )
        session.commit()
        return meeting.id


def test_a_name_suggested_in_a_sandbox_meeting_is_written_to_in_the_sandbox(
    page: Page, live_app: LiveApp
) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    start_the_sandbox(page, live_app.url)
    meeting_id = a_held_meeting_with_maya(live_app)

    page.goto(f"{live_app.url}/meetings/{meeting_id}/notes")
    form = page.locator("#referral-form")
    expect(form).to_contain_text("they get a sandbox address")
    form.get_by_label("Name").fill("Rosa Parks")
    # A real person's address, typed by habit: it must never be written to from here.
    form.get_by_label("Email address").fill("rosa.parks@agency.example")
    form.get_by_label("Organisation").fill("Harbour Agency")
    form.get_by_role("button", name="Add this person").click()
    expect(page.get_by_text(f"agrees.rosa.parks@{PEOPLE_DOMAIN}").first).to_be_visible()
    page.screenshot(path=SCREENSHOTS / "sandbox-people-notes-1366.png", full_page=True)

    with live_app.sessions() as session:
        user = session.scalars(select(User).where(User.email == EMAIL)).one()
        addresses = set(session.scalars(select(Contact.email).where(Contact.user_id == user.id)))
    assert f"agrees.rosa.parks@{PEOPLE_DOMAIN}" in addresses
    assert "rosa.parks@agency.example" not in addresses

    page.goto(f"{live_app.url}/contacts")
    expect(page.locator("body")).to_contain_text("Rosa Parks")
    expect(page.locator("body")).not_to_contain_text("rosa.parks@agency.example")
    page.screenshot(path=SCREENSHOTS / "sandbox-people-contacts-1366.png", full_page=True)
