"""Sign up, log in, log out, and the login wall in front of every other page."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from outreach.models import User
from tests.web.conftest import PASSWORD, Browser, csrf_token_in


def test_signup_creates_the_account_then_the_person_logs_in(
    browser: Browser, session: Session
) -> None:
    response = browser.post(
        "/signup",
        {"name": "Robin Reyes", "email": "Robin@Example.test", "password": "long enough pw"},
        page="/signup",
    )

    assert response.status_code == 303
    assert response.headers["Location"] == "/login"
    login = browser.page("/login")
    assert "You can now log in with robin@example.test and your password." in login
    assert 'value="robin@example.test"' in login
    assert session.scalar(select(User.name).where(User.email == "robin@example.test")) == (
        "Robin Reyes"
    )
    assert browser.login("robin@example.test", "long enough pw").status_code == 302
    board = browser.page("/")
    assert "Get started in three steps" in board
    assert "Robin Reyes" in board


def test_signup_with_a_short_password_is_refused(browser: Browser, session: Session) -> None:
    response = browser.post(
        "/signup", {"name": "Robin", "email": "r@example.test", "password": "short"}, page="/signup"
    )

    assert response.status_code == 400
    assert "at least 10 characters" in response.get_data(as_text=True)
    assert session.scalar(select(User).where(User.email == "r@example.test")) is None


def test_login_then_logout(browser: Browser, user: User) -> None:
    response = browser.login(user.email)
    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    assert browser.get("/").status_code == 200

    response = browser.logout()

    assert response.status_code == 302
    assert response.headers["Location"] == "/login"
    assert "You are logged out." in browser.page("/login")
    assert browser.get("/").status_code == 302


def test_wrong_password_says_the_pair_does_not_match(browser: Browser, user: User) -> None:
    response = browser.login(user.email, "not the password")

    assert response.status_code == 400
    assert "That email and password do not match." in response.get_data(as_text=True)
    assert browser.get("/").status_code == 302


def test_unknown_address_gets_the_same_message(browser: Browser) -> None:
    response = browser.login("nobody@example.test")

    assert response.status_code == 400
    assert "That email and password do not match." in response.get_data(as_text=True)


def test_password_is_not_echoed_back(browser: Browser, user: User) -> None:
    response = browser.login(user.email, "my secret attempt")

    assert "my secret attempt" not in response.get_data(as_text=True)


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/drafts",
        "/drafts/1",
        "/contacts",
        "/contacts/1",
        "/contacts/import",
        "/targets",
        "/targets/1",
        "/mailbox",
        "/profile",
        "/no-such-page",
    ],
)
def test_pages_need_a_login(client: FlaskClient, path: str) -> None:
    response = client.get(path)

    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")


def test_the_login_page_remembers_where_you_were_going(browser: Browser, user: User) -> None:
    response = browser.get("/drafts?x=1")
    assert response.headers["Location"] == "/login?next=/drafts?x%3D1"

    page = browser.page(response.headers["Location"])
    assert 'name="next" type="hidden" value="/drafts?x=1"' in page
    response = browser.client.post(
        "/login",
        data={
            "email": user.email,
            "password": PASSWORD,
            "next": "/drafts?x=1",
            "csrf_token": csrf_token_in(page),
        },
    )

    assert response.status_code == 302
    assert response.headers["Location"] == "/drafts?x=1"


@pytest.mark.parametrize(
    "path",
    [
        "/drafts/1/approve",
        "/drafts/approve",
        "/drafts/1/discard",
        "/contacts",
        "/targets",
        "/mailbox",
        "/mailbox/1/test",
        "/profile",
        "/logout",
    ],
)
def test_an_anonymous_post_goes_to_the_login_page(client: FlaskClient, path: str) -> None:
    response = client.post(path)

    assert response.status_code == 302
    assert response.headers["Location"] == "/login"


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/",
        "//evil.example/",
        "/\\evil.example/",
        "\\\\evil.example",
        "http:evil.example",
        "javascript:alert(1)",
        "evil.example",
        "/\tevil.example",
    ],
)
def test_login_refuses_to_redirect_off_site(browser: Browser, user: User, target: str) -> None:
    response = browser.post(
        "/login", {"email": user.email, "password": PASSWORD, "next": target}, page="/login"
    )

    assert response.status_code == 302
    assert response.headers["Location"] == "/"


def test_login_page_drops_an_off_site_next(client: FlaskClient) -> None:
    page = client.get("/login?next=//evil.example").get_data(as_text=True)

    assert "evil.example" not in page


def test_healthz_answers_without_a_login(client: FlaskClient) -> None:
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.get_data(as_text=True) == "ok"
