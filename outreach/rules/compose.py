"""Turn an approved draft into the exact email that goes out (pure: no I/O).

Names and subjects come from users and from imported files. They are folded to
one line before they reach a header, so a line break can never smuggle in a
header of its own (header injection). The email package decodes RFC 2047 encoded
words in what it is given ("=?utf-8?q?Dana=0D=0ABcc:...?=") and, before Python
3.11.10, writes a line break found there as it is: so text with encoded words is
taken as it reads once decoded, on one line, and the finished header block is
read back to check it holds only the headers set here
(tests/security/test_header_injection.py). Any other control character left once
decoded (a NUL from an imported file) is refused (outreach.rules.plain_text).
"""

from __future__ import annotations

import functools
import hashlib
import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from email import message_from_bytes
from email.errors import HeaderParseError
from email.header import decode_header, make_header
from email.headerregistry import Address, BaseHeader
from email.message import EmailMessage, Message
from email.policy import default
from email.utils import format_datetime
from typing import cast

from outreach.errors import ValidationError
from outreach.rules.plain_text import refuse_control_characters


def one_line(text: str) -> str:
    """Collapse every run of whitespace, line breaks included, into one space."""
    return " ".join(text.split())


# Each round undoes one layer of encoded words; nobody's name needs more than one.
_DECODING_ROUNDS = 4


def as_read(text: str) -> str:
    """`text` on one line as a mail program shows it: encoded words decoded, line breaks gone.

    :raise ValidationError: for text that is still encoded after several rounds.
    """
    shown = one_line(text)
    for _ in range(_DECODING_ROUNDS):
        if "=?" not in shown:
            return shown
        try:
            decoded = one_line(str(make_header(decode_header(shown))))
        except (HeaderParseError, LookupError, UnicodeError, ValueError):
            return shown  # not valid encoded words: the email package leaves them as text
        if decoded == shown:
            return shown
        shown = decoded
    raise ValidationError("a name or subject is encoded too many times to be sent")


def domain_of(address: str) -> str:
    local, at, domain = address.rpartition("@")
    if not at or not local or not domain:
        raise ValidationError(f"'{address}' is not an email address")
    return domain.lower()


def make_message_id(sender_address: str) -> str:
    """A fresh, globally unique Message-ID on the sender's own domain."""
    return f"<{uuid.uuid4().hex}@{domain_of(sender_address)}>"


# "Re: Re: RE:" as some clients pile them up, each answering the one before.
_REPEATED_RE = re.compile(r"^(?:re\s*:\s*){2,}", re.IGNORECASE)


def reply_subject(subject: str) -> str:
    """'Re: ' once, however many replies deep (a pile of them becomes one)."""
    clean = one_line(subject)
    if _REPEATED_RE.match(clean):
        return "Re: " + _REPEATED_RE.sub("", clean)
    return clean if clean.lower().startswith("re:") else f"Re: {clean}"


# One Message-ID: no space, no control character, no angle bracket inside.
_MESSAGE_ID = re.compile(r"<[^<>\s\x00-\x1f\x7f]{1,900}>")
# References keeps the thread's last few ids: enough for every client to thread it.
MAX_REFERENCES = 10


def thread_headers(message_id: str | None, references: str) -> tuple[str | None, str]:
    """In-Reply-To and References for an answer to a message with these headers.

    The message may be a stranger's: only what reads as a Message-ID is taken.
    """
    own = (message_id or "").strip()
    if not _MESSAGE_ID.fullmatch(own):
        return None, ""
    earlier = [one for one in _MESSAGE_ID.findall(references or "") if one != own]
    return own, " ".join([*earlier[-(MAX_REFERENCES - 1) :], own])


def _header_text(what: str, text: str) -> str:
    """`text` as it reads (`as_read`), for a header; any control character left is refused.

    :raise ValidationError: naming `what`, when a control character is left once decoded
        and folded (a NUL would end the header in some servers' eyes).
    """
    shown = as_read(text)
    refuse_control_characters(what, shown)
    return shown


def _address(name: str, email_address: str, what: str) -> Address:
    name = _header_text(f"the {what} name", name)
    refuse_control_characters(f"the {what} address", email_address)
    local, _, domain = email_address.strip().rpartition("@")
    try:
        return Address(display_name=name, username=local, domain=domain)
    except (ValueError, IndexError) as error:
        raise ValidationError(f"'{email_address}' cannot be used as an address: {error}") from None


def _set_address(
    message: EmailMessage, header: str, name: str, email_address: str, what: str
) -> None:
    """Set an address header that reads back as exactly that one address."""
    message[header] = _address_header(header, name, email_address, what)


