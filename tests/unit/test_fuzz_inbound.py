"""Hostile inbound mail: random and mutated messages through parsing, matching, classifying.

The property is the same everywhere: whatever the bytes, nothing raises, and the results keep
their types. Mutations start from the hand-written corpus (tests/corpus), so they reach deep
into real report and reply layouts rather than failing at the first line.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from outreach.reading.autoreply import detect_auto_reply
from outreach.reading.bounces import parse_bounce
from outreach.reading.classify import InboundKind, Reading, read_headers, read_message
from outreach.reading.matching import ThreadRef, match_reply
from outreach.reading.mime import parse_headers, text_of
from outreach.reading.quoting import strip_quoted_history
from outreach.reading.return_date import find_return_date

CORPUS = Path(__file__).resolve().parents[1] / "corpus"
SAMPLES = [path.read_bytes() for path in sorted(CORPUS.glob("*/*.eml")) if path.stat().st_size]
OWN = frozenset({"sam@uni.example"})
SENT = {"<20261120092000.g4m5a6ff@uni.example>": ThreadRef(outreach_id=1, contact_id=2)}
OPEN = {"alex.rivera@contoso.example": (2, 1)}

# Modest, and without a database of examples in the working tree: a few seconds in all.
# OUTREACH_FUZZ_EXAMPLES=5000 runs a longer campaign by hand.
FUZZ = settings(
    max_examples=int(os.environ.get("OUTREACH_FUZZ_EXAMPLES", "60")),
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# Pieces that make the parsers work hardest: MIME boundaries, encoded words, odd charsets,
# report fields, date-like numbers, quote markers.
FRAGMENTS = [
    b"\n",
    b"\r\n",
    b"\n\n",
    b"--B\n",
    b"--B--\n",
    b'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\n',
    b"Content-Type: message/delivery-status\n",
    b"Content-Type: message/rfc822\n",
    b"Content-Type: text/rfc822-headers\n",
    b'Content-Type: multipart/alternative; boundary="B"\n',
    b"Content-Type: text/plain; charset=x-unknown\n",
    b"Content-Type: text/html; charset=utf-8\n",
    b"Content-Transfer-Encoding: base64\n",
    b"Content-Transfer-Encoding: quoted-printable\n",
    b"Final-Recipient: rfc822; bob@corp.example\n",
    b"Action: failed\n",
    b"Action: delayed\n",
    b"Status: 5.1.1\n",
    b"Diagnostic-Code: smtp; 550 5.1.1 user unknown\n",
    b"From: MAILER-DAEMON@mx.example\n",
    b"From: =?utf-8?B?w6k=?= <\x00@>\n",
    b"Subject: =?x-bad?Q?=FF=FE?= Automatic reply:\n",
    b"Auto-Submitted: auto-replied\n",
    b"Message-ID: <<<@@>>>\n",
    b"In-Reply-To: <20261120092000.g4m5a6ff@uni.example>\n",
    b"References: <a@b> <c@d\n",
    b"<bob@corp.example>:\n",
    b"Hi. This is the qmail-send program\n",
    b"Delivery has failed to these recipients or groups:\n",
    b"--- Below this line is a copy of the message.\n",
    b"until Monday 7 December 12/07/2026 4.1. 31.02.\n",
    b"On Fri, 20 Nov 2026, Sam wrote:\n> quoted\n",
    b"=?utf-8?q?=E2=80?=",
    b"\xff\xfe\x00",
    "é ü ß — “”".encode(),
]

raw_bytes = st.binary(max_size=3000)
fragment_soup = st.lists(st.sampled_from(FRAGMENTS) | st.binary(max_size=40), max_size=40).map(
    b"".join
)


@st.composite
def mutated_samples(draw: st.DrawFn) -> bytes:
    """A corpus message with a few bytes deleted, inserted, replaced or duplicated."""
    raw = bytearray(draw(st.sampled_from(SAMPLES)))
    for _ in range(draw(st.integers(1, 6))):
        if not raw:
            break
        at = draw(st.integers(0, len(raw) - 1))
        length = draw(st.integers(1, 64))
        action = draw(st.sampled_from(["delete", "insert", "replace", "duplicate", "truncate"]))
        if action == "delete":
            del raw[at : at + length]
        elif action == "insert":
            raw[at:at] = draw(st.sampled_from(FRAGMENTS) | st.binary(min_size=1, max_size=length))
        elif action == "replace":
            raw[at : at + length] = draw(st.binary(min_size=1, max_size=length))
        elif action == "duplicate":
            raw[at:at] = raw[at : at + length]
        else:
            del raw[at:]
    return bytes(raw)


messages = st.one_of(raw_bytes, fragment_soup, mutated_samples())
arrivals = st.datetimes(
    min_value=datetime(1990, 1, 1), max_value=datetime(2090, 1, 1), timezones=st.just(UTC)
)


def _everything(raw: bytes, received_at: datetime) -> None:
    headers = parse_headers(raw)
    assert all(isinstance(key, str) and isinstance(value, str) for key, value in headers.items())
    text = text_of(raw)
    assert isinstance(text, str)
    assert isinstance(strip_quoted_history(text), str)
    assert read_headers(headers, OWN).kind in set(InboundKind)
    bounce = parse_bounce(raw)
    assert bounce is None or bounce.action in ("failed", "delayed")
    auto = detect_auto_reply(headers, text, received_at)
    assert auto is None or isinstance(auto.signals, tuple)
    match = match_reply(
        headers.get("in-reply-to"), headers.get("references"), headers.get("from"), SENT, OPEN
    )
    assert match is None or match.rule in ("thread", "sender")
    result = read_message(raw, OWN, received_at)
    assert isinstance(result, Reading) and result.kind in set(InboundKind)
    # read_message turns a surprise into a `problem`; a problem from an exception here
    # would mean a parser above raised, which the direct calls already rule out.
    assert result.problem is None or not result.problem.startswith("the message could not")


@FUZZ
@given(raw=messages, received_at=arrivals)
def test_any_bytes_go_through_everything(raw: bytes, received_at: datetime) -> None:
    _everything(raw, received_at)


@FUZZ
@given(raw=mutated_samples(), received_at=arrivals)
def test_mutated_corpus_messages_go_through_everything(raw: bytes, received_at: datetime) -> None:
    _everything(raw, received_at)


@FUZZ
@given(text=st.text(max_size=400), received_at=arrivals)
def test_any_text_gives_a_return_date_or_none(text: str, received_at: datetime) -> None:
    found = find_return_date(text, received_at)
    assert found is None or abs(found - received_at.date()) < timedelta(days=3 * 366)


date_words = st.lists(
    st.sampled_from(
        "until back bis hasta jusqu'au de retour le am wieder zurück from to al au - – "
        "Monday lundi Montag lunes 7 31 12 1er 4. 2026 2027 99 12/07 5/1 4.1. 31.02. 29.2. "
        "December décembre Dezember diciembre Jan. Feb, of de del , . : \n".split(" ")
    ),
    max_size=30,
).map(" ".join)


@FUZZ
@given(text=date_words, received_at=arrivals)
def test_date_like_text_gives_a_return_date_or_none(text: str, received_at: datetime) -> None:
    found = find_return_date(text, received_at)
    assert found is None or abs(found - received_at.date()) < timedelta(days=3 * 366)


header_values = st.text(max_size=80) | st.sampled_from(
    [
        "",
        "<>",
        "auto-replied",
        "no",
        "MAILER-DAEMON@x",
        "multipart/report; report-type=delivery-status",
    ]
)


@FUZZ
@given(
    headers=st.dictionaries(
        st.sampled_from(
            [
                "from",
                "subject",
                "content-type",
                "auto-submitted",
                "x-autoreply",
                "precedence",
                "x-auto-response-suppress",
                "return-path",
                "x-failed-recipients",
                "in-reply-to",
                "references",
            ]
        ),
        header_values,
    ),
    body=st.text(max_size=300),
)
def test_any_header_mapping_classifies(headers: dict[str, str], body: str) -> None:
    assert read_headers(headers, OWN).kind in set(InboundKind)
    detect_auto_reply(headers, body, datetime(2026, 11, 24, tzinfo=UTC))
    match_reply(
        headers.get("in-reply-to"), headers.get("references"), headers.get("from"), SENT, OPEN
    )
