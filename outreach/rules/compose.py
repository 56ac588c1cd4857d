"""Turn an approved draft into the exact email that goes out (pure: no I/O).

Names and subjects come from users and from imported files. They are folded to
one line before they reach a header, so a line break can never smuggle in a
header of its own (header injection); any other control character (a NUL from an
imported file) is refused (outreach.rules.plain_text).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime

from outreach.errors import ValidationError
from outreach.rules.plain_text import refuse_control_characters


def one_line(text: str) -> str:
    """Collapse every run of whitespace, line breaks included, into one space."""
    return " ".join(text.split())


def domain_of(address: str) -> str:
    local, at, domain = address.rpartition("@")
    if not at or not local or not domain:
        raise ValidationError(f"'{address}' is not an email address")
    return domain.lower()


def make_message_id(sender_address: str) -> str:
    """A fresh, globally unique Message-ID on the sender's own domain."""
    return f"<{uuid.uuid4().hex}@{domain_of(sender_address)}>"


def reply_subject(subject: str) -> str:
    """'Re: ' once, however many replies deep."""
    clean = one_line(subject)
    return clean if clean.lower().startswith("re:") else f"Re: {clean}"


def _header_text(what: str, text: str) -> str:
    """`text` on one line, for a header: line breaks and tabs folded, other control characters
    refused (a NUL would end the header in some servers' eyes).

    :raise ValidationError: naming `what`, when a control character is left after folding.
    """
    folded = one_line(text)
    refuse_control_characters(what, folded)
    return folded


def _address(name: str, email_address: str, what: str) -> Address:
    name = _header_text(f"the {what} name", name)
    email_address = _header_text(f"the {what} address", email_address)
    local, _, domain = email_address.strip().rpartition("@")
    try:
        return Address(display_name=name, username=local, domain=domain)
    except (ValueError, IndexError) as error:
        raise ValidationError(f"'{email_address}' cannot be used as an address: {error}") from None


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


def build_message(outgoing: OutgoingEmail) -> EmailMessage:
    """Build the MIME message; the same input always gives the same bytes."""
    message = EmailMessage()
    message["From"] = _address(outgoing.from_name, outgoing.from_address, "sender's")
    message["To"] = _address(outgoing.to_name, outgoing.to_address, "recipient's")
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
    return message


def wire_bytes(message: EmailMessage) -> bytes:
    """The message as it goes over SMTP: CRLF line ends, headers encoded."""
    return message.as_bytes(policy=message.policy.clone(linesep="\r\n"))
