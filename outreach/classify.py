"""Tell apart a person's reply, an auto-reply, a bounce and the user's own mail (pure).

Two entry points:

- `classify(headers, own_addresses)`: from the header fields alone, as the poller has them
  before it fetches a body. Always one of the four InboundKinds.
- `classify_message(raw, own_addresses, received_at)`: from the whole message, with the
  bounce's details (outreach.bounces), the auto-reply's return date (outreach.autoreply),
  and, for a person's reply, whether it declines, asks not to be contacted again, or
  suggests other people. Its kind may also be "other": a message that cannot be parsed
  (then `problem` says why), a read receipt, a delivery report that reports no failure, or
  a MAILER-DAEMON notice that names no failed recipient. It never raises.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum

from outreach.autoreply import AutoReply, auto_reply_signals, detect_auto_reply
from outreach.bounces import Bounce, is_daemon_address, looks_like_bounce, parse_bounce
from outreach.matching import address_of
from outreach.mime import parse_headers, text_of
from outreach.quoting import strip_quoted_history


class InboundKind(StrEnum):
    REPLY = "reply"
    AUTO_REPLY = "auto_reply"
    BOUNCE = "bounce"
    OWN_MESSAGE = "own_message"


class MessageClass(StrEnum):
    """classify_message's kinds: InboundKind's four, plus OTHER."""

    REPLY = "reply"
    AUTO_REPLY = "auto_reply"
    BOUNCE = "bounce"
    OWN_MESSAGE = "own_message"
    OTHER = "other"


def _is_receipt(headers: Mapping[str, str]) -> bool:
    """A read receipt (RFC 8098 disposition notification): machine-written, not a reply."""
    content_type = headers.get("content-type", "").lower()
    return "multipart/report" in content_type and "disposition-notification" in content_type


def classify(headers: Mapping[str, str], own_addresses: frozenset[str]) -> InboundKind:
    """Classify a message from its headers (lower-cased names -> values).

    The order matters: a bounce often carries Auto-Submitted too (RFC 3464
    reports are machine-generated; Postfix writes "auto-replied"), so it is
    recognised first. A read receipt counts as an auto-reply: it must never
    count as the contact's answer.
    """
    sender = address_of(headers.get("from"))
    if looks_like_bounce(headers):
        return InboundKind.BOUNCE
    if sender and sender in own_addresses:
        return InboundKind.OWN_MESSAGE
    if auto_reply_signals(headers) or _is_receipt(headers):
        return InboundKind.AUTO_REPLY
    return InboundKind.REPLY


# --- what a person's reply says -------------------------------------------------------------


def _any(*patterns: str) -> re.Pattern[str]:
    return re.compile("|".join(f"(?:{pattern})" for pattern in patterns), re.IGNORECASE)


# Words, not grammar: each pattern is a phrase people use, in English, Spanish, French and
# German. They are read from the reply's new text only (the quoted request is stripped, or
# our own "if now is not a good time" would count).
_DECLINES = _any(
    # English
    r"\bnot (?:a|the) (?:good|right|great) time\b",
    r"\b(?:I'm|I am|I'll|I will|I'd|I would) (?:not|never) be able to (?:help|assist|meet|talk"
    r"|take|do|make)\b",
    r"\b(?:I'm|I am) (?:not |un)able to (?:help|assist|meet|talk|take)\b",
    r"\b(?:I|we) (?:can't|cannot|can not|won't be able to) (?:help|assist|meet|talk|take|do)\b"
    r"(?! but)",
    r"\b(?:I|we) (?:have|need|must|will have) to (?:decline|pass)\b",
    r"\bI(?:'ll| will) (?:have to )?pass\b",
    r"\bnot interested\b",
    r"\b(?:I|we) (?:don't|do not) have (?:the )?(?:time|capacity|bandwidth)\b",
    r"(?<!not )\b(?:too busy|swamped)\b",
    r"\bno longer (?:at|with|work(?:ing)? (?:at|for))\b",
    r"\b(?:I've|I have) (?:left|moved on from)\b",
    # Spanish
    r"\bno es (?:un )?buen momento\b",
    r"\bno (?:puedo|podré|podemos|podremos) ayudar",
    r"\bno (?:tengo|dispongo de) tiempo\b",
    r"\bya no (?:trabajo|estoy) (?:en|con|para)\b",
    r"\bno (?:estoy|estamos) interesad[oa]s?\b",
    r"\btengo que declinar\b",
    # French
    r"\b(?:ce n'est|c'est) pas (?:le|un) bon moment\b",
    r"\bje ne (?:peux|pourrai|pourrais) pas (?:vous |t')?aider\b",
    r"\bje n'ai pas (?:le )?temps\b",
    r"\bje ne (?:travaille|suis) plus (?:chez|à|a|avec|dans)\b",
    r"\bpas int[ée]ress[ée]e?s?\b",
    r"\bje dois d[ée]cliner\b",
    # German
    r"\bkein (?:guter|passender) Zeitpunkt\b",
    r"\b(?:passt|passt es) (?:gerade |leider |mir )*nicht\b",
    r"\bkann (?:Ihnen|dir|euch) (?:leider |da |hier )*nicht (?:weiter)?helfen\b",
    r"\b(?:ich )?habe (?:leider |gerade |momentan |derzeit )*keine Zeit\b",
    r"\bnicht mehr (?:bei|für|im Unternehmen|in der Firma)\b",
    r"\barbeite nicht mehr\b",
    r"\bkein Interesse\b",
    r"\bmuss (?:leider )?absagen\b",
)

_UNSUBSCRIBE = _any(
    # English
    r"\bremove me from\b",
    r"\bplease remove me\b",
    r"\btake me off\b",
    r"\b(?:do not|don't|never) (?:contact|email|e-mail|write to|message) me\b",
    r"\bstop (?:contacting|emailing|e-mailing|writing to|messaging) me\b",
    r"\bunsubscribe\b",
    r"\bno (?:more|further) (?:emails|e-mails|messages|contact)\b",
    # Spanish
    r"\bno (?:me )?(?:vuelva|vuelvas) a (?:contactar|escribir)",
    r"\bno me (?:contacte|contactes|escriba|escribas) más\b",
    r"\bno me (?:contacte|contactes)\b",
    r"\b(?:elim[ií]n(?:e|a)me|b[oó]rr(?:e|a)me|qu[ií]t(?:e|a)me)\b",
    r"\bdar(?:me)? de baja\b",
    # French
    r"\bne (?:me )?(?:contactez|recontactez|[ée]crivez) plus\b",
    r"\bne plus me (?:contacter|recontacter|[ée]crire)\b",
    r"\b(?:retirez|supprimez|enlevez)-moi\b",
    r"\bme (?:retirer|d[ée]sinscrire)\b",
    r"\bd[ée]sinscri",
    # German
    r"\b(?:kontaktieren|schreiben|mailen) Sie mir nicht mehr\b",
    r"\b(?:kontaktieren) Sie mich (?:bitte )?nicht mehr\b",
    r"\bnicht mehr (?:zu )?(?:kontaktieren|anschreiben)\b",
    r"\bkeine (?:weiteren )?(?:E-?Mails|Nachrichten) mehr\b",
    r"\bentfernen Sie mich\b",
    r"\b(?:abmelden|austragen)\b",
)

_SUGGESTS_OTHERS = _any(
    # English
    r"\byou (?:should|could|might|may) (?:also )?(?:want to )?(?:talk|speak|reach out|write"
    r"|get in touch|contact|ask)\b(?! (?:to |with )?(?:me|us)\b)",
    r"\b(?:I'd|I would|I) (?:suggest|recommend) (?:reaching out|contacting|talking|speaking"
    r"|asking|getting in touch|writing)\b",
    r"\btry (?:reaching out to|contacting|asking)\b",
    r"\b(?:a )?better (?:person|fit|contact) (?:to ask|would be|for this|is)\b",
    r"\b(?:better|best) placed to\b",
    r"\b(?:I'm|I am|I've|I have) (?:cc'?ing|cc'?d|copied|copying|looping in)\b",
    r"\b(?:put|putting) you in touch with\b",
    r"\b(?:introduce|introducing) you to\b",
    r"\b(?:contact|ask|reach out to|talk to|speak (?:to|with)) my "
    r"(?:colleague|coworker|co-worker)\b",
    # Spanish
    r"\bdeber[ií]as? (?:hablar|contactar|escribir)\b",
    r"\b(?:te|le) (?:sugiero|recomiendo) (?:que )?(?:hables|hable|contactes|contacte|escribas"
    r"|escriba|hablar|contactar|escribir)\b",
    r"\bponerte en contacto con\b",
    r"\bte pongo en contacto con\b",
    r"\bmi compañer[oa] (?:\w+ )?(?:podr[ií]a|puede|sabe)\b",
    # French
    r"\bvous devriez (?:contacter|parler|[ée]crire|vous adresser)\b",
    r"\bje vous (?:sugg[eè]re|conseille|recommande) de (?:contacter|parler|vous adresser"
    r"|[ée]crire)\b",
    r"\badressez-vous [àa]\b",
    r"\bmettre en (?:relation|contact) avec\b",
    r"\bmon (?:coll[eè]gue)|\bma coll[eè]gue\b",
    # German
    r"\bwenden Sie sich (?:bitte |doch |am besten )*an\b(?! mich\b| uns\b)",
    r"\b(?:sprechen|reden) Sie (?:doch |am besten |bitte )*mit\b",
    r"\b(?:meldest du dich|melden Sie sich) (?:doch |am besten |bitte |gern )*bei\b"
    r"(?! mir\b| uns\b)",
    r"\bmein(?:e|en|er)? Kolleg(?:e|in|en)\b",
    r"\bin Kontakt (?:bringen|setzen)\b",
)


@dataclass(frozen=True)
class ReplySignals:
    declines: bool = False
    unsubscribe: bool = False
    suggests_others: bool = False


def read_reply(text: str) -> ReplySignals:
    """What a person's reply says, from its full text (the quoted history is ignored)."""
    new = strip_quoted_history(text)[:20_000]
    unsubscribe = bool(_UNSUBSCRIBE.search(new))
    return ReplySignals(
        # Asking not to be contacted again is declining too.
        declines=unsubscribe or bool(_DECLINES.search(new)),
        unsubscribe=unsubscribe,
        suggests_others=bool(_SUGGESTS_OTHERS.search(new)),
    )


