"""Key rotation for mailbox secrets: `outreach keys` on a real SQLite instance, and the core.

The CLI tests start from `outreach db upgrade` run through the CLI, like
tests/test_cli.py, and change OUTREACH_ENCRYPTION_KEYS between commands the way
a person following docs/cli.md would.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from cryptography.fernet import Fernet
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from outreach.cli import outreach
from outreach.config import Settings
from outreach.crypto import SecretBox
from outreach.db import make_engine
from outreach.errors import ConfigurationError
from outreach.keys import generate_key, rotate_secrets
from outreach.models import AuthMethod, Mailbox
from tests.factories import make_mailbox, make_user

USER = "ann@example.test"
PASSWORD = "correct horse battery staple"
SECRET = "app-password-4f9c2e"
OTHER_ADDRESS = "ann.work@example.test"
OTHER_SECRET = "other-app-password-77d1"

KEY_A = Fernet.generate_key().decode()
KEY_B = Fernet.generate_key().decode()
KEY_C = Fernet.generate_key().decode()


class Cli:
    """Runs `outreach ...` in-process; keyword arguments override the environment."""

    def __init__(self, env: dict[str, str | None]) -> None:
        self.env = env
        self.runner = CliRunner()

    def __call__(self, *args: str, input: str | None = None, **env: str | None) -> Result:
        result = self.runner.invoke(
            outreach, list(args), input=input, env={**self.env, **env}, catch_exceptions=False
        )
        # Whatever happens, no secret is ever printed.
        for secret in (SECRET, OTHER_SECRET, PASSWORD):
            assert secret not in result.stdout
            assert secret not in result.stderr
        return result

    def ok(self, *args: str, input: str | None = None, **env: str | None) -> Result:
        result = self(*args, input=input, **env)
        assert result.exit_code == 0, f"{args}: {result.output}"
        return result


@pytest.fixture
def cli_env(tmp_path: Path) -> dict[str, str | None]:
    return {
        "OUTREACH_INSTANCE_DIR": str(tmp_path / "instance"),
        "OUTREACH_SECRET_KEY": "keys-test-secret",
        "OUTREACH_ENCRYPTION_KEYS": KEY_A,
        # Whatever the developer's shell holds must not leak in.
        "OUTREACH_DATABASE_URL": None,
        "OUTREACH_REDIS_URL": None,
        "OUTREACH_USER": None,
        "OUTREACH_CA_FILE": None,
    }


@pytest.fixture
def cli(cli_env: dict[str, str | None]) -> Cli:
    runner = Cli(cli_env)
    runner.ok("db", "upgrade")
    runner.ok("user", "create", "--email", USER, "--name", "Ann Lee",
              "--introduction", "I am finishing a chemistry degree.",
              input=PASSWORD + "\n")  # fmt: skip
    return runner


@pytest.fixture
def db_engine(cli: Cli, tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'instance' / 'outreach.sqlite'}")
    yield engine
    engine.dispose()


def _add_mailbox(cli: Cli, address: str, secret: str, **env: str | None) -> None:
    cli.ok(
        "mailbox", "add", "--user", USER, "--address", address,
        "--imap-host", "127.0.0.1", "--imap-port", "1", "--imap-tls", "ssl",
        "--smtp-host", "127.0.0.1", "--smtp-port", "2", "--smtp-tls", "starttls",
        input=secret + "\n", **env,
    )  # fmt: skip


def _tokens(engine: Engine) -> dict[str, str]:
    """Each mailbox's stored token, by address, read straight from the table."""
    with engine.connect() as connection:
        rows = connection.exec_driver_sql(
            "SELECT email_address, secret_encrypted FROM mailboxes"
        ).all()
    return {address: token for address, token in rows}


def _decrypt(token: str, *keys: str) -> str:
    return SecretBox(keys).decrypt(token)


# --- the CLI ----------------------------------------------------------------------------------


def test_keys_generate_prints_a_new_fernet_key_and_nothing_else(
    cli_env: dict[str, str | None],
) -> None:
    cli = Cli(cli_env)
    first, second = cli.ok("keys", "generate"), cli.ok("keys", "generate")
    key = first.stdout.removesuffix("\n")
    assert first.stdout == key + "\n" and "\n" not in key
    assert first.stderr == ""
    Fernet(key)  # a valid key: 32 url-safe base64-encoded bytes
    assert second.stdout != first.stdout
    # It builds no settings, so it neither creates an instance folder nor reads one.
    assert not Path(str(cli_env["OUTREACH_INSTANCE_DIR"])).exists()


