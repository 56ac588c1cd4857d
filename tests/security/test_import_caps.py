"""Imports read at most 200 columns, 20,000 rows, 1,000 characters a cell (issue 16, item 6).

Each cap is checked while the file is read, and a file beyond one is refused with
a sentence saying what to do, by the core, the dashboard and the command line.
"""

from __future__ import annotations

import io
import tracemalloc
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from outreach.cli import outreach
from outreach.config import Settings
from outreach.contact_import import read_csv, vcard_candidates
from outreach.models import Contact, User
from outreach.reading.limits import FileTooLarge, ReadLimits
from outreach.reading.vcard import parse_vcards
from tests.web import conftest as web
from tests.web.conftest import Browser

# The dashboard's fixtures, shared without a conftest.py here (other suites add to this folder).
app, client, browser, user, signed_in = web.app, web.client, web.browser, web.user, web.signed_in

# 200 KB: under the 500 KB beyond which werkzeug's test client spools a body to a file.
WIDE_HEADER = ",".join("x" for _ in range(100_000))

LINKEDIN_PREAMBLE = (
    "Notes:\n"
    '"When exporting your connection data, you may notice that some of the email addresses '
    'are missing."\n'
    "\n"
    "First Name,Last Name,URL,Email Address,Company,Position,Connected On\n"
)


def linkedin_rows(count: int) -> str:
    return "".join(
        f"Ada{n},Lovelace,https://www.linkedin.com/in/ada{n},ada{n}@engines.example,"
        f"Analytical Engines,Engineer,02 Dec 2026\n"
        for n in range(count)
    )


def card(number: int, *lines: str) -> str:
    return "\n".join(["BEGIN:VCARD", "VERSION:4.0", f"FN:Person {number}", *lines, "END:VCARD", ""])


# --- CSV and the LinkedIn export --------------------------------------------------------------


def test_a_file_of_100000_columns_is_refused_with_what_to_do() -> None:
    text = WIDE_HEADER + "\n" + ",".join("x" for _ in range(100_000)) + "\n"

    with pytest.raises(FileTooLarge) as refused:
        read_csv(text)

    assert str(refused.value) == (
        "this file has 100,000 columns; Outreach reads at most 200. "
        "Save only the columns you need and try again"
    )


def test_the_columns_are_refused_at_the_first_row_without_reading_the_rest() -> None:
    # 201 columns, then 200,000 rows that would take some 40 MB as a table.
    wide = ",".join(f"c{index}" for index in range(201)) + "\n"
    text = wide + "a@example.test,b\n" * 200_000
    tracemalloc.start()
    try:
        with pytest.raises(FileTooLarge, match="201 columns"):
            read_csv(text)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert peak < 1_000_000, f"reading kept {peak:,} bytes: the rows were read"


def test_200_columns_and_20000_rows_are_read() -> None:
    header = "Email Address," + ",".join(f"c{index}" for index in range(199))
    text = header + "\n" + "".join(f"{n}@example.test,x,y\n" for n in range(20_000))

    table = read_csv(text)

    assert len(table.header) == 200
    assert len(table.rows) == 20_000


def test_the_linkedin_export_beyond_20000_rows_is_refused() -> None:
    assert len(read_csv(LINKEDIN_PREAMBLE + linkedin_rows(20_000 - 2)).rows) == 20_000 - 2

    with pytest.raises(FileTooLarge) as refused:
        read_csv(LINKEDIN_PREAMBLE + linkedin_rows(20_001))

    assert str(refused.value) == (
        "this file has more than 20,000 rows; Outreach reads at most 20,000 in one import. "
        "Split it into smaller files and import each"
    )


def test_a_cell_over_1000_characters_is_named_by_line_and_column() -> None:
    text = "Email Address,Notes\na@example.test," + "n" * 1_000 + "\n"
    assert read_csv(text).rows[0][1][1] == "n" * 1_000

    with pytest.raises(FileTooLarge) as refused:
        read_csv(text + "b@example.test," + "n" * 1_001 + "\n")

    assert str(refused.value) == (
        "line 3, column 2 holds 1,001 characters; Outreach reads at most 1,000 in one cell. "
        "Shorten it and try again"
    )


def test_a_cell_beyond_the_csv_modules_own_limit_gets_the_same_sentence() -> None:
    text = 'Email Address,Notes\na@example.test,"' + "n" * 200_000 + '"\n'

    with pytest.raises(FileTooLarge, match="holds more than 131,072 characters; Outreach reads"):
        read_csv(text)


def test_a_file_beyond_the_total_characters_is_refused_before_reading() -> None:
    limits = ReadLimits(characters=100)

    with pytest.raises(FileTooLarge) as refused:
        read_csv("Email Address\n" + "a@example.test\n" * 10, limits=limits)

    assert str(refused.value) == (
        "this file has 164 characters; Outreach reads at most 100 in one import. "
        "Split it into smaller files and import each"
    )


