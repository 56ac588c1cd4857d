"""The kill drill: SIGKILL real worker processes at each point of a send.

For each kill point, over many runs, every approved message reaches the SMTP
server exactly once, ends up recorded as sent, and has exactly one copy in the
Sent folder. The provider here files sent mail in Sent by itself, as Gmail
does, so a delivery whose outcome the dead worker never learned is settled by
finding its Message-ID there.

Kill points:
- before_connect: the worker claimed the message and opened a connection (or
  began the transaction, with MAIL, on the session it kept from the previous send),
  but the server never answered (a proxy holds it): nothing was sent.
- after_data: the server has the whole message and is about to say 250; the
  worker dies before it can record anything.
- after_commit: the worker recorded the send and dies afterwards.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from redis import Redis
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from outreach import drafts, targets
from outreach.crypto import SecretBox
from outreach.db import make_engine
from outreach.models import Event, Message, MessageStatus, TlsMode, User
from outreach.sending import resolve_unknown
from tests.factories import make_contact, make_mailbox, make_user
from tests.servers.dovecot import DovecotServer
from tests.servers.fixtures import MailAccount
from tests.servers.net import kill_tree, log_tail
from tests.servers.proxy import HoldingProxy
from tests.servers.redis import RedisServer, start_redis
from tests.servers.smtpd import ReceivedMessage, RecordingSMTPServer
from tests.servers.tls import TlsFiles
from workers.queues import enqueue_send

RUNS = int(os.environ.get("OUTREACH_DRILL_RUNS", "20"))


@dataclass
class Drill:
    env: dict[str, str]
    engine: Engine
    user_id: int
    redis: Redis
    proxy: HoldingProxy
    logs: Path
    workers: list[subprocess.Popen[bytes]]

    def start_worker(self) -> subprocess.Popen[bytes]:
        log = open(self.logs / f"worker-{len(self.workers)}.log", "wb")  # noqa: SIM115
        proc = subprocess.Popen(
            [sys.executable, "-m", "outreach.cli", "worker"],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log.close()
        self.workers.append(proc)
        return proc

    def kill(self, proc: subprocess.Popen[bytes]) -> None:
        """SIGKILL the worker and its work horse, the process doing the send."""
        kill_tree(proc)

    def stop(self, proc: subprocess.Popen[bytes]) -> None:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill(proc)

    def log_text(self) -> str:
        return "\n".join(
            f"--- worker {n} ---\n{log_tail(self.logs / f'worker-{n}.log', 25)}"
            for n in range(len(self.workers))
        )

    def approve_one(self, run: int) -> tuple[int, str]:
        with Session(self.engine, expire_on_commit=False) as session:
            user = session.get(User, self.user_id)
            assert user is not None
            person = make_contact(
                session, user, email=f"person{run}-{time.monotonic_ns()}@org.example"
            )
            target = targets.create_target(session, user, f"Drill {person.id}", [person.id])
            (draft,) = targets.fill_pipeline(session, user, target, _now())
            drafts.approve(session, user, draft.id, _now())
            session.commit()
            assert draft.message_id is not None
            return draft.id, draft.message_id

    def status(self, message_id: int) -> tuple[MessageStatus, str | None]:
        with Session(self.engine) as session:
            row = session.execute(
                select(Message.status, Message.sent_copy).where(Message.id == message_id)
            ).one()
            return row[0], row[1]

    def wait(self, check: Callable[[], bool], what: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if check():
                return
            time.sleep(0.05)
        with Session(self.engine) as session:
            rows = session.execute(
                select(Message.id, Message.status, Message.send_phase, Message.attempts)
            ).all()
        raise AssertionError(
            f"timed out waiting for {what}; messages {rows}; "
            f"held connections {self.proxy.held_count}\n{self.log_text()}"
        )


def _now() -> datetime:
    return datetime.now(UTC)


@pytest.fixture
def drill(
    tmp_path: Path,
    redis_server: RedisServer,
    smtp: RecordingSMTPServer,
    dovecot: DovecotServer,
    mail_account: MailAccount,
    tls_files: TlsFiles,
) -> Iterator[Drill]:
    instance = tmp_path / "instance"
    keys = Fernet.generate_key().decode()
    env = {
        **os.environ,
        "OUTREACH_INSTANCE_DIR": str(instance),
        "OUTREACH_DATABASE_URL": f"sqlite:///{instance / 'outreach.sqlite'}",
        "OUTREACH_REDIS_URL": redis_server.url,
        "OUTREACH_SECRET_KEY": "drill",
        "OUTREACH_ENCRYPTION_KEYS": keys,
        "OUTREACH_CA_FILE": str(tls_files.ca_pem),
        # Swept often, but the send lease stays at its default (15 minutes): a dead
        # worker's claim must be recovered because the worker is seen dead, not
        # because the lease ran out.
        # `make drill` runs at the default interval (30 s) to show the real recovery time.
        "OUTREACH_SWEEP_INTERVAL": os.environ.get("OUTREACH_DRILL_SWEEP_INTERVAL", "0.3"),
    }
    subprocess.run(
        [sys.executable, "-m", "outreach.cli", "db", "upgrade"],
        env=env,
        check=True,
        capture_output=True,
        timeout=120,
    )
    engine = make_engine(env["OUTREACH_DATABASE_URL"])
    proxy = HoldingProxy(smtp.port)
    smtp.users[mail_account.user] = mail_account.password
    account = mail_account

    def file_in_sent(received: ReceivedMessage) -> None:
        dovecot.append(account.user, account.password, "Sent", received.raw, [b"\\Seen"])

    smtp.on_message = file_in_sent
    with Session(engine, expire_on_commit=False) as session:
        user = make_user(session, email=account.user)
        mailbox = make_mailbox(
            session,
            user,
            SecretBox((keys,)),
            password=account.password,
            imap_port=dovecot.imap_port,
            imap_tls=TlsMode.STARTTLS,
            smtp_port=proxy.port,
            smtp_tls=TlsMode.STARTTLS,
            username=account.user,
        )
        # Pace out of the way: the drill is about deaths, not about spacing.
        mailbox.min_gap_seconds = mailbox.max_gap_seconds = 0
        mailbox.daily_cap = 10_000
        session.commit()
        user_id = user.id
    redis = Redis.from_url(redis_server.url)
    redis.flushdb()
    logs = tmp_path / "logs"
    logs.mkdir()
    state = Drill(env, engine, user_id, redis, proxy, logs, [])
    try:
        yield state
    finally:
        for proc in state.workers:
            state.stop(proc)
        proxy.stop()
        redis.flushdb()
        redis.close()
        engine.dispose()


@pytest.mark.parametrize("point", ["before_connect", "after_data", "after_commit"])
def test_every_message_is_delivered_exactly_once_whatever_the_kill_point(
    drill: Drill,
    smtp: RecordingSMTPServer,
    dovecot: DovecotServer,
    mail_account: MailAccount,
    point: str,
) -> None:
    sent_ids: list[str] = []
    # Each run's survivor is the next run's victim, so every run starts one worker.
    worker = drill.start_worker()
    for run in range(RUNS):
        message_id, header_id = drill.approve_one(run)
        sent_ids.append(header_id)

        def delivered(header: str = header_id) -> int:
            return sum(1 for m in smtp.messages if m.message["Message-ID"] == header)

        def status_is(wanted: MessageStatus, message: int = message_id) -> bool:
            return drill.status(message)[0] is wanted

        if point == "before_connect":
            drill.proxy.hold = drill.proxy.hold_open = True
        if point == "after_data":
            smtp.hold_after_data = 10.0
        enqueue_send(drill.redis, message_id)
        if point == "before_connect":
            drill.wait(lambda: drill.proxy.held_count >= 1, "the worker to connect")
        elif point == "after_data":
            drill.wait(lambda: delivered() >= 1, "the server to receive the message")
        else:
            drill.wait(lambda: status_is(MessageStatus.SENT), "the commit")
        drill.kill(worker)
        drill.proxy.release()
        smtp.hold_after_data = 0.0

        worker = drill.start_worker()
        drill.wait(
            lambda: status_is(MessageStatus.SENT),
            f"run {run}: message {message_id} to be recorded as sent",
        )
        assert delivered() == 1, f"run {run}: delivered {delivered()} times"

    counts = Counter(m.message["Message-ID"] for m in smtp.messages)
    assert {header: counts[header] for header in sent_ids} == {header: 1 for header in sent_ids}
    in_sent = Counter(
        raw.split(b"Message-ID: ", 1)[1].split(b"\r\n", 1)[0].decode()
        for _uid, raw, _flags in dovecot.snapshot(mail_account.user, mail_account.password, "Sent")
    )
    assert in_sent == Counter(sent_ids)


# The random drill's length in seconds of killing; `make drill` runs it for minutes.
RANDOM_SECONDS = float(os.environ.get("OUTREACH_DRILL_SECONDS", "20"))
# The goal: every approved message out within this long of a worker being back.
RECOVERY_GOAL = 120.0


def test_random_kills_of_the_whole_worker_tree_lose_and_double_nothing(
    drill: Drill,
    smtp: RecordingSMTPServer,
    dovecot: DovecotServer,
    mail_account: MailAccount,
) -> None:
    """Kill the worker and its work horse at random moments while messages are approved,
    then time how long the last worker takes to get every message out."""
    chance = random.Random(int(os.environ.get("OUTREACH_DRILL_SEED", "0")) or None)
    # Each message stays a moment between its body and the server's answer, so some
    # kills land there and leave deliveries the worker never heard confirmed.
    smtp.hold_after_data = 0.2
    approved: list[tuple[int, str]] = []
    kills = 0
    worker = drill.start_worker()
    stop_at = time.monotonic() + RANDOM_SECONDS
    while time.monotonic() < stop_at:
        approved.append(drill.approve_one(len(approved)))
        enqueue_send(drill.redis, approved[-1][0])
        time.sleep(chance.uniform(0.05, 1.5))
        if chance.random() < 0.5:
            drill.kill(worker)
            kills += 1
            worker = drill.start_worker()
    back_at = time.monotonic()

    answered: list[tuple[int, bool]] = []

    def answer_the_outbox() -> None:
        """Play the user: a kill between the claim and the end of the body leaves a message
        UNKNOWN and, once its Sent folder has been looked in, asks the user. They look at
        what reached the recipient and press "It was delivered" or "Send it again"."""
        with Session(drill.engine) as session:
            asked = session.scalars(
                select(Message).where(
                    Message.status == MessageStatus.UNKNOWN,
                    Message.waiting_reason.like("%tell us whether it was delivered%"),
                )
            ).all()
            for message in asked:
                got = {m.message["Message-ID"] for m in smtp.messages}
                delivered = message.message_id in got
                user = session.get(User, message.user_id)
                assert user is not None
                resolve_unknown(session, user, message.id, delivered, _now())
                session.commit()
                answered.append((message.id, delivered))
                if not delivered:
                    enqueue_send(drill.redis, message.id)

    def all_out() -> bool:
        answer_the_outbox()
        return all(drill.status(m)[0] is MessageStatus.SENT for m, _ in approved)

    drill.wait(all_out, "every approved message to be recorded as sent", RECOVERY_GOAL)
    recovered_in = time.monotonic() - back_at

    counts = Counter(m.message["Message-ID"] for m in smtp.messages)
    duplicates = sum(1 for _, header in approved if counts[header] > 1)
    missing = sum(1 for _, header in approved if counts[header] == 0)
    with Session(drill.engine) as session:
        settled_from_sent = session.scalar(
            select(func.count()).select_from(Event).where(Event.kind == "unknown")
        )
    print(
        f"\nrandom drill: {len(approved)} approved, {kills} kills, "
        f"{len(approved) - missing} delivered, {duplicates} duplicates, "
        f"{settled_from_sent} left unknown by a kill, {len(answered)} of them answered by the "
        f"user ({sum(1 for _, d in answered if not d)} sent again), "
        f"all out {recovered_in:.1f} s after the last worker started"
    )
    assert (duplicates, missing) == (0, 0)


def test_redis_crashing_empty_with_the_worker_loses_and_doubles_nothing(
    drill: Drill, smtp: RecordingSMTPServer, tmp_path: Path
) -> None:
    """Redis keeps nothing on disk: killed and started again, it has forgotten every job,
    including the one a worker (killed with it) had claimed. The database re-drives it."""
    own_redis = start_redis(tmp_path / "own-redis")
    drill.env["OUTREACH_REDIS_URL"] = own_redis.url
    drill.redis = Redis.from_url(own_redis.url)
    try:
        worker = drill.start_worker()
        claimed_id, claimed_header = drill.approve_one(0)
        waiting_id, waiting_header = drill.approve_one(1)
        drill.proxy.hold = True
        enqueue_send(drill.redis, claimed_id)
        drill.wait(lambda: drill.proxy.held_count >= 1, "the worker to connect")
        enqueue_send(drill.redis, waiting_id)  # a job only Redis knew of

        drill.kill(worker)
        port = int(own_redis.url.rsplit(":", 1)[1].split("/")[0])
        own_redis.crash()
        own_redis = start_redis(tmp_path / "own-redis", port=port)
        drill.proxy.release()
        drill.proxy.hold = False
        back_at = time.monotonic()
        drill.start_worker()

        for message_id in (claimed_id, waiting_id):
            drill.wait(
                lambda m=message_id: drill.status(m)[0] is MessageStatus.SENT,  # type: ignore[misc]
                f"message {message_id} to be sent after Redis came back empty",
            )
        recovered_in = time.monotonic() - back_at
    finally:
        drill.redis.close()
        own_redis.stop()
    counts = Counter(m.message["Message-ID"] for m in smtp.messages)
    assert (counts[claimed_header], counts[waiting_header]) == (1, 1)
    print(f"\nboth messages out {recovered_in:.1f} s after Redis and a worker came back")
