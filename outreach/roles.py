"""Who runs cohorts: an admin makes an account an adviser, or a student again.

Only an admin may change a role, and never their own: a slip would lock them out of
this page, and so the admin acting always remains, and the deployment is never left
without one. An admin is made on the server itself
(`outreach user create --role admin`), not here: the dashboard offers student and
adviser only. Each change is logged with both accounts' ids and the roles, nothing
else, as the record of who made whom an adviser.
"""

from __future__ import annotations

import logging

from sqlalchemy import select
from sqlalchemy.orm import Session

from outreach.errors import NotFound, ValidationError
from outreach.models import Role, User

log = logging.getLogger(__name__)

# What the admin page may set an account to.
ASSIGNABLE_ROLES = (Role.STUDENT, Role.ADVISER)


def is_admin(user: User) -> bool:
    return user.role == Role.ADMIN


def require_admin(user: User) -> None:
    """:raise NotFound: for anyone but an admin, as if the admin's pages did not exist."""
    if not is_admin(user):
        raise NotFound("no such page")


def accounts(session: Session, admin: User) -> list[User]:
    """Every account of the deployment, admins first, then advisers, then students."""
    require_admin(admin)
    order = {Role.ADMIN: 0, Role.ADVISER: 1, Role.STUDENT: 2}
    found = session.scalars(select(User).order_by(User.email))
    return sorted(found, key=lambda user: order[user.role])


def set_role(session: Session, admin: User, user_id: int, role: Role) -> User:
    """Make the account `user_id` a student or an adviser.

    An adviser made a student keeps their cohorts' rows, unseen until they are an
    adviser again; their students keep their consent.

    :raise NotFound: when `admin` is no admin, or there is no such account.
    :raise ValidationError: for the admin's own account, or the role admin.
    """
    require_admin(admin)
    user = session.get(User, user_id)
    if user is None:
        raise NotFound("no such account")
    if role not in ASSIGNABLE_ROLES:
        raise ValidationError(
            "the admin page makes a student or an adviser; an admin is made on the server "
            "with `outreach user create --role admin`"
        )
    if user.id == admin.id:
        raise ValidationError("you cannot change your own role; another admin can")
    if user.role != role:
        log.info(
            "account %s made account %s %s (was %s)",
            admin.id,
            user.id,
            role.value,
            user.role.value,
        )
        user.role = role
        session.flush()
    return user
