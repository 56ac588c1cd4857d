"""Who is never asked again, and the follow-up that quotes the request, through the use cases.

On SQLite and PostgreSQL. The decline arriving as real mail through the poller is in
tests/e2e/test_never_again_scenarios.py; here the answers are steps of the cycle.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from outreach import draft_values, drafts, target_actions, targets
from outreach.asking_again import held_back
from outreach.contact_changes import resend_request, update_contact
from outreach.contacts import ContactInput
from outreach.crypto import SecretBox
from outreach.errors import ValidationError
from outreach.models import Contact, Event, MessageKind, MessageStatus, User
from outreach.reading.quoting import quote_below, strip_quoted_history
from outreach.rules.states import Trigger
from outreach.scheduler import run_due_steps
from outreach.transitions import transition
from tests.core.test_cycle import MONDAY, day, messages_to, people, send, start
from tests.factories import make_mailbox, make_user


@pytest.fixture
def user(session: Session, secret_box: SecretBox) -> User:
    user = make_user(session, name="Sam Student")
    user.time_zone = "Europe/London"
    make_mailbox(session, user, secret_box)
    session.commit()
    return user


def declined(session: Session, user: User, contact: Contact, when: datetime) -> None:
    """Dana is asked on a list of her own, and declines at `when`."""
    first, [request] = start(session, user, [contact], when)
    send(session, user, request, when)
    outreach = targets.entry_and_outreach(session, user, first, contact.id)[1]
    transition(session, outreach, Trigger.DECLINE_RECEIVED, when, "they declined")
    session.flush()


def test_a_decliner_is_not_drafted_from_a_new_list_and_the_next_name_is(
    session: Session, user: User
) -> None:
    dana, eli = people(session, user, "Museum", "Gallery")
    declined(session, user, dana, day(2))

    target, drafted = target_actions.start_target(
        session, user, "Museums", [dana.id, eli.id], day(3)
    )

    assert [message.contact_id for message in drafted] == [eli.id]
    assert messages_to(session, dana, MessageKind.REQUEST)[-1].status is MessageStatus.SENT
    (held,) = held_back(session, user, target.id, day(3))
    assert held.contact_id == dana.id and held.may_override
    assert held.sentence == f"{dana.name} declined on 2 Dec; not asked again"
    summary = targets.target_summary(session, target)
    # Held back is neither "still to ask" nor "done".
    assert (summary.planned, summary.held_back, summary.done) == (0, 1, 0)
    # Drafting by hand meets the same rule.
    outreach = targets.entry_and_outreach(session, user, target, dana.id)[1]
    with pytest.raises(ValidationError, match="declined on 2 Dec"):
        drafts.draft_request(session, user, outreach, day(3))


def test_asking_again_is_deliberate_recorded_and_then_drafts(session: Session, user: User) -> None:
    (dana,) = people(session, user, "Museum")
    declined(session, user, dana, day(2))
    target, drafted = target_actions.start_target(session, user, "Museums", [dana.id], day(3))
    assert drafted == []

    again = target_actions.ask_again(session, user, target, dana.id, day(3, 10))

    assert [message.contact_id for message in again] == [dana.id]
    assert held_back(session, user, target.id, day(3, 10)) == []
    event = session.scalar(select(Event).where(Event.kind == "asked_again"))
    assert event is not None and event.contact_id == dana.id
    assert (
        event.detail
        == f"you chose to ask {dana.name} again on “Museums”, though {dana.name} declined on 2 Dec"
    )
    with pytest.raises(ValidationError, match="nothing holds"):
        target_actions.ask_again(session, user, target, dana.id, day(3, 11))


def test_do_not_contact_is_held_back_with_no_override(session: Session, user: User) -> None:
    (dana,) = people(session, user, "Museum")
    dana.do_not_contact = True
    target, drafted = target_actions.start_target(session, user, "Museums", [dana.id], day(3))

    (held,) = held_back(session, user, target.id, day(3))
    assert drafted == [] and not held.may_override
    assert "do-not-contact" in held.sentence
    with pytest.raises(ValidationError, match="do-not-contact"):
        target_actions.ask_again(session, user, target, dana.id, day(3))


def test_two_messages_unanswered_hold_back_one_does_not(session: Session, user: User) -> None:
    ada, ben = people(session, user, "Archive", "Botanic Garden")
    # Ada: request and follow-up, no answer. Ben: one request on a list without follow-ups.
    _first, [to_ada] = start(session, user, [ada], MONDAY)
    send(session, user, to_ada, MONDAY)
    run_due_steps(session, day(7))
    (follow_up,) = messages_to(session, ada, MessageKind.FOLLOW_UP)
    send(session, user, follow_up, day(8))
    _second, [to_ben] = start(session, user, [ben], MONDAY, send_follow_up=False)
    send(session, user, to_ben, MONDAY)
    run_due_steps(session, day(15))

    target, drafted = target_actions.start_target(
        session, user, "Gardens", [ada.id, ben.id], day(16)
    )

    assert [message.contact_id for message in drafted] == [ben.id]
    (held,) = held_back(session, user, target.id, day(16))
    assert held.sentence == (
        f"{ada.name} was written to twice without an answer (last on 8 Dec); not asked again"
    )


def test_a_bounce_holds_back_until_the_address_is_corrected(session: Session, user: User) -> None:
    (dana,) = people(session, user, "Museum")
    first, [request] = start(session, user, [dana], MONDAY)
    send(session, user, request, MONDAY)
    outreach = targets.entry_and_outreach(session, user, first, dana.id)[1]
    transition(session, outreach, Trigger.BOUNCE_RECEIVED, day(1), "the address failed")
    target, drafted = target_actions.start_target(session, user, "Museums", [dana.id], day(2))
    assert (
        drafted == []
        and "failed for good on 1 Dec" in held_back(session, user, target.id, day(2))[0].sentence
    )

    update_contact(
        session, user, dana.id, ContactInput(email="dana@new.example", name=dana.name), day(2)
    )
    resend_request(session, user, dana.id, first.id, day(2))

    assert held_back(session, user, target.id, day(2)) == []


def test_the_follow_up_quotes_the_request_as_sent_in_the_users_zone(
    session: Session, user: User
) -> None:
    (ada,) = people(session, user, "Archive")
    _target, [request] = start(session, user, [ada], MONDAY)
    edited = "Dear Ada,\n\nMy own words, edited before sending.\n\nSam"
    drafts.edit_draft(session, user, request.id, request.subject, edited, MONDAY)
    # Its Date header says 23:30 UTC on Monday; in Auckland that is Tuesday already.
    user.time_zone = "Pacific/Auckland"
    late = datetime(2026, 11, 30, 23, 30, tzinfo=UTC)
    drafts.approve(session, user, request.id, late)
    request.claimed_at = late
    send(session, user, request, late)
    run_due_steps(session, day(8))

    (follow_up,) = messages_to(session, ada, MessageKind.FOLLOW_UP)
    own, _, quoted = follow_up.body_text.partition("\n\nOn Tue 1 Dec 2026, Sam Student wrote:\n")
    assert own.startswith(f"Dear {ada.first_name}") and ">" not in own
    assert quoted == "> Dear Ada,\n>\n> My own words, edited before sending.\n>\n> Sam\n"
    assert follow_up.in_reply_to == request.message_id
    # Their answer, quoting it all as their client does, is read for their own words only.
    answer = "Happy to talk!" + quote_below(follow_up.body_text, day(9), "Sam Student")
    assert strip_quoted_history(answer) == "Happy to talk!"
    assert strip_quoted_history(follow_up.body_text) == own.strip()
    # Written again from the template, it still quotes the request.
    draft_values.refill(session, user, follow_up.id, day(8))
    assert follow_up.body_text.endswith(quoted)
