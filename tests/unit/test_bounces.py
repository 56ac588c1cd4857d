"""outreach.reading.bounces: delivery reports read structurally (RFC 3464) and from their words.

The report files are in tests/corpus/bounces (hand-written, for the formats no local software
produces); Postfix's own reports are produced for real in tests/realmail.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from outreach.reading.bounces import (
    Bounce,
    is_hard,
    looks_like_bounce,
    parse_bounce,
    reason_for,
    status_in,
)

CORPUS = Path(__file__).resolve().parents[1] / "corpus"

# One report per line: file in corpus/bounces, failed recipient, status, hard/soft/delayed,
# reason, and the unique part of our Message-ID that the report quotes ("-": none quoted).
REPORTS = """
qmail_user_unknown   jo.bloggs@smallhost.example  5.1.1   hard     user_unknown  q1m2a3i4
qmail_remote_host    a.khan@partner.example       5.1.1   hard     user_unknown  r5e6m7o8
qmail_no_host        lee@no-such-domain.example   5.1.2   hard     host_unknown  n0h0s7aa
yahoo_user_unknown   pat.jones@yahoo.example      5.0.0   hard     user_unknown  y4h0o0aa
yahoo_mailbox_full   kim@bigcorp.example          5.2.2   soft     mailbox_full  f0u1l2aa
exchange_2010_text   robin.smith@corp.example     5.1.1   hard     user_unknown  e1x2c3h4
exchange_2003_text   chris.doe@oldcorp.example    5.1.1   hard     user_unknown  -
exchange_online_dsn  morgan.lee@contoso.example   5.1.10  hard     user_unknown  o3b6s5dd
exchange_delayed     taylor@slowcorp.example      4.4.0   delayed  other         d3l4y5ee
gmail_dsn            drew.park@startup.example    5.1.1   hard     user_unknown  g4m5a6ff
gmail_old_text       casey@agency.example         5.1.1   hard     user_unknown  c4s5e6ya
gmail_delayed        jamie@greylisting.example    4.2.0   delayed  greylisted    g7r8e9yb
postfix_without_dsn  sasha@oldhost.example        5.1.1   hard     user_unknown  p0s1t2fx
unknown_mta          quinn@gateway.example        5.2.1   hard     user_unknown  u1n2k3nw
"""


@pytest.mark.parametrize("case", REPORTS.strip().splitlines(), ids=lambda case: case.split()[0])
def test_report(case: str) -> None:
    name, recipient, status, grade, reason, message_id = case.split()
    bounce = parse_bounce((CORPUS / "bounces" / f"{name}.eml").read_bytes())
    assert bounce is not None
    assert (bounce.failed_recipient, bounce.status, bounce.reason) == (recipient, status, reason)
    assert bounce.action == ("delayed" if grade == "delayed" else "failed")
    assert bounce.hard is (grade == "hard")
    assert bounce.diagnostic, "the server's words are kept"
    if message_id == "-":
        assert bounce.original_message_id is None
    else:
        assert (bounce.original_message_id or "").endswith(f".{message_id}@uni.example>")


# Formats: which reader recognised each report.
FORMATS = [
    ("qmail_user_unknown", "qmail"),
    ("yahoo_user_unknown", "qmail"),
    ("exchange_2010_text", "exchange"),
    ("exchange_online_dsn", "rfc3464"),
    ("gmail_dsn", "rfc3464"),
    ("gmail_old_text", "gmail"),
    ("postfix_without_dsn", "postfix"),
    ("unknown_mta", "unknown"),
]


@pytest.mark.parametrize(("name", "reader"), FORMATS, ids=[case[0] for case in FORMATS])
def test_format(name: str, reader: str) -> None:
    bounce = parse_bounce((CORPUS / "bounces" / f"{name}.eml").read_bytes())
    assert bounce is not None and bounce.format == reader


@pytest.mark.parametrize(
    "path",
    sorted((CORPUS / "autoreplies").glob("*.eml")) + sorted((CORPUS / "replies").glob("*.eml")),
    ids=lambda path: path.stem,
)
def test_not_a_bounce(path: Path) -> None:
    assert parse_bounce(path.read_bytes()) is None


def test_gmail_multi_line_reply_keeps_its_code_once() -> None:
    bounce = parse_bounce((CORPUS / "bounces" / "gmail_dsn.eml").read_bytes())
    assert bounce is not None
    assert bounce.diagnostic.startswith("550 5.1.1 The email account that you tried to reach")
    assert bounce.diagnostic.count("5.1.1") == 1


# --- RFC 3464 structure, with reports built here --------------------------------------------


def dsn(*recipients: str, original: str = "message/rfc822") -> bytes:
    """A minimal multipart/report; each recipient is a block of fields, one per line."""
    blocks = "\n\n".join(recipients)
    return "\n".join(
        [
            "From: MAILER-DAEMON@mx.example",
            "To: sam@uni.example",
            "Subject: Returned mail",
            "MIME-Version: 1.0",
            'Content-Type: multipart/report; report-type=delivery-status; boundary="B"',
            "",
            "--B",
            "Content-Type: text/plain",
            "",
            "Delivery failed.",
            "--B",
            "Content-Type: message/delivery-status",
            "",
            "Reporting-MTA: dns; mx.example",
            "",
            blocks,
            "",
            "--B",
            f"Content-Type: {original}",
            "",
            "Message-ID: <orig-1@uni.example>",
            "Subject: Could I ask",
            "",
            "--B--",
        ]
    ).encode()


FAILED = "Final-Recipient: rfc822; Bob@Corp.example\nAction: failed\nStatus: 5.1.1"
DELAYED = "Final-Recipient: rfc822; cy@corp.example\nAction: delayed\nStatus: 4.4.7"
DELIVERED = "Final-Recipient: rfc822; di@corp.example\nAction: delivered\nStatus: 2.0.0"


def read(raw: bytes) -> Bounce:
    bounce = parse_bounce(raw)
    assert bounce is not None
    return bounce


def test_failed_recipient_wins_over_a_delayed_one() -> None:
    bounce = read(dsn(DELAYED, FAILED))
    assert (bounce.failed_recipient, bounce.action) == ("bob@corp.example", "failed")


def test_delayed_alone_is_a_soft_warning() -> None:
    bounce = read(dsn(DELAYED))
    assert (bounce.action, bounce.hard, bounce.is_failure) == ("delayed", False, False)


def test_a_report_of_successful_delivery_is_not_a_bounce() -> None:
    assert parse_bounce(dsn(DELIVERED)) is None


def test_original_recipient_is_preferred_to_the_final_one() -> None:
    block = (
        "Original-Recipient: rfc822;bob@corp.example\n"
        "Final-Recipient: rfc822;b.smith@mbx.corp.example\nAction: failed\nStatus: 5.1.1"
    )
    assert read(dsn(block)).failed_recipient == "bob@corp.example"


def test_quoted_headers_only_still_give_our_message_id() -> None:
    bounce = read(dsn(FAILED, original="text/rfc822-headers"))
    assert bounce.original_message_id == "<orig-1@uni.example>"


def test_status_from_the_diagnostic_when_the_status_field_is_missing() -> None:
    block = (
        "Final-Recipient: rfc822; bob@corp.example\nAction: failed\n"
        "Diagnostic-Code: smtp; 550 5.1.1 no such user"
    )
    bounce = read(dsn(block))
    assert (bounce.status, bounce.diagnostic) == ("5.1.1", "550 5.1.1 no such user")


def test_action_missing_is_read_from_the_status_class() -> None:
    bounce = read(dsn("Final-Recipient: rfc822; bob@corp.example\nStatus: 4.2.2"))
    assert (bounce.action, bounce.reason, bounce.hard) == ("delayed", "mailbox_full", False)


def test_a_read_receipt_is_not_a_bounce() -> None:
    raw = dsn(FAILED).replace(
        b"report-type=delivery-status", b"report-type=disposition-notification"
    )
    raw = raw.replace(b"message/delivery-status", b"message/disposition-notification")
    assert parse_bounce(raw) is None


# --- the pieces ------------------------------------------------------------------------------

STATUSES = [
    ("550 5.1.1 <bob@x>: user unknown", "5.1.1"),
    ("Sorry, no mailbox here by that name. (#5.1.1)", "5.1.1"),
    ("host 10.4.5.6 said: 550 5.7.1 denied", "5.7.1"),  # not 4.5.6 from the IP address
    ("smtp; 550 Requested action not taken", "5.0.0"),
    ("Remote host said: 452 mailbox full", "4.0.0"),
    ("connect to 127.0.0.1:2525: Connection refused", None),
    ("Status: 5.1.10", "5.1.10"),
]


@pytest.mark.parametrize(("text", "status"), STATUSES)
def test_status_in(text: str, status: str | None) -> None:
    assert status_in(text) == status


REASONS = [
    ("5.1.1", "", "user_unknown"),
    ("5.1.2", "", "host_unknown"),
    ("5.1.6", "", "moved"),
    ("5.2.2", "", "mailbox_full"),
    ("4.2.2", "", "mailbox_full"),
    ("5.7.1", "Recipient address rejected: Access denied", "policy"),
    ("4.2.0", "Recipient address rejected: Greylisted", "greylisted"),
    ("5.0.0", "550 No such user here", "user_unknown"),
    ("5.0.0", "554 mailbox over quota", "mailbox_full"),
    (None, "Sorry, I couldn't find any host named x.example", "host_unknown"),
    ("5.1.10", "RESOLVER.ADR.RecipientNotFound", "user_unknown"),
    ("5.1.10", "null MX", "host_unknown"),
    ("5.3.0", "something else", "other"),
]


@pytest.mark.parametrize(("status", "text", "reason"), REASONS)
def test_reason_for(status: str | None, text: str, reason: str) -> None:
    assert reason_for(status, text) == reason


HARDNESS = [
    ("failed", "5.1.1", "user_unknown", "", True),
    ("failed", "5.7.1", "policy", "", True),
    ("failed", "5.2.2", "mailbox_full", "", False),  # a full mailbox is soft, even as 5.x.x
    ("failed", "4.4.7", "other", "", False),
    ("delayed", "5.1.1", "user_unknown", "", False),  # a warning is never hard
    ("failed", "4.2.0", "greylisted", "", False),
    ("failed", None, "user_unknown", "", True),
    ("failed", None, "other", "This is a permanent error; I've given up.", True),
    ("failed", None, "other", "", False),
]


@pytest.mark.parametrize(("action", "status", "reason", "text", "hard"), HARDNESS)
def test_is_hard(action: str, status: str | None, reason: str, text: str, hard: bool) -> None:
    assert is_hard(action, status, reason, text) is hard


HEADERS = [
    ({"from": "MAILER-DAEMON@mx.example"}, True),
    ({"from": "Mail Delivery System <postmaster@corp.example>"}, True),
    ({"from": "Microsoft Outlook <MicrosoftExchange329e71ec88ae@corp.example>"}, True),
    ({"from": "x@y.ex", "content-type": "multipart/report; report-type=delivery-status"}, True),
    ({"from": "x@y.ex", "x-failed-recipients": "bob@corp.example"}, True),
    ({"from": "x@y.ex", "subject": "Undeliverable: hi", "return-path": "<>"}, True),
    ({"from": "x@y.ex", "subject": "Undeliverable: hi", "return-path": "<x@y.ex>"}, False),
    ({"from": "x@y.ex", "subject": "Undeliverable: hi"}, False),  # Return-Path unknown
    ({"from": "alex@corp.example", "subject": "Auto: hi", "return-path": "<>"}, False),  # vacation
    ({"from": "alex@corp.example", "subject": "Fwd: Undeliverable: hi"}, False),
]  # fmt: skip


@pytest.mark.parametrize(("headers", "bounce"), HEADERS)
def test_looks_like_bounce(headers: dict[str, str], bounce: bool) -> None:
    assert looks_like_bounce(headers) is bounce


def mdn(disposition: str, words: str) -> bytes:
    """A disposition notification (RFC 8098), as Sieve's "reject" (RFC 5429) sends one."""
    return "\n".join(
        [
            "From: Mail Delivery Subsystem <admin@corp.example>",
            "To: sam@uni.example",
            "Subject: Automatically rejected mail",
            "MIME-Version: 1.0",
            'Content-Type: multipart/report; report-type=disposition-notification; boundary="M"',
            "",
            "--M",
            "Content-Type: text/plain",
            "",
            words,
            "--M",
            "Content-Type: message/disposition-notification",
            "",
            "Reporting-UA: mail; Dovecot Mail Delivery Agent",
            "Final-Recipient: rfc822; bob@corp.example",
            "Original-Message-ID: <orig-1@uni.example>",
            f"Disposition: {disposition}",
            "",
            "--M--",
        ]
    ).encode()


def test_a_sieve_reject_is_a_bounce() -> None:
    bounce = read(
        mdn(
            "automatic-action/MDN-sent-automatically; deleted",
            "Your message to <bob@corp.example> was automatically rejected:\nQuota exceeded",
        )
    )
    assert (bounce.failed_recipient, bounce.reason, bounce.format) == (
        "bob@corp.example",
        "mailbox_full",
        "sieve-reject",
    )


@pytest.mark.parametrize(
    ("disposition", "words"),
    [
        ("manual-action/MDN-sent-manually; deleted", "Your message was rejected and deleted."),
        ("automatic-action/MDN-sent-automatically; displayed", "Your message was read."),
        (
            "manual-action/MDN-sent-manually; deleted",
            "Your message was deleted without being read.",
        ),
    ],
)
def test_a_receipt_is_not_a_sieve_reject(disposition: str, words: str) -> None:
    assert parse_bounce(mdn(disposition, words)) is None