# --- the whole message ----------------------------------------------------------------------


@dataclass(frozen=True)
class Classification:
    """How one raw message is classified, with whatever details its kind has."""

    kind: MessageClass
    bounce: Bounce | None = None
    auto_reply: AutoReply | None = None
    declines: bool = False
    unsubscribe: bool = False
    suggests_others: bool = False
    problem: str | None = None

    @property
    def return_date(self) -> date | None:
        return self.auto_reply.return_date if self.auto_reply is not None else None

    @property
    def inbound_kind(self) -> InboundKind | None:
        """The poller's kind, or None for OTHER."""
        if self.kind is MessageClass.OTHER:
            return None
        return InboundKind(self.kind.value)


def _classify(raw: bytes, own_addresses: frozenset[str], received_at: datetime) -> Classification:
    headers = parse_headers(raw)
    if not headers:
        return Classification(
            MessageClass.OTHER,
            problem="no header fields could be read: this does not look like an email message",
        )
    bounce = parse_bounce(raw)
    if bounce is not None:
        return Classification(MessageClass.BOUNCE, bounce=bounce)
    sender = address_of(headers.get("from"))
    if looks_like_bounce(headers) or is_daemon_address(sender):
        # A delivery report that reports no failure, or a notice we cannot read a failed
        # recipient from: not a person's answer either way.
        return Classification(MessageClass.OTHER)
    if sender and sender in own_addresses:
        return Classification(MessageClass.OWN_MESSAGE)
    if _is_receipt(headers):
        return Classification(MessageClass.OTHER)
    text = text_of(raw)
    auto_reply = detect_auto_reply(headers, text, received_at)
    if auto_reply is not None:
        return Classification(MessageClass.AUTO_REPLY, auto_reply=auto_reply)
    if not sender:
        return Classification(
            MessageClass.OTHER, problem="the message has no sender address in its From field"
        )
    signals = read_reply(text)
    return Classification(
        MessageClass.REPLY,
        declines=signals.declines,
        unsubscribe=signals.unsubscribe,
        suggests_others=signals.suggests_others,
    )


def classify_message(
    raw: bytes, own_addresses: frozenset[str], received_at: datetime
) -> Classification:
    """Classify a whole raw message (RFC 5322 bytes). Never raises.

    `own_addresses` are the user's own addresses, lower-cased; `received_at` is when the
    message arrived (it dates a return date given without a year).
    """
    try:
        return _classify(raw, own_addresses, received_at)
    except Exception as error:  # hostile input must never stop the caller
        return Classification(
            MessageClass.OTHER,
            problem=f"the message could not be read ({type(error).__name__}: {error})"[:300],
        )
