"""Use cases for people and their mailboxes."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import astuple, dataclass, replace
from functools import cache
from zoneinfo import available_timezones

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from outreach.crypto import SecretBox
from outreach.db import owned_row
from outreach.errors import ValidationError
from outreach.mail import MailServer, MailServers
from outreach.models import (
    Mailbox,
    Message,
    MessageKind,
    MessageStatus,
    User,
)
from outreach.rules.cycle import parse_holidays
from outreach.rules.free_times import check_free_times
from outreach.rules.plain_text import (
    MAX_ADDRESS,
    MAX_INTRODUCTION,
    MAX_NAME,
    MAX_PASSWORD,
    MAX_SIGNATURE,
    refuse_control_characters,
    refuse_too_long,
)
from outreach.rules.sandbox_addresses import is_sandbox

_hasher = PasswordHasher()
_EMAIL = re.compile(r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$")
MIN_PASSWORD_LENGTH = 10
# Bounds of a mailbox's pace (see outreach.pace), as the user may set them.
MAX_DAILY_CAP = 500
MAX_GAP_SECONDS = 120 * 60


def normalise_email(address: str) -> str:
    """Lower-cased and trimmed; raises ValidationError when it is no address."""
    refuse_control_characters("the email address", address)
    cleaned = address.strip().lower()
    refuse_too_long("the email address", cleaned, MAX_ADDRESS)
    if not _EMAIL.match(cleaned):
        raise ValidationError(f"'{address.strip()}' is not a valid email address")
    return cleaned


def create_user(session: Session, email: str, name: str, password: str) -> User:
    address = normalise_email(email)
    refuse_control_characters("your name", name)
    if not name.strip():
        raise ValidationError("please give your name; it signs your emails")
    refuse_too_long("your name", name.strip(), MAX_NAME)
    refuse_too_long("the password", password, MAX_PASSWORD)
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


@cache
def _nobodys_hash() -> str:
    """A hash of no one's password: checking against it costs what checking a real one does."""
    return _hasher.hash(secrets.token_urlsafe(16))


def hash_and_forget(password: str) -> None:
    """Spend the time hashing `password` takes, keeping nothing: a refusal as slow as a success."""
    _hasher.hash(password)


def authenticate(session: Session, email: str, password: str) -> User | None:
    """Return the user when the password is right, else None (never says which part failed)."""
    try:
        address = normalise_email(email)
    except ValidationError:
        return None
    user = session.scalar(select(User).where(User.email == address))
    if user is None:
        # Check anyway, against a hash of the same kind, so a wrong address takes as
        # long as a wrong password (and says the same).
        try:
            _hasher.verify(_nobodys_hash(), password)
        except (VerificationError, InvalidHashError):
            pass
        return None
    try:
        _hasher.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        return None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    return user


def _check_new_password(password: str, again: str | None = None) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationError(
            f"the new password must have at least {MIN_PASSWORD_LENGTH} characters"
        )
    refuse_too_long("the new password", password, MAX_PASSWORD)
    if again is not None and password != again:
        raise ValidationError("the two new passwords are not the same; please type it twice")


def change_password(session: Session, user: User, current: str, new: str, new_again: str) -> User:
    """Set a new password after checking the current one; every other sign-in ends.

    The caller keeps its own sign-in by storing the user's new session version.

    :raise ValidationError: when the current password is wrong, or the new one too
        short or not typed the same twice; nothing is changed then.
    """
    try:
        _hasher.verify(user.password_hash, current)
    except (VerificationError, InvalidHashError):
        raise ValidationError("your current password is not right") from None
    _check_new_password(new, new_again)
    return set_password(session, user, new)


def set_password(session: Session, user: User, new: str) -> User:
    """Replace the password without asking for the old one (`outreach user set-password`).

    Every sign-in made before ends: whoever knew the old password is signed out.

    :raise ValidationError: when the new password is too short.
    """
    _check_new_password(new)
    user.password_hash = _hasher.hash(new)
    end_sign_ins(session, user)
    return user


def end_sign_ins(session: Session, user: User) -> User:
    """End every sign-in of `user` made until now ("sign out everywhere")."""
    user.session_version = (user.session_version or 0) + 1
    session.flush()
    return user


def get_user(session: Session, user_id: int) -> User | None:
    return session.get(User, user_id)


