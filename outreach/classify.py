"""Tell apart a person's reply, an auto-reply, a bounce and the user's own mail (pure)."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from outreach.matching import address_of


class InboundKind(StrEnum):
    REPLY = "reply"
    AUTO_REPLY = "auto_reply"
    BOUNCE = "bounce"
    OWN_MESSAGE = "own_message"


_BOUNCE_SENDERS = ("mailer-daemon@", "postmaster@")
_AUTO_SUBJECT_PREFIXES = (
    "out of office",
    "automatic reply",
    "auto:",
    "autoreply",
    "auto-reply",
    "abwesenheitsnotiz",
    "absence",
)


def classify(headers: Mapping[str, str], own_addresses: frozenset[str]) -> InboundKind:
    """Classify a message from its headers (lower-cased names -> values).

    The order matters: a bounce often carries Auto-Submitted too (RFC 3464
    reports are machine-generated), so it is recognised first.
    """
    sender = address_of(headers.get("from"))
    content_type = headers.get("content-type", "").lower()
    if "multipart/report" in content_type and "delivery-status" in content_type:
        return InboundKind.BOUNCE
    if sender.startswith(_BOUNCE_SENDERS):
        return InboundKind.BOUNCE
    if sender and sender in own_addresses:
        return InboundKind.OWN_MESSAGE
    # RFC 3834: any Auto-Submitted value other than "no" marks a machine's message.
    auto_submitted = headers.get("auto-submitted", "").strip().lower()
    if auto_submitted and auto_submitted != "no":
        return InboundKind.AUTO_REPLY
    if headers.get("x-autoreply") or headers.get("x-autorespond"):
        return InboundKind.AUTO_REPLY
    if headers.get("precedence", "").strip().lower() in {"auto_reply", "bulk", "junk"}:
        return InboundKind.AUTO_REPLY
    subject = " ".join(headers.get("subject", "").split()).lower()
    if subject.startswith(_AUTO_SUBJECT_PREFIXES):
        return InboundKind.AUTO_REPLY
    return InboundKind.REPLY
