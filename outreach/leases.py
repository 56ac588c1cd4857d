"""At most one poller watches a mailbox at a time: a lease with an expiry.

A poller renews its leases every third of a lease, and with every sync. One
that dies stops renewing, and another takes the mailbox over once the lease
has run out.

Pollers share the mailboxes: each says it is alive in the `pollers` table
(`beat`) every time it renews its leases, and holds about its fair share,
ceil(mailboxes / live pollers). It takes free mailboxes only up to that share,
and gives back what it holds beyond the share plus a little slack
(`Share.keep`), so a poller that starts takes half within a lease or two, and
two pollers whose counts differ by one do not pass a mailbox back and forth.
A poller whose heartbeat is older than a lease no longer counts, and its
leases have run out by then too: the others' shares grow and they take its
mailboxes. The lease stays the truth of who watches a mailbox.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.orm import Session

from outreach.db import compare_and_set
from outreach.models import Mailbox, MailboxStatus, Poller

LEASE = timedelta(seconds=45)
# A poller gives mailboxes back only when it holds this much (a twentieth) more
# than its share, and at least one more: hysteresis against passing one back and forth.
SLACK = 0.05
# A poller row silent this many leases is deleted; it has counted for nothing since one.
FORGOTTEN_AFTER = 20


def acquire(
    session: Session, mailbox_id: int, owner: str, now: datetime, lease: timedelta = LEASE
) -> bool:
    """Take or renew the lease on one mailbox; False when another poller holds it."""
    return compare_and_set(
        session,
        update(Mailbox)
        .where(
            Mailbox.id == mailbox_id,
            or_(
                Mailbox.poll_owner.is_(None),
                Mailbox.poll_owner == owner,
                Mailbox.poll_lease_until.is_(None),
                Mailbox.poll_lease_until < now,
            ),
        )
        .values(poll_owner=owner, poll_lease_until=now + lease),
    )


def unwatched(session: Session, now: datetime) -> set[int]:
    """Mailboxes no live poller watches: just connected, back from sign-in, or their
    poller's lease ran out. One scan of a thousand rows is well under a
    millisecond, so a poller asks every second and a new mailbox is watched at once."""
    return set(
        session.scalars(
            select(Mailbox.id).where(
                Mailbox.status != MailboxStatus.NEEDS_SIGN_IN,
                or_(
                    Mailbox.poll_owner.is_(None),
                    Mailbox.poll_lease_until.is_(None),
                    Mailbox.poll_lease_until < now,
                ),
            )
        )
    )


def renew_all(session: Session, owner: str, now: datetime, lease: timedelta = LEASE) -> None:
    """Renew every lease `owner` holds, in one statement (a poller may hold a thousand)."""
    session.execute(
        update(Mailbox)
        .where(Mailbox.poll_owner == owner)
        .values(poll_lease_until=now + lease)
        .execution_options(synchronize_session=False)
    )


def release_all(session: Session, owner: str) -> None:
    """Give up every lease `owner` holds, so others need not wait for expiry."""
    session.execute(
        update(Mailbox)
        .where(Mailbox.poll_owner == owner)
        .values(poll_owner=None, poll_lease_until=None)
        .execution_options(synchronize_session=False)
    )


def held_by(session: Session, owner: str) -> list[int]:
    return list(session.scalars(select(Mailbox.id).where(Mailbox.poll_owner == owner)))


def release(session: Session, owner: str, mailbox_ids: Collection[int]) -> None:
    """Give up the leases on `mailbox_ids` that `owner` still holds, for another poller to take."""
    if not mailbox_ids:
        return
    session.execute(
        update(Mailbox)
        .where(Mailbox.poll_owner == owner, Mailbox.id.in_(list(mailbox_ids)))
        .values(poll_owner=None, poll_lease_until=None)
        .execution_options(synchronize_session=False)
    )


@dataclass(frozen=True)
class Share:
    """How many mailboxes one poller should hold, out of how many, among how many pollers."""

    mailboxes: int
    pollers: int

    @property
    def target(self) -> int:
        """Take free mailboxes up to this many: ceil(mailboxes / pollers)."""
        return math.ceil(self.mailboxes / max(1, self.pollers))

    @property
    def keep(self) -> int:
        """Give back what is held beyond this many (down to `target`)."""
        return self.target + max(1, math.ceil(self.target * SLACK))


def beat(session: Session, owner: str, now: datetime, lease: timedelta = LEASE) -> int:
    """Say `owner` is alive; returns how many pollers are, itself included.

    A poller is alive while its heartbeat is younger than a lease, which is as
    long as its leases last: when the others stop counting a dead poller, its
    mailboxes are free to take too.
    """
    beaten = session.execute(
        update(Poller)
        .where(Poller.id == owner)
        .values(heartbeat_at=now)
        .execution_options(synchronize_session=False)
    )
    if not getattr(beaten, "rowcount", 0):
        session.add(Poller(id=owner, started_at=now, heartbeat_at=now))
        session.flush()
    session.execute(
        delete(Poller)
        .where(Poller.heartbeat_at < now - FORGOTTEN_AFTER * lease)
        .execution_options(synchronize_session=False)
    )
    live = session.scalar(
        select(func.count()).select_from(Poller).where(Poller.heartbeat_at >= now - lease)
    )
    return max(1, int(live or 0))


def leave(session: Session, owner: str) -> None:
    """Take `owner` off the live pollers (it stops): the others' shares grow at once."""
    session.execute(
        delete(Poller).where(Poller.id == owner).execution_options(synchronize_session=False)
    )
