"""A private Dovecot (IMAP, IMAPS, STARTTLS, LMTP) on free loopback ports, for real-IMAP tests."""

from __future__ import annotations

import grp
import os
import pwd
import shutil
import smtplib
import subprocess
import tempfile
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from string import Template
from urllib.parse import urlsplit

from imapclient import IMAPClient

from .net import LOOPBACK, free_ports, stop_process, wait_for_port
from .tls import TlsFiles

DEFAULT_SENDER = "sender@example.org"

Snapshot = list[tuple[int, bytes, tuple[bytes, ...]]]

# One template for both branches; $privileges is the part that differs between root and not.
_CONFIG = Template(
    """\
# Generated for one test session; started with: dovecot -F -c THIS_FILE
base_dir = $dir/run
state_dir = $dir/state
instance_name = outreach-test-$port_imap
log_path = $dir/dovecot.log
protocols = imap lmtp
listen = $host
ssl = yes
ssl_cert = <$cert
ssl_key = <$key
# Loopback only, so plaintext LOGIN without TLS is allowed (STARTTLS is offered too).
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_verbose = yes
# Tests try wrong passwords on purpose: answer at once instead of the 2-15 s anti-brute-force delay.
auth_failure_delay = 0
first_valid_uid = 1
mail_location = maildir:~/Maildir
mail_plugins =

$privileges

passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u $dir/users/%u
}

namespace inbox {
  inbox = yes
  separator = /
  mailbox Sent {
    special_use = \\Sent
    auto = subscribe
  }
  mailbox Drafts {
    special_use = \\Drafts
    auto = subscribe
  }
  mailbox Trash {
    special_use = \\Trash
    auto = subscribe
  }
  mailbox Junk {
    special_use = \\Junk
    auto = subscribe
  }
}

service anvil {
  # Mode 0 turns off anvil's per-IP authentication penalty (see auth_failure_delay).
  unix_listener anvil-auth-penalty {
    mode = 0
  }
$anvil_extra}

protocol imap {
  mail_max_userip_connections = 100
}

service imap-login {
  inet_listener imap {
    address = $host
    port = $port_imap
  }
  inet_listener imaps {
    address = $host
    port = $port_imaps
    ssl = yes
  }
}

service lmtp {
  inet_listener lmtp {
    address = $host
    port = $port_lmtp
  }
}
$extra"""
)

# As root Dovecot drops to its packaged service users; mail belongs to "dovecot".
_ROOT_PRIVILEGES = Template(
    """\
default_login_user = dovenull
default_internal_user = dovecot
userdb {
  driver = static
  args = uid=dovecot gid=dovecot home=$dir/mail/%u
}"""
)

# Without root everything runs as the current user, and chroot (root-only) is switched off.
_ROOTLESS_PRIVILEGES = Template(
    """\
default_login_user = $user
default_internal_user = $user
default_internal_group = $group
userdb {
  driver = static
  args = home=$dir/mail/%u
}
service imap-login {
  chroot =
}"""
)


