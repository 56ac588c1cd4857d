"""A demo cohort of pretend students, so an adviser can try the cohort's page before a course.

`outreach sandbox --demo-cohort ADVISER` and the "Try a demo cohort" button on the
adviser's cohorts page both call `set_up_demo_cohort`. It makes a cohort named
DEMO_COHORT_NAME with a dozen pretend students in varied states (no mailbox yet,
drafts waiting, a list run dry, replies, meetings held, reports handed in, one late and
one commented), with their activity spread over the last six weeks. Running it again
starts the demo afresh; `remove_demo_cohort` takes the cohort and every pretend
student away, with all they had.

A pretend student can never act (docs/decisions/0009-sandbox-reserved-domain.md):

- their login is at `students.outreach-sandbox.invalid` and their password hash is
  UNUSABLE_PASSWORD, which matches no password, so nobody signs in as one;
- their contacts live at `people.outreach-sandbox.invalid` and their mailboxes at
  `outreach-sandbox.invalid` (RFC 2606 reserved: nothing there can be delivered),
  with a password nobody knows, marked as needing sign-in and with sending paused,
  so no poller, sender or time warp ever picks them up;
- their targets are paused and no outreach has a next step, so the cycle never
  drafts for them.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from outreach.accounts import MailboxSettings, connect_mailbox
from outreach.cohort_reports import comment_on, submit_report
from outreach.cohorts import create_cohort, join_cohort
from outreach.crypto import SecretBox
from outreach.errors import ValidationError
from outreach.mail import MailServer
from outreach.models import (
    Cohort,
    Contact,
    Direction,
    Mailbox,
    MailboxStatus,
    Meeting,
    MeetingStatus,
    Message,
    MessageKind,
    MessageStatus,
    Outreach,
    Role,
    Target,
    TargetEntry,
    TlsMode,
    User,
)
from outreach.rules.sandbox_addresses import PEOPLE_DOMAIN, SANDBOX_DOMAIN
from outreach.rules.states import OutreachState
from outreach.sandbox.demo import SANDBOX_HOST, SandboxPorts

DEMO_COHORT_NAME = "Demo cohort (pretend students)"
# Where pretend students' own logins live: under the sandbox's reserved domain.
STUDENTS_DOMAIN = f"students.{SANDBOX_DOMAIN}"
# Not an argon2 hash: verifying any password against it fails, so no one signs in.
UNUSABLE_PASSWORD = "!pretend-student: no password signs in"
PRETEND = "(pretend)"
DEMO_GOAL = 2
DEMO_COMMENT = (
    "A thoughtful reflection. For your next conversation, ask how they would start in the "
    "field today."
)

S = OutreachState
# Whom pretend students talk to, as their reports name them: roles and organisations only.
PRETEND_PLACES = (
    ("Museum Educator", "City Museum"),
    ("Policy Analyst", "Harbour Council"),
    ("Data Scientist", "WeatherWorks"),
    ("Product Manager", "GridWise"),
    ("Hydrologist", "River Trust"),
    ("Editor", "Northbank Press"),
)


@dataclass(frozen=True)
class PretendStudent:
    """One pretend student's story: what they did, in days before now."""

    name: str
    joined_days_ago: int
    mailbox: bool = False
    # Days ago each request went out; the first `replied` of them were answered.
    sent_days_ago: tuple[int, ...] = ()
    replied: int = 0
    # Of those answered, how many declined (the rest agreed to talk).
    declined: int = 0
    # Days ago each meeting was held, with the first `agreed` replies.
    held_days_ago: tuple[int, ...] = ()
    # Days ago a report went in, one per held meeting (None: no report on it).
    reported_days_ago: tuple[int | None, ...] = ()
    # Request drafts waiting for approval since this many days (0: none).
    drafts_waiting_days: int = 0
    drafts: int = 0
    # The requests sent all went unanswered, with no one left on the list.
    ran_dry: bool = False
    comment_on_first_report: bool = False


