"""Use cases for the user's list of people: add, edit, import."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from outreach.accounts import normalise_email
from outreach.errors import NotFound, ValidationError
from outreach.models import Contact, User


@dataclass(frozen=True)
class ContactInput:
    email: str
    name: str
    first_name: str = ""
    role: str = ""
    organisation: str = ""
    how_found: str = ""
    notes: str = ""
    time_zone: str = ""
    do_not_contact: bool = False
    referred_by_id: int | None = None


def first_name_of(full_name: str) -> str:
    parts = full_name.split()
    return parts[0] if parts else ""


def _clean(value: str) -> str:
    return " ".join(value.split())


def add_contact(session: Session, user: User, data: ContactInput) -> Contact:
    """Add a contact; an address already on the list is refused, not doubled."""
    email = normalise_email(data.email)
    name = _clean(data.name)
    if not name:
        raise ValidationError("a contact needs a name")
    if find_by_email(session, user, email) is not None:
        raise ValidationError(f"{email} is already on your list")
    if data.referred_by_id is not None:
        get_contact(session, user, data.referred_by_id)
    contact = Contact(
        user_id=user.id,
        email=email,
        name=name,
        first_name=_clean(data.first_name) or first_name_of(name),
        role=_clean(data.role),
        organisation=_clean(data.organisation),
        how_found=data.how_found.strip(),
        notes=data.notes.strip(),
        time_zone=data.time_zone.strip(),
        do_not_contact=data.do_not_contact,
        referred_by_id=data.referred_by_id,
    )
    session.add(contact)
    session.flush()
    return contact


def find_by_email(session: Session, user: User, email: str) -> Contact | None:
    return session.scalar(
        select(Contact).where(Contact.user_id == user.id, Contact.email == email.strip().lower())
    )


def get_contact(session: Session, user: User, contact_id: int) -> Contact:
    """:raise NotFound: when the contact does not exist or is someone else's."""
    contact = session.scalar(
        select(Contact).where(Contact.id == contact_id, Contact.user_id == user.id)
    )
    if contact is None:
        raise NotFound("no such contact")
    return contact


def list_contacts(session: Session, user: User) -> list[Contact]:
    return list(
        session.scalars(select(Contact).where(Contact.user_id == user.id).order_by(Contact.name))
    )


# Column names we recognise, lower-cased, mapped to our fields. LinkedIn's
# connections export uses "First Name", "Last Name", "Email Address",
# "Company" and "Position".
_COLUMNS: dict[str, str] = {
    "email": "email",
    "email address": "email",
    "e-mail": "email",
    "name": "name",
    "full name": "name",
    "first name": "first_name",
    "last name": "last_name",
    "role": "role",
    "position": "role",
    "title": "role",
    "job title": "role",
    "organisation": "organisation",
    "organization": "organisation",
    "company": "organisation",
    "how found": "how_found",
    "how_found": "how_found",
    "source": "how_found",
    "notes": "notes",
    "time zone": "time_zone",
    "timezone": "time_zone",
}


@dataclass
class ImportReport:
    created: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    # (line number in the file, what was wrong), in file order.
    errors: list[tuple[int, str]] = field(default_factory=list)


def _header_map(header: Iterable[str]) -> dict[int, str]:
    mapping: dict[int, str] = {}
    for index, column in enumerate(header):
        key = _COLUMNS.get(" ".join(column.strip().lower().replace("_", " ").split()))
        if key is None:
            key = _COLUMNS.get(column.strip().lower())
        if key is not None and key not in mapping.values():
            mapping[index] = key
    return mapping


def import_csv(session: Session, user: User, text: str) -> ImportReport:
    """Import contacts from CSV text; each bad row is reported, the good ones kept.

    Rows whose address is already on the list (or earlier in the file) are
    counted as duplicates and left as they are.
    """
    report = ImportReport()
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    header: list[str] | None = None
    for row in reader:
        # LinkedIn exports open with a few lines of notes before the header.
        if header is None:
            mapping = _header_map(row)
            if "email" in mapping.values():
                header = row
                columns = mapping
            continue
        line = reader.line_num
        if not any(cell.strip() for cell in row):
            continue
        values = {field_name: "" for field_name in set(_COLUMNS.values())}
        for index, field_name in columns.items():
            if index < len(row):
                values[field_name] = row[index]
        name = _clean(values["name"]) or _clean(f"{values['first_name']} {values['last_name']}")
        try:
            email = normalise_email(values["email"]) if values["email"].strip() else ""
            if not email:
                raise ValidationError("no email address")
            if find_by_email(session, user, email) is not None:
                report.duplicates.append(email)
                continue
            add_contact(
                session,
                user,
                ContactInput(
                    email=email,
                    name=name or email.split("@")[0],
                    first_name=values["first_name"],
                    role=values["role"],
                    organisation=values["organisation"],
                    how_found=values["how_found"],
                    notes=values["notes"],
                    time_zone=values["time_zone"],
                ),
            )
            report.created.append(email)
        except ValidationError as error:
            report.errors.append((line, str(error)))
    if header is None:
        report.errors.append((1, "no header row with an email column was found"))
    return report
