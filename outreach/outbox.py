"""Which part of the Outbox a message belongs to: one answer, from its own status.

The page reads every message it shows in one query and files each by this
function, so a message that is sent while the page is built is listed once,
never both under "Going out" and "Sent".
"""

from __future__ import annotations

from enum import StrEnum

from outreach.models.messages import Message, MessageStatus


class OutboxSection(StrEnum):
    GOING = "going"
    UNKNOWN = "unknown"
    FAILED = "failed"
    SENT = "sent"


# Approved and not yet settled: the outbox's "Going out".
GOING = (
    MessageStatus.APPROVED,
    MessageStatus.QUEUED,
    MessageStatus.RETRYING,
    MessageStatus.SENDING,
)


def outbox_section(message: Message) -> OutboxSection | None:
    """The section listing `message`; None for one the Outbox does not show (a draft)."""
    status = message.status
    if status in GOING:
        return OutboxSection.GOING
    if status is MessageStatus.UNKNOWN:
        return OutboxSection.UNKNOWN
    if status is MessageStatus.SENT:
        return OutboxSection.SENT
    if status is MessageStatus.FAILED:
        return OutboxSection.FAILED
    # Stopped by the check just before sending (a reply came in, do-not-contact):
    # approved once, so the user is told why it did not go.
    if status is MessageStatus.CANCELLED and message.approved_at is not None and message.error:
        return OutboxSection.FAILED
    return None
