"""The whole loop through real processes: dashboard, RQ worker and IMAP poller.

A person signs up, connects a mailbox, adds a contact and a target, and approves
the drafted request in the dashboard. A real `outreach worker` sends it over
SMTP; the contact's reply is delivered into Dovecot over LMTP; a real
`outreach poller` finds it and the status board shows the contact as replied.
Runs on a fresh SQLite file and on a fresh PostgreSQL database.
"""

from __future__ import annotations

import http.cookiejar
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from redis import Redis
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from outreach.models import Message, MessageStatus
from tests.servers.dovecot import DovecotServer
from tests.servers.fixtures import MailAccount
from tests.servers.net import free_port, log_tail, wait_for_port
from tests.servers.redis import RedisServer
from tests.servers.smtpd import RecordingSMTPServer
from tests.servers.tls import TlsFiles

CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


@dataclass
class Processes:
    env: dict[str, str]
    logs: Path
    started: list[tuple[str, subprocess.Popen[bytes]]]

    def start(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        log = open(self.logs / f"{name}.log", "wb")  # noqa: SIM115 - closed with the process
        proc = subprocess.Popen(
            [sys.executable, "-m", "outreach.cli", *args],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log.close()
        self.started.append((name, proc))
        return proc

    def run(self, *args: str) -> None:
        subprocess.run(
            [sys.executable, "-m", "outreach.cli", *args],
            env=self.env,
            check=True,
            capture_output=True,
            timeout=120,
        )

    def logs_text(self) -> str:
        return "\n".join(
            f"--- {name} ---\n{log_tail(self.logs / f'{name}.log', 30)}" for name, _ in self.started
        )

    def stop_all(self) -> None:
        for _name, proc in self.started:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for _name, proc in self.started:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


class Browser:
    """A tiny HTTP client with a cookie jar that posts forms with their CSRF token."""

    def __init__(self, base: str, logs: Callable[[], str]) -> None:
        self.base = base
        self.logs = logs
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
        )

    def _open(self, path: str, data: bytes | None = None) -> str:
        try:
            with self.opener.open(self.base + path, data=data, timeout=30) as response:
                return str(response.read().decode())
        except urllib.error.HTTPError as error:
            raise AssertionError(f"{path} answered {error.code}\n{self.logs()}") from None

    def get(self, path: str) -> str:
        return self._open(path)

    def post(self, path: str, form_page: str, fields: dict[str, str | list[str]]) -> str:
        token = CSRF.search(self.get(form_page))
        assert token, f"no CSRF token on {form_page}"
        data = urllib.parse.urlencode({**fields, "csrf_token": token.group(1)}, doseq=True)
        return self._open(path, data.encode())


def sign_up_and_connect(
    browser: Browser,
    mail_account: MailAccount,
    dovecot: DovecotServer,
    smtp: RecordingSMTPServer,
    **profile: str,
) -> str:
    """Sign up through the dashboard, introduce yourself, connect the test mailbox.

    Returns the Mailbox page the last step lands on; `profile` adds profile fields.
    """
    browser.post(
        "/signup",
        "/signup",
        {"name": "Sam Student", "email": mail_account.user, "password": "a long passphrase"},
    )
    browser.post("/login", "/login", {"email": mail_account.user, "password": "a long passphrase"})
    browser.post(
        "/profile",
        "/profile",
        {
            "name": "Sam Student",
            "introduction": "I am finishing a biology degree and exploring science policy.",
            "signature": "Sam Student",
            **profile,
        },
    )
    return browser.post(
        "/mailbox",
        "/mailbox",
        {
            "email_address": mail_account.user,
            "display_name": "Sam Student",
            "imap_host": "127.0.0.1",
            "imap_port": str(dovecot.imap_port),
            "imap_tls": "starttls",
            "smtp_host": "127.0.0.1",
            "smtp_port": str(smtp.port),
            "smtp_tls": "starttls",
            "username": mail_account.user,
            "password": mail_account.password,
        },
    )


def wait_until(
    check: Callable[[], bool], timeout: float, what: str, logs: Callable[[], str]
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}\n{logs()}")


@pytest.fixture
def processes(
    tmp_path: Path,
    e2e_database: str,
    redis_server: RedisServer,
    tls_files: TlsFiles,
) -> Iterator[Processes]:
    redis = Redis.from_url(redis_server.url)
    redis.flushdb()
    env = {
        **os.environ,
        "OUTREACH_INSTANCE_DIR": str(tmp_path / "instance"),
        "OUTREACH_DATABASE_URL": e2e_database,
        "OUTREACH_REDIS_URL": redis_server.url,
        "OUTREACH_SECRET_KEY": "e2e-secret",
        "OUTREACH_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "OUTREACH_CA_FILE": str(tls_files.ca_pem),
        "OUTREACH_POLL_INTERVAL": "0.5",
        "OUTREACH_PORT": str(free_port()),
    }
    logs = tmp_path / "logs"
    logs.mkdir()
    procs = Processes(env, logs, [])
    procs.run("db", "upgrade")
    try:
        yield procs
    finally:
        procs.stop_all()
        redis.flushdb()
        redis.close()


def test_request_is_sent_once_and_the_reply_shows_on_the_board(
    processes: Processes,
    smtp: RecordingSMTPServer,
    dovecot: DovecotServer,
    mail_account: MailAccount,
) -> None:
    env = processes.env
    port = int(env["OUTREACH_PORT"])
    smtp.users[mail_account.user] = mail_account.password
    web = processes.start("web", "web")
    wait_for_port("127.0.0.1", port, timeout=20, proc=web, log_path=processes.logs / "web.log")
    processes.start("worker", "worker")
    processes.start("poller", "poller")
    browser = Browser(f"http://127.0.0.1:{port}", processes.logs_text)

    # 1. Sign up, introduce yourself, connect the mailbox.
    page = sign_up_and_connect(browser, mail_account, dovecot, smtp)
    assert 'data-mailbox-id="' in page, page

    # 2. A contact, and a target holding them: the request is drafted at once.
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
    contact_id = re.search(r'data-contact-id="(\d+)"', browser.get("/contacts"))
    assert contact_id, "the contact was not added"
    browser.post(
        "/targets",
        "/targets",
        {
            "name": "Science policy",
            "field_phrase": "science policy",
            "contact_ids": [contact_id.group(1)],
            "max_in_flight": "1",
            "wait_business_days": "7",
        },
    )
    drafts_page = browser.get("/drafts")
    draft = re.search(r'data-message-id="(\d+)"', drafts_page)
    assert draft, drafts_page
    draft_id = int(draft.group(1))
    assert 'data-has-problem="false"' in drafts_page

    # 3. Approve it in the dashboard; the worker process sends it.
    browser.post(f"/drafts/{draft_id}/approve", "/drafts", {})
    logs = processes.logs_text
    wait_until(lambda: len(smtp.messages) >= 1, 30, "the worker to send the request", logs)
    time.sleep(1.5)  # anything sent twice would arrive in this time
    (received,) = smtp.messages

    engine = create_engine(env["OUTREACH_DATABASE_URL"])
    try:
        with Session(engine) as session:
            stored = session.scalar(select(Message).where(Message.id == draft_id))
            assert stored is not None

            def recorded_sent() -> bool:
                session.expire_all()
                return stored.status is MessageStatus.SENT

            wait_until(
                recorded_sent,
                20,
                "the send to be recorded",
                logs,
            )
            message_id, subject = stored.message_id, stored.subject
    finally:
        engine.dispose()
    sent = received.message
    assert received.rcpt_tos == ["alex.lee@org.example"]
    assert received.mail_from == mail_account.user
    assert sent["From"] == f"Sam Student <{mail_account.user}>"
    assert sent["To"] == "Alex Lee <alex.lee@org.example>"
    assert sent["Subject"] == subject
    assert sent["Message-ID"] == message_id
    assert abs(time.time() - parsedate_to_datetime(sent["Date"]).timestamp()) < 120
    assert 'data-state="waiting"' in browser.get("/")

    # 4. Alex replies; the mail reaches the INBOX as from a real MTA.
    reply = (
        f"From: Alex Lee <alex.lee@org.example>\r\nTo: {mail_account.user}\r\n"
        f"Subject: Re: {subject}\r\nMessage-ID: <reply-1@org.example>\r\n"
        f"In-Reply-To: {message_id}\r\nReferences: {message_id}\r\n"
        "Date: Tue, 24 Nov 2026 12:00:00 +0000\r\n\r\nHappy to talk next week.\r\n"
    ).encode()
    dovecot.deliver(reply, mail_account.user, sender="alex.lee@org.example")

    board = f'data-contact-id="{contact_id.group(1)}"'
    wait_until(
        lambda: re.search(board + r'[^>]*data-state="replied"', browser.get("/")) is not None,
        30,
        "the poller to mark the contact as replied",
        logs,
    )
    (message,) = dovecot.snapshot(mail_account.user, mail_account.password)
    assert b"\\Seen" not in message[2], "the poller marked the reply as read"
    assert "Happy to talk next week." in browser.get(f"/contacts/{contact_id.group(1)}")
