"""Issue 13, items 4, 5 and 7 in the browser: the follow-up quoting the request, the person
not asked again with the deliberate override, and the keep-in-touch draft waiting for news.
Screenshots at 1366x850 and 390x844 go to /tmp/shots/never-again-*.png.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Dialog, Page, expect
from sqlalchemy import select
from sqlalchemy.orm import Session

from outreach.contacts import ContactInput, add_contact
from outreach.drafts import draft_follow_up
from outreach.meetings import MeetingDetails, record_meeting, run_due
from outreach.meetings.letters import draft_for_meeting
from outreach.models import Event, Meeting, MessageKind, Outreach, User
from outreach.rules.states import Trigger
from outreach.targets import fill_pipeline
from outreach.transitions import transition
from tests.browser.conftest import LiveApp
from tests.browser.live import (
    approve_and_send,
    business_days_ago,
    create_target_at,
    first_draft,
    log_in,
)

pytestmark = pytest.mark.browser

SHOTS = Path("/tmp/shots")


def shoot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    for width, height in ((1366, 850), (390, 844)):
        page.set_viewport_size({"width": width, "height": height})
        page.screenshot(path=SHOTS / f"never-again-{name}-{width}.png", full_page=True)
    page.set_viewport_size({"width": 1366, "height": 850})


def seed(session: Session, email: str) -> None:
    """Dana declined on another list; Ravi's request went unanswered; Tom, met, is due an update."""
    user = session.scalar(select(User).where(User.email == email))
    assert user is not None
    user.auto_approve = "keep_in_touch"
    now = datetime.now(UTC)
    sent_at = business_days_ago(now, 8)
    for name, address, organisation in (
        ("Dana Lee", "dana.lee@museum.example", "City Museum"),
        ("Ravi Shah", "ravi.shah@archive.example", "National Archive"),
    ):
        contact = add_contact(
            session,
            user,
            ContactInput(
                email=address, name=name, organisation=organisation, how_found="the alumni network"
            ),
        )
        target = create_target_at(
            session, user, f"{organisation} list", [contact.id], sent_at - timedelta(hours=1)
        )
        request = first_draft(fill_pipeline(session, user, target, sent_at - timedelta(minutes=30)))
        approve_and_send(session, user, request, sent_at)
        outreach = session.get(Outreach, request.outreach_id)
        assert outreach is not None
        if name == "Dana Lee":
            transition(session, outreach, Trigger.DECLINE_RECEIVED, sent_at + timedelta(days=1))
        else:
            draft_follow_up(session, user, outreach, now - timedelta(minutes=10))
    tom = session.scalar(
        select(Outreach)
        .join(Outreach.contact)
        .where(Outreach.user_id == user.id)
        .where(Outreach.contact.has(name="Tom Okafor"))
    )
    assert tom is not None
    starts = now + timedelta(days=1)
    meeting = record_meeting(
        session, user, tom.id, MeetingDetails(starts_at=starts, duration_minutes=30), now
    )
    run_due(session, starts + timedelta(hours=1))
    held = session.get(Meeting, meeting.id)
    assert held is not None
    draft_for_meeting(session, user, held, MessageKind.KEEP_IN_TOUCH, now)
    session.commit()


def test_the_follow_up_shows_the_request_it_quotes_set_apart(page: Page, live_app: LiveApp) -> None:
    with live_app.sessions() as session:
        seed(session, live_app.seeded.email)
    log_in(page, live_app.url, live_app.seeded.email)
    page.goto("/drafts")
    follow_up = page.locator("article[data-kind='follow_up']")
    quoted = follow_up.locator(".message-body .quoted")
    expect(quoted).to_contain_text(f"{live_app.seeded.user_name} wrote:")
    expect(quoted).to_contain_text("> Dear Ravi")
    # The user's own words are not part of the quote.
    expect(follow_up.locator(".message-body")).to_contain_text("Dear Ravi")
    assert "Dear Ravi," in follow_up.locator(".message-body").inner_text().split("wrote:")[0]
    assert quoted.evaluate("e => getComputedStyle(e).borderLeftStyle") == "solid"
    follow_up.scroll_into_view_if_needed()
    shoot(page, "follow-up-quote")


