"""Fixtures shared by the whole suite: settings, a database per test, factories."""

from __future__ import annotations

import shutil
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from argon2 import PasswordHasher
from cryptography.fernet import Fernet
from flask import Flask
from jinja2 import BytecodeCache, Environment
from jinja2.bccache import Bucket
from sqlalchemy import Engine, make_url
from sqlalchemy.orm import Session, sessionmaker

from outreach import accounts
from outreach.config import Settings
from outreach.crypto import SecretBox
from outreach.db import make_engine, make_sessionmaker
from outreach.mail.tls import client_context
from outreach.models import Base, Mailbox, TlsMode, User
from tests.factories import make_mailbox, make_user
from tests.servers.dovecot import DovecotServer
from tests.servers.postgres import PostgresServer
from tests.servers.redis import RedisServer
from tests.servers.smtpd import RecordingSMTPServer
from tests.servers.tls import TlsFiles
from workers import jobs

if TYPE_CHECKING:
    from tests.servers.fixtures import MailAccount

pytest_plugins = ["tests.servers.fixtures"]

# A fixed, aware moment for tests of pure logic and use cases: a Tuesday.
NOW = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)


@pytest.fixture
def now() -> datetime:
    return NOW


@pytest.fixture
def instance_dir(tmp_path: Path) -> Path:
    path = tmp_path / "instance"
    path.mkdir(mode=0o700)  # as Settings makes it: owner only
    return path


@pytest.fixture
def database_url(instance_dir: Path) -> str:
    """A fresh SQLite file; folders whose tests also run on PostgreSQL override this."""
    return f"sqlite:///{instance_dir / 'outreach.sqlite'}"


@pytest.fixture
def settings(instance_dir: Path, database_url: str) -> Settings:
    """Settings on a fresh database; no Redis (tests that need it ask for `redis_server`)."""
    return Settings.from_env(
        {
            "OUTREACH_INSTANCE_DIR": str(instance_dir),
            "OUTREACH_DATABASE_URL": database_url,
            "OUTREACH_SECRET_KEY": "test-secret-key",
            "OUTREACH_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        }
    )


@pytest.fixture
def secret_box(settings: Settings) -> SecretBox:
    return SecretBox(settings.encryption_keys)


@pytest.fixture(scope="session", autouse=True)
def quick_password_hashing() -> Iterator[None]:
    """Argon2 at its lowest cost for in-process tests.

    The deployment's parameters cost about 0.15 s a hash on a quiet core and over a second on
    a busy one, and most tests sign someone up and in; what they check is who gets in, not how
    slow a guess is. Processes the tests start (`outreach web`, the CLI) keep the real cost.
    """
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(
            accounts, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
        )
        accounts._nobodys_hash.cache_clear()
        yield
    accounts._nobodys_hash.cache_clear()


class _SharedBytecode(BytecodeCache):
    """Compiled templates kept for the whole session, keyed by name and source checksum."""

    def __init__(self) -> None:
        self._compiled: dict[tuple[str, str | None], bytes] = {}

    def load_bytecode(self, bucket: Bucket) -> None:
        found = self._compiled.get((bucket.key, bucket.checksum))
        if found is not None:
            bucket.bytecode_from_string(found)

    def dump_bytecode(self, bucket: Bucket) -> None:
        self._compiled[(bucket.key, bucket.checksum)] = bucket.bytecode_to_string()


@pytest.fixture(scope="session", autouse=True)
def templates_compiled_once() -> Iterator[None]:
    """Each test builds its own dashboard, and each would compile every page's template again
    (a tenth of a web test's time); a changed template has another checksum and compiles anew."""
    shared = _SharedBytecode()
    create_environment = Flask.create_jinja_environment

    def with_shared_bytecode(app: Flask) -> Environment:
        environment = create_environment(app)
        environment.bytecode_cache = shared
        return environment

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Flask, "create_jinja_environment", with_shared_bytecode)
        yield


@pytest.fixture(scope="session")
def sqlite_schema(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file with the whole schema, made once: copying it is 30 times faster than
    creating the tables again (each statement is its own synced transaction)."""
    path = tmp_path_factory.mktemp("schema") / "schema.sqlite"
    engine = make_engine(f"sqlite:///{path}")
    Base.metadata.create_all(engine)
    engine.dispose()
    return path


@pytest.fixture(scope="session")
def postgres_schema(postgres: PostgresServer) -> str:
    """The name of a PostgreSQL database with the whole schema, for tests to copy."""
    url = postgres.create_database()
    engine = make_engine(url)
    Base.metadata.create_all(engine)
    engine.dispose()
    name = make_url(url).database
    assert name is not None
    return name


@pytest.fixture
def engine(settings: Settings, sqlite_schema: Path) -> Iterator[Engine]:
    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite" and url.database and not Path(url.database).exists():
        shutil.copyfile(sqlite_schema, url.database)
    engine = make_engine(settings.database_url)
    Base.metadata.create_all(engine)  # a no-op on the copy: every table is there
    yield engine
    engine.dispose()


@pytest.fixture
def session_factory(engine: Engine) -> sessionmaker[Session]:
    return make_sessionmaker(engine)


@pytest.fixture
def session(session_factory: sessionmaker[Session]) -> Iterator[Session]:
    with session_factory() as session:
        yield session


@dataclass
class World:
    user: User
    mailbox: Mailbox
    account: MailAccount
    context: ssl.SSLContext


@pytest.fixture
def world(
    session: Session,
    secret_box: SecretBox,
    dovecot: DovecotServer,
    smtp: RecordingSMTPServer,
    mail_account: MailAccount,
    tls_files: TlsFiles,
) -> World:
    # One password for both servers, as with a real provider's app password.
    smtp.users[mail_account.user] = mail_account.password
    user = make_user(session, email=mail_account.user)
    mailbox = make_mailbox(
        session,
        user,
        secret_box,
        password=mail_account.password,
        imap_port=dovecot.imap_port,
        imap_tls=TlsMode.STARTTLS,
        smtp_port=smtp.port,
        smtp_tls=TlsMode.STARTTLS,
        username=mail_account.user,
    )
    session.commit()
    return World(user, mailbox, mail_account, client_context(tls_files.ca_pem))


def both_databases(request: pytest.FixtureRequest, instance_dir: Path) -> str:
    """SQLite, or a fresh PostgreSQL database, by the test's parameter."""
    if request.param == "postgresql":
        server = request.getfixturevalue("postgres")
        return str(server.create_database(template=request.getfixturevalue("postgres_schema")))
    return f"sqlite:///{instance_dir / 'outreach.sqlite'}"


@pytest.fixture
def job_environment(
    monkeypatch: pytest.MonkeyPatch,
    settings: Settings,
    redis_server: RedisServer,
    tls_files: TlsFiles,
) -> Iterator[None]:
    """Jobs read their settings from the environment, as in a real worker process."""
    monkeypatch.setenv("OUTREACH_INSTANCE_DIR", str(settings.instance_dir))
    monkeypatch.setenv("OUTREACH_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("OUTREACH_ENCRYPTION_KEYS", ",".join(settings.encryption_keys))
    monkeypatch.setenv("OUTREACH_SECRET_KEY", settings.secret_key)
    monkeypatch.setenv("OUTREACH_REDIS_URL", redis_server.url)
    monkeypatch.setenv("OUTREACH_CA_FILE", str(tls_files.ca_pem))
    jobs.dispose_runtime()
    yield
    jobs.dispose_runtime()
