"""One settings object, built from OUTREACH_* environment variables and passed down."""

from __future__ import annotations

import logging
import os
import secrets
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from cryptography.fernet import Fernet
from limits import parse_many
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from outreach.errors import ConfigurationError
from outreach.mail import MailServer
from outreach.mail.reach import ANY_ADDRESS, PUBLIC_ONLY, AddressPolicy
from outreach.models.accounts import TlsMode

# Each documented setting: environment variable -> (default, what it means).
# README.md's configuration table is written from this mapping.
DOCUMENTED: dict[str, tuple[str, str]] = {
    "OUTREACH_INSTANCE_DIR": ("./instance", "Folder for the SQLite database and generated keys."),
    "OUTREACH_DATABASE_URL": (
        "sqlite:///<instance>/outreach.sqlite",
        "SQLAlchemy URL; postgresql+psycopg://... for a shared deployment.",
    ),
    "OUTREACH_REDIS_URL": (
        "(bundled)",
        "Redis for the job queue; unset, `outreach up` starts a bundled Valkey.",
    ),
    "OUTREACH_SECRET_KEY": ("(generated)", "Signs session cookies; generated into the instance."),
    "OUTREACH_ENCRYPTION_KEYS": (
        "(generated)",
        "Comma-separated Fernet keys for mailbox secrets, newest first.",
    ),
    "OUTREACH_HOST": ("127.0.0.1", "Address the dashboard listens on."),
    "OUTREACH_PORT": ("5000", "Port the dashboard listens on."),
    "OUTREACH_POLL_INTERVAL": ("60", "Seconds between two mailbox checks by the poller."),
    "OUTREACH_CA_FILE": ("(system)", "Extra CA bundle trusted for IMAP/SMTP TLS."),
    "OUTREACH_SECURE_COOKIES": (
        "true when OUTREACH_PUBLIC_URL is https, else false",
        "Send session cookies over HTTPS only.",
    ),
    "OUTREACH_SWEEP_INTERVAL": ("30", "Seconds between two sweeps of the outbox by the worker."),
    "OUTREACH_POLL_LEASE": (
        "45",
        "Seconds a poller keeps a mailbox without renewing; then another may take it.",
    ),
    "OUTREACH_POLL_CONNECTIONS_PER_HOST": (
        "50",
        "Logins and syncs one poller runs at once against one mail server host.",
    ),
    "OUTREACH_SEND_LEASE": (
        "900",
        "Seconds after which a message still 'sending' is taken to belong to a dead worker.",
    ),
    "OUTREACH_PUBLIC_URL": (
        "(the address the dashboard is reached at)",
        "Base URL of the dashboard as the browser sees it, for OAuth2 redirect URLs.",
    ),
    "OUTREACH_GOOGLE_CLIENT_ID": ("(none)", "OAuth2 client id: shows 'Sign in with Google'."),
    "OUTREACH_GOOGLE_CLIENT_SECRET": ("(none)", "OAuth2 client secret of that Google app."),
    "OUTREACH_MICROSOFT_CLIENT_ID": (
        "(none)",
        "Application (client) id: shows 'Sign in with Microsoft'.",
    ),
    "OUTREACH_MICROSOFT_CLIENT_SECRET": ("(none)", "Client secret of that Microsoft app."),
    "OUTREACH_MICROSOFT_TENANT": (
        "common",
        "Which Microsoft accounts may sign in: common, organizations, consumers or a tenant id.",
    ),
    "OUTREACH_GOOGLE_AUTHORIZE_URL": (
        "(Google's)",
        "Overrides of a provider's endpoints and servers (also OUTREACH_MICROSOFT_*): "
        "_AUTHORIZE_URL, _TOKEN_URL, _REVOKE_URL, _USERINFO_URL, and _IMAP / _SMTP "
        "as host:port:tls (tls is ssl, starttls or none). Only tests and unusual set-ups "
        "need them.",
    ),
    "OUTREACH_SANDBOX": (
        "on",
        "off: no sandbox; `outreach up` does not start its local mail servers, "
        "and the dashboard does not offer it.",
    ),
    "OUTREACH_SANDBOX_SMTP_PORT": ("2525", "Port of the sandbox's SMTP server on 127.0.0.1."),
    "OUTREACH_SANDBOX_IMAP_PORT": ("1143", "Port of the sandbox's IMAP server on 127.0.0.1."),
    "OUTREACH_SANDBOX_REPLY_DELAY": (
        "5-45",
        "Seconds before a simulated sandbox contact answers: a range (low-high) or one number.",
    ),
    "OUTREACH_SANDBOX_DAY_SECONDS": (
        "60",
        "How long a business day lasts in the sandbox, in seconds (for sandbox contacts only).",
    ),
    "OUTREACH_REFUSE_PRIVATE_ADDRESSES": (
        "false",
        "true: never connect to a mail server on a private, loopback or link-local address "
        "(set it where many people share one Outreach; docker-compose.yml does).",
    ),
    "OUTREACH_SIGNUP": (
        "open",
        "Who may create an account in the dashboard: open (anyone), invite (a link from "
        "`outreach invite create`) or closed (only `outreach user create`).",
    ),
    "OUTREACH_SIGNUP_CONTACT": (
        "the person who runs this Outreach",
        "Who to ask for an account or an invitation, as the sign-up page names them.",
    ),
    "OUTREACH_SESSION_DAYS": (
        "14",
        "Days a sign-in lasts; then the person logs in again.",
    ),
    "OUTREACH_TRUSTED_PROXIES": (
        "0",
        "How many reverse proxies stand in front of the dashboard; their X-Forwarded-For "
        "gives the client address that sign-in throttling counts by.",
    ),
    "OUTREACH_RATE_LIMITS": ("on", "off: no throttling of sign-in, sign-up and costly actions."),
    "OUTREACH_LIMIT_LOGIN_ACCOUNT": (
        "5/minute;20/hour;100/day",
        "Failed logins to one account (the email typed), from anywhere.",
    ),
    "OUTREACH_LIMIT_LOGIN_ADDRESS": (
        "20/minute;100/hour;500/day",
        "Failed logins from one client address, to any account.",
    ),
    "OUTREACH_LIMIT_SIGNUP": ("5/minute;30/hour;100/day", "Sign-ups from one client address."),
    "OUTREACH_LIMIT_OAUTH": (
        "10/minute;30/hour;100/day",
        "'Sign in with Google/Microsoft' starts, per account.",
    ),
    "OUTREACH_LIMIT_TEST_CONNECTION": (
        "5/minute;30/hour;100/day",
        "Mailbox connection tests (Test connection, a new password), per account.",
    ),
    "OUTREACH_LIMIT_TEMPLATE_PREVIEW": (
        "30/minute;300/hour;1000/day",
        "Template previews and saves, per account.",
    ),
    "OUTREACH_WEB_PROCESSES": (
        "(cores)",
        "gunicorn processes of `outreach web` (4 threads each); unset, one per core when the "
        "dashboard has Redis for its throttling counters, else one.",
    ),
}

