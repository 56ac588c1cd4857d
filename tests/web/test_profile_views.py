"""The profile: name, 30-second introduction and signature, as the drafts use them; time zone."""

from __future__ import annotations

import re
from zoneinfo import available_timezones

from sqlalchemy.orm import Session

from outreach.crypto import SecretBox
from outreach.drafts import approve
from outreach.models import User
from outreach.sending import record_sent
from tests.conftest import NOW
from tests.factories import make_contact, make_mailbox
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


def test_the_time_zone_is_a_sorted_list_with_the_users_own_chosen(
    signed_in: Browser, user: User, session: Session
) -> None:
    user.time_zone = "Europe/Lisbon"
    session.commit()

    page = signed_in.page("/profile")

    select = re.search(r'<select[^>]*name="time_zone"[^>]*>(.*?)</select>', page, re.S)
    assert select is not None
    names = re.findall(r'<option[^>]*value="([^"]+)"', select.group(1))
    assert names == sorted(available_timezones())
    assert re.search(r'<option selected value="Europe/Lisbon">', select.group(1))


def test_the_time_zone_is_saved_and_used_for_the_outbox(
    signed_in: Browser, user: User, session: Session, secret_box: SecretBox
) -> None:
    make_mailbox(session, user, secret_box)
    _, [draft] = start_target(session, user, [make_contact(session, user)])
    record_sent(session, approve(session, user, draft.id, NOW).id, NOW)
    session.commit()

    response = signed_in.post(
        "/profile",
        {**profile_of(user), "time_zone": "Asia/Kolkata"},
        page="/profile",
        follow_redirects=True,
    )

    assert "Your profile is saved." in response.get_data(as_text=True)
    session.refresh(user)
    assert user.time_zone == "Asia/Kolkata"
    outbox = signed_in.page("/outbox")
    assert "Times are in your time zone, Asia/Kolkata" in outbox
    # NOW is 09:30 UTC, 15:00 in India.
    assert "24 Nov 2026, 15:00" in outbox


def test_an_unknown_time_zone_is_refused(signed_in: Browser, user: User, session: Session) -> None:
    response = signed_in.post(
        "/profile", {**profile_of(user), "time_zone": "Mars/Olympus_Mons"}, page="/profile"
    )

    assert response.status_code == 400
    assert "&#39;Mars/Olympus_Mons&#39; is not a time zone we know" in response.get_data(
        as_text=True
    )
    session.refresh(user)
    assert user.time_zone == "UTC"


def test_a_form_without_a_time_zone_keeps_the_one_saved(
    signed_in: Browser, user: User, session: Session
) -> None:
    user.time_zone = "Europe/Oslo"
    session.commit()

    signed_in.post("/profile", profile_of(user), page="/profile")

    session.refresh(user)
    assert user.time_zone == "Europe/Oslo"


def profile_of(user: User) -> dict[str, str]:
    return {"name": user.name, "introduction": user.introduction, "signature": user.signature}
