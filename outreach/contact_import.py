"""Importing contacts from a file: CSV (with a column mapping) or vCard.

Turning a file's rows into contacts (the file itself is cut into cells by
outreach.reading.csv_table), checking what an import would do before anything is
stored, storing it in slices, and the report of what happened.
Creating and editing one contact is in outreach.contacts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache

from sqlalchemy import select
from sqlalchemy.orm import Session

from outreach.accounts import known_time_zones, normalise_email
from outreach.contacts import (
    ContactInput,
    clean_text,
    first_name_of,
    length_problem_in,
    list_contacts,
    new_contact,
)
from outreach.errors import ValidationError
from outreach.models import Contact, User

# Reading the file is outreach.reading.csv_table's; callers of the import take it from here.
from outreach.reading.csv_table import CsvTable as CsvTable
from outreach.reading.csv_table import guess_columns as guess_columns
from outreach.reading.csv_table import read_csv as read_csv
from outreach.reading.vcard import parse_vcards
from outreach.rules.plain_text import control_character_problem, printable

# An import runs in three steps, so that a person sees what will happen before
# anything is stored, and a large file can be stored in slices with progress:
#
# 1. read: a CSV (with a column mapping) or a vCard file becomes a list of
#    Candidates, one per row or card, plus the rows that could not be read;
#    two rows with one address become one candidate (pure);
# 2. check_import: what importing them would do, without storing anything;
# 3. import_candidates: store a slice of them; run again on the next slice.
#    Running a slice twice changes nothing the second time.

# The fields an imported column can fill, with the words the mapping page shows.
IMPORT_FIELDS: dict[str, str] = {
    "email": "Email address",
    "name": "Full name",
    "first_name": "First name",
    "last_name": "Last name",
    "role": "Role",
    "organisation": "Organisation",
    "how_found": "How you found them",
    "why_you": "Why them in particular",
    "notes": "Notes",
    "time_zone": "Time zone",
    "referred_by": "Referred by (a name or address)",
}
# Fields that may hold line breaks and tabs; every other field is one line.
MULTI_LINE_FIELDS = frozenset({"notes"})


# Column lengths of the contacts table: longer text is refused with a sentence
# rather than cut (PostgreSQL would refuse it with an exception).
_MAX_LENGTHS = {"email": 320, "name": 200, "first_name": 100, "role": 200, "organisation": 200}
# Fields a later source may fill on a contact when the stored one is empty.
_FILLABLE = ("role", "organisation", "how_found", "why_you", "notes", "time_zone")
# How many rows of a file the mapping page shows.
PREVIEW_ROWS = 5


@dataclass(frozen=True)
class Candidate:
    """One row of a CSV or one card of a vCard file, as text per field."""

    number: int  # the line in the CSV, or the card's position in the vCard file
    where: str  # "line 3", "card 4 (Jane Doe)": how a person finds it in the file
    values: dict[str, str]

    def get(self, name: str) -> str:
        return self.values.get(name, "")


@dataclass(frozen=True)
class RowProblem:
    """A row that was refused, or imported with a remark, and why, in words."""

    number: int
    where: str
    problem: str

    def __str__(self) -> str:
        return f"{self.where}: {self.problem}"


@dataclass
class ImportReport:
    """What an import did (or, from check_import, would do)."""

    created: list[str] = field(default_factory=list)
    # Addresses already on the list, or twice in the file: merged, never doubled.
    duplicates: list[str] = field(default_factory=list)
    # For a contact already on the list: the fields that were empty and are now filled.
    filled: dict[str, list[str]] = field(default_factory=dict)
    # Rows refused, in file order.
    errors: list[RowProblem] = field(default_factory=list)
    # Rows imported with a remark (a time zone or a referral that was left out).
    warnings: list[RowProblem] = field(default_factory=list)

    def add(self, other: ImportReport) -> None:
        self.created.extend(other.created)
        self.duplicates.extend(other.duplicates)
        for address, names in other.filled.items():
            self.filled.setdefault(address, []).extend(names)
        self.errors.extend(other.errors)
        self.warnings.extend(other.warnings)


def csv_candidates(table: CsvTable, columns: Sequence[str]) -> list[Candidate]:
    """One candidate per row, with `columns[i]` naming the field column i fills ("" skips it).

    :raise ValidationError: when no column is the email address, or two are the same field.
    """
    chosen = [name for name in columns if name]
    unknown = [name for name in chosen if name not in IMPORT_FIELDS]
    if unknown:
        raise ValidationError(f"'{unknown[0]}' is not a field a column can fill")
    if "email" not in chosen:
        raise ValidationError("choose the column that holds the email address")
    twice = sorted({name for name in chosen if chosen.count(name) > 1})
    if twice:
        raise ValidationError(f"two columns are set to fill {IMPORT_FIELDS[twice[0]].lower()}")
    candidates: list[Candidate] = []
    for line, cells in table.rows:
        values = {
            name: cells[index].strip()
            for index, name in enumerate(columns)
            if name and index < len(cells) and cells[index].strip()
        }
        candidates.append(Candidate(line, f"line {line}", values))
    return candidates


def vcard_candidates(text: str) -> tuple[list[Candidate], list[RowProblem]]:
    """One candidate per readable card, and a problem for each card that is not."""
    parsed = parse_vcards(text)
    candidates = [
        Candidate(
            card.number,
            f"card {card.number} ({printable(card.name)})" if card.name else f"card {card.number}",
            {
                key: value
                for key, value in {
                    "email": card.email,
                    "name": card.full_name,
                    "first_name": card.first_name,
                    "last_name": card.last_name,
                    "role": card.title,
                    "organisation": card.organisation,
                    "notes": card.note,
                    "time_zone": card.time_zone,
                }.items()
                if value
            },
        )
        for card in parsed.cards
    ]
    problems = [RowProblem(item.number, item.where, item.problem) for item in parsed.problems]
    return candidates, problems


@dataclass(frozen=True)
class _Row:
    """A candidate checked: the contact it makes, or why it cannot."""

    candidate: Candidate
    data: ContactInput | None
    problem: str = ""
    warnings: tuple[str, ...] = ()


@lru_cache(maxsize=1)
def _time_zones() -> frozenset[str]:
    return known_time_zones()


def _check(candidate: Candidate) -> _Row:
    """Pure: the contact a candidate makes, or the sentence saying why it makes none."""
    for key, label in IMPORT_FIELDS.items():
        # A NUL or a line break in a name would reach the To: header: the row is refused.
        problem = control_character_problem(
            label, candidate.get(key), multi_line=key in MULTI_LINE_FIELDS
        )
        if problem:
            return _Row(candidate, None, problem)
    raw_email = candidate.get("email")
    if not raw_email:
        return _Row(candidate, None, "no email address")
    try:
        email = normalise_email(raw_email)
    except ValidationError as error:
        return _Row(candidate, None, str(error))
    full = " ".join(f"{candidate.get('first_name')} {candidate.get('last_name')}".split())
    name = clean_text(candidate.get("name")) or full or email.split("@")[0]
    first = clean_text(candidate.get("first_name")) or first_name_of(name)
    values = {
        "email": email,
        "name": name,
        "first_name": first,
        "role": clean_text(candidate.get("role")),
        "organisation": clean_text(candidate.get("organisation")),
    }
    for key, limit in _MAX_LENGTHS.items():
        if len(values[key]) > limit:
            label = IMPORT_FIELDS[key].lower()
            return _Row(candidate, None, f"the {label} is longer than {limit} characters")
    warnings: list[str] = []
    zone = candidate.get("time_zone").strip()
    if zone and zone not in _time_zones():
        warnings.append(
            f"'{zone}' is not a time zone we know (such as Europe/Berlin), so it was left out"
        )
        zone = ""
    data = ContactInput(
        email=email,
        name=name,
        first_name=first,
        role=values["role"],
        organisation=values["organisation"],
        how_found=candidate.get("how_found").strip(),
        why_you=clean_text(candidate.get("why_you")),
        notes=candidate.get("notes").strip(),
        time_zone=zone,
    )
    # "How you found them" and the notes are held to the same limits as a contact typed in.
    too_long = length_problem_in(data)
    if too_long:
        return _Row(candidate, None, too_long)
    return _Row(candidate, data, warnings=tuple(warnings))


def merge_duplicates(candidates: Sequence[Candidate]) -> tuple[list[Candidate], list[RowProblem]]:
    """One candidate per address: a later row fills what an earlier one left empty (pure).

    Returns the candidates in file order, and a remark for each row merged away.
    """
    kept: dict[str, int] = {}
    merged: list[Candidate] = []
    remarks: list[RowProblem] = []
    for candidate in candidates:
        key = candidate.get("email").strip().lower()
        if not key or key not in kept:
            if key:
                kept[key] = len(merged)
            merged.append(candidate)
            continue
        index = kept[key]
        first = merged[index]
        values = dict(first.values)
        for name, value in candidate.values.items():
            values.setdefault(name, value)
        merged[index] = Candidate(first.number, first.where, values)
        remarks.append(
            RowProblem(
                candidate.number,
                candidate.where,
                f"{key} is also on {first.where}; the two were merged into one contact",
            )
        )
    return merged, remarks


def _existing(session: Session, user: User, emails: Sequence[str]) -> dict[str, Contact]:
    found: dict[str, Contact] = {}
    unique = sorted(set(emails))
    # Slices keep the query under every database's limit on bound parameters.
    for start in range(0, len(unique), 500):
        for contact in session.scalars(
            select(Contact).where(
                Contact.user_id == user.id, Contact.email.in_(unique[start : start + 500])
            )
        ):
            found[contact.email] = contact
    return found


def _to_fill(contact: Contact, data: ContactInput) -> list[str]:
    return [name for name in _FILLABLE if not getattr(contact, name) and getattr(data, name)]


def _run(
    session: Session, user: User, candidates: Sequence[Candidate], *, store: bool
) -> ImportReport:
    report = ImportReport()
    rows = [_check(candidate) for candidate in candidates]
    existing = _existing(session, user, [row.data.email for row in rows if row.data])
    for row in rows:
        candidate = row.candidate
        if row.data is None:
            report.errors.append(RowProblem(candidate.number, candidate.where, row.problem))
            continue
        report.warnings.extend(
            RowProblem(candidate.number, candidate.where, warning) for warning in row.warnings
        )
        data = row.data
        contact = existing.get(data.email)
        if contact is None:
            if store:
                # Checked above and looked up in one query: no query per row.
                existing[data.email] = new_contact(user, data)
                session.add(existing[data.email])
            report.created.append(data.email)
            continue
        report.duplicates.append(data.email)
        names = _to_fill(contact, data)
        if names:
            report.filled[data.email] = [IMPORT_FIELDS[name].lower() for name in names]
            if store:
                for name in names:
                    setattr(contact, name, getattr(data, name))
    if store:
        session.flush()
    return report


def preview_contacts(candidates: Sequence[Candidate], limit: int) -> list[ContactInput]:
    """The first `limit` contacts the candidates make, as they would be stored (pure)."""
    shown: list[ContactInput] = []
    for candidate in candidates:
        data = _check(candidate).data
        if data is not None:
            shown.append(data)
            if len(shown) == limit:
                break
    return shown


def lacking(candidates: Sequence[Candidate], name: str) -> int:
    """How many of `candidates` have no value for the field `name`."""
    return sum(1 for candidate in candidates if not candidate.get(name).strip())


def fill_blank(candidates: Sequence[Candidate], name: str, value: str) -> list[Candidate]:
    """The candidates with `value` in the field `name` wherever the file left it empty.

    One answer for a whole file ("How did you find these people?"), asked once
    before the import rather than once per draft afterwards.
    """
    return [
        candidate
        if candidate.get(name).strip()
        else Candidate(candidate.number, candidate.where, {**candidate.values, name: value})
        for candidate in candidates
    ]


def check_import(session: Session, user: User, candidates: Sequence[Candidate]) -> ImportReport:
    """What importing `candidates` would do: nothing is stored."""
    report = _run(session, user, candidates, store=False)
    report.warnings.extend(_referral_remarks(session, user, candidates))
    report.warnings.sort(key=lambda remark: remark.number)
    return report


def import_candidates(
    session: Session, user: User, candidates: Sequence[Candidate]
) -> ImportReport:
    """Store `candidates` (all of them, or one slice of a larger import).

    New addresses become contacts; an address already on the list gets only
    its empty fields filled, and nothing stored is overwritten. Referrals are
    linked by `link_referrals` once every slice is stored.
    """
    return _run(session, user, candidates, store=True)


def _referrer_index(
    session: Session, user: User, candidates: Sequence[Candidate]
) -> tuple[dict[str, str], set[str]]:
    """Who a "referred by" text can name: lower-cased names and addresses -> an address.

    Also returns the names that fit more than one person.
    """
    index: dict[str, str] = {}
    ambiguous: set[str] = set()
    people = [(contact.name, contact.email) for contact in list_contacts(session, user)]
    for candidate in candidates:
        row = _check(candidate)
        if row.data is not None:
            people.append((row.data.name, row.data.email))
    for name, email in people:
        index[email] = email
        key = name.lower()
        if key in index and index[key] != email:
            ambiguous.add(key)
        index.setdefault(key, email)
    return index, ambiguous


@dataclass(frozen=True)
class _Referral:
    """A candidate's "referred by", read against the list and the file."""

    candidate: Candidate
    referrer: str  # the address the text names ("" when it names no one, or several)
    problem: str  # why the referral is left out; "" when it can be linked


