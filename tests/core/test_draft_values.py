"""A draft missing a value: its gap in words, the value asked for and given (issue 14, item 1)."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy.orm import Session

from outreach import draft_values, drafts
from outreach.contact_import import csv_candidates, fill_blank, lacking, read_csv
from outreach.crypto import SecretBox
from outreach.errors import ValidationError
from outreach.models import Message, MessageKind, Outreach, Template, User
from outreach.sending import record_sent
from outreach.targets import create_target, fill_pipeline
from tests.factories import make_approved_requests, make_contact, make_mailbox, make_user


def no_template_code(message: Message) -> bool:
    text = message.subject + message.body_text
    return "{{" not in text and "{%" not in text and "}}" not in text


@pytest.fixture
def user(session: Session, secret_box: SecretBox) -> User:
    user = make_user(session, name="Sam Student")
    make_mailbox(session, user, secret_box)
    return user


def request_to(
    session: Session, user: User, now: datetime, target_name: str = "Science policy", **contact: str
) -> Message:
    person = make_contact(session, user, **contact)
    target = create_target(session, user, target_name, [person.id])
    [draft] = fill_pipeline(session, user, target, now)
    session.commit()
    return draft


def test_a_contact_without_how_found_gets_a_request_with_the_gap_in_words(
    session: Session, user: User, now: datetime
) -> None:
    draft = request_to(session, user, now, name="Dana Reyes", how_found="")

    assert no_template_code(draft)
    assert draft.subject == "Could I ask your advice about science policy?"
    assert "I came across your name through [how you found Dana]." in draft.body_text
    assert draft.needs == "how_found"
    assert draft.error == "it needs how you found Dana"
    with pytest.raises(ValidationError, match="cannot be approved: it needs how you found Dana"):
        drafts.approve(session, user, draft.id, now)


def test_every_missing_value_is_named_in_the_order_the_text_needs_it(
    session: Session, user: User, now: datetime
) -> None:
    user.introduction = ""
    draft = request_to(session, user, now, name="Dana Reyes", how_found="")

    assert draft.needs == "how_found my_introduction"
    assert draft.error == "it needs how you found Dana and your 30-second introduction"
    assert "[your 30-second introduction]" in draft.body_text
    assert [question.label for question in draft_values.questions_for(draft)] == [
        "How did you find Dana?"
    ]


def test_a_value_given_is_saved_on_the_contact_and_the_draft_is_written_again(
    session: Session, user: User, now: datetime
) -> None:
    draft = request_to(session, user, now, name="Dana Reyes", how_found="")

    supplied = draft_values.supply_values(session, user, draft.id, {"how_found": "the fair"}, now)

    assert not supplied.kept_edits
    assert draft.contact is not None and draft.contact.how_found == "the fair"
    assert "I came across your name through the fair." in draft.body_text
    assert (draft.needs, draft.error) == ("", None)
    drafts.approve(session, user, draft.id, now)


def test_an_empty_value_is_refused_and_nothing_is_saved(
    session: Session, user: User, now: datetime
) -> None:
    draft = request_to(session, user, now, name="Dana Reyes", how_found="")

    with pytest.raises(ValidationError, match="write how you found Dana in the box first"):
        draft_values.supply_values(session, user, draft.id, {"how_found": " \t"}, now)
    assert draft.contact is not None and draft.contact.how_found == ""
    complete = request_to(session, user, now, "Marine biology")
    with pytest.raises(ValidationError, match="does not ask for anything"):
        draft_values.supply_values(session, user, complete.id, {"how_found": "x"}, now)
    assert draft.contact is not None and draft.contact.how_found == ""


def test_an_edited_draft_is_never_written_over_silently(
    session: Session, user: User, now: datetime
) -> None:
    draft = request_to(session, user, now, name="Dana Reyes", how_found="")
    drafts.edit_draft(
        session, user, draft.id, "Hello", "Dear Dana, we met at [how you found Dana].", now
    )

    supplied = draft_values.supply_values(session, user, draft.id, {"how_found": "the fair"}, now)

    assert supplied.kept_edits
    assert draft.body_text == "Dear Dana, we met at the fair.\n"
    assert draft_values.values_given_into_edits(session, [draft.id]) == {draft.id}
    draft_values.refill(session, user, draft.id, now)
    assert "I came across your name through the fair." in draft.body_text
    assert draft_values.values_given_into_edits(session, [draft.id]) == set()


def test_a_follow_up_missing_a_first_name_keeps_its_thread_and_gets_it_filled_in(
    session: Session, user: User, now: datetime
) -> None:
    (request,) = make_approved_requests(session, user, now, name="Dana Reyes")
    record_sent(session, request.id, now)
    outreach = session.get_one(Outreach, request.outreach_id)
    outreach.contact.first_name = ""

    follow_up = drafts.draft_follow_up(session, user, outreach, now)

    assert no_template_code(follow_up)
    assert follow_up.subject.startswith("Re: ")
    assert follow_up.body_text.startswith("Dear [the first name of Dana Reyes],")
    assert follow_up.needs == "first_name"
    draft_values.supply_values(session, user, follow_up.id, {"first_name": "Dana"}, now)
    assert follow_up.body_text.startswith("Dear Dana,")
    assert follow_up.subject.startswith("Re: ")
    assert follow_up.kind is MessageKind.FOLLOW_UP and follow_up.error is None


def test_a_broken_template_gives_an_empty_draft_that_says_why(
    session: Session, user: User, now: datetime
) -> None:
    session.add(
        Template(
            user_id=user.id,
            kind=MessageKind.REQUEST,
            subject="About {{ target }}",
            body="Dear {{ first_name }}, {{ first_name.nope() }}",
        )
    )
    draft = request_to(session, user, now)

    assert (draft.subject, draft.body_text, draft.needs) == ("", "", "")
    assert draft.error is not None and draft.error.startswith(
        "the template for this message could not be used"
    )


def test_an_import_asks_once_and_fills_every_row_lacking_how_found(
    session: Session, user: User
) -> None:
    table = read_csv(
        "First Name,Last Name,Email Address,Company\n"
        "Ada,Lovelace,ada@engines.example,Engines\n"
        "Alan,Turing,alan@park.example,Park\n"
    )
    columns = ["first_name", "last_name", "email", "organisation"]
    candidates = csv_candidates(table, columns)

    assert lacking(candidates, "how_found") == 2
    filled = fill_blank(candidates, "how_found", "my LinkedIn connections")
    assert [candidate.get("how_found") for candidate in filled] == ["my LinkedIn connections"] * 2
    assert lacking(filled, "how_found") == 0
    assert drafts.template_uses(session, user, MessageKind.REQUEST, "how_found")
    session.add(
        Template(
            user_id=user.id, kind=MessageKind.REQUEST, subject="Hi", body="Dear {{ first_name }}"
        )
    )
    assert not drafts.template_uses(session, user, MessageKind.REQUEST, "how_found")
