"""Reports on the web: a student hands in from the notes page; the adviser reads, prints
and comments; the student sees the comment. Each page checks whose it is."""

from __future__ import annotations

import html
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from outreach import cohorts
from outreach.crypto import SecretBox
from outreach.models import Cohort, Meeting, SubmittedReport, User
from tests.cohort_world import REPORT_PRIVATE_WORDS, REPORTED_WORDS, seed_busy_student
from tests.conftest import NOW
from tests.factories import make_user
from tests.web.conftest import PASSWORD, Browser
from tests.web.test_cohorts_views import adviser


def cohort_with_student(
    session: Session, box: SecretBox, due_in_days: int = 3
) -> tuple[User, User, Cohort, Meeting]:
    ada = adviser(session)
    due = datetime.now(UTC).date() + timedelta(days=due_in_days)
    cohort = cohorts.create_cohort(session, ada, "Careers 101", due=due)
    sam = make_user(session, name="Sam Student", password=PASSWORD)
    meeting = seed_busy_student(session, sam, box, NOW)
    cohorts.join_cohort(session, sam, cohort.code, NOW)
    session.commit()
    return ada, sam, cohort, meeting


def hand_in(browser: Browser, meeting: Meeting, cohort: Cohort) -> str:
    notes = f"/meetings/{meeting.id}/notes"
    response = browser.post(
        f"/meetings/{meeting.id}/report", {"cohort_id": str(cohort.id)}, page=notes
    )
    assert response.status_code == 302, response.status_code
    return html.unescape(browser.page(response.headers["Location"]))


def test_a_student_hands_in_the_adviser_comments_and_the_student_reads_it(
    browser: Browser, session: Session, secret_box: SecretBox
) -> None:
    ada, sam, cohort, meeting = cohort_with_student(session, secret_box)
    browser.login(sam.email)
    notes = html.unescape(browser.page(f"/meetings/{meeting.id}/notes"))
    assert "Report to your cohort" in notes and "Hand in the report" in notes
    handed = hand_in(browser, meeting, cohort)
    assert "Your report is in: Careers 101's adviser can read it now." in handed
    assert "Hand in again" in handed
    report = session.scalars(select(SubmittedReport)).one()
    assert not report.late
    browser.logout()

    browser.login(ada.email)
    listing = html.unescape(browser.page(f"/cohorts/{cohort.id}"))
    assert "Sam Student: Zanzibar-Curator at Hushcorp" in listing
    page_url = f"/cohorts/{cohort.id}/reports/{report.id}"
    page = html.unescape(browser.page(page_url))
    for word in REPORTED_WORDS:
        assert word in page, word
    for word in REPORT_PRIVATE_WORDS:
        assert word.lower() not in page.lower(), word
    assert "Print command" in page
    saved = browser.post(
        f"{page_url}/comment", {"comment": "Good questions <b>here</b>."}, page=page_url
    )
    assert saved.status_code == 302
    assert "Good questions &lt;b&gt;here&lt;/b&gt;." in browser.page(page_url)
    browser.logout()

    browser.login(sam.email)
    notes = html.unescape(browser.page(f"/meetings/{meeting.id}/notes"))
    assert "Your adviser's comment" in notes and "Good questions <b>here</b>." in notes
    mine = html.unescape(browser.page("/cohorts"))
    assert "Reports you handed in" in mine and "Your adviser: Good questions <b>here</b>." in mine


def test_the_cohort_report_counts_handed_in_reports(
    browser: Browser, session: Session, secret_box: SecretBox
) -> None:
    ada, sam, cohort, meeting = cohort_with_student(session, secret_box)
    browser.login(sam.email)
    hand_in(browser, meeting, cohort)
    hand_in(browser, meeting, cohort)  # a resubmission replaces, it does not add
    browser.logout()
    browser.login(ada.email)
    text = browser.get(f"/cohorts/{cohort.id}/export.csv").get_data(as_text=True)
    assert f"{sam.email},Sam Student,yes,3,2,1,1," in text


def test_after_the_due_date_a_first_report_is_late_and_cannot_be_replaced(
    browser: Browser, session: Session, secret_box: SecretBox
) -> None:
    ada, sam, cohort, meeting = cohort_with_student(session, secret_box, due_in_days=-1)
    browser.login(sam.email)
    handed = hand_in(browser, meeting, cohort)
    assert "It was handed in after the due date and is marked late." in handed
    assert "this report can no longer be replaced" in handed
    refused = hand_in(browser, meeting, cohort)
    assert "has passed: the report you submitted can no longer be replaced." in refused
    browser.logout()
    browser.login(ada.email)
    report = session.scalars(select(SubmittedReport)).one()
    page = browser.page(f"/cohorts/{cohort.id}/reports/{report.id}")
    assert 'id="late-mark"' in page


def test_nobody_reaches_another_cohorts_reports_or_meetings(
    browser: Browser, session: Session, secret_box: SecretBox
) -> None:
    ada, sam, cohort, meeting = cohort_with_student(session, secret_box)
    bea = adviser(session, "Bea Adviser")
    theirs = cohorts.create_cohort(session, bea, "Careers 201")
    olly = make_user(session, name="Olly Outsider", password=PASSWORD)
    cohorts.join_cohort(session, olly, theirs.code, NOW)
    session.commit()
    browser.login(sam.email)
    hand_in(browser, meeting, cohort)
    report = session.scalars(select(SubmittedReport)).one()
    # A cohort Sam is not in.
    other = browser.post(
        f"/meetings/{meeting.id}/report", {"cohort_id": str(theirs.id)}, page="/cohorts"
    )
    assert other.status_code == 404
    # A student cannot read the adviser's page of their own report.
    assert browser.get(f"/cohorts/{cohort.id}/reports/{report.id}").status_code == 404
    browser.logout()

    browser.login(olly.email)
    # Someone else's meeting, into Olly's own cohort.
    stolen = browser.post(
        f"/meetings/{meeting.id}/report", {"cohort_id": str(theirs.id)}, page="/cohorts"
    )
    assert stolen.status_code == 404
    browser.logout()

    browser.login(bea.email)
    for path in (
        f"/cohorts/{cohort.id}/reports/{report.id}",
        f"/cohorts/{theirs.id}/reports/{report.id}",
    ):
        assert browser.get(path).status_code == 404, path
        assert (
            browser.post(f"{path}/comment", {"comment": "mine"}, page="/cohorts").status_code == 404
        ), path
    session.expire_all()
    assert session.get_one(SubmittedReport, report.id).comment == ""
    assert (
        session.scalar(select(SubmittedReport).where(SubmittedReport.cohort_id == theirs.id))
        is None
    )


def test_handing_in_needs_the_csrf_token(
    browser: Browser, session: Session, secret_box: SecretBox
) -> None:
    _, sam, cohort, meeting = cohort_with_student(session, secret_box)
    browser.login(sam.email)
    response = browser.client.post(
        f"/meetings/{meeting.id}/report", data={"cohort_id": str(cohort.id)}
    )
    assert response.status_code == 400
    assert session.scalar(select(SubmittedReport)) is None
