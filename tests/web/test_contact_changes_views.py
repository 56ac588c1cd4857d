"""Editing, deleting and merging contacts, and sending again after a corrected bounce."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from outreach.crypto import SecretBox
from outreach.models import Contact, Message, MessageStatus, Outreach, User
from outreach.rules.states import OutreachState, Trigger
from outreach.sending import record_sent
from outreach.transitions import transition
from tests.conftest import NOW
from tests.factories import make_contact, make_mailbox
from tests.web.conftest import Browser, start_target


def form_of(contact: Contact, **changes: str) -> dict[str, Any]:
    values: dict[str, Any] = {
        "name": contact.name,
        "email": contact.email,
        "first_name": contact.first_name,
        "role": contact.role,
        "organisation": contact.organisation,
        "how_found": contact.how_found,
        "referred_by": "",
        "time_zone": contact.time_zone,
        "notes": contact.notes,
    }
    values.update(changes)
    return values


def test_the_edit_page_shows_every_field_filled_in(
    signed_in: Browser, user: User, session: Session
) -> None:
    contact = make_contact(session, user, name="Dana Scully", notes="Likes <b>tea</b>")
    session.commit()

    page = signed_in.page(f"/contacts/{contact.id}/edit")

    for label in ("Full name", "Email address", "First name", "Role", "Organisation"):
        assert label in page
    assert 'value="Dana Scully"' in page
    assert "Likes &lt;b&gt;tea&lt;/b&gt;" in page
    assert f'value="{contact.id}"' not in page.split('id="referred_by"')[1].split("</select>")[0]


def test_an_edit_is_saved_and_shown(signed_in: Browser, user: User, session: Session) -> None:
    contact = make_contact(session, user, name="Dana Scully")
    session.commit()

    response = signed_in.post(
        f"/contacts/{contact.id}/edit",
        form_of(contact, name="Dana K. Scully", role="Pathologist", email="dana@new.example"),
    )

    assert response.status_code == 302
    page = signed_in.page(f"/contacts/{contact.id}")
    assert "Dana K. Scully is saved. Messages from now on go to dana@new.example." in page
    assert "Pathologist" in page
    session.expire_all()
    assert session.get_one(Contact, contact.id).email == "dana@new.example"


def test_a_field_too_long_is_refused_in_words(
    signed_in: Browser, user: User, session: Session
) -> None:
    contact = make_contact(session, user, name="Dana Scully")
    session.commit()

    response = signed_in.post(f"/contacts/{contact.id}/edit", form_of(contact, name="x" * 10_000))

    assert response.status_code == 400
    assert "Keep it to 200 characters or fewer." in response.get_data(as_text=True)
    session.expire_all()
    assert session.get_one(Contact, contact.id).name == "Dana Scully"


def test_a_taken_address_is_refused_and_merging_suggested(
    signed_in: Browser, user: User, session: Session
) -> None:
    make_contact(session, user, name="Fox Mulder", email="fox@fbi.example")
    contact = make_contact(session, user, name="Dana Scully")
    session.commit()

    response = signed_in.post(
        f"/contacts/{contact.id}/edit", form_of(contact, email="fox@fbi.example")
    )

    assert response.status_code == 400
    assert "already on your list as Fox Mulder: merge the two instead" in response.get_data(
        as_text=True
    )


def test_deleting_says_first_what_happens_to_drafts_and_history(
    signed_in: Browser, user: User, session: Session
) -> None:
    first = make_contact(session, user, name="First Person", organisation="A")
    second = make_contact(session, user, name="Second Person", organisation="B")
    start_target(session, user, [first, second])
    session.commit()

    page = signed_in.page(f"/contacts/{first.id}/delete")
    assert "1 message not yet sent" in page
    assert "is cancelled: nothing more goes to them" in page
    assert "Their history is removed" in page
    assert "the next name on the list gets it" in page

    response = signed_in.post(f"/contacts/{first.id}/delete")
    assert response.status_code == 302
    page = signed_in.page("/contacts")
    assert "First Person is deleted, with their history." in page
    assert "a request to Second Person waits in Drafts" in page
    assert session.scalar(select(func.count()).where(Contact.id == first.id)) == 0


def test_merging_from_the_page(signed_in: Browser, user: User, session: Session) -> None:
    kept = make_contact(session, user, name="Pat New", email="pat@new.example")
    other = make_contact(session, user, name="Pat Old", email="pat@old.example")
    start_target(session, user, [other])
    session.commit()

    page = signed_in.page(f"/contacts/{kept.id}/merge")
    assert "Pat Old (pat@old.example)" in page
    assert "Pat New (pat@new.example)" not in page

    response = signed_in.post(f"/contacts/{kept.id}/merge", {"other": str(other.id)})

    assert response.status_code == 302
    page = signed_in.page(f"/contacts/{kept.id}")
    assert "Pat Old (pat@old.example) is merged into Pat New" in page
    assert "Science policy" in page
    assert session.scalar(select(func.count()).where(Contact.id == other.id)) == 0
    [draft] = session.scalars(select(Message).where(Message.contact_id == kept.id))
    assert draft.to_address == "pat@new.example"


def test_merging_without_choosing_says_so(signed_in: Browser, user: User, session: Session) -> None:
    kept = make_contact(session, user)
    make_contact(session, user)
    session.commit()

    response = signed_in.post(f"/contacts/{kept.id}/merge", {"other": ""})

    assert response.status_code == 400
    assert "Choose the other record of this person." in response.get_data(as_text=True)


def test_a_bounced_address_is_corrected_and_the_request_sent_again(
    signed_in: Browser, user: User, session: Session, secret_box: SecretBox
) -> None:
    make_mailbox(session, user, secret_box)
    contact = make_contact(session, user, name="Pat Typo", email="pat@typo.example")
    _, [request] = start_target(session, user, [contact])
    request.status = MessageStatus.APPROVED
    record_sent(session, request.id, NOW)
    outreach = session.get_one(Outreach, request.outreach_id)
    transition(session, outreach, Trigger.BOUNCE_RECEIVED, NOW, "the address failed")
    session.commit()

    page = signed_in.page(f"/contacts/{contact.id}")
    assert "pat@typo.example failed." in page and "Correct the address" in page
    assert 'data-action="resend"' not in page

    signed_in.post(f"/contacts/{contact.id}/edit", form_of(contact, email="pat@right.example"))
    page = signed_in.page(f"/contacts/{contact.id}")
    assert "Send the request again to pat@right.example" in page

    response = signed_in.post(f"/contacts/{contact.id}/targets/{outreach.target_id}/resend")

    assert response.status_code == 302
    page = signed_in.page(f"/contacts/{contact.id}")
    assert "A new request to pat@right.example waits in Drafts" in page
    session.expire_all()
    assert session.get_one(Outreach, outreach.id).state is OutreachState.DRAFTED
    drafts = signed_in.page("/drafts")
    assert "pat@right.example" in drafts


def test_sending_again_without_a_bounce_is_refused_in_words(
    signed_in: Browser, user: User, session: Session
) -> None:
    contact = make_contact(session, user)
    target, _ = start_target(session, user, [contact])
    session.commit()

    signed_in.post(f"/contacts/{contact.id}/targets/{target.id}/resend")

    page = signed_in.page(f"/contacts/{contact.id}")
    assert "Only a request whose address failed can be sent again" in page
