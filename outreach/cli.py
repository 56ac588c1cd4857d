"""`outreach`: the command line, and the composition root that starts each process.

Two kinds of commands live here:

- process commands (`web`, `worker`, `poller`, `up`, `db upgrade`) wire settings
  into the dashboard, the RQ worker and the poller. They import `web` and
  `workers` inside the function, so the core never pulls in Flask or RQ by
  importing this module (the import-linter contract allows only this edge);
- domain commands (`user`, `mailbox`, `contacts`, `target`, `drafts`, `status`)
  call the same core use cases as the dashboard, for people and career centres
  who script their set-up.

Settings are built inside each command, never at import. Every error the core
raises on purpose (OutreachError) is turned into one sentence on stderr and exit
status 1. Secrets are read from stdin or a hidden prompt, never from argv, and
never printed. The JSON printed by `--json` is documented in docs/cli.md.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import IO, Any, NoReturn

import click
from sqlalchemy import Connection, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from outreach import accounts, board, clock, contacts, drafts, target_actions
from outreach.classify import InboundKind, Reading, read_message
from outreach.config import Settings
from outreach.contacts import guess_columns
from outreach.crypto import SecretBox
from outreach.db import make_engine, make_sessionmaker, session_scope
from outreach.errors import NotFound, OutreachError, ValidationError
from outreach.keys import generate_key, rotate_secrets
from outreach.mime import parse_headers
from outreach.models import Contact, Mailbox, Message, TlsMode, User
from outreach.vcard import looks_like_vcard

# The Alembic scripts live in the source tree beside the packages (see docs/decisions/0001).
MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"

TLS_MODES = [mode.value for mode in TlsMode]
# Default port per TLS mode when --imap-port / --smtp-port is not given.
IMAP_PORTS = {TlsMode.SSL: 993, TlsMode.STARTTLS: 143, TlsMode.NONE: 143}
SMTP_PORTS = {TlsMode.SSL: 465, TlsMode.STARTTLS: 587, TlsMode.NONE: 25}


# --- the edge: settings, sessions, errors, output ------------------------------------------


def _utcnow() -> datetime:
    return clock.now()


def iso(value: datetime | None) -> str | None:
    """ISO-8601 in UTC with a trailing Z, or None: the only datetime format of --json."""
    if value is None:
        return None
    return value.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _settings() -> Settings:
    return Settings.from_env()


def _safe_url(url: str) -> str:
    """A database or Redis URL fit to print: the password is masked."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - an unparsable URL is shown as nothing at all
        return "(unreadable URL)"


@contextmanager
def _sessions(settings: Settings) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(settings.database_url)
    try:
        yield make_sessionmaker(engine)
    finally:
        engine.dispose()


@contextmanager
def _transaction(settings: Settings) -> Iterator[Session]:
    """One session and one transaction: committed when the block ends cleanly."""
    with _sessions(settings) as factory, session_scope(factory) as session:
        yield session


def _user(session: Session, email: str) -> User:
    """The account selected by --user; an unknown address is an error."""
    address = accounts.normalise_email(email)
    user = session.scalar(select(User).where(User.email == address))
    if user is None:
        raise NotFound(f"there is no account for {address}; create it with `outreach user create`")
    return user


def _database_problem(error: SQLAlchemyError) -> str:
    text = str(error.orig if isinstance(error, DBAPIError) else error).strip()
    first_line = text.splitlines()[0] if text else type(error).__name__
    lowered = text.lower()
    if "no such table" in lowered or ("relation" in lowered and "does not exist" in lowered):
        return "the database has no tables yet; run `outreach db upgrade` first"
    return f"the database could not be used: {first_line}"