def test_a_decliner_put_on_a_new_list_is_held_back_until_asked_again_deliberately(
    page: Page, live_app: LiveApp
) -> None:
    with live_app.sessions() as session:
        seed(session, live_app.seeded.email)
    log_in(page, live_app.url, live_app.seeded.email)
    page.get_by_role("link", name="Targets", exact=True).click()
    form = page.locator("#create-target")
    form.get_by_label("Name of this list").fill("Museum education")
    form.get_by_label("The field, as your emails say it").fill("museum education")
    form.get_by_label("Dana Lee").check()
    form.get_by_label("Lena Fischer").check()
    form.get_by_label("Requests out at a time").fill("2")
    form.get_by_role("button", name="Create target").click()

    expect(page.get_by_text("Target “Museum education” created.")).to_be_visible()
    expect(page.get_by_text("Dana Lee declined on ").first).to_be_visible()
    row = page.locator("#target-names li", has_text="Dana Lee")
    expect(row.locator(".entry-held")).to_contain_text("Dana Lee declined on")
    expect(row.locator(".entry-held")).to_contain_text("not asked again")
    expect(page.locator("#held-back-count")).to_have_text("1 not asked again")
    shoot(page, "held-back")

    # The override asks twice: the box, then a confirmation naming the reason.
    asked: list[str] = []

    def accept(dialog: Dialog) -> None:
        asked.append(dialog.message)
        dialog.accept()

    page.on("dialog", accept)
    row.get_by_role("button", name="Ask again").click()
    assert asked == []  # the box is not ticked: the browser does not send it
    row.get_by_label("I have a good reason to ask Dana Lee again").check()
    row.get_by_role("button", name="Ask again").click()
    expect(page.get_by_text("Recorded: you chose to ask Dana Lee again.")).to_be_visible()
    assert asked and "declined on" in asked[0]
    expect(
        page.locator("#target-names li", has_text="Dana Lee").locator(".entry-held")
    ).to_have_count(0)
    with live_app.sessions() as session:
        event = session.scalar(select(Event).where(Event.kind == "asked_again"))
        assert event is not None and "Museum education" in event.detail
    shoot(page, "asked-again")


def test_the_keep_in_touch_draft_waits_for_the_users_news(page: Page, live_app: LiveApp) -> None:
    with live_app.sessions() as session:
        seed(session, live_app.seeded.email)
    log_in(page, live_app.url, live_app.seeded.email)
    page.goto("/drafts")
    draft = page.locator("article[data-kind='keep_in_touch']")
    # Auto-approval is on for this kind, and still it waits: there is no news yet.
    expect(draft.get_by_role("button", name="Approve and send")).to_be_disabled()
    expect(draft.locator(".problem")).to_contain_text("your news: what you did with Tom's advice")
    news = draft.get_by_label("What have you done with Tom's advice since you met?")
    expect(news).to_be_visible()
    draft.scroll_into_view_if_needed()
    shoot(page, "keep-in-touch-asks")

    news.fill("I took your advice and joined the Ocean Trust volunteer survey team.")
    draft.get_by_role("button", name="Put it in the draft").click()

    expect(page.get_by_text("Your news is in the draft: read it and approve.")).to_be_visible()
    draft = page.locator("article[data-kind='keep_in_touch']")
    expect(draft.locator(".message-body")).to_contain_text("joined the Ocean Trust volunteer")
    expect(draft.get_by_role("button", name="Approve and send")).to_be_enabled()
    draft.scroll_into_view_if_needed()
    shoot(page, "keep-in-touch-filled")
