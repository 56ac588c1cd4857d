"""Connecting a mailbox (password encrypted, never echoed), testing it for real, its pace."""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from outreach.config import Settings
from outreach.crypto import SecretBox
from outreach.drafts import approve
from outreach.mail.autodiscover import Lookup
from outreach.mail.tls import client_context
from outreach.models import Mailbox, MailboxStatus, MessageStatus, TlsMode, User
from tests.conftest import NOW
from tests.factories import make_contact, make_mailbox, make_user
from tests.servers.autodiscovery import AutoconfigServer, DnsServer, autodiscovery_servers
from tests.servers.net import free_port
from tests.servers.tls import TlsFiles
from tests.web.conftest import Browser, build_app, csrf_token_in, start_target
from web.views.mailboxes import DISCOVERY_LOOKUP, DISCOVERY_SECONDS

SECRET = "app-password-1234"


def mailbox_form(**overrides: str) -> dict[str, str]:
    form = {
        "email_address": "me@uni.example",
        "display_name": "Sam Student",
        "imap_host": "imap.uni.example",
        "imap_port": "993",
        "imap_tls": "ssl",
        "smtp_host": "smtp.uni.example",
        "smtp_port": "587",
        "smtp_tls": "starttls",
        "username": "",
        "password": SECRET,
    }
    form.update(overrides)
    return form


def test_connect_a_mailbox(signed_in: Browser, session: Session, secret_box: SecretBox) -> None:
    response = signed_in.post("/mailbox", mailbox_form(), page="/mailbox", follow_redirects=True)

    page = response.get_data(as_text=True)
    assert "me@uni.example is connected. Test the connection" in page
    assert SECRET not in page
    mailbox = session.scalar(select(Mailbox))
    assert mailbox is not None
    assert (mailbox.imap_tls, mailbox.smtp_tls) == (TlsMode.SSL, TlsMode.STARTTLS)
    assert mailbox.username == "me@uni.example"
    assert SECRET not in mailbox.secret_encrypted
    assert secret_box.decrypt(mailbox.secret_encrypted) == SECRET
    assert f'<tr data-mailbox-id="{mailbox.id}" data-status="ok" id="mailbox-{mailbox.id}">' in page


def test_a_refused_form_does_not_echo_the_password(signed_in: Browser, session: Session) -> None:
    response = signed_in.post(
        "/mailbox", mailbox_form(email_address="not an address"), page="/mailbox"
    )

    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "is not a valid email address." in page
    assert SECRET not in page
    assert session.scalar(select(Mailbox)) is None


def test_an_unknown_security_mode_is_refused(signed_in: Browser, session: Session) -> None:
    response = signed_in.post("/mailbox", mailbox_form(imap_tls="plaintext"), page="/mailbox")

    assert response.status_code == 400
    assert session.scalar(select(Mailbox)) is None


def test_testing_an_unreachable_mailbox_says_what_failed(
    signed_in: Browser, user: User, session: Session, secret_box: SecretBox
) -> None:
    closed = free_port()
    mailbox = make_mailbox(
        session,
        user,
        secret_box,
        imap_port=closed,
        imap_tls=TlsMode.NONE,
        smtp_port=closed,
        smtp_tls=TlsMode.NONE,
    )
    session.commit()

    response = signed_in.post(f"/mailbox/{mailbox.id}/test", page="/mailbox", follow_redirects=True)

    page = response.get_data(as_text=True)
    assert '<p class="flash flash-error" role="alert">IMAP:' in page
    assert '<p class="flash flash-error" role="alert">SMTP:' in page
    row = f'<tr data-mailbox-id="{mailbox.id}" data-status="needs_attention"'
    assert f'{row} id="mailbox-{mailbox.id}">' in page
    assert "needs attention" in page
    session.expire_all()
    stored = session.get(Mailbox, mailbox.id)
    assert stored is not None
    assert stored.status is MailboxStatus.NEEDS_ATTENTION
    assert stored.last_error and "IMAP" in stored.last_error


