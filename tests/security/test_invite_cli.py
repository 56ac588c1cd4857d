"""`outreach invite create | list | revoke`, on a database made by `outreach db upgrade`.

The link printed is the one the dashboard accepts, once; only its hash is stored.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from click.testing import CliRunner, Result
from cryptography.fernet import Fernet
from flask import Flask
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from outreach.cli import outreach
from outreach.config import Settings
from outreach.db import make_engine
from outreach.models import Role, SignupInvite, User
from tests.web.conftest import Browser, build_app, csrf_token_in

PUBLIC_URL = "https://outreach.uni.example"


class Cli:
    def __init__(self, env: dict[str, str | None]) -> None:
        self.env = env
        self.runner = CliRunner()

    def __call__(self, *args: str) -> Result:
        return self.runner.invoke(outreach, list(args), env=self.env, catch_exceptions=False)

    def ok(self, *args: str) -> Result:
        result = self(*args)
        assert result.exit_code == 0, f"{args}: {result.output}"
        return result

    def settings(self) -> Settings:
        return Settings.from_env({k: v for k, v in self.env.items() if v is not None})


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    runner = Cli(
        {
            "OUTREACH_INSTANCE_DIR": str(tmp_path / "instance"),
            "OUTREACH_SECRET_KEY": "cli-test-secret",
            "OUTREACH_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
            "OUTREACH_PUBLIC_URL": PUBLIC_URL,
            "OUTREACH_SIGNUP": "invite",
            "OUTREACH_DATABASE_URL": None,
            "OUTREACH_USER": None,
        }
    )
    runner.ok("db", "upgrade")
    return runner


@pytest.fixture
def db(cli: Cli) -> Iterator[Engine]:
    engine = make_engine(cli.settings().database_url)
    yield engine
    engine.dispose()


def _token(link: str) -> str:
    return parse_qs(urlsplit(link).query)["invite"][0]


def test_create_prints_a_link_under_the_public_url_and_stores_only_its_hash(
    cli: Cli, db: Engine
) -> None:
    result = cli.ok("invite", "create", "Robin@Uni.example", "--days", "3")

    link = result.stdout.strip()
    assert link.startswith(f"{PUBLIC_URL}/signup?invite=")
    token = _token(link)
    assert len(token) >= 40
    assert "for robin@uni.example (student), works once until" in result.stderr
    with Session(db) as session:
        invite = session.scalars(select(SignupInvite)).one()
        assert invite.email == "robin@uni.example"
        assert invite.token_hash == hashlib.sha256(token.encode()).hexdigest()
        assert (invite.expires_at - invite.created_at).days == 3
    assert token.encode() not in Path(cli.settings().database_url[10:]).read_bytes()


def test_the_link_signs_up_once_in_the_dashboard(cli: Cli, db: Engine) -> None:
    token = _token(cli.ok("invite", "create", "robin@uni.example").stdout.strip())
    made = build_app(cli.settings())
    flask_app: Flask = next(made)
    try:
        browser = Browser(flask_app.test_client())
        assert "You were invited" in browser.page(f"/signup?invite={token}")
        fields = {"name": "Robin", "email": "robin@uni.example", "password": "a long passphrase"}
        for expected in (303, 400):
            form = {**fields, "invite": token, "csrf_token": csrf_token_in(browser.page("/login"))}
            assert browser.client.post("/signup", data=form).status_code == expected
    finally:
        next(made, None)

    listed = json.loads(cli.ok("invite", "list", "--json").stdout)["invites"]
    assert [(item["email"], item["state"]) for item in listed] == [("robin@uni.example", "used")]
    assert listed[0]["used_at"].endswith("Z")
    with Session(db) as session:
        assert session.scalar(select(User.email)) == "robin@uni.example"


def test_list_and_revoke(cli: Cli) -> None:
    cli.ok("invite", "create", "a@uni.example")
    cli.ok("invite", "create", "b@uni.example")
    cli.ok("invite", "create", "b@uni.example")

    assert cli.ok("invite", "revoke", "1").stdout == "revoked invitation 1 for a@uni.example\n"
    assert cli.ok("invite", "revoke", "B@uni.example").stdout.splitlines() == [
        "revoked invitation 2 for b@uni.example",
        "revoked invitation 3 for b@uni.example",
    ]
    again = cli("invite", "revoke", "1")
    assert again.exit_code == 1
    assert "Error: no invitation waiting to be used matches '1'" in again.output
    listing = cli.ok("invite", "list").stdout
    assert "a@uni.example  student  revoked" in listing
    assert listing.count("revoked") == 3


def test_create_refuses_a_bad_address_or_length(cli: Cli) -> None:
    bad_address = cli("invite", "create", "not-an-address")
    too_long = cli("invite", "create", "a@uni.example", "--days", "365")

    assert bad_address.exit_code == 1 and "is not a valid email address" in bad_address.output
    assert too_long.exit_code == 1
    assert "an invitation lasts from 1 to 90 days, not 365" in too_long.output


def test_create_says_when_the_dashboard_would_not_take_the_link(cli: Cli) -> None:
    cli.env.update({"OUTREACH_SIGNUP": "closed", "OUTREACH_PUBLIC_URL": None})

    result = cli.ok("invite", "create", "a@uni.example")

    assert result.stdout.startswith("http://127.0.0.1:5000/signup?invite=")
    assert "OUTREACH_PUBLIC_URL is not set" in result.stderr
    assert "OUTREACH_SIGNUP is 'closed'" in result.stderr


def test_an_advisers_link_makes_an_adviser_and_no_link_makes_an_admin(cli: Cli, db: Engine) -> None:
    made_by_cli = cli.ok("invite", "create", "ada@uni.example", "--role", "adviser", "--json")
    token = _token(json.loads(made_by_cli.stdout)["link"])
    assert json.loads(made_by_cli.stdout)["role"] == "adviser"
    assert cli("invite", "create", "eve@uni.example", "--role", "admin").exit_code == 2
    made = build_app(cli.settings())
    flask_app: Flask = next(made)
    try:
        browser = Browser(flask_app.test_client())
        assert "make an adviser&#39;s account" in browser.page(f"/signup?invite={token}")
        form = {
            "name": "Ada",
            "email": "ada@uni.example",
            "password": "a long passphrase",
            "invite": token,
            "csrf_token": csrf_token_in(browser.page("/login")),
        }
        assert browser.client.post("/signup", data=form).status_code == 303
    finally:
        next(made, None)
    with Session(db) as session:
        assert session.scalars(select(User.role)).one() == Role.ADVISER
