"""Opening Outreach to a whole university (issue 16, item 7).

Sign-up open, by invitation or closed; no answer that tells a taken address from
a new one; OAuth redirect URIs that a forged Host cannot move; no OAuth code in
the access log; the instance folder, keys and SQLite file readable by their owner.
"""

from __future__ import annotations

import logging
import os
import re
import stat
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from cryptography.fernet import Fernet
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from outreach import clock, signup
from outreach.accounts import authenticate
from outreach.config import Settings
from outreach.db import make_engine
from outreach.models import Base, User
from tests.factories import make_user
from tests.servers.net import free_port, stop_process, wait_for_port
from tests.web import conftest as web
from tests.web.conftest import PASSWORD, Browser, build_app

app, client, browser, user, signed_in = web.app, web.client, web.browser, web.user, web.signed_in

CONTACT = "the careers office (careers@uni.example)"
PUBLIC_URL = "https://outreach.uni.example"


def user_count(session: Session) -> int:
    session.expire_all()
    return session.scalar(select(func.count()).select_from(User)) or 0


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Room for the sign-ups these tests make from one address in a minute; the sign-up
    limit itself is tested in test_throttling.py."""
    return replace(settings, rate_limits=replace(settings.rate_limits, signup="100/minute"))


@pytest.fixture
def mode_browser(settings: Settings, engine: Engine, request: pytest.FixtureRequest) -> Browser:
    """A browser on a dashboard whose OUTREACH_SIGNUP is the test's parameter."""
    changed = replace(settings, signup=request.param, signup_contact=CONTACT)
    made: Iterator[Flask] = build_app(changed)
    flask_app = next(made)
    request.addfinalizer(lambda: next(made, None))
    return Browser(flask_app.test_client())


def sign_up(
    browser: Browser, email: str, password: str = PASSWORD, invite: str = ""
) -> TestResponse:
    fields = {"name": "Robin Reyes", "email": email, "password": password, "invite": invite}
    # The login page always has a form, whatever the sign-up page shows.
    fields["csrf_token"] = web.csrf_token_in(browser.page("/login"))
    return browser.client.post("/signup", data=fields)


# --- sign-up modes -----------------------------------------------------------------------------


@pytest.mark.parametrize("mode_browser", ["closed"], indirect=True)
def test_closed_sign_up_says_so_and_who_to_ask(mode_browser: Browser, session: Session) -> None:
    page = mode_browser.page("/signup")

    assert "Sign-up is closed on this Outreach" in page
    assert f"ask {CONTACT}." in page
    assert 'id="signup-form"' not in page
    token = web.csrf_token_in(mode_browser.page("/login"))
    response = mode_browser.client.post(
        "/signup",
        data={"name": "R", "email": "r@uni.example", "password": PASSWORD, "csrf_token": token},
    )
    assert response.status_code == 403
    assert user_count(session) == 0


@pytest.mark.parametrize("mode_browser", ["invite"], indirect=True)
def test_invite_sign_up_needs_a_link(mode_browser: Browser, session: Session) -> None:
    page = mode_browser.page("/signup")

    assert "Sign-up here is by invitation" in page
    assert 'id="signup-form"' not in page
    token = web.csrf_token_in(mode_browser.page("/login"))
    response = mode_browser.client.post(
        "/signup",
        data={"name": "R", "email": "r@uni.example", "password": PASSWORD, "csrf_token": token},
    )
    assert response.status_code == 400
    assert "This invitation link is not valid" in response.get_data(as_text=True)
    assert user_count(session) == 0


