"""Tell apart a person's reply, an auto-reply, a bounce and the user's own mail (pure).

One reading of an inbound message, in two steps:

- `read_headers(headers, own_addresses)`: from the header fields alone, as the poller has
  them before it fetches a body (it matches the message to an outreach with this). Its kind
  is never OTHER.
- `reading.with_body(raw, received_at)`: the same reading refined once by the whole message:
  the bounce's details (reading.bounces), the auto-reply's return date (reading.autoreply),
  and, for a person's reply, whether it declines, asks not to be contacted again, or suggests
  other people. The body may change the kind: an out-of-office whose headers look personal
  is an AUTO_REPLY here, and the kind may become OTHER: a message that cannot be parsed (then
  `problem` says why), a read receipt, a delivery report that reports no failure, or a
  MAILER-DAEMON notice that names no failed recipient. It never raises.

`read_message(raw, own_addresses, received_at)` does both, for a message at hand whole.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime
from enum import StrEnum

from outreach.reading.autoreply import AutoReply, auto_reply_signals, detect_auto_reply
from outreach.reading.bounces import Bounce, looks_like_bounce, never_a_reply, parse_bounce
from outreach.reading.matching import address_of
from outreach.reading.mime import parse_headers, text_of
from outreach.reading.quoting import strip_quoted_history


class InboundKind(StrEnum):
    REPLY = "reply"
    AUTO_REPLY = "auto_reply"
    BOUNCE = "bounce"
    OWN_MESSAGE = "own_message"
    # Only once the body is read: an automatic notice that the address is no longer read or
    # the person has left. Stored as an auto-reply; the cycle moves on as after a hard bounce.
    GONE = "gone"
    # Only once the body is read: not a person's answer, nothing to act on.
    OTHER = "other"


def _is_receipt(headers: Mapping[str, str]) -> bool:
    """A read receipt (RFC 8098 disposition notification): machine-written, not a reply."""
    content_type = headers.get("content-type", "").lower()
    return "multipart/report" in content_type and "disposition-notification" in content_type


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


# --- the reading ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Reading:
    """What one inbound message is, with whatever details its kind has.

    From `read_headers` only the kind is known (`body_read` False); `with_body` fills in
    the details and gives the final kind.
    """

    kind: InboundKind
    bounce: Bounce | None = None
    auto_reply: AutoReply | None = None
    declines: bool = False
    unsubscribe: bool = False
    suggests_others: bool = False
    problem: str | None = None
    body_read: bool = False

    @property
    def return_date(self) -> date | None:
        return self.auto_reply.return_date if self.auto_reply is not None else None

    def with_body(self, raw: bytes, received_at: datetime) -> Reading:
        """This reading refined by the whole raw message (RFC 5322 bytes). Never raises.

        `received_at` is when the message arrived (it dates a return date given without
        a year). A reading is refined once: the body is the last word on it.
        """
        if self.body_read:
            raise ValueError("this reading has taken its message's body in already")
        try:
            refined = _refine(self.kind, raw, received_at)
        except Exception as error:  # hostile input must never stop the caller
            refined = _unreadable(error)
        return replace(refined, body_read=True)


def read_headers(headers: Mapping[str, str], own_addresses: frozenset[str]) -> Reading:
    """Read a message from its headers (lower-cased names -> values).

    `own_addresses` are the user's own addresses, lower-cased. The order matters: a bounce
    often carries Auto-Submitted too (RFC 3464 reports are machine-generated; Postfix writes
    "auto-replied"), so it is recognised first. A read receipt counts as an auto-reply here:
    it must never count as the contact's answer (its body makes it OTHER).
    """
    sender = address_of(headers.get("from"))
    if looks_like_bounce(headers):
        return Reading(InboundKind.BOUNCE)
    if sender and sender in own_addresses:
        return Reading(InboundKind.OWN_MESSAGE)
    if auto_reply_signals(headers) or _is_receipt(headers):
        return Reading(InboundKind.AUTO_REPLY)
    return Reading(InboundKind.REPLY)


def _refine(kind: InboundKind, raw: bytes, received_at: datetime) -> Reading:
    """What the whole message is, given what its headers said (`kind`)."""
    headers = parse_headers(raw)
    if not headers:
        return Reading(
            InboundKind.OTHER,
            problem="no header fields could be read: this does not look like an email message",
        )
    bounce = parse_bounce(raw)
    if bounce is not None:
        return Reading(InboundKind.BOUNCE, bounce=bounce)
    if kind is InboundKind.BOUNCE or never_a_reply(raw):
        # A delivery report that reports no failure, or a server's notice that says no
        # failure we can read: not a person's answer either way (the rule that cannot be
        # broken: a report is never a reply).
        return Reading(InboundKind.OTHER)
    if kind is InboundKind.OWN_MESSAGE:
        return Reading(InboundKind.OWN_MESSAGE)
    if _is_receipt(headers):
        return Reading(InboundKind.OTHER)
    text = text_of(raw)
    auto_reply = detect_auto_reply(headers, text, received_at)
    if auto_reply is not None:
        kind = InboundKind.GONE if auto_reply.gone else InboundKind.AUTO_REPLY
        return Reading(kind, auto_reply=auto_reply)
    if not address_of(headers.get("from")):
        return Reading(
            InboundKind.OTHER, problem="the message has no sender address in its From field"
        )
    signals = read_reply(text)
    return Reading(
        InboundKind.REPLY,
        declines=signals.declines,
        unsubscribe=signals.unsubscribe,
        suggests_others=signals.suggests_others,
    )


def _unreadable(error: Exception) -> Reading:
    return Reading(
        InboundKind.OTHER,
        problem=f"the message could not be read ({type(error).__name__}: {error})"[:300],
    )


def read_message(raw: bytes, own_addresses: frozenset[str], received_at: datetime) -> Reading:
    """Read a whole raw message at once: its headers, then its body. Never raises."""
    try:
        from_headers = read_headers(parse_headers(raw), own_addresses)
    except Exception as error:  # hostile input must never stop the caller
        return replace(_unreadable(error), body_read=True)
    return from_headers.with_body(raw, received_at)
