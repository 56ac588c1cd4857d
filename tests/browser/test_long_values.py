"""A 10,000-character value that got in anyway never breaks a page (issue 14, item 4).

Old data, a long subject in an inbound reply, a row written before the limits:
the values are put straight into the database, past every form and core check,
and each main page is loaded at a laptop's and a phone's size. The page must
never scroll sideways; a long value wraps or ends in an ellipsis, with the whole
of it in a title attribute or on its detail page.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, Page
from sqlalchemy import select, update

from outreach.models import Contact, Message, Target
from tests.browser.conftest import SCREENSHOTS, LiveApp
from tests.browser.live import log_in

# One unbroken word (no place to wrap) and one long sentence, each 10,000 characters.
WORD = ("Bartholomew" * 910)[:10_000]
SENTENCE = ("a very long value that goes on " * 330)[:10_000]
SIZES = {"laptop": (1366, 850), "phone": (390, 844)}
LISTS = {"board", "contacts", "outbox", "targets"}


def _make_everything_long(live_app: LiveApp) -> dict[str, str]:
    seeded = live_app.seeded
    priya = seeded.contacts["Priya Raman"]
    tom = seeded.contacts["Tom Okafor"]
    with live_app.sessions() as session:
        session.execute(
            update(Contact)
            .where(Contact.id == priya)
            .values(name=WORD, organisation=WORD, role=SENTENCE, how_found=WORD, notes=WORD)
        )
        session.execute(
            update(Contact).where(Contact.id == tom).values(name=SENTENCE, organisation=SENTENCE)
        )
        session.execute(update(Message).where(Message.id == seeded.draft_id).values(subject=WORD))
        # A long subject from an inbound reply, and the request it answered.
        session.execute(
            update(Message).where(Message.id == seeded.reply_id).values(subject=SENTENCE)
        )
        session.execute(update(Message).where(Message.contact_id == tom).values(subject=WORD))
        target_id = session.scalar(select(Target.id).where(Target.name == "Science policy"))
        session.execute(update(Target).where(Target.id == target_id).values(name=WORD))
        session.commit()
    return {
        "board": "/",
        "contacts": "/contacts",
        "contact": f"/contacts/{priya}",
        "replied-contact": f"/contacts/{tom}",
        "drafts": "/drafts",
        "draft": f"/drafts/{seeded.draft_id}",
        "outbox": "/outbox",
        "targets": "/targets",
        "target": f"/targets/{target_id}",
        "preview": "/templates/request",
    }


@pytest.mark.parametrize("size", sorted(SIZES))
def test_no_page_scrolls_sideways_with_ten_thousand_character_values(
    browser: Browser, live_app: LiveApp, size: str
) -> None:
    pages = _make_everything_long(live_app)
    width, height = SIZES[size]
    context = browser.new_context(
        viewport={"width": width, "height": height}, base_url=live_app.url
    )
    context.set_default_timeout(10_000)
    page: Page = context.new_page()
    try:
        log_in(page, live_app.url, live_app.seeded.email)
        too_wide: dict[str, tuple[int, int]] = {}
        for name, path in pages.items():
            page.goto(path)
            scroll, client = page.evaluate(
                "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"
            )
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            # The lists whole; the pages showing a value whole are tens of screens tall.
            page.screenshot(
                path=SCREENSHOTS / f"long-values-{size}-{name}.png",
                full_page=name in LISTS,
                timeout=60_000,
            )
            if scroll > client:
                too_wide[name] = (scroll, client)
        assert too_wide == {}, f"pages wider than the {width}px window: {too_wide}"

        # The whole value is there for whoever wants it: in a title, or on the detail page.
        page.goto("/contacts")
        assert page.locator(f'[title="{WORD}"]').count() >= 1
        page.goto(pages["contact"])
        assert WORD in page.content()
    finally:
        context.close()
