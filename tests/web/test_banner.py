"""A mailbox that needs the user shows at the top of every page, with the way to fix it."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from cryptography.fernet import Fernet
from flask import Flask
from sqlalchemy import event
from sqlalchemy.orm import Session

from outreach.config import Settings
from outreach.crypto import SecretBox
from outreach.models import AuthMethod, Mailbox, MailboxStatus, User
from tests.factories import make_mailbox, make_user
from tests.servers.net import free_port
from tests.web.conftest import Browser
from web.state import EXTENSION_KEY

AUTHORIZE_URL = "https://accounts.provider.example/o/authorize"
PAGES = ["/", "/drafts", "/contacts", "/targets", "/meetings", "/templates", "/profile"]


@pytest.fixture
def settings(instance_dir: Path, database_url: str) -> Settings:
    """Google configured (its endpoints never reached here); Microsoft not configured."""
    dead = f"http://127.0.0.1:{free_port()}"
    return Settings.from_env(
        {
            "OUTREACH_INSTANCE_DIR": str(instance_dir),
            "OUTREACH_DATABASE_URL": database_url,
            "OUTREACH_SECRET_KEY": "test-secret-key",
            "OUTREACH_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
            "OUTREACH_GOOGLE_CLIENT_ID": "outreach-tests",
            "OUTREACH_GOOGLE_CLIENT_SECRET": "not-a-real-secret",
            "OUTREACH_GOOGLE_AUTHORIZE_URL": AUTHORIZE_URL,
            "OUTREACH_GOOGLE_TOKEN_URL": f"{dead}/token",
        }
    )


def oauth_mailbox(
    session: Session, user: User, box: SecretBox, provider: str, address: str
) -> Mailbox:
    """A mailbox signed in with `provider` whose grant was withdrawn: only signing in helps."""
    mailbox = make_mailbox(session, user, box, email_address=address, username=address)
    mailbox.auth_method = AuthMethod.OAUTH2
    mailbox.oauth_provider = provider
    mailbox.oauth_refresh_encrypted = box.encrypt("withdrawn-refresh-token")
    mailbox.status = MailboxStatus.NEEDS_SIGN_IN
    mailbox.sending_paused = True
    mailbox.last_error = "Google no longer accepts this sign-in: sign in again on the Mailbox page"
    session.commit()
    return mailbox


def refused_password(session: Session, user: User, box: SecretBox) -> Mailbox:
    mailbox = make_mailbox(session, user, box, email_address="sam@uni.example")
    mailbox.status = MailboxStatus.NEEDS_ATTENTION
    mailbox.sending_paused = True
    mailbox.last_error = "SMTP: the server refused the user name or password"
    session.commit()
    return mailbox


def banner(page: str) -> str:
    """The banner's HTML, or "" when the page has none."""
    start = page.find('<section id="mailbox-alerts"')
    return "" if start < 0 else page[start : page.index("</section>", start)]


def test_a_refused_password_shows_on_every_page_with_the_way_to_fix_it(
    signed_in: Browser, user: User, session: Session, secret_box: SecretBox
) -> None:
    mailbox = refused_password(session, user, secret_box)

    for path in PAGES:
        shown = banner(signed_in.page(path))
        assert "<strong>sam@uni.example needs your attention.</strong>" in shown, path
        assert "What went wrong: SMTP: the server refused the user name or password." in shown
        assert "Sending is paused until a connection test passes; nothing is lost." in shown
        assert f'href="/mailbox#mailbox-{mailbox.id}">Check the mailbox and test it</a>' in shown


def test_a_withdrawn_sign_in_offers_to_sign_in_again_from_any_page(
    signed_in: Browser, user: User, session: Session, secret_box: SecretBox
) -> None:
    oauth_mailbox(session, user, secret_box, "google", "sam@gmail.com")

    response = signed_in.get("/contacts")

    shown = banner(response.get_data(as_text=True))
    assert "Google no longer accepts Outreach's sign-in for sam@gmail.com." in shown
    assert "Sending and watching for replies are paused until you sign in again" in shown
    assert 'action="/mailboxes/oauth/google/start"' in shown
    assert 'name="login_hint" value="sam@gmail.com"' in shown
    assert ">Sign in again with Google</button>" in shown
    # Without this, Chromium stops the start form at its redirect to Google.
    policy = response.headers["Content-Security-Policy"]
    assert "form-action 'self' https://accounts.provider.example;" in policy

    started = signed_in.post(
        "/mailboxes/oauth/google/start", {"login_hint": "sam@gmail.com"}, page="/contacts"
    )
    assert started.status_code == 303
    location = urlsplit(started.headers["Location"])
    assert location.geturl().startswith(AUTHORIZE_URL)
    assert parse_qs(location.query)["login_hint"] == ["sam@gmail.com"]


