"""The profile: name, 30-second introduction and signature, as the drafts use them; time zone."""

from __future__ import annotations

import re
from typing import Any
from zoneinfo import available_timezones

from sqlalchemy.orm import Session

from outreach.crypto import SecretBox
from outreach.drafts import approve
from outreach.models import User
from outreach.sending import record_sent
from tests.conftest import NOW
from tests.factories import make_contact, make_mailbox
from tests.web.conftest import Browser, csrf_token_in, start_target

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


# --- holidays, drafts sent without review, the monthly goal ------------------------------------


def full_profile(user: User, **changes: Any) -> dict[str, Any]:
    """Everything the page's form posts, with `changes`."""
    form: dict[str, Any] = {
        **profile_of(user),
        "time_zone": user.time_zone,
        "holidays": user.holidays,
        "auto_approve_shown": "1",
        "monthly_goal": str(user.monthly_goal),
    }
    form.update(changes)
    return form


def field_block(page: str, name: str) -> str:
    found = re.search(rf'<div class="field[^"]*">\s*<label for="{name}">.*?</div>', page, re.S)
    assert found is not None, name
    return found.group(0)


def test_holidays_are_saved_one_per_line_with_notes(
    signed_in: Browser, user: User, session: Session
) -> None:
    holidays = "2026-12-24  # Christmas Eve\r\n\r\n2026-12-25\r\n2026-12-31\r\n"

    response = signed_in.post(
        "/profile", full_profile(user, holidays=holidays), page="/profile", follow_redirects=True
    )

    assert "Your profile is saved." in response.get_data(as_text=True)
    session.refresh(user)
    assert user.holidays == "2026-12-24  # Christmas Eve\n2026-12-25\n2026-12-31"
    assert "2026-12-24  # Christmas Eve\n2026-12-25" in signed_in.page("/profile")


def test_holiday_lines_that_are_not_dates_are_named_by_the_field(
    signed_in: Browser, user: User, session: Session
) -> None:
    response = signed_in.post(
        "/profile",
        full_profile(user, holidays="2026-12-24\nChristmas\n2026-12-31\n31/12/2026"),
        page="/profile",
    )

    assert response.status_code == 400
    block = field_block(response.get_data(as_text=True), "holidays")
    assert (
        "Lines 2 and 4 of your holidays (&#39;Christmas&#39;, &#39;31/12/2026&#39;) are not "
        "dates written as year-month-day, such as 2026-12-25."
    ) in block
    # What was typed stays in the box, to be corrected.
    assert "Christmas\n2026-12-31" in block
    session.refresh(user)
    assert user.holidays == ""


def test_one_bad_holiday_line_is_quoted(signed_in: Browser, user: User) -> None:
    response = signed_in.post(
        "/profile", full_profile(user, holidays="2026-02-30"), page="/profile"
    )

    assert response.status_code == 400
    assert (
        "Line 1 of your holidays, &#39;2026-02-30&#39;, is not a date written as year-month-day"
        in field_block(response.get_data(as_text=True), "holidays")
    )


def test_an_unknown_time_zone_is_reported_by_its_field(signed_in: Browser, user: User) -> None:
    response = signed_in.post(
        "/profile", full_profile(user, time_zone="Europe/Atlantis"), page="/profile"
    )

    assert response.status_code == 400
    assert "&#39;Europe/Atlantis&#39; is not a time zone we know" in field_block(
        response.get_data(as_text=True), "time_zone"
    )


def test_kinds_of_draft_sent_without_review_are_ticked_and_saved(
    signed_in: Browser, user: User, session: Session
) -> None:
    page = signed_in.page("/profile")
    assert "Drafts of the kinds you tick go out without you reading them first." in page
    assert not re.search(r'<input checked[^>]*name="auto_approve"', page)

    signed_in.post(
        "/profile",
        full_profile(user, auto_approve=["thank_you", "follow_up", "bounce"]),
        page="/profile",
    )

    session.refresh(user)
    # Kept in the cycle's order; a kind that is no draft is ignored.
    assert user.auto_approve == "follow_up thank_you"
    page = signed_in.page("/profile")
    ticked = re.findall(
        r'<input checked id="auto_approve-\d" name="auto_approve"[^>]*value="(\w+)"', page
    )
    assert ticked == ["follow_up", "thank_you"]

    # Nothing ticked: every draft waits for review again.
    signed_in.post("/profile", full_profile(user), page="/profile")
    session.refresh(user)
    assert user.auto_approve == ""


def test_an_older_form_without_the_new_settings_keeps_them(
    signed_in: Browser, user: User, session: Session
) -> None:
    user.auto_approve = "thank_you"
    user.holidays = "2026-12-25"
    user.monthly_goal = 3
    session.commit()

    signed_in.post("/profile", profile_of(user), page="/profile")

    session.refresh(user)
    assert (user.auto_approve, user.holidays, user.monthly_goal) == ("thank_you", "2026-12-25", 3)


def test_the_monthly_goal_is_saved_and_checked(
    signed_in: Browser, user: User, session: Session
) -> None:
    signed_in.post("/profile", full_profile(user, monthly_goal="4"), page="/profile")
    session.refresh(user)
    assert user.monthly_goal == 4

    for wrong in ("0", "31", "many"):
        response = signed_in.post(
            "/profile", full_profile(user, monthly_goal=wrong), page="/profile"
        )
        assert response.status_code == 400, wrong
        block = field_block(response.get_data(as_text=True), "monthly_goal")
        assert "field-error" in block, wrong
    session.refresh(user)
    assert user.monthly_goal == 4


def test_the_profile_form_needs_its_token(signed_in: Browser, user: User, session: Session) -> None:
    page = signed_in.page("/profile")
    form = page.split('id="profile-form"')[1].split("</form>")[0]
    assert csrf_token_in(form)

    response = signed_in.client.post("/profile", data=full_profile(user, monthly_goal="9"))

    assert response.status_code == 400
    session.refresh(user)
    assert user.monthly_goal == 1


def test_usual_free_times_are_saved_and_a_line_that_cannot_be_read_is_named(
    signed_in: Browser, user: User, session: Session
) -> None:
    base = {"name": user.name, "introduction": "", "signature": ""}
    response = signed_in.post(
        "/profile", base | {"free_times": "Mon-Fri 12:30-13:30\nat lunch"}, page="/profile"
    )

    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "&#39;at lunch&#39; is not read as free time" in page
    session.refresh(user)
    assert user.free_times == ""

    signed_in.post(
        "/profile",
        base | {"free_times": " Mon-Fri 12:30-13:30 \r\n\r\nTue 16:00-18:00"},
        page="/profile",
    )
    session.refresh(user)
    assert user.free_times == "Mon-Fri 12:30-13:30\nTue 16:00-18:00"
    # A form without the field (an older page) keeps what was saved.
    signed_in.post("/profile", base, page="/profile")
    session.refresh(user)
    assert user.free_times == "Mon-Fri 12:30-13:30\nTue 16:00-18:00"
