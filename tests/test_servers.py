"""The real test servers start, speak their protocols, and record what the suite relies on."""

from __future__ import annotations

import asyncio
import ssl
from email.message import EmailMessage

import aiosmtplib
import pytest
import redis
import sqlalchemy as sa
from imapclient import IMAPClient

from tests.servers.dovecot import DovecotServer
from tests.servers.fixtures import MailAccount
from tests.servers.postgres import PostgresServer
from tests.servers.redis import RedisServer
from tests.servers.smtpd import RecordingSMTPServer
from tests.servers.tls import TlsFiles


def _client_context(tls_files: TlsFiles) -> ssl.SSLContext:
    # Verify for real: trust only the test CA, and check the hostname.
    return ssl.create_default_context(cafile=str(tls_files.ca_pem))


def _message(subject: str = "Quick question") -> EmailMessage:
    message = EmailMessage()
    message["From"] = "student@example.test"
    message["To"] = "alumna@example.org"
    message["Subject"] = subject
    message["Message-ID"] = "<test-1@example.test>"
    message.set_content("Hello, would you have 20 minutes for a chat?\n")
    return message


def _send(
    smtp: RecordingSMTPServer, tls_files: TlsFiles, password: str = "smtp-secret", **kwargs: bool
) -> None:
    asyncio.run(_send_and_settle(smtp, tls_files, password, **kwargs))


async def _send_and_settle(
    smtp: RecordingSMTPServer, tls_files: TlsFiles, password: str, start_tls: bool
) -> None:
    client = aiosmtplib.SMTP(
        hostname=smtp.host,
        port=smtp.port,
        start_tls=start_tls,
        tls_context=_client_context(tls_files),
        timeout=10,
    )
    sock = None
    try:
        async with client:
            sock = client.get_transport_info("socket")
            await client.login("student@example.test", password)
            await client.send_message(_message())
    finally:
        # aiosmtplib's close() only starts the TLS shutdown. If asyncio.run() closes the loop
        # before it ends, the socket is garbage-collected open: a ResourceWarning that
        # filterwarnings=error turns into a random failure (about 1 run in 10). So wait for it.
        for _ in range(2000):
            if sock is None or sock.fileno() == -1:
                break
            await asyncio.sleep(0.001)


def test_smtp_records_message_sent_over_starttls_with_auth(
    smtp: RecordingSMTPServer, tls_files: TlsFiles
) -> None:
    _send(smtp, tls_files, start_tls=True)

    [received] = smtp.wait_for(1, timeout=5)
    assert received.auth_user == "student@example.test"
    assert received.mail_from == "student@example.test"
    assert received.rcpt_tos == ["alumna@example.org"]
    assert received.message["Subject"] == "Quick question"
    assert b"20 minutes" in received.raw
    # The wire form has CRLF line ends, and the parsed body keeps them.
    assert received.message.get_content().splitlines() == [
        "Hello, would you have 20 minutes for a chat?"
    ]


def test_smtp_rejects_wrong_password(smtp: RecordingSMTPServer, tls_files: TlsFiles) -> None:
    with pytest.raises(aiosmtplib.SMTPAuthenticationError):
        _send(smtp, tls_files, password="wrong", start_tls=True)
    assert smtp.messages == []


def test_smtp_offers_no_auth_without_starttls(
    smtp: RecordingSMTPServer, tls_files: TlsFiles
) -> None:
    with pytest.raises(aiosmtplib.SMTPException):
        _send(smtp, tls_files, start_tls=False)
    assert smtp.messages == []


def test_smtp_reply_override_simulates_permanent_failure(
    smtp: RecordingSMTPServer, tls_files: TlsFiles
) -> None:
    smtp.reply_code, smtp.reply_text = 550, "5.1.1 No such user"

    with pytest.raises(aiosmtplib.SMTPResponseException) as failure:
        _send(smtp, tls_files, start_tls=True)

    assert failure.value.code == 550
    assert smtp.messages == []
    assert len(smtp.rejected) == 1


def test_lmtp_delivery_is_visible_over_imap_starttls(
    dovecot: DovecotServer, mail_account: MailAccount, tls_files: TlsFiles
) -> None:
    raw = _message("Re: Quick question").as_bytes().replace(b"\n", b"\r\n")
    dovecot.deliver(raw, mail_account.user)

    client = IMAPClient(dovecot.host, port=dovecot.imap_port, ssl=False, timeout=10)
    try:
        client.starttls(_client_context(tls_files))
        client.login(mail_account.user, mail_account.password)
        client.select_folder("INBOX", readonly=True)
        uids = client.search("ALL")
        fetched = client.fetch(uids, ["ENVELOPE"])
        assert client.find_special_folder(b"\\Sent") == "Sent"
    finally:
        client.logout()
    assert len(uids) == 1
    assert fetched[uids[0]][b"ENVELOPE"].subject == b"Re: Quick question"

    [(uid, body, flags)] = dovecot.snapshot(mail_account.user, mail_account.password)
    assert uid == uids[0]
    assert body.endswith(raw)  # Dovecot only prepends its trace headers.
    assert flags == ()  # Unseen, and snapshot() itself did not mark it \Seen.
    assert dovecot.snapshot(mail_account.user, mail_account.password)[0][2] == ()


def test_append_seeds_a_folder_with_flags(
    dovecot: DovecotServer, mail_account: MailAccount
) -> None:
    raw = _message().as_bytes().replace(b"\n", b"\r\n")
    uid = dovecot.append(mail_account.user, mail_account.password, "Sent", raw, flags=[b"\\Seen"])
    assert dovecot.snapshot(mail_account.user, mail_account.password, "Sent") == [
        (uid, raw, (b"\\Seen",))
    ]


def test_imaps_accepts_the_session_user(dovecot: DovecotServer, tls_files: TlsFiles) -> None:
    client = IMAPClient(
        dovecot.host, port=dovecot.imaps_port, ssl_context=_client_context(tls_files), timeout=10
    )
    try:
        client.login("student@example.test", "imap-secret")
    finally:
        client.logout()


def test_redis_answers_ping(redis_server: RedisServer) -> None:
    client = redis.Redis.from_url(redis_server.url)
    try:
        assert client.ping() is True
    finally:
        client.close()


def test_postgres_database_url_works_with_sqlalchemy(postgres: PostgresServer) -> None:
    url = postgres.create_database()
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            name = conn.execute(sa.text("SELECT current_database()")).scalar_one()
    finally:
        engine.dispose()
    assert url.startswith("postgresql+psycopg://")
    assert url.endswith("/" + name)
