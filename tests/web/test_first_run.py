"""The first run (issue 14, item 7): what a newcomer reads before and just after signing up.

The login page says what Outreach is and how to get an account here; sign-up
takes the browser's time zone; the board's first steps offer the sandbox; the
Mailbox page never asks for a sign-in button this Outreach does not have.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from outreach.config import Settings
from outreach.crypto import SecretBox
from outreach.models import User
from outreach.signup import browser_time_zone
from tests.factories import make_mailbox
from tests.web.conftest import PASSWORD, Browser, build_app

CONTACT = "the careers office (careers@uni.example)"


def browser_on(settings: Settings) -> Iterator[Browser]:
    for flask_app in build_app(settings):
        yield Browser(flask_app.test_client())


@pytest.fixture
def mode_browser(
    settings: Settings, engine: Engine, request: pytest.FixtureRequest
) -> Iterator[Browser]:
    """A browser on a dashboard whose OUTREACH_SIGNUP is the test's parameter."""
    yield from browser_on(replace(settings, signup=request.param, signup_contact=CONTACT))


def sign_up(browser: Browser, email: str, time_zone: str) -> None:
    response = browser.post(
        "/signup",
        {"name": "Robin Reyes", "email": email, "password": PASSWORD, "time_zone": time_zone},
        page="/signup",
    )
    assert response.status_code == 303, response.get_data(as_text=True)


def zone_of(session: Session, email: str) -> str | None:
    session.expire_all()
    return session.scalar(select(User.time_zone).where(User.email == email))


# --- the login page ----------------------------------------------------------------------------


def test_the_login_page_says_what_outreach_is_and_offers_sign_up(browser: Browser) -> None:
    page = browser.page("/login")

    assert "Outreach helps you ask people for informational interviews" in page
    assert "sends them from your own mailbox only after you approve them" in page
    assert '<a href="/signup">Create an account</a>' in page


@pytest.mark.parametrize("mode_browser", ["invite"], indirect=True)
def test_the_login_page_by_invitation_says_how_to_get_one(mode_browser: Browser) -> None:
    page = mode_browser.page("/login")

    assert "Outreach helps you ask people for informational interviews" in page
    assert 'href="/signup"' not in page
    assert f"open the link you were sent, or ask {CONTACT} for one." in page


@pytest.mark.parametrize("mode_browser", ["closed"], indirect=True)
def test_the_login_page_when_sign_up_is_closed_names_who_to_ask(mode_browser: Browser) -> None:
    page = mode_browser.page("/login")

    assert 'href="/signup"' not in page
    assert f"made by the person who runs it: ask {CONTACT} for one." in page


def test_a_wrong_password_keeps_the_introduction_and_the_sign_up_link(
    browser: Browser, user: User
) -> None:
    response = browser.login(user.email, "not the password")

    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "That email and password do not match." in page
    assert "Outreach helps you ask people" in page
    assert '<a href="/signup">Create an account</a>' in page


# --- the time zone at sign-up ------------------------------------------------------------------


def test_the_sign_up_form_asks_the_browser_for_its_time_zone(browser: Browser) -> None:
    page = browser.page("/signup")

    assert '<input data-browser-time-zone="" id="time_zone" name="time_zone" type="hidden"' in page
    # A file, not an inline script: the Content-Security-Policy forbids those.
    assert '<script src="/static/timezone.js" defer></script>' in page
    script = browser.get("/static/timezone.js")
    assert script.status_code == 200
    assert b"Intl.DateTimeFormat().resolvedOptions().timeZone" in script.get_data()
    script.close()


def test_sign_up_keeps_the_browsers_time_zone(browser: Browser, session: Session) -> None:
    sign_up(browser, "robin@example.test", "America/Sao_Paulo")

    assert zone_of(session, "robin@example.test") == "America/Sao_Paulo"
    browser.login("robin@example.test")
    profile = browser.page("/profile")
    assert '<option selected value="America/Sao_Paulo">' in profile


