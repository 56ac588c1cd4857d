"""Two pollers share the mailboxes through their leases; one is SIGKILLed.

Its mailboxes are taken over by the other within the lease (and one renewal
period), and every reply, delivered before the kill or while nobody watched,
is recorded exactly once.
"""

from __future__ import annotations

import os
import random
import secrets
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from outreach import drafts, targets
from outreach.config import Settings
from outreach.crypto import SecretBox
from outreach.models import Direction, Mailbox, Message, MessageKind, Outreach, TlsMode
from outreach.rules.states import OutreachState
from outreach.sending import record_sent
from tests.factories import make_contact, make_mailbox, make_user
from tests.servers.dovecot import DovecotServer
from tests.servers.net import kill_tree, log_tail
from tests.servers.tls import TlsFiles

MAILBOXES = 40
LEASE = 3.0


def seed(
    session: Session, box: SecretBox, dovecot: DovecotServer, now: datetime
) -> list[tuple[str, Message]]:
    """MAILBOXES users, each with a fresh Dovecot login and two requests recorded as sent."""
    sent: list[tuple[str, Message]] = []
    for _ in range(MAILBOXES):
        login = f"drill-{secrets.token_hex(5)}@example.test"
        password = secrets.token_urlsafe(10)
        dovecot.add_user(login, password)
        user = make_user(session, email=login)
        make_mailbox(
            session, user, box, password=password, imap_port=dovecot.imap_port,
            imap_tls=TlsMode.NONE, username=login,
        )  # fmt: skip
        people = [make_contact(session, user).id for _ in range(2)]
        target = targets.create_target(session, user, "Radio", people, max_in_flight=2)
        for draft in targets.fill_pipeline(session, user, target, now):
            drafts.approve(session, user, draft.id, now)
            session.flush()
            record_sent(session, draft.id, now)
            sent.append((login, draft))
    session.commit()
    return sent


def reply(message: Message, to: str) -> bytes:
    return (
        f"From: {message.to_address}\r\nTo: {to}\r\nSubject: Re: {message.subject}\r\n"
        f"Message-ID: <reply-{message.id}@org.example>\r\n"
        f"In-Reply-To: {message.message_id}\r\n\r\nYes, happy to talk.\r\n"
    ).encode()


@pytest.fixture
def start_poller(
    settings: Settings, tls_files: TlsFiles, tmp_path: Path
) -> Iterator[Callable[[], tuple[subprocess.Popen[bytes], Path]]]:
    started: list[subprocess.Popen[bytes]] = []

    def start() -> tuple[subprocess.Popen[bytes], Path]:
        path = tmp_path / f"poller-{len(started)}.log"
        with path.open("wb") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "outreach.cli", "poller"],
                env={
                    **os.environ,
                    "OUTREACH_INSTANCE_DIR": str(settings.instance_dir),
                    "OUTREACH_DATABASE_URL": settings.database_url,
                    "OUTREACH_ENCRYPTION_KEYS": ",".join(settings.encryption_keys),
                    "OUTREACH_SECRET_KEY": settings.secret_key,
                    "OUTREACH_CA_FILE": str(tls_files.ca_pem),
                    "OUTREACH_POLL_INTERVAL": "60",
                    "OUTREACH_POLL_LEASE": str(LEASE),
                },
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        started.append(proc)
        return proc, path

    yield start
    for proc in started:
        kill_tree(proc)


def wait_for(check: Callable[[], bool], timeout: float, logs: list[Path]) -> float:
    start = time.monotonic()
    while not check():
        if time.monotonic() - start > timeout:
            raise AssertionError("\n".join(log_tail(path, 30) for path in logs))
        time.sleep(0.1)
    return time.monotonic() - start


def test_a_killed_pollers_mailboxes_are_taken_over_and_no_reply_is_missed_or_doubled(
    session: Session,
    session_factory: sessionmaker[Session],
    secret_box: SecretBox,
    dovecot: DovecotServer,
    start_poller: Callable[[], tuple[subprocess.Popen[bytes], Path]],
    now: datetime,
) -> None:
    sent = seed(session, secret_box, dovecot, now)
    (first, first_log), (second, second_log) = start_poller(), start_poller()
    logs = [first_log, second_log]
    by_pid = {str(first.pid): first, str(second.pid): second}

    def owners() -> dict[int, str | None]:
        session.expire_all()
        return {row[0]: row[1] for row in session.execute(select(Mailbox.id, Mailbox.poll_owner))}

    def all_synced() -> bool:
        session.expire_all()
        return None not in session.scalars(select(Mailbox.last_synced_at)).all()

    wait_for(lambda: None not in owners().values() and all_synced(), 60, logs)
    held = owners()
    by_owner = Counter(held.values())
    # The one holding more (they race for the free mailboxes at the start): the harder case.
    victim_owner = by_owner.most_common(1)[0][0]
    assert victim_owner is not None
    victim = by_pid[victim_owner.split(":")[1]]
    victims = {mailbox_id for mailbox_id, owner in held.items() if owner == victim_owner}

    random.Random(5).shuffle(sent)
    before, after = sent[: len(sent) // 2], sent[len(sent) // 2 :]
    for login, message in before:
        dovecot.deliver(reply(message, login), login)
    wait_for(lambda: answered(session) >= len(before), 30, logs)

    os.kill(victim.pid, signal.SIGKILL)
    killed_at = time.monotonic()
    for login, message in after:  # arriving while nobody watches the victim's mailboxes
        dovecot.deliver(reply(message, login), login)

    survivor = next(o for o in by_owner if o != victim_owner) if len(by_owner) > 1 else None
    wait_for(lambda: all(owners()[m] not in (None, victim_owner) for m in victims), 30, logs)
    taken_over_in = time.monotonic() - killed_at
    wait_for(lambda: answered(session) >= len(sent), 30, logs)
    time.sleep(LEASE)  # a late double would show now

    # Within the lease and one renewal period of the survivor, with room for a busy machine.
    assert taken_over_in < LEASE + LEASE / 3 + 5
    assert answered(session) == len(sent)
    session.expire_all()
    replies = session.scalars(
        select(Message.message_id).where(
            Message.direction == Direction.INBOUND, Message.kind == MessageKind.REPLY
        )
    ).all()
    assert len(replies) == len(sent) == len(set(replies))
    if survivor is not None:
        assert set(owners().values()) == {survivor}
    print(f"held before the kill: {dict(by_owner)}; taken over in {taken_over_in:.1f} s")


def answered(session: Session) -> int:
    session.expire_all()
    return len(
        session.scalars(select(Outreach.id).where(Outreach.state == OutreachState.REPLIED)).all()
    )
