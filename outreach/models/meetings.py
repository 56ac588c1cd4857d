"""Meetings with contacts, and what the user wrote down afterwards."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from outreach.models.base import Base, OwnedByUser, enum_column, utcnow
from outreach.models.contacts import Contact


class MeetingStatus(StrEnum):
    # Read from a calendar invitation in a reply: waits for the user to confirm it.
    PROPOSED = "proposed"
    SCHEDULED = "scheduled"
    HELD = "held"
    CANCELLED = "cancelled"


class Meeting(OwnedByUser, Base):
    __tablename__ = "meetings"

    outreach_id: Mapped[int] = mapped_column(
        ForeignKey("outreaches.id", ondelete="CASCADE"), index=True
    )
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    starts_at: Mapped[datetime]
    duration_minutes: Mapped[int] = mapped_column(default=30)
    # An address, or the call's link / phone number and any access code.
    place: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[MeetingStatus] = mapped_column(
        enum_column(MeetingStatus), default=MeetingStatus.SCHEDULED
    )
    # "manual", or "invitation" when read from an iCalendar attachment.
    source: Mapped[str] = mapped_column(String(16), default="manual")
    invitation_uid: Mapped[str | None] = mapped_column(String(255))
    invitation_message_id: Mapped[int | None] = mapped_column(
        ForeignKey("messages.id", ondelete="SET NULL")
    )
    confirmation_drafted_at: Mapped[datetime | None]
    held_at: Mapped[datetime | None]

    # Notes after the meeting.
    learned: Mapped[str] = mapped_column(Text, default="")
    # The standard questions' answers: JSON object, question key -> answer.
    answers_json: Mapped[str] = mapped_column(Text, default="{}")
    # Something specific from the conversation; the thank-you template requires it.
    specific_detail: Mapped[str] = mapped_column(Text, default="")
    thank_you_due_at: Mapped[datetime | None]
    # Reflection after the meeting (the guides' "assess how it went").
    reflection_fit: Mapped[str] = mapped_column(Text, default="", server_default="")
    reflection_went_well: Mapped[str] = mapped_column(Text, default="", server_default="")
    reflection_do_better: Mapped[str] = mapped_column(Text, default="", server_default="")
    reflection_next_steps: Mapped[str] = mapped_column(Text, default="", server_default="")

    # Preparation before the meeting (outreach.meetings.preparation).
    purpose: Mapped[str] = mapped_column(Text, default="", server_default="")
    research_person: Mapped[str] = mapped_column(Text, default="", server_default="")
    research_organisation: Mapped[str] = mapped_column(Text, default="", server_default="")
    # The questions to ask, in order: JSON list of {"id", "text"?}; NULL means the
    # standard nine, so the list follows QUESTIONS until the user changes it.
    questions_json: Mapped[str | None] = mapped_column(Text)
    # The checklist items ticked: JSON list of keys.
    checklist_json: Mapped[str] = mapped_column(Text, default="[]", server_default="[]")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    contact: Mapped[Contact] = relationship()
