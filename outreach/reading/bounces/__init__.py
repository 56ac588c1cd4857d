"""Read delivery failure reports ("bounces"): who failed, why, and which message (pure).

Two kinds of report exist in the wild:

- RFC 3464 delivery status notifications: a `multipart/report; report-type=delivery-status`
  whose `message/delivery-status` part has one block of fields per recipient (Final-Recipient,
  Original-Recipient, Action, Status, Diagnostic-Code). These are read structurally. Postfix,
  Exchange, Gmail and most current servers send them.
- Free-text reports without that part, from qmail, Yahoo, older Exchange and Gmail, Postfix
  before DSN support, and anything else from a MAILER-DAEMON. These are read from the text.

One module per idea; this package puts them together in `parse_bounce`:

- headers: whether the headers alone mark a report (`looks_like_bounce`);
- status: status codes, reasons, hard or soft (`status_in`, `reason_for`, `is_hard`);
- report: walking the MIME report into its status blocks, its text and the copy of ours;
- text: paragraphs, addresses and the server's diagnostic in a report's words;
- layouts: one reader per mail server family's human-readable layout, and their registry;
- library: Mailman's flufl.bounce, asked for the failed recipient when our readers find none.

Beyond the layouts, a notice from a mail server (by its sender, or a report's subject) whose
words say a message failed is a bounce even when it names no recipient we can read
(`failed_recipient` is then the returned copy's addressee, or ''). And whatever the words,
`never_a_reply` holds the rule that a report is never taken for a person's answer.

No submodule imports this package, so it adds no import cycle. Nothing here does I/O or
reads the clock, and no input makes it raise.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from email.message import Message

from outreach.reading.bounces.headers import (
    has_report_subject,
    is_daemon_address,
    is_daemon_sender,
    looks_like_bounce,
)
from outreach.reading.bounces.layouts import DELAYED, read_text
from outreach.reading.bounces.library import library_failures
from outreach.reading.bounces.report import Report, original_message_id, read_report
from outreach.reading.bounces.status import REASONS, is_hard, reason_for, status_in
from outreach.reading.bounces.text import (
    COPY_MARKERS,
    FAILURE_WORDS,
    before_copy,
    clean_diagnostic,
    first_address,
)
from outreach.reading.matching import address_of
from outreach.reading.mime import parse_headers

__all__ = [
    "REASONS",
    "Bounce",
    "has_report_subject",
    "is_daemon_address",
    "is_daemon_sender",
    "is_hard",
    "looks_like_bounce",
    "never_a_reply",
    "parse_bounce",
    "reason_for",
    "status_in",
]


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
        # Some servers write "failure" or "delay" for RFC 3464's "failed" and "delayed".
        action = {"failure": "failed", "delay": "delayed"}.get(action, action)
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


def _diagnostic_code(block: dict[str, str]) -> str:
    value = block.get("diagnostic-code", "")
    # "smtp; 550 5.1.1 ..." (the type before the semicolon is not the server's words).
    kind, semicolon, rest = value.partition(";")
    if semicolon and " " not in kind.strip():
        value = rest
    return clean_diagnostic(value)


def _from_status_blocks(report: Report, headers: Mapping[str, str]) -> Bounce | None:
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
    text_found = read_text(report.text, headers)
    if not recipient and text_found is not None:
        recipient = text_found.recipient.lower()
    diagnostic = _diagnostic_code(block)
    if not diagnostic and text_found is not None:
        diagnostic = text_found.diagnostic
    status = status_in(block.get("status", "")) or status_in(diagnostic)
    words = f"{diagnostic}\n{before_copy(report.text)}"
    reason = reason_for(status, diagnostic or words)
    return Bounce(
        failed_recipient=recipient,
        status=status,
        hard=is_hard(action, status, reason, words),
        diagnostic=diagnostic,
        original_message_id=original_message_id(report),
        action=action,
        reason=reason,
        format="rfc3464",
    )


def _from_text(report: Report, headers: Mapping[str, str]) -> Bounce | None:
    found = read_text(report.text, headers)
    if found is None:
        return None
    recipient = (
        found.recipient
        or first_address(headers.get("x-failed-recipients", ""))
        # The returned copy's addressee, when the report's words name nobody.
        or first_address((report.original_headers or {}).get("to", ""))
    ).lower()
    diagnostic = found.diagnostic
    status = status_in(diagnostic)
    body = before_copy(report.text)
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
        original_message_id=original_message_id(report),
        action=action,
        reason=reason,
        format=found.format,
    )


def _from_library(message: Message, report: Report, found: Bounce | None) -> Bounce | None:
    """`found` with flufl.bounce's failed recipient where ours read none, or flufl.bounce's
    reading alone where ours found no failure at all."""
    if found is not None and found.failed_recipient:
        return found
    library = library_failures(message)
    if library is None:
        return found
    if found is not None:
        return replace(found, failed_recipient=library.first)
    if _written_as_a_reply(message) and not _machine_signs(message):
        # A person who pastes a report's words into their answer is still answering.
        return None
    body = before_copy(report.text)
    diagnostic = _line_naming(body, library.first)
    status = status_in(diagnostic) or status_in(body)
    action = "failed" if library.permanent else "delayed"
    reason = reason_for(status, diagnostic or body)
    return Bounce(
        failed_recipient=library.first,
        status=status,
        hard=is_hard(action, status, reason, f"{diagnostic}\n{body}"),
        diagnostic=diagnostic,
        original_message_id=original_message_id(report),
        action=action,
        reason=reason,
        format="flufl.bounce",
    )


def _line_naming(text: str, address: str) -> str:
    """The report's words about `address`: its line and the next, on one line."""
    lines = text.split("\n")
    for index, line in enumerate(lines):
        if address and address in line.lower():
            return clean_diagnostic(" ".join(lines[index : index + 2]))
    return ""


