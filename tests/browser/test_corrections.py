"""In the browser: confirming a possible reply and correcting a misread one on the contact page."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from playwright.sync_api import Page, expect

from outreach.models import Direction, Message, MessageKind, MessageStatus, User
from outreach.timeline import note_message
from tests.browser.conftest import SCREENSHOTS, LiveApp
from tests.browser.live import approve_and_send, log_in


def possible_reply_for_priya(live_app: LiveApp) -> int:
    """Priya's request goes out; her assistant answers from the institute's domain."""
    now = datetime.now(UTC)
    with live_app.sessions() as session:
        draft = session.get(Message, live_app.seeded.draft_id)
        assert draft is not None
        user = session.get(User, draft.user_id)
        assert user is not None
        approve_and_send(session, user, draft, now - timedelta(days=1))
        answer = Message(
            user_id=draft.user_id,
            mailbox_id=draft.mailbox_id,
            contact_id=draft.contact_id,
            outreach_id=draft.outreach_id,
            direction=Direction.INBOUND,
            kind=MessageKind.REPLY,
            status=MessageStatus.RECEIVED,
            message_id="<pa-1@policy.example>",
            from_address="office@policy.example",
            to_address=draft.from_address,
            subject="Your message to Priya",
            body_text="Priya asked me to find a time with you next week. Would Tuesday suit?",
            received_at=now - timedelta(hours=1),
            match_rule="domain",
        )
        session.add(answer)
        session.flush()
        note_message(
            session,
            answer,
            "inbound:possible_reply",
            "possible reply from office@policy.example, at the same organisation's domain: "
            "confirm or dismiss it; nothing changes until you do",
            now - timedelta(hours=1),
        )
        session.commit()
        return answer.id


def test_a_possible_reply_is_confirmed_with_one_click(page: Page, live_app: LiveApp) -> None:
    message_id = possible_reply_for_priya(live_app)
    log_in(page, live_app.url, live_app.seeded.email)
    page.goto(f"/contacts/{live_app.seeded.contacts['Priya Raman']}")

    box = page.locator(f"#message-{message_id} form.possible-reply")
    expect(box).to_contain_text("Does it answer your request?")
    expect(page.locator("#contact-targets")).to_contain_text("waiting")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / "contact-possible-reply.png", full_page=True)

    box.get_by_role("button", name="Yes, it is their reply").click()

    expect(page.locator(".flash")).to_contain_text("Noted: that message is a reply from them")
    expect(page.locator("#contact-targets")).to_contain_text("replied")
    expect(page.locator("form.possible-reply")).to_have_count(0)
    expect(page.locator(f"#message-{message_id} .match-rule")).to_contain_text("you confirmed it")


def test_a_misread_reply_is_corrected_from_the_timeline(page: Page, live_app: LiveApp) -> None:
    seeded = live_app.seeded
    log_in(page, live_app.url, seeded.email)
    page.goto(f"/contacts/{seeded.contacts['Tom Okafor']}")
    expect(page.locator("#contact-targets")).to_contain_text("replied")
    message = page.locator(f"#message-{seeded.reply_id}")

    message.get_by_text("Read wrongly?").click()
    message.get_by_label("This message is").select_option("auto_reply")
    message.get_by_role("button", name="Correct it").click()

    expect(page.locator(".flash")).to_contain_text("an automatic reply")
    expect(page.locator("#contact-targets")).to_contain_text("waiting")
    expect(page.locator(f"#message-{seeded.reply_id}")).to_have_attribute(
        "data-verdict", "auto_reply"
    )
