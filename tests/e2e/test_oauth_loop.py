"""The whole loop on OAuth2 through real processes, then the grant withdrawn mid-run.

A person signs up and connects their mailbox with "Sign in with Google", where
Google is the suite's authorization server on 127.0.0.1 (consent by password on
its page). A real `outreach worker` sends the approved request to the SMTP server
that accepts XOAUTH2 only for tokens the authorization server calls active; the
reply is delivered into the Dovecot that checks tokens the same way; a real
`outreach poller` finds it. Then the person withdraws Outreach's access: the next
send finds the mailbox needing a new sign-in, the dashboard says so, and the
message waits, queued. Signing in again sends it. Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import http.cookiejar
import os
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from redis import Redis
from sqlalchemy import Engine, create_engine, select
from sqlalchemy.orm import Session

from outreach.models import AuthMethod, Mailbox, MailboxStatus, Message, MessageStatus
from tests.e2e.test_loop import Processes, wait_until
from tests.servers.dovecot import OAuthDovecotServer
from tests.servers.fixtures import MailAccount, oauth_env
from tests.servers.net import free_port, wait_for_port
from tests.servers.oauth import OAuthServer
from tests.servers.redis import RedisServer
from tests.servers.smtpd import OAuthSMTPServer
from tests.servers.tls import TlsFiles

CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


class Browser:
    """An HTTP client with a cookie jar, following redirects as a browser does."""

    def __init__(self, base: str, logs: Callable[[], str]) -> None:
        self.base = base
        self.logs = logs
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
        )

    def open(self, url: str, fields: dict[str, str | list[str]] | None = None) -> tuple[str, str]:
        """GET (or POST `fields`) `url`, a path here or a full URL; the final URL and page."""
        target = url if url.startswith("http") else self.base + url
        data = urllib.parse.urlencode(fields, doseq=True).encode() if fields is not None else None
        try:
            with self.opener.open(target, data=data, timeout=60) as response:
                return str(response.geturl()), str(response.read().decode())
        except urllib.error.HTTPError as error:
            raise AssertionError(f"{target} answered {error.code}\n{self.logs()}") from None

    def get(self, path: str) -> str:
        return self.open(path)[1]

    def post(self, path: str, form_page: str, fields: dict[str, str | list[str]]) -> str:
        return self.submit(path, form_page, fields)[1]

    def submit(
        self, path: str, form_page: str, fields: dict[str, str | list[str]]
    ) -> tuple[str, str]:
        token = CSRF.search(self.get(form_page))
        assert token, f"no CSRF token on {form_page}"
        return self.open(path, {**fields, "csrf_token": token.group(1)})

    def sign_in_with_google(self, account: MailAccount, authorize_url: str) -> str:
        """Press "Sign in with Google" and allow access on the provider's page; the page after."""
        consent_url, consent = self.submit(
            "/mailboxes/oauth/google/start", "/mailbox", {"login_hint": account.user}
        )
        assert consent_url.startswith(authorize_url + "?"), (consent_url, consent)
        assert 'id="allow"' in consent
        landed, page = self.open(
            consent_url,
            {"username": account.user, "password": account.password, "action": "allow"},
        )
        assert landed == f"{self.base}/mailbox", (landed, page)
        return page


