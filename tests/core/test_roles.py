"""Who may make whom an adviser: admins only, never their own role, never the last admin."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from outreach import roles
from outreach.errors import NotFound, ValidationError
from outreach.models import Role, User
from tests.factories import make_user


def person(session: Session, role: Role) -> User:
    user = make_user(session)
    user.role = role
    session.flush()
    return user


def test_an_admin_makes_a_student_an_adviser_and_back(session: Session) -> None:
    admin, robin = person(session, Role.ADMIN), person(session, Role.STUDENT)
    assert roles.set_role(session, admin, robin.id, Role.ADVISER).role == Role.ADVISER
    assert roles.set_role(session, admin, robin.id, Role.STUDENT).role == Role.STUDENT


@pytest.mark.parametrize("role", [Role.STUDENT, Role.ADVISER])
def test_only_an_admin_changes_roles_and_to_others_there_is_nothing(
    session: Session, role: Role
) -> None:
    someone, robin = person(session, role), person(session, Role.STUDENT)
    with pytest.raises(NotFound):
        roles.set_role(session, someone, robin.id, Role.ADVISER)
    with pytest.raises(NotFound):
        roles.accounts(session, someone)
    assert robin.role == Role.STUDENT


def test_an_admin_keeps_their_own_role_so_an_admin_always_remains(session: Session) -> None:
    first, second = person(session, Role.ADMIN), person(session, Role.ADMIN)
    with pytest.raises(ValidationError, match="cannot change your own role"):
        roles.set_role(session, first, first.id, Role.STUDENT)
    assert roles.set_role(session, first, second.id, Role.STUDENT).role == Role.STUDENT
    with pytest.raises(NotFound):
        roles.set_role(session, second, first.id, Role.STUDENT)
    assert first.role == Role.ADMIN


def test_the_admin_page_never_makes_an_admin(session: Session) -> None:
    admin, robin = person(session, Role.ADMIN), person(session, Role.STUDENT)
    with pytest.raises(ValidationError, match="outreach user create --role admin"):
        roles.set_role(session, admin, robin.id, Role.ADMIN)
    assert roles.accounts(session, admin) == [admin, robin]
