"""Control characters never reach a mail header or an IMAP or SMTP command line.

CR/LF in a mailbox's user name would end the LOGIN command and start another;
a NUL from a CSV or vCard file would land in the To: header. They are refused
at the forms, in the import (row by row), in the CLI, in the core, and last of
all where the message and the login are built.
"""

from __future__ import annotations

import io
from datetime import datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography.fernet import Fernet
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from outreach.accounts import MailboxSettings, connect_mailbox, create_user
from outreach.cli import outreach
from outreach.contact_import import import_csv, import_vcard
from outreach.contacts import ContactInput, add_contact
from outreach.crypto import SecretBox
from outreach.errors import MailboxAuthFailed, ValidationError
from outreach.mail import ServerLogin
from outreach.mail.imap import ImapSource
from outreach.mail.smtp import SmtpSender
from outreach.models import Contact, Mailbox, Message, MessageStatus
from outreach.models.accounts import TlsMode
from outreach.rules.compose import OutgoingEmail, build_message
from outreach.rules.plain_text import control_characters, refuse_control_characters
from outreach.sending import Outcome, deliver
from tests.conftest import World
from tests.factories import make_approved_requests, make_user
from tests.security.test_reach import listening
from tests.servers.smtpd import RecordingSMTPServer
from tests.web.conftest import PASSWORD, Browser

INJECTED_LOGIN = "sam\r\nA1 LOGOUT"


@pytest.fixture
def signed_in(app: Flask, session: Session) -> Browser:
    """A browser signed in to the dashboard (`app`, from tests/security/conftest.py)."""
    user = make_user(session, password=PASSWORD)
    session.commit()
    browser = Browser(app.test_client())
    response = browser.login(user.email)
    assert response.status_code == 302, response.get_data(as_text=True)
    return browser


# --- the rule ---------------------------------------------------------------------------------


@pytest.mark.parametrize("character", ["\x00", "\r", "\n", "\t", "\x1b", "\x7f", "\x85", "\x9f"])
def test_every_control_character_is_refused_on_one_line(character: str) -> None:
    with pytest.raises(ValidationError, match="the name contains .*which cannot be used there"):
        refuse_control_characters("the name", f"Ada{character}Lovelace")


def test_multi_line_text_keeps_its_line_breaks_and_tabs_but_not_a_nul() -> None:
    refuse_control_characters(
        "the notes", "Met at a talk.\r\n\tAsk about archives.", multi_line=True
    )
    with pytest.raises(ValidationError, match=r"the notes contains a NUL \(U\+0000\)"):
        refuse_control_characters("the notes", "Met\x00 at a talk.", multi_line=True)


def test_ordinary_text_in_any_script_passes() -> None:
    assert control_characters("Zoë Müller-Łukasiewicz, 山田 太郎 — ‘quoted’ ✓") == []


# --- the login: the last guard before a command line ------------------------------------------


def test_a_line_break_in_the_user_name_never_reaches_either_server(world: World) -> None:
    with listening(b"* OK IMAP4rev1 ready\r\n") as imap, listening(b"220 ready\r\n") as smtp:
        for server, connect in (
            (imap, lambda login: ImapSource(login, world.context).open()),
            (smtp, lambda login: SmtpSender(world.context).check_login(login)),
        ):
            login = ServerLogin("127.0.0.1", server.port, TlsMode.NONE, INJECTED_LOGIN, "pw")
            with pytest.raises(MailboxAuthFailed, match="user name contains a carriage return"):
                connect(login)
        accepted = (imap.accepted, smtp.accepted)

    assert accepted == (0, 0), "nothing is sent to a server for a refused user name"


def test_a_stored_user_name_with_a_line_break_fails_the_connection_test_in_words(
    session: Session, world: World, secret_box: SecretBox
) -> None:
    from outreach.connection_check import check_mailbox

    # Stored before the door was closed: the login itself refuses it.
    world.mailbox.username = INJECTED_LOGIN
    report = check_mailbox(world.mailbox, secret_box, world.context)

    assert report.password_refused
    assert report.problems[:2] == [
        "IMAP: the mailbox's user name contains a carriage return (U+000D), which cannot be "
        "used there; please correct it on the Mailbox page",
        "SMTP: the mailbox's user name contains a carriage return (U+000D), which cannot be "
        "used there; please correct it on the Mailbox page",
    ]


# --- the core ---------------------------------------------------------------------------------


