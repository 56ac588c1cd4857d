"""Read inbound mail defensively: broken MIME and odd charsets never stop the poller."""

from __future__ import annotations

import base64
import re
from email import policy
from email.errors import InvalidBase64LengthDefect
from email.header import decode_header
from email.message import EmailMessage, Message
from email.parser import BytesHeaderParser, BytesParser
from html.parser import HTMLParser

_MAX_TEXT = 100_000


# Address headers keep their encoded words: only the address is read from them
# (outreach.reading.matching.address_of), and a decoded display name may hold commas or
# quotes that would break the address list apart.
_ADDRESS_HEADERS = frozenset({"from", "to", "cc", "reply-to", "sender", "return-path"})


def parse_headers(raw: bytes) -> dict[str, str]:
    """Header names lower-cased -> unfolded, decoded values (first occurrence wins).

    The poller reads the header fields of every new message, so this is on the
    hot path of a first sync: the classic parser plus decoding of RFC 2047
    encoded words where they occur is several times faster than the email
    package's header registry, and just as forgiving of broken input.
    """
    message = BytesHeaderParser(policy=policy.compat32).parsebytes(raw)
    headers: dict[str, str] = {}
    for name, value in message.raw_items():
        key = name.lower()
        if key in headers:
            continue
        text = str(value)
        if not text.isascii():
            # Raw 8-bit bytes (RFC 6532 UTF-8 headers, or a legacy charset) arrive
            # surrogate-escaped; read them as UTF-8 and keep whatever does not decode.
            text = text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
        if "\x1b$" in text:
            # Raw ISO-2022-JP, as Japanese carriers write their reports' subjects.
            text = text.encode("ascii", "replace").decode("iso-2022-jp", "replace")
        if "=?" in text and key not in _ADDRESS_HEADERS:
            text = _decode_words(text)
        headers[key] = " ".join(text.split())
    return headers


def _decode_words(text: str) -> str:
    """RFC 2047 encoded words decoded; a word in an unknown charset is read as UTF-8."""
    try:
        pieces = decode_header(text)
    except Exception:  # bad base64 and the like: keep the raw header rather than lose it
        return text
    decoded: list[str] = []
    for chunk, charset in pieces:
        if isinstance(chunk, str):
            decoded.append(chunk)
            continue
        try:
            decoded.append(chunk.decode(charset or "ascii", errors="replace"))
        except (LookupError, ValueError):
            decoded.append(chunk.decode("utf-8", errors="replace"))
    # decode_header splits off the whitespace between encoded and plain words.
    return "".join(
        piece if index == 0 or not _needs_space(decoded[index - 1], piece) else " " + piece
        for index, piece in enumerate(decoded)
    )


def _needs_space(before: str, after: str) -> bool:
    return bool(before) and bool(after) and not before[-1].isspace() and not after[0].isspace()


def _decode(part: Message) -> str:
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    if any(isinstance(defect, InvalidBase64LengthDefect) for defect in part.defects):
        payload = _base64_leniently(payload)
    charset = part.get_content_charset() or "utf-8"
    try:
        return payload.decode(charset, errors="replace")
    except (LookupError, ValueError):
        # An unknown charset name (or one with a NUL in it): fall back rather than drop the text.
        return payload.decode("utf-8", errors="replace")


def _base64_leniently(encoded: bytes) -> bytes:
    """Base64 the email package gave up on (one character too many, after dropping the
    characters outside the alphabet): decoded without that last character, so that a
    damaged part still shows all but its last byte or two instead of raw base64."""
    data = re.sub(rb"[^A-Za-z0-9+/]", b"", encoded)
    return base64.b64decode(data[: len(data) - len(data) % 4])


def text_of(raw: bytes) -> str:
    """The message's plain text (or a tag-stripped HTML part), at most 100,000 characters."""
    message = BytesParser(policy=policy.compat32).parsebytes(raw)
    plain: str | None = None
    html: str | None = None
    unsplit: str | None = None
    for part in message.walk():
        if part.is_multipart():
            continue
        if part.get_content_disposition() == "attachment":
            continue
        content_type = part.get_content_type()
        if content_type == "text/plain" and plain is None:
            plain = _decode(part)
        elif content_type == "text/html" and html is None:
            html = _decode(part)
        elif part.get_content_maintype() == "multipart" and unsplit is None:
            # A multipart without its boundary cannot be split into parts: its raw
            # text, shown as text, is better than losing what the person wrote.
            unsplit = _decode(part)
    if plain is None and html is not None:
        plain = _strip_tags(html)
    if plain is None:
        plain = unsplit
    return (plain or "").strip()[:_MAX_TEXT]


class _TextCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in {"script", "style"}:
            self._skip += 1
        elif tag in {"br", "p", "div", "li", "tr"}:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in {"script", "style"} and self._skip:
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def _strip_tags(html: str) -> str:
    parser = _TextCollector()
    parser.feed(html)
    return "".join(parser.parts)


def as_email_message(raw: bytes) -> EmailMessage:
    message = BytesParser(policy=policy.default).parsebytes(raw)
    assert isinstance(message, EmailMessage)
    return message


# --- additions for classification (reading.bounces, reading.autoreply, reading.classify) ---


def part_text(part: Message) -> str:
    """One non-multipart part's decoded text; an HTML part comes back with its tags stripped."""
    text = _decode(part)
    if part.get_content_type() == "text/html":
        return _strip_tags(text)
    return text
