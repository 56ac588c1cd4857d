"""`outreach cohort`: advisers' cohorts, joined by students with a code after consent."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import TextIO

import click

from outreach import cohorts
from outreach.cli.common import (
    acting_for,
    fail,
    iso,
    json_option,
    print_json,
    user_option,
    utcnow,
)
from outreach.models import Cohort, User


@click.group("cohort")
def cohort_group() -> None:
    """Cohorts: an adviser sees their students' counts and states, never their mail."""


def _cohort_json(cohort: Cohort) -> dict[str, object]:
    return {
        "name": cohort.name,
        "code": cohort.code,
        "goal": cohort.goal,
        "due": cohort.due.isoformat() if cohort.due else None,
    }


def questions_options(command: Callable[..., None]) -> Callable[..., None]:
    """--question (repeated) and --questions-file: the report's questions, one or the other."""
    command = click.option(
        "--questions-file",
        type=click.File("r", encoding="utf-8"),
        help="The report's questions, one a line ('-' reads stdin).",
    )(command)
    return click.option(
        "--question",
        multiple=True,
        help="A question the report asks; repeat it for each, in order.",
    )(command)


def _questions(given: tuple[str, ...], file: TextIO | None) -> list[str] | None:
    """The questions from the options, or None when neither was given."""
    if given and file is not None:
        fail("give the questions with --question or with --questions-file, not both")
    if file is not None:
        return file.read().splitlines()
    return list(given) if given else None


@cohort_group.command("create")
@user_option
@click.option("--name", required=True, help="The cohort's name, e.g. the course and term.")
@click.option(
    "--goal",
    type=int,
    default=cohorts.DEFAULT_GOAL,
    show_default=True,
    help="Interviews each student is asked to hold.",
)
@click.option("--due", type=click.DateTime(formats=["%Y-%m-%d"]), help="The due date, YYYY-MM-DD.")
@questions_options
@json_option
def cohort_create(
    user_email: str,
    name: str,
    goal: int,
    due: datetime | None,
    question: tuple[str, ...],
    questions_file: TextIO | None,
    as_json: bool,
) -> None:
    """Create a cohort (advisers only) and print the join code to give your students."""
    due_day: date | None = due.date() if due else None
    asked = _questions(question, questions_file) or []
    with acting_for(user_email) as (session, adviser):
        cohort = cohorts.create_cohort(
            session, adviser, name, goal=goal, due=due_day, questions=asked
        )
        if as_json:
            print_json(_cohort_json(cohort))
        else:
            click.echo(cohort.code)
            click.echo(
                f"cohort '{cohort.name}' created; students join with "
                f"`outreach cohort join --user THEM {cohort.code}`",
                err=True,
            )


@cohort_group.command("questions")
@user_option
@click.option("--name", required=True, help="The cohort's name.")
@questions_options
@json_option
def cohort_questions(
    user_email: str,
    name: str,
    question: tuple[str, ...],
    questions_file: TextIO | None,
    as_json: bool,
) -> None:
    """Print the questions your cohort's reports ask; with --question or --questions-file,
    replace them (until the due date; an empty file removes them)."""
    asked = _questions(question, questions_file)
    with acting_for(user_email) as (session, adviser):
        cohort = cohorts.adviser_cohort(session, adviser, name)
        if asked is not None:
            cohorts.set_questions(session, adviser, cohort.id, asked, utcnow())
        current = cohorts.questions_of(cohort)
    if as_json:
        print_json({"name": cohort.name, "questions": current})
        return
    if not current:
        click.echo(f"{cohort.name} asks no questions of its own: a report is the notes alone")
    for number, text in enumerate(current, start=1):
        click.echo(f"{number}. {text}")


@cohort_group.command("join")
@user_option
@click.argument("code")
@click.option("--yes", is_flag=True, help="Agree to share what is listed, without asking.")
def cohort_join(user_email: str, code: str, yes: bool) -> None:
    """Join the cohort whose join code is CODE, after agreeing to what the adviser sees."""
    with acting_for(user_email) as (session, student):
        cohort = cohorts.cohort_by_code(session, code)
        adviser = session.get_one(User, cohort.adviser_id)
        click.echo(f"Joining '{cohort.name}' lets {adviser.name} ({adviser.email}) see:")
        for line in cohorts.CONSENT_LINES:
            click.echo(f"  - {line}")
        click.echo(cohorts.CONSENT_NEVER)
        click.echo("You can leave at any time with `outreach cohort leave`; sharing stops at once.")
        if not yes:
            click.confirm("Share this and join?", abort=True)
        cohorts.join_cohort(session, student, code, utcnow())
        click.echo(f"joined the cohort '{cohort.name}'")


@cohort_group.command("leave")
@user_option
@click.option("--name", required=True, help="The cohort's name.")
def cohort_leave(user_email: str, name: str) -> None:
    """Leave a cohort: its adviser sees nothing of yours from now on."""
    with acting_for(user_email) as (session, student):
        for cohort in cohorts.leave_cohort(session, student, name):
            click.echo(f"left the cohort '{cohort.name}'; its adviser no longer sees your progress")


@cohort_group.command("report")
@user_option
@click.option("--name", required=True, help="The cohort's name.")
@json_option
def cohort_report(user_email: str, name: str, as_json: bool) -> None:
    """Each student's progress in your cohort: counts and states, never their mail."""
    with acting_for(user_email) as (session, adviser):
        report = cohorts.cohort_report(session, adviser, name, utcnow())
        students = [
            {
                "email": student.email,
                "name": student.name,
                "mailbox_connected": student.mailbox_connected,
                "requests_sent": student.requests_sent,
                "replies": student.replies,
                "meetings_held": student.meetings_held,
                "reports_submitted": student.reports_submitted,
                "last_activity": iso(student.last_activity),
                "joined_at": iso(student.joined_at),
                "stuck": list(student.stuck),
            }
            for student in report.students
        ]
        if as_json:
            print_json(
                {
                    "cohort": _cohort_json(report.cohort) | {"students": len(students)},
                    "students": students,
                }
            )
            return
        cohort = report.cohort
        due = f", due {cohort.due.isoformat()}" if cohort.due else ""
        click.echo(
            f"{cohort.name}: {len(students)} students, goal {cohort.goal} interviews{due}, "
            f"code {cohort.code}"
        )
        for student in report.students:
            mailbox = "mailbox connected" if student.mailbox_connected else "no mailbox"
            stuck = f"; stuck: {', '.join(student.stuck)}" if student.stuck else ""
            click.echo(
                f"{student.name} <{student.email}>: {mailbox}, {student.requests_sent} sent, "
                f"{student.replies} replies, {student.meetings_held} held, "
                f"{student.reports_submitted} reports, last active "
                f"{iso(student.last_activity) or 'never'}{stuck}"
            )
