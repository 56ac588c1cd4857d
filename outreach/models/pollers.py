"""The pollers that are running, so that they can share the mailboxes between them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from outreach.models.base import Base


class Poller(Base):
    """One running `outreach poller`, alive while its heartbeat is younger than a lease.

    Each poller counts the live ones to know its fair share of the mailboxes
    (outreach.leases.Share); the leases on the mailboxes stay the truth of
    who watches which.
    """

    __tablename__ = "pollers"

    # The poller's lease owner name, as in Mailbox.poll_owner: "host:pid:random".
    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    started_at: Mapped[datetime]
    heartbeat_at: Mapped[datetime] = mapped_column(index=True)
