"""In the browser: a person replied; the user answers in the thread, proposing a free time.

Tom Okafor's reply (stored as the poller stores it, HTML meant to run and all)
waits on the board. The user adds their usual free times on the profile, clicks
Reply on the board, picks a time, saves and approves; the worker's send job
delivers it to the test SMTP server, in the thread and with the time. The time
shows as proposed; Tom agrees, and the confirmation goes out carrying a calendar
invitation that icalendar reads back.
"""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from email.message import EmailMessage

import icalendar
from playwright.sync_api import Dialog, Page, expect
from sqlalchemy import select

from outreach.models import (
    Direction,
    Mailbox,
    Meeting,
    MeetingStatus,
    Message,
    MessageKind,
    MessageStatus,
    Outreach,
    TlsMode,
)
from outreach.rules.states import OutreachState
from outreach.timeline import note_message
from tests.browser.conftest import LiveApp
from tests.browser.live import HOSTILE_REPLY, log_in
from tests.browser.test_contact_changes import shoot
from tests.servers.smtpd import RecordingSMTPServer
from workers import jobs

MAILBOX_PASSWORD = "imap-secret"  # tests.factories.make_mailbox's


def funnel_count(page: Page, stage: str) -> str:
    return page.locator(f'li[data-stage="{stage}"] .funnel-count').inner_text()


def send_through_the_worker(live_app: LiveApp, smtp: RecordingSMTPServer, message_id: int) -> None:
    """The send job for an approved message, as a worker runs it, to the test SMTP server."""
    with live_app.sessions() as session:
        message = session.get_one(Message, message_id)
        mailbox = session.get_one(Mailbox, message.mailbox_id)
        mailbox.smtp_host, mailbox.smtp_port = "127.0.0.1", smtp.port
        mailbox.smtp_tls = TlsMode.STARTTLS
        # The pace spaces messages minutes apart; this test does not wait for it.
        mailbox.next_send_at = None
        smtp.users[mailbox.username] = MAILBOX_PASSWORD
        session.commit()
    # In a thread of its own: Playwright's loop runs in this one, and the sender runs its own.
    with ThreadPoolExecutor(max_workers=1) as worker:
        assert worker.submit(jobs.send_message, message_id).result(timeout=60) == "sent"


def tom_says_yes(live_app: LiveApp, answer_id: int) -> None:
    with live_app.sessions() as session:
        answer = session.get_one(Message, answer_id)
        now = datetime.now(UTC)
        yes = Message(
            user_id=answer.user_id,
            mailbox_id=answer.mailbox_id,
            contact_id=answer.contact_id,
            outreach_id=answer.outreach_id,
            direction=Direction.INBOUND,
            kind=MessageKind.REPLY,
            status=MessageStatus.RECEIVED,
            message_id="<yes-1@oceantrust.example>",
            in_reply_to=answer.message_id,
            references=f"{answer.references} {answer.message_id}",
            from_address=answer.to_address,
            to_address=answer.from_address,
            subject=f"Re: {answer.subject}",
            body_text="That works for me. Speak then!\n\n> Would ...",
            folder="INBOX",
            uidvalidity=1,
            uid=99,
            received_at=now,
            match_rule="in_reply_to",
            created_at=now,
        )
        session.add(yes)
        session.flush()
        note_message(session, yes, "reply", "reply received (matched by in_reply_to)", now)
        session.commit()


def calendar_parts(email: EmailMessage) -> list[EmailMessage]:
    return [
        part
        for part in email.walk()
        if part.get_content_type() in ("text/calendar", "application/ics")
    ]


