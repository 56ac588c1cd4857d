"""The edge every command shares: settings, sessions, the account chosen by --user, output."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from typing import NoReturn

import click
from sqlalchemy import select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from outreach import accounts, clock
from outreach.config import Settings
from outreach.db import make_engine, make_sessionmaker, session_scope
from outreach.errors import NotFound
from outreach.models import User


def utcnow() -> datetime:
    return clock.now()


def iso(value: datetime | None) -> str | None:
    """ISO-8601 in UTC with a trailing Z, or None: the only datetime format of --json."""
    if value is None:
        return None
    return value.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def load_settings() -> Settings:
    return Settings.from_env()


def safe_url(url: str) -> str:
    """A database or Redis URL fit to print: the password is masked."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - an unparsable URL is shown as nothing at all
        return "(unreadable URL)"


@contextmanager
def sessions(settings: Settings) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(settings.database_url)
    try:
        yield make_sessionmaker(engine)
    finally:
        engine.dispose()


@contextmanager
def transaction(settings: Settings) -> Iterator[Session]:
    """One session and one transaction: committed when the block ends cleanly."""
    with sessions(settings) as factory, session_scope(factory) as session:
        yield session


def find_user(session: Session, email: str) -> User:
    """The account selected by --user; an unknown address is an error."""
    address = accounts.normalise_email(email)
    user = session.scalar(select(User).where(User.email == address))
    if user is None:
        raise NotFound(f"there is no account for {address}; create it with `outreach user create`")
    return user


@contextmanager
def acting_for(user_email: str) -> Iterator[tuple[Session, User]]:
    """One transaction on the configured database, for the account chosen by --user."""
    with transaction(load_settings()) as session:
        yield session, find_user(session, user_email)


def fail(message: str) -> NoReturn:
    raise click.ClickException(message)


def print_json(data: object) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False))


def read_secret(prompt: str, *, confirm: bool) -> str:
    """A secret from a hidden prompt on a terminal, else the first line of stdin.

    Never from argv: arguments are visible to every user of the machine in `ps`.
    """
    if sys.stdin.isatty():
        value: str = click.prompt(prompt, hide_input=True, confirmation_prompt=confirm)
        return value
    return sys.stdin.readline().rstrip("\r\n")


def configure_logging(process: str) -> None:
    logging.basicConfig(
        level=logging.INFO,
        format=f"%(asctime)s [{process}] %(levelname)s %(name)s: %(message)s",
    )


def with_redis(settings: Settings) -> Settings:
    """Settings whose redis_url falls back to the bundled server `outreach up` is running."""
    if settings.redis_url:
        return settings
    from workers.processes import bundled_redis_url

    return replace(settings, redis_url=bundled_redis_url(settings.instance_dir))


user_option = click.option(
    "--user",
    "user_email",
    required=True,
    envvar="OUTREACH_USER",
    metavar="EMAIL",
    help="The account to act for (or set OUTREACH_USER).",
)
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON (docs/cli.md).")
