"""The real `outreach poller` process: IDLE wakes it at once; a dead poller is replaced."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from outreach import drafts, targets
from outreach.config import Settings
from outreach.crypto import SecretBox
from outreach.mail.smtp import SmtpSender
from outreach.models import Mailbox, MailboxStatus, Message, Outreach, Poller
from outreach.rules.states import OutreachState
from outreach.sending import Outcome, deliver
from tests.conftest import World
from tests.factories import make_contact
from tests.servers.dovecot import DovecotServer
from tests.servers.net import kill_tree, log_tail
from tests.servers.tls import TlsFiles

Start = Callable[..., subprocess.Popen[bytes]]


@pytest.fixture
def start_poller(settings: Settings, tls_files: TlsFiles, tmp_path: Path) -> Iterator[Start]:
    started: list[subprocess.Popen[bytes]] = []

    def start(**env: str) -> subprocess.Popen[bytes]:
        log = open(tmp_path / f"poller-{len(started)}.log", "wb")  # noqa: SIM115
        proc = subprocess.Popen(
            [sys.executable, "-m", "outreach.cli", "poller"],
            env={
                **os.environ,
                "OUTREACH_INSTANCE_DIR": str(settings.instance_dir),
                "OUTREACH_DATABASE_URL": settings.database_url,
                "OUTREACH_ENCRYPTION_KEYS": ",".join(settings.encryption_keys),
                "OUTREACH_SECRET_KEY": settings.secret_key,
                "OUTREACH_CA_FILE": str(tls_files.ca_pem),
                **env,
            },
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log.close()
        started.append(proc)
        return proc

    yield start
    for proc in started:
        kill_tree(proc)


def sent_request(
    session: Session, factory: sessionmaker[Session], world: World, box: SecretBox, now: datetime
) -> Message:
    person = make_contact(session, world.user, email="ida@org.example", name="Ida Berg")
    target = targets.create_target(session, world.user, "Radio", [person.id])
    (draft,) = targets.fill_pipeline(session, world.user, target, now)
    drafts.approve(session, world.user, draft.id, now)
    session.commit()
    assert deliver(factory, draft.id, SmtpSender(world.context), box, lambda: now).outcome is (
        Outcome.SENT
    )
    session.refresh(draft)
    return draft


def reply(message: Message, to: str) -> bytes:
    return (
        f"From: Ida Berg <ida@org.example>\r\nTo: {to}\r\nSubject: Re: {message.subject}\r\n"
        f"Message-ID: <ida-{time.monotonic_ns()}@org.example>\r\n"
        f"In-Reply-To: {message.message_id}\r\n\r\nYes, happy to.\r\n"
    ).encode()


def wait_for(check: Callable[[], bool], timeout: float) -> float:
    """Seconds until `check` held; AssertionError after `timeout`."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if check():
            return time.monotonic() - start
        time.sleep(0.05)
    raise AssertionError(f"not within {timeout} s")


def replied(session: Session, message: Message) -> Callable[[], bool]:
    def check() -> bool:
        session.expire_all()
        outreach = session.get(Outreach, message.outreach_id)
        return outreach is not None and outreach.state is OutreachState.REPLIED

    return check


def owner_of(session: Session, mailbox_id: int) -> str | None:
    session.expire_all()
    return session.scalar(select(Mailbox.poll_owner).where(Mailbox.id == mailbox_id))


def test_with_idle_a_reply_is_seen_within_seconds_not_at_the_next_poll(
    session: Session,
    session_factory: sessionmaker[Session],
    world: World,
    dovecot: DovecotServer,
    secret_box: SecretBox,
    start_poller: Start,
    now: datetime,
    tmp_path: Path,
) -> None:
    request = sent_request(session, session_factory, world, secret_box, now)
    # Rounds every 15 s at the earliest: only IDLE can make the reply show sooner.
    start_poller(OUTREACH_POLL_INTERVAL="60", OUTREACH_POLL_LEASE="45")
    wait_for(lambda: owner_of(session, world.mailbox.id) is not None, 20)
    time.sleep(1.0)  # the IDLE connection opens after the first round

    dovecot.deliver(reply(request, world.account.user), world.account.user)

    try:
        seconds = wait_for(replied(session, request), 5)
    except AssertionError:
        raise AssertionError(log_tail(tmp_path / "poller-0.log")) from None
    assert seconds < 5


def test_a_dead_pollers_mailbox_is_taken_over(
    session: Session,
    session_factory: sessionmaker[Session],
    world: World,
    dovecot: DovecotServer,
    secret_box: SecretBox,
    start_poller: Start,
    now: datetime,
) -> None:
    request = sent_request(session, session_factory, world, secret_box, now)
    env = {"OUTREACH_POLL_INTERVAL": "60", "OUTREACH_POLL_LEASE": "3"}
    first = start_poller(**env)
    wait_for(lambda: owner_of(session, world.mailbox.id) is not None, 20)
    holder = owner_of(session, world.mailbox.id)
    start_poller(**env)
    time.sleep(2)
    assert owner_of(session, world.mailbox.id) == holder  # the second one waits its turn

    kill_tree(first)
    dovecot.deliver(reply(request, world.account.user), world.account.user)

    wait_for(replied(session, request), 15)
    assert owner_of(session, world.mailbox.id) not in (None, holder)


def test_a_mailbox_connected_while_the_poller_runs_is_watched_within_seconds(
    session: Session,
    session_factory: sessionmaker[Session],
    world: World,
    dovecot: DovecotServer,
    secret_box: SecretBox,
    start_poller: Start,
    now: datetime,
    tmp_path: Path,
) -> None:
    request = sent_request(session, session_factory, world, secret_box, now)
    # The mailbox waits for its owner to sign in again when the poller starts.
    session.execute(
        update(Mailbox)
        .where(Mailbox.id == world.mailbox.id)
        .values(status=MailboxStatus.NEEDS_SIGN_IN)
    )
    session.commit()
    # Leases renewed every 100 s: only the look for unwatched mailboxes can be this quick.
    start_poller(OUTREACH_POLL_INTERVAL="60", OUTREACH_POLL_LEASE="300")
    wait_for(lambda: session.scalar(select(func.count()).select_from(Poller)) == 1, 20)
    time.sleep(1.5)

    session.execute(
        update(Mailbox).where(Mailbox.id == world.mailbox.id).values(status=MailboxStatus.OK)
    )
    session.commit()
    dovecot.deliver(reply(request, world.account.user), world.account.user)

    try:
        wait_for(replied(session, request), 5)
    except AssertionError:
        raise AssertionError(log_tail(tmp_path / "poller-0.log")) from None