class _OutreachGroup(click.Group):
    """The root group: turns deliberate errors into a sentence on stderr and exit status 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except OutreachError as error:
            raise click.ClickException(str(error)) from None
        except SQLAlchemyError as error:
            raise click.ClickException(_database_problem(error)) from None


def _fail(message: str) -> NoReturn:
    raise click.ClickException(message)


def _print_json(data: object) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False))


def _read_secret(prompt: str, *, confirm: bool) -> str:
    """A secret from a hidden prompt on a terminal, else the first line of stdin.

    Never from argv: arguments are visible to every user of the machine in `ps`.
    """
    if sys.stdin.isatty():
        value: str = click.prompt(prompt, hide_input=True, confirmation_prompt=confirm)
        return value
    return sys.stdin.readline().rstrip("\r\n")


def _configure_logging(process: str) -> None:
    logging.basicConfig(
        level=logging.INFO,
        format=f"%(asctime)s [{process}] %(levelname)s %(name)s: %(message)s",
    )


def _with_redis(settings: Settings) -> Settings:
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


@click.group(cls=_OutreachGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="outreach")
def outreach() -> None:
    """Informational-interview outreach from your own mailbox.

    Settings come from OUTREACH_* environment variables (see the README).
    """


# --- processes --------------------------------------------------------------------------------


@contextmanager
def _one_transaction_for_ddl(connection: Connection) -> Iterator[None]:
    """A transaction that holds DDL too, so a failed migration changes nothing.

    PostgreSQL does this by itself. Python's sqlite3 module commits DDL as it
    goes, so on SQLite we switch the driver to manual transactions and send BEGIN
    ourselves. Foreign keys are switched off meanwhile (only possible outside a
    transaction): batch migrations copy a table and drop the old one, and that
    DROP would otherwise cascade into the child tables. They are checked before
    the commit instead.
    """
    if connection.dialect.name != "sqlite":
        with connection.begin():
            yield
        return
    driver = connection.connection.driver_connection
    assert driver is not None
    previous = driver.isolation_level
    connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
    connection.commit()
    driver.isolation_level = None
    try:
        with connection.begin():
            connection.exec_driver_sql("BEGIN")
            yield
            broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
            if broken:
                raise OutreachError(
                    f"the migration would leave {len(broken)} rows pointing at missing rows; "
                    "nothing was changed"
                )
    finally:
        driver.isolation_level = previous
        connection.exec_driver_sql("PRAGMA foreign_keys=ON")
        connection.commit()


def upgrade_database(settings: Settings, revision: str = "head") -> str | None:
    """Bring the database schema to `revision`; returns the revision it ends at."""
    from alembic import command
    from alembic.config import Config
    from alembic.runtime.migration import MigrationContext

    if not (MIGRATIONS_DIR / "env.py").is_file():
        raise OutreachError(f"the migrations folder {MIGRATIONS_DIR} is missing")
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    engine = make_engine(settings.database_url)
    try:
        with engine.connect() as connection:
            with _one_transaction_for_ddl(connection):
                # env.py uses this connection rather than building its own engine.
                config.attributes["connection"] = connection
                command.upgrade(config, revision)
        with engine.connect() as connection:
            current: str | None = MigrationContext.configure(connection).get_current_revision()
            return current
    finally:
        engine.dispose()


@outreach.group()
def db() -> None:
    """Manage the database schema."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True, help="Alembic revision.")
def db_upgrade(revision: str) -> None:
    """Create or update the tables (idempotent)."""
    settings = _settings()
    current = upgrade_database(settings, revision)
    click.echo(f"database {_safe_url(settings.database_url)} is at revision {current}")


@outreach.command()
@click.option("--host", help="Listen address (default: OUTREACH_HOST).")
@click.option("--port", type=click.IntRange(1, 65535), help="Port (default: OUTREACH_PORT).")
def web(host: str | None, port: int | None) -> None:
    """Serve the dashboard with gunicorn (one process, a few threads)."""
    settings = _settings()
    settings = replace(settings, host=host or settings.host, port=port or settings.port)
    _configure_logging("web")
    from web import create_app
    from web.server import serve

    app = create_app(settings)
    click.echo(f"Outreach dashboard on http://{settings.host}:{settings.port}/")
    serve(app, settings.host, settings.port)


@outreach.command()
@click.option("--burst", is_flag=True, help="Work until the queues are empty, then exit.")
def worker(burst: bool) -> None:
    """Run an RQ worker (with its scheduler) that sends approved messages."""
    settings = _with_redis(_settings())
    _configure_logging("worker")
    from workers import worker as worker_process

    worker_process.run(settings, burst=burst)


@outreach.command()
@click.option("--once", is_flag=True, help="Check every mailbox once, then exit.")
def poller(once: bool) -> None:
    """Watch every connected mailbox for replies."""
    settings = _settings()
    _configure_logging("poller")
    from workers import poller as poller_process

    poller_process.run(settings, once=once)


@outreach.command()
def up() -> None:
    """Migrate, then run the dashboard, a worker and the poller until Ctrl-C.

    Without OUTREACH_REDIS_URL a bundled Valkey server is started for them.
    """
    settings = _settings()
    upgrade_database(settings)
    from workers.processes import run_up

    sys.exit(run_up(settings))


