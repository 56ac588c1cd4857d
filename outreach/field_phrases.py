"""A target's field phrase: set or confirm it, and rewrite the drafts that used the old one.

The phrase is what emails say ("museum education"); the target's name is the
list's and never appears in an email. A phrase guessed from the name (targets
made before it was asked for) waits for the user to confirm it; the targets page
and each draft for such a target ask until they do.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from outreach.draft_values import edited_since_filled, refill
from outreach.drafts import REFILLABLE
from outreach.models import Message, MessageStatus, Outreach, Target, User
from outreach.targets import clean_field_phrase, require_owner
from outreach.timeline import record


@dataclass(frozen=True)
class PhraseSet:
    phrase: str
    # Drafts written again from their template with the new phrase.
    rewritten: int
    # Drafts the user had edited: their text is kept, so they may still hold the old phrase.
    kept: int


def set_field_phrase(
    session: Session, user: User, target: Target, phrase: str, now: datetime
) -> PhraseSet:
    """Make `phrase` the target's confirmed field phrase.

    Request and follow-up drafts of this target that the user has not edited are
    written again with it; edited ones are left as the user wrote them (counted).

    :raise ValidationError: for an empty or too long phrase, or a control character.
    :raise NotFound: when the target is not the user's.
    """
    require_owner(user, target)
    clean = clean_field_phrase(phrase)
    changed = clean != target.field_phrase
    target.field_phrase = clean
    was_confirmed = target.field_phrase_confirmed
    target.field_phrase_confirmed = True
    rewritten = kept = 0
    if changed:
        for draft in _open_drafts(session, target):
            if edited_since_filled(session, draft):
                kept += 1
            else:
                refill(session, user, draft.id, now)
                rewritten += 1
    if changed or not was_confirmed:
        record(
            session,
            user_id=user.id,
            kind="target:field_phrase",
            detail=f"list “{target.name}”: emails now say “{clean}”",
            now=now,
        )
    session.flush()
    return PhraseSet(clean, rewritten, kept)


def _open_drafts(session: Session, target: Target) -> list[Message]:
    return list(
        session.scalars(
            select(Message)
            .join(Outreach, Outreach.id == Message.outreach_id)
            .where(
                Outreach.target_id == target.id,
                Message.status == MessageStatus.DRAFT,
                Message.kind.in_(REFILLABLE),
            )
            .order_by(Message.id)
        )
    )


def unconfirmed_targets(session: Session, user: User) -> list[Target]:
    """The user's targets whose phrase is still a guess from the name, by name."""
    return list(
        session.scalars(
            select(Target)
            .where(Target.user_id == user.id, Target.field_phrase_confirmed.is_(False))
            .order_by(Target.name)
        )
    )


def unconfirmed_by_message(session: Session, message_ids: list[int]) -> dict[int, Target]:
    """For each of these messages written for a target whose phrase is unconfirmed: the target."""
    if not message_ids:
        return {}
    rows = session.execute(
        select(Message.id, Target)
        .join(Outreach, Outreach.id == Message.outreach_id)
        .join(Target, Target.id == Outreach.target_id)
        .where(Message.id.in_(message_ids), Target.field_phrase_confirmed.is_(False))
    )
    return {message_id: target for message_id, target in rows}
