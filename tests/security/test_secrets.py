"""Mailbox passwords and sign-in tokens: encrypted at rest, never logged, never on a page,
never in the settings' repr."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import replace

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from outreach.config import Settings
from outreach.crypto import SecretBox
from outreach.models import AuthMethod, Mailbox
from tests.conftest import World
from tests.security.conftest import Person
from tests.servers.tls import TlsFiles
from tests.web.conftest import Browser, build_app, csrf_token_in

MAILBOX_PASSWORD = "alice-mailbox-password"


def test_the_settings_repr_shows_no_secret(settings: Settings) -> None:
    shown = repr(replace(settings, secret_key="sEcReT-session-key"))

    assert "sEcReT-session-key" not in shown
    for key in settings.encryption_keys:
        assert key not in shown
    assert "instance_dir" in shown  # the rest is still there to read


def test_a_mailbox_password_is_encrypted_in_the_database(
    engine: Engine, secret_box: SecretBox, alice: Person
) -> None:
    with engine.connect() as connection:
        stored = connection.execute(
            text("SELECT secret_encrypted FROM mailboxes WHERE id = :id"),
            {"id": alice.mailbox_id},
        ).scalar_one()
        whole_rows = repr(connection.execute(text("SELECT * FROM mailboxes")).all())

    assert MAILBOX_PASSWORD not in whole_rows
    assert secret_box.decrypt(stored) == MAILBOX_PASSWORD


def test_oauth_tokens_are_encrypted_in_the_database(
    engine: Engine, session: Session, secret_box: SecretBox, alice: Person
) -> None:
    mailbox = session.get_one(Mailbox, alice.mailbox_id)
    mailbox.auth_method = AuthMethod.OAUTH2
    mailbox.oauth_provider = "google"
    mailbox.oauth_refresh_encrypted = secret_box.encrypt("1//refresh-token-of-alice")
    mailbox.oauth_access_encrypted = secret_box.encrypt("ya29.access-token-of-alice")
    session.commit()

    with engine.connect() as connection:
        whole_rows = repr(connection.execute(text("SELECT * FROM mailboxes")).all())
    page = alice.browser.page("/mailbox")

    for token in ("1//refresh-token-of-alice", "ya29.access-token-of-alice"):
        assert token not in whole_rows
        assert token not in page


@pytest.fixture
def app_for_world(
    settings: Settings, engine: Engine, world: World, tls_files: TlsFiles
) -> Iterator[Browser]:
    """The dashboard trusting the test servers' CA, with the world's user signed in."""
    for app in build_app(replace(settings, ca_file=tls_files.ca_pem)):
        browser = Browser(app.test_client())
        assert browser.login(world.user.email).status_code == 302
        yield browser


def test_no_page_of_the_owner_shows_the_password(alice: Person) -> None:
    for path in ("/", "/mailbox", "/outbox", "/profile", f"/contacts/{alice.contact_id}"):
        assert MAILBOX_PASSWORD not in alice.browser.page(path)


def test_a_failed_mailbox_login_logs_no_password(
    caplog: pytest.LogCaptureFixture,
    session: Session,
    world: World,
    app_for_world: Browser,
) -> None:
    """A wrong password against the real Dovecot and SMTP server: said on the page, not logged."""
    wrong = "Wr0ng-but-secret-password"
    caplog.set_level(logging.DEBUG)
    browser = app_for_world
    token = csrf_token_in(browser.page("/mailbox"))

    response = browser.client.post(
        f"/mailbox/{world.mailbox.id}/password",
        data={"password": wrong, "csrf_token": token},
        follow_redirects=True,
    )

    assert response.status_code in (200, 400)
    page = response.get_data(as_text=True)
    assert wrong not in page
    assert world.account.password not in page
    logged = "\n".join(
        f"{record.getMessage()} {record.args!r} {record.exc_text or ''}"
        for record in caplog.records
    )
    assert caplog.records, "the connection attempt logged nothing at all"
    assert wrong not in logged
    assert world.account.password not in logged


def test_a_failed_dashboard_login_logs_no_password(
    caplog: pytest.LogCaptureFixture, anonymous: Browser, alice: Person
) -> None:
    caplog.set_level(logging.DEBUG)

    response = anonymous.post(
        "/login", {"email": alice.user.email, "password": "guessed-Pa55word"}, page="/login"
    )

    assert response.status_code in (400, 429)
    assert "guessed-Pa55word" not in response.get_data(as_text=True)
    assert not [r for r in caplog.records if "guessed-Pa55word" in r.getMessage()]
