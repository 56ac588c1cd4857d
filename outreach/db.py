"""Engine and session factory shared by the dashboard, the workers and the CLI."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker


def make_engine(database_url: str, **options: Any) -> Engine:
    """Create an engine; on SQLite, turn on foreign keys and WAL for concurrent processes."""
    if database_url.startswith("sqlite"):
        # Web, worker and poller are separate processes on one file: wait on a
        # lock rather than fail at once.
        options.setdefault("connect_args", {"timeout": 30})
        engine = create_engine(database_url, **options)

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        return engine
    options.setdefault("pool_pre_ping", True)
    return create_engine(database_url, **options)


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    # expire_on_commit=False so objects read in a use case stay usable after it commits.
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    """Commit when the block ends cleanly, roll back when it raises."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
