"""Read delivery failure reports ("bounces"): who failed, why, and which message (pure).

Two kinds of report exist in the wild:

- RFC 3464 delivery status notifications: a `multipart/report; report-type=delivery-status`
  whose `message/delivery-status` part has one block of fields per recipient (Final-Recipient,
  Original-Recipient, Action, Status, Diagnostic-Code). These are read structurally. Postfix,
  Exchange, Gmail and most current servers send them.
- Free-text reports without that part: qmail and Yahoo ("<addr>:" paragraphs), older Exchange
  ("Delivery has failed to these recipients or groups"), older Gmail ("Delivery to the following
  recipient failed permanently"), Postfix before DSN support, and anything else from a
  MAILER-DAEMON. These are read from the text.

Hard or soft (the issue's rule, close to Sisimai's): an `Action: delayed` report, a full
mailbox (x.2.2, "quota exceeded": 5.2.2 is treated as soft, as most senders do) and
greylisting are soft. Otherwise a 5.x.x status is hard and a 4.x.x status soft; without any
status, an unknown user or host or a moved mailbox is hard, and the rest soft.

Nothing here does I/O or reads the clock, and no input makes it raise.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from email import policy
from email.message import Message
from email.parser import BytesParser, HeaderParser

from outreach.reading.matching import address_of
from outreach.reading.mime import parse_headers, part_text

# Reports are read up to this many characters of text; the useful part is near the top.
_MAX_TEXT = 200_000
# Deeper MIME nesting than this is not a report any real server writes.
_MAX_DEPTH = 30

REASONS = (
    "user_unknown",
    "host_unknown",
    "moved",
    "mailbox_full",
    "greylisted",
    "policy",
    "other",
)


@dataclass(frozen=True)
class Bounce:
    """What a delivery report says about the one recipient it matters for.

    `failed_recipient` is lower-cased ('' when the report does not say); `status` is an
    RFC 3463 code such as "5.1.1" (a bare SMTP reply such as 550 becomes "5.0.0"), or None;
    `diagnostic` is the receiving server's own words; `original_message_id` is the
    Message-ID of our message as the report quotes it (with its angle brackets), or None.
    `action` is "failed" or "delayed" (a warning: the server is still trying).
    """

    failed_recipient: str
    status: str | None
    hard: bool
    diagnostic: str
    original_message_id: str | None
    action: str = "failed"
    reason: str = "other"
    format: str = "rfc3464"

    @property
    def is_failure(self) -> bool:
        """False for a delay warning: the message may still arrive."""
        return self.action == "failed"


# --- recognising a report from its headers ------------------------------------------------

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


# --- status codes, reasons, hard or soft ----------------------------------------------------

# An RFC 3463 code: class 2, 4 or 5, not part of a longer dotted number (an IP address).
_ENHANCED = re.compile(r"(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?!\d|\.\d)")
# A bare SMTP reply code where servers put one: at the start, after "#", ";" (a
# Diagnostic-Code's "smtp; 550 ..."), "said:" or "was:".
_BASIC = re.compile(
    r"(?:^|#|;|\bsaid:|\bwas:|\breturned\s')\s*([45][0-5]\d)(?![\d.]*\d)", re.I | re.M
)

_USER_UNKNOWN = re.compile(
    r"user unknown|unknown user|no such (?:user|mailbox|recipient|address)|user not found"
    r"|does(?:n't| not) exist|mailbox (?:not found|unavailable|does not exist)"
    r"|address (?:not found|rejected|unknown)|recipient (?:address )?rejected"
    r"|recip(?:ient)? ?not ?found|unknown (?:recipient|address|local part|mailbox)"
    r"|no mailbox here by that name|invalid (?:recipient|mailbox|address)"
    r"|not a valid (?:recipient|mailbox|address)|account (?:that you tried to reach )?does not"
    r"|doesn't have an? [\w.-]+ account|couldn't be found|wasn't found at|isn't a valid"
    r"|the e-?mail account does not exist|undeliverable address|bad destination mailbox",
    re.IGNORECASE,
)
_HOST_UNKNOWN = re.compile(
    r"host (?:or domain name )?not found|host unknown|unknown host|domain not found"
    r"|name or service not known|no mx (?:record|host)|unroutable|unrouteable"
    r"|couldn't find any host|no such domain|domain (?:does not exist|doesn't exist)"
    r"|nxdomain|dns (?:error|lookup failed)",
    re.IGNORECASE,
)
_MOVED = re.compile(
    r"has moved|mailbox (?:has )?moved|no longer (?:valid|active|in use|available)"
    r"|address (?:has )?changed|is no longer",
    re.IGNORECASE,
)
_MAILBOX_FULL = re.compile(
    r"mailbox (?:is )?full|mailbox (?:size )?limit|over ?quota|quota (?:exceeded|exceed)"
    r"|exceed(?:ed|s)? (?:the |their |its )?(?:storage|quota)|insufficient (?:storage|space)"
    r"|out of storage|mail ?box (?:is )?over|storage (?:limit|quota)|disk quota",
    re.IGNORECASE,
)
_GREYLISTED = re.compile(r"gr[ae]y-?list", re.IGNORECASE)
_PERMANENT = re.compile(
    r"permanent (?:error|failure)|failed permanently|i've given up|given up", re.IGNORECASE
)
_DELAYED = re.compile(
    r"this is a warning only|has been delayed|have been delayed|delivery (?:is )?delayed"
    r"|will (?:continue|keep) (?:to try|trying)|will be retried|still being retried"
    r"|will retry|could not send message for past|not yet been delivered"
    r"|delivery status notification \(delay\)",
    re.IGNORECASE,
)


def status_in(text: str) -> str | None:
    """The first RFC 3463 code in the text, else a bare SMTP code as "n.0.0", else None."""
    found = _ENHANCED.search(text)
    if found is not None:
        return ".".join(found.groups())
    basic = _BASIC.search(text)
    if basic is not None:
        return f"{basic.group(1)[0]}.0.0"
    return None


def reason_for(status: str | None, text: str) -> str:
    """One of REASONS, from the status code first and the server's words second."""
    detail = ".".join(status.split(".")[1:]) if status else ""
    if detail == "2.2" or _MAILBOX_FULL.search(text):
        return "mailbox_full"
    if _GREYLISTED.search(text):
        return "greylisted"
    by_status = {
        "1.1": "user_unknown",
        "1.2": "host_unknown",
        "1.6": "moved",
        "4.4": "host_unknown",
    }
    if detail in by_status:
        return by_status[detail]
    if detail.startswith("7."):
        return "policy"
    if _USER_UNKNOWN.search(text):
        return "user_unknown"
    if _HOST_UNKNOWN.search(text) or detail == "1.10":
        # x.1.10 is "null MX" (RFC 7505); Microsoft also uses it for an unknown recipient,
        # which the text then says.
        return "host_unknown"
    if _MOVED.search(text):
        return "moved"
    return "other"


