"""Who may create an account in the dashboard, and the one-time invitations that let them.

OUTREACH_SIGNUP says it: `open` (anyone who reaches the dashboard), `invite` (a
link made by an admin, with `outreach invite create` or on the admin page), or
`closed` (accounts are made with `outreach user create` only). An invitation says
the account's role, student or adviser; in the open mode a link still works, so an
admin can invite an adviser there too.

Signing up never tells whether an address already has an account: both end
with the same answer, after the same Argon2 work, and no account is signed in
(docs/decisions/0013-sign-up-without-enumeration.md).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from outreach.accounts import (
    MIN_PASSWORD_LENGTH,
    check_time_zone,
    create_user,
    hash_and_forget,
    normalise_email,
)
from outreach.errors import NotFound, ValidationError
from outreach.models import Role, SignupInvite, User

OPEN, INVITE, CLOSED = "open", "invite", "closed"
DEFAULT_INVITE_DAYS = 7
MAX_INVITE_DAYS = 90
# The roles an invitation may give; an admin is made on the machine itself (`outreach user`).
INVITABLE_ROLES = (Role.STUDENT, Role.ADVISER)


class SignupClosed(ValidationError):
    """This Outreach makes no accounts from the dashboard."""


class InviteProblem(ValidationError):
    """An invitation link that cannot be used: the message says why."""


@dataclass(frozen=True)
class NewInvite:
    invite: SignupInvite
    token: str  # shown once, in the link; only its hash is stored

    def link(self, public_url: str) -> str:
        return f"{public_url.rstrip('/')}/signup?invite={self.token}"


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def invite_state(invite: SignupInvite, now: datetime) -> str:
    """The invitation's state: waiting, used, revoked or expired."""
    if invite.used_at is not None:
        return "used"
    if invite.revoked_at is not None:
        return "revoked"
    if invite.expires_at <= now:
        return "expired"
    return "waiting"


def create_invite(
    session: Session,
    email: str,
    now: datetime,
    days: int = DEFAULT_INVITE_DAYS,
    role: Role = Role.STUDENT,
) -> NewInvite:
    """A new invitation for `email`, valid `days` days, making an account with `role`.

    The token is returned, never stored.

    :raise ValidationError: when the address is no address, `days` out of bounds, or
        the role is admin.
    """
    address = normalise_email(email)
    if not 1 <= days <= MAX_INVITE_DAYS:
        raise ValidationError(f"an invitation lasts from 1 to {MAX_INVITE_DAYS} days, not {days}")
    if role not in INVITABLE_ROLES:
        raise ValidationError(
            "an invitation makes a student or an adviser; an admin is made on the server "
            "with `outreach user create --role admin`"
        )
    token = secrets.token_urlsafe(32)
    invite = SignupInvite(
        token_hash=_hash(token),
        email=address,
        created_at=now,
        expires_at=now + timedelta(days=days),
        role=role,
    )
    session.add(invite)
    session.flush()
    return NewInvite(invite, token)


def list_invites(session: Session) -> list[SignupInvite]:
    return list(session.scalars(select(SignupInvite).order_by(SignupInvite.id)))


def revoke_invites(session: Session, which: str, now: datetime) -> list[SignupInvite]:
    """Revoke the invitation with id `which`, or every waiting one for the address `which`.

    :raise NotFound: when nothing waiting matches.
    """
    if which.strip().isdigit():
        found = session.get(SignupInvite, int(which))
        candidates = [found] if found is not None else []
    else:
        address = normalise_email(which)
        candidates = list(
            session.scalars(select(SignupInvite).where(SignupInvite.email == address))
        )
    waiting = [invite for invite in candidates if invite_state(invite, now) == "waiting"]
    if not waiting:
        raise NotFound(f"no invitation waiting to be used matches '{which.strip()}'")
    for invite in waiting:
        invite.revoked_at = now
    session.flush()
    return waiting


def find_invite(session: Session, token: str, now: datetime) -> SignupInvite:
    """The waiting invitation a link's token names.

    :raise InviteProblem: when it is unknown, used, revoked or expired.
    """
    invite = session.scalar(select(SignupInvite).where(SignupInvite.token_hash == _hash(token)))
    state = "unknown" if invite is None else invite_state(invite, now)
    if invite is None or state != "waiting":
        raise InviteProblem(
            {
                "used": "this invitation link has been used already; log in with the account "
                "it made",
                "expired": "this invitation link has expired",
            }.get(state, "this invitation link is not valid (it may have been withdrawn)")
        )
    return invite


def browser_time_zone(name: str) -> str | None:
    """The IANA zone a browser reported, when this machine knows it; else None."""
    try:
        return check_time_zone(name)
    except ValidationError:
        return None


@dataclass(frozen=True)
class SignupAnswer:
    """What a sign-up shows, the same whether the address was new or not."""

    email: str
    # The new account, for the caller's records only: never shown, never signed in.
    created: User | None


def sign_up(
    session: Session,
    *,
    mode: str,
    email: str,
    name: str,
    password: str,
    invite_token: str,
    now: datetime,
    time_zone: str = "",
) -> SignupAnswer:
    """Create an account from the dashboard's sign-up form, as `mode` allows.

    An address that has an account already is answered like a new one, after the
    same password hashing, and the existing account is left as it was.

    `time_zone` is the browser's (the page fills it in); a zone this machine does
    not know leaves the account in UTC rather than refusing a person who never saw
    the field. The profile shows it and changes it.

    :raise SignupClosed: in the closed mode.
    :raise InviteProblem: when the link cannot be used (the invite mode needs one; the
        open mode follows one when given).
    :raise ValidationError: for a missing name, an invalid address or a short password.
    """
    if mode == CLOSED:
        raise SignupClosed("sign-up is closed on this Outreach")
    # In the open mode a link is optional, but one that was followed must be good: a
    # stale adviser's link must not quietly make a student.
    follows_link = mode == INVITE or bool(invite_token.strip())
    invite = find_invite(session, invite_token, now) if follows_link else None
    address = invite.email if invite is not None else normalise_email(email)
    if not name.strip():
        raise ValidationError("please give your name; it signs your emails")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationError(f"the password must have at least {MIN_PASSWORD_LENGTH} characters")
    taken = session.scalar(select(func.count()).select_from(User).where(User.email == address))
    if taken:
        # As long as creating one takes; the invitation stays as it was.
        hash_and_forget(password)
        return SignupAnswer(address, None)
    user = create_user(session, address, name, password)
    zone = browser_time_zone(time_zone)
    if zone is not None:
        user.time_zone = zone
    if invite is not None:
        user.role = invite.role
        claimed = session.execute(
            update(SignupInvite)
            .where(
                SignupInvite.id == invite.id,
                SignupInvite.used_at.is_(None),
                SignupInvite.revoked_at.is_(None),
            )
            .values(used_at=now, user_id=user.id)
            .execution_options(synchronize_session=False)
        )
        # Two tabs posting one link at once: the second finds it taken.
        if getattr(claimed, "rowcount", 1) != 1:
            raise InviteProblem("this invitation link has been used already")
    return SignupAnswer(address, user)
