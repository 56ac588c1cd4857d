from datetime import UTC, datetime

from outreach.cycle import add_business_days, business_days_between
from outreach.mime import parse_headers, text_of

FRIDAY = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)


def test_business_days_skip_the_weekend() -> None:
    assert add_business_days(FRIDAY, 1) == datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
    assert add_business_days(FRIDAY, 7).date().isoformat() == "2026-12-08"


def test_business_days_between() -> None:
    assert business_days_between(FRIDAY, add_business_days(FRIDAY, 3)) == 3
    assert business_days_between(FRIDAY, FRIDAY) == 0


def test_headers_are_decoded_and_unfolded() -> None:
    raw = b"Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\r\n and more\r\nFrom: a@b.example\r\n\r\n"
    assert parse_headers(raw) == {"subject": "Grüße and more", "from": "a@b.example"}


def test_text_of_prefers_plain_text() -> None:
    raw = (
        b'Content-Type: multipart/alternative; boundary="b"\r\n\r\n--b\r\n'
        b"Content-Type: text/html\r\n\r\n<p>html</p>\r\n--b\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\n\r\nplain words\r\n--b--\r\n"
    )
    assert text_of(raw) == "plain words"


def test_text_of_strips_tags_and_scripts_from_html_only_mail() -> None:
    raw = b"Content-Type: text/html\r\n\r\n<p>Hi <b>Sam</b></p><script>alert(1)</script>"
    assert text_of(raw) == "Hi Sam"


def test_unknown_charset_and_broken_mime_do_not_raise() -> None:
    raw = b"Content-Type: text/plain; charset=x-made-up\r\n\r\nhello \xff"
    assert text_of(raw).startswith("hello")
    assert text_of(b'Content-Type: multipart/mixed; boundary="never"\r\n\r\nno parts') == ""
