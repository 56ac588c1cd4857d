"""Importing contacts in Chromium: mapping unknown columns, checking, and the progress bar."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, Route, expect
from sqlalchemy import func, select

from outreach.models import Contact
from tests.browser.conftest import LiveApp
from tests.browser.live import VIEWPORT, log_in

pytestmark = pytest.mark.browser

SHOTS = Path("/tmp/shots")
ROWS = 5_000
BAD_ROWS = 50


def big_csv() -> str:
    """5,000 people under French column names; every 100th row is broken (50 in all)."""
    lines = ["Nom,Courriel,Entreprise,Poste,Téléphone"]
    for n in range(1, ROWS + 1):
        if n % 100 == 0:
            address = "" if n % 200 == 0 else f"personne{n}-at-example.org"
        else:
            address = f"personne{n}@example.org"
        lines.append(f"Personne {n},{address},Société {n % 37},Analyste,+33 1 23 45 {n:04d}")
    return "\n".join(lines) + "\n"


def shoot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SHOTS / f"{name}.png", full_page=True)


def test_a_large_file_is_mapped_checked_and_imported_with_progress(
    page: Page, live_app: LiveApp, tmp_path: Path
) -> None:
    csv_path = tmp_path / "contacts.csv"
    csv_path.write_text(big_csv(), encoding="utf-8")
    log_in(page, live_app.url, live_app.seeded.email)
    page.get_by_role("link", name="Contacts", exact=True).click()
    page.get_by_role("link", name="Import contacts").click()
    shoot(page, "import-upload")

    page.get_by_label("CSV or vCard file").set_input_files(csv_path)
    page.get_by_role("button", name="Read the file").click()

    # Nothing recognised: the person says which column is which, seeing the first rows.
    expect(page.get_by_role("heading", name="Which column is which?")).to_be_visible()
    expect(page.locator("#column-mapping")).to_contain_text("personne1@example.org")
    page.get_by_label("Nom").select_option("name")
    page.get_by_label("Courriel").select_option("email")
    page.get_by_label("Entreprise").select_option("organisation")
    page.get_by_label("Poste").select_option("role")
    shoot(page, "import-columns")
    page.set_viewport_size({"width": 390, "height": 844})
    shoot(page, "import-columns-phone")
    page.set_viewport_size(VIEWPORT)
    page.get_by_role("button", name="Check the rows").click()

    expect(page.get_by_role("heading", name="Check before importing")).to_be_visible()
    expect(page.locator("#check-new")).to_have_text("4,950")
    expect(page.locator("#check-problems")).to_have_text(str(BAD_ROWS))
    errors = page.locator("#import-errors tbody tr")
    expect(errors).to_have_count(BAD_ROWS)
    expect(errors.first).to_have_text(
        re.compile(r"Line 101\s*'personne100-at-example.org' is not a valid email address.")
    )
    expect(page.locator('#import-errors tr[data-row="201"]')).to_contain_text("No email address.")
    expect(page.locator("#mapping-summary")).to_contain_text("Téléphone → left out")
    shoot(page, "import-check")
    with live_app.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Contact)) == 3  # only the seed

    # Hold the ninth slice back, to see the bar part-way.
    held: list[Route] = []

    steps: list[Route] = []

    def hold_ninth(route: Route) -> None:
        steps.append(route)
        if len(steps) == 9:
            held.append(route)
        else:
            route.continue_()

    page.route("**/step", hold_ninth)
    page.get_by_role("button", name="Import 4,950 contacts, skip 50 rows").click()
    progress = page.locator("#import-progress-text")
    expect(progress).to_have_text("Stored 2,000 of 5,000 rows (40%)…", timeout=30_000)
    expect(page.locator("#import-progress-bar")).to_have_attribute("value", "40")
    expect(page.get_by_role("button", name=re.compile("^Import"))).to_be_disabled()
    shoot(page, "import-progress")
    held[0].continue_()

    page.wait_for_url(re.compile(r"/contacts/import/[\w-]+$"), timeout=60_000)
    expect(page.get_by_role("heading", name="Import finished")).to_be_visible(timeout=60_000)
    expect(page.locator("#import-created")).to_have_text("4,950")
    expect(page.locator("#import-error-count")).to_have_text(str(BAD_ROWS))
    expect(page.locator("#import-errors tbody tr")).to_have_count(BAD_ROWS)
    shoot(page, "import-done")
    assert len(steps) == ROWS // 250
    with live_app.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Contact)) == 3 + ROWS - BAD_ROWS
        stored = session.scalar(select(Contact).where(Contact.email == "personne4999@example.org"))
        assert stored is not None
        assert (stored.name, stored.organisation, stored.role) == (
            "Personne 4999",
            "Société 4",
            "Analyste",
        )


def test_without_scripts_the_import_still_finishes(
    browser: Browser, live_app: LiveApp, tmp_path: Path
) -> None:
    vcf = tmp_path / "contacts.vcf"
    vcf.write_text(
        "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Grace Hopper\r\n"
        "EMAIL;TYPE=INTERNET:grace@navy.example\r\nORG:US Navy\r\nEND:VCARD\r\n"
        "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Jane Doe\r\nEND:VCARD\r\n",
        encoding="utf-8",
    )
    context = browser.new_context(
        viewport=VIEWPORT, base_url=live_app.url, java_script_enabled=False
    )
    context.set_default_timeout(5_000)
    page = context.new_page()
    try:
        log_in(page, live_app.url, live_app.seeded.email)
        page.goto("/contacts/import")
        page.get_by_label("CSV or vCard file").set_input_files(vcf)
        page.get_by_role("button", name="Read the file").click()
        expect(page.locator("#import-errors")).to_contain_text("Card 2 (Jane Doe)")

        page.get_by_role("button", name="Import 1 contact, skip 1 card").click()

        expect(page.get_by_role("heading", name="Import finished")).to_be_visible()
        expect(page.locator("#import-created")).to_have_text("1")
        shoot(page, "import-done-vcard")
    finally:
        context.close()
