"""The outbox: what goes out when and why it waits, unknown deliveries settled by the user,
failures in the server's own words, and what was sent, all in the user's time zone.

Messages are made through the core use cases (draft, approve); a state that only a
worker produces (queued with a reason, unknown, failed) is then set on the row.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from flask import Flask
from redis import Redis
from rq import Queue
from sqlalchemy.orm import Session

from outreach.crypto import SecretBox
from outreach.drafts import approve
from outreach.models import Mailbox, Message, MessageStatus, Outreach, SendPhase, User
from outreach.rules.states import OutreachState
from outreach.sending import record_sent
from tests.conftest import NOW
from tests.factories import make_contact, make_mailbox, make_user
from tests.web.conftest import PASSWORD, Browser, start_target
from web.helpers import DAY_NAMES
from workers.queues import SEND_QUEUE, send_job_id


def section(page: str, name: str) -> str:
    """The HTML of `<section id="outbox-<name>">`; fails when the page has none."""
    found = re.search(rf'<section id="outbox-{name}".*?</section>', page, re.S)
    assert found is not None, f"no section#outbox-{name} on the page"
    return found.group(0)


def row(html: str, message: Message) -> str:
    """The row (or card) of one message, from its data-message-id to its end tag."""
    found = re.search(
        rf'<(tr|article)[^>]*data-message-id="{message.id}"[^>]*>.*?</\1>', html, re.S
    )
    assert found is not None, f"message {message.id} is not shown here"
    return found.group(0)


def reload(session: Session, message: Message) -> Message:
    session.expire_all()
    fresh = session.get(Message, message.id)
    assert fresh is not None
    return fresh


def real_now() -> datetime:
    # The pages use the real clock, so shown times are made relative to it.
    return datetime.now(UTC)


def at_local(days_ahead: int, hour: int, zone: str) -> datetime:
    """`hour`:00 in `zone`, `days_ahead` local days from now, as an aware UTC moment."""
    tz = ZoneInfo(zone)
    day = (real_now().astimezone(tz) + timedelta(days=days_ahead)).date()
    return datetime(day.year, day.month, day.day, hour, tzinfo=tz).astimezone(UTC)


def short(moment: datetime, zone: str) -> str:
    here = moment.astimezone(ZoneInfo(zone))
    return f"{DAY_NAMES[here.weekday()]} {here:%H:%M}"


class Outbox:
    """The signed-in user's mailbox and approved messages, one per contact."""

    def __init__(self, session: Session, user: User, mailbox: Mailbox) -> None:
        self.session = session
        self.user = user
        self.mailbox = mailbox

    def approved(self, *names: str) -> list[Message]:
        contacts = [
            make_contact(
                self.session, self.user, name=name, email=f"{name.split()[0].lower()}@x.org"
            )
            for name in names
        ]
        _, drafts = start_target(
            self.session, self.user, contacts, name=f"Target {names[0]}", max_in_flight=len(names)
        )
        approved = [approve(self.session, self.user, draft.id, NOW) for draft in drafts]
        self.session.commit()
        return approved

    def unknown(self, name: str = "Una Known") -> Message:
        [message] = self.approved(name)
        message.status = MessageStatus.UNKNOWN
        message.send_phase = SendPhase.DATA
        message.claimed_at = real_now() - timedelta(minutes=20)
        message.attempts = 1
        message.error = "the connection broke after the message was handed to the server"
        self.session.commit()
        return message


@pytest.fixture
def box(session: Session, user: User, secret_box: SecretBox) -> Outbox:
    mailbox = make_mailbox(session, user, secret_box)
    session.commit()
    return Outbox(session, user, mailbox)


def test_the_outbox_is_in_the_navigation_and_starts_empty(signed_in: Browser) -> None:
    page = signed_in.page("/")
    assert '<a href="/outbox"' in page

    page = signed_in.page("/outbox")

    assert "<h1>Outbox</h1>" in page
    assert "Nothing is waiting to go out." in section(page, "going")
    assert "Nothing has been sent yet." in section(page, "sent")
    assert 'id="outbox-unknown"' not in page
    assert 'id="outbox-failed"' not in page
    assert "Times are in your time zone, UTC" in page


