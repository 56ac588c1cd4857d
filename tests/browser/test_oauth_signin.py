"""Sign in with Google, clicked in headless Chromium against the suite's own provider.

"Google" is the test authorization server on 127.0.0.1 (tests/servers/oauth.py):
its consent page takes the account's password. The mailbox it connects lives on
the Dovecot and SMTP server that check XOAUTH2 tokens with that server, so the
connection test the dashboard runs after signing in is a real one.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from playwright.sync_api import ConsoleMessage, Page, expect
from sqlalchemy import select

from outreach.config import Settings
from outreach.crypto import SecretBox
from outreach.models import AuthMethod, Mailbox, MailboxStatus
from tests.browser.conftest import LiveApp
from tests.browser.live import log_in
from tests.servers.dovecot import OAuthDovecotServer
from tests.servers.fixtures import MailAccount, oauth_env
from tests.servers.oauth import OAuthServer
from tests.servers.smtpd import OAuthSMTPServer
from tests.servers.tls import TlsFiles

pytestmark = pytest.mark.browser

SHOTS = Path("/tmp/shots")


@pytest.fixture
def settings(
    instance_dir: Path,
    database_url: str,
    oauth_server: OAuthServer,
    oauth_dovecot: OAuthDovecotServer,
    oauth_smtp: OAuthSMTPServer,
    tls_files: TlsFiles,
) -> Settings:
    """The dashboard's settings with Google pointed at the suite's authorization server."""
    return Settings.from_env(
        {
            "OUTREACH_INSTANCE_DIR": str(instance_dir),
            "OUTREACH_DATABASE_URL": database_url,
            "OUTREACH_SECRET_KEY": "test-secret-key",
            "OUTREACH_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
            **oauth_env("google", oauth_server, oauth_dovecot, oauth_smtp, tls_files),
        }
    )


@pytest.fixture
def csp_violations(page: Page) -> Iterator[list[str]]:
    """Everything the browser refused under the page's Content-Security-Policy."""
    seen: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text:
            seen.append(message.text)

    page.on("console", on_console)
    yield seen


def shoot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SHOTS / f"{name}.png", full_page=True)


def test_signing_in_with_google_connects_the_mailbox(
    page: Page,
    live_app: LiveApp,
    oauth_account: MailAccount,
    oauth_server: OAuthServer,
    secret_box: SecretBox,
    csp_violations: list[str],
) -> None:
    log_in(page, live_app.url, live_app.seeded.email)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Mailbox").click()
    shoot(page, "oauth-1-mailbox-page")

    page.get_by_role("button", name="Sign in with Google").click()

    # The provider's consent page, at the test authorization server.
    expect(page).to_have_url(re.compile(re.escape(oauth_server.authorize_url) + r"\?"))
    expect(page.locator('input[name="username"]')).to_have_value(live_app.seeded.email)
    page.locator('input[name="username"]').fill(oauth_account.user)
    page.locator('input[name="password"]').fill(oauth_account.password)
    shoot(page, "oauth-2-consent")
    page.locator("#allow").click()

    expect(page).to_have_url(f"{live_app.url}/mailbox")
    flashes = page.locator("#flashes").get_by_role("status")
    expect(flashes.first).to_have_text(f"Connected {oauth_account.user} with Google.")
    expect(flashes.nth(1)).to_contain_text("Both servers accepted the sign-in")
    row = page.locator("#mailboxes tbody tr").filter(has_text=oauth_account.user)
    expect(row).to_have_attribute("data-status", "ok")
    expect(row.locator(".sign-in-method")).to_have_text("Connected with Google")
    expect(row.locator(".status")).to_have_text("ok")
    expect(row.get_by_text("Change the password")).to_have_count(0)
    shoot(page, "oauth-3-connected")
    assert csp_violations == []

    with live_app.sessions() as session:
        mailbox = session.scalar(select(Mailbox).where(Mailbox.email_address == oauth_account.user))
        assert mailbox is not None
        assert mailbox.auth_method is AuthMethod.OAUTH2
        assert mailbox.oauth_provider == "google"
        assert mailbox.status is MailboxStatus.OK and not mailbox.sending_paused
        assert mailbox.sent_folder is not None
        assert mailbox.oauth_refresh_encrypted is not None
        refresh_token = secret_box.decrypt(mailbox.oauth_refresh_encrypted)
        # Stored encrypted, never in clear.
        assert refresh_token and refresh_token not in mailbox.oauth_refresh_encrypted


