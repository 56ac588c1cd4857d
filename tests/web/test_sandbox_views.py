"""The sandbox in the dashboard: who is offered it, and what every page then says."""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy import select
from sqlalchemy.orm import Session

from outreach.config import Settings
from outreach.crypto import SecretBox
from outreach.models import Contact, Mailbox, User
from outreach.rules.sandbox_addresses import SANDBOX_LABEL
from tests.factories import make_mailbox
from tests.web.conftest import Browser, build_app


def test_the_offer_leads_to_the_board_and_every_page_then_says_sandbox(
    signed_in: Browser, session: Session, user: User
) -> None:
    assert 'data-action="try-sandbox"' in signed_in.page("/mailbox")
    assert 'id="sandbox-banner"' not in signed_in.page("/contacts")

    response = signed_in.post("/sandbox", page="/mailbox")
    assert response.status_code == 302 and response.headers["Location"] == "/"
    for path in ("/", "/contacts", "/mailbox", "/drafts"):
        page = signed_in.page(path)
        assert 'id="sandbox-banner"' in page and SANDBOX_LABEL in page, path
    contacts = session.scalars(select(Contact).where(Contact.user_id == user.id)).all()
    assert len(contacts) == 12


def test_the_offer_is_a_post_with_its_csrf_token(signed_in: Browser, session: Session) -> None:
    assert signed_in.client.get("/sandbox").status_code == 405
    assert signed_in.client.post("/sandbox", data={}).status_code == 400
    assert session.scalar(select(Mailbox)) is None


def test_someone_with_a_real_mailbox_is_not_offered_the_sandbox(
    signed_in: Browser, session: Session, user: User, secret_box: SecretBox
) -> None:
    make_mailbox(session, user, secret_box)
    session.commit()
    assert 'data-action="try-sandbox"' not in signed_in.page("/mailbox")
    refused = signed_in.post("/sandbox", page="/mailbox", follow_redirects=True)
    assert "already connected" in refused.get_data(as_text=True)
    assert len(session.scalars(select(Mailbox)).all()) == 1


def test_outreach_sandbox_off_offers_nothing(
    settings: Settings, session: Session, user: User
) -> None:
    for app in build_app(replace(settings, sandbox_enabled=False)):
        browser = Browser(app.test_client())
        browser.login(user.email)
        assert 'data-action="try-sandbox"' not in browser.page("/mailbox")
        browser.post("/sandbox", page="/mailbox")
        assert session.scalar(select(Mailbox)) is None
