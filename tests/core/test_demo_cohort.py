"""The sandbox's demo cohort: pretend students in every state, who can never act, and go away."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from outreach import cohorts
from outreach.accounts import authenticate
from outreach.cohort_figures import cohort_funnel, cohort_weeks
from outreach.cohort_reports import cohort_reports
from outreach.crypto import SecretBox
from outreach.errors import ValidationError
from outreach.models import (
    Contact,
    Mailbox,
    Message,
    MessageStatus,
    Outreach,
    Role,
    Target,
    User,
)
from outreach.polling import mailboxes_to_watch
from outreach.rules.sandbox_addresses import is_sandbox
from outreach.sandbox.demo import SandboxPorts
from outreach.sandbox.demo_cohort import (
    DEMO_COHORT_NAME,
    PRETEND_STUDENTS,
    remove_demo_cohort,
    set_up_demo_cohort,
)
from tests.conftest import NOW
from tests.factories import make_user

PORTS = SandboxPorts(smtp=2525, imap=1143)


def adviser(session: Session, name: str = "Ada Adviser") -> User:
    user = make_user(session, name=name)
    user.role = Role.ADVISER
    return user


def test_the_demo_cohort_shows_every_state_an_adviser_meets(
    session: Session, secret_box: SecretBox
) -> None:
    ada = adviser(session)
    demo = set_up_demo_cohort(session, ada, secret_box, PORTS, NOW)
    session.commit()
    assert demo.cohort.name == DEMO_COHORT_NAME
    report = cohorts.report_of(session, demo.cohort, NOW)
    assert len(report.students) == len(PRETEND_STUDENTS) == 12
    assert all(student.name.endswith("(pretend)") for student in report.students)
    stuck = {reason for student in report.students for reason in student.stuck}
    assert stuck == {cohorts.NO_MAILBOX, cohorts.DRAFTS_WAITING, cohorts.LIST_RAN_DRY}
    # Ben joined two days ago: no mailbox yet, but not stuck.
    ben = next(student for student in report.students if student.name.startswith("Ben"))
    assert (ben.mailbox_connected, ben.stuck) == (False, ())
    handed_in = cohort_reports(session, demo.cohort)
    assert [found.report.late for found in handed_in].count(True) == 1
    assert [bool(found.report.comment) for found in handed_in].count(True) == 1
    funnel = {stage.key: stage for stage in cohort_funnel(report)}
    assert (funnel["joined"].students, funnel["mailbox"].students) == (12, 10)
    assert 0 < funnel["reports"].students < funnel["meetings"].students
    assert funnel["meetings"].students < funnel["replies"].students < funnel["requests"].students
    weeks = cohort_weeks(session, demo.cohort, NOW, "UTC")
    assert len(weeks) >= 6
    for figure in ("requests", "replies", "meetings", "reports"):
        assert sum(getattr(week, figure) for week in weeks) > 0, figure


def test_pretend_students_cannot_sign_in_send_or_be_polled(
    session: Session, session_factory: sessionmaker[Session], secret_box: SecretBox
) -> None:
    ada = adviser(session)
    demo = set_up_demo_cohort(session, ada, secret_box, PORTS, NOW)
    session.commit()
    members = cohorts.report_of(session, demo.cohort, NOW).students
    for member in members:
        assert is_sandbox(member.email)
        for password in ("", "!pretend-student: no password signs in", "correct horse battery"):
            assert authenticate(session, member.email, password) is None
    ids = select(User.id).where(User.email.in_([member.email for member in members]))
    mailboxes = list(session.scalars(select(Mailbox).where(Mailbox.user_id.in_(ids))))
    assert len(mailboxes) == 10
    assert all(is_sandbox(mailbox) and mailbox.sending_paused for mailbox in mailboxes)
    assert not set(mailboxes_to_watch(session_factory)) & {mailbox.id for mailbox in mailboxes}
    contacts = session.scalars(select(Contact.email).where(Contact.user_id.in_(ids))).all()
    assert contacts and all(is_sandbox(address) for address in contacts)
    # Nothing for the cycle to do: no clock running, every list paused, nothing approved.
    assert not session.scalar(
        select(func.count()).where(Outreach.user_id.in_(ids), Outreach.next_step_at.is_not(None))
    )
    assert all(session.scalars(select(Target.paused).where(Target.user_id.in_(ids))))
    waiting = session.scalars(
        select(Message.status).where(
            Message.user_id.in_(ids),
            Message.status.not_in(
                [MessageStatus.SENT, MessageStatus.DRAFT, MessageStatus.RECEIVED]
            ),
        )
    ).all()
    assert waiting == []


def test_trying_again_starts_afresh_and_removing_takes_every_pretend_student_away(
    session: Session, secret_box: SecretBox
) -> None:
    ada, bea = adviser(session), adviser(session, "Bea Adviser")
    first = set_up_demo_cohort(session, ada, secret_box, PORTS, NOW)
    real = cohorts.create_cohort(session, ada, "Careers 101")
    student = make_user(session, name="Real Student")
    cohorts.join_cohort(session, student, real.code, NOW)
    theirs = set_up_demo_cohort(session, bea, secret_box, PORTS, NOW)
    session.commit()
    users_before = session.scalar(select(func.count()).select_from(User)) or 0

    again = set_up_demo_cohort(session, ada, secret_box, PORTS, NOW)
    session.commit()
    assert again.replaced and again.cohort.id != first.cohort.id
    assert session.scalar(select(func.count()).select_from(User)) == users_before

    contacts_before = session.scalar(select(func.count()).select_from(Contact)) or 0
    assert remove_demo_cohort(session, ada)
    session.commit()
    assert session.scalar(select(func.count()).select_from(User)) == users_before - 12
    assert [cohort.name for cohort in cohorts.cohorts_of(session, ada)] == ["Careers 101"]
    assert [row.name for row in cohorts.report_of(session, real, NOW).students] == ["Real Student"]
    # Another adviser's demo is theirs, untouched.
    assert len(cohorts.report_of(session, theirs.cohort, NOW).students) == 12
    # Their contacts, mail and meetings went with them; Bea's pretend students keep theirs.
    assert session.scalar(select(func.count()).select_from(Contact)) == contacts_before // 2
    assert not remove_demo_cohort(session, ada)


def test_only_an_adviser_gets_a_demo_cohort(session: Session, secret_box: SecretBox) -> None:
    student = make_user(session)
    with pytest.raises(ValidationError, match="only an adviser"):
        set_up_demo_cohort(session, student, secret_box, PORTS, NOW)