def _machine_signs_in(headers: Mapping[str, str]) -> bool:
    """Header fields a mail server writes on a report and a person's mail client does not
    (the subject aside: people write subjects)."""
    keyword = headers.get("auto-submitted", "").split(";")[0].strip().lower()
    return (
        is_daemon_sender(headers.get("from", ""))
        or headers.get("return-path", "").replace(" ", "") == "<>"
        or bool(headers.get("x-failed-recipients", "").strip())
        or keyword not in ("", "no")
        or "multipart/report" in headers.get("content-type", "").lower()
        or headers.get("from", "").replace(" ", "").endswith("<>")
    )


def _machine_signs(message: Message) -> bool:
    headers = {str(key).lower(): str(value) for key, value in message.items()}
    return _machine_signs_in(headers)


def _written_as_a_reply(message: Message) -> bool:
    """Sent by a mail client as an answer: it names the message it answers."""
    return bool(message.get("in-reply-to") or message.get("references"))


def _returns_a_copy(report: Report) -> bool:
    return report.original_headers is not None or bool(COPY_MARKERS.search(report.text))


def _is_notice(headers: Mapping[str, str]) -> bool:
    """Sent by a mail server: by its sender, or by a report's subject. (The null Return-Path
    alone is not enough: vacation replies are sent with it too.)"""
    return is_daemon_sender(headers.get("from", "")) or has_report_subject(
        headers.get("subject", "")
    )


def _returns_an_undelivered_copy(report: Report, headers: Mapping[str, str]) -> bool:
    """A new message (not an answer) that carries a copy of a message and says, in its own
    words, that it could not be delivered to that copy's addressee: a carrier's notice sent
    from an ordinary address under an ordinary subject (au/KDDI's "Mail")."""
    if headers.get("in-reply-to") or headers.get("references") or not report.original_headers:
        return False
    addressee = first_address(report.original_headers.get("to", "")).lower()
    body = before_copy(report.text)[:20_000]
    return bool(addressee) and addressee in body.lower() and bool(_UNDELIVERED.search(body))


def _from_notice(report: Report, headers: Mapping[str, str]) -> Bounce | None:
    """A server's notice that says a message failed, in a layout no reader knows."""
    body = before_copy(report.text)
    words = FAILURE_WORDS.search(body[:20_000]) or FAILURE_WORDS.search(headers.get("subject", ""))
    if words is None or not (_is_notice(headers) or _returns_an_undelivered_copy(report, headers)):
        return None
    if not is_daemon_sender(headers.get("from", "")) and not (
        _machine_signs_in(headers) or _returns_a_copy(report) or status_in(body)
    ):
        # A report's subject alone ("Undeliverable package - can we talk Thursday?") may
        # be a person's: a server's notice also returns the message or gives a code.
        return None
    returned_to = first_address((report.original_headers or {}).get("to", ""))
    others = {first_address(headers.get(name, "")).lower() for name in ("from", "to", "reply-to")}
    named = next(
        (
            address.lower()
            for address in _EMAILS.findall(body[:20_000])
            if address.lower() not in others
        ),
        "",
    )
    # The report's own words first: a list's copy is addressed to the list, not the member.
    recipient = (named or returned_to).lower()
    diagnostic = _line_naming(body, recipient) or clean_diagnostic(
        body[max(0, words.start() - 200) : words.end() + 300]
    )
    status = status_in(body)
    action = "delayed" if DELAYED.search(body) else "failed"
    reason = reason_for(status, body)
    return Bounce(
        failed_recipient=recipient,
        status=status,
        hard=is_hard(action, status, reason, body),
        diagnostic=diagnostic,
        original_message_id=original_message_id(report),
        action=action,
        reason=reason,
        format="notice",
    )