@outreach.command()
@click.option(
    "--user",
    "user_email",
    metavar="EMAIL",
    help="Also give this account a sandbox mailbox, demo contacts and a target.",
)
@click.option(
    "--no-servers", is_flag=True, help="Only set up --user; `outreach up` runs the servers."
)
def sandbox(user_email: str | None, no_servers: bool) -> None:
    """Run the sandbox: local mail servers where simulated contacts answer.

    No real email is sent. Addresses at people.outreach-sandbox.invalid answer by
    their first word: agrees, declines, away, bounces or silent.
    """
    from outreach.sandbox import SANDBOX_LABEL
    from outreach.sandbox.demo import SandboxPorts, set_up_sandbox

    settings = _settings()
    if user_email:
        with _transaction(settings) as session:
            account = _user(session, user_email)
            setup = set_up_sandbox(
                session,
                account,
                SecretBox(settings.encryption_keys),
                SandboxPorts(smtp=settings.sandbox_smtp_port, imap=settings.sandbox_imap_port),
                _utcnow(),
            )
            click.echo(
                f"{SANDBOX_LABEL}. {account.email} now uses the sandbox mailbox "
                f"{setup.mailbox.email_address}; target '{setup.target.name}' has "
                f"{len(setup.target.entries)} demo contacts ({setup.contacts_added} new); "
                f"{len(setup.drafted)} request(s) drafted for approval."
            )
            if setup.introduction_added:
                click.echo("Your profile had no introduction: an example one was put in.")
    if no_servers:
        return
    from outreach.sandbox.servers import serve

    try:
        serve(settings)
    except OSError as error:
        _fail(
            f"the sandbox could not listen on 127.0.0.1 ({error.strerror or error}); "
            "is another sandbox running? OUTREACH_SANDBOX_SMTP_PORT and "
            "OUTREACH_SANDBOX_IMAP_PORT choose other ports"
        )


# --- users and mailboxes ----------------------------------------------------------------------


@outreach.group()
def user() -> None:
    """Accounts."""


@user.command("create")
@click.option("--email", required=True, help="The person's own email address (their login).")
@click.option("--name", required=True, help="Their name, as it signs their emails.")
@click.option("--introduction", default="", help="Their 30-second introduction for requests.")
def user_create(email: str, name: str, introduction: str) -> None:
    """Create an account. The password is read from a hidden prompt, or stdin's first line."""
    accounts.normalise_email(email)  # a typo is reported before anyone types a password
    password = _read_secret("Password", confirm=True)
    settings = _settings()
    with _transaction(settings) as session:
        created = accounts.create_user(session, email, name, password)
        if introduction.strip():
            accounts.update_profile(
                session,
                created,
                name=created.name,
                introduction=introduction,
                signature=created.signature,
            )
        click.echo(f"created the account {created.email} (id {created.id})")
        if not created.introduction:
            click.echo(
                "note: requests use your 30-second introduction; add it in the dashboard's "
                "profile before approving drafts",
                err=True,
            )


@outreach.group()
def mailbox() -> None:
    """The user's own mailbox (IMAP for replies, SMTP for sending)."""


@mailbox.command("add")
@user_option
@click.option("--address", required=True, help="The mailbox's email address.")
@click.option("--display-name", default="", help="Name shown in From (default: the user's).")
@click.option("--imap-host", required=True)
@click.option("--imap-port", type=click.IntRange(1, 65535), help="Default: 993 (ssl) or 143.")
@click.option("--imap-tls", type=click.Choice(TLS_MODES), default="ssl", show_default=True)
@click.option("--smtp-host", required=True)
@click.option(
    "--smtp-port", type=click.IntRange(1, 65535), help="Default: 465 (ssl), 587 (starttls), 25."
)
@click.option("--smtp-tls", type=click.Choice(TLS_MODES), default="starttls", show_default=True)
@click.option("--username", default="", help="Login name (default: the address).")
def mailbox_add(
    user_email: str,
    address: str,
    display_name: str,
    imap_host: str,
    imap_port: int | None,
    imap_tls: str,
    smtp_host: str,
    smtp_port: int | None,
    smtp_tls: str,
    username: str,
) -> None:
    """Connect a mailbox. Its (app) password is read from a hidden prompt, or stdin's first line."""
    settings = _settings()
    imap_mode, smtp_mode = TlsMode(imap_tls), TlsMode(smtp_tls)
    mailbox_settings = accounts.MailboxSettings(
        email_address=address,
        display_name=display_name,
        imap_host=imap_host,
        imap_port=imap_port or IMAP_PORTS[imap_mode],
        imap_tls=imap_mode,
        smtp_host=smtp_host,
        smtp_port=smtp_port or SMTP_PORTS[smtp_mode],
        smtp_tls=smtp_mode,
        username=username or address,
    )
    with _sessions(settings) as factory:
        # An unknown user is refused before anyone types a password.
        with session_scope(factory) as session:
            _user(session, user_email)
        secret = _read_secret("Mailbox password (or app password)", confirm=False)
        with session_scope(factory) as session:
            owner = _user(session, user_email)
            box = SecretBox(settings.encryption_keys)
            added = accounts.connect_mailbox(session, owner, box, mailbox_settings, secret)
        click.echo(
            f"connected {added.email_address} (mailbox {added.id}); "
            f"check it with `outreach mailbox test --user {owner.email} {added.id}`"
        )


def mailbox_json(item: Mailbox) -> dict[str, object]:
    return {
        "id": item.id,
        "address": item.email_address,
        "display_name": item.display_name,
        "imap_host": item.imap_host,
        "imap_port": item.imap_port,
        "imap_tls": item.imap_tls.value,
        "smtp_host": item.smtp_host,
        "smtp_port": item.smtp_port,
        "smtp_tls": item.smtp_tls.value,
        "username": item.username,
        "sent_folder": item.sent_folder,
        "status": item.status.value,
        "last_error": item.last_error,
        "created_at": iso(item.created_at),
    }


