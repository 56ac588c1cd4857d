"""No draft shows template code; a missing value is asked for in words (issue 14, item 1).

A LinkedIn export has no "how you found them": the import asks once for all its
rows, and a single contact's draft asks for it on the drafts page itself.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from outreach.models import Contact
from tests.browser.conftest import LiveApp
from tests.browser.live import log_in

pytestmark = pytest.mark.browser

SHOTS = Path("/tmp/shots")
# LinkedIn's connections export as it comes, notes above the header included.
LINKEDIN = (
    "Notes:\n"
    '"When exporting your connection data, you may notice that some of the email addresses '
    'are missing."\n'
    "\n"
    "First Name,Last Name,URL,Email Address,Company,Position,Connected On\n"
    "Ada,Lovelace,https://www.linkedin.com/in/ada,ada@engines.example,Analytical Engines,"
    "Engineer,02 Dec 2026\n"
    "Alan,Turing,https://www.linkedin.com/in/alan,alan@park.example,Bletchley Park,"
    "Cryptanalyst,01 Dec 2026\n"
    "Grace,Hopper,https://www.linkedin.com/in/grace,grace@navy.example,US Navy,"
    "Rear Admiral,01 Dec 2026\n"
)


def shoot(page: Page, name: str) -> None:
    """The page at 1366x850 and at a phone's 390x844, for a person to look at."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    for width, height in ((1366, 850), (390, 844)):
        page.set_viewport_size({"width": width, "height": height})
        page.screenshot(path=SHOTS / f"{name}-{width}.png", full_page=True)
    page.set_viewport_size({"width": 1366, "height": 850})


def assert_no_template_code(page: Page) -> None:
    html = page.content()
    assert "{{" not in html and "{%" not in html and "%}" not in html


def start_target(page: Page, name: str, people: list[str]) -> None:
    page.get_by_role("link", name="Targets", exact=True).click()
    form = page.locator("#create-target")
    form.get_by_label("Name of this list").fill(name)
    form.get_by_label("The field, as your emails say it").fill(name.lower())
    for person in people:
        form.get_by_label(person).check()
    form.get_by_label("Requests out at a time").fill(str(len(people)))
    form.get_by_role("button", name="Create target").click()
    expect(page.get_by_text(f"Target “{name}” created.")).to_be_visible()


def test_a_linkedin_import_asks_once_and_no_draft_shows_template_code(
    page: Page, live_app: LiveApp, tmp_path: Path
) -> None:
    csv_path = tmp_path / "Connections.csv"
    csv_path.write_text(LINKEDIN, encoding="utf-8")
    log_in(page, live_app.url, live_app.seeded.email)
    page.get_by_role("link", name="Contacts", exact=True).click()
    page.get_by_role("link", name="Import contacts").click()
    page.get_by_label("CSV or vCard file").set_input_files(csv_path)
    page.get_by_role("button", name="Read the file").click()

    expect(page.get_by_role("heading", name="Check before importing")).to_be_visible()
    question = page.get_by_label("How did you find these people?")
    expect(question).to_have_count(1)
    expect(page.locator("#ask-how-found")).to_contain_text("3 people in this file do not say")
    question.fill("my LinkedIn connections")
    shoot(page, "import-asks-once")
    page.get_by_role("button", name=re.compile(r"^Import 3 contacts")).click()
    expect(page.get_by_role("heading", name="Import finished")).to_be_visible()

    start_target(page, "Computing history", ["Ada Lovelace", "Alan Turing", "Grace Hopper"])
    page.goto("/drafts")

    assert_no_template_code(page)
    for first, last in (("Ada", "Lovelace"), ("Alan", "Turing"), ("Grace", "Hopper")):
        draft = page.locator("article.draft", has_text=f"{first} {last}")
        expect(draft.locator(".message-body")).to_contain_text(
            f"Dear {first},\n\nI came across your name through my LinkedIn connections."
        )
        expect(draft.get_by_role("button", name="Approve and send")).to_be_enabled()
    expect(page.locator(".draft-values")).to_have_count(0)
    shoot(page, "drafts-after-import")


