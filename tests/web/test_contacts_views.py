"""Adding contacts, importing a CSV, and a contact's timeline (hostile text stays text)."""

from __future__ import annotations

import io

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from outreach.models import Contact, Direction, Message, MessageKind, MessageStatus, User
from outreach.timeline import record
from tests.conftest import NOW
from tests.factories import make_contact
from tests.web.conftest import Browser

CSV_WITH_ONE_BAD_ROW = (
    "First Name,Last Name,Email Address,Company,Position\n"
    "Ada,Lovelace,ada@example.org,Analytical Engines,Engineer\n"
    "Bad,Row,not-an-address,Nowhere,Nobody\n"
    "Grace,Hopper,grace@example.org,US Navy,Rear Admiral\n"
)


def contact_count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Contact)) or 0


def test_add_a_contact(signed_in: Browser, session: Session) -> None:
    response = signed_in.post(
        "/contacts",
        {
            "name": "Dana Scully",
            "email": "Dana@FBI.example",
            "organisation": "FBI",
            "role": "Special Agent",
            "how_found": "the alumni network",
            "referred_by": "",
        },
        page="/contacts",
    )

    assert response.status_code == 302
    page = signed_in.page("/contacts")
    assert "Dana Scully is on your list." in page
    assert "dana@fbi.example" in page
    contact = session.scalar(select(Contact))
    assert contact is not None
    assert (contact.first_name, contact.organisation) == ("Dana", "FBI")


def test_add_a_contact_referred_by_another(
    signed_in: Browser, user: User, session: Session
) -> None:
    referrer = make_contact(session, user, name="Rita Referrer")
    session.commit()

    signed_in.post(
        "/contacts",
        {"name": "Newt Name", "email": "newt@example.org", "referred_by": str(referrer.id)},
        page="/contacts",
    )

    contact = session.scalar(select(Contact).where(Contact.email == "newt@example.org"))
    assert contact is not None and contact.referred_by_id == referrer.id
    assert "Rita Referrer" in signed_in.page(f"/contacts/{contact.id}")


def test_a_bad_address_is_refused_with_the_reason(signed_in: Browser, session: Session) -> None:
    response = signed_in.post(
        "/contacts", {"name": "No Mail", "email": "no-mail"}, page="/contacts"
    )

    assert response.status_code == 400
    assert "&#39;no-mail&#39; is not a valid email address." in response.get_data(as_text=True)
    assert contact_count(session) == 0


def test_an_address_already_on_the_list_is_refused(
    signed_in: Browser, user: User, session: Session
) -> None:
    make_contact(session, user, email="twice@example.org")
    session.commit()

    response = signed_in.post(
        "/contacts", {"name": "Twice", "email": "TWICE@example.org"}, page="/contacts"
    )

    assert response.status_code == 400
    assert "twice@example.org is already on your list." in response.get_data(as_text=True)
    assert contact_count(session) == 1


def upload(browser: Browser, text: str, filename: str = "contacts.csv") -> str:
    response = browser.post(
        "/contacts/import",
        {"file": (io.BytesIO(text.encode()), filename)},
        page="/contacts/import",
        content_type="multipart/form-data",
    )
    assert response.status_code == 200, response.status_code
    return response.get_data(as_text=True)


def test_csv_import_keeps_the_good_rows_and_reports_the_bad_one(
    signed_in: Browser, session: Session
) -> None:
    page = upload(signed_in, CSV_WITH_ONE_BAD_ROW)

    assert '<strong id="import-created">2</strong>' in page
    assert '<strong id="import-error-count">1</strong>' in page
    assert '<tr data-line="3"><td>3</td>' in page
    assert "&#39;not-an-address&#39; is not a valid email address." in page
    emails = set(session.scalars(select(Contact.email)))
    assert emails == {"ada@example.org", "grace@example.org"}
    grace = session.scalar(select(Contact).where(Contact.email == "grace@example.org"))
    assert grace is not None
    assert (grace.name, grace.organisation, grace.role) == (
        "Grace Hopper",
        "US Navy",
        "Rear Admiral",
    )


