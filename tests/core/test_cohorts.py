"""Cohorts: joining with a code after consent, leaving, and the adviser's report of counts."""

from __future__ import annotations

import dataclasses
import json
from datetime import date, timedelta

import pytest
from sqlalchemy import update
from sqlalchemy.orm import Session

from outreach import cohorts
from outreach.crypto import SecretBox
from outreach.errors import NotFound, ValidationError
from outreach.models import Direction, Message, MessageKind, MessageStatus, Outreach, Role, User
from outreach.rules.states import OutreachState
from outreach.targets import create_target
from tests.cohort_world import PRIVATE_WORDS, seed_busy_student
from tests.conftest import NOW
from tests.factories import make_contact, make_user


def adviser(session: Session, **overrides: str) -> User:
    user = make_user(session, **overrides)
    user.role = Role.ADVISER
    return user


def set_state(session: Session, target_id: int, contact_id: int, state: OutreachState) -> None:
    session.flush()
    session.execute(
        update(Outreach)
        .where(Outreach.target_id == target_id, Outreach.contact_id == contact_id)
        .values(state=state)
    )


def test_an_adviser_creates_a_cohort_with_a_short_unambiguous_code(session: Session) -> None:
    ada = adviser(session)
    made = cohorts.create_cohort(session, ada, "  Careers 101   autumn ", due=date(2026, 12, 18))
    assert made.name == "Careers 101 autumn"
    assert made.goal == 2
    assert len(made.code) == 8
    assert set(made.code) <= set(cohorts.CODE_ALPHABET)
    assert not set(made.code) & set("01OIL")
    other = cohorts.create_cohort(session, ada, "Careers 102")
    assert other.code != made.code
    with pytest.raises(ValidationError, match="already have a cohort named"):
        cohorts.create_cohort(session, ada, "Careers 101 autumn")
    with pytest.raises(ValidationError, match="goal"):
        cohorts.create_cohort(session, ada, "No goal", goal=0)


def test_only_an_adviser_creates_or_reports_a_cohort(session: Session) -> None:
    student = make_user(session)
    with pytest.raises(ValidationError, match="only an adviser"):
        cohorts.create_cohort(session, student, "Mine")
    ada = adviser(session)
    cohorts.create_cohort(session, ada, "Careers 101")
    with pytest.raises(ValidationError, match="only an adviser"):
        cohorts.cohort_report(session, student, "Careers 101", NOW)


def test_an_adviser_sees_only_their_own_cohorts(session: Session) -> None:
    ada, bea = adviser(session), adviser(session)
    cohorts.create_cohort(session, ada, "Careers 101")
    # Two advisers may use the same name; each sees only their own.
    theirs = cohorts.create_cohort(session, bea, "Careers 101")
    student = make_user(session)
    cohorts.join_cohort(session, student, theirs.code, NOW)
    assert cohorts.cohort_report(session, ada, "Careers 101", NOW).students == []
    assert [c.name for c in cohorts.cohorts_of(session, ada)] == ["Careers 101"]
    with pytest.raises(NotFound, match="no cohort named 'Careers 102'"):
        cohorts.cohort_report(session, ada, "Careers 102", NOW)


def test_a_student_joins_with_the_code_as_typed_and_leaving_stops_sharing(
    session: Session,
) -> None:
    ada = adviser(session)
    cohort = cohorts.create_cohort(session, ada, "Careers 101")
    student = make_user(session, name="Sam Student")
    typed = f" {cohort.code[:4].lower()}-{cohort.code[4:]} "
    cohorts.join_cohort(session, student, typed, NOW)
    with pytest.raises(ValidationError, match="already in the cohort"):
        cohorts.join_cohort(session, student, cohort.code, NOW)
    report = cohorts.cohort_report(session, ada, "Careers 101", NOW)
    assert [(s.name, s.joined_at) for s in report.students] == [("Sam Student", NOW)]

    cohorts.leave_cohort(session, student, "Careers 101")
    assert cohorts.cohort_report(session, ada, "Careers 101", NOW).students == []
    with pytest.raises(NotFound, match="in no cohort named"):
        cohorts.leave_cohort(session, student, "Careers 101")


def test_an_unknown_code_and_an_adviser_joining_are_refused(session: Session) -> None:
    ada = adviser(session)
    cohort = cohorts.create_cohort(session, ada, "Careers 101")
    with pytest.raises(NotFound, match="no cohort has that join code"):
        cohorts.join_cohort(session, make_user(session), "ZZZZZZZZ", NOW)
    with pytest.raises(ValidationError, match="only a student"):
        cohorts.join_cohort(session, adviser(session), cohort.code, NOW)


