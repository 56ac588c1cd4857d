"""Approving every draft shown at once: the ready ones go, the others are skipped with reasons."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy.orm import Session

from outreach.approving import approve_all
from outreach.crypto import SecretBox
from outreach.errors import NotFound
from outreach.models import Message, MessageStatus, User
from outreach.targets import create_target, fill_pipeline
from tests.factories import make_contact, make_mailbox, make_user


def drafts_for(session: Session, user: User, now: datetime, *how_found: str) -> list[Message]:
    people = [
        make_contact(
            session, user, name=f"Person {index}", how_found=how, organisation=f"Org {index}"
        )
        for index, how in enumerate(how_found)
    ]
    target = create_target(
        session, user, "Policy", [p.id for p in people], max_in_flight=len(people)
    )
    drafted = fill_pipeline(session, user, target, now)
    session.commit()
    return drafted


def test_ready_drafts_are_approved_and_blocked_ones_skipped_saying_what_they_miss(
    session: Session, secret_box: SecretBox, now: datetime
) -> None:
    user = make_user(session)
    make_mailbox(session, user, secret_box)
    drafted = drafts_for(session, user, now, "the alumni network", "", "a talk")

    outcome = approve_all(session, user, [m.id for m in drafted], now)
    session.commit()

    assert sorted(m.id for m in outcome.approved) == [drafted[0].id, drafted[2].id]
    assert [m.id for m in outcome.blocked] == [drafted[1].id]
    assert outcome.missing_words() == ["how you found Person"]
    statuses = [session.get_one(Message, m.id).status for m in drafted]
    assert statuses == [MessageStatus.APPROVED, MessageStatus.DRAFT, MessageStatus.APPROVED]


def test_a_draft_already_approved_since_the_page_was_shown_is_skipped(
    session: Session, secret_box: SecretBox, now: datetime
) -> None:
    user = make_user(session)
    make_mailbox(session, user, secret_box)
    (draft,) = drafts_for(session, user, now, "the alumni network")
    approve_all(session, user, [draft.id], now)

    again = approve_all(session, user, [draft.id], now)

    assert again.approved == [] and again.no_longer_drafts == 1


def test_someone_elses_draft_among_the_ids_changes_nothing(
    session: Session, secret_box: SecretBox, now: datetime
) -> None:
    owner = make_user(session)
    make_mailbox(session, owner, secret_box)
    (mine,) = drafts_for(session, owner, now, "the alumni network")
    stranger = make_user(session)
    make_mailbox(session, stranger, secret_box)
    (theirs,) = drafts_for(session, stranger, now, "a talk")

    with pytest.raises(NotFound):
        approve_all(session, owner, [mine.id, theirs.id], now)
    session.rollback()

    assert session.get_one(Message, mine.id).status is MessageStatus.DRAFT
    assert session.get_one(Message, theirs.id).status is MessageStatus.DRAFT
