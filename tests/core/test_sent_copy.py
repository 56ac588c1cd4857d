"""The Sent folder on a real Dovecot: one copy filed, and unknown deliveries settled."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from outreach.crypto import SecretBox
from outreach.mail.imap import ImapSentFolder
from outreach.mail.smtp import SmtpSender
from outreach.models import Contact, Mailbox, Message, MessageStatus
from outreach.rules.compose import build_message, wire_bytes
from outreach.sending import Outcome, deliver, outgoing_email
from outreach.sent_copy import candidates, reconcile
from tests.conftest import World
from tests.factories import make_approved_requests
from tests.servers.dovecot import DovecotServer
from tests.servers.smtpd import RecordingSMTPServer


def sent_message(
    session: Session,
    factory: sessionmaker[Session],
    world: World,
    box: SecretBox,
    now: datetime,
    outcome: Outcome = Outcome.SENT,
) -> Message:
    (draft,) = make_approved_requests(session, world.user, now)
    result = deliver(factory, draft.id, SmtpSender(world.context), box, lambda: now)
    assert result.outcome is outcome, result
    session.expire_all()
    message = session.get(Message, draft.id)
    assert message is not None
    return message


def run_reconcile(
    factory: sessionmaker[Session], world: World, box: SecretBox, message: Message, at: datetime
) -> str:
    return reconcile(
        factory, message.id, box, lambda login: ImapSentFolder(login, world.context), lambda: at
    )


def test_a_copy_is_filed_once_flagged_seen_and_identical_to_what_was_sent(
    session: Session,
    session_factory: sessionmaker[Session],
    world: World,
    smtp: RecordingSMTPServer,
    dovecot: DovecotServer,
    secret_box: SecretBox,
    now: datetime,
) -> None:
    message = sent_message(session, session_factory, world, secret_box, now)
    later = now + timedelta(minutes=1)
    assert candidates(session, now) == []  # the provider gets a moment to file its own
    assert candidates(session, later) == [message.id]

    assert run_reconcile(session_factory, world, secret_box, message, later) == (
        "Sent copy appended"
    )
    assert run_reconcile(session_factory, world, secret_box, message, later) == "nothing to do"

    account = world.account
    ((_uid, raw, flags),) = dovecot.snapshot(account.user, account.password, "Sent")
    assert b"\\Seen" in flags
    assert raw.replace(b"\r\n", b"\n") == smtp.messages[0].raw.replace(b"\r\n", b"\n")


def test_a_provider_that_files_its_own_copy_gets_no_second_one(
    session: Session,
    session_factory: sessionmaker[Session],
    world: World,
    smtp: RecordingSMTPServer,
    dovecot: DovecotServer,
    secret_box: SecretBox,
    now: datetime,
) -> None:
    message = sent_message(session, session_factory, world, secret_box, now)
    account = world.account
    # As Gmail does: the provider files what it relayed.
    dovecot.append(account.user, account.password, "Sent", smtp.wait_for(1)[0].raw, [b"\\Seen"])

    outcome = run_reconcile(session_factory, world, secret_box, message, now + timedelta(minutes=1))

    assert outcome == "Sent copy found"
    assert len(dovecot.snapshot(account.user, account.password, "Sent")) == 1
    session.expire_all()
    mailbox = session.get(Mailbox, world.mailbox.id)
    assert mailbox is not None and mailbox.files_sent_copy is True
    assert mailbox.sent_folder == "Sent"


def test_unknown_delivery_found_in_sent_is_settled_as_sent(
    session: Session,
    session_factory: sessionmaker[Session],
    world: World,
    smtp: RecordingSMTPServer,
    dovecot: DovecotServer,
    secret_box: SecretBox,
    now: datetime,
) -> None:
    smtp.drop_after_data = True
    message = sent_message(session, session_factory, world, secret_box, now, Outcome.UNKNOWN)
    account = world.account
    dovecot.append(account.user, account.password, "Sent", smtp.messages[0].raw, [b"\\Seen"])

    outcome = run_reconcile(session_factory, world, secret_box, message, now)

    assert outcome == "found in Sent: marked sent"
    session.expire_all()
    stored = session.get(Message, message.id)
    assert stored is not None and stored.status is MessageStatus.SENT


def test_unknown_delivery_missing_from_sent_waits_for_the_user(
    session: Session,
    session_factory: sessionmaker[Session],
    world: World,
    smtp: RecordingSMTPServer,
    dovecot: DovecotServer,
    secret_box: SecretBox,
    now: datetime,
) -> None:
    smtp.drop_after_data = True
    message = sent_message(session, session_factory, world, secret_box, now, Outcome.UNKNOWN)

    outcome = run_reconcile(session_factory, world, secret_box, message, now)

    assert outcome == "not in Sent: the user decides"
    session.expire_all()
    stored = session.get(Message, message.id)
    assert stored is not None and stored.status is MessageStatus.UNKNOWN
    assert "tell us whether it was delivered" in (stored.waiting_reason or "")
    assert dovecot.snapshot(world.account.user, world.account.password, "Sent") == []
    assert len(smtp.messages) == 1


def test_the_rebuilt_message_is_the_one_that_was_sent(
    session: Session,
    session_factory: sessionmaker[Session],
    world: World,
    smtp: RecordingSMTPServer,
    secret_box: SecretBox,
    now: datetime,
) -> None:
    message = sent_message(session, session_factory, world, secret_box, now)
    mailbox = session.get(Mailbox, world.mailbox.id)
    contact = session.get(Contact, message.contact_id)
    assert mailbox is not None and contact is not None
    rebuilt = wire_bytes(
        build_message(outgoing_email(message, mailbox, world.user, contact, now + timedelta(1)))
    )
    assert rebuilt == smtp.wait_for(1)[0].raw