# --- the sending pace ----------------------------------------------------------------


def pace_form(
    mailbox: Mailbox, days: tuple[int, ...] = (0, 1, 2, 3, 4), **overrides: str
) -> dict[str, object]:
    prefix = f"pace-{mailbox.id}-"
    form: dict[str, object] = {
        "daily_cap": "20",
        "start_hour": "8",
        "end_hour": "18",
        "min_gap": "2",
        "max_gap": "5",
    }
    form.update(overrides)
    data = {prefix + name: value for name, value in form.items()}
    data[prefix + "days"] = [str(day) for day in days]
    return data


def input_tag(html: str, name: str) -> str:
    found = re.search(rf'<input[^>]*name="{name}"[^>]*>', html)
    assert found is not None, f"no input {name}"
    return found.group(0)


@pytest.fixture
def mailbox(user: User, session: Session, secret_box: SecretBox) -> Mailbox:
    mailbox = make_mailbox(session, user, secret_box)
    session.commit()
    return mailbox


def test_the_mailbox_page_shows_the_pace_in_words_and_a_form(
    signed_in: Browser, mailbox: Mailbox
) -> None:
    page = signed_in.page("/mailbox")

    assert "up to 30 a day, every day at any hour, 1–4 minutes apart" in page
    form = re.search(r'<form class="pace-form"[^>]*>.*?</form>', page, re.S)
    assert form is not None
    assert f'action="/mailbox/{mailbox.id}/pace"' in form.group(0)
    assert 'value="30"' in input_tag(form.group(0), f"pace-{mailbox.id}-daily_cap")
    assert 'value="0"' in input_tag(form.group(0), f"pace-{mailbox.id}-start_hour")
    assert 'value="24"' in input_tag(form.group(0), f"pace-{mailbox.id}-end_hour")
    assert 'value="1"' in input_tag(form.group(0), f"pace-{mailbox.id}-min_gap")
    assert 'value="4"' in input_tag(form.group(0), f"pace-{mailbox.id}-max_gap")
    # Every day is ticked by default.
    assert form.group(0).count("checked") == 7


def test_saving_the_pace(signed_in: Browser, mailbox: Mailbox, session: Session) -> None:
    response = signed_in.post(
        f"/mailbox/{mailbox.id}/pace", pace_form(mailbox), page="/mailbox", follow_redirects=True
    )

    page = response.get_data(as_text=True)
    assert response.status_code == 200
    expected = "up to 20 a day, Mon–Fri 08:00–18:00, 2–5 minutes apart"
    assert f"Pace saved for {mailbox.email_address}: {expected}." in page
    assert f'<span class="pace-words">{expected}</span>' in page
    session.refresh(mailbox)
    assert (
        mailbox.daily_cap,
        mailbox.window_days,
        mailbox.window_start_hour,
        mailbox.window_end_hour,
        mailbox.min_gap_seconds,
        mailbox.max_gap_seconds,
    ) == (20, "01234", 8, 18, 120, 300)
    form = re.search(r'<form class="pace-form"[^>]*>.*?</form>', page, re.S)
    assert form is not None and form.group(0).count("checked") == 5


