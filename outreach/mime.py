"""Read inbound mail defensively: broken MIME and odd charsets never stop the poller."""

from __future__ import annotations

from email import policy
from email.message import EmailMessage, Message
from email.parser import BytesHeaderParser, BytesParser
from html.parser import HTMLParser

_MAX_TEXT = 100_000


def parse_headers(raw: bytes) -> dict[str, str]:
    """Header names lower-cased -> unfolded, decoded values (first occurrence wins)."""
    message = BytesHeaderParser(policy=policy.default).parsebytes(raw)
    headers: dict[str, str] = {}
    for name in message.keys():
        key = name.lower()
        if key in headers:
            continue
        try:
            value = str(message[name])
        except Exception:  # the header registry raises more than ValueError on broken input
            # A header the library cannot decode is kept raw rather than lost. (Not through
            # get_all(): that parses the value again and raises again.)
            value = next((str(raw) for key_, raw in message.raw_items() if key_ == name), "")
        headers[key] = " ".join(value.split())
    return headers


def _decode(part: Message) -> str:
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    charset = part.get_content_charset() or "utf-8"
    try:
        return payload.decode(charset, errors="replace")
    except (LookupError, ValueError):
        # An unknown charset name (or one with a NUL in it): fall back rather than drop the text.
        return payload.decode("utf-8", errors="replace")


def text_of(raw: bytes) -> str:
    """The message's plain text (or a tag-stripped HTML part), at most 100,000 characters."""
    message = BytesParser(policy=policy.compat32).parsebytes(raw)
    plain: str | None = None
    html: str | None = None
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
    if plain is None and html is not None:
        plain = _strip_tags(html)
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


# --- additions for classification (outreach.bounces, outreach.autoreply, outreach.classify) ---


def part_text(part: Message) -> str:
    """One non-multipart part's decoded text; an HTML part comes back with its tags stripped."""
    text = _decode(part)
    if part.get_content_type() == "text/html":
        return _strip_tags(text)
    return text
