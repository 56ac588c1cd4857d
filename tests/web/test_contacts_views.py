"""Adding contacts, importing CSV and vCard files, and the timeline (hostile text stays text)."""

from __future__ import annotations

import io

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from outreach.models import Contact, Direction, Message, MessageKind, MessageStatus, User
from outreach.timeline import record
from tests.conftest import NOW
from tests.factories import make_contact, make_user
from tests.web.conftest import PASSWORD, Browser

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


def upload(browser: Browser, text: str | bytes, filename: str = "contacts.csv") -> str:
    """Upload a file; returns the path of the page it leads to (columns or check)."""
    data = text.encode() if isinstance(text, str) else text
    response = browser.post(
        "/contacts/import",
        {"file": (io.BytesIO(data), filename)},
        page="/contacts/import",
        content_type="multipart/form-data",
    )
    assert response.status_code == 303, response.get_data(as_text=True)
    return response.headers["Location"]


def confirm(browser: Browser, check_path: str) -> str:
    """Confirm on the check page, as a browser without scripts does; returns the result page."""
    response = browser.post(f"{check_path}/run", page=check_path)
    assert response.status_code == 303, response.status_code
    assert response.headers["Location"] == check_path
    return browser.page(check_path)


def import_file(browser: Browser, text: str | bytes, filename: str = "contacts.csv") -> str:
    return confirm(browser, upload(browser, text, filename))


def test_a_csv_is_checked_and_nothing_is_stored_before_the_person_confirms(
    signed_in: Browser, session: Session
) -> None:
    check_path = upload(signed_in, CSV_WITH_ONE_BAD_ROW)

    page = signed_in.page(check_path)
    assert '<strong id="check-new">2</strong>' in page
    assert '<strong id="check-problems">1</strong>' in page
    assert '<tr data-row="3"><td>Line 3</td>' in page
    assert "&#39;not-an-address&#39; is not a valid email address." in page
    assert "Email Address → Email address" in page and "Company → Organisation" in page
    assert "Import 2 contacts, skip 1 row" in page
    assert contact_count(session) == 0

    result = confirm(signed_in, check_path)

    assert '<strong id="import-created">2</strong>' in result
    assert '<strong id="import-error-count">1</strong>' in result
    assert "&#39;not-an-address&#39; is not a valid email address." in result
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
    import_file(signed_in, CSV_WITH_ONE_BAD_ROW)

    check = signed_in.page(upload(signed_in, CSV_WITH_ONE_BAD_ROW))

    assert '<strong id="check-new">0</strong>' in check
    assert '<strong id="check-duplicates">2</strong>' in check
    assert "everyone in it is already on your list" not in check  # one row has a problem
    assert "fix the rows below and upload it again" in check
    assert 'data-action="confirm-import"' not in check
    assert contact_count(session) == 2


def test_an_import_fills_only_what_a_stored_contact_lacks(
    signed_in: Browser, user: User, session: Session
) -> None:
    make_contact(session, user, email="ada@example.org", name="Ada", organisation="", role="Chief")
    session.commit()

    result = import_file(signed_in, CSV_WITH_ONE_BAD_ROW)

    assert "ada@example.org: organisation" in result
    session.expire_all()
    ada = session.scalar(select(Contact).where(Contact.email == "ada@example.org"))
    assert ada is not None
    assert (ada.name, ada.organisation, ada.role) == ("Ada", "Analytical Engines", "Chief")


def test_a_file_from_a_windows_spreadsheet_is_read(signed_in: Browser, session: Session) -> None:
    import_file(signed_in, "Name,Email\nJosé Núñez,jose@example.org\n".encode("cp1252"))

    assert session.scalar(select(Contact.name)) == "José Núñez"


def test_unknown_columns_are_mapped_on_a_page_showing_the_first_rows(
    signed_in: Browser, session: Session
) -> None:
    text = "Wer;Adresse;Firma;Telefon\nJosé Núñez;jose@contoso.example;Contoso;+49 30 1234\n"
    columns_path = upload(signed_in, text)
    assert columns_path.endswith("/columns")

    page = signed_in.page(columns_path)
    assert '<label for="column-1">Adresse</label>' in page
    assert '<span class="example">jose@contoso.example</span>' in page

    refused = signed_in.post(
        columns_path, {"column-0": "name", "has_header": "y"}, page=columns_path
    )
    assert refused.status_code == 400
    assert "Choose the column that holds the email address." in refused.get_data(as_text=True)

    chosen = {"column-0": "name", "column-1": "email", "column-2": "organisation", "column-3": ""}
    response = signed_in.post(columns_path, {**chosen, "has_header": "y"}, page=columns_path)
    assert response.status_code == 303
    check_path = response.headers["Location"]
    check = signed_in.page(check_path)
    assert "Telefon → left out" in check
    confirm(signed_in, check_path)
    jose = session.scalar(select(Contact))
    assert jose is not None
    assert (jose.name, jose.email, jose.organisation) == (
        "José Núñez",
        "jose@contoso.example",
        "Contoso",
    )

    # The same header next time: the mapping is remembered, straight to the check.
    again = upload(signed_in, text.replace("jose@", "maria@").replace("José Núñez", "María"))
    assert not again.endswith("/columns")
    assert '<strong id="check-new">1</strong>' in signed_in.page(again)


