"""A newcomer tries the sandbox: every outcome reaches the board through real processes.

`outreach web`, `worker`, `poller` and `sandbox` run as in `make run`. The person
signs up and presses "Try it with the sandbox"; the requests go out through the
sandbox's SMTP server, the simulated contacts answer into its IMAP INBOX, and the
real poller and scheduler move them on the board: replied, declined, bounced, an
away pause, and (a compressed business day later, twice) no reply.

The sandbox's delays are shortened by its settings (answers within 1.5 s, a
business day of 3 s) so the whole story fits in well under a minute.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from playwright.sync_api import sync_playwright
from redis import Redis
from sqlalchemy import create_engine, select, update
from sqlalchemy.orm import Session

from outreach.models import Contact, Event, Mailbox, User
from outreach.rules.sandbox_addresses import SANDBOX_LABEL
from tests.browser.live import VIEWPORT, launch_chromium, log_in
from tests.e2e.test_loop import Browser, Processes, wait_until
from tests.servers.net import free_ports, wait_for_port
from tests.servers.redis import RedisServer

EMAIL = "sam.student@uni.example"
PASSWORD = "a long phrase"
SHOTS = Path("/tmp/shots")


@pytest.fixture
def sandbox_processes(tmp_path: Path, redis_server: RedisServer) -> Iterator[Processes]:
    redis = Redis.from_url(redis_server.url)
    redis.flushdb()
    web_port, smtp_port, imap_port = free_ports(3)
    env = {
        **os.environ,
        "OUTREACH_INSTANCE_DIR": str(tmp_path / "instance"),
        "OUTREACH_DATABASE_URL": f"sqlite:///{tmp_path / 'instance' / 'outreach.sqlite'}",
        "OUTREACH_REDIS_URL": redis_server.url,
        "OUTREACH_SECRET_KEY": "sandbox-e2e-secret",
        "OUTREACH_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "OUTREACH_POLL_INTERVAL": "0.5",
        "OUTREACH_SWEEP_INTERVAL": "1",
        "OUTREACH_PORT": str(web_port),
        "OUTREACH_SANDBOX_SMTP_PORT": str(smtp_port),
        "OUTREACH_SANDBOX_IMAP_PORT": str(imap_port),
        "OUTREACH_SANDBOX_REPLY_DELAY": "0.5-1.5",
        "OUTREACH_SANDBOX_DAY_SECONDS": "3",
    }
    env.pop("OUTREACH_CLOCK_OFFSET_FILE", None)
    logs = tmp_path / "logs"
    logs.mkdir()
    procs = Processes(env, logs, [])
    procs.run("db", "upgrade")
    try:
        yield procs
    finally:
        procs.stop_all()
        redis.flushdb()
        redis.close()


def _states(page: str) -> dict[int, str]:
    return {
        int(contact): state
        for contact, state in re.findall(r'data-contact-id="(\d+)"[^>]*data-state="(\w+)"', page)
    }


def _row(page: str, contact_id: int) -> str:
    found = re.search(rf'<tr data-contact-id="{contact_id}".*?</tr>', page, re.S)
    return found.group(0) if found else ""


def _screenshot_board(base_url: str) -> None:
    """The board as the newcomer sees it now, for /tmp/shots and the README."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        chromium = launch_chromium(playwright)
        try:
            page = chromium.new_page(viewport=VIEWPORT)
            log_in(page, base_url, EMAIL, PASSWORD)
            page.locator("#status-board").scroll_into_view_if_needed()
            page.screenshot(path=SHOTS / "sandbox-outcomes.png", full_page=True)
        finally:
            chromium.close()


def test_a_newcomer_sees_every_outcome_of_the_sandbox_on_the_board(
    sandbox_processes: Processes,
) -> None:
    procs = sandbox_processes
    env = procs.env
    port = int(env["OUTREACH_PORT"])
    web = procs.start("web", "web")
    wait_for_port("127.0.0.1", port, timeout=20, proc=web, log_path=procs.logs / "web.log")
    sandbox = procs.start("sandbox", "sandbox")
    for sandbox_port in (env["OUTREACH_SANDBOX_SMTP_PORT"], env["OUTREACH_SANDBOX_IMAP_PORT"]):
        wait_for_port(
            "127.0.0.1",
            int(sandbox_port),
            timeout=20,
            proc=sandbox,
            log_path=procs.logs / "sandbox.log",
        )
    procs.start("worker", "worker")
    procs.start("poller", "poller")
    browser = Browser(f"http://127.0.0.1:{port}", procs.logs_text)

    browser.post(
        "/signup", "/signup", {"name": "Sam Student", "email": EMAIL, "password": PASSWORD}
    )
    browser.post("/login", "/login", {"email": EMAIL, "password": PASSWORD})
    engine = create_engine(env["OUTREACH_DATABASE_URL"])
    try:
        with Session(engine) as session:
            # Approval through the core's own switch, as a person would set it on Profile.
            session.execute(
                update(User).where(User.email == EMAIL).values(auto_approve="request follow_up")
            )
            session.commit()

        mailbox_page = browser.get("/mailbox")
        assert 'data-action="try-sandbox"' in mailbox_page
        board = browser.post("/sandbox", "/mailbox", {})
        assert SANDBOX_LABEL in board and 'id="sandbox-banner"' in board
        assert "business day lasts 3 seconds" in board

        with Session(engine) as session:
            mailbox = session.scalar(select(Mailbox))
            assert mailbox is not None and mailbox.email_address.endswith(
                "@outreach-sandbox.invalid"
            )
            by_email = {c.email: c.id for c in session.scalars(select(Contact))}
        maya = by_email["agrees.maya.chen@people.outreach-sandbox.invalid"]
        tom = by_email["declines.tom.okafor@people.outreach-sandbox.invalid"]
        lena = by_email["away.lena.fischer@people.outreach-sandbox.invalid"]
        raj = by_email["bounces.raj.patel@people.outreach-sandbox.invalid"]
        sofia = by_email["silent.sofia.alvarez@people.outreach-sandbox.invalid"]

        seen: dict[int, set[str]] = {}
        away_seen: list[str] = []

        def board_shows_everything() -> bool:
            page = browser.get("/")
            for contact, state in _states(page).items():
                seen.setdefault(contact, set()).add(state)
            if "away until" in _row(page, lena) and not away_seen:
                away_seen.append(_row(page, lena))
            return (
                "replied" in seen.get(maya, set())
                and "declined" in seen.get(tom, set())
                and "bounced" in seen.get(raj, set())
                and "no_reply" in seen.get(sofia, set())
                and bool(away_seen)
            )

        def what_was_seen() -> str:
            names = {maya: "Maya", tom: "Tom", lena: "Lena", raj: "Raj", sofia: "Sofia"}
            states = {names.get(c, c): sorted(s) for c, s in seen.items()}
            return f"states seen: {states}; away shown: {bool(away_seen)}\n{procs.logs_text()}"

        wait_until(board_shows_everything, 75, "every sandbox outcome on the board", what_was_seen)
        assert "clock paused" in away_seen[0]

        # The compressed time is said where it happened, on Sofia's timeline.
        with Session(engine) as session:
            compressed = session.scalars(
                select(Event.detail).where(
                    Event.contact_id == sofia, Event.kind == "sandbox:time_compressed"
                )
            ).all()
        assert len(compressed) >= 2, compressed
        assert all("business day passed in 3 seconds" in detail for detail in compressed)
        # The next names were drafted (and, auto-approved, sent) as places freed up.
        assert len(seen) > 5
        _screenshot_board(f"http://127.0.0.1:{port}")
    finally:
        engine.dispose()