def test_the_report_counts_each_students_progress(session: Session, secret_box: SecretBox) -> None:
    ada = adviser(session)
    cohort = cohorts.create_cohort(session, ada, "Careers 101")
    busy = make_user(session, name="Bo Busy")
    seed_busy_student(session, busy, secret_box, NOW)
    cohorts.join_cohort(session, busy, cohort.code, NOW - timedelta(days=20))
    new = make_user(session, name="Nia New")
    cohorts.join_cohort(session, new, cohort.code, NOW - timedelta(days=1))
    session.commit()

    report = cohorts.cohort_report(session, ada, "Careers 101", NOW)
    by_name = {student.name: student for student in report.students}
    assert by_name["Bo Busy"].mailbox_connected
    assert (by_name["Bo Busy"].requests_sent, by_name["Bo Busy"].replies) == (3, 2)
    assert by_name["Bo Busy"].meetings_held == 1
    assert by_name["Bo Busy"].reports_submitted == 0
    assert by_name["Bo Busy"].last_activity is not None
    assert by_name["Bo Busy"].stuck == ()
    # A day after joining, no mailbox is not yet being stuck.
    nia = by_name["Nia New"]
    assert (nia.mailbox_connected, nia.requests_sent, nia.last_activity, nia.stuck) == (
        False,
        0,
        None,
        (),
    )


def test_who_is_stuck_and_why(session: Session) -> None:
    ada = adviser(session)
    cohort = cohorts.create_cohort(session, ada, "Careers 101")
    idle = make_user(session, name="Ida Idle")
    cohorts.join_cohort(session, idle, cohort.code, NOW - timedelta(days=8))
    waiting = make_user(session, name="Wes Waiting")
    cohorts.join_cohort(session, waiting, cohort.code, NOW - timedelta(days=2))
    for age in (timedelta(days=4), timedelta(days=1)):
        session.add(
            Message(
                user_id=waiting.id,
                direction=Direction.OUTBOUND,
                kind=MessageKind.REQUEST,
                status=MessageStatus.DRAFT,
                created_at=NOW - age,
            )
        )
    dry = make_user(session, name="Dee Dry")
    cohorts.join_cohort(session, dry, cohort.code, NOW - timedelta(days=2))
    names = [make_contact(session, dry), make_contact(session, dry)]
    silent = create_target(session, dry, "Silent list", [c.id for c in names])
    still_going = create_target(session, dry, "Going list", [names[0].id])
    for contact, target, state in (
        (names[0], silent, OutreachState.NO_REPLY),
        (names[1], silent, OutreachState.BOUNCED),
        (names[0], still_going, OutreachState.WAITING),
    ):
        set_state(session, target.id, contact.id, state)
    session.commit()

    report = cohorts.cohort_report(session, ada, "Careers 101", NOW)
    assert {student.name: student.stuck for student in report.students} == {
        "Ida Idle": (cohorts.NO_MAILBOX,),
        "Wes Waiting": (cohorts.DRAFTS_WAITING,),
        "Dee Dry": (cohorts.LIST_RAN_DRY,),
    }


def test_a_list_still_in_progress_or_answered_has_not_run_dry(session: Session) -> None:
    ada = adviser(session)
    cohort = cohorts.create_cohort(session, ada, "Careers 101")
    student = make_user(session)
    cohorts.join_cohort(session, student, cohort.code, NOW)
    people = [make_contact(session, student) for _ in range(2)]
    lists = [create_target(session, student, f"List {n}", [p.id for p in people]) for n in (1, 2)]
    for target, states in (
        (lists[0], (OutreachState.NO_REPLY, OutreachState.PLANNED)),
        (lists[1], (OutreachState.NO_REPLY, OutreachState.DECLINED)),
    ):
        for person, state in zip(people, states, strict=True):
            set_state(session, target.id, person.id, state)
    session.commit()
    [row] = cohorts.cohort_report(session, ada, "Careers 101", NOW).students
    assert row.stuck == ()


def test_the_report_never_holds_a_contacts_name_address_or_any_message_text(
    session: Session, secret_box: SecretBox
) -> None:
    ada = adviser(session)
    cohort = cohorts.create_cohort(session, ada, "Careers 101")
    student = make_user(session)
    seed_busy_student(session, student, secret_box, NOW)
    cohorts.join_cohort(session, student, cohort.code, NOW - timedelta(days=20))
    session.commit()
    report = cohorts.cohort_report(session, ada, "Careers 101", NOW)
    text = json.dumps([dataclasses.asdict(row) for row in report.students], default=str)
    assert student.email in text  # the student's own login, which the adviser is shown
    for word in PRIVATE_WORDS:
        assert word.lower() not in text.lower(), word


def test_a_deleted_student_leaves_the_cohort_with_their_account(session: Session) -> None:
    ada = adviser(session)
    cohort = cohorts.create_cohort(session, ada, "Careers 101")
    student = make_user(session)
    cohorts.join_cohort(session, student, cohort.code, NOW)
    session.commit()
    session.delete(student)
    session.commit()
    assert cohorts.cohort_report(session, ada, "Careers 101", NOW).students == []
