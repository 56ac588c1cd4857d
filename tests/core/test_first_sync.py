"""A first sync reads only the mail that arrived since the user's first request, on a real Dovecot.

Dovecot keeps each message's arrival (INTERNALDATE) as APPEND gives it, so
the mailbox holds years of mail here, as a student's does.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from outreach.crypto import SecretBox
from outreach.models import Message, MessageKind, MessageStatus, Outreach
from outreach.polling import poll_mailbox
from outreach.rules.states import OutreachState
from outreach.watching import SyncReport
from tests.conftest import World
from tests.core.test_watching import reply_to, sent_request
from tests.servers.dovecot import DovecotServer


def put(dovecot: DovecotServer, world: World, folder: str, raw: bytes, arrived: datetime) -> None:
    """File a message as having arrived at `arrived` (its INTERNALDATE)."""
    client = dovecot.connect(world.account.user, world.account.password)
    try:
        client.append(folder, raw, msg_time=arrived)
    finally:
        client.logout()


def letter(sender: str, subject: str, tag: str) -> bytes:
    return (
        f"From: {sender}\r\nTo: student@example.test\r\nSubject: {subject}\r\n"
        f"Message-ID: <{tag}@mail.example>\r\n\r\nHello\r\n"
    ).encode()


def poll(
    session_factory: sessionmaker[Session], world: World, secret_box: SecretBox, now: datetime
) -> SyncReport:
    result = poll_mailbox(session_factory, world.mailbox.id, secret_box, world.context, lambda: now)
    assert result.ok, result.problem
    assert result.report is not None
    return result.report


def received(session: Session) -> list[tuple[MessageKind, str | None, str]]:
    session.expire_all()
    rows = session.scalars(
        select(Message).where(Message.status == MessageStatus.RECEIVED).order_by(Message.id)
    )
    return [(m.kind, m.match_rule, m.subject) for m in rows]


def test_an_old_reply_to_a_request_sent_long_before_the_mailbox_was_read_is_matched(
    session: Session,
    session_factory: sessionmaker[Session],
    world: World,
    dovecot: DovecotServer,
    secret_box: SecretBox,
    now: datetime,
) -> None:
    # The request left 200 days ago (through this mailbox or one the user had before);
    # the reply came 150 days ago. Years of other mail lie around and before them.
    sent_at = now - timedelta(days=200)
    request = sent_request(session, world, sent_at, "ruth@org.example", secret_box)
    for days in (900, 600, 300, 210):
        put(
            dovecot,
            world,
            "INBOX",
            letter("news@shop.example", "Sale", f"old-{days}"),
            now - timedelta(days=days),
        )
    # The contact wrote once long before the request: no answer to it, never read.
    put(
        dovecot,
        world,
        "INBOX",
        letter("Ruth <ruth@org.example>", "Lunch last year", "before"),
        sent_at - timedelta(days=30),
    )
    put(
        dovecot,
        world,
        "INBOX",
        reply_to(request, sender="ruth@org.example"),
        now - timedelta(days=150),
    )
    put(
        dovecot,
        world,
        "INBOX",
        letter("news@shop.example", "Sale", "recent"),
        now - timedelta(days=1),
    )

    first = poll(session_factory, world, secret_box, now)

    # Read: the reply and the newsletter since the request; the five older messages not at all.
    assert first.folders["INBOX"] == 2
    assert (first.matched, received(session)) == (
        1,
        [(MessageKind.REPLY, "thread", f"Re: {request.subject}")],
    )
    outreach = session.get(Outreach, request.outreach_id)
    assert outreach is not None and outreach.state is OutreachState.REPLIED

    # The next sync starts after everything the first one passed over, and reads every
    # new message whatever its date: here one moved in from an archive folder.
    put(
        dovecot,
        world,
        "INBOX",
        letter("Ruth <ruth@org.example>", "One more thing", "later"),
        sent_at - timedelta(days=10),
    )
    second = poll(session_factory, world, secret_box, now)
    assert (second.folders["INBOX"], second.matched) == (1, 1)
    assert [subject for _k, _r, subject in received(session)] == [
        f"Re: {request.subject}",
        "One more thing",
    ]


def test_a_first_sync_before_any_request_reads_almost_nothing_and_misses_no_later_reply(
    session: Session,
    session_factory: sessionmaker[Session],
    world: World,
    dovecot: DovecotServer,
    secret_box: SecretBox,
    now: datetime,
) -> None:
    # The student connects a mailbox with years of mail and has sent nothing yet.
    for days in range(400, 0, -40):
        put(
            dovecot,
            world,
            "INBOX",
            letter("news@shop.example", "Sale", f"n{days}"),
            now - timedelta(days=days),
        )

    first = poll(session_factory, world, secret_box, now)
    assert first.folders["INBOX"] == 0
    assert first.matched == 0

    # Then the first request goes out, and its answer arrives.
    request = sent_request(session, world, now, "sam@org.example", secret_box)
    dovecot.deliver(reply_to(request, sender="sam@org.example"), world.account.user)
    second = poll(session_factory, world, secret_box, now)

    assert (second.folders["INBOX"], second.matched) == (1, 1)
    assert received(session) == [(MessageKind.REPLY, "thread", f"Re: {request.subject}")]
