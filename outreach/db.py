"""Engine and session factory shared by the dashboard, the workers and the CLI, the two
queries every use case writes the same way (one user's row by id, a compare-and-set
update), and the schema upgrade (Alembic) that `outreach db upgrade` and `outreach up` run."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, Update, create_engine, event, select
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from outreach import data_version
from outreach.errors import NotFound, OutreachError

# The Alembic scripts live in the source tree beside the packages (see docs/decisions/0001).
MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


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

        @event.listens_for(engine, "checkin")
        def _durable_again(dbapi_connection: Any, record: Any) -> None:
            # A transaction that chose not to wait for the disk (see `commit_lazily`)
            # does not choose for the next one on this pooled connection.
            if record.info.pop(_LAZY, False):
                dbapi_connection.execute("PRAGMA synchronous=FULL")

        return engine
    options.setdefault("pool_pre_ping", True)
    return create_engine(database_url, **options)


_LAZY = "outreach_commits_lazily"


def commit_lazily(session: Session) -> None:
    """Let this transaction's commit return before its write reaches the disk.

    Call first thing in the transaction. A killed process loses nothing; a crash of
    the whole machine (power, kernel) may lose this transaction and none before it.
    Only for writes whose loss the system already knows how to live with: an fsync
    costs 5 to 12 ms on a busy disk, more than the work it records. SQLite (WAL)
    gets synchronous=NORMAL until the connection goes back to the pool; PostgreSQL
    gets synchronous_commit off for this transaction.
    """
    connection = session.connection()
    if connection.dialect.name == "sqlite":
        connection.exec_driver_sql("PRAGMA synchronous=NORMAL")
        connection.info[_LAZY] = True
    elif connection.dialect.name == "postgresql":
        connection.exec_driver_sql("SET LOCAL synchronous_commit TO OFF")


def is_outage(error: BaseException) -> bool:
    """Whether `error` says the database is away for now (down, restarting, unreachable,
    locked), as opposed to a mistake in what was asked of it: worth waiting out."""
    if isinstance(error, OperationalError | InterfaceError):
        return True
    return isinstance(error, DBAPIError) and bool(error.connection_invalidated)


def outage_words(error: BaseException) -> str:
    """The driver's own first line about an outage, without SQLAlchemy's wrapping."""
    text = str(getattr(error, "orig", None) or error).strip()
    return text.splitlines()[0] if text else type(error).__name__


class OutageWatch:
    """How a long-running process rides out a database outage: it says so once,
    waits a growing while between tries (at most `longest` seconds, so it notices
    the database's return quickly), and says once more when the database is back."""

    def __init__(self, say: Callable[[str], None], longest: float = 5.0) -> None:
        self._say = say
        self._longest = longest
        self._since: float | None = None
        self._wait = 0.5

    @property
    def away(self) -> bool:
        return self._since is not None

    def failed(self, error: BaseException, now: float) -> float:
        """Note a failed try; returns the seconds to wait before the next one."""
        if self._since is None:
            self._since = now
            first_line = (str(getattr(error, "orig", None) or error).strip().splitlines() or [""])[
                0
            ]
            self._say(f"the database cannot be used ({first_line}); waiting for it to come back")
        else:
            self._wait = min(self._wait * 2, self._longest)
        return self._wait

    def succeeded(self, now: float) -> None:
        if self._since is not None:
            self._say(f"the database is back after {now - self._since:.0f} s")
        self._since = None
        self._wait = 0.5


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    # Every session's writes raise their users' data version (outreach.data_version).
    data_version.install()
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


# A table with an `id` and a `user_id` column.
_Row = TypeVar("_Row", bound=DeclarativeBase)


def owned_row(session: Session, model: type[_Row], row_id: int, user_id: int, noun: str) -> _Row:
    """The row `row_id` of `model` when it belongs to the user `user_id`.

    :raise NotFound: ("no such <noun>") when it does not exist or is someone else's: a
        stranger's id and a made-up one are answered alike.
    """
    row = session.scalar(select(model).filter_by(id=row_id, user_id=user_id))
    if row is None:
        raise NotFound(f"no such {noun}")
    return row


def compare_and_set(session: Session, statement: Update) -> bool:
    """Run an UPDATE whose WHERE states what the row must still hold; True when this
    caller changed the one row (it won the race), False when another got there first."""
    result = session.execute(statement.execution_options(synchronize_session=False))
    return bool(getattr(result, "rowcount", 0) == 1)


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


def upgrade_database(database_url: str, revision: str = "head") -> str | None:
    """Bring the database schema to `revision`; returns the revision it ends at."""
    # Alembic is loaded only to migrate: the dashboard and the workers import this module too.
    from alembic import command
    from alembic.config import Config
    from alembic.runtime.migration import MigrationContext

    if not (MIGRATIONS_DIR / "env.py").is_file():
        raise OutreachError(f"the migrations folder {MIGRATIONS_DIR} is missing")
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    engine = make_engine(database_url)
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