class DovecotServer:
    """One Dovecot master process with its own config, users file and Maildirs."""

    def __init__(
        self,
        tls: TlsFiles,
        users: Mapping[str, str] | None = None,
        host: str = LOOPBACK,
    ) -> None:
        self.tls = tls
        self.host = host
        self.imap_port = 0
        self.imaps_port = 0
        self.lmtp_port = 0
        self.directory: Path | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self.users: dict[str, str] = {}
        for name, password in (users or {}).items():
            self.add_user(name, password)

    @property
    def log_path(self) -> Path:
        if self.directory is None:
            raise RuntimeError("Dovecot has not been started")
        return self.directory / "dovecot.log"

    def start(self, timeout: float = 10.0) -> None:
        """Write a fresh config into a new temp dir and run Dovecot in the foreground."""
        if self._proc is not None:
            raise RuntimeError("Dovecot is already running")
        dovecot = shutil.which("dovecot")
        if dovecot is None:
            raise FileNotFoundError(
                "dovecot not found: apt-get install dovecot-imapd dovecot-lmtpd"
            )
        # A new dir every start: a stale master.pid from an earlier run makes Dovecot refuse.
        # Not under pytest's tmp_path: that is mode 0700 and Dovecot's service users (as root)
        # must reach the Maildirs and the login chroot.
        directory = Path(tempfile.mkdtemp(prefix="outreach-dovecot-"))
        directory.chmod(0o755)
        self.directory = directory
        mail_dir = directory / "mail"
        mail_dir.mkdir()
        self.imap_port, self.imaps_port, self.lmtp_port = free_ports(3)
        is_root = os.geteuid() == 0
        if is_root:
            shutil.chown(mail_dir, "dovecot", "dovecot")
            privileges = _ROOT_PRIVILEGES.substitute(dir=directory)
        else:
            privileges = _ROOTLESS_PRIVILEGES.substitute(
                dir=directory,
                user=pwd.getpwuid(os.geteuid()).pw_name,
                group=grp.getgrgid(os.getegid()).gr_name,
            )
        config = directory / "dovecot.conf"
        config.write_text(
            _CONFIG.substitute(
                dir=directory,
                host=self.host,
                cert=self.tls.cert_pem,
                key=self.tls.key_pem,
                port_imap=self.imap_port,
                port_imaps=self.imaps_port,
                port_lmtp=self.lmtp_port,
                privileges=privileges,
                # chroot needs root; the rootless branch switches it off here and in imap-login.
                anvil_extra="" if is_root else "  chroot =\n",
                extra=self._extra_config(directory),
            )
        )
        self._write_users()
        with self.log_path.open("ab") as log:
            self._proc = subprocess.Popen(
                [dovecot, "-F", "-c", str(config)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            for port in (self.imap_port, self.imaps_port, self.lmtp_port):
                wait_for_port(self.host, port, timeout, self._proc, self.log_path)
        except BaseException:
            self.stop()
            raise

    def _extra_config(self, directory: Path) -> str:
        """More configuration, appended last (later settings win); subclasses add theirs."""
        return ""

    def stop(self) -> None:
        """Kill the master and its children, reap it, and remove the temp dir."""
        if self._proc is not None:
            stop_process(self._proc)
            self._proc = None
        if self.directory is not None:
            shutil.rmtree(self.directory, ignore_errors=True)
            self.directory = None

    def add_user(self, name: str, password: str) -> None:
        """Add or change a login; works before start and while running."""
        # Dovecot lower-cases login names (auth_username_format = %Lu) before the lookup.
        name = name.lower()
        if not name or set(name) & set(":/\n") or set(password) & set(":\n"):
            raise ValueError(f"unusable login for a passwd-file: {name!r} / {password!r}")
        changed = name in self.users and self.users[name] != password
        self.users[name] = password
        if self.directory is None:
            return
        self._write_user(name, password)
        if changed:
            # Dovecot stats a passwd-file at most once per wall-clock second, so a new password
            # only counts from the next second on; wait for it rather than let a login race.
            time.sleep(1.0 - time.time() % 1.0 + 0.01)

    def _write_users(self) -> None:
        # One passwd-file per login (passdb path ends in %u): a user added while Dovecot runs
        # has a file it has never cached, so the new login works at once.
        assert self.directory is not None
        folder = self.directory / "users"
        folder.mkdir(exist_ok=True)
        folder.chmod(0o755)
        for name, password in self.users.items():
            self._write_user(name, password)

    def _write_user(self, name: str, password: str) -> None:
        assert self.directory is not None
        path = self.directory / "users" / name
        line = f"{name}:{{PLAIN}}{password}::::::\n"
        previous = path.stat().st_mtime_ns if path.exists() else 0
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(line)
        # World-readable: the auth process runs as the "dovecot" user when we are root.
        tmp.chmod(0o644)
        # Dovecot reloads a passwd-file when its mtime or size changes; force a later mtime so
        # a same-length password change within one second is still noticed.
        stamp = max(time.time_ns(), previous + 1_000_000_000)
        os.utime(tmp, ns=(stamp, stamp))
        os.replace(tmp, path)

    def deliver(self, raw: bytes, recipient: str, sender: str = DEFAULT_SENDER) -> None:
        """Hand a message to Dovecot over LMTP, the way an MTA delivers to a mailbox."""
        with smtplib.LMTP(self.host, self.lmtp_port, timeout=10) as lmtp:
            lmtp.sendmail(sender, [recipient], raw)

    def connect(self, user: str, password: str) -> IMAPClient:
        """A logged-in IMAPClient over plain IMAP on loopback, for test set-up and checks."""
        client = IMAPClient(self.host, port=self.imap_port, ssl=False, timeout=10)
        try:
            client.login(user, password)
        except BaseException:
            client.shutdown()
            raise
        return client

    def append(
        self,
        user: str,
        password: str,
        folder: str,
        raw: bytes,
        flags: Iterable[bytes | str] = (),
    ) -> int | None:
        """APPEND a message to a folder; return its UID (from APPENDUID) when known."""
        client = self.connect(user, password)
        try:
            response = client.append(folder, raw, flags=tuple(flags))
        finally:
            client.logout()
        # Dovecot answers "[APPENDUID <uidvalidity> <uid>] Append completed."
        text = response.decode() if isinstance(response, bytes) else str(response)
        if text.startswith("[APPENDUID "):
            return int(text.split()[2].rstrip("]"))
        return None

    def snapshot(self, user: str, password: str, folder: str = "INBOX") -> Snapshot:
        """Every message in a folder as (uid, full raw bytes, flags), read without side effects."""
        client = self.connect(user, password)
        try:
            # EXAMINE (read-only) plus BODY.PEEK[] so taking the snapshot sets no \\Seen.
            client.select_folder(folder, readonly=True)
            uids = client.search("ALL")
            fetched = client.fetch(uids, ["BODY.PEEK[]", "FLAGS"]) if uids else {}
        finally:
            client.logout()
        result: Snapshot = []
        for uid in sorted(fetched):
            data = fetched[uid]
            # \\Recent belongs to whichever session saw the message first, not to the message,
            # so it is left out: it would make equal mailboxes compare unequal.
            flags = tuple(sorted(f for f in data[b"FLAGS"] if f != b"\\Recent"))
            result.append((int(uid), bytes(data[b"BODY[]"]), flags))
        return result


def start_dovecot(tls: TlsFiles, users: Mapping[str, str] | None = None) -> DovecotServer:
    """Start a DovecotServer with these logins and return it running."""
    server = DovecotServer(tls, users)
    server.start()
    return server


# The oauth2 passdb asks the authorization server about each token (RFC 7662, POST).
_OAUTH2_PASSDB = Template(
    """\
# XOAUTH2 and OAUTHBEARER checked by the test authorization server's introspection.
auth_mechanisms = plain login xoauth2 oauthbearer
passdb {
  driver = oauth2
  mechanisms = xoauth2 oauthbearer
  args = $args
}
"""
)
_OAUTH2_ARGS = Template(
    """\
introspection_mode = post
introspection_url = http://$client_id:$client_secret@$host:$port/introspect
force_introspection = yes
username_attribute = username
active_attribute = active
active_value = true
"""
)


class OAuthDovecotServer(DovecotServer):
    """A Dovecot that also takes OAuth2 access tokens (SASL XOAUTH2 and OAUTHBEARER).

    A token is accepted when the authorization server's introspection endpoint
    says it is active and its "username" is the login name (Dovecot's oauth2
    passdb). Password logins (users from `add_user`) work as on DovecotServer,
    which the tests use to look into the mailboxes; mail is delivered by LMTP.
    """

    def __init__(
        self,
        tls: TlsFiles,
        introspect_url: str,
        client_id: str,
        client_secret: str,
        users: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(tls, users)
        self.introspect_url = introspect_url
        self.client_id = client_id
        self.client_secret = client_secret

    def _extra_config(self, directory: Path) -> str:
        parts = urlsplit(self.introspect_url)
        args = directory / "dovecot-oauth2.conf.ext"
        args.write_text(
            _OAUTH2_ARGS.substitute(
                client_id=self.client_id,
                client_secret=self.client_secret,
                host=parts.hostname,
                port=parts.port,
            )
        )
        # The auth process reads it; when we are root it runs as the "dovecot" user.
        args.chmod(0o644)
        return _OAUTH2_PASSDB.substitute(args=args)

    def connect_oauth(self, user: str, access_token: str) -> IMAPClient:
        """An IMAPClient logged in with XOAUTH2 over plain IMAP on loopback."""
        client = IMAPClient(self.host, port=self.imap_port, ssl=False, timeout=10)
        try:
            client.oauth2_login(user, access_token)
        except BaseException:
            client.shutdown()
            raise
        return client
