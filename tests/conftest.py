"""Fixtures shared by the whole suite: settings, a database per test, factories."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from outreach.config import Settings
from outreach.crypto import SecretBox
from outreach.db import make_engine, make_sessionmaker
from outreach.models import Base

pytest_plugins = ["tests.servers.fixtures"]

# A fixed, aware moment for tests of pure logic and use cases: a Tuesday.
NOW = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)


@pytest.fixture
def now() -> datetime:
    return NOW


@pytest.fixture
def instance_dir(tmp_path: Path) -> Path:
    path = tmp_path / "instance"
    path.mkdir()
    return path


@pytest.fixture
def settings(instance_dir: Path) -> Settings:
    """Settings on a fresh SQLite file; no Redis (tests that need it ask for `redis_server`)."""
    return Settings.from_env(
        {
            "OUTREACH_INSTANCE_DIR": str(instance_dir),
            "OUTREACH_SECRET_KEY": "test-secret-key",
            "OUTREACH_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        }
    )


@pytest.fixture
def secret_box(settings: Settings) -> SecretBox:
    return SecretBox(settings.encryption_keys)


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    engine = make_engine(settings.database_url)
    Base.metadata.create_all(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def session_factory(engine: Engine) -> sessionmaker[Session]:
    return make_sessionmaker(engine)


@pytest.fixture
def session(session_factory: sessionmaker[Session]) -> Iterator[Session]:
    with session_factory() as session:
        yield session
