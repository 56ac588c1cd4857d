"""Write the README's screenshots: docs/images/status-board.png and docs/images/approvals.png.

    .venv/bin/python -m tests.browser.make_readme_screenshots

A throwaway instance in a temporary folder is seeded with a realistic month
(live.seed_showcase: drafted, waiting, followed up, replied, bounced, no reply,
on the list), served on 127.0.0.1 and photographed by Debian's Chromium at
1280 px wide, logged in through the login form. Nothing else is written.
"""

from __future__ import annotations

import logging
import secrets
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from cryptography.fernet import Fernet
from playwright.sync_api import Page, sync_playwright

from outreach.config import Settings
from outreach.crypto import SecretBox
from outreach.db import make_engine, make_sessionmaker
from outreach.models import Base
from tests.browser.live import (
    CHROMIUM,
    MISSING_CHROMIUM,
    REPO,
    VIEWPORT,
    Seeded,
    launch_chromium,
    log_in,
    seed_showcase,
    serving,
)
from web.app import create_app
from web.state import EXTENSION_KEY

IMAGES = REPO / "docs" / "images"


def _seeded_settings(folder: Path) -> tuple[Settings, Seeded]:
    settings = Settings.from_env(
        {
            "OUTREACH_INSTANCE_DIR": str(folder),
            "OUTREACH_DATABASE_URL": f"sqlite:///{folder / 'outreach.sqlite'}",
            "OUTREACH_SECRET_KEY": secrets.token_urlsafe(32),
            "OUTREACH_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        }
    )
    engine = make_engine(settings.database_url)
    try:
        Base.metadata.create_all(engine)
        with make_sessionmaker(engine)() as session:
            box = SecretBox(settings.encryption_keys)
            seeded = seed_showcase(session, box, datetime.now(UTC))
            session.commit()
    finally:
        engine.dispose()
    return settings, seeded


def _shoot(page: Page, name: str) -> Path:
    # The pointer would otherwise rest where the last click was and highlight a row.
    page.mouse.move(0, 0)
    path = IMAGES / name
    page.screenshot(path=path, full_page=True)
    return path


def main() -> int:
    if not CHROMIUM.exists():
        print(MISSING_CHROMIUM, file=sys.stderr)
        return 1
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    IMAGES.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    with tempfile.TemporaryDirectory(prefix="outreach-screenshots-") as folder:
        settings, seeded = _seeded_settings(Path(folder))
        app = create_app(settings)
        try:
            with serving(app) as url, sync_playwright() as playwright:
                browser = launch_chromium(playwright)
                try:
                    context = browser.new_context(viewport=VIEWPORT, base_url=url)
                    page = context.new_page()
                    log_in(page, url, seeded.email)
                    written.append(_shoot(page, "status-board.png"))
                    page.get_by_role("navigation", name="Main").get_by_role(
                        "link", name="Drafts"
                    ).click()
                    page.wait_for_url(f"{url}/drafts")
                    written.append(_shoot(page, "approvals.png"))
                    context.close()
                finally:
                    browser.close()
        finally:
            app.extensions[EXTENSION_KEY].close()
    for path in written:
        print(path.relative_to(REPO))
    return 0


if __name__ == "__main__":
    sys.exit(main())