@pytest.mark.parametrize(
    ("days", "overrides", "message"),
    [
        ((0,), {"daily_cap": "0"}, "The daily cap must be between 1 and 500 messages a day."),
        ((0,), {"daily_cap": "501"}, "The daily cap must be between 1 and 500 messages a day."),
        ((0,), {"daily_cap": ""}, "Give the daily cap as a number, from 1 to 500."),
        ((), {}, "Choose at least one day of the week on which messages may go out."),
        ((7,), {}, "The sending days must be weekdays from Monday to Sunday."),
        ((0,), {"start_hour": "18", "end_hour": "8"}, "The sending hours must start before"),
        ((0,), {"start_hour": "9", "end_hour": "9"}, "from 9 until 9 leaves no time to send"),
        ((0,), {"end_hour": "25"}, "Sending hours run from 0 to 24"),
        ((0,), {"min_gap": "5", "max_gap": "2"}, "The shortest gap between messages cannot"),
        ((0,), {"max_gap": "121"}, "The gap between messages must be between 0 and 120 minutes."),
        ((0,), {"min_gap": "-1"}, "The gap between messages must be between 0 and 120 minutes."),
        ((0,), {"min_gap": "soon"}, "Not a valid integer value."),
    ],
)
def test_a_pace_out_of_bounds_is_refused_with_a_reason(
    signed_in: Browser,
    mailbox: Mailbox,
    session: Session,
    days: tuple[int, ...],
    overrides: dict[str, str],
    message: str,
) -> None:
    response = signed_in.post(
        f"/mailbox/{mailbox.id}/pace", pace_form(mailbox, days, **overrides), page="/mailbox"
    )

    page = response.get_data(as_text=True)
    assert response.status_code == 400
    form = re.search(r'<form class="pace-form"[^>]*>.*?</form>', page, re.S)
    assert form is not None
    assert message in form.group(0)
    # What was typed is kept, so it can be corrected.
    if overrides.get("daily_cap"):
        typed = input_tag(form.group(0), f"pace-{mailbox.id}-daily_cap")
        assert f'value="{overrides["daily_cap"]}"' in typed
    session.refresh(mailbox)
    assert (mailbox.daily_cap, mailbox.window_days, mailbox.min_gap_seconds) == (30, "0123456", 60)


def test_another_users_mailbox_pace_is_not_found(
    signed_in: Browser, session: Session, secret_box: SecretBox
) -> None:
    stranger = make_user(session)
    theirs = make_mailbox(session, stranger, secret_box)
    session.commit()

    response = signed_in.post(f"/mailbox/{theirs.id}/pace", pace_form(theirs), page="/mailbox")

    assert response.status_code == 404
    session.refresh(theirs)
    assert theirs.daily_cap == 30


def test_the_pace_form_needs_the_token(
    signed_in: Browser, mailbox: Mailbox, session: Session
) -> None:
    response = signed_in.client.post(f"/mailbox/{mailbox.id}/pace", data=pace_form(mailbox))

    assert response.status_code == 400
    session.refresh(mailbox)
    assert mailbox.daily_cap == 30


def test_a_new_pace_makes_waiting_messages_due_again(
    signed_in: Browser, mailbox: Mailbox, user: User, session: Session
) -> None:
    _, [draft] = start_target(session, user, [make_contact(session, user)])
    message = approve(session, user, draft.id, NOW)
    message.status = MessageStatus.QUEUED
    message.waiting_reason = "outside your sending window"
    message.next_attempt_at = datetime.now(UTC) + timedelta(days=3)
    session.commit()

    signed_in.post(
        f"/mailbox/{mailbox.id}/pace",
        pace_form(mailbox, (0, 1, 2, 3, 4, 5, 6), start_hour="0", end_hour="24"),
        page="/mailbox",
    )

    session.refresh(message)
    assert message.status is MessageStatus.QUEUED
    assert message.next_attempt_at is None
    outbox = signed_in.page("/outbox")
    assert "due now: it goes out as soon as the sender picks it up" in outbox


def test_a_paused_mailbox_says_so(signed_in: Browser, mailbox: Mailbox, session: Session) -> None:
    mailbox.sending_paused = True
    session.commit()

    assert "Sending is paused until a connection test passes." in signed_in.page("/mailbox")


def test_the_connect_form_is_filled_in_for_a_known_provider(signed_in: Browser) -> None:
    page = signed_in.get("/mailbox?address=sam.student@gmail.com").get_data(as_text=True)

    assert 'data-provider="Gmail"' in page and "app password" in page
    assert 'value="imap.gmail.com"' in page and 'value="smtp.gmail.com"' in page
    assert 'value="993"' in page


