"""Finding a mailbox's settings, and the banner of a mailbox that needs the user, in Chromium.

"Find my settings" asks the suite's own autoconfig (HTTPS) and DNS servers on
127.0.0.1; the Google of these tests is a tiny HTTP server that only shows a
consent page, enough to see the browser get there.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from playwright.sync_api import Browser, ConsoleMessage, Page, ViewportSize, expect
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from outreach.config import Settings
from outreach.crypto import SecretBox
from outreach.mail.autodiscover import Lookup
from outreach.mail.tls import client_context
from outreach.models import AuthMethod, Mailbox, MailboxStatus
from tests.browser.conftest import LiveApp
from tests.browser.live import log_in, seed_dashboard, serving
from tests.servers.autodiscovery import AutoconfigServer, DnsServer, autodiscovery_servers
from tests.servers.net import free_port
from tests.servers.tls import TlsFiles
from web.app import create_app
from web.state import EXTENSION_KEY
from web.views.mailboxes import DISCOVERY_LOOKUP

pytestmark = pytest.mark.browser

SHOTS = Path("/tmp/shots")
PHONE: ViewportSize = {"width": 390, "height": 844}

AUTOCONFIG = b"""<?xml version="1.0" encoding="UTF-8"?>
<clientConfig version="1.1">
  <emailProvider id="uni.example">
    <domain>uni.example</domain>
    <displayName>University Mail</displayName>
    <incomingServer type="imap">
      <hostname>imap.uni.example</hostname><port>993</port><socketType>SSL</socketType>
      <username>%EMAILLOCALPART%</username>
    </incomingServer>
    <outgoingServer type="smtp">
      <hostname>smtp.uni.example</hostname><port>587</port><socketType>STARTTLS</socketType>
      <username>%EMAILLOCALPART%</username>
    </outgoingServer>
  </emailProvider>
</clientConfig>
"""


class ConsentPage:
    """Plain HTTP on 127.0.0.1 standing in for Google's consent page; keeps the paths asked."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        requests = self.requests

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the name http.server calls
                requests.append(self.path)
                body = b"<!doctype html><title>Consent</title><h1>Choose an account</h1>"
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.authorize_url = f"http://127.0.0.1:{self._server.server_address[1]}/o/authorize"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def __enter__(self) -> ConsentPage:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._server.shutdown()
        self._thread.join(timeout=5)
        self._server.server_close()


@pytest.fixture
def consent_page() -> Iterator[ConsentPage]:
    with ConsentPage() as server:
        yield server


@pytest.fixture
def settings(instance_dir: Path, database_url: str, consent_page: ConsentPage) -> Settings:
    """The dashboard's settings with Google's sign-in page on 127.0.0.1."""
    dead = f"http://127.0.0.1:{free_port()}"
    return Settings.from_env(
        {
            "OUTREACH_INSTANCE_DIR": str(instance_dir),
            "OUTREACH_DATABASE_URL": database_url,
            "OUTREACH_SECRET_KEY": "test-secret-key",
            "OUTREACH_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
            "OUTREACH_GOOGLE_CLIENT_ID": "outreach-tests",
            "OUTREACH_GOOGLE_CLIENT_SECRET": "not-a-real-secret",
            "OUTREACH_GOOGLE_AUTHORIZE_URL": consent_page.authorize_url,
            "OUTREACH_GOOGLE_TOKEN_URL": f"{dead}/token",
        }
    )


@pytest.fixture
def discovery_servers(tls_files: TlsFiles) -> Iterator[tuple[DnsServer, AutoconfigServer]]:
    with autodiscovery_servers(tls_files) as (dns_server, web):
        web.files["/uni.example/config-v1.1.xml"] = AUTOCONFIG
        dns_server.add("alumni.example", "MX", "1 smtp.google.com.")
        yield dns_server, web


