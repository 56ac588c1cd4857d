"""OAuth2 mailboxes end to end on loopback: XOAUTH2 logins checked by a real Dovecot and
SMTP server against the test authorization server; refresh, races, revocation."""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.parse
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from outreach import drafts, targets
from outreach.cli import outreach as outreach_cli
from outreach.config import Settings
from outreach.crypto import SecretBox
from outreach.errors import OAuthError
from outreach.mail.smtp import SmtpSender
from outreach.mail.tls import client_context
from outreach.models import Mailbox, MailboxStatus, Message, MessageStatus, Outreach, User
from outreach.oauth.flow import Grant, finish_authorization, revoke_grant, start_authorization
from outreach.oauth.providers import OAuthProvider, configured_providers
from outreach.oauth.tokens import AccessTokens, access_token_for, connect_oauth_mailbox
from outreach.polling import mailboxes_to_watch, poll_mailbox
from outreach.rules.states import OutreachState
from outreach.sending import Outcome, deliver
from tests.factories import make_contact, make_user
from tests.servers.dovecot import OAuthDovecotServer
from tests.servers.fixtures import MailAccount, oauth_env
from tests.servers.oauth import OAuthServer
from tests.servers.smtpd import OAuthSMTPServer
from tests.servers.tls import TlsFiles

REDIRECT_URI = "http://127.0.0.1:5000/mailboxes/oauth/callback"


@dataclass
class OAuthWorld:
    user: User
    mailbox_id: int
    account: MailAccount
    provider: OAuthProvider
    tokens: AccessTokens
    env: dict[str, str]
    settings: Settings


@pytest.fixture
def oauth_world(
    session: Session,
    session_factory: sessionmaker[Session],
    settings: Settings,
    secret_box: SecretBox,
    oauth_server: OAuthServer,
    oauth_dovecot: OAuthDovecotServer,
    oauth_smtp: OAuthSMTPServer,
    oauth_account: MailAccount,
    tls_files: TlsFiles,
    now: datetime,
) -> OAuthWorld:
    """A user whose Google mailbox is connected with a fresh grant from the test server."""
    env = {
        "OUTREACH_INSTANCE_DIR": str(settings.instance_dir),
        "OUTREACH_DATABASE_URL": settings.database_url,
        "OUTREACH_SECRET_KEY": settings.secret_key,
        "OUTREACH_ENCRYPTION_KEYS": ",".join(settings.encryption_keys),
        **oauth_env("google", oauth_server, oauth_dovecot, oauth_smtp, tls_files),
    }
    oauth_settings = Settings.from_env(env)
    provider = configured_providers(oauth_settings)["google"]
    user = make_user(session, email=oauth_account.user)
    access, refresh = oauth_server.issue_tokens(oauth_account.user)
    grant = Grant(access, refresh, now + timedelta(hours=1), oauth_account.user)
    mailbox = connect_oauth_mailbox(session, secret_box, user, provider, grant, now)
    # Several messages go out at the same instant in these tests: no spacing.
    mailbox.min_gap_seconds = mailbox.max_gap_seconds = 0
    session.commit()
    tokens = AccessTokens.from_settings(oauth_settings, session_factory, secret_box)
    return OAuthWorld(user, mailbox.id, oauth_account, provider, tokens, env, oauth_settings)


def approved_request(session: Session, world: OAuthWorld, now: datetime, email: str) -> Message:
    person = make_contact(session, world.user, email=email, name="Alex Lee")
    target = targets.create_target(session, world.user, f"Target for {email}", [person.id])
    (draft,) = targets.fill_pipeline(session, world.user, target, now)
    drafts.approve(session, world.user, draft.id, now)
    session.commit()
    return draft


def send(
    factory: sessionmaker[Session],
    world: OAuthWorld,
    message_id: int,
    box: SecretBox,
    tls_files: TlsFiles,
    now: datetime,
) -> Outcome:
    sender = SmtpSender(client_context(tls_files.ca_pem))
    return deliver(factory, message_id, sender, box, lambda: now, world.tokens).outcome


def stored(session: Session, world: OAuthWorld) -> Mailbox:
    session.expire_all()
    mailbox = session.get(Mailbox, world.mailbox_id)
    assert mailbox is not None
    return mailbox


