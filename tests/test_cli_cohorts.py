"""`outreach cohort` and `outreach user create --role`, on SQLite and PostgreSQL.

The JSON shapes are the stable ones of docs/cli.md; every command acts only within what
the account chosen by --user may see.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from cryptography.fernet import Fernet
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from outreach.clock import now
from outreach.cohort_reports import submit_report
from outreach.cohorts import student_cohorts
from outreach.crypto import SecretBox
from outreach.db import make_engine
from outreach.models import CohortMember, Role, User
from tests.cohort_world import PRIVATE_WORDS, seed_busy_student
from tests.servers.postgres import PostgresServer
from tests.test_cli import ISO_UTC, PASSWORD, Cli

ADVISER = "ada@college.test"
OTHER_ADVISER = "bea@college.test"
STUDENT = "sam@student.test"
STUDENT_KEYS = {
    "email",
    "name",
    "mailbox_connected",
    "requests_sent",
    "replies",
    "meetings_held",
    "reports_submitted",
    "last_activity",
    "joined_at",
    "stuck",
}


@pytest.fixture(params=["sqlite", "postgresql"])
def cli(request: pytest.FixtureRequest, tmp_path: Path) -> Cli:
    database_url: str | None = None
    if request.param == "postgresql":
        server: PostgresServer = request.getfixturevalue("postgres")
        database_url = server.create_database()
    runner = Cli(
        {
            "OUTREACH_INSTANCE_DIR": str(tmp_path / "instance"),
            "OUTREACH_SECRET_KEY": "cli-test-secret",
            "OUTREACH_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
            "OUTREACH_DATABASE_URL": database_url,
            "OUTREACH_REDIS_URL": None,
            "OUTREACH_USER": None,
            "OUTREACH_CA_FILE": None,
        }
    )
    runner.ok("db", "upgrade")
    return runner


@pytest.fixture
def db_engine(cli: Cli) -> Iterator[Engine]:
    engine = make_engine(cli.settings().database_url)
    yield engine
    engine.dispose()


def create_user(cli: Cli, email: str, name: str, *role: str) -> Result:
    return cli.ok("user", "create", "--email", email, "--name", name, *role, input=PASSWORD + "\n")


@pytest.fixture
def people(cli: Cli) -> Cli:
    create_user(cli, ADVISER, "Ada Adviser", "--role", "adviser")
    create_user(cli, OTHER_ADVISER, "Bea Adviser", "--role", "adviser")
    create_user(cli, STUDENT, "Sam Student", "--introduction", "I study history.")
    return cli


def create_cohort(cli: Cli, *extra: str, adviser: str = ADVISER) -> dict[str, object]:
    made = cli.ok("cohort", "create", "--user", adviser, "--name", "Careers 101", *extra, "--json")
    data: dict[str, object] = json.loads(made.stdout)
    return data


def report(cli: Cli, adviser: str = ADVISER) -> dict[str, Any]:
    result = cli.ok("cohort", "report", "--user", adviser, "--name", "Careers 101", "--json")
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def test_user_create_gives_the_role_asked_for_and_student_by_default(
    people: Cli, db_engine: Engine
) -> None:
    with Session(db_engine) as session:
        roles = {user.email: user.role for user in session.scalars(select(User))}
    assert roles == {ADVISER: Role.ADVISER, OTHER_ADVISER: Role.ADVISER, STUDENT: Role.STUDENT}
    refused = people("user", "create", "--email", "x@y.test", "--name", "X", "--role", "boss",
                     input=PASSWORD + "\n")  # fmt: skip
    assert refused.exit_code == 2
    assert "'boss' is not one of 'student', 'adviser', 'admin'" in refused.stderr


def test_create_join_and_report_in_the_documented_json(people: Cli, db_engine: Engine) -> None:
    made = create_cohort(people, "--goal", "3", "--due", "2026-12-18")
    assert set(made) == {"name", "code", "goal", "due"}
    assert (made["name"], made["goal"], made["due"]) == ("Careers 101", 3, "2026-12-18")
    code = str(made["code"])

    joined = people("cohort", "join", "--user", STUDENT, code, input="y\n")
    assert joined.exit_code == 0, joined.output
    # The command is the consent: it says who sees what, and what they never see.
    assert "lets Ada Adviser (ada@college.test) see" in joined.stdout
    assert "Never your emails" in joined.stdout
    assert "joined the cohort 'Careers 101'" in joined.stdout
    with Session(db_engine) as session:
        consented_at = session.scalars(select(CohortMember.consented_at)).one()
        assert abs(consented_at - now()) < timedelta(minutes=1)

    data = report(people)
    assert data["cohort"] == {
        "name": "Careers 101",
        "code": code,
        "goal": 3,
        "due": "2026-12-18",
        "students": 1,
    }
    [student] = data["students"]
    assert set(student) == STUDENT_KEYS
    assert student["email"] == STUDENT and student["name"] == "Sam Student"
    assert (student["mailbox_connected"], student["requests_sent"], student["stuck"]) == (
        False,
        0,
        [],
    )
    assert ISO_UTC.match(str(student["joined_at"]))

    text = people.ok("cohort", "report", "--user", ADVISER, "--name", "Careers 101")
    assert "Careers 101: 1 students, goal 3 interviews, due 2026-12-18" in text.stdout
    assert "Sam Student <sam@student.test>: no mailbox, 0 sent" in text.stdout


def test_the_code_alone_is_printed_for_scripts(people: Cli) -> None:
    made = people.ok("cohort", "create", "--user", ADVISER, "--name", "Careers 101")
    assert len(made.stdout.strip()) == 8
    assert made.stdout.strip() in made.stderr  # and how students use it, on stderr


def test_joining_needs_consent_and_a_known_code(people: Cli) -> None:
    code = str(create_cohort(people)["code"])
    declined = people("cohort", "join", "--user", STUDENT, code, input="n\n")
    assert declined.exit_code == 1
    assert report(people)["students"] == []

    unknown = people("cohort", "join", "--user", STUDENT, "ZZZZ-ZZZZ", "--yes")
    assert unknown.exit_code == 1
    assert "no cohort has that join code; check it with your adviser" in unknown.stderr

    people.ok("cohort", "join", "--user", STUDENT, code.lower(), "--yes")
    assert [s["email"] for s in report(people)["students"]] == [STUDENT]


def test_a_student_who_left_no_longer_appears(people: Cli) -> None:
    code = str(create_cohort(people)["code"])
    people.ok("cohort", "join", "--user", STUDENT, code, "--yes")
    left = people.ok("cohort", "leave", "--user", STUDENT, "--name", "Careers 101")
    assert "no longer sees your progress" in left.stdout
    assert report(people)["students"] == []
    again = people("cohort", "leave", "--user", STUDENT, "--name", "Careers 101")
    assert again.exit_code == 1
    assert "you are in no cohort named 'Careers 101'" in again.stderr


def test_commands_are_scoped_to_the_role_and_the_adviser(people: Cli) -> None:
    code = str(create_cohort(people)["code"])
    people.ok("cohort", "join", "--user", STUDENT, code, "--yes")

    by_student = people("cohort", "create", "--user", STUDENT, "--name", "Mine")
    assert by_student.exit_code == 1
    assert "only an adviser can run cohorts" in by_student.stderr
    peek = people("cohort", "report", "--user", STUDENT, "--name", "Careers 101", "--json")
    assert peek.exit_code == 1
    assert peek.stdout == ""
    other = people("cohort", "report", "--user", OTHER_ADVISER, "--name", "Careers 101", "--json")
    assert other.exit_code == 1
    assert "you have no cohort named 'Careers 101'" in other.stderr
    assert STUDENT not in other.output
    # Another adviser's cohort of the same name is theirs alone, and empty.
    create_cohort(people, adviser=OTHER_ADVISER)
    assert report(people, OTHER_ADVISER)["students"] == []


def test_the_report_shows_counts_and_never_a_contact_or_message_word(
    people: Cli, db_engine: Engine
) -> None:
    code = str(create_cohort(people)["code"])
    people.ok("cohort", "join", "--user", STUDENT, code, "--yes")
    with Session(db_engine) as session:
        student = session.scalars(select(User).where(User.email == STUDENT)).one()
        box = SecretBox(people.settings().encryption_keys)
        meeting = seed_busy_student(session, student, box, now())
        # The handed-in report holds the notes; the CLI's report counts it, nothing more.
        [cohort] = student_cohorts(session, student)
        submit_report(session, student, meeting.id, cohort.id, now())
        session.commit()

    result = people.ok("cohort", "report", "--user", ADVISER, "--name", "Careers 101", "--json")
    [row] = json.loads(result.stdout)["students"]
    assert row["mailbox_connected"] is True
    assert (row["requests_sent"], row["replies"], row["meetings_held"]) == (3, 2, 1)
    assert row["reports_submitted"] == 1
    assert ISO_UTC.match(str(row["last_activity"]))
    text_report = people.ok("cohort", "report", "--user", ADVISER, "--name", "Careers 101")
    for output in (result.stdout, text_report.output):
        for word in PRIVATE_WORDS:
            assert word.lower() not in output.lower(), word


def test_sandbox_gives_an_adviser_a_demo_cohort_and_takes_it_away(people: Cli) -> None:
    made = people.ok("sandbox", "--demo-cohort", ADVISER)
    assert "12 pretend students, who cannot sign in or send mail" in made.stdout
    shown = people.ok(
        "cohort", "report", "--user", ADVISER, "--name", "Demo cohort (pretend students)", "--json"
    )
    students = json.loads(shown.stdout)["students"]
    assert len(students) == 12
    assert all(row["email"].endswith("@students.outreach-sandbox.invalid") for row in students)
    refused = people("sandbox", "--demo-cohort", STUDENT)
    assert refused.exit_code == 1
    assert "only an adviser" in refused.stderr
    gone = people.ok("sandbox", "--remove-demo-cohort", ADVISER)
    assert "demo cohort and its pretend students are gone" in gone.stdout
    after = people(
        "cohort", "report", "--user", ADVISER, "--name", "Demo cohort (pretend students)"
    )
    assert after.exit_code == 1
    assert "no cohort named" in after.stderr


def test_questions_are_set_with_the_cohort_listed_and_replaced(people: Cli, tmp_path: Path) -> None:
    made = create_cohort(people, "--question", "What surprised you?", "--question", "What next?")
    # The documented keys stay as they were: the questions have a command of their own.
    assert set(made) == {"name", "code", "goal", "due"}
    listed = people.ok("cohort", "questions", "--user", ADVISER, "--name", "Careers 101", "--json")
    assert json.loads(listed.stdout) == {
        "name": "Careers 101",
        "questions": ["What surprised you?", "What next?"],
    }
    file = tmp_path / "questions.txt"
    file.write_text("Whom will you ask next?\n\nWhat did you learn about pay?\n", encoding="utf-8")
    replaced = people.ok(
        "cohort", "questions", "--user", ADVISER, "--name", "Careers 101",
        "--questions-file", str(file),
    )  # fmt: skip
    assert replaced.stdout == "1. Whom will you ask next?\n2. What did you learn about pay?\n"
    both = people(
        "cohort", "questions", "--user", ADVISER, "--name", "Careers 101",
        "--question", "X?", "--questions-file", str(file),
    )  # fmt: skip
    assert both.exit_code == 1 and "not both" in both.stderr
    others = people("cohort", "questions", "--user", OTHER_ADVISER, "--name", "Careers 101")
    assert others.exit_code == 1 and "you have no cohort named 'Careers 101'" in others.stderr


def test_a_questions_file_from_stdin_makes_the_cohort(people: Cli) -> None:
    made = people.ok(
        "cohort", "create", "--user", ADVISER, "--name", "Careers 101",
        "--questions-file", "-", input="One?\nTwo?\n",
    )  # fmt: skip
    assert len(made.stdout.strip()) == 8
    listed = people.ok("cohort", "questions", "--user", ADVISER, "--name", "Careers 101")
    assert listed.stdout == "1. One?\n2. Two?\n"