def _settings(**overrides: str) -> MailboxSettings:
    values = {
        "imap_host": "imap.uni.example",
        "imap_port": 993,
        "imap_tls": TlsMode.SSL,
        "smtp_host": "smtp.uni.example",
        "smtp_port": 465,
        "smtp_tls": TlsMode.SSL,
        "email_address": "sam@uni.example",
        "display_name": "Sam Student",
        "username": "sam@uni.example",
        **overrides,
    }
    return MailboxSettings(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("overrides", "password", "words"),
    [
        ({"username": INJECTED_LOGIN}, "pw", "the user name contains a carriage return"),
        ({}, "pw\r\nA2 LIST", "the mailbox password contains a carriage return"),
        ({"imap_host": "imap.uni.example\x00"}, "pw", "the IMAP server name contains a NUL"),
        ({"display_name": "Sam\x00"}, "pw", "the name shown to recipients contains a NUL"),
        ({"email_address": "sam\x00@uni.example"}, "pw", "the email address contains a NUL"),
    ],
)
def test_the_core_refuses_a_mailbox_with_a_control_character(
    session: Session,
    secret_box: SecretBox,
    overrides: dict[str, str],
    password: str,
    words: str,
) -> None:
    user = create_user(session, "sam@uni.example", "Sam Student", "a long enough password")

    with pytest.raises(ValidationError, match=words):
        connect_mailbox(session, user, secret_box, _settings(**overrides), password)
    assert session.scalar(select(Mailbox)) is None


@pytest.mark.parametrize(
    ("field", "words"),
    [
        ("name", "the name contains a NUL"),
        ("email", "the email address contains a NUL"),
        ("organisation", "the organisation contains a NUL"),
        ("role", "the role contains a NUL"),
        ("how_found", "how you found them contains a NUL"),
    ],
)
def test_the_core_refuses_a_contact_with_a_control_character(
    session: Session, field: str, words: str
) -> None:
    user = create_user(session, "sam@uni.example", "Sam Student", "a long enough password")
    values = {"email": "ada@org.example", "name": "Ada Lovelace"}
    values[field] = values.get(field, "x") + "\x00"

    with pytest.raises(ValidationError, match=words):
        add_contact(session, user, ContactInput(**values))  # type: ignore[arg-type]


def test_the_users_own_name_is_refused_with_a_line_break(session: Session) -> None:
    with pytest.raises(ValidationError, match="your name contains a line break"):
        create_user(session, "sam@uni.example", "Sam\nBcc: x@evil.example", "a long password!")


def _outgoing(**overrides: str) -> OutgoingEmail:
    values: dict[str, object] = {
        "from_name": "Sam Student",
        "from_address": "sam@uni.example",
        "to_name": "Alex Lee",
        "to_address": "alex@org.example",
        "subject": "Could I ask you about your work?",
        "body": "Dear Alex,\n\nHello.\n",
        "message_id": "<abc@uni.example>",
        "date": datetime(2026, 12, 3, 9, 0),
        **overrides,
    }
    return OutgoingEmail(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("overrides", "words"),
    [
        ({"to_name": "Alex\x00Lee"}, "the recipient's name contains a NUL"),
        ({"to_address": "alex\x00@org.example"}, "the recipient's address contains a NUL"),
        ({"from_name": "Sam\x1b[31m"}, "the sender's name contains an escape"),
        ({"subject": "Hello\x00Bcc: x@evil.example"}, "the subject contains a NUL"),
    ],
)
def test_the_header_building_is_the_last_guard(overrides: dict[str, str], words: str) -> None:
    with pytest.raises(ValidationError, match=words):
        build_message(_outgoing(**overrides))


def test_a_line_break_in_a_header_field_is_folded_not_sent() -> None:
    raw = build_message(_outgoing(to_name="Alex\r\nBcc: victim@evil.example")).as_bytes()

    assert b"\nBcc:" not in raw.split(b"\n\n", 1)[0]


def test_a_stored_name_with_a_nul_fails_the_send_and_nothing_arrives(
    session: Session,
    session_factory: sessionmaker[Session],
    world: World,
    smtp: RecordingSMTPServer,
    secret_box: SecretBox,
    now: datetime,
) -> None:
    (draft,) = make_approved_requests(session, world.user, now, email="eve@org.example")
    contact = session.get(Contact, draft.contact_id)
    assert contact is not None
    # Imported before the door was closed: written straight to the row.
    contact.name = "Eve\x00\r\nBcc: victim@evil.example"
    session.commit()

    result = deliver(session_factory, draft.id, SmtpSender(world.context), secret_box, lambda: now)

    assert result.outcome is Outcome.FAILED
    assert "the recipient's name contains a NUL (U+0000)" in result.detail
    session.expire_all()
    stored = session.get(Message, draft.id)
    assert stored is not None and stored.status is MessageStatus.FAILED
    assert smtp.messages == []


