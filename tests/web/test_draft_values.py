"""A draft missing a value asks for it in words, right on the drafts page (issue 14, item 1)."""

from __future__ import annotations

import re

import pytest
from sqlalchemy.orm import Session

from outreach.crypto import SecretBox
from outreach.models import Contact, Message, MessageKind, MessageStatus, Template, User
from tests.factories import make_contact, make_mailbox, make_user
from tests.web.conftest import Browser, start_target


def reload(session: Session, message: Message) -> Message:
    session.expire_all()
    fresh = session.get(Message, message.id)
    assert fresh is not None
    return fresh


def article(page: str, message_id: int) -> str:
    return page.split(f'id="draft-{message_id}"')[1].split("</article>")[0]


def approve_button(draft: str) -> str:
    button = re.search(r'<button type="submit" name="approve"[^>]*>', draft)
    assert button is not None
    return button.group(0)


def assert_no_template_code(page: str) -> None:
    assert "{{" not in page
    assert "{%" not in page


@pytest.fixture
def dana_draft(user: User, session: Session, secret_box: SecretBox) -> Message:
    """A LinkedIn-style contact: no "how you found them", so the request has a gap."""
    make_mailbox(session, user, secret_box)
    dana = make_contact(session, user, name="Dana Reyes", email="dana@lab.example", how_found="")
    _, [draft] = start_target(session, user, [dana])
    session.commit()
    return draft


def test_a_missing_value_is_a_gap_in_words_and_a_field_to_fill_in(
    signed_in: Browser, dana_draft: Message
) -> None:
    assert dana_draft.needs == "how_found"
    assert dana_draft.error == "it needs how you found Dana"
    assert "I came across your name through [how you found Dana]." in dana_draft.body_text

    page = signed_in.page("/drafts")

    assert_no_template_code(page)
    draft = article(page, dana_draft.id)
    assert "This draft cannot be approved yet.</strong> It needs how you found Dana." in draft
    assert f'action="/drafts/{dana_draft.id}/values"' in draft
    assert f'<label for="value-{dana_draft.id}-how_found">How did you find Dana?</label>' in draft
    assert "disabled" in approve_button(draft)
    assert 'through <mark class="gap">[how you found Dana]</mark>. I am' in draft


def test_filling_the_field_saves_it_on_the_contact_and_writes_the_draft_again(
    signed_in: Browser, dana_draft: Message, session: Session
) -> None:
    response = signed_in.post(
        f"/drafts/{dana_draft.id}/values",
        {"how_found": "  the  alumni network on LinkedIn "},
        page="/drafts",
    )

    assert response.status_code == 302
    assert response.headers["Location"] == f"/drafts#draft-{dana_draft.id}"
    fresh = reload(session, dana_draft)
    assert fresh.needs == ""
    assert fresh.error is None
    assert "I came across your name through the alumni network on LinkedIn." in fresh.body_text
    contact = session.get(Contact, fresh.contact_id)
    assert contact is not None and contact.how_found == "the alumni network on LinkedIn"
    page = signed_in.page("/drafts")
    assert "Saved on Dana Reyes&#39;s details, and the draft is filled in" in page
    assert_no_template_code(page)
    draft = article(page, dana_draft.id)
    assert "disabled" not in approve_button(draft)
    assert 'data-action="give-values"' not in draft


@pytest.mark.parametrize(
    ("answer", "problem"),
    [
        ("   ", "Write how you found Dana in the box first."),
        ("x" * 301, "How you found Dana is too long: 300 characters at most."),
        ("the fair\x07", "control character"),
    ],
)
def test_a_bad_answer_is_refused_in_words_and_nothing_changes(
    signed_in: Browser, dana_draft: Message, session: Session, answer: str, problem: str
) -> None:
    response = signed_in.post(
        f"/drafts/{dana_draft.id}/values",
        {"how_found": answer},
        page="/drafts",
        follow_redirects=True,
    )

    assert response.status_code == 200
    assert problem in response.get_data(as_text=True)
    fresh = reload(session, dana_draft)
    assert fresh.needs == "how_found"
    contact = session.get(Contact, fresh.contact_id)
    assert contact is not None and contact.how_found == ""


