"""An import whose rows lack "how you found them" asks once for all of them (issue 14, item 1)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from outreach.models import Contact, MessageKind, Template, User
from tests.factories import make_contact
from tests.web.conftest import Browser
from tests.web.test_contacts_views import upload

LINKEDIN = (
    "First Name,Last Name,URL,Email Address,Company,Position,Connected On\n"
    "Ada,Lovelace,https://www.linkedin.com/in/ada,ada@engines.example,Engines,Engineer,2 Dec 2026\n"
    "Alan,Turing,https://www.linkedin.com/in/alan,alan@park.example,Park,Analyst,01 Dec 2026\n"
    "Grace,Hopper,https://www.linkedin.com/in/grace,grace@navy.example,Navy,Admiral,01 Dec 2026\n"
)
QUESTION = '<label for="how_found">How did you find these people?</label>'


def how_found_of(session: Session) -> dict[str, str]:
    session.expire_all()
    return {contact.email: contact.how_found for contact in session.scalars(select(Contact))}


def test_the_check_asks_once_and_the_answer_fills_every_row_lacking_it(
    signed_in: Browser, user: User, session: Session
) -> None:
    # Already on the list without it: the answer fills it there too.
    make_contact(session, user, email="grace@navy.example", name="Grace Hopper", how_found="")
    session.commit()
    check_path = upload(signed_in, LINKEDIN)

    page = signed_in.page(check_path)
    assert page.count(QUESTION) == 1
    assert "3 people in this file do not say how you found them" in page

    response = signed_in.post(
        f"{check_path}/run", {"how_found": " my LinkedIn  connections "}, page=check_path
    )

    assert response.status_code == 303
    assert how_found_of(session) == {
        "ada@engines.example": "my LinkedIn connections",
        "alan@park.example": "my LinkedIn connections",
        "grace@navy.example": "my LinkedIn connections",
    }


def test_the_answer_reaches_the_rows_when_the_page_stores_in_steps(
    signed_in: Browser, session: Session
) -> None:
    check_path = upload(signed_in, LINKEDIN)

    answer = signed_in.post(
        f"{check_path}/step", {"how_found": "the alumni network"}, page=check_path
    ).get_json()

    assert answer["finished"] is True
    assert set(how_found_of(session).values()) == {"the alumni network"}


def test_left_empty_the_rows_stay_without_it_and_the_drafts_ask_later(
    signed_in: Browser, session: Session
) -> None:
    check_path = upload(signed_in, LINKEDIN)

    signed_in.post(f"{check_path}/run", {"how_found": ""}, page=check_path)

    assert set(how_found_of(session).values()) == {""}


def test_a_too_long_answer_is_refused_in_words_and_nothing_is_stored(
    signed_in: Browser, session: Session
) -> None:
    check_path = upload(signed_in, LINKEDIN)

    response = signed_in.post(
        f"{check_path}/run", {"how_found": "x" * 301}, page=check_path, follow_redirects=True
    )

    assert "Say how you found them in 300 characters at most." in response.get_data(as_text=True)
    assert how_found_of(session) == {}
    step = signed_in.post(f"{check_path}/step", {"how_found": "x\x00"}, page=check_path)
    assert step.status_code == 400 and "contains a NUL" in step.get_json()["error"]
    assert how_found_of(session) == {}


def test_nothing_is_asked_when_every_row_says_it_or_the_request_does_not_use_it(
    signed_in: Browser, user: User, session: Session
) -> None:
    with_source = "email,name,source\nada@engines.example,Ada Lovelace,a talk\n"
    assert QUESTION not in signed_in.page(upload(signed_in, with_source))

    session.add(
        Template(
            user_id=user.id, kind=MessageKind.REQUEST, subject="Hi", body="Dear {{ first_name }}"
        )
    )
    session.commit()
    assert QUESTION not in signed_in.page(upload(signed_in, LINKEDIN))
