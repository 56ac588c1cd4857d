"""Fixtures for the browser tests: one Chromium for the folder, a live dashboard per test.

Playwright's sync API is used directly (no pytest-playwright). Chromium is
Debian's, at /usr/bin/chromium; a missing browser fails the run, it is never
skipped.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from playwright.sync_api import Browser, Page, sync_playwright
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from outreach.config import Settings
from outreach.crypto import SecretBox
from tests.browser.live import (
    CHROMIUM,
    MISSING_CHROMIUM,
    REPO,
    VIEWPORT,
    Seeded,
    launch_chromium,
    seed_dashboard,
    serving,
)
from web.app import create_app
from web.state import EXTENSION_KEY

SCREENSHOTS = REPO / "test-artifacts" / "screenshots"


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    """One headless Chromium for every test in this folder.

    Package scope rather than session scope on purpose: while Playwright's sync
    API is started, its event loop counts as running in the main thread, so any
    later test calling asyncio.run() (the SMTP sender does) would fail. The
    browser and Playwright stop as soon as the last browser test is done.
    """
    if not CHROMIUM.exists():
        pytest.fail(MISSING_CHROMIUM, pytrace=False)
    with sync_playwright() as playwright:
        chromium = launch_chromium(playwright)
        try:
            yield chromium
        finally:
            chromium.close()


@dataclass(frozen=True)
class LiveApp:
    url: str
    seeded: Seeded
    # The test's own sessions on the same database, to check what was stored.
    sessions: sessionmaker[Session]


@pytest.fixture
def live_app(
    settings: Settings,
    engine: Engine,
    session_factory: sessionmaker[Session],
    secret_box: SecretBox,
) -> Iterator[LiveApp]:
    """The dashboard on the test's database, seeded, served over real HTTP in a thread.

    `settings` carries no OUTREACH_REDIS_URL, so approving cannot queue a send.
    """
    with session_factory() as session:
        seeded = seed_dashboard(session, secret_box, datetime.now(UTC))
        session.commit()
    app = create_app(settings)
    try:
        with serving(app) as url:
            yield LiveApp(url=url, seeded=seeded, sessions=session_factory)
    finally:
        app.extensions[EXTENSION_KEY].close()


@pytest.fixture
def page(browser: Browser, live_app: LiveApp, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A fresh browser context (no cookies) on the live app; a full-page screenshot at the end.

    The screenshot goes to test-artifacts/screenshots/<test name>.png, also when
    the test failed, to show what the page looked like.
    """
    context = browser.new_context(viewport=VIEWPORT, base_url=live_app.url)
    context.set_default_timeout(5_000)
    page = context.new_page()
    try:
        yield page
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=SCREENSHOTS / f"{request.node.name}.png", full_page=True)
    finally:
        context.close()
