"""Each user's data version: raised in the same transaction as every change to the user's data.

The board is rendered once and served again while nothing of its user has changed
(docs/decisions/0018). What "changed" means cannot be left to each use case: one
that forgets would leave a board showing the past. So the version is raised here,
by hooks on every SQLAlchemy `Session`, from what the session itself writes:

- every row flushed (added, changed, deleted) that belongs to a user: a table with
  `user_id`, the user's own row, a cohort (its adviser's), a target's list entry
  (the target's owner);
- every bulk UPDATE or DELETE run through a session (`session.execute(update(...))`):
  the owners of the rows its WHERE matches, read just before it runs, unless the
  statement says whose rows it writes (`owned_by`: the send path, where one query
  more per statement was a tenth of a message's cost);
- every bulk INSERT whose rows name their `user_id`.

The version of each user touched goes up by one just before the transaction commits,
in one UPDATE in the order of the users' ids (two transactions never wait on each other
in opposite orders), so a reader who sees the new data sees the new version, and the
other way round. Rolled back, neither happened.

Left out, because no page shows them and the poller writes them every round for every
mailbox: where a folder was read up to (`mailbox_sync_states`) and a mailbox's poll
lease, last sync and OAuth access token (`UNSEEN_COLUMNS`). A statement that writes
only those does not raise the version.

Writes that bypass the session (a raw `Connection`, another program) are not seen: the
product writes through sessions only, or through `write_owned`, which runs a Core
statement on the session's connection and names the user it writes for (the send
path's few statements a message, decision 0033).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import (
    BindParameter,
    Column,
    CursorResult,
    Executable,
    Table,
    bindparam,
    event,
    inspect,
    select,
    update,
)
from sqlalchemy.orm import (
    Mapper,
    ORMExecuteState,
    Session,
    SessionTransaction,
    UOWTransaction,
)
from sqlalchemy.orm.util import identity_key
from sqlalchemy.sql import operators
from sqlalchemy.sql.elements import BinaryExpression

from outreach.models import Target, User

_USERS: Table = User.__table__  # type: ignore[assignment]
_TARGETS: Table = Target.__table__  # type: ignore[assignment]

# Where the touched owners wait for the commit: (table name, id) pairs.
_TOUCHED = "outreach.data_version.touched"
# Tables whose rows name their owner by another column than user_id, and where it points.
_OWNER_COLUMNS: dict[str, tuple[str, Table]] = {
    "users": ("id", _USERS),
    "cohorts": ("adviser_id", _USERS),
    "target_entries": ("target_id", _TARGETS),
}
# The pollers table is their heartbeats: bookkeeping of the deployment, on no page.
UNSEEN_TABLES = frozenset({"mailbox_sync_states", "pollers"})
UNSEEN_COLUMNS: Mapping[str, frozenset[str]] = {
    "mailboxes": frozenset(
        {
            "poll_owner",
            "poll_lease_until",
            "last_synced_at",
            "oauth_access_encrypted",
            "oauth_access_expires_at",
            "oauth_refresh_lock_until",
        }
    ),
}


# The execution option by which a statement names the one user whose rows it writes.
_OWNER_OPTION = "outreach_owner"


def owned_by(user_id: int) -> dict[str, int]:
    """Execution options for a bulk UPDATE or DELETE that writes only rows of `user_id`
    (of a table whose rows name a user): the version is raised for that user without
    reading the owners first. Pass only an owner read from the very row written."""
    return {_OWNER_OPTION: user_id}


def write_owned(
    session: Session,
    statement: Executable,
    user_id: int,
    parameters: Mapping[str, Any] | None = None,
) -> CursorResult[Any]:
    """Run a Core INSERT, UPDATE or DELETE that writes only rows of `user_id`, on the
    session's connection, in its transaction; the version of `user_id` is raised with
    the commit as for any other write.

    For the send path's few statements a message: the ORM's handling of a bulk
    statement (its hooks, its session bookkeeping) cost about nine times the statement
    itself (0.23 ms against 0.025 ms on SQLite). The session is not flushed first:
    call it before ORM changes of the same transaction, or flush them yourself.
    Pass only an owner read from the very row written.
    """
    _touched(session).add((_USERS.name, user_id))
    return session.connection().execute(statement, parameters)


def owner_column(table: Table) -> tuple[str, Table] | None:
    """The column of `table` that says whose a row is, and the table it points to
    (users, or targets for a target's entries); None for a table of nobody's."""
    if table.name in _OWNER_COLUMNS:
        return _OWNER_COLUMNS[table.name]
    if "user_id" in table.c:
        return "user_id", _USERS
    return None


def install() -> None:
    """Hook every Session (once): the version follows every write made through one."""
    if event.contains(Session, "after_flush", _after_flush):
        return
    event.listen(Session, "before_flush", _before_flush)
    event.listen(Session, "after_flush", _after_flush)
    event.listen(Session, "do_orm_execute", _before_bulk_statement)
    event.listen(Session, "before_commit", _raise_versions)
    event.listen(Session, "after_transaction_end", _forget)


def _touched(session: Session) -> set[tuple[str, int]]:
    found: set[tuple[str, int]] = session.info.setdefault(_TOUCHED, set())
    return found


def _note(session: Session, table: Table, rows: Iterable[Any]) -> None:
    owner = owner_column(table)
    if owner is None:
        return
    target = owner[1].name
    _touched(session).update((target, int(value)) for value in rows if value is not None)


def _before_flush(session: Session, _flush: UOWTransaction, _instances: object) -> None:
    # Before the flush, while a deleted row's owner can still be read (or loaded).
    for instance in session.deleted:
        _note_instance(session, instance, changed_only=False)


def _after_flush(session: Session, _flush: UOWTransaction) -> None:
    # After the flush, so new rows have their ids; new and dirty still list what was
    # flushed, and each changed row still has its attributes' history.
    for instance in session.new:
        _note_instance(session, instance, changed_only=False)
    for instance in session.dirty:
        _note_instance(session, instance, changed_only=True)


def _note_instance(session: Session, instance: object, *, changed_only: bool) -> None:
    state = inspect(instance)
    table = state.mapper.local_table
    if not isinstance(table, Table) or table.name in UNSEEN_TABLES:
        return
    owner = owner_column(table)
    if owner is None:
        return
    if changed_only:
        changed = {attr.key for attr in state.attrs if attr.history.has_changes()}
        if not changed - UNSEEN_COLUMNS.get(table.name, frozenset()):
            return
    column = state.mapper.get_property_by_column(table.c[owner[0]]).key
    _note(session, table, [getattr(instance, column)])


def _before_bulk_statement(execute: ORMExecuteState) -> None:
    mapper = execute.bind_mapper
    if mapper is None or not (execute.is_update or execute.is_delete or execute.is_insert):
        return
    table = mapper.local_table
    if not isinstance(table, Table) or table.name in UNSEEN_TABLES:
        return
    owner = owner_column(table)
    if owner is None:
        return
    statement: Any = execute.statement
    parameters = execute.parameters
    listed: list[Any] = parameters if isinstance(parameters, list) else [parameters or {}]
    if execute.is_insert:
        _note(execute.session, table, (row.get(owner[0]) for row in listed))
        return
    if execute.is_update:
        written = {getattr(key, "key", key) for key in getattr(statement, "_values", None) or {}}
        if written and not written - UNSEEN_COLUMNS.get(table.name, frozenset()):
            return
    named = execute.execution_options.get(_OWNER_OPTION)
    if named is not None and owner[1] is _USERS:
        _note(execute.session, table, [named])
        return
    column = table.c[owner[0]]
    known = _owner_in_session(execute.session, mapper, column, statement)
    if known is not None:
        # The common compare-and-set on a row the use case has read: no query needed.
        _note(execute.session, table, [known])
        return
    query = select(column).distinct()
    if statement.whereclause is not None:
        query = query.where(statement.whereclause)
    if isinstance(parameters, list):
        # An UPDATE by primary key, one parameter set per row.
        query = query.where(table.c.id.in_([row["id"] for row in parameters]))
    # Through the connection, not the session: no autoflush, no ORM hooks again.
    owners = execute.session.connection().execute(query).scalars()
    _note(execute.session, table, owners)


def _owner_in_session(
    session: Session, mapper: Mapper[Any], column: Column[Any], statement: Any
) -> int | None:
    """The owner of the one row a statement pins by `id = value`, when the session holds
    that row loaded (a row's owner never changes); None when it cannot be told so."""
    for criterion in getattr(statement, "_where_criteria", ()):
        if not (
            isinstance(criterion, BinaryExpression)
            and criterion.operator is operators.eq
            and isinstance(criterion.right, BindParameter)
            and getattr(criterion.left, "table", None) is column.table
            and getattr(criterion.left, "name", None) == "id"
        ):
            continue
        instance = session.identity_map.get(identity_key(mapper.class_, criterion.right.value))
        if instance is None:
            return None
        key = mapper.get_property_by_column(column).key
        value = inspect(instance).dict.get(key)
        return int(value) if value is not None else None
    return None


def _raise_versions(session: Session) -> None:
    if session.in_nested_transaction():
        # A savepoint's end: the whole transaction's commit raises them, so the users'
        # rows are locked only for that last moment, never while more work follows.
        return
    if session.new or session.dirty or session.deleted:
        # What the commit would flush: its owners must be noted before the UPDATE below.
        session.flush()
    touched = session.info.pop(_TOUCHED, None)
    if not touched:
        return
    users = _USERS
    user_ids = {row_id for table, row_id in touched if table == users.name}
    target_ids = [row_id for table, row_id in touched if table == _TARGETS.name]
    connection = session.connection()
    if target_ids:
        targets = _TARGETS
        user_ids.update(
            connection.execute(
                select(targets.c.user_id).where(targets.c.id.in_(target_ids))
            ).scalars()
        )
    if not user_ids:
        return
    # Core, through the connection: the ORM's own hooks need not see this write.
    connection.execute(_RAISE, {"user_ids": sorted(user_ids)})


# Built once (every write transaction of the product ends with it), the ids bound each time.
_RAISE = (
    update(_USERS)
    .where(_USERS.c.id.in_(bindparam("user_ids", expanding=True)))
    .values(data_version=_USERS.c.data_version + 1)
)


def _forget(session: Session, transaction: SessionTransaction) -> None:
    # Only when the whole transaction ends: a savepoint rolled back inside it leaves
    # the rest's owners to be raised (raising one too many is harmless).
    if transaction.parent is None:
        session.info.pop(_TOUCHED, None)


def read_version(session: Session, user_id: int) -> int:
    """The user's data version as committed now (one query by primary key)."""
    return session.execute(select(User.data_version).where(User.id == user_id)).scalar_one()
