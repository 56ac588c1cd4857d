import json
import time
from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner

from outreach.cli import outreach
from outreach.reading.classify import (
    InboundKind,
    read_headers,
    read_message,
    read_reply,
)
from outreach.reading.mime import parse_headers
from outreach.reading.quoting import strip_quoted_history
from tests.conftest import NOW

OWN = frozenset({"sam@uni.example"})


def kind(**headers: str) -> InboundKind:
    return read_headers(
        {name.rstrip("_").replace("_", "-"): value for name, value in headers.items()}, OWN
    ).kind


def test_a_person_writing_back_is_a_reply() -> None:
    assert kind(from_="Alex <alex@org.example>", subject="Re: Could I ask") is InboundKind.REPLY


def test_delivery_status_report_is_a_bounce() -> None:
    report = 'multipart/report; report-type=delivery-status; boundary="x"'
    assert kind(from_="mail@relay.example", content_type=report) is InboundKind.BOUNCE


def test_mailer_daemon_is_a_bounce() -> None:
    assert kind(from_="MAILER-DAEMON@mx.example", subject="Undelivered") is InboundKind.BOUNCE


def test_auto_submitted_is_an_auto_reply() -> None:
    assert kind(from_="alex@org.example", auto_submitted="auto-replied") is InboundKind.AUTO_REPLY


def test_auto_submitted_no_is_a_person() -> None:
    assert kind(from_="alex@org.example", auto_submitted="no") is InboundKind.REPLY


def test_out_of_office_subject_is_an_auto_reply() -> None:
    assert kind(from_="alex@org.example", subject="Automatic reply: Could I") is (
        InboundKind.AUTO_REPLY
    )
    assert kind(from_="alex@org.example", precedence="auto_reply") is InboundKind.AUTO_REPLY


def test_the_users_own_message_is_never_a_reply() -> None:
    assert kind(from_="Sam <SAM@uni.example>", subject="Re: hi") is InboundKind.OWN_MESSAGE


# --- read_headers(): more header-only cases, one a line --------------------------------------

HEADER_CASES = [
    ({"from": "MAILER-DAEMON@mx.example", "auto-submitted": "auto-replied"}, InboundKind.BOUNCE),
    ({"from": "x@y.ex", "x-failed-recipients": "bob@corp.example"}, InboundKind.BOUNCE),
    ({"from": "alex@org.example", "auto-submitted": "auto-replied (vacation)",
      "return-path": "<>", "subject": "Auto: Could I"}, InboundKind.AUTO_REPLY),
    ({"from": "alex@org.example", "x-autoreply": "yes"}, InboundKind.AUTO_REPLY),
    ({"from": "alex@org.example", "subject": "Abwesenheitsnotiz: Could I"}, InboundKind.AUTO_REPLY),
    ({"from": "alex@org.example", "subject": "RE: Could I",
      "x-auto-response-suppress": "All"}, InboundKind.REPLY),
    ({"from": "alex@org.example", "content-type":
      "multipart/report; report-type=disposition-notification"}, InboundKind.AUTO_REPLY),
    ({"from": "sam@uni.example", "auto-submitted": "auto-replied"}, InboundKind.OWN_MESSAGE),
]  # fmt: skip


@pytest.mark.parametrize(("headers", "expected"), HEADER_CASES)
def test_classify_headers(headers: dict[str, str], expected: InboundKind) -> None:
    assert read_headers(headers, frozenset({"sam@uni.example"})).kind is expected


# --- read_message(): every corpus file, one a line -------------------------------------------

CORPUS = Path(__file__).resolve().parents[1] / "corpus"

