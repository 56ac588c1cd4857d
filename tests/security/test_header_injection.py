"""Names and subjects with line breaks and encoded-word tricks, sent for real: what arrives at
the SMTP server has exactly the headers we meant, and goes to exactly the contact.

The mail goes the real way: approved, queued on Redis, sent by the worker's job over
STARTTLS and AUTH to the test's SMTP server. Input may also be refused with a sentence
(a check on control characters does that); what may never happen is a header of its own.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from email import message_from_bytes
from email.policy import default
from email.utils import getaddresses

import pytest
from redis import Redis
from rq import Queue
from sqlalchemy.orm import Session

from outreach.contacts import ContactInput, add_contact
from outreach.drafts import approve, edit_draft
from outreach.errors import ValidationError
from outreach.models import Message, MessageStatus
from outreach.rules.compose import OutgoingEmail, build_message, wire_bytes
from outreach.targets import create_target, fill_pipeline
from tests.conftest import World
from tests.servers.redis import RedisServer
from tests.servers.smtpd import RecordingSMTPServer
from workers.queues import ALL_QUEUES, enqueue_send
from workers.worker import OutreachWorker

CONTACT_ADDRESS = "dana.contact@org.example"
# What a first request carries, and nothing more.
MEANT = {
    "from",
    "to",
    "subject",
    "date",
    "message-id",
    "mime-version",
    "content-type",
    "content-transfer-encoding",
}

HOSTILE = [
    "Dana\r\nBcc: victim@evil.example",
    "Dana\nBcc: victim@evil.example",
    "Dana\rBcc: victim@evil.example",
    "Dana\r\n\r\nInjected body",
    "Dana\r\n X-Folded: continued",
    "Dana\x00\r\nBcc: victim@evil.example",
    "Dana\u2028Bcc: victim@evil.example",
    "Dana\x85Bcc: victim@evil.example",
    "Dana\x0bBcc: victim@evil.example",
    "=?utf-8?q?Dana=0D=0ABcc=3A_victim=40evil=2Eexample?=",
    "=?utf-8?b?RGFuYQ0KQmNjOiB2aWN0aW1AZXZpbC5leGFtcGxl?=",
    '"Dana" <victim@evil.example>, Eve',
    "Dana <victim@evil.example>",
    "Dana, victim@evil.example",
    "Dana; Bcc: victim@evil.example",
    "Dana " + "x" * 150 + "\r\nBcc: victim@evil.example",
]


@dataclass
class Sent:
    refused: str | None
    message: Message | None


@pytest.fixture
def redis(redis_server: RedisServer) -> Iterator[Redis]:
    connection = Redis.from_url(redis_server.url)
    connection.flushdb()
    yield connection
    connection.flushdb()
    connection.close()


def send(
    session: Session,
    world: World,
    redis: Redis,
    now: datetime,
    *,
    name: str = "Dana Contact",
    subject: str | None = None,
) -> Sent:
    """Add the contact, draft, edit, approve and send through the worker's job."""
    # Refusing hostile input with a sentence is allowed where the input is taken...
    try:
        contact = add_contact(
            session,
            world.user,
            ContactInput(
                email=CONTACT_ADDRESS,
                name=name,
                organisation="Example Institute",
                role="Policy Analyst",
                how_found="the alumni network",
            ),
        )
        target = create_target(session, world.user, "Science policy", [contact.id])
        (draft,) = fill_pipeline(session, world.user, target, now)
        if subject is not None:
            edit_draft(session, world.user, draft.id, subject, draft.body_text, now)
    except ValidationError as refusal:
        session.rollback()
        return Sent(str(refusal), None)
    # ...but what was taken must then be sendable.
    approve(session, world.user, draft.id, now)
    session.commit()
    assert enqueue_send(redis, draft.id)
    queues = [Queue(queue, connection=redis) for queue in ALL_QUEUES]
    OutreachWorker(queues, connection=redis).work(burst=True)
    session.expire_all()
    return Sent(None, session.get(Message, draft.id))


