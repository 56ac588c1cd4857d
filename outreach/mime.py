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
        except (ValueError, LookupError, IndexError):
            # A header the library cannot decode is kept raw rather than lost.
            value = str(message.get_all(name, [""])[0])
        headers[key] = " ".join(value.split())
    return headers


def _decode(part: Message) -> str:
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    charset = part.get_content_charset() or "utf-8"
    try:
        return payload.decode(charset, errors="replace")
    except LookupError:
        # An unknown charset name: fall back rather than drop the text.
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
