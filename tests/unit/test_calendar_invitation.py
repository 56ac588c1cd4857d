"""The calendar invitation a confirmation carries: valid iCalendar, where mail programs look."""

from __future__ import annotations

from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage

import icalendar

from outreach.meetings.calendar_file import Person, invitation_ics
from outreach.rules.compose import build_message, thread_headers, wire_bytes
from tests.unit.test_compose import outgoing

STARTS = datetime(2026, 12, 8, 14, 0, tzinfo=UTC)


def invitation(**overrides: object) -> str:
    values: dict[str, object] = {
        "uid": "4f1c2a@uni.example",
        "starts_at": STARTS,
        "duration_minutes": 30,
        "summary": "Conversation: Alex Lee and Sam Student",
        "description": "An informational conversation of 30 minutes.",
        "place": "https://meet.example/abc",
        "organiser": Person("Sam Student", "sam@uni.example"),
        "attendee": Person("Alex Lee", "alex@org.example"),
        "stamp": datetime(2026, 12, 3, 16, 0, tzinfo=UTC),
    }
    values.update(overrides)
    return invitation_ics(**values)  # type: ignore[arg-type]


def test_the_invitation_is_a_request_from_the_user_to_the_contact() -> None:
    calendar = icalendar.Calendar.from_ical(invitation())

    assert str(calendar["METHOD"]) == "REQUEST"
    (event,) = calendar.walk("VEVENT")
    assert str(event["UID"]) == "4f1c2a@uni.example"
    assert event.decoded("DTSTART") == STARTS
    assert event.decoded("DTEND") == datetime(2026, 12, 8, 14, 30, tzinfo=UTC)
    assert event.to_ical().decode().count("DTSTART:20261208T140000Z") == 1
    assert str(event["ORGANIZER"]) == "mailto:sam@uni.example"
    assert event["ORGANIZER"].params["CN"] == "Sam Student"
    assert str(event["ATTENDEE"]) == "mailto:alex@org.example"
    assert event["ATTENDEE"].params["RSVP"] == "TRUE"
    assert str(event["LOCATION"]) == "https://meet.example/abc"


def test_a_hostile_name_stays_inside_its_parameter() -> None:
    text = invitation(
        attendee=Person('Alex"; ROLE=CHAIR:mailto:evil@x.example', "alex@org.example")
    )

    (event,) = icalendar.Calendar.from_ical(text).walk("VEVENT")
    assert str(event["ATTENDEE"]) == "mailto:alex@org.example"
    assert event["ATTENDEE"].params["ROLE"] == "REQ-PARTICIPANT"


def calendar_parts(message: EmailMessage) -> list[EmailMessage]:
    return [part for part in message.walk() if not part.is_multipart()]


def test_the_mail_carries_it_as_an_alternative_and_as_an_attachment() -> None:
    ics = invitation()
    built = build_message(outgoing(calendar=ics))
    read = message_from_bytes(wire_bytes(built), policy=policy.default)
    assert isinstance(read, EmailMessage)

    text, inline, attached = calendar_parts(read)
    assert read.get_content_type() == "multipart/mixed"
    assert text.get_content().replace("\r\n", "\n") == "Dear Alex,\n\nHello.\n"
    assert inline.get_content_type() == "text/calendar"
    assert inline.get_param("method") == "REQUEST"
    assert attached.get_filename() == "invite.ics"
    for part in (inline, attached):
        content = part.get_content()
        assert icalendar.Calendar.from_ical(content) == icalendar.Calendar.from_ical(ics)


def test_the_same_row_gives_the_same_bytes() -> None:
    # The Sent-folder copy is rebuilt from the row: random boundaries would differ.
    first = wire_bytes(build_message(outgoing(calendar=invitation())))
    again = wire_bytes(build_message(outgoing(calendar=invitation())))
    assert first == again
    plain = wire_bytes(build_message(outgoing()))
    assert b"multipart" not in plain


def test_thread_headers_take_only_what_reads_as_message_ids() -> None:
    assert thread_headers("<b@org.example>", "<a@uni.example>") == (
        "<b@org.example>",
        "<a@uni.example> <b@org.example>",
    )
    # A stranger's References with junk, a header in disguise and a repeat of the id.
    hostile = "junk <a@uni.example>\r\nBcc: victim@evil.example <b@org.example> <c d@x>"
    assert thread_headers("<b@org.example>", hostile) == (
        "<b@org.example>",
        "<a@uni.example> <b@org.example>",
    )
    assert thread_headers("not an id\r\nBcc: x@y", "<a@uni.example>") == (None, "")
    many = " ".join(f"<{n}@uni.example>" for n in range(40))
    _, references = thread_headers("<z@org.example>", many)
    assert references.split() == [f"<{n}@uni.example>" for n in range(31, 40)] + ["<z@org.example>"]