# file (under tests/corpus), kind, flags (D declines, U asks not to be contacted, S suggests
# others, P problem) -- "-" for none
MESSAGES = """
autoreplies/autorespond_cpanel        auto_reply   -
autoreplies/exchange_de               auto_reply   -
autoreplies/exchange_es               auto_reply   -
autoreplies/exchange_fr               auto_reply   -
autoreplies/exchange_online_en        auto_reply   -
autoreplies/exchange_rule_reply       auto_reply   -
autoreplies/gmail_vacation            auto_reply   -
autoreplies/outlook_person_away       reply        -
bounces/exchange_2003_text            bounce       -
bounces/exchange_2010_text            bounce       -
bounces/exchange_delayed              bounce       -
bounces/exchange_online_dsn           bounce       -
bounces/gmail_delayed                 bounce       -
bounces/gmail_dsn                     bounce       -
bounces/gmail_old_text                bounce       -
bounces/postfix_without_dsn           bounce       -
bounces/qmail_no_host                 bounce       -
bounces/qmail_remote_host             bounce       -
bounces/qmail_user_unknown            bounce       -
bounces/unknown_mta                   bounce       -
bounces/yahoo_mailbox_full            bounce       -
bounces/yahoo_user_unknown            bounce       -
broken/bad_report                     other        -
broken/empty                          other        P
broken/header_only_no_from            other        P
broken/not_a_message                  other        P
broken/truncated_multipart            reply        -
broken/unknown_charset                reply        -
replies/apple_mail_positive           reply        -
replies/forwarded_bounce              reply        S
replies/gmail_declines_en             reply        D
replies/gmail_es_declines_suggests    reply        DS
replies/outlook_unsubscribe_fr        reply        DU
replies/own_message                   own_message  -
replies/read_receipt                  other        -
replies/thunderbird_suggests_de       reply        S
"""


@pytest.mark.parametrize("line_end", [b"\n", b"\r\n"], ids=["LF", "CRLF"])
@pytest.mark.parametrize("case", MESSAGES.strip().splitlines(), ids=lambda case: case.split()[0])
def test_read_message(case: str, line_end: bytes) -> None:
    name, kind, flags = case.split()
    # As written, and with CRLF line ends, as IMAP servers hand messages out.
    raw = (CORPUS / f"{name}.eml").read_bytes().replace(b"\n", line_end)
    result = read_message(raw, frozenset({"sam@uni.example"}), NOW)
    assert result.kind.value == kind
    assert (result.declines, result.unsubscribe, result.suggests_others) == (
        "D" in flags,
        "U" in flags,
        "S" in flags,
    )
    assert (result.problem is not None) is ("P" in flags)


def test_every_corpus_file_is_in_the_table() -> None:
    listed = {case.split()[0] for case in MESSAGES.strip().splitlines()}
    on_disk = {f"{path.parent.name}/{path.stem}" for path in CORPUS.glob("*/*.eml")}
    assert listed == on_disk


# --- one reading: the headers first, refined once by the body -------------------------------

OUT_OF_OFFICE = (
    b"From: Alex Lee <alex@org.example>\r\nTo: sam@uni.example\r\n"
    b"Subject: Re: Could I ask\r\nIn-Reply-To: <request-1@uni.example>\r\n"
    b"Message-ID: <away-1@org.example>\r\nX-Auto-Response-Suppress: All\r\n\r\n"
    b"I am out of the office until Monday 7 December 2026 with no access to email.\r\n"
)


def test_headers_that_look_personal_are_refined_by_an_out_of_office_body() -> None:
    from_headers = read_headers(parse_headers(OUT_OF_OFFICE), OWN)
    assert (from_headers.kind, from_headers.body_read) == (InboundKind.REPLY, False)
    final = from_headers.with_body(OUT_OF_OFFICE, NOW)
    assert (final.kind, final.body_read) == (InboundKind.AUTO_REPLY, True)
    assert final.return_date == date(2026, 12, 7)


def test_the_body_adds_a_bounce_its_details_and_a_receipt_its_true_kind() -> None:
    raw = (CORPUS / "bounces" / "gmail_dsn.eml").read_bytes()
    from_headers = read_headers(parse_headers(raw), frozenset())
    assert (from_headers.kind, from_headers.bounce) == (InboundKind.BOUNCE, None)
    final = from_headers.with_body(raw, NOW)
    assert final.kind is InboundKind.BOUNCE and final.bounce is not None
    receipt = (CORPUS / "replies" / "read_receipt.eml").read_bytes()
    from_headers = read_headers(parse_headers(receipt), OWN)
    assert from_headers.kind is InboundKind.AUTO_REPLY  # never a reply, even unread
    assert from_headers.with_body(receipt, NOW).kind is InboundKind.OTHER


