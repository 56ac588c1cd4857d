"""Throttling (web/limits.py): guessed passwords, sign-up floods and costly actions get HTTP 429.

The limits are the shipped defaults unless a test says otherwise, counted in the
app's memory and, for the sign-in tests, in a real Redis as well. A request's
client address is set through the WSGI environment, as a server sets it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient
from redis import Redis
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from outreach.config import RateLimits, Settings
from outreach.crypto import SecretBox
from outreach.errors import ConfigurationError
from outreach.models import User
from tests.factories import make_mailbox, make_user
from tests.servers.net import free_port
from tests.servers.redis import RedisServer
from tests.web.conftest import PASSWORD, Browser, build_app, csrf_token_in

DEFAULTS = RateLimits()
WRONG = "not the password at all"


def _settings(settings: Settings, **env: str) -> Settings:
    """The test's settings (same instance, database and keys) with `env` added."""
    return Settings.from_env(
        {
            "OUTREACH_INSTANCE_DIR": str(settings.instance_dir),
            "OUTREACH_DATABASE_URL": settings.database_url,
            "OUTREACH_SECRET_KEY": settings.secret_key,
            "OUTREACH_ENCRYPTION_KEYS": ",".join(settings.encryption_keys),
            **env,
        }
    )


MakeApp = Callable[[Settings], Flask]


# The dashboard fixtures of tests/web, for this folder (its conftest is not seen here).
@pytest.fixture
def app(settings: Settings, engine: object) -> Iterator[Flask]:
    yield from build_app(settings)


@pytest.fixture
def redis_app(settings: Settings, engine: object, redis_server: RedisServer) -> Iterator[Flask]:
    """The dashboard with its limits counted in the real Redis, emptied before and after."""
    connection = Redis.from_url(redis_server.url)
    connection.flushdb()
    yield from build_app(_settings(settings, OUTREACH_REDIS_URL=redis_server.url))
    connection.flushdb()
    connection.close()


@pytest.fixture
def user(session: Session) -> User:
    user = make_user(session, password=PASSWORD)
    session.commit()
    return user


@pytest.fixture
def signed_in(app: Flask, user: User) -> Browser:
    browser = Browser(app.test_client())
    assert browser.login(user.email).status_code == 302
    return browser


@pytest.fixture
def make_app(engine: object) -> Iterator[MakeApp]:
    """Build dashboards on the test's database with other settings; closed at the end."""
    built: list[Iterator[Flask]] = []

    def make(settings: Settings) -> Flask:
        apps = build_app(settings)
        built.append(apps)
        return next(apps)

    yield make
    for apps in built:
        next(apps, None)