def test_a_waiting_message_says_why_and_when_in_the_users_time_zone(
    signed_in: Browser, box: Outbox, session: Session, user: User
) -> None:
    user.time_zone = "America/New_York"
    [message] = box.approved("Ada Able")
    opening = at_local(2, 8, "America/New_York")
    message.status = MessageStatus.QUEUED
    message.waiting_reason = "outside your sending window"
    message.next_attempt_at = opening
    session.commit()

    shown = row(section(signed_in.page("/outbox"), "going"), message)

    assert 'data-status="queued"' in shown
    weekday = DAY_NAMES[opening.astimezone(ZoneInfo("America/New_York")).weekday()]
    assert f"waits: outside your sending window — next try {weekday} 08:00" in shown
    assert f'<time datetime="{opening.isoformat()}"' in shown
    assert "Ada Able" in shown and "ada@x.org" in shown
    assert message.subject in shown
    assert ">Request<" in shown

    # The same moment, seen from another zone.
    user.time_zone = "Asia/Tokyo"
    session.commit()
    shown = row(section(signed_in.page("/outbox"), "going"), message)
    assert f"next try {short(opening, 'Asia/Tokyo')}" in shown


def test_a_due_message_is_judged_by_the_mailbox_pace(
    signed_in: Browser, box: Outbox, session: Session
) -> None:
    first, second = box.approved("Ada Able", "Ben Baker")
    # The cap of the day is reached: the first goes at the next opening, tomorrow
    # at 00:00, and the second, one a day, the day after.
    box.mailbox.daily_cap = 1
    box.mailbox.sent_day = real_now().date().isoformat()
    box.mailbox.sent_day_count = 1
    session.commit()

    going = section(signed_in.page("/outbox"), "going")

    shown = row(going, first)
    assert 'data-status="approved"' in shown
    assert "waits: today&#39;s cap of 1 message is reached — next try" in shown
    assert short(at_local(1, 0, "UTC"), "UTC") in shown
    later = row(going, second)
    assert "waits its turn after the ones above" in later and "up to 1 a day" in later
    assert f"expected {short(at_local(2, 0, 'UTC'), 'UTC')}" in later

    box.mailbox.sent_day_count = 0
    session.commit()
    going = section(signed_in.page("/outbox"), "going")
    assert "due now: it goes out as soon as the sender picks it up" in row(going, first)
    assert "due now" not in row(going, second)


def test_messages_approved_together_show_when_each_leaves_at_the_pace(
    signed_in: Browser, box: Outbox, session: Session
) -> None:
    """Three approved at once, sent a minute apart: one is due now, the others later."""
    messages = box.approved("Ada Able", "Ben Baker", "Cy Cole")
    box.mailbox.min_gap_seconds = box.mailbox.max_gap_seconds = 60
    session.commit()

    going = section(signed_in.page("/outbox"), "going")

    first, second, third = (row(going, message) for message in messages)
    assert "due now" in first
    assert "due now" not in second and "due now" not in third
    assert "waits its turn after the ones above" in second and "1 minute apart" in second
    assert re.search(r"expected in [12] min", second), second
    assert re.search(r"expected in [23] min", third), third


def test_a_retrying_message_shows_the_server_words_and_the_next_try(
    signed_in: Browser, box: Outbox, session: Session
) -> None:
    [message] = box.approved("Ada Able")
    later = real_now() + timedelta(minutes=10)
    message.status = MessageStatus.RETRYING
    message.attempts = 1
    message.error = "451 4.3.0 Try again later"
    message.next_attempt_at = later
    session.commit()

    shown = row(section(signed_in.page("/outbox"), "going"), message)

    assert 'data-status="retrying"' in shown
    # Within the hour, the time is said as a count of minutes.
    assert re.search(r"your mail server did not take it yet — next try in (9|10) min", shown)
    assert f'title="{later:%-d %b %Y, %H:%M} (UTC)"' in shown
    assert "The server said: 451 4.3.0 Try again later" in shown


