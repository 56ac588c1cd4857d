"""Set a person up to try Outreach in the sandbox: a mailbox, a dozen contacts and a target.

`outreach sandbox --user EMAIL` and the dashboard's "Try it with the sandbox"
button both call `set_up_sandbox`. Running it again changes nothing that is
already there: it adds what is missing and drafts what the target has room for.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from outreach.accounts import MailboxSettings, connect_mailbox
from outreach.contacts import ContactInput, add_contact, find_by_email
from outreach.crypto import SecretBox
from outreach.errors import ValidationError
from outreach.mail import MailServer
from outreach.models import Mailbox, Message, Target, TlsMode, User
from outreach.rules.sandbox_addresses import PEOPLE_DOMAIN, SANDBOX_DOMAIN, is_sandbox
from outreach.target_actions import add_names, start_target

SANDBOX_HOST = "127.0.0.1"
TARGET_NAME = "Climate tech (sandbox)"
# What the demo's emails call the field: the list's name never appears in an email.
FIELD_PHRASE = "climate technology"
# Used only when the person has not written their own introduction yet.
EXAMPLE_INTRODUCTION = (
    "I am a recent environmental science graduate, exploring the different paths "
    "into climate technology."
)


@dataclass(frozen=True)
class DemoContact:
    behaviour: str
    name: str
    role: str
    organisation: str
    how_found: str
    # Why this person in particular; some demo contacts have one, as real lists do.
    why_you: str = ""

    @property
    def email(self) -> str:
        local = re.sub(r"[^a-z.]", "", self.name.lower().replace(" ", "."))
        return f"{self.behaviour}.{local}@{PEOPLE_DOMAIN}"


# In list order: the first five show every behaviour at once (the target allows five
# requests out), the rest follow as places free up.
DEMO_CONTACTS: tuple[DemoContact, ...] = (
    DemoContact(
        "agrees",
        "Maya Chen",
        "Senior Energy Analyst",
        "Northwind Renewables",
        "the alumni network",
        "you moved from a science degree into energy analysis, as I hope to",
    ),
    DemoContact(
        "declines",
        "Tom Okafor",
        "Head of Product",
        "GridWise",
        "your talk at the Climate Week meetup",
    ),
    DemoContact(
        "away",
        "Lena Fischer",
        "Policy Advisor",
        "Climate Policy Institute",
        "your article on heat pumps",
        "you write about the policy side of heat pumps, which is where I hope to start",
    ),
    DemoContact(
        "bounces",
        "Raj Patel",
        "Sustainability Lead",
        "Harbour Logistics",
        "the conference attendee list",
    ),
    DemoContact(
        "silent",
        "Sofia Alvarez",
        "Research Scientist",
        "Carbon Lab",
        "your team's paper on soil carbon",
    ),
    DemoContact("agrees", "James Wright", "Founder", "SolarShare", "a friend, Priya"),
    DemoContact(
        "silent", "Amara Nwosu", "Programme Manager", "Green Cities Fund", "the fund's open day"
    ),
    DemoContact(
        "agrees", "Kenji Sato", "Battery Engineer", "VoltCell", "the university's careers fair"
    ),
    DemoContact("declines", "Priya Raman", "Partner", "Evergreen Ventures", "the alumni network"),
    DemoContact(
        "away", "Oliver Brown", "Data Scientist", "WeatherWorks", "your talk on forecasting"
    ),
    DemoContact(
        "bounces",
        "Nina Kowalski",
        "ESG Consultant",
        "Brightline Advisory",
        "an old conference programme",
    ),
    DemoContact(
        "agrees",
        "Daniel Mensah",
        "Hydrologist",
        "River Trust",
        "a volunteering day at the river clean-up",
    ),
)


@dataclass(frozen=True)
class SandboxPorts:
    smtp: int
    imap: int


@dataclass
class SandboxSetup:
    mailbox: Mailbox
    target: Target
    contacts_added: int = 0
    drafted: list[Message] = field(default_factory=list)
    introduction_added: bool = False


def sandbox_address(user: User) -> str:
    """The person's sandbox address: their own name part, made unique by their id."""
    local = re.sub(r"[^a-z0-9.]", "", user.email.partition("@")[0].lower()).strip(".")
    return f"{local or 'me'}.{user.id}@{SANDBOX_DOMAIN}"


