"""The profile: name, 30-second introduction and signature, as the drafts use them."""

from __future__ import annotations

from sqlalchemy.orm import Session

from outreach.models import User
from tests.factories import make_contact
from tests.web.conftest import Browser, start_target

INTRODUCTION = "I study marine biology and want to understand how science advice reaches ministers."


def test_profile_shows_and_saves_the_introduction(
    signed_in: Browser, user: User, session: Session
) -> None:
    assert user.introduction in signed_in.page("/profile")

    response = signed_in.post(
        "/profile",
        {"name": "Sam  Student", "introduction": INTRODUCTION, "signature": "Sam\nMSc student"},
        page="/profile",
        follow_redirects=True,
    )

    assert "Your profile is saved." in response.get_data(as_text=True)
    session.refresh(user)
    assert (user.name, user.introduction, user.signature) == (
        "Sam Student",
        INTRODUCTION,
        "Sam\nMSc student",
    )


def test_the_next_request_quotes_the_introduction(
    signed_in: Browser, user: User, session: Session
) -> None:
    signed_in.post(
        "/profile",
        {"name": user.name, "introduction": INTRODUCTION, "signature": user.name},
        page="/profile",
    )
    session.refresh(user)
    _, [draft] = start_target(session, user, [make_contact(session, user)])
    session.commit()

    assert draft.error is None
    assert INTRODUCTION in signed_in.page("/drafts")


def test_a_profile_needs_a_name(signed_in: Browser, user: User, session: Session) -> None:
    response = signed_in.post(
        "/profile", {"name": "", "introduction": "x", "signature": ""}, page="/profile"
    )

    assert response.status_code == 400
    session.refresh(user)
    assert user.name.startswith("Sam Student")
