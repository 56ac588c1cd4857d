"""Reply, meeting, confirmation the day before, thank-you after, referral: real processes.

The dashboard, an `outreach worker` (whose periodic job runs the cycle's
scheduler, meetings included) and an `outreach poller` run against the test
SMTP and IMAP servers. The contact answers with a Google Calendar invitation;
the user confirms it; time is moved forward through OUTREACH_CLOCK_OFFSET_FILE
to the day before (a confirmation is drafted), then past the meeting's end (the
contact is "met" and a thank-you is drafted). The notes fill in the thank-you,
which is sent; a name from the notes becomes a contact whose request names the
referrer. Runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from outreach.clock import travel
from outreach.models import Message, MessageStatus
from tests.e2e import test_loop as loop
from tests.e2e.test_loop import Browser, Processes, wait_until
from tests.servers.dovecot import DovecotServer
from tests.servers.fixtures import MailAccount
from tests.servers.net import wait_for_port
from tests.servers.smtpd import RecordingSMTPServer
from tests.unit.test_invitations import google_invitation

# The loop's fixtures: a fresh database (SQLite, then PostgreSQL) and the process set.
processes = loop.processes

LONDON = ZoneInfo("Europe/London")


def move_clock_to(path: Path, moment: datetime) -> None:
    """Every process's clock reads `moment` now (and runs on from there)."""
    current = float(path.read_text() or 0) if path.exists() else 0.0
    travel(path, moment - (datetime.now(UTC) + timedelta(seconds=current)))


def message_ids(page: str, kind: str) -> list[int]:
    return [
        int(found)
        for found in re.findall(r'data-message-id="(\d+)"[^>]*data-kind="' + kind + '"', page)
    ]


def test_reply_with_invitation_meeting_confirmation_thank_you_and_referral(
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

    # 1. The user, their mailbox, a contact on a target; the request is approved and sent.
    loop.sign_up_and_connect(browser, mail_account, dovecot, smtp, time_zone="Europe/London")
    browser.post(
        "/contacts",
        "/contacts",
        {
            "name": "Alex Lee",
            "email": "alex.lee@org.example",
            "organisation": "Example Institute",
            "how_found": "the alumni network",
        },
    )
    found = re.search(r'data-contact-id="(\d+)"', browser.get("/contacts"))
    assert found, "the contact was not added"
    alex = found.group(1)
    browser.post(
        "/targets",
        "/targets",
        {
            "name": "Science policy",
            "field_phrase": "science policy",
            "contact_ids": [alex],
            "max_in_flight": "1",
            "wait_business_days": "7",
        },
    )
    (request_id,) = message_ids(browser.get("/drafts"), "request")
    browser.post(f"/drafts/{request_id}/approve", "/drafts", {})
    wait_until(lambda: len(smtp.messages) >= 1, 30, "the worker to send the request", logs)

    engine = create_engine(env["OUTREACH_DATABASE_URL"])
    try:
        with Session(engine) as session:

            def status_of(message_id: int) -> MessageStatus:
                session.expire_all()
                return session.get_one(Message, message_id).status

            wait_until(
                lambda: status_of(request_id) is MessageStatus.SENT, 20, "the send recorded", logs
            )
            request = session.get_one(Message, request_id)
            request_message_id = request.message_id
    finally:
        engine.dispose()
    assert request_message_id is not None

    # 2. Alex answers with a Google Calendar invitation, three days on at 14:00 London time.
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
        sender="alex.lee@org.example",
    )
    proposed = r'data-meeting-id="(\d+)" data-status="proposed"'
    wait_until(
        lambda: re.search(proposed, browser.get("/meetings")) is not None,
        30,
        "the poller to read the invitation",
        logs,
    )
    found = re.search(proposed, browser.get("/meetings"))
    assert found
    meeting_id = found.group(1)
    assert re.search(f'data-contact-id="{alex}"[^>]*data-state="replied"', browser.get("/")), (
        "the reply did not mark Alex as replied"
    )

    # 3. The user confirms it: Alex shows "meeting set".
    browser.post(f"/meetings/{meeting_id}/confirm", "/meetings", {})
    assert re.search(f'data-contact-id="{alex}"[^>]*data-state="meeting_set"', browser.get("/"))

    # 4. The day before, the worker's scheduler drafts the confirmation, once.
    move_clock_to(clock_file, starts - timedelta(hours=23))
    wait_until(
        lambda: bool(message_ids(browser.get("/drafts"), "confirmation")),
        30,
        "the confirmation to be drafted the day before",
        logs,
    )
    time.sleep(1.5)  # a few more scheduler rounds: still one confirmation
    drafts_page = browser.get("/drafts")
    assert len(message_ids(drafts_page, "confirmation")) == 1
    assert f"{starts:%A} {starts.day} {starts:%B} at 14:00" in drafts_page

    # 5. After the meeting's end: "met", and a thank-you draft waiting for the notes.
    move_clock_to(clock_file, starts + timedelta(minutes=31))
    wait_until(
        lambda: (
            re.search(f'data-contact-id="{alex}"[^>]*data-state="met"', browser.get("/"))
            is not None
        ),
        30,
        "the meeting to be held and Alex to show as met",
        logs,
    )
    drafts_page = browser.get("/drafts")
    (thank_you_id,) = message_ids(drafts_page, "thank_you")
    assert not message_ids(drafts_page, "confirmation")  # an unsent confirmation is moot now
    assert re.search(
        f'data-message-id="{thank_you_id}"[^>]*data-has-problem="true"', drafts_page
    ), "the thank-you should wait for something specific from the notes"

    # 6. The notes fill in the thank-you; approved, the worker sends it: "thanked".
    page = browser.post(
        f"/meetings/{meeting_id}/notes",
        f"/meetings/{meeting_id}/notes",
        {
            "specific_detail": "your advice to write for the institute's blog",
            "learned": "Policy work is mostly careful writing.",
            "answer_advice": "Write every week.",
        },
    )
    assert "Your thank-you is ready to review in Drafts." in page
    browser.post(f"/drafts/{thank_you_id}/approve", "/drafts", {})
    wait_until(lambda: len(smtp.messages) >= 2, 30, "the worker to send the thank-you", logs)
    thank_you = smtp.messages[1].message
    assert thank_you["To"] == "Alex Lee <alex.lee@org.example>"
    assert "I especially appreciated your advice to write for the institute's blog." in str(
        thank_you.get_payload()
    )
    wait_until(
        lambda: (
            re.search(f'data-contact-id="{alex}"[^>]*data-state="thanked"', browser.get("/"))
            is not None
        ),
        20,
        "Alex to show as thanked",
        logs,
    )

    # 7. A name Alex suggested becomes a contact; their request names Alex.
    browser.post(
        f"/meetings/{meeting_id}/referrals",
        f"/meetings/{meeting_id}/notes",
        {
            "name": "Rosa Parks",
            "email": "rosa.parks@agency.example",
            "organisation": "The Agency",
            "add_to_list": "y",
        },
    )
    drafts_page = browser.get("/drafts")
    requests = message_ids(drafts_page, "request")
    assert len(requests) == 1, drafts_page
    assert "Alex Lee suggested I get in touch with you." in drafts_page

    # 8. The interview record, from the command line.
    export = subprocess.run(
        [sys.executable, "-m", "outreach.cli", "interviews", "export", "--csv"],
        env={**env, "OUTREACH_USER": mail_account.user},
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    assert export.startswith("name,email,role,organisation,target,date,time,")
    assert "Alex Lee,alex.lee@org.example" in export
    assert "Write every week." in export
    assert "Rosa Parks <rosa.parks@agency.example>" in export
