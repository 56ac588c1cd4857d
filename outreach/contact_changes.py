"""Changing a person on the list: edit, delete, merge two, and write again after a bounce.

- Editing checks every field as adding does (address, lengths, control characters). A new
  address also readdresses the drafts not yet sent to the old one.
- Deleting removes the person and their whole history from Outreach: messages, meetings,
  timeline and places on targets (docs/decisions/0017-deleting-a-contact.md). Drafts not yet
  sent go with them, so nothing more is sent to them; the place they held on a target goes to
  the next name at once. The copies in the user's own mailbox stay where they are.
- Merging keeps one record: the other's messages, meetings, timeline and targets move to it;
  where both were on one target, the journey that went further is kept and the other's
  messages join it.
- A bounced request can be written again once the address is corrected: the outreach goes
  back to the list (Trigger.ADDRESS_CORRECTED, through transitions.transition) and the new
  request waits for approval like any other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import ColumnElement, delete, func, select, update
from sqlalchemy.orm import Session

from outreach.accounts import normalise_email
from outreach.contacts import (
    ContactInput,
    clean_text,
    control_character_problem_in,
    find_by_email,
    first_name_of,
    get_contact,
    length_problem_in,
)
from outreach.drafts import UNSENT, cancel_unsent, draft_request, maybe_auto_approve
from outreach.errors import NotFound, ValidationError
from outreach.models import (
    Contact,
    Direction,
    Event,
    Meeting,
    Message,
    MessageKind,
    MessageStatus,
    Outreach,
    Target,
    TargetEntry,
    User,
)
from outreach.rules.states import OutreachState, Trigger
from outreach.targets import fill_pipeline, lock_target
from outreach.timeline import record
from outreach.transitions import transition

_OUTBOUND_KINDS = (
    MessageKind.REQUEST,
    MessageKind.FOLLOW_UP,
    MessageKind.CONFIRMATION,
    MessageKind.THANK_YOU,
    MessageKind.KEEP_IN_TOUCH,
)


def _unsent_of(contact_id: int) -> ColumnElement[bool]:
    return (
        (Message.contact_id == contact_id)
        & (Message.direction == Direction.OUTBOUND)
        & Message.status.in_(UNSENT)
    )


def _refuse_while_sending(session: Session, contact: Contact) -> None:
    """A message being handed to the server cannot be called back: wait for it."""
    sending = session.scalar(
        select(Message.id).where(
            Message.contact_id == contact.id, Message.status == MessageStatus.SENDING
        )
    )
    if sending is not None:
        raise ValidationError(
            f"a message to {contact.name} is being sent right now; try again in a minute"
        )


# --- edit ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Edited:
    contact: Contact
    old_email: str
    # Drafts not yet sent that now go to the new address.
    readdressed: int = 0

    @property
    def address_changed(self) -> bool:
        return self.old_email != self.contact.email


def update_contact(
    session: Session, user: User, contact_id: int, data: ContactInput, now: datetime
) -> Edited:
    """Change every field of a contact, checked as when adding one.

    :raise ValidationError: in words, for a bad or taken address, a missing name, a field
        too long or holding a control character, or a contact referring themselves.
    :raise NotFound: when the contact is not the user's.
    """
    contact = get_contact(session, user, contact_id)
    problem = control_character_problem_in(data) or length_problem_in(data)
    if problem:
        raise ValidationError(problem)
    email = normalise_email(data.email)
    name = clean_text(data.name)
    if not name:
        raise ValidationError("a contact needs a name")
    if email != contact.email:
        holder = find_by_email(session, user, email)
        if holder is not None:
            raise ValidationError(
                f"{email} is already on your list as {holder.name}: merge the two instead"
            )
    if data.referred_by_id is not None:
        if data.referred_by_id == contact.id:
            raise ValidationError("a contact cannot be referred by themselves")
        get_contact(session, user, data.referred_by_id)
    old_email = contact.email
    contact.email = email
    contact.name = name
    contact.first_name = clean_text(data.first_name) or first_name_of(name)
    contact.role = clean_text(data.role)
    contact.organisation = clean_text(data.organisation)
    contact.how_found = data.how_found.strip()
    contact.why_you = clean_text(data.why_you)
    contact.notes = data.notes.strip()
    contact.time_zone = data.time_zone.strip()
    contact.do_not_contact = data.do_not_contact
    contact.referred_by_id = data.referred_by_id
    readdressed = 0
    if email != old_email:
        waiting = session.scalars(
            select(Message).where(_unsent_of(contact.id), Message.to_address == old_email)
        ).all()
        for message in waiting:
            message.to_address = email
        readdressed = len(waiting)
        record(
            session,
            user_id=user.id,
            kind="contact:address",
            detail=f"address changed from {old_email} to {email}",
            now=now,
            contact_id=contact.id,
        )
    session.flush()
    return Edited(contact, old_email, readdressed)


# --- delete -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DeletionPreview:
    """What deleting a contact takes with it, for the user to read before confirming."""

    unsent: int
    messages: int
    meetings: int
    targets: list[str]


def preview_deletion(session: Session, user: User, contact_id: int) -> DeletionPreview:
    contact = get_contact(session, user, contact_id)
    unsent = session.scalar(select(func.count()).where(_unsent_of(contact.id))) or 0
    messages = (
        session.scalar(
            select(func.count()).where(
                Message.contact_id == contact.id,
                Message.status.in_((MessageStatus.SENT, MessageStatus.RECEIVED)),
            )
        )
        or 0
    )
    meetings = session.scalar(select(func.count()).where(Meeting.contact_id == contact.id)) or 0
    targets = list(
        session.scalars(
            select(Target.name)
            .join(Outreach, Outreach.target_id == Target.id)
            .where(Outreach.contact_id == contact.id)
            .order_by(Target.name)
        )
    )
    return DeletionPreview(unsent, messages, meetings, targets)


@dataclass(frozen=True)
class Deleted:
    name: str
    # Drafts and approved messages that will now never be sent.
    cancelled: int
    # Requests to the next names, into the places the contact held.
    drafted: list[Message] = field(default_factory=list)


def delete_contact(session: Session, user: User, contact_id: int, now: datetime) -> Deleted:
    """Remove a contact and their history; their places on targets go to the next names.

    :raise ValidationError: while a message to them is being handed to the mail server.
    :raise NotFound: when the contact is not the user's.
    """
    contact = get_contact(session, user, contact_id)
    _refuse_while_sending(session, contact)
    target_ids = _targets_of(session, [contact.id])
    for target_id in target_ids:
        # The target before its outreaches: the order every writer locks them in.
        lock_target(session, target_id)
    cancelled = session.scalar(select(func.count()).where(_unsent_of(contact.id))) or 0
    name = contact.name
    session.execute(
        update(Contact)
        .where(Contact.user_id == user.id, Contact.referred_by_id == contact.id)
        .values(referred_by_id=None)
        .execution_options(synchronize_session="fetch")
    )
    # Their outreaches, messages, meetings, timeline and list entries go by ON DELETE CASCADE.
    session.delete(contact)
    session.flush()
    session.expire_all()
    return Deleted(name, cancelled, _fill(session, user, target_ids, now))


def _targets_of(session: Session, contact_ids: list[int]) -> list[int]:
    return sorted(
        set(session.scalars(select(Outreach.target_id).where(Outreach.contact_id.in_(contact_ids))))
    )


def _fill(session: Session, user: User, target_ids: list[int], now: datetime) -> list[Message]:
    drafted: list[Message] = []
    for target_id in target_ids:
        target = session.get(Target, target_id)
        if target is not None:
            drafted += fill_pipeline(session, user, target, now)
    return drafted


# --- merge --------------------------------------------------------------------------------------

# How far a journey went, to choose which one a merge keeps when both were on one target.
_PROGRESS = {
    OutreachState.PLANNED: 0,
    OutreachState.STOPPED: 1,
    OutreachState.DRAFTED: 2,
    OutreachState.WAITING: 3,
    OutreachState.FOLLOWED_UP: 4,
    OutreachState.NO_REPLY: 5,
    OutreachState.BOUNCED: 5,
    OutreachState.REPLIED: 6,
    OutreachState.DECLINED: 7,
    OutreachState.MEETING_SET: 7,
    OutreachState.MET: 8,
    OutreachState.THANKED: 9,
}


@dataclass(frozen=True)
class Merged:
    kept: Contact
    other_name: str
    other_email: str
    # Targets both were on: one journey kept there, the other's messages joined to it.
    shared_targets: list[str]
    # Unsent drafts of the journey not kept.
    cancelled: int
    drafted: list[Message] = field(default_factory=list)


def merge_contacts(
    session: Session, user: User, kept_id: int, other_id: int, now: datetime
) -> Merged:
    """Fold the contact `other_id` into `kept_id`, then delete it.

    The kept contact's details win; an empty one takes the other's value, the notes are
    joined, and "do not contact" on either stays on. Messages, meetings, timeline and
    targets move over. On a target both were on, the journey that went further is kept:
    the other's messages and meetings join it and its unsent drafts are cancelled.
    Drafts not yet sent go to the kept address.

    :raise ValidationError: for the same contact twice, or while a message to either is
        being handed to the mail server.
    :raise NotFound: when either contact is not the user's.
    """
    if kept_id == other_id:
        raise ValidationError("choose another contact to merge with this one")
    kept = get_contact(session, user, kept_id)
    other = get_contact(session, user, other_id)
    _refuse_while_sending(session, kept)
    _refuse_while_sending(session, other)
    target_ids = _targets_of(session, [kept.id, other.id])
    for target_id in target_ids:
        lock_target(session, target_id)
    other_name, other_email = other.name, other.email
    _merge_details(session, kept, other)
    _merge_entries(session, kept, other)
    shared, cancelled = _merge_outreaches(session, kept, other, now)
    for model in (Message, Meeting, Event):
        session.execute(
            update(model)
            .where(model.contact_id == other.id)
            .values(contact_id=kept.id)
            .execution_options(synchronize_session=False)
        )
    session.execute(
        update(Message)
        .where(_unsent_of(kept.id))
        .values(to_address=kept.email)
        .execution_options(synchronize_session=False)
    )
    session.delete(other)
    session.flush()
    session.expire_all()
    record(
        session,
        user_id=user.id,
        kind="contact:merged",
        detail=f"merged with {other_name} ({other_email}): their messages, meetings "
        "and targets are now here",
        now=now,
        contact_id=kept_id,
    )
    kept = get_contact(session, user, kept_id)
    return Merged(
        kept, other_name, other_email, shared, cancelled, _fill(session, user, target_ids, now)
    )


def _merge_details(session: Session, kept: Contact, other: Contact) -> None:
    for name in ("role", "organisation", "how_found", "why_you", "time_zone"):
        if not getattr(kept, name):
            setattr(kept, name, getattr(other, name))
    if other.notes and other.notes not in kept.notes:
        kept.notes = f"{kept.notes}\n\n{other.notes}".strip()
    # Replies from the other address no longer match by sender: the note keeps it in view.
    kept.notes = f"{kept.notes}\n\nAlso wrote from {other.email} (merged).".strip()
    kept.do_not_contact = kept.do_not_contact or other.do_not_contact
    if kept.referred_by_id in (None, other.id):
        referrer = other.referred_by_id
        kept.referred_by_id = referrer if referrer != kept.id else None
    session.execute(
        update(Contact)
        .where(Contact.referred_by_id == other.id, Contact.id != kept.id)
        .values(referred_by_id=kept.id)
        .execution_options(synchronize_session="fetch")
    )


def _merge_entries(session: Session, kept: Contact, other: Contact) -> None:
    kept_entries = {
        entry.target_id: entry
        for entry in session.scalars(select(TargetEntry).where(TargetEntry.contact_id == kept.id))
    }
    for entry in session.scalars(select(TargetEntry).where(TargetEntry.contact_id == other.id)):
        mine = kept_entries.get(entry.target_id)
        if mine is None:
            entry.contact_id = kept.id
        else:
            # The earlier of the two places on the list.
            mine.position = min(mine.position, entry.position)
            session.delete(entry)
    session.flush()


def _merge_outreaches(
    session: Session, kept: Contact, other: Contact, now: datetime
) -> tuple[list[str], int]:
    kept_outreaches = {
        outreach.target_id: outreach
        for outreach in session.scalars(select(Outreach).where(Outreach.contact_id == kept.id))
    }
    shared: list[str] = []
    cancelled = 0
    for outreach in list(session.scalars(select(Outreach).where(Outreach.contact_id == other.id))):
        mine = kept_outreaches.get(outreach.target_id)
        if mine is None:
            outreach.contact_id = kept.id
            continue
        shared.append(outreach.target.name)
        if _PROGRESS[outreach.state] > _PROGRESS[mine.state]:
            winner, loser = outreach, mine
        else:
            winner, loser = mine, outreach
        cancelled += len(
            cancel_unsent(
                session, loser, now, "cancelled: the two records were merged", _OUTBOUND_KINDS
            )
        )
        for model in (Message, Meeting, Event):
            session.execute(
                update(model)
                .where(model.outreach_id == loser.id)
                .values(outreach_id=winner.id)
                .execution_options(synchronize_session=False)
            )
        session.execute(delete(Outreach).where(Outreach.id == loser.id))
        session.flush()
        winner.contact_id = kept.id
    session.flush()
    return shared, cancelled


# --- write again after a bounce -----------------------------------------------------------------


def failed_address(session: Session, outreach: Outreach) -> str | None:
    """The address the outreach's last request or follow-up went to, if one was written."""
    return session.scalar(
        select(Message.to_address)
        .where(
            Message.outreach_id == outreach.id,
            Message.direction == Direction.OUTBOUND,
            Message.kind.in_((MessageKind.REQUEST, MessageKind.FOLLOW_UP)),
            Message.status != MessageStatus.CANCELLED,
        )
        .order_by(Message.id.desc())
        .limit(1)
    )


