"""Fixtures for the dashboard: the app on the test's database, and a browser-like client.

Forms are posted the way a browser posts them: the CSRF token is read from a
rendered page, never switched off.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from redis import Redis
from sqlalchemy import Engine
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from outreach.config import Settings
from outreach.models import Contact, Message, Target, User
from outreach.targets import create_target, fill_pipeline
from tests.conftest import NOW
from tests.factories import make_user
from tests.servers.redis import RedisServer
from web.app import create_app

PASSWORD = "correct horse battery"
_TOKEN = re.compile(r'name="csrf_token"[^>]*?value="([^"]+)"')


def csrf_token_in(html: str) -> str:
    found = _TOKEN.search(html)
    assert found is not None, "the page has no form with a CSRF token"
    return found.group(1)


class Browser:
    """A test client that reads the CSRF token from a page before each POST."""

    def __init__(self, client: FlaskClient) -> None:
        self.client = client

    def get(self, path: str, **options: Any) -> TestResponse:
        return self.client.get(path, **options)

    def page(self, path: str) -> str:
        response = self.client.get(path, follow_redirects=True)
        assert response.status_code == 200, response.status_code
        return response.get_data(as_text=True)

    def post(
        self, path: str, data: dict[str, Any] | None = None, *, page: str = "/", **options: Any
    ) -> TestResponse:
        """POST `data` with the token read from `page` (any page carries one in its nav)."""
        form = dict(data or {})
        form.setdefault("csrf_token", csrf_token_in(self.page(page)))
        return self.client.post(path, data=form, **options)

    def login(self, email: str, password: str = PASSWORD) -> TestResponse:
        return self.post("/login", {"email": email, "password": password}, page="/login")

    def logout(self) -> TestResponse:
        return self.post("/logout")


def build_app(settings: Settings) -> Iterator[Flask]:
    app = create_app(settings)
    app.config["TESTING"] = True
    yield app
    app.extensions["outreach"].close()


@pytest.fixture
def app(settings: Settings, engine: Engine) -> Iterator[Flask]:
    """The dashboard on the test's SQLite file (`engine` created the schema), without Redis."""
    yield from build_app(settings)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def browser(client: FlaskClient) -> Browser:
    return Browser(client)


@pytest.fixture
def user(session: Session) -> User:
    user = make_user(session, password=PASSWORD)
    session.commit()
    return user


@pytest.fixture
def signed_in(browser: Browser, user: User) -> Browser:
    """`browser`, logged in as `user`."""
    response = browser.login(user.email)
    assert response.status_code == 302, response.get_data(as_text=True)
    return browser


@pytest.fixture
def redis_settings(settings: Settings, redis_server: RedisServer) -> Settings:
    """The test's settings (same instance folder, database and keys) plus the real Redis."""
    return Settings.from_env(
        {
            "OUTREACH_INSTANCE_DIR": str(settings.instance_dir),
            "OUTREACH_SECRET_KEY": settings.secret_key,
            "OUTREACH_ENCRYPTION_KEYS": ",".join(settings.encryption_keys),
            "OUTREACH_REDIS_URL": redis_server.url,
        }
    )


@pytest.fixture
def redis(redis_server: RedisServer) -> Iterator[Redis]:
    """A client on the session's Redis, emptied before and after the test."""
    connection = Redis.from_url(redis_server.url)
    connection.flushdb()
    yield connection
    connection.flushdb()
    connection.close()


@pytest.fixture
def redis_app(redis_settings: Settings, engine: Engine, redis: Redis) -> Iterator[Flask]:
    """The dashboard with a real Redis behind its send queue."""
    yield from build_app(redis_settings)


def start_target(
    session: Session,
    user: User,
    contacts: Sequence[Contact],
    name: str = "Science policy",
    **options: Any,
) -> tuple[Target, list[Message]]:
    """A target over `contacts` with its first request(s) drafted, as the dashboard does it.

    The factory's contacts share one organisation, so a list of several lets them be
    out at once unless a test says otherwise; a list of one or none keeps the default.
    """
    if len(contacts) > 1:
        options.setdefault("allow_same_organisation", True)
    target = create_target(session, user, name, [contact.id for contact in contacts], **options)
    return target, fill_pipeline(session, user, target, NOW)