def test_sending_logs_in_with_xoauth2_and_the_reply_is_found_over_xoauth2_imap(
    session: Session,
    session_factory: sessionmaker[Session],
    oauth_world: OAuthWorld,
    oauth_smtp: OAuthSMTPServer,
    oauth_dovecot: OAuthDovecotServer,
    secret_box: SecretBox,
    tls_files: TlsFiles,
    now: datetime,
) -> None:
    mailbox = stored(session, oauth_world)
    assert (mailbox.imap_port, mailbox.smtp_port) == (oauth_dovecot.imap_port, oauth_smtp.port)
    request = approved_request(session, oauth_world, now, "alex@org.example")

    outcome = send(session_factory, oauth_world, request.id, secret_box, tls_files, now)

    assert outcome is Outcome.SENT
    (received,) = oauth_smtp.wait_for(1)
    assert received.auth_user == oauth_world.account.user
    assert received.message["Message-ID"] == request.message_id
    session.refresh(request)
    reply = (
        f"From: Alex Lee <alex@org.example>\r\nTo: {oauth_world.account.user}\r\n"
        f"Subject: Re: {request.subject}\r\nMessage-ID: <reply-oauth@org.example>\r\n"
        f"In-Reply-To: {request.message_id}\r\nReferences: {request.message_id}\r\n"
        "Date: Tue, 24 Nov 2026 10:00:00 +0000\r\n\r\nHappy to talk!\r\n"
    ).encode()
    oauth_dovecot.deliver(reply, oauth_world.account.user)

    context = client_context(tls_files.ca_pem)
    result = poll_mailbox(
        session_factory,
        oauth_world.mailbox_id,
        secret_box,
        context,
        lambda: now,
        oauth_world.tokens,
    )

    assert result.ok, result.problem
    assert result.report is not None and result.report.matched == 1
    session.expire_all()
    outreach = session.get(Outreach, request.outreach_id)
    assert outreach is not None and outreach.state is OutreachState.REPLIED
    assert "method=XOAUTH2" in oauth_dovecot.log_path.read_text()


def test_the_stored_token_is_used_until_shortly_before_expiry_then_renewed_once(
    session: Session,
    session_factory: sessionmaker[Session],
    oauth_world: OAuthWorld,
    oauth_server: OAuthServer,
    secret_box: SecretBox,
    now: datetime,
) -> None:
    first_refresh = secret_box.decrypt(stored(session, oauth_world).oauth_refresh_encrypted or "")
    before = oauth_server.token_requests
    early = oauth_world.tokens.token(oauth_world.mailbox_id, "google", now + timedelta(minutes=50))
    assert oauth_server.token_requests == before

    # 56 minutes into a one-hour token: less than the five-minute margin is left.
    late = now + timedelta(minutes=56)
    renewed = oauth_world.tokens.token(oauth_world.mailbox_id, "google", late)
    again = oauth_world.tokens.token(oauth_world.mailbox_id, "google", late)

    assert oauth_server.token_requests == before + 1
    assert renewed != early and again == renewed
    assert oauth_server.introspect(renewed)["active"] is True
    mailbox = stored(session, oauth_world)
    assert mailbox.oauth_access_expires_at == late + timedelta(hours=1)
    assert mailbox.oauth_refresh_lock_until is None
    # The server rotated the refresh token: the new one is stored, the old one is dead.
    second_refresh = secret_box.decrypt(mailbox.oauth_refresh_encrypted or "")
    assert second_refresh != first_refresh
    answer = httpx.post(
        oauth_server.token_url,
        data={
            "grant_type": "refresh_token",
            "refresh_token": first_refresh,
            "client_id": oauth_server.client_id,
            "client_secret": oauth_server.client_secret,
        },
    )
    assert answer.json()["error"] == "invalid_grant"


def test_a_token_the_server_refuses_is_renewed_once_and_the_send_goes_through(
    session: Session,
    session_factory: sessionmaker[Session],
    oauth_world: OAuthWorld,
    oauth_server: OAuthServer,
    oauth_smtp: OAuthSMTPServer,
    secret_box: SecretBox,
    tls_files: TlsFiles,
    now: datetime,
) -> None:
    request = approved_request(session, oauth_world, now, "cy@org.example")
    mailbox = stored(session, oauth_world)
    # Ended early by the provider although our copy still has most of an hour left.
    oauth_server.revoke_access_token(secret_box.decrypt(mailbox.oauth_access_encrypted or ""))
    before = oauth_server.token_requests

    outcome = send(session_factory, oauth_world, request.id, secret_box, tls_files, now)

    assert outcome is Outcome.SENT
    assert oauth_smtp.refused_tokens == 1 and oauth_server.token_requests == before + 1
    assert len(oauth_smtp.wait_for(1)) == 1
    assert stored(session, oauth_world).status is MailboxStatus.OK


_CHILD = """
import sys
from datetime import datetime
from outreach.config import Settings
from outreach.db import make_engine, make_sessionmaker
from outreach.oauth.tokens import AccessTokens

settings = Settings.from_env()
factory = make_sessionmaker(make_engine(settings.database_url))
tokens = AccessTokens.from_settings(settings, factory)
print("ready", flush=True)
sys.stdin.readline()
print(tokens.token(int(sys.argv[1]), "google", datetime.fromisoformat(sys.argv[2])), flush=True)
"""