@mailbox.command("list")
@user_option
@json_option
def mailbox_list(user_email: str, as_json: bool) -> None:
    """List the user's mailboxes (never their secrets)."""
    with _transaction(_settings()) as session:
        items = accounts.list_mailboxes(session, _user(session, user_email))
        if as_json:
            _print_json({"mailboxes": [mailbox_json(item) for item in items]})
            return
        if not items:
            click.echo("no mailbox connected")
        for item in items:
            problem = f" ({item.last_error})" if item.last_error else ""
            click.echo(f"{item.id:>4}  {item.email_address}  {item.status.value}{problem}")


@mailbox.command("test")
@user_option
@click.argument("mailbox_id", required=False, type=int, metavar="[ID]")
def mailbox_test(user_email: str, mailbox_id: int | None) -> None:
    """Log in to IMAP and SMTP and find the Sent folder (default: the first mailbox)."""
    from outreach.connection_check import check_mailbox
    from outreach.mail.tls import client_context
    from outreach.oauth.tokens import AccessTokens

    settings = _settings()
    box = SecretBox(settings.encryption_keys)
    with _sessions(settings) as factory, session_scope(factory) as session:
        owner = _user(session, user_email)
        if mailbox_id is None:
            chosen = accounts.primary_mailbox(session, owner)
            if chosen is None:
                raise ValidationError(
                    "no mailbox is connected; add one with `outreach mailbox add`"
                )
        else:
            chosen = accounts.get_mailbox(session, owner, mailbox_id)
        # An OAuth2 mailbox's token is fetched (or renewed) in its own transactions.
        tokens = AccessTokens.from_settings(settings, factory, box)
        report = check_mailbox(chosen, box, client_context(settings.ca_file), tokens, _utcnow())
        address = chosen.email_address
    # The outcome is committed above (status, Sent folder) before we report it.
    click.echo(f"{address}")
    click.echo(f"  IMAP login:  {'ok' if report.imap_ok else 'failed'}")
    click.echo(f"  SMTP login:  {'ok' if report.smtp_ok else 'failed'}")
    click.echo(f"  Sent folder: {report.sent_folder or 'not found'}")
    if report.sign_in_required:
        click.echo(f"  {report.problems[-1]}", err=True)
        _fail(
            f"the mailbox {address} needs you to sign in again: open the Mailbox page "
            "of the dashboard and sign in with your provider; queued messages wait until then"
        )
    if not report.ok:
        for problem in report.problems:
            click.echo(f"  {problem}", err=True)
        _fail(f"the mailbox {address} does not work yet")


_TLS_WORDS = {TlsMode.SSL: "SSL/TLS", TlsMode.STARTTLS: "STARTTLS", TlsMode.NONE: "no TLS"}
_SOURCE_WORDS = {
    "preset": "found in our presets",
    "autoconfig": "published by the domain (autoconfig)",
    "SRV records": "found in the domain's DNS SRV records",
    "MX guess": "guessed from the domain's MX records",
}


@mailbox.command("discover")
@json_option
@click.option(
    "--timeout", default=4.0, show_default=True, help="Seconds to wait for each network answer."
)
@click.argument("address")
def mailbox_discover(as_json: bool, timeout: float, address: str) -> None:
    """Find the IMAP and SMTP settings for ADDRESS: presets, autoconfig, DNS SRV, then MX.

    Needs no settings and no database; nothing is stored.
    """
    from outreach.autodiscover import Lookup, discover

    accounts.normalise_email(address)
    found = discover(address, Lookup(timeout=timeout))
    if found is None:
        _fail(
            f"no settings were found for {address} (tried our presets, autoconfig, DNS SRV and "
            "MX records); ask your provider for its IMAP and SMTP servers and use "
            "`outreach mailbox add`"
        )
    if as_json:
        _print_json(
            {
                "address": address,
                "source": found.source.value,
                "provider": found.provider,
                "imap_host": found.imap_host,
                "imap_port": found.imap_port,
                "imap_tls": found.imap_tls.value,
                "smtp_host": found.smtp_host,
                "smtp_port": found.smtp_port,
                "smtp_tls": found.smtp_tls.value,
                "username": found.username,
                "username_style": found.username_style.name.lower(),
                "advice": found.advice,
                "oauth_provider": found.oauth_provider,
            }
        )
        return
    who = f"{found.provider} " if found.provider else ""
    click.echo(f"{address}: {who}({_SOURCE_WORDS[found.source.value]})")
    click.echo(f"  IMAP  {found.imap_host}:{found.imap_port}  {_TLS_WORDS[found.imap_tls]}")
    click.echo(f"  SMTP  {found.smtp_host}:{found.smtp_port}  {_TLS_WORDS[found.smtp_tls]}")
    click.echo(f"  User name: {found.username} ({found.username_style.value})")
    if found.advice:
        click.echo(f"  {found.advice}")