@pytest.mark.parametrize("mode_browser", ["invite"], indirect=True)
def test_an_invitation_makes_one_account_for_its_address_once(
    mode_browser: Browser, session: Session
) -> None:
    made = signup.create_invite(session, "Robin@Uni.example", clock.now())
    session.commit()

    page = mode_browser.page(f"/signup?invite={made.token}")
    assert "You were invited to make an account for robin@uni.example" in page
    assert 'value="robin@uni.example"' in page and "readonly" in page
    # The invitee cannot choose another address than the one invited.
    response = sign_up(mode_browser, "someone.else@uni.example", invite=made.token)

    assert response.status_code == 303
    created = session.scalar(select(User).where(User.email == "robin@uni.example"))
    assert created is not None and user_count(session) == 1
    session.refresh(made.invite)
    assert made.invite.used_at is not None and made.invite.user_id == created.id
    # Only the hash is stored.
    assert made.token not in made.invite.token_hash

    again = mode_browser.page(f"/signup?invite={made.token}")
    assert "This invitation link has been used already" in again
    assert 'id="signup-form"' not in again
    assert sign_up(mode_browser, "robin@uni.example", invite=made.token).status_code == 400
    assert user_count(session) == 1


@pytest.mark.parametrize("mode_browser", ["invite"], indirect=True)
def test_an_expired_or_revoked_invitation_is_refused(
    mode_browser: Browser, session: Session
) -> None:
    old = signup.create_invite(session, "old@uni.example", clock.now() - timedelta(days=8))
    withdrawn = signup.create_invite(session, "gone@uni.example", clock.now())
    signup.revoke_invites(session, str(withdrawn.invite.id), clock.now())
    session.commit()

    expired_page = mode_browser.page(f"/signup?invite={old.token}")
    assert "This invitation link has expired. Ask " + CONTACT in expired_page
    assert "is not valid" in mode_browser.page(f"/signup?invite={withdrawn.token}")
    for made in (old, withdrawn):
        response = sign_up(mode_browser, made.invite.email, invite=made.token)
        assert response.status_code == 400
    assert user_count(session) == 0


# --- no account enumeration ------------------------------------------------------------------


def _answer(browser: Browser, email: str, password: str) -> tuple[float, int, str, str]:
    started = time.perf_counter()
    response = sign_up(browser, email, password)
    took = time.perf_counter() - started
    login = browser.page("/login")
    return took, response.status_code, response.headers.get("Location", ""), login


def _same(page: str, address: str) -> str:
    return re.sub(r'name="csrf_token"[^>]*', "", page.replace(address, "X"))


def test_signing_up_with_a_taken_address_looks_like_a_new_sign_up(
    browser: Browser, session: Session, user: User
) -> None:
    new, taken = [], []
    for n in range(3):  # interleaved, so that the machine's load falls on both alike
        new.append(_answer(browser, f"new{n}@uni.example", "a new long password"))
        taken.append(_answer(browser, user.email, "a new long password"))

    for (_, status, location, login), address in zip(
        new + taken, [f"new{n}@uni.example" for n in range(3)] + [user.email] * 3, strict=True
    ):
        assert (status, location) == (303, "/login")
        assert f"You can now log in with {address} and your password." in login
        assert "already exists" not in login
    # The same page for both, but for the address in it (and the form's fresh token).
    assert _same(new[0][3], "new0@uni.example") == _same(taken[0][3], user.email)
    # Both hash a password: the time tells nothing either.
    new_time = min(took for took, *_ in new)
    taken_time = min(took for took, *_ in taken)
    assert 0.5 < taken_time / new_time < 2, (new_time, taken_time)
    # The existing account is untouched, and nobody was signed in.
    assert authenticate(session, user.email, PASSWORD) is not None
    assert authenticate(session, user.email, "a new long password") is None
    assert browser.get("/").status_code == 302


def test_a_login_for_an_unknown_address_takes_as_long_as_a_wrong_password(
    session: Session, user: User
) -> None:
    session.commit()
    authenticate(session, "warm-up@uni.example", "anything at all")

    def timed(email: str) -> float:
        started = time.perf_counter()
        assert authenticate(session, email, "not the password") is None
        return time.perf_counter() - started

    # Interleaved, and the fastest of each: other processes on the machine only add time.
    pairs = [(timed(user.email), timed("nobody@uni.example")) for _ in range(5)]
    wrong = min(first for first, _ in pairs)
    unknown = min(second for _, second in pairs)

    assert 0.5 < unknown / wrong < 2, (wrong, unknown)


