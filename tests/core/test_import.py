"""Importing contacts: CSV with a column mapping, vCard, merging with what is stored."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import select
from sqlalchemy.orm import Session

from outreach.cli import outreach
from outreach.config import Settings
from outreach.contact_import import (
    check_import,
    csv_candidates,
    guess_columns,
    import_all,
    import_candidates,
    import_csv,
    import_vcard,
    link_referrals,
    merge_duplicates,
    read_csv,
)
from outreach.errors import ValidationError
from outreach.models import Contact, User
from tests.factories import make_contact, make_user

pytestmark = pytest.mark.postgres

LINKEDIN = (
    "Notes:\n"
    '"When exporting your connection data, you may notice that some of the email addresses '
    "are missing. You will only see email addresses for connections who have allowed their "
    'connections to see or download their email address."\n'
    "\n"
    "First Name,Last Name,URL,Email Address,Company,Position,Connected On\n"
    "Ada,Lovelace,https://www.linkedin.com/in/ada,ada@engines.example,Analytical Engines,"
    "Engineer,02 Dec 2026\n"
    "Alan,Turing,https://www.linkedin.com/in/alan,,Bletchley Park,Cryptanalyst,01 Dec 2026\n"
)


@pytest.fixture
def user(session: Session) -> User:
    user = make_user(session)
    session.commit()
    return user


def stored(session: Session, user: User) -> dict[str, Contact]:
    return {
        contact.email: contact
        for contact in session.scalars(select(Contact).where(Contact.user_id == user.id))
    }


def test_a_linkedin_export_is_read_past_its_notes(session: Session, user: User) -> None:
    report = import_csv(session, user, LINKEDIN)

    assert report.created == ["ada@engines.example"]
    assert [str(problem) for problem in report.errors] == ["line 6: no email address"]
    ada = stored(session, user)["ada@engines.example"]
    assert (ada.name, ada.first_name, ada.organisation, ada.role) == (
        "Ada Lovelace",
        "Ada",
        "Analytical Engines",
        "Engineer",
    )


def test_a_why_column_fills_the_why_you_line_and_a_note_column_the_notes(
    session: Session, user: User
) -> None:
    text = (
        "Email,Name,Why them,Note\n"
        "dana@museum.example,Dana Lee,You built the schools programme.,Met at the fair\n"
    )
    assert guess_columns(read_csv(text).header) == ["email", "name", "why_you", "notes"]
    assert guess_columns(["E-mail", "Reason"]) == ["email", "why_you"]

    report = import_csv(session, user, text)

    assert report.created == ["dana@museum.example"]
    dana = stored(session, user)["dana@museum.example"]
    assert (dana.why_you, dana.notes) == ("You built the schools programme.", "Met at the fair")


def test_unknown_columns_are_read_with_the_mapping_the_person_chose(
    session: Session, user: User
) -> None:
    text = "Wer;Mail;Firma;Woher\nJosé Núñez;jose@contoso.example;Contoso;Messe\n"
    table = read_csv(text)
    assert table.delimiter == ";" and table.has_header
    assert guess_columns(table.header) == ["", "", "", ""]

    with pytest.raises(ValidationError, match="email address"):
        import_csv(session, user, text)
    report = import_csv(session, user, text, ["name", "email", "organisation", "how_found"])

    assert report.created == ["jose@contoso.example"]
    jose = stored(session, user)["jose@contoso.example"]
    assert (jose.name, jose.organisation, jose.how_found) == ("José Núñez", "Contoso", "Messe")


def test_a_file_without_a_header_row_is_taken_as_all_data() -> None:
    table = read_csv("Ada Lovelace,ada@engines.example\nGrace Hopper,grace@navy.example\n")

    assert not table.has_header
    assert table.column_names() == ["Column 1", "Column 2"]
    assert [line for line, _ in table.rows] == [1, 2]
    assert read_csv("Who,Mail\nAda,ada@x.example\n").header == ["Who", "Mail"]


def test_a_mapping_must_name_the_email_column_once() -> None:
    table = read_csv("a,b\nx,y@z.example\n")

    with pytest.raises(ValidationError, match="choose the column that holds the email address"):
        csv_candidates(table, ["name", ""])
    with pytest.raises(ValidationError, match="two columns are set to fill email address"):
        csv_candidates(table, ["email", "email"])


def test_an_address_already_stored_is_merged_never_overwritten(
    session: Session, user: User
) -> None:
    make_contact(
        session, user, email="ada@engines.example", name="Countess Ada", role="", organisation="AE"
    )
    session.commit()
    text = "Name,Email,Role,Company,Notes\nAda L,ADA@engines.example,Engineer,Other Co,Met once\n"

    preview = check_import(
        session, user, csv_candidates(read_csv(text), guess_columns(read_csv(text).header))
    )
    assert preview.duplicates == ["ada@engines.example"]
    assert preview.filled == {"ada@engines.example": ["role", "notes"]}
    assert stored(session, user)["ada@engines.example"].role == ""  # a preview stores nothing

    report = import_csv(session, user, text)
    session.commit()

    assert report.created == [] and report.duplicates == ["ada@engines.example"]
    ada = stored(session, user)["ada@engines.example"]
    assert (ada.name, ada.organisation, ada.role, ada.notes) == (
        "Countess Ada",
        "AE",
        "Engineer",
        "Met once",
    )


def test_two_rows_with_one_address_become_one_contact(session: Session, user: User) -> None:
    text = "Email,Name,Role\nkim@x.example,Kim,\nKIM@x.example,Kim Lee,Director\n"

    report = import_csv(session, user, text)

    assert report.created == ["kim@x.example"]
    assert [str(remark) for remark in report.warnings] == [
        "line 3: kim@x.example is also on line 2; the two were merged into one contact"
    ]
    kim = stored(session, user)["kim@x.example"]
    assert (kim.name, kim.role) == ("Kim", "Director")


def test_bad_rows_say_why_and_the_rest_are_kept(session: Session, user: User) -> None:
    text = (
        "email,name,time zone,organisation\n"
        "good@x.example,Good,Europe/Berlin,\n"
        "not-an-address,Bad,,\n"
        f"long@x.example,Long,,{'o' * 201}\n"
        "zone@x.example,Zoned,Mars/Olympus,\n"
    )

    report = import_csv(session, user, text)

    assert report.created == ["good@x.example", "zone@x.example"]
    assert [str(problem) for problem in report.errors] == [
        "line 3: 'not-an-address' is not a valid email address",
        "line 4: the organisation is longer than 200 characters",
    ]
    assert [str(remark) for remark in report.warnings] == [
        "line 5: 'Mars/Olympus' is not a time zone we know (such as Europe/Berlin), "
        "so it was left out"
    ]
    assert stored(session, user)["good@x.example"].time_zone == "Europe/Berlin"


def test_referrals_are_linked_by_name_or_address_even_to_a_later_row(
    session: Session, user: User
) -> None:
    make_contact(session, user, email="prof@uni.example", name="Professor Hale")
    session.commit()
    text = (
        "email,name,referred by\n"
        "a@x.example,Ann,Professor Hale\n"
        "b@x.example,Ben,c@x.example\n"
        "c@x.example,Cat,\n"
        "d@x.example,Dan,Nobody Known\n"
    )

    report = import_csv(session, user, text)

    people = stored(session, user)
    assert people["a@x.example"].referred_by_id == people["prof@uni.example"].id
    assert people["b@x.example"].referred_by_id == people["c@x.example"].id
    assert people["d@x.example"].referred_by_id is None
    assert [str(remark) for remark in report.warnings] == [
        "line 5: 'Nobody Known', who referred them, is not on your list; the referral was left out"
    ]


def test_an_import_in_slices_gives_the_same_result_and_a_slice_run_twice_changes_nothing(
    session: Session, user: User
) -> None:
    rows = "".join(f"p{n}@x.example,Person {n}\n" for n in range(10))
    candidates, _ = merge_duplicates(
        csv_candidates(read_csv("email,name\n" + rows), ["email", "name"])
    )

    first = import_candidates(session, user, candidates[:4])
    again = import_candidates(session, user, candidates[:4])
    rest = import_candidates(session, user, candidates[4:])
    link_referrals(session, user, candidates)
    session.commit()

    assert len(first.created) == 4 and again.created == [] and len(again.duplicates) == 4
    assert len(rest.created) == 6
    assert len(stored(session, user)) == 10


def test_a_vcard_file_is_imported_with_per_card_problems(session: Session, user: User) -> None:
    text = (
        "BEGIN:VCARD\r\nVERSION:3.0\r\nN:Hopper;Grace;;;\r\nFN:Grace Hopper\r\n"
        "EMAIL;TYPE=INTERNET:grace@navy.example\r\nORG:US Navy\r\nTITLE:Rear Admiral\r\n"
        "NOTE:Ask about COBOL\\, and nanoseconds\r\nEND:VCARD\r\n"
        "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Jane Doe\r\nTEL:+1 555 0100\r\nEND:VCARD\r\n"
    )

    report = import_vcard(session, user, text)

    assert report.created == ["grace@navy.example"]
    assert [str(problem) for problem in report.errors] == ["card 2 (Jane Doe): no email address"]
    grace = stored(session, user)["grace@navy.example"]
    assert (grace.name, grace.first_name, grace.organisation, grace.role, grace.notes) == (
        "Grace Hopper",
        "Grace",
        "US Navy",
        "Rear Admiral",
        "Ask about COBOL, and nanoseconds",
    )


def test_another_users_contacts_are_neither_seen_nor_touched(session: Session, user: User) -> None:
    other = make_user(session)
    make_contact(session, other, email="shared@x.example", name="Theirs", role="")
    session.commit()

    report = import_all(
        session,
        user,
        csv_candidates(
            read_csv("email,name,role\nshared@x.example,Mine,Chair\n"),
            guess_columns(["email", "name", "role"]),
        ),
    )
    session.commit()

    assert report.created == ["shared@x.example"]
    assert stored(session, other)["shared@x.example"].role == ""
    assert stored(session, user)["shared@x.example"].name == "Mine"


# --- the command line ---------------------------------------------------------------------


@pytest.fixture
def cli(settings: Settings, user: User) -> Callable[..., Result]:
    env = {
        "OUTREACH_INSTANCE_DIR": str(settings.instance_dir),
        "OUTREACH_DATABASE_URL": settings.database_url,
        "OUTREACH_SECRET_KEY": settings.secret_key,
        "OUTREACH_ENCRYPTION_KEYS": ",".join(settings.encryption_keys),
        "OUTREACH_USER": user.email,
    }

    def run(*args: str) -> Result:
        return CliRunner().invoke(outreach, ["contacts", "import", *args], env=env)

    return run


def test_the_cli_imports_a_vcard_file(
    cli: Callable[..., Result], tmp_path: Path, session: Session, user: User
) -> None:
    path = tmp_path / "people.vcf"
    path.write_text(
        "BEGIN:VCARD\nVERSION:4.0\nFN:Ada Lovelace\nEMAIL;PREF=1:ada@engines.example\nEND:VCARD\n"
        "BEGIN:VCARD\nVERSION:4.0\nFN:Jane Doe\nEND:VCARD\n"
    )

    result = cli(str(path))
    again = cli("--json", str(path))

    assert result.exit_code == 1
    assert "1 created, 0 already on your list, 1 refused" in result.stdout
    assert "card 2 (Jane Doe): no email address" in result.stderr
    assert json.loads(again.stdout) == {
        "created": [],
        "duplicates": ["ada@engines.example"],
        "errors": [{"card": 2, "error": "no email address"}],
    }
    assert list(stored(session, user)) == ["ada@engines.example"]


def test_the_cli_maps_columns_it_does_not_know_with_map(
    cli: Callable[..., Result], tmp_path: Path, session: Session, user: User
) -> None:
    path = tmp_path / "people.csv"
    path.write_text("Wer;Adresse;Telefon\nJosé Núñez;jose@contoso.example;+49 30 1\n")

    refused = cli(str(path))
    unknown = cli("--map", "Adresse=mail", str(path))
    result = cli("--map", "Adresse=email", "--map", "1=name", str(path))

    assert refused.exit_code == 1
    assert "name it with --map COLUMN=email" in refused.stderr
    assert "'mail' is not a field" in unknown.stderr
    assert result.exit_code == 0, result.output
    assert "1 created" in result.stdout
    assert stored(session, user)["jose@contoso.example"].name == "José Núñez"