# --- encryption keys --------------------------------------------------------------------------


@outreach.group("keys")
def keys_group() -> None:
    """The keys that encrypt mailbox secrets (OUTREACH_ENCRYPTION_KEYS, newest first).

    \b
    To replace the key in use (docs/cli.md):
    1. outreach keys generate                 -> NEW
    2. OUTREACH_ENCRYPTION_KEYS="NEW,OLD" for every process, and restart them
       (OLD: the key in use, from the variable or <instance>/encryption_key)
    3. outreach keys rotate
    4. OUTREACH_ENCRYPTION_KEYS="NEW", and restart again
    """


@keys_group.command("generate")
def keys_generate() -> None:
    """Print a new Fernet key, and nothing else. Nothing is stored or changed."""
    click.echo(generate_key())


def _mailbox_list(rows: Sequence[tuple[int, str]]) -> str:
    return ", ".join(f"mailbox {mailbox_id} ({address})" for mailbox_id, address in rows)


@keys_group.command("rotate")
def keys_rotate() -> None:
    """Re-encrypt every mailbox secret with the newest key.

    The newest key is the first of OUTREACH_ENCRYPTION_KEYS. One transaction. A
    secret no configured key opens is left as it was, and makes the exit status 1.
    """
    settings = _settings()
    box = SecretBox(settings.encryption_keys)
    with _transaction(settings) as session:
        report = rotate_secrets(session, box)
        unreadable = [
            (row.id, row.email_address)
            for row in session.execute(
                select(Mailbox.id, Mailbox.email_address)
                .where(Mailbox.id.in_(report.failed))
                .order_by(Mailbox.id)
            )
        ]
    noun = "secret" if report.rotated == 1 else "secrets"
    click.echo(f"re-encrypted {report.rotated} mailbox {noun} with the newest key")
    if len(settings.encryption_keys) == 1:
        click.echo(
            "note: only one key is configured, so the secrets stay under the same key; "
            "to replace it, see `outreach keys --help`",
            err=True,
        )
    if unreadable:
        _fail(
            f"{len(unreadable)} mailbox secret(s) could not be decrypted with any configured "
            f"key and were left as they were: {_mailbox_list(unreadable)}; add the key they "
            "were written with to OUTREACH_ENCRYPTION_KEYS and run `outreach keys rotate` again"
        )


# --- contacts ---------------------------------------------------------------------------------


@outreach.group("contacts")
def contacts_group() -> None:
    """The user's list of people."""


def contact_json(item: Contact) -> dict[str, object]:
    return {
        "id": item.id,
        "email": item.email,
        "name": item.name,
        "first_name": item.first_name,
        "role": item.role,
        "organisation": item.organisation,
        "how_found": item.how_found,
        "referred_by_id": item.referred_by_id,
        "notes": item.notes,
        "time_zone": item.time_zone,
        "do_not_contact": item.do_not_contact,
        "created_at": iso(item.created_at),
    }


def _column_map(table: contacts.CsvTable, pairs: Sequence[str]) -> list[str]:
    """The columns' fields: guessed from their names, then each COLUMN=FIELD of --map."""
    names = table.column_names()
    mapping = guess_columns(table.header) + [""] * (len(names) - len(table.header))
    for pair in pairs:
        column, equals, field_name = pair.partition("=")
        column, field_name = column.strip(), field_name.strip().lower().replace(" ", "_")
        if not equals:
            raise ValidationError(f"--map takes COLUMN=FIELD, not '{pair}'")
        if field_name and field_name not in contacts.IMPORT_FIELDS:
            choices = ", ".join(contacts.IMPORT_FIELDS)
            raise ValidationError(f"'{field_name}' is not a field; use one of {choices}")
        if column.isdigit() and 1 <= int(column) <= len(names):
            index = int(column) - 1
        else:
            wanted = [i for i, name in enumerate(names) if name.lower() == column.lower()]
            if not wanted:
                raise ValidationError(
                    f"the file has no column '{column}'; its columns are {', '.join(names)}"
                )
            index = wanted[0]
        # A field given to one column is taken from any other that guessed it.
        mapping = ["" if name == field_name else name for name in mapping]
        mapping[index] = field_name
    return mapping


