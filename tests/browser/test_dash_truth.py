"""Times and states that agree, as a person sees them in Chromium (issue 14, item 5).

The user lives in New York. Three messages approved together leave a minute apart,
and the Outbox says when each is expected; a conversation that ended an hour ago
is under "Held", not "Coming up", and not "today at ..." on the board; the
drafts page says when each draft was written on the user's clock; a sandbox
follow-up is said in sandbox time, not on a date days away.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import Browser, expect
from sqlalchemy import select

from outreach import meetings
from outreach.crypto import SecretBox
from outreach.drafts import approve
from outreach.meetings import MeetingDetails
from outreach.models import Mailbox, Message, MessageKind, Outreach, User
from outreach.rules.sandbox_addresses import PEOPLE_DOMAIN, SANDBOX_DOMAIN
from outreach.sending import record_sent
from outreach.targets import create_target, fill_pipeline
from tests.browser.conftest import SCREENSHOTS, LiveApp
from tests.browser.live import log_in
from tests.factories import make_contact, make_mailbox

SIZES = {"laptop": (1366, 850), "phone": (390, 844)}
ZONE = "America/New_York"


def _arrange(live_app: LiveApp, secret_box: SecretBox) -> dict[str, int]:
    now = datetime.now(UTC)
    with live_app.sessions() as session:
        user = session.scalars(select(User).where(User.email == live_app.seeded.email)).one()
        user.time_zone = ZONE
        mailbox = session.scalars(select(Mailbox).where(Mailbox.user_id == user.id)).one()
        # Any hour, any day, a minute apart: the forecast is a minute per message.
        mailbox.window_days, mailbox.window_start_hour, mailbox.window_end_hour = "0123456", 0, 24
        mailbox.min_gap_seconds = mailbox.max_gap_seconds = 60
        people = [
            make_contact(session, user, name=name, email=f"{name.split()[0].lower()}@lab.example")
            for name in ("Ada Able", "Ben Baker", "Cy Cole")
        ]
        target = create_target(
            session,
            user,
            "Lab science",
            [p.id for p in people],
            max_in_flight=3,
            allow_same_organisation=True,
        )
        for draft in fill_pipeline(session, user, target, now):
            approve(session, user, draft.id, now)
        # Tom Okafor replied in the seed; they talked an hour ago, for half an hour.
        tom = live_app.seeded.contacts["Tom Okafor"]
        outreach = session.scalars(select(Outreach).where(Outreach.contact_id == tom)).one()
        meetings.record_meeting(
            session,
            user,
            outreach.id,
            MeetingDetails(starts_at=now - timedelta(hours=1), duration_minutes=30),
            now - timedelta(days=1),
        )
        # A sandbox contact written to just now: a sandbox business day lasts a minute.
        make_mailbox(session, user, secret_box, email_address=f"maya.1@{SANDBOX_DOMAIN}")
        pretend = make_contact(
            session, user, name="Sandy Silent", email=f"silent.sandy@{PEOPLE_DOMAIN}"
        )
        sandbox_target = create_target(
            session, user, "Sandbox list", [pretend.id], wait_business_days=1
        )
        (request,) = fill_pipeline(session, user, sandbox_target, now)
        approve(session, user, request.id, now)
        record_sent(session, request.id, now)
        draft = session.get_one(Message, live_app.seeded.draft_id)
        assert draft.kind is MessageKind.REQUEST
        draft.created_at = datetime(2026, 12, 3, 16, 30, tzinfo=UTC)  # 11:30 in New York
        session.commit()
        return {"draft": draft.id}


@pytest.mark.parametrize("size", sorted(SIZES))
def test_times_and_states_agree_on_every_page(
    browser: Browser, live_app: LiveApp, secret_box: SecretBox, size: str
) -> None:
    _arrange(live_app, secret_box)
    width, height = SIZES[size]
    context = browser.new_context(
        viewport={"width": width, "height": height}, base_url=live_app.url
    )
    context.set_default_timeout(10_000)
    page = context.new_page()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    try:
        log_in(page, live_app.url, live_app.seeded.email)
        expect(page.locator("#attention")).not_to_contain_text("your conversation with")
        sandy = page.locator("#status-board tr", has_text="Sandy Silent")
        expect(sandy).to_contain_text("follow-up in 1 min (sandbox time)")
        tom = page.locator("#status-board tr", has_text="Tom Okafor")
        expect(tom).to_contain_text("the meeting is over: write your notes")
        page.screenshot(path=SCREENSHOTS / f"dash-truth-{size}-board.png", full_page=True)

        page.goto("/outbox")
        rows = page.locator("#outbox-going tbody tr")
        expect(rows).to_have_count(3)
        plans = [rows.nth(i).locator("td.plan").inner_text() for i in range(3)]
        assert "due now" in plans[0]
        assert all("due now" not in plan for plan in plans[1:]), plans
        assert re.search(r"expected in [12] min", plans[1]), plans
        assert re.search(r"expected in [23] min", plans[2]), plans
        # One message, one section: none of them is also under "Sent".
        expect(page.locator("#outbox-sent")).not_to_contain_text("Ada Able")
        page.screenshot(path=SCREENSHOTS / f"dash-truth-{size}-outbox.png", full_page=True)

        page.goto("/meetings")
        expect(page.locator("#upcoming")).not_to_contain_text("Tom Okafor")
        expect(page.locator("#held")).to_contain_text("Tom Okafor")
        page.screenshot(path=SCREENSHOTS / f"dash-truth-{size}-meetings.png", full_page=True)

        page.goto("/drafts")
        expect(page.locator("#drafts")).to_contain_text("drafted 3 Dec 2026, 11:30")
        expect(page.locator("#drafts")).not_to_contain_text("UTC")
        page.screenshot(path=SCREENSHOTS / f"dash-truth-{size}-drafts.png")
    finally:
        context.close()
