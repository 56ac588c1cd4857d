"""On Gmail, a reply in the thread of our request counts even when its client dropped the ids.

Dovecot stands in for Gmail behind tests.servers.gmail_proxy.GmailProxy, which
offers X-GM-EXT-1 and answers X-GM-THRID from each message's X-Test-Gm-Thrid
header. The SMTP server files each sent message in Sent, as Gmail does.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from outreach.crypto import SecretBox
from outreach.models import Message, MessageKind, MessageStatus, TlsMode
from outreach.rules.states import OutreachState
from tests.conftest import World
from tests.core.test_watching import poll, reply_to, sent_request, state_of
from tests.servers.dovecot import DovecotServer
from tests.servers.gmail_proxy import THREAD_HEADER, GmailProxy
from tests.servers.smtpd import ReceivedMessage, RecordingSMTPServer

THREAD = 1_766_161_213_520_123_456  # a Gmail thread id is a 64-bit number


def _through(proxy: GmailProxy, session: Session, world: World) -> None:
    # Plain IMAP on loopback, so the proxy can read the conversation.
    world.mailbox.imap_port, world.mailbox.imap_tls = proxy.port, TlsMode.NONE
    session.commit()


@pytest.fixture
def filed_in_sent(
    dovecot: DovecotServer, smtp: RecordingSMTPServer, world: World
) -> Iterator[None]:
    """Each message the SMTP server accepts is filed in Sent, in thread THREAD."""
    account = world.account

    def file_in_sent(received: ReceivedMessage) -> None:
        copy = f"{THREAD_HEADER}: {THREAD}\r\n".encode() + received.raw
        dovecot.append(account.user, account.password, "Sent", copy, [b"\\Seen"])

    smtp.on_message = file_in_sent
    yield
    smtp.on_message = None


@pytest.fixture
def gmail(dovecot: DovecotServer, session: Session, world: World) -> Iterator[GmailProxy]:
    proxy = GmailProxy(dovecot.imap_port)
    _through(proxy, session, world)
    yield proxy
    proxy.stop()


@pytest.fixture
def plain(dovecot: DovecotServer, session: Session, world: World) -> Iterator[GmailProxy]:
    proxy = GmailProxy(dovecot.imap_port, gmail=False)
    _through(proxy, session, world)
    yield proxy
    proxy.stop()


def _reply_in_the_thread(request: Message) -> bytes:
    """Written from another address by a client that kept no In-Reply-To nor References."""
    return reply_to(
        request,
        sender="alex.lee@elsewhere.example",
        **{"In-Reply-To": "", "References": "", THREAD_HEADER: str(THREAD)},
    )


def _received(session: Session) -> list[Message]:
    query = select(Message).where(Message.status == MessageStatus.RECEIVED)
    return list(session.scalars(query))


@pytest.mark.usefixtures("filed_in_sent")
def test_the_sent_copy_of_our_request_gives_it_its_gmail_thread(
    session: Session,
    session_factory: sessionmaker[Session],
    world: World,
    gmail: GmailProxy,
    secret_box: SecretBox,
    now: datetime,
) -> None:
    request = sent_request(session, world, now, "alex@org.example", secret_box)

    poll(session_factory, world, secret_box, now)
    poll(session_factory, world, secret_box, now)

    session.expire_all()
    assert request.gm_thread_id == THREAD
    assert state_of(session, request) is OutreachState.WAITING  # our own copy is no reply
    assert _received(session) == []
    # The thread id comes with the header fields, in the same FETCH: no extra round trip.
    fetches = gmail.commands_with(b"FETCH")
    assert fetches and all(b"X-GM-THRID" in line and b"HEADER.FIELDS" in line for line in fetches)


@pytest.mark.usefixtures("filed_in_sent")
def test_a_reply_in_the_gmail_thread_matches_without_ids_nor_a_known_sender(
    session: Session,
    session_factory: sessionmaker[Session],
    world: World,
    dovecot: DovecotServer,
    gmail: GmailProxy,
    secret_box: SecretBox,
    now: datetime,
) -> None:
    request = sent_request(session, world, now, "alex@org.example", secret_box)
    account = world.account
    stranger = (
        f"From: news@shop.example\r\nTo: {account.user}\r\nSubject: Sale\r\n"
        f"Message-ID: <sale-1@shop.example>\r\n{THREAD_HEADER}: 77\r\n\r\nBuy now\r\n"
    ).encode()
    dovecot.deliver(stranger, account.user)
    dovecot.deliver(_reply_in_the_thread(request), account.user)

    # One round reads the Sent copy and the reply: Sent first, so the thread is known.
    poll(session_factory, world, secret_box, now)

    assert state_of(session, request) is OutreachState.REPLIED
    assert [(m.kind, m.match_rule, m.from_address) for m in _received(session)] == [
        (MessageKind.REPLY, "gmail_thread", "alex.lee@elsewhere.example")
    ]


@pytest.mark.usefixtures("filed_in_sent")
def test_without_gmails_extension_nothing_changes_and_no_thread_id_is_asked_for(
    session: Session,
    session_factory: sessionmaker[Session],
    world: World,
    dovecot: DovecotServer,
    plain: GmailProxy,
    secret_box: SecretBox,
    now: datetime,
) -> None:
    request = sent_request(session, world, now, "alex@org.example", secret_box)
    dovecot.deliver(_reply_in_the_thread(request), world.account.user)

    poll(session_factory, world, secret_box, now)

    session.expire_all()
    assert request.gm_thread_id is None
    # Neither its ids nor its sender tie the reply to the request: it is not ours to keep.
    assert state_of(session, request) is OutreachState.WAITING
    assert _received(session) == []
    assert plain.commands_with(b"FETCH")  # the folders were read, through the proxy
    assert plain.commands_with(b"X-GM") == []
