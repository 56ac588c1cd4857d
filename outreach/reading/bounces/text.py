"""The words of a report: its paragraphs, the addresses in them, where the copy of our
message starts, and the server's diagnostic on one line (pure).

Shared by the layouts of every mail server family and by the structured reading.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

_EMAIL = re.compile(r"[\w.!#$%&'*+/=?^`{|}~-]+@[\w-]+(?:\.[\w-]+)+")
# Where a report's own words end and its copy of our message (or of its headers) starts.
COPY_MARKERS = re.compile(
    r"^[ \t]*(?:-{2,}[ \t]*(?:below this line is a copy of the message|enclosed are the "
    r"original headers|original message|this is a copy of the message|the original message"
    r"|undelivered message follows|unsent message follows|header of the source mail"
    r"|returned message|original message follows)"
    r"|original message headers:|----- original message -----|original message follows\.?$"
    r"|message headers follow\.?$)",
    re.IGNORECASE | re.MULTILINE,
)
# Words a delivery failure report uses, in the languages of the reports people receive:
# a message "from" a server that says none of these is not taken for a failure.
FAILURE_WORDS = re.compile(
    r"could ?n[o']t be delivered|was not delivered|not (?:be )?delivered|undeliver(?:able|ed)"
    r"|delivery (?:has )?failed|delivery failure|failed (?:to deliver|permanently|recipient)"
    r"|permanent (?:error|failure|fatal)|unable to deliver|did not reach|cannot be delivered"
    r"|could not (?:be )?(?:sent|send|reach)|returned mail|returning message|user unknown"
    r"|unknown user|no such (?:user|mailbox|address)|mailbox (?:is )?(?:full|unavailable)"
    r"|error (?:during|in) delivery|delivery problem|invalid (?:user|recipient|address)"
    r"|not listed in|rejected|exceeded|message (?:was )?(?:bounced|blocked)"
    r"|\b55\d[ -]|\b5\.\d\.\d"
    # What a server says of a message it is still trying, or of the address it tried
    # (OpenSMTPD: "An error has occurred while attempting to deliver a message").
    r"|(?:trying|attempting) to deliver|(?:message|delivery) (?:is|was) delayed"
    r"|domain does not exist|envelope expired|host (?:or domain name )?not found"
    # German, French, Spanish, Italian, Portuguese, Dutch
    r"|nicht zugestellt|unzustellbar|konnte nicht (?:zugestellt|ausgeliefert)"
    r"|zustellung (?:ist )?fehlgeschlagen|n'a pas pu [êe]tre (?:remis|d[ée]livr)"
    r"|non (?:remis|distribu)|[ée]chec de (?:la )?(?:remise|distribution)"
    r"|no (?:se )?(?:pudo|ha podido|puede) (?:ser )?entregar|no (?:fue|ha sido) entregad"
    r"|non [èe] stato (?:possibile )?(?:recapitat|consegnat)|impossibile (?:recapitare|consegnare)"
    r"|n[ãa]o (?:foi|pôde ser|pode ser) entregue|n[ãa]o foi poss[ií]vel entregar"
    r"|kon niet worden afgeleverd|onbestelbaar"
    # Japanese and Chinese
    r"|送信でき(?:ません|なかった)|配信でき(?:ません|なかった)|届きませんでした|宛先不明"
    r"|見つかりませんでした|エラーのため|無効なアドレス|一杯"
    r"|无法(?:投递|送达|发送)|未能(?:成功)?(?:送达|投递)|投递失败|退信|發送失敗|無法(?:投遞|送達)",
    re.IGNORECASE,
)
_LEADING_CODE = re.compile(r"^([45]\d\d)[- ]([245]\.\d{1,3}\.\d{1,3})\s+")


def before_copy(text: str) -> str:
    """The report's own words: the text before its copy of our message."""
    marker = COPY_MARKERS.search(text)
    return text[: marker.start()] if marker else text


def clean_diagnostic(text: str) -> str:
    """The server's words on one line. A multi-line SMTP reply repeats its codes on every
    line ("550-5.1.1 The email account ... 550-5.1.1 double-checking ..."): once is enough."""
    text = " ".join(text.split())
    lead = _LEADING_CODE.match(text)
    if lead is not None:
        basic, enhanced = lead.groups()
        repeated = re.compile(rf"\s{basic}[- ]{re.escape(enhanced)}\s+")
        text = f"{basic} {enhanced} " + repeated.sub(" ", text[lead.end() :])
    return text[:1000]


def paragraph_after(text: str, start: int) -> str:
    """The lines from `start` (blank lines there skipped) up to the next blank line."""
    rest = text[start:]
    rest = rest[len(rest) - len(rest.lstrip(" \t\n")) :]
    end = re.search(r"\n[ \t]*\n", rest)
    return rest[: end.start()] if end else rest


def angle_paragraphs(text: str) -> Iterator[tuple[str, str]]:
    """qmail/Yahoo/Postfix style: a line starting "<addr>:" and the text that follows it."""
    for found in re.finditer(r"(?m)^[ \t]*<([^<>\s@:]+@[^<>\s]+)>:?[ \t]*", text):
        yield found.group(1), paragraph_after(text, found.end())


def first_address(text: str) -> str:
    found = _EMAIL.search(text)
    return found.group(0) if found else ""
