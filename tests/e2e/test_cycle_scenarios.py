"""The cycle through real processes, with time moved forward.

A real `outreach worker` (its sweeper runs the scheduler) and a real `outreach
poller` run against the test SMTP server and Dovecot. Every process reads the
same clock offset file (OUTREACH_CLOCK_OFFSET_FILE); the test moves it forward
by days and waits for the processes to take the steps that fell due.

Four lists run side by side, each with two names and auto-approval switched on:

- silence: the request, a follow-up in the same thread, no reply, the next name;
- a decline: the next name at once;
- a hard bounce: the next name at once;
- an out-of-office with a return date: no follow-up until one business day after it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from redis import Redis
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from outreach import clock, targets
from outreach.crypto import SecretBox
from outreach.db import make_engine
from outreach.models import (
    Contact,
    Message,
    MessageKind,
    MessageStatus,
    Outreach,
    TlsMode,
    User,
)
from outreach.rules.cycle import BusinessCalendar
from outreach.rules.states import OutreachState
from tests.e2e.test_loop import Processes, wait_until
from tests.factories import make_contact, make_mailbox, make_user
from tests.servers.dovecot import DovecotServer
from tests.servers.fixtures import MailAccount
from tests.servers.redis import RedisServer
from tests.servers.smtpd import RecordingSMTPServer
from tests.servers.tls import TlsFiles

DAY = timedelta(days=1)


@dataclass
class Cycle:
    processes: Processes
    engine: Engine
    offset_file: Path
    box: SecretBox

    def now(self) -> datetime:
        """The processes' clock: this machine's, moved by the offset file."""
        return datetime.now(UTC) + clock_offset(self.offset_file)

    def travel(self, by: timedelta) -> None:
        clock.travel(self.offset_file, by)

    def wait(self, check: Callable[[Session], bool], what: str, timeout: float = 30) -> None:
        def probe() -> bool:
            with Session(self.engine) as session:
                return check(session)

        wait_until(probe, timeout, what, self.processes.logs_text)


def clock_offset(path: Path) -> timedelta:
    text = path.read_text().strip() if path.exists() else ""
    return timedelta(seconds=float(text or 0))


@pytest.fixture(params=["sqlite", "postgresql"])
def cycle_database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "postgresql":
        return str(request.getfixturevalue("postgres").create_database())
    return f"sqlite:///{tmp_path / 'instance' / 'outreach.sqlite'}"


@pytest.fixture
def cycle_processes(
    tmp_path: Path, cycle_database: str, redis_server: RedisServer, tls_files: TlsFiles
) -> Iterator[Cycle]:
    redis = Redis.from_url(redis_server.url)
    redis.flushdb()
    offset_file = tmp_path / "clock-offset"
    offset_file.write_text("0")
    keys = Fernet.generate_key().decode()
    database = cycle_database
    env = {
        **os.environ,
        "OUTREACH_INSTANCE_DIR": str(tmp_path / "instance"),
        "OUTREACH_DATABASE_URL": database,
        "OUTREACH_REDIS_URL": redis_server.url,
        "OUTREACH_SECRET_KEY": "e2e-secret",
        "OUTREACH_ENCRYPTION_KEYS": keys,
        "OUTREACH_CA_FILE": str(tls_files.ca_pem),
        "OUTREACH_POLL_INTERVAL": "0.5",
        "OUTREACH_SWEEP_INTERVAL": "0.5",
        "OUTREACH_CLOCK_OFFSET_FILE": str(offset_file),
    }
    logs = tmp_path / "logs"
    logs.mkdir()
    procs = Processes(env, logs, [])
    procs.run("db", "upgrade")
    engine = make_engine(database)
    try:
        yield Cycle(procs, engine, offset_file, SecretBox((keys,)))
    finally:
        procs.stop_all()
        engine.dispose()
        redis.flushdb()
        redis.close()


def answer(request: Message, sender: str, body: str, **headers: str) -> bytes:
    values = {
        "From": f"Someone <{sender}>",
        "To": request.from_address,
        "Subject": f"Re: {request.subject}",
        "Message-ID": f"<answer-{request.id}@org.example>",
        "In-Reply-To": request.message_id or "",
        "References": request.message_id or "",
        **headers,
    }
    head = "".join(f"{name}: {value}\r\n" for name, value in values.items())
    return (head + "\r\n" + body + "\r\n").encode()


def hard_bounce(request: Message, account: str) -> bytes:
    return (
        "From: MAILER-DAEMON@mx.org.example\r\n"
        f"To: {account}\r\nSubject: Undelivered Mail Returned to Sender\r\n"
        f"Message-ID: <dsn-{request.id}@mx.org.example>\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n\r\n'
        "--B\r\nContent-Type: text/plain\r\n\r\nThe address does not exist.\r\n"
        "--B\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx\r\n\r\n"
        f"Final-Recipient: rfc822; {request.to_address}\r\nAction: failed\r\nStatus: 5.1.1\r\n"
        "--B\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"Message-ID: {request.message_id}\r\n--B--\r\n"
    ).encode()


def state(session: Session, email: str) -> OutreachState:
    found = session.scalar(
        select(Outreach.state)
        .join(Contact, Contact.id == Outreach.contact_id)
        .where(Contact.email == email)
    )
    assert found is not None
    return found


def sent_to(session: Session, email: str, kind: MessageKind) -> list[Message]:
    return list(
        session.scalars(
            select(Message)
            .where(
                Message.to_address == email,
                Message.kind == kind,
                Message.status == MessageStatus.SENT,
            )
            .order_by(Message.id)
        )
    )


def smtp_count(smtp: RecordingSMTPServer, email: str) -> int:
    return sum(1 for received in smtp.messages if received.rcpt_tos == [email])


def test_the_cycle_moves_on_through_real_processes_as_days_pass(
    cycle_processes: Cycle,
    smtp: RecordingSMTPServer,
    dovecot: DovecotServer,
    mail_account: MailAccount,
) -> None:
    run = cycle_processes
    smtp.users[mail_account.user] = mail_account.password
    lists = {
        "silence": ("ann@quiet.example", "art@quiet2.example"),
        "decline": ("bea@busy.example", "bob@busy2.example"),
        "bounce": ("cal@gone.example", "cyd@gone2.example"),
        "away": ("dee@away.example", "dan@away2.example"),
    }
    with Session(run.engine) as session:
        user = make_user(session, email=mail_account.user)
        user.auto_approve = "request follow_up"
        mailbox = make_mailbox(
            session,
            user,
            run.box,
            password=mail_account.password,
            imap_port=dovecot.imap_port,
            imap_tls=TlsMode.STARTTLS,
            smtp_port=smtp.port,
            smtp_tls=TlsMode.STARTTLS,
            username=mail_account.user,
        )
        # Many messages go out within seconds in this test: no spacing.
        mailbox.min_gap_seconds = mailbox.max_gap_seconds = 0
        for name, (first, second) in lists.items():
            contacts = [
                make_contact(session, user, email=email, organisation=email.split("@")[1])
                for email in (first, second)
            ]
            target = targets.create_target(session, user, name, [c.id for c in contacts])
            targets.fill_pipeline(session, user, target, run.now())
        session.commit()
        user_id = user.id

    run.processes.start("worker", "worker")
    run.processes.start("poller", "poller")
    firsts = [first for first, _second in lists.values()]
    run.wait(
        lambda s: all(sent_to(s, email, MessageKind.REQUEST) for email in firsts),
        "the worker to send the four first requests",
    )
    with Session(run.engine) as session:
        requests = {e: sent_to(session, e, MessageKind.REQUEST)[0] for e in firsts}
        owner = session.get(User, user_id)
        assert owner is not None
        calendar = BusinessCalendar.of(owner.time_zone, owner.holidays)
    sent_at = requests["dee@away.example"].sent_at
    assert sent_at is not None

    # Answers arrive: a decline, a hard bounce, an out-of-office with a return date.
    back = calendar.local_date(run.now()) + 10 * DAY
    account = mail_account.user
    dovecot.deliver(
        answer(
            requests["bea@busy.example"],
            "bea@busy.example",
            "Sorry, now is not a good time for me.",
        ),
        account,
    )
    dovecot.deliver(hard_bounce(requests["cal@gone.example"], account), account, sender="")
    dovecot.deliver(
        answer(
            requests["dee@away.example"],
            "dee@away.example",
            f"I am out of the office until {back:%A %d %B %Y} with no access to email.",
            **{"Auto-Submitted": "auto-replied", "Subject": "Automatic reply: hello"},
        ),
        account,
    )

    # A decline and a bounce: the next name's request goes out at once.
    run.wait(
        lambda s: (
            state(s, "bea@busy.example") is OutreachState.DECLINED
            and state(s, "cal@gone.example") is OutreachState.BOUNCED
            and bool(sent_to(s, "bob@busy2.example", MessageKind.REQUEST))
            and bool(sent_to(s, "cyd@gone2.example", MessageKind.REQUEST))
        ),
        "the poller to move the decline and the bounce on to the next names",
    )
    resume_at = calendar.day_after_return(back, sent_at)
    run.wait(
        lambda s: (
            s.scalar(
                select(Outreach.next_step_at)
                .join(Contact, Contact.id == Outreach.contact_id)
                .where(Contact.email == "dee@away.example")
            )
            == resume_at
        ),
        "the out-of-office to hold the clock until one business day after the return",
    )
    assert smtp_count(smtp, "art@quiet2.example") == 0
    assert smtp_count(smtp, "dan@away2.example") == 0

    # A week and a day later: Ann gets one follow-up in the same thread; Dee is away.
    run.travel(8 * DAY)
    run.wait(
        lambda s: bool(sent_to(s, "ann@quiet.example", MessageKind.FOLLOW_UP)),
        "the scheduler to draft, and the worker to send, Ann's follow-up",
    )
    with Session(run.engine) as session:
        (follow_up,) = sent_to(session, "ann@quiet.example", MessageKind.FOLLOW_UP)
        assert follow_up.in_reply_to == requests["ann@quiet.example"].message_id
        assert state(session, "ann@quiet.example") is OutreachState.FOLLOWED_UP
        assert sent_to(session, "dee@away.example", MessageKind.FOLLOW_UP) == []
        assert state(session, "dee@away.example") is OutreachState.WAITING
    in_thread = [
        received
        for received in smtp.messages
        if received.message["In-Reply-To"] == requests["ann@quiet.example"].message_id
    ]
    assert [received.rcpt_tos for received in in_thread] == [["ann@quiet.example"]]
    # Bob and Cyd, written to at once after the decline and the bounce, are followed up too.
    run.wait(
        lambda s: (
            bool(sent_to(s, "bob@busy2.example", MessageKind.FOLLOW_UP))
            and bool(sent_to(s, "cyd@gone2.example", MessageKind.FOLLOW_UP))
        ),
        "the follow-ups to the names after the decline and the bounce",
    )

    # Another week and a day: no answer from Ann, so Art is next; Dee is back.
    run.travel(8 * DAY)
    run.wait(
        lambda s: (
            state(s, "ann@quiet.example") is OutreachState.NO_REPLY
            and bool(sent_to(s, "art@quiet2.example", MessageKind.REQUEST))
            and bool(sent_to(s, "dee@away.example", MessageKind.FOLLOW_UP))
        ),
        "no reply from Ann, the request to Art, and Dee's follow-up after her return",
    )
    with Session(run.engine) as session:
        (dee_follow_up,) = sent_to(session, "dee@away.example", MessageKind.FOLLOW_UP)
        assert dee_follow_up.sent_at is not None and dee_follow_up.sent_at >= resume_at
    # Never more than two messages to anyone, nothing sent twice, nothing after an answer.
    counts = {email: smtp_count(smtp, email) for pair in lists.values() for email in pair}
    assert counts == {
        "ann@quiet.example": 2,
        "art@quiet2.example": 1,
        "bea@busy.example": 1,
        "bob@busy2.example": 2,
        "cal@gone.example": 1,
        "cyd@gone2.example": 2,
        "dee@away.example": 2,
        "dan@away2.example": 0,
    }
