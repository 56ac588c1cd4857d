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
- layouts: one reader per mail server family's human-readable layout, and their registry.

No submodule imports this package, so it adds no import cycle. Nothing here does I/O or
reads the clock, and no input makes it raise.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from outreach.reading.bounces.headers import is_daemon_address, looks_like_bounce
from outreach.reading.bounces.layouts import read_text
from outreach.reading.bounces.report import Report, original_message_id, read_report
from outreach.reading.bounces.status import REASONS, is_hard, reason_for, status_in
from outreach.reading.bounces.text import before_copy, clean_diagnostic, first_address
from outreach.reading.matching import address_of
from outreach.reading.mime import parse_headers

__all__ = [
    "REASONS",
    "Bounce",
    "is_daemon_address",
    "is_hard",
    "looks_like_bounce",
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
        found.recipient.lower() or first_address(headers.get("x-failed-recipients", "")).lower()
    )
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
        return _from_status_blocks(report, headers)
    if is_report and "delivery-status" not in str(message.get("content-type", "")).lower():
        return None  # a read receipt or a feedback report: other kinds of report
    if not looks_like_bounce(headers):
        return None
    return _from_text(report, headers)
