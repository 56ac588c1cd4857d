"""Sign in with Google or Microsoft: the start form, and a callback that trusts nothing.

The provider's endpoints point at addresses where nothing listens: these tests
check what the dashboard refuses before it would ever talk to the provider
(the real exchange runs in tests/browser/test_oauth_signin.py and tests/e2e).
"""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from cryptography.fernet import Fernet
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from outreach.config import Settings
from outreach.crypto import SecretBox
from outreach.models import AuthMethod, Mailbox, MailboxStatus, User
from tests.factories import make_mailbox, make_user
from tests.servers.dovecot import OAuthDovecotServer
from tests.servers.fixtures import MailAccount, oauth_env
from tests.servers.net import free_port
from tests.servers.oauth import OAuthServer
from tests.servers.smtpd import OAuthSMTPServer
from tests.servers.tls import TlsFiles
from tests.web.conftest import PASSWORD, Browser, build_app

AUTHORIZE_URL = "https://accounts.provider.example/o/authorize"


@pytest.fixture
def settings(instance_dir: Path, database_url: str) -> Settings:
    """Google configured (its endpoints dead on purpose); Microsoft not configured."""
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
            "OUTREACH_GOOGLE_REVOKE_URL": f"{dead}/revoke",
            "OUTREACH_GOOGLE_USERINFO_URL": f"{dead}/userinfo",
        }
    )


def start(browser: Browser, provider: str = "google", **form: str) -> TestResponse:
    return browser.post(f"/mailboxes/oauth/{provider}/start", form, page="/mailbox")


def started(browser: Browser, **form: str) -> dict[str, str]:
    """Press "Sign in with Google"; the query the provider would receive."""
    response = start(browser, **form)
    assert response.status_code == 303, response.get_data(as_text=True)
    location = response.headers["Location"]
    assert location.startswith(AUTHORIZE_URL + "?"), location
    return {key: values[0] for key, values in parse_qs(urlsplit(location).query).items()}


def callback(browser: Browser, query: str, provider: str = "google") -> TestResponse:
    return browser.get(f"/mailboxes/oauth/{provider}/callback?{query}")


def mailbox_count(session: Session) -> int:
    session.expire_all()
    return session.scalar(select(func.count()).select_from(Mailbox)) or 0


def test_the_mailbox_page_offers_only_configured_providers(signed_in: Browser) -> None:
    response = signed_in.get("/mailbox")
    page = response.get_data(as_text=True)

    assert 'data-action="sign-in-google">Sign in with Google</button>' in page
    assert 'action="/mailboxes/oauth/google/start"' in page
    assert 'data-action="sign-in-microsoft"' not in page
    assert "/mailboxes/oauth/microsoft/start" not in page
    # The start form redirects to the provider: the page's policy must let it.
    policy = response.headers["Content-Security-Policy"]
    assert "form-action 'self' https://accounts.provider.example;" in policy
    assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy


def test_outlook_advice_says_when_microsoft_sign_in_is_not_set_up(signed_in: Browser) -> None:
    page = signed_in.get("/mailbox?address=sam@outlook.com").get_data(as_text=True)

    assert 'data-provider="Outlook.com"' in page
    assert "app passwords included" in page
    assert "“Sign in with Microsoft”, and that is not set up on this Outreach yet" in page
    # What to do instead, since there is no button to press.
    assert "Ask the person who runs this Outreach to set it up" in page
    assert "docs/oauth.md" in page
    assert "connect with Sign in with Microsoft" not in page


def test_gmail_advice_points_to_the_sign_in_button(signed_in: Browser) -> None:
    page = signed_in.get("/mailbox?address=sam@gmail.com").get_data(as_text=True)

    assert "app password" in page
    assert "Or use “Sign in with Google” above: no password needed." in page
    # The address typed is suggested to Google as the account to sign in with.
    assert 'name="login_hint" value="sam@gmail.com"' in page


def test_start_sends_the_browser_to_the_provider_with_state_and_pkce(
    signed_in: Browser,
) -> None:
    query = started(signed_in, login_hint="sam@gmail.com")

    assert query["response_type"] == "code"
    assert query["client_id"] == "outreach-tests"
    assert query["redirect_uri"] == "http://localhost/mailboxes/oauth/google/callback"
    assert query["code_challenge_method"] == "S256"
    assert len(query["code_challenge"]) >= 43
    assert len(query["state"]) >= 20
    assert query["login_hint"] == "sam@gmail.com"
    # A new sign-in gets a new state.
    assert started(signed_in)["state"] != query["state"]


