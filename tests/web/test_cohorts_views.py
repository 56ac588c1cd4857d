"""The cohort pages: an adviser creates and reads; a student consents, joins and leaves."""

from __future__ import annotations

import html

from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from outreach import cohorts
from outreach.crypto import SecretBox
from outreach.models import Cohort, CohortMember, Role, User
from tests.cohort_world import PRIVATE_WORDS, seed_busy_student
from tests.conftest import NOW
from tests.factories import make_user
from tests.web.conftest import PASSWORD, Browser


def adviser(session: Session, name: str = "Ada Adviser") -> User:
    user = make_user(session, name=name, password=PASSWORD)
    user.role = Role.ADVISER
    session.commit()
    return user


def test_an_adviser_creates_a_cohort_and_sees_its_code_and_link(
    browser: Browser, session: Session
) -> None:
    ada = adviser(session)
    browser.login(ada.email)
    page = browser.page("/cohorts")
    assert "No cohort yet" in page
    made = browser.post(
        "/cohorts", {"name": "Careers 101", "goal": "3", "due": "2026-12-18"}, page="/cohorts"
    )
    assert made.status_code == 302
    cohort = session.scalars(select(Cohort)).one()
    assert (cohort.name, cohort.goal, cohort.adviser_id) == ("Careers 101", 3, ada.id)
    report = browser.page(made.headers["Location"])
    assert cohort.code in report
    assert f"/cohorts/join?code={cohort.code}" in report
    assert "No student has joined yet" in report
    assert "Careers 101" in browser.page("/cohorts")


def test_a_student_cannot_create_or_read_a_cohort(
    signed_in: Browser, session: Session, user: User
) -> None:
    ada = adviser(session)
    cohort = cohorts.create_cohort(session, ada, "Careers 101")
    session.commit()
    refused = signed_in.post("/cohorts", {"name": "Mine", "goal": "2"}, page="/cohorts")
    assert refused.status_code == 400
    assert "Only an adviser can run cohorts" in html.unescape(refused.get_data(as_text=True))
    assert signed_in.get(f"/cohorts/{cohort.id}").status_code == 404
    assert session.scalar(select(Cohort).where(Cohort.name == "Mine")) is None


def test_an_adviser_cannot_read_another_advisers_cohort(browser: Browser, session: Session) -> None:
    theirs = cohorts.create_cohort(session, adviser(session, "Bea Adviser"), "Careers 101")
    session.commit()
    ada = adviser(session)
    browser.login(ada.email)
    assert browser.get(f"/cohorts/{theirs.id}").status_code == 404
    assert browser.get(f"/cohorts/{theirs.id}/export.csv").status_code == 404
    assert theirs.code not in browser.page("/cohorts")


def test_a_student_consents_joins_and_leaves(
    signed_in: Browser, session: Session, user: User
) -> None:
    ada = adviser(session)
    cohort = cohorts.create_cohort(session, ada, "Careers 101")
    session.commit()
    consent = html.unescape(signed_in.page(f"/cohorts/join?code={cohort.code.lower()}"))
    assert f"{ada.name} ({ada.email}) will see" in consent
    for line in cohorts.CONSENT_LINES:
        assert line in consent
    assert cohorts.CONSENT_NEVER in consent
    # Seeing the page joins nothing.
    assert session.scalar(select(CohortMember)) is None

    joined = signed_in.post(
        "/cohorts/join", {"code": cohort.code}, page=f"/cohorts/join?code={cohort.code}"
    )
    assert joined.status_code == 302
    member = session.scalars(select(CohortMember)).one()
    assert member.user_id == user.id
    assert "Leave and stop sharing" in signed_in.page("/cohorts")

    left = signed_in.post(f"/cohorts/{cohort.id}/leave", page="/cohorts")
    assert left.status_code == 302
    session.expire_all()
    assert session.scalar(select(CohortMember)) is None
    assert "no longer sees your progress" in signed_in.page("/cohorts")


def test_an_unknown_code_says_so(signed_in: Browser) -> None:
    page = signed_in.page("/cohorts/join?code=ZZZZZZZZ")
    assert "No cohort has that join code; check it with your adviser." in html.unescape(page)


def test_joining_needs_the_csrf_token(client: FlaskClient, signed_in: Browser) -> None:
    assert client.post("/cohorts/join", data={"code": "ABCDEFGH"}).status_code == 400


def test_the_adviser_page_shows_counts_and_never_a_contact_or_message_word(
    browser: Browser, session: Session, secret_box: SecretBox
) -> None:
    ada = adviser(session)
    cohort = cohorts.create_cohort(session, ada, "Careers 101")
    student = make_user(session, name="Sam Student")
    seed_busy_student(session, student, secret_box, NOW)
    cohorts.join_cohort(session, student, cohort.code, NOW)
    session.commit()
    browser.login(ada.email)
    page = browser.page(f"/cohorts/{cohort.id}")
    assert "Sam Student" in page and student.email in page
    assert "1 of 2" in page  # meetings held, of the goal
    for word in PRIVATE_WORDS:
        assert word.lower() not in html.unescape(page).lower(), word


def test_the_csv_export_has_a_row_per_student_and_no_formulas(
    browser: Browser, session: Session, secret_box: SecretBox
) -> None:
    ada = adviser(session)
    cohort = cohorts.create_cohort(session, ada, "Careers 101")
    student = make_user(session, name="=HYPERLINK(1)")
    seed_busy_student(session, student, secret_box, NOW)
    cohorts.join_cohort(session, student, cohort.code, NOW)
    session.commit()
    browser.login(ada.email)
    response = browser.get(f"/cohorts/{cohort.id}/export.csv")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    text = response.get_data(as_text=True).lstrip("\ufeff")
    header, row = text.splitlines()
    assert header.split(",") == list(cohorts.CSV_COLUMNS)
    assert row.startswith(f"{student.email},'=HYPERLINK(1),yes,3,2,1,0,")
    for word in PRIVATE_WORDS:
        assert word.lower() not in text.lower(), word
