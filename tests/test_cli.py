"""The `outreach` command line, driven through click's CliRunner on a fresh instance.

Each test starts from `outreach db upgrade` run through the CLI itself, so the
Alembic migrations are exercised by every test here, and checked against the
models on SQLite and PostgreSQL.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from click.testing import CliRunner, Result
from cryptography.fernet import Fernet
from redis import Redis
from rq import Queue
from sqlalchemy import Engine, inspect, select, text
from sqlalchemy.orm import Session

from outreach import meetings
from outreach.accounts import authenticate
from outreach.cli import outreach
from outreach.config import Settings
from outreach.crypto import SecretBox
from outreach.db import make_engine
from outreach.meetings import MeetingDetails, MeetingNotes, Reflection
from outreach.models import Base, Event, Mailbox, Message, MessageStatus, Outreach, User
from outreach.rules.states import OutreachState, Trigger
from outreach.sending import record_sent
from outreach.timeline import advance
from tests.factories import make_approved_requests, make_mailbox
from tests.servers.dovecot import DovecotServer
from tests.servers.fixtures import MailAccount
from tests.servers.postgres import PostgresServer
from tests.servers.redis import RedisServer
from tests.servers.smtpd import RecordingSMTPServer
from tests.servers.tls import TlsFiles

USER = "ann@example.test"
PASSWORD = "correct horse battery staple"
MAILBOX_SECRET = "app-password-4f9c2e"
ISO_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")

CONTACTS_CSV = (
    "First Name,Last Name,Email Address,Company,Position,How found\n"
    "Bob,Smith,bob@corp.example,Corp,Engineer,the alumni network\n"
    "Bad,Row,not-an-email,Corp,Chemist,a talk\n"
    "Cara,Jones,cara@corp.example,Corp,Chemist,a talk she gave\n"
)

DRAFT_KEYS = {
    "id",
    "kind",
    "status",
    "contact_id",
    "contact_name",
    "to",
    "outreach_id",
    "subject",
    "body",
    "can_approve",
    "problem",
    "created_at",
}
BOARD_ROW_KEYS = {
    "contact_id",
    "contact_name",
    "contact_email",
    "organisation",
    "target_id",
    "target_name",
    "state",
    "label",
    "detail",
    "since",
}
CONTACT_KEYS = {
    "id",
    "email",
    "name",
    "first_name",
    "role",
    "organisation",
    "how_found",
    "referred_by_id",
    "notes",
    "time_zone",
    "do_not_contact",
    "created_at",
}


class Cli:
    """Runs `outreach ...` in-process with an environment of its own."""

    def __init__(self, env: dict[str, str | None]) -> None:
        self.env = env
        self.runner = CliRunner()

    def __call__(self, *args: str, input: str | None = None, **env: str | None) -> Result:
        return self.runner.invoke(
            outreach, list(args), input=input, env={**self.env, **env}, catch_exceptions=False
        )

    def ok(self, *args: str, input: str | None = None) -> Result:
        result = self(*args, input=input)
        assert result.exit_code == 0, f"{args}: {result.output}"
        return result

    def settings(self) -> Settings:
        return Settings.from_env({k: v for k, v in self.env.items() if v is not None})


@pytest.fixture
def cli_env(tmp_path: Path) -> dict[str, str | None]:
    return {
        "OUTREACH_INSTANCE_DIR": str(tmp_path / "instance"),
        "OUTREACH_SECRET_KEY": "cli-test-secret",
        "OUTREACH_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        # Whatever the developer's shell holds must not leak in.
        "OUTREACH_DATABASE_URL": None,
        "OUTREACH_REDIS_URL": None,
        "OUTREACH_USER": None,
        "OUTREACH_CA_FILE": None,
    }


@pytest.fixture
def cli(cli_env: dict[str, str | None]) -> Cli:
    runner = Cli(cli_env)
    runner.ok("db", "upgrade")
    return runner


@pytest.fixture
def db_engine(cli: Cli) -> Iterator[Engine]:
    engine = make_engine(cli.settings().database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def with_user(cli: Cli) -> Cli:
    introduction = "I am finishing a chemistry degree."
    cli.ok("user", "create", "--email", USER, "--name", "Ann Lee",
           "--introduction", introduction, input=PASSWORD + "\n")  # fmt: skip
    return cli


@pytest.fixture
def with_contacts(with_user: Cli, tmp_path: Path) -> Cli:
    path = tmp_path / "contacts.csv"
    path.write_text(CONTACTS_CSV)
    with_user("contacts", "import", "--user", USER, str(path))  # one bad row: exit status 1
    return with_user


def _add_mailbox(cli: Cli, *extra: str, secret: str = MAILBOX_SECRET) -> Result:
    return cli(
        "mailbox", "add", "--user", USER, "--address", USER,
        "--imap-host", "127.0.0.1", "--imap-port", "1", "--imap-tls", "ssl",
        "--smtp-host", "127.0.0.1", "--smtp-port", "2", "--smtp-tls", "starttls",
        *extra, input=secret + "\n",
    )  # fmt: skip


# --- migrations -------------------------------------------------------------------------------


def _assert_schema_matches_models(engine: Engine) -> None:
    with engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
        assert diff == [], f"the migrations and the models differ: {diff}"
        inspector = inspect(connection)
        assert set(inspector.get_table_names()) == set(Base.metadata.tables) | {"alembic_version"}
        # Every constraint carries the name the naming convention gives it in the models.
        for table in Base.metadata.sorted_tables:
            assert inspector.get_pk_constraint(table.name)["name"] == table.primary_key.name
            expected_fks = {fk.name for fk in table.foreign_key_constraints}
            assert {fk["name"] for fk in inspector.get_foreign_keys(table.name)} == expected_fks
            expected_indexes = {index.name for index in table.indexes}
            # PostgreSQL also lists the index behind each unique constraint; skip those.
            indexes = inspector.get_indexes(table.name)
            found = {ix["name"] for ix in indexes if not ix.get("duplicates_constraint")}
            assert found == expected_indexes, table.name
            expected_uniques = {
                c.name for c in table.constraints if c.__class__.__name__ == "UniqueConstraint"
            } | {f"uq_{table.name}_{col.name}" for col in table.columns if col.unique}
            found_uniques = {uq["name"] for uq in inspector.get_unique_constraints(table.name)}
            assert found_uniques == expected_uniques, table.name


def test_db_upgrade_builds_the_models_schema_on_sqlite(cli: Cli, db_engine: Engine) -> None:
    again = cli.ok("db", "upgrade")  # idempotent
    assert "is at revision 0017" in again.output
    _assert_schema_matches_models(db_engine)


@pytest.mark.postgres
def test_db_upgrade_builds_the_models_schema_on_postgresql(
    cli_env: dict[str, str | None], postgres: PostgresServer
) -> None:
    url = postgres.create_database()
    cli = Cli({**cli_env, "OUTREACH_DATABASE_URL": url})
    result = cli.ok("db", "upgrade")
    assert "postgresql+psycopg://" in result.output
    engine = make_engine(url)
    try:
        _assert_schema_matches_models(engine)
    finally:
        engine.dispose()


def test_the_0012_upgrade_guesses_each_old_targets_phrase_for_the_user_to_confirm(
    cli_env: dict[str, str | None],
) -> None:
    cli = Cli(cli_env)
    cli.ok("db", "upgrade", "--revision", "0011")
    engine = make_engine(cli.settings().database_url)
    try:
        with engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO users (id, email, name, password_hash, introduction, signature,"
                    " time_zone, holidays, auto_approve, monthly_goal, created_at,"
                    " session_version) VALUES (1, 'a@b.example', 'A', 'x', '', '', 'UTC', '',"
                    " '', 1, '2026-12-01 09:00:00', 0)"
                )
            )
            for ident, name in ((1, "Museums (London list)"), (2, "Climate tech (sandbox)")):
                connection.execute(
                    text(
                        "INSERT INTO targets (id, user_id, name, max_in_flight,"
                        " wait_business_days, send_follow_up, give_up_business_days,"
                        " allow_same_organisation, paused, created_at) VALUES"
                        " (:id, 1, :name, 1, 5, true, 5, false, false, '2026-12-01 09:00:00')"
                    ),
                    {"id": ident, "name": name},
                )
        cli.ok("db", "upgrade")
        with engine.connect() as connection:
            rows = connection.execute(
                text("SELECT field_phrase, field_phrase_confirmed FROM targets ORDER BY id")
            ).all()
    finally:
        engine.dispose()
    assert [(phrase, bool(confirmed)) for phrase, confirmed in rows] == [
        ("museums", False),
        ("climate tech", False),
    ]


def test_commands_before_db_upgrade_say_what_to_do(cli_env: dict[str, str | None]) -> None:
    result = Cli(cli_env)("contacts", "list", "--user", USER)
    assert result.exit_code == 1
    assert "outreach db upgrade" in result.stderr
    assert result.stdout == ""


# --- users and mailboxes ----------------------------------------------------------------------


def test_user_create_reads_the_password_from_stdin(cli: Cli, db_engine: Engine) -> None:
    result = cli("user", "create", "--email", "Ann@Example.test", "--name", "Ann  Lee",
                 input=PASSWORD + "\n")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "created the account ann@example.test" in result.stdout
    assert PASSWORD not in result.output
    # No introduction yet: the user is told requests will need one.
    assert "introduction" in result.stderr
    with Session(db_engine) as session:
        user = authenticate(session, USER, PASSWORD)
        assert user is not None and user.name == "Ann Lee"
        assert PASSWORD not in user.password_hash


def test_user_create_refuses_a_short_password(cli: Cli, db_engine: Engine) -> None:
    result = cli("user", "create", "--email", USER, "--name", "Ann Lee", input="short\n")
    assert result.exit_code == 1
    assert "at least 10 characters" in result.stderr
    assert result.stdout == ""
    with Session(db_engine) as session:
        assert session.scalar(select(User)) is None


def test_user_create_refuses_a_second_account_for_the_same_address(with_user: Cli) -> None:
    result = with_user("user", "create", "--email", USER, "--name", "Ann", input=PASSWORD + "\n")
    assert result.exit_code == 1
    assert "already exists" in result.stderr


def test_user_set_password_replaces_it_and_ends_every_sign_in(
    with_user: Cli, db_engine: Engine
) -> None:
    new = "a forgotten one, replaced"
    with Session(db_engine) as session:
        before = session.scalars(select(User)).one().session_version
    result = with_user("user", "set-password", "--email", USER.upper(), input=new + "\n")
    assert result.exit_code == 0, result.output
    assert "every sign-in to it has ended" in result.stdout
    assert new not in result.output
    with Session(db_engine) as session:
        assert authenticate(session, USER, PASSWORD) is None
        user = authenticate(session, USER, new)
        assert user is not None and user.session_version == before + 1
    short = with_user("user", "set-password", "--email", USER, input="short\n")
    assert short.exit_code == 1 and "at least 10 characters" in short.stderr
    unknown = with_user("user", "set-password", "--email", "nobody@example.test", input=new + "\n")
    assert unknown.exit_code == 1 and "there is no account" in unknown.stderr


def test_mailbox_add_stores_the_secret_encrypted(with_user: Cli, db_engine: Engine) -> None:
    result = _add_mailbox(with_user)
    assert result.exit_code == 0, result.output
    assert MAILBOX_SECRET not in result.output
    with db_engine.connect() as connection:
        raw = connection.exec_driver_sql("SELECT secret_encrypted FROM mailboxes").scalar_one()
    assert MAILBOX_SECRET not in raw
    assert SecretBox(with_user.settings().encryption_keys).decrypt(raw) == MAILBOX_SECRET
    listing = with_user.ok("mailbox", "list", "--user", USER, "--json")
    assert MAILBOX_SECRET not in listing.output
    (mailbox,) = json.loads(listing.stdout)["mailboxes"]
    assert mailbox["address"] == USER and mailbox["imap_tls"] == "ssl"
    assert "secret" not in json.dumps(mailbox)


def test_mailbox_add_refuses_an_empty_secret(with_user: Cli) -> None:
    result = _add_mailbox(with_user, secret="")
    assert result.exit_code == 1
    assert "password" in result.stderr


def test_mailbox_test_logs_in_to_real_servers(
    with_user: Cli,
    dovecot: DovecotServer,
    mail_account: MailAccount,
    smtp_server: RecordingSMTPServer,
    tls_files: TlsFiles,
) -> None:
    # One secret serves both servers, as with a real provider's app password.
    smtp_server.users[mail_account.user] = mail_account.password
    try:
        added = with_user(
            "mailbox", "add", "--user", USER, "--address", mail_account.user,
            "--imap-host", "127.0.0.1", "--imap-port", str(dovecot.imaps_port),
            "--imap-tls", "ssl", "--smtp-host", "127.0.0.1",
            "--smtp-port", str(smtp_server.port), "--smtp-tls", "starttls",
            input=mail_account.password + "\n",
        )  # fmt: skip
        assert added.exit_code == 0, added.output
        env = {"OUTREACH_CA_FILE": str(tls_files.ca_pem)}
        result = with_user("mailbox", "test", "--user", USER, **env)
        assert result.exit_code == 0, result.output
        assert "IMAP login:  ok" in result.stdout
        assert "SMTP login:  ok" in result.stdout
        assert "Sent folder: Sent" in result.stdout

        _add_mailbox(with_user)  # a second mailbox, on closed ports
        listing = json.loads(with_user.ok("mailbox", "list", "--user", USER, "--json").stdout)
        broken_id = max(item["id"] for item in listing["mailboxes"])
        failed = with_user("mailbox", "test", "--user", USER, str(broken_id), **env)
        assert failed.exit_code == 1
        assert "IMAP" in failed.stderr and "does not work yet" in failed.stderr
    finally:
        del smtp_server.users[mail_account.user]


# --- contacts, targets, drafts, status --------------------------------------------------------


def test_contacts_import_reports_bad_rows_and_keeps_good_ones(
    with_user: Cli, tmp_path: Path
) -> None:
    path = tmp_path / "contacts.csv"
    path.write_text(CONTACTS_CSV)
    result = with_user("contacts", "import", "--user", USER, str(path))
    assert result.exit_code == 1
    assert "2 created, 0 already on your list, 1 refused" in result.stdout
    assert "line 3: 'not-an-email' is not a valid email address" in result.stderr

    again = with_user("contacts", "import", "--user", USER, "--json", str(path))
    assert again.exit_code == 1
    report = json.loads(again.stdout)
    assert report == {
        "created": [],
        "duplicates": ["bob@corp.example", "cara@corp.example"],
        "errors": [{"line": 3, "error": "'not-an-email' is not a valid email address"}],
    }

    listing = json.loads(with_user.ok("contacts", "list", "--user", USER, "--json").stdout)
    assert [c["email"] for c in listing["contacts"]] == ["bob@corp.example", "cara@corp.example"]
    assert all(set(c) == CONTACT_KEYS for c in listing["contacts"])
    assert all(ISO_UTC.match(c["created_at"]) for c in listing["contacts"])


def test_contacts_import_from_stdin(with_user: Cli) -> None:
    result = with_user("contacts", "import", "--user", USER, "-",
                       input="email,name,source\nd@x.example,Dee Doe,a talk\n")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "1 created" in result.stdout


def test_target_create_drafts_the_first_request(with_contacts: Cli) -> None:
    cli = with_contacts
    result = cli("target", "create", "--user", USER, "Chemistry (autumn list)",
                 "--field", "industrial chemistry",
                 "--contacts", "cara@corp.example, bob@corp.example")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "with 2 names; emails say “industrial chemistry”" in result.stdout
    # In the order given: Cara first, and only one request out at a time.
    assert re.search(r"drafted a request to cara@corp.example \(draft \d+\)", result.stdout)
    assert "bob@corp.example" not in result.stdout

    drafts = json.loads(cli.ok("drafts", "list", "--user", USER, "--json").stdout)["drafts"]
    (draft,) = drafts
    assert set(draft) == DRAFT_KEYS
    assert draft["kind"] == "request" and draft["status"] == "draft"
    assert draft["to"] == "cara@corp.example" and draft["contact_name"] == "Cara Jones"
    assert draft["can_approve"] is True and draft["problem"] is None
    assert "Dear Cara" in draft["body"] and "chemistry degree" in draft["body"]
    # The field phrase, never the list's name, is what the email says.
    assert draft["subject"] == "Could I ask your advice about industrial chemistry?"
    assert "autumn list" not in draft["subject"] + draft["body"]
    assert ISO_UTC.match(draft["created_at"])

    board = json.loads(cli.ok("status", "--user", USER, "--json").stdout)
    assert set(board) == {"generated_at", "pending_drafts", "outreaches"}
    assert ISO_UTC.match(board["generated_at"]) and board["pending_drafts"] == 1
    assert all(set(row) == BOARD_ROW_KEYS for row in board["outreaches"])
    states = {row["contact_email"]: row["state"] for row in board["outreaches"]}
    assert states == {"cara@corp.example": "drafted", "bob@corp.example": "planned"}
    assert all(ISO_UTC.match(row["since"]) for row in board["outreaches"])

    text = cli.ok("status", "--user", USER).stdout
    assert "Cara Jones <cara@corp.example>  Chemistry (autumn list): drafted" in text


def test_target_create_asks_for_the_field_phrase(with_contacts: Cli) -> None:
    result = with_contacts("target", "create", "--user", USER, "Chemistry",
                           "--contacts", "bob@corp.example")  # fmt: skip
    assert result.exit_code == 2
    assert "Missing option '--field'" in result.stderr
    help_text = with_contacts.ok("target", "create", "--help").stdout
    assert "Could I ask your advice about" in " ".join(help_text.split())


def test_target_create_refuses_an_address_not_on_the_list(with_contacts: Cli) -> None:
    result = with_contacts("target", "create", "--user", USER, "Chemistry", "--field", "chemistry",
                           "--contacts", "bob@corp.example,zed@corp.example")  # fmt: skip
    assert result.exit_code == 1
    assert "zed@corp.example is not on your contact list" in result.stderr
    assert result.stdout == ""
    status = json.loads(with_contacts.ok("status", "--user", USER, "--json").stdout)
    assert status["outreaches"] == []  # nothing half-made


def test_target_create_names_who_is_not_asked_again_and_ask_again_is_deliberate(
    with_contacts: Cli, db_engine: Engine
) -> None:
    cli = with_contacts
    cli.ok(
        "target",
        "create",
        "--user",
        USER,
        "Chemistry",
        "--field",
        "chemistry",
        "--contacts",
        "bob@corp.example",
    )
    with Session(db_engine) as session:
        # Bob declined on the first list (the poller's work, elsewhere tested).
        (outreach,) = session.scalars(select(Outreach)).all()
        outreach.state = OutreachState.DECLINED
        outreach.state_changed_at = declined_at = datetime.now(UTC) - timedelta(days=1)
        session.commit()

    made = cli("target", "create", "--user", USER, "Physics", "--field", "physics",
               "--contacts", "bob@corp.example,cara@corp.example")  # fmt: skip

    assert made.exit_code == 0, made.output
    assert f"Bob Smith declined on {declined_at.day} {declined_at:%b}" in made.stderr
    assert "not asked again: nothing is drafted for them" in made.stderr
    assert "drafted a request to cara@corp.example" in made.stdout
    assert "drafted a request to bob@corp.example" not in made.stdout
    target_id = re.search(r"'Physics' \(id (\d+)\)", made.stdout)
    assert target_id is not None

    refused = cli("target", "ask-again", "--user", USER, target_id[1], "bob@corp.example",
                  input="n\n")  # fmt: skip
    assert refused.exit_code != 0
    again = cli.ok("target", "ask-again", "--user", USER, target_id[1], "bob@corp.example",
                   "--yes")  # fmt: skip
    assert "Bob Smith will be asked again on 'Physics' (recorded)" in again.stdout
    with Session(db_engine) as session:
        kinds = session.scalars(select(Event.kind).where(Event.kind == "asked_again")).all()
        assert kinds == ["asked_again"]


def _one_draft(cli: Cli) -> int:
    cli.ok("target", "create", "--user", USER, "Chemistry", "--field", "chemistry",
           "--contacts", "bob@corp.example")  # fmt: skip
    (draft,) = json.loads(cli.ok("drafts", "list", "--user", USER, "--json").stdout)["drafts"]
    return int(draft["id"])


def test_drafts_approve_without_redis_keeps_the_approval(
    with_contacts: Cli, db_engine: Engine
) -> None:
    cli = with_contacts
    draft_id = _one_draft(cli)
    refused = cli("drafts", "approve", "--user", USER, str(draft_id))
    assert refused.exit_code == 1
    assert "connect your mailbox" in refused.stderr

    assert _add_mailbox(cli).exit_code == 0
    result = cli("drafts", "approve", "--user", USER, "--all")
    assert result.exit_code == 0, result.output
    assert f"approved draft {draft_id} to bob@corp.example" in result.stdout
    assert "Redis" in result.stderr and "approval is kept" in result.stderr
    with Session(db_engine) as session:
        message = session.get_one(Message, draft_id)
        assert message.status is MessageStatus.APPROVED
        assert message.message_id is not None and message.message_id.endswith("@example.test>")

    again = cli("drafts", "approve", "--user", USER, str(draft_id), "999")
    assert again.exit_code == 1
    assert f"draft {draft_id} was not approved: this message is approved" in again.stderr
    assert "draft 999 was not approved: no such message" in again.stderr


def test_drafts_approve_queues_a_send_job(with_contacts: Cli, redis_server: RedisServer) -> None:
    cli = with_contacts
    draft_id = _one_draft(cli)
    assert _add_mailbox(cli).exit_code == 0
    # A database number of our own: job ids repeat across tests (every test's first
    # message has id 1), and the session's Redis is shared.
    url = urlunsplit(urlsplit(redis_server.url)._replace(path="/9"))
    connection = Redis.from_url(url)
    try:
        connection.flushdb()
        result = cli("drafts", "approve", "--user", USER, str(draft_id), OUTREACH_REDIS_URL=url)
        assert result.exit_code == 0, result.output
        assert "queued 1 for sending" in result.stdout
        assert result.stderr == ""
        assert Queue("send", connection=connection).job_ids == [f"send-message-{draft_id}"]
    finally:
        connection.flushdb()
        connection.close()


def test_drafts_approve_needs_ids_or_all(with_user: Cli) -> None:
    neither = with_user("drafts", "approve", "--user", USER)
    assert neither.exit_code == 2
    both = with_user("drafts", "approve", "--user", USER, "--all", "1")
    assert both.exit_code == 2


# --- errors -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "command",
    [
        ["contacts", "list"],
        ["drafts", "list", "--json"],
        ["status", "--json"],
        ["mailbox", "test"],
        ["target", "create", "T", "--field", "t", "--contacts", "a@b.example"],
    ],
)
def test_an_unknown_user_is_an_error_on_stderr(with_user: Cli, command: list[str]) -> None:
    result = with_user(*command, "--user", "nobody@example.test")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.startswith("Error: there is no account for nobody@example.test")
    assert "Traceback" not in result.output


def test_the_user_can_come_from_the_environment(with_user: Cli) -> None:
    result = with_user("contacts", "list", OUTREACH_USER=USER)
    assert result.exit_code == 0, result.output


def test_a_bad_setting_is_a_sentence_not_a_traceback(with_user: Cli) -> None:
    result = with_user("status", "--user", USER, OUTREACH_ENCRYPTION_KEYS="not-a-key")
    assert result.exit_code == 1
    assert "OUTREACH_ENCRYPTION_KEYS" in result.stderr
    assert "Traceback" not in result.output


def test_mailbox_password_does_not_reach_the_database_in_clear(
    with_user: Cli, db_engine: Engine
) -> None:
    assert _add_mailbox(with_user).exit_code == 0
    database = Path(with_user.settings().database_url.removeprefix("sqlite:///"))
    with Session(db_engine) as session:
        assert session.scalar(select(Mailbox.username)) == USER
    db_engine.dispose()
    for path in database.parent.glob(database.name + "*"):  # the file, its WAL and SHM
        assert MAILBOX_SECRET.encode() not in path.read_bytes()


def test_interviews_export_carries_the_reflection(with_user: Cli, db_engine: Engine) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    with Session(db_engine) as session:
        user = session.scalars(select(User).where(User.email == USER)).one()
        make_mailbox(session, user, SecretBox(with_user.settings().encryption_keys))
        (request,) = make_approved_requests(session, user, now, name="Alex Lee", role="Analyst")
        record_sent(session, request.id, now)
        outreach = session.get_one(Outreach, request.outreach_id)
        advance(session, outreach, Trigger.REPLY_RECEIVED, now, "reply received")
        meeting = meetings.record_meeting(
            session, user, outreach.id, MeetingDetails(now - timedelta(days=1)), now
        )
        reflection = Reflection(fit="A good fit.", next_steps="Write to Rosa.")
        meetings.save_notes(
            session, user, meeting.id, MeetingNotes(learned="Lots.", reflection=reflection), now
        )
        session.commit()

    result = with_user.ok("interviews", "export", "--user", USER)

    (row,) = csv.DictReader(io.StringIO(result.stdout))
    assert (row["name"], row["learned"]) == ("Alex Lee", "Lots.")
    assert (row["reflection_fit"], row["reflection_next_steps"]) == (
        "A good fit.",
        "Write to Rosa.",
    )
    assert row["reflection_went_well"] == row["reflection_do_better"] == ""