def test_an_unknown_domain_leaves_the_settings_to_the_user(signed_in: Browser) -> None:
    page = signed_in.get("/mailbox?address=sam@uni.example").get_data(as_text=True)

    assert "data-outcome=" not in page and 'id="provider-advice"' not in page
    assert 'value="imap.gmail.com"' not in page


def test_changing_the_password_stores_it_encrypted_and_tests_at_once(
    signed_in: Browser, user: User, session: Session, secret_box: SecretBox
) -> None:
    closed = free_port()
    mailbox = make_mailbox(
        session,
        user,
        secret_box,
        imap_port=closed,
        imap_tls=TlsMode.NONE,
        smtp_port=closed,
        smtp_tls=TlsMode.NONE,
    )
    session.commit()

    response = signed_in.post(
        f"/mailbox/{mailbox.id}/password",
        {"password": "new-app-pass"},
        page="/mailbox",
        follow_redirects=True,
    )

    page = response.get_data(as_text=True)
    assert "The new password for" in page
    assert '<p class="flash flash-error" role="alert">IMAP:' in page  # the test ran
    assert "new-app-pass" not in page
    session.expire_all()
    stored = session.get(Mailbox, mailbox.id)
    assert stored is not None and "new-app-pass" not in stored.secret_encrypted
    assert secret_box.decrypt(stored.secret_encrypted) == "new-app-pass"


def test_another_users_mailbox_password_cannot_be_changed(
    signed_in: Browser, session: Session, secret_box: SecretBox
) -> None:
    theirs = make_mailbox(session, make_user(session), secret_box)
    session.commit()
    before = theirs.secret_encrypted

    response = signed_in.post(f"/mailbox/{theirs.id}/password", {"password": "x"}, page="/mailbox")
    without_token = signed_in.client.post(f"/mailbox/{theirs.id}/password", data={"password": "x"})

    assert (response.status_code, without_token.status_code) == (404, 400)
    session.refresh(theirs)
    assert theirs.secret_encrypted == before


# --- "Find my settings" ------------------------------------------------------------------------

AUTOCONFIG = b"""<?xml version="1.0" encoding="UTF-8"?>
<clientConfig version="1.1">
  <emailProvider id="example.org">
    <domain>example.org</domain>
    <displayName>Example Mail</displayName>
    <incomingServer type="imap">
      <hostname>imap.example.org</hostname><port>993</port><socketType>SSL</socketType>
      <username>%EMAILLOCALPART%</username>
    </incomingServer>
    <outgoingServer type="smtp">
      <hostname>smtp.example.org</hostname><port>587</port><socketType>STARTTLS</socketType>
      <username>%EMAILLOCALPART%</username>
    </outgoingServer>
  </emailProvider>
</clientConfig>
"""


@pytest.fixture
def discovery_servers(tls_files: TlsFiles) -> Iterator[tuple[DnsServer, AutoconfigServer]]:
    with autodiscovery_servers(tls_files) as pair:
        yield pair


def lookup_at(
    dns_server: DnsServer, autoconfig_url: str, tls_files: TlsFiles, *, tries: int = 1
) -> Lookup:
    """Discovery pointed at the test's DNS server and an autoconfig URL on 127.0.0.1.

    Each question waits at most one second.
    """
    return Lookup(
        autoconfig_urls=(autoconfig_url,) * tries,
        nameservers=("127.0.0.1",),
        dns_port=dns_server.port,
        timeout=1.0,
        ssl_context=client_context(tls_files.ca_pem),
        allow_private_addresses=True,
    )


@pytest.fixture
def discovering(
    app: Flask, discovery_servers: tuple[DnsServer, AutoconfigServer], tls_files: TlsFiles
) -> tuple[DnsServer, AutoconfigServer]:
    """The dashboard's "Find my settings" asks the test's DNS and autoconfig servers."""
    dns_server, web = discovery_servers
    app.config[DISCOVERY_LOOKUP] = lookup_at(
        dns_server, web.url("/autoconfig/{domain}/config-v1.1.xml"), tls_files
    )
    return discovery_servers