@pytest.fixture
def processes(
    tmp_path: Path,
    e2e_database: str,
    redis_server: RedisServer,
    tls_files: TlsFiles,
    oauth_server: OAuthServer,
    oauth_dovecot: OAuthDovecotServer,
    oauth_smtp: OAuthSMTPServer,
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
        "OUTREACH_POLL_INTERVAL": "0.5",
        "OUTREACH_SWEEP_INTERVAL": "1",
        "OUTREACH_PORT": str(free_port()),
        # Google is the suite's authorization server; its mail servers check its tokens.
        **oauth_env("google", oauth_server, oauth_dovecot, oauth_smtp, tls_files),
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


def stored(engine: Engine, message_id: int) -> Message:
    with Session(engine, expire_on_commit=False) as session:
        message = session.get(Message, message_id)
        assert message is not None
        return message


def the_mailbox(engine: Engine) -> Mailbox:
    with Session(engine, expire_on_commit=False) as session:
        mailbox: Mailbox | None = session.scalar(select(Mailbox))
        assert mailbox is not None
        return mailbox


def test_the_loop_runs_on_oauth2_and_survives_a_withdrawn_grant(
    processes: Processes,
    oauth_server: OAuthServer,
    oauth_dovecot: OAuthDovecotServer,
    oauth_smtp: OAuthSMTPServer,
    oauth_account: MailAccount,
) -> None:
    env = processes.env
    port = int(env["OUTREACH_PORT"])
    web = processes.start("web", "web")
    wait_for_port("127.0.0.1", port, timeout=20, proc=web, log_path=processes.logs / "web.log")
    processes.start("worker", "worker")
    processes.start("poller", "poller")
    logs = processes.logs_text
    browser = Browser(f"http://127.0.0.1:{port}", logs)
    user = oauth_account.user

    # 1. Sign up, introduce yourself, sign in with Google.
    browser.post(
        "/signup",
        "/signup",
        {"name": "Sam Student", "email": user, "password": "a long passphrase"},
    )
    browser.post("/login", "/login", {"email": user, "password": "a long passphrase"})
    browser.post(
        "/profile",
        "/profile",
        {
            "name": "Sam Student",
            "introduction": "I am finishing a biology degree and exploring science policy.",
            "signature": "Sam Student",
        },
    )
    page = browser.sign_in_with_google(oauth_account, oauth_server.authorize_url)
    assert f"Connected {user} with Google." in page, page
    assert "Both servers accepted the sign-in" in page, page
    assert 'data-status="ok"' in page

    engine = create_engine(env["OUTREACH_DATABASE_URL"])
    try:
        mailbox = the_mailbox(engine)
        assert mailbox.auth_method is AuthMethod.OAUTH2
        assert (mailbox.imap_port, mailbox.smtp_port) == (oauth_dovecot.imap_port, oauth_smtp.port)
        # No gap between messages, so the second one is not held back by the pace.
        pace = f"pace-{mailbox.id}-"
        browser.post(
            f"/mailbox/{mailbox.id}/pace",
            "/mailbox",
            {
                pace + "daily_cap": "30",
                pace + "days": [str(day) for day in range(7)],
                pace + "start_hour": "0",
                pace + "end_hour": "24",
                pace + "min_gap": "0",
                pace + "max_gap": "0",
            },
        )
        assert the_mailbox(engine).max_gap_seconds == 0

        # 2. Two contacts at two organisations on one target: both requests are drafted.
        for name, address, organisation in [
            ("Alex Lee", "alex.lee@org.example", "Example Institute"),
            ("Bo Chen", "bo@policy.example", "Policy Lab"),
        ]:
            browser.post(
                "/contacts",
                "/contacts",
                {
                    "name": name,
                    "email": address,
                    "organisation": organisation,
                    "how_found": "the alumni network",
                },
            )
        contact_ids = re.findall(r'data-contact-id="(\d+)"', browser.get("/contacts"))
        assert len(set(contact_ids)) == 2, contact_ids
        browser.post(
            "/targets",
            "/targets",
            {
                "name": "Science policy",
                "field_phrase": "science policy",
                "contact_ids": sorted(set(contact_ids)),
                "max_in_flight": "2",
                "wait_business_days": "7",
            },
        )
        drafts = [
            int(found) for found in re.findall(r'data-message-id="(\d+)"', browser.get("/drafts"))
        ]
        first, second = sorted(set(drafts))

        # 3. Approve the first: the worker sends it with an XOAUTH2 login.
        browser.post(f"/drafts/{first}/approve", "/drafts", {})
        wait_until(lambda: len(oauth_smtp.messages) >= 1, 30, "the worker to send", logs)
        wait_until(lambda: stored(engine, first).status is MessageStatus.SENT, 20, "the send", logs)
        sent = stored(engine, first)
        (received,) = oauth_smtp.messages
        assert received.mail_from == user
        assert received.message["Message-ID"] == sent.message_id

        # 4. The reply lands in the INBOX; the poller (XOAUTH2 over IMAP) matches it.
        reply = (
            f"From: {received.message['To']}\r\nTo: {user}\r\n"
            f"Subject: Re: {sent.subject}\r\nMessage-ID: <reply-oauth@org.example>\r\n"
            f"In-Reply-To: {sent.message_id}\r\nReferences: {sent.message_id}\r\n"
            "Date: Tue, 24 Nov 2026 12:00:00 +0000\r\n\r\nHappy to talk on Thursday.\r\n"
        ).encode()
        oauth_dovecot.deliver(reply, user, sender=received.rcpt_tos[0])
        replied = re.compile(r'data-contact-id="\d+"[^>]*data-state="replied"')
        wait_until(
            lambda: replied.search(browser.get("/")) is not None,
            30,
            "the poller to mark the contact as replied",
            logs,
        )

        # 5. The person withdraws Outreach's access at Google; then approves the second.
        oauth_server.revoke_account(user)
        browser.post(f"/drafts/{second}/approve", "/drafts", {})
        wait_until(
            lambda: the_mailbox(engine).status is MailboxStatus.NEEDS_SIGN_IN,
            30,
            "the mailbox to be marked as needing a new sign-in",
            logs,
        )
        time.sleep(1.5)  # a sweep or two: the message must stay put
        waiting = stored(engine, second)
        assert waiting.status is MessageStatus.QUEUED, waiting.status
        assert "sign in again" in (waiting.waiting_reason or ""), waiting.waiting_reason
        assert len(oauth_smtp.messages) == 1
        assert the_mailbox(engine).sending_paused
        page = browser.get("/mailbox")
        assert 'data-status="needs_sign_in"' in page
        assert "Google no longer accepts Outreach" in page
        assert "Sign in again with Google" in page
        # The Outbox says why the message waits, and the banner how to fix it (not a password).
        outbox = browser.get("/outbox")
        assert "sign in again" in outbox and "Sign in again with Google" in outbox
        assert "refused the password" not in outbox

        # 6. Signing in again picks up where it stopped: the waiting message goes out once.
        page = browser.sign_in_with_google(oauth_account, oauth_server.authorize_url)
        assert f"Connected {user} with Google." in page, page
        wait_until(lambda: len(oauth_smtp.messages) >= 2, 30, "the waiting message to go", logs)
        wait_until(
            lambda: stored(engine, second).status is MessageStatus.SENT, 20, "the send", logs
        )
        time.sleep(1.5)  # anything sent twice would arrive in this time
        assert len(oauth_smtp.messages) == 2
        assert the_mailbox(engine).status is MailboxStatus.OK
    finally:
        engine.dispose()
