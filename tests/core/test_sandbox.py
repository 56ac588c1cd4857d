"""The sandbox: its servers, its simulated contacts, its set-up and its compressed time.

The servers are the real ones (aiosmtpd and pymap on 127.0.0.1): a request goes
in through our own SMTP sender, each contact's answer comes back into the
sandbox INBOX, and our own classifier reads it as the contact's address says.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from imapclient import IMAPClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from outreach.config import Settings
from outreach.crypto import SecretBox
from outreach.errors import ConfigurationError, MailboxAuthFailed, ValidationError
from outreach.mail import ServerLogin
from outreach.mail.smtp import SmtpSender
from outreach.mail.tls import client_context
from outreach.models import Contact, Event, Mailbox, MessageStatus, Outreach, TlsMode
from outreach.reading.classify import InboundKind, Reading, read_message
from outreach.rules.compose import OutgoingEmail, build_message
from outreach.rules.sandbox_addresses import (
    PEOPLE_DOMAIN,
    SANDBOX_DOMAIN,
    Behaviour,
    behaviour_of,
    is_sandbox,
)
from outreach.rules.states import OutreachState
from outreach.sandbox.demo import DEMO_CONTACTS, TARGET_NAME, SandboxPorts, set_up_sandbox
from outreach.sandbox.servers import SandboxConfig, SandboxServers
from outreach.sandbox.timewarp import TimeWarp
from outreach.targets import create_target
from tests.factories import make_contact, make_mailbox, make_user
from tests.servers.net import free_ports, log_tail, wait_for_port
from workers.processes import group_members

REPO = Path(__file__).resolve().parents[2]
SANDBOX_USER = f"sam.7@{SANDBOX_DOMAIN}"
SANDBOX_PASSWORD = "generated-and-stored-encrypted"


# --- which address does what --------------------------------------------------------------------


def test_a_sandbox_mailbox_is_known_by_its_domain(session: Session, secret_box: SecretBox) -> None:
    user = make_user(session)
    real = make_mailbox(session, user, secret_box)
    pretend = make_mailbox(session, user, secret_box, email_address=f"sam.1@{SANDBOX_DOMAIN}")
    assert is_sandbox(pretend) and not is_sandbox(real)
    assert is_sandbox(f"agrees.maya@{PEOPLE_DOMAIN}")
    assert not is_sandbox("maya@outreach-sandbox.invalid.example.org")
    assert not is_sandbox("maya@notoutreach-sandbox.invalid")


def test_real_people_are_never_written_to_from_the_sandbox_nor_the_reverse(
    session: Session, secret_box: SecretBox
) -> None:
    """A user who tried the sandbox and then connected their own mailbox."""
    from outreach.accounts import primary_mailbox
    from outreach.drafts import approve
    from outreach.targets import fill_pipeline

    user = make_user(session)
    pretend = make_mailbox(session, user, secret_box, email_address=f"sam.2@{SANDBOX_DOMAIN}")
    real = make_mailbox(session, user, secret_box)
    person = make_contact(session, user, email="maya@uni.example")
    simulated = make_contact(session, user, email=f"agrees.maya@{PEOPLE_DOMAIN}")
    now = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)
    drafted = []
    for contact in (person, simulated):
        target = create_target(session, user, f"List {contact.id}", [contact.id])
        drafted += fill_pipeline(session, user, target, now)

    approved = {message.to_address: approve(session, user, message.id, now) for message in drafted}

    assert primary_mailbox(session, user) is real
    assert approved["maya@uni.example"].mailbox_id == real.id
    assert approved[f"agrees.maya@{PEOPLE_DOMAIN}"].mailbox_id == pretend.id


def test_a_simulated_contact_behaves_as_its_address_says() -> None:
    assert behaviour_of(f"agrees.maya.chen@{PEOPLE_DOMAIN}") is Behaviour.AGREES
    assert behaviour_of(f"Declines.Tom@{PEOPLE_DOMAIN}") is Behaviour.DECLINES
    assert behaviour_of(f"<away.lena@{PEOPLE_DOMAIN}>") is Behaviour.AWAY
    assert behaviour_of(f"bounces.raj@{PEOPLE_DOMAIN}") is Behaviour.BOUNCES
    assert behaviour_of(f"someone@{PEOPLE_DOMAIN}") is Behaviour.SILENT
    # A real address is no simulated contact, whatever its first word.
    assert behaviour_of("agrees.maya@example.org") is None


def test_sandbox_settings_are_read_and_checked(tmp_path: Path) -> None:
    base = {"OUTREACH_INSTANCE_DIR": str(tmp_path)}
    defaults = Settings.from_env(base)
    assert (defaults.sandbox_smtp_port, defaults.sandbox_imap_port) == (2525, 1143)
    assert defaults.sandbox_enabled and defaults.sandbox_reply_delay == (5.0, 45.0)
    custom = Settings.from_env(
        {
            **base,
            "OUTREACH_SANDBOX": "off",
            "OUTREACH_SANDBOX_REPLY_DELAY": "1-2.5",
            "OUTREACH_SANDBOX_DAY_SECONDS": "3",
        }
    )
    assert not custom.sandbox_enabled
    assert custom.sandbox_reply_delay == (1.0, 2.5) and custom.sandbox_day_seconds == 3.0
    with pytest.raises(ConfigurationError, match="like 5-45"):
        Settings.from_env({**base, "OUTREACH_SANDBOX_REPLY_DELAY": "soon"})
    with pytest.raises(ConfigurationError, match="port number"):
        Settings.from_env({**base, "OUTREACH_SANDBOX_IMAP_PORT": "70000"})


# --- the servers, for real on 127.0.0.1 ---------------------------------------------------------


def _assert_free(*ports: int) -> None:
    """Nothing listens on these ports (closed connections may linger in TIME_WAIT)."""
    for port in ports:
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(("127.0.0.1", port))
            probe.listen()


class RunningSandbox:
    """SandboxServers serving in a thread of their own, with their own event loop."""

    def __init__(self, servers: SandboxServers) -> None:
        self.servers = servers
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            async with self.servers.serving():
                self._ready.set()
                await self._stop.wait()

        try:
            asyncio.run(main())
        except BaseException as error:  # noqa: BLE001 - reported by start()
            self._error = error
            self._ready.set()

    def start(self) -> None:
        self._thread.start()
        assert self._ready.wait(10), "the sandbox did not start"
        if self._error is not None:
            raise self._error

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)
        assert not self._thread.is_alive()


@pytest.fixture
def sandbox() -> Iterator[SandboxServers]:
    smtp_port, imap_port = free_ports(2)
    servers = SandboxServers(
        SandboxConfig(smtp_port=smtp_port, imap_port=imap_port, reply_delay=(0.1, 0.3)),
        {SANDBOX_USER: SANDBOX_PASSWORD}.get,
        lambda: datetime.now(UTC),
    )
    running = RunningSandbox(servers)
    running.start()
    try:
        yield servers
    finally:
        running.stop()
    # Both ports are free again: nothing was left listening.
    _assert_free(smtp_port, imap_port)


def _login(servers: SandboxServers, password: str = SANDBOX_PASSWORD) -> ServerLogin:
    return ServerLogin("127.0.0.1", servers.config.smtp_port, TlsMode.NONE, SANDBOX_USER, password)


def _request(to: str, name: str, number: int, follow_up_of: str | None = None) -> OutgoingEmail:
    return OutgoingEmail(
        from_name="Sam Student",
        from_address=SANDBOX_USER,
        to_name=name,
        to_address=to,
        subject="Could I ask you about your work in climate tech?",
        body=f"Dear {name.split()[0]},\n\nWould you have 20 minutes for a chat?\n\nSam",
        message_id=f"<request-{number}@{SANDBOX_DOMAIN}>",
        date=datetime.now(UTC),
        in_reply_to=follow_up_of,
        references=(follow_up_of,) if follow_up_of else (),
    )


def _inbox(servers: SandboxServers, expected: int) -> list[bytes]:
    deadline = datetime.now(UTC) + timedelta(seconds=10)
    with IMAPClient("127.0.0.1", port=servers.config.imap_port, ssl=False, timeout=5) as client:
        client.login(SANDBOX_USER, SANDBOX_PASSWORD)
        while True:
            client.select_folder("INBOX", readonly=True)
            uids = client.search(["ALL"])
            if len(uids) >= expected or datetime.now(UTC) > deadline:
                break
            client.noop()
        fetched = client.fetch(uids, [b"BODY.PEEK[]"]) if uids else {}
    return [bytes(fetched[uid][b"BODY[]"]) for uid in sorted(fetched)]


def test_each_simulated_contact_answers_as_our_classifier_expects(
    sandbox: SandboxServers,
) -> None:
    sender = SmtpSender(client_context())
    people = {
        "agrees": ("Maya Chen", f"agrees.maya.chen@{PEOPLE_DOMAIN}"),
        "declines": ("Tom Okafor", f"declines.tom.okafor@{PEOPLE_DOMAIN}"),
        "away": ("Lena Fischer", f"away.lena.fischer@{PEOPLE_DOMAIN}"),
        "bounces": ("Raj Patel", f"bounces.raj.patel@{PEOPLE_DOMAIN}"),
        "silent": ("Sofia Alvarez", f"silent.sofia.alvarez@{PEOPLE_DOMAIN}"),
    }
    sent: dict[str, str] = {}
    for number, (name, address) in enumerate(people.values()):
        email = _request(address, name, number)
        sender.send(_login(sandbox), build_message(email), lambda: None)
        sent[address] = email.message_id
    # The away contact's follow-up, later, in the same thread: they are back.
    back = _request(people["away"][1], "Lena Fischer", 9, follow_up_of=sent[people["away"][1]])
    sender.send(_login(sandbox), build_message(back), lambda: None)

    answers = _inbox(sandbox, expected=5)
    assert len(answers) == 5, "silent stays silent; every other contact answers"
    own = frozenset({SANDBOX_USER})
    received = datetime.now(UTC)
    by_kind: dict[InboundKind, list[tuple[bytes, Reading]]] = {}
    for raw in answers:
        found = read_message(raw, own, received)
        by_kind.setdefault(found.kind, []).append((raw, found))

    replies = by_kind[InboundKind.REPLY]
    assert len(replies) == 3  # agrees, declines, and the away contact once back
    texts = {raw: found for raw, found in replies}
    agree = next(raw for raw in texts if b"From: Maya Chen" in raw)
    decline = next(raw for raw in texts if b"From: Tom Okafor" in raw)
    back_again = next(raw for raw in texts if b"From: Lena Fischer" in raw)
    assert not texts[agree].declines and not texts[back_again].declines
    assert texts[decline].declines
    # Threaded the way a mail client threads a reply.
    maya_id = sent[people["agrees"][1]].encode()
    assert b"In-Reply-To: " + maya_id in agree and b"References: " + maya_id in agree
    assert b"In-Reply-To: <request-9@" in back_again

    ((away_raw, away),) = by_kind[InboundKind.AUTO_REPLY]
    assert b"Auto-Submitted: auto-replied" in away_raw
    return_date = away.return_date
    assert return_date is not None
    assert timedelta(days=3) <= return_date - received.date() <= timedelta(days=8)

    ((_, bounce),) = by_kind[InboundKind.BOUNCE]
    details = bounce.bounce
    assert details is not None
    assert details.hard and details.status == "5.1.1"
    assert details.failed_recipient == people["bounces"][1]
    assert details.original_message_id == sent[people["bounces"][1]]


def test_the_servers_let_in_only_the_stored_password(sandbox: SandboxServers) -> None:
    sender = SmtpSender(client_context())
    email = build_message(_request(f"agrees.maya@{PEOPLE_DOMAIN}", "Maya Chen", 1))
    with pytest.raises(MailboxAuthFailed):
        sender.send(_login(sandbox, "a guess"), email, lambda: None)
    with IMAPClient("127.0.0.1", port=sandbox.config.imap_port, ssl=False, timeout=5) as client:
        with pytest.raises(Exception, match="(?i)auth|invalid"):
            client.login(SANDBOX_USER, "a guess")
    with IMAPClient("127.0.0.1", port=sandbox.config.imap_port, ssl=False, timeout=5) as client:
        client.login(SANDBOX_USER, SANDBOX_PASSWORD)
        # The worker files its copies in Sent; the poller finds it like any Sent folder.
        assert client.find_special_folder(b"\\Sent") == "Sent"


# --- the set-up ---------------------------------------------------------------------------------


def test_set_up_gives_a_sandbox_mailbox_demo_contacts_and_drafts(
    session: Session, secret_box: SecretBox, now: datetime
) -> None:
    user = make_user(session, email="Sam.Student@uni.example", introduction="")
    setup = set_up_sandbox(session, user, secret_box, SandboxPorts(smtp=2600, imap=1200), now)
    mailbox = setup.mailbox
    assert is_sandbox(mailbox)
    assert mailbox.email_address == f"sam.student.{user.id}@{SANDBOX_DOMAIN}"
    assert (mailbox.smtp_host, mailbox.smtp_port, mailbox.smtp_tls) == (
        "127.0.0.1",
        2600,
        TlsMode.NONE,
    )
    assert (mailbox.imap_port, mailbox.imap_tls) == (1200, TlsMode.NONE)
    # A generated password, stored encrypted like any other.
    password = secret_box.decrypt(mailbox.secret_encrypted)
    assert len(password) >= 24 and password not in mailbox.secret_encrypted
    assert setup.introduction_added and user.introduction

    contacts = list(session.scalars(select(Contact).where(Contact.user_id == user.id)))
    assert len(contacts) == len(DEMO_CONTACTS) == 12
    assert {behaviour_of(c.email) for c in contacts} == set(Behaviour)
    assert all(c.role and c.organisation and c.how_found for c in contacts)
    assert setup.target.name == TARGET_NAME
    assert setup.target.wait_business_days == 1 and setup.target.max_in_flight == 5
    # The first five names cover every behaviour, each with a request to approve.
    assert len(setup.drafted) == 5
    assert {behaviour_of(d.to_address) for d in setup.drafted} == set(Behaviour)
    assert all(d.status is MessageStatus.DRAFT and d.error is None for d in setup.drafted)

    again = set_up_sandbox(session, user, secret_box, SandboxPorts(smtp=2600, imap=1200), now)
    assert again.mailbox.id == mailbox.id and again.contacts_added == 0 and not again.drafted
    assert len(list(session.scalars(select(Mailbox).where(Mailbox.user_id == user.id)))) == 1


def test_no_sandbox_for_someone_with_a_real_mailbox(
    session: Session, secret_box: SecretBox, now: datetime
) -> None:
    user = make_user(session)
    make_mailbox(session, user, secret_box)
    with pytest.raises(ValidationError, match="already connected"):
        set_up_sandbox(session, user, secret_box, SandboxPorts(smtp=2525, imap=1143), now)


# --- compressed time ----------------------------------------------------------------------------


def test_a_sandbox_business_day_lasts_day_seconds(session: Session, secret_box: SecretBox) -> None:
    start = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)  # a Tuesday
    user = make_user(session)
    setup = set_up_sandbox(session, user, secret_box, SandboxPorts(smtp=2525, imap=1143), start)
    waiting = session.scalar(
        select(Outreach).where(
            Outreach.target_id == setup.target.id, Outreach.state == OutreachState.DRAFTED
        )
    )
    assert waiting is not None
    waiting.state = OutreachState.WAITING
    waiting.next_step_at = start + timedelta(days=1)  # one business day ahead
    # Someone else's real contact, with a clock as close: never touched.
    other = make_user(session)
    real_contact = make_contact(session, other)
    real_target = create_target(session, other, "Real", [real_contact.id])
    real = session.scalar(select(Outreach).where(Outreach.target_id == real_target.id))
    assert real is not None
    real.state, real.next_step_at = OutreachState.WAITING, start + timedelta(days=1)
    session.flush()

    warp = TimeWarp(day_seconds=30)
    assert warp.step(session, start) == []  # first seen: its compressed day starts now
    assert warp.step(session, start + timedelta(seconds=29)) == []
    session.refresh(waiting)
    assert waiting.next_step_at == start + timedelta(days=1)
    lines = warp.step(session, start + timedelta(seconds=30))
    assert len(lines) == 1 and "1 business day passed in 30 seconds" in lines[0]
    session.refresh(waiting)
    session.refresh(real)
    assert waiting.next_step_at == start + timedelta(seconds=30)
    assert real.next_step_at == start + timedelta(days=1)
    event = session.scalar(
        select(Event).where(
            Event.outreach_id == waiting.id, Event.kind == "sandbox:time_compressed"
        )
    )
    assert event is not None and "sandbox" in event.detail


# --- the process --------------------------------------------------------------------------------


def _sandbox_env(tmp_path: Path, smtp_port: int, imap_port: int) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("OUTREACH_")}
    env.update(
        OUTREACH_INSTANCE_DIR=str(tmp_path / "instance"),
        OUTREACH_SANDBOX_SMTP_PORT=str(smtp_port),
        OUTREACH_SANDBOX_IMAP_PORT=str(imap_port),
        PYTHONUNBUFFERED="1",
    )
    return env


def test_outreach_sandbox_starts_and_stops_cleanly(tmp_path: Path) -> None:
    smtp_port, imap_port = free_ports(2)
    env = _sandbox_env(tmp_path, smtp_port, imap_port)
    command = [sys.executable, "-m", "outreach.cli"]
    subprocess.run([*command, "db", "upgrade"], env=env, check=True, capture_output=True)
    log = tmp_path / "sandbox.log"
    with log.open("wb") as handle:
        proc = subprocess.Popen(
            [*command, "sandbox"],
            env=env,
            stdout=handle,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            cwd=REPO,
        )
    try:
        wait_for_port("127.0.0.1", smtp_port, timeout=20, proc=proc, log_path=log)
        wait_for_port("127.0.0.1", imap_port, timeout=20, proc=proc, log_path=log)
        with IMAPClient("127.0.0.1", port=imap_port, ssl=False, timeout=5) as client:
            assert b"IMAP4REV1" in client.capabilities()
        os.kill(proc.pid, signal.SIGTERM)
        assert proc.wait(timeout=10) == 0, log_tail(log)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert not group_members(proc.pid), "the sandbox left processes behind"
    text = log.read_text()
    assert "Sandbox: no real email is sent" in text and "stopping" in text
    _assert_free(smtp_port, imap_port)


def test_a_taken_port_is_said_in_a_sentence(tmp_path: Path) -> None:
    smtp_port, imap_port = free_ports(2)
    env = _sandbox_env(tmp_path, smtp_port, imap_port)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", smtp_port))
        taken.listen()
        result = subprocess.run(
            [sys.executable, "-m", "outreach.cli", "sandbox"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 1
    assert "the sandbox could not listen on 127.0.0.1" in result.stderr
    assert "OUTREACH_SANDBOX_SMTP_PORT" in result.stderr


def test_outreach_sandbox_user_sets_up_the_demo_from_the_command_line(tmp_path: Path) -> None:
    smtp_port, imap_port = free_ports(2)
    env = _sandbox_env(tmp_path, smtp_port, imap_port)
    command = [sys.executable, "-m", "outreach.cli"]

    def run(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*command, *args], env=env, input=stdin, capture_output=True, text=True, timeout=60
        )

    assert run("db", "upgrade").returncode == 0
    created = run(
        "user",
        "create",
        "--email",
        "kim@uni.example",
        "--name",
        "Kim Lee",
        stdin="a long passphrase\n",
    )
    assert created.returncode == 0, created.stderr
    result = run("sandbox", "--user", "kim@uni.example", "--no-servers")
    assert result.returncode == 0, result.stderr
    assert "Sandbox: no real email is sent" in result.stdout
    assert f"kim.1@{SANDBOX_DOMAIN}" in result.stdout
    assert "12 demo contacts (12 new); 5 request(s) drafted" in result.stdout
    unknown = run("sandbox", "--user", "nobody@uni.example", "--no-servers")
    assert (
        unknown.returncode == 1 and "there is no account for nobody@uni.example" in unknown.stderr
    )
