"""Messages written by real mail software, classified as the poller would.

Each test sends one message from student@example.test through our private Postfix, waits for
what comes back into the student's INBOX (a Postfix report, or a Dovecot Sieve vacation
reply, delivered over LMTP), reads it over IMAP and classifies the raw bytes.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime

import pytest

from outreach.reading.autoreply import detect_auto_reply
from outreach.reading.bounces import parse_bounce
from outreach.reading.classify import (
    InboundKind,
    Reading,
    read_headers,
    read_message,
)
from outreach.reading.mime import parse_headers, text_of

from .conftest import RealMail
from .mailsystem import DOMAIN, REMOTE_DOMAIN, UNREACHABLE_DOMAIN

OWN = frozenset({f"student@{DOMAIN}"})


def _request(recipient: str) -> tuple[bytes, str]:
    """Our outreach request, with a Message-ID fixed before sending (as Outreach does)."""
    message_id = f"<{secrets.token_hex(8)}@uni.example>"
    message = EmailMessage()
    message["From"] = f"Student <student@{DOMAIN}>"
    message["To"] = recipient
    message["Subject"] = "Could I ask you about your work?"
    message["Date"] = format_datetime(datetime.now(UTC))
    message["Message-ID"] = message_id
    message.set_content(
        "Dear colleague,\n\nI am a student and would like to ask you a few questions about "
        "your work, for twenty minutes, at a time that suits you.\n\nBest wishes,\nSam\n"
    )
    return message.as_bytes(), message_id


def _round_trip(real_mail: RealMail, recipient: str) -> tuple[bytes, str]:
    """Send a request to `recipient` and return what comes back about it, with its id."""
    raw, message_id = _request(recipient)
    real_mail.system.send(raw, real_mail.sender, recipient)
    token = message_id.encode()
    back = real_mail.system.wait_for(real_mail.sender, lambda received: token in received)
    return back, message_id


def _classified(raw: bytes) -> Reading:
    return read_message(raw, OWN, datetime.now(UTC))


def test_postfix_bounce_for_an_unknown_user_is_hard_5_1_1(real_mail: RealMail) -> None:
    raw, message_id = _round_trip(real_mail, f"nobody@{DOMAIN}")
    result = _classified(raw)
    assert result.kind is InboundKind.BOUNCE, real_mail.system.logs()
    bounce = result.bounce
    assert bounce is not None
    assert (bounce.failed_recipient, bounce.status, bounce.hard) == (
        f"nobody@{DOMAIN}",
        "5.1.1",
        True,
    )
    assert (bounce.action, bounce.reason, bounce.format) == ("failed", "user_unknown", "rfc3464")
    assert bounce.original_message_id == message_id
    assert "User doesn't exist" in bounce.diagnostic  # Dovecot's own words, via Postfix
    # The poller's header-only view agrees, even though Postfix writes Auto-Submitted too.
    assert read_headers(parse_headers(raw), OWN).kind is InboundKind.BOUNCE


def test_postfix_bounce_for_a_full_mailbox_is_soft_5_2_2(real_mail: RealMail) -> None:
    raw, message_id = _round_trip(real_mail, f"full@{DOMAIN}")
    bounce = parse_bounce(raw)
    assert bounce is not None, real_mail.system.logs()
    assert (bounce.failed_recipient, bounce.status, bounce.hard, bounce.reason) == (
        f"full@{DOMAIN}",
        "5.2.2",
        False,
        "mailbox_full",
    )
    assert bounce.original_message_id == message_id


def test_postfix_delay_warning_is_soft_and_not_a_failure(real_mail: RealMail) -> None:
    raw, message_id = _round_trip(real_mail, f"someone@{UNREACHABLE_DOMAIN}")
    bounce = parse_bounce(raw)
    assert bounce is not None, real_mail.system.logs()
    assert (bounce.action, bounce.hard, bounce.is_failure) == ("delayed", False, False)
    assert bounce.status is not None and bounce.status.startswith("4.")
    # Postfix quotes only the headers of a delayed message (text/rfc822-headers).
    assert bounce.original_message_id == message_id


@pytest.mark.parametrize(
    ("local_part", "status", "hard", "action", "reason"),
    [
        ("greylisted", "4.2.0", False, "delayed", "greylisted"),
        ("moved", "5.1.6", True, "failed", "moved"),
        ("refused", "5.7.1", True, "failed", "policy"),
        ("legacy", "5.0.0", True, "failed", "user_unknown"),
    ],
)
def test_postfix_reports_what_the_remote_server_said(
    real_mail: RealMail, local_part: str, status: str, hard: bool, action: str, reason: str
) -> None:
    recipient = f"{local_part}@{REMOTE_DOMAIN}"
    raw, message_id = _round_trip(real_mail, recipient)
    bounce = parse_bounce(raw)
    assert bounce is not None, real_mail.system.logs()
    assert (bounce.failed_recipient, bounce.status, bounce.hard) == (recipient, status, hard)
    assert (bounce.action, bounce.reason) == (action, reason)
    assert bounce.original_message_id == message_id


def test_postfix_success_report_is_not_a_bounce(real_mail: RealMail) -> None:
    raw, message_id = _request(f"student-copy@{DOMAIN}")
    # A report of successful delivery, asked for with DSN NOTIFY=SUCCESS.
    real_mail.system.send(raw, real_mail.sender, f"alex@{DOMAIN}", notify_success=True)
    token = message_id.encode()
    report = real_mail.system.wait_for(
        real_mail.sender,
        lambda received: token in received and b"delivery-status" in received,
    )
    assert parse_bounce(report) is None
    assert _classified(report).kind is InboundKind.OTHER


@pytest.mark.parametrize("name", ["alex", "berta", "claire", "carmen"])
def test_sieve_vacation_reply_is_an_auto_reply_with_its_return_date(
    real_mail: RealMail, name: str
) -> None:
    vacation = real_mail.vacations[name]
    raw, message_id = _round_trip(real_mail, vacation.address)
    headers = parse_headers(raw)
    assert message_id in headers.get("in-reply-to", ""), raw.decode(errors="replace")
    result = _classified(raw)
    assert result.kind is InboundKind.AUTO_REPLY, real_mail.system.logs()
    assert result.return_date == vacation.return_date, text_of(raw)
    assert result.auto_reply is not None
    assert result.auto_reply.signals[0].startswith("Auto-Submitted: auto-replied")
    # Sieve sends it with a null Return-Path, like a bounce, yet it is not one.
    assert headers.get("return-path") == "<>"
    assert parse_bounce(raw) is None
    assert read_headers(headers, OWN).kind is InboundKind.AUTO_REPLY
    assert detect_auto_reply(headers, text_of(raw), datetime.now(UTC)) is not None
