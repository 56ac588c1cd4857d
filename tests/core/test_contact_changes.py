"""Editing, deleting and merging contacts, and writing again to a corrected address."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from outreach import meetings
from outreach.contact_changes import (
    can_resend,
    delete_contact,
    merge_contacts,
    preview_deletion,
    resend_request,
    update_contact,
)
from outreach.contacts import ContactInput
from outreach.crypto import SecretBox
from outreach.drafts import approve
from outreach.errors import NotFound, ValidationError
from outreach.meetings import MeetingDetails
from outreach.models import (
    Contact,
    Event,
    Meeting,
    Message,
    MessageKind,
    MessageStatus,
    Outreach,
    TargetEntry,
    User,
)
from outreach.rules.states import OutreachState, Trigger
from outreach.sending import record_sent
from outreach.targets import add_to_target, create_target, fill_pipeline
from outreach.transitions import transition
from tests.factories import make_approved_requests, make_contact, make_mailbox, make_user


def input_of(contact: Contact, **changes: object) -> ContactInput:
    values: dict[str, object] = {
        "email": contact.email,
        "name": contact.name,
        "first_name": contact.first_name,
        "role": contact.role,
        "organisation": contact.organisation,
        "how_found": contact.how_found,
        "notes": contact.notes,
        "time_zone": contact.time_zone,
        "do_not_contact": contact.do_not_contact,
        "referred_by_id": contact.referred_by_id,
    }
    values.update(changes)
    return ContactInput(**values)  # type: ignore[arg-type]


def sent_and_bounced(session: Session, user: User, now: datetime, email: str) -> Message:
    (request,) = make_approved_requests(session, user, now, email=email)
    record_sent(session, request.id, now)
    outreach = session.get_one(Outreach, request.outreach_id)
    transition(session, outreach, Trigger.BOUNCE_RECEIVED, now, "the address failed", request.id)
    session.commit()
    return request


def test_every_field_can_be_edited(session: Session, now: datetime) -> None:
    user = make_user(session)
    referrer = make_contact(session, user, name="Rita Referrer")
    contact = make_contact(session, user, name="Alex Old", email="alex@old.example")

    edited = update_contact(
        session,
        user,
        contact.id,
        ContactInput(
            email=" Alex@New.Example ",
            name="  Alexandra   New ",
            first_name="",
            role="Director",
            organisation="New Org",
            how_found="your talk",
            notes="Met at the fair.\nLikes tea.",
            time_zone="Europe/Paris",
            do_not_contact=True,
            referred_by_id=referrer.id,
        ),
        now,
    )
    session.commit()

    session.expire_all()
    stored = session.get_one(Contact, contact.id)
    assert (stored.email, stored.name, stored.first_name) == (
        "alex@new.example",
        "Alexandra New",
        "Alexandra",
    )
    assert (stored.role, stored.organisation, stored.how_found) == (
        "Director",
        "New Org",
        "your talk",
    )
    assert stored.notes == "Met at the fair.\nLikes tea."
    assert (stored.time_zone, stored.do_not_contact, stored.referred_by_id) == (
        "Europe/Paris",
        True,
        referrer.id,
    )
    assert edited.address_changed
    [line] = session.scalars(select(Event.detail).where(Event.kind == "contact:address"))
    assert line == "address changed from alex@old.example to alex@new.example"


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"name": "x" * 201}, "the name is too long (201 characters; 200 at most)"),
        ({"how_found": "y" * 501}, "how you found them is too long (501 characters; 500 at most)"),
        ({"notes": "n" * 5001}, "the notes is too long (5,001 characters; 5,000 at most)"),
        ({"email": "not an address"}, "'not an address' is not a valid email address"),
        ({"name": "  "}, "a contact needs a name"),
        ({"role": "a\x00b"}, "the role"),
    ],
)
def test_a_bad_edit_is_refused_in_words_and_changes_nothing(
    session: Session, now: datetime, changes: dict[str, object], words: str
) -> None:
    user = make_user(session)
    contact = make_contact(session, user, name="Alex Kept")
    session.commit()

    with pytest.raises(ValidationError, match=words.replace("(", r"\(").replace(")", r"\)")):
        update_contact(session, user, contact.id, input_of(contact, **changes), now)
    session.rollback()

    assert session.get_one(Contact, contact.id).name == "Alex Kept"


def test_an_address_already_on_the_list_suggests_merging(session: Session, now: datetime) -> None:
    user = make_user(session)
    make_contact(session, user, name="Jo Other", email="jo@org.example")
    contact = make_contact(session, user)

    with pytest.raises(ValidationError, match="already on your list as Jo Other: merge"):
        update_contact(session, user, contact.id, input_of(contact, email="jo@org.example"), now)


def test_a_contact_cannot_refer_themselves(session: Session, now: datetime) -> None:
    user = make_user(session)
    contact = make_contact(session, user)

    with pytest.raises(ValidationError, match="referred by themselves"):
        update_contact(session, user, contact.id, input_of(contact, referred_by_id=contact.id), now)


def test_someone_elses_contact_cannot_be_edited(session: Session, now: datetime) -> None:
    owner, stranger = make_user(session), make_user(session)
    contact = make_contact(session, owner)

    with pytest.raises(NotFound):
        update_contact(session, stranger, contact.id, input_of(contact, name="Taken"), now)


def test_a_new_address_readdresses_the_drafts_not_yet_sent(
    session: Session, now: datetime, secret_box: SecretBox
) -> None:
    user = make_user(session)
    make_mailbox(session, user, secret_box)
    (request,) = make_approved_requests(session, user, now, email="typo@org.example")

    edited = update_contact(
        session,
        user,
        request.contact_id or 0,
        input_of(session.get_one(Contact, request.contact_id), email="right@org.example"),
        now,
    )
    session.commit()

    assert edited.readdressed == 1
    session.expire_all()
    assert session.get_one(Message, request.id).to_address == "right@org.example"


def test_deleting_says_what_goes_and_hands_the_place_to_the_next_name(
    session: Session, now: datetime
) -> None:
    user = make_user(session)
    first = make_contact(session, user, name="First Person", organisation="A")
    second = make_contact(session, user, name="Second Person", organisation="B")
    referred = make_contact(session, user, name="Referred Person", referred_by_id=first.id)
    target = create_target(session, user, "Policy", [first.id, second.id])
    [draft] = fill_pipeline(session, user, target, now)
    assert draft.contact_id == first.id
    session.commit()

    preview = preview_deletion(session, user, first.id)
    assert (preview.unsent, preview.messages, preview.meetings, preview.targets) == (
        1,
        0,
        0,
        ["Policy"],
    )

    deleted = delete_contact(session, user, first.id, now)
    session.commit()

    assert (deleted.name, deleted.cancelled) == ("First Person", 1)
    assert [message.contact_id for message in deleted.drafted] == [second.id]
    session.expire_all()
    assert session.get(Contact, first.id) is None
    assert session.scalar(select(func.count()).where(Message.contact_id == first.id)) == 0
    assert session.scalar(select(func.count()).where(Event.contact_id == first.id)) == 0
    assert session.get_one(Contact, referred.id).referred_by_id is None
    assert [entry.contact_id for entry in session.scalars(select(TargetEntry))] == [second.id]


def test_a_message_being_sent_holds_off_deleting(
    session: Session, now: datetime, secret_box: SecretBox
) -> None:
    user = make_user(session)
    make_mailbox(session, user, secret_box)
    (request,) = make_approved_requests(session, user, now)
    request.status = MessageStatus.SENDING
    session.commit()

    with pytest.raises(ValidationError, match="being sent right now; try again in a minute"):
        delete_contact(session, user, request.contact_id or 0, now)


def test_merging_moves_everything_and_keeps_the_journey_that_went_further(
    session: Session, now: datetime, secret_box: SecretBox
) -> None:
    user = make_user(session)
    make_mailbox(session, user, secret_box)
    # The same person twice: an old work address that answered, a new one only planned.
    (request,) = make_approved_requests(
        session, user, now, email="pat@old.example", name="Pat Old", notes="From the fair."
    )
    record_sent(session, request.id, now)
    outreach = session.get_one(Outreach, request.outreach_id)
    transition(session, outreach, Trigger.REPLY_RECEIVED, now, "reply received")
    meeting = meetings.record_meeting(
        session, user, outreach.id, MeetingDetails(now + timedelta(days=2)), now
    )
    other = session.get_one(Contact, request.contact_id)
    kept = make_contact(session, user, email="pat@new.example", name="Pat New", role="")
    # The kept record is planned on the same target, and on one of its own.
    target = outreach.target
    add_to_target(session, user, target, kept.id)
    own = create_target(session, user, "Own", [kept.id])
    session.commit()

    merged = merge_contacts(session, user, kept.id, other.id, now)
    session.commit()

    assert merged.shared_targets == [target.name]
    session.expire_all()
    assert session.get(Contact, other.id) is None
    stored = session.get_one(Contact, kept.id)
    assert stored.role == "Policy Analyst"  # empty on the kept one: taken from the other
    assert "From the fair." in stored.notes and "pat@old.example" in stored.notes
    journeys = list(session.scalars(select(Outreach).where(Outreach.contact_id == kept.id)))
    assert {(j.target_id, j.state) for j in journeys} == {
        (target.id, OutreachState.MEETING_SET),
        (own.id, OutreachState.DRAFTED),
    }
    assert session.get_one(Message, request.id).contact_id == kept.id
    assert session.get_one(Meeting, meeting.id).contact_id == kept.id
    assert session.scalar(select(func.count()).where(TargetEntry.target_id == target.id)) == 1
    assert any(
        "merged with Pat Old (pat@old.example)" in detail
        for detail in session.scalars(select(Event.detail).where(Event.contact_id == kept.id))
    )


def test_a_contact_cannot_be_merged_with_themselves(session: Session, now: datetime) -> None:
    user = make_user(session)
    contact = make_contact(session, user)

    with pytest.raises(ValidationError, match="choose another contact"):
        merge_contacts(session, user, contact.id, contact.id, now)


def test_a_corrected_bounce_is_written_again_to_the_new_address(
    session: Session, now: datetime, secret_box: SecretBox
) -> None:
    user = make_user(session)
    make_mailbox(session, user, secret_box)
    request = sent_and_bounced(session, user, now, "pat@typo.example")
    contact = session.get_one(Contact, request.contact_id)
    outreach = session.get_one(Outreach, request.outreach_id)
    assert not can_resend(session, outreach)
    with pytest.raises(ValidationError, match="the address that failed: correct it first"):
        resend_request(session, user, contact.id, outreach.target_id, now)
    session.rollback()

    update_contact(session, user, contact.id, input_of(contact, email="pat@right.example"), now)
    assert can_resend(session, outreach)
    later = now + timedelta(minutes=5)
    draft = resend_request(session, user, contact.id, outreach.target_id, later)
    session.commit()

    assert (draft.kind, draft.status, draft.to_address) == (
        MessageKind.REQUEST,
        MessageStatus.DRAFT,
        "pat@right.example",
    )
    assert draft.in_reply_to is None  # a new thread to a new address
    session.expire_all()
    assert session.get_one(Outreach, outreach.id).state is OutreachState.DRAFTED
    states = list(
        session.scalars(
            select(Event.kind)
            .where(Event.outreach_id == outreach.id, Event.kind.like("state:%"))
            .order_by(Event.id)
        )
    )
    assert states[-3:] == ["state:bounced", "state:planned", "state:drafted"]
    # The normal path from here: approve, and the outbox sends it.
    approved = approve(session, user, draft.id, later)
    assert approved.status is MessageStatus.APPROVED
    record_sent(session, draft.id, later)
    assert session.get_one(Outreach, outreach.id).state is OutreachState.WAITING


def test_only_a_bounced_request_is_written_again(
    session: Session, now: datetime, secret_box: SecretBox
) -> None:
    user = make_user(session)
    make_mailbox(session, user, secret_box)
    (request,) = make_approved_requests(session, user, now)
    outreach = session.get_one(Outreach, request.outreach_id)

    with pytest.raises(ValidationError, match="only a request whose address failed"):
        resend_request(session, user, request.contact_id or 0, outreach.target_id, now)
