"""No mutation of a real bounce turns it into a person's reply (issue 15).

Every bounce in tests/corpus (hand-written and public) that a mail server marks as one, by
its sender (MAILER-DAEMON, postmaster, "Mail Delivery System") or by a multipart/report
type, is mutated the ways mail is changed in transit and by other servers: header names in
another case, Auto-Submitted dropped, the subject replaced or removed, the body re-encoded
(base64, CRLF line ends) or cut short. Whatever comes out, it is never read as a reply.
"""

from __future__ import annotations

import base64
import os
import re
from datetime import UTC, datetime
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from outreach.reading.bounces import is_daemon_sender
from outreach.reading.classify import InboundKind, read_message
from outreach.reading.mime import parse_headers

CORPUS = Path(__file__).resolve().parents[1] / "corpus"
ARRIVAL = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
OWN = frozenset({"sam@uni.example"})


def _marked_by_a_server(raw: bytes) -> bool:
    headers = parse_headers(raw)
    return is_daemon_sender(headers.get("from", "")) or (
        "multipart/report" in headers.get("content-type", "").lower()
        and "delivery-status" in headers.get("content-type", "").lower()
    )


BOUNCES = [
    raw
    for path in sorted([*CORPUS.glob("bounces/*.eml"), *CORPUS.glob("public/*/*.eml")])
    if _marked_by_a_server(raw := path.read_bytes())
]

MUTATE = settings(
    max_examples=int(os.environ.get("OUTREACH_FUZZ_EXAMPLES", "150")),
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _split(raw: bytes) -> tuple[bytes, bytes, bytes]:
    """Header block, the blank line between, and the body (CRLF or LF)."""
    found = re.search(rb"\r?\n\r?\n", raw)
    if found is None:
        return raw, b"", b""
    return raw[: found.start()], raw[found.start() : found.end()], raw[found.end() :]


def _header_lines(head: bytes) -> list[bytes]:
    """One entry per field, folded lines kept with it."""
    fields: list[bytes] = []
    for line in head.splitlines(keepends=True):
        if line[:1] in (b" ", b"\t") and fields:
            fields[-1] += line
        else:
            fields.append(line)
    return fields


def _name(field: bytes) -> bytes:
    return field.split(b":", 1)[0].strip().lower()


@st.composite
def mutated_bounces(draw: st.DrawFn) -> bytes:
    raw = draw(st.sampled_from(BOUNCES))
    head, gap, body = _split(raw)
    fields = _header_lines(head)
    if draw(st.booleans()):  # header names in another case
        fields = [
            (
                field.split(b":", 1)[0].swapcase() + b":" + field.split(b":", 1)[1]
                if b":" in field and draw(st.booleans())
                else field
            )
            for field in fields
        ]
    if draw(st.booleans()):  # no Auto-Submitted
        fields = [field for field in fields if _name(field) != b"auto-submitted"]
    subject = draw(
        st.sampled_from(["keep", "drop", "Re: Could I ask you about your work?", "hello", ""])
    )
    if subject != "keep":
        fields = [field for field in fields if _name(field) != b"subject"]
        if subject != "drop":
            fields.append(f"Subject: {subject}\n".encode())
    content_type = b"".join(f for f in fields if _name(f) == b"content-type").lower()
    encoding = draw(st.sampled_from(["keep", "crlf", "base64"]))
    if encoding == "base64" and b"multipart" not in content_type:
        fields = [f for f in fields if _name(f) != b"content-transfer-encoding"]
        fields.append(b"Content-Transfer-Encoding: base64\n")
        body = base64.encodebytes(body)
    if draw(st.booleans()):  # cut short
        body = body[: draw(st.integers(min_value=0, max_value=len(body)))]
    joined = b"".join(field if field.endswith(b"\n") else field + b"\n" for field in fields)
    message = joined.rstrip(b"\r\n") + (gap or b"\n\n") + body
    if encoding == "crlf":
        message = re.sub(rb"\r?\n", b"\r\n", message)
    return message


def test_there_are_bounces_to_mutate() -> None:
    assert len(BOUNCES) >= 80


@MUTATE
@given(mutated_bounces())
def test_no_mutation_of_a_bounce_is_read_as_a_reply(raw: bytes) -> None:
    assert read_message(raw, OWN, ARRIVAL).kind is not InboundKind.REPLY
