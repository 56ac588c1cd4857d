"""In the browser: edit a contact, their request bounces, correct the address, send it again."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from playwright.sync_api import Page, expect
from sqlalchemy import select

from outreach.models import Message, MessageKind, MessageStatus, Outreach, User
from outreach.rules.states import OutreachState
from tests.browser.conftest import SCREENSHOTS, LiveApp
from tests.browser.live import approve_and_send, log_in, receive

BOUNCE_REPORT = (
    "This is the mail system at host mx.policy.example.\n\n"
    "<priya.ramen@policy.example>: host mx.policy.example said: 550 5.1.1 "
    "user unknown (in reply to RCPT TO command)\n"
)


def bounce_priyas_request(live_app: LiveApp) -> None:
    """Priya's request goes out to the address as typed, and the server says it does not exist."""
    now = datetime.now(UTC)
    with live_app.sessions() as session:
        draft = session.get_one(Message, live_app.seeded.draft_id)
        user = session.get_one(User, draft.user_id)
        approve_and_send(session, user, draft, now - timedelta(hours=2))
        receive(
            session,
            draft,
            MessageKind.BOUNCE,
            BOUNCE_REPORT,
            now - timedelta(hours=1),
            subject="Undelivered Mail Returned to Sender",
            sender="mailer-daemon@policy.example",
        )
        session.commit()


def shoot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.set_viewport_size({"width": 1366, "height": 850})
    page.screenshot(path=SCREENSHOTS / f"{name}.png", full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    page.screenshot(path=SCREENSHOTS / f"{name}-phone.png", full_page=True)
    page.set_viewport_size({"width": 1366, "height": 850})


def test_edit_then_bounce_then_correct_the_address_and_send_again(
    page: Page, live_app: LiveApp
) -> None:
    seeded = live_app.seeded
    priya = seeded.contacts["Priya Raman"]
    log_in(page, live_app.url, seeded.email)

    # A typo slipped into the address when she was added; an edit brings it in.
    page.goto(f"/contacts/{priya}")
    page.locator('[data-action="edit-contact"]').click()
    expect(page.get_by_label("Full name")).to_have_value("Priya Raman")
    page.get_by_label("Email address").fill("priya.ramen@policy.example")
    page.get_by_label("Role").fill("Head of Analysis")
    shoot(page, "contact-edit")
    page.locator('[data-action="save-contact"]').click()
    expect(page.locator(".flash")).to_contain_text(
        "Priya Raman is saved. Messages from now on go to priya.ramen@policy.example, "
        "including the 1 not yet sent."
    )
    expect(page.locator(".lead")).to_contain_text("Head of Analysis")

    bounce_priyas_request(live_app)
    page.reload()
    row = page.locator("#contact-targets li", has_text="Science policy")
    expect(row).to_contain_text("priya.ramen@policy.example failed.")
    expect(row.locator('[data-action="resend"]')).to_have_count(0)
    shoot(page, "contact-bounced")

    row.locator('[data-action="correct-address"]').click()
    page.get_by_label("Email address").fill("priya.raman@policy.example")
    page.locator('[data-action="save-contact"]').click()
    expect(page.locator(".flash")).to_contain_text("Messages from now on go to priya.raman@")

    resend = page.locator('[data-action="resend"]')
    expect(resend).to_have_text("Send the request again to priya.raman@policy.example")
    shoot(page, "contact-resend")
    resend.click()
    expect(page.locator(".flash")).to_contain_text(
        "A new request to priya.raman@policy.example waits in Drafts"
    )
    expect(page.locator("#contact-targets")).to_contain_text("Science policy")

    # The normal path: read it in Drafts and approve it; it goes to the Outbox.
    page.goto("/drafts")
    draft = page.locator("article.draft", has_text="Priya Raman")
    expect(draft.locator(".to")).to_contain_text("priya.raman@policy.example")
    draft.locator('[data-action="approve"]').click()
    expect(page.locator(".flash").first).to_be_visible()

    with live_app.sessions() as session:
        approved = session.scalars(
            select(Message).where(
                Message.contact_id == priya,
                Message.kind == MessageKind.REQUEST,
                Message.status == MessageStatus.APPROVED,
            )
        ).one()
        assert approved.to_address == "priya.raman@policy.example"
        outreach = session.get_one(Outreach, approved.outreach_id)
        assert outreach.state is OutreachState.DRAFTED


def test_merge_two_records_then_delete_one_saying_what_goes(page: Page, live_app: LiveApp) -> None:
    seeded = live_app.seeded
    lena, tom = seeded.contacts["Lena Fischer"], seeded.contacts["Tom Okafor"]
    log_in(page, live_app.url, seeded.email)

    # Lena is on the list twice: once from the export, once typed in by hand.
    page.goto("/contacts")
    form = page.locator("#add-contact")
    form.get_by_label("Full name").fill("Lena F.")
    form.get_by_label("Email address").fill("lena@home.example")
    form.locator('[data-action="add-contact"]').click()
    page.goto(f"/contacts/{lena}")
    page.locator('[data-action="merge-contact"]').click()
    page.get_by_label("The other record").select_option(label="Lena F. (lena@home.example)")
    shoot(page, "contact-merge")
    page.locator("#merge-contact [data-action='merge-contact']").click()
    expect(page.locator(".flash")).to_contain_text(
        "Lena F. (lena@home.example) is merged into Lena Fischer"
    )
    expect(page.locator(".notes")).to_contain_text("Also wrote from lena@home.example")

    page.goto(f"/contacts/{tom}")
    page.locator('[data-action="delete-contact"]').click()
    preview = page.locator("#delete-preview")
    expect(preview).to_contain_text("No message to them is waiting to be sent.")
    expect(preview).to_contain_text("Their history is removed: 2 messages sent or received")
    shoot(page, "contact-delete")
    preview.locator('[data-action="delete-contact"]').click()
    expect(page.locator(".flash")).to_contain_text("Tom Okafor is deleted, with their history.")
    expect(page.locator("#contacts")).not_to_contain_text("Tom Okafor")
