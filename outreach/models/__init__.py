"""The database model, one module per aggregate."""

from outreach.models.accounts import (
    AuthMethod,
    Mailbox,
    MailboxStatus,
    MailboxSyncState,
    Role,
    SignupInvite,
    TlsMode,
    User,
)
from outreach.models.base import Base, utcnow
from outreach.models.cohorts import Cohort, CohortMember, SubmittedReport
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
from outreach.models.pollers import Poller

__all__ = [
    "AuthMethod",
    "Base",
    "Cohort",
    "CohortMember",
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
    "Poller",
    "Role",
    "SendPhase",
    "SubmittedReport",
    "SignupInvite",
    "Target",
    "TargetEntry",
    "Template",
    "TlsMode",
    "User",
    "utcnow",
]