def test_two_processes_renewing_at_once_make_one_token_request_and_share_its_token(
    session: Session,
    oauth_world: OAuthWorld,
    oauth_server: OAuthServer,
    now: datetime,
) -> None:
    stored(session, oauth_world).oauth_access_expires_at = now - timedelta(minutes=1)
    session.commit()
    # The token endpoint answers slowly, so the second process surely arrives meanwhile.
    oauth_server.token_delay = 1.0
    before = oauth_server.token_requests
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, **oauth_world.env, "PYTHONPATH": str(root)}
    children = [
        subprocess.Popen(
            [sys.executable, "-c", _CHILD, str(oauth_world.mailbox_id), now.isoformat()],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            text=True,
        )
        for _ in range(2)
    ]
    try:
        for child in children:
            assert child.stdout is not None and child.stdout.readline().strip() == "ready"
        for child in children:
            assert child.stdin is not None
            child.stdin.write("go\n")
            child.stdin.flush()
        outputs = [child.communicate(timeout=60) for child in children]
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
                child.wait()

    assert [child.returncode for child in children] == [0, 0], outputs
    (first, _), (second, _) = outputs
    assert first.strip() == second.strip() != ""
    assert oauth_server.token_requests == before + 1
    assert oauth_server.introspect(first.strip())["active"] is True


def test_a_revoked_grant_pauses_the_mailbox_keeps_the_message_and_a_new_sign_in_resumes(
    session: Session,
    session_factory: sessionmaker[Session],
    oauth_world: OAuthWorld,
    oauth_server: OAuthServer,
    oauth_smtp: OAuthSMTPServer,
    secret_box: SecretBox,
    tls_files: TlsFiles,
    now: datetime,
) -> None:
    request = approved_request(session, oauth_world, now, "bo@org.example")
    # The user removes Outreach's access at Google while the stored token still looks fresh.
    oauth_server.revoke_account(oauth_world.account.user)

    outcome = send(session_factory, oauth_world, request.id, secret_box, tls_files, now)

    # The server refused the token; one renewal was tried and Google said invalid_grant.
    assert outcome is Outcome.PAUSED
    assert oauth_smtp.messages == [] and oauth_smtp.refused_tokens == 1
    mailbox = stored(session, oauth_world)
    assert mailbox.status is MailboxStatus.NEEDS_SIGN_IN and mailbox.sending_paused
    assert mailbox.last_error is not None
    assert mailbox.last_error.startswith(
        "Google no longer accepts this sign-in: sign in again on the Mailbox page"
    )
    waiting = session.get(Message, request.id)
    assert waiting is not None and waiting.status is MessageStatus.QUEUED
    assert "sign in again" in (waiting.waiting_reason or "")

    # The poller leaves the mailbox alone, without asking Google again.
    requests = oauth_server.token_requests
    context = client_context(tls_files.ca_pem)
    result = poll_mailbox(
        session_factory,
        oauth_world.mailbox_id,
        secret_box,
        context,
        lambda: now,
        oauth_world.tokens,
    )
    assert not result.ok and "sign in again" in result.problem
    assert oauth_world.mailbox_id not in mailboxes_to_watch(session_factory)
    assert send(session_factory, oauth_world, request.id, secret_box, tls_files, now) in {
        Outcome.NOT_DUE,
        Outcome.PAUSED,
    }
    assert oauth_server.token_requests == requests and oauth_smtp.messages == []

    # `outreach mailbox test` says what to do.
    cli = CliRunner().invoke(
        outreach_cli,
        ["mailbox", "test", "--user", oauth_world.account.user],
        env=oauth_world.env,
    )
    assert cli.exit_code == 1
    assert "Google no longer accepts this sign-in: sign in again" in cli.output
    assert f"the mailbox {oauth_world.account.user} needs you to sign in again" in cli.output

    # Signing in again resumes sending; the queued message goes out exactly once.
    access, refresh = oauth_server.issue_tokens(oauth_world.account.user)
    grant = Grant(access, refresh, now + timedelta(hours=1), oauth_world.account.user.upper())
    user = session.get(User, oauth_world.user.id)
    assert user is not None
    again = connect_oauth_mailbox(session, secret_box, user, oauth_world.provider, grant, now)
    session.commit()
    assert again.id == oauth_world.mailbox_id and again.min_gap_seconds == 0

    first = send(session_factory, oauth_world, request.id, secret_box, tls_files, now)
    second = send(session_factory, oauth_world, request.id, secret_box, tls_files, now)

    assert (first, second) == (Outcome.SENT, Outcome.NOT_CLAIMABLE)
    (received,) = oauth_smtp.wait_for(1)
    assert received.message["Message-ID"] == request.message_id
    mailbox = stored(session, oauth_world)
    assert mailbox.status is MailboxStatus.OK and not mailbox.sending_paused
    assert mailbox.last_error is None
    assert mailboxes_to_watch(session_factory) == [oauth_world.mailbox_id]