# The OAuth2 providers Outreach knows, and the endpoints each uses by default; their
# mail servers are those of outreach.mail.presets unless OUTREACH_<PROVIDER>_IMAP/_SMTP say
# otherwise. Microsoft's URLs hold {tenant}, filled in from OUTREACH_MICROSOFT_TENANT.
OAUTH_DEFAULTS: dict[str, dict[str, str]] = {
    "google": {
        "AUTHORIZE_URL": "https://accounts.google.com/o/oauth2/v2/auth",
        "TOKEN_URL": "https://oauth2.googleapis.com/token",
        "REVOKE_URL": "https://oauth2.googleapis.com/revoke",
        "USERINFO_URL": "https://openidconnect.googleapis.com/v1/userinfo",
    },
    "microsoft": {
        "AUTHORIZE_URL": "https://login.microsoftonline.com/{tenant}/oauth2/v2.0/authorize",
        "TOKEN_URL": "https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token",
        # Microsoft has no revocation endpoint; the address comes from the id_token.
        "REVOKE_URL": "",
        "USERINFO_URL": "",
    },
}
_LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}
SIGNUP_MODES = ("open", "invite", "closed")
log = logging.getLogger(__name__)


def _parse_bool(name: str, value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off", ""}:
        return False
    raise ConfigurationError(f"{name} must be true or false, not '{value}'")


def _parse_number(name: str, value: str, kind: type[int] | type[float]) -> float:
    try:
        number = kind(value)
    except ValueError:
        raise ConfigurationError(f"{name} must be a number, not '{value}'") from None
    if number <= 0:
        raise ConfigurationError(f"{name} must be greater than zero, not '{value}'")
    return number


def _parse_port(name: str, value: str) -> int:
    if not value.strip().isdigit() or not 0 < int(value) < 65536:
        raise ConfigurationError(f"{name} must be a port number between 1 and 65535, not '{value}'")
    return int(value)


def _parse_delay(name: str, value: str) -> tuple[float, float]:
    """A range like "5-45" (a random delay in it) or one number of seconds ("10")."""
    low_text, _, high_text = value.partition("-")
    try:
        low = float(low_text)
        high = float(high_text) if high_text.strip() else low
    except ValueError:
        raise ConfigurationError(
            f"{name} must be seconds, like 5-45 or 10, not '{value}'"
        ) from None
    if low < 0 or high < low:
        raise ConfigurationError(f"{name} must be a range like 5-45 (low to high), not '{value}'")
    return low, high


@dataclass(frozen=True)
class _Environment:
    """The OUTREACH_* variables, each read with the default DOCUMENTED gives it."""

    env: Mapping[str, str]

    def text(self, name: str) -> str:
        return self.env.get(name) or DOCUMENTED[name][0]

    def number(self, name: str, kind: type[int] | type[float] = float) -> float:
        return _parse_number(name, self.text(name), kind)

    def flag(self, name: str) -> bool:
        return _parse_bool(name, self.text(name))

    def port(self, name: str) -> int:
        return _parse_port(name, self.text(name))

    def delay(self, name: str) -> tuple[float, float]:
        return _parse_delay(name, self.text(name))


def _owner_only(path: Path, mode: int) -> None:
    """Tighten `path` to `mode` (0700 or 0600) when others may read it, and say so."""
    try:
        current = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return
    if current & 0o077:
        path.chmod(mode)
        log.warning(
            "%s could be read by other users of this machine (mode %04o); "
            "it is now readable by its owner only (%04o)",
            path,
            current,
            mode,
        )


def sqlite_path(database_url: str) -> Path | None:
    """The file of a SQLite database URL; None for another database or one in memory."""
    try:
        url = make_url(database_url)
    except ArgumentError:
        return None  # the engine says what is wrong with it, where it is used
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    if url.database.startswith("file:"):
        return None
    return Path(url.database)


def secure_instance(instance_dir: Path, database_url: str) -> None:
    """The instance folder, its keys and the SQLite file: readable by their owner only.

    Created so when they are new; tightened, with a log line, when they were
    made looser (a copy, a restore, an older Outreach).
    """
    instance_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    _owner_only(instance_dir, 0o700)
    database = sqlite_path(database_url)
    if database is not None and not database.exists() and database.parent.is_dir():
        # SQLite would create the file with the umask's mode (0644 as a rule); its
        # journal and WAL files take the mode of the database file.
        os.close(os.open(database, os.O_WRONLY | os.O_CREAT, 0o600))
    files = [instance_dir / "secret_key", instance_dir / "encryption_key"]
    if database is not None:
        files += [
            database.with_name(database.name + end) for end in ("", "-wal", "-shm", "-journal")
        ]
    for path in files:
        _owner_only(path, 0o600)


def _parse_limits(name: str, value: str) -> str:
    """Limits in the `limits` library's words, e.g. "5/minute;20/hour;100/day"."""
    try:
        parsed = parse_many(value)
    except ValueError:
        parsed = []
    if not parsed or any(item.amount < 1 for item in parsed):
        raise ConfigurationError(
            f"{name} must be limits like 5/minute;20/hour;100/day (a number of at least 1, "
            f"a slash and second, minute, hour or day; several joined by ;), not '{value}'"
        )
    return value.strip()


@dataclass(frozen=True)
class RateLimits:
    """How often sign-in, sign-up and the costly actions may be tried (web/limits.py).

    Each is a string in the `limits` library's syntax, already checked.
    """

    enabled: bool = True
    login_account: str = DOCUMENTED["OUTREACH_LIMIT_LOGIN_ACCOUNT"][0]
    login_address: str = DOCUMENTED["OUTREACH_LIMIT_LOGIN_ADDRESS"][0]
    signup: str = DOCUMENTED["OUTREACH_LIMIT_SIGNUP"][0]
    oauth: str = DOCUMENTED["OUTREACH_LIMIT_OAUTH"][0]
    test_connection: str = DOCUMENTED["OUTREACH_LIMIT_TEST_CONNECTION"][0]
    template_preview: str = DOCUMENTED["OUTREACH_LIMIT_TEMPLATE_PREVIEW"][0]

    @classmethod
    def from_env(cls, read: _Environment) -> RateLimits:
        def limit(name: str) -> str:
            return _parse_limits(name, read.text(name))

        return cls(
            enabled=read.flag("OUTREACH_RATE_LIMITS"),
            login_account=limit("OUTREACH_LIMIT_LOGIN_ACCOUNT"),
            login_address=limit("OUTREACH_LIMIT_LOGIN_ADDRESS"),
            signup=limit("OUTREACH_LIMIT_SIGNUP"),
            oauth=limit("OUTREACH_LIMIT_OAUTH"),
            test_connection=limit("OUTREACH_LIMIT_TEST_CONNECTION"),
            template_preview=limit("OUTREACH_LIMIT_TEMPLATE_PREVIEW"),
        )


def _read_or_create(path: Path, make: str) -> str:
    """Return the secret stored at `path`, writing a new one first if there is none."""
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    # Created with 0600 from the start so the secret is never world-readable.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(make + "\n")
    return make


def _parse_url(name: str, value: str) -> str:
    """An https URL; plain http only for this machine (the tests' authorization server)."""
    parts = urlsplit(value)
    if parts.scheme == "https" and parts.hostname:
        return value
    if parts.scheme == "http" and parts.hostname in _LOOPBACK_HOSTS:
        return value
    raise ConfigurationError(
        f"{name} must be an https:// address (http:// only for 127.0.0.1), not '{value}'"
    )


def _parse_signup(value: str) -> str:
    mode = value.strip().lower()
    if mode not in SIGNUP_MODES:
        raise ConfigurationError(f"OUTREACH_SIGNUP must be open, invite or closed, not '{value}'")
    return mode


def _parse_server(name: str, value: str) -> MailServer | None:
    """A server given as host:port:tls; None when `value` is empty (the provider's own)."""
    if not value.strip():
        return None
    host, _, rest = value.strip().rpartition(":")
    host, _, port = host.rpartition(":")
    tls = rest.lower()
    if not host or not port.isdigit() or not 0 < int(port) < 65536 or tls not in set(TlsMode):
        raise ConfigurationError(
            f"{name} must look like host:port:tls with tls one of ssl, starttls or none, "
            f"not '{value}'"
        )
    return MailServer(host=host, port=int(port), tls=TlsMode(tls))


@dataclass(frozen=True)
class OAuthClientSettings:
    """One OAuth2 provider's app registration and endpoints, as configured.

    `client_id` is empty when the provider is not set up; outreach.oauth then
    leaves its sign-in button out. `imap` and `smtp` are None unless overridden:
    the provider's usual servers then come from outreach.mail.presets.
    """

    provider: str  # "google" | "microsoft"
    client_id: str
    client_secret: str = field(repr=False)
    authorize_url: str
    token_url: str
    revoke_url: str | None
    userinfo_url: str | None
    imap: MailServer | None
    smtp: MailServer | None

    @classmethod
    def from_env(cls, provider: str, env: Mapping[str, str]) -> OAuthClientSettings:
        prefix = f"OUTREACH_{provider.upper()}_"
        tenant = env.get("OUTREACH_MICROSOFT_TENANT") or "common"
        if not all(ch.isalnum() or ch in "-._" for ch in tenant):
            raise ConfigurationError(
                f"OUTREACH_MICROSOFT_TENANT must be common, organizations, consumers, a domain "
                f"or a tenant id, not '{tenant}'"
            )
        values: dict[str, str] = {}
        for key, default in OAUTH_DEFAULTS[provider].items():
            values[key] = (env.get(prefix + key) or default).replace("{tenant}", tenant).strip()
        urls = {
            key: _parse_url(prefix + key, values[key]) if values[key] else None
            for key in ("AUTHORIZE_URL", "TOKEN_URL", "REVOKE_URL", "USERINFO_URL")
        }
        client_id = (env.get(prefix + "CLIENT_ID") or "").strip()
        client_secret = (env.get(prefix + "CLIENT_SECRET") or "").strip()
        if client_id and not client_secret:
            raise ConfigurationError(
                f"{prefix}CLIENT_ID is set but {prefix}CLIENT_SECRET is not; "
                "both come from the app registration"
            )
        return cls(
            provider=provider,
            client_id=client_id,
            client_secret=client_secret,
            authorize_url=urls["AUTHORIZE_URL"] or "",
            token_url=urls["TOKEN_URL"] or "",
            revoke_url=urls["REVOKE_URL"],
            userinfo_url=urls["USERINFO_URL"],
            imap=_parse_server(prefix + "IMAP", env.get(prefix + "IMAP") or ""),
            smtp=_parse_server(prefix + "SMTP", env.get(prefix + "SMTP") or ""),
        )


@dataclass(frozen=True)
class Settings:
    """Everything the core, the dashboard and the workers need to know."""

    instance_dir: Path
    database_url: str
    redis_url: str | None
    secret_key: str = field(repr=False)
    encryption_keys: tuple[str, ...] = field(repr=False)
    host: str = "127.0.0.1"
    port: int = 5000
    poll_interval: float = 60.0
    ca_file: Path | None = None
    secure_cookies: bool = False
    sweep_interval: float = 30.0
    send_lease: float = 900.0
    poll_lease: float = 45.0
    poll_connections_per_host: int = 50
    # The dashboard's address as browsers reach it (no trailing slash), when configured.
    public_url: str | None = None
    # Every known OAuth2 provider, configured or not (outreach.oauth.providers reads them).
    oauth_clients: tuple[OAuthClientSettings, ...] = ()
    # The sandbox (outreach.sandbox): whether `outreach up` runs it, its ports on
    # 127.0.0.1, the simulated contacts' answer delay and its business day, in seconds.
    sandbox_enabled: bool = True
    sandbox_smtp_port: int = 2525
    sandbox_imap_port: int = 1143
    sandbox_reply_delay: tuple[float, float] = (5.0, 45.0)
    sandbox_day_seconds: float = 60.0
    # Who may create an account in the dashboard (SIGNUP_MODES), and who to ask for one.
    signup: str = "open"
    signup_contact: str = "the person who runs this Outreach"
    # How long a sign-in lasts, and how often sign-in and costly actions may be tried.
    session_days: float = 14.0
    rate_limits: RateLimits = field(default_factory=RateLimits)
    # Reverse proxies in front of the dashboard whose X-Forwarded-For is believed.
    trusted_proxies: int = 0
    # Mail servers on non-public addresses are refused (outreach.mail.reach).
    refuse_private_addresses: bool = False
    # gunicorn processes of `outreach web`; None: decided by web_process_count.
    web_processes: int | None = None

    def web_process_count(self, cores: int) -> int:
        """How many processes `outreach web` runs on a machine with `cores` cores.

        Without Redis each process would keep its own throttling counters, and a
        sign-in limit would allow that many times the attempts: one process then.
        """
        if self.web_processes is not None:
            return self.web_processes
        return max(1, cores) if self.redis_url else 1

    @property
    def address_policy(self) -> AddressPolicy:
        """Which mail server addresses this deployment connects to."""
        if not self.refuse_private_addresses:
            return ANY_ADDRESS
        if not self.sandbox_enabled:
            return PUBLIC_ONLY
        # The sandbox's pretend mailbox is served on this machine, on its two ports only.
        sandbox = {("127.0.0.1", self.sandbox_smtp_port), ("127.0.0.1", self.sandbox_imap_port)}
        return AddressPolicy(refuse_private=True, exceptions=frozenset(sandbox))

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Build settings from `environ` (default: the process environment).

        Secrets not given are generated once into the instance folder, so a
        restart keeps sessions valid and stored mailbox secrets readable.
        """
        env = os.environ if environ is None else environ
        read = _Environment(env)
        instance_dir = Path(env.get("OUTREACH_INSTANCE_DIR") or "instance").resolve()
        database_url = env.get("OUTREACH_DATABASE_URL") or (
            f"sqlite:///{instance_dir / 'outreach.sqlite'}"
        )
        secure_instance(instance_dir, database_url)
        secret_key = env.get("OUTREACH_SECRET_KEY") or _read_or_create(
            instance_dir / "secret_key", secrets.token_urlsafe(48)
        )
        keys_text = env.get("OUTREACH_ENCRYPTION_KEYS") or _read_or_create(
            instance_dir / "encryption_key", Fernet.generate_key().decode()
        )
        keys = tuple(key.strip() for key in keys_text.split(",") if key.strip())
        for key in keys:
            try:
                Fernet(key)
            except ValueError:
                raise ConfigurationError(
                    "OUTREACH_ENCRYPTION_KEYS holds a key that is not a valid Fernet key "
                    "(32 url-safe base64-encoded bytes)"
                ) from None
        ca_file = env.get("OUTREACH_CA_FILE")
        if ca_file and not Path(ca_file).is_file():
            raise ConfigurationError(f"OUTREACH_CA_FILE points to '{ca_file}', which is no file")

        public_url = (env.get("OUTREACH_PUBLIC_URL") or "").strip().rstrip("/") or None
        if public_url is not None:
            parts = urlsplit(public_url)
            if parts.scheme not in {"http", "https"} or not parts.hostname:
                raise ConfigurationError(
                    f"OUTREACH_PUBLIC_URL must be an address like https://outreach.example.org, "
                    f"not '{public_url}'"
                )

        return cls(
            instance_dir=instance_dir,
            database_url=database_url,
            redis_url=env.get("OUTREACH_REDIS_URL") or None,
            secret_key=secret_key,
            encryption_keys=keys,
            host=read.text("OUTREACH_HOST"),
            port=int(read.number("OUTREACH_PORT", int)),
            poll_interval=read.number("OUTREACH_POLL_INTERVAL"),
            ca_file=Path(ca_file) if ca_file else None,
            secure_cookies=_secure_cookies(env, public_url),
            sweep_interval=read.number("OUTREACH_SWEEP_INTERVAL"),
            poll_lease=read.number("OUTREACH_POLL_LEASE"),
            poll_connections_per_host=int(read.number("OUTREACH_POLL_CONNECTIONS_PER_HOST", int)),
            send_lease=read.number("OUTREACH_SEND_LEASE"),
            public_url=public_url,
            oauth_clients=tuple(
                OAuthClientSettings.from_env(provider, env) for provider in OAUTH_DEFAULTS
            ),
            sandbox_enabled=read.flag("OUTREACH_SANDBOX"),
            sandbox_smtp_port=read.port("OUTREACH_SANDBOX_SMTP_PORT"),
            sandbox_imap_port=read.port("OUTREACH_SANDBOX_IMAP_PORT"),
            sandbox_reply_delay=read.delay("OUTREACH_SANDBOX_REPLY_DELAY"),
            sandbox_day_seconds=read.number("OUTREACH_SANDBOX_DAY_SECONDS"),
            signup=_parse_signup(read.text("OUTREACH_SIGNUP")),
            signup_contact=" ".join(read.text("OUTREACH_SIGNUP_CONTACT").split()),
            session_days=read.number("OUTREACH_SESSION_DAYS"),
            rate_limits=RateLimits.from_env(read),
            trusted_proxies=_parse_proxies(read.text("OUTREACH_TRUSTED_PROXIES")),
            refuse_private_addresses=read.flag("OUTREACH_REFUSE_PRIVATE_ADDRESSES"),
            web_processes=_parse_processes(env.get("OUTREACH_WEB_PROCESSES") or ""),
        )


def _parse_processes(value: str) -> int | None:
    if not value.strip():
        return None
    if not value.strip().isdigit() or not 0 < int(value) <= 64:
        raise ConfigurationError(
            f"OUTREACH_WEB_PROCESSES must be a number of processes from 1 to 64, not '{value}'"
        )
    return int(value)


def _secure_cookies(env: Mapping[str, str], public_url: str | None) -> bool:
    """OUTREACH_SECURE_COOKIES when set; otherwise on exactly when the public URL is https."""
    given = env.get("OUTREACH_SECURE_COOKIES")
    if given:
        return _parse_bool("OUTREACH_SECURE_COOKIES", given)
    return public_url is not None and public_url.lower().startswith("https://")


def _parse_proxies(value: str) -> int:
    if not value.strip().isdigit() or int(value) > 10:
        raise ConfigurationError(
            "OUTREACH_TRUSTED_PROXIES must be how many reverse proxies stand in front of the "
            f"dashboard, a number from 0 to 10, not '{value}'"
        )
    return int(value)