def test_a_paused_mailbox_shows_a_banner_and_the_reason_on_each_message(
    signed_in: Browser, box: Outbox, session: Session
) -> None:
    [message] = box.approved("Ada Able")
    box.mailbox.sending_paused = True
    box.mailbox.last_error = "535 5.7.8 Authentication credentials invalid"
    session.commit()

    page = signed_in.page("/outbox")

    banner = re.search(r'<div class="notice banner mailbox-paused".*?</div>', page, re.S)
    assert banner is not None
    assert f"Sending from {box.mailbox.email_address} is paused." in banner.group(0)
    assert "535 5.7.8 Authentication credentials invalid" in banner.group(0)
    assert 'href="/mailbox"' in banner.group(0)
    assert "sending from this mailbox is paused" in row(section(page, "going"), message)


def test_an_unknown_delivery_asks_the_user_in_plain_words(signed_in: Browser, box: Outbox) -> None:
    message = box.unknown()

    page = signed_in.page("/outbox")
    card = row(section(page, "unknown"), message)

    assert 'data-status="unknown"' in card
    assert "the connection to your mail server broke <em>after</em> the message" in card
    assert "may have been delivered" in card
    assert "<strong>Sent</strong> folder" in card
    assert 'data-action="mark-delivered"' in card
    assert 'data-action="send-again"' in card
    assert f'action="/outbox/{message.id}/delivered"' in card
    assert f'action="/outbox/{message.id}/send-again"' in card
    # Not in "Going out": it is not the sender's to retry.
    assert f'data-message-id="{message.id}"' not in section(page, "going")
    assert 'id="outbox-decisions-count"' in page


def test_it_was_delivered_records_it_as_sent(
    signed_in: Browser, box: Outbox, session: Session
) -> None:
    message = box.unknown()

    response = signed_in.post(
        f"/outbox/{message.id}/delivered", page="/outbox", follow_redirects=True
    )

    page = response.get_data(as_text=True)
    assert "Recorded as delivered to una@x.org. Nothing more will be sent." in page
    fresh = reload(session, message)
    assert fresh.status is MessageStatus.SENT
    assert fresh.sent_at is not None
    outreach = session.get(Outreach, fresh.outreach_id)
    assert outreach is not None and outreach.state is OutreachState.WAITING
    assert 'id="outbox-unknown"' not in page
    assert 'data-status="sent"' in row(section(page, "sent"), message)
    assert 'id="outbox-decisions-count"' not in page


def test_send_it_again_queues_the_message_even_without_a_queue(
    signed_in: Browser, box: Outbox, session: Session
) -> None:
    # This app has no Redis at all: the decision is kept, a worker's sweep sends it.
    message = box.unknown()

    response = signed_in.post(
        f"/outbox/{message.id}/send-again", page="/outbox", follow_redirects=True
    )

    page = response.get_data(as_text=True)
    assert "It will be sent again. The sending queue cannot be reached right now" in page
    fresh = reload(session, message)
    assert fresh.status is MessageStatus.QUEUED
    assert fresh.send_phase is None
    assert fresh.next_attempt_at is None
    assert 'data-status="queued"' in row(section(page, "going"), message)


@pytest.fixture
def queue_browser(redis_app: Flask, user: User) -> Browser:
    browser = Browser(redis_app.test_client())
    assert browser.login(user.email, PASSWORD).status_code == 302
    return browser


def test_send_it_again_wakes_a_worker(
    queue_browser: Browser, box: Outbox, session: Session, redis: Redis
) -> None:
    message = box.unknown()

    response = queue_browser.post(
        f"/outbox/{message.id}/send-again", page="/outbox", follow_redirects=True
    )

    assert "The message to una@x.org will be sent again." in response.get_data(as_text=True)
    assert reload(session, message).status is MessageStatus.QUEUED
    assert Queue(SEND_QUEUE, connection=redis).job_ids == [send_job_id(message.id)]


def test_a_decision_already_taken_is_not_taken_twice(
    signed_in: Browser, box: Outbox, session: Session
) -> None:
    message = box.unknown()
    signed_in.post(f"/outbox/{message.id}/delivered", page="/outbox")

    response = signed_in.post(
        f"/outbox/{message.id}/send-again", page="/outbox", follow_redirects=True
    )

    assert "This message is sent, not unknown." in response.get_data(as_text=True)
    assert reload(session, message).status is MessageStatus.SENT


@pytest.fixture
def strangers_unknown(session: Session, secret_box: SecretBox) -> Message:
    stranger = make_user(session, email="stranger@example.test")
    session.flush()
    return Outbox(session, stranger, make_mailbox(session, stranger, secret_box)).unknown(
        "Stan Stranger"
    )