def test_the_redirect_uri_comes_from_the_public_url(settings: Settings, user: User) -> None:
    behind_a_proxy = Settings.from_env(
        {
            "OUTREACH_INSTANCE_DIR": str(settings.instance_dir),
            "OUTREACH_DATABASE_URL": settings.database_url,
            "OUTREACH_SECRET_KEY": settings.secret_key,
            "OUTREACH_ENCRYPTION_KEYS": ",".join(settings.encryption_keys),
            "OUTREACH_PUBLIC_URL": "https://outreach.uni.example/",
            "OUTREACH_GOOGLE_CLIENT_ID": "outreach-tests",
            "OUTREACH_GOOGLE_CLIENT_SECRET": "not-a-real-secret",
            "OUTREACH_GOOGLE_AUTHORIZE_URL": AUTHORIZE_URL,
        }
    )
    for app in build_app(behind_a_proxy):
        browser = Browser(app.test_client())
        assert browser.login(user.email).status_code == 302

        query = started(browser)

        assert query["redirect_uri"] == (
            "https://outreach.uni.example/mailboxes/oauth/google/callback"
        )


def test_start_needs_the_forms_csrf_token(signed_in: Browser) -> None:
    response = signed_in.client.post("/mailboxes/oauth/google/start", data={})

    assert response.status_code == 400
    assert "Location" not in response.headers


def test_start_needs_a_login(browser: Browser) -> None:
    response = browser.client.post("/mailboxes/oauth/google/start", data={})

    assert response.status_code == 302
    assert urlsplit(response.headers["Location"]).path == "/login"


@pytest.mark.parametrize("provider", ["microsoft", "yahoo"])
def test_an_unconfigured_or_unknown_provider_is_not_found(
    signed_in: Browser, provider: str
) -> None:
    assert start(signed_in, provider).status_code == 404
    assert callback(signed_in, "state=abc&code=xyz", provider).status_code == 404


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(lambda state: state[:-1] + ("A" if state[-1] != "A" else "B"), id="changed"),
        pytest.param(lambda state: "", id="empty"),
        pytest.param(lambda state: state + "x", id="longer"),
    ],
)
def test_a_tampered_state_is_refused_and_nothing_is_stored(
    signed_in: Browser, session: Session, tamper: Callable[[str], str]
) -> None:
    state = started(signed_in)["state"]

    response = callback(signed_in, f"state={tamper(state)}&code=stolen-code")

    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "This sign-in could not be checked" in page
    assert "Nothing was connected." in page
    assert mailbox_count(session) == 0
    # The pending sign-in is spent: the right state no longer works either.
    again = callback(signed_in, f"state={state}&code=stolen-code")
    assert again.status_code == 400
    assert mailbox_count(session) == 0


def test_a_callback_without_state_or_without_a_started_sign_in_is_refused(
    signed_in: Browser, session: Session
) -> None:
    assert callback(signed_in, "code=some-code").status_code == 400
    assert callback(signed_in, "state=made-up&code=some-code").status_code == 400

    started(signed_in)
    response = callback(signed_in, "code=some-code")
    assert response.status_code == 400
    assert mailbox_count(session) == 0


def test_refusing_at_the_provider_says_so_and_stores_nothing(
    signed_in: Browser, session: Session
) -> None:
    state = started(signed_in)["state"]

    response = callback(
        signed_in,
        f"state={state}&error=access_denied&error_description=The+user+denied",
    )

    assert response.status_code == 302
    assert urlsplit(response.headers["Location"]).path == "/mailbox"
    page = signed_in.page("/mailbox")
    assert "You did not allow access to your mailbox at Google, so nothing was connected." in page
    assert mailbox_count(session) == 0


def test_another_provider_error_is_named_but_its_text_is_not_echoed(
    signed_in: Browser, session: Session
) -> None:
    state = started(signed_in)["state"]

    response = callback(
        signed_in, f"state={state}&error=<script>x</script>&error_description=<b>hi</b>"
    )

    assert response.status_code == 302
    page = signed_in.page("/mailbox")
    assert "Google did not finish the sign-in (an unknown error)" in page
    assert "<script>x" not in page and "&lt;script&gt;x" not in page
    assert mailbox_count(session) == 0


def test_another_users_pending_sign_in_cannot_be_used(
    app: Flask, signed_in: Browser, session: Session
) -> None:
    state = started(signed_in)["state"]
    other = make_user(session, email="other@uni.example", password=PASSWORD)
    session.commit()
    intruder = Browser(app.test_client())
    assert intruder.login(other.email).status_code == 302

    response = callback(intruder, f"state={state}&code=their-code")

    assert response.status_code == 400
    assert mailbox_count(session) == 0