def _referrals(session: Session, user: User, candidates: Sequence[Candidate]) -> list[_Referral]:
    wanted = [candidate for candidate in candidates if candidate.get("referred_by")]
    if not wanted:
        return []
    index, ambiguous = _referrer_index(session, user, candidates)
    referrals: list[_Referral] = []
    for candidate in wanted:
        text = clean_text(candidate.get("referred_by"))
        key = text.lower()
        if key in ambiguous:
            problem = f"more than one person is called '{text}', so the referral was left out"
        elif key not in index:
            problem = f"'{text}', who referred them, is not on your list; the referral was left out"
        elif index[key] == candidate.get("email").strip().lower():
            problem = "the row says the person referred themselves; the referral was left out"
        else:
            problem = ""
        referrer = "" if key in ambiguous else index.get(key, "")
        referrals.append(_Referral(candidate, referrer, problem))
    return referrals


def _remarks(referrals: Sequence[_Referral]) -> list[RowProblem]:
    return [
        RowProblem(referral.candidate.number, referral.candidate.where, referral.problem)
        for referral in referrals
        if referral.problem
    ]


def _referral_remarks(
    session: Session, user: User, candidates: Sequence[Candidate]
) -> list[RowProblem]:
    return _remarks(_referrals(session, user, candidates))