def find_settings(browser: Browser, address: str) -> TestResponse:
    return browser.post("/mailbox/discover", {"address": address}, page="/mailbox")


def test_find_my_settings_fills_the_form_from_the_autoconfig_file(
    signed_in: Browser, discovering: tuple[DnsServer, AutoconfigServer]
) -> None:
    _, web = discovering
    web.files["/autoconfig/example.org/config-v1.1.xml"] = AUTOCONFIG

    response = find_settings(signed_in, "ada@example.org")

    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert (
        "Filled in from the settings found in example.org&#39;s autoconfig file (Example Mail). "
        "Its servers expect the part before the @ as the user name." in page
    )
    assert input_tag(page, "imap_host").count('value="imap.example.org"') == 1
    assert 'value="993"' in input_tag(page, "imap_port")
    assert 'value="smtp.example.org"' in input_tag(page, "smtp_host")
    assert 'value="ada"' in input_tag(page, "username")
    assert 'value="ada@example.org"' in input_tag(page, "email_address")
    assert 'data-source="autoconfig"' in page


def test_find_my_settings_uses_the_dns_srv_records(
    signed_in: Browser, discovering: tuple[DnsServer, AutoconfigServer]
) -> None:
    dns_server, _ = discovering
    dns_server.add("_imaps._tcp.example.net", "SRV", "0 1 993 mail.example.net.")
    dns_server.add("_submission._tcp.example.net", "SRV", "0 1 587 mail.example.net.")

    page = find_settings(signed_in, "grace@example.net").get_data(as_text=True)

    assert "Filled in from example.net&#39;s DNS SRV records. Check them below" in page
    assert 'value="mail.example.net"' in input_tag(page, "imap_host")
    assert 'value="mail.example.net"' in input_tag(page, "smtp_host")
    assert 'value="grace@example.net"' in input_tag(page, "username")


def test_a_domain_on_microsoft_365_is_guessed_and_offers_sign_in_first(
    settings: Settings,
    engine: Engine,
    user: User,
    discovery_servers: tuple[DnsServer, AutoconfigServer],
    tls_files: TlsFiles,
) -> None:
    dns_server, web = discovery_servers
    dns_server.add("uni.example.edu", "MX", "10 uni-example-edu.mail.protection.outlook.com.")
    with_microsoft = Settings.from_env(
        {
            "OUTREACH_INSTANCE_DIR": str(settings.instance_dir),
            "OUTREACH_SECRET_KEY": settings.secret_key,
            "OUTREACH_ENCRYPTION_KEYS": ",".join(settings.encryption_keys),
            "OUTREACH_MICROSOFT_CLIENT_ID": "outreach-tests",
            "OUTREACH_MICROSOFT_CLIENT_SECRET": "not-a-real-secret",
        }
    )
    for app in build_app(with_microsoft):
        app.config[DISCOVERY_LOOKUP] = lookup_at(dns_server, web.url("/{domain}.xml"), tls_files)
        browser = Browser(app.test_client())
        browser.login(user.email)

        response = find_settings(browser, "prof@uni.example.edu")

        page = response.get_data(as_text=True)
        assert "Guessed from uni.example.edu&#39;s MX records: Microsoft 365." in page
        assert 'value="outlook.office365.com"' in input_tag(page, "imap_host")
        # Signing in is offered first, for the address typed, and the page lets it leave.
        sign_in = page.index('data-action="sign-in-microsoft">Sign in with Microsoft</button>')
        assert sign_in < page.index('id="connect-mailbox"')
        assert 'name="login_hint" value="prof@uni.example.edu"' in page
        assert "Or connect with a password" in page
        assert "ask your IT team whether IMAP with a password is allowed" in page
        policy = response.headers["Content-Security-Policy"]
        assert "form-action 'self' https://login.microsoftonline.com" in policy