# --- OAuth redirect URIs ----------------------------------------------------------------------


def _oauth_settings(settings: Settings, public_url: str | None) -> Settings:
    env = {
        "OUTREACH_INSTANCE_DIR": str(settings.instance_dir),
        "OUTREACH_DATABASE_URL": settings.database_url,
        "OUTREACH_SECRET_KEY": settings.secret_key,
        "OUTREACH_ENCRYPTION_KEYS": ",".join(settings.encryption_keys),
        "OUTREACH_GOOGLE_CLIENT_ID": "outreach-tests",
        "OUTREACH_GOOGLE_CLIENT_SECRET": "not-a-real-secret",
        "OUTREACH_GOOGLE_AUTHORIZE_URL": "https://accounts.provider.example/o/authorize",
    }
    if public_url:
        env["OUTREACH_PUBLIC_URL"] = public_url
    return Settings.from_env(env)


def _start_with_host(settings: Settings, engine: Engine, host: str) -> tuple[int, str, str]:
    """Sign in, press "Sign in with Google" with a Host header of `host`."""
    made = build_app(settings)
    flask_app = next(made)
    try:
        test_client: FlaskClient = flask_app.test_client()
        with Session(engine) as session:
            someone = make_user(session, password=PASSWORD)
            session.commit()
            email = someone.email
        # Every request of the visit carries the Host, as a browser sent to a forged name would.
        base = f"http://{host}"
        token = web.csrf_token_in(test_client.get("/login", base_url=base).get_data(True))
        login = test_client.post(
            "/login",
            data={"email": email, "password": PASSWORD, "csrf_token": token},
            base_url=base,
        )
        assert login.status_code == 302
        token = web.csrf_token_in(test_client.get("/mailbox", base_url=base).get_data(True))
        response = test_client.post(
            "/mailboxes/oauth/google/start", data={"csrf_token": token}, base_url=base
        )
        location = response.headers.get("Location", "")
        query = parse_qs(urlsplit(location).query)
        return response.status_code, query.get("redirect_uri", [""])[0], response.get_data(True)
    finally:
        next(made, None)


def test_the_redirect_uri_comes_from_the_public_url_never_the_host(
    settings: Settings, engine: Engine
) -> None:
    status, redirect_uri, _ = _start_with_host(
        _oauth_settings(settings, PUBLIC_URL), engine, "evil.example"
    )

    assert status == 303
    assert redirect_uri == f"{PUBLIC_URL}/mailboxes/oauth/google/callback"


def test_without_a_public_url_only_a_loopback_host_is_trusted(
    settings: Settings, engine: Engine
) -> None:
    laptop = _oauth_settings(settings, None)

    status, redirect_uri, page = _start_with_host(laptop, engine, "evil.example")
    assert status == 400
    assert redirect_uri == ""
    assert "needs OUTREACH_PUBLIC_URL set to this dashboard&#39;s address" in page

    for host in ("127.0.0.1:5000", "localhost:5000", "[::1]:5000"):
        status, redirect_uri, _ = _start_with_host(laptop, engine, host)
        assert status == 303
        assert redirect_uri == f"http://{host}/mailboxes/oauth/google/callback"


# --- the access log -----------------------------------------------------------------------


