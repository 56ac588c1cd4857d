"""The dashboard as a person uses it: real clicks and typing in headless Chromium.

Each test starts logged out on a fresh, seeded dashboard (see live.seed_dashboard):
Maya has a mailbox, Priya Raman's request is drafted, Lena Fischer is next on
the same target, and Tom Okafor replied on another one.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import ConsoleMessage, Dialog, Page, expect
from sqlalchemy import select

from outreach.models import Message, MessageStatus, Target
from outreach.targets import outreaches_in_order
from tests.browser.conftest import LiveApp
from tests.browser.live import HOSTILE_REPLY, log_in

pytestmark = pytest.mark.browser


def record_dialogs(page: Page, *, accept: bool = False) -> list[str]:
    """Answer every dialog the page opens, OK when `accept` else Cancel; return their texts."""
    seen: list[str] = []

    def answer(dialog: Dialog) -> None:
        seen.append(dialog.message)
        if accept:
            dialog.accept()
        else:
            dialog.dismiss()

    page.on("dialog", answer)
    return seen


def test_logging_in_shows_the_board_with_each_state(page: Page, live_app: LiveApp) -> None:
    seeded = live_app.seeded
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/login"))

    page.get_by_label("Email address").fill(seeded.email)
    page.get_by_label("Password").fill(seeded.password)
    page.get_by_role("button", name="Log in").click()

    expect(page).to_have_url(f"{live_app.url}/")
    expect(page.get_by_role("heading", name="Status board")).to_be_visible()
    expect(page.locator("header")).to_contain_text(seeded.user_name)
    rows = page.locator("#status-board tbody tr")
    expect(rows).to_have_count(3)
    for name, state, detail in [
        ("Priya Raman", "drafted", "waiting for your approval"),
        ("Lena Fischer", "on the list", "waits its turn on the list"),
        ("Tom Okafor", "replied", "they answered: reply and set a time"),
    ]:
        row = rows.filter(has=page.get_by_role("link", name=name, exact=True))
        expect(row.locator(".badge")).to_have_text(state)
        expect(row.locator("td.detail")).to_contain_text(detail)
        expect(row.locator("td.when")).not_to_be_empty()
        # Only someone who answered has a reply to write.
        expect(row.get_by_role("link", name=f"Reply to {name}")).to_have_count(
            1 if state == "replied" else 0
        )

    count = page.get_by_role("navigation", name="Main").locator("#pending-drafts-count")
    expect(count).to_have_text("1")
    expect(count).to_have_attribute("title", "1 waiting for your approval")
    expect(page.get_by_role("link", name="Review 1 waiting draft")).to_be_visible()


def test_a_draft_reads_as_sent_and_approval_survives_a_missing_queue(
    page: Page, live_app: LiveApp
) -> None:
    seeded = live_app.seeded
    dialogs = record_dialogs(page)
    log_in(page, live_app.url, seeded.email)
    page.get_by_role("link", name="Review 1 waiting draft").click()
    expect(page).to_have_url(f"{live_app.url}/drafts")

    draft = page.locator(f"#draft-{seeded.draft_id}")
    expect(draft.locator("dd.from")).to_have_text("Maya Lindqvist <maya@student.example>")
    expect(draft.locator("dd.to")).to_have_text("Priya Raman <priya.raman@policy.example>")
    expect(draft.locator("dd.subject")).to_have_text(
        "Could I ask your advice about science policy?"
    )
    body = draft.locator("pre.message-body")
    expect(body).to_contain_text("Dear Priya,")
    expect(body).to_contain_text(
        "I came across your name through your talk at the policy forum. I am finishing an MSc "
        "in marine biology and want to move into science policy."
    )
    expect(body).to_contain_text("With thanks,\nMaya Lindqvist")
    expect(body).not_to_contain_text("{{")

    draft.get_by_role("button", name="Approve and send").click()

    # OUTREACH_REDIS_URL is unset: the approval stands and the page says so.
    flash = page.locator("#flashes").get_by_role("status")
    expect(flash).to_contain_text("Approved.")
    expect(flash).to_contain_text("sending will start when the worker is back; nothing is lost")
    expect(page.locator("article.draft")).to_have_count(0)
    expect(page.locator("#no-drafts")).to_be_visible()
    expect(page.locator("#pending-drafts-count")).to_have_text("0")
    assert dialogs == [], "approving should not ask a question"
    with live_app.sessions() as session:
        message = session.get(Message, seeded.draft_id)
        assert message is not None
        assert message.status is MessageStatus.APPROVED
        assert message.approved_at is not None
        assert message.message_id is not None and message.message_id.endswith("@student.example>")


def test_discarding_asks_first_and_only_ok_discards(page: Page, live_app: LiveApp) -> None:
    seeded = live_app.seeded
    log_in(page, live_app.url, seeded.email)
    page.goto("/drafts")
    draft = page.locator(f"#draft-{seeded.draft_id}")
    question = (
        "Discard this draft? Priya Raman is taken off the target and the next name is drafted."
    )
    answers: list[bool] = []
    asked: list[str] = []

    def answer(dialog: Dialog) -> None:
        asked.append(dialog.message)
        dialog.accept() if answers.pop(0) else dialog.dismiss()

    page.on("dialog", answer)

    answers.append(False)
    draft.get_by_role("button", name="Discard").click()
    assert asked == [question]
    expect(draft).to_be_visible()
    expect(page.locator("#flashes")).to_have_count(0)

    answers.append(True)
    draft.get_by_role("button", name="Discard").click()
    expect(page.locator("#flashes").get_by_role("status")).to_have_text(
        "Draft discarded. A request to Lena Fischer is waiting for your approval in Drafts."
    )
    assert asked == [question, question]
    expect(draft).to_have_count(0)
    drafts = page.locator("article.draft")
    expect(drafts).to_have_count(1)
    expect(drafts.locator("dd.to")).to_have_text("Lena Fischer <lena.fischer@parliament.example>")
    expect(page.locator("#pending-drafts-count")).to_have_text("1")
    with live_app.sessions() as session:
        discarded = session.get(Message, seeded.draft_id)
        assert discarded is not None and discarded.status is MessageStatus.CANCELLED


def test_adding_a_contact_and_a_bad_address_keeps_what_was_typed(
    page: Page, live_app: LiveApp
) -> None:
    log_in(page, live_app.url, live_app.seeded.email)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Contacts").click()
    expect(page.get_by_role("heading", name="Contacts", exact=True)).to_be_visible()
    rows = page.locator("#contacts tbody tr")
    expect(rows).to_have_count(3)
    form = page.locator("#add-contact")

    form.get_by_label("Full name").fill("Jonas Berg")
    form.get_by_label("Email address").fill("jonas.berg@evidence.example")
    form.get_by_label("Organisation").fill("Evidence Network")
    form.get_by_label("How you found them").fill("a panel recording from EuroScience")
    form.get_by_role("button", name="Add contact").click()

    expect(page.locator("#flashes").get_by_role("status")).to_have_text(
        "Jonas Berg is on your list."
    )
    expect(rows).to_have_count(4)
    jonas = rows.filter(has=page.get_by_role("link", name="Jonas Berg", exact=True))
    expect(jonas).to_contain_text("jonas.berg@evidence.example")
    expect(jonas).to_contain_text("Evidence Network")
    expect(jonas).to_contain_text("a panel recording from EuroScience")
    expect(form.get_by_label("Full name")).to_have_value("")

    form.get_by_label("Full name").fill("Rosa Diaz")
    form.get_by_label("Email address").fill("rosa.diaz at museum")
    form.get_by_label("Role", exact=True).fill("Curator")
    form.get_by_role("button", name="Add contact").click()

    expect(page.get_by_role("alert")).to_have_text(
        "'rosa.diaz at museum' is not a valid email address."
    )
    expect(form.get_by_label("Full name")).to_have_value("Rosa Diaz")
    expect(form.get_by_label("Email address")).to_have_value("rosa.diaz at museum")
    expect(form.get_by_label("Role", exact=True)).to_have_value("Curator")
    expect(rows).to_have_count(4)
    expect(page.locator("#contacts")).not_to_contain_text("Rosa Diaz")


def test_a_reply_full_of_markup_is_shown_as_text_and_never_runs(
    page: Page, live_app: LiveApp
) -> None:
    seeded = live_app.seeded
    dialogs = record_dialogs(page)
    csp_reports: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text:
            csp_reports.append(message.text)

    page.on("console", on_console)
    log_in(page, live_app.url, seeded.email)
    page.get_by_role("link", name="Tom Okafor", exact=True).click()
    expect(page.locator("#contact-name")).to_have_text("Tom Okafor")
    page.wait_for_load_state("load")

    reply = page.locator(f'#timeline .message-inbound[data-message-id="{seeded.reply_id}"]')
    expect(reply.locator("dd").first).to_have_text("tom.okafor@oceantrust.example")
    text = reply.locator("pre.message-body")
    expect(text).to_have_text(HOSTILE_REPLY)
    expect(text).to_be_visible()
    # The markup stayed text: the browser made no elements of it.
    expect(text.locator("*")).to_have_count(0)
    expect(page.locator("main img, main script")).to_have_count(0)
    expect(page.locator("#contact-targets")).to_contain_text("replied")
    assert dialogs == []
    # Had markup been injected, the Content-Security-Policy would have refused it aloud.
    assert csp_reports == []


def test_the_login_form_works_with_the_keyboard_alone(page: Page, live_app: LiveApp) -> None:
    seeded = live_app.seeded
    page.goto("/login")
    email = page.get_by_label("Email address")
    password = page.get_by_label("Password")
    button = page.get_by_role("button", name="Log in")

    # A wrong password, sent with Enter from the password field.
    expect(email).to_be_focused()
    page.keyboard.type(seeded.email)
    page.keyboard.press("Tab")
    expect(password).to_be_focused()
    page.keyboard.type("not my password")
    page.keyboard.press("Enter")
    expect(page.get_by_role("alert")).to_have_text("That email and password do not match.")

    # The address is kept and the password field has the focus: type it again, then
    # Tab to the button and Enter.
    expect(email).to_have_value(seeded.email)
    expect(password).to_be_focused()
    page.keyboard.type(seeded.password)
    page.keyboard.press("Tab")
    expect(button).to_be_focused()
    page.keyboard.press("Enter")

    expect(page).to_have_url(f"{live_app.url}/")
    expect(page.get_by_role("heading", name="Status board")).to_be_visible()


# --- the target's page, and the board on a phone ----------------------------------------------


def open_target(page: Page, live_app: LiveApp, name: str) -> None:
    log_in(page, live_app.url, live_app.seeded.email)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Targets").click()
    page.get_by_role("link", name=name, exact=True).click()
    expect(page.locator("#target-name")).to_contain_text(name)


def names_on_the_list(page: Page) -> list[str]:
    return page.locator("#target-names > li .entry-head > a").all_inner_texts()


def stored_order(live_app: LiveApp, name: str) -> list[str]:
    with live_app.sessions() as session:
        target = session.scalar(select(Target).where(Target.name == name))
        assert target is not None
        return [outreach.contact.name for outreach in outreaches_in_order(session, target)]


def test_reordering_the_list_with_the_arrow_buttons(page: Page, live_app: LiveApp) -> None:
    open_target(page, live_app, "Science policy")
    assert names_on_the_list(page) == ["Priya Raman", "Lena Fischer"]
    expect(page.get_by_role("button", name="Move Priya Raman up")).to_be_disabled()

    page.get_by_role("button", name="Move Lena Fischer up").click()

    expect(page.locator("#flashes").get_by_role("status")).to_have_text(
        "Lena Fischer is now number 1 on the list."
    )
    assert names_on_the_list(page) == ["Lena Fischer", "Priya Raman"]
    assert stored_order(live_app, "Science policy") == ["Lena Fischer", "Priya Raman"]

    # The keyboard reaches the same button: focus it and press Enter.
    page.get_by_role("button", name="Move Lena Fischer down").focus()
    page.keyboard.press("Enter")
    expect(page.locator("#flashes").get_by_role("status")).to_have_text(
        "Lena Fischer is now number 2 on the list."
    )
    assert stored_order(live_app, "Science policy") == ["Priya Raman", "Lena Fischer"]


def test_reordering_the_list_by_dragging_a_name(page: Page, live_app: LiveApp) -> None:
    open_target(page, live_app, "Science policy")
    items = page.locator("#target-names > li")
    lena = items.filter(has=page.get_by_role("link", name="Lena Fischer", exact=True))
    priya = items.filter(has=page.get_by_role("link", name="Priya Raman", exact=True))
    expect(lena.locator(".drag-handle")).to_be_visible()

    lena.locator(".drag-handle").drag_to(priya, target_position={"x": 30, "y": 4})

    # No page load: the script posted the new place and says so to screen readers.
    expect(page.locator("#order-status")).to_have_text("Lena Fischer is now number 1 on the list.")
    expect(page.locator("#flashes")).to_have_count(0)
    assert names_on_the_list(page) == ["Lena Fischer", "Priya Raman"]
    assert stored_order(live_app, "Science policy") == ["Lena Fischer", "Priya Raman"]
    # The arrows now post the places next to the new one.
    expect(page.get_by_role("button", name="Move Lena Fischer up")).to_be_disabled()
    expect(page.get_by_role("button", name="Move Priya Raman down")).to_be_disabled()
    page.get_by_role("button", name="Move Priya Raman up").click()
    expect(page.locator("#flashes").get_by_role("status")).to_have_text(
        "Priya Raman is now number 1 on the list."
    )
    assert stored_order(live_app, "Science policy") == ["Priya Raman", "Lena Fischer"]


def test_pausing_and_resuming_a_target(page: Page, live_app: LiveApp) -> None:
    open_target(page, live_app, "Science policy")

    page.get_by_role("button", name="Pause").click()

    expect(page.locator("#paused-notice")).to_be_visible()
    expect(page.locator("#paused-tag")).to_have_text("paused")
    expect(page.locator("#flashes").get_by_role("status")).to_contain_text(
        "“Science policy” is paused"
    )
    with live_app.sessions() as session:
        assert session.scalar(select(Target.paused).where(Target.name == "Science policy"))

    page.get_by_role("button", name="Resume").click()

    expect(page.locator("#flashes").get_by_role("status")).to_contain_text(
        "“Science policy” is running again."
    )
    expect(page.locator("#paused-notice")).to_have_count(0)
    expect(page.get_by_role("button", name="Pause")).to_be_visible()
    with live_app.sessions() as session:
        assert not session.scalar(select(Target.paused).where(Target.name == "Science policy"))


def test_a_settings_mistake_is_shown_by_its_field(page: Page, live_app: LiveApp) -> None:
    open_target(page, live_app, "Science policy")
    form = page.locator("#target-settings")

    form.get_by_label("Requests out at a time").fill("0")
    form.get_by_role("button", name="Save settings").click()

    expect(page.get_by_role("alert")).to_have_text(
        "The settings were not saved: see the reasons by the fields."
    )
    expect(form.locator(".field.has-error .field-error")).to_have_text(
        "Give a number of requests from 1 to 10."
    )
    form.get_by_label("Requests out at a time").fill("2")
    form.get_by_label("Send one polite follow-up when there is no answer").uncheck()
    form.get_by_role("button", name="Save settings").click()
    expect(page.locator("#target-rules")).to_have_text(
        "2 requests out at a time · no follow-up; moving on after 5 business days"
    )


def test_the_board_on_a_phone_reads_as_cards_without_sideways_scrolling(
    page: Page, live_app: LiveApp
) -> None:
    page.set_viewport_size({"width": 390, "height": 844})
    log_in(page, live_app.url, live_app.seeded.email)

    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    expect(page.locator("#funnel")).to_be_visible()
    expect(page.locator("#goal")).to_be_visible()
    expect(page.locator("#status-board thead")).to_have_css("position", "absolute")
    tom = page.locator("#status-board tbody tr").filter(
        has=page.get_by_role("link", name="Tom Okafor", exact=True)
    )
    expect(tom.locator(".badge")).to_have_text("replied")
    tom.scroll_into_view_if_needed()
    # Nothing of the row is cut off at the right edge.
    expect(tom.locator(".badge")).to_be_in_viewport(ratio=1)
    expect(tom.locator("td.when")).to_be_in_viewport(ratio=1)
    # Each row is one card: the name above what happens next.
    name_box = tom.locator("td.contact").bounding_box()
    detail_box = tom.locator("td.detail").bounding_box()
    assert name_box is not None and detail_box is not None
    assert detail_box["y"] > name_box["y"] and detail_box["width"] > 300
    # Every navigation link is on screen once the Menu button opens it.
    page.evaluate("window.scrollTo(0, 0)")
    page.locator("summary.menu-button").click()
    links = page.get_by_role("navigation", name="Main").get_by_role("link").all()
    assert len(links) == 10  # with Cohorts
    for link in links:
        expect(link).to_be_in_viewport()
