"""Use cases for people and their mailboxes."""

from __future__ import annotations

import re
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from outreach.crypto import SecretBox
from outreach.errors import NotFound, ValidationError
from outreach.mail import ServerLogin
from outreach.models import Mailbox, TlsMode, User

_hasher = PasswordHasher()
_EMAIL = re.compile(r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$")
MIN_PASSWORD_LENGTH = 10


def normalise_email(address: str) -> str:
    """Lower-cased and trimmed; raises ValidationError when it is no address."""
    cleaned = address.strip().lower()
    if not _EMAIL.match(cleaned):
        raise ValidationError(f"'{address.strip()}' is not a valid email address")
    return cleaned


def create_user(session: Session, email: str, name: str, password: str) -> User:
    address = normalise_email(email)
    if not name.strip():
        raise ValidationError("please give your name; it signs your emails")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationError(f"the password must have at least {MIN_PASSWORD_LENGTH} characters")
    exists = session.scalar(select(func.count()).select_from(User).where(User.email == address))
    if exists:
        raise ValidationError(f"an account for {address} already exists")
    user = User(
        email=address,
        name=" ".join(name.split()),
        password_hash=_hasher.hash(password),
        signature=" ".join(name.split()),
    )
    session.add(user)
    session.flush()
    return user


def authenticate(session: Session, email: str, password: str) -> User | None:
    """Return the user when the password is right, else None (never says which part failed)."""
    try:
        address = normalise_email(email)
    except ValidationError:
        return None
    user = session.scalar(select(User).where(User.email == address))
    if user is None:
        # Hash anyway so a wrong address takes as long as a wrong password.
        _hasher.hash(password)
        return None
    try:
        _hasher.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        return None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    return user


def get_user(session: Session, user_id: int) -> User | None:
    return session.get(User, user_id)


def update_profile(
    session: Session, user: User, *, name: str, introduction: str, signature: str
) -> User:
    if not name.strip():
        raise ValidationError("please give your name; it signs your emails")
    user.name = " ".join(name.split())
    user.introduction = introduction.strip()
    user.signature = signature.strip()
    return user


@dataclass(frozen=True)
class MailboxSettings:
    email_address: str
    display_name: str
    imap_host: str
    imap_port: int
    imap_tls: TlsMode
    smtp_host: str
    smtp_port: int
    smtp_tls: TlsMode
    username: str


def _check_server(host: str, port: int, what: str) -> str:
    host = host.strip()
    if not host or any(ch.isspace() for ch in host):
        raise ValidationError(f"the {what} host name is missing or has spaces in it")
    if not 0 < port < 65536:
        raise ValidationError(f"the {what} port must be between 1 and 65535")
    return host


def connect_mailbox(
    session: Session, user: User, box: SecretBox, settings: MailboxSettings, password: str
) -> Mailbox:
    """Store a mailbox for `user`, its password encrypted."""
    if not password:
        raise ValidationError("the mailbox password (or app password) is missing")
    mailbox = Mailbox(
        user_id=user.id,
        email_address=normalise_email(settings.email_address),
        display_name=" ".join(settings.display_name.split()) or user.name,
        imap_host=_check_server(settings.imap_host, settings.imap_port, "IMAP"),
        imap_port=settings.imap_port,
        imap_tls=settings.imap_tls,
        smtp_host=_check_server(settings.smtp_host, settings.smtp_port, "SMTP"),
        smtp_port=settings.smtp_port,
        smtp_tls=settings.smtp_tls,
        username=settings.username.strip() or settings.email_address.strip(),
        secret_encrypted=box.encrypt(password),
    )
    existing = session.scalar(
        select(Mailbox).where(
            Mailbox.user_id == user.id, Mailbox.email_address == mailbox.email_address
        )
    )
    if existing is not None:
        raise ValidationError(f"{mailbox.email_address} is already connected")
    session.add(mailbox)
    session.flush()
    return mailbox


def list_mailboxes(session: Session, user: User) -> list[Mailbox]:
    return list(session.scalars(select(Mailbox).where(Mailbox.user_id == user.id)))


def get_mailbox(session: Session, user: User, mailbox_id: int) -> Mailbox:
    """:raise NotFound: when there is no such mailbox for this user."""
    mailbox = session.scalar(
        select(Mailbox).where(Mailbox.id == mailbox_id, Mailbox.user_id == user.id)
    )
    if mailbox is None:
        raise NotFound("no such mailbox")
    return mailbox


def primary_mailbox(session: Session, user: User) -> Mailbox | None:
    return session.scalar(
        select(Mailbox).where(Mailbox.user_id == user.id).order_by(Mailbox.id).limit(1)
    )


def imap_login(mailbox: Mailbox, box: SecretBox) -> ServerLogin:
    return ServerLogin(
        host=mailbox.imap_host,
        port=mailbox.imap_port,
        tls=mailbox.imap_tls,
        username=mailbox.username,
        password=box.decrypt(mailbox.secret_encrypted),
    )


def smtp_login(mailbox: Mailbox, box: SecretBox) -> ServerLogin:
    return ServerLogin(
        host=mailbox.smtp_host,
        port=mailbox.smtp_port,
        tls=mailbox.smtp_tls,
        username=mailbox.username,
        password=box.decrypt(mailbox.secret_encrypted),
    )