def test_nothing_found_says_so_and_leaves_the_fields_to_the_user(
    signed_in: Browser, discovering: tuple[DnsServer, AutoconfigServer]
) -> None:
    page = find_settings(signed_in, "sam@nowhere.example").get_data(as_text=True)

    assert "No settings were found for nowhere.example" in page
    assert 'data-outcome="nothing"' in page
    assert 'value=""' in input_tag(page, "imap_host")
    assert 'value="sam@nowhere.example"' in input_tag(page, "email_address")


@contextmanager
def silent_https_server() -> Iterator[str]:
    """A TCP port that accepts connections (the kernel does) and never says a word."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield f"https://127.0.0.1:{listener.getsockname()[1]}/{{domain}}.xml"


@pytest.mark.parametrize("silent", ["dns", "https"])
def test_a_server_that_never_answers_costs_only_the_wait(
    signed_in: Browser,
    app: Flask,
    discovery_servers: tuple[DnsServer, AutoconfigServer],
    tls_files: TlsFiles,
    silent: str,
) -> None:
    dns_server, web = discovery_servers
    dns_server.silent = silent == "dns"
    with silent_https_server() as silent_url:
        url = silent_url if silent == "https" else web.url("/{domain}.xml")
        # Each question may take 1 s, and two or more go unanswered: the page waits 1.5 s.
        app.config[DISCOVERY_LOOKUP] = lookup_at(dns_server, url, tls_files, tries=2)
        app.config[DISCOVERY_SECONDS] = 1.5
        token = csrf_token_in(signed_in.page("/mailbox"))
        started = time.monotonic()

        response = signed_in.post(
            "/mailbox/discover", {"address": "sam@slow.example", "csrf_token": token}
        )

        took = time.monotonic() - started
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert 1.4 < took < 3.0, took
    assert "Looking up the settings for slow.example took too long" in page
    assert 'value=""' in input_tag(page, "imap_host")
    assert 'value="sam@slow.example"' in input_tag(page, "email_address")


def test_find_my_settings_wants_a_whole_address_and_the_token(
    signed_in: Browser, discovering: tuple[DnsServer, AutoconfigServer]
) -> None:
    dns_server, web = discovering

    response = find_settings(signed_in, "sam at example")
    without_token = signed_in.client.post("/mailbox/discover", data={"address": "a@example.org"})

    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "Please type your whole email address, such as sam@example.org." in page
    assert 'aria-invalid="true"' in page
    assert without_token.status_code == 400
    assert dns_server.queries == [] and web.requests == []


def test_settings_found_elsewhere_do_not_offer_google_or_microsoft(
    settings: Settings,
    user: User,
    discovery_servers: tuple[DnsServer, AutoconfigServer],
    tls_files: TlsFiles,
) -> None:
    dns_server, web = discovery_servers
    web.files["/autoconfig/example.org/config-v1.1.xml"] = AUTOCONFIG
    with_google = Settings.from_env(
        {
            "OUTREACH_INSTANCE_DIR": str(settings.instance_dir),
            "OUTREACH_SECRET_KEY": settings.secret_key,
            "OUTREACH_ENCRYPTION_KEYS": ",".join(settings.encryption_keys),
            "OUTREACH_GOOGLE_CLIENT_ID": "outreach-tests",
            "OUTREACH_GOOGLE_CLIENT_SECRET": "not-a-real-secret",
        }
    )
    for app in build_app(with_google):
        app.config[DISCOVERY_LOOKUP] = lookup_at(
            dns_server, web.url("/autoconfig/{domain}/config-v1.1.xml"), tls_files
        )
        browser = Browser(app.test_client())
        browser.login(user.email)

        before = browser.page("/mailbox")
        after = find_settings(browser, "ada@example.org").get_data(as_text=True)
        nothing = find_settings(browser, "ada@nowhere.example").get_data(as_text=True)

        assert "Sign in with Google" in before
        assert "Sign in with Google" not in after
        assert "Sign in with Google" in nothing