def test_a_pending_sign_in_does_not_survive_a_change_of_user(
    signed_in: Browser, session: Session
) -> None:
    state = started(signed_in)["state"]
    other = make_user(session, email="other@uni.example", password=PASSWORD)
    session.commit()
    signed_in.logout()
    assert signed_in.login(other.email).status_code == 302

    response = callback(signed_in, f"state={state}&code=their-code")

    assert response.status_code == 400
    assert mailbox_count(session) == 0


def test_a_mailbox_that_needs_signing_in_again_says_so_with_a_button(
    signed_in: Browser, user: User, session: Session, secret_box: SecretBox
) -> None:
    mailbox = make_mailbox(session, user, secret_box, email_address="sam@gmail.com")
    mailbox.auth_method = AuthMethod.OAUTH2
    mailbox.oauth_provider = "google"
    mailbox.status = MailboxStatus.NEEDS_SIGN_IN
    mailbox.sending_paused = True
    session.commit()

    page = signed_in.page("/mailbox")

    assert f'data-mailbox-id="{mailbox.id}" data-status="needs_sign_in"' in page
    assert "Connected with Google" in page
    assert "Google no longer accepts Outreach's sign-in" in page
    assert "Sending and watching for replies are paused until you sign in again" in page
    assert "Sign in again with Google" in page
    assert 'name="login_hint" value="sam@gmail.com"' in page
    # There is no password to change, and the password-pause notice does not apply.
    assert "Change the password" not in page
    assert "Sending is paused until a connection test passes." not in page


def allow_at_provider(authorize_url: str, account: MailAccount) -> str:
    """Consent on the test provider's page, as the person would; the callback URL it sends."""
    form = urlencode(
        {"username": account.user, "password": account.password, "action": "allow"}
    ).encode()
    request = urllib.request.Request(authorize_url, data=form, method="POST")

    class Stop(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: object, **kwargs: object) -> None:
            return None

    opener = urllib.request.build_opener(Stop())
    try:
        opener.open(request, timeout=10)
    except urllib.error.HTTPError as answer:
        assert answer.code == 302, answer.code
        return str(answer.headers["Location"])
    raise AssertionError("the provider did not redirect back")


def test_signing_in_with_microsoft_connects_the_mailbox_once(
    settings: Settings,
    user: User,
    session: Session,
    secret_box: SecretBox,
    oauth_server: OAuthServer,
    oauth_dovecot: OAuthDovecotServer,
    oauth_smtp: OAuthSMTPServer,
    oauth_account: MailAccount,
    tls_files: TlsFiles,
) -> None:
    microsoft = Settings.from_env(
        {
            "OUTREACH_INSTANCE_DIR": str(settings.instance_dir),
            "OUTREACH_DATABASE_URL": settings.database_url,
            "OUTREACH_SECRET_KEY": settings.secret_key,
            "OUTREACH_ENCRYPTION_KEYS": ",".join(settings.encryption_keys),
            **oauth_env("microsoft", oauth_server, oauth_dovecot, oauth_smtp, tls_files),
        }
    )
    for app in build_app(microsoft):
        browser = Browser(app.test_client())
        assert browser.login(user.email).status_code == 302
        assert 'data-action="sign-in-microsoft">Sign in with Microsoft<' in browser.page("/mailbox")
        started_at = browser.post(
            "/mailboxes/oauth/microsoft/start", {"login_hint": user.email}, page="/mailbox"
        )
        assert started_at.status_code == 303
        callback_url = allow_at_provider(started_at.headers["Location"], oauth_account)
        parts = urlsplit(callback_url)
        assert parts.path == "/mailboxes/oauth/microsoft/callback"

        response = browser.get(f"{parts.path}?{parts.query}", follow_redirects=True)

        page = response.get_data(as_text=True)
        assert f"Connected {oauth_account.user} with Microsoft." in page
        assert "Both servers accepted the sign-in" in page
        mailbox = session.scalar(select(Mailbox).where(Mailbox.email_address == oauth_account.user))
        assert mailbox is not None and mailbox.user_id == user.id
        assert mailbox.oauth_provider == "microsoft"
        assert (mailbox.imap_port, mailbox.smtp_port) == (oauth_dovecot.imap_port, oauth_smtp.port)
        assert mailbox.status is MailboxStatus.OK

        # The same redirect again (a reload, or someone replaying it) is refused.
        exchanges = oauth_server.token_requests
        again = browser.get(f"{parts.path}?{parts.query}")
        assert again.status_code == 400
        assert oauth_server.token_requests == exchanges
        assert mailbox_count(session) == 1
