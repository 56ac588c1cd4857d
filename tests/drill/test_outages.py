"""The services around Outreach fail: PostgreSQL stops abruptly, Redis restarts empty.

Each test starts and stops its own server. The processes under test are the real
`outreach poller` and `outreach worker`; they must ride the outage out, say so once
in their log, and pick up what happened meanwhile within seconds of the return.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from outreach.config import Settings
from outreach.crypto import SecretBox
from outreach.models import Message, MessageStatus, Outreach
from outreach.rules.states import OutreachState
from tests.conftest import World
from tests.factories import make_approved_requests
from tests.servers.dovecot import DovecotServer
from tests.servers.net import kill_tree, log_tail
from tests.servers.postgres import PostgresServer
from tests.servers.redis import RedisServer
from tests.servers.smtpd import RecordingSMTPServer
from tests.servers.tls import TlsFiles
from tests.web import conftest as web
from tests.web.conftest import Browser
from tests.workers.test_poller import reply, sent_request
from workers.queues import enqueue_send

# The dashboard's fixtures, on this module's own PostgreSQL.
app, client, browser, user, signed_in = web.app, web.client, web.browser, web.user, web.signed_in

# How long the database stays away; `make drill` could raise it, the goal is a minute or more.
OUTAGE_SECONDS = float(os.environ.get("OUTREACH_DRILL_OUTAGE_SECONDS", "15"))


@pytest.fixture(scope="module")
def own_postgres() -> Iterator[PostgresServer]:
    server = PostgresServer()
    server.start_private()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def database_url(own_postgres: PostgresServer) -> str:
    return own_postgres.create_database()


@pytest.fixture
def start_process(
    settings: Settings, tls_files: TlsFiles, tmp_path: Path
) -> Iterator[Callable[..., tuple[subprocess.Popen[bytes], Path]]]:
    started: list[subprocess.Popen[bytes]] = []

    def start(command: str, **env: str) -> tuple[subprocess.Popen[bytes], Path]:
        log_path = tmp_path / f"{command}-{len(started)}.log"
        with log_path.open("wb") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "outreach.cli", command],
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
        started.append(proc)
        return proc, log_path

    yield start
    for proc in started:
        kill_tree(proc)


def wait_for(check: Callable[[], bool], timeout: float, what: str, log_path: Path) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        try:
            if check():
                return time.monotonic() - start
        except OperationalError:
            pass  # the test's own connection meets the outage too
        time.sleep(0.1)
    # The periodic jobs' lines would hide the rest.
    lines = [
        line
        for line in log_path.read_text(errors="replace").splitlines()
        if "periodic" not in line and "result is kept" not in line and "run_cycle" not in line
    ]
    raise AssertionError(f"{what}: not within {timeout} s\n" + "\n".join(lines[-60:]))


def fresh(engine: Engine) -> Session:
    return Session(engine)


def test_the_poller_rides_out_a_database_outage_and_sees_the_reply_that_came_meanwhile(
    session: Session,
    session_factory: sessionmaker[Session],
    engine: Engine,
    world: World,
    dovecot: DovecotServer,
    secret_box: SecretBox,
    own_postgres: PostgresServer,
    start_process: Callable[..., tuple[subprocess.Popen[bytes], Path]],
    now: datetime,
) -> None:
    request = sent_request(session, session_factory, world, secret_box, now)
    session.close()
    poller, log_path = start_process(
        "poller", OUTREACH_POLL_INTERVAL="60", OUTREACH_POLL_LEASE="45"
    )

    def watched() -> bool:
        with fresh(engine) as check:
            return check.scalar(select(Outreach.id).limit(1)) is not None and bool(
                log_path.read_text().count("started")
            )

    wait_for(watched, 20, "the poller to start", log_path)
    time.sleep(2.0)  # its first round and its IDLE connection

    own_postgres.stop_abruptly()
    engine.dispose()
    time.sleep(OUTAGE_SECONDS / 2)
    dovecot.deliver(reply(request, world.account.user), world.account.user)
    time.sleep(OUTAGE_SECONDS / 2)
    assert poller.poll() is None, log_tail(log_path, 60)
    own_postgres.start_again()

    def answered() -> bool:
        with fresh(engine) as check:
            state = check.scalar(select(Outreach.state).where(Outreach.id == request.outreach_id))
            return state is OutreachState.REPLIED

    seconds = wait_for(answered, 30, "the reply to be seen after the outage", log_path)
    log = log_path.read_text()
    assert poller.poll() is None, log
    assert log.count("the database cannot be used") == 1, log
    assert "the database is back" in log, log
    print(f"\nreply seen {seconds:.1f} s after a {OUTAGE_SECONDS:.0f} s database outage ended")
    assert seconds < 10


def test_the_worker_rides_out_a_database_outage_and_sends_once_afterwards(
    session: Session,
    engine: Engine,
    world: World,
    smtp: RecordingSMTPServer,
    own_postgres: PostgresServer,
    redis_server: RedisServer,
    start_process: Callable[..., tuple[subprocess.Popen[bytes], Path]],
    now: datetime,
) -> None:
    (draft,) = make_approved_requests(session, world.user, now)
    session.close()
    worker, log_path = start_process(
        "worker", OUTREACH_REDIS_URL=redis_server.url, OUTREACH_SWEEP_INTERVAL="1"
    )
    from redis import Redis

    redis = Redis.from_url(redis_server.url)
    try:
        own_postgres.stop_abruptly()
        engine.dispose()
        # The job runs while the database is away: it must end quietly, not lose the message.
        enqueue_send(redis, draft.id)
        time.sleep(OUTAGE_SECONDS)
        assert worker.poll() is None, log_tail(log_path, 60)
        assert smtp.messages == []
        own_postgres.start_again()

        def sent() -> bool:
            with fresh(engine) as check:
                status = check.scalar(select(Message.status).where(Message.id == draft.id))
                return status is MessageStatus.SENT

        seconds = wait_for(sent, 30, "the message to go after the outage", log_path)
    finally:
        redis.flushdb()
        redis.close()
    assert [m.message["Message-ID"] for m in smtp.messages] == [draft.message_id]
    log = log_path.read_text()
    assert "Traceback" not in log
    assert log.count("the database cannot be used") == 1, log
    assert "the database is back" in log
    print(f"\nmessage sent {seconds:.1f} s after a {OUTAGE_SECONDS:.0f} s database outage ended")


def test_the_dashboard_says_the_database_is_away_and_works_again_when_it_is_back(
    signed_in: Browser, own_postgres: PostgresServer, engine: Engine
) -> None:
    assert signed_in.get("/").status_code == 200

    own_postgres.stop_abruptly()
    engine.dispose()
    away = signed_in.get("/")
    page = away.get_data(as_text=True)
    assert away.status_code == 503, page
    assert away.headers["Retry-After"] == "30"
    assert "The database is not answering at the moment." in page
    assert "nothing already saved is lost" in page

    own_postgres.start_again()
    assert signed_in.get("/").status_code == 200
