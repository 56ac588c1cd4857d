"""Shared helpers for the benchmarks in bench/: not a benchmark itself.

Tables, JSON results, the machine description, an Outreach instance made the
way a user makes one (`outreach db upgrade`), seeding through the core use
cases, the project's own test servers, and a counter of IMAP round trips and
bytes. Benchmarks assert nothing about speed: they measure, print and save.
"""

from __future__ import annotations

import contextlib
import imaplib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from string import Template
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = REPO_ROOT / "bench" / "results"
# Run from anywhere: `tests.servers.*` and the product import from the repo root.
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from cryptography.fernet import Fernet  # noqa: E402
from sqlalchemy.orm import Session, sessionmaker  # noqa: E402

from outreach import drafts, targets  # noqa: E402
from outreach.accounts import MailboxSettings, connect_mailbox, create_user  # noqa: E402
from outreach.config import Settings  # noqa: E402
from outreach.contacts import ContactInput, add_contact  # noqa: E402
from outreach.crypto import SecretBox  # noqa: E402
from outreach.db import make_engine, make_sessionmaker, session_scope  # noqa: E402
from outreach.models import Contact, Mailbox, Message, TlsMode, User  # noqa: E402
from outreach.sending import record_sent  # noqa: E402
from tests.servers import dovecot as dovecot_module  # noqa: E402
from tests.servers.dovecot import DovecotServer  # noqa: E402
from tests.servers.smtpd import RecordingSMTPServer  # noqa: E402
from tests.servers.tls import TlsFiles  # noqa: E402

# --- numbers and tables -----------------------------------------------------------------------


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile (pct in 0..100); NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(pct / 100 * len(ordered) + 0.4999)))
    return ordered[rank - 1]


def summary(values: Sequence[float]) -> dict[str, float]:
    """p50, p95, max, mean and count of a list of numbers."""
    return {
        "n": len(values),
        "p50": percentile(values, 50),
        "p95": percentile(values, 95),
        "max": max(values) if values else float("nan"),
        "mean": statistics.fmean(values) if values else float("nan"),
    }


def fmt_ms(seconds: float) -> str:
    return f"{seconds * 1000:,.1f}"


def ratio(part: float, whole: float) -> str:
    """part against whole: "1/23" when smaller, "4.1x" when larger."""
    if part <= 0 or whole <= 0:
        return "n/a"
    if part < whole:
        return f"1/{whole / part:,.0f}"
    return f"{part / whole:,.1f}x"


def fmt_bytes(count: float) -> str:
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if count >= size:
            return f"{count / size:,.2f} {unit}"
    return f"{count:,.0f} B"


