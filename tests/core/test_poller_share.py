"""Live pollers share the mailboxes (outreach.connections.Pool, outreach.leases), on real Dovecot.

A poller that starts gets its fair share from the one that held them all,
which gives each back only once its keeper has logged out; two pollers whose
counts differ by the slack do not pass mailboxes back and forth; a poller that
stops leaving the live ones, or dies and falls silent for a lease, has its
mailboxes taken by the others.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from outreach import accounts, leases
from outreach.connections import Limits, Pool, make_pool
from outreach.crypto import SecretBox
from outreach.db import session_scope
from outreach.mail.tls import client_context
from outreach.models import Mailbox
from outreach.polling import Holder
from tests.core.test_connections import add_mailbox
from tests.servers.dovecot import DovecotServer
from tests.servers.tls import TlsFiles

LEASE = timedelta(seconds=45)


class Clock:
    """The pollers' clock, moved on by the test (a dead poller's lease runs out at once)."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset


@pytest.fixture(autouse=True)
def cheap_passwords(monkeypatch: pytest.MonkeyPatch) -> None:
    # Nobody signs in here: a cheap Argon2 makes the users in milliseconds, not seconds.
    monkeypatch.setattr(
        accounts, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    )


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def pools(
    session_factory: sessionmaker[Session], secret_box: SecretBox, tls_files: TlsFiles, clock: Clock
) -> Iterator[dict[str, Pool]]:
    made: dict[str, Pool] = {}
    context = client_context(tls_files.ca_pem)
    for owner in ("poller-a", "poller-b"):
        holder = Holder(owner, LEASE)
        made[owner] = make_pool(session_factory, secret_box, context, None, holder, Limits(), clock)
    yield made
    for pool in made.values():
        pool.stop()


def holders(session: Session) -> dict[int, str | None]:
    session.expire_all()
    return {row[0]: row[1] for row in session.execute(select(Mailbox.id, Mailbox.poll_owner))}


def held(session: Session, owner: str) -> set[int]:
    return {mailbox_id for mailbox_id, holder in holders(session).items() if holder == owner}


def test_shares_are_a_fair_split_with_slack_above_it() -> None:
    assert (leases.Share(1000, 2).target, leases.Share(1000, 2).keep) == (500, 525)
    assert leases.Share(1001, 2).target == 501  # the two shares cover every mailbox
    assert (leases.Share(10, 3).target, leases.Share(10, 3).keep) == (4, 5)
    assert leases.Share(7, 1).target == 7


def test_a_new_poller_gets_half_once_the_first_has_logged_out_of_them(
    session: Session,
    secret_box: SecretBox,
    dovecot: DovecotServer,
    pools: dict[str, Pool],
) -> None:
    for _ in range(10):
        add_mailbox(session, secret_box, dovecot)
    first, second = pools["poller-a"], pools["poller-b"]
    assert len(first.refresh()) == 10  # alone: every mailbox
    assert second.refresh() == set()  # it says it is alive; nothing is free yet
    assert second.share.target == 5
    # Waiting for its share, it renews more often until it has it; the first need not.
    assert second.settling() and not first.settling()

    kept = first.refresh()
    assert len(kept) == 5
    given_back = set(holders(session)) - kept
    # A lease is released only once its keeper has logged out (a refresh waits up to
    # 2 s for that; on a busy machine the rest go at the next): never two on one mailbox.
    for _ in range(10):
        assert all(holders(session)[m] == "poller-a" for m in first.giving_back)
        if not first.giving_back:
            break
        assert first.refresh() == kept
    assert all(holders(session)[mailbox_id] is None for mailbox_id in given_back)

    assert second.refresh() == given_back
    assert not second.settling()
    for _ in range(3):  # and so it stays
        assert first.refresh() == kept
        assert second.refresh() == given_back
    assert set(first.keepers) == kept and set(second.keepers) == given_back


def test_counts_within_the_slack_are_left_alone(
    session: Session,
    session_factory: sessionmaker[Session],
    secret_box: SecretBox,
    dovecot: DovecotServer,
    pools: dict[str, Pool],
    clock: Clock,
) -> None:
    mailboxes = [add_mailbox(session, secret_box, dovecot)[0].id for _ in range(10)]
    with session_scope(session_factory) as writing:
        for n, mailbox_id in enumerate(mailboxes):
            owner = "poller-a" if n < 6 else "poller-b"
            assert leases.acquire(writing, mailbox_id, owner, clock(), LEASE)
    first, second = pools["poller-a"], pools["poller-b"]
    second.refresh()  # both are live from here on
    for _ in range(3):
        # Six is one above the fair five, within the slack: nothing moves.
        assert len(first.refresh()) == 6
        assert len(second.refresh()) == 4


def test_a_stopped_or_dead_pollers_mailboxes_go_to_the_other(
    session: Session,
    session_factory: sessionmaker[Session],
    secret_box: SecretBox,
    dovecot: DovecotServer,
    pools: dict[str, Pool],
    clock: Clock,
) -> None:
    for _ in range(6):
        add_mailbox(session, secret_box, dovecot)
    first, second = pools["poller-a"], pools["poller-b"]
    first.refresh()
    second.refresh()
    first.refresh()
    assert len(second.refresh()) == 3

    # Dead (SIGKILL): its keepers stop, its leases and heartbeat are left to run out.
    first.stop()
    assert len(second.refresh()) == 3  # still counted alive within the lease
    clock.offset = LEASE + timedelta(seconds=1)
    assert len(second.refresh()) == 6
    assert second.share.pollers == 1

    # Stopped (SIGTERM): it gives its leases back and leaves; the other takes them at once.
    first.refresh()
    assert first.share.pollers == 2
    second.stop()
    with session_scope(session_factory) as writing:
        leases.release_all(writing, "poller-b")
        leases.leave(writing, "poller-b")
    assert len(first.refresh()) == 6
    assert first.share.pollers == 1