def assert_exactly_what_we_meant(smtp: RecordingSMTPServer, sender: str) -> None:
    (received,) = smtp.wait_for(1)
    assert received.rcpt_tos == [CONTACT_ADDRESS]
    assert received.mail_from == sender
    names = [name.lower() for name in received.message.keys()]
    assert sorted(names) == sorted(MEANT), f"headers arrived: {names}"
    assert [address for _, address in getaddresses(received.message.get_all("To", []))] == [
        CONTACT_ADDRESS
    ]
    assert [address for _, address in getaddresses(received.message.get_all("From", []))] == [
        sender
    ]
    head = received.raw.split(b"\r\n\r\n", 1)[0]
    # A name may be signed in the body (the user's own, folded to one line): what a
    # header block broken open would give is a body that starts with the injected text.
    lines = [line.strip() for line in received.message.get_content().splitlines()]
    assert "Injected body" not in lines
    assert lines and lines[0].startswith("Dear ")
    # Every line of the header block starts a header we meant or continues one (folding).
    for line in head.split(b"\r\n"):
        if line[:1] in (b" ", b"\t"):
            continue
        name = line.split(b":", 1)[0].decode("ascii").lower()
        assert name in MEANT, f"a header line of its own: {line!r}"


def test_a_plain_name_and_subject_arrive_as_written(
    session: Session,
    world: World,
    smtp: RecordingSMTPServer,
    redis: Redis,
    job_environment: None,
    now: datetime,
) -> None:
    # The cases below may pass by a refusal; this one shows the way they take sends.
    sent = send(session, world, redis, now, name="Dana Contact", subject="A question")

    assert sent.refused is None
    assert sent.message is not None and sent.message.status is MessageStatus.SENT
    assert_exactly_what_we_meant(smtp, world.mailbox.email_address)
    (received,) = smtp.messages
    assert received.message["Subject"] == "A question"
    assert received.message["To"] == f"Dana Contact <{CONTACT_ADDRESS}>"


@pytest.mark.parametrize("name", HOSTILE, ids=repr)
def test_a_hostile_contact_name_adds_no_header(
    session: Session,
    world: World,
    smtp: RecordingSMTPServer,
    redis: Redis,
    job_environment: None,
    now: datetime,
    name: str,
) -> None:
    sent = send(session, world, redis, now, name=name)

    if sent.refused is not None:
        assert smtp.messages == []
        return
    assert sent.message is not None and sent.message.status is MessageStatus.SENT
    assert_exactly_what_we_meant(smtp, world.mailbox.email_address)


@pytest.mark.parametrize("subject", HOSTILE, ids=repr)
def test_a_hostile_subject_adds_no_header(
    session: Session,
    world: World,
    smtp: RecordingSMTPServer,
    redis: Redis,
    job_environment: None,
    now: datetime,
    subject: str,
) -> None:
    sent = send(session, world, redis, now, subject=subject)

    if sent.refused is not None:
        assert smtp.messages == []
        return
    assert sent.message is not None and sent.message.status is MessageStatus.SENT
    assert_exactly_what_we_meant(smtp, world.mailbox.email_address)


@pytest.mark.parametrize("display_name", HOSTILE[:6], ids=repr)
def test_a_hostile_sender_name_adds_no_header(
    session: Session,
    world: World,
    smtp: RecordingSMTPServer,
    redis: Redis,
    job_environment: None,
    now: datetime,
    display_name: str,
) -> None:
    world.mailbox.display_name = display_name
    world.user.name = display_name
    session.commit()

    sent = send(session, world, redis, now)

    if sent.refused is not None:
        assert smtp.messages == []
        return
    assert sent.message is not None
    if "\x00" in display_name:
        # Written to the rows past the door, which refuses a NUL now: the header
        # building, the last guard, fails the send with a sentence and sends nothing.
        assert sent.message.status is MessageStatus.FAILED
        assert "the sender's name contains a NUL (U+0000)" in (sent.message.error or "")
        assert smtp.messages == []
        return
    assert sent.message.status is MessageStatus.SENT
    assert_exactly_what_we_meant(smtp, world.mailbox.email_address)


@pytest.mark.parametrize(
    "name",
    ["Zoë Müller", "Ζωή Παπαδοπούλου-Καραγιαννοπούλου", "Dr. Dana O'Neil (PhD), Sr."],
)
def test_an_ordinary_name_keeps_its_display_name(name: str) -> None:
    # The check that drops a name that would read as other addresses keeps real ones.
    message = build_message(
        OutgoingEmail(
            "Sam",
            "sam@uni.example",
            name,
            CONTACT_ADDRESS,
            "Hello",
            "Hi.",
            "<1@uni.example>",
            datetime(2026, 11, 24, 9, 30, tzinfo=UTC),
        )
    )
    read = message_from_bytes(wire_bytes(message), policy=default)
    (address,) = read["To"].addresses
    assert address.addr_spec == CONTACT_ADDRESS
    assert address.display_name.replace(" ", "") == name.replace(" ", "")
