"""Sandbox addresses: the reserved domain, and how a pretend contact answers.

Pure rules, with no database and no network, so that every layer may ask whether
an address or a mailbox belongs to the sandbox (outreach.sandbox has the rest).
"""

from __future__ import annotations

import re
import unicodedata
from enum import StrEnum
from typing import Protocol

# RFC 2606 reserves .invalid: nothing at this domain can ever be delivered for real.
SANDBOX_DOMAIN = "outreach-sandbox.invalid"
# Where the simulated contacts live.
PEOPLE_DOMAIN = f"people.{SANDBOX_DOMAIN}"
# Shown wherever the sandbox appears.
SANDBOX_LABEL = "Sandbox: no real email is sent"

_FIRST_WORD = re.compile(r"^([a-z]+)")


def domain_of(address: str) -> str:
    return address.strip().rpartition("@")[2].lower().rstrip(">").strip()


class HasAddress(Protocol):
    """A mailbox, or anything else with an address of its own."""

    @property
    def email_address(self) -> str: ...


def is_sandbox(mailbox_or_address: HasAddress | str) -> bool:
    """Whether a mailbox (or an address) belongs to the sandbox, by its domain."""
    address = (
        mailbox_or_address
        if isinstance(mailbox_or_address, str)
        else mailbox_or_address.email_address
    )
    domain = domain_of(address)
    return domain == SANDBOX_DOMAIN or domain.endswith("." + SANDBOX_DOMAIN)


class Behaviour(StrEnum):
    """How a simulated contact answers a request."""

    AGREES = "agrees"
    DECLINES = "declines"
    AWAY = "away"
    BOUNCES = "bounces"
    SILENT = "silent"


def behaviour_of(address: str) -> Behaviour | None:
    """The simulated contact's behaviour from its address; None for anyone else.

    `agrees.maya.chen@people.outreach-sandbox.invalid` agrees. An address in the
    sandbox whose first word names no behaviour stays silent.
    """
    cleaned = address.strip().strip("<>").lower()
    local, _, domain = cleaned.rpartition("@")
    if domain != PEOPLE_DOMAIN:
        return None
    match = _FIRST_WORD.match(local)
    word = match.group(1) if match else ""
    try:
        return Behaviour(word)
    except ValueError:
        return Behaviour.SILENT


_NOT_ADDRESS_WORD = re.compile(r"[^a-z0-9]+")
# Room for the behaviour word and the domain within an address's 254 characters.
_MAX_PRETEND_LOCAL = 60


def pretend_address(name: str, given_address: str = "") -> str:
    """The sandbox address of a person suggested inside the sandbox.

    A name suggested by a pretend contact is pretend too: whatever address the
    user typed (often a real-looking one, or none), the person is written to at
    `people.outreach-sandbox.invalid`, so the sandbox never drafts to a real
    mailbox. An address already there is kept; any other becomes `agrees.<name>`,
    so the demo goes on to a conversation.
    """
    cleaned = given_address.strip().strip("<>").lower()
    if cleaned and domain_of(cleaned) == PEOPLE_DOMAIN:
        return cleaned
    source = name or cleaned.rpartition("@")[0]
    # "José Núñez" becomes jose.nunez: the accents go, the letters stay.
    source = unicodedata.normalize("NFKD", source).encode("ascii", "ignore").decode()
    words = _NOT_ADDRESS_WORD.sub(".", source.lower()).strip(".")[:_MAX_PRETEND_LOCAL]
    return f"{Behaviour.AGREES.value}.{words.strip('.') or 'someone'}@{PEOPLE_DOMAIN}"