@pytest.fixture
def live_app(
    settings: Settings,
    engine: Engine,
    session_factory: sessionmaker[Session],
    secret_box: SecretBox,
    discovery_servers: tuple[DnsServer, AutoconfigServer],
    tls_files: TlsFiles,
) -> Iterator[LiveApp]:
    """The seeded dashboard, its "Find my settings" asking the test's servers."""
    dns_server, web = discovery_servers
    with session_factory() as session:
        seeded = seed_dashboard(session, secret_box, datetime.now(UTC))
        session.commit()
    app = create_app(settings)
    app.config[DISCOVERY_LOOKUP] = Lookup(
        autoconfig_urls=(web.url("/{domain}/config-v1.1.xml"),),
        nameservers=("127.0.0.1",),
        dns_port=dns_server.port,
        timeout=1.0,
        ssl_context=client_context(tls_files.ca_pem),
        allow_private_addresses=True,
    )
    try:
        with serving(app) as url:
            yield LiveApp(url=url, seeded=seeded, sessions=session_factory)
    finally:
        app.extensions[EXTENSION_KEY].close()


@pytest.fixture
def csp_violations(page: Page) -> list[str]:
    seen: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text:
            seen.append(message.text)

    page.on("console", on_console)
    return seen


def shoot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SHOTS / f"{name}.png", full_page=True)


def test_find_my_settings_fills_in_the_servers_from_the_autoconfig_file(
    page: Page, live_app: LiveApp, csp_violations: list[str]
) -> None:
    log_in(page, live_app.url, live_app.seeded.email)
    page.goto("/mailbox")
    shoot(page, "discover-1-before")

    page.get_by_label("Your email address").fill("ada@uni.example")
    page.get_by_role("button", name="Find my settings").click()

    said = page.locator("#discovery .discovery")
    expect(said).to_have_text(
        "Filled in from the settings found in uni.example's autoconfig file (University Mail). "
        "Its servers expect the part before the @ as the user name. "
        "Check them below before you connect."
    )
    expect(said).to_be_focused()
    expect(page.get_by_label("IMAP server")).to_have_value("imap.uni.example")
    expect(page.get_by_label("IMAP port")).to_have_value("993")
    expect(page.get_by_label("IMAP security")).to_have_value("ssl")
    expect(page.get_by_label("SMTP server")).to_have_value("smtp.uni.example")
    expect(page.get_by_label("SMTP security")).to_have_value("starttls")
    expect(page.get_by_label("User name")).to_have_value("ada")
    # One address field on the page, used by both buttons.
    expect(page.get_by_label("Email address")).to_have_value("ada@uni.example")
    # Fetched in place: the page did not move away from the Mailbox page.
    expect(page).to_have_url(f"{live_app.url}/mailbox")
    shoot(page, "discover-2-after-autoconfig")

    # The settings found are the ones connected.
    page.locator("#connect-mailbox").get_by_label("Password or app password").fill("app-pass-1234")
    page.get_by_role("button", name="Connect mailbox").click()
    expect(page.locator("#flashes")).to_contain_text("ada@uni.example is connected.")
    with live_app.sessions() as session:
        mailbox = session.scalar(select(Mailbox).where(Mailbox.email_address == "ada@uni.example"))
        assert mailbox is not None
        assert (mailbox.imap_host, mailbox.smtp_host) == ("imap.uni.example", "smtp.uni.example")
        assert mailbox.username == "ada"
    assert csp_violations == []


def test_a_google_hosted_domain_offers_sign_in_with_google_first(
    page: Page, live_app: LiveApp, consent_page: ConsentPage, csp_violations: list[str]
) -> None:
    log_in(page, live_app.url, live_app.seeded.email)
    page.goto("/mailbox")

    page.get_by_label("Your email address").fill("maya@alumni.example")
    page.get_by_role("button", name="Find my settings").click()

    expect(page.locator("#discovery")).to_contain_text(
        "Guessed from alumni.example's MX records: Google Workspace."
    )
    suggested = page.locator("#oauth-suggested")
    expect(suggested).to_contain_text("Google Workspace works best with “Sign in with Google”")
    expect(page.get_by_label("IMAP server")).to_have_value("imap.gmail.com")
    shoot(page, "discover-3-after-mx-google")

    suggested.get_by_role("button", name="Sign in with Google").click()

    expect(page.get_by_role("heading", name="Choose an account")).to_be_visible()
    assert consent_page.requests and "login_hint=maya%40alumni.example" in consent_page.requests[0]
    assert csp_violations == []