def test_a_reading_is_refined_once() -> None:
    final = read_message(OUT_OF_OFFICE, OWN, NOW)
    with pytest.raises(ValueError, match="already"):
        final.with_body(OUT_OF_OFFICE, NOW)


def test_read_message_never_raises_on_a_surprise(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(raw: bytes) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr("outreach.reading.classify.parse_bounce", broken)
    result = read_message(b"From: a@b.example\n\nhi", frozenset(), NOW)
    assert result.kind is InboundKind.OTHER
    assert result.problem == "the message could not be read (RuntimeError: boom)"


# --- what a person's reply says, one phrase a line -------------------------------------------

# text, flags (D declines, U asks not to be contacted again, S suggests others, - none)
REPLIES = [
    ("Sorry, it's not a good time for me.", "D"),
    ("I'm not able to help with this, I'm afraid.", "D"),
    ("I am no longer at Acme.", "D"),
    ("I'm not interested, thanks.", "D"),
    ("Please remove me from your list.", "DU"),
    ("Do not contact me again.", "DU"),
    ("Please stop emailing me.", "DU"),
    ("You should talk to Bo Chen in our data team.", "S"),
    ("I'd suggest reaching out to my colleague Bo.", "S"),
    ("I'm cc'ing Bo, who knows more.", "S"),
    ("Happy to help! How about Thursday?", "-"),
    ("I can't help but admire the question. Yes, let's talk.", "-"),
    ("I'm not too busy this week, let's talk.", "-"),
    ("You could reach out to me on Thursday.", "-"),
    ("You should talk to Bo as well as me.", "S"),
    ("No es un buen momento, lo siento.", "D"),
    ("Lamentablemente no puedo ayudarte.", "D"),
    ("Ya no trabajo en Empresa.", "D"),
    ("Por favor, no me contacte más.", "DU"),
    ("Te sugiero que hables con Marta.", "S"),
    ("Ce n'est pas le bon moment pour moi.", "D"),
    ("Je ne peux pas vous aider, désolé.", "D"),
    ("Je ne travaille plus chez Société.", "D"),
    ("Merci de ne plus me contacter.", "DU"),
    ("Je vous conseille de contacter ma collègue Anne.", "S"),
    ("Adressez-vous à notre service RH.", "S"),
    ("Das ist gerade kein guter Zeitpunkt.", "D"),
    ("Ich kann Ihnen leider nicht helfen.", "D"),
    ("Ich arbeite nicht mehr bei der Firma.", "D"),
    ("Bitte kontaktieren Sie mich nicht mehr.", "DU"),
    ("Wenden Sie sich bitte an meine Kollegin Frau Braun.", "S"),
    ("Gerne, passt Ihnen Donnerstag?", "-"),
    ("Melden Sie sich gern bei mir.", "-"),
    ("Melden Sie sich am besten bei Herrn Kurz.", "S"),
]


@pytest.mark.parametrize(("text", "flags"), REPLIES)
def test_read_reply(text: str, flags: str) -> None:
    signals = read_reply(text)
    assert (signals.declines, signals.unsubscribe, signals.suggests_others) == (
        "D" in flags,
        "U" in flags,
        "S" in flags,
    )


def test_our_own_words_in_the_quote_do_not_count() -> None:
    text = "Sure, let's talk.\n\nOn Fri, 20 Nov 2026, Sam wrote:\n> If it's not a good time, "
    assert read_reply(text + "please remove me from your list.") == read_reply("Sure.")


# --- quoted history, one client layout a line ------------------------------------------------

QUOTES = [
    ("Yes!\n\nOn Fri, 20 Nov 2026 at 10:00, Sam <sam@uni.example> wrote:\n> Dear Bo", "Yes!"),
    ("Yes!\n\nOn Fri, 20 Nov 2026 at 10:00, Sam Student <sam@uni.example>\nwrote:\n> x", "Yes!"),
    ("Ja!\n\nAm 20.11.26 um 10:03 schrieb Sam Student:\n> Sehr geehrte", "Ja!"),
    ("Oui !\n\nLe ven. 20 nov. 2026 à 10:00, Sam <sam@uni.example> a écrit :\n> x", "Oui !"),
    ("¡Sí!\n\nEl vie, 20 nov 2026 a las 10:04, Sam escribió:\n> x", "¡Sí!"),
    ("Yes!\n\n-----Original Message-----\nFrom: Sam\nSent: Friday", "Yes!"),
    ("Yes!\n\n________________________________\nFrom: Sam\nSent: Friday", "Yes!"),
    ("Yes!\n\nFrom: Sam Student <sam@uni.example>\nSent: Friday, November 20", "Yes!"),
    ("Oui\n\nDe : Sam Student\nEnvoyé : vendredi 20 novembre 2026", "Oui"),
    ("Ja\n\nVon: Sam Student\nGesendet: Freitag, 20. November 2026", "Ja"),
    ("> Could we talk?\nYes, Thursday.\n> When?\nAt ten.", "Yes, Thursday.\nAt ten."),
]


@pytest.mark.parametrize(("text", "new"), QUOTES)
def test_strip_quoted_history(text: str, new: str) -> None:
    assert strip_quoted_history(text) == new


# --- `outreach classify` ---------------------------------------------------------------------


def test_cli_prints_one_json_object_a_line(tmp_path: Path) -> None:
    files = [
        str(CORPUS / "bounces" / "gmail_dsn.eml"),
        str(CORPUS / "autoreplies" / "exchange_fr.eml"),
    ]
    result = CliRunner().invoke(outreach, ["classify", "--json", *files])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.output.splitlines()]
    assert lines[0] == {
        "file": files[0],
        "kind": "bounce",
        "bounce": {
            "recipient": "drew.park@startup.example",
            "status": "5.1.1",
            "hard": True,
            "action": "failed",
            "reason": "user_unknown",
            "diagnostic": lines[0]["bounce"]["diagnostic"],
            "original_message_id": "<20261120092000.g4m5a6ff@uni.example>",
        },
        "return_date": None,
        "declines": False,
        "unsubscribe": False,
        "suggests_others": False,
        "problem": None,
    }
    assert (lines[1]["kind"], lines[1]["return_date"], lines[1]["bounce"]) == (
        "auto_reply",
        "2027-01-05",  # the year after the message's Date (20 November 2026)
        None,
    )