def test_the_access_log_never_records_an_oauth_code(
    settings: Settings, engine: Engine, tmp_path: Path
) -> None:
    port = free_port()
    log_path = tmp_path / "web.log"
    env = {
        **os.environ,
        "OUTREACH_INSTANCE_DIR": str(settings.instance_dir),
        "OUTREACH_DATABASE_URL": settings.database_url,
        "OUTREACH_SECRET_KEY": settings.secret_key,
        "OUTREACH_ENCRYPTION_KEYS": ",".join(settings.encryption_keys),
        "OUTREACH_GOOGLE_CLIENT_ID": "outreach-tests",
        "OUTREACH_GOOGLE_CLIENT_SECRET": "not-a-real-secret",
    }
    with log_path.open("wb") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "outreach.cli", "web", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_for_port("127.0.0.1", port, timeout=20, proc=server, log_path=log_path)
        url = f"http://127.0.0.1:{port}/mailboxes/oauth/google/callback"
        # The login page the callback leads to (no session here) is logged as well.
        with urllib.request.urlopen(f"{url}?code=SECRET-CODE-4711&state=SECRET-STATE-0815") as r:
            assert r.status == 200
        deadline = time.monotonic() + 10
        while "GET /login" not in log_path.read_text() and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        stop_process(server)
    text = log_path.read_text()

    assert "GET /mailboxes/oauth/google/callback?[redacted] HTTP/1.1" in text, text
    assert "GET /login HTTP/1.1" in text, text
    assert "SECRET-CODE" not in text and "SECRET-STATE" not in text


def test_werkzeugs_request_log_is_filtered_too(
    app: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    logger = logging.getLogger("werkzeug")
    with caplog.at_level(logging.INFO, logger="werkzeug"):
        logger.info(
            '%s - - [%s] "%s" %s %s',
            "127.0.0.1",
            "03/Dec/2026 10:00:00",
            "GET /mailboxes/oauth/microsoft/callback?code=SECRET-CODE&state=S HTTP/1.1",
            "302",
            "-",
        )

    assert "callback?[redacted] HTTP/1.1" in caplog.text
    assert "SECRET-CODE" not in caplog.text


# --- file modes -------------------------------------------------------------------------------


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _env(instance: Path) -> dict[str, str]:
    return {"OUTREACH_INSTANCE_DIR": str(instance)}


def test_the_instance_folder_keys_and_database_are_created_owner_only(tmp_path: Path) -> None:
    instance = tmp_path / "instance"
    old_umask = os.umask(0o022)
    try:
        found = Settings.from_env(_env(instance))
        engine = make_engine(found.database_url)
        Base.metadata.create_all(engine)
        engine.dispose()
    finally:
        os.umask(old_umask)

    assert _mode(instance) == 0o700
    for name in ("secret_key", "encryption_key", "outreach.sqlite"):
        assert _mode(instance / name) == 0o600, name
    for path in instance.glob("outreach.sqlite-*"):
        assert _mode(path) == 0o600, path


def test_looser_modes_are_tightened_at_start_with_a_log_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    instance = tmp_path / "instance"
    Settings.from_env(_env(instance))
    instance.chmod(0o755)
    (instance / "secret_key").chmod(0o644)
    (instance / "outreach.sqlite").chmod(0o666)

    with caplog.at_level(logging.WARNING, logger="outreach.config"):
        Settings.from_env(_env(instance))

    assert _mode(instance) == 0o700
    assert _mode(instance / "secret_key") == 0o600
    assert _mode(instance / "outreach.sqlite") == 0o600
    assert (
        f"{instance / 'secret_key'} could be read by other users of this machine (mode 0644)"
        in (caplog.text)
    )
    assert "outreach.sqlite could be read by other users" in caplog.text
    assert f"{instance} could be read by other users" in caplog.text


def test_given_keys_leave_no_files_but_the_folder_is_still_owner_only(tmp_path: Path) -> None:
    instance = tmp_path / "instance"
    Settings.from_env(
        {
            "OUTREACH_INSTANCE_DIR": str(instance),
            "OUTREACH_SECRET_KEY": "given",
            "OUTREACH_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
            "OUTREACH_DATABASE_URL": "postgresql+psycopg://u@127.0.0.1:1/db",
        }
    )

    assert _mode(instance) == 0o700
    assert sorted(path.name for path in instance.iterdir()) == []
