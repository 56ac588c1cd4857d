"""A private mail system of real software: Postfix relaying into Dovecot (LMTP, Sieve, quota).

It exists to make the messages that real servers write, rather than samples we type:

- Postfix's RFC 3464 bounce for a recipient Dovecot does not know (5.1.1), for a mailbox over
  its quota (5.2.2), and its "delayed" warning for a destination that refuses connections;
- Dovecot's Sieve `vacation` replies (Pigeonhole), sent back through Postfix.

Every address is in example.test and everything stays on 127.0.0.1. Dovecot's LMTP reaches
Postfix for the vacation replies (submission_host), Postfix reaches Dovecot over LMTP, and the
tests read the result over IMAP.
"""

from __future__ import annotations

import grp
import os
import pwd
import shutil
import smtplib
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from string import Template

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import Envelope
from imapclient import IMAPClient

from tests.servers.net import LOOPBACK, free_ports, log_tail, stop_process, wait_for_port
from tests.servers.tls import TlsFiles

DOMAIN = "example.test"
# Mail for this subdomain goes to a port nothing listens on: Postfix keeps retrying it.
UNREACHABLE_DOMAIN = f"unreachable.{DOMAIN}"
# Mail for this one goes over SMTP to a scripted server that answers RCPT as told.
REMOTE_DOMAIN = f"remote.{DOMAIN}"
PASSWORD = "realmail-secret"
_POSTFIX_MASTER_BIN = "/usr/lib/postfix/sbin/master"

_DOVECOT_CONFIG = Template(
    """\
# Generated for one test session; started with: dovecot -F -c THIS_FILE
base_dir = $dir/run
state_dir = $dir/state
instance_name = outreach-realmail-$port_imap
log_path = $dir/dovecot.log
protocols = imap lmtp
listen = $host
hostname = mx.$domain
postmaster_address = postmaster@$domain
ssl = yes
ssl_cert = <$cert
ssl_key = <$key
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0
first_valid_uid = 1
mail_location = maildir:~/Maildir
# quota everywhere (it refuses mail for a full mailbox); sieve where mail is delivered.
mail_plugins = quota
$privileges

passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u $dir/users
}
# A passwd-file userdb too: it says which users exist (LMTP refuses the others with 5.1.1)
# and carries each user's quota.
userdb {
  driver = passwd-file
  args = username_format=%u $dir/users
}

namespace inbox {
  inbox = yes
  separator = /
}

protocol lmtp {
  mail_plugins = $$mail_plugins sieve
}

plugin {
  quota = maildir:User quota
  # Each user's own Sieve script in their home directory.
  sieve = file:~/sieve;active=~/.dovecot.sieve
}

# Vacation replies leave through Postfix, like any other outgoing mail.
submission_host = $host:$port_smtp

service anvil {
  unix_listener anvil-auth-penalty {
    mode = 0
  }
$anvil_extra}

service imap-login {
  inet_listener imap {
    address = $host
    port = $port_imap
  }
  inet_listener imaps {
    port = 0
  }
$login_extra}

service lmtp {
  inet_listener lmtp {
    address = $host
    port = $port_lmtp
  }
}
"""
)

_ROOT = Template(
    """\
default_login_user = dovenull
default_internal_user = dovecot"""
)

_ROOTLESS = Template(
    """\
default_login_user = $user
default_internal_user = $user
default_internal_group = $group"""
)

_POSTFIX_MAIN = Template(
    """\
# Generated for one test session: a private Postfix relaying example.test into Dovecot's LMTP.
compatibility_level = 3.6
queue_directory = $dir/spool
data_directory = $dir/data
meta_directory = /etc/postfix
command_directory = /usr/sbin
daemon_directory = /usr/lib/postfix/sbin
shlib_directory = /usr/lib/postfix
mail_owner = postfix
setgid_group = postdrop
myhostname = mx.$domain
mydomain = $domain
myorigin = $domain
inet_interfaces = loopback-only
inet_protocols = ipv4
mydestination =
local_recipient_maps =
alias_maps =
alias_database =
relay_domains = $domain $unreachable $remote
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
relay_transport = lmtp:inet:$host:$port_lmtp
default_transport = lmtp:inet:$host:$port_lmtp
transport_maps = inline:{$unreachable=lmtp:inet:$host:$port_closed,
    $remote=smtp:[$host]:$port_remote}
smtputf8_enable = no
biff = no
maillog_file = $dir/maillog
maillog_file_prefixes = $dir
# Retry quickly, and warn the sender after one second, so a "delayed" DSN comes within seconds.
delay_warning_time = 1s
queue_run_delay = 1s
minimal_backoff_time = 1s
maximal_backoff_time = 2s
lmtp_connect_timeout = 2s
smtp_connect_timeout = 2s
smtp_tls_security_level = none
"""
)

