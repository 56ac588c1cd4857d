"""Every POST needs the form's CSRF token; without it nothing changes."""

from __future__ import annotations

from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from outreach.crypto import SecretBox
from outreach.models import Contact, Message, MessageStatus, User
from tests.factories import make_contact, make_mailbox
from tests.web.conftest import Browser, csrf_token_in, start_target


def test_csrf_protection_is_on(app: Flask) -> None:
    assert app.config.get("WTF_CSRF_ENABLED", True) is True
    assert "csrf" in app.extensions


def test_a_post_without_token_is_refused_and_changes_nothing(
    signed_in: Browser, session: Session
) -> None:
    response = signed_in.client.post(
        "/contacts", data={"name": "Eve Example", "email": "eve@example.org"}
    )

    assert response.status_code == 400
    assert "This form was out of date" in response.get_data(as_text=True)
    assert session.scalar(select(func.count()).select_from(Contact)) == 0


def test_a_post_with_a_forged_token_is_refused(signed_in: Browser, session: Session) -> None:
    response = signed_in.client.post(
        "/contacts",
        data={"name": "Eve Example", "email": "eve@example.org", "csrf_token": "forged"},
    )

    assert response.status_code == 400
    assert session.scalar(select(func.count()).select_from(Contact)) == 0


def test_approve_without_token_leaves_the_draft(
    signed_in: Browser, user: User, session: Session, secret_box: SecretBox
) -> None:
    make_mailbox(session, user, secret_box)
    _, [draft] = start_target(session, user, [make_contact(session, user)])
    session.commit()

    response = signed_in.client.post(f"/drafts/{draft.id}/approve")

    assert response.status_code == 400
    session.expire_all()
    assert session.get(Message, draft.id).status is MessageStatus.DRAFT  # type: ignore[union-attr]


def test_logout_without_token_keeps_you_logged_in(signed_in: Browser) -> None:
    assert signed_in.client.post("/logout").status_code == 400
    assert signed_in.get("/").status_code == 200


def test_a_token_from_another_session_is_refused(
    app: Flask, signed_in: Browser, session: Session
) -> None:
    stranger = Browser(app.test_client())
    foreign_token = csrf_token_in(stranger.page("/login"))

    response = signed_in.client.post(
        "/contacts",
        data={"name": "Eve Example", "email": "eve@example.org", "csrf_token": foreign_token},
    )

    assert response.status_code == 400
    assert session.scalar(select(func.count()).select_from(Contact)) == 0
