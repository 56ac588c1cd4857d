"""How the app is put together: cookies, headers, error pages, health check."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from cryptography.fernet import Fernet
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from outreach.config import Settings
from outreach.crypto import SecretBox
from outreach.models import User
from tests.factories import make_mailbox
from tests.web.conftest import Browser, build_app
from web.app import create_app


def test_session_cookie_is_http_only_and_same_site(browser: Browser, user: User) -> None:
    response = browser.login(user.email)

    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert "Secure" not in cookie


@pytest.fixture
def secure_app(settings: Settings, engine: Engine) -> Iterator[Flask]:
    secure = Settings.from_env(
        {
            "OUTREACH_INSTANCE_DIR": str(settings.instance_dir),
            "OUTREACH_SECRET_KEY": settings.secret_key,
            "OUTREACH_ENCRYPTION_KEYS": ",".join(settings.encryption_keys),
            "OUTREACH_SECURE_COOKIES": "true",
        }
    )
    yield from build_app(secure)


def test_secure_cookies_follow_the_setting(secure_app: Flask) -> None:
    assert secure_app.config["SESSION_COOKIE_SECURE"] is True
    assert secure_app.config["SECRET_KEY"] == "test-secret-key"


def test_pages_carry_protective_headers(client: FlaskClient) -> None:
    response = client.get("/login")

    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"


def test_an_unknown_page_is_a_friendly_404(signed_in: Browser) -> None:
    response = signed_in.get("/no-such-page")

    assert response.status_code == 404
    assert "There is nothing here, or it belongs to another account." in response.get_data(
        as_text=True
    )


def test_a_configuration_problem_is_a_500_page_with_the_sentence(
    signed_in: Browser, user: User, session: Session
) -> None:
    # A secret stored under a key the app no longer has.
    lost_key = SecretBox((Fernet.generate_key().decode(),))
    mailbox = make_mailbox(session, user, lost_key)
    session.commit()

    response = signed_in.post(f"/mailbox/{mailbox.id}/test", page="/mailbox")

    assert response.status_code == 500
    assert "A stored mailbox secret cannot be decrypted" in response.get_data(as_text=True)


def test_static_files_need_no_login(client: FlaskClient) -> None:
    response = client.get("/static/style.css")

    assert response.status_code == 200
    response.close()


def test_the_app_reads_settings_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, settings: Settings, engine: Engine
) -> None:
    monkeypatch.setenv("OUTREACH_INSTANCE_DIR", str(settings.instance_dir))
    monkeypatch.setenv("OUTREACH_SECRET_KEY", "from-the-environment")
    monkeypatch.setenv("OUTREACH_ENCRYPTION_KEYS", ",".join(settings.encryption_keys))
    monkeypatch.delenv("OUTREACH_REDIS_URL", raising=False)

    app = create_app()

    assert app.config["SECRET_KEY"] == "from-the-environment"
    assert app.extensions["outreach"].settings.instance_dir == settings.instance_dir
    app.extensions["outreach"].close()
