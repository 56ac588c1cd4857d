"""Sign-ins that can be ended: password change, "sign out everywhere", a lifetime, Secure cookies.

A copied cookie is replayed with a second test client, as a thief would replay it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from outreach import clock
from outreach.accounts import authenticate
from outreach.config import Settings
from outreach.models import User
from tests.factories import make_user
from tests.web.conftest import PASSWORD, Browser, build_app

NEW_PASSWORD = "a new and longer passphrase"
COOKIE = "session"


@pytest.fixture
def app(settings: Settings, engine: object) -> Iterator[Flask]:
    yield from build_app(settings)


MakeApp = Callable[[Settings], Flask]


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


@pytest.fixture
def user(session: Session) -> User:
    user = make_user(session, password=PASSWORD)
    session.commit()
    return user


def signed_in(app: Flask, user: User) -> Browser:
    browser = Browser(app.test_client())
    assert browser.login(user.email).status_code == 302
    return browser


def copy_of(app: Flask, browser: Browser) -> FlaskClient:
    """Another client holding the same session cookie, as if it had been copied."""
    cookie = browser.client.get_cookie(COOKIE)
    assert cookie is not None
    thief = app.test_client()
    thief.set_cookie(COOKIE, cookie.value)
    return thief


def lets_in(client: FlaskClient) -> bool:
    response = client.get("/profile")
    if response.status_code == 200:
        return True
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    return False


def test_a_copied_cookie_works_until_sign_out_everywhere(app: Flask, user: User) -> None:
    browser = signed_in(app, user)
    other_device = signed_in(app, user)
    thief = copy_of(app, browser)
    assert lets_in(thief)

    response = browser.post("/profile/sign-out-everywhere", {}, page="/profile")
    assert response.status_code == 302 and response.headers["Location"].endswith("/login")
    assert "You are signed out everywhere" in browser.page("/login")
    assert not lets_in(thief)
    assert not lets_in(other_device.client)
    assert not lets_in(browser.client)
    # Signing in again works, and is not ended by the old version.
    assert lets_in(signed_in(app, user).client)


def test_a_password_change_ends_other_sign_ins_and_keeps_this_one(
    app: Flask, user: User, session: Session
) -> None:
    browser = signed_in(app, user)
    thief = copy_of(app, signed_in(app, user))
    form = {
        "password-current_password": PASSWORD,
        "password-new_password": NEW_PASSWORD,
        "password-new_password_again": NEW_PASSWORD,
    }
    response = browser.post("/profile/password", form, page="/profile")
    assert response.status_code == 302, response.get_data(as_text=True)
    assert "Your password is changed" in browser.page("/profile")
    assert lets_in(browser.client)
    assert not lets_in(thief)
    thief_page = thief.get("/login").get_data(as_text=True)
    assert "Your sign-in has ended. Please log in again." in thief_page

    session.expire_all()
    assert authenticate(session, user.email, NEW_PASSWORD) is not None
    assert authenticate(session, user.email, PASSWORD) is None


@pytest.mark.parametrize(
    ("current", "new", "again", "reason"),
    [
        ("wrong password!", NEW_PASSWORD, NEW_PASSWORD, "Your current password is not right."),
        (PASSWORD, NEW_PASSWORD, NEW_PASSWORD + "x", "The two new passwords are not the same."),
        (PASSWORD, "tiny pw", "tiny pw", "The new password needs at least 10 characters."),
    ],
)
def test_a_refused_password_change_changes_nothing(
    app: Flask, user: User, session: Session, current: str, new: str, again: str, reason: str
) -> None:
    browser = signed_in(app, user)
    thief = copy_of(app, signed_in(app, user))
    form = {
        "password-current_password": current,
        "password-new_password": new,
        "password-new_password_again": again,
    }
    response = browser.post("/profile/password", form, page="/profile")
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert reason in page
    assert new not in page  # a password is never written back into the page
    assert lets_in(thief)
    session.expire_all()
    assert authenticate(session, user.email, PASSWORD) is not None


def test_wrong_current_passwords_count_toward_the_accounts_sign_in_limit(
    app: Flask, user: User
) -> None:
    browser = signed_in(app, user)
    form = {
        "password-current_password": "a guess at it",
        "password-new_password": NEW_PASSWORD,
        "password-new_password_again": NEW_PASSWORD,
    }
    codes = [browser.post("/profile/password", form, page="/profile").status_code for _ in range(6)]
    assert codes == [400] * 5 + [429]
    # The same counter as the login page's: that account is locked there too.
    login = Browser(app.test_client()).login(user.email)
    assert login.status_code == 429


def test_a_sign_in_ends_after_its_lifetime_even_in_steady_use(
    settings: Settings,
    make_app: MakeApp,
    user: User,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    offset_file = tmp_path / "clock-offset"
    monkeypatch.setenv(clock.OFFSET_FILE_ENV, str(offset_file))
    app = make_app(settings)
    assert app.permanent_session_lifetime == timedelta(days=14)
    browser = signed_in(app, user)
    cookie = browser.client.get_cookie(COOKIE)
    assert cookie is not None and cookie.expires is not None  # kept across browser restarts
    for _ in range(13):
        clock.travel(offset_file, timedelta(days=1))
        assert lets_in(browser.client)
    clock.travel(offset_file, timedelta(days=1, seconds=1))
    assert not lets_in(browser.client)


def test_the_lifetime_is_a_setting(settings: Settings, make_app: MakeApp, user: User) -> None:
    shorter = Settings.from_env(
        {
            "OUTREACH_INSTANCE_DIR": str(settings.instance_dir),
            "OUTREACH_DATABASE_URL": settings.database_url,
            "OUTREACH_SECRET_KEY": settings.secret_key,
            "OUTREACH_ENCRYPTION_KEYS": ",".join(settings.encryption_keys),
            "OUTREACH_SESSION_DAYS": "2",
        }
    )
    app = make_app(shorter)
    assert app.permanent_session_lifetime == timedelta(days=2)


def _session_cookie_header(app: Flask, user: User) -> str:
    response = Browser(app.test_client()).login(user.email)
    assert response.status_code == 302
    headers = [h for h in response.headers.getlist("Set-Cookie") if h.startswith(COOKIE + "=")]
    assert len(headers) == 1
    return headers[0]


@pytest.mark.parametrize(
    ("public_url", "secure_setting", "secure"),
    [
        ("https://outreach.uni.example", None, True),
        ("http://localhost:5000", None, False),
        (None, None, False),
        ("https://outreach.uni.example", "false", False),
        ("http://localhost:5000", "true", True),
    ],
)
def test_secure_cookies_follow_an_https_public_url_unless_set(
    settings: Settings,
    make_app: MakeApp,
    user: User,
    public_url: str | None,
    secure_setting: str | None,
    secure: bool,
) -> None:
    env = {
        "OUTREACH_INSTANCE_DIR": str(settings.instance_dir),
        "OUTREACH_DATABASE_URL": settings.database_url,
        "OUTREACH_SECRET_KEY": settings.secret_key,
        "OUTREACH_ENCRYPTION_KEYS": ",".join(settings.encryption_keys),
    }
    if public_url:
        env["OUTREACH_PUBLIC_URL"] = public_url
    if secure_setting:
        env["OUTREACH_SECURE_COOKIES"] = secure_setting
    app = make_app(Settings.from_env(env))
    header = _session_cookie_header(app, user)
    assert bool(re.search(r";\s*Secure", header)) is secure, header
    assert "HttpOnly" in header


def test_the_signed_out_message_waits_for_a_page_not_a_background_request(
    app: Flask, user: User
) -> None:
    browser = signed_in(app, user)
    other = signed_in(app, user)
    assert browser.post("/profile/sign-out-everywhere", {}, page="/profile").status_code == 302
    background = other.client.get("/board/live", headers={"Sec-Fetch-Mode": "cors"})
    assert background.status_code == 302
    page = other.client.get("/profile", follow_redirects=True).get_data(as_text=True)
    assert "Your sign-in has ended. Please log in again." in page
