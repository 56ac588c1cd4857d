"""The field phrase: asked for with every new target, confirmed for the old ones, and the
"why you" line on a contact: what the emails say, and the prompts until they are right."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from outreach.drafts import edit_draft
from outreach.models import Contact, Message, MessageStatus, Target, User
from tests.conftest import NOW
from tests.factories import make_contact, make_user
from tests.web.conftest import Browser, start_target


def test_a_new_target_needs_its_field_phrase_and_the_form_says_what_it_is(
    signed_in: Browser, user: User, session: Session
) -> None:
    ada = make_contact(session, user, name="Ada Able")
    session.commit()
    page = signed_in.page("/targets")
    assert "The field, as your emails say it" in page
    assert "It never appears in an email." in page

    response = signed_in.post(
        "/targets",
        {
            "name": "Museums (London list)",
            "contact_ids": [str(ada.id)],
            "max_in_flight": "1",
            "wait_business_days": "7",
        },
        page="/targets",
    )

    assert response.status_code == 400
    assert "Say in a few words what the field is" in response.get_data(as_text=True)
    assert session.scalar(select(Target)) is None

    signed_in.post(
        "/targets",
        {
            "name": "Museums (London list)",
            "field_phrase": "museum education",
            "contact_ids": [str(ada.id)],
            "max_in_flight": "1",
            "wait_business_days": "7",
        },
        page="/targets",
    )
    target = session.scalar(select(Target))
    assert target is not None
    assert (target.field_phrase, target.field_phrase_confirmed) == ("museum education", True)
    draft = session.scalar(select(Message).where(Message.status == MessageStatus.DRAFT))
    assert draft is not None
    assert draft.subject == "Could I ask your advice about museum education?"
    assert "London list" not in draft.subject + draft.body_text
    assert 'id="confirm-phrases"' not in signed_in.page("/targets")


def test_a_guessed_phrase_is_prompted_on_the_targets_page_and_the_draft_until_confirmed(
    signed_in: Browser, user: User, session: Session
) -> None:
    ada = make_contact(session, user, name="Ada Able")
    target, [draft] = start_target(session, user, [ada], name="Museums (London list)")
    session.commit()
    assert (target.field_phrase, target.field_phrase_confirmed) == ("museums", False)

    targets_page = signed_in.page("/targets")
    assert 'id="confirm-phrases"' in targets_page
    assert f'id="phrase-{target.id}" name="field_phrase" value="museums"' in targets_page
    drafts_page = signed_in.page("/drafts")
    assert f'id="phrase-check-{draft.id}"' in drafts_page
    assert "a guess from your list’s name, “Museums (London list)”" in drafts_page
    assert 'id="confirm-phrase"' in signed_in.page(f"/targets/{target.id}")

    response = signed_in.post(
        f"/targets/{target.id}/field-phrase",
        {"field_phrase": "museum education", "back": "drafts"},
        page="/drafts",
    )

    assert response.status_code == 302 and response.headers["Location"] == "/drafts"
    drafts_page = signed_in.page("/drafts")
    assert "Emails to “Museums (London list)” now say “museum education”." in drafts_page
    assert "1 draft written again." in drafts_page
    assert 'id="phrase-check-' not in drafts_page
    assert "Could I ask your advice about museum education?" in drafts_page
    assert 'id="confirm-phrases"' not in signed_in.page("/targets")
    assert 'id="confirm-phrase"' not in signed_in.page(f"/targets/{target.id}")


def test_confirming_keeps_a_draft_the_user_edited_and_says_so(
    signed_in: Browser, user: User, session: Session
) -> None:
    ada = make_contact(session, user, name="Ada Able")
    target, [draft] = start_target(session, user, [ada], name="Museums (London list)")
    edit_draft(session, user, draft.id, "My own subject", "Dear Ada,\n\nMy own words.\n", NOW)
    session.commit()

    signed_in.post(
        f"/targets/{target.id}/field-phrase", {"field_phrase": "museum education"}, page="/"
    )

    page = signed_in.page(f"/targets/{target.id}")
    assert "1 draft you edited kept your text: check the phrase there." in page
    session.expire_all()
    assert session.get_one(Message, draft.id).subject == "My own subject"
    assert session.get_one(Target, target.id).field_phrase_confirmed


def test_an_empty_phrase_is_refused_and_another_users_target_is_not_found(
    signed_in: Browser, user: User, session: Session
) -> None:
    target, _ = start_target(session, user, [], name="Museums (London list)")
    other = make_user(session, email="mallory@example.test")
    theirs, _ = start_target(session, other, [], name="Theirs")
    session.commit()

    empty = signed_in.post(f"/targets/{target.id}/field-phrase", {"field_phrase": " "}, page="/")
    assert empty.status_code == 400
    assert not session.get_one(Target, target.id).field_phrase_confirmed

    response = signed_in.post(
        f"/targets/{theirs.id}/field-phrase", {"field_phrase": "mine now"}, page="/"
    )
    assert response.status_code == 404
    session.expire_all()
    assert session.get_one(Target, theirs.id).field_phrase == "theirs"


def test_the_why_you_line_is_asked_with_its_reason_saved_and_used_by_the_request(
    signed_in: Browser, user: User, session: Session
) -> None:
    page = signed_in.page("/contacts")
    assert "Why them in particular (optional)" in page
    assert "makes a reply far likelier" in page

    signed_in.post(
        "/contacts",
        {
            "name": "Dana Lee",
            "email": "dana@museum.example",
            "how_found": "the alumni network",
            "why_you": "you built the schools programme from nothing.",
        },
        page="/contacts",
    )
    dana = session.scalar(select(Contact).where(Contact.email == "dana@museum.example"))
    assert dana is not None
    assert dana.why_you == "you built the schools programme from nothing."
    assert "you built the schools programme from nothing." in signed_in.page(f"/contacts/{dana.id}")
    edit_page = signed_in.page(f"/contacts/{dana.id}/edit")
    assert 'value="you built the schools programme from nothing."' in edit_page

    _, [draft] = start_target(
        session, user, [dana], name="Museums", field_phrase="museum education"
    )
    assert (
        "I am writing to you in particular because you built the schools programme "
        "from nothing." in draft.body_text
    )