def can_resend(session: Session, outreach: Outreach) -> bool:
    """A bounced outreach whose contact now has another address than the one that failed."""
    return (
        outreach.state is OutreachState.BOUNCED
        and failed_address(session, outreach) != outreach.contact.email
    )


def resend_request(
    session: Session, user: User, contact_id: int, target_id: int, now: datetime
) -> Message:
    """Write the request again, to the contact's corrected address, for approval.

    :raise ValidationError: when the request did not bounce, or the address is unchanged.
    :raise NotFound: when the contact is not the user's or is not on that target.
    """
    contact = get_contact(session, user, contact_id)
    outreach = session.scalar(
        select(Outreach).where(
            Outreach.user_id == user.id,
            Outreach.contact_id == contact.id,
            Outreach.target_id == target_id,
        )
    )
    if outreach is None:
        raise NotFound("no such contact on that target")
    if outreach.state is not OutreachState.BOUNCED:
        raise ValidationError(
            f"only a request whose address failed can be sent again; "
            f"{contact.name} is '{outreach.state.value.replace('_', ' ')}' there"
        )
    if failed_address(session, outreach) == contact.email:
        raise ValidationError(
            f"{contact.email} is the address that failed: correct it first, then send again"
        )
    lock_target(session, outreach.target_id)
    transition(
        session,
        outreach,
        Trigger.ADDRESS_CORRECTED,
        now,
        f"address corrected to {contact.email}: the request is written again",
    )
    draft = draft_request(session, user, outreach, now)
    maybe_auto_approve(session, user, draft, now)
    return draft


def bounced_addresses(session: Session, contact: Contact) -> dict[int, str]:
    """Target id -> the address that failed, for each of the contact's bounced outreaches."""
    bounced = session.scalars(
        select(Outreach).where(
            Outreach.contact_id == contact.id, Outreach.state == OutreachState.BOUNCED
        )
    )
    return {outreach.target_id: failed_address(session, outreach) or "" for outreach in bounced}