# Due four days ago: reports before then are on time, Jonas's after it is late.
DUE_DAYS_AGO = 4
PRETEND_STUDENTS: tuple[PretendStudent, ...] = (
    PretendStudent("Asha Kumar", joined_days_ago=40),
    PretendStudent("Ben Carter", joined_days_ago=2),
    PretendStudent(
        "Chloe Martin", joined_days_ago=38, mailbox=True, drafts=3, drafts_waiting_days=6
    ),
    PretendStudent(
        "Dev Sharma", joined_days_ago=41, mailbox=True, sent_days_ago=(33, 30, 26, 20), ran_dry=True
    ),
    PretendStudent(
        "Elena Rossi", joined_days_ago=39, mailbox=True, sent_days_ago=(18, 12, 5), replied=1
    ),
    PretendStudent(
        "Farid Haddad",
        joined_days_ago=41,
        mailbox=True,
        sent_days_ago=(24, 19, 10, 3),
        replied=2,
        declined=1,
    ),
    PretendStudent(
        "Grace Liu",
        joined_days_ago=41,
        mailbox=True,
        sent_days_ago=(35, 30, 23, 16, 9),
        replied=2,
        held_days_ago=(21,),
        reported_days_ago=(17,),
        comment_on_first_report=True,
    ),
    PretendStudent(
        "Hugo Moreau",
        joined_days_ago=41,
        mailbox=True,
        sent_days_ago=(36, 34, 29, 22, 15, 8),
        replied=3,
        held_days_ago=(25, 11),
        reported_days_ago=(22, 8),
    ),
    PretendStudent(
        "Ines Duarte",
        joined_days_ago=37,
        mailbox=True,
        sent_days_ago=(31, 24, 17, 10),
        replied=2,
        held_days_ago=(6,),
    ),
    PretendStudent(
        "Jonas Berg",
        joined_days_ago=36,
        mailbox=True,
        sent_days_ago=(28, 21, 14),
        replied=1,
        held_days_ago=(9,),
        reported_days_ago=(1,),
    ),
    PretendStudent(
        "Kemi Adeyemi",
        joined_days_ago=40,
        mailbox=True,
        sent_days_ago=(34, 27, 20, 13, 7),
        replied=2,
        held_days_ago=(18, 12),
        reported_days_ago=(15, 10),
    ),
    PretendStudent("Luca Bianchi", joined_days_ago=12, mailbox=True, sent_days_ago=(4, 2)),
)


@dataclass(frozen=True)
class DemoCohort:
    cohort: Cohort
    students: int
    replaced: bool


def _slug(name: str) -> str:
    return re.sub(r"[^a-z.]", "", name.lower().replace(" ", "."))


def pretend_login(adviser: User, name: str) -> str:
    """The pretend student's login: theirs alone, per adviser, under the reserved domain."""
    return f"{_slug(name)}.a{adviser.id}@{STUDENTS_DOMAIN}"


def is_pretend(user: User) -> bool:
    return user.email.endswith(f"@{STUDENTS_DOMAIN}") and user.password_hash == UNUSABLE_PASSWORD


def demo_cohort_of(session: Session, adviser: User) -> Cohort | None:
    return session.scalar(
        select(Cohort).where(Cohort.adviser_id == adviser.id, Cohort.name == DEMO_COHORT_NAME)
    )


def _pretend_members(session: Session, adviser: User) -> list[User]:
    """The adviser's pretend students: only accounts that can never sign in, at their logins."""
    logins = [pretend_login(adviser, story.name) for story in PRETEND_STUDENTS]
    return [
        user
        for user in session.scalars(select(User).where(User.email.in_(logins)))
        if is_pretend(user)
    ]


def remove_demo_cohort(session: Session, adviser: User) -> bool:
    """Take the demo cohort and its pretend students away; False when there was none."""
    cohort = demo_cohort_of(session, adviser)
    pretend = _pretend_members(session, adviser)
    for user in pretend:
        session.delete(user)
    if cohort is not None:
        # Its memberships and reports go with it (ON DELETE CASCADE).
        session.delete(cohort)
    session.flush()
    return cohort is not None or bool(pretend)


def _mailbox(session: Session, student: User, box: SecretBox, ports: SandboxPorts) -> None:
    address = f"{student.email.partition('@')[0]}@{SANDBOX_DOMAIN}"
    mailbox: Mailbox = connect_mailbox(
        session,
        student,
        box,
        MailboxSettings.joining(
            MailServer(SANDBOX_HOST, ports.imap, TlsMode.NONE),
            MailServer(SANDBOX_HOST, ports.smtp, TlsMode.NONE),
            email_address=address,
            display_name=student.name,
            username=address,
        ),
        # A password nobody is told: the sandbox's servers refuse every login for it.
        secrets.token_urlsafe(24),
    )
    # Nobody can sign in for a pretend student: no poller watches, no sender sends.
    mailbox.status = MailboxStatus.NEEDS_SIGN_IN
    mailbox.sending_paused = True


def _outreach(
    session: Session,
    student: User,
    target: Target,
    position: int,
    state: OutreachState,
    moment: datetime,
) -> Outreach:
    contact = Contact(
        user_id=student.id,
        email=f"silent.contact{position}.{student.id}@{PEOPLE_DOMAIN}",
        name=f"Pretend contact {position}",
        first_name="Pretend",
        role=PRETEND_PLACES[(student.id + position) % len(PRETEND_PLACES)][0],
        organisation=PRETEND_PLACES[(student.id + position) % len(PRETEND_PLACES)][1],
        created_at=moment,
    )
    session.add(contact)
    session.flush()
    session.add(TargetEntry(target_id=target.id, contact_id=contact.id, position=position))
    outreach = Outreach(
        user_id=student.id,
        target_id=target.id,
        contact_id=contact.id,
        state=state,
        state_changed_at=moment,
        next_step_at=None,
        created_at=moment,
    )
    session.add(outreach)
    session.flush()
    return outreach


