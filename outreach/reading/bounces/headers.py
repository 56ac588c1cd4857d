"""Whether a message is a delivery report, from its headers alone (pure)."""

from __future__ import annotations

import re
from collections.abc import Mapping

from outreach.reading.matching import address_of

_DAEMON_LOCAL_PARTS = frozenset(
    {
        "mailer-daemon",
        "mailerdaemon",
        "mail-daemon",
        "postmaster",
        "post_master",
        "mdaemon",
        "mail.daemon",
        "mail.delivery.system",
        "mail-delivery-system",
        "maildeliverysystem",
        "mail.delivery.subsystem",
        "ndr",
    }
)
# Servers also sign reports by name, whatever address they send from ("Mail Delivery
# Subsystem" <noreply@...>); a person's display name is never one of these.
_DAEMON_NAME = re.compile(
    r"^\s*\"?(?:mail delivery (?:subsystem|system|service)|mailer[- ]daemon|postmaster"
    r"|mail administrator|mail system)\b",
    re.IGNORECASE,
)

_BOUNCE_SUBJECT = re.compile(
    r"^\s*(?:"
    r"undeliver(?:able|ed)|undelivered mail|returned mail|failure notice|failed mail"
    r"|delivery status notification \((?:failure|delay)\)|delivery (?:has )?failed"
    r"|delivery failure|delivery notification|mail delivery (?:failed|failure|system)"
    r"|message (?:not delivered|delivery failure)|non[- ]?delivery|delayed mail"
    r"|warning: could not send|mail system error|mail (?:could not be|not) delivered"
    r"|delivery status notification|delivery problem|returned mail|mail error|mail failure"
    r"|notice of delivery failure|undeliverable message|message delivery has failed"
    # German, French, Spanish, Italian, Portuguese, Dutch
    r"|unzustellbar|nicht zustellbar|zustellung fehlgeschlagen|fehlgeschlagene zustellung"
    r"|non remis|non distribuable|[ée]chec de (?:la )?(?:remise|distribution)"
    r"|message non d[ée]livr[ée]|no se puede entregar|no entregado|no se pudo entregar"
    r"|error en la entrega|notificaci[oó]n de estado de (?:la )?entrega"
    r"|non recapitabile|mancato recapito|impossibile recapitare|recapito non riuscito"
    r"|n[ãa]o (?:foi )?entregue|falha na entrega|imposs[ií]vel entregar|onbestelbaar"
    # Japanese and Chinese
    r"|メールエラー|配信(?:でき|不能|エラー|失敗)|送信でき(?:ません|なかった)|未達|不達"
    r"|退信|未能(?:成功)?送达|无法(?:投递|送达)|投递失败|發送失敗|无法传递|系统退信"
    r")",
    re.IGNORECASE,
)


def is_daemon_address(address: str) -> bool:
    """MAILER-DAEMON@, postmaster@ and the like; also Exchange's "MicrosoftExchange..." sender."""
    local = address.partition("@")[0].lower()
    return local in _DAEMON_LOCAL_PARTS or local.startswith(
        ("mailer-daemon", "microsoftexchange", "postmaster")
    )


def is_daemon_sender(from_field: str) -> bool:
    """A From field that names a mail server's delivery agent, by address or by name."""
    return is_daemon_address(address_of(from_field)) or bool(_DAEMON_NAME.match(from_field))


def has_report_subject(subject: str) -> bool:
    """A subject that starts the way delivery failure reports start, in any language we know."""
    return bool(_BOUNCE_SUBJECT.search(subject))


def looks_like_bounce(headers: Mapping[str, str]) -> bool:
    """Whether the headers alone (lower-cased names) mark a delivery report.

    A null Return-Path is not enough on its own: RFC 3834 auto-replies (a Sieve vacation
    reply, for one) are sent with one too.
    """
    content_type = headers.get("content-type", "").lower()
    if "multipart/report" in content_type and "delivery-status" in content_type:
        return True
    if is_daemon_sender(headers.get("from", "")):
        return True
    if headers.get("x-failed-recipients", "").strip():
        return True
    # A report's subject counts only with the null Return-Path reports are sent with (and
    # not when the Return-Path is unknown: the poller does not fetch it).
    null_sender = headers.get("return-path", "").replace(" ", "") == "<>"
    return null_sender and bool(_BOUNCE_SUBJECT.search(headers.get("subject", "")))