def test_a_file_without_a_header_row_imports_its_first_row_too(
    signed_in: Browser, session: Session
) -> None:
    columns_path = upload(signed_in, "Ada Lovelace,ada@x.example\nAlan Turing,alan@x.example\n")
    page = signed_in.page(columns_path)
    assert '<label for="column-0">Column 1</label>' in page

    response = signed_in.post(
        columns_path, {"column-0": "name", "column-1": "email"}, page=columns_path
    )
    confirm(signed_in, response.headers["Location"])

    assert set(session.scalars(select(Contact.name))) == {"Ada Lovelace", "Alan Turing"}


def test_a_vcard_file_is_imported_with_each_broken_card_named(
    signed_in: Browser, session: Session
) -> None:
    vcf = (
        "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Grace Hopper\r\nN:Hopper;Grace;;;\r\n"
        "item1.EMAIL;type=INTERNET;type=pref:grace@navy.example\r\nORG:US Navy\r\nEND:VCARD\r\n"
        "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Jane Doe\r\nEND:VCARD\r\n"
    )
    check_path = upload(signed_in, vcf, "contacts.vcf")
    check = signed_in.page(check_path)
    assert '<strong id="check-new">1</strong>' in check
    assert "<td>Card 2 (Jane Doe)</td><td>No email address.</td>" in check

    result = confirm(signed_in, check_path)

    assert '<strong id="import-error-count">1</strong>' in result
    assert session.scalar(select(Contact.email)) == "grace@navy.example"


def test_the_import_runs_in_steps_that_report_progress(
    signed_in: Browser, session: Session
) -> None:
    from web.views.contacts import SLICE

    rows = "".join(f"person{n}@x.example,Person {n}\n" for n in range(SLICE + 10))
    check_path = upload(signed_in, "email,name\n" + rows)
    step_path = f"{check_path}/step"

    first = signed_in.post(step_path, page=check_path).get_json()
    assert first["done"] == SLICE and first["total"] == SLICE + 10 and not first["finished"]
    # A page opened in the middle offers to finish the import.
    assert "Finish the import" in signed_in.page(check_path)
    second = signed_in.post(step_path, page=check_path).get_json()

    assert second == {
        "done": SLICE + 10,
        "total": SLICE + 10,
        "finished": True,
        "result": check_path,
    }
    assert contact_count(session) == SLICE + 10
    assert '<strong id="import-created">260</strong>' in signed_in.page(check_path)


def test_a_cancelled_import_stores_nothing_and_is_gone(
    signed_in: Browser, session: Session
) -> None:
    check_path = upload(signed_in, CSV_WITH_ONE_BAD_ROW)

    response = signed_in.post(f"{check_path}/cancel", page=check_path)

    assert response.status_code == 303
    assert signed_in.get(check_path).status_code == 404
    assert contact_count(session) == 0


def test_another_users_import_cannot_be_seen_or_run(signed_in: Browser, session: Session) -> None:
    check_path = upload(signed_in, CSV_WITH_ONE_BAD_ROW)
    signed_in.logout()
    other = make_user(session, password=PASSWORD)
    session.commit()
    signed_in.login(other.email)

    assert signed_in.get(check_path).status_code == 404
    assert signed_in.post(f"{check_path}/run", page="/contacts").status_code == 404
    assert contact_count(session) == 0


def test_a_file_that_is_not_csv_is_refused_with_a_reason(signed_in: Browser) -> None:
    response = signed_in.post(
        "/contacts/import",
        {"file": (io.BytesIO(b"\n\n"), "empty.csv")},
        page="/contacts/import",
        content_type="multipart/form-data",
    )

    assert response.status_code == 400
    assert "The file holds no rows." in response.get_data(as_text=True)


def test_import_without_a_file_says_so(signed_in: Browser) -> None:
    response = signed_in.post("/contacts/import", {}, page="/contacts/import")

    assert response.status_code == 400
    assert "Choose a file to import." in response.get_data(as_text=True)


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