def test_the_connection_test_passes_with_xoauth2_on_both_servers(
    oauth_world: OAuthWorld, session: Session
) -> None:
    cli = CliRunner().invoke(
        outreach_cli,
        ["mailbox", "test", "--user", oauth_world.account.user],
        env=oauth_world.env,
    )
    assert cli.exit_code == 0, cli.output
    assert "IMAP login:  ok" in cli.output and "SMTP login:  ok" in cli.output
    assert stored(session, oauth_world).sent_folder == "Sent"


def _consent(oauth_server: OAuthServer, url: str, account: MailAccount) -> dict[str, str]:
    """Fill in the consent page as a browser would; returns the redirect's query."""
    answer = httpx.post(
        url, data={"username": account.user, "password": account.password, "action": "allow"}
    )
    assert answer.status_code == 302, answer.text
    location = answer.headers["location"]
    assert location.startswith(REDIRECT_URI)
    return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(location).query))


def test_a_code_with_the_wrong_pkce_verifier_is_refused_in_words(
    oauth_world: OAuthWorld, oauth_server: OAuthServer, now: datetime
) -> None:
    start = start_authorization(oauth_world.provider, REDIRECT_URI, oauth_world.account.user)
    query = _consent(oauth_server, start.url, oauth_world.account)
    assert query["state"] == start.state

    with pytest.raises(OAuthError) as refused:
        finish_authorization(
            oauth_world.provider,
            code=query["code"],
            code_verifier=start_authorization(oauth_world.provider, REDIRECT_URI).code_verifier,
            redirect_uri=REDIRECT_URI,
            now=now,
        )

    assert str(refused.value).startswith("Google refused the sign-in (invalid_grant")
    assert str(refused.value).endswith("please sign in again")


def test_a_finished_sign_in_gives_tokens_that_the_mail_servers_accept(
    session: Session,
    session_factory: sessionmaker[Session],
    oauth_world: OAuthWorld,
    oauth_server: OAuthServer,
    oauth_dovecot: OAuthDovecotServer,
    secret_box: SecretBox,
    now: datetime,
) -> None:
    start = start_authorization(oauth_world.provider, REDIRECT_URI)
    query = _consent(oauth_server, start.url, oauth_world.account)

    grant = finish_authorization(
        oauth_world.provider,
        code=query["code"],
        code_verifier=start.code_verifier,
        redirect_uri=REDIRECT_URI,
        now=now,
    )

    assert grant.email == oauth_world.account.user
    assert grant.expires_at == now + timedelta(hours=1)
    assert grant.access_token not in repr(grant) and grant.refresh_token not in repr(grant)
    # Dovecot takes the new token (it asks the server's introspection endpoint).
    oauth_dovecot.connect_oauth(grant.email, grant.access_token).logout()
    # Storing it replaces the mailbox's tokens; the next login uses the new grant.
    user = session.get(User, oauth_world.user.id)
    assert user is not None
    connect_oauth_mailbox(session, secret_box, user, oauth_world.provider, grant, now)
    session.commit()
    token = access_token_for(
        session_factory, secret_box, oauth_world.mailbox_id, oauth_world.provider, now
    )
    assert token == grant.access_token
    assert session.scalars(select(Mailbox.id).where(Mailbox.user_id == user.id)).all() == [
        oauth_world.mailbox_id
    ]


def test_microsoft_reads_the_address_from_the_id_token(
    oauth_world: OAuthWorld, oauth_server: OAuthServer, now: datetime
) -> None:
    settings = Settings.from_env({**oauth_world.env, **oauth_server.env("microsoft")})
    microsoft = configured_providers(settings)["microsoft"]
    assert microsoft.userinfo_url is None and "offline_access" in microsoft.scopes
    start = start_authorization(microsoft, REDIRECT_URI)
    query = _consent(oauth_server, start.url, oauth_world.account)

    grant = finish_authorization(
        microsoft,
        code=query["code"],
        code_verifier=start.code_verifier,
        redirect_uri=REDIRECT_URI,
        now=now,
    )

    assert grant.email == oauth_world.account.user


def test_disconnecting_asks_the_provider_to_forget_the_grant(
    session: Session,
    oauth_world: OAuthWorld,
    oauth_server: OAuthServer,
    secret_box: SecretBox,
) -> None:
    mailbox = stored(session, oauth_world)
    access = secret_box.decrypt(mailbox.oauth_access_encrypted or "")
    assert oauth_server.introspect(access)["active"] is True

    assert revoke_grant(oauth_world.provider, secret_box, mailbox) is True

    assert oauth_server.introspect(access) == {"active": False}
