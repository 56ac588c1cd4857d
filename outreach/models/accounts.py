"""People using Outreach, and the mailboxes they connect."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from outreach.models.base import Base, enum_column, utcnow


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(String(200))
    # The user's 30-second introduction, used by request templates.
    introduction: Mapped[str] = mapped_column(Text, default="")
    signature: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class TlsMode(StrEnum):
    """How a connection to a mail server is secured."""

    SSL = "ssl"  # implicit TLS from the first byte (IMAPS 993, SMTPS 465)
    STARTTLS = "starttls"  # plain connect, then upgrade (IMAP 143, submission 587)
    NONE = "none"  # no encryption: only sensible for a server on this machine


class MailboxStatus(StrEnum):
    OK = "ok"
    NEEDS_ATTENTION = "needs_attention"


class Mailbox(Base):
    """A user's own mail account, reached over IMAP and SMTP."""

    __tablename__ = "mailboxes"
    __table_args__ = (UniqueConstraint("user_id", "email_address"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    email_address: Mapped[str] = mapped_column(String(320))
    display_name: Mapped[str] = mapped_column(String(200), default="")
    imap_host: Mapped[str] = mapped_column(String(255))
    imap_port: Mapped[int]
    imap_tls: Mapped[TlsMode] = mapped_column(enum_column(TlsMode))
    smtp_host: Mapped[str] = mapped_column(String(255))
    smtp_port: Mapped[int]
    smtp_tls: Mapped[TlsMode] = mapped_column(enum_column(TlsMode))
    username: Mapped[str] = mapped_column(String(320))
    # A Fernet token; the key lives outside the database (see outreach.crypto).
    secret_encrypted: Mapped[str] = mapped_column(Text)
    sent_folder: Mapped[str | None] = mapped_column(String(255))
    status: Mapped[MailboxStatus] = mapped_column(
        enum_column(MailboxStatus), default=MailboxStatus.OK
    )
    last_error: Mapped[str | None] = mapped_column(Text)
    last_synced_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class MailboxSyncState(Base):
    """Where the poller stopped in one folder, so a restart resumes there."""

    __tablename__ = "mailbox_sync_states"
    __table_args__ = (UniqueConstraint("mailbox_id", "folder"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    mailbox_id: Mapped[int] = mapped_column(ForeignKey("mailboxes.id", ondelete="CASCADE"))
    folder: Mapped[str] = mapped_column(String(255))
    uidvalidity: Mapped[int | None]
    last_uid: Mapped[int] = mapped_column(default=0)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
