"""axe-core finds no serious or critical accessibility violation on the main pages.

axe-core comes from npm (tests/browser/axe, installed by scripts/install-test-deps.sh)
and runs inside Chromium on each page as a signed-in person sees it: at a desk
and on a phone, since the phone layout hides and rearranges things.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, ViewportSize, expect
from sqlalchemy import select

from outreach import meetings
from outreach.meetings import PreparationChange
from outreach.meetings.scheduling import MeetingDetails, record_meeting
from outreach.models import Meeting, Message, Outreach, User
from tests.browser.conftest import SCREENSHOTS, LiveApp
from tests.browser.live import VIEWPORT, log_in
from tests.browser.test_field_phrase import old_target_with_a_guessed_phrase
from tests.browser.test_never_again import seed as seed_never_again
from tests.browser.test_preparation import tomorrows_meeting_with_tom

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


def check_and_shoot(page: Page, name: str) -> None:
    """No serious violation at a desk or on a phone, nothing running off the side of either,
    and a screenshot of each (test-artifacts/screenshots/a11y-NAME-WIDTH.png) to look at."""
    page.wait_for_load_state("load")
    found: list[str] = []
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for size in (DESK, PHONE):
        page.set_viewport_size(size)
        found += [f"{size['width']}px: {line}" for line in violations(page)]
        page.screenshot(path=SCREENSHOTS / f"a11y-{name}-{size['width']}.png", full_page=True)
        wide = page.evaluate("document.documentElement.scrollWidth")
        assert wide <= size["width"], f"{name} is {wide}px wide at {size['width']}px"
    page.set_viewport_size(DESK)
    assert not found, "\n".join(found)


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


def test_preparing_printing_and_reflecting_have_no_serious_violations(
    page: Page, live_app: LiveApp
) -> None:
    meeting_id, starts = tomorrows_meeting_with_tom(live_app)
    with live_app.sessions() as session:
        meeting = session.get_one(Meeting, meeting_id)
        meetings.save_preparation(
            session,
            session.get_one(User, meeting.user_id),
            meeting_id,
            PreparationChange(
                purpose="How a marine biologist moves into policy.",
                research_person="Programme Lead at Ocean Trust since 2022.",
                research_organisation="A charity of about 40 people.",
                new_question="How did you move from marine science into policy work?",
                ticked=frozenset({"early"}),
            ),
        )
        session.commit()
    log_in(page, live_app.url, live_app.seeded.email)
    page.goto(f"/meetings/{meeting_id}/prepare")
    expect(page.get_by_role("heading", name="Prepare: Tom Okafor")).to_be_visible()
    check_and_shoot(page, "preparation")
    page.goto(f"/meetings/{meeting_id}/prepare/print")
    expect(page.locator(".brief-questions > li").first).to_be_visible()
    check_and_shoot(page, "brief")

    with live_app.sessions() as session:
        meetings.run_due(session, starts + timedelta(minutes=31))
        session.commit()
    page.goto(f"/meetings/{meeting_id}/notes")
    expect(page.get_by_label("What went well?")).to_be_visible()
    check_and_shoot(page, "notes-reflection")


def test_the_reply_composer_has_no_serious_violations(page: Page, live_app: LiveApp) -> None:
    with live_app.sessions() as session:
        reply = session.get_one(Message, live_app.seeded.reply_id)
        outreach_id = reply.outreach_id
        user = session.get_one(User, reply.user_id)
        user.time_zone = "Europe/London"
        user.free_times = "Mon-Sun 10:00-11:00\nMon-Fri 14:00-15:00"
        session.commit()
    log_in(page, live_app.url, live_app.seeded.email)
    page.goto(f"/outreaches/{outreach_id}/reply")
    expect(page.locator("#slot-picker input[name='slot']").nth(1)).to_be_visible()
    check_and_shoot(page, "reply-composer")


def test_the_held_back_person_and_the_keep_in_touch_draft_have_no_serious_violations(
    page: Page, live_app: LiveApp
) -> None:
    with live_app.sessions() as session:
        seed_never_again(session, live_app.seeded.email)
    log_in(page, live_app.url, live_app.seeded.email)
    page.goto("/targets")
    form = page.locator("#create-target")
    form.get_by_label("Name of this list").fill("Museum education")
    form.get_by_label("The field, as your emails say it").fill("museum education")
    form.get_by_label("Dana Lee").check()
    form.get_by_role("button", name="Create target").click()
    row = page.locator("#target-names li", has_text="Dana Lee")
    expect(row.locator(".entry-held")).to_contain_text("not asked again")
    expect(row.get_by_role("button", name="Ask again")).to_be_visible()
    check_and_shoot(page, "target-held-back")

    page.goto("/drafts")
    draft = page.locator("article[data-kind='keep_in_touch']")
    news = draft.get_by_label("What have you done with Tom's advice since you met?")
    expect(news).to_be_visible()
    draft.scroll_into_view_if_needed()
    check_and_shoot(page, "drafts-keep-in-touch")


def test_a_phrase_to_confirm_has_no_serious_violations(page: Page, live_app: LiveApp) -> None:
    old_target_with_a_guessed_phrase(live_app)
    log_in(page, live_app.url, live_app.seeded.email)
    page.goto("/targets")
    expect(page.locator("#confirm-phrases")).to_contain_text("Check how your emails name")
    check_and_shoot(page, "targets-confirm-phrase")
    page.locator("#confirm-phrases").get_by_role("link", name="Museums (London list)").click()
    expect(page.locator("#confirm-phrase")).to_be_visible()
    check_and_shoot(page, "target-confirm-phrase")
    page.goto("/drafts")
    expect(page.locator("article.draft .phrase-check")).to_be_visible()
    check_and_shoot(page, "drafts-confirm-phrase")


def test_the_contact_form_has_no_serious_violations(page: Page, live_app: LiveApp) -> None:
    log_in(page, live_app.url, live_app.seeded.email)
    page.goto(f"/contacts/{live_app.seeded.contacts['Priya Raman']}/edit")
    expect(page.get_by_label("Why them in particular (optional)")).to_be_visible()
    check_and_shoot(page, "contact-form")
    # Refused, with the reason beside the field.
    page.get_by_label("Email address").fill("not an address")
    page.locator('[data-action="save-contact"]').click()
    expect(page.locator(".field-error, .flash").first).to_contain_text("address")
    check_and_shoot(page, "contact-form-error")


def test_a_question_moved_from_the_keyboard_keeps_the_keyboards_place(
    page: Page, live_app: LiveApp
) -> None:
    meeting_id, _ = tomorrows_meeting_with_tom(live_app)
    log_in(page, live_app.url, live_app.seeded.email)
    page.goto(f"/meetings/{meeting_id}/prepare")
    page.get_by_role("button", name="Move down: What is a typical day like?").focus()
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"#q-typical_day$"))
    expect(page.locator("#prepare-questions > li").nth(1)).to_have_id("q-typical_day")
    # The next Tab reaches the moved question's own buttons, not the top of the page.
    page.keyboard.press("Tab")
    focused = page.evaluate("document.activeElement.closest('li')?.id ?? ''")
    assert focused == "q-typical_day"


def test_a_name_moved_from_the_keyboard_keeps_the_keyboards_place(
    page: Page, live_app: LiveApp
) -> None:
    log_in(page, live_app.url, live_app.seeded.email)
    page.goto("/targets")
    page.get_by_role("link", name="Science policy").click()
    names = page.locator("#target-names > li")
    expect(names).to_have_count(2)
    second = names.nth(1).get_attribute("data-contact-id")
    names.nth(1).locator(".move-up button").focus()
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(f"#name-{second}$"))
    expect(names.first).to_have_attribute("data-contact-id", str(second))
    # The next Tab reaches the moved name (its link), not the top of the page.
    page.keyboard.press("Tab")
    focused = page.evaluate("document.activeElement.closest('li')?.dataset.contactId ?? ''")
    assert focused == second
