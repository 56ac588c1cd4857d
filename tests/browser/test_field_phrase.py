"""In the browser: a new target asks for its field phrase; an old one's guess is confirmed
from the draft; a contact's "why you" line is written on their form and reaches the request."""

from __future__ import annotations

from datetime import UTC, datetime

from playwright.sync_api import Page, expect
from sqlalchemy import select

from outreach.contacts import ContactInput, add_contact
from outreach.models import User
from outreach.targets import create_target, fill_pipeline
from tests.browser.conftest import SCREENSHOTS, LiveApp
from tests.browser.live import log_in


def shoot(page: Page, name: str) -> None:
    """The page at 1366x850 and at a phone's 390x844, for a person to look at."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for width, height in ((1366, 850), (390, 844)):
        page.set_viewport_size({"width": width, "height": height})
        page.screenshot(path=SCREENSHOTS / f"{name}-{width}.png", full_page=True)
    page.set_viewport_size({"width": 1366, "height": 850})


def old_target_with_a_guessed_phrase(live_app: LiveApp) -> None:
    """A list made before targets had a phrase: its name is a list's, its phrase a guess."""
    with live_app.sessions() as session:
        user = session.scalars(select(User).where(User.email == live_app.seeded.email)).one()
        dana = add_contact(
            session,
            user,
            ContactInput(
                email="dana.lee@museum.example",
                name="Dana Lee",
                role="Head of Learning",
                organisation="Riverside Museum",
                how_found="the alumni network",
            ),
        )
        target = create_target(session, user, "Museums (London list)", [dana.id])
        fill_pipeline(session, user, target, datetime.now(UTC))
        session.commit()


def test_the_new_target_form_asks_for_the_words_emails_use(page: Page, live_app: LiveApp) -> None:
    log_in(page, live_app.url, live_app.seeded.email)
    page.get_by_role("link", name="Targets", exact=True).click()
    form = page.locator("#create-target")
    form.get_by_label("Name of this list").fill("Think tanks (spring list)")
    phrase = form.get_by_label("The field, as your emails say it")
    expect(page.locator("#field_phrase-hint")).to_contain_text(
        'The words that finish "Could I ask your advice about ...?"'
    )
    phrase.fill("research at think tanks")
    form.scroll_into_view_if_needed()
    shoot(page, "target-form-field-phrase")


def test_a_guessed_phrase_is_confirmed_from_the_draft_and_the_prompt_goes(
    page: Page, live_app: LiveApp
) -> None:
    old_target_with_a_guessed_phrase(live_app)
    log_in(page, live_app.url, live_app.seeded.email)

    page.get_by_role("link", name="Targets", exact=True).click()
    prompt = page.locator("#confirm-phrases")
    expect(prompt).to_contain_text("Check how your emails name this field")
    expect(prompt.get_by_label("Museums (London list): emails say")).to_have_value("museums")
    shoot(page, "targets-confirm-phrase")
    prompt.get_by_role("link", name="Museums (London list)").click()
    expect(page.locator("#confirm-phrase")).to_contain_text("We guessed “museums” from the name")
    expect(page.locator("#target-phrase")).to_contain_text("to confirm")
    shoot(page, "target-page-confirm-phrase")

    page.goto("/drafts")
    draft = page.locator("article.draft", has_text="Dana Lee")
    check = draft.locator(".phrase-check")
    expect(check).to_contain_text("a guess from your list’s name, “Museums (London list)”")
    expect(draft.locator("dd.subject")).to_have_text("Could I ask your advice about museums?")
    shoot(page, "draft-confirm-phrase")
    check.get_by_label("The field, as your emails say it").fill("museum education")
    check.get_by_role("button", name="Confirm for every draft to this list").click()

    expect(
        page.get_by_text("Emails to “Museums (London list)” now say “museum education”.")
    ).to_be_visible()
    draft = page.locator("article.draft", has_text="Dana Lee")
    expect(draft.locator(".phrase-check")).to_have_count(0)
    expect(draft.locator("dd.subject")).to_have_text(
        "Could I ask your advice about museum education?"
    )
    page.get_by_role("link", name="Targets", exact=True).click()
    expect(page.locator("#confirm-phrases")).to_have_count(0)


def test_the_why_you_line_is_written_on_the_contact_form(page: Page, live_app: LiveApp) -> None:
    priya = live_app.seeded.contacts["Priya Raman"]
    log_in(page, live_app.url, live_app.seeded.email)
    page.goto(f"/contacts/{priya}/edit")
    why = page.get_by_label("Why them in particular (optional)")
    expect(page.locator("#why_you-hint")).to_contain_text("makes a reply far likelier")
    why.fill("you moved from lab research into science policy, as I hope to")
    shoot(page, "contact-form-why-you")
    page.locator('[data-action="save-contact"]').click()

    expect(page.locator("#why-you")).to_have_text(
        "you moved from lab research into science policy, as I hope to"
    )
