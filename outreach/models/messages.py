"""Every email in or out, and the timeline of events."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from outreach.models.base import Base, OwnedByUser, enum_column, utcnow
from outreach.models.contacts import Contact


class Direction(StrEnum):
    OUTBOUND = "outbound"
    INBOUND = "inbound"


class MessageKind(StrEnum):
    REQUEST = "request"
    FOLLOW_UP = "follow_up"
    CONFIRMATION = "confirmation"
    THANK_YOU = "thank_you"
    KEEP_IN_TOUCH = "keep_in_touch"
    # The user's answer to a person's reply, written in the dashboard's composer.
    ANSWER = "answer"
    # Inbound kinds, decided by outreach.reading.classify.
    REPLY = "reply"
    AUTO_REPLY = "auto_reply"
    BOUNCE = "bounce"
    # The user's own message to a contact, written in another mail client.
    OWN_MESSAGE = "own_message"


class MessageStatus(StrEnum):
    """The outbox lifecycle of an outbound message (inbound ones are RECEIVED)."""

    DRAFT = "draft"
    APPROVED = "approved"
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    # The connection broke after the final dot of DATA: the server may have it.
    # Settled by searching the Sent folder, or by the user; never by a blind retry.
    UNKNOWN = "unknown"
    RETRYING = "retrying"
    FAILED = "failed"
    CANCELLED = "cancelled"
    RECEIVED = "received"


class SendPhase(StrEnum):
    """How far a claimed message got; decides what a dead worker leaves behind."""

    CLAIMED = "claimed"  # nothing has reached the server: safe to try again
    DATA = "data"  # the message body went out: the server may have accepted it


class Message(OwnedByUser, Base):
    __tablename__ = "messages"
    __table_args__ = (
        Index("ix_messages_user_message_id", "user_id", "message_id"),
        Index("ix_messages_status", "status"),
        Index("ix_messages_user_gm_thread_id", "user_id", "gm_thread_id"),
    )

    mailbox_id: Mapped[int | None] = mapped_column(ForeignKey("mailboxes.id", ondelete="SET NULL"))
    contact_id: Mapped[int | None] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), index=True
    )
    outreach_id: Mapped[int | None] = mapped_column(
        ForeignKey("outreaches.id", ondelete="CASCADE"), index=True
    )
    direction: Mapped[Direction] = mapped_column(enum_column(Direction))
    kind: Mapped[MessageKind] = mapped_column(enum_column(MessageKind))
    status: Mapped[MessageStatus] = mapped_column(enum_column(MessageStatus))

    # Header values without angle brackets' surrounding whitespace, e.g. "<abc@example.org>".
    message_id: Mapped[str | None] = mapped_column(String(998))
    # The id a provider gave our message instead of ours (Outlook.com rewrites it
    # and keeps ours in X-Microsoft-Original-Message-ID); replies may cite either.
    provider_message_id: Mapped[str | None] = mapped_column(String(998))
    # Gmail's thread id (X-GM-THRID) of our message, read from its copy in the
    # mailbox: a reply in that thread matches even without In-Reply-To/References.
    gm_thread_id: Mapped[int | None] = mapped_column(BigInteger)
    in_reply_to: Mapped[str | None] = mapped_column(String(998))
    references: Mapped[str] = mapped_column(Text, default="")
    from_address: Mapped[str] = mapped_column(String(320), default="")
    to_address: Mapped[str] = mapped_column(String(320), default="")
    subject: Mapped[str] = mapped_column(Text, default="")
    body_text: Mapped[str] = mapped_column(Text, default="")

    # Outbound bookkeeping.
    approved_at: Mapped[datetime | None]
    claimed_at: Mapped[datetime | None]
    send_phase: Mapped[SendPhase | None] = mapped_column(enum_column(SendPhase))
    sent_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime | None]
    error: Mapped[str | None] = mapped_column(Text)
    # A draft's missing template values, by variable name ("how_found role"): asked for
    # on the drafts page; the text shows each in words where it goes (outreach.drafts).
    needs: Mapped[str] = mapped_column(Text, default="", server_default="")
    # Why an approved message is waiting (outside the window, cap reached, ...).
    waiting_reason: Mapped[str | None] = mapped_column(Text)
    # The copy in the user's Sent folder: None until looked for, then what happened.
    sent_copy: Mapped[str | None] = mapped_column(String(32))
    # An iCalendar invitation (METHOD:REQUEST) sent with the text, fixed when drafted
    # so the same row always gives the same bytes (outreach.meetings.calendar_file).
    calendar_ics: Mapped[str] = mapped_column(Text, default="", server_default="")

    # Inbound bookkeeping: where the poller found it, and why it was matched.
    folder: Mapped[str | None] = mapped_column(String(255))
    uidvalidity: Mapped[int | None]
    uid: Mapped[int | None]
    received_at: Mapped[datetime | None]
    match_rule: Mapped[str | None] = mapped_column(String(64))

    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    contact: Mapped[Contact | None] = relationship()


class Event(OwnedByUser, Base):
    """One line on a contact's timeline."""

    __tablename__ = "events"

    contact_id: Mapped[int | None] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), index=True
    )
    outreach_id: Mapped[int | None] = mapped_column(ForeignKey("outreaches.id", ondelete="CASCADE"))
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id", ondelete="SET NULL"))
    kind: Mapped[str] = mapped_column(String(64))
    detail: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Template(OwnedByUser, Base):
    """A user's own wording for one kind of message; defaults come from the code."""

    __tablename__ = "templates"

    kind: Mapped[MessageKind] = mapped_column(enum_column(MessageKind))
    subject: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
