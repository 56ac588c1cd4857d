"""Every write to a user's data raises that user's data version, and only theirs.

The board is served kept while the version stays (web.page_cache): a write that did
not raise it would leave a board showing the past.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import event, select, update
from sqlalchemy.orm import Session, sessionmaker

from outreach import leases
from outreach.crypto import SecretBox
from outreach.data_version import (
    UNSEEN_TABLES,
    owned_by,
    owner_column,
    read_version,
    write_owned,
)
from outreach.models import Base, Contact, MailboxStatus, Message, TargetEntry, User
from outreach.sending import claim
from tests.factories import make_approved_requests, make_contact, make_mailbox, make_user


def version(factory: sessionmaker[Session], user: User) -> int:
    """As another process reads it: committed, through its own session."""
    with factory() as reader:
        return read_version(reader, user.id)


def test_every_table_says_whose_its_rows_are_or_that_no_page_shows_them() -> None:
    for table in Base.metadata.sorted_tables:
        assert owner_column(table) is not None or table.name in UNSEEN_TABLES, table.name


def test_adding_changing_and_deleting_a_contact_each_raise_the_version(
    session: Session, session_factory: sessionmaker[Session]
) -> None:
    user = make_user(session)
    session.commit()
    start = version(session_factory, user)

    contact = make_contact(session, user, name="Ada Able")
    session.commit()
    added = version(session_factory, user)
    assert added > start

    contact.name = "Ada Baker"
    session.commit()
    changed = version(session_factory, user)
    assert changed > added

    session.delete(contact)
    session.commit()
    assert version(session_factory, user) > changed


def test_only_the_owner_moves_and_a_rollback_moves_nobody(
    session: Session, session_factory: sessionmaker[Session]
) -> None:
    user, other = make_user(session), make_user(session)
    session.commit()
    mine, theirs = version(session_factory, user), version(session_factory, other)

    make_contact(session, user)
    session.commit()
    assert version(session_factory, other) == theirs

    make_contact(session, user)
    session.flush()
    session.rollback()
    assert version(session_factory, user) == mine + 1


def test_a_bulk_update_raises_the_version_of_the_rows_owners(
    session: Session, session_factory: sessionmaker[Session], secret_box: SecretBox, now: datetime
) -> None:
    user = make_user(session)
    make_mailbox(session, user, secret_box)
    (request,) = make_approved_requests(session, user, now)
    before = version(session_factory, user)

    # What the worker does first with a message it sends: a compare-and-set UPDATE.
    assert claim(session, request.id, now)
    session.commit()
    after_claim = version(session_factory, user)
    assert after_claim > before

    # An UPDATE that matches nothing of theirs leaves them alone.
    session.execute(update(Message).where(Message.id == -1).values(subject="nothing"))
    session.commit()
    assert version(session_factory, user) == after_claim


def test_a_target_entry_raises_its_targets_owner(
    session: Session, session_factory: sessionmaker[Session], secret_box: SecretBox, now: datetime
) -> None:
    user = make_user(session)
    make_mailbox(session, user, secret_box)
    make_approved_requests(session, user, now)
    entry = session.scalars(select(TargetEntry)).one()
    before = version(session_factory, user)

    entry.position = 7
    session.commit()

    assert version(session_factory, user) > before


def test_the_pollers_bookkeeping_does_not_move_the_version(
    session: Session, session_factory: sessionmaker[Session], secret_box: SecretBox, now: datetime
) -> None:
    user = make_user(session)
    mailbox = make_mailbox(session, user, secret_box)
    session.commit()
    before = version(session_factory, user)

    # Leases renewed and a round's sync time: every round, for every mailbox; no page shows them.
    assert leases.acquire(session, mailbox.id, "poller-1", now)
    leases.renew_all(session, "poller-1", now)
    mailbox.last_synced_at = now
    session.commit()
    assert version(session_factory, user) == before

    # A mailbox that comes to need the user shows on every page.
    mailbox.status = MailboxStatus.NEEDS_ATTENTION
    session.commit()
    assert version(session_factory, user) > before


def test_a_session_made_elsewhere_is_watched_too(
    session: Session, session_factory: sessionmaker[Session]
) -> None:
    user = make_user(session)
    contact = make_contact(session, user)
    session.commit()
    before = version(session_factory, user)

    # A sessionmaker of its own, as a test or a script might build.
    with sessionmaker(session.get_bind(), expire_on_commit=False)() as elsewhere:
        elsewhere.get_one(Contact, contact.id).organisation = "Elsewhere Ltd"
        elsewhere.commit()

    assert version(session_factory, user) > before


def test_a_savepoint_leaves_the_raise_to_the_whole_transactions_commit(
    session: Session, session_factory: sessionmaker[Session]
) -> None:
    user = make_user(session)
    session.commit()
    before = version(session_factory, user)

    with session.begin_nested():
        make_contact(session, user)
    # The poller stores each message in a savepoint and goes on: nothing raised yet,
    # so no other writer of this user waits on their row meanwhile.
    assert version(session_factory, user) == before
    session.commit()

    assert version(session_factory, user) == before + 1


def test_a_compare_and_set_on_a_row_the_session_holds_costs_no_query_more(
    session: Session, session_factory: sessionmaker[Session], secret_box: SecretBox, now: datetime
) -> None:
    user = make_user(session)
    make_mailbox(session, user, secret_box)
    (request,) = make_approved_requests(session, user, now)
    before = version(session_factory, user)
    statements: list[str] = []

    def note(*args: object) -> None:
        statements.append(str(args[2]))

    engine = session.get_bind()
    event.listen(engine, "before_cursor_execute", note)
    try:
        assert claim(session, request.id, now)
    finally:
        event.remove(engine, "before_cursor_execute", note)
    session.commit()

    assert len(statements) == 1, statements  # the UPDATE alone: the owner was known
    assert version(session_factory, user) > before


def test_a_statement_that_names_its_owner_raises_that_owners_version_without_a_query(
    session: Session, session_factory: sessionmaker[Session], secret_box: SecretBox, now: datetime
) -> None:
    user, other = make_user(session), make_user(session)
    make_mailbox(session, user, secret_box)
    (request,) = make_approved_requests(session, user, now)
    request_id = request.id
    session.commit()
    session.expunge_all()  # as in the worker: the row was read by an earlier session
    before, theirs = version(session_factory, user), version(session_factory, other)
    statements: list[str] = []

    def note(*args: object) -> None:
        statements.append(str(args[2]))

    engine = session.get_bind()
    event.listen(engine, "before_cursor_execute", note)
    try:
        session.execute(
            update(Message)
            .where(Message.id == request_id)
            .values(waiting_reason="a test")
            .execution_options(synchronize_session=False, **owned_by(user.id))
        )
    finally:
        event.remove(engine, "before_cursor_execute", note)
    session.commit()

    assert [s.split()[0] for s in statements] == ["UPDATE"], statements
    assert version(session_factory, user) > before
    assert version(session_factory, other) == theirs


def test_a_core_write_that_names_its_owner_raises_that_users_version_at_commit_only(
    session: Session, session_factory: sessionmaker[Session], secret_box: SecretBox, now: datetime
) -> None:
    user, other = make_user(session), make_user(session)
    make_mailbox(session, user, secret_box)
    (request,) = make_approved_requests(session, user, now)
    request_id = request.id
    session.commit()
    before, theirs = version(session_factory, user), version(session_factory, other)
    statement = update(Message).where(Message.id == request_id).values(waiting_reason="a test")

    write_owned(session, statement, user.id)
    session.rollback()
    assert version(session_factory, user) == before  # rolled back: neither happened

    written = write_owned(session, statement, user.id)
    assert written.rowcount == 1
    assert version(session_factory, user) == before  # not before the commit
    session.commit()

    assert version(session_factory, user) > before
    assert version(session_factory, other) == theirs
    with session_factory() as reader:
        assert reader.get(Message, request_id).waiting_reason == "a test"  # type: ignore[union-attr]