@cache
def known_time_zones() -> frozenset[str]:
    """The IANA time zone names this machine knows, e.g. "Europe/Berlin"."""
    return frozenset(available_timezones())


def update_profile(
    session: Session,
    user: User,
    *,
    name: str,
    introduction: str,
    signature: str,
    time_zone: str | None = None,
    holidays: str | None = None,
    auto_approve: Iterable[MessageKind] | None = None,
    monthly_goal: int | None = None,
    free_times: str | None = None,
) -> User:
    """Save the profile; each optional setting left as None keeps its saved value.

    `holidays` is ISO dates, one per line (see `check_holidays`); `auto_approve`
    the kinds of draft sent without review; `monthly_goal` conversations a month.

    :raise ValidationError: when the name is empty, the time zone unknown, a
        holiday line not a date, a kind not a draft, the goal out of range, or a line
        of free times unreadable.
    """
    refuse_control_characters("your name", name)
    refuse_control_characters("your introduction", introduction, multi_line=True)
    refuse_control_characters("your signature", signature, multi_line=True)
    if not name.strip():
        raise ValidationError("please give your name; it signs your emails")
    refuse_too_long("your name", name.strip(), MAX_NAME)
    refuse_too_long("your introduction", introduction.strip(), MAX_INTRODUCTION)
    refuse_too_long("your signature", signature.strip(), MAX_SIGNATURE)
    zone = None
    if time_zone is not None:
        zone = check_time_zone(time_zone)
    days = check_holidays(holidays) if holidays is not None else None
    free = check_free_times(free_times) if free_times is not None else None
    kinds = auto_approve_words(auto_approve) if auto_approve is not None else None
    if monthly_goal is not None and not 1 <= monthly_goal <= MAX_MONTHLY_GOAL:
        raise ValidationError(
            f"your monthly goal must be between 1 and {MAX_MONTHLY_GOAL} conversations"
        )
    user.name = " ".join(name.split())
    user.introduction = introduction.strip()
    user.signature = signature.strip()
    if zone is not None:
        user.time_zone = zone
    if days is not None:
        user.holidays = days
    if kinds is not None:
        user.auto_approve = kinds
    if monthly_goal is not None:
        user.monthly_goal = monthly_goal
    if free is not None:
        user.free_times = free
    return user


@dataclass(frozen=True, kw_only=True)
class MailboxSettings(MailServers):
    """A mailbox to connect with a password: its two servers, address and names."""

    email_address: str
    display_name: str
    username: str


def _checked(server: MailServer, what: str) -> MailServer:
    """The server with its host name trimmed; ValidationError when it cannot be one."""
    refuse_control_characters(f"the {what} server name", server.host)
    host = server.host.strip()
    if not host or any(ch.isspace() for ch in host):
        raise ValidationError(f"the {what} host name is missing or has spaces in it")
    if not 0 < server.port < 65536:
        raise ValidationError(f"the {what} port must be between 1 and 65535")
    return replace(server, host=host)


def set_servers(mailbox: Mailbox, servers: MailServers) -> None:
    """Store where the mailbox's IMAP and SMTP servers are on its row."""
    mailbox.imap_host, mailbox.imap_port, mailbox.imap_tls = astuple(servers.imap)
    mailbox.smtp_host, mailbox.smtp_port, mailbox.smtp_tls = astuple(servers.smtp)


def connect_mailbox(
    session: Session, user: User, box: SecretBox, settings: MailboxSettings, password: str
) -> Mailbox:
    """Store a mailbox for `user`, its password encrypted."""
    if not password:
        raise ValidationError("the mailbox password (or app password) is missing")
    # The user name and password go onto IMAP and SMTP command lines.
    refuse_control_characters("the mailbox password", password)
    refuse_control_characters("the user name", settings.username)
    refuse_control_characters("the name shown to recipients", settings.display_name)
    refuse_too_long("the mailbox password", password, MAX_PASSWORD)
    refuse_too_long("the user name", settings.username.strip(), MAX_ADDRESS)
    refuse_too_long("the name shown to recipients", settings.display_name.strip(), MAX_NAME)
    address = normalise_email(settings.email_address)
    servers = MailServers.joining(_checked(settings.imap, "IMAP"), _checked(settings.smtp, "SMTP"))
    mailbox = Mailbox(
        user_id=user.id,
        email_address=address,
        display_name=" ".join(settings.display_name.split()) or user.name,
        username=settings.username.strip() or settings.email_address.strip(),
        secret_encrypted=box.encrypt(password),
    )
    set_servers(mailbox, servers)
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