def is_hard(action: str, status: str | None, reason: str, text: str) -> bool:
    if action != "failed" or reason in ("mailbox_full", "greylisted"):
        return False
    if status:
        return status.startswith("5")
    return reason in ("user_unknown", "host_unknown", "moved") or bool(_PERMANENT.search(text))


# --- walking the report ---------------------------------------------------------------------


@dataclass
class _Report:
    """The parts of a report: its own text, its status blocks, and what it quotes of ours."""

    text: str = ""
    status_blocks: list[dict[str, str]] | None = None
    original_headers: dict[str, str] | None = None
    # Text attachments: some servers return the original message as one.
    attached_text: str = ""


def _unfold(value: object) -> str:
    # compat32 keeps undecodable header bytes as lone surrogates: make them "?" here.
    return " ".join(str(value).encode("utf-8", "replace").decode("utf-8").split())


def _fields(lines: list[str]) -> dict[str, str]:
    fields: dict[str, str] = {}
    name = ""
    for line in lines:
        if line[:1] in (" ", "\t") and name:
            fields[name] += " " + line.strip()
        elif ":" in line:
            name, _, value = line.partition(":")
            name = name.strip().lower()
            fields.setdefault(name, "")
            fields[name] = (fields[name] + " " + value.strip()).strip()
        else:
            name = ""
    return {key: _unfold(value) for key, value in fields.items() if key}


