"""The admin's page: invitations and who is an adviser; to anyone else it does not exist."""

from __future__ import annotations

import html
import logging
import re

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from outreach import signup
from outreach.clock import now
from outreach.models import Role, SignupInvite, User
from tests.factories import make_user
from tests.web.conftest import PASSWORD, Browser, csrf_token_in

ADMIN_PATHS = [
    ("GET", "/admin"),
    ("POST", "/admin/invites"),
    ("POST", "/admin/invites/{invite}/revoke"),
    ("POST", "/admin/accounts/{account}/role"),
]


def person(session: Session, name: str, role: Role = Role.STUDENT) -> User:
    user = make_user(session, name=name, password=PASSWORD)
    user.role = role
    session.commit()
    return user


@pytest.fixture
def admin(session: Session) -> User:
    return person(session, "Ann Admin", Role.ADMIN)


@pytest.fixture
def as_admin(browser: Browser, admin: User) -> Browser:
    assert browser.login(admin.email).status_code == 302
    return browser


def test_an_admin_makes_an_advisers_link_seen_once_and_the_link_makes_an_adviser(
    as_admin: Browser, app: Flask, session: Session
) -> None:
    made = as_admin.post(
        "/admin/invites",
        {"email": "Ada@Uni.example", "role": "adviser", "days": "5"},
        page="/admin",
    )
    assert made.status_code == 200
    page = made.get_data(as_text=True)
    link = re.search(r'id="invite-link"[^>]*value="([^"]+)"', page)
    assert link is not None and "/signup?invite=" in link.group(1)
    invite = session.scalars(select(SignupInvite)).one()
    assert (invite.email, invite.role) == ("ada@uni.example", Role.ADVISER)
    # Shown once: the page afterwards lists the invitation but has no link to show.
    later = as_admin.page("/admin")
    assert "ada@uni.example" in later and link.group(1) not in later

    newcomer = Browser(app.test_client())
    token = link.group(1).split("invite=")[1]
    form = {"name": "Ada", "email": "ada@uni.example", "password": "a long passphrase"}
    answer = newcomer.post("/signup", {**form, "invite": token}, page="/signup")
    assert answer.status_code == 303
    assert session.scalar(select(User.role).where(User.email == "ada@uni.example")) == Role.ADVISER
    assert "used" in as_admin.page("/admin")


def test_an_admin_cannot_invite_an_admin_and_a_bad_address_says_why(
    as_admin: Browser, session: Session
) -> None:
    admin_role = as_admin.post(
        "/admin/invites", {"email": "e@uni.example", "role": "admin", "days": "5"}, page="/admin"
    )
    bad = as_admin.post(
        "/admin/invites", {"email": "not an address", "role": "student", "days": "5"}, page="/admin"
    )
    assert admin_role.status_code == 400
    assert bad.status_code == 400
    assert "is not a valid email address" in html.unescape(bad.get_data(as_text=True))
    assert session.scalar(select(SignupInvite)) is None


def test_an_admin_revokes_a_waiting_invitation(as_admin: Browser, session: Session) -> None:
    made = signup.create_invite(session, "robin@uni.example", now())
    session.commit()
    assert 'data-state="waiting"' in as_admin.page("/admin")
    revoked = as_admin.post(f"/admin/invites/{made.invite.id}/revoke", page="/admin")
    assert revoked.status_code == 302
    session.refresh(made.invite)
    assert made.invite.revoked_at is not None
    page = as_admin.page("/admin")
    assert "its link stops working" in page
    assert 'data-state="revoked"' in page
    assert as_admin.post("/admin/invites/999/revoke", page="/admin").status_code == 404


def test_an_admin_makes_a_student_an_adviser_and_back_and_it_is_logged(
    as_admin: Browser, session: Session, admin: User, caplog: pytest.LogCaptureFixture
) -> None:
    robin = person(session, "Robin Student")
    with caplog.at_level(logging.INFO, logger="outreach.roles"):
        made = as_admin.post(f"/admin/accounts/{robin.id}/role", {"role": "adviser"}, page="/admin")
    assert made.status_code == 302
    session.refresh(robin)
    assert robin.role == Role.ADVISER
    assert f"account {admin.id} made account {robin.id} adviser (was student)" in caplog.text
    assert robin.email not in caplog.text
    assert "is now an adviser" in as_admin.page("/admin")
    back = as_admin.post(f"/admin/accounts/{robin.id}/role", {"role": "student"}, page="/admin")
    assert back.status_code == 302
    assert session.scalar(select(User.role).where(User.id == robin.id)) == Role.STUDENT


def test_an_admin_cannot_change_their_own_role_nor_make_an_admin(
    as_admin: Browser, session: Session, admin: User
) -> None:
    robin = person(session, "Robin Student")
    own = as_admin.post(f"/admin/accounts/{admin.id}/role", {"role": "student"}, page="/admin")
    assert own.status_code == 302
    assert "You cannot change your own role" in html.unescape(as_admin.page("/admin"))
    to_admin = as_admin.post(f"/admin/accounts/{robin.id}/role", {"role": "admin"}, page="/admin")
    assert to_admin.status_code == 400
    session.refresh(admin)
    session.refresh(robin)
    assert (admin.role, robin.role) == (Role.ADMIN, Role.STUDENT)
    assert as_admin.post("/admin/accounts/999/role", {"role": "adviser"}).status_code == 404


def test_the_navigation_shows_admin_to_admins_only(
    as_admin: Browser, app: Flask, session: Session
) -> None:
    assert 'href="/admin"' in as_admin.page("/")
    for role in (Role.STUDENT, Role.ADVISER):
        other = Browser(app.test_client())
        other.login(person(session, f"Someone {role.value}", role).email)
        assert 'href="/admin"' not in other.page("/")


@pytest.mark.parametrize("role", [Role.STUDENT, Role.ADVISER])
def test_a_student_or_adviser_finds_no_admin_page(
    app: Flask, session: Session, admin: User, role: Role
) -> None:
    made = signup.create_invite(session, "robin@uni.example", now())
    someone = person(session, f"Sam {role.value}", role)
    browser = Browser(app.test_client())
    browser.login(someone.email)
    token = csrf_token_in(browser.page("/"))
    for method, path in ADMIN_PATHS:
        url = path.format(invite=made.invite.id, account=someone.id)
        form = {"csrf_token": token, "email": "x@uni.example", "role": "adviser", "days": "5"}
        client = browser.client
        response = client.get(url) if method == "GET" else client.post(url, data=form)
        assert response.status_code == 404, f"{method} {url}"
    session.refresh(someone)
    session.refresh(made.invite)
    assert someone.role == role and made.invite.revoked_at is None
    assert session.scalars(select(SignupInvite)).all() == [made.invite]


def test_anonymous_is_sent_to_log_in_and_a_post_without_token_is_refused(
    browser: Browser, as_admin: Browser, app: Flask, session: Session
) -> None:
    anonymous = Browser(app.test_client())
    for method, path in ADMIN_PATHS:
        url = path.format(invite=1, account=1)
        response = anonymous.client.get(url) if method == "GET" else anonymous.client.post(url)
        assert response.status_code in (302, 303), f"{method} {url}"
        assert "/login" in response.headers["Location"]
    no_token = as_admin.client.post(
        "/admin/invites", data={"email": "x@uni.example", "role": "student", "days": "5"}
    )
    assert no_token.status_code == 400
    assert session.scalar(select(SignupInvite)) is None
