"""The poller's kept connections (outreach.connections) against the real test Dovecot.

One login serves many syncs; an IDLE wake-up syncs the mailbox that woke and no
other; a broken link is tried again with growing waits and then kept again;
logins and syncs against one host stay within the bound.
"""

from __future__ import annotations

import itertools
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from outreach.connections import GMAIL_PER_ACCOUNT, Limits, Pool, Slots, make_pool
from outreach.crypto import SecretBox
from outreach.mail.tls import client_context
from outreach.models import Mailbox, TlsMode
from outreach.polling import Holder
from tests.factories import make_mailbox, make_user
from tests.servers.dovecot import DovecotServer
from tests.servers.proxy import HoldingProxy
from tests.servers.tls import TlsFiles

OWNER = "test-poller"


def _clock() -> datetime:
    return datetime.now(UTC)


class DovecotWithoutIdle(DovecotServer):
    """Dovecot offering no IDLE, like servers the poller can only poll."""

    def _extra_config(self, directory: Path) -> str:
        return "imap_capability = IMAP4rev1 LITERAL+ SASL-IR ID ENABLE UIDPLUS SPECIAL-USE\n"


@pytest.fixture(scope="module")
def dovecot_without_idle(tls_files: TlsFiles) -> Iterator[DovecotServer]:
    server = DovecotWithoutIdle(tls_files)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def add_mailbox(
    session: Session, box: SecretBox, dovecot: DovecotServer, port: int | None = None
) -> tuple[Mailbox, str]:
    """A user with a fresh Dovecot login and their mailbox (plain IMAP at `port`)."""
    user_name = f"user-{secrets.token_hex(5)}@example.test"
    password = secrets.token_urlsafe(10)
    dovecot.add_user(user_name, password)
    user = make_user(session, email=user_name)
    mailbox = make_mailbox(
        session,
        user,
        box,
        password=password,
        imap_port=port or dovecot.imap_port,
        imap_tls=TlsMode.NONE,
        username=user_name,
    )
    session.commit()
    return mailbox, user_name


def start_pool(
    factory: sessionmaker[Session], box: SecretBox, tls_files: TlsFiles, limits: Limits
) -> Pool:
    holder = Holder(OWNER, timedelta(seconds=45))
    context = client_context(tls_files.ca_pem)
    pool = make_pool(factory, box, context, None, holder, limits, _clock)
    pool.refresh()
    return pool


def wait_until(check: Callable[[], bool], seconds: float) -> None:
    ends = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < ends, "not within the time allowed"
        time.sleep(0.05)


def dovecot_logins(dovecot: DovecotServer, user_name: str) -> int:
    """Logins Dovecot itself recorded for one user (its log says "Login: user=<...>")."""
    return dovecot.log_path.read_text().count(f"Login: user=<{user_name}>")


def test_one_login_serves_every_sync_with_idle(
    session: Session,
    session_factory: sessionmaker[Session],
    secret_box: SecretBox,
    dovecot: DovecotServer,
    tls_files: TlsFiles,
) -> None:
    mailbox, user_name = add_mailbox(session, secret_box, dovecot)
    # IDLE renewed every 0.3 s, each renewal a full sync: many syncs in two seconds.
    pool = start_pool(
        session_factory, secret_box, tls_files, Limits(poll_interval=0.3, idle_renew=0.3)
    )
    try:
        wait_until(lambda: pool.counters.syncs[mailbox.id] >= 4, 10)
    finally:
        pool.stop()
    assert pool.counters.logins[mailbox.id] == 1
    assert dovecot_logins(dovecot, user_name) == 1


def test_one_login_serves_every_poll_without_idle(
    session: Session,
    session_factory: sessionmaker[Session],
    secret_box: SecretBox,
    dovecot_without_idle: DovecotServer,
    tls_files: TlsFiles,
) -> None:
    mailbox, user_name = add_mailbox(session, secret_box, dovecot_without_idle)
    pool = start_pool(session_factory, secret_box, tls_files, Limits(poll_interval=0.2))
    try:
        wait_until(lambda: pool.counters.syncs[mailbox.id] >= 4, 10)
        # The mail that arrives is found by the next poll, over the same connection.
        dovecot_without_idle.deliver(b"Subject: hello\r\n\r\nhi\r\n", user_name)
        synced = pool.counters.syncs[mailbox.id]
        wait_until(lambda: pool.counters.syncs[mailbox.id] >= synced + 2, 5)
    finally:
        pool.stop()
    assert pool.counters.wakeups[mailbox.id] == 0
    assert pool.counters.logins[mailbox.id] == 1
    assert dovecot_logins(dovecot_without_idle, user_name) == 1


