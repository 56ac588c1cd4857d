"""Connecting a mailbox (password encrypted, never echoed) and testing it for real."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from outreach.crypto import SecretBox
from outreach.models import Mailbox, MailboxStatus, TlsMode, User
from tests.factories import make_mailbox
from tests.servers.net import free_port
from tests.web.conftest import Browser

SECRET = "app-password-1234"


def mailbox_form(**overrides: str) -> dict[str, str]:
    form = {
        "email_address": "me@uni.example",
        "display_name": "Sam Student",
        "imap_host": "imap.uni.example",
        "imap_port": "993",
        "imap_tls": "ssl",
        "smtp_host": "smtp.uni.example",
        "smtp_port": "587",
        "smtp_tls": "starttls",
        "username": "",
        "password": SECRET,
    }
    form.update(overrides)
    return form


def test_connect_a_mailbox(signed_in: Browser, session: Session, secret_box: SecretBox) -> None:
    response = signed_in.post("/mailbox", mailbox_form(), page="/mailbox", follow_redirects=True)

    page = response.get_data(as_text=True)
    assert "me@uni.example is connected. Test the connection" in page
    assert SECRET not in page
    mailbox = session.scalar(select(Mailbox))
    assert mailbox is not None
    assert (mailbox.imap_tls, mailbox.smtp_tls) == (TlsMode.SSL, TlsMode.STARTTLS)
    assert mailbox.username == "me@uni.example"
    assert SECRET not in mailbox.secret_encrypted
    assert secret_box.decrypt(mailbox.secret_encrypted) == SECRET
    assert f'<tr data-mailbox-id="{mailbox.id}" data-status="ok">' in page


def test_a_refused_form_does_not_echo_the_password(signed_in: Browser, session: Session) -> None:
    response = signed_in.post(
        "/mailbox", mailbox_form(email_address="not an address"), page="/mailbox"
    )

    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "is not a valid email address." in page
    assert SECRET not in page
    assert session.scalar(select(Mailbox)) is None


def test_an_unknown_security_mode_is_refused(signed_in: Browser, session: Session) -> None:
    response = signed_in.post("/mailbox", mailbox_form(imap_tls="plaintext"), page="/mailbox")

    assert response.status_code == 400
    assert session.scalar(select(Mailbox)) is None


def test_testing_an_unreachable_mailbox_says_what_failed(
    signed_in: Browser, user: User, session: Session, secret_box: SecretBox
) -> None:
    closed = free_port()
    mailbox = make_mailbox(
        session,
        user,
        secret_box,
        imap_port=closed,
        imap_tls=TlsMode.NONE,
        smtp_port=closed,
        smtp_tls=TlsMode.NONE,
    )
    session.commit()

    response = signed_in.post(f"/mailbox/{mailbox.id}/test", page="/mailbox", follow_redirects=True)

    page = response.get_data(as_text=True)
    assert '<p class="flash flash-error" role="alert">IMAP:' in page
    assert '<p class="flash flash-error" role="alert">SMTP:' in page
    assert f'<tr data-mailbox-id="{mailbox.id}" data-status="needs_attention">' in page
    assert "needs attention" in page
    session.expire_all()
    stored = session.get(Mailbox, mailbox.id)
    assert stored is not None
    assert stored.status is MailboxStatus.NEEDS_ATTENTION
    assert stored.last_error and "IMAP" in stored.last_error