def add_dana_to_a_target(page: Page, live_app: LiveApp) -> None:
    """A contact added by hand without "how you found them", her request drafted."""
    log_in(page, live_app.url, live_app.seeded.email)
    page.get_by_role("link", name="Contacts", exact=True).click()
    form = page.locator("form", has=page.get_by_role("button", name="Add contact"))
    form.get_by_label("Full name").fill("Dana Reyes")
    form.get_by_label("Email address").fill("dana@marine.example")
    form.get_by_label("Organisation").fill("Marine Institute")
    form.get_by_role("button", name="Add contact").click()
    start_target(page, "Marine policy", ["Dana Reyes"])
    page.goto("/drafts")


def test_a_single_contacts_draft_asks_for_the_missing_value_and_is_written_again(
    page: Page, live_app: LiveApp
) -> None:
    add_dana_to_a_target(page, live_app)

    draft = page.locator("article.draft", has_text="Dana Reyes")
    expect(draft.get_by_role("alert")).to_contain_text(
        "This draft cannot be approved yet. It needs how you found Dana."
    )
    expect(draft.locator(".message-body")).to_contain_text(
        "I came across your name through [how you found Dana]."
    )
    expect(draft.get_by_role("button", name="Approve and send")).to_be_disabled()
    assert_no_template_code(page)
    draft.scroll_into_view_if_needed()
    shoot(page, "draft-asks-for-a-value")

    draft.get_by_label("How did you find Dana?").fill("your talk at the marine forum")
    draft.get_by_role("button", name="Save and fill in the draft").click()

    expect(
        page.get_by_text("Saved on Dana Reyes's details, and the draft is filled in")
    ).to_be_visible()
    draft = page.locator("article.draft", has_text="Dana Reyes")
    expect(draft.locator(".message-body")).to_contain_text(
        "I came across your name through your talk at the marine forum."
    )
    expect(draft.get_by_role("alert")).to_have_count(0)
    expect(draft.get_by_role("button", name="Approve and send")).to_be_enabled()
    assert_no_template_code(page)
    shoot(page, "draft-filled-in")
    with live_app.sessions() as session:
        dana = session.scalar(select(Contact).where(Contact.email == "dana@marine.example"))
        assert dana is not None and dana.how_found == "your talk at the marine forum"


def test_an_edited_draft_keeps_the_users_text_and_offers_to_write_it_again(
    page: Page, live_app: LiveApp
) -> None:
    add_dana_to_a_target(page, live_app)
    page.locator("article.draft", has_text="Dana Reyes").get_by_role("link", name="Edit").click()
    page.get_by_label("Message").fill(
        "Dear Dana,\n\nWe met at [how you found Dana], and I would love to hear more.\n\nMaya"
    )
    page.get_by_role("button", name="Save draft").click()
    draft = page.locator("article.draft", has_text="Dana Reyes")
    expect(draft.get_by_role("alert")).to_contain_text("It needs how you found Dana.")

    draft.get_by_label("How did you find Dana?").fill("the marine forum")
    draft.get_by_role("button", name="Save and fill in the draft").click()

    expect(page.get_by_text("You had edited this draft, so your own text was kept")).to_be_visible()
    draft = page.locator("article.draft", has_text="Dana Reyes")
    expect(draft.locator(".message-body")).to_contain_text(
        "We met at the marine forum, and I would love to hear more."
    )
    expect(draft.get_by_role("button", name="Approve and send")).to_be_enabled()
    assert_no_template_code(page)
    shoot(page, "draft-edited-kept")

    page.once("dialog", lambda dialog: dialog.accept())
    draft.get_by_role("button", name="Write it again from the template").click()

    expect(page.get_by_text("Written again from the template.")).to_be_visible()
    draft = page.locator("article.draft", has_text="Dana Reyes")
    expect(draft.locator(".message-body")).to_contain_text(
        "I came across your name through the marine forum."
    )
    expect(draft.get_by_role("button", name="Write it again from the template")).to_have_count(0)
