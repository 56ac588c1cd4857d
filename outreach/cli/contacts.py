"""`outreach contacts`: import and list the user's people."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import IO

import click

from outreach import contact_import, contacts
from outreach.cli.common import (
    acting_for,
    iso,
    json_option,
    print_json,
    user_option,
)
from outreach.contact_import import guess_columns
from outreach.errors import ValidationError
from outreach.models import Contact
from outreach.reading.limits import LIMITS
from outreach.reading.vcard import looks_like_vcard


@click.group("contacts")
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


def _column_map(table: contact_import.CsvTable, pairs: Sequence[str]) -> list[str]:
    """The columns' fields: guessed from their names, then each COLUMN=FIELD of --map."""
    names = table.column_names()
    mapping = guess_columns(table.header) + [""] * (len(names) - len(table.header))
    for pair in pairs:
        column, equals, field_name = pair.partition("=")
        column, field_name = column.strip(), field_name.strip().lower().replace(" ", "_")
        if not equals:
            raise ValidationError(f"--map takes COLUMN=FIELD, not '{pair}'")
        if field_name and field_name not in contact_import.IMPORT_FIELDS:
            choices = ", ".join(contact_import.IMPORT_FIELDS)
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
    "FIELD one of " + ", ".join(contact_import.IMPORT_FIELDS) + "; empty to skip the column).",
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
    file_name = str(getattr(file, "name", "-"))
    # UTF-8 takes at most four bytes a character: more than this is over the cap unread.
    most = 4 * LIMITS.characters
    raw = file.read(most + 1)
    if len(raw) > most:
        raise ValidationError(
            f"{file_name} holds more than {LIMITS.characters:,} characters; Outreach reads at "
            f"most {LIMITS.characters:,} in one import. Split it into smaller files and "
            "import each"
        )
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValidationError(f"{file_name} is not UTF-8 text; save it as UTF-8") from None
    is_vcard = file_name.lower().endswith((".vcf", ".vcard")) or looks_like_vcard(text)
    if is_vcard and column_pairs:
        raise ValidationError("--map is for CSV files; a vCard names its own fields")
    with acting_for(user_email) as (session, owner):
        if is_vcard:
            report = contact_import.import_vcard(session, owner, text)
        else:
            table = contact_import.read_csv(text)
            mapping = _column_map(table, column_pairs)
            if "email" not in mapping:
                raise ValidationError(
                    f"no column is recognised as the email address (the columns are "
                    f"{', '.join(table.column_names())}); name it with --map COLUMN=email"
                )
            report = contact_import.import_csv(session, owner, text, mapping)
    unit = "card" if is_vcard else "line"
    if as_json:
        print_json(
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
    with acting_for(user_email) as (session, owner):
        items = contacts.list_contacts(session, owner)
        if as_json:
            print_json({"contacts": [contact_json(item) for item in items]})
            return
        if not items:
            click.echo("no contacts yet; import some with `outreach contacts import`")
        for item in items:
            flag = "  [do not contact]" if item.do_not_contact else ""
            where = f"  {item.organisation}" if item.organisation else ""
            click.echo(f"{item.id:>5}  {item.name} <{item.email}>{where}{flag}")