@contacts_group.command("import")
@user_option
@json_option
@click.option(
    "--map",
    "column_pairs",
    multiple=True,
    metavar="COLUMN=FIELD",
    help="CSV only, repeatable: the field a column fills (COLUMN is its name or number; "
    "FIELD one of " + ", ".join(contacts.IMPORT_FIELDS) + "; empty to skip the column).",
)
@click.argument("file", type=click.File("rb"), metavar="FILE.csv|FILE.vcf")
def contacts_import(
    user_email: str, as_json: bool, column_pairs: tuple[str, ...], file: IO[bytes]
) -> None:
    """Import contacts from a CSV file (a LinkedIn connections export works) or a vCard
    file (.vcf, from Apple Contacts, Google Contacts or Outlook); '-' is stdin.

    Good rows are kept even when others are refused; exit status 1 if any row was.
    An address already on your list only gets its empty fields filled in.
    """
    raw = file.read()
    file_name = str(getattr(file, "name", "-"))
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValidationError(f"{file_name} is not UTF-8 text; save it as UTF-8") from None
    is_vcard = file_name.lower().endswith((".vcf", ".vcard")) or looks_like_vcard(text)
    if is_vcard and column_pairs:
        raise ValidationError("--map is for CSV files; a vCard names its own fields")
    with _transaction(_settings()) as session:
        owner = _user(session, user_email)
        if is_vcard:
            report = contacts.import_vcard(session, owner, text)
        else:
            table = contacts.read_csv(text)
            mapping = _column_map(table, column_pairs)
            if "email" not in mapping:
                raise ValidationError(
                    f"no column is recognised as the email address (the columns are "
                    f"{', '.join(table.column_names())}); name it with --map COLUMN=email"
                )
            report = contacts.import_csv(session, owner, text, mapping)
    unit = "card" if is_vcard else "line"
    if as_json:
        _print_json(
            {
                "created": report.created,
                "duplicates": report.duplicates,
                "errors": [{unit: item.number, "error": item.problem} for item in report.errors],
            }
        )
    else:
        click.echo(
            f"{len(report.created)} created, {len(report.duplicates)} already on your list, "
            f"{len(report.errors)} refused"
        )
        for address, names in report.filled.items():
            click.echo(f"{address}: filled in {', '.join(names)}")
    for item in report.warnings:
        click.echo(f"note: {item}", err=True)
    for item in report.errors:
        click.echo(str(item), err=True)
    if report.errors:
        sys.exit(1)


@contacts_group.command("list")
@user_option
@json_option
def contacts_list(user_email: str, as_json: bool) -> None:
    """List contacts by name."""
    with _transaction(_settings()) as session:
        items = contacts.list_contacts(session, _user(session, user_email))
        if as_json:
            _print_json({"contacts": [contact_json(item) for item in items]})
            return
        if not items:
            click.echo("no contacts yet; import some with `outreach contacts import`")
        for item in items:
            flag = "  [do not contact]" if item.do_not_contact else ""
            where = f"  {item.organisation}" if item.organisation else ""
            click.echo(f"{item.id:>5}  {item.name} <{item.email}>{where}{flag}")


# --- targets ----------------------------------------------------------------------------------


@outreach.group()
def target() -> None:
    """Fields or organisations, each with an ordered list of names."""