def change_mailbox_password(
    session: Session, user: User, box: SecretBox, mailbox_id: int, password: str
) -> Mailbox:
    """Store a new (app) password for a mailbox, encrypted; a connection test comes next.

    :raise NotFound: when the mailbox is not the user's.
    """
    mailbox = get_mailbox(session, user, mailbox_id)
    if not password:
        raise ValidationError("the new password (or app password) is missing")
    refuse_too_long("the mailbox password", password, MAX_PASSWORD)
    refuse_control_characters("the mailbox password", password)
    mailbox.secret_encrypted = box.encrypt(password)
    return mailbox


def list_mailboxes(session: Session, user: User) -> list[Mailbox]:
    return list(session.scalars(select(Mailbox).where(Mailbox.user_id == user.id)))


def get_mailbox(session: Session, user: User, mailbox_id: int) -> Mailbox:
    """:raise NotFound: when there is no such mailbox for this user."""
    return owned_row(session, Mailbox, mailbox_id, user.id, "mailbox")


def _window_days(days: str | Iterable[int]) -> str:
    """Weekdays as the mailbox stores them: sorted digits, 0 = Monday ("01234")."""
    try:
        numbers = {int(day) for day in days}
    except (TypeError, ValueError):
        raise ValidationError("the sending days must be weekdays from Monday to Sunday") from None
    if not numbers:
        raise ValidationError("choose at least one day of the week on which messages may go out")
    if not numbers <= set(range(7)):
        raise ValidationError("the sending days must be weekdays from Monday to Sunday")
    return "".join(str(day) for day in sorted(numbers))


def update_pace(
    session: Session,
    user: User,
    mailbox_id: int,
    *,
    daily_cap: int,
    window_days: str | Iterable[int],
    start_hour: int,
    end_hour: int,
    min_gap_seconds: int,
    max_gap_seconds: int,
) -> Mailbox:
    """Set how fast, on which days and at which hours the mailbox sends.

    `window_days` holds weekdays, 0 = Monday, as digits ("01234") or numbers;
    hours are [start_hour, end_hour) in the user's time zone, 24 meaning the
    end of the day. Messages that were told to wait for the old pace are made
    due again, so the sender judges them by the new one.

    :raise NotFound: when the mailbox is not the user's.
    :raise ValidationError: when a value is out of bounds; nothing is changed then.
    """
    mailbox = get_mailbox(session, user, mailbox_id)
    if not 1 <= daily_cap <= MAX_DAILY_CAP:
        raise ValidationError(f"the daily cap must be between 1 and {MAX_DAILY_CAP} messages a day")
    days = _window_days(window_days)
    if not (0 <= start_hour <= 24 and 0 <= end_hour <= 24):
        raise ValidationError("sending hours run from 0 to 24 (24 is midnight, the end of the day)")
    if start_hour >= end_hour:
        raise ValidationError(
            f"the sending hours must start before they end; from {start_hour} "
            f"until {end_hour} leaves no time to send"
        )
    limit = MAX_GAP_SECONDS // 60
    for seconds in (min_gap_seconds, max_gap_seconds):
        if not 0 <= seconds <= MAX_GAP_SECONDS:
            raise ValidationError(f"the gap between messages must be between 0 and {limit} minutes")
    if min_gap_seconds > max_gap_seconds:
        raise ValidationError("the shortest gap between messages cannot be longer than the longest")
    mailbox.daily_cap = daily_cap
    mailbox.window_days = days
    mailbox.window_start_hour = start_hour
    mailbox.window_end_hour = end_hour
    mailbox.min_gap_seconds = min_gap_seconds
    mailbox.max_gap_seconds = max_gap_seconds
    # A queued message's next try was worked out from the old pace; the send
    # itself re-checks the new one, so making it due early is always safe.
    make_held_messages_due(session, mailbox.id)
    return mailbox


