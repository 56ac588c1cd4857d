"""'Test connection' against the real test servers: each kind of failure in its own words."""

from __future__ import annotations

import ssl

from sqlalchemy.orm import Session

from outreach.connection_check import check_mailbox
from outreach.crypto import SecretBox
from outreach.models import MailboxStatus
from tests.conftest import World
from tests.servers.net import free_port


def test_a_working_mailbox_passes_and_its_sent_folder_is_found(
    session: Session, world: World, secret_box: SecretBox
) -> None:
    report = check_mailbox(world.mailbox, secret_box, world.context)

    assert report.ok, report.problems
    assert report.sent_folder is not None
    assert world.mailbox.status is MailboxStatus.OK


def test_a_wrong_password_is_named_with_the_providers_advice(
    session: Session, world: World, secret_box: SecretBox
) -> None:
    world.mailbox.secret_encrypted = secret_box.encrypt("not-the-app-password")
    # The servers are ours; the address says Gmail, whose advice is to use an app password.
    world.mailbox.email_address = "sam.student@gmail.com"

    report = check_mailbox(world.mailbox, secret_box, world.context)

    assert not report.ok and report.password_refused
    imap, smtp, advice = report.problems
    assert imap.startswith("IMAP: the IMAP server refused the user name or password")
    assert smtp.startswith("SMTP: the SMTP server refused the user name or password")
    assert advice.startswith("Gmail: ") and "app password" in advice
    assert world.mailbox.status is MailboxStatus.NEEDS_ATTENTION


def test_a_server_name_that_does_not_exist_is_called_not_found(
    session: Session, world: World, secret_box: SecretBox
) -> None:
    world.mailbox.imap_host = world.mailbox.smtp_host = "imap.no-such-host.invalid"

    report = check_mailbox(world.mailbox, secret_box, world.context)

    assert report.problems == [
        "IMAP: the server name imap.no-such-host.invalid was not found: check its spelling",
        "SMTP: the server name imap.no-such-host.invalid was not found: check its spelling",
    ]
    assert not report.password_refused


def test_a_closed_port_is_called_refused(
    session: Session, world: World, secret_box: SecretBox
) -> None:
    closed = free_port()
    world.mailbox.imap_port = world.mailbox.smtp_port = closed

    report = check_mailbox(world.mailbox, secret_box, world.context)

    expected = f"127.0.0.1 refused the connection on port {closed}: check the port number"
    assert report.problems == [f"IMAP: {expected}", f"SMTP: {expected}"]


def test_a_certificate_that_cannot_be_verified_is_a_tls_problem(
    session: Session, world: World, secret_box: SecretBox
) -> None:
    # The system's CAs do not know the test servers' private CA: as with a
    # self-signed certificate on a real server.
    untrusting = ssl.create_default_context()

    report = check_mailbox(world.mailbox, secret_box, untrusting)

    assert len(report.problems) == 2
    for problem, server in zip(report.problems, ("IMAP", "SMTP"), strict=True):
        assert problem.startswith(f"{server}: the secure connection to 127.0.0.1 failed")
        assert "certificate could not be verified" in problem
    assert not report.password_refused