# --- vCard --------------------------------------------------------------------------------


def test_a_vcard_file_beyond_its_cards_is_refused() -> None:
    text = "".join(card(n, f"EMAIL:p{n}@example.test") for n in range(4))

    assert len(parse_vcards(text, ReadLimits(rows=4)).cards) == 4
    with pytest.raises(FileTooLarge, match="more than 3 cards; Outreach reads at most 3"):
        parse_vcards(text, ReadLimits(rows=3))


def test_a_vcard_value_over_1000_characters_is_refused() -> None:
    text = card(1, "EMAIL:p@example.test", "NOTE:" + "n" * 1_001)

    with pytest.raises(FileTooLarge) as refused:
        vcard_candidates(text)

    assert str(refused.value) == (
        "card 1's NOTE holds 1,001 characters; Outreach reads at most 1,000 in one field. "
        "Shorten it and try again"
    )


def test_a_vcard_photo_is_passed_over_not_refused() -> None:
    photo = "PHOTO;ENCODING=b;TYPE=JPEG:" + "A" * 100_000
    candidates, problems = vcard_candidates(card(1, "EMAIL:p@example.test", photo))

    assert [c.get("email") for c in candidates] == ["p@example.test"]
    assert problems == []


def test_a_card_of_100000_emails_is_refused() -> None:
    emails = [f"EMAIL:p{n}@example.test" for n in range(100_000)]

    with pytest.raises(FileTooLarge, match="card 1 has more than 200 lines"):
        parse_vcards(card(1, *emails))


# --- the dashboard and the command line ---------------------------------------------------------


def _upload(browser: Browser, data: bytes, filename: str) -> tuple[int, str]:
    response = browser.post(
        "/contacts/import",
        {"file": (io.BytesIO(data), filename)},
        page="/contacts/import",
        content_type="multipart/form-data",
    )
    return response.status_code, response.get_data(as_text=True)


def test_the_dashboard_refuses_the_100000_column_file_on_the_upload_page(
    signed_in: Browser, settings: Settings
) -> None:
    data = (WIDE_HEADER + "\n").encode()
    tracemalloc.start()
    try:
        status, page = _upload(signed_in, data, "wide.csv")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert status == 400
    assert (
        "This file has 100,000 columns; Outreach reads at most 200. "
        "Save only the columns you need and try again." in page
    )
    # Nothing kept for a later step: no import was started.
    assert not list((settings.instance_dir / "imports").glob("*.json"))
    # The upload itself is 300 KB; the mapping page of it once took 550 MB.
    assert peak < 40_000_000, f"{peak:,} bytes"


def test_the_dashboard_refuses_a_vcard_with_a_long_value(
    signed_in: Browser, session: Session
) -> None:
    status, page = _upload(
        signed_in, card(1, "EMAIL:p@example.test", "TITLE:" + "t" * 2_000).encode(), "p.vcf"
    )

    assert status == 400
    assert "Card 1&#39;s TITLE holds 2,000 characters; Outreach reads at most 1,000" in page
    assert session.scalar(select(func.count()).select_from(Contact)) == 0


def test_the_command_line_refuses_a_file_beyond_the_cap_without_reading_it_all(
    tmp_path: Path, settings: Settings, user: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("outreach.cli.contacts.LIMITS", ReadLimits(characters=1_000))
    path = tmp_path / "big.csv"
    path.write_text("Email Address\n" + "a@example.test\n" * 1_000)
    env = {
        "OUTREACH_INSTANCE_DIR": str(settings.instance_dir),
        "OUTREACH_DATABASE_URL": settings.database_url,
        "OUTREACH_SECRET_KEY": settings.secret_key,
        "OUTREACH_ENCRYPTION_KEYS": ",".join(settings.encryption_keys),
    }

    result = CliRunner().invoke(
        outreach, ["contacts", "import", "--user", user.email, str(path)], env=env
    )

    assert result.exit_code == 1
    assert "big.csv holds more than 1,000 characters; Outreach reads at most 1,000" in (
        result.output
    )


def test_the_command_line_gives_the_columns_sentence(
    tmp_path: Path, settings: Settings, user: User
) -> None:
    path = tmp_path / "wide.csv"
    path.write_text(WIDE_HEADER + "\n")
    env = {
        "OUTREACH_INSTANCE_DIR": str(settings.instance_dir),
        "OUTREACH_DATABASE_URL": settings.database_url,
        "OUTREACH_SECRET_KEY": settings.secret_key,
        "OUTREACH_ENCRYPTION_KEYS": ",".join(settings.encryption_keys),
    }

    result = CliRunner().invoke(
        outreach, ["contacts", "import", "--user", user.email, str(path)], env=env
    )

    assert result.exit_code == 1
    assert "Error: this file has 100,000 columns; Outreach reads at most 200." in result.output
