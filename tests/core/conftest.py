"""A user with a mailbox on the session's real Dovecot and SMTP servers."""

from __future__ import annotations

import ssl
from dataclasses import dataclass

import pytest
from sqlalchemy.orm import Session

from outreach.crypto import SecretBox
from outreach.mail.tls import client_context
from outreach.models import Mailbox, TlsMode, User
from tests.factories import make_mailbox, make_user
from tests.servers.dovecot import DovecotServer
from tests.servers.fixtures import MailAccount
from tests.servers.smtpd import RecordingSMTPServer
from tests.servers.tls import TlsFiles


@dataclass
class World:
    user: User
    mailbox: Mailbox
    account: MailAccount
    context: ssl.SSLContext


@pytest.fixture
def world(
    session: Session,
    secret_box: SecretBox,
    dovecot: DovecotServer,
    smtp: RecordingSMTPServer,
    mail_account: MailAccount,
    tls_files: TlsFiles,
) -> World:
    # One password for both servers, as with a real provider's app password.
    smtp.users[mail_account.user] = mail_account.password
    user = make_user(session, email=mail_account.user)
    mailbox = make_mailbox(
        session,
        user,
        secret_box,
        password=mail_account.password,
        imap_port=dovecot.imap_port,
        imap_tls=TlsMode.STARTTLS,
        smtp_port=smtp.port,
        smtp_tls=TlsMode.STARTTLS,
        username=mail_account.user,
    )
    session.commit()
    return World(user, mailbox, mail_account, client_context(tls_files.ca_pem))
