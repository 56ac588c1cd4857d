"""Two pollers share the mailboxes through their leases; one is SIGKILLed.

The first, alone, holds every mailbox; when the second starts, the first gives
half back and the second takes them (within about half a lease). Then one is
killed: its mailboxes are taken over by the other within the lease (and one
renewal period), and every reply, delivered while they rebalanced, while they
shared or while nobody watched, is recorded exactly once.
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
from argon2 import PasswordHasher
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from outreach import accounts, drafts, targets
from outreach.config import Settings
from outreach.crypto import SecretBox
from outreach.models import Direction, Mailbox, Message, MessageKind, Outreach, Poller, TlsMode
from outreach.rules.states import OutreachState
from outreach.sending import record_sent
from tests.factories import make_contact, make_mailbox, make_user
from tests.servers.dovecot import DovecotServer
from tests.servers.net import kill_tree, log_tail
from tests.servers.tls import TlsFiles

MAILBOXES = 40
LEASE = 3.0
# Each IDLE connection costs Dovecot an inotify instance; past 128 for the system user
# (other test Dovecots share them) it checks every 30 s instead, which would measure the
# machine, not the pollers. Checking every second keeps IDLE prompt (as bench/poller_scale.py).
_PROMPT_IDLE = "mailbox_idle_check_interval = 1 secs\n"


class PromptIdleDovecot(DovecotServer):
    def _extra_config(self, directory: Path) -> str:
        return _PROMPT_IDLE


@pytest.fixture(scope="module")
def dovecot(tls_files: TlsFiles) -> Iterator[DovecotServer]:
    server = PromptIdleDovecot(tls_files)
    server.start()
    try:
        yield server
    finally:
        server.stop()


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


def wait_for(check: Callable[[], bool], timeout: float, logs: list[Path], what: str) -> float:
    start = time.monotonic()
    while not check():
        if time.monotonic() - start > timeout:
            tails = "\n".join(log_tail(path, 30) for path in logs)
            raise AssertionError(f"not {what} within {timeout} s:\n{tails}")
        time.sleep(0.1)
    return time.monotonic() - start


def test_two_pollers_share_the_mailboxes_and_a_killed_ones_are_taken_over_exactly_once(
    session: Session,
    session_factory: sessionmaker[Session],
    secret_box: SecretBox,
    dovecot: DovecotServer,
    start_poller: Callable[[], tuple[subprocess.Popen[bytes], Path]],
    now: datetime,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    started = time.monotonic()
    # Nobody signs in here: a cheap Argon2 seeds the 40 users in a second, not twenty.
    monkeypatch.setattr(
        accounts, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    )
    sent = seed(session, secret_box, dovecot, now)
    random.Random(5).shuffle(sent)
    third = len(sent) // 3
    while_sharing, while_shared, while_dead = (
        sent[:third],
        sent[third : 2 * third],
        sent[2 * third :],
    )

    def owners() -> dict[int, str | None]:
        session.expire_all()
        return {row[0]: row[1] for row in session.execute(select(Mailbox.id, Mailbox.poll_owner))}

    def all_synced() -> bool:
        session.expire_all()
        return None not in session.scalars(select(Mailbox.last_synced_at)).all()

    def pollers() -> int:
        session.expire_all()
        return len(session.scalars(select(Poller.id)).all())

    def deliver(replies: list[tuple[str, Message]]) -> None:
        for login, message in replies:
            dovecot.deliver(reply(message, login), login)

    first, first_log = start_poller()
    logs = [first_log]
    wait_for(lambda: None not in owners().values() and all_synced(), 60, logs, "all synced")
    assert len(set(owners().values())) == 1  # alone, the first holds every mailbox

    second, second_log = start_poller()
    logs.append(second_log)
    deliver(while_sharing)  # while the first gives half back and the second takes it
    wait_for(lambda: pollers() == 2, 30, logs, "two pollers live")
    second_live = time.monotonic()

    def shared() -> bool:
        held = Counter(owners().values())
        return None not in held and len(held) == 2 and min(held.values()) >= MAILBOXES * 0.4

    wait_for(shared, 30, logs, "shared")
    shared_in = time.monotonic() - second_live
    deliver(while_shared)
    wait_for(lambda: answered(session) >= 2 * third, 30, logs, "answered")
    held = owners()
    by_owner = Counter(held.values())
    # The first gives back at its next renewal (a third of a lease), once its keepers
    # have logged out; the second, settling, takes them within a ninth of a lease.
    # With room for a busy machine.
    assert shared_in < LEASE / 3 + LEASE / 9 + 5
    by_pid = {str(first.pid): first, str(second.pid): second}
    victim_owner = by_owner.most_common(1)[0][0]
    assert victim_owner is not None
    victim = by_pid[victim_owner.split(":")[1]]
    victims = {mailbox_id for mailbox_id, owner in held.items() if owner == victim_owner}
    survivor = next(owner for owner in by_owner if owner != victim_owner)

    os.kill(victim.pid, signal.SIGKILL)
    killed_at = time.monotonic()
    deliver(while_dead)  # arriving while nobody watches the victim's mailboxes

    wait_for(lambda: all(owners()[m] == survivor for m in victims), 30, logs, "taken over")
    taken_over_in = time.monotonic() - killed_at
    wait_for(lambda: answered(session) >= len(sent), 30, logs, "all answered")
    time.sleep(LEASE / 3)  # a late double would show now

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
    assert set(owners().values()) == {survivor}
    print(
        f"shared in {shared_in:.1f} s: {dict(by_owner)}; the killed one's {len(victims)} "
        f"taken over in {taken_over_in:.1f} s; {time.monotonic() - started:.1f} s in all"
    )


def answered(session: Session) -> int:
    session.expire_all()
    return len(
        session.scalars(select(Outreach.id).where(Outreach.state == OutreachState.REPLIED)).all()
    )
