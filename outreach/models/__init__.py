"""The database model, one module per aggregate."""

from outreach.models.accounts import Mailbox, MailboxStatus, MailboxSyncState, TlsMode, User
from outreach.models.base import Base, utcnow
from outreach.models.contacts import Contact, Target, TargetEntry
from outreach.models.messages import (
    Direction,
    Event,
    Message,
    MessageKind,
    MessageStatus,
    SendPhase,
    Template,
)
from outreach.models.outreach import Outreach

__all__ = [
    "Base",
    "Contact",
    "Direction",
    "Event",
    "Mailbox",
    "MailboxStatus",
    "MailboxSyncState",
    "Message",
    "MessageKind",
    "MessageStatus",
    "Outreach",
    "SendPhase",
    "Target",
    "TargetEntry",
    "Template",
    "TlsMode",
    "User",
    "utcnow",
]
