"""Keeping up with many drafts in Chromium: approve all, keyboard shortcuts, the attention panel.

The seeded world gets a second target with three more requests drafted, one of
them for a LinkedIn-style contact without "how you found them": it cannot be
approved until that is filled in.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from outreach.contacts import ContactInput, add_contact
from outreach.models import Message, MessageKind, MessageStatus, Outreach, User
from outreach.rules.states import Trigger
from outreach.targets import fill_pipeline
from outreach.timeline import advance
from tests.browser.conftest import LiveApp
from tests.browser.live import (
    approve_and_send,
    create_target_at,
    log_in,
    receive,
)
from tests.browser.test_dashboard import record_dialogs

pytestmark = pytest.mark.browser

PEOPLE = [
    ("Ada Ready", "ada@one.example", "One Institute", "the alumni network"),
    ("Bo Ready", "bo@two.example", "Two Trust", "your talk at the fair"),
    ("Lin Kedin", "lin@three.example", "Three Ltd", ""),
]


def more_drafts(live_app: LiveApp) -> dict[str, int]:
    """Three more requests drafted; Lin Kedin's misses how you found her. Draft ids by name."""
    with live_app.sessions() as session:
        user = session.scalars(select(User).where(User.email == live_app.seeded.email)).one()
        now = datetime.now(UTC)
        people = [
            add_contact(
                session,
                user,
                ContactInput(email=email, name=name, organisation=org, how_found=how),
            )
            for name, email, org, how in PEOPLE
        ]
        target = create_target_at(
            session,
            user,
            "Ocean data",
            [person.id for person in people],
            now - timedelta(minutes=1),
            max_in_flight=3,
        )
        drafted = fill_pipeline(session, user, target, now)
        session.commit()
        by_contact = {person.id: person.name for person in people}
        return {by_contact[draft.contact_id or 0]: draft.id for draft in drafted}


def status_of(live_app: LiveApp, message_id: int) -> MessageStatus:
    with live_app.sessions() as session:
        return session.get_one(Message, message_id).status


def test_approve_all_sends_the_ready_drafts_and_says_which_were_skipped_and_why(
    page: Page, live_app: LiveApp
) -> None:
    drafts = more_drafts(live_app)
    dialogs = record_dialogs(page, accept=True)
    log_in(page, live_app.url, live_app.seeded.email)
    page.goto(f"{live_app.url}/drafts")
    expect(page.locator("#approve-all-hint")).to_contain_text(
        "3 of the 4 drafts on this page are ready; 1 needs information first and is skipped."
    )

    page.get_by_role("button", name="Approve all ready").click()

    assert dialogs == [
        "Approve and send 3 messages? The 1 that needs information first is skipped."
    ]
    flashes = page.locator("#flashes")
    # No queue in the tests: the approvals stand and wait for the worker.
    expect(flashes).to_contain_text("sending will start when the worker is back")
    expect(flashes).to_contain_text(
        "1 draft was skipped: it still needs how you found Lin. "
        "Fill that in on each draft below, then approve."
    )
    expect(page.locator("article.draft")).to_have_count(1)
    expect(page.locator(f"#draft-{drafts['Lin Kedin']}")).to_be_visible()
    assert status_of(live_app, drafts["Lin Kedin"]) is MessageStatus.DRAFT
    for name in ("Ada Ready", "Bo Ready"):
        assert status_of(live_app, drafts[name]) is MessageStatus.APPROVED
    assert status_of(live_app, live_app.seeded.draft_id) is MessageStatus.APPROVED


def test_drafts_are_kept_up_with_from_the_keyboard(page: Page, live_app: LiveApp) -> None:
    drafts = more_drafts(live_app)
    log_in(page, live_app.url, live_app.seeded.email)
    page.goto(f"{live_app.url}/drafts")
    articles = page.locator("article.draft")
    expect(articles).to_have_count(4)

    # "?" opens the help; Escape closes it.
    page.keyboard.press("?")
    help_dialog = page.get_by_role("dialog", name="Keyboard shortcuts")
    expect(help_dialog).to_be_visible()
    expect(help_dialog).to_contain_text("Approve the draft you are on")
    page.keyboard.press("Escape")
    expect(help_dialog).to_be_hidden()

    # j and k move between drafts, oldest first.
    page.keyboard.press("j")
    expect(articles.nth(0)).to_be_focused()
    page.keyboard.press("j")
    page.keyboard.press("j")
    expect(articles.nth(2)).to_be_focused()
    page.keyboard.press("k")
    expect(articles.nth(1)).to_be_focused()
    expect(articles.nth(1)).to_have_class("draft key-current")

    # Typing in a field never fires a shortcut: Lin's draft asks how you found her.
    answer = page.get_by_label("How did you find Lin?")
    answer.fill("")
    answer.press_sequentially("jake gave me a")
    expect(answer).to_have_value("jake gave me a")
    expect(page).to_have_url(f"{live_app.url}/drafts")
    assert status_of(live_app, drafts["Ada Ready"]) is MessageStatus.DRAFT

    # "a" approves the draft the person is on (Ada's, the second oldest).
    articles.nth(1).focus()
    page.keyboard.press("a")
    expect(page.locator("#flashes")).to_contain_text("Approved.")
    assert status_of(live_app, drafts["Ada Ready"]) is MessageStatus.APPROVED

    # "e" edits the draft one is on.
    page.wait_for_load_state("load")
    page.keyboard.press("j")
    page.keyboard.press("e")
    expect(page).to_have_url(f"{live_app.url}/drafts/{live_app.seeded.draft_id}")

    # g then a letter goes to a page.
    page.wait_for_load_state("load")
    page.keyboard.press("g")
    page.keyboard.press("c")
    expect(page).to_have_url(f"{live_app.url}/contacts")
    page.wait_for_load_state("load")
    page.keyboard.press("g")
    page.keyboard.press("o")
    expect(page).to_have_url(f"{live_app.url}/outbox")
    page.wait_for_load_state("load")
    page.keyboard.press("g")
    page.keyboard.press("b")
    expect(page).to_have_url(f"{live_app.url}/")


