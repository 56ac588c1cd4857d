"""The confirmation as sent gives the meeting's time in both zones: real processes.

The dashboard, an `outreach worker` and an `outreach poller` run against the test
SMTP and IMAP servers, as in test_meeting_scenario. The user is in London, the
contact in New York. The request (for a list named "Science policy (London
list)", whose emails say "science policy") goes out; the contact answers with an
invitation; the shared clock is moved to the day before, the worker drafts the
confirmation, the user approves it, and the message read back from the SMTP sink
says "14:00 London time, 09:00 in New York" (10:00 on the rare days the two
countries' clocks change apart). Runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from outreach.models import Message
from tests.e2e import test_loop as loop
from tests.e2e.test_loop import Browser, Processes, wait_until
from tests.e2e.test_meeting_scenario import message_ids, move_clock_to
from tests.servers.dovecot import DovecotServer
from tests.servers.fixtures import MailAccount
from tests.servers.net import wait_for_port
from tests.servers.smtpd import RecordingSMTPServer
from tests.unit.test_invitations import google_invitation

processes = loop.processes

LONDON = ZoneInfo("Europe/London")
NEW_YORK = ZoneInfo("America/New_York")


def text_of(message: EmailMessage) -> str:
    body = message.get_body(("plain",))
    assert body is not None
    return str(body.get_content())


def test_the_confirmation_as_sent_names_both_zones_and_no_list_name_goes_out(
    processes: Processes,
    smtp: RecordingSMTPServer,
    dovecot: DovecotServer,
    mail_account: MailAccount,
    tmp_path: Path,
) -> None:
    clock_file = tmp_path / "clock-offset"
    processes.env["OUTREACH_CLOCK_OFFSET_FILE"] = str(clock_file)
    processes.env["OUTREACH_SWEEP_INTERVAL"] = "0.5"
    env = processes.env
    port = int(env["OUTREACH_PORT"])
    smtp.users[mail_account.user] = mail_account.password
    web = processes.start("web", "web")
    wait_for_port("127.0.0.1", port, timeout=20, proc=web, log_path=processes.logs / "web.log")
    processes.start("worker", "worker")
    processes.start("poller", "poller")
    logs = processes.logs_text
    browser = Browser(f"http://127.0.0.1:{port}", logs)

    # 1. A user in London; a contact in New York, on a list whose emails say "science policy".
    loop.sign_up_and_connect(browser, mail_account, dovecot, smtp, time_zone="Europe/London")
    browser.post(
        "/contacts",
        "/contacts",
        {
            "name": "Jordan Park",
            "email": "jordan.park@org.example",
            "how_found": "the alumni network",
            "why_you": "you moved from the lab into policy, as I hope to",
            "time_zone": "America/New_York",
        },
    )
    found = re.search(r'data-contact-id="(\d+)"', browser.get("/contacts"))
    assert found, "the contact was not added"
    browser.post(
        "/targets",
        "/targets",
        {
            "name": "Science policy (London list)",
            "field_phrase": "science policy",
            "contact_ids": [found.group(1)],
            "max_in_flight": "1",
            "wait_business_days": "7",
        },
    )
    (request_id,) = message_ids(browser.get("/drafts"), "request")
    browser.post(f"/drafts/{request_id}/approve", "/drafts", {})
    wait_until(lambda: len(smtp.messages) >= 1, 30, "the worker to send the request", logs)
    request = smtp.messages[0].message
    assert request["Subject"] == "Could I ask your advice about science policy?"
    sent_request = text_of(request)
    assert "I am writing to you in particular because you moved from the lab into policy" in (
        " ".join(sent_request.split())
    )
    assert "London list" not in sent_request + request["Subject"]

    engine = create_engine(env["OUTREACH_DATABASE_URL"])
    try:
        with Session(engine) as session:

            def request_header() -> str | None:
                session.expire_all()
                return session.get_one(Message, request_id).message_id

            wait_until(lambda: request_header() is not None, 20, "the send recorded", logs)
            request_message_id = request_header()
    finally:
        engine.dispose()
    assert request_message_id is not None

    # 2. Jordan answers with an invitation three days on at 14:00 London time; confirmed.
    day = (datetime.now(UTC) + timedelta(days=3)).astimezone(LONDON).date()
    starts = datetime(day.year, day.month, day.day, 14, 0, tzinfo=LONDON)
    dovecot.deliver(
        google_invitation(
            student=mail_account.user,
            in_reply_to=request_message_id,
            start=f"{day:%Y%m%d}T140000",
            end=f"{day:%Y%m%d}T143000",
        ),
        mail_account.user,
        sender="jordan.park@org.example",
    )
    proposed = r'data-meeting-id="(\d+)" data-status="proposed"'
    wait_until(
        lambda: re.search(proposed, browser.get("/meetings")) is not None,
        30,
        "the poller to read the invitation",
        logs,
    )
    meeting = re.search(proposed, browser.get("/meetings"))
    assert meeting
    browser.post(f"/meetings/{meeting.group(1)}/confirm", "/meetings", {})

    # 3. The day before, the worker drafts the confirmation; approved, it is sent.
    move_clock_to(clock_file, starts - timedelta(hours=23))
    wait_until(
        lambda: bool(message_ids(browser.get("/drafts"), "confirmation")),
        30,
        "the confirmation to be drafted the day before",
        logs,
    )
    (confirmation_id,) = message_ids(browser.get("/drafts"), "confirmation")
    browser.post(f"/drafts/{confirmation_id}/approve", "/drafts", {})
    wait_until(lambda: len(smtp.messages) >= 2, 30, "the worker to send the confirmation", logs)

    # 4. As sent: the day, London's time and New York's.
    there = starts.astimezone(NEW_YORK)
    when = f"{starts:%A} {starts.day} {starts:%B} at 14:00 London time, {there:%H:%M} in New York"
    confirmation = smtp.messages[1].message
    assert confirmation["To"] == "Jordan Park <jordan.park@org.example>"
    assert confirmation["Subject"] == f"Our conversation on {starts:%A} {starts.day} {starts:%B}"
    # The invitation carried a video link, which follows the time in brackets.
    assert f"confirm our conversation on {when} (" in " ".join(text_of(confirmation).split())
