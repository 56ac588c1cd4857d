from datetime import UTC, datetime
from email import message_from_bytes, policy

import pytest

from outreach.errors import ValidationError
from outreach.rules.compose import (
    OutgoingEmail,
    build_message,
    domain_of,
    make_message_id,
    one_line,
    reply_subject,
)

WHEN = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)


def outgoing(**overrides: object) -> OutgoingEmail:
    values: dict[str, object] = {
        "from_name": "Sam Student",
        "from_address": "sam@uni.example",
        "to_name": "Alex Lee",
        "to_address": "alex@org.example",
        "subject": "Could I ask you about your work?",
        "body": "Dear Alex,\n\nHello.\n",
        "message_id": "<abc123@uni.example>",
        "date": WHEN,
    }
    values.update(overrides)
    return OutgoingEmail(**values)  # type: ignore[arg-type]


def parsed(email: OutgoingEmail) -> object:
    return message_from_bytes(build_message(email).as_bytes(), policy=policy.default)


def test_headers_are_set_as_approved() -> None:
    message = build_message(outgoing())
    assert message["Message-ID"] == "<abc123@uni.example>"
    assert message["From"] == "Sam Student <sam@uni.example>"
    assert message["To"] == "Alex Lee <alex@org.example>"
    assert message["Date"] == "Tue, 24 Nov 2026 09:30:00 +0000"
    assert message.get_content() == "Dear Alex,\n\nHello.\n"


def test_line_breaks_in_a_name_cannot_inject_a_header() -> None:
    raw = build_message(outgoing(to_name="Alex\r\nBcc: victim@evil.example")).as_bytes()
    headers = raw.split(b"\n\n", 1)[0]
    assert b"\nBcc:" not in headers
    assert b"victim@evil.example" in headers  # kept, harmlessly, inside the display name


def test_line_breaks_in_a_subject_cannot_inject_a_header() -> None:
    raw = build_message(outgoing(subject="Hi\nBcc: victim@evil.example")).as_bytes()
    assert b"\nBcc:" not in raw.split(b"\n\n", 1)[0]


def test_non_ascii_names_and_subjects_are_encoded() -> None:
    message = parsed(outgoing(to_name="Zoë Müller", subject="Grüße aus Zürich"))
    assert message["To"] == "Zoë Müller <alex@org.example>"  # type: ignore[index]
    assert message["Subject"] == "Grüße aus Zürich"  # type: ignore[index]


def test_threading_headers_for_a_follow_up() -> None:
    message = build_message(
        outgoing(in_reply_to="<first@uni.example>", references=("<first@uni.example>",))
    )
    assert message["In-Reply-To"] == "<first@uni.example>"
    assert message["References"] == "<first@uni.example>"


def test_message_id_is_unique_and_on_the_sender_domain() -> None:
    first, second = make_message_id("sam@Uni.Example"), make_message_id("sam@uni.example")
    assert first != second
    assert first.endswith("@uni.example>") and first.startswith("<")


def test_reply_subject_adds_re_once() -> None:
    assert reply_subject("Hello") == "Re: Hello"
    assert reply_subject("RE: Hello") == "RE: Hello"
    assert reply_subject("Re: RE:Re: Hello") == "Re: Hello"


def test_one_line_and_domain_of() -> None:
    assert one_line(" a\r\n b\tc ") == "a b c"
    assert domain_of("x@Example.ORG") == "example.org"
    with pytest.raises(ValidationError):
        domain_of("not-an-address")
