"""The human-readable layouts of delivery reports, one reader per mail server family (pure).

Reports without an RFC 3464 status part are read from their words: qmail and Yahoo
("<addr>:" paragraphs), older Exchange ("Delivery has failed to these recipients or
groups"), older Gmail ("Delivery to the following recipient failed permanently"),
Postfix before DSN support, and anything else from a MAILER-DAEMON (the generic reader).

A reader takes the report's text and returns what it found, or None when the text is not
in its family's layout. A new family is a reader here and one entry in LAYOUTS.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from outreach.reading.bounces.status import status_in
from outreach.reading.bounces.text import (
    angle_paragraphs,
    before_copy,
    clean_diagnostic,
    first_address,
    paragraph_after,
)


@dataclass
class Found:
    """What a layout read: the failed recipient, the server's words, the family's name
    (Bounce.format), and whether the report only warns of a delay."""

    recipient: str = ""
    diagnostic: str = ""
    format: str = ""
    delayed: bool = False


Layout = Callable[[str], Found | None]


# --- qmail, Yahoo, Postfix: "<addr>:" paragraphs --------------------------------------------


def _read_qmail(text: str) -> Found | None:
    start = re.search(
        r"this is the qmail-send program|sorry, we were unable to deliver your message"
        r"|i'm afraid i wasn't able to deliver your message",
        text,
        re.IGNORECASE,
    )
    if start is None:
        return None
    body = before_copy(text[start.start() :])
    for recipient, paragraph in angle_paragraphs(body):
        return Found(recipient, clean_diagnostic(paragraph), "qmail")
    return Found(format="qmail")


def _read_postfix(text: str) -> Found | None:
    start = re.search(r"this is the (?:postfix program|mail system) at host", text, re.I)
    if start is None:
        return None
    body = before_copy(text[start.start() :])
    delayed = bool(re.search(r"this is a warning only", body, re.IGNORECASE))
    for recipient, paragraph in angle_paragraphs(body):
        return Found(recipient, clean_diagnostic(paragraph), "postfix", delayed)
    return Found(format="postfix", delayed=delayed)


# --- Exchange and Gmail: a heading, then the server's words ---------------------------------


def _technical_details(text: str) -> str:
    """Exchange's and Gmail's "Technical details [of temporary failure]:" paragraph."""
    details = re.search(
        r"technical details(?: of (?:permanent|temporary) failure)?\s*:[ \t]*", text, re.I
    )
    if details is None:
        return ""
    return clean_diagnostic(paragraph_after(text, details.end()))


def _exchange_admin_line(text: str) -> str | None:
    """Administrators' line: "#550 5.1.1 RESOLVER.ADR.RecipNotFound; not found ##" or
    "Remote Server returned '550 5.1.1 ...'"."""
    admin = re.search(
        r"(?m)^[ \t]*#([45]\d\d[ -][^\n]*?)(?:##|$)|Remote Server returned '([^'\n]+)'", text
    )
    return clean_diagnostic(next(g for g in admin.groups() if g)) if admin else None


_GMAIL_RESPONSE = re.compile(
    r"(?:the response from the remote server was|the error that the other server "
    r"returned was|the response was)\s*:?\s*\n",
    re.IGNORECASE,
)


def _gmail_response(text: str) -> str | None:
    response = _GMAIL_RESPONSE.search(text)
    return clean_diagnostic(paragraph_after(text, response.end())) if response else None


@dataclass(frozen=True)
class _HeadedLayout:
    """Exchange's and Gmail's layout: a heading that names the recipient (its first group)
    or is followed by the address, and says "delayed" when delivery is only late.

    The diagnostic is what `server_said` finds; failing that, the "Technical details"
    paragraph, or else the paragraph after (or from) the heading.
    """

    format: str
    heading: re.Pattern[str]
    server_said: Callable[[str], str | None]
    fallback_after_heading: bool

    def read(self, text: str) -> Found | None:
        head = self.heading.search(text)
        if head is None:
            return None
        recipient = head.group(1) or first_address(text[head.end() : head.end() + 2000])
        diagnostic = self.server_said(text)
        if diagnostic is None:
            start = head.end() if self.fallback_after_heading else head.start()
            diagnostic = _technical_details(text) or clean_diagnostic(paragraph_after(text, start))
        return Found(recipient, diagnostic, self.format, "delayed" in head.group(0).lower())


_EXCHANGE = _HeadedLayout(
    "exchange",
    re.compile(
        r"delivery has failed to these recipients or groups:|your message to (\S+@\S+?) "
        r"couldn't be delivered|the following recipient\(s\) cannot be reached:"
        r"|delivery to the following recipients (?:failed|has been delayed)",
        re.IGNORECASE,
    ),
    _exchange_admin_line,
    # Exchange 2003 puts its words and "<mail.corp.example #5.1.1>" under the recipient.
    fallback_after_heading=True,
)
_GMAIL = _HeadedLayout(
    "gmail",
    re.compile(
        r"your message wasn't delivered to (\S+@[^\s,]+?) because"
        r"|delivery to the following recipients? (failed permanently|has been delayed):"
        r"|\*\* (?:address not found|message not delivered|message blocked) \*\*",
        re.IGNORECASE,
    ),
    _gmail_response,
    fallback_after_heading=False,
)


# --- the registry ---------------------------------------------------------------------------

# Tried in this order; the first that recognises the text reads it, so a family whose
# words another family's report may also contain comes first.
LAYOUTS: tuple[Layout, ...] = (_read_qmail, _EXCHANGE.read, _GMAIL.read, _read_postfix)


# --- anything else from a MAILER-DAEMON -----------------------------------------------------

DELAYED = re.compile(
    r"this is a warning only|has been delayed|have been delayed|delivery (?:is )?delayed"
    r"|will (?:continue|keep) (?:to try|trying)|will be retried|still being retried"
    r"|will retry|could not send message for past|not yet been delivered"
    r"|delivery status notification \(delay\)|message is delayed|only a temporary failure",
    re.IGNORECASE,
)


def _read_generic(text: str, headers: Mapping[str, str]) -> Found | None:
    body = before_copy(text)
    found = Found(format="unknown")
    failed = headers.get("x-failed-recipients", "")
    found.recipient = first_address(failed)
    listed = re.search(
        r"following (?:address\(es\)|addresses|recipients?)(?: had permanent fatal errors"
        r"| had delivery (?:errors|problems)| failed| could not be reached| were affected)?"
        r"\s*:?[ \t-]*\n",
        body,
        re.IGNORECASE,
    )
    first = next(angle_paragraphs(body), None)
    if (
        listed is not None
        and first is not None
        and not first_address(paragraph_after(body, listed.end()))
    ):
        listed = None  # the list's first paragraph is words, not addresses: read "<addr>:"
    if listed is not None:
        block = paragraph_after(body, listed.end())
        found.recipient = found.recipient or first_address(block)
        following = body[listed.end() + len(block) :]
        found.diagnostic = clean_diagnostic(
            block + "\n" + paragraph_after(following.lstrip("\n"), 0)
        )
    elif first is not None:
        recipient, paragraph = first
        found.recipient = found.recipient or recipient
        found.diagnostic = clean_diagnostic(paragraph)
    else:
        # Sendmail's transcript names the recipient on its own line ("554 <addr>... Host
        # unknown"), often after a line about the host alone: that line first.
        coded = re.search(r"(?m)^[45]\d\d[ -]<[^<>\s]+@[^<>\s]+>[^\n]*$", body) or re.search(
            r"(?m)^[^\n]*(?:[245]\.\d{1,3}\.\d{1,3}|\b[45]\d\d\b)[^\n]*$", body
        )
        found.diagnostic = clean_diagnostic(coded.group(0)) if coded else ""
    # The SMTP dialogue quoted ("RCPT TO:<addr>"), else the address the server's words name.
    rcpt = re.search(r"RCPT TO:\s*<?([^\s<>]+@[^\s<>]+?)>?(?:\s|$)", body, re.IGNORECASE)
    found.recipient = (
        found.recipient or (rcpt.group(1) if rcpt else "") or first_address(found.diagnostic)
    )
    found.delayed = bool(DELAYED.search(body))
    if not found.recipient and not status_in(found.diagnostic or body):
        return None
    return found


def read_text(text: str, headers: Mapping[str, str]) -> Found | None:
    """What the report's words say, by the first layout that recognises them, else by the
    generic reader (which also uses X-Failed-Recipients); None when nothing is found."""
    for layout in LAYOUTS:
        found = layout(text)
        if found is not None:
            return found
    return _read_generic(text, headers)
