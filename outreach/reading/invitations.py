"""Read calendar invitations (iCalendar, RFC 5545 / iTIP RFC 5546) out of a reply (pure).

A contact who agrees to talk often answers with an invitation from Google
Calendar or Outlook: a `text/calendar` part (METHOD:REQUEST), usually also
attached as `invite.ics`. We read when, for how long and where, and the UID that
later updates and cancellations of the same invitation carry.

Inbound mail is hostile input: a calendar that cannot be read raises
InvitationError with a sentence saying why, never anything else.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from email import policy
from email.message import Message
from email.parser import BytesParser
from typing import Any

import icalendar

from outreach.errors import OutreachError
from outreach.rules.cycle import zone_of

# No real invitation comes near these; anything larger is an attempt to waste our time.
MAX_CALENDAR_BYTES = 512 * 1024
MAX_EVENTS = 20
MAX_PLACE = 1000
DEFAULT_DURATION = timedelta(minutes=30)
# A conversation, not a conference: anything longer is most likely a mistake.
MAX_DURATION = timedelta(hours=12)

# Methods that propose a meeting; REPLY and COUNTER are answers to the contact's
# own invitations, and REFRESH asks for one: none of them proposes a time.
_PROPOSING = frozenset({"REQUEST", "PUBLISH", "ADD"})
_CALENDAR_TYPES = frozenset({"text/calendar", "application/ics", "text/x-vcalendar"})

# Call links in an invitation's description: Google Meet, Zoom, Teams, Webex, Whereby, Jitsi.
_CALL_LINK = re.compile(
    r"https://(?:meet\.google\.com|[\w.-]*zoom\.us|teams\.microsoft\.com|teams\.live\.com"
    r"|[\w.-]*webex\.com|whereby\.com|meet\.jit\.si)/[^\s<>\"')\]]+",
    re.IGNORECASE,
)
# Lines of a description worth keeping next to the link: how to dial in.
_DIAL_IN = re.compile(r"\b(?:meeting id|passcode|password|pin|dial|phone|tel)\b", re.IGNORECASE)


class InvitationError(OutreachError):
    """Raised when a calendar attached to a message cannot be read; says why."""


@dataclass(frozen=True)
class Invitation:
    """One event of a calendar invitation, in plain values."""

    uid: str
    # Upper-case iTIP method: REQUEST, CANCEL, PUBLISH ... ("REQUEST" when none is given).
    method: str
    starts_at: datetime  # aware, UTC
    duration_minutes: int
    place: str
    summary: str
    sequence: int

    @property
    def cancelled(self) -> bool:
        return self.method == "CANCEL"

    @property
    def proposes(self) -> bool:
        return self.method in _PROPOSING


def calendar_parts(raw: bytes) -> list[bytes]:
    """The iCalendar data in a message: text/calendar parts and .ics attachments, in order."""
    message = BytesParser(policy=policy.compat32).parsebytes(raw)
    found: list[bytes] = []
    for part in message.walk():
        if part.is_multipart():
            continue
        if _is_calendar(part):
            payload = part.get_payload(decode=True)
            if isinstance(payload, bytes) and payload.strip():
                found.append(payload)
    return found


def _is_calendar(part: Message) -> bool:
    if part.get_content_type() in _CALENDAR_TYPES:
        return True
    filename = part.get_filename() or ""
    return filename.lower().endswith((".ics", ".ical", ".ifb", ".icalendar"))


def invitations_in(raw: bytes, time_zone: str = "UTC") -> list[Invitation]:
    """Every event in every calendar of the message, one per UID (the first seen wins).

    Times without a zone ("floating") are read in `time_zone`, the user's.

    :raise InvitationError: when a calendar part is there but cannot be read.
    """
    seen: dict[str, Invitation] = {}
    for data in calendar_parts(raw):
        for invitation in parse_calendar(data, time_zone):
            seen.setdefault(invitation.uid, invitation)
    return list(seen.values())


def parse_calendar(data: bytes, time_zone: str = "UTC") -> list[Invitation]:
    """The events of one iCalendar object.

    :raise InvitationError: when it is not iCalendar, or an event has no usable start.
    """
    if len(data) > MAX_CALENDAR_BYTES:
        raise InvitationError(
            f"the calendar attached is larger than {MAX_CALENDAR_BYTES // 1024} KB"
        )
    try:
        calendar = icalendar.Calendar.from_ical(data)
    except Exception as error:  # noqa: BLE001 - the library raises many kinds on broken input
        raise InvitationError(
            f"the calendar attached could not be read ({_short(error)})"
        ) from None
    method = str(calendar.get("METHOD", "REQUEST")).strip().upper() or "REQUEST"
    try:
        events = [event for event in calendar.walk("VEVENT")][: MAX_EVENTS * 5]
    except Exception as error:  # noqa: BLE001
        raise InvitationError(
            f"the calendar attached could not be read ({_short(error)})"
        ) from None
    if not events:
        raise InvitationError("the calendar attached holds no event")
    # A recurring invitation may carry changed occurrences (RECURRENCE-ID) after
    # its main event; the main event says when the series starts.
    masters = [event for event in events if event.get("RECURRENCE-ID") is None] or events
    by_uid: dict[str, Invitation] = {}
    for event in masters[:MAX_EVENTS]:
        invitation = _read_event(event, method, zone_of(time_zone))
        by_uid.setdefault(invitation.uid, invitation)
    return list(by_uid.values())


def _short(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return (text[:120] + "...") if len(text) > 120 else (text or type(error).__name__)


def _read_event(event: Any, method: str, local: tzinfo) -> Invitation:
    uid = " ".join(str(event.get("UID", "")).split())[:255]
    if not uid:
        raise InvitationError("the invitation has no UID, so it could not be followed up")
    status = str(event.get("STATUS", "")).strip().upper()
    if status == "CANCELLED":
        method = "CANCEL"
    starts = _moment(event.get("DTSTART"), local, "start")
    duration = _duration(event, starts, local)
    return Invitation(
        uid=uid,
        method=method,
        starts_at=starts,
        duration_minutes=max(1, round(duration.total_seconds() / 60)),
        place=_place(event),
        summary=" ".join(str(event.get("SUMMARY", "")).split())[:200],
        sequence=_integer(event.get("SEQUENCE")),
    )


def _value(prop: Any) -> object:
    """A property's decoded value; None when absent or broken (icalendar keeps broken ones)."""
    try:
        return getattr(prop, "dt", None)
    except Exception:  # noqa: BLE001 - BrokenCalendarProperty, and whatever a future version raises
        return None