def _blocks_from_text(text: str) -> list[dict[str, str]]:
    blocks: list[dict[str, str]] = []
    current: list[str] = []
    for line in text.replace("\r\n", "\n").split("\n"):
        if line.strip():
            current.append(line)
        elif current:
            blocks.append(_fields(current))
            current = []
    if current:
        blocks.append(_fields(current))
    return [block for block in blocks if block]


def _status_blocks(part: Message) -> list[dict[str, str]]:
    payload = part.get_payload()
    if isinstance(payload, list):
        # The email package parses message/delivery-status into one Message per block.
        blocks = [
            {str(key).lower(): _unfold(value) for key, value in block.items()}
            for block in payload
            if isinstance(block, Message)
        ]
        return [block for block in blocks if block]
    return _blocks_from_text(part_text(part))


def _headers_of(text: str) -> dict[str, str]:
    parsed = HeaderParser(policy=policy.compat32).parsestr(text[:_MAX_TEXT], headersonly=True)
    headers: dict[str, str] = {}
    for key, value in parsed.items():
        headers.setdefault(str(key).lower(), _unfold(value))
    return headers


def _attached_headers(part: Message) -> dict[str, str] | None:
    payload = part.get_payload()
    if isinstance(payload, list) and payload and isinstance(payload[0], Message):
        return {str(key).lower(): _unfold(value) for key, value in payload[0].items()}
    if isinstance(payload, str):
        return _headers_of(part_text(part))
    return None


def _walk(part: Message, report: _Report, texts: list[str], depth: int = 0) -> None:
    if depth > _MAX_DEPTH:
        return
    content_type = part.get_content_type()
    if content_type in ("message/delivery-status", "message/global-delivery-status"):
        if report.status_blocks is None:
            report.status_blocks = _status_blocks(part)
        return
    if content_type in (
        "message/rfc822",
        "message/global",
        "text/rfc822-headers",
        "message/rfc822-headers",
        "text/rfc822-header",
    ):
        if report.original_headers is None:
            report.original_headers = _attached_headers(part)
        return
    if part.is_multipart():
        payload = part.get_payload()
        subs = (
            [sub for sub in payload if isinstance(sub, Message)]
            if isinstance(payload, list)
            else []
        )
        if content_type == "multipart/alternative":
            # The same words twice: read the plain version when there is one.
            plain = [sub for sub in subs if sub.get_content_type() == "text/plain"]
            subs = plain[:1] or subs[:1]
        for sub in subs:
            _walk(sub, report, texts, depth + 1)
        return
    if part.get_content_maintype() == "text":
        if part.get_content_disposition() == "attachment":
            report.attached_text += part_text(part)[:_MAX_TEXT] + "\n"
        else:
            texts.append(part_text(part))


def _read(raw: bytes) -> tuple[Message, _Report]:
    message = BytesParser(policy=policy.compat32).parsebytes(raw)
    report = _Report()
    texts: list[str] = []
    _walk(message, report, texts)
    plain = "\n\n".join(text for text in texts if text.strip())
    report.text = plain.replace("\r\n", "\n")[:_MAX_TEXT]
    return message, report


# --- the text of the report -----------------------------------------------------------------

