"""Use cases for the user's list of people: add, look up, list.

Importing a file of people (CSV, vCard) is in outreach.contact_import.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from outreach.accounts import normalise_email
from outreach.db import owned_row
from outreach.errors import ValidationError
from outreach.models import Contact, User
from outreach.rules.plain_text import control_character_problem


@dataclass(frozen=True)
class ContactInput:
    email: str
    name: str
    first_name: str = ""
    role: str = ""
    organisation: str = ""
    how_found: str = ""
    why_you: str = ""
    notes: str = ""
    time_zone: str = ""
    do_not_contact: bool = False
    referred_by_id: int | None = None


def first_name_of(full_name: str) -> str:
    parts = full_name.split()
    return parts[0] if parts else ""


def clean_text(value: str) -> str:
    """The text on one line: each run of white space becomes one space, ends trimmed."""
    return " ".join(value.split())


# A contact's fields that reach a header, a subject or a template's line: one line each.
SINGLE_LINE_FIELDS = {
    "email": "the email address",
    "name": "the name",
    "first_name": "the first name",
    "role": "the role",
    "organisation": "the organisation",
    "how_found": "how you found them",
    "why_you": "why them in particular",
    "time_zone": "the time zone",
}


# The most characters each field holds (the columns' sizes, and room enough for the free text).
MAX_LENGTHS = {
    "email": 320,
    "name": 200,
    "first_name": 100,
    "role": 200,
    "organisation": 200,
    "how_found": 500,
    "why_you": 500,
    "time_zone": 64,
    "notes": 5000,
}
_FIELD_WORDS = {**SINGLE_LINE_FIELDS, "notes": "the notes"}


def length_problem_in(data: ContactInput) -> str | None:
    """The sentence for the first field of `data` longer than it may be, else None."""
    for key, limit in MAX_LENGTHS.items():
        length = len(getattr(data, key).strip())
        if length > limit:
            return f"{_FIELD_WORDS[key]} is too long ({length:,} characters; {limit:,} at most)"
    return None


def control_character_problem_in(data: ContactInput) -> str | None:
    """The sentence for the first field of `data` holding a control character, else None."""
    for key, what in SINGLE_LINE_FIELDS.items():
        problem = control_character_problem(what, getattr(data, key))
        if problem:
            return problem
    return control_character_problem("the notes", data.notes, multi_line=True)


def add_contact(session: Session, user: User, data: ContactInput) -> Contact:
    """Add a contact; an address already on the list is refused, not doubled."""
    problem = control_character_problem_in(data) or length_problem_in(data)
    if problem:
        raise ValidationError(problem)
    email = normalise_email(data.email)
    name = clean_text(data.name)
    if not name:
        raise ValidationError("a contact needs a name")
    if find_by_email(session, user, email) is not None:
        raise ValidationError(f"{email} is already on your list")
    if data.referred_by_id is not None:
        get_contact(session, user, data.referred_by_id)
    contact = new_contact(user, replace(data, email=email, name=name))
    session.add(contact)
    session.flush()
    return contact


def new_contact(user: User, data: ContactInput) -> Contact:
    """A Contact from checked input (address normalised, name present)."""
    name = clean_text(data.name)
    return Contact(
        user_id=user.id,
        email=data.email,
        name=name,
        first_name=clean_text(data.first_name) or first_name_of(name),
        role=clean_text(data.role),
        organisation=clean_text(data.organisation),
        how_found=data.how_found.strip(),
        why_you=clean_text(data.why_you),
        notes=data.notes.strip(),
        time_zone=data.time_zone.strip(),
        do_not_contact=data.do_not_contact,
        referred_by_id=data.referred_by_id,
    )


def find_by_email(session: Session, user: User, email: str) -> Contact | None:
    return session.scalar(
        select(Contact).where(Contact.user_id == user.id, Contact.email == email.strip().lower())
    )


def get_contact(session: Session, user: User, contact_id: int) -> Contact:
    """:raise NotFound: when the contact does not exist or is someone else's."""
    return owned_row(session, Contact, contact_id, user.id, "contact")


def list_contacts(session: Session, user: User, *conditions: ColumnElement[bool]) -> list[Contact]:
    """The user's contacts that meet `conditions` (all of them when none), by name."""
    return list(
        session.scalars(
            select(Contact).where(Contact.user_id == user.id, *conditions).order_by(Contact.name)
        )
    )