def test_a_real_send_with_an_injection_attempt_in_the_subject_carries_no_extra_header(
    session: Session,
    session_factory: sessionmaker[Session],
    world: World,
    smtp: RecordingSMTPServer,
    secret_box: SecretBox,
    now: datetime,
) -> None:
    from outreach import drafts

    (draft,) = make_approved_requests(session, world.user, now, email="eve@org.example")
    with pytest.raises(ValidationError, match="the subject contains a NUL"):
        drafts.edit_draft(session, world.user, draft.id, "Hi\x00", "Body", now)
    drafts.edit_draft(session, world.user, draft.id, "Hi\r\nBcc: x@evil.example", "Body.", now)
    drafts.approve(session, world.user, draft.id, now)
    session.commit()

    deliver(session_factory, draft.id, SmtpSender(world.context), secret_box, lambda: now)

    (received,) = smtp.wait_for(1)
    assert received.rcpt_tos == ["eve@org.example"]
    head = received.raw.split(b"\r\n\r\n", 1)[0]
    assert b"\nBcc:" not in head and b"\x00" not in head
    assert received.message["Bcc"] is None


# --- the import: the row is refused, the others come in ----------------------------------------


def test_a_csv_row_with_a_nul_is_refused_by_line_and_field(session: Session) -> None:
    user = create_user(session, "sam@uni.example", "Sam Student", "a long enough password")
    text = (
        "name,email,organisation\n"
        "Ada Lovelace,ada@org.example,Analytical\n"
        "Eve\x00,eve@org.example,Evil\n"
        "Bob Byte,bob@org.example,Bits\x07\n"
        "Cy Young,cy@org.example,Ballpark\n"
    )

    report = import_csv(session, user, text)

    assert [str(problem) for problem in report.errors] == [
        "line 3: Full name contains a NUL (U+0000), which cannot be used there",
        "line 4: Organisation contains the control character U+0007, which cannot be used there",
    ]
    emails = set(session.scalars(select(Contact.email)))
    assert emails == {"ada@org.example", "cy@org.example"}


def test_a_vcard_with_a_nul_in_the_address_is_refused_and_the_other_cards_import(
    session: Session,
) -> None:
    user = create_user(session, "sam@uni.example", "Sam Student", "a long enough password")
    vcf = (
        "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Grace Hopper\r\nEMAIL:grace@navy.example\r\nEND:VCARD\r\n"
        "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Eve\x00 Evil\r\nEMAIL:eve@evil.example\r\nEND:VCARD\r\n"
        "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Mallory\r\nEMAIL:mal\x00@evil.example\r\nEND:VCARD\r\n"
    )

    report = import_vcard(session, user, vcf)

    problems = [str(problem) for problem in report.errors]
    assert problems == [
        "card 2 (Eve\ufffd Evil): Full name contains a NUL (U+0000), which cannot be used there",
        "card 3 (Mallory): Email address contains a NUL (U+0000), which cannot be used there",
    ]
    assert list(session.scalars(select(Contact.email))) == ["grace@navy.example"]


def test_the_import_page_names_the_refused_row(signed_in: Browser, session: Session) -> None:
    csv = "name,email\nAda Lovelace,ada@org.example\nEve\x00,eve@org.example\n"
    response = signed_in.post(
        "/contacts/import",
        {"file": (io.BytesIO(csv.encode()), "contacts.csv")},
        page="/contacts/import",
        content_type="multipart/form-data",
    )
    assert response.status_code == 303, response.get_data(as_text=True)
    check = signed_in.page(response.headers["Location"])

    assert "Full name contains a NUL (U+0000), which cannot be used there" in check
    assert "\x00" not in check


# --- the forms --------------------------------------------------------------------------------


def test_the_contact_form_refuses_a_line_break_in_the_name(
    signed_in: Browser, session: Session
) -> None:
    response = signed_in.post(
        "/contacts",
        {"name": "Eve\r\nBcc: victim@evil.example", "email": "eve@org.example"},
        page="/contacts",
    )

    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "Full name contains a carriage return (U+000D), which cannot be used there." in page
    assert session.scalar(select(Contact)) is None


