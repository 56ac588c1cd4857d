"""What a simulated contact writes back (pure: the message, its time and a random source in).

Each answer is shaped like the real thing our classifier reads (outreach.reading.classify):
a person's reply threaded with In-Reply-To and References; an out-of-office with
RFC 3834's `Auto-Submitted: auto-replied` and a return date in words the
classifier knows ("until Monday 7 December"); a bounce as an RFC 3464
multipart/report from MAILER-DAEMON with the failed recipient and our Message-ID.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, getaddresses

from outreach.rules.sandbox_addresses import PEOPLE_DOMAIN, Behaviour, behaviour_of

DAEMON = f"MAILER-DAEMON@mx.{PEOPLE_DOMAIN}"

_AGREE_OPENINGS = (
    "Thanks for getting in touch, and happy to help.",
    "What a kind message, thank you. I'd be glad to talk.",
    "Thanks for reaching out! I remember how useful these conversations were for me.",
)
_AGREE_CLOSINGS = (
    "Looking forward to it.",
    "Talk soon.",
    "Happy to share what I know.",
)
_DECLINES = (
    "Thank you for your kind note. I'm afraid I'm not able to take on any conversations "
    "like this at the moment: the next few months are very full for me.",
    "Thanks for thinking of me. Unfortunately I don't have the time right now, "
    "so I'll have to pass, but I wish you the very best with your search.",
)
_BACK_AGAIN = (
    "Sorry for the slow reply, I was away and have just caught up on my email. "
    "Yes, I'd be happy to talk."
)


@dataclass(frozen=True)
class Answer:
    """A message a simulated contact sends, and after how long."""

    behaviour: Behaviour
    raw: bytes
    # "reply", "decline", "auto_reply" or "bounce": what our classifier should read.
    kind: str


def _first_name(display_name: str, address: str) -> str:
    if display_name.strip():
        return display_name.split()[0]
    local = address.partition("@")[0]
    parts = local.split(".")
    return parts[1].capitalize() if len(parts) > 1 else local


def _addresses(value: str | None) -> list[tuple[str, str]]:
    return [(name, addr) for name, addr in getaddresses([value or ""]) if addr]


def _recipient_name(original: EmailMessage, address: str) -> str:
    for name, addr in _addresses(str(original.get("To", ""))):
        if addr.lower() == address.lower():
            return name
    return ""


def _quote(original: EmailMessage, when: str, sender: str) -> str:
    part = original.get_body(preferencelist=("plain",))
    text = part.get_content() if isinstance(part, EmailMessage) else ""
    quoted = "\n".join(f"> {line}" if line else ">" for line in text.strip().splitlines())
    return f"On {when}, {sender} wrote:\n{quoted}\n"


def _threaded(original: EmailMessage, subject_prefix: str = "Re: ") -> dict[str, str]:
    message_id = str(original.get("Message-ID", "")).strip()
    references = " ".join(str(original.get("References", "")).split())
    subject = " ".join(str(original.get("Subject", "")).split())
    if not subject.lower().startswith(subject_prefix.strip().lower()):
        subject = subject_prefix + subject
    headers = {"Subject": subject}
    if message_id:
        headers["In-Reply-To"] = message_id
        headers["References"] = f"{references} {message_id}".strip()
    return headers


def _message(headers: dict[str, str], body: str) -> bytes:
    message = EmailMessage(policy=policy.SMTP)
    for name, value in headers.items():
        message[name] = value
    message.set_content(body)
    return message.as_bytes()


def _new_id() -> str:
    return f"<{uuid.uuid4().hex}@{PEOPLE_DOMAIN}>"


def _proposed_time(now: datetime, rng: random.Random) -> str:
    """A weekday a few days ahead, at a round hour: "Thursday 10 December at 10:00"."""
    day = now.date() + timedelta(days=rng.randint(2, 6))
    while day.weekday() >= 5:
        day += timedelta(days=1)
    hour = rng.choice((9, 10, 11, 14, 15, 16))
    return f"{day:%A} {day.day} {day:%B} at {hour}:00"


def return_date(now: datetime, rng: random.Random) -> date:
    """The day an away contact is back: a weekday three to six days ahead."""
    day = now.date() + timedelta(days=rng.randint(3, 6))
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


def answer(
    raw: bytes, recipient: str, now: datetime, rng: random.Random | None = None
) -> Answer | None:
    """What the simulated contact at `recipient` sends back to the message `raw`.

    None when they stay silent, or when `recipient` is no simulated contact.
    """
    behaviour = behaviour_of(recipient)
    if behaviour is None or behaviour is Behaviour.SILENT:
        return None
    rng = rng or random.Random()
    original = message_from_bytes(raw, policy=policy.default)
    assert isinstance(original, EmailMessage)
    senders = _addresses(str(original.get("From", "")))
    sender_name, sender = senders[0] if senders else ("", "")
    if not sender:
        return None
    contact_name = _recipient_name(original, recipient)
    contact = formataddr((contact_name, recipient)) if contact_name else recipient
    date_header = format_datetime(now)
    base = {
        "From": contact,
        "To": formataddr((sender_name, sender)) if sender_name else sender,
        "Date": date_header,
        "Message-ID": _new_id(),
    }
    greeting = f"Hi {_first_name(sender_name, sender)},"
    signature = _first_name(contact_name, recipient)
    sent_at = str(original.get("Date", "")) or date_header
    quote = _quote(original, sent_at, formataddr((sender_name, sender)) if sender_name else sender)
    # Our follow-up is threaded to the request: it is how an away contact knows they are back.
    is_follow_up = bool(original.get("In-Reply-To"))

    if behaviour is Behaviour.BOUNCES:
        return Answer(behaviour, _bounce(raw, original, recipient, sender, now), "bounce")
    if behaviour is Behaviour.AWAY and not is_follow_up:
        back = return_date(now, rng)
        headers = {
            **base,
            **_threaded(original, "Automatic reply: "),
            "Auto-Submitted": "auto-replied",
            "X-Autoreply": "yes",
        }
        body = (
            "Thank you for your message.\n\n"
            f"I am out of the office until {back:%A} {back.day} {back:%B} with limited access "
            "to email, and will reply when I return.\n\n"
            f"{signature}\n"
        )
        return Answer(behaviour, _message(headers, body), "auto_reply")
    if behaviour is Behaviour.DECLINES:
        body = f"{greeting}\n\n{rng.choice(_DECLINES)}\n\nBest wishes,\n{signature}\n\n{quote}"
        return Answer(behaviour, _message({**base, **_threaded(original)}, body), "decline")
    opening = _BACK_AGAIN if behaviour is Behaviour.AWAY else rng.choice(_AGREE_OPENINGS)
    if rng.random() < 0.5:
        proposal = f"Would {_proposed_time(now, rng)} work for a call? Half an hour is fine."
    else:
        proposal = "Send me two or three times that suit you next week and I'll pick one."
    body = (
        f"{greeting}\n\n{opening} {proposal}\n\n{rng.choice(_AGREE_CLOSINGS)}\n"
        f"{signature}\n\n{quote}"
    )
    return Answer(behaviour, _message({**base, **_threaded(original)}, body), "reply")


def _header_block(raw: bytes) -> str:
    """The message's header section, unfolded lines as they were sent (7-bit by RFC 5322)."""
    head = raw.replace(b"\r\n", b"\n").split(b"\n\n", 1)[0]
    return head.decode("ascii", errors="replace").replace("\n", "\r\n")


