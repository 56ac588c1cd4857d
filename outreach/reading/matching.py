"""Decide which outreach an inbound message answers (pure: no I/O).

Rules, strongest first; the rule that matched is recorded and shown to the user:
1. `thread`: In-Reply-To or References names a Message-ID we sent.
   `gmail_thread`: on Gmail, the message's thread id (X-GM-THRID) is the one
   of a message we sent: a reply whose client dropped In-Reply-To and
   References, from any address, still belongs to that thread.
2. `sender`: the From address is a contact with an outreach in progress.
3. `domain`: the From address shares its domain with such a contact (a colleague
   answering for them, a personal address at the same organisation). Only a
   *possible* reply: recorded for the user to confirm or dismiss, it moves nothing
   until confirmed. Never for public mail domains, where it would mean nothing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import getaddresses
from functools import lru_cache

_MESSAGE_ID = re.compile(r"<[^<>\s]+>")


def message_ids_in(header_value: str | None) -> list[str]:
    """Every `<...>` Message-ID in a header, in order, normalised for comparison."""
    if not header_value:
        return []
    return [normalise_message_id(found) for found in _MESSAGE_ID.findall(header_value)]


def normalise_message_id(message_id: str) -> str:
    # The local part is case-sensitive in theory, but servers and clients are
    # known to change case of the domain; lower-casing both sides is safe
    # because we generate random hex local parts ourselves.
    return message_id.strip().lower()


# The classification of one message asks for its sender's address several times, and
# a first sync reads thousands of messages: each header value is parsed once.
@lru_cache(maxsize=2048)
def address_of(header_value: str | None) -> str:
    """The first email address in a From/To header, lower-cased ('' when none)."""
    if not header_value:
        return ""
    for _name, address in getaddresses([header_value]):
        if "@" in address:
            return address.strip().lower()
    return ""


# Domains shared by millions of unrelated people: a same-domain sender there is a stranger.
PUBLIC_MAIL_DOMAINS = frozenset(
    {
        "aol.com",
        "fastmail.com",
        "gmail.com",
        "gmx.com",
        "gmx.de",
        "gmx.net",
        "googlemail.com",
        "hey.com",
        "hotmail.co.uk",
        "hotmail.com",
        "hotmail.fr",
        "icloud.com",
        "live.com",
        "mac.com",
        "mail.com",
        "mail.ru",
        "me.com",
        "msn.com",
        "outlook.com",
        "outlook.fr",
        "proton.me",
        "protonmail.com",
        "qq.com",
        "web.de",
        "yahoo.co.uk",
        "yahoo.com",
        "yahoo.fr",
        "yandex.ru",
        "zoho.com",
    }
)

# The rule name of a match by Gmail's thread id (X-GM-THRID).
GMAIL_THREAD = "gmail_thread"

# The rule name of a same-domain match, and what it becomes once the user decides.
POSSIBLE_REPLY = "domain"
CONFIRMED_POSSIBLE_REPLY = "domain, confirmed by you"
DISMISSED_POSSIBLE_REPLY = "domain, dismissed by you"


def domain_of(address: str) -> str:
    """The lower-cased domain of an address ('' when there is none)."""
    _local, at, domain = address.rpartition("@")
    return domain.strip().lower().rstrip(".") if at else ""


def by_domain(open_by_address: Mapping[str, tuple[int, int]]) -> dict[str, tuple[int, int]]:
    """The open outreaches keyed by their contact's domain, public mail domains left out.

    `open_by_address` is ordered oldest change first (as the poller builds it), so
    when two contacts share a domain the most recently active one is named.
    """
    found: dict[str, tuple[int, int]] = {}
    for address, ids in open_by_address.items():
        domain = domain_of(address)
        if domain and domain not in PUBLIC_MAIL_DOMAINS:
            found[domain] = ids
    return found


@dataclass(frozen=True)
class ThreadRef:
    """One of our sent messages that a reply may point to."""

    outreach_id: int | None
    contact_id: int | None


@dataclass(frozen=True)
class Match:
    rule: str
    contact_id: int | None
    outreach_id: int | None


def match_reply(
    in_reply_to: str | None,
    references: str | None,
    from_header: str | None,
    sent_ids: Mapping[str, ThreadRef],
    open_outreaches_by_address: Mapping[str, tuple[int, int]],
    open_outreaches_by_domain: Mapping[str, tuple[int, int]] | None = None,
    gm_thread_id: int | None = None,
    sent_threads: Mapping[int, ThreadRef] | None = None,
) -> Match | None:
    """Return which outreach the message belongs to, or None.

    `sent_ids` maps our normalised Message-IDs to what they were about;
    `open_outreaches_by_address` maps a contact's address to (contact_id, outreach_id);
    `open_outreaches_by_domain` (see `by_domain`) the same by domain, for rule 3;
    `gm_thread_id` is the message's Gmail thread id (None elsewhere) and
    `sent_threads` maps our sent messages' Gmail thread ids to what they were about.
    """
    # In-Reply-To first, then References from newest to oldest.
    candidates = message_ids_in(in_reply_to) + list(reversed(message_ids_in(references)))
    for candidate in candidates:
        ref = sent_ids.get(candidate)
        if ref is not None:
            return Match("thread", ref.contact_id, ref.outreach_id)
    if gm_thread_id is not None and sent_threads:
        ref = sent_threads.get(gm_thread_id)
        if ref is not None:
            return Match(GMAIL_THREAD, ref.contact_id, ref.outreach_id)
    sender = address_of(from_header)
    if sender and sender in open_outreaches_by_address:
        contact_id, outreach_id = open_outreaches_by_address[sender]
        return Match("sender", contact_id, outreach_id)
    domain = domain_of(sender)
    if domain and open_outreaches_by_domain and domain in open_outreaches_by_domain:
        contact_id, outreach_id = open_outreaches_by_domain[domain]
        return Match(POSSIBLE_REPLY, contact_id, outreach_id)
    return None