def test_an_idle_wake_up_syncs_only_the_mailbox_that_woke(
    session: Session,
    session_factory: sessionmaker[Session],
    secret_box: SecretBox,
    dovecot: DovecotServer,
    tls_files: TlsFiles,
) -> None:
    boxes = [add_mailbox(session, secret_box, dovecot) for _ in range(3)]
    pool = start_pool(session_factory, secret_box, tls_files, Limits(poll_interval=60))
    try:
        # Each has had its first sync and waits in IDLE.
        wait_until(lambda: all(pool.counters.syncs[m.id] == 1 for m, _ in boxes), 10)
        time.sleep(0.3)
        (woken, woken_user), *others = boxes

        dovecot.deliver(b"Subject: a reply\r\n\r\nhello\r\n", woken_user)

        wait_until(lambda: pool.counters.syncs[woken.id] == 2, 5)
    finally:
        pool.stop()
    assert pool.counters.wakeups[woken.id] == 1
    for other, _ in others:
        assert pool.counters.syncs[other.id] == 1
        assert pool.counters.wakeups[other.id] == 0


def test_a_broken_link_is_tried_again_with_growing_waits_then_kept(
    session: Session,
    session_factory: sessionmaker[Session],
    secret_box: SecretBox,
    dovecot: DovecotServer,
    tls_files: TlsFiles,
) -> None:
    proxy = HoldingProxy(dovecot.imap_port)
    # Every login is cut as it is sent: the server cannot be logged in to.
    proxy.cut_on = b"LOGIN"
    try:
        mailbox, user_name = add_mailbox(session, secret_box, dovecot, port=proxy.port)
        pool = start_pool(
            session_factory, secret_box, tls_files, Limits(poll_interval=60, retry_first=0.2)
        )
        try:
            # The waits after each failure are 0.2, 0.4, 0.8 s (each within a fifth). The
            # moments of the tries are read off the counter, so a slow connect on a
            # loaded machine lengthens a gap but never shortens one.
            tried_at: list[float] = []
            deadline = time.monotonic() + 20
            while len(tried_at) < 4 and time.monotonic() < deadline:
                if pool.counters.logins[mailbox.id] > len(tried_at):
                    tried_at.append(time.monotonic())
                time.sleep(0.01)
            assert len(tried_at) == 4, f"only {len(tried_at)} logins tried in 20 s"
            gaps = [b - a for a, b in itertools.pairwise(tried_at)]
            # A fixed 0.2 s wait would make the third gap about as short as the first.
            assert gaps[0] >= 0.15 and gaps[2] >= 0.6, gaps
            tries = pool.counters.logins[mailbox.id]
            proxy.cut_on = None
            wait_until(lambda: pool.counters.syncs[mailbox.id] >= 1, 10)
            time.sleep(0.5)
        finally:
            pool.stop()
        # One more try got through (or the one under way when the cuts stopped did).
        assert pool.counters.logins[mailbox.id] in (tries, tries + 1)
        assert dovecot_logins(dovecot, user_name) == 1
    finally:
        proxy.stop()


def test_logins_and_syncs_against_one_host_stay_within_the_bound(
    session: Session,
    session_factory: sessionmaker[Session],
    secret_box: SecretBox,
    dovecot_without_idle: DovecotServer,
    tls_files: TlsFiles,
) -> None:
    boxes = [add_mailbox(session, secret_box, dovecot_without_idle) for _ in range(8)]
    pool = start_pool(
        session_factory, secret_box, tls_files, Limits(per_host=2, poll_interval=0.05)
    )
    try:
        wait_until(lambda: all(pool.counters.syncs[m.id] >= 3 for m, _ in boxes), 20)
    finally:
        pool.stop()
    peak = pool.wiring.hosts.peak("127.0.0.1")
    assert peak == 2
    assert all(pool.counters.logins[m.id] == 1 for m, _ in boxes)


def test_slots_hold_no_more_than_the_limit_and_gmail_accounts_fifteen() -> None:
    slots = Slots(lambda key: 3)
    stop = threading.Event()
    entered = threading.Barrier(3, timeout=5)

    def work() -> None:
        with slots.hold("host", stop) as held:
            assert held
            try:
                entered.wait()
            except threading.BrokenBarrierError:
                pass
            time.sleep(0.05)

    threads = [threading.Thread(target=work) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert slots.peak("host") == 3
    assert slots.in_use("host") == 0
    limits = Limits(per_account=4)
    assert limits.account_limit("IMAP.gmail.com") == GMAIL_PER_ACCOUNT == 15
    assert limits.account_limit("mail.example.org") == 4