def test_cli_text_output_and_own_addresses() -> None:
    files = [
        str(CORPUS / "replies" / name) for name in ("own_message.eml", "gmail_declines_en.eml")
    ]
    plain = CliRunner().invoke(outreach, ["classify", *files])
    assert plain.output.splitlines() == [f"{files[0]}: reply", f"{files[1]}: reply (declines)"]
    own = CliRunner().invoke(outreach, ["classify", "--own", "SAM@uni.example", files[0]])
    assert own.output == f"{files[0]}: own_message\n"


def test_cli_unreadable_file_is_reported_and_exits_1(tmp_path: Path) -> None:
    missing = tmp_path / "gone.eml"
    result = CliRunner().invoke(outreach, ["classify", "--json", str(missing), str(tmp_path)])
    assert result.exit_code == 1
    first, second = (json.loads(line) for line in result.output.splitlines())
    assert (first["kind"], first["problem"]) == (
        "other",
        "the file could not be read: No such file or directory",
    )
    assert second["problem"] == "the file could not be read: Is a directory"


def test_cli_needs_at_least_one_file() -> None:
    assert CliRunner().invoke(outreach, ["classify"]).exit_code == 2


def test_cli_classifies_hundreds_of_files_quickly(tmp_path: Path) -> None:
    samples = sorted(CORPUS.glob("*/*.eml"))
    files = []
    for number in range(300):
        sample = samples[number % len(samples)]
        path = tmp_path / f"{number:03d}-{sample.name}"
        path.write_bytes(sample.read_bytes())
        files.append(str(path))
    started = time.perf_counter()
    result = CliRunner().invoke(outreach, ["classify", "--json", *files])
    elapsed = time.perf_counter() - started
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.output.splitlines()]
    assert [line["file"] for line in lines] == files
    assert elapsed < 15, f"300 files took {elapsed:.1f} s"