def _moment(prop: Any, local: tzinfo, what: str) -> datetime:
    value = _value(prop)
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            value = value.replace(tzinfo=local)  # a floating time: the user's own clock
        try:
            return value.astimezone(UTC)
        except (OverflowError, ValueError):
            raise InvitationError(f"the invitation's {what} time is out of range") from None
    if isinstance(value, date):
        raise InvitationError(
            "the invitation is for a whole day and gives no time; record the meeting yourself"
        )
    raise InvitationError(f"the invitation has no readable {what} time")


def _duration(event: Any, starts: datetime, local: tzinfo) -> timedelta:
    duration: timedelta | None = None
    if event.get("DTEND") is not None:
        try:
            duration = _moment(event.get("DTEND"), local, "end") - starts
        except InvitationError:
            duration = None
    elif event.get("DURATION") is not None:
        value = _value(event.get("DURATION"))
        duration = value if isinstance(value, timedelta) else None
    if duration is None or duration <= timedelta(0):
        return DEFAULT_DURATION
    return min(duration, MAX_DURATION)


def _integer(prop: Any) -> int:
    try:
        return int(str(prop))
    except (TypeError, ValueError):
        return 0


def _text(prop: Any) -> str:
    if prop is None:
        return ""
    if isinstance(prop, list):  # a property given twice
        prop = prop[0] if prop else ""
    return str(prop).replace("\r\n", "\n").strip()


def _place(event: Any) -> str:
    """Where, or how to join: the location, a call link, and dial-in lines."""
    lines: list[str] = []

    def add(line: str) -> None:
        line = " ".join(line.split())
        if line and line not in lines and all(line not in kept for kept in lines):
            lines.append(line[:300])

    add(_text(event.get("LOCATION")))
    for name in ("X-GOOGLE-CONFERENCE", "URL", "X-MICROSOFT-SKYPETEAMSMEETINGURL"):
        add(_text(event.get(name)))
    description = _text(event.get("DESCRIPTION"))
    for link in _CALL_LINK.findall(description)[:1]:
        add(link)
    for line in description.splitlines():
        if len(lines) >= 5:
            break
        if _DIAL_IN.search(line) and len(line) < 200:
            add(line)
    return "\n".join(lines)[:MAX_PLACE]
