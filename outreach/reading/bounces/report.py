"""Walking a report's MIME structure into its parts (pure).

An RFC 3464 report's `message/delivery-status` part becomes one dict of fields per
block (per-message first, then one per recipient); the human-readable text parts are
joined into the report's text; an attached copy of our message (or of its headers)
gives the Message-ID the report is about.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email import policy
from email.message import Message
from email.parser import BytesParser, HeaderParser

from outreach.reading.bounces.text import COPY_MARKERS
from outreach.reading.mime import part_text

# Reports are read up to this many characters of text; the useful part is near the top.
_MAX_TEXT = 200_000
# Deeper MIME nesting than this is not a report any real server writes.
_MAX_DEPTH = 30

_MESSAGE_ID_LINE = re.compile(r"^[ \t]*Message-ID[ \t]*:[ \t]*(<[^<>\s]{1,500}>)", re.I | re.M)


@dataclass
class Report:
    """The parts of a report: its own text, its status blocks, and what it quotes of ours."""

    text: str = ""
    status_blocks: list[dict[str, str]] | None = None
    original_headers: dict[str, str] | None = None
    # Text attachments: some servers return the original message as one.
    attached_text: str = ""
    # A disposition notification's fields (RFC 8098), as a Sieve "reject" (RFC 5429) sends.
    disposition: dict[str, str] | None = None


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


def _walk(part: Message, report: Report, texts: list[str], depth: int = 0) -> None:
    if depth > _MAX_DEPTH:
        return
    content_type = part.get_content_type()
    if content_type in (
        "message/disposition-notification",
        "message/global-disposition-notification",
    ):
        if report.disposition is None:
            blocks = _status_blocks(part)
            report.disposition = {k: v for block in blocks for k, v in block.items()}
        return
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
    if part.get_content_maintype() == "multipart":
        # A multipart whose boundary could not be read (a parameter on a line of its own):
        # its body is all there is to read.
        payload = part.get_payload()
        if isinstance(payload, str):
            texts.append(payload[:_MAX_TEXT])
        return
    if part.get_content_maintype() == "text":
        if part.get_content_disposition() == "attachment":
            report.attached_text += part_text(part)[:_MAX_TEXT] + "\n"
        else:
            texts.append(part_text(part))


def read_report(raw: bytes) -> tuple[Message, Report]:
    """The parsed message and its report's parts."""
    message = BytesParser(policy=policy.compat32).parsebytes(raw)
    report = Report()
    texts: list[str] = []
    _walk(message, report, texts)
    plain = "\n\n".join(text for text in texts if text.strip())
    report.text = plain.replace("\r\n", "\n")[:_MAX_TEXT]
    return message, report


def original_message_id(report: Report) -> str | None:
    """The Message-ID of our message as the report quotes it (angle brackets kept), or None."""
    if report.original_headers:
        value = report.original_headers.get("message-id", "")
        found = re.search(r"<[^<>\s]{1,500}>", value)
        if found is not None:
            return found.group(0)
    text = report.text
    marker = COPY_MARKERS.search(text)
    regions = (text[marker.start() :],) if marker else ()
    for region in (*regions, text, report.attached_text):
        found = _MESSAGE_ID_LINE.search(region)
        if found is not None:
            return found.group(1)
    return None
