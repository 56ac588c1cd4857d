"""Status codes, reasons, hard or soft: what a report's code and words mean (pure).

Hard or soft (the issue's rule, close to Sisimai's): an `Action: delayed` report, a full
mailbox (x.2.2, "quota exceeded": 5.2.2 is treated as soft, as most senders do) and
greylisting are soft. Otherwise a 5.x.x status is hard and a 4.x.x status soft; without any
status, an unknown user or host or a moved mailbox is hard, and the rest soft.
"""

from __future__ import annotations

import re

REASONS = (
    "user_unknown",
    "host_unknown",
    "moved",
    "mailbox_full",
    "greylisted",
    "policy",
    "other",
)

# An RFC 3463 code: class 2, 4 or 5, not part of a longer dotted number (an IP address).
_ENHANCED = re.compile(r"(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?!\d|\.\d)")
# A bare SMTP reply code where servers put one: at the start, after "#", ";" (a
# Diagnostic-Code's "smtp; 550 ..."), "said:" or "was:".
_BASIC = re.compile(
    r"(?:^|#|;|\bsaid:|\bwas:|\breturned\s')\s*([45][0-5]\d)(?![\d.]*\d)", re.I | re.M
)

_USER_UNKNOWN = re.compile(
    r"user unknown|unknown user|no such (?:user|mailbox|recipient|address)|user not found"
    r"|does(?:n't| not) exist|mailbox (?:not found|unavailable|does not exist)"
    r"|address (?:not found|rejected|unknown)|recipient (?:address )?rejected"
    r"|recip(?:ient)? ?not ?found|unknown (?:recipient|address|local part|mailbox)"
    r"|no mailbox here by that name|invalid (?:recipient|mailbox|address)"
    r"|not a valid (?:recipient|mailbox|address)|account (?:that you tried to reach )?does not"
    r"|doesn't have an? [\w.-]+ account|couldn't be found|wasn't found at|isn't a valid"
    r"|the e-?mail account does not exist|undeliverable address|bad destination mailbox",
    re.IGNORECASE,
)
_HOST_UNKNOWN = re.compile(
    r"host (?:or domain name )?not found|host unknown|unknown host|domain not found"
    r"|name or service not known|no mx (?:record|host)|unroutable|unrouteable"
    r"|couldn't find any host|no such domain|domain (?:does not exist|doesn't exist)"
    r"|nxdomain|dns (?:error|lookup failed)",
    re.IGNORECASE,
)
_MOVED = re.compile(
    r"has moved|mailbox (?:has )?moved|no longer (?:valid|active|in use|available)"
    r"|address (?:has )?changed|is no longer",
    re.IGNORECASE,
)
_MAILBOX_FULL = re.compile(
    r"mailbox (?:is )?full|mailbox (?:size )?limit|over ?quota|quota (?:exceeded|exceed)"
    r"|exceed(?:ed|s)? (?:the |their |its )?(?:storage|quota)|insufficient (?:storage|space)"
    r"|out of storage|mail ?box (?:is )?over|storage (?:limit|quota)|disk quota",
    re.IGNORECASE,
)
_GREYLISTED = re.compile(r"gr[ae]y-?list", re.IGNORECASE)
_PERMANENT = re.compile(
    r"permanent (?:error|failure)|failed permanently|i've given up|given up", re.IGNORECASE
)


def status_in(text: str) -> str | None:
    """The first RFC 3463 code in the text, else a bare SMTP code as "n.0.0", else None."""
    found = _ENHANCED.search(text)
    if found is not None:
        return ".".join(found.groups())
    basic = _BASIC.search(text)
    if basic is not None:
        return f"{basic.group(1)[0]}.0.0"
    return None


def reason_for(status: str | None, text: str) -> str:
    """One of REASONS, from the status code first and the server's words second."""
    detail = ".".join(status.split(".")[1:]) if status else ""
    if detail == "2.2" or _MAILBOX_FULL.search(text):
        return "mailbox_full"
    if _GREYLISTED.search(text):
        return "greylisted"
    by_status = {
        "1.1": "user_unknown",
        "1.2": "host_unknown",
        "1.6": "moved",
        "4.4": "host_unknown",
    }
    if detail in by_status:
        return by_status[detail]
    if detail.startswith("7."):
        return "policy"
    if _USER_UNKNOWN.search(text):
        return "user_unknown"
    if _HOST_UNKNOWN.search(text) or detail == "1.10":
        # x.1.10 is "null MX" (RFC 7505); Microsoft also uses it for an unknown recipient,
        # which the text then says.
        return "host_unknown"
    if _MOVED.search(text):
        return "moved"
    return "other"


def is_hard(action: str, status: str | None, reason: str, text: str) -> bool:
    """Whether the failure is permanent, by the rule in this module's docstring."""
    if action != "failed" or reason in ("mailbox_full", "greylisted"):
        return False
    if status:
        return status.startswith("5")
    return reason in ("user_unknown", "host_unknown", "moved") or bool(_PERMANENT.search(text))
