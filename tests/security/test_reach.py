"""Test connection is bounded, repeats no foreign banner, and refuses private addresses.

Real sockets on 127.0.0.1: a listener that never answers, one that greets like
SSH, and the real Dovecot and SMTP test servers.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import pytest
from sqlalchemy.orm import Session, sessionmaker

from outreach.config import Settings
from outreach.connection_check import CHECK_SECONDS, check_mailbox
from outreach.crypto import SecretBox
from outreach.errors import TemporaryFailure
from outreach.mail import ServerLogin
from outreach.mail.imap import ImapSource
from outreach.mail.reach import (
    ANY_ADDRESS,
    PUBLIC_ONLY,
    AddressPolicy,
    AddressRefused,
    Deadline,
    IPAddress,
    connect_checked,
    is_public,
    resolve,
)
from outreach.mail.smtp import SmtpSender
from outreach.models import MailboxStatus
from outreach.models.accounts import TlsMode
from outreach.polling import poll_mailbox
from tests.conftest import World
from tests.servers.net import LOOPBACK

SSH_BANNER = b"SSH-2.0-OpenSSH_9.6p1 Debian-4 secret-build-42\r\n"
PRIVATE = "This server's address (127.0.0.1) is on a private network"


@dataclass
class Listener:
    """A TCP server on 127.0.0.1 that sends `banner` (or nothing) and then keeps quiet."""

    banner: bytes
    port: int = 0
    accepted: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)


@contextmanager
def listening(banner: bytes = b"") -> Iterator[Listener]:
    server = socket.create_server((LOOPBACK, 0))
    server.settimeout(0.2)
    listener = Listener(banner, server.getsockname()[1])
    held: list[socket.socket] = []

    def serve() -> None:
        while not listener._stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            listener.accepted += 1
            held.append(conn)
            if banner:
                conn.sendall(banner)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener
    finally:
        listener._stop.set()
        thread.join(timeout=5)
        for conn in held:
            conn.close()
        server.close()


def _point_at(world: World, port: int, tls: TlsMode = TlsMode.STARTTLS) -> None:
    mailbox = world.mailbox
    mailbox.imap_port = mailbox.smtp_port = port
    mailbox.imap_tls = mailbox.smtp_tls = tls


def test_a_silent_port_is_answered_within_the_bound_for_both_servers(
    session: Session, world: World, secret_box: SecretBox
) -> None:
    with listening() as silent:
        _point_at(world, silent.port)
        started = time.monotonic()
        report = check_mailbox(world.mailbox, secret_box, world.context)
        took = time.monotonic() - started

    assert CHECK_SECONDS == 15.0
    assert took < CHECK_SECONDS + 2, f"Test connection took {took:.1f} s"
    assert report.problems == [
        f"IMAP: 127.0.0.1 did not answer in time on port {silent.port}: "
        "check the name, the port and your network",
        "SMTP: 127.0.0.1 was not tried: the IMAP server took all the time the test has",
    ]
    assert world.mailbox.status is MailboxStatus.NEEDS_ATTENTION


def test_a_server_that_drips_its_greeting_is_cut_off_at_the_deadline(world: World) -> None:
    # One byte now and then keeps each read alive; only the watchdog ends it.
    stop = threading.Event()
    server = socket.create_server((LOOPBACK, 0))

    def drip() -> None:
        conn, _ = server.accept()
        with conn:
            while not stop.wait(0.2):
                try:
                    conn.sendall(b"*")
                except OSError:
                    return

    thread = threading.Thread(target=drip, daemon=True)
    thread.start()
    login = ServerLogin(LOOPBACK, server.getsockname()[1], TlsMode.NONE, "sam", "pw")
    started = time.monotonic()
    try:
        with pytest.raises(TemporaryFailure) as refused:
            ImapSource(login, world.context, deadline=Deadline.after(1.5)).open()
    finally:
        took = time.monotonic() - started
        stop.set()
        thread.join(timeout=5)
        server.close()

    assert took < 3.0, f"{took:.1f} s"
    assert "did not answer in time" in str(refused.value)


@pytest.mark.parametrize("tls", [TlsMode.STARTTLS, TlsMode.NONE])
def test_a_non_mail_banner_is_never_repeated(
    session: Session, world: World, secret_box: SecretBox, tls: TlsMode
) -> None:
    with listening(SSH_BANNER) as ssh:
        _point_at(world, ssh.port, tls)
        report = check_mailbox(world.mailbox, secret_box, world.context)

    words = (
        f"127.0.0.1 answered on port {ssh.port}, but not like a mail server: "
        "check the server name and the port"
    )
    assert report.problems == [f"IMAP: {words}", f"SMTP: {words}"]
    stored = world.mailbox.last_error or ""
    for shown in (*report.problems, stored):
        assert "SSH" not in shown and "OpenSSH" not in shown and "secret-build" not in shown


def test_a_banner_is_not_repeated_over_implicit_tls_either(
    session: Session, world: World, secret_box: SecretBox
) -> None:
    with listening(SSH_BANNER) as ssh:
        _point_at(world, ssh.port, TlsMode.SSL)
        report = check_mailbox(world.mailbox, secret_box, world.context)

    assert len(report.problems) == 2
    assert all("SSH" not in problem for problem in report.problems)
    assert all("secure connection" in problem for problem in report.problems)


def test_private_addresses_are_refused_when_the_setting_is_on(
    session: Session, world: World, secret_box: SecretBox
) -> None:
    with listening() as listener:
        _point_at(world, listener.port)
        report = check_mailbox(world.mailbox, secret_box, world.context, policy=PUBLIC_ONLY)
        accepted = listener.accepted

    assert [problem.split(": ", 1)[1] for problem in report.problems] == [
        f"{PRIVATE}, which this Outreach does not connect to"
    ] * 2
    assert accepted == 0, "no connection may be made to a refused address"


def test_the_same_servers_are_reached_when_the_setting_is_off(
    session: Session, world: World, secret_box: SecretBox
) -> None:
    report = check_mailbox(world.mailbox, secret_box, world.context, policy=ANY_ADDRESS)

    assert report.ok, report.problems


def test_a_host_name_that_resolves_to_a_private_address_is_refused(
    world: World, dovecot: object
) -> None:
    port = world.mailbox.imap_port
    login = ServerLogin("localhost", port, TlsMode.STARTTLS, "sam", "pw")

    with pytest.raises(AddressRefused) as imap:
        ImapSource(login, world.context, PUBLIC_ONLY).open()
    with pytest.raises(AddressRefused) as smtp:
        SmtpSender(world.context, PUBLIC_ONLY).check_login(login)

    for refused in (imap, smtp):
        assert "is on a private network, which this Outreach does not connect to" in str(
            refused.value
        )
        assert "(127.0.0.1)" in str(refused.value) or "(::1)" in str(refused.value)


def test_the_poller_and_the_worker_refuse_the_same_addresses(
    session: Session,
    session_factory: sessionmaker[Session],
    world: World,
    secret_box: SecretBox,
) -> None:
    result = poll_mailbox(
        session_factory,
        world.mailbox.id,
        secret_box,
        world.context,
        lambda: world.mailbox.created_at,
        policy=PUBLIC_ONLY,
    )

    assert not result.ok and result.problem is not None
    assert result.problem.startswith(PRIVATE)


@dataclass(frozen=True)
class RecordingPolicy(AddressPolicy):
    """Allows everything, and remembers what it was asked about."""

    checked: list[IPAddress] = field(default_factory=list)

    def check(self, address: IPAddress, port: int | None = None) -> None:
        self.checked.append(address)


def test_the_socket_is_connected_to_the_address_that_was_checked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A rebinding name: checked as 127.0.0.1, then it would point elsewhere.
    answers = iter(["127.0.0.1", "10.255.255.1", "10.255.255.2"])
    asked: list[str] = []

    def rebinding(host: str, port: int, *args: object, **kwargs: object) -> list[object]:
        asked.append(host)
        address = next(answers)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    policy = RecordingPolicy()
    with listening(b"* OK hello\r\n") as listener:
        sock = connect_checked("mail.rebinding.test", listener.port, Deadline.after(5), policy)
        with sock:
            peer = sock.getpeername()[0]

    assert asked == ["mail.rebinding.test"], "the name is resolved once"
    assert [str(address) for address in policy.checked] == ["127.0.0.1"]
    assert peer == "127.0.0.1"


def test_every_resolved_address_is_checked_not_only_the_first(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def two(host: str, port: int, *args: object, **kwargs: object) -> list[object]:
        return [
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.215.14", port)),
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.5", port)),
        ]

    monkeypatch.setattr(socket, "getaddrinfo", two)

    with pytest.raises(AddressRefused, match=r"\(10\.0\.0\.5\) is on a private network"):
        connect_checked("mixed.example.org", 993, Deadline.after(5), PUBLIC_ONLY)


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("93.184.215.14", True),
        ("2606:4700:4700::1111", True),
        ("10.0.0.5", False),
        ("172.16.0.1", False),
        ("192.168.1.1", False),
        ("127.0.0.1", False),
        ("169.254.169.254", False),  # cloud metadata
        ("100.64.0.1", False),  # carrier-grade NAT
        ("0.0.0.0", False),
        ("224.0.0.1", False),
        ("240.0.0.1", False),
        ("::1", False),
        ("::", False),
        ("fe80::1", False),
        ("fc00::1", False),
        ("ff02::1", False),
        ("::ffff:10.0.0.5", False),
        ("::ffff:127.0.0.1", False),
    ],
)
def test_which_addresses_are_public(address: str, public: bool) -> None:
    import ipaddress

    assert is_public(ipaddress.ip_address(address)) is public


def test_the_setting_is_read_from_the_environment(settings: Settings) -> None:
    base = {"OUTREACH_INSTANCE_DIR": str(settings.instance_dir)}
    on = Settings.from_env(
        {**base, "OUTREACH_REFUSE_PRIVATE_ADDRESSES": "true", "OUTREACH_SANDBOX": "off"}
    )
    off = Settings.from_env(base)

    assert on.address_policy == PUBLIC_ONLY
    assert off.address_policy == ANY_ADDRESS


def test_with_the_sandbox_on_only_its_own_two_ports_are_allowed(settings: Settings) -> None:
    import ipaddress

    policy = Settings.from_env(
        {
            "OUTREACH_INSTANCE_DIR": str(settings.instance_dir),
            "OUTREACH_REFUSE_PRIVATE_ADDRESSES": "true",
            "OUTREACH_SANDBOX_SMTP_PORT": "2525",
            "OUTREACH_SANDBOX_IMAP_PORT": "1143",
        }
    ).address_policy
    loopback = ipaddress.ip_address("127.0.0.1")

    policy.check(loopback, 2525)
    policy.check(loopback, 1143)
    for port in (22, 5432, 6379, None):
        with pytest.raises(AddressRefused):
            policy.check(loopback, port)


def test_a_forked_worker_can_still_resolve_names() -> None:
    # The parent's pool now has a thread, which a forked child (an RQ work horse) lacks.
    assert resolve(LOOPBACK, 1, Deadline.after(2))
    pid = os.fork()
    if pid == 0:
        try:
            found = resolve("localhost", 1, Deadline.after(2))
            os._exit(0 if found else 1)
        except BaseException:
            os._exit(2)
    _, status = os.waitpid(pid, 0)

    assert os.waitstatus_to_exitcode(status) == 0