def _message(
    outreach: Outreach,
    direction: Direction,
    kind: MessageKind,
    status: MessageStatus,
    moment: datetime,
) -> Message:
    outbound = direction is Direction.OUTBOUND
    return Message(
        user_id=outreach.user_id,
        contact_id=outreach.contact_id,
        outreach_id=outreach.id,
        direction=direction,
        kind=kind,
        status=status,
        subject="A pretend message",
        body_text="Pretend students' mail is never written or sent.",
        sent_at=moment if status is MessageStatus.SENT else None,
        received_at=None if outbound else moment,
        created_at=moment,
    )


def _state_of(story: PretendStudent, index: int) -> OutreachState:
    if index < len(story.held_days_ago):
        return S.MET
    if index < story.declined + len(story.held_days_ago):
        return S.DECLINED
    if index < story.replied:
        return S.REPLIED
    return S.NO_REPLY if story.ran_dry else S.WAITING


def _story(
    session: Session, cohort: Cohort, student: User, story: PretendStudent, now: datetime
) -> None:
    def ago(days: float) -> datetime:
        return now - timedelta(days=days)

    target = Target(
        user_id=student.id,
        name="Pretend list",
        field_phrase="pretend work",
        max_in_flight=5,
        paused=True,
        created_at=ago(story.joined_days_ago),
    )
    session.add(target)
    session.flush()
    meetings: list[Meeting] = []
    for index, days in enumerate(story.sent_days_ago):
        sent = ago(days)
        outreach = _outreach(session, student, target, index + 1, _state_of(story, index), sent)
        session.add(
            _message(outreach, Direction.OUTBOUND, MessageKind.REQUEST, MessageStatus.SENT, sent)
        )
        if index < story.replied:
            answered = ago(max(days - 2, 0.5))
            session.add(
                _message(
                    outreach, Direction.INBOUND, MessageKind.REPLY, MessageStatus.RECEIVED, answered
                )
            )
        if index < len(story.held_days_ago):
            held = ago(story.held_days_ago[index])
            meeting = Meeting(
                user_id=student.id,
                outreach_id=outreach.id,
                contact_id=outreach.contact_id,
                starts_at=held,
                status=MeetingStatus.HELD,
                held_at=held,
                learned="Pretend notes: what the day-to-day work is like, and how they began.",
                reflection_fit="Pretend reflection: the work suits me more than I expected.",
                created_at=held,
            )
            session.add(meeting)
            meetings.append(meeting)
    for number in range(story.drafts):
        waiting = ago(story.drafts_waiting_days)
        outreach = _outreach(
            session, student, target, len(story.sent_days_ago) + number + 1, S.DRAFTED, waiting
        )
        session.add(
            _message(
                outreach, Direction.OUTBOUND, MessageKind.REQUEST, MessageStatus.DRAFT, waiting
            )
        )
    session.flush()
    for meeting, reported in zip(meetings, story.reported_days_ago, strict=False):
        if reported is None:
            continue
        report = submit_report(session, student, meeting.id, cohort.id, ago(reported))
        if story.comment_on_first_report and meeting is meetings[0]:
            adviser = session.get_one(User, cohort.adviser_id)
            comment_on(session, adviser, cohort.id, report.id, DEMO_COMMENT, ago(reported - 1))


def set_up_demo_cohort(
    session: Session, adviser: User, box: SecretBox, ports: SandboxPorts, now: datetime
) -> DemoCohort:
    """Make (or make afresh) the adviser's demo cohort, with its pretend students.

    :raise ValidationError: when the user is not an adviser.
    """
    if adviser.role != Role.ADVISER:
        raise ValidationError("only an adviser can try a demo cohort; ask your deployment's admin")
    replaced = remove_demo_cohort(session, adviser)
    cohort = create_cohort(
        session,
        adviser,
        DEMO_COHORT_NAME,
        goal=DEMO_GOAL,
        due=(now - timedelta(days=DUE_DAYS_AGO)).date(),
    )
    oldest = max(story.joined_days_ago for story in PRETEND_STUDENTS)
    cohort.created_at = now - timedelta(days=oldest + 1)
    for story in PRETEND_STUDENTS:
        joined = now - timedelta(days=story.joined_days_ago)
        student = User(
            email=pretend_login(adviser, story.name),
            name=f"{story.name} {PRETEND}",
            password_hash=UNUSABLE_PASSWORD,
            signature=story.name,
            role=Role.STUDENT,
            created_at=joined,
        )
        session.add(student)
        session.flush()
        join_cohort(session, student, cohort.code, joined)
        if story.mailbox:
            _mailbox(session, student, box, ports)
        _story(session, cohort, student, story, now)
    session.flush()
    return DemoCohort(cohort, len(PRETEND_STUDENTS), replaced)
