"""Approving many drafts at once: every one that can go, and why the others cannot.

The drafts page's "Approve all" sends the ids the user saw. Each is checked to be
the user's before anything changes; a draft still missing information is skipped
(never approved with a gap in it), and so is one that stopped being a draft in the
meantime (approved or discarded in another tab).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.orm import Session

from outreach.drafts import approve, get_message, needs_of
from outreach.errors import ValidationError
from outreach.models import Message, MessageStatus, User
from outreach.rules import template_gaps


@dataclass
class BatchApproval:
    approved: list[Message] = field(default_factory=list)
    # Drafts that still miss a value, or hold text to fix: the user fills them in first.
    blocked: list[Message] = field(default_factory=list)
    # Approved, sent or discarded since the page was shown.
    no_longer_drafts: int = 0
    # Any other refusal, in the core's words (a do-not-contact person, no mailbox).
    refused: list[str] = field(default_factory=list)

    def missing_words(self) -> list[str]:
        """What the blocked drafts miss, in words, each said once ("how you found Dana")."""
        words: list[str] = []
        for message in self.blocked:
            contact = message.contact
            names = needs_of(message)
            if contact is None or not names:
                said = [message.error or "text to fix"]
            else:
                said = [
                    template_gaps.words_for(name, contact.first_name, contact.name)
                    for name in names
                ]
            words.extend(word for word in said if word not in words)
        return words


def approve_all(
    session: Session, user: User, message_ids: Sequence[int], now: datetime
) -> BatchApproval:
    """Approve each of `message_ids` that can be; the caller commits.

    :raise NotFound: when one id is not the user's; nothing is changed then.
    """
    messages = [get_message(session, user, message_id) for message_id in dict.fromkeys(message_ids)]
    outcome = BatchApproval()
    for message in messages:
        if message.status is not MessageStatus.DRAFT:
            outcome.no_longer_drafts += 1
        elif message.error or message.needs:
            outcome.blocked.append(message)
        else:
            try:
                outcome.approved.append(approve(session, user, message.id, now))
            except ValidationError as error:
                # approve() checks everything before it changes anything.
                outcome.refused.append(str(error))
    return outcome
