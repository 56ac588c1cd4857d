"""The status board updates itself when a reply arrives, keeping the filter, scroll and focus.

The seeded world (see live.seed_dashboard): Priya Raman's request is drafted,
Lena Fischer is next on "Science policy", Tom Okafor replied on "Marine
conservation". Changes are written the way the worker and the poller write
them, committed, while the page stays open. The page's clock is Playwright's,
so the poll's few seconds pass at once.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page, Request, expect
from sqlalchemy import select

from outreach.models import Mailbox, MailboxStatus, Message, MessageKind, Target, User
from tests.browser.conftest import LiveApp
from tests.browser.live import approve_and_send, log_in, receive

pytestmark = pytest.mark.browser

SHOTS = Path("/tmp/shots")
POLL_MS = 5_000


def priya_replies(live_app: LiveApp) -> None:
    """Priya's request is approved and sent, and her answer arrives: as the processes do it."""
    with live_app.sessions() as session:
        draft = session.get_one(Message, live_app.seeded.draft_id)
        user = session.get_one(User, draft.user_id)
        moment = datetime.now(UTC)
        approve_and_send(session, user, draft, moment)
        receive(session, draft, MessageKind.REPLY, "Happy to talk next week.", moment)
        session.commit()


def science_policy_id(live_app: LiveApp) -> int:
    with live_app.sessions() as session:
        target_id = session.scalar(select(Target.id).where(Target.name == "Science policy"))
    assert target_id is not None
    return target_id


def open_board(page: Page, live_app: LiveApp) -> None:
    page.clock.install()
    log_in(page, live_app.url, live_app.seeded.email)
    # Marks this page load: a reload would forget it.
    page.evaluate("window.sameLoad = true")


def row_of(page: Page, name: str) -> Locator:
    return page.locator("#status-board tbody tr").filter(
        has=page.get_by_role("link", name=name, exact=True)
    )


def set_visibility(page: Page, state: str) -> None:
    """What the browser does when the tab goes to the background or comes back."""
    page.evaluate(
        """(state) => {
        Object.defineProperty(document, "visibilityState", { value: state, configurable: true });
        document.dispatchEvent(new Event("visibilitychange"));
    }""",
        state,
    )


def test_a_reply_changes_its_row_without_a_reload_keeping_filter_scroll_and_focus(
    page: Page, live_app: LiveApp
) -> None:
    page.set_viewport_size({"width": 1280, "height": 600})
    open_board(page, live_app)
    page.get_by_label("Target").select_option(label="Science policy")
    page.get_by_role("button", name="Filter").click()
    expect(page).to_have_url(f"{live_app.url}/?target={science_policy_id(live_app)}&state=")
    page.evaluate("window.sameLoad = true")
    expect(row_of(page, "Priya Raman").locator(".badge")).to_have_text("drafted")
    expect(page.locator("#attention")).to_contain_text("1 draft")
    lena = page.get_by_role("link", name="Lena Fischer", exact=True)
    lena.focus()
    page.evaluate("window.scrollTo(0, 250)")
    scrolled = page.evaluate("window.scrollY")
    assert scrolled > 0

    priya_replies(live_app)
    page.clock.run_for(POLL_MS + 100)

    expect(row_of(page, "Priya Raman").locator(".badge")).to_have_text("replied")
    expect(row_of(page, "Priya Raman")).to_have_class(re.compile("row-changed"))
    status = page.get_by_role("status")
    expect(status).to_have_attribute("aria-live", "polite")
    expect(status).to_contain_text("Priya Raman: now replied.")
    assert page.evaluate("window.sameLoad") is True
    expect(page).to_have_url(f"{live_app.url}/?target={science_policy_id(live_app)}&state=")
    expect(page.get_by_label("Target")).to_have_value(str(science_policy_id(live_app)))
    assert page.evaluate("window.scrollY") == scrolled
    expect(page.get_by_role("link", name="Lena Fischer", exact=True)).to_be_focused()
    # The panel and the navigation moved on too: the draft went out, Priya waits for an answer.
    attention = page.locator("#attention")
    expect(attention.get_by_role("link", name="Priya Raman")).to_be_visible()
    expect(attention).not_to_contain_text("draft")
    expect(page.locator("#pending-drafts-count")).to_have_text("0")
    expect(page.get_by_role("link", name=re.compile("Review .* waiting draft"))).to_have_count(0)

    SHOTS.mkdir(exist_ok=True)
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=SHOTS / "board-live-desktop.png", full_page=True)


def test_an_unchanged_board_is_left_alone_and_a_hidden_tab_does_not_ask(
    page: Page, live_app: LiveApp
) -> None:
    open_board(page, live_app)
    answers: list[int] = []
    asked: list[Request] = []
    page.on(
        "request", lambda request: asked.append(request) if "/board/live" in request.url else None
    )
    page.on(
        "response",
        lambda response: answers.append(response.status) if "/board/live" in response.url else None,
    )

    page.clock.run_for(POLL_MS + 100)
    page.wait_for_timeout(300)
    assert answers == [304]
    expect(page.get_by_role("status")).to_have_text("")

    # The tab goes to the background: no more questions, however long it stays there.
    set_visibility(page, "hidden")
    page.clock.run_for(6 * POLL_MS)
    page.wait_for_timeout(300)
    assert len(asked) == 1

    # Shown again: it asks at once, and sees the change made meanwhile.
    priya_replies(live_app)
    set_visibility(page, "visible")
    expect(row_of(page, "Priya Raman").locator(".badge")).to_have_text("replied")
    assert len(asked) == 2


def test_the_board_on_a_phone_updates_in_place(page: Page, live_app: LiveApp) -> None:
    page.set_viewport_size({"width": 390, "height": 844})
    open_board(page, live_app)

    priya_replies(live_app)
    page.clock.run_for(POLL_MS + 100)

    expect(row_of(page, "Priya Raman").locator(".badge")).to_have_text("replied")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=SHOTS / "board-live-phone.png", full_page=True)


def test_only_the_parts_that_changed_are_replaced(page: Page, live_app: LiveApp) -> None:
    open_board(page, live_app)
    page.evaluate("document.getElementById('status-board').dataset.untouched = 'yes'")

    # The poller finds the mailbox refusing the password: only the panel has news.
    with live_app.sessions() as session:
        mailbox = session.scalars(select(Mailbox)).one()
        mailbox.status = MailboxStatus.NEEDS_ATTENTION
        session.commit()
    page.clock.run_for(POLL_MS + 100)

    expect(page.locator("#attention")).to_contain_text("has a problem")
    expect(page.locator("#status-board")).to_have_attribute("data-untouched", "yes")
    assert page.evaluate("window.sameLoad") is True
    # No row changed, so there is nothing to announce.
    expect(page.get_by_role("status")).to_have_text("")
