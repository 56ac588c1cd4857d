"""Whether a message is a delivery report, from its headers alone (pure)."""

from __future__ import annotations

import re
from collections.abc import Mapping

from outreach.reading.matching import address_of

_DAEMON_LOCAL_PARTS = frozenset(
    {"mailer-daemon", "mailerdaemon", "mail-daemon", "postmaster", "mdaemon", "mail.daemon"}
)

_BOUNCE_SUBJECT = re.compile(
    r"^\s*(?:"
    r"undeliver(?:able|ed)|undelivered mail|returned mail|failure notice|failed mail"
    r"|delivery status notification \((?:failure|delay)\)|delivery (?:has )?failed"
    r"|delivery failure|delivery notification|mail delivery (?:failed|failure|system)"
    r"|message (?:not delivered|delivery failure)|non[- ]?delivery|delayed mail"
    r"|warning: could not send|mail system error"
    r"|unzustellbar|nicht zustellbar|non remis|non distribuable|no se puede entregar"
    r"|no entregado|onbestelbaar"
    r")",
    re.IGNORECASE,
)


def is_daemon_address(address: str) -> bool:
    """MAILER-DAEMON@, postmaster@ and the like; also Exchange's "MicrosoftExchange..." sender."""
    local = address.partition("@")[0].lower()
    return local in _DAEMON_LOCAL_PARTS or local.startswith(("mailer-daemon", "microsoftexchange"))


def looks_like_bounce(headers: Mapping[str, str]) -> bool:
    """Whether the headers alone (lower-cased names) mark a delivery report.

    A null Return-Path is not enough on its own: RFC 3834 auto-replies (a Sieve vacation
    reply, for one) are sent with one too.
    """
    content_type = headers.get("content-type", "").lower()
    if "multipart/report" in content_type and "delivery-status" in content_type:
        return True
    if is_daemon_address(address_of(headers.get("from"))):
        return True
    if headers.get("x-failed-recipients", "").strip():
        return True
    # A report's subject counts only with the null Return-Path reports are sent with (and
    # not when the Return-Path is unknown: the poller does not fetch it).
    null_sender = headers.get("return-path", "").replace(" ", "") == "<>"
    return null_sender and bool(_BOUNCE_SUBJECT.search(headers.get("subject", "")))