def test_without_javascript_the_form_still_finds_the_settings(
    browser: Browser, live_app: LiveApp
) -> None:
    context = browser.new_context(viewport=PHONE, base_url=live_app.url, java_script_enabled=False)
    context.set_default_timeout(5_000)
    page = context.new_page()
    try:
        log_in(page, live_app.url, live_app.seeded.email)
        page.goto("/mailbox")
        shoot(page, "discover-4-phone-before")

        page.get_by_label("Your email address").fill("sam@nowhere.example")
        page.get_by_role("button", name="Find my settings").click()

        expect(page.locator("#discovery")).to_contain_text(
            "No settings were found for nowhere.example"
        )
        expect(page.get_by_label("IMAP server")).to_have_value("")
        shoot(page, "discover-5-phone-nothing-found")

        page.get_by_label("Your email address").fill("ada@uni.example")
        page.get_by_role("button", name="Find my settings").click()
        expect(page.get_by_label("IMAP server")).to_have_value("imap.uni.example")
        shoot(page, "discover-6-phone-after")
        page.locator("#mailboxes").screenshot(path=SHOTS / "discover-7-phone-mailboxes.png")
        page.locator("#connect").screenshot(path=SHOTS / "discover-8-phone-connect.png")
    finally:
        context.close()


def test_a_withdrawn_sign_in_shows_on_every_page_and_signing_in_again_starts_there(
    browser: Browser,
    page: Page,
    live_app: LiveApp,
    secret_box: SecretBox,
    consent_page: ConsentPage,
    csp_violations: list[str],
) -> None:
    with live_app.sessions() as session:
        mailbox = session.scalar(select(Mailbox))
        assert mailbox is not None
        mailbox.auth_method = AuthMethod.OAUTH2
        mailbox.oauth_provider = "google"
        mailbox.oauth_refresh_encrypted = secret_box.encrypt("withdrawn")
        mailbox.status = MailboxStatus.NEEDS_SIGN_IN
        mailbox.sending_paused = True
        session.commit()
    log_in(page, live_app.url, live_app.seeded.email)

    alert = page.locator("#mailbox-alerts .mailbox-alert")
    expect(alert).to_contain_text(
        f"Google no longer accepts Outreach's sign-in for {live_app.seeded.email}."
    )
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Contacts").click()
    expect(alert).to_be_visible()
    shoot(page, "banner-1-desktop")

    phone = browser.new_context(viewport=PHONE, base_url=live_app.url)
    try:
        small = phone.new_page()
        log_in(small, live_app.url, live_app.seeded.email)
        small.goto("/drafts")
        expect(small.locator("#mailbox-alerts")).to_be_visible()
        shoot(small, "banner-2-phone")
    finally:
        phone.close()

    page.goto("/outbox")
    expect(alert).to_be_visible()
    shoot(page, "banner-3-outbox")

    alert.get_by_role("button", name="Sign in again with Google").click()

    expect(page.get_by_role("heading", name="Choose an account")).to_be_visible()
    assert f"login_hint={live_app.seeded.email.replace('@', '%40')}" in consent_page.requests[0]
    assert csp_violations == []


def test_a_refused_password_shows_on_the_board_and_leads_to_the_mailbox(
    page: Page, live_app: LiveApp
) -> None:
    with live_app.sessions() as session:
        mailbox = session.scalar(select(Mailbox))
        assert mailbox is not None
        mailbox.status = MailboxStatus.NEEDS_ATTENTION
        mailbox.sending_paused = True
        mailbox.last_error = "SMTP: the server refused the user name or password"
        session.commit()
        mailbox_id = mailbox.id
    log_in(page, live_app.url, live_app.seeded.email)

    alert = page.locator("#mailbox-alerts .mailbox-alert")
    expect(alert).to_contain_text(f"{live_app.seeded.email} needs your attention.")
    expect(alert).to_contain_text("What went wrong: SMTP: the server refused the user name")
    shoot(page, "banner-4-refused-password")

    alert.get_by_role("link", name="Check the mailbox and test it").click()

    expect(page).to_have_url(f"{live_app.url}/mailbox#mailbox-{mailbox_id}")
    row = page.locator(f"#mailbox-{mailbox_id}")
    expect(row).to_have_attribute("data-status", "needs_attention")
    expect(row.get_by_role("button", name="Test connection")).to_be_in_viewport()
    expect(page.locator("#mailbox-alerts")).to_have_count(0)
