"""The report's questions: the adviser sets them, the student answers them when handing in,
and the report keeps the answers as they were."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.orm import Session

from outreach import cohort_reports, cohorts
from outreach.crypto import SecretBox
from outreach.errors import NotFound, ValidationError
from outreach.models import Cohort, Contact, Meeting, Role, User
from tests.cohort_world import seed_busy_student
from tests.conftest import NOW
from tests.factories import make_user

DUE = NOW.date() + timedelta(days=3)
ASKED = ["What surprised you about the work?", "How does this change your plans?"]


def world(session: Session, box: SecretBox) -> tuple[User, User, Cohort, Meeting]:
    ada = make_user(session, name="Ada Adviser")
    ada.role = Role.ADVISER
    cohort = cohorts.create_cohort(session, ada, "Careers 101", due=DUE, questions=ASKED)
    sam = make_user(session, name="Sam Student")
    meeting = seed_busy_student(session, sam, box, NOW)
    cohorts.join_cohort(session, sam, cohort.code, NOW)
    return ada, sam, cohort, meeting


def test_questions_are_kept_one_a_line_without_blanks_or_extra_spaces() -> None:
    typed = "  What surprised you?  \n\n\nHow does   this change your plans?\r\n"
    assert cohorts.check_questions(typed) == (
        "What surprised you?\nHow does this change your plans?"
    )
    assert cohorts.check_questions(["", "  ", "Pasted\twith a tab?"]) == "Pasted with a tab?"


@pytest.mark.parametrize(
    ("questions", "problem"),
    [
        (["Q?"] * 11, "10 questions at most, not 11"),
        (["x" * 301], "too long"),
        (["Bell\ainside"], "control character U\\+0007"),
    ],
)
def test_too_many_long_or_odd_questions_are_refused(questions: list[str], problem: str) -> None:
    with pytest.raises(ValidationError, match=problem):
        cohorts.check_questions(questions)


def test_the_student_answers_the_questions_and_the_report_keeps_them_first(
    session: Session, secret_box: SecretBox
) -> None:
    ada, sam, cohort, meeting = world(session, secret_box)
    answers = [(ASKED[0], "How much is writing."), (ASKED[1], "I will take the data course.")]
    report = cohort_reports.submit_report(session, sam, meeting.id, cohort.id, NOW, answers)
    body = cohort_reports.adviser_report(session, ada, cohort.id, report.id).body
    assert [(s.heading, s.text) for s in body.sections[:2]] == answers
    assert body.sections[2].heading == "What I learned"
    assert cohort_reports.last_answers(report, cohort) == [text for _, text in answers]

    # The adviser changes a question: the report handed in keeps what it answered.
    cohorts.set_questions(session, ada, cohort.id, [ASKED[0], "Whom will you ask next?"], NOW)
    body = cohort_reports.body_of(report)
    assert [s.heading for s in body.sections[:2]] == ASKED
    assert cohort_reports.last_answers(report, cohort) == ["How much is writing.", ""]


def test_an_unanswered_or_changed_question_is_refused_and_nothing_is_handed_in(
    session: Session, secret_box: SecretBox
) -> None:
    ada, sam, cohort, meeting = world(session, secret_box)
    with pytest.raises(ValidationError, match="'How does this change your plans\\?' has no answer"):
        cohort_reports.submit_report(
            session, sam, meeting.id, cohort.id, NOW, [(ASKED[0], "Yes."), (ASKED[1], "  ")]
        )
    with pytest.raises(ValidationError, match="have changed since this form was shown"):
        cohort_reports.submit_report(session, sam, meeting.id, cohort.id, NOW, [(ASKED[0], "Y")])
    assert cohort_reports.reports_of_student(session, sam) == []


def test_the_contacts_name_is_taken_out_of_an_answer(
    session: Session, secret_box: SecretBox
) -> None:
    _, sam, cohort, meeting = world(session, secret_box)
    contact_name = session.get_one(Contact, meeting.contact_id).name
    answers = [(ASKED[0], f"{contact_name} said so."), (ASKED[1], "More practice.")]
    report = cohort_reports.submit_report(session, sam, meeting.id, cohort.id, NOW, answers)
    assert contact_name not in report.body_json
    assert "[removed] said so." in report.body_json


def test_only_the_cohorts_adviser_changes_the_questions_and_only_until_the_due_date(
    session: Session, secret_box: SecretBox
) -> None:
    ada, sam, cohort, _ = world(session, secret_box)
    bea = make_user(session, name="Bea Adviser")
    bea.role = Role.ADVISER
    with pytest.raises(NotFound):
        cohorts.set_questions(session, bea, cohort.id, ["Mine?"], NOW)
    with pytest.raises(ValidationError, match="only an adviser"):
        cohorts.set_questions(session, sam, cohort.id, ["Mine?"], NOW)
    on_the_day = NOW.replace(day=DUE.day, hour=23)
    assert cohorts.set_questions(session, ada, cohort.id, "One?", on_the_day).questions == "One?"
    with pytest.raises(ValidationError, match="due date of Careers 101 has passed"):
        cohorts.set_questions(session, ada, cohort.id, "Two?", NOW + timedelta(days=4))
    assert cohorts.questions_of(cohort) == ["One?"]
