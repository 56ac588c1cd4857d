"""`outreach db`: the database schema."""

from __future__ import annotations

import click

from outreach.cli.common import load_settings, safe_url
from outreach.db import upgrade_database


@click.group("db")
def db_group() -> None:
    """Manage the database schema."""


@db_group.command("upgrade")
@click.option("--revision", default="head", show_default=True, help="Alembic revision.")
def db_upgrade(revision: str) -> None:
    """Create or update the tables (idempotent)."""
    settings = load_settings()
    current = upgrade_database(settings.database_url, revision)
    click.echo(f"database {safe_url(settings.database_url)} is at revision {current}")
