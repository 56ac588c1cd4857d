"""The status board: every outreach as a row the end-to-end test can read."""

from __future__ import annotations

import re

from sqlalchemy.orm import Session

from outreach.crypto import SecretBox
from outreach.drafts import approve
from outreach.models import MessageStatus, User
from tests.conftest import NOW
from tests.factories import make_contact, make_mailbox
from tests.web.conftest import Browser, start_target


def rows(page: str) -> list[tuple[int, str]]:
    return [
        (int(contact), state)
        for contact, state in re.findall(
            r'<tr data-contact-id="(\d+)" data-target-id="\d+" data-state="(\w+)">', page
        )
    ]


def test_a_new_account_sees_the_three_first_steps(signed_in: Browser) -> None:
    page = signed_in.page("/")

    assert 'id="status-board"' not in page
    assert 'id="first-steps"' in page
    for link in ('href="/mailbox"', 'href="/contacts"', 'href="/targets"'):
        assert link in page


def test_steps_already_taken_are_marked_done(
    signed_in: Browser, user: User, session: Session, secret_box: SecretBox
) -> None:
    make_mailbox(session, user, secret_box)
    make_contact(session, user)
    session.commit()

    page = signed_in.page("/")

    assert '<li class="done" data-step="mailbox">' in page
    assert '<li class="done" data-step="contacts">' in page
    assert '<li class="" data-step="target">' in page


def test_every_outreach_is_a_row_with_its_state(
    signed_in: Browser, user: User, session: Session
) -> None:
    ada = make_contact(session, user, name="Ada Able", organisation="Archive Office")
    ben = make_contact(session, user, name="Ben Baker")
    start_target(session, user, [ada, ben], name="Archives")
    session.commit()

    page = signed_in.page("/")

    assert sorted(rows(page)) == sorted([(ada.id, "drafted"), (ben.id, "planned")])
    assert '<table id="status-board"' in page
    assert "waiting for your approval" in page
    assert f'href="/contacts/{ada.id}"' in page
    assert "Archive Office" in page
    assert '<span class="badge state-drafted">drafted</span>' in page


def test_the_board_filters_by_target_and_state(
    signed_in: Browser, user: User, session: Session
) -> None:
    ada = make_contact(session, user, name="Ada Able")
    ben = make_contact(session, user, name="Ben Baker")
    archives, _ = start_target(session, user, [ada], name="Archives")
    start_target(session, user, [ben], name="Botany")
    session.commit()

    assert rows(signed_in.page(f"/?target={archives.id}")) == [(ada.id, "drafted")]
    assert len(rows(signed_in.page("/?state=drafted"))) == 2
    assert rows(signed_in.page("/?state=replied")) == []
    assert "No one matches this filter." in signed_in.page("/?state=replied")
    # Nonsense in the query string shows everyone rather than failing.
    assert len(rows(signed_in.page("/?target=abc&state=nonsense"))) == 2


def test_every_page_shows_how_many_drafts_wait(
    signed_in: Browser, user: User, session: Session
) -> None:
    start_target(
        session, user, [make_contact(session, user), make_contact(session, user)], max_in_flight=2
    )
    session.commit()

    for path in ("/", "/contacts", "/targets", "/mailbox", "/profile", "/drafts"):
        page = signed_in.page(path)
        count = re.search(r'<span id="pending-drafts-count"[^>]*>(\d+)</span>', page)
        assert count is not None and count.group(1) == "2", path


def detail_of(page: str, contact_id: int) -> str:
    found = re.search(
        rf'<tr data-contact-id="{contact_id}".*?<td class="detail">(.*?)</td>', page, re.S
    )
    assert found is not None
    return found.group(1).strip()


def test_an_approved_request_is_in_the_outbox_not_waiting_for_approval(
    signed_in: Browser, user: User, session: Session, secret_box: SecretBox
) -> None:
    make_mailbox(session, user, secret_box)
    ada = make_contact(session, user, name="Ada Able")
    ben = make_contact(session, user, name="Ben Baker")
    target, [approved, drafted] = start_target(session, user, [ada, ben], max_in_flight=2)
    approve(session, user, approved.id, NOW)
    session.commit()

    page = signed_in.page("/")

    assert sorted(rows(page)) == sorted([(ada.id, "drafted"), (ben.id, "drafted")])
    assert detail_of(page, ada.id) == (
        '<a href="/outbox">approved; in the outbox, waiting to be sent</a>'
    )
    assert detail_of(page, ben.id) == '<a href="/drafts">waiting for your approval</a>'
    assert "approved; in the outbox" in signed_in.page(f"/contacts/{ada.id}")
    assert "approved; in the outbox" in signed_in.page(f"/targets/{target.id}")

    # The worker lost track of it after handing it over: the user is asked.
    approved.status = MessageStatus.UNKNOWN
    session.commit()
    page = signed_in.page("/")
    assert "may have been sent; the outbox needs your decision" in detail_of(page, ada.id)

    # Edited after approval, it is a draft again.
    approved.status = MessageStatus.DRAFT
    session.commit()
    assert "waiting for your approval" in detail_of(signed_in.page("/"), ada.id)