def test_importing_the_same_file_again_doubles_nothing(
    signed_in: Browser, session: Session
) -> None:
    upload(signed_in, CSV_WITH_ONE_BAD_ROW)

    page = upload(signed_in, CSV_WITH_ONE_BAD_ROW)

    assert '<strong id="import-created">0</strong>' in page
    assert '<strong id="import-duplicates">2</strong>' in page
    assert contact_count(session) == 2


def test_a_file_from_a_windows_spreadsheet_is_read(signed_in: Browser, session: Session) -> None:
    text = "Name,Email\nJosé Núñez,jose@example.org\n"
    response = signed_in.post(
        "/contacts/import",
        {"file": (io.BytesIO(text.encode("cp1252")), "contacts.csv")},
        page="/contacts/import",
        content_type="multipart/form-data",
    )

    assert response.status_code == 200
    assert session.scalar(select(Contact.name)) == "José Núñez"


def test_import_without_a_file_says_so(signed_in: Browser) -> None:
    response = signed_in.post("/contacts/import", {}, page="/contacts/import")

    assert response.status_code == 400
    assert "Choose a CSV file to import." in response.get_data(as_text=True)


def test_inbound_text_is_shown_as_text_never_as_html(
    signed_in: Browser, user: User, session: Session
) -> None:
    contact = make_contact(session, user, name="Mallory Mallet")
    hostile = '<script>alert("owned")</script><img src=x onerror=alert(1)>'
    reply = Message(
        user_id=user.id,
        contact_id=contact.id,
        direction=Direction.INBOUND,
        kind=MessageKind.REPLY,
        status=MessageStatus.RECEIVED,
        from_address="mallory@example.org",
        to_address=user.email,
        subject=f"Re: {hostile}",
        body_text=f"Thanks!\n{hostile}\n",
        received_at=NOW,
        created_at=NOW,
    )
    session.add(reply)
    session.flush()
    record(
        session,
        user_id=user.id,
        kind="received",
        detail=f"reply received {hostile}",
        now=NOW,
        contact_id=contact.id,
        message_id=reply.id,
    )
    session.commit()

    response = signed_in.get(f"/contacts/{contact.id}")

    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "<script>alert" not in page
    assert "<img src=x" not in page
    assert "&lt;script&gt;alert(&#34;owned&#34;)&lt;/script&gt;" in page
    assert '<pre class="message-body">Thanks!\n&lt;script&gt;' in page
    assert "script-src" not in response.headers["Content-Security-Policy"]
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]


def test_the_timeline_shows_each_message_once(
    signed_in: Browser, user: User, session: Session
) -> None:
    from tests.web.conftest import start_target

    contact = make_contact(session, user, name="Tim Line")
    _, [draft] = start_target(session, user, [contact])
    record(
        session,
        user_id=user.id,
        kind="draft_edited",
        detail="draft edited",
        now=NOW,
        contact_id=contact.id,
        message_id=draft.id,
    )
    session.commit()

    page = signed_in.page(f"/contacts/{contact.id}")

    assert page.count('class="event"') == 2
    assert page.count(f'data-message-id="{draft.id}"') == 1
    assert "Dear Tim," in page


def test_a_reply_shows_what_was_written_with_the_quoted_history_folded_away(
    signed_in: Browser, user: User, session: Session
) -> None:
    contact = make_contact(session, user, name="Quinn Q")
    reply = Message(
        user_id=user.id,
        contact_id=contact.id,
        direction=Direction.INBOUND,
        kind=MessageKind.REPLY,
        status=MessageStatus.RECEIVED,
        from_address="quinn@example.org",
        subject="Re: Could I ask",
        body_text="Thursday at 3 works.\n\nOn Tue, 24 Nov 2026, you wrote:\n> Dear Quinn,\n",
        received_at=NOW,
        created_at=NOW,
    )
    session.add(reply)
    session.flush()
    record(
        session,
        user_id=user.id,
        kind="received",
        detail="reply received",
        now=NOW,
        contact_id=contact.id,
        message_id=reply.id,
    )
    session.commit()

    page = signed_in.get(f"/contacts/{contact.id}").get_data(as_text=True)

    assert '<pre class="message-body">Thursday at 3 works.</pre>' in page
    assert '<details class="quoted-history">' in page
    assert "&gt; Dear Quinn," in page.split('<details class="quoted-history">', 1)[1]