def test_denying_access_at_google_connects_nothing(
    page: Page,
    live_app: LiveApp,
    oauth_account: MailAccount,
    csp_violations: list[str],
) -> None:
    log_in(page, live_app.url, live_app.seeded.email)
    page.goto("/mailbox")

    page.get_by_role("button", name="Sign in with Google").click()
    page.locator("#deny").click()

    expect(page).to_have_url(f"{live_app.url}/mailbox")
    expect(page.locator("#flashes").get_by_role("alert")).to_have_text(
        "You did not allow access to your mailbox at Google, so nothing was connected. "
        "To connect it, sign in again and choose Allow."
    )
    expect(page.locator("#mailboxes")).not_to_contain_text(oauth_account.user)
    shoot(page, "oauth-4-denied")
    assert csp_violations == []
    with live_app.sessions() as session:
        assert (
            session.scalar(select(Mailbox).where(Mailbox.email_address == oauth_account.user))
            is None
        )


def consent(page: Page, account: MailAccount) -> None:
    page.locator('input[name="username"]').fill(account.user)
    page.locator('input[name="password"]').fill(account.password)
    page.locator("#allow").click()


def test_a_withdrawn_grant_asks_to_sign_in_again_and_signing_in_resumes(
    page: Page,
    live_app: LiveApp,
    oauth_account: MailAccount,
    oauth_server: OAuthServer,
    csp_violations: list[str],
) -> None:
    log_in(page, live_app.url, live_app.seeded.email)
    page.goto("/mailbox")
    page.get_by_role("button", name="Sign in with Google").click()
    consent(page, oauth_account)
    row = page.locator("#mailboxes tbody tr").filter(has_text=oauth_account.user)
    expect(row).to_have_attribute("data-status", "ok")

    # The person removes Outreach's access in their Google account.
    oauth_server.revoke_account(oauth_account.user)
    row.get_by_role("button", name="Test connection").click()

    expect(row).to_have_attribute("data-status", "needs_sign_in")
    expect(row.locator(".status")).to_have_text("sign in again")
    expect(row.locator(".sign-in-again")).to_contain_text(
        "Sending and watching for replies are paused until you sign in again; nothing is lost."
    )
    shoot(page, "oauth-5-sign-in-again")
    with live_app.sessions() as session:
        mailbox = session.scalar(select(Mailbox).where(Mailbox.email_address == oauth_account.user))
        assert mailbox is not None
        assert mailbox.status is MailboxStatus.NEEDS_SIGN_IN and mailbox.sending_paused

    row.get_by_role("button", name="Sign in again with Google").click()
    # The address is suggested to the provider, so the right account is used.
    expect(page.locator('input[name="username"]')).to_have_value(oauth_account.user)
    consent(page, oauth_account)

    expect(page).to_have_url(f"{live_app.url}/mailbox")
    expect(page.locator("#flashes").get_by_role("status").first).to_have_text(
        f"Connected {oauth_account.user} with Google."
    )
    expect(row).to_have_attribute("data-status", "ok")
    expect(row.locator(".sign-in-again")).to_have_count(0)
    expect(page.locator("#mailboxes tbody tr")).to_have_count(2)
    assert csp_violations == []
    with live_app.sessions() as session:
        again = session.scalar(select(Mailbox).where(Mailbox.email_address == oauth_account.user))
        assert again is not None and again.id == mailbox.id
        assert again.status is MailboxStatus.OK and not again.sending_paused