def print_table(title: str, headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """Print a plain-text table (first column left, others right-aligned) and return it."""
    cells = [[str(h) for h in headers], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]

    def line(row: Sequence[str]) -> str:
        parts = [row[0].ljust(widths[0])]
        parts += [cell.rjust(width) for cell, width in zip(row[1:], widths[1:], strict=True)]
        return "  ".join(parts).rstrip()

    rule = "  ".join("-" * width for width in widths)
    text = "\n".join([title, line(cells[0]), rule, *(line(row) for row in cells[1:])])
    print(text, flush=True)
    return text


def machine() -> dict[str, Any]:
    """What the figures were taken on."""
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for row in Path("/proc/cpuinfo").read_text().splitlines():
            if row.startswith("model name"):
                cpu = row.split(":", 1)[1].strip()
                break
    ram_gb = float("nan")
    with contextlib.suppress(OSError, ValueError, IndexError):
        for row in Path("/proc/meminfo").read_text().splitlines():
            if row.startswith("MemTotal:"):
                ram_gb = round(int(row.split()[1]) / 1024 / 1024, 1)
    dovecot = ""
    if shutil.which("dovecot"):
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            dovecot = subprocess.run(
                ["dovecot", "--version"], capture_output=True, text=True, timeout=10
            ).stdout.strip()
    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    return {
        "nproc": os.cpu_count(),
        "loadavg_1_5_15": [round(x, 2) for x in load],
        "cpu": cpu,
        "ram_gb": ram_gb,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "dovecot": dovecot,
    }


def write_json(name: str, payload: dict[str, Any]) -> Path:
    """Save the results as bench/results/<name>-<UTC timestamp>.json; return the path."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = RESULTS_DIR / f"{name}-{stamp}.json"
    document = {
        "benchmark": name,
        "taken_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "loadavg_at_start": _at_start.get("loadavg_1_5_15"),
        **payload,
    }
    path.write_text(json.dumps(document, indent=2, default=str) + "\n")
    print(f"results written to {path.relative_to(REPO_ROOT)}", flush=True)
    return path


_at_start: dict[str, Any] = {}


def print_machine() -> None:
    """Print the machine, and keep its load at the start for the JSON results."""
    info = machine()
    _at_start.update(info)
    print(
        f"machine: {info['nproc']} CPUs, {info['cpu']}, {info['ram_gb']} GB RAM, "
        f"Python {info['python']}, Dovecot {info['dovecot'] or '?'}; "
        f"load average {info['loadavg_1_5_15'][0]}",
        flush=True,
    )


# --- an Outreach instance, made the way a user makes one --------------------------------------


@dataclass
class Instance:
    """A fresh instance folder with a SQLite database created by `outreach db upgrade`."""

    directory: Path
    env: dict[str, str]
    settings: Settings
    factory: sessionmaker[Session]
    box: SecretBox

    def close(self) -> None:
        self.factory.kw["bind"].dispose()
        shutil.rmtree(self.directory, ignore_errors=True)


def make_instance(ca_file: Path, **extra_env: str) -> Instance:
    directory = Path(tempfile.mkdtemp(prefix="outreach-bench-"))
    env = {
        **os.environ,
        "OUTREACH_INSTANCE_DIR": str(directory),
        "OUTREACH_DATABASE_URL": f"sqlite:///{directory / 'outreach.sqlite'}",
        "OUTREACH_SECRET_KEY": "bench-secret-key",
        "OUTREACH_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "OUTREACH_CA_FILE": str(ca_file),
        **extra_env,
    }
    env.pop("OUTREACH_REDIS_URL", None)
    subprocess.run(
        [sys.executable, "-m", "outreach.cli", "db", "upgrade"],
        env=env,
        cwd=REPO_ROOT,
        check=True,
        capture_output=True,
        timeout=120,
    )
    settings = Settings.from_env(env)
    factory = make_sessionmaker(make_engine(settings.database_url))
    return Instance(directory, env, settings, factory, SecretBox(settings.encryption_keys))


@dataclass(frozen=True)
class SentRequest:
    """A request we sent: what a reply needs to thread to it."""

    outreach_id: int
    message_db_id: int
    message_id: str
    subject: str
    contact_name: str
    contact_email: str
    raw: bytes  # the exact bytes that went out, as a Sent-folder copy holds them


@dataclass
class Seeded:
    user_id: int
    mailbox_id: int
    address: str
    requests: list[SentRequest] = field(default_factory=list)


def seed(
    instance: Instance, *, address: str, password: str, imap_port: int, smtp_port: int, count: int
) -> Seeded:
    """A user, their mailbox on the test Dovecot, and `count` requests recorded as sent.

    All through the core use cases: contacts, one target, drafted and approved
    requests, and `record_sent` (what the worker records after SMTP accepted
    the message); the SMTP transaction itself is no part of these benchmarks.
    """
    from outreach.rules.compose import build_message
    from outreach.sending import outgoing_email

    now = datetime.now(UTC)
    with session_scope(instance.factory) as session:
        user = create_user(session, address, "Sam Student", "correct horse battery")
        user.introduction = "I am finishing a degree in biology and exploring science policy."
        mailbox = connect_mailbox(
            session,
            user,
            instance.box,
            MailboxSettings(
                email_address=address,
                display_name="Sam Student",
                imap_host="127.0.0.1",
                imap_port=imap_port,
                imap_tls=TlsMode.STARTTLS,
                smtp_host="127.0.0.1",
                smtp_port=smtp_port,
                smtp_tls=TlsMode.STARTTLS,
                username=address,
            ),
            password,
        )
        people = [
            add_contact(
                session,
                user,
                ContactInput(
                    email=f"person{n:04d}@org{n % 37}.example",
                    name=f"Alex Person{n:04d}",
                    organisation=f"Institute {n % 37}",
                    role="Policy Analyst",
                    how_found="the alumni network",
                ),
            )
            for n in range(count)
        ]
        # A target lets at most MAX_IN_FLIGHT_LIMIT requests out at once: one per chunk.
        drafted = []
        per_target = targets.MAX_IN_FLIGHT_LIMIT
        for start in range(0, count, per_target):
            chunk = [p.id for p in people[start : start + per_target]]
            target = targets.create_target(
                session,
                user,
                f"Science policy {start // per_target + 1}",
                chunk,
                max_in_flight=len(chunk),
                allow_same_organisation=True,
            )
            drafted += targets.fill_pipeline(session, user, target, now)
        for draft in drafted:
            drafts.approve(session, user, draft.id, now)
        session.flush()
        for draft in drafted:
            record_sent(session, draft.id, now)
        seeded = Seeded(user_id=user.id, mailbox_id=mailbox.id, address=address)
    with session_scope(instance.factory) as session:
        mailbox_row = session.get(Mailbox, seeded.mailbox_id)
        user_row = session.get(User, seeded.user_id)
        assert mailbox_row is not None and user_row is not None
        mine = session.query(Message).filter(Message.user_id == seeded.user_id)
        for message in mine.order_by(Message.id):
            contact = session.get(Contact, message.contact_id)
            assert contact is not None and message.message_id and message.outreach_id
            raw = build_message(
                outgoing_email(message, mailbox_row, user_row, contact, now)
            ).as_bytes()
            seeded.requests.append(
                SentRequest(
                    outreach_id=message.outreach_id,
                    message_db_id=message.id,
                    message_id=message.message_id,
                    subject=message.subject,
                    contact_name=contact.name,
                    contact_email=contact.email,
                    raw=raw,
                )
            )
    return seeded


def reply_bytes(request: SentRequest, to: str, tag: str, body: str = "") -> bytes:
    """A person's plain-text reply to one of our requests, threaded by In-Reply-To."""
    text = body or (
        "Hi Sam,\n\nHappy to talk. Thursday afternoon works for me; "
        "send me a calendar invite.\n\nBest,\nAlex\n\n"
        f"> {request.subject}\n> (quoted request)\n"
    )
    head = (
        f"From: {request.contact_name} <{request.contact_email}>\r\n"
        f"To: {to}\r\n"
        f"Subject: Re: {request.subject}\r\n"
        f"Date: {datetime.now(UTC).strftime('%a, %d %b %Y %H:%M:%S +0000')}\r\n"
        f"Message-ID: <reply-{tag}@{request.contact_email.split('@')[1]}>\r\n"
        f"In-Reply-To: {request.message_id}\r\n"
        f"References: {request.message_id}\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
    )
    return (head + "\r\n" + text.replace("\n", "\r\n")).encode()


# --- servers ---------------------------------------------------------------------------------

# Dovecot 2.3's post-login capabilities without IDLE (and NOTIFY): clients must poll.
_NO_IDLE_CAPABILITY = (
    "IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE SORT SORT=DISPLAY THREAD=REFERENCES "
    "THREAD=REFS THREAD=ORDEREDSUBJECT MULTIAPPEND URL-PARTIAL CATENATE UNSELECT CHILDREN "
    "NAMESPACE UIDPLUS LIST-EXTENDED I18NLEVEL=1 CONDSTORE QRESYNC ESEARCH ESORT SEARCHRES "
    "WITHIN CONTEXT=SEARCH LIST-STATUS BINARY MOVE SNIPPET=FUZZY PREVIEW=FUZZY PREVIEW "
    "STATUS=SIZE SAVEDATE LITERAL+ SPECIAL-USE"
)


class DovecotWithoutIdle(DovecotServer):
    """The project's test Dovecot, configured not to offer IDLE (imap_capability).

    The helper has no option for it, so its config template is extended for the
    duration of start() only; everything else (ports, users, TLS) is the helper's.
    """

    def start(self, timeout: float = 10.0) -> None:
        original = dovecot_module._CONFIG
        dovecot_module._CONFIG = Template(
            original.template + f"\nimap_capability = {_NO_IDLE_CAPABILITY}\n"
        )
        try:
            super().start(timeout)
        finally:
            dovecot_module._CONFIG = original


@contextlib.contextmanager
def dovecot_server(
    tls: TlsFiles, users: dict[str, str], idle: bool = True
) -> Iterator[DovecotServer]:
    server = (DovecotServer if idle else DovecotWithoutIdle)(tls, users)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@contextlib.contextmanager
def smtp_server(tls: TlsFiles, users: dict[str, str]) -> Iterator[RecordingSMTPServer]:
    """The project's recording SMTP server (in this process), for `outreach mailbox test`."""
    server = RecordingSMTPServer(tls, users)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def test_mailbox(instance: Instance, user_email: str) -> str:
    """`outreach mailbox test`, as the CLI tells a user to run after adding a mailbox.

    It logs in to IMAP and SMTP and records the Sent folder on the mailbox, so
    the poller need not look for it (a LIST) every round.
    """
    done = subprocess.run(
        [sys.executable, "-m", "outreach.cli", "mailbox", "test", "--user", user_email],
        env=instance.env,
        cwd=REPO_ROOT,
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return done.stdout


# --- IMAP round trips and bytes -------------------------------------------------------------


@dataclass
class ImapTraffic:
    connections: int = 0
    commands: int = 0
    bytes_read: int = 0
    bytes_sent: int = 0
    names: list[str] = field(default_factory=list)
    # Seconds from sending each command to its completion, summed by command name
    # ("connect" is TCP connect plus the server greeting): the time spent waiting on IMAP.
    waits: dict[str, float] = field(default_factory=dict)
    _started: dict[bytes, float] = field(default_factory=dict)

    def _add_wait(self, name: str, seconds: float) -> None:
        self.waits[name] = self.waits.get(name, 0.0) + seconds

    @property
    def round_trips(self) -> int:
        """Client commands, each waited for (IMAPClient does not pipeline), plus greetings."""
        return self.commands + self.connections

    def as_dict(self) -> dict[str, Any]:
        return {
            "round_trips": self.round_trips,
            "connections": self.connections,
            "commands": self.commands,
            "bytes_read": self.bytes_read,
            "bytes_sent": self.bytes_sent,
            "command_names": self.names,
            "imap_wait_s": sum(self.waits.values()),
            "imap_wait_s_by_command": {k: round(v, 6) for k, v in sorted(self.waits.items())},
        }


@contextlib.contextmanager
def count_imap() -> Iterator[ImapTraffic]:
    """Count IMAP traffic of every imaplib connection in this process while active.

    Patches imaplib.IMAP4, which IMAPClient drives: `open` counts connections
    (the server greeting is one round trip), `_new_tag` counts commands (every
    tagged command takes a new tag, whether sent by imaplib or by IMAPClient's
    own raw writer), `read`/`readline` count bytes read and `send` bytes sent.
    Bytes are IMAP protocol bytes as the client sees them, after TLS decryption:
    TLS records and TCP/IP headers are not counted. Command names are noted from
    imaplib's `_command` and IMAPClient's `_raw_command`.
    """
    from imapclient import IMAPClient

    traffic = ImapTraffic()
    names = ("open", "_new_tag", "_command", "_command_complete", "read", "readline", "send")
    original = {name: getattr(imaplib.IMAP4, name) for name in names}
    original_raw = IMAPClient._raw_command

    def open_(self: imaplib.IMAP4, *args: Any, **kwargs: Any) -> Any:
        traffic.connections += 1
        started = time.perf_counter()
        result = original["open"](self, *args, **kwargs)
        # The greeting is read right after open(); its wait counts from here to the
        # first command's tag (see new_tag), which imaplib sends straight away.
        traffic._started[b"greeting"] = started
        return result

    def new_tag(self: imaplib.IMAP4) -> Any:
        traffic.commands += 1
        now = time.perf_counter()
        greeting = traffic._started.pop(b"greeting", None)
        if greeting is not None:
            traffic._add_wait("connect", now - greeting)
        tag = original["_new_tag"](self)
        traffic._started[tag] = now
        return tag

    def command_complete(self: imaplib.IMAP4, name: str, tag: bytes) -> Any:
        try:
            return original["_command_complete"](self, name, tag)
        finally:
            started = traffic._started.pop(tag, None)
            if started is not None:
                traffic._add_wait(name.upper(), time.perf_counter() - started)

    def command(self: imaplib.IMAP4, name: str, *args: Any) -> Any:
        traffic.names.append(" ".join([name, *(a for a in args[:1] if a in ("FETCH", "SEARCH"))]))
        return original["_command"](self, name, *args)

    def raw_command(self: Any, command: bytes, args: Any, uid: bool = True) -> Any:
        traffic.names.append(("UID " if uid else "") + command.decode().upper())
        return original_raw(self, command, args, uid)

    def read(self: imaplib.IMAP4, size: int) -> bytes:
        data: bytes = original["read"](self, size)
        traffic.bytes_read += len(data)
        return data

    def readline(self: imaplib.IMAP4) -> bytes:
        data: bytes = original["readline"](self)
        traffic.bytes_read += len(data)
        return data

    def send(self: imaplib.IMAP4, data: bytes) -> None:
        traffic.bytes_sent += len(data)
        original["send"](self, data)

    patches: dict[str, Any] = {
        "open": open_,
        "_new_tag": new_tag,
        "_command": command,
        "_command_complete": command_complete,
        "read": read,
        "readline": readline,
        "send": send,
    }
    for name, replacement in patches.items():
        setattr(imaplib.IMAP4, name, replacement)
    IMAPClient._raw_command = raw_command
    try:
        yield traffic
    finally:
        for name, value in original.items():
            setattr(imaplib.IMAP4, name, value)
        IMAPClient._raw_command = original_raw


class Stopwatch:
    def __enter__(self) -> Stopwatch:
        self.start = time.perf_counter()
        self.seconds = 0.0
        return self

    def __exit__(self, *_exc: object) -> None:
        self.seconds = time.perf_counter() - self.start


if __name__ == "__main__":
    # `make bench` runs every bench/*.py; this module is a library, so it does nothing.
    sys.exit(0)