@pytest.mark.parametrize("action", ["delivered", "send-again"])
def test_another_users_message_is_not_found(
    signed_in: Browser, strangers_unknown: Message, session: Session, action: str
) -> None:
    response = signed_in.post(f"/outbox/{strangers_unknown.id}/{action}", page="/outbox")

    assert response.status_code == 404
    assert reload(session, strangers_unknown).status is MessageStatus.UNKNOWN
    assert f'data-message-id="{strangers_unknown.id}"' not in signed_in.page("/outbox")


@pytest.mark.parametrize("action", ["delivered", "send-again"])
def test_the_decision_needs_the_forms_token(
    signed_in: Browser, box: Outbox, session: Session, action: str
) -> None:
    message = box.unknown()

    response = signed_in.client.post(f"/outbox/{message.id}/{action}", data={})

    assert response.status_code == 400
    assert "This form was out of date" in response.get_data(as_text=True)
    assert reload(session, message).status is MessageStatus.UNKNOWN


def test_a_refused_message_shows_the_server_words(
    signed_in: Browser, box: Outbox, session: Session
) -> None:
    refused, stopped = box.approved("Ada Able", "Ben Baker")
    refused.status = MessageStatus.FAILED
    refused.claimed_at = real_now() - timedelta(hours=1)
    refused.error = "554 5.7.1 Message rejected: looks like spam"
    # Stopped by the check just before sending.
    stopped.status = MessageStatus.CANCELLED
    stopped.claimed_at = real_now() - timedelta(hours=2)
    stopped.error = "not sent: Ben Baker is marked do-not-contact"
    session.commit()

    failed = section(signed_in.page("/outbox"), "failed")

    shown = row(failed, refused)
    assert 'data-status="failed"' in shown
    assert "<q>554 5.7.1 Message rejected: looks like spam</q>" in shown
    assert "Not sent: Ben Baker is marked do-not-contact." in row(failed, stopped)


def test_a_discarded_draft_is_not_in_the_outbox(
    signed_in: Browser, box: Outbox, session: Session, user: User
) -> None:
    _, [draft] = start_target(session, user, [make_contact(session, user)])
    session.commit()
    signed_in.post(f"/drafts/{draft.id}/discard", page="/drafts")

    assert f'data-message-id="{draft.id}"' not in signed_in.page("/outbox")


def test_sent_messages_show_when_they_went_in_the_users_time_zone(
    signed_in: Browser, box: Outbox, session: Session, user: User
) -> None:
    user.time_zone = "Europe/Berlin"
    [message] = box.approved("Ada Able")
    went = datetime(2026, 11, 20, 13, 5, tzinfo=UTC)
    record_sent(session, message.id, went)
    session.commit()

    shown = row(section(signed_in.page("/outbox"), "sent"), message)

    assert 'data-status="sent"' in shown
    assert "20 Nov 2026, 14:05" in shown


def test_only_the_last_twenty_sent_are_shown(
    signed_in: Browser, box: Outbox, session: Session
) -> None:
    messages = box.approved(*[f"Person{n} Sent" for n in range(22)])
    for n, message in enumerate(messages):
        record_sent(session, message.id, NOW - timedelta(minutes=100 - n))
    session.commit()

    sent = section(signed_in.page("/outbox"), "sent")

    assert sent.count("data-message-id=") == 20
    assert f'data-message-id="{messages[0].id}"' not in sent
    assert f'data-message-id="{messages[-1].id}"' in sent


def test_the_drafts_page_points_to_the_outbox_after_approval(
    signed_in: Browser, box: Outbox
) -> None:
    box.approved("Ada Able")

    page = signed_in.page("/drafts")

    assert '<p id="approved-in-outbox"' in page
    assert "1 approved message is on the way" in page


def test_the_decisions_count_is_on_every_page(signed_in: Browser, box: Outbox) -> None:
    box.unknown("Una Known")
    box.unknown("Uli Known")

    page = signed_in.page("/contacts")

    count = re.search(r'<span id="outbox-decisions-count"[^>]*>(\d+)</span>', page)
    assert count is not None and count.group(1) == "2"