def test_keys_rotate_moves_every_secret_to_the_newest_key(cli: Cli, db_engine: Engine) -> None:
    _add_mailbox(cli, USER, SECRET)  # written under A
    before = _tokens(db_engine)[USER]
    assert _decrypt(before, KEY_A) == SECRET
    with pytest.raises(ConfigurationError):
        _decrypt(before, KEY_B)

    result = cli.ok("keys", "rotate", OUTREACH_ENCRYPTION_KEYS=f"{KEY_B},{KEY_A}")
    assert result.stdout == "re-encrypted 1 mailbox secret with the newest key\n"
    assert result.stderr == ""

    after = _tokens(db_engine)[USER]
    assert after != before
    # B alone now opens it; A alone no longer does.
    assert _decrypt(after, KEY_B) == SECRET
    with pytest.raises(ConfigurationError):
        _decrypt(after, KEY_A)

    # The last documented step: with A dropped, the commands still read the secret,
    # and rotating again under B alone finds nothing it cannot open.
    again = cli.ok("keys", "rotate", OUTREACH_ENCRYPTION_KEYS=KEY_B)
    assert again.stdout == "re-encrypted 1 mailbox secret with the newest key\n"
    assert "only one key is configured" in again.stderr
    assert _decrypt(_tokens(db_engine)[USER], KEY_B) == SECRET


def test_keys_rotate_reports_a_secret_no_key_opens_and_leaves_it_alone(
    cli: Cli, db_engine: Engine
) -> None:
    _add_mailbox(cli, USER, SECRET)  # under A
    _add_mailbox(cli, OTHER_ADDRESS, OTHER_SECRET, OUTREACH_ENCRYPTION_KEYS=KEY_C)
    before = _tokens(db_engine)
    with Session(db_engine) as session:
        other_id = session.scalar(select(Mailbox.id).where(Mailbox.email_address == OTHER_ADDRESS))

    result = cli("keys", "rotate", OUTREACH_ENCRYPTION_KEYS=f"{KEY_B},{KEY_A}")
    assert result.exit_code == 1
    # The readable one is rotated and committed; the other is named, with its address.
    assert result.stdout == "re-encrypted 1 mailbox secret with the newest key\n"
    assert result.stderr.startswith("Error: 1 mailbox secret(s) could not be decrypted")
    assert f"mailbox {other_id} ({OTHER_ADDRESS})" in result.stderr
    assert "OUTREACH_ENCRYPTION_KEYS" in result.stderr

    after = _tokens(db_engine)
    assert after[OTHER_ADDRESS] == before[OTHER_ADDRESS]
    assert _decrypt(after[OTHER_ADDRESS], KEY_C) == OTHER_SECRET
    assert after[USER] != before[USER]
    assert _decrypt(after[USER], KEY_B) == SECRET


def test_keys_rotate_away_from_the_generated_instance_key(
    cli_env: dict[str, str | None], tmp_path: Path
) -> None:
    """The documented steps when the key in use was generated into the instance folder."""
    cli = Cli({**cli_env, "OUTREACH_ENCRYPTION_KEYS": None})
    cli.ok("db", "upgrade")
    cli.ok("user", "create", "--email", USER, "--name", "Ann Lee", input=PASSWORD + "\n")
    _add_mailbox(cli, USER, SECRET)
    old = (tmp_path / "instance" / "encryption_key").read_text().strip()

    new = cli.ok("keys", "generate").stdout.strip()  # (1)
    both = f"{new},{old}"  # (2)
    assert cli.ok("keys", "rotate", OUTREACH_ENCRYPTION_KEYS=both).stdout.startswith(  # (3)
        "re-encrypted 1 mailbox secret"
    )
    cli.ok("keys", "rotate", OUTREACH_ENCRYPTION_KEYS=new)  # (4), checked: nothing left under OLD

    settings = Settings.from_env(
        {"OUTREACH_INSTANCE_DIR": str(tmp_path / "instance"), "OUTREACH_ENCRYPTION_KEYS": new}
    )
    engine = make_engine(settings.database_url)
    try:
        token = _tokens(engine)[USER]
    finally:
        engine.dispose()
    assert _decrypt(token, new) == SECRET
    with pytest.raises(ConfigurationError):
        _decrypt(token, old)