_EMAIL = re.compile(r"[\w.!#$%&'*+/=?^`{|}~-]+@[\w-]+(?:\.[\w-]+)+")
_COPY_MARKERS = re.compile(
    r"^[ \t]*(?:-{2,}[ \t]*(?:below this line is a copy of the message|enclosed are the "
    r"original headers|original message|this is a copy of the message|the original message"
    r"|undelivered message follows)|original message headers:|----- original message -----)",
    re.IGNORECASE | re.MULTILINE,
)
_MESSAGE_ID_LINE = re.compile(r"^[ \t]*Message-ID[ \t]*:[ \t]*(<[^<>\s]{1,500}>)", re.I | re.M)


def _before_copy(text: str) -> str:
    marker = _COPY_MARKERS.search(text)
    return text[: marker.start()] if marker else text


_LEADING_CODE = re.compile(r"^([45]\d\d)[- ]([245]\.\d{1,3}\.\d{1,3})\s+")


def _clean_diagnostic(text: str) -> str:
    """The server's words on one line. A multi-line SMTP reply repeats its codes on every
    line ("550-5.1.1 The email account ... 550-5.1.1 double-checking ..."): once is enough."""
    text = " ".join(text.split())
    lead = _LEADING_CODE.match(text)
    if lead is not None:
        basic, enhanced = lead.groups()
        repeated = re.compile(rf"\s{basic}[- ]{re.escape(enhanced)}\s+")
        text = f"{basic} {enhanced} " + repeated.sub(" ", text[lead.end() :])
    return text[:1000]


@dataclass
class _Found:
    recipient: str = ""
    diagnostic: str = ""
    format: str = ""
    delayed: bool = False


def _paragraph_after(text: str, start: int) -> str:
    """The lines from `start` (blank lines there skipped) up to the next blank line."""
    rest = text[start:]
    rest = rest[len(rest) - len(rest.lstrip(" \t\n")) :]
    end = re.search(r"\n[ \t]*\n", rest)
    return rest[: end.start()] if end else rest


def _angle_paragraphs(text: str) -> Iterator[tuple[str, str]]:
    """qmail/Yahoo/Postfix style: a line starting "<addr>:" and the text that follows it."""
    for found in re.finditer(r"(?m)^[ \t]*<([^<>\s@]+@[^<>\s]+)>:?[ \t]*", text):
        yield found.group(1), _paragraph_after(text, found.end())


def _read_qmail(text: str) -> _Found | None:
    start = re.search(
        r"this is the qmail-send program|sorry, we were unable to deliver your message"
        r"|i'm afraid i wasn't able to deliver your message",
        text,
        re.IGNORECASE,
    )
    if start is None:
        return None
    body = _before_copy(text[start.start() :])
    for recipient, paragraph in _angle_paragraphs(body):
        return _Found(recipient, _clean_diagnostic(paragraph), "qmail")
    return _Found(format="qmail")


def _read_postfix(text: str) -> _Found | None:
    start = re.search(r"this is the (?:postfix program|mail system) at host", text, re.I)
    if start is None:
        return None
    body = _before_copy(text[start.start() :])
    delayed = bool(re.search(r"this is a warning only", body, re.IGNORECASE))
    for recipient, paragraph in _angle_paragraphs(body):
        return _Found(recipient, _clean_diagnostic(paragraph), "postfix", delayed)
    return _Found(format="postfix", delayed=delayed)


def _first_address(text: str) -> str:
    found = _EMAIL.search(text)
    return found.group(0) if found else ""


def _technical_details(text: str) -> str:
    """Exchange's and Gmail's "Technical details [of temporary failure]:" paragraph."""
    details = re.search(
        r"technical details(?: of (?:permanent|temporary) failure)?\s*:[ \t]*", text, re.I
    )
    if details is None:
        return ""
    return _clean_diagnostic(_paragraph_after(text, details.end()))