@pytest.mark.parametrize("sent", ["", "Mars/Olympus_Mons", "x" * 500, "../../etc/passwd"])
def test_a_time_zone_this_machine_does_not_know_leaves_utc(
    browser: Browser, session: Session, sent: str
) -> None:
    """The person never saw the field: no refusal, the account starts in UTC."""
    sign_up(browser, "robin@example.test", sent)

    assert zone_of(session, "robin@example.test") == "UTC"


def test_sign_up_for_a_taken_address_leaves_its_time_zone(
    browser: Browser, session: Session, user: User
) -> None:
    before = user.time_zone
    sign_up(browser, user.email, "Asia/Tokyo")

    assert zone_of(session, user.email) == before != "Asia/Tokyo"


def test_browser_time_zone_accepts_only_known_names() -> None:
    assert browser_time_zone(" Europe/Berlin ") == "Europe/Berlin"
    assert browser_time_zone("Europe/Nowhere") is None
    assert browser_time_zone("") is None


# --- the board's first steps -------------------------------------------------------------------


def test_the_first_steps_offer_the_sandbox_first(signed_in: Browser) -> None:
    page = signed_in.page("/")

    assert "Get started in three steps" in page
    assert "New to this? Try the sandbox first." in page
    assert 'action="/sandbox"' in page
    assert 'id="first-steps-time-zone">UTC</span>' in page


def test_no_sandbox_in_the_first_steps_when_it_is_switched_off(
    settings: Settings, engine: Engine, user: User
) -> None:
    for browser in browser_on(replace(settings, sandbox_enabled=False)):
        browser.login(user.email)
        page = browser.page("/")

        assert "Get started in three steps" in page
        assert "Try the sandbox first" not in page


def test_no_sandbox_in_the_first_steps_beside_a_real_mailbox(
    signed_in: Browser, session: Session, user: User, secret_box: SecretBox
) -> None:
    """Its drafts would go out through the real mailbox: the Mailbox page does not offer it."""
    make_mailbox(session, user, secret_box)
    session.commit()

    page = signed_in.page("/")

    assert "Get started in three steps" in page
    assert "Try the sandbox first" not in page


# --- the Mailbox page without a provider's sign-in ---------------------------------------------


def test_without_microsoft_sign_in_the_page_says_what_to_do(signed_in: Browser) -> None:
    page = signed_in.page("/mailbox")

    assert 'data-action="sign-in-microsoft"' not in page
    assert "they need “Sign in with Microsoft”, which is not set up on this Outreach." in page
    assert "Ask the person who runs this Outreach to set it up" in page
    assert "<code>docs/oauth.md</code>" in page
    assert "connect an address that takes an app password, such as Gmail." in page


def test_an_outlook_address_is_not_told_to_press_a_missing_button(signed_in: Browser) -> None:
    page = signed_in.page("/mailbox?address=sam@outlook.com")

    assert 'data-sign-in="not-set-up"' in page
    assert "Outlook.com accepts no passwords from other mail programs" in page
    assert "connect with Sign in with Microsoft" not in page
    assert "Meanwhile, the sandbox above shows how everything works." in page


def test_a_gmail_address_without_google_sign_in_is_told_the_app_password_is_the_way(
    signed_in: Browser,
) -> None:
    page = signed_in.page("/mailbox?address=sam@gmail.com")

    assert "create an app password" in page
    assert "“Sign in with Google” is not set up on this Outreach, so the app password" in page


def test_with_microsoft_sign_in_the_page_points_to_its_button(
    instance_dir: Path, database_url: str, engine: Engine, user: User
) -> None:
    microsoft = Settings.from_env(
        {
            "OUTREACH_INSTANCE_DIR": str(instance_dir),
            "OUTREACH_DATABASE_URL": database_url,
            "OUTREACH_SECRET_KEY": "test-secret-key",
            "OUTREACH_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
            "OUTREACH_MICROSOFT_CLIENT_ID": "outreach-tests",
            "OUTREACH_MICROSOFT_CLIENT_SECRET": "not-a-real-secret",
        }
    )
    for browser in browser_on(microsoft):
        browser.login(user.email)
        page = browser.page("/mailbox")
        assert 'data-action="sign-in-microsoft">Sign in with Microsoft</button>' in page
        assert "use “Sign in with Microsoft” above." in page
        assert "not set up on this Outreach" not in page