# The services a relay needs, none chrooted (the spool is a fresh temp dir, not a chroot jail).
_POSTFIX_MASTER = Template(
    """\
$host:$port_smtp inet n - n - - smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
lmtp      unix  -       -       n       -       -       lmtp
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""
)


# Postfix's queue layout (as its postfix-files lists it): directory -> (group, mode).
# `postfix check` would create it too, but takes over 2 s to do so.
_QUEUE_DIRS = {
    **{
        name: (None, 0o700)
        for name in (
            "active bounce corrupt defer deferred flush hold incoming private saved trace"
        ).split()
    },
    "maildrop": ("postdrop", 0o730),
    "public": ("postdrop", 0o710),
}


def _make_queue(queue: Path) -> None:
    queue.mkdir(mode=0o755)
    (queue / "pid").mkdir(mode=0o755)
    for name, (group, mode) in _QUEUE_DIRS.items():
        path = queue / name
        path.mkdir()
        path.chmod(mode)  # after mkdir: the umask must not take bits away
        shutil.chown(path, "postfix", group)


@dataclass(frozen=True)
class Mailbox:
    """A Dovecot user: its address, optional Sieve script and optional quota."""

    address: str
    sieve: str | None = None
    quota: str | None = None  # a Dovecot quota_rule such as "*:storage=1K"


class MailSystem:
    """Dovecot (IMAP, LMTP, Sieve, quota) plus Postfix (SMTP relay), started together."""

    def __init__(
        self, tls: TlsFiles, mailboxes: Mapping[str, Mailbox], remote_port: int = 0
    ) -> None:
        self.tls = tls
        self.mailboxes = dict(mailboxes)
        self.remote_port = remote_port
        self.host = LOOPBACK
        self.directory: Path | None = None
        self.smtp_port = self.imap_port = self.lmtp_port = self.closed_port = 0
        self._dovecot: subprocess.Popen[bytes] | None = None
        self._postfix: subprocess.Popen[bytes] | None = None

    # --- life cycle ---------------------------------------------------------------------

    def start(self, timeout: float = 10.0) -> None:
        directory = Path(tempfile.mkdtemp(prefix="outreach-realmail-"))
        # Dovecot's and Postfix's service users must reach their parts of the tree.
        directory.chmod(0o755)
        self.directory = directory
        ports = free_ports(4)
        self.smtp_port, self.imap_port, self.lmtp_port, self.closed_port = ports
        try:
            self._start_dovecot(directory, timeout)
            self._start_postfix(directory, timeout)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Kill both process groups, reap them, and remove the temp dir."""
        for proc in (self._postfix, self._dovecot):
            if proc is not None:
                stop_process(proc)
        self._postfix = self._dovecot = None
        if self.directory is not None:
            shutil.rmtree(self.directory, ignore_errors=True)
            self.directory = None

    def _start_dovecot(self, directory: Path, timeout: float) -> None:
        dovecot = shutil.which("dovecot")
        assert dovecot is not None, "the fixture checks for dovecot first"
        dovecot_dir = directory / "dovecot"
        mail_dir = dovecot_dir / "mail"
        mail_dir.mkdir(parents=True)
        dovecot_dir.chmod(0o755)
        is_root = os.geteuid() == 0
        if is_root:
            owner = pwd.getpwnam("dovecot")
            privileges = _ROOT.substitute()
        else:
            owner = pwd.getpwuid(os.geteuid())
            privileges = _ROOTLESS.substitute(
                user=owner.pw_name, group=grp.getgrgid(os.getegid()).gr_name
            )
        lines = []
        for mailbox in self.mailboxes.values():
            home = mail_dir / mailbox.address
            home.mkdir()
            if mailbox.sieve is not None:
                (home / ".dovecot.sieve").write_text(mailbox.sieve)
            extra = f"userdb_quota_rule={mailbox.quota}" if mailbox.quota else ""
            lines.append(
                f"{mailbox.address}:{{PLAIN}}{PASSWORD}:{owner.pw_uid}:{owner.pw_gid}::"
                f"{home}::{extra}\n"
            )
        for path in [mail_dir, *mail_dir.rglob("*")]:
            os.chown(path, owner.pw_uid, owner.pw_gid)
        users = dovecot_dir / "users"
        users.write_text("".join(lines))
        users.chmod(0o644)
        config = dovecot_dir / "dovecot.conf"
        config.write_text(
            _DOVECOT_CONFIG.substitute(
                dir=dovecot_dir,
                host=self.host,
                domain=DOMAIN,
                cert=self.tls.cert_pem,
                key=self.tls.key_pem,
                port_imap=self.imap_port,
                port_lmtp=self.lmtp_port,
                port_smtp=self.smtp_port,
                privileges=privileges,
                # chroot needs root; without it, switch it off where Dovecot would use it.
                anvil_extra="" if is_root else "  chroot =\n",
                login_extra="" if is_root else "  chroot =\n",
            )
        )
        log = dovecot_dir / "dovecot.log"
        with log.open("ab") as sink:
            self._dovecot = subprocess.Popen(
                [dovecot, "-F", "-c", str(config)],
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        for port in (self.imap_port, self.lmtp_port):
            wait_for_port(self.host, port, timeout, self._dovecot, log)

    def _start_postfix(self, directory: Path, timeout: float) -> None:
        postfix_dir = directory / "postfix"
        etc = postfix_dir / "etc"
        etc.mkdir(parents=True)
        (postfix_dir / "data").mkdir(mode=0o700)
        shutil.chown(postfix_dir / "data", "postfix")
        values = {
            "dir": postfix_dir,
            "host": self.host,
            "domain": DOMAIN,
            "unreachable": UNREACHABLE_DOMAIN,
            "port_smtp": self.smtp_port,
            "port_lmtp": self.lmtp_port,
            "port_closed": self.closed_port,
            "remote": REMOTE_DOMAIN,
            "port_remote": self.remote_port,
        }
        (etc / "main.cf").write_text(_POSTFIX_MAIN.substitute(values))
        (etc / "master.cf").write_text(_POSTFIX_MASTER.substitute(values))
        # Postfix re-reads a config file written in the last couple of seconds until it is
        # older (it might still be being edited): backdate both and start at once.
        past = time.time() - 60
        for name in ("main.cf", "master.cf"):
            os.utime(etc / name, (past, past))
        log = postfix_dir / "maillog"
        console = postfix_dir / "console.log"
        _make_queue(postfix_dir / "spool")
        # The master itself, not `postfix start(-fg)`: that wrapper's master makes itself a
        # session leader of its own, out of reach of our process-group kill, and is then
        # re-parented to PID 1, which never reaps it. `-d` keeps it in the foreground as our
        # child, in the group start_new_session gives it, with every daemon it forks.
        with console.open("ab") as sink:
            self._postfix = subprocess.Popen(
                [_POSTFIX_MASTER_BIN, "-c", str(etc), "-d"],
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            wait_for_port(self.host, self.smtp_port, timeout, self._postfix, console)
        except RuntimeError as error:
            raise RuntimeError(f"{error}\nmaillog:\n{log_tail(log)}") from None

    # --- use ----------------------------------------------------------------------------

    def logs(self) -> str:
        """The tail of both servers' logs, for assertion messages."""
        if self.directory is None:
            return "(not running)"
        return (
            f"--- postfix maillog\n{log_tail(self.directory / 'postfix' / 'maillog')}\n"
            f"--- dovecot.log\n{log_tail(self.directory / 'dovecot' / 'dovecot.log')}"
        )

    def send(
        self, raw: bytes, sender: str, recipient: str, *, notify_success: bool = False
    ) -> None:
        """Submit a message to Postfix over SMTP, as the user's mail client would.

        notify_success asks for a report of successful delivery too (RFC 3461 NOTIFY).
        """
        options = ["NOTIFY=SUCCESS"] if notify_success else []
        with smtplib.SMTP(self.host, self.smtp_port, timeout=10) as smtp:
            smtp.sendmail(sender, [recipient], raw, rcpt_options=options)

    def connect(self, address: str) -> IMAPClient:
        client = IMAPClient(self.host, port=self.imap_port, ssl=False, timeout=10)
        client.login(address, PASSWORD)
        return client

    def wait_for(
        self, address: str, wanted: Callable[[bytes], bool], timeout: float = 15.0
    ) -> bytes:
        """The first message in the user's INBOX for which wanted(raw) is true, read by IMAP."""
        deadline = time.monotonic() + timeout
        seen: set[int] = set()
        client = self.connect(address)
        try:
            client.select_folder("INBOX", readonly=True)
            while True:
                client.noop()
                uids = [uid for uid in client.search("ALL") if uid not in seen]
                if uids:
                    for uid, data in client.fetch(uids, ["BODY.PEEK[]"]).items():
                        seen.add(uid)
                        raw = bytes(data[b"BODY[]"])
                        if wanted(raw):
                            return raw
                if time.monotonic() > deadline:
                    raise AssertionError(
                        f"no matching message reached {address} within {timeout} s "
                        f"({len(seen)} others did)\n{self.logs()}"
                    )
                time.sleep(0.1)
        finally:
            client.logout()


class ScriptedRemote:
    """An SMTP server standing in for someone else's: it answers RCPT TO by local part.

    Postfix relays mail for REMOTE_DOMAIN to it, so these answers come back to the sender as
    Postfix's own reports: a 4xx answer as a "delayed" warning, a 5xx one as a bounce.
    """

    def __init__(self, replies: Mapping[str, str]) -> None:
        self.replies = dict(replies)
        self.port = free_ports(1)[0]
        self._controller = Controller(self, hostname=LOOPBACK, port=self.port)

    async def handle_RCPT(
        self, server: object, session: object, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        reply = self.replies.get(address.partition("@")[0].lower())
        if reply is not None:
            return reply.replace("{address}", address)
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: object, session: object, envelope: Envelope) -> str:
        return "250 2.0.0 accepted"

    def start(self) -> None:
        self._controller.start()

    def stop(self) -> None:
        self._controller.stop()
