"""Guessing another user's ids in URLs finds nothing, and changes nothing."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from sqlalchemy.orm import Session

from outreach.crypto import SecretBox
from outreach.models import Mailbox, MailboxStatus, Message, MessageStatus, Outreach, Target, User
from outreach.rules.states import OutreachState
from tests.factories import make_contact, make_mailbox, make_user
from tests.web.conftest import Browser, start_target


@dataclass
class AlicesThings:
    user: User
    contact_id: int
    target_id: int
    draft_id: int
    mailbox_id: int
    outreach_id: int


@pytest.fixture
def alice(session: Session, secret_box: SecretBox) -> AlicesThings:
    user = make_user(session, name="Alice Arnold")
    mailbox = make_mailbox(session, user, secret_box)
    contact = make_contact(session, user, name="Carol Contact")
    target, [draft] = start_target(session, user, [contact], name="Alice's field")
    session.commit()
    assert draft.outreach_id is not None
    return AlicesThings(user, contact.id, target.id, draft.id, mailbox.id, draft.outreach_id)


def assert_unchanged(session: Session, alice: AlicesThings) -> None:
    session.expire_all()
    draft = session.get(Message, alice.draft_id)
    assert draft is not None
    assert draft.status is MessageStatus.DRAFT
    assert draft.message_id is None
    assert draft.subject == "Could I ask your advice about alice's field?"
    outreach = session.get(Outreach, draft.outreach_id)
    assert outreach is not None and outreach.state is OutreachState.DRAFTED
    mailbox = session.get(Mailbox, alice.mailbox_id)
    assert mailbox is not None
    assert mailbox.status is MailboxStatus.OK and mailbox.last_error is None
    target = session.get(Target, alice.target_id)
    assert target is not None and len(target.entries) == 1


@pytest.mark.parametrize(
    "path",
    [
        "/contacts/{contact_id}",
        "/targets/{target_id}",
        "/drafts/{draft_id}",
        "/outreaches/{outreach_id}/reply",
    ],
)
def test_another_users_pages_are_not_found(
    signed_in: Browser, alice: AlicesThings, session: Session, path: str
) -> None:
    response = signed_in.get(path.format(**vars(alice)))

    assert response.status_code == 404
    page = response.get_data(as_text=True)
    assert "Carol Contact" not in page
    assert "Alice" not in page
    assert_unchanged(session, alice)


@pytest.mark.parametrize(
    ("path", "data"),
    [
        ("/drafts/{draft_id}/approve", {}),
        ("/drafts/{draft_id}/discard", {}),
        ("/drafts/{draft_id}", {"subject": "Hijacked", "body": "Hijacked body"}),
        ("/drafts/approve", {"message_ids": "{draft_id}"}),
        ("/mailbox/{mailbox_id}/test", {}),
        ("/outreaches/{outreach_id}/reply", {"body": "Hijacked answer", "slot": ""}),
        ("/targets/{target_id}/names", {"contact_ids": "{contact_id}"}),
        ("/targets", {"name": "Mine now", "contact_ids": "{contact_id}"}),
        ("/targets/{target_id}/field-phrase", {"field_phrase": "mine now"}),
    ],
)
def test_another_users_records_cannot_be_changed(
    signed_in: Browser,
    alice: AlicesThings,
    session: Session,
    path: str,
    data: dict[str, str],
) -> None:
    ids = vars(alice)
    form = {key: value.format(**ids) for key, value in data.items()}
    if path == "/targets":
        form |= {"max_in_flight": "1", "wait_business_days": "7", "field_phrase": "mine"}

    response = signed_in.post(path.format(**ids), form)

    assert response.status_code == 404
    assert_unchanged(session, alice)


def test_bob_sees_none_of_alices_outreach(
    signed_in: Browser, alice: AlicesThings, session: Session
) -> None:
    for path in ("/", "/drafts", "/contacts", "/targets", "/mailbox"):
        page = signed_in.page(path)
        assert "Carol Contact" not in page
        assert "Alice&#39;s field" not in page
        assert alice.user.email not in page
    assert 'id="pending-drafts-count" class="count"' in signed_in.page("/")
