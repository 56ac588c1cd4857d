"""Tiny factories: make_x(session, **overrides) with sensible defaults."""

from __future__ import annotations

import itertools
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from outreach.accounts import MailboxSettings, connect_mailbox, create_user
from outreach.contacts import ContactInput, add_contact
from outreach.crypto import SecretBox
from outreach.drafts import approve
from outreach.models import Contact, Mailbox, Message, TlsMode, User
from outreach.targets import create_target, fill_pipeline

_sequence = itertools.count(1)


def make_user(session: Session, **overrides: Any) -> User:
    n = next(_sequence)
    values: dict[str, Any] = {
        "email": f"student{n}@example.test",
        "name": f"Sam Student {n}",
        "password": "correct horse battery",
    }
    values.update(overrides)
    user = create_user(session, values["email"], values["name"], values["password"])
    user.introduction = values.get(
        "introduction", "I am finishing a degree in biology and exploring science policy."
    )
    return user


def make_mailbox(
    session: Session, user: User, box: SecretBox, password: str = "imap-secret", **overrides: Any
) -> Mailbox:
    values: dict[str, Any] = {
        "email_address": user.email,
        "display_name": user.name,
        "imap_host": "127.0.0.1",
        "imap_port": 143,
        "imap_tls": TlsMode.STARTTLS,
        "smtp_host": "127.0.0.1",
        "smtp_port": 587,
        "smtp_tls": TlsMode.STARTTLS,
        "username": user.email,
    }
    values.update(overrides)
    return connect_mailbox(session, user, box, MailboxSettings(**values), password)


def make_contact(session: Session, user: User, **overrides: Any) -> Contact:
    n = next(_sequence)
    values: dict[str, Any] = {
        "email": f"contact{n}@org.example",
        "name": f"Alex Contact{n}",
        "organisation": "Example Institute",
        "role": "Policy Analyst",
        "how_found": "the alumni network",
    }
    values.update(overrides)
    return add_contact(session, user, ContactInput(**values))


def make_approved_requests(
    session: Session, user: User, now: datetime, count: int = 1, **contact: Any
) -> list[Message]:
    """`count` new contacts on one new target, each with an approved request, committed.

    `contact` overrides apply to every new contact (give an email only with count=1).
    """
    people = [make_contact(session, user, **contact) for _ in range(count)]
    # The factory's contacts share one organisation: let them all be written to at once.
    target = create_target(
        session,
        user,
        f"Target {people[0].id}",
        [p.id for p in people],
        max_in_flight=count,
        allow_same_organisation=True,
    )
    drafted = fill_pipeline(session, user, target, now)
    for draft in drafted:
        approve(session, user, draft.id, now)
    session.commit()
    return drafted
