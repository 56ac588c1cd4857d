"""Automatic replies in more languages, without Auto-Submitted, challenge-response filters,
and notices that the person is gone (issue 15)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from outreach.cli import outreach
from outreach.reading.autoreply import auto_reply_signals, detect_auto_reply
from outreach.reading.classify import InboundKind, read_message

ARRIVAL = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)

SUBJECTS = [
    "Resposta automática: Pedido",
    "Fora do escritório",
    "Risposta automatica: Richiesta",
    "Fuori sede fino al 3 dicembre",
    "Automatisch antwoord: Vraag",
    "Afwezigheidsbericht",
    "自動返信: ご相談",
    "不在のお知らせ",
    "自动回复: 请教",
    "自動回覆：請教",
]


@pytest.mark.parametrize("subject", SUBJECTS)
def test_subjects_in_more_languages(subject: str) -> None:
    assert auto_reply_signals({"subject": subject})


AWAY_BODIES = [
    "Estou fora do escritório até 7 de dezembro.",
    "Sono fuori ufficio fino al 7 dicembre.",
    "Ik ben afwezig tot en met 7 december.",
    "12月7日まで不在にしております。",
    "我目前正在休假，12月7日回来。",
]


@pytest.mark.parametrize("body", AWAY_BODIES)
def test_away_wording_in_more_languages_counts_with_a_second_signal(body: str) -> None:
    assert auto_reply_signals({"x-auto-response-suppress": "All"}, body)
    assert not auto_reply_signals({}, body)


@pytest.mark.parametrize(
    "body",
    [
        "Estou fora do escritório até 7 de dezembro.",
        "Sono fuori ufficio fino al 7 dicembre.",
        "Ik ben afwezig tot en met 7 december.",
    ],
)
def test_return_dates_in_portuguese_italian_dutch(body: str) -> None:
    found = detect_auto_reply({"auto-submitted": "auto-replied"}, body, ARRIVAL)
    assert found is not None and found.return_date == date(2026, 12, 7)


def message(
    body: str, subject: str = "Re: Could I ask you about your work?", **extra: str
) -> bytes:
    headers = {
        "From": "Alex Lee <alex@org.example>",
        "To": "sam@uni.example",
        "Subject": subject,
        "Message-ID": "<r1@org.example>",
        "Content-Type": "text/plain; charset=utf-8",
        **extra,
    }
    head = "".join(f"{name}: {value}\n" for name, value in headers.items())
    return (head + "\n" + body + "\n").encode()


def read(raw: bytes) -> InboundKind:
    return read_message(raw, frozenset({"sam@uni.example"}), ARRIVAL).kind


@pytest.mark.parametrize(
    "body",
    [
        "This is an automated response. Your message has been received.",
        "Esta é uma resposta automática. Obrigado pela sua mensagem.",
        "Questa è una risposta automatica.",
        "Dit is een automatisch antwoord.",
        "这是一封自动回复邮件。",
    ],
)
def test_an_autoresponder_without_auto_submitted_says_so(body: str) -> None:
    assert read(message(body)) is InboundKind.AUTO_REPLY


def test_a_challenge_response_filter_is_not_a_reply() -> None:
    raw = message(
        "Hello, I use a spam filter. Please confirm you are human by clicking the link below"
        " so your message can be delivered: https://verify.example/abc"
    )
    reading = read_message(raw, frozenset(), ARRIVAL)
    assert reading.kind is InboundKind.AUTO_REPLY
    assert reading.auto_reply is not None and reading.auto_reply.challenge


GONE = [
    "This mailbox is no longer monitored. Please write to info@org.example.",
    "Alex Lee has left the organisation. For enquiries, contact hr@org.example.",
    "Alex Lee ist nicht mehr im Unternehmen tätig.",
    "Alex Lee ne fait plus partie de la société.",
    "Alex Lee ya no trabaja en la empresa.",
    "Alex Lee não trabalha mais na empresa.",
    "Alex Lee non lavora più presso la nostra azienda.",
    "Alex Lee is niet meer werkzaam bij ons bedrijf.",
]


@pytest.mark.parametrize("body", GONE)
def test_gone_notices_are_their_own_kind(body: str) -> None:
    assert read(message(body, **{"Auto-Submitted": "auto-replied"})) is InboundKind.GONE


def test_a_person_who_says_they_left_is_replying_not_gone() -> None:
    raw = message("Hi Sam, I'm no longer with Org, so I can't help, sorry. Best, Alex")
    reading = read_message(raw, frozenset(), ARRIVAL)
    assert (reading.kind, reading.declines) == (InboundKind.REPLY, True)


def test_an_out_of_office_is_not_gone() -> None:
    raw = message("I am out of the office until 7 December.", subject="Automatic reply: hi")
    assert read(raw) is InboundKind.AUTO_REPLY


def test_outreach_classify_says_what_a_gone_notice_does(tmp_path: Path) -> None:
    notice = tmp_path / "gone.eml"
    notice.write_bytes(
        message(
            "Alex Lee has left the company. This mailbox is no longer monitored.",
            **{"Auto-Submitted": "auto-replied"},
        )
    )
    result = CliRunner().invoke(outreach, ["classify", str(notice)])
    assert result.exit_code == 0
    assert "gone (no longer read there: the next name gets the place)" in result.output
