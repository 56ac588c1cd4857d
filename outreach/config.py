"""One settings object, built from OUTREACH_* environment variables and passed down."""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.fernet import Fernet

from outreach.errors import ConfigurationError

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
    "OUTREACH_SECURE_COOKIES": ("false", "Send session cookies over HTTPS only."),
    "OUTREACH_SWEEP_INTERVAL": ("30", "Seconds between two sweeps of the outbox by the worker."),
    "OUTREACH_POLL_LEASE": (
        "45",
        "Seconds a poller keeps a mailbox without renewing; then another may take it.",
    ),
    "OUTREACH_SEND_LEASE": (
        "900",
        "Seconds after which a message still 'sending' is taken to belong to a dead worker.",
    ),
}


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


def _read_or_create(path: Path, make: str) -> str:
    """Return the secret stored at `path`, writing a new one first if there is none."""
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    # Created with 0600 from the start so the secret is never world-readable.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(make + "\n")
    return make


@dataclass(frozen=True)
class Settings:
    """Everything the core, the dashboard and the workers need to know."""

    instance_dir: Path
    database_url: str
    redis_url: str | None
    secret_key: str
    encryption_keys: tuple[str, ...] = field(repr=False)
    host: str = "127.0.0.1"
    port: int = 5000
    poll_interval: float = 60.0
    ca_file: Path | None = None
    secure_cookies: bool = False
    sweep_interval: float = 30.0
    send_lease: float = 900.0
    poll_lease: float = 45.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Build settings from `environ` (default: the process environment).

        Secrets not given are generated once into the instance folder, so a
        restart keeps sessions valid and stored mailbox secrets readable.
        """
        env = os.environ if environ is None else environ
        instance_dir = Path(env.get("OUTREACH_INSTANCE_DIR") or "instance").resolve()
        instance_dir.mkdir(parents=True, exist_ok=True)

        database_url = env.get("OUTREACH_DATABASE_URL") or (
            f"sqlite:///{instance_dir / 'outreach.sqlite'}"
        )
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

        return cls(
            instance_dir=instance_dir,
            database_url=database_url,
            redis_url=env.get("OUTREACH_REDIS_URL") or None,
            secret_key=secret_key,
            encryption_keys=keys,
            host=env.get("OUTREACH_HOST") or "127.0.0.1",
            port=int(_parse_number("OUTREACH_PORT", env.get("OUTREACH_PORT") or "5000", int)),
            poll_interval=_parse_number(
                "OUTREACH_POLL_INTERVAL", env.get("OUTREACH_POLL_INTERVAL") or "60", float
            ),
            ca_file=Path(ca_file) if ca_file else None,
            secure_cookies=_parse_bool(
                "OUTREACH_SECURE_COOKIES", env.get("OUTREACH_SECURE_COOKIES") or "false"
            ),
            sweep_interval=_parse_number(
                "OUTREACH_SWEEP_INTERVAL", env.get("OUTREACH_SWEEP_INTERVAL") or "30", float
            ),
            poll_lease=_parse_number(
                "OUTREACH_POLL_LEASE", env.get("OUTREACH_POLL_LEASE") or "45", float
            ),
            send_lease=_parse_number(
                "OUTREACH_SEND_LEASE", env.get("OUTREACH_SEND_LEASE") or "900", float
            ),
        )
