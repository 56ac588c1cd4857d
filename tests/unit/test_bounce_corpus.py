"""Real delivery reports from public corpora (tests/corpus/public): read as bounces, never replies.

Each sample's family, kind and failed recipients are in tests/corpus/public/expected.tsv;
bench/bounce_recognition.py prints the same figures beside flufl.bounce's. The floors below
are what the readers reach today: a change that loses a report fails here.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime

import pytest

from outreach.reading.bounces import never_a_reply
from outreach.reading.classify import InboundKind, Reading, read_message
from tests.public_corpus import HOLDOUT, Sample, samples

ARRIVAL = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
SAMPLES = samples()
BOUNCES = [sample for sample in SAMPLES if sample.kind == "bounce"]
# Real reports the readers were not broadened against (tests/corpus/public/holdout).
HOLDOUT_BOUNCES = [sample for sample in samples(HOLDOUT) if sample.kind == "bounce"]

# Reports not read as a bounce, and why (none today). Each would still never be a reply.
KNOWN_MISSES: dict[str, str] = {}
# Reports read as bounces whose failed recipient is not the one they name, and why.
KNOWN_RECIPIENT_MISSES = {
    # Sendmail 5 names only the host; the recipient is in the returned copy's To, inline.
    "sisimai/email-v5sendmail-01.eml": "the report's words name only a host",
}

# Per family: the share of reports read as bounces must not fall below these (in percent).
FAMILY_FLOORS = {"dsn": 100, "simple": 97, "yahoo": 100, "qmail": 100, "smtp32": 100}
OVERALL_FLOOR = 97.0
RECIPIENT_FLOOR = 97.0
# The holdout's floors: what it reaches after the fixes its first measure called for
# (docs/bounce-recognition.md has the first-sight figures beside them).
HOLDOUT_FLOOR = 97.0
HOLDOUT_RECIPIENT_FLOOR = 97.0


def _read(sample: Sample) -> Reading:
    return read_message(sample.path.read_bytes(), frozenset(), ARRIVAL)


def test_the_corpus_is_there() -> None:
    assert len(BOUNCES) >= 130, "tests/corpus/public/expected.tsv lists the public reports"
    assert all(sample.path.is_file() for sample in SAMPLES)


@pytest.mark.parametrize("sample", BOUNCES, ids=lambda sample: sample.name)
def test_every_public_bounce_is_a_bounce_and_never_a_reply(sample: Sample) -> None:
    reading = _read(sample)
    assert reading.kind is not InboundKind.REPLY
    if sample.name in KNOWN_MISSES:
        assert reading.kind is InboundKind.OTHER, "a known miss is read as nothing, not a reply"
        return
    assert reading.kind is InboundKind.BOUNCE
    assert reading.bounce is not None
    if sample.recipients and sample.name not in KNOWN_RECIPIENT_MISSES:
        assert reading.bounce.failed_recipient in sample.recipients


@pytest.mark.parametrize("sample", BOUNCES, ids=lambda sample: sample.name)
def test_the_hard_rule_holds_for_every_public_bounce_from_a_server(sample: Sample) -> None:
    raw = sample.path.read_bytes()
    if never_a_reply(raw):
        # Whatever else the body says, such a message is never classified as a reply.
        assert _read(sample).kind is not InboundKind.REPLY


def test_known_misses_are_still_in_the_corpus() -> None:
    names = {sample.name for sample in BOUNCES}
    assert set(KNOWN_MISSES) <= names and set(KNOWN_RECIPIENT_MISSES) <= names


def test_figures_per_family_and_overall() -> None:
    read_as: dict[str, list[bool]] = defaultdict(list)
    recipients: list[bool] = []
    for sample in BOUNCES:
        reading = _read(sample)
        read_as[sample.family].append(reading.kind is InboundKind.BOUNCE)
        if sample.recipients:
            found = reading.bounce.failed_recipient if reading.bounce else ""
            recipients.append(found in sample.recipients)
    for family, floor in FAMILY_FLOORS.items():
        shares = read_as[family]
        assert shares, family
        assert 100 * sum(shares) / len(shares) >= floor, family
    everything = [found for shares in read_as.values() for found in shares]
    assert 100 * sum(everything) / len(everything) >= OVERALL_FLOOR
    assert 100 * sum(recipients) / len(recipients) >= RECIPIENT_FLOOR


def test_the_holdout_is_there_and_apart() -> None:
    assert len(HOLDOUT_BOUNCES) >= 50, "tests/corpus/public/holdout/expected.tsv lists them"
    assert all(sample.path.is_file() for sample in HOLDOUT_BOUNCES)
    tuned = {sample.path.read_bytes() for sample in SAMPLES}
    assert not any(sample.path.read_bytes() in tuned for sample in HOLDOUT_BOUNCES)


@pytest.mark.parametrize("sample", HOLDOUT_BOUNCES, ids=lambda sample: sample.name)
def test_a_holdout_bounce_is_never_a_reply(sample: Sample) -> None:
    assert _read(sample).kind is not InboundKind.REPLY


def test_holdout_figures() -> None:
    readings = [(sample, _read(sample)) for sample in HOLDOUT_BOUNCES]
    recognised = [reading.kind is InboundKind.BOUNCE for _, reading in readings]
    found = [
        (reading.bounce.failed_recipient if reading.bounce else "") in sample.recipients
        for sample, reading in readings
        if sample.recipients
    ]
    assert 100 * sum(recognised) / len(recognised) >= HOLDOUT_FLOOR
    assert 100 * sum(found) / len(found) >= HOLDOUT_RECIPIENT_FLOOR


@pytest.mark.parametrize(
    "sample", [s for s in SAMPLES if s.kind != "bounce"], ids=lambda sample: sample.name
)
def test_public_samples_that_are_not_bounces(sample: Sample) -> None:
    assert _read(sample).kind.value == sample.kind


def _person(subject: str, body: str, answers: bool = True) -> bytes:
    head = (
        "From: Robin Lee <robin@corp.example>\nTo: sam@uni.example\n"
        f"Subject: {subject}\nMessage-ID: <r-1@corp.example>\n"
        + ("In-Reply-To: <20261120092000.a1b2c3@uni.example>\n" if answers else "")
        + "Content-Type: text/plain; charset=utf-8\n\n"
    )
    return (head + body + "\n").encode()


PEOPLE_ABOUT_BOUNCES = [
    _person(
        "Re: Could I ask you about your work?",
        "Hi Sam, your email to my colleague could not be delivered; her address is now"
        " kim@corp.example. Happy to talk myself though!",
    ),
    # A report's words pasted into an answer: flufl.bounce reads them, the answer stays one.
    _person(
        "Re: Could I ask you about your work?",
        "Sorry - I got this:\n\nDelivery to the following recipient failed permanently:\n\n"
        "    kim@corp.example\n\nBest, Robin",
    ),
    _person(
        "Re: Could I ask you about your work?",
        "The following addresses had permanent fatal errors:\n<kim@corp.example>\n"
        "(reason: 550 5.1.1 unknown user)\n\nI think she left. Robin",
    ),
    # A report's subject alone, on a person's new message.
    _person(
        "Undeliverable package - can we talk Thursday instead?",
        "Hi Sam, my parcel was undeliverable so I'm stuck at home; Thursday works.",
        answers=False,
    ),
]


def _person_forwarding_a_copy(answers: bool) -> bytes:
    """A person's message with Sam's returned message attached, saying it was not delivered."""
    head = (
        "From: Robin Lee <robin@corp.example>\nTo: sam@uni.example\nSubject: Re: your note\n"
        "Message-ID: <r-2@corp.example>\n"
        + ("In-Reply-To: <20261120092000.a1b2c3@uni.example>\n" if answers else "")
        + 'MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="b"\n\n'
    )
    return (
        head + "--b\nContent-Type: text/plain\n\nHi Sam, this could not be delivered to "
        "kim@corp.example, she left. Ask me instead!\n--b\nContent-Type: message/rfc822\n\n"
        "From: sam@uni.example\nTo: kim@corp.example\nSubject: Hello\n\nHello Kim\n--b--\n"
    ).encode()


def test_an_answer_that_attaches_an_undelivered_copy_is_not_a_bounce() -> None:
    # Only a new message carrying the copy reads as a carrier's notice (au/KDDI); an answer
    # stays what decision 0014 makes it (never a bounce of ours, never lost as a reply).
    reading = read_message(_person_forwarding_a_copy(answers=True), frozenset(), ARRIVAL)
    assert reading.kind is not InboundKind.BOUNCE


@pytest.mark.parametrize("raw", PEOPLE_ABOUT_BOUNCES, ids=range(len(PEOPLE_ABOUT_BOUNCES)))
def test_a_person_writing_about_a_bounce_is_replying(raw: bytes) -> None:
    assert read_message(raw, frozenset({"sam@uni.example"}), ARRIVAL).kind is InboundKind.REPLY