def test_an_edited_draft_keeps_its_text_the_answer_goes_in_its_gap_and_refill_is_offered(
    signed_in: Browser, dana_draft: Message, session: Session
) -> None:
    signed_in.post(
        f"/drafts/{dana_draft.id}",
        {
            "subject": "A question from a fellow biologist",
            "body": "Dear Dana,\r\n\r\nI found you through [how you found Dana]. My own words.",
        },
        page=f"/drafts/{dana_draft.id}",
    )
    assert reload(session, dana_draft).needs == "how_found"

    signed_in.post(f"/drafts/{dana_draft.id}/values", {"how_found": "the fair"}, page="/drafts")

    fresh = reload(session, dana_draft)
    assert fresh.body_text == "Dear Dana,\n\nI found you through the fair. My own words.\n"
    assert fresh.subject == "A question from a fellow biologist"
    assert fresh.error is None
    page = signed_in.page("/drafts")
    assert "You had edited this draft, so your own text was kept" in page
    draft = article(page, dana_draft.id)
    assert f'action="/drafts/{dana_draft.id}/refill"' in draft

    signed_in.post(f"/drafts/{dana_draft.id}/refill", {}, page="/drafts")

    fresh = reload(session, dana_draft)
    assert "I came across your name through the fair." in fresh.body_text
    assert "My own words" not in fresh.body_text
    assert f'action="/drafts/{dana_draft.id}/refill"' not in article(
        signed_in.page("/drafts"), dana_draft.id
    )


def test_editing_the_gap_away_by_hand_lifts_the_need(
    signed_in: Browser, dana_draft: Message, session: Session
) -> None:
    signed_in.post(
        f"/drafts/{dana_draft.id}",
        {"subject": "Hello", "body": "Dear Dana,\r\n\r\nWe met at the fair."},
        page=f"/drafts/{dana_draft.id}",
    )

    fresh = reload(session, dana_draft)
    assert fresh.needs == ""
    assert fresh.error is None


def test_approving_a_draft_that_needs_a_value_is_refused_in_words(
    signed_in: Browser, dana_draft: Message, session: Session
) -> None:
    response = signed_in.post(
        f"/drafts/{dana_draft.id}/approve", page="/drafts", follow_redirects=True
    )

    assert "This draft cannot be approved: it needs how you found Dana." in response.get_data(
        as_text=True
    )
    assert reload(session, dana_draft).status is MessageStatus.DRAFT


def test_someone_elses_draft_cannot_be_filled_in(
    signed_in: Browser, session: Session, secret_box: SecretBox
) -> None:
    other = make_user(session)
    make_mailbox(session, other, secret_box)
    theirs = make_contact(session, other, name="Eve Else", how_found="")
    _, [draft] = start_target(session, other, [theirs])
    session.commit()

    response = signed_in.post(f"/drafts/{draft.id}/values", {"how_found": "x"}, page="/drafts")
    assert response.status_code == 404
    response = signed_in.post(f"/drafts/{draft.id}/refill", {}, page="/drafts")
    assert response.status_code == 404
    contact = session.get(Contact, theirs.id)
    assert contact is not None and contact.how_found == ""


def test_a_template_that_cannot_be_used_gives_a_draft_in_words_not_code(
    signed_in: Browser, user: User, session: Session, secret_box: SecretBox
) -> None:
    make_mailbox(session, user, secret_box)
    session.add(
        Template(
            user_id=user.id,
            kind=MessageKind.REQUEST,
            subject="About {{ target }}",
            body="Dear {{ first_name }}, {% if how_found %}about {{ nonsense() }}{% endif %}",
        )
    )
    person = make_contact(session, user, name="Tess Template")
    _, [draft] = start_target(session, user, [person])
    session.commit()

    assert draft.body_text == ""
    page = signed_in.page("/drafts")
    assert_no_template_code(page)
    assert "The template for this message could not be used" in article(page, draft.id)