def sandbox_mailbox(session: Session, user: User) -> Mailbox | None:
    for mailbox in session.scalars(select(Mailbox).where(Mailbox.user_id == user.id)):
        if is_sandbox(mailbox):
            return mailbox
    return None


def _mailbox(session: Session, user: User, box: SecretBox, ports: SandboxPorts) -> Mailbox:
    existing = list(session.scalars(select(Mailbox).where(Mailbox.user_id == user.id)))
    real = [mailbox for mailbox in existing if not is_sandbox(mailbox)]
    if real:
        # Drafts go out through the first mailbox: the demo's would leave through a real one.
        raise ValidationError(
            f"the sandbox is for trying Outreach without a real mailbox, and "
            f"{real[0].email_address} is already connected; remove it first to try the sandbox"
        )
    if existing:
        mailbox = existing[0]
        # The ports may have changed since (settings); the sandbox always runs here.
        mailbox.imap_host = mailbox.smtp_host = SANDBOX_HOST
        mailbox.imap_port, mailbox.smtp_port = ports.imap, ports.smtp
        return mailbox
    address = sandbox_address(user)
    settings = MailboxSettings.joining(
        MailServer(SANDBOX_HOST, ports.imap, TlsMode.NONE),
        MailServer(SANDBOX_HOST, ports.smtp, TlsMode.NONE),
        email_address=address,
        display_name=user.name,
        username=address,
    )
    mailbox = connect_mailbox(session, user, box, settings, secrets.token_urlsafe(24))
    # The sandbox answers in seconds; so may it be written to.
    mailbox.min_gap_seconds = 1
    mailbox.max_gap_seconds = 3
    mailbox.daily_cap = 100
    return mailbox


def set_up_sandbox(
    session: Session, user: User, box: SecretBox, ports: SandboxPorts, now: datetime
) -> SandboxSetup:
    """Give `user` a sandbox mailbox, the demo contacts and target, and draft the requests.

    :raise ValidationError: when the user has a real mailbox connected already.
    """
    mailbox = _mailbox(session, user, box, ports)
    introduction_added = False
    if not user.introduction.strip():
        user.introduction = EXAMPLE_INTRODUCTION
        introduction_added = True
    added = 0
    contact_ids: list[int] = []
    for demo in DEMO_CONTACTS:
        contact = find_by_email(session, user, demo.email)
        if contact is None:
            contact = add_contact(
                session,
                user,
                ContactInput(
                    email=demo.email,
                    name=demo.name,
                    first_name=demo.name.split()[0],
                    role=demo.role,
                    organisation=demo.organisation,
                    how_found=demo.how_found,
                    why_you=demo.why_you,
                ),
            )
            added += 1
        contact_ids.append(contact.id)
    target = session.scalar(
        select(Target).where(Target.user_id == user.id, Target.name == TARGET_NAME)
    )
    if target is None:
        target, drafted = start_target(
            session,
            user,
            TARGET_NAME,
            contact_ids,
            now,
            max_in_flight=5,
            wait_business_days=1,
            give_up_business_days=1,
            field_phrase=FIELD_PHRASE,
        )
    else:
        if not target.field_phrase_confirmed:  # made before targets had a phrase
            target.field_phrase, target.field_phrase_confirmed = FIELD_PHRASE, True
        listed = {entry.contact_id for entry in target.entries}
        missing = [contact_id for contact_id in contact_ids if contact_id not in listed]
        drafted = add_names(session, user, target, missing, now)
    return SandboxSetup(mailbox, target, added, drafted, introduction_added)
