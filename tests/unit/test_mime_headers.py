"""Header reading on the poller's hot path: decoded as a person would read them."""

from __future__ import annotations

from outreach.reading.matching import address_of
from outreach.reading.mime import parse_headers


def test_encoded_words_in_several_charsets_are_decoded_with_their_spacing() -> None:
    raw = (
        b"Subject: Re: =?iso-8859-1?q?Gr=FC=DFe?= =?iso-8859-1?q?_aus?= Berlin\r\n"
        b"Thread-Topic: =?utf-8?b?Q2Fmw6k=?= talk\r\n\r\n"
    )
    headers = parse_headers(raw)
    assert headers["subject"] == "Re: Grüße aus Berlin"
    assert headers["thread-topic"] == "Café talk"


def test_a_word_in_an_unknown_charset_is_read_rather_than_dropped() -> None:
    headers = parse_headers(b"Subject: =?x-unknown?Q?Re=3A_Could_I_ask?=\r\n\r\n")
    assert headers["subject"] == "Re: Could I ask"


def test_raw_utf8_headers_are_read_as_utf8_and_bad_bytes_do_not_stop_anything() -> None:
    headers = parse_headers("Subject: Réponse rapide\r\n".encode() + b"X-Junk: \xff\xfe\r\n\r\n")
    assert headers["subject"] == "Réponse rapide"
    assert headers["x-junk"] == "\ufffd\ufffd"


def test_an_encoded_display_name_with_a_comma_still_yields_the_right_address() -> None:
    raw = b"From: =?utf-8?q?Doe=2C_J=C3=BCrgen?= <jurgen@example.org>\r\n\r\n"
    assert address_of(parse_headers(raw)["from"]) == "jurgen@example.org"


def test_folded_headers_are_unfolded_and_the_first_of_a_repeated_header_wins() -> None:
    raw = b"References: <a@x.example>\r\n <b@x.example>\r\nSubject: one\r\nSubject: two\r\n\r\n"
    headers = parse_headers(raw)
    assert headers["references"] == "<a@x.example> <b@x.example>"
    assert headers["subject"] == "one"