@functools.lru_cache(maxsize=1024)
def _address_header(header: str, name: str, email_address: str, what: str) -> BaseHeader:
    """The parsed header `header` that reads back as exactly that one address.

    The email package (3.11) drops the quotes of a display name it has to fold over
    two lines, so a long name holding ":" or "@" would read as other addresses: such
    a name goes without its display name rather than with a lie. Pure, and asked
    again for every message from the same mailbox: cached (folding the header and
    parsing it back cost a millisecond).
    """
    trial = EmailMessage()
    for display_name in (name, ""):
        address = _address(display_name, email_address, what)
        trial[header] = address
        folded = trial.policy.fold(header, trial[header]) + "\n"
        read = message_from_bytes(folded.encode("ascii", "surrogateescape"), policy=default)
        found = _addresses(read, header)
        # The name may come back spaced differently (encoded words); the address may not.
        if (
            list(read.keys()) == [header]
            and [one.addr_spec for one in found] == [address.addr_spec]
            and found[0].display_name == one_line(found[0].display_name)
        ):
            # Set as it is, a parsed header is not parsed again; it is never changed.
            return cast(BaseHeader, trial[header])
        del trial[header]
    raise ValidationError(f"'{email_address}' cannot be written in the {header} header")


def _addresses(read: Message, header: str) -> list[Address]:
    try:
        # With the default policy an address header is parsed: it has .addresses.
        return list(getattr(read[header], "addresses", ()))
    except ValueError:  # a line break inside a name
        return []


@dataclass(frozen=True)
class OutgoingEmail:
    """Everything needed to build one outbound message."""

    from_name: str
    from_address: str
    to_name: str
    to_address: str
    subject: str
    body: str
    message_id: str
    date: datetime
    in_reply_to: str | None = None
    references: tuple[str, ...] = field(default_factory=tuple)
    # An iCalendar invitation (METHOD:REQUEST) to send with the text; "" for none.
    calendar: str = ""


def build_message(outgoing: OutgoingEmail) -> EmailMessage:
    """Build the MIME message; the same input always gives the same bytes."""
    message = EmailMessage()
    _set_address(message, "From", outgoing.from_name, outgoing.from_address, "sender's")
    _set_address(message, "To", outgoing.to_name, outgoing.to_address, "recipient's")
    message["Subject"] = _header_text("the subject", outgoing.subject)
    message["Date"] = format_datetime(outgoing.date)
    message["Message-ID"] = outgoing.message_id
    if outgoing.in_reply_to:
        message["In-Reply-To"] = outgoing.in_reply_to
    if outgoing.references:
        message["References"] = " ".join(outgoing.references)
    # Quoted-printable keeps non-ASCII text 7-bit clean for servers without 8BITMIME.
    message.set_content(
        outgoing.body, cte="7bit" if outgoing.body.isascii() else "quoted-printable"
    )
    if outgoing.calendar:
        _add_calendar(message, outgoing.calendar, outgoing.message_id)
    _check_headers(message)
    return message


def _add_calendar(message: EmailMessage, calendar: str, message_id: str) -> None:
    """The invitation as mail programs expect it: a text/calendar alternative to the text,
    which calendars offer to accept, and the same as an invite.ics attachment.

    The boundaries come from the Message-ID rather than chance, so the same row
    always gives the same bytes (the Sent copy is rebuilt from it).
    """
    message.add_alternative(calendar, subtype="calendar", params={"method": "REQUEST"})
    message.add_attachment(
        calendar.encode("utf-8"), maintype="application", subtype="ics", filename="invite.ics"
    )
    seed = hashlib.sha256(message_id.encode("utf-8", "surrogateescape")).hexdigest()[:24]
    parts = [part for part in message.walk() if part.is_multipart()]
    for number, part in enumerate(parts):
        part.set_boundary(f"=_outreach_{seed}_{number}")


def _check_headers(message: EmailMessage) -> None:
    """Read the header block back as the recipient's server will: the same headers, no more.

    :raise ValidationError: when a name or subject turned into a header of its own.
    """
    head = wire_bytes(message).split(b"\r\n\r\n", 1)[0] + b"\r\n\r\n"
    meant = [name.lower() for name in message.keys()]
    found = [name.lower() for name in message_from_bytes(head).keys()]
    if found != meant:
        raise ValidationError(
            "a name or subject holds a line break in disguise; remove it and approve again"
        )


def wire_bytes(message: EmailMessage) -> bytes:
    """The message as it goes over SMTP: CRLF line ends, headers encoded."""
    return message.as_bytes(policy=message.policy.clone(linesep="\r\n"))