def _split_addresses(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


@target.command("create")
@user_option
@click.argument("name")
@click.option(
    "--contacts",
    "addresses",
    required=True,
    metavar="EMAIL,EMAIL,...",
    help="Contacts' addresses, comma-separated, in the order to ask them.",
)
@click.option("--max-in-flight", default=1, show_default=True, help="Requests out at once.")
@click.option("--wait-days", default=7, show_default=True, help="Business days before moving on.")
def target_create(
    user_email: str, name: str, addresses: str, max_in_flight: int, wait_days: int
) -> None:
    """Create a target and draft the request to the first name(s) for approval."""
    wanted = _split_addresses(addresses)
    if not wanted:
        raise ValidationError("--contacts needs at least one email address")
    with _transaction(_settings()) as session:
        owner = _user(session, user_email)
        contact_ids: list[int] = []
        for address in wanted:
            found = contacts.find_by_email(session, owner, accounts.normalise_email(address))
            if found is None:
                raise NotFound(f"{address} is not on your contact list; add or import it first")
            contact_ids.append(found.id)
        created, drafted = target_actions.start_target(
            session,
            owner,
            name,
            contact_ids,
            _utcnow(),
            max_in_flight=max_in_flight,
            wait_business_days=wait_days,
        )
        names = f"{len(wanted)} name" + ("" if len(wanted) == 1 else "s")
        click.echo(f"created the target '{created.name}' (id {created.id}) with {names}")
        for message in drafted:
            click.echo(f"drafted a request to {message.to_address} (draft {message.id})")
            if message.error:
                click.echo(f"  it cannot be approved yet: {message.error}", err=True)
        if not drafted:
            click.echo("no request drafted: nobody on the list can be asked now")


# --- the cycle --------------------------------------------------------------------------------


@outreach.group("cycle")
def cycle_group() -> None:
    """The cycle's clock: follow-ups, giving up, next names, meetings."""


@cycle_group.command("run")
def cycle_run() -> None:
    """Take every step due now, for all users, once (a worker does this every sweep)."""
    from outreach.scheduler import run_due_steps

    with _transaction(_settings()) as session:
        lines = run_due_steps(session, _utcnow())
    for line in lines:
        click.echo(line)
    if not lines:
        click.echo("nothing was due")


# --- drafts -----------------------------------------------------------------------------------


@outreach.group("drafts")
def drafts_group() -> None:
    """Messages waiting for the user's approval."""


def draft_json(message: Message) -> dict[str, object]:
    contact = message.contact
    return {
        "id": message.id,
        "kind": message.kind.value,
        "status": message.status.value,
        "contact_id": message.contact_id,
        "contact_name": contact.name if contact is not None else None,
        "to": message.to_address,
        "outreach_id": message.outreach_id,
        "subject": message.subject,
        "body": message.body_text,
        "can_approve": message.error is None,
        "problem": message.error,
        "created_at": iso(message.created_at),
    }


@drafts_group.command("list")
@user_option
@json_option
def drafts_list(user_email: str, as_json: bool) -> None:
    """List drafts waiting for approval, oldest first."""
    with _transaction(_settings()) as session:
        items = drafts.list_drafts(session, _user(session, user_email))
        if as_json:
            _print_json({"drafts": [draft_json(item) for item in items]})
            return
        if not items:
            click.echo("no drafts waiting for approval")
        for item in items:
            click.echo(f"{item.id:>5}  {item.kind.value:<10} {item.to_address}  {item.subject}")
            if item.error:
                click.echo(f"       cannot be approved yet: {item.error}")


def _enqueue(settings: Settings, message_ids: Sequence[int]) -> str | None:
    """Wake a worker for each message; returns why it could not, or None."""
    settings = _with_redis(settings)
    if not settings.redis_url:
        return (
            "no Redis is configured (OUTREACH_REDIS_URL is unset and `outreach up` is not running)"
        )
    from redis.exceptions import RedisError

    from workers.queues import enqueue_send, redis_connection

    try:
        connection = redis_connection(settings)
        for message_id in message_ids:
            enqueue_send(connection, message_id)
        connection.close()
    except RedisError as error:
        return f"Redis could not be reached ({str(error).rstrip('.')})"
    return None


@drafts_group.command("approve")
@user_option
@click.argument("message_ids", nargs=-1, type=int, metavar="[ID]...")
@click.option("--all", "approve_all", is_flag=True, help="Approve every draft that can be.")
def drafts_approve(user_email: str, message_ids: tuple[int, ...], approve_all: bool) -> None:
    """Approve drafts for sending; a worker sends them within the sending rules."""
    if bool(message_ids) == approve_all:
        raise click.UsageError("give draft ids or --all, not both and not neither")
    settings = _settings()
    now = _utcnow()
    approved: list[tuple[int, str]] = []
    refused: list[tuple[int, str]] = []
    with _sessions(settings) as factory:
        with session_scope(factory) as session:
            owner_id = _user(session, user_email).id
            if approve_all:
                waiting = drafts.list_drafts(session, session.get_one(User, owner_id))
                message_ids = tuple(item.id for item in waiting)
        for message_id in message_ids:
            # One transaction per draft: one refusal does not undo the other approvals.
            try:
                with session_scope(factory) as session:
                    owner = session.get_one(User, owner_id)
                    message = drafts.approve(session, owner, message_id, now)
                    approved.append((message.id, message.to_address))
            except (ValidationError, NotFound) as error:
                refused.append((message_id, str(error)))
    for message_id, address in approved:
        click.echo(f"approved draft {message_id} to {address}")
    if approve_all and not approved and not refused:
        click.echo("no drafts waiting for approval")
    if approved:
        problem = _enqueue(settings, [message_id for message_id, _ in approved])
        if problem is None:
            click.echo(f"queued {len(approved)} for sending")
        else:
            click.echo(
                f"warning: {problem}. The approval is kept: a running worker queues approved "
                "messages by itself within a minute.",
                err=True,
            )
    for message_id, reason in refused:
        click.echo(f"draft {message_id} was not approved: {reason}", err=True)
    if refused:
        sys.exit(1)


# --- status -----------------------------------------------------------------------------------


def board_row_json(row: board.BoardRow) -> dict[str, object]:
    return {
        "contact_id": row.contact_id,
        "contact_name": row.contact_name,
        "contact_email": row.contact_email,
        "organisation": row.organisation,
        "target_id": row.target_id,
        "target_name": row.target_name,
        "state": row.state.value,
        "label": row.label,
        "detail": row.detail,
        "since": iso(row.since),
    }


@outreach.command()
@user_option
@json_option
def status(user_email: str, as_json: bool) -> None:
    """The status board: where each contact stands in each target."""
    now = _utcnow()
    with _transaction(_settings()) as session:
        owner = _user(session, user_email)
        rows = board.status_board(session, owner, now)
        pending = board.pending_draft_count(session, owner)
    if as_json:
        _print_json(
            {
                "generated_at": iso(now),
                "pending_drafts": pending,
                "outreaches": [board_row_json(row) for row in rows],
            }
        )
        return
    if not rows:
        click.echo("nothing on the board yet; create a target with `outreach target create`")
    for row in rows:
        detail = f" ({row.detail})" if row.detail else ""
        click.echo(
            f"{row.contact_name} <{row.contact_email}>  {row.target_name}: {row.label}{detail}"
            f"  since {row.since.astimezone(UTC):%Y-%m-%d %H:%M} UTC"
        )
    if pending:
        click.echo(f"{pending} draft(s) waiting for approval: `outreach drafts list`")


# --- classify ---------------------------------------------------------------------------------


def classification_json(file: str, result: Reading) -> dict[str, object]:
    bounce = result.bounce
    return {
        "file": file,
        "kind": result.kind.value,
        "bounce": None
        if bounce is None
        else {
            "recipient": bounce.failed_recipient or None,
            "status": bounce.status,
            "hard": bounce.hard,
            "action": bounce.action,
            "reason": bounce.reason,
            "diagnostic": bounce.diagnostic,
            "original_message_id": bounce.original_message_id,
        },
        "return_date": result.return_date.isoformat() if result.return_date else None,
        "declines": result.declines,
        "unsubscribe": result.unsubscribe,
        "suggests_others": result.suggests_others,
        "problem": result.problem,
    }


def _classification_line(file: str, result: Reading) -> str:
    parts = [result.kind.value]
    bounce = result.bounce
    if bounce is not None:
        grade = "delayed, soft" if bounce.action == "delayed" else "hard" if bounce.hard else "soft"
        status = f", {bounce.status}" if bounce.status else ""
        parts.append(f"({grade}{status}) {bounce.failed_recipient or '(recipient not given)'}")
        if bounce.original_message_id:
            parts.append(f"for {bounce.original_message_id}")
    if result.auto_reply is not None:
        parts.append(
            f"back {result.return_date.isoformat()}" if result.return_date else "(no return date)"
        )
    flags = [
        label
        for label, flag in (
            ("declines", result.declines),
            ("asks not to be contacted again", result.unsubscribe),
            ("suggests others", result.suggests_others),
        )
        if flag
    ]
    if flags:
        parts.append(f"({', '.join(flags)})")
    if result.problem:
        parts.append(f"- {result.problem}")
    return f"{file}: {' '.join(parts)}"


def _arrival(raw: bytes, now: datetime) -> datetime:
    """The message's Date, which dates a return date written without a year; else now."""
    try:
        written = parsedate_to_datetime(parse_headers(raw).get("date", ""))
    except (ValueError, TypeError, IndexError, OverflowError):
        return now
    return written if written.tzinfo is not None else written.replace(tzinfo=UTC)


@outreach.command("classify")
@click.argument(
    "files", nargs=-1, required=True, type=click.Path(path_type=Path), metavar="FILE..."
)
@json_option
@click.option(
    "--own",
    multiple=True,
    metavar="ADDRESS",
    help="One of your own addresses (repeatable): mail from it is own_message.",
)
def classify_command(files: tuple[Path, ...], as_json: bool, own: tuple[str, ...]) -> None:
    """How each raw message file (.eml) would be classified: reply, auto_reply, bounce, ...

    Needs no settings and no database. With --json, one JSON object per line.
    """
    own_addresses = frozenset(address.strip().lower() for address in own)
    now = _utcnow()
    unreadable = 0
    for path in files:
        try:
            raw = path.read_bytes()
        except OSError as error:
            unreadable += 1
            result = Reading(
                InboundKind.OTHER, problem=f"the file could not be read: {error.strerror or error}"
            )
        else:
            result = read_message(raw, own_addresses, _arrival(raw, now))
        if as_json:
            line = json.dumps(classification_json(str(path), result), ensure_ascii=False)
        else:
            line = _classification_line(str(path), result)
        # File names and broken headers may carry undecodable bytes (lone surrogates here):
        # they print as "?" rather than stop the run.
        click.echo(line.encode("utf-8", "replace").decode("utf-8"))
    if unreadable:
        sys.exit(1)


# --- interviews -------------------------------------------------------------------------------


@outreach.group("interviews")
def interviews_group() -> None:
    """Records of the informational interviews you held."""


@interviews_group.command("export")
@user_option
@click.option(
    "--csv", "as_csv", is_flag=True, default=True, help="CSV on standard output (the default)."
)
def interviews_export(user_email: str, as_csv: bool) -> None:
    """Every interview as CSV: who, role, organisation, date, answers, referrals."""
    from outreach import meetings

    with _transaction(_settings()) as session:
        owner = _user(session, user_email)
        text = meetings.export_csv(meetings.interview_records(session, owner), owner.time_zone)
    click.echo(text, nl=False)


def main(argv: Sequence[str] | None = None) -> None:
    """Console-script entry point."""
    outreach.main(args=list(argv) if argv is not None else None, prog_name="outreach")


if __name__ == "__main__":
    main()