# Narrower than FAILURE_WORDS: what a server says when it hands a message back.
_UNDELIVERED = re.compile(
    r"undeliver|not (?:be )?delivered|delivery (?:has )?failed|could ?n[o']t be delivered"
    r"|unzustellbar|nicht zugestellt|non remis|no (?:fue )?entregado|non recapitabile"
    r"|n[ãa]o (?:foi )?entregue|送信でき|配信でき|退信|无法投递",
    re.IGNORECASE,
)
_EMAILS = re.compile(r"[\w.!#$%&'*+/=?^`{|}~-]+@[\w-]+(?:\.[\w-]+)+")


def parse_bounce(raw: bytes) -> Bounce | None:
    """The bounce this raw message is, or None when it is not a delivery failure report.

    A report of successful delivery is not a bounce; a delay warning is one, with
    action "delayed" and hard False.
    """
    headers = parse_headers(raw)
    message, report = read_report(raw)
    content_type = message.get_content_type()
    is_report = content_type == "multipart/report" or report.status_blocks is not None
    if report.status_blocks is not None and (is_report or looks_like_bounce(headers)):
        if _only_successes(report):
            return None
        return _from_library(message, report, _from_status_blocks(report, headers))
    report_type = str(message.get("content-type", "")).lower()
    if is_report and "disposition-notification" in report_type:
        return _from_sieve_reject(report)  # else a read receipt: another kind of report
    if is_report and "feedback-report" in report_type:
        return None  # a spam complaint (ARF): another kind of report
    found = _from_text(report, headers) if looks_like_bounce(headers) else None
    return _from_library(message, report, found) or _from_notice(report, headers)


_SUCCESSES = frozenset({"delivered", "relayed", "expanded"})


def _from_sieve_reject(report: Report) -> Bounce | None:
    """A Sieve "reject" (RFC 5429): a disposition notification, sent automatically, saying
    the message was deleted, with words that say it was refused. A read receipt, or a
    person's "deleted without being read", is not one."""
    fields = report.disposition or {}
    disposition = fields.get("disposition", "").lower()
    body = before_copy(report.text)
    if "automatic-action" not in disposition or "deleted" not in disposition:
        return None
    if not re.search(r"reject|refus|abgelehnt|rechazad|rifiutat|recusad", body, re.IGNORECASE):
        return None
    recipient = _address(fields.get("final-recipient", "")) or first_address(body).lower()
    diagnostic = clean_diagnostic(body)
    status = status_in(body)
    reason = reason_for(status, body)
    return Bounce(
        failed_recipient=recipient,
        status=status,
        hard=is_hard("failed", status, reason, body),
        diagnostic=diagnostic,
        original_message_id=original_message_id(report),
        action="failed",
        reason=reason,
        format="sieve-reject",
    )


def _only_successes(report: Report) -> bool:
    """A report of successful delivery (delivered, relayed, expanded) and of nothing else."""
    blocks = report.status_blocks or []
    actions = {
        block.get("action", "").split()[0].lower() for block in blocks if block.get("action")
    }
    return _pick_recipient(blocks) is None and bool(actions) and actions <= _SUCCESSES


def never_a_reply(raw: bytes) -> bool:
    """Whether this message is, by the rule that cannot be broken, no person's reply.

    A message from a mail server's delivery agent (MAILER-DAEMON, postmaster, "Mail Delivery
    System"), one with a delivery-status part or in a multipart/report, or one that returns a
    message (a copy of it or its headers) under a report's subject or words, is a machine's.
    """
    headers = parse_headers(raw)
    if is_daemon_sender(headers.get("from", "")):
        return True
    if "multipart/report" in headers.get("content-type", "").lower():
        return True
    _, report = read_report(raw)
    if report.status_blocks is not None:
        return True
    if report.original_headers is not None:
        subject = headers.get("subject", "")
        return has_report_subject(subject) or bool(
            _UNDELIVERED.search(before_copy(report.text)[:5000])
        )
    return False
