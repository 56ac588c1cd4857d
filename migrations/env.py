"""Alembic environment: the schema is outreach.models.Base.metadata.

Two ways in:
- `outreach db upgrade` (outreach.db.upgrade_database) passes an open connection in
  config.attributes["connection"];
- the `alembic` command (alembic.ini at the repository root) uses sqlalchemy.url
  when it is set (`alembic -x url=...` is not needed: set OUTREACH_DATABASE_URL),
  else the URL the OUTREACH_* settings give.

SQLite cannot ALTER most things, so migrations there run in batch mode (copy and
move the table); the same scripts run unchanged on PostgreSQL.
"""

from __future__ import annotations

from logging.config import fileConfig
from typing import Any, Literal

from alembic import context
from sqlalchemy import pool
from sqlalchemy.engine import Connection

from outreach.db import make_engine
from outreach.models import Base
from outreach.models.base import UTCDateTime

config = context.config
target_metadata = Base.metadata

if config.config_file_name is not None and "connection" not in config.attributes:
    fileConfig(config.config_file_name, disable_existing_loggers=False)


def _database_url() -> str:
    url = config.get_main_option("sqlalchemy.url")
    if url:
        return url
    from outreach.config import Settings

    return Settings.from_env().database_url


def _render_item(kind: str, obj: Any, autogen_context: Any) -> str | Literal[False]:
    # UTCDateTime only converts values in Python; in the database it is a plain
    # timezone-aware DateTime, and migrations must not import our models' types.
    if kind == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def _configure(**options: Any) -> None:
    context.configure(
        target_metadata=target_metadata,
        compare_type=True,
        render_item=_render_item,
        **options,
    )


def run_migrations_offline() -> None:
    url = _database_url()
    _configure(
        url=url,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        render_as_batch=url.startswith("sqlite"),
    )
    with context.begin_transaction():
        context.run_migrations()


def _run(connection: Connection) -> None:
    _configure(connection=connection, render_as_batch=connection.dialect.name == "sqlite")
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    given = config.attributes.get("connection")
    if given is not None:
        _run(given)
        return
    engine = make_engine(_database_url(), poolclass=pool.NullPool)
    try:
        with engine.connect() as connection:
            _run(connection)
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
