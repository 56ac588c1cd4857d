"""The database model, one module per aggregate."""

from outreach.models.accounts import (
    AuthMethod,
    Mailbox,
    MailboxStatus,
    MailboxSyncState,
    SignupInvite,
    TlsMode,
    User,
)
from outreach.models.base import Base, utcnow
from outreach.models.contacts import Contact, Target, TargetEntry
from outreach.models.meetings import Meeting, MeetingStatus
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
    "AuthMethod",
    "Base",
    "Contact",
    "Direction",
    "Event",
    "Mailbox",
    "MailboxStatus",
    "MailboxSyncState",
    "Meeting",
    "MeetingStatus",
    "Message",
    "MessageKind",
    "MessageStatus",
    "Outreach",
    "SendPhase",
    "SignupInvite",
    "Target",
    "TargetEntry",
    "Template",
    "TlsMode",
    "User",
    "utcnow",
]
