"""The approvals queue: drafts shown as they will be sent, approve (then queue), edit, discard."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import pytest
from flask import Flask
from redis import Redis
from rq import Queue
from rq.job import Job
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from outreach.config import Settings
from outreach.crypto import SecretBox
from outreach.models import Message, MessageStatus, Outreach, User
from outreach.rules.states import OutreachState
from tests.factories import make_contact, make_mailbox
from tests.servers.net import free_port
from tests.web.conftest import PASSWORD, Browser, build_app, start_target
from workers.queues import SEND_QUEUE, send_job_id


def reload(session: Session, message: Message) -> Message:
    session.expire_all()
    fresh = session.get(Message, message.id)
    assert fresh is not None
    return fresh


def approve_button(page: str, message_id: int) -> str:
    article = page.split(f'id="draft-{message_id}"')[1].split("</article>")[0]
    button = re.search(r'<button type="submit" name="approve"[^>]*>', article)
    assert button is not None
    return button.group(0)


@pytest.fixture
def ready_draft(user: User, session: Session, secret_box: SecretBox) -> Message:
    """A request draft with nothing missing, and a mailbox to send it from."""
    make_mailbox(session, user, secret_box)
    contact = make_contact(session, user, name="Ada Able", email="ada@lab.example")
    _, [draft] = start_target(session, user, [contact])
    session.commit()
    return draft


@pytest.fixture
def broken_draft(session: Session, secret_box: SecretBox, user: User) -> Message:
    """No introduction on the user, no "how found" on the contact: the draft has a problem."""
    user.introduction = ""
    make_mailbox(session, user, secret_box)
    contact = make_contact(session, user, name="Hal Hidden", how_found="")
    _, [draft] = start_target(session, user, [contact])
    session.commit()
    return draft


def test_a_draft_is_shown_as_it_will_be_sent(signed_in: Browser, ready_draft: Message) -> None:
    page = signed_in.page("/drafts")

    assert f'data-message-id="{ready_draft.id}"' in page
    assert 'data-has-problem="false"' in page
    assert "Ada Able &lt;ada@lab.example&gt;" in page
    assert "Could I ask your advice about science policy?" in page
    assert '<pre class="message-body">Dear Ada,' in page
    assert "disabled" not in approve_button(page, ready_draft.id)
    assert f'action="/drafts/{ready_draft.id}/approve"' in page


def test_a_draft_with_a_missing_variable_shows_the_problem_and_cannot_be_approved(
    signed_in: Browser, broken_draft: Message, session: Session
) -> None:
    assert broken_draft.error is not None
    page = signed_in.page("/drafts")

    assert 'data-has-problem="true"' in page
    assert "This draft cannot be approved yet." in page
    assert "It needs how you found Hal and your 30-second introduction." in page
    assert "{{" not in page and "{%" not in page
    assert "disabled" in approve_button(page, broken_draft.id)

    # A hand-made POST is refused by the core all the same.
    response = signed_in.post(f"/drafts/{broken_draft.id}/approve", page="/drafts")

    assert response.status_code == 302
    assert "This draft cannot be approved" in signed_in.page("/drafts")
    fresh = reload(session, broken_draft)
    assert fresh.status is MessageStatus.DRAFT
    assert fresh.message_id is None


def test_editing_a_draft_can_fix_its_problem(
    signed_in: Browser, broken_draft: Message, session: Session
) -> None:
    page = signed_in.page(f"/drafts/{broken_draft.id}")
    assert 'id="edit-draft"' in page
    assert "I came across your name through [how you found Hal]." in page

    response = signed_in.post(
        f"/drafts/{broken_draft.id}",
        {
            "subject": "A question about policy work",
            "body": "Dear Hal,\r\n\r\nMet you at the fair.",
        },
        page=f"/drafts/{broken_draft.id}",
    )

    assert response.status_code == 302
    assert response.headers["Location"] == f"/drafts#draft-{broken_draft.id}"
    fresh = reload(session, broken_draft)
    assert fresh.error is None
    assert fresh.body_text == "Dear Hal,\n\nMet you at the fair.\n"
    page = signed_in.page("/drafts")
    assert "Draft saved." in page
    assert "disabled" not in approve_button(page, broken_draft.id)


def test_an_edit_that_leaves_a_placeholder_is_saved_with_a_warning(
    signed_in: Browser, ready_draft: Message, session: Session
) -> None:
    response = signed_in.post(
        f"/drafts/{ready_draft.id}",
        {"subject": "Hello", "body": "Dear {{ first_name }}, hello."},
        page=f"/drafts/{ready_draft.id}",
        follow_redirects=True,
    )

    assert "Saved, but it cannot be approved yet" in response.get_data(as_text=True)
    assert reload(session, ready_draft).error is not None


def test_an_empty_subject_is_refused(
    signed_in: Browser, ready_draft: Message, session: Session
) -> None:
    response = signed_in.post(
        f"/drafts/{ready_draft.id}",
        {"subject": "", "body": "text"},
        page=f"/drafts/{ready_draft.id}",
    )

    assert response.status_code == 400
    assert reload(session, ready_draft).subject.startswith("Could I ask")


def test_discarding_a_request_drafts_the_next_name(
    signed_in: Browser, user: User, session: Session, secret_box: SecretBox
) -> None:
    make_mailbox(session, user, secret_box)
    first = make_contact(session, user, name="First Person")
    second = make_contact(session, user, name="Second Person", email="second@org.example")
    _, [draft] = start_target(session, user, [first, second])
    session.commit()

    response = signed_in.post(f"/drafts/{draft.id}/discard", page="/drafts", follow_redirects=True)

    page = response.get_data(as_text=True)
    assert "Draft discarded. A request to Second Person is waiting for your approval" in page
    assert "Second Person &lt;second@org.example&gt;" in page
    assert reload(session, draft).status is MessageStatus.CANCELLED
    states = dict(session.execute(select(Outreach.contact_id, Outreach.state)).all())
    assert states == {first.id: OutreachState.STOPPED, second.id: OutreachState.DRAFTED}


def test_approving_needs_a_mailbox(signed_in: Browser, user: User, session: Session) -> None:
    _, [draft] = start_target(session, user, [make_contact(session, user)])
    session.commit()
    page = signed_in.page("/drafts")
    assert 'id="no-mailbox"' in page
    assert "disabled" in approve_button(page, draft.id)

    response = signed_in.post(f"/drafts/{draft.id}/approve", page="/drafts", follow_redirects=True)

    assert "Connect your mailbox before approving a message." in response.get_data(as_text=True)
    assert reload(session, draft).status is MessageStatus.DRAFT


# --- approval with a real Redis behind the send queue -------------------------------


@pytest.fixture
def queue_browser(redis_app: Flask, user: User) -> Browser:
    browser = Browser(redis_app.test_client())
    assert browser.login(user.email, PASSWORD).status_code == 302
    return browser


def send_queue(redis: Redis) -> Queue:
    return Queue(SEND_QUEUE, connection=redis)


def test_approve_fixes_the_message_id_and_queues_one_send_job(
    queue_browser: Browser, ready_draft: Message, session: Session, redis: Redis
) -> None:
    response = queue_browser.post(
        f"/drafts/{ready_draft.id}/approve", page="/drafts", follow_redirects=True
    )

    assert "Approved. The message to ada@lab.example is on its way." in response.get_data(
        as_text=True
    )
    fresh = reload(session, ready_draft)
    assert fresh.status is MessageStatus.APPROVED
    assert fresh.message_id is not None and re.fullmatch(
        r"<[^<>@]+@example\.test>", fresh.message_id
    )
    assert fresh.approved_at is not None
    assert send_queue(redis).job_ids == [send_job_id(ready_draft.id)]
    job = Job.fetch(send_job_id(ready_draft.id), connection=redis)
    assert job.func_name == "workers.jobs.send_message"
    assert job.args == (ready_draft.id,)


def test_approving_twice_queues_one_job(
    queue_browser: Browser, ready_draft: Message, session: Session, redis: Redis
) -> None:
    # The same rendered form posted twice: a double click.
    page = queue_browser.page("/drafts")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token is not None
    for _ in range(2):
        queue_browser.client.post(
            f"/drafts/{ready_draft.id}/approve", data={"csrf_token": token.group(1)}
        )

    assert "This message is approved, not a draft." in queue_browser.page("/drafts")
    assert send_queue(redis).job_ids == [send_job_id(ready_draft.id)]
    message_id = reload(session, ready_draft).message_id
    assert message_id is not None


def test_approve_selected_approves_what_it_can_and_says_why_not_the_rest(
    queue_browser: Browser, user: User, session: Session, secret_box: SecretBox, redis: Redis
) -> None:
    make_mailbox(session, user, secret_box)
    good = make_contact(session, user, name="Good Contact")
    fine = make_contact(session, user, name="Fine Contact")
    hidden = make_contact(session, user, name="Hidden Source", how_found="")
    _, drafts = start_target(session, user, [fine, good, hidden], max_in_flight=3)
    session.commit()
    by_name = {draft.contact.name: draft for draft in drafts if draft.contact}

    response = queue_browser.post(
        "/drafts/approve",
        {"message_ids": [str(draft.id) for draft in drafts]},
        page="/drafts",
        follow_redirects=True,
    )

    page = response.get_data(as_text=True)
    assert "2 messages approved for sending." in page
    assert "This draft cannot be approved: it needs how you found Hidden." in page
    assert reload(session, by_name["Good Contact"]).status is MessageStatus.APPROVED
    assert reload(session, by_name["Fine Contact"]).status is MessageStatus.APPROVED
    assert reload(session, by_name["Hidden Source"]).status is MessageStatus.DRAFT
    assert sorted(send_queue(redis).job_ids) == sorted(
        send_job_id(by_name[name].id) for name in ("Good Contact", "Fine Contact")
    )


def test_approve_selected_with_nothing_ticked_says_so(
    signed_in: Browser, ready_draft: Message
) -> None:
    response = signed_in.post("/drafts/approve", {}, page="/drafts", follow_redirects=True)

    assert "Tick the drafts to approve first." in response.get_data(as_text=True)


# --- when the queue cannot be reached, the approval still stands ---------------------


@pytest.fixture
def unreachable_app(settings: Settings, engine: Engine) -> Iterator[Flask]:
    """The dashboard pointed at a Redis port where nothing listens."""
    dead = Settings.from_env(
        {
            "OUTREACH_INSTANCE_DIR": str(settings.instance_dir),
            "OUTREACH_SECRET_KEY": settings.secret_key,
            "OUTREACH_ENCRYPTION_KEYS": ",".join(settings.encryption_keys),
            "OUTREACH_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0",
        }
    )
    yield from build_app(dead)


@pytest.mark.parametrize("app_fixture", ["unreachable_app", "app"])
def test_without_the_queue_the_approval_is_kept(
    request: pytest.FixtureRequest,
    app_fixture: str,
    user: User,
    ready_draft: Message,
    session: Session,
) -> None:
    # "app" has no OUTREACH_REDIS_URL at all; "unreachable_app" has one that refuses.
    browser = Browser(request.getfixturevalue(app_fixture).test_client())
    browser.login(user.email)
    started = time.monotonic()

    response = browser.post(
        f"/drafts/{ready_draft.id}/approve", page="/drafts", follow_redirects=True
    )

    assert time.monotonic() - started < 10
    assert response.status_code == 200
    assert "sending will start when the worker is back" in response.get_data(as_text=True)
    fresh = reload(session, ready_draft)
    assert fresh.status is MessageStatus.APPROVED
    assert fresh.message_id is not None


def test_a_long_queue_of_drafts_is_read_page_by_page(
    signed_in: Browser, session: Session, user: User
) -> None:
    people = [make_contact(session, user) for _ in range(30)]
    _, drafts = start_target(session, user, people, max_in_flight=30)
    session.commit()
    assert len(drafts) == 30

    first = signed_in.page("/drafts")
    second = signed_in.page("/drafts?page=2")

    assert first.count('<article class="draft') == 25
    assert second.count('<article class="draft') == 5
    assert "Showing 1–25 of 30 drafts" in first and 'rel="next"' in first
    assert "Showing 26–30 of 30 drafts" in second
    # Oldest first, each draft on exactly one page.
    shown = [f'id="draft-{draft.id}"' in first + second for draft in drafts]
    assert all(shown)
    assert f'id="draft-{drafts[0].id}"' in first and f'id="draft-{drafts[-1].id}"' in second


def test_approve_all_needs_the_form_token_and_approves_nothing_without_it(
    signed_in: Browser, ready_draft: Message, session: Session
) -> None:
    response = signed_in.client.post(
        "/drafts/approve-all", data={"message_ids": [str(ready_draft.id)]}
    )

    assert response.status_code in (302, 400)
    assert reload(session, ready_draft).status is MessageStatus.DRAFT


def test_approve_all_refuses_an_id_that_is_not_the_users(
    signed_in: Browser, ready_draft: Message, session: Session
) -> None:
    response = signed_in.post(
        "/drafts/approve-all",
        {"message_ids": [str(ready_draft.id), str(ready_draft.id + 1000)]},
        page="/drafts",
    )

    assert response.status_code == 404
    assert reload(session, ready_draft).status is MessageStatus.DRAFT