def afternoon_zone(moment: datetime) -> str:
    """A fixed-offset zone in which `moment` falls at about 15:00."""
    offset = 15 - moment.hour
    if offset > 14:
        offset -= 24
    if offset == 0:
        return "Etc/UTC"
    # Etc/GMT names invert the sign: Etc/GMT-3 is three hours ahead of UTC.
    return f"Etc/GMT{'-' if offset > 0 else '+'}{abs(offset)}"


def test_the_attention_panel_lists_bounces_declines_and_blocked_drafts_with_where_to_act(
    page: Page, live_app: LiveApp
) -> None:
    drafts = more_drafts(live_app)
    now = datetime.now(UTC)
    with live_app.sessions() as session:
        user = session.scalars(select(User).where(User.email == live_app.seeded.email)).one()
        # "today" is the user's day: three hours back must not cross their midnight, whenever
        # the suite runs (CI at 00:42 UTC once saw "yesterday").
        user.time_zone = afternoon_zone(now)
        for name, kind, body in (
            ("Ada Ready", MessageKind.BOUNCE, "550 5.1.1 User unknown"),
            ("Bo Ready", MessageKind.REPLY, "Thanks, but I cannot help at the moment."),
        ):
            request = session.get_one(Message, drafts[name])
            approve_and_send(session, user, request, now - timedelta(hours=3))
            receive(session, request, kind, body, now - timedelta(hours=2))
        session.flush()
        bo = session.get_one(Message, drafts["Bo Ready"])
        outreach = session.get_one(Outreach, bo.outreach_id)
        # What a person's "no" becomes once the user reads it as a decline.
        advance(session, outreach, Trigger.DECLINE_RECEIVED, now - timedelta(hours=1), "no")
        session.commit()

    log_in(page, live_app.url, live_app.seeded.email)
    panel = page.locator("#attention")
    bounce = panel.locator('li[data-item="bounce"]')
    expect(bounce).to_contain_text("Your message to Ada Ready bounced today (Ocean data)")
    decline = panel.locator('li[data-item="decline"]')
    expect(decline).to_contain_text("Bo Ready declined today (Ocean data)")
    blocked = panel.locator('li[data-item="blocked-drafts"]')
    expect(blocked).to_contain_text("1 draft needs information from you before it can be approved")
    expect(panel.locator('li[data-item="drafts"]')).to_contain_text(
        "1 draft waits for your approval"
    )
    reply = panel.locator('li[data-item="reply"]')
    expect(reply).to_contain_text("Tom Okafor replied")

    bounce.get_by_role("link", name="correct the address").click()
    expect(page).to_have_url(re.compile(r"/contacts/\d+/edit$"))
    expect(page.get_by_label("Email address")).to_have_value("ada@one.example")
    page.go_back()
    panel.locator('li[data-item="blocked-drafts"]').get_by_role("link").click()
    expect(page).to_have_url(f"{live_app.url}/drafts")
    expect(page.get_by_label("How did you find Lin?")).to_be_visible()


def test_on_the_board_j_and_enter_open_a_person(page: Page, live_app: LiveApp) -> None:
    log_in(page, live_app.url, live_app.seeded.email)
    rows = page.locator("#status-board tbody tr")
    page.keyboard.press("j")
    expect(rows.nth(0)).to_be_focused()
    page.keyboard.press("j")
    expect(rows.nth(1)).to_be_focused()
    name = rows.nth(1).locator("td.contact a").inner_text()

    page.keyboard.press("Enter")

    expect(page).to_have_url(re.compile(r"/contacts/\d+$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text(name)
    # "a" without a draft to approve says so instead of doing anything.
    page.wait_for_load_state("load")
    page.keyboard.press("a")
    expect(page.locator("#key-status")).to_have_text("Move to a draft first with j or k.")