def _exchange_admin_line(text: str) -> str | None:
    """Administrators' line: "#550 5.1.1 RESOLVER.ADR.RecipNotFound; not found ##" or
    "Remote Server returned '550 5.1.1 ...'"."""
    admin = re.search(
        r"(?m)^[ \t]*#([45]\d\d[ -][^\n]*?)(?:##|$)|Remote Server returned '([^'\n]+)'", text
    )
    return _clean_diagnostic(next(g for g in admin.groups() if g)) if admin else None


_GMAIL_RESPONSE = re.compile(
    r"(?:the response from the remote server was|the error that the other server "
    r"returned was|the response was)\s*:?\s*\n",
    re.IGNORECASE,
)


def _gmail_response(text: str) -> str | None:
    response = _GMAIL_RESPONSE.search(text)
    return _clean_diagnostic(_paragraph_after(text, response.end())) if response else None


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

    def read(self, text: str) -> _Found | None:
        head = self.heading.search(text)
        if head is None:
            return None
        recipient = head.group(1) or _first_address(text[head.end() : head.end() + 2000])
        diagnostic = self.server_said(text)
        if diagnostic is None:
            start = head.end() if self.fallback_after_heading else head.start()
            diagnostic = _technical_details(text) or _clean_diagnostic(
                _paragraph_after(text, start)
            )
        return _Found(recipient, diagnostic, self.format, "delayed" in head.group(0).lower())


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


def _read_generic(text: str, headers: Mapping[str, str]) -> _Found | None:
    body = _before_copy(text)
    found = _Found(format="unknown")
    failed = headers.get("x-failed-recipients", "")
    found.recipient = _first_address(failed)
    listed = re.search(
        r"following (?:address\(es\)|addresses|recipients?)(?: had permanent fatal errors"
        r"| failed| could not be reached)?\s*:?\s*\n",
        body,
        re.IGNORECASE,
    )
    first = next(_angle_paragraphs(body), None)
    if listed is not None:
        block = _paragraph_after(body, listed.end())
        found.recipient = found.recipient or _first_address(block)
        following = body[listed.end() + len(block) :]
        found.diagnostic = _clean_diagnostic(
            block + "\n" + _paragraph_after(following.lstrip("\n"), 0)
        )
    elif first is not None:
        recipient, paragraph = first
        found.recipient = found.recipient or recipient
        found.diagnostic = _clean_diagnostic(paragraph)
    else:
        coded = re.search(r"(?m)^[^\n]*(?:[245]\.\d{1,3}\.\d{1,3}|\b[45]\d\d\b)[^\n]*$", body)
        found.diagnostic = _clean_diagnostic(coded.group(0)) if coded else ""
    found.delayed = bool(_DELAYED.search(body))
    if not found.recipient and not status_in(found.diagnostic or body):
        return None
    return found


def _read_text(text: str, headers: Mapping[str, str]) -> _Found | None:
    for reader in (_read_qmail, _EXCHANGE.read, _GMAIL.read, _read_postfix):
        found = reader(text)
        if found is not None:
            return found
    return _read_generic(text, headers)


# --- putting it together --------------------------------------------------------------------


def _address(field: str) -> str:
    """An address out of "rfc822; bob@example.org" (or a bare or bracketed one)."""
    value = field.partition(";")[2] if ";" in field else field
    value = value.strip()
    return (address_of(value) or value.strip("<> ")).lower()


def _pick_recipient(blocks: list[dict[str, str]]) -> tuple[dict[str, str], str] | None:
    """The recipient block that matters most (failed over delayed) and its action."""
    per_recipient = [b for b in blocks if "final-recipient" in b or "original-recipient" in b]
    by_action: dict[str, dict[str, str]] = {}
    for block in per_recipient:
        action = block.get("action", "").split()[0].lower() if block.get("action") else ""
        if not action:
            # Action is required, but a missing one is read from the status class.
            status = status_in(block.get("status", "")) or ""
            action = {"5": "failed", "4": "delayed"}.get(status[:1], "")
        if action in ("failed", "delayed"):
            by_action.setdefault(action, block)
    for action in ("failed", "delayed"):
        if action in by_action:
            return by_action[action], action
    return None