def test_the_contact_forms_notes_keep_their_line_breaks(
    signed_in: Browser, session: Session
) -> None:
    response = signed_in.post(
        "/contacts",
        {"name": "Ada Lovelace", "email": "ada@org.example", "notes": "Line one.\r\n\tLine two."},
        page="/contacts",
    )

    assert response.status_code == 302, response.get_data(as_text=True)
    assert session.scalar(select(Contact.notes)) == "Line one.\r\n\tLine two."


def test_the_mailbox_form_refuses_a_line_break_in_the_user_name(
    signed_in: Browser, session: Session
) -> None:
    response = signed_in.post(
        "/mailbox",
        {
            "email_address": "sam@uni.example",
            "display_name": "Sam",
            "username": INJECTED_LOGIN,
            "password": "an app password",
            "imap_host": "imap.uni.example",
            "imap_port": "993",
            "imap_tls": "ssl",
            "smtp_host": "smtp.uni.example",
            "smtp_port": "465",
            "smtp_tls": "ssl",
        },
        page="/mailbox",
    )

    assert response.status_code == 400
    assert "contains a carriage return (U+000D)" in response.get_data(as_text=True)
    assert session.scalar(select(Mailbox)) is None


def test_the_mailbox_password_change_refuses_a_line_break(
    signed_in: Browser, session: Session, secret_box: SecretBox
) -> None:
    from outreach.models import User

    owner = session.scalar(select(User))
    assert owner is not None
    mailbox = connect_mailbox(session, owner, secret_box, _settings(), "first password")
    session.commit()

    response = signed_in.post(
        f"/mailbox/{mailbox.id}/password", {"password": "pw\r\nA2 LIST"}, page="/mailbox"
    )

    assert response.status_code == 302
    page = signed_in.page("/mailbox")
    assert "The mailbox password contains a carriage return (U+000D)" in page
    session.refresh(mailbox)
    assert secret_box.decrypt(mailbox.secret_encrypted) == "first password"


# --- the CLI ----------------------------------------------------------------------------------


@pytest.fixture
def cli(tmp_path: Path) -> tuple[CliRunner, dict[str, str | None]]:
    env: dict[str, str | None] = {
        "OUTREACH_INSTANCE_DIR": str(tmp_path / "instance"),
        "OUTREACH_SECRET_KEY": "cli-test-secret",
        "OUTREACH_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "OUTREACH_DATABASE_URL": None,
        "OUTREACH_REDIS_URL": None,
        "OUTREACH_USER": None,
        "OUTREACH_CA_FILE": None,
    }
    runner = CliRunner()
    upgraded = runner.invoke(outreach, ["db", "upgrade"], env=env, catch_exceptions=False)
    assert upgraded.exit_code == 0, upgraded.output
    created = runner.invoke(
        outreach,
        ["user", "create", "--email", "ann@example.test", "--name", "Ann Lee"],
        input="correct horse battery staple\n",
        env=env,
        catch_exceptions=False,
    )
    assert created.exit_code == 0, created.output
    return runner, env


def test_the_cli_refuses_a_user_name_with_a_line_break(
    cli: tuple[CliRunner, dict[str, str | None]],
) -> None:
    runner, env = cli
    result = runner.invoke(
        outreach,
        ["mailbox", "add", "--user", "ann@example.test", "--address", "ann@example.test",
         "--imap-host", "imap.example.test", "--smtp-host", "smtp.example.test",
         "--username", INJECTED_LOGIN],
        input="app-password\n",
        env=env,
        catch_exceptions=False,
    )  # fmt: skip

    assert result.exit_code == 1
    assert "the user name contains a carriage return (U+000D)" in result.stderr


def test_the_cli_import_refuses_the_row_with_a_nul_and_keeps_the_others(
    cli: tuple[CliRunner, dict[str, str | None]], tmp_path: Path
) -> None:
    runner, env = cli
    path = tmp_path / "contacts.csv"
    path.write_text("name,email\nAda Lovelace,ada@org.example\nEve\x00,eve@org.example\n")

    result = runner.invoke(
        outreach,
        ["contacts", "import", "--user", "ann@example.test", str(path)],
        env=env,
        catch_exceptions=False,
    )

    assert result.exit_code == 1
    assert "1 created" in result.stdout
    assert "line 3: Full name contains a NUL (U+0000), which cannot be used there" in result.stderr
