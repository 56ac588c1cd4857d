"""Contacts, targets and the ordered list of names inside each target."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint, true
from sqlalchemy.orm import Mapped, mapped_column, relationship

from outreach.models.base import Base, OwnedByUser, utcnow


class Contact(OwnedByUser, Base):
    __tablename__ = "contacts"
    __table_args__ = (UniqueConstraint("user_id", "email"),)

    # Stored lower-cased: de-duplication and reply matching compare addresses.
    email: Mapped[str] = mapped_column(String(320))
    name: Mapped[str] = mapped_column(String(200))
    first_name: Mapped[str] = mapped_column(String(100), default="")
    role: Mapped[str] = mapped_column(String(200), default="")
    organisation: Mapped[str] = mapped_column(String(200), default="")
    how_found: Mapped[str] = mapped_column(Text, default="")
    referred_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("contacts.id", ondelete="SET NULL")
    )
    notes: Mapped[str] = mapped_column(Text, default="")
    time_zone: Mapped[str] = mapped_column(String(64), default="")
    # Why this person in particular (their role, a talk, an article): the request says it.
    why_you: Mapped[str] = mapped_column(Text, default="", server_default="")
    do_not_contact: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    referred_by: Mapped[Contact | None] = relationship(remote_side="Contact.id")


class Target(OwnedByUser, Base):
    """A field or organisation the user wants to learn about."""

    __tablename__ = "targets"
    __table_args__ = (UniqueConstraint("user_id", "name"),)

    name: Mapped[str] = mapped_column(String(200))
    # The words emails use for the field, inside a sentence ("museum education"); the
    # name is the list's and never appears in an email.
    field_phrase: Mapped[str] = mapped_column(String(200), default="", server_default="")
    # False while the phrase is a guess from the name (targets made before it was asked).
    field_phrase_confirmed: Mapped[bool] = mapped_column(default=True, server_default=true())
    # How many requests may be out at once (the etiquette says one).
    max_in_flight: Mapped[int] = mapped_column(default=1)
    # Business days to wait after the request before the follow-up (or giving up).
    wait_business_days: Mapped[int] = mapped_column(default=5)
    send_follow_up: Mapped[bool] = mapped_column(default=True)
    # Business days to wait after the follow-up before marking "no reply".
    give_up_business_days: Mapped[int] = mapped_column(default=5)
    # Whether two people at one organisation may have requests out at once.
    allow_same_organisation: Mapped[bool] = mapped_column(default=False)
    paused: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    entries: Mapped[list[TargetEntry]] = relationship(
        back_populates="target", order_by="TargetEntry.position", cascade="all, delete-orphan"
    )


class TargetEntry(Base):
    """One name on a target's ordered list."""

    __tablename__ = "target_entries"
    __table_args__ = (UniqueConstraint("target_id", "contact_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    target_id: Mapped[int] = mapped_column(ForeignKey("targets.id", ondelete="CASCADE"))
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    position: Mapped[int]

    target: Mapped[Target] = relationship(back_populates="entries")
    contact: Mapped[Contact] = relationship()