def test_a_provider_no_longer_set_up_is_said_plainly(
    signed_in: Browser, user: User, session: Session, secret_box: SecretBox
) -> None:
    oauth_mailbox(session, user, secret_box, "microsoft", "sam@outlook.com")

    response = signed_in.get("/")

    shown = banner(response.get_data(as_text=True))
    assert "Microsoft no longer accepts Outreach's sign-in for sam@outlook.com." in shown
    assert "Sign-in with Microsoft is no longer set up on this Outreach" in shown
    assert "/oauth/" not in shown
    assert "form-action 'self';" in response.headers["Content-Security-Policy"]


def test_a_working_mailbox_shows_no_banner(
    signed_in: Browser, user: User, session: Session, secret_box: SecretBox
) -> None:
    make_mailbox(session, user, secret_box)
    session.commit()

    response = signed_in.get("/")

    assert banner(response.get_data(as_text=True)) == ""
    assert "form-action 'self';" in response.headers["Content-Security-Policy"]


def test_another_users_mailbox_is_not_shown(
    signed_in: Browser, session: Session, secret_box: SecretBox
) -> None:
    refused_password(session, make_user(session), secret_box)

    assert banner(signed_in.page("/")) == ""


def test_the_mailbox_and_outbox_pages_do_not_say_it_twice(
    signed_in: Browser, user: User, session: Session, secret_box: SecretBox
) -> None:
    refused_password(session, user, secret_box)

    mailbox_page = signed_in.page("/mailbox")
    outbox_page = signed_in.page("/outbox")

    # The Mailbox page says it in the mailbox's row, the Outbox in its own notice.
    assert banner(mailbox_page) == "" and "needs attention" in mailbox_page
    assert banner(outbox_page) == "" and "is paused" in outbox_page


def test_the_outbox_still_offers_to_sign_in_again(
    signed_in: Browser, user: User, session: Session, secret_box: SecretBox
) -> None:
    oauth_mailbox(session, user, secret_box, "google", "sam@gmail.com")

    shown = banner(signed_in.page("/outbox"))

    assert ">Sign in again with Google</button>" in shown


def test_the_banner_costs_one_query_per_page(
    signed_in: Browser, app: Flask, user: User, session: Session, secret_box: SecretBox
) -> None:
    refused_password(session, user, secret_box)
    engine = app.extensions[EXTENSION_KEY].engine
    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        page = signed_in.page("/")
    finally:
        event.remove(engine, "before_cursor_execute", record)

    assert banner(page) != ""
    asked = [s for s in statements if "FROM mailboxes" in s and "mailboxes.status IN" in s]
    assert len(asked) == 1, asked


def test_the_login_page_shows_nothing_of_anyones_mailbox(
    browser: Browser, user: User, session: Session, secret_box: SecretBox
) -> None:
    refused_password(session, user, secret_box)

    assert banner(browser.page("/login")) == ""


def test_a_kept_board_still_lets_the_banner_sign_in_again(
    signed_in: Browser, app: Flask, user: User, session: Session, secret_box: SecretBox
) -> None:
    oauth_mailbox(session, user, secret_box, "google", "sam@gmail.com")
    signed_in.get("/")
    hits = app.extensions[EXTENSION_KEY].board_pages.hits

    response = signed_in.get("/")  # the page kept from the first

    assert app.extensions[EXTENSION_KEY].board_pages.hits == hits + 1
    assert ">Sign in again with Google</button>" in banner(response.get_data(as_text=True))
    policy = response.headers["Content-Security-Policy"]
    assert "form-action 'self' https://accounts.provider.example;" in policy
