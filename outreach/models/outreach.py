"""One contact's journey within one target."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import ForeignKey, Index, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from outreach.models.base import Base, OwnedByUser, enum_column, utcnow
from outreach.models.contacts import Contact, Target
from outreach.rules.states import OutreachState


class Outreach(OwnedByUser, Base):
    __tablename__ = "outreaches"
    __table_args__ = (
        UniqueConstraint("target_id", "contact_id"),
        # The board's page of ids and its version: newest change first, per user.
        Index("ix_outreaches_user_changed", "user_id", "state_changed_at", "id"),
        # The cycle's clock: the steps due (few rows have a next step), and each
        # target's names in flight or still planned.
        Index("ix_outreaches_next_step", "next_step_at"),
        Index("ix_outreaches_state_target", "state", "target_id"),
    )

    target_id: Mapped[int] = mapped_column(ForeignKey("targets.id", ondelete="CASCADE"))
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    state: Mapped[OutreachState] = mapped_column(
        enum_column(OutreachState), default=OutreachState.PLANNED
    )
    state_changed_at: Mapped[datetime] = mapped_column(default=utcnow)
    # When the next time-based step is due (follow-up, giving up); None when none is.
    next_step_at: Mapped[datetime | None]
    # The user wrote to the contact from another mail client: they are handling
    # this conversation themselves, so no automated follow-up goes out.
    handled_by_user: Mapped[bool] = mapped_column(default=False)
    # An automatic reply said the contact is away until this day: the clock waits.
    away_until: Mapped[date | None]
    # When to draft a short keep-in-touch update after the thank-you.
    keep_in_touch_at: Mapped[datetime | None]
    # The user chose to ask this person again on this list, though an earlier answer (a
    # decline, a failed address, two messages unanswered) says not to (outreach.asking_again).
    ask_again_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    contact: Mapped[Contact] = relationship()
    target: Mapped[Target] = relationship()