def test_reply_from_the_board_proposes_a_time_then_the_agreed_meeting_is_invited(
    page: Page, live_app: LiveApp, smtp: RecordingSMTPServer, job_environment: None
) -> None:
    seeded = live_app.seeded
    with live_app.sessions() as session:
        reply = session.get_one(Message, seeded.reply_id)
        reply_id_header, reply_references = reply.message_id, reply.references
        outreach_id = reply.outreach_id
        session.get_one(Outreach, outreach_id).contact.time_zone = "America/New_York"
        session.commit()
    dialogs: list[str] = []

    def scripted(dialog: Dialog) -> None:
        # An alert() would mean the stranger's <script> ran.
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", scripted)
    log_in(page, live_app.url, seeded.email)

    # The profile says when the user is usually free, in their own zone.
    page.goto("/profile")
    page.get_by_label("Your time zone").select_option("Europe/London")
    page.get_by_label("Usual free times").fill(
        "Mon-Sun 10:00-11:00  # too early for New York\nMon-Fri 14:00-15:00"
    )
    page.get_by_role("button", name=re.compile("Save", re.I)).first.click()
    expect(page.locator(".flash")).to_contain_text("Your profile is saved")

    # On the board, Tom's row says he answered and offers a reply.
    page.goto("/")
    expect(page.locator('li[data-stage="meetings"] .funnel-count')).to_have_text("0")
    row = page.locator("#status-board tr", has_text="Tom Okafor")
    expect(row).to_contain_text("reply and set a time")
    shoot(page, "reply-board")
    row.locator('[data-action="reply"]').click()

    composer = page.locator("#composer")
    expect(composer.locator(".to")).to_contain_text("tom.okafor@oceantrust.example")
    expect(composer.locator(".subject")).to_have_text(re.compile(r"^Re: "))
    quoted = composer.locator("#quoted")
    expect(quoted).to_contain_text("Tom Okafor wrote:")
    # The stranger's HTML is shown as the text it is, quoted, and nothing of it runs.
    expect(quoted).to_contain_text("> " + HOSTILE_REPLY)
    expect(composer.locator("#quoted script, #quoted img")).to_have_count(0)
    slots = composer.locator("#slot-picker input[name='slot']")
    expect(slots).to_have_count(6)  # "no time", then the next five free times
    picker = composer.locator("#slot-picker")
    expect(picker).to_contain_text("in your time zone (Europe/London), within Tom's day")
    # Only the afternoons: 10:00 in London is 05:00 in New York.
    expect(picker.locator("label.radio", has_text="at 14:00")).to_have_count(5)
    expect(picker).to_contain_text("09:00 on")

    body = composer.get_by_label("Your answer")
    body.fill(
        "Dear Tom,\n\nThank you for your kind answer; I would love to hear about Ocean Trust."
    )
    first_time = slots.nth(1)
    first_time.check()
    sentence = first_time.get_attribute("data-sentence") or ""
    assert sentence.startswith("Would ") and "(Europe/London)" in sentence
    assert "your time (America/New_York)" in sentence
    expect(body).to_have_value(re.compile(re.escape(sentence) + "$"))
    # Reworded by the user: the text goes as they wrote it, with the time once.
    body.fill(body.input_value().replace("Would ", "Could we talk on ").replace(" suit you", ""))
    reworded = body.input_value()
    assert "Could we talk on " in reworded
    shoot(page, "reply-composer")
    composer.locator('[data-action="save-answer"]').click()

    expect(page.locator(".flash")).to_contain_text("Your answer to Tom Okafor waits in Drafts")
    expect(page.locator(".flash")).to_contain_text("mark it agreed when they say yes")
    draft = page.locator('article.draft[data-kind="answer"]')
    expect(draft.locator(".kind")).to_have_text("Your reply")
    draft.locator('[data-action="approve"]').click()
    expect(page.locator(".flash").first).to_be_visible()

    with live_app.sessions() as session:
        answer = session.scalars(
            select(Message).where(Message.outreach_id == outreach_id, Message.kind == "answer")
        ).one()
        answer_id, answer_message_id = answer.id, answer.message_id
        proposed = session.scalars(select(Meeting).where(Meeting.outreach_id == outreach_id)).one()
        assert proposed.status is MeetingStatus.PROPOSED
        proposed_at = proposed.starts_at
        uid = proposed.invitation_uid
    send_through_the_worker(live_app, smtp, answer_id)

    (sent,) = smtp.messages
    assert sent.rcpt_tos == ["tom.okafor@oceantrust.example"]
    assert sent.message["In-Reply-To"] == reply_id_header
    references = sent.message["References"].split()
    assert references[-1] == reply_id_header
    assert set(reply_references.split()) <= set(references)
    assert sent.message["Subject"].startswith("Re: ")
    text = sent.message.get_content().replace("\r\n", "\n")
    assert text.startswith("Dear Tom,")
    assert text.startswith(reworded.replace("\r\n", "\n"))
    assert sentence not in text  # not added again below the user's own words
    assert "Tom Okafor wrote:\n> " + HOSTILE_REPLY in text
    assert calendar_parts(sent.message) == []

    # The board says what is left to do: wait for Tom to agree.
    page.goto("/")
    tom_row = page.locator("#status-board tr", has_text="Tom Okafor")
    expect(tom_row).to_contain_text("time proposed (")
    expect(tom_row).to_contain_text("mark it agreed when they say yes")
    shoot(page, "reply-board-proposed")

    # Tom writes back about the time (stored as the poller stores a second reply);
    # the panel asks whether it was a yes.
    tom_says_yes(live_app, answer_id)
    page.reload()
    answered = page.locator('[data-item="proposals-answered"]')
    expect(answered).to_contain_text("1 person answered the time you proposed")
    answered.locator("a").click()
    waiting = page.locator('#proposed li[data-status="proposed"]')
    expect(waiting).to_contain_text("Tom Okafor")
    expect(waiting).to_contain_text("you proposed this time")
    shoot(page, "reply-meetings-proposed")
    waiting.locator('[data-action="confirm-meeting"]').click()
    expect(page.locator(".flash")).to_contain_text(
        "The confirmation with a calendar invitation waits in Drafts"
    )

    # The board's counts follow at once: Tom is "meeting set", one agreed to meet.
    page.goto("/")
    expect(page.locator('li[data-stage="meetings"] .funnel-count')).to_have_text("1")
    expect(page.locator("#status-board tr", has_text="Tom Okafor")).to_contain_text("meeting set")

    page.goto("/drafts")
    confirmation = page.locator('article.draft[data-kind="confirmation"]')
    expect(confirmation.locator('[data-attachment="invite.ics"]')).to_be_visible()
    shoot(page, "reply-drafts-invitation")
    confirmation.locator('[data-action="approve"]').click()
    expect(page.locator(".flash").first).to_be_visible()
    with live_app.sessions() as session:
        confirmation_id = session.scalars(
            select(Message.id).where(
                Message.outreach_id == outreach_id, Message.kind == MessageKind.CONFIRMATION
            )
        ).one()
        assert session.get_one(Outreach, outreach_id).state is OutreachState.MEETING_SET
        assert session.get_one(Meeting, proposed.id).status is MeetingStatus.SCHEDULED
    send_through_the_worker(live_app, smtp, confirmation_id)

    confirmed = smtp.messages[-1].message
    assert confirmed["Subject"] == sent.message["Subject"]  # one "Re:", however deep
    # In the thread, after Tom's yes (the newest message in it).
    assert confirmed["In-Reply-To"] == "<yes-1@oceantrust.example>"
    assert confirmed["References"].split()[-3:] == [
        reply_id_header,
        answer_message_id,
        "<yes-1@oceantrust.example>",
    ]
    (inline, attached) = calendar_parts(confirmed)
    assert inline.get_content_type() == "text/calendar"
    assert inline.get_param("method") == "REQUEST"
    assert attached.get_filename() == "invite.ics"
    calendar = icalendar.Calendar.from_ical(inline.get_content())
    assert str(calendar["METHOD"]) == "REQUEST"
    (event,) = calendar.walk("VEVENT")
    assert str(event["UID"]) == uid
    assert event.decoded("DTSTART") == proposed_at.astimezone(UTC)
    assert (event.decoded("DTEND") - event.decoded("DTSTART")).total_seconds() == 30 * 60
    assert str(event["ORGANIZER"]) == f"mailto:{seeded.email}"
    assert str(event["ATTENDEE"]) == "mailto:tom.okafor@oceantrust.example"
    assert event["ATTENDEE"].params["CN"] == "Tom Okafor"
    assert icalendar.Calendar.from_ical(attached.get_content()) == calendar
    assert proposed_at > datetime.now(UTC)

    # Tom's page tells the story, his HTML still inert text.
    page.goto(f"/contacts/{seeded.contacts['Tom Okafor']}")
    timeline = page.locator("#timeline")
    expect(timeline).to_contain_text("you proposed")
    expect(timeline).to_contain_text("confirmation with a calendar invitation drafted")
    expect(page.locator('#contact-meetings li[data-status="scheduled"]')).to_have_count(1)
    assert dialogs == []


def test_the_composer_on_a_phone(page: Page, live_app: LiveApp) -> None:
    seeded = live_app.seeded
    log_in(page, live_app.url, seeded.email)
    page.goto(f"/contacts/{seeded.contacts['Tom Okafor']}")
    page.locator('#contact-targets [data-action="reply"]').click()
    expect(page.locator("#composer")).to_contain_text("Tom Okafor wrote:")
    # No free times on the profile yet: the composer says where to add them.
    expect(page.locator("#slot-picker")).to_contain_text("on your profile")
    page.set_viewport_size({"width": 390, "height": 844})
    box = page.locator("#answer-form textarea").bounding_box()
    assert box is not None and box["x"] + box["width"] <= 390
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
