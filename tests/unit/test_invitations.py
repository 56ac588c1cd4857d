"""Calendar invitations in replies: Google Calendar, Outlook, and ones built with icalendar.

The Google and Outlook samples are written after what those services send: a
multipart message whose text/calendar part (METHOD:REQUEST) carries the event,
Google's also attached as invite.ics, Outlook's with a Windows time zone name.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from zoneinfo import ZoneInfo

import icalendar
import pytest

from outreach.reading.invitations import (
    Invitation,
    InvitationError,
    calendar_parts,
    invitations_in,
    parse_calendar,
)

GOOGLE_UID = "5v7mq0b2k1c3d4e5f6g7h8i9j0@google.com"
OUTLOOK_UID = (
    "040000008200E00074C5B7101A82E0080000000010A7D3C4E1C4DC01000000000000000010000000"
    "2F3B9E3B9D0B6A4C8C0A2A6E3D1F0E5B"
)

GOOGLE_ICS = (
    "BEGIN:VCALENDAR\r\n"
    "PRODID:-//Google Inc//Google Calendar 70.9054//EN\r\n"
    "VERSION:2.0\r\n"
    "CALSCALE:GREGORIAN\r\n"
    "METHOD:{method}\r\n"
    "BEGIN:VTIMEZONE\r\n"
    "TZID:Europe/London\r\n"
    "X-LIC-LOCATION:Europe/London\r\n"
    "BEGIN:STANDARD\r\n"
    "TZOFFSETFROM:+0100\r\n"
    "TZOFFSETTO:+0000\r\n"
    "TZNAME:GMT\r\n"
    "DTSTART:19701025T020000\r\n"
    "RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU\r\n"
    "END:STANDARD\r\n"
    "BEGIN:DAYLIGHT\r\n"
    "TZOFFSETFROM:+0000\r\n"
    "TZOFFSETTO:+0100\r\n"
    "TZNAME:BST\r\n"
    "DTSTART:19700329T010000\r\n"
    "RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU\r\n"
    "END:DAYLIGHT\r\n"
    "END:VTIMEZONE\r\n"
    "BEGIN:VEVENT\r\n"
    "DTSTART;TZID=Europe/London:{start}\r\n"
    "DTEND;TZID=Europe/London:{end}\r\n"
    "DTSTAMP:20261124T120000Z\r\n"
    "ORGANIZER;CN=Alex Lee:mailto:alex.lee@org.example\r\n"
    "UID:" + GOOGLE_UID + "\r\n"
    "ATTENDEE;CUTYPE=INDIVIDUAL;ROLE=REQ-PARTICIPANT;PARTSTAT=NEEDS-ACTION;RSVP=\r\n"
    " TRUE;CN={student};X-NUM-GUESTS=0:mailto:{student}\r\n"
    "X-GOOGLE-CONFERENCE:https://meet.google.com/abc-defg-hij\r\n"
    "CREATED:20261124T115900Z\r\n"
    "DESCRIPTION:Happy to tell you about science policy.\\n\\n-::~:~::~:~:~:~:~:~:~:~:~\r\n"
    " :~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~::~:~::-\\nJoin with Google Me\r\n"
    " et: https://meet.google.com/abc-defg-hij\\n\\nJoin by phone\\n(US) +1 555-010-0\r\n"
    " 199 PIN: 123456789#\\n\\nLearn more about Meet at: https://support.google.com/a\r\n"
    " /users/answer/9282720\\n\\n-::~:~::~:~:~:~:~:~:~:~:~:~:~:~::-\r\n"
    "LAST-MODIFIED:20261124T120000Z\r\n"
    "LOCATION:\r\n"
    "SEQUENCE:{sequence}\r\n"
    "STATUS:{status}\r\n"
    "SUMMARY:Coffee chat: science policy\r\n"
    "TRANSP:OPAQUE\r\n"
    "END:VEVENT\r\n"
    "END:VCALENDAR\r\n"
)


def google_ics(
    *,
    method: str = "REQUEST",
    start: str = "20261203T140000",
    end: str = "20261203T143000",
    sequence: int = 0,
    status: str = "CONFIRMED",
    student: str = "student@example.test",
) -> str:
    return GOOGLE_ICS.format(
        method=method, start=start, end=end, sequence=sequence, status=status, student=student
    )


def google_invitation(
    *,
    student: str = "student@example.test",
    message_id: str = "<0000000000001234abcd@google.com>",
    in_reply_to: str | None = None,
    **ics: str | int,
) -> bytes:
    """An invitation as Google Calendar mails it: alternative parts, plus invite.ics attached."""
    calendar = google_ics(student=student, **ics)  # type: ignore[arg-type]
    method = str(ics.get("method", "REQUEST"))
    threading = (
        f"In-Reply-To: {in_reply_to}\r\nReferences: {in_reply_to}\r\n" if in_reply_to else ""
    )
    attached = base64.encodebytes(calendar.encode()).decode().replace("\n", "\r\n")
    return (
        "From: Alex Lee <alex.lee@org.example>\r\n"
        f"To: {student}\r\n"
        "Subject: Invitation: Coffee chat: science policy @ Thu 3 Dec 2026 2pm - 2:30pm (GMT)"
        f" ({student})\r\n"
        f"Message-ID: {message_id}\r\n"
        f"{threading}"
        "Date: Tue, 24 Nov 2026 12:00:00 +0000\r\n"
        "Reply-To: Alex Lee <alex.lee@org.example>\r\n"
        "Sender: Google Calendar <calendar-notification@google.com>\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/mixed; boundary="000000000000a1b2"\r\n'
        "\r\n"
        "--000000000000a1b2\r\n"
        'Content-Type: multipart/alternative; boundary="000000000000c3d4"\r\n'
        "\r\n"
        "--000000000000c3d4\r\n"
        'Content-Type: text/plain; charset="UTF-8"; format=flowed; delsp=yes\r\n'
        "\r\n"
        "You have been invited to the following event.\r\n"
        "Coffee chat: science policy\r\n"
        "Thursday 3 Dec 2026 2pm - 2:30pm (GMT)\r\n"
        "Joining info: Join with Google Meet\r\n"
        "https://meet.google.com/abc-defg-hij\r\n"
        "\r\n"
        "--000000000000c3d4\r\n"
        'Content-Type: text/html; charset="UTF-8"\r\n'
        "\r\n"
        "<p>You have been invited to the following event.</p>\r\n"
        "--000000000000c3d4\r\n"
        f'Content-Type: text/calendar; charset="UTF-8"; method={method}\r\n'
        "Content-Transfer-Encoding: 7bit\r\n"
        "\r\n"
        f"{calendar}"
        "--000000000000c3d4--\r\n"
        "\r\n"
        "--000000000000a1b2\r\n"
        'Content-Type: application/ics; name="invite.ics"\r\n'
        'Content-Disposition: attachment; filename="invite.ics"\r\n'
        "Content-Transfer-Encoding: base64\r\n"
        "\r\n"
        f"{attached}"
        "--000000000000a1b2--\r\n"
    ).encode()


OUTLOOK_ICS = (
    "BEGIN:VCALENDAR\r\n"
    "METHOD:REQUEST\r\n"
    "PRODID:Microsoft Exchange Server 2010\r\n"
    "VERSION:2.0\r\n"
    "BEGIN:VTIMEZONE\r\n"
    "TZID:W. Europe Standard Time\r\n"
    "BEGIN:STANDARD\r\n"
    "DTSTART:16010101T030000\r\n"
    "TZOFFSETFROM:+0200\r\n"
    "TZOFFSETTO:+0100\r\n"
    "RRULE:FREQ=YEARLY;INTERVAL=1;BYDAY=-1SU;BYMONTH=10\r\n"
    "END:STANDARD\r\n"
    "BEGIN:DAYLIGHT\r\n"
    "DTSTART:16010101T020000\r\n"
    "TZOFFSETFROM:+0100\r\n"
    "TZOFFSETTO:+0200\r\n"
    "RRULE:FREQ=YEARLY;INTERVAL=1;BYDAY=-1SU;BYMONTH=3\r\n"
    "END:DAYLIGHT\r\n"
    "END:VTIMEZONE\r\n"
    "BEGIN:VEVENT\r\n"
    "ORGANIZER;CN=Jonas Weber:mailto:jonas.weber@behoerde.example\r\n"
    "ATTENDEE;ROLE=REQ-PARTICIPANT;PARTSTAT=NEEDS-ACTION;RSVP=TRUE;CN=Sam Student:\r\n"
    " mailto:student@example.test\r\n"
    "DESCRIPTION;LANGUAGE=en-US:Gerne erzähle ich Ihnen von meiner Arbeit.\\n\\n____\r\n"
    " ____________________________________________________________________________\r\n"
    " ____\\nMicrosoft Teams meeting\\nJoin on your computer\\, mobile app or room d\r\n"
    " evice\\nClick here to join the meeting<https://teams.microsoft.com/l/meetup-j\r\n"
    " oin/19%3ameeting_ZmQ0YjE0%40thread.v2/0?context=%7b%22Tid%22%3a%22abc%22%7d>\r\n"
    " \\nMeeting ID: 312 456 789 012\\nPasscode: aB3cD4\\n____________________________\r\n"
    " ____________________________________________________\\n\r\n"
    "UID:" + OUTLOOK_UID[:74] + "\r\n"
    " " + OUTLOOK_UID[74:] + "\r\n"
    "SUMMARY;LANGUAGE=en-US:Informational interview\r\n"
    "DTSTART;TZID=W. Europe Standard Time:20261208T090000\r\n"
    "DTEND;TZID=W. Europe Standard Time:20261208T094500\r\n"
    "CLASS:PUBLIC\r\n"
    "PRIORITY:5\r\n"
    "DTSTAMP:20261125T081530Z\r\n"
    "TRANSP:OPAQUE\r\n"
    "STATUS:CONFIRMED\r\n"
    "SEQUENCE:0\r\n"
    "LOCATION;LANGUAGE=en-US:Microsoft Teams Meeting\r\n"
    "X-MICROSOFT-CDO-APPT-SEQUENCE:0\r\n"
    "X-MICROSOFT-CDO-BUSYSTATUS:TENTATIVE\r\n"
    "X-MICROSOFT-CDO-IMPORTANCE:1\r\n"
    "X-MICROSOFT-DISALLOW-COUNTER:FALSE\r\n"
    "END:VEVENT\r\n"
    "END:VCALENDAR\r\n"
)


def outlook_invitation(in_reply_to: str = "<request-1@example.test>") -> bytes:
    """A meeting request as Exchange sends it: the calendar base64-encoded, method=REQUEST."""
    encoded = base64.encodebytes(OUTLOOK_ICS.encode()).decode().replace("\n", "\r\n")
    return (
        "From: Jonas Weber <jonas.weber@behoerde.example>\r\n"
        "To: Sam Student <student@example.test>\r\n"
        "Subject: Informational interview\r\n"
        "Thread-Topic: Informational interview\r\n"
        "Thread-Index: AQHbPq3xABCDEFGHIJKLMNOP==\r\n"
        "Date: Wed, 25 Nov 2026 08:15:30 +0000\r\n"
        "Message-ID: <AM0PR01MB1234ABCD@AM0PR01MB1234.eurprd01.prod.example>\r\n"
        f"In-Reply-To: {in_reply_to}\r\n"
        f"References: {in_reply_to}\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/alternative; boundary="_000_AM0PR01MB1234_"\r\n'
        "\r\n"
        "--_000_AM0PR01MB1234_\r\n"
        'Content-Type: text/plain; charset="utf-8"\r\n'
        "Content-Transfer-Encoding: 8bit\r\n"
        "\r\n"
        "Gerne erzähle ich Ihnen von meiner Arbeit.\r\n"
        "\r\n"
        "--_000_AM0PR01MB1234_\r\n"
        'Content-Type: text/html; charset="utf-8"\r\n'
        "\r\n"
        "<html><body><p>Gerne erzähle ich Ihnen von meiner Arbeit.</p></body></html>\r\n"
        "\r\n"
        "--_000_AM0PR01MB1234_\r\n"
        'Content-Type: text/calendar; charset="utf-8"; method=REQUEST\r\n'
        "Content-Transfer-Encoding: base64\r\n"
        "\r\n"
        f"{encoded}"
        "\r\n"
        "--_000_AM0PR01MB1234_--\r\n"
    ).encode()


def built_calendar(
    start: datetime,
    *,
    uid: str = "built-1@example.test",
    method: str = "REQUEST",
    end: datetime | None = None,
    duration: timedelta | None = None,
    location: str = "Café Central, 12 High Street",
) -> bytes:
    """An invitation made with icalendar itself, as any standards-minded client would."""
    calendar = icalendar.Calendar()
    calendar.add("prodid", "-//Outreach tests//EN")
    calendar.add("version", "2.0")
    calendar.add("method", method)
    event = icalendar.Event()
    event.add("uid", uid)
    event.add("dtstamp", datetime(2026, 11, 24, 12, tzinfo=UTC))
    event.add("dtstart", start)
    if end is not None:
        event.add("dtend", end)
    if duration is not None:
        event.add("duration", duration)
    event.add("summary", "Informational interview")
    if location:
        event.add("location", location)
    calendar.add_component(event)
    return bytes(calendar.to_ical())


def with_attachment(calendar: bytes, filename: str = "meeting.ics") -> bytes:
    """A plain reply with the calendar attached as a file (Apple Mail, Thunderbird)."""
    message = EmailMessage()
    message["From"] = "Alex Lee <alex.lee@org.example>"
    message["To"] = "student@example.test"
    message["Subject"] = "Re: Could I ask you about your work?"
    message["Message-ID"] = "<reply-ics@org.example>"
    message.set_content("Happy to talk. I attach an invitation.\n")
    message.add_attachment(calendar, maintype="text", subtype="calendar", filename=filename)
    return message.as_bytes()


# --- Google Calendar ---------------------------------------------------------------------------


def test_google_invitation_gives_start_end_call_link_and_uid() -> None:
    (invitation,) = invitations_in(google_invitation())

    assert invitation.uid == GOOGLE_UID
    assert invitation.method == "REQUEST" and invitation.proposes
    # 14:00 in London in December is 14:00 UTC (GMT).
    assert invitation.starts_at == datetime(2026, 12, 3, 14, 0, tzinfo=UTC)
    assert invitation.duration_minutes == 30
    assert invitation.summary == "Coffee chat: science policy"
    assert invitation.place.splitlines()[0] == "https://meet.google.com/abc-defg-hij"
    assert "PIN: 123456789#" in invitation.place


def test_google_sends_the_calendar_twice_but_it_is_read_once() -> None:
    raw = google_invitation()

    assert len(calendar_parts(raw)) == 2  # the text/calendar part and invite.ics
    assert len(invitations_in(raw)) == 1


def test_summer_time_in_london_is_an_hour_ahead_of_utc() -> None:
    (invitation,) = invitations_in(
        google_invitation(start="20260701T140000", end="20260701T150000")
    )

    assert invitation.starts_at == datetime(2026, 7, 1, 13, 0, tzinfo=UTC)
    assert invitation.duration_minutes == 60


def test_google_cancellation_is_a_cancel() -> None:
    (invitation,) = invitations_in(
        google_invitation(method="CANCEL", status="CANCELLED", sequence=1)
    )

    assert invitation.cancelled and not invitation.proposes
    assert invitation.uid == GOOGLE_UID
    assert invitation.sequence == 1


# --- Outlook / Exchange ------------------------------------------------------------------------


def test_outlook_invitation_with_a_windows_time_zone_name() -> None:
    (invitation,) = invitations_in(outlook_invitation())

    # 09:00 in Berlin (W. Europe Standard Time) in December is 08:00 UTC.
    assert invitation.starts_at == datetime(2026, 12, 8, 8, 0, tzinfo=UTC)
    assert invitation.duration_minutes == 45
    assert invitation.uid == OUTLOOK_UID  # folded over two lines in the file
    lines = invitation.place.splitlines()
    assert lines[0] == "Microsoft Teams Meeting"
    assert lines[1].startswith("https://teams.microsoft.com/l/meetup-join/19%3ameeting_")
    assert "Meeting ID: 312 456 789 012" in lines
    assert "Passcode: aB3cD4" in lines


# --- invitations built with icalendar ----------------------------------------------------------


def test_utc_start_and_duration_instead_of_an_end() -> None:
    raw = with_attachment(
        built_calendar(datetime(2026, 12, 4, 16, 30, tzinfo=UTC), duration=timedelta(minutes=20))
    )

    (invitation,) = invitations_in(raw)

    assert invitation.starts_at == datetime(2026, 12, 4, 16, 30, tzinfo=UTC)
    assert invitation.duration_minutes == 20
    assert invitation.place == "Café Central, 12 High Street"


def test_zone_given_by_tzid_is_converted_to_utc() -> None:
    start = datetime(2026, 12, 4, 9, 0, tzinfo=ZoneInfo("America/New_York"))
    calendar = built_calendar(start, end=start + timedelta(minutes=30))

    (invitation,) = parse_calendar(calendar)

    assert invitation.starts_at == datetime(2026, 12, 4, 14, 0, tzinfo=UTC)


def test_floating_time_is_read_in_the_users_zone() -> None:
    calendar = built_calendar(datetime(2026, 12, 4, 9, 0), duration=timedelta(minutes=30))

    (invitation,) = parse_calendar(calendar, "Europe/Paris")

    assert invitation.starts_at == datetime(2026, 12, 4, 8, 0, tzinfo=UTC)


def test_no_end_and_no_duration_means_half_an_hour() -> None:
    (invitation,) = parse_calendar(built_calendar(datetime(2026, 12, 4, 9, 0, tzinfo=UTC)))

    assert invitation.duration_minutes == 30


def test_an_end_before_the_start_means_half_an_hour() -> None:
    start = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)
    (invitation,) = parse_calendar(built_calendar(start, end=start - timedelta(hours=1)))

    assert invitation.duration_minutes == 30


def test_attendee_replies_propose_nothing() -> None:
    (answer,) = parse_calendar(
        built_calendar(datetime(2026, 12, 4, 9, 0, tzinfo=UTC), method="REPLY")
    )

    assert not answer.proposes and not answer.cancelled


def test_a_reply_without_a_calendar_has_no_invitation() -> None:
    raw = b"From: a@example.org\r\nSubject: Re: hi\r\n\r\nHappy to talk next week.\r\n"

    assert calendar_parts(raw) == []
    assert invitations_in(raw) == []


# --- hostile and broken input ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("calendar", "reason"),
    [
        (b"this is not a calendar at all", "could not be read"),
        (b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nEND:VCALENDAR\r\n", "holds no event"),
        (
            b"BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:x\r\nDTSTART:not-a-date\r\n"
            b"END:VEVENT\r\nEND:VCALENDAR\r\n",
            "no readable start time",
        ),
        (
            b"BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nDTSTART:20261204T090000Z\r\n"
            b"END:VEVENT\r\nEND:VCALENDAR\r\n",
            "has no UID",
        ),
        (
            b"BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:x\r\nDTSTART;VALUE=DATE:20261204\r\n"
            b"END:VEVENT\r\nEND:VCALENDAR\r\n",
            "whole day",
        ),
        (b"BEGIN:VCALENDAR\r\n" + b"X-PAD:" + b"x" * 600_000 + b"\r\n", "larger than"),
    ],
)
def test_a_broken_calendar_says_why_in_words(calendar: bytes, reason: str) -> None:
    with pytest.raises(InvitationError, match=reason):
        invitations_in(with_attachment(calendar))


def test_many_events_are_bounded() -> None:
    events = "".join(
        f"BEGIN:VEVENT\r\nUID:e{n}\r\nDTSTART:20261204T090000Z\r\nEND:VEVENT\r\n"
        for n in range(500)
    )
    calendar = f"BEGIN:VCALENDAR\r\nMETHOD:REQUEST\r\n{events}END:VCALENDAR\r\n".encode()

    assert len(parse_calendar(calendar)) == 20


def test_invitation_value_is_plain_data() -> None:
    invitation = Invitation(
        uid="u",
        method="CANCEL",
        starts_at=datetime(2026, 12, 4, tzinfo=UTC),
        duration_minutes=30,
        place="",
        summary="",
        sequence=0,
    )

    assert invitation.cancelled and not invitation.proposes