def make_held_messages_due(session: Session, mailbox_id: int, forget_reason: bool = False) -> None:
    """Make the mailbox's queued messages that wait for a later try due at once.

    The send re-checks the pace and the mailbox, so this is always safe.
    `forget_reason` also clears why they waited (a mailbox working again).
    """
    values: dict[str, object] = {"next_attempt_at": None}
    if forget_reason:
        values["waiting_reason"] = None
    session.execute(
        update(Message)
        .where(
            Message.mailbox_id == mailbox_id,
            Message.status == MessageStatus.QUEUED,
            Message.next_attempt_at.is_not(None),
        )
        .values(**values)
        .execution_options(synchronize_session=False)
    )


def primary_mailbox(session: Session, user: User) -> Mailbox | None:
    """The user's real mailbox, the first connected; the sandbox only when it is all they have."""
    mailboxes = list(
        session.scalars(select(Mailbox).where(Mailbox.user_id == user.id).order_by(Mailbox.id))
    )
    real = [mailbox for mailbox in mailboxes if not is_sandbox(mailbox)]
    chosen = real or mailboxes
    return chosen[0] if chosen else None


def mailbox_for(session: Session, user: User, to_address: str) -> Mailbox | None:
    """The mailbox a message to `to_address` goes out from.

    A sandbox contact is written to from the sandbox mailbox and a real person from
    a real one, never the other way round: real mail must not vanish into the
    sandbox, and the sandbox's made-up addresses must not reach a real server.
    """
    return sender_among(mailboxes_of(session, user), to_address)


def mailboxes_of(session: Session, user: User) -> list[Mailbox]:
    """The user's mailboxes, oldest first: read once for a page of many messages."""
    return list(
        session.scalars(select(Mailbox).where(Mailbox.user_id == user.id).order_by(Mailbox.id))
    )


def sender_among(mailboxes: Sequence[Mailbox], to_address: str) -> Mailbox | None:
    """Of `mailboxes` (a user's, oldest first), the one `mailbox_for` would choose."""
    wanted = is_sandbox(to_address)
    return next((mailbox for mailbox in mailboxes if is_sandbox(mailbox) == wanted), None)


# --- the profile's settings (used by update_profile) --------------------------------------

# A month has some twenty business days; a goal beyond this is a typing slip.
MAX_MONTHLY_GOAL = 30


def auto_approvable_kinds() -> tuple[MessageKind, ...]:
    """The kinds of draft a user may choose to send without review, in the cycle's order."""
    return (
        MessageKind.REQUEST,
        MessageKind.FOLLOW_UP,
        MessageKind.CONFIRMATION,
        MessageKind.THANK_YOU,
        MessageKind.KEEP_IN_TOUCH,
    )


def auto_approve_words(kinds: Iterable[MessageKind]) -> str:
    """The stored form of User.auto_approve: the kinds' values, space-separated, in order.

    :raise ValidationError: for a kind that is not a draft we write (a reply, a bounce).
    """
    chosen = set(kinds)
    allowed = auto_approvable_kinds()
    for kind in chosen:
        if kind not in allowed:
            raise ValidationError(f"'{kind.value}' is not a kind of draft that can be approved")
    return " ".join(kind.value for kind in allowed if kind in chosen)


def check_time_zone(name: str) -> str:
    """The IANA name, trimmed.

    :raise ValidationError: when this machine does not know the zone.
    """
    zone = name.strip()
    if zone not in known_time_zones():
        raise ValidationError(
            f"'{zone}' is not a time zone we know; choose one from the list, "
            "such as Europe/London or America/New_York"
        )
    return zone


def check_holidays(text: str) -> str:
    """Holidays as stored: the user's lines (comments kept), blank lines dropped.

    Every line that is not a date is named, so all can be fixed at once.

    :raise ValidationError: naming each line that is not a date written as year-month-day.
    """
    lines = [line.strip() for line in text.splitlines()]
    bad: list[tuple[int, str]] = []
    for number, line in enumerate(lines, start=1):
        try:
            parse_holidays(line)
        except ValidationError:
            bad.append((number, line))
    if len(bad) == 1:
        number, line = bad[0]
        raise ValidationError(
            f"line {number} of your holidays, '{line}', is not a date written as "
            "year-month-day, such as 2026-12-25"
        )
    if bad:
        numbers = ", ".join(str(number) for number, _ in bad[:-1]) + f" and {bad[-1][0]}"
        quoted = ", ".join(f"'{line}'" for _, line in bad)
        raise ValidationError(
            f"lines {numbers} of your holidays ({quoted}) are not dates written as "
            "year-month-day, such as 2026-12-25"
        )
    return "\n".join(line for line in lines if line)
