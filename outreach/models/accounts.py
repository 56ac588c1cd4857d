"""People using Outreach, and the mailboxes they connect."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from outreach.models.base import Base, OwnedByUser, enum_column, utcnow


class Role(StrEnum):
    """What an account may do beyond its own outreach."""

    STUDENT = "student"  # everyone's role: runs their own outreach, may join cohorts
    ADVISER = "adviser"  # also runs cohorts and sees their students' counts (outreach.cohorts)
    ADMIN = "admin"  # runs the deployment


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(String(200))
    # The user's 30-second introduction, used by request templates.
    introduction: Mapped[str] = mapped_column(Text, default="")
    signature: Mapped[str] = mapped_column(Text, default="")
    # IANA name; sending windows and "today" for the daily cap are in this zone.
    time_zone: Mapped[str] = mapped_column(String(64), default="UTC")
    # Days that are not business days for the cycle's clocks: ISO dates, one per line.
    holidays: Mapped[str] = mapped_column(Text, default="")
    # Kinds of draft (MessageKind values, space-separated) approved without asking.
    auto_approve: Mapped[str] = mapped_column(String(200), default="")
    # The user's own goal: new conversations (meetings) per month.
    monthly_goal: Mapped[int] = mapped_column(default=1)
    # When the user is usually free to talk, in their zone: "Tue 14:00-16:00", one a line
    # (outreach.rules.free_times); a reply to a contact offers the next of these times.
    free_times: Mapped[str] = mapped_column(Text, default="", server_default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Stored in each sign-in's cookie; raising it ends every sign-in made before
    # (a password change, "sign out everywhere").
    session_version: Mapped[int] = mapped_column(default=0)
    role: Mapped[Role] = mapped_column(
        enum_column(Role), default=Role.STUDENT, server_default=Role.STUDENT.value
    )
    # Raised by every transaction that changes anything of the user's (outreach.data_version):
    # the board, rendered once, is served again until it moves.
    data_version: Mapped[int] = mapped_column(default=0, server_default="0")


class TlsMode(StrEnum):
    """How a connection to a mail server is secured."""

    SSL = "ssl"  # implicit TLS from the first byte (IMAPS 993, SMTPS 465)
    STARTTLS = "starttls"  # plain connect, then upgrade (IMAP 143, submission 587)
    NONE = "none"  # no encryption: only sensible for a server on this machine


class MailboxStatus(StrEnum):
    OK = "ok"
    NEEDS_ATTENTION = "needs_attention"
    # The OAuth2 grant was revoked or expired: only signing in again fixes it.
    NEEDS_SIGN_IN = "needs_sign_in"


class AuthMethod(StrEnum):
    """How we log in to the mailbox's IMAP and SMTP servers."""

    PASSWORD = "password"  # an app password (or the account password), stored encrypted
    OAUTH2 = "oauth2"  # XOAUTH2 with an access token from the provider's refresh token


class Mailbox(OwnedByUser, Base):
    """A user's own mail account, reached over IMAP and SMTP."""

    __tablename__ = "mailboxes"
    __table_args__ = (UniqueConstraint("user_id", "email_address"),)

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
    auth_method: Mapped[AuthMethod] = mapped_column(
        enum_column(AuthMethod), default=AuthMethod.PASSWORD
    )
    # OAuth2 only: which provider ("google", "microsoft"), the refresh token and the
    # current access token (both Fernet tokens, like the password) and its expiry.
    oauth_provider: Mapped[str | None] = mapped_column(String(32))
    oauth_refresh_encrypted: Mapped[str | None] = mapped_column(Text)
    oauth_access_encrypted: Mapped[str | None] = mapped_column(Text)
    oauth_access_expires_at: Mapped[datetime | None]
    # One process refreshes at a time: it holds this lease while it talks to the provider.
    oauth_refresh_lock_until: Mapped[datetime | None]
    sent_folder: Mapped[str | None] = mapped_column(String(255))
    status: Mapped[MailboxStatus] = mapped_column(
        enum_column(MailboxStatus), default=MailboxStatus.OK
    )
    last_error: Mapped[str | None] = mapped_column(Text)
    last_synced_at: Mapped[datetime | None]

    # Pace, enforced for all workers together (see outreach.pace).
    daily_cap: Mapped[int] = mapped_column(default=30)
    # Sending window in the user's time zone: weekdays as digits (0 = Monday), hours
    # [start, end). Open all week by default; the user narrows it if they wish.
    window_days: Mapped[str] = mapped_column(String(16), default="0123456")
    window_start_hour: Mapped[int] = mapped_column(default=0)
    window_end_hour: Mapped[int] = mapped_column(default=24)
    min_gap_seconds: Mapped[int] = mapped_column(default=60)
    max_gap_seconds: Mapped[int] = mapped_column(default=240)
    # The next moment a message may go out, and the count for the current day.
    next_send_at: Mapped[datetime | None]
    sent_day: Mapped[str | None] = mapped_column(String(10))
    sent_day_count: Mapped[int] = mapped_column(default=0)
    # Set when the server refused our credentials: nothing is sent until fixed.
    sending_paused: Mapped[bool] = mapped_column(default=False)
    # Whether the provider files sent mail in Sent by itself (Gmail, Microsoft 365):
    # None until known; then we never append a copy of our own.
    files_sent_copy: Mapped[bool | None]
    # Which poller watches this mailbox, and until when (a lease it renews).
    poll_owner: Mapped[str | None] = mapped_column(String(128))
    poll_lease_until: Mapped[datetime | None]
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


class SignupInvite(Base):
    """A one-time link to create an account, made by an admin (`outreach invite create`
    or the dashboard's admin page).

    Only the SHA-256 of the link's token is stored: a copy of the database
    gives no working link. An invitation is used once, or expires, or is revoked.
    """

    __tablename__ = "signup_invites"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # The address the account is made for: the invitee cannot choose another.
    email: Mapped[str] = mapped_column(String(320), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    # The account made with it; kept as a record when that account is deleted.
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # The role the account gets: student or adviser (an admin is made with the CLI only).
    role: Mapped[Role] = mapped_column(
        enum_column(Role), default=Role.STUDENT, server_default=Role.STUDENT.value
    )
