"""At most one poller watches a mailbox at a time: a lease with an expiry.

A poller renews its leases every third of a lease, and with every sync. One
that dies stops renewing, and another takes the mailbox over once the lease
has run out.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from outreach.db import compare_and_set
from outreach.models import Mailbox

LEASE = timedelta(seconds=45)


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
