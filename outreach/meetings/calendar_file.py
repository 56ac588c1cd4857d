"""The calendar invitation (iCalendar, METHOD:REQUEST) a confirmation carries (pure).

The user organises, the contact attends. The UID is the meeting's own, fixed
when the time was proposed, so a calendar that takes in a later update changes
the same event rather than adding another. Times are written in UTC, which every
calendar reads without a time zone definition.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from icalendar import Calendar, Event, vCalAddress, vText

PRODUCT_ID = "-//Outreach//Meeting invitation//EN"


@dataclass(frozen=True)
class Person:
    name: str
    email: str


def invitation_ics(
    *,
    uid: str,
    starts_at: datetime,
    duration_minutes: int,
    summary: str,
    description: str,
    place: str,
    organiser: Person,
    attendee: Person,
    stamp: datetime,
    sequence: int = 0,
) -> str:
    """One VEVENT in a VCALENDAR with METHOD:REQUEST, as text with CRLF line ends."""
    calendar = Calendar()
    calendar.add("prodid", PRODUCT_ID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "REQUEST")
    event = Event()
    event.add("uid", uid)
    event.add("dtstamp", stamp.astimezone(UTC))
    event.add("dtstart", starts_at.astimezone(UTC))
    event.add("dtend", (starts_at + timedelta(minutes=duration_minutes)).astimezone(UTC))
    event.add("sequence", sequence)
    event.add("status", "CONFIRMED")
    event.add("summary", summary)
    if description:
        event.add("description", description)
    if place:
        event.add("location", place)
    event.add("organizer", _address(organiser))
    guest = _address(attendee)
    guest.params["ROLE"] = vText("REQ-PARTICIPANT")
    guest.params["PARTSTAT"] = vText("NEEDS-ACTION")
    guest.params["RSVP"] = vText("TRUE")
    event.add("attendee", guest)
    calendar.add_component(event)
    text: bytes = calendar.to_ical()
    return text.decode("utf-8")


def _address(person: Person) -> vCalAddress:
    address = vCalAddress(f"mailto:{person.email}")
    # A double quote would end the parameter; a name is one line already.
    address.params["CN"] = vText(person.name.replace('"', "'"))
    return address