@pytest.fixture(params=["memory", "redis"])
def storage(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def limited_app(storage: str, request: pytest.FixtureRequest) -> Flask:
    """The dashboard with its limits counted in memory, or in the real Redis."""
    name = "app" if storage == "memory" else "redis_app"
    app: Flask = request.getfixturevalue(name)
    return app


class Visitor:
    """A browser at one client address: its own cookies, the CSRF token from a page."""

    def __init__(self, app: Flask, address: str, **environ: str) -> None:
        self.client: FlaskClient = app.test_client()
        self.environ = {"REMOTE_ADDR": address, **environ}
        self.token: str | None = None

    def get(self, path: str) -> TestResponse:
        return self.client.get(path, environ_base=self.environ)

    def post(self, path: str, data: dict[str, str], page: str) -> TestResponse:
        if self.token is None:
            self.token = csrf_token_in(self.get(page).get_data(as_text=True))
        return self.client.post(
            path, data={**data, "csrf_token": self.token}, environ_base=self.environ
        )

    def login(self, email: str, password: str) -> TestResponse:
        return self.post("/login", {"email": email, "password": password}, page="/login")


def _retry_after(response: TestResponse) -> int:
    assert response.status_code == 429, response.get_data(as_text=True)
    return int(response.headers["Retry-After"])


def _other_user(session: Session) -> User:
    other = make_user(session, email="someone.else@example.test", password=PASSWORD)
    session.commit()
    return other


def test_wrong_passwords_to_one_account_are_refused_after_its_limit_from_any_address(
    limited_app: Flask, user: User, session: Session, storage: str
) -> None:
    other = _other_user(session)
    allowed = int(DEFAULTS.login_account.split("/")[0])
    codes = []
    for attempt in range(50):
        # A new address each time: an attacker spreading guesses over many machines.
        answer = Visitor(limited_app, f"10.1.0.{attempt + 1}").login(user.email.upper(), WRONG)
        codes.append(answer.status_code)
    assert codes == [400] * allowed + [429] * (50 - allowed)

    refused = Visitor(limited_app, "10.2.0.1").login(f"  {user.email} ", PASSWORD)
    assert 1 <= _retry_after(refused) <= 60
    page = refused.get_data(as_text=True)
    assert "Too many attempts to sign in to this account. Try again in a minute." in page
    # The form is still there, the email kept, with a working token.
    assert 'id="login-form"' in page and user.email in page
    csrf_token_in(page)

    assert Visitor(limited_app, "10.2.0.2").login(other.email, PASSWORD).status_code == 302
    if storage == "redis":
        names = [str(key) for key in Redis.from_url(_redis_url(limited_app)).keys("*")]
        assert any("login-account" in name for name in names), names
        assert not any(user.email in name for name in names), "an email address in Redis"


def _redis_url(app: Flask) -> str:
    url = app.extensions["outreach"].settings.redis_url
    assert isinstance(url, str)
    return url


def test_wrong_passwords_from_one_address_are_refused_after_its_limit_for_any_account(
    limited_app: Flask, user: User
) -> None:
    allowed = int(DEFAULTS.login_address.split("/")[0])
    attacker = Visitor(limited_app, "192.0.2.7")
    codes = [attacker.login(f"guess{n}@example.test", WRONG).status_code for n in range(50)]
    assert codes == [400] * allowed + [429] * (50 - allowed)

    # The right password of a real account is refused from that address too, while locked.
    locked = Visitor(limited_app, "192.0.2.7").login(user.email, PASSWORD)
    assert 1 <= _retry_after(locked) <= 60
    assert "Too many failed sign-ins from your network" in locked.get_data(as_text=True)
    # The account itself is not locked: from elsewhere it signs in.
    assert Visitor(limited_app, "192.0.2.8").login(user.email, PASSWORD).status_code == 302


def test_right_passwords_never_count(app: Flask, user: User) -> None:
    visitor = Visitor(app, "10.3.0.1")
    for _ in range(2 * int(DEFAULTS.login_account.split("/")[0])):
        assert visitor.login(user.email, PASSWORD).status_code == 302
        visitor.token = None  # signing in starts a new cookie session, with a new token
        assert visitor.post("/logout", {}, page="/").status_code == 302
        visitor.token = None


def test_the_wait_grows_with_the_longer_windows(
    settings: Settings, make_app: MakeApp, user: User
) -> None:
    app = make_app(_settings(settings, OUTREACH_LIMIT_LOGIN_ACCOUNT="2/5 seconds;3/hour;10/day"))
    visitor = Visitor(app, "10.4.0.1")
    assert [visitor.login(user.email, WRONG).status_code for _ in range(3)] == [400, 400, 429]
    time.sleep(5.1)
    assert visitor.login(user.email, WRONG).status_code == 400  # the third of the hour
    refused = visitor.login(user.email, PASSWORD)
    # The hour's window is full now: it, not the short one, says how long to wait.
    assert 3500 < _retry_after(refused) <= 3600
    assert "Try again in 60 minutes." in refused.get_data(as_text=True)


def test_an_ipv6_client_is_counted_by_its_64_network(app: Flask) -> None:
    allowed = int(DEFAULTS.login_address.split("/")[0])
    codes = [
        Visitor(app, f"2001:db8:5:7::{n + 1:x}").login(f"g{n}@example.test", WRONG).status_code
        for n in range(allowed + 1)
    ]
    assert codes[-1] == 429
    assert Visitor(app, "2001:db8:5:8::1").login("x@example.test", WRONG).status_code == 400


def test_forwarded_for_is_believed_only_from_trusted_proxies(
    settings: Settings, make_app: MakeApp
) -> None:
    allowed = int(DEFAULTS.login_address.split("/")[0])

    def codes(app: Flask) -> list[int]:
        # Every request comes from the proxy's address and names a new client.
        return [
            Visitor(app, "172.16.0.1", HTTP_X_FORWARDED_FOR=f"198.51.100.{n + 1}")
            .login(f"g{n}@example.test", WRONG)
            .status_code
            for n in range(allowed + 1)
        ]

    # No trusted proxy (the default): a client cannot pick its address by a header.
    assert codes(make_app(settings))[-1] == 429
    behind_proxy = make_app(_settings(settings, OUTREACH_TRUSTED_PROXIES="1"))
    assert codes(behind_proxy) == [400] * (allowed + 1)


def test_sign_up_is_limited_by_address(app: Flask) -> None:
    allowed = int(DEFAULTS.signup.split("/")[0])

    def sign_up(address: str, n: int) -> TestResponse:
        form = {"name": f"New {n}", "email": f"new{n}@example.test", "password": PASSWORD}
        return Visitor(app, address).post("/signup", form, page="/signup")

    assert [sign_up("10.5.0.1", n).status_code for n in range(allowed)] == [303] * allowed
    refused = sign_up("10.5.0.1", allowed)
    assert 1 <= _retry_after(refused) <= 60
    page = refused.get_data(as_text=True)
    assert "Too many accounts were created from your network. Try again in a minute." in page
    assert 'id="signup-form"' in page
    assert sign_up("10.5.0.2", allowed + 1).status_code == 303


@pytest.fixture
def google_settings(settings: Settings) -> Settings:
    dead = f"http://127.0.0.1:{free_port()}"
    return _settings(
        settings,
        OUTREACH_GOOGLE_CLIENT_ID="outreach-tests",
        OUTREACH_GOOGLE_CLIENT_SECRET="not-a-real-secret",
        OUTREACH_GOOGLE_AUTHORIZE_URL="https://accounts.provider.example/o/authorize",
        OUTREACH_GOOGLE_TOKEN_URL=f"{dead}/token",
        OUTREACH_GOOGLE_REVOKE_URL=f"{dead}/revoke",
        OUTREACH_GOOGLE_USERINFO_URL=f"{dead}/userinfo",
    )


def test_oauth_start_is_limited_per_account(
    google_settings: Settings, make_app: MakeApp, user: User, session: Session
) -> None:
    other = _other_user(session)
    app = make_app(google_settings)
    allowed = int(DEFAULTS.oauth.split("/")[0])

    def signed_in(email: str) -> Browser:
        browser = Browser(app.test_client())
        assert browser.login(email).status_code == 302
        return browser

    browser = signed_in(user.email)
    codes = [
        browser.post("/mailboxes/oauth/google/start", {}, page="/mailbox").status_code
        for _ in range(allowed + 1)
    ]
    assert codes == [303] * allowed + [429]
    # Signing in again (a new cookie) does not reset the account's count.
    again = signed_in(user.email).post("/mailboxes/oauth/google/start", {}, page="/mailbox")
    assert 1 <= _retry_after(again) <= 60
    assert "Too many sign-ins with Google or Microsoft" in again.get_data(as_text=True)
    elsewhere = signed_in(other.email).post("/mailboxes/oauth/google/start", {}, page="/mailbox")
    assert elsewhere.status_code == 303


def test_test_connection_is_limited_per_account_with_a_new_password_counted_too(
    signed_in: Browser, user: User, session: Session, secret_box: SecretBox
) -> None:
    # Nothing listens there: each test fails at once, as a wrong port does.
    mailbox = make_mailbox(session, user, secret_box, imap_port=free_port(), smtp_port=free_port())
    session.commit()
    allowed = int(DEFAULTS.test_connection.split("/")[0])
    codes = [
        signed_in.post(f"/mailbox/{mailbox.id}/test", {}, page="/mailbox").status_code
        for _ in range(allowed - 1)
    ]
    codes.append(
        signed_in.post(
            f"/mailbox/{mailbox.id}/password", {"password": "another"}, page="/mailbox"
        ).status_code
    )
    assert codes == [302] * allowed
    refused = signed_in.post(f"/mailbox/{mailbox.id}/test", {}, page="/mailbox")
    assert 1 <= _retry_after(refused) <= 60
    page = refused.get_data(as_text=True)
    assert "Too many connection tests in a short time. Try again in a minute." in page
    assert mailbox.email_address in page  # the Mailbox page itself, not a dead end


def test_template_preview_is_limited_and_keeps_the_text(signed_in: Browser) -> None:
    allowed = int(DEFAULTS.template_preview.split("/")[0])
    form = {"subject": "Hello {{ contact.first_name }}", "body": "Kept text 12345"}
    codes = [
        signed_in.post("/templates/request", form, page="/templates/request").status_code
        for _ in range(allowed)
    ]
    assert codes == [200] * allowed
    refused = signed_in.post("/templates/request", form, page="/templates/request")
    assert 1 <= _retry_after(refused) <= 60
    page = refused.get_data(as_text=True)
    assert "Templates were previewed or saved many times in a short time." in page
    assert "Kept text 12345" in page


def test_limits_can_be_switched_off(settings: Settings, make_app: MakeApp, user: User) -> None:
    app = make_app(_settings(settings, OUTREACH_RATE_LIMITS="off"))
    visitor = Visitor(app, "10.6.0.1")
    assert {visitor.login(user.email, WRONG).status_code for _ in range(8)} == {400}
    assert visitor.login(user.email, PASSWORD).status_code == 302


def test_a_redis_that_does_not_answer_falls_back_to_memory(
    settings: Settings, make_app: MakeApp, user: User
) -> None:
    app = make_app(_settings(settings, OUTREACH_REDIS_URL=f"redis://127.0.0.1:{free_port()}"))
    visitor = Visitor(app, "10.7.0.1")
    allowed = int(DEFAULTS.login_account.split("/")[0])
    codes = [visitor.login(user.email, WRONG).status_code for _ in range(allowed + 1)]
    assert codes == [400] * allowed + [429]


@pytest.mark.parametrize(
    "value", ["lots", "5/fortnight", "0/minute", "5/minute;", "-1/hour", "5 a minute"]
)
def test_a_malformed_limit_is_refused_at_start_with_its_name(
    settings: Settings, value: str
) -> None:
    with pytest.raises(ConfigurationError) as refused:
        _settings(settings, OUTREACH_LIMIT_LOGIN_ACCOUNT=value)
    assert "OUTREACH_LIMIT_LOGIN_ACCOUNT must be limits like 5/minute;20/hour;100/day" in str(
        refused.value
    )


def test_trusted_proxies_must_be_a_small_number(settings: Settings) -> None:
    with pytest.raises(ConfigurationError, match="OUTREACH_TRUSTED_PROXIES"):
        _settings(settings, OUTREACH_TRUSTED_PROXIES="yes")
