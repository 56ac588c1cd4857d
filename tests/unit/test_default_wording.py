"""The five default templates, read against the guides in ../shared/seeds/ (docs/etiquette.md)."""

import re

from outreach.rules.templates import load_default, render, signature_block

KINDS = ("request", "follow_up", "confirmation", "thank_you", "keep_in_touch")

SAM = {
    "first_name": "Dana",
    "full_name": "Dana Lee",
    "role": "Curator of learning",
    "organisation": "the Horniman Museum",
    "how_found": "the alumni network",
    "referrer_name": "",
    "why_you": "you built the museum's schools programme from nothing",
    "my_name": "Sam Student",
    "my_introduction": "I am in the second year of a history degree at UCL and I am "
    "trying to decide between teaching and museum work.",
    "my_signature": "Sam Student\nBA History, UCL\nlinkedin.com/in/samstudent",
    "field": "museum education",
    "target": "museum education",
    "meeting_date": "Tuesday 8 December",
    "meeting_time": "15:00 London time, 10:00 in New York",
    "meeting_place": "Zoom",
    "specific_detail": "your advice to volunteer on the Saturday family days",
    "update": "I volunteered on three family days and start a museum traineeship in March.",
}


def rendered(kind: str, **overrides: str) -> tuple[str, str]:
    done = render(*load_default(kind), {**SAM, **overrides})
    return done.subject, done.body


def sentences(text: str) -> list[str]:
    return [part.strip() for part in re.split(r"(?<=[.?!])\s+", text) if part.strip()]


def test_the_request_makes_one_clear_ask_for_20_to_30_minutes_and_not_a_job() -> None:
    subject, body = rendered("request")
    assert subject == "Could I ask your advice about museum education?"
    ask = [sentence for sentence in sentences(body) if sentence.endswith("?")]
    assert len(ask) == 1
    assert "20 to 30 minutes" in ask[0] and "at a time that suits you" in ask[0]
    assert "information and advice, not for a job" in body
    # Short: greeting, three short paragraphs, the signature.
    assert len(body.split()) < 130


def test_the_request_says_how_the_name_was_found_and_why_this_person() -> None:
    _, body = rendered("request")
    assert "I came across your name through the alumni network." in body
    assert (
        "I am writing to you in particular because you built the museum's schools "
        "programme from nothing." in body
    )


def test_the_request_reads_well_without_a_why_you_line() -> None:
    _, body = rendered("request", why_you="")
    assert "because" not in body
    assert "museum work.\n\nWould you have" in body


def test_the_template_never_says_trying_to_itself_so_an_introduction_saying_it_is_not_doubled() -> (
    None
):
    _, body = rendered("request")
    assert body.count("I am trying to") <= 1
    for kind in KINDS:
        assert "trying to" not in load_default(kind)[1]


def test_no_line_repeats_what_the_line_before_it_said() -> None:
    for kind in KINDS:
        _, body = rendered(kind)
        assert "calendar" not in body
        said = sentences(body)
        assert len(said) == len(set(said))


def test_the_follow_up_refers_to_the_request_quoted_below_and_promises_no_more() -> None:
    _, body = rendered("follow_up")
    assert "my note below" in body
    assert "I will not write again" in body
    request_sentences = set(sentences(rendered("request")[1]))
    assert not request_sentences & set(sentences(body))


def test_every_letter_is_signed_with_the_users_details() -> None:
    for kind in KINDS:
        _, body = rendered(kind)
        assert body.rstrip().endswith("Sam Student\nBA History, UCL\nlinkedin.com/in/samstudent")


def test_every_letter_names_the_field_by_its_phrase() -> None:
    for kind in KINDS:
        subject, body = rendered(kind)
        assert "museum education" in subject + body


def test_the_confirmation_carries_the_zoned_time() -> None:
    subject, body = rendered("confirmation")
    assert subject == "Our conversation on Tuesday 8 December"
    assert "on Tuesday 8 December at 15:00 London time, 10:00 in New York (Zoom)." in body


def test_the_thank_you_mentions_something_specific_and_asks_to_keep_in_touch() -> None:
    _, body = rendered("thank_you")
    assert "I especially appreciated your advice to volunteer on the Saturday family days." in body
    assert "If I may, I would like to let you know how things go." in body
    # The detail is often "your advice to ...": the rest of the note does not say it again.
    assert body.count("advice") == 1


def test_the_signature_puts_the_name_first_once() -> None:
    assert signature_block("Sam Student", "") == "Sam Student"
    assert signature_block("Sam Student", "Sam Student\nUCL") == "Sam Student\nUCL"
    assert signature_block("Sam Student", "BA History, UCL\n07700 900123") == (
        "Sam Student\nBA History, UCL\n07700 900123"
    )
    assert signature_block("Sam Student", "Sam") == "Sam"
