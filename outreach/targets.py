"""Use cases for targets: a field or organisation with an ordered list of names."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from outreach.contacts import get_contact
from outreach.errors import NotFound, ValidationError
from outreach.models import Message, Outreach, Target, TargetEntry, User
from outreach.states import OutreachState

# States in which an outreach occupies one of the target's "in flight" places.
IN_FLIGHT = frozenset({OutreachState.DRAFTED, OutreachState.WAITING, OutreachState.FOLLOWED_UP})


def create_target(
    session: Session,
    user: User,
    name: str,
    contact_ids: Sequence[int],
    *,
    max_in_flight: int = 1,
    wait_business_days: int = 7,
) -> Target:
    """Create a target holding the given contacts, in the given order."""
    clean = " ".join(name.split())
    if not clean:
        raise ValidationError("a target needs a name, such as a field or an organisation")
    if max_in_flight < 1:
        raise ValidationError("at least one request must be allowed out at a time")
    if wait_business_days < 1:
        raise ValidationError("the wait before a follow-up must be at least one business day")
    taken = session.scalar(
        select(func.count())
        .select_from(Target)
        .where(Target.user_id == user.id, Target.name == clean)
    )
    if taken:
        raise ValidationError(f"you already have a target called '{clean}'")
    target = Target(
        user_id=user.id,
        name=clean,
        max_in_flight=max_in_flight,
        wait_business_days=wait_business_days,
    )
    session.add(target)
    session.flush()
    for contact_id in dict.fromkeys(contact_ids):
        add_to_target(session, user, target, contact_id)
    return target


def add_to_target(session: Session, user: User, target: Target, contact_id: int) -> Outreach:
    """Append a contact to the end of the target's list."""
    contact = get_contact(session, user, contact_id)
    existing = session.scalar(
        select(Outreach).where(Outreach.target_id == target.id, Outreach.contact_id == contact.id)
    )
    if existing is not None:
        raise ValidationError(f"{contact.name} is already on the list for {target.name}")
    last = session.scalar(
        select(func.max(TargetEntry.position)).where(TargetEntry.target_id == target.id)
    )
    session.add(TargetEntry(target_id=target.id, contact_id=contact.id, position=(last or 0) + 1))
    outreach = Outreach(user_id=user.id, target_id=target.id, contact_id=contact.id)
    session.add(outreach)
    session.flush()
    return outreach


def get_target(session: Session, user: User, target_id: int) -> Target:
    """:raise NotFound: when the target does not exist or is someone else's."""
    target = session.scalar(select(Target).where(Target.id == target_id, Target.user_id == user.id))
    if target is None:
        raise NotFound("no such target")
    return target


def list_targets(session: Session, user: User) -> list[Target]:
    query = select(Target).where(Target.user_id == user.id).order_by(Target.name)
    return list(session.scalars(query))


def outreaches_in_order(session: Session, target: Target) -> list[Outreach]:
    """The target's outreaches in the order of its list."""
    rows = session.execute(
        select(Outreach)
        .join(
            TargetEntry,
            (TargetEntry.target_id == Outreach.target_id)
            & (TargetEntry.contact_id == Outreach.contact_id),
        )
        .where(Outreach.target_id == target.id)
        .order_by(TargetEntry.position)
    )
    return list(rows.scalars())


def fill_pipeline(session: Session, user: User, target: Target, now: datetime) -> list[Message]:
    """Draft requests to the next names until the target's in-flight limit is reached.

    Running it twice changes nothing: drafted names occupy their place.
    """
    from outreach.drafts import draft_request

    if target.paused:
        return []
    outreaches = outreaches_in_order(session, target)
    busy = sum(1 for outreach in outreaches if outreach.state in IN_FLIGHT)
    drafted: list[Message] = []
    for outreach in outreaches:
        if busy >= target.max_in_flight:
            break
        if outreach.state is not OutreachState.PLANNED or outreach.contact.do_not_contact:
            continue
        drafted.append(draft_request(session, user, outreach, now))
        busy += 1
    return drafted