def _original_message_id(report: _Report) -> str | None:
    if report.original_headers:
        value = report.original_headers.get("message-id", "")
        found = re.search(r"<[^<>\s]{1,500}>", value)
        if found is not None:
            return found.group(0)
    text = report.text
    marker = _COPY_MARKERS.search(text)
    regions = (text[marker.start() :],) if marker else ()
    for region in (*regions, text, report.attached_text):
        found = _MESSAGE_ID_LINE.search(region)
        if found is not None:
            return found.group(1)
    return None


def _diagnostic_code(block: dict[str, str]) -> str:
    value = block.get("diagnostic-code", "")
    # "smtp; 550 5.1.1 ..." (the type before the semicolon is not the server's words).
    kind, semicolon, rest = value.partition(";")
    if semicolon and " " not in kind.strip():
        value = rest
    return _clean_diagnostic(value)


def _from_status_blocks(report: _Report, headers: Mapping[str, str]) -> Bounce | None:
    assert report.status_blocks is not None
    picked = _pick_recipient(report.status_blocks)
    if picked is None:
        if any(block.get("action") for block in report.status_blocks):
            return None  # a report of successful delivery (delivered, relayed, expanded)
        # A damaged status part: read the report's words instead.
        return _from_text(report, headers)
    block, action = picked
    recipient = _address(block.get("original-recipient", "")) or _address(
        block.get("final-recipient", "")
    )
    text_found = _read_text(report.text, headers)
    if not recipient and text_found is not None:
        recipient = text_found.recipient.lower()
    diagnostic = _diagnostic_code(block)
    if not diagnostic and text_found is not None:
        diagnostic = text_found.diagnostic
    status = status_in(block.get("status", "")) or status_in(diagnostic)
    words = f"{diagnostic}\n{_before_copy(report.text)}"
    reason = reason_for(status, diagnostic or words)
    return Bounce(
        failed_recipient=recipient,
        status=status,
        hard=is_hard(action, status, reason, words),
        diagnostic=diagnostic,
        original_message_id=_original_message_id(report),
        action=action,
        reason=reason,
        format="rfc3464",
    )


def _from_text(report: _Report, headers: Mapping[str, str]) -> Bounce | None:
    found = _read_text(report.text, headers)
    if found is None:
        return None
    recipient = (
        found.recipient.lower() or _first_address(headers.get("x-failed-recipients", "")).lower()
    )
    diagnostic = found.diagnostic
    status = status_in(diagnostic)
    body = _before_copy(report.text)
    # A free-text report is sent when the server gives up, even on a 4.x.x code (the message
    # expired in its queue): only an explicit warning makes it a delay.
    action = "delayed" if found.delayed else "failed"
    if not recipient and status is None:
        return None
    reason = reason_for(status, diagnostic or body)
    return Bounce(
        failed_recipient=recipient,
        status=status,
        hard=is_hard(action, status, reason, f"{diagnostic}\n{body}"),
        diagnostic=diagnostic,
        original_message_id=_original_message_id(report),
        action=action,
        reason=reason,
        format=found.format,
    )


def parse_bounce(raw: bytes) -> Bounce | None:
    """The bounce this raw message is, or None when it is not a delivery failure report.

    A report of successful delivery is not a bounce; a delay warning is one, with
    action "delayed" and hard False.
    """
    headers = parse_headers(raw)
    message, report = _read(raw)
    content_type = message.get_content_type()
    is_report = content_type == "multipart/report" or report.status_blocks is not None
    if report.status_blocks is not None and (is_report or looks_like_bounce(headers)):
        return _from_status_blocks(report, headers)
    if is_report and "delivery-status" not in str(message.get("content-type", "")).lower():
        return None  # a read receipt or a feedback report: other kinds of report
    if not looks_like_bounce(headers):
        return None
    return _from_text(report, headers)