def link_referrals(
    session: Session, user: User, candidates: Sequence[Candidate]
) -> list[RowProblem]:
    """Set "referred by" for imported contacts that have none yet; remarks for the rest."""
    referrals = _referrals(session, user, candidates)
    if not referrals:
        return []
    contacts = {contact.email: contact for contact in list_contacts(session, user)}
    for referral in referrals:
        contact = contacts.get(referral.candidate.get("email").strip().lower())
        referrer = contacts.get(referral.referrer)
        if referral.problem or contact is None or referrer is None:
            continue
        if referrer.id != contact.id and contact.referred_by_id is None:
            contact.referred_by_id = referrer.id
    session.flush()
    return _remarks(referrals)


def import_all(
    session: Session,
    user: User,
    candidates: Sequence[Candidate],
    problems: Sequence[RowProblem] = (),
) -> ImportReport:
    """Merge duplicates, store every candidate and link referrals, in one go."""
    merged, remarks = merge_duplicates(candidates)
    report = import_candidates(session, user, merged)
    report.errors = sorted([*problems, *report.errors], key=lambda problem: problem.number)
    report.warnings = sorted(
        [*report.warnings, *remarks, *link_referrals(session, user, merged)],
        key=lambda remark: remark.number,
    )
    return report


def import_csv(
    session: Session, user: User, text: str, columns: Sequence[str] | None = None
) -> ImportReport:
    """Import contacts from CSV text; each bad row is reported, the good ones kept.

    Columns are found by their names (`guess_columns`) unless `columns` maps them.
    An address already on the list gets its empty fields filled and is counted
    as a duplicate; nothing stored is overwritten.
    """
    table = read_csv(text)
    mapping = list(columns) if columns is not None else guess_columns(table.header)
    if columns is None and "email" not in mapping:
        raise ValidationError(
            "no column is recognised as the email address by its name; choose which one it is"
        )
    return import_all(session, user, csv_candidates(table, mapping))


def import_vcard(session: Session, user: User, text: str) -> ImportReport:
    """Import contacts from a vCard file; each unreadable card is reported."""
    candidates, problems = vcard_candidates(text)
    return import_all(session, user, candidates, problems)