def test_keys_rotate_on_an_empty_database(cli: Cli) -> None:
    result = cli.ok("keys", "rotate", OUTREACH_ENCRYPTION_KEYS=f"{KEY_B},{KEY_A}")
    assert result.stdout == "re-encrypted 0 mailbox secrets with the newest key\n"


# --- the core ---------------------------------------------------------------------------------


def test_rotate_secrets_in_the_callers_transaction(session: Session) -> None:
    user = make_user(session)
    under_a = make_mailbox(session, user, SecretBox((KEY_A,)), password=SECRET)
    under_c = make_mailbox(
        session, user, SecretBox((KEY_C,)), password=OTHER_SECRET, email_address=OTHER_ADDRESS
    )
    session.commit()
    tokens = {under_a.id: under_a.secret_encrypted, under_c.id: under_c.secret_encrypted}

    def stored(mailbox_id: int) -> str:
        return session.execute(
            select(Mailbox.secret_encrypted).where(Mailbox.id == mailbox_id)
        ).scalar_one()

    report = rotate_secrets(session, SecretBox((KEY_B, KEY_A)))
    assert (report.rotated, report.failed, report.ok) == (1, [under_c.id], False)
    # Nothing is committed by rotate_secrets: rolling back undoes it.
    session.rollback()
    assert stored(under_a.id) == tokens[under_a.id]

    rotate_secrets(session, SecretBox((KEY_B, KEY_A)))
    session.commit()
    assert _decrypt(stored(under_a.id), KEY_B) == SECRET
    assert stored(under_c.id) == tokens[under_c.id]
    session.expire_all()
    # The session's own objects see the new token too.
    assert _decrypt(under_a.secret_encrypted, KEY_B) == SECRET


def test_rotate_secrets_never_overwrites_a_secret_changed_meanwhile(
    session: Session, engine: Engine
) -> None:
    """A password changed by another process between our read and our write is kept."""
    user = make_user(session)
    mailbox = make_mailbox(session, user, SecretBox((KEY_A,)), password=SECRET)
    session.commit()
    changed = SecretBox((KEY_A,)).encrypt("the-new-password-9a")

    class RacingBox(SecretBox):
        raced = False

        def rotate(self, token: str) -> str:
            if not self.raced:  # another process saves a new password right now
                self.raced = True
                with engine.begin() as connection:
                    connection.exec_driver_sql(
                        "UPDATE mailboxes SET secret_encrypted = ? WHERE id = ?",
                        (changed, mailbox.id),
                    )
            return super().rotate(token)

    report = rotate_secrets(session, RacingBox((KEY_B, KEY_A)))
    session.commit()
    assert (report.rotated, report.failed) == (1, [])
    session.expire_all()
    assert _decrypt(mailbox.secret_encrypted, KEY_B) == "the-new-password-9a"


def test_generate_key_gives_distinct_valid_keys() -> None:
    keys = {generate_key() for _ in range(3)}
    assert len(keys) == 3
    for key in keys:
        Fernet(key)


def test_rotate_secrets_moves_an_oauth_mailboxs_tokens_too(session: Session) -> None:
    """Dropping the old key afterwards must not leave an OAuth2 mailbox unreadable."""
    old_box = SecretBox((KEY_A,))
    mailbox = make_mailbox(session, make_user(session), old_box, password=SECRET)
    mailbox.auth_method = AuthMethod.OAUTH2
    mailbox.oauth_refresh_encrypted = old_box.encrypt("refresh-token-1")
    mailbox.oauth_access_encrypted = old_box.encrypt("access-token-1")
    session.commit()

    report = rotate_secrets(session, SecretBox((KEY_B, KEY_A)))
    session.commit()

    assert (report.rotated, report.failed) == (1, [])
    row = session.execute(
        select(Mailbox.oauth_refresh_encrypted, Mailbox.oauth_access_encrypted).where(
            Mailbox.id == mailbox.id
        )
    ).one()
    assert _decrypt(row.oauth_refresh_encrypted, KEY_B) == "refresh-token-1"
    assert _decrypt(row.oauth_access_encrypted, KEY_B) == "access-token-1"