def _bounce(
    raw: bytes, original: EmailMessage, recipient: str, sender: str, now: datetime
) -> bytes:
    """An RFC 3464 delivery status notification for `recipient`, as Postfix writes it."""
    boundary = f"sandbox-dsn-{uuid.uuid4().hex}"
    message_id = str(original.get("Message-ID", "")).strip()
    when = format_datetime(now)
    reporting = f"mx.{PEOPLE_DOMAIN}"
    diagnostic = f"smtp; 550 5.1.1 <{recipient}>: Recipient address rejected: User unknown"
    original_headers = _header_block(raw)
    lines = [
        f"From: Mail Delivery System <{DAEMON}>",
        f"To: {sender}",
        "Subject: Undelivered Mail Returned to Sender",
        f"Date: {when}",
        f"Message-ID: {_new_id()}",
        "Auto-Submitted: auto-replied",
        "MIME-Version: 1.0",
        f'Content-Type: multipart/report; report-type=delivery-status; boundary="{boundary}"',
        "",
        "This is a MIME-encapsulated message.",
        "",
        f"--{boundary}",
        "Content-Type: text/plain; charset=us-ascii",
        "",
        f"This is the mail system at host {reporting}.",
        "",
        "I'm sorry to have to inform you that your message could not",
        "be delivered to one or more recipients.",
        "",
        f"<{recipient}>: host {reporting} said: 550 5.1.1 <{recipient}>:",
        "    Recipient address rejected: User unknown",
        "",
        f"--{boundary}",
        "Content-Type: message/delivery-status",
        "",
        f"Reporting-MTA: dns; {reporting}",
        f"X-Original-Message-ID: {message_id}",
        f"Arrival-Date: {when}",
        "",
        f"Final-Recipient: rfc822; {recipient}",
        f"Original-Recipient: rfc822; {recipient}",
        "Action: failed",
        "Status: 5.1.1",
        f"Remote-MTA: dns; {reporting}",
        f"Diagnostic-Code: {diagnostic}",
        "",
        f"--{boundary}",
        "Content-Type: text/rfc822-headers",
        "",
        original_headers.rstrip("\r\n"),
        "",
        f"--{boundary}--",
        "",
    ]
    return "\r\n".join(lines).encode("utf-8")
