"""Who must not be asked again, read from the database (the rule: outreach.rules.never_again).

The pipeline (outreach.targets), the drafting guard (outreach.drafts), the dashboard and
the CLI all ask here, so a person is held back the same way whoever puts them on a list.
The override itself (asking one person again on one list) is target_actions.ask_again.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from outreach.models import (
    Contact,
    Direction,
    Message,
    MessageKind,
    MessageStatus,
    Outreach,
    User,
)
from outreach.rules.cycle import zone_of
from outreach.rules.never_again import Journey, NeverAgain, never_again
from outreach.rules.states import OutreachState

_CYCLE_KINDS = (MessageKind.REQUEST, MessageKind.FOLLOW_UP)


def _journeys(
    session: Session, user_id: int, contact_ids: Collection[int], target_id: int
) -> dict[int, list[Journey]]:
    """Each contact's journeys on the user's other targets, with what was sent to them."""
    sent = (
        select(
            Message.outreach_id.label("outreach_id"),
            func.count(Message.id).filter(Message.status == MessageStatus.SENT).label("sent"),
            func.count(Message.id).label("written"),
            func.max(Message.sent_at).label("last_sent_at"),
        )
        .join(Contact, Contact.id == Message.contact_id)
        .where(
            Message.user_id == user_id,
            Message.contact_id.in_(contact_ids),
            Message.direction == Direction.OUTBOUND,
            Message.kind.in_(_CYCLE_KINDS),
            Message.status != MessageStatus.CANCELLED,
            # One sent to an address since corrected never reached them.
            Message.to_address == Contact.email,
        )
        .group_by(Message.outreach_id)
        .subquery()
    )
    rows = session.execute(
        select(
            Outreach.contact_id,
            Outreach.state,
            Outreach.state_changed_at,
            func.coalesce(sent.c.sent, 0),
            func.coalesce(sent.c.written, 0),
            sent.c.last_sent_at,
        )
        .outerjoin(sent, sent.c.outreach_id == Outreach.id)
        .where(
            Outreach.user_id == user_id,
            Outreach.contact_id.in_(contact_ids),
            Outreach.target_id != target_id,
        )
    )
    journeys: dict[int, list[Journey]] = {}
    for contact_id, state, changed_at, sent_count, written, last_sent_at in rows:
        journeys.setdefault(contact_id, []).append(
            Journey(state, changed_at, int(sent_count), bool(written), last_sent_at)
        )
    return journeys


def refusals(
    session: Session, user_id: int, contact_ids: Collection[int], target_id: int
) -> dict[int, NeverAgain]:
    """Contact id -> why they are not asked on `target_id`, for those who are not.

    A deliberate override on that target (Outreach.ask_again_at) lifts every reason
    but do-not-contact.
    """
    if not contact_ids:
        return {}
    journeys = _journeys(session, user_id, contact_ids, target_id)
    contacts = session.execute(
        select(Contact.id, Contact.do_not_contact).where(
            Contact.user_id == user_id, Contact.id.in_(contact_ids)
        )
    )
    overridden = set(
        session.scalars(
            select(Outreach.contact_id).where(
                Outreach.target_id == target_id,
                Outreach.contact_id.in_(contact_ids),
                Outreach.ask_again_at.is_not(None),
            )
        )
    )
    found: dict[int, NeverAgain] = {}
    for contact_id, do_not_contact in contacts:
        refusal = never_again(do_not_contact, journeys.get(contact_id, []))
        if refusal is None or (refusal.may_override and contact_id in overridden):
            continue
        found[contact_id] = refusal
    return found


def refusal_for(session: Session, outreach: Outreach) -> NeverAgain | None:
    """Why the outreach's contact must not be asked on its target, or None."""
    return refusals(session, outreach.user_id, [outreach.contact_id], outreach.target_id).get(
        outreach.contact_id
    )


@dataclass(frozen=True)
class HeldBack:
    """A name on a list that is not drafted, and why, in words."""

    contact_id: int
    name: str
    sentence: str
    may_override: bool


def held_back(session: Session, user: User, target_id: int, now: datetime) -> list[HeldBack]:
    """The names still to ask on the target that the rule holds back, in list order."""
    planned = list(
        session.scalars(
            select(Outreach).where(
                Outreach.target_id == target_id,
                Outreach.user_id == user.id,
                Outreach.state == OutreachState.PLANNED,
            )
        )
    )
    found = refusals(session, user.id, [outreach.contact_id for outreach in planned], target_id)
    zone = zone_of(user.time_zone)
    return [
        HeldBack(
            outreach.contact_id,
            outreach.contact.name,
            refusal.sentence(outreach.contact.name, zone, now),
            refusal.may_override,
        )
        for outreach in sorted(planned, key=lambda each: each.id)
        if (refusal := found.get(outreach.contact_id)) is not None
    ]
